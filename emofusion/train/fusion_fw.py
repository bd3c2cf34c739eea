"""`emofusion train-fusion`: IA / LT on the pretrained streams (`ia_fw`, `lt_fw`), trained on cached
frontend outputs, with face sequences paired to the voices when no RAVDESS video is at hand.

Why it looks like this:
- The frontends are frozen, so their outputs are computed once: Whisper hidden states of every
  RAVDESS speech clip (emofusion.train.whisper_cache, the product's audio path) and face-api
  features of a pool of labelled faces (FER+, CK+48) in a few jittered views each.
- The training actors' RAVDESS video is not available here. Each training voice gets a face
  sequence of the same class from the pool (calm, which has no face class, gets a neutral face),
  `n_frames` frames drawn from the views of one face, plus modality dropout (the product's "absent"
  inputs: a zero log-mel, black crops) so each fusion still answers from one stream.
- The guard against trusting clean faces: with probability `mismatch_p` the face comes from another
  class. `mismatch_p` is set (`calibrate_mismatch`) so that the face model's accuracy on training
  sequences equals its accuracy on faces it never trained on (FER+ valid); real video cannot be
  measured on non-test data here, so that is the reliability the fusion is taught to expect.
- Fold 1 of the 5-fold protocol: its validation actors (7, 8, 19, 20, voices paired with FER+ valid
  faces) choose the epoch; its test actors (2, 5, 14, 15, 16, actor 5 among them) never train.

"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.constants import CLASSES
from emofusion.train.config import TrainingBase

HELP = "train IA / LT on the pretrained face and voice streams (cached frontends, paired faces)"
NEUTRAL, CALM = CLASSES.index("neutral"), CLASSES.index("calm")
FACE_SIZE = 48  # FER+ / CK+48 resolution; ModelConfig.face_size of the fusions (face_grey too)


@dataclass(frozen=True)
class FusionTrainConfig(TrainingBase):
    """One fusion training run (fold 1 unless `fold` says otherwise)."""

    fusion: str = "ia_fw"
    fold: int = 1
    epochs: int = 25
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    dropout: float = 0.3
    audio_width: int = 128
    n_frames: int = 5  # as the product samples faces for the face model (latency: the face backbone runs per frame)
    mismatch_p: float = -1.0  # share of training faces from another class; < 0: calibrate (see module doc)
    drop_voice_p: float = 0.15
    drop_face_p: float = 0.15
    feature_noise: float = 0.1  # Gaussian noise on face features, relative to their std
    audio_norm: str = "standard"  # ModelConfig.audio_norm ("layer": the first, weaker runs)
    seed: int = 0
    time_mask: float = 0.0  # Whisper states: two spans a training clip, each up to this fraction, set to the mean
    face_input: str = "features"  # ModelConfig.face_input: "probs" = the face model's own head's answers per frame
    hold_out_ckplus: bool = False  # train without the pool's CK+48 faces (they then test the face path on a new domain)

    def __post_init__(self) -> None:
        from emofusion.errors import UsageError

        if self.face_input not in ("features", "probs"):
            raise UsageError(f"fusion training: face_input must be 'features' or 'probs', not {self.face_input!r}")
        shares = (self.drop_voice_p, self.drop_face_p, self.time_mask)
        if min(shares) < 0 or self.drop_voice_p + self.drop_face_p > 1 or self.time_mask >= 1 or self.feature_noise < 0:
            raise UsageError(f"fusion training: drop_voice_p {self.drop_voice_p} + drop_face_p {self.drop_face_p} "
                             f"must be shares summing to <= 1, time_mask {self.time_mask} in [0, 1), "
                             f"feature_noise {self.feature_noise} >= 0")


# ----------------------------------------------------------------------------------------- face pool
@dataclass
class FacePool:
    """Face-api features of labelled faces: feats (N, K, 256) float16 (K jittered views), labels (N,)
    RAVDESS class index, probs (N, K, 8) the face model's per-view RAVDESS probabilities, source (N,)."""

    feats: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    source: np.ndarray

    def subset(self, keep: np.ndarray) -> "FacePool":
        return FacePool(self.feats[keep], self.labels[keep], self.probs[keep], self.source[keep])

    def save(self, path: Path) -> None:
        np.savez(path, feats=self.feats, labels=self.labels, probs=self.probs, source=self.source)

    @classmethod
    def load(cls, path: Path) -> "FacePool":
        z = np.load(path)
        return cls(z["feats"], z["labels"], z["probs"], z["source"])


