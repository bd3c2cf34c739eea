"""Audio-visual training without RAVDESS video: RAVDESS voices paired with FER+ faces of the same emotion.

Each training clip's audio (a RAVDESS speech recording of a training actor) is paired, afresh each
epoch, with one FER+ face whose majority label is the clip's emotion (RAVDESS calm takes FER+
neutral: a calm face looks neutral). The face is drawn as the product's face path delivers faces
(`face_size` px, turned grey in the graph, at our crop framing with jitter) and moves a little
across the clip's frames. The face CNN is the FER+-pretrained one, frozen: each FER+ image's frames
are run through it once (`FaceBank`), so a training step runs only the temporal stacks, the fusion
and the head. Modality dropout (voice or face removed, as the product feeds a missing stream)
keeps each stream able to answer alone.

Validation actors get FER+ *valid* faces (a fixed pairing), so model choice never sees a test
face or a test voice; actor 5's real audio-visual pairs are scored by `studies.ferplus_paired.paired_eval`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from emofusion.config import register_config
from emofusion.constants import CLASSES

# RAVDESS class -> the FER+ class index whose faces it is paired with (calm -> neutral).
FERPLUS_FOR_RAVDESS = {"neutral": 0, "calm": 0, "happy": 1, "surprised": 2, "sad": 3, "angry": 4,
                       "disgust": 5, "fearful": 6}


@register_config
@dataclass(frozen=True)
class PairedConfig:
    fusion: str = "ia"
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.3
    label_smoothing: float = 0.1
    drop_audio_p: float = 0.2  # modality dropout: share of clips trained with the voice removed
    drop_face_p: float = 0.2  # ... with the face removed (never both)
    time_masks: int = 2
    time_mask_width: int = 20
    freq_masks: int = 2
    freq_mask_width: int = 8
    seed: int = 0
    audio_init: str = ""  # an audio model's checkpoint to start the fusion's audio stack from

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaceBank:
    """features (N, V, 1024) of N FER+ faces, V moving frames each; label (N,) FER+ class."""

    features: torch.Tensor
    label: np.ndarray
    blank: torch.Tensor  # (1024,) the CNN's output on a black crop: what "no face" looks like

    def by_class(self) -> dict[int, np.ndarray]:
        return {c: np.flatnonzero(self.label == c) for c in range(8)}


def cap_per_class(labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Indices with at most `cap` images of each label (a seeded draw): FER+ neutral and happy
    have ~10k faces each, far more than pairing needs, and every face costs CNN passes."""
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(labels == c))[:cap] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


@torch.no_grad()
def build_bank(face_model, images: np.ndarray, labels: np.ndarray, render_cfg, n_views: int, seed: int,
               batch: int = 256, progress: bool = True) -> FaceBank:
    """Each image drawn once with the training jitter (pose, framing, light), then `n_views` small
    movements of that draw; all through the frozen face CNN (eval mode)."""
    from tqdm import tqdm

    from emofusion.train.face_pretrain import RenderDraw, render

    face_model.eval()
    enc = lambda x: face_model.face(face_model.face_norm(x))  # noqa: E731
    gen = torch.Generator().manual_seed(seed)
    feats = torch.empty(len(images), n_views, 1024, dtype=torch.float16)
    for i in tqdm(range(0, len(images), batch), desc=f"FER+ face features x{n_views}", disable=not progress,
                  mininterval=10):
        part = images[i : i + batch]
        base = RenderDraw.draw(len(part), render_cfg, gen)
        for v in range(n_views):
            feats[i : i + batch, v] = enc(render(part, render_cfg, draw=base.moved(gen))).half()
    blank = enc(torch.zeros(1, 3, render_cfg.size, render_cfg.size))[0]
    return FaceBank(feats, np.asarray(labels), blank)


def _spec_mask(a: torch.Tensor, cfg: PairedConfig, gen: torch.Generator) -> torch.Tensor:
    a = a.clone()
    b, c, t = a.shape
    for _ in range(cfg.time_masks):
        w = torch.randint(0, cfg.time_mask_width + 1, (b,), generator=gen)
        s = (torch.rand(b, generator=gen) * (t - w)).long()
        idx = torch.arange(t)
        a[((idx >= s[:, None]) & (idx < (s + w)[:, None])).unsqueeze(1).expand(b, c, t)] = 0
    for _ in range(cfg.freq_masks):
        w = torch.randint(0, cfg.freq_mask_width + 1, (b,), generator=gen)
        s = (torch.rand(b, generator=gen) * (c - w)).long()
        idx = torch.arange(c)
        a[((idx >= s[:, None]) & (idx < (s + w)[:, None])).unsqueeze(2).expand(b, c, t)] = 0
    return a