def jittered_views(grey48: np.ndarray, k: int, size: int, rng: np.random.Generator):
    """(N, 48, 48) uint8 grey -> (N, K, 3, size, size) float in [0, 1]: view 0 as it is, the others
    with a small random rotation / zoom / shift / flip / brightness-contrast change (the frame-to-frame
    movement of a face in a clip)."""
    import torch
    import torchvision.transforms.v2.functional as TF

    x = torch.from_numpy(grey48).float().div(255).unsqueeze(1)  # (N, 1, 48, 48)
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    views = [x]
    for _ in range(k - 1):
        out = []
        for img in x:
            v = TF.affine(img, angle=float(rng.uniform(-10, 10)), translate=[int(rng.integers(-5, 6)), int(rng.integers(-5, 6))],
                          scale=float(rng.uniform(0.92, 1.08)), shear=[0.0, 0.0])
            if rng.random() < 0.5:
                v = TF.horizontal_flip(v)
            v = (v - 0.5) * float(rng.uniform(0.8, 1.2)) + 0.5 + float(rng.uniform(-0.1, 0.1))
            out.append(v.clamp(0, 1))
        views.append(torch.stack(out))
    return torch.stack(views, dim=1).expand(-1, -1, 3, -1, -1)


def build_face_pool(face_model: Path, out: Path, views: int = 3, per_class: int = 1200, seed: int = 0) -> FacePool:
    """Features of FER+ train / valid faces (majority label with a RAVDESS class, at most
    `per_class` a class and split) and all CK+48 faces, by the shipped face model's backbone."""
    import torch
    from tqdm import tqdm

    from emofusion.data.faces_labelled import RAVDESS_FROM_FERPLUS, load_ckplus, load_ferplus
    from emofusion.nets.checkpoint import load_checkpoint

    face = load_checkpoint(face_model).model.eval()
    size = FACE_SIZE  # the pictures' own 48 px: the fusion reads real crops at 48 px too (nets/fusion_pretrained)
    rng = np.random.default_rng(seed)
    fer = load_ferplus()
    maj = fer.majority()
    to_rav = {f: r for r, f in enumerate(RAVDESS_FROM_FERPLUS) if f >= 0}
    images, labels, source = [], [], []
    for split in ("train", "valid"):
        idx = fer.select(split)
        cap = per_class if split == "train" else per_class // 4
        for f, r in to_rav.items():
            pick = idx[maj[idx] == f]
            pick = rng.permutation(pick)[:cap]
            images.append(fer.images[pick])
            labels += [r] * len(pick)
            source += [f"ferplus-{split}"] * len(pick)
    ck = load_ckplus()
    keep = ck.labels >= 0
    images.append(ck.images[keep])
    labels += list(ck.labels[keep])
    source += ["ckplus"] * int(keep.sum())
    images = np.concatenate(images)
    feats = np.zeros((len(images), views, 256), np.float16)
    probs = np.zeros((len(images), views, len(CLASSES)), np.float16)
    with torch.no_grad():
        for s in tqdm(range(0, len(images), 64), desc="face pool", file=sys.stdout, mininterval=10):
            v = jittered_views(images[s : s + 64], views, size, rng)  # (b, K, 3, S, S)
            b = v.shape[0]
            f = face.frame_features(v.flatten(0, 1))
            feats[s : s + b] = f.unflatten(0, (b, views)).numpy()
            probs[s : s + b] = face.head_probs(f).unflatten(0, (b, views)).numpy()
    pool = FacePool(feats, np.array(labels), probs, np.array(source))
    out.parent.mkdir(parents=True, exist_ok=True)
    pool.save(out)
    return pool


# ------------------------------------------------------------------------------- real face sequences
def speech_key(name: str) -> str | None:
    """RAVDESS file name -> the speech clip it goes with ("03-01-EE-II-SS-RR-AA"): an audio-visual
    `01-01-...` or video-only `02-01-...` file shares its other fields with the `03-01-...` audio."""
    parts = Path(name).name.split("_")[0].split(".")[0].split("-")
    if len(parts) != 7 or parts[0] not in ("01", "02", "03") or not all(p.isdigit() for p in parts):
        return None
    return "-".join(["03", *parts[1:]])


def face_sequences(video_root: Path, fusion_media, model, out: Path, progress: bool = True) -> dict[str, np.ndarray]:
    """Face features of real RAVDESS video: every `01-01-*` / `02-01-*` video under `video_root`
    through the product's face path (load_clip with the fusion's VideoConfig) and the fusion's own
    face frontend (`model.encode_faces`); saved as OUT.npz {speech key: (F, 256)}. Clips where no
    face is found are left out (they pair with the pool instead)."""
    import torch
    from tqdm import tqdm

    from emofusion.constants import FACES
    from emofusion.errors import UsageError
    from emofusion.media.clip import load_clip
    from emofusion.media.errors import ClipError

    videos = sorted(p for p in Path(video_root).rglob("*") if p.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv")
                    and speech_key(p.name) and p.name[:2] in ("01", "02"))
    if not videos:
        raise UsageError(f"{video_root}: no RAVDESS videos (01-01-*.mp4 / 02-01-*.mp4) under it")
    feats: dict[str, np.ndarray] = {}
    for path in tqdm(videos, desc="face sequences", disable=not progress, file=sys.stdout, mininterval=10):
        try:
            clip = load_clip(path, fusion_media, want=(FACES,))
        except ClipError:
            continue
        if clip.faces is None:
            continue
        x = torch.from_numpy(clip.model_inputs(fusion_media)[FACES])[None]
        feats[speech_key(path.name)] = model.encode_faces(x)[0].numpy().astype(np.float16)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **feats)
    return feats


# ------------------------------------------------------------------------------------------- pairing
def face_class_for(label: int) -> int:
    """The face class a voice of `label` is paired with: calm has no face class -> neutral."""
    return NEUTRAL if label == CALM else label


def pair_faces(labels: np.ndarray, pool: FacePool, n_frames: int, mismatch_p: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For each label: (face index into the pool, (n_frames,) view indices). With probability
    `mismatch_p` the face is of another face class (the guard against over-trusting faces)."""
    by_class = {c: np.flatnonzero(pool.labels == c) for c in np.unique(pool.labels)}
    classes = np.array(sorted(by_class))
    faces = np.empty(len(labels), np.int64)
    for i, y in enumerate(labels):
        c = face_class_for(int(y))
        if rng.random() < mismatch_p:
            c = int(rng.choice(classes[classes != c]))
        faces[i] = rng.choice(by_class[c])
    views = rng.integers(0, pool.feats.shape[1], size=(len(labels), n_frames))
    return faces, views


def training_pool(pool: FacePool, cfg: FusionTrainConfig) -> FacePool:
    """The faces a run pairs with its training voices: all but FER+ valid (the validation faces), and
    without CK+48 when `cfg.hold_out_ckplus` (ckplus_faces_only then tests on them)."""
    keep = pool.source != "ferplus-valid"
    if cfg.hold_out_ckplus:
        keep &= pool.source != "ckplus"
    return pool.subset(keep)


def sequence_accuracy(labels: np.ndarray, pool: FacePool, faces: np.ndarray, views: np.ndarray) -> float:
    """The face model's accuracy on paired sequences (mean of its per-frame probabilities; calm
    voices count as right when the face says neutral, the best a face can do)."""
    p = pool.probs[faces[:, None], views].astype(np.float32).mean(axis=1)
    want = np.array([face_class_for(int(y)) for y in labels])
    return float((p.argmax(1) == want).mean())


def calibrate_mismatch(labels: np.ndarray, train_pool: FacePool, target: float, n_frames: int, seed: int) -> float:
    """The mismatch_p at which the face model's accuracy on training sequences is `target`."""
    best, best_gap = 0.0, math.inf
    for p in np.round(np.arange(0.0, 0.81, 0.05), 2):
        f, v = pair_faces(labels, train_pool, n_frames, float(p), np.random.default_rng(seed))
        gap = abs(sequence_accuracy(labels, train_pool, f, v) - target)
        if gap < best_gap:
            best, best_gap = float(p), gap
    return best