def pair_faces(labels: np.ndarray, bank: FaceBank, n_frames: int, gen: torch.Generator,
               fixed: bool = False) -> torch.Tensor:
    """(B,) RAVDESS labels -> (B, 1024, n_frames) features of a FER+ face of each clip's emotion."""
    pools = bank.by_class()
    out = torch.empty(len(labels), 1024, n_frames)
    for i, y in enumerate(labels):
        pool = pools[FERPLUS_FOR_RAVDESS[CLASSES[int(y)]]]
        j = pool[(i * 7919) % len(pool)] if fixed else pool[int(torch.randint(len(pool), (1,), generator=gen))]
        views = torch.arange(n_frames) % bank.features.shape[1] if fixed else \
            torch.randperm(bank.features.shape[1], generator=gen)[:n_frames]
        out[i] = bank.features[j, views].float().T
    return out


def _forward(model, audio: torch.Tensor, faces: torch.Tensor | None) -> torch.Tensor:
    if model.cfg.fusion == "audio":
        return model(audio)
    if model.cfg.fusion == "video":
        return model.forward_encoded(faces)
    return model.forward_encoded(audio, faces)


@torch.no_grad()
def predict(model, audio: torch.Tensor, faces: torch.Tensor) -> np.ndarray:
    model.eval()
    return torch.softmax(_forward(model, audio, faces), dim=-1).numpy()


def train_paired(model, train_audio: torch.Tensor, train_y: np.ndarray, bank: FaceBank,
                 val_audio: torch.Tensor, val_y: np.ndarray, val_faces: torch.Tensor, cfg: PairedConfig,
                 out: Path, progress: bool = True) -> dict[str, Any]:
    """Train; keep the epoch with the best validation macro-F1 (`out/best.pt` state); returns the log."""
    from tqdm import tqdm

    from emofusion.train.metrics import classify

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    n, f = len(train_y), model.cfg.n_frames
    y_all = torch.as_tensor(train_y)
    best, history = (-1.0, -1), []
    t_start = time.perf_counter()
    for epoch in tqdm(range(cfg.epochs), desc=f"train {cfg.fusion}", disable=not progress, mininterval=10):
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        model.train()
        if getattr(model, "face_frozen", False):
            model.face.eval()
        order = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for i in range(0, n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            a = _spec_mask(train_audio[idx], cfg, gen)
            y = y_all[idx]
            faces = None if cfg.fusion == "audio" else pair_faces(train_y[idx.numpy()], bank, f, gen)
            if cfg.fusion not in ("audio", "video"):
                r = torch.rand(len(idx), generator=gen)
                no_audio = r < cfg.drop_audio_p
                no_face = (r >= cfg.drop_audio_p) & (r < cfg.drop_audio_p + cfg.drop_face_p)
                a[no_audio] = 0.0
                faces[no_face] = bank.blank.view(1024, 1).float()
            loss = F.cross_entropy(_forward(model, a, faces), y, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
        sched.step()
        m = classify(val_y, predict(model, val_audio, val_faces).argmax(1))  # val_faces None: audio model
        row = {"epoch": epoch, "train_loss": round(loss_sum / n, 4), "val_accuracy": round(m["accuracy"], 4),
               "val_macro_f1": round(m["macro_f1"], 4)}
        history.append(row)
        if m["macro_f1"] > best[0]:
            best = (m["macro_f1"], epoch)
            torch.save(model.state_dict(), out / "best_state.pt")
    model.load_state_dict(torch.load(out / "best_state.pt", weights_only=True))
    log = {"config": cfg.to_dict(), "best_epoch": best[1], "best_val_macro_f1": best[0], "history": history,
           "train_seconds": round(time.perf_counter() - t_start, 1)}
    (out / "log.json").write_text(json.dumps(log, indent=1) + "\n")
    return log