# ------------------------------------------------------------------------------------------ training
def _frames(seq: np.ndarray, n: int) -> np.ndarray:
    """A real face sequence (F, 256) at `n` evenly spaced frames."""
    return seq[np.round(np.linspace(0, len(seq) - 1, n)).astype(int)]


def _absent_inputs(model, n_frames: int, mel_frames: int):
    """What the frontends give for the product's "absent" stream: a zero log-mel, black crops."""
    import torch

    with torch.no_grad():
        states, feats = model.encode(torch.zeros(1, 80, mel_frames), torch.zeros(1, n_frames, 3, FACE_SIZE, FACE_SIZE))
    return states[:, 0].half(), feats[0, 0].half()


def _state_stats(states):
    """(N, L, T, d) cached states -> per-state, per-dimension (mean, std), each (L, d) float32, over
    clips and frames (in chunks: ~1 GB fp16). The standardisation and the time masks' fill value."""
    import torch

    acc = torch.zeros(2, states.shape[1], states.shape[3], dtype=torch.float64)
    for i in range(0, len(states), 64):
        x = states[i : i + 64].double()
        acc[0] += x.sum(dim=(0, 2))
        acc[1] += x.pow(2).sum(dim=(0, 2))
    n = len(states) * states.shape[2]
    mean = acc[0] / n
    return mean.float(), (acc[1] / n - mean.pow(2)).clamp_min(0).sqrt().float()


def train_fusion(cfg: FusionTrainConfig, states_dir: Path, pool: FacePool, face_model: Path, out: Path,
                 progress: bool = True, real_faces: Path | None = None, device: str = "cpu") -> dict[str, Any]:
    """Train one fusion on fold `cfg.fold`; writes OUT/best.pt (the epoch validation chose),
    OUT/last.pt (resume) and OUT/summary.json. Returns the run summary.

    `real_faces`: a face-sequence file of real RAVDESS video (`face_sequences`, made from the
    RAVDESS download with `--videos`): clips that have one train and validate on their real
    faces; the others are paired from the pool. `device`: a resolved "cpu" / "cuda:N" where the
    model and every batch (with its noise and dropped streams) live; not part of the config."""
    import torch
    from tqdm import tqdm

    from emofusion.data.splits import protocol_splits
    from emofusion.nets.checkpoint import save_checkpoint
    from emofusion.train.augment import mask_state_spans
    from emofusion.train.metrics import classify

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    split = protocol_splits("luna5")[cfg.fold - 1]
    index = json.loads((states_dir / "index.json").read_text())
    states = np.load(states_dir / "states.npy", mmap_mode="r")
    actors = np.array([c["actor"] for c in index["clips"]])
    labels = np.array([c["label"] for c in index["clips"]])
    tr, va = np.flatnonzero(np.isin(actors, split.train)), np.flatnonzero(np.isin(actors, split.val))
    train_states = torch.from_numpy(np.ascontiguousarray(states[tr]))  # (N, L, T, d) fp16, ~1 GB
    val_states = torch.from_numpy(np.ascontiguousarray(states[va]))
    y_tr, y_va = labels[tr], labels[va]

    train_pool = training_pool(pool, cfg)
    val_pool = pool.subset(pool.source == "ferplus-valid")
    # reliability of the face model on faces it never trained on (FER+ valid, single views)
    target = float((val_pool.probs[:, 0].argmax(1) == val_pool.labels).mean())
    mismatch = cfg.mismatch_p if cfg.mismatch_p >= 0 else calibrate_mismatch(y_tr, train_pool, target, cfg.n_frames, cfg.seed)
    vf, vv = pair_faces(y_va, val_pool, cfg.n_frames, 0.0, np.random.default_rng(cfg.seed + 1))
    val_faces = torch.from_numpy(val_pool.feats[vf[:, None], vv].astype(np.float32))
    real = dict(np.load(real_faces)) if real_faces is not None else {}
    keys = [speech_key(c["file"]) for c in index["clips"]]
    real_tr = {j: real[keys[i]] for j, i in enumerate(tr) if keys[i] in real}
    for j, i in enumerate(va):
        if keys[i] in real:
            val_faces[j] = torch.from_numpy(_frames(real[keys[i]], cfg.n_frames).astype(np.float32))

    model, mcfg, media, face_src = build_fusion(cfg, face_model)
    stats = _state_stats(train_states) if cfg.audio_norm == "standard" or cfg.time_mask else None
    if cfg.audio_norm == "standard":  # per-state, per-dimension statistics of the training clips
        model.audio_mix.set_standardisation(*stats)
    state_mean = stats[0].to(device) if cfg.time_mask else None  # the time masks' fill
    absent_states, absent_face = _absent_inputs(model, cfg.n_frames, 2 * states.shape[2])
    model = model.to(device)
    absent_states, absent_face = absent_states.to(device), absent_face.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(tr) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.1)
    out.mkdir(parents=True, exist_ok=True)
    start, best, history = 0, {"val_macro_f1": -1.0}, []
    if (out / "last.pt").is_file():  # resume
        ck = torch.load(out / "last.pt", map_location=device, weights_only=False)
        model.load_state_dict(ck["model"]), opt.load_state_dict(ck["opt"]), sched.load_state_dict(ck["sched"])
        start, best, history = ck["epoch"], ck["best"], ck["history"]
        rng = ck["rng"]
    face_std = float(np.std(train_pool.feats[:, 0].astype(np.float32)))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    meta_base = {"kind": "fusion_fw", "train_config": cfg.to_dict(), "split": split.to_dict(),
                 "real_face_clips": {"train": len(real_tr), "val": int(sum(keys[i] in real for i in va))},
                 "face_model_sha256": face_src.sha256, "mismatch_p": mismatch,
                 "face_reliability_target": round(target, 4), "states": index["source"]}
    for epoch in range(start, cfg.epochs):
        t0 = time.time()
        model.train()
        faces_i, views_i = pair_faces(y_tr, train_pool, cfg.n_frames, mismatch, rng)
        order = rng.permutation(len(tr))
        total, n_ok = 0.0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"{cfg.fusion} epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
                   file=sys.stdout, mininterval=10, leave=False)
        for s in bar:
            b = order[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            st = train_states[b].to(device).float().transpose(0, 1)  # (L, B, T, d)
            if cfg.time_mask:
                mask_state_spans(st.transpose(0, 1), state_mean, cfg.time_mask, rng)
            ff = torch.from_numpy(train_pool.feats[faces_i[b, None], views_i[b]].astype(np.float32))
            for k, j in enumerate(b):
                if j in real_tr:
                    ff[k] = torch.from_numpy(_frames(real_tr[j], cfg.n_frames).astype(np.float32))
            ff = ff.to(device)
            ff = ff + cfg.feature_noise * face_std * torch.randn_like(ff)
            r = torch.from_numpy(rng.random(len(b)))
            no_voice = r < cfg.drop_voice_p
            no_face = (r >= cfg.drop_voice_p) & (r < cfg.drop_voice_p + cfg.drop_face_p)
            if no_voice.any():
                st[:, no_voice] = absent_states.float().unsqueeze(1)
            if no_face.any():
                ff[no_face] = absent_face.float()
            y = torch.from_numpy(y_tr[b]).to(device)
            logits = model.forward_encoded(st, ff)
            loss = loss_fn(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(b)
            n_ok += int((logits.argmax(1) == y).sum())
        model.eval()
        with torch.no_grad():
            pv = torch.cat([model.forward_encoded(val_states[i : i + 64].to(device).float().transpose(0, 1),
                                                  val_faces[i : i + 64].to(device)).cpu()
                            for i in range(0, len(va), 64)]).argmax(1).numpy()
        m = classify(y_va, pv)
        row = {"epoch": epoch + 1, "train_loss": round(total / len(tr), 4), "train_acc": round(n_ok / len(tr), 4),
               "val_acc": round(m["accuracy"], 4), "val_macro_f1": round(m["macro_f1"], 4),
               "seconds": round(time.time() - t0, 1)}
        history.append(row)
        print(json.dumps(row), flush=True)
        if row["val_macro_f1"] > best["val_macro_f1"]:
            best = row
            save_checkpoint(out / "best.pt", model, mcfg, media, {**meta_base, "best_epoch": epoch + 1, "val": row})
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "epoch": epoch + 1, "best": best, "history": history, "rng": rng}, out / "last.pt")
    summary = {**meta_base, "best": best, "history": history}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def validation_streams(model, states_dir: Path, pool: FacePool, fold: int = 1, seed: int = 0) -> dict[str, Any]:
    """A trained fusion on fold `fold`'s validation actors, their voices paired with FER+ valid faces
    exactly as train_fusion validates (seed + 1, no mismatch): accuracy and macro-F1 (percent) with
    both streams, with the faces zeroed and with the voice zeroed (the product's absent inputs). The
    only look at each stream alone that is not a test actor's."""
    import torch

    from emofusion.data.splits import protocol_splits
    from emofusion.train.metrics import classify

    index = json.loads((states_dir / "index.json").read_text())
    states = np.load(states_dir / "states.npy", mmap_mode="r")
    actors = np.array([c["actor"] for c in index["clips"]])
    val_actors = protocol_splits("luna5")[fold - 1].val
    va = np.flatnonzero(np.isin(actors, val_actors))
    y = np.array([c["label"] for c in index["clips"]])[va]
    voices = torch.from_numpy(np.ascontiguousarray(states[va])).float()
    n_frames = model.cfg.n_frames
    val_pool = pool.subset(pool.source == "ferplus-valid")
    f, v = pair_faces(y, val_pool, n_frames, 0.0, np.random.default_rng(seed + 1))
    faces = torch.from_numpy(val_pool.feats[f[:, None], v].astype(np.float32))
    no_voice, no_face = (t.float() for t in _absent_inputs(model, n_frames, 2 * states.shape[2]))
    model.eval()

    def row(voice_of, face_of) -> dict[str, float]:
        with torch.no_grad():
            p = torch.cat([model.forward_encoded(voice_of(i), face_of(i)) for i in range(0, len(va), 64)]).argmax(1)
        m = classify(y, p.numpy())
        return {"accuracy": round(100 * m["accuracy"], 1), "macro_f1": round(100 * m["macro_f1"], 1)}

    def voice(i):
        return voices[i : i + 64].transpose(0, 1)

    def face(i):
        return faces[i : i + 64]

    return {"both": row(voice, face),
            "faces_zeroed": row(voice, lambda i: no_face.expand(len(face(i)), n_frames, -1)),
            "voice_zeroed": row(lambda i: no_voice.unsqueeze(1).expand(-1, len(face(i)), -1, -1), face),
            "n": int(len(va)), "validation_actors": [int(a) for a in val_actors]}


def ckplus_faces_only(model, pool: FacePool, state_frames: int, seed: int = 0) -> dict[str, Any]:
    """A fusion with the voice zeroed on every CK+48 face of the pool, each as an `n_frames` sequence
    of its jittered views, the absent voice `state_frames` Whisper states long (as trained): accuracy
    and macro-F1 (percent). Meaningful only for a fusion trained with `hold_out_ckplus`: lab-posed
    faces it never saw, a different domain from FER+'s."""
    import torch

    from emofusion.train.metrics import classify

    ck = pool.subset(pool.source == "ckplus")
    n_frames = model.cfg.n_frames
    views = np.random.default_rng(seed + 2).integers(0, ck.feats.shape[1], size=(len(ck.labels), n_frames))
    faces = torch.from_numpy(ck.feats[np.arange(len(ck.labels))[:, None], views].astype(np.float32))
    no_voice, _ = _absent_inputs(model, n_frames, 2 * state_frames)
    model.eval()
    with torch.no_grad():
        p = torch.cat([model.forward_encoded(no_voice.float().unsqueeze(1).expand(-1, len(f), -1, -1), f)
                       for f in faces.split(64)]).argmax(1)
    m = classify(ck.labels, p.numpy())
    return {"accuracy": round(100 * m["accuracy"], 1), "macro_f1": round(100 * m["macro_f1"], 1), "n": int(len(ck.labels))}


# --------------------------------------------------------------------------------- score-level baseline
def score_weights(audio_model: Path, pool: FacePool, fold: int, speech_root: Path, seed: int = 0) -> dict[str, Any]:
    """The score-level baseline's weights (emofusion.probs.log_linear_pool), chosen on the fold's
    validation actors: their voices through the voice model (product path: load_clip on the FLAC),
    each paired with a same-class FER+ valid face sequence scored by the face model, exactly as the
    fusions are validated."""
    import torch

    from emofusion.constants import AUDIO
    from emofusion.data.splits import protocol_splits
    from emofusion.media.clip import load_clip
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.probs import choose_pool_weights, log_linear_pool, softmax
    from emofusion.train.metrics import classify

    split = protocol_splits("luna5")[fold - 1]
    voice = load_checkpoint(audio_model)
    files = sorted(f for a in split.val for f in (speech_root / f"Actor_{a:02d}").glob("03-01-*"))
    y = np.array([int(f.name.split("-")[2]) - 1 for f in files])
    feeds = np.stack([load_clip(f, voice.media_cfg, want=(AUDIO,)).model_inputs(voice.media_cfg)[AUDIO] for f in files])
    with torch.no_grad():
        pv = softmax(voice.model(torch.from_numpy(feeds)).numpy())
    val_pool = pool.subset(pool.source == "ferplus-valid")
    faces, views = pair_faces(y, val_pool, FusionTrainConfig.n_frames, 0.0, np.random.default_rng(seed + 1))
    pf = val_pool.probs[faces[:, None], views].astype(np.float32).mean(axis=1)
    wv, wf = choose_pool_weights(pv, pf, y)
    acc = {name: round(100 * classify(y, p.argmax(1))["accuracy"], 1)
           for name, p in (("voice", pv), ("face", pf), ("score_fusion", log_linear_pool(pv, pf, wv, wf)))}
    return {"w_voice": wv, "w_face": wf, "chosen_on": f"fold {fold} validation actors {list(split.val)} "
            "(voices) paired with FER+ valid faces", "validation_accuracy": acc, "n": int(len(y)),
            "audio_model_sha256": voice.sha256}


# ----------------------------------------------------------------------------------------------- CLI
def add_arguments(p) -> None:
    p.add_argument("--states", required=True, type=Path,
                   help="Whisper hidden-state cache of the RAVDESS speech clips (python -m emofusion.train.whisper_cache)")
    p.add_argument("--face-model", type=Path, default=Path("models/face"), help="the face model whose backbone the fusion uses")
    p.add_argument("--pool", type=Path, required=True, help="face pool file (.npz; built from FER+ / CK+48 if absent)")
    p.add_argument("--out", type=Path, help="run directory (resumes if it holds last.pt)")
    p.add_argument("--score-weights", type=Path, metavar="JSON",
                   help="instead of training: choose the score-level baseline's weights on the validation "
                        "actors (voices via --audio-model) and write them here")
    p.add_argument("--audio-model", type=Path, default=Path("models/audio"))
    p.add_argument("--speech", type=Path, default=None, help="RAVDESS speech root (default: ../shared/data/ravdess-speech)")
    p.add_argument("--fusion", default="ia_fw", choices=("ia_fw", "lt_fw"))
    p.add_argument("--epochs", type=int, default=FusionTrainConfig.epochs)
    p.add_argument("--mismatch-p", type=float, default=-1.0, help="< 0: calibrate (module doc)")
    p.add_argument("--audio-norm", default="standard", choices=("standard", "layer"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-mask", type=float, default=0.0, help="time masks on Whisper's states: two spans a "
                   "training clip, each up to this fraction of its frames (0: none)")
    p.add_argument("--drop-voice-p", type=float, default=FusionTrainConfig.drop_voice_p,
                   help="share of training clips whose voice is replaced by the absent input (default: %(default)s)")
    p.add_argument("--drop-face-p", type=float, default=FusionTrainConfig.drop_face_p,
                   help="share of training clips whose faces are replaced by the absent input (default: %(default)s)")
    p.add_argument("--feature-noise", type=float, default=FusionTrainConfig.feature_noise,
                   help="Gaussian noise on the training faces' features, relative to their std (default: %(default)s)")
    p.add_argument("--face-input", default="features", choices=("features", "probs"),
                   help="what the visual stream reads per frame: the face backbone's features, or the face "
                        "model's own head's probabilities (default: %(default)s)")
    p.add_argument("--hold-out-ckplus", action="store_true",
                   help="train without the pool's CK+48 faces (then a domain the fusion never saw: ship_fusion.py round4 "
                        "scores it on them)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="auto", help="where the fusion trains: auto (the GPU when torch sees one), "
                   "cpu, cuda or cuda:N (an error when there is no such CUDA GPU) (default: %(default)s)")
    p.add_argument("--videos", type=Path, help="real RAVDESS video (01-01-*.mp4 under Actor_XX): clips that have "
                   "one train on their real faces (face features cached in OUT/real_faces.npz)")


def run(args) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from emofusion.errors import UsageError
    from emofusion.infer.device import resolve_device

    device = resolve_device(args.device)  # CUDA asked for and absent: one line, before anything loads

    if args.out is None and not args.score_weights:
        raise UsageError("--out DIR is needed to train (or --score-weights JSON to choose the baseline's weights)")
    # a bad setting fails here, not after minutes of building the face pool
    cfg = FusionTrainConfig(fusion=args.fusion, epochs=args.epochs, mismatch_p=args.mismatch_p, seed=args.seed,
                            audio_norm=args.audio_norm, time_mask=args.time_mask, drop_voice_p=args.drop_voice_p,
                            drop_face_p=args.drop_face_p, feature_noise=args.feature_noise,
                            face_input=args.face_input, hold_out_ckplus=args.hold_out_ckplus)
    pool = FacePool.load(args.pool) if args.pool.is_file() else build_face_pool(args.face_model, args.pool)
    if args.score_weights:
        from emofusion.data.faces_labelled import shared_data

        w = score_weights(args.audio_model, pool, 1, args.speech or shared_data("ravdess-speech"), args.seed)
        w["command"] = ("emofusion train-fusion --states STATES --pool POOL --score-weights "
                        f"{args.score_weights}")
        args.score_weights.parent.mkdir(parents=True, exist_ok=True)
        args.score_weights.write_text(json.dumps(w, indent=1) + "\n")
        print(json.dumps(w))
        return 0
    real = None
    if args.videos is not None:
        real = args.out / "real_faces.npz"
        if not real.is_file():
            _real_face_cache(args.videos, args.face_model, cfg, real)
    summary = train_fusion(cfg, args.states, pool, args.face_model, args.out, real_faces=real, device=device)
    print(json.dumps({k: summary[k] for k in ("best", "mismatch_p", "face_reliability_target")}))
    return 0


def build_fusion(cfg: FusionTrainConfig, face_model: Path):
    """The untrained fusion of `cfg` with the face model's backbone in it: (model, ModelConfig,
    MediaConfig, the face model loaded). The fusion reads the face model's crops (its framing) at
    5 frames of grey 48 px and Whisper's log-mel."""
    from emofusion.config import WHISPER_AUDIO, MediaConfig
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.nets.config import ModelConfig
    from emofusion.nets.registry import create_model

    face = load_checkpoint(face_model)
    video = dataclasses.replace(face.media_cfg.video, n_frames=cfg.n_frames, face_size=FACE_SIZE)
    media = MediaConfig(audio=WHISPER_AUDIO, video=video)
    mcfg = ModelConfig(fusion=cfg.fusion, audio_channels=80, face_size=FACE_SIZE, n_frames=cfg.n_frames,
                       audio_width=cfg.audio_width, dropout=cfg.dropout, face_grey=True, audio_norm=cfg.audio_norm,
                       face_input=cfg.face_input)
    model = create_model(mcfg)
    model.face.load_state_dict(face.model.face.state_dict())
    if model.face_probs is not None:
        model.face_probs.load_from(face.model)
    return model, mcfg, media, face


def _real_face_cache(videos: Path, face_model: Path, cfg: FusionTrainConfig, out: Path) -> None:
    """face_sequences with the fusion's own VideoConfig and face frontend (the face model's backbone)."""
    model, _, media, _ = build_fusion(cfg, face_model)
    face_sequences(videos, media, model.eval(), out)
