"""`emofusion train-face`: pretrain the face CNN as a per-frame expression classifier on FER+.

FER+ faces are 48 px grey and framed by FER-2013's own cropper; the product's faces are MTCNN crops
of video, RGB, `face_size` px, with `face_margin` context. The bridge, on purpose:
- grey everywhere: the model turns every crop grey inside its graph (ModelConfig.face_grey);
- framing: each FER+ face is rendered at the scale our MTCNN crop would show it (`zoom`, measured
  by `emofusion.train.face_framing` and stored in the config), jittered around it;
- resolution: faces are drawn at the product's crop size, and a share of them is first blurred
  down to a random lower resolution (small or distant faces in video);
- movement: rotation, shift and flip jitter; brightness and contrast jitter (lighting).
Training uses FER+'s vote distribution as a soft target (its "probability distribution" scheme),
the published train split; the checkpoint kept is the epoch best on FER+ valid; FER+ test is
only scored at the end (emofusion.train.face_eval).

`model="face_faceapi"` fine-tunes the face-api.js expression network instead (emofusion/nets/
faceapi.py; issue 26): it starts from the converted original weights, sees FER+ faces in colour-free
RGB at 112 px with `render.zoom` chosen on FER+ valid and CK+ (scripts/face_faceapi.py sweep), and
learns FER+'s votes over its own 7 classes (contempt votes dropped, the rest renormalised; faces
with only contempt votes are left out). `train="head"` trains the last layer only (the backbone
frozen, run without gradients); `train="all"` everything, at a low rate, to keep what it knows.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from emofusion.config import MediaConfig, VideoConfig, from_dict, register_config
from emofusion.nets.config import ModelConfig
from emofusion.train.config import TrainingBase

LAST, BEST, LOG = "last.pt", "best.pt", "metrics.jsonl"


@register_config
@dataclass(frozen=True)
class FaceRender:
    """How a 48 px FER+-style face becomes a product-like crop (all draws per image)."""

    size: int = 64
    zoom: float = 1.0  # crop side / source image side that our MTCNN framing corresponds to
    zoom_jitter: float = 0.15  # zoom multiplied by exp(U(-j, j))
    rotate_deg: float = 12.0
    shift: float = 0.08  # fraction of the crop side
    flip_p: float = 0.5
    lowres_p: float = 0.3  # share of faces blurred down first
    lowres_min: int = 20  # ... to a side drawn in [lowres_min, size]
    brightness: float = 0.25
    contrast: float = 0.3


@register_config
@dataclass(frozen=True)
class FaceTrainConfig(TrainingBase):
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    dropout: float = 0.2
    seed: int = 0
    threads: int = 2
    render: FaceRender = field(default_factory=FaceRender)
    model: str = "face"  # "face" (EfficientFace, from scratch) | "face_faceapi" (from face-api.js)
    train: str = "all"  # "all" | "head" (face_faceapi only: the backbone stays as converted)


def _affine(n: int, zoom: torch.Tensor, angle: torch.Tensor, shift: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """theta (N,2,3) mapping output coords to source coords: source = zoom * R * flip * out + shift."""
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    sx = torch.where(flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos * sx, -sin, shift[:, 0]
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin * sx, cos, shift[:, 1]
    return theta


@dataclass
class RenderDraw:
    """One rendering's random parameters, per image (tensors of length N)."""

    zoom: torch.Tensor
    angle: torch.Tensor
    shift: torch.Tensor  # (N, 2) in grid units
    flip: torch.Tensor
    brightness: torch.Tensor
    contrast: torch.Tensor
    lowres: torch.Tensor  # bool
    low_side: int

    @classmethod
    def fixed(cls, n: int, r: FaceRender) -> "RenderDraw":
        """The deterministic rendering at the measured framing (evaluation)."""
        return cls(torch.full((n,), r.zoom), torch.zeros(n), torch.zeros(n, 2), torch.zeros(n, dtype=torch.bool),
                   torch.ones(n), torch.ones(n), torch.zeros(n, dtype=torch.bool), r.size)

    @classmethod
    def draw(cls, n: int, r: FaceRender, gen: torch.Generator) -> "RenderDraw":
        u = lambda *shape: torch.rand(*shape, generator=gen) * 2 - 1  # noqa: E731
        zoom, angle = r.zoom * torch.exp(u(n) * r.zoom_jitter), u(n) * math.radians(r.rotate_deg)
        shift, flip = u(n, 2) * r.shift * 2, torch.rand(n, generator=gen) < r.flip_p
        low, side = torch.zeros(n, dtype=torch.bool), r.size
        if r.lowres_p > 0:
            low = torch.rand(n, generator=gen) < r.lowres_p
            if low.any():
                side = int(torch.randint(r.lowres_min, r.size + 1, (1,), generator=gen))
        return cls(zoom, angle, shift, flip, 1 + u(n) * r.brightness, 1 + u(n) * r.contrast, low, side)

    def moved(self, gen: torch.Generator, angle_deg: float = 4.0, shift: float = 0.03, zoom: float = 0.04) -> "RenderDraw":
        """The same face a moment later: small head movement around this draw (one video frame)."""
        n = len(self.zoom)
        u = lambda *shape: torch.rand(*shape, generator=gen) * 2 - 1  # noqa: E731
        return RenderDraw(self.zoom * torch.exp(u(n) * zoom), self.angle + u(n) * math.radians(angle_deg),
                          self.shift + u(n, 2) * shift * 2, self.flip, self.brightness, self.contrast,
                          self.lowres, self.low_side)


def model_render(meta: dict) -> FaceRender:
    """The rendering a face checkpoint's figures use: a fine-tuned run's training render (its
    `train_config`), else the zoom the published network was shipped at (`meta["render"]`)."""
    return from_dict(FaceRender, (meta.get("train_config") or {}).get("render") or meta["render"])


def render(images: np.ndarray | torch.Tensor, r: FaceRender, gen: torch.Generator | None = None,
           draw: RenderDraw | None = None, device: str = "cpu") -> torch.Tensor:
    """(N, H, W) uint8 grey -> (N, 3, S, S) float in [0, 1]. Without `gen` or `draw`: the
    deterministic rendering at the measured framing (evaluation); with `gen`, every jitter drawn
    from it; with `draw`, those parameters. The jitter is drawn on the CPU (one random stream
    whatever the device); the images are warped on `device` (the GPU when training there)."""
    x = torch.as_tensor(np.asarray(images)).to(device).float().div_(255.0).unsqueeze(1)
    n = x.shape[0]
    if draw is None:
        draw = RenderDraw.draw(n, r, gen) if gen is not None else RenderDraw.fixed(n, r)
    d = draw
    theta = _affine(n, d.zoom, d.angle, d.shift, d.flip).to(device)
    grid = F.affine_grid(theta, [n, 1, r.size, r.size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if d.lowres.any():
        low = d.lowres.to(device)
        small = F.interpolate(out[low], size=(d.low_side, d.low_side), mode="area")
        out[low] = F.interpolate(small, size=(r.size, r.size), mode="bilinear", align_corners=False)
    mean = out.mean(dim=(2, 3), keepdim=True)
    contrast, brightness = d.contrast.to(device).view(-1, 1, 1, 1), d.brightness.to(device).view(-1, 1, 1, 1)
    out = ((out - mean) * contrast + mean * brightness).clamp_(0, 1)
    return out.expand(-1, 3, -1, -1)


def face_model_config(cfg: FaceTrainConfig) -> ModelConfig:
    if cfg.model == "face_faceapi":
        return ModelConfig(fusion="face_faceapi", face_size=112, dropout=cfg.dropout)
    return ModelConfig(fusion="face", face_size=cfg.render.size, face_grey=True, dropout=cfg.dropout)


def face_media_config(cfg: FaceTrainConfig, n_frames: int = 5) -> MediaConfig:
    """What the product feeds this model: n_frames crops of render.size px per clip."""
    if cfg.model == "face_faceapi":
        return MediaConfig(video=VideoConfig(n_frames=n_frames, face_size=112, framing="faceapi"))
    return MediaConfig(video=VideoConfig(n_frames=n_frames, face_size=cfg.render.size))


# face-api.js head class -> FER+ class index (FER+ order: neutral happiness surprise sadness anger
# disgust fear contempt); FER+ contempt has no face-api class.
FERPLUS_FROM_FACEAPI = (0, 1, 3, 4, 6, 5, 2)


def head_targets(model, targets: torch.Tensor) -> torch.Tensor:
    """FER+ vote distributions (N, 8) -> the model's head classes (face-api: 7, renormalised)."""
    if getattr(model, "head_classes", None) is None:
        return targets
    t = targets[:, list(FERPLUS_FROM_FACEAPI)]
    s = t.sum(dim=1, keepdim=True)
    return torch.where(s > 0, t / s.clamp_min(1e-12), torch.zeros_like(t))


def to_ferplus(model, head: np.ndarray) -> np.ndarray:
    """(N, H) head-class values -> (N, 8) in FER+ order (classes the head lacks: 0)."""
    if getattr(model, "head_classes", None) is None:
        return head
    out = np.zeros((len(head), 8), dtype=head.dtype)
    out[:, list(FERPLUS_FROM_FACEAPI)] = head
    return out


def _frame_logits(model, x: torch.Tensor, head_only: bool) -> torch.Tensor:
    if head_only:  # frozen backbone: no graph through it
        with torch.no_grad():
            feats = model.frame_features(x)
        return model.head(model.drop(feats))
    return model.frame_logits(x)


def _balanced_recall(logp: np.ndarray, y: np.ndarray, classes: list[int]) -> float:
    pred = logp.argmax(1)
    return float(np.mean([(pred[y == k] == k).mean() for k in classes]))


def _lr_at(step: float, total: float, warm: float, base: float) -> float:
    if step < warm:
        return base * (step + 1) / warm
    return base * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1.0, total - warm)))


@torch.no_grad()
def predict_frames(model, images: np.ndarray, r: FaceRender, batch: int = 512, device: str = "cpu") -> np.ndarray:
    """FER+ probabilities (N, 8) of the deterministic rendering (classes the head lacks: 0);
    `device`: where the model is."""
    model.eval()
    out = [torch.softmax(model.frame_logits(render(images[i : i + batch], r, device=device)), dim=-1).cpu()
           for i in range(0, len(images), batch)]
    return to_ferplus(model, torch.cat(out).numpy())


def _save(path: Path, payload: dict[str, Any]) -> None:
    from emofusion.atomic import atomic_write

    atomic_write(path, lambda f: torch.save(payload, f))


def train_face(out: str | Path, cfg: FaceTrainConfig, ferplus_root: str | Path | None = None,
               progress: bool = True, stop_after: int | None = None, device: str = "cpu") -> Path | None:
    """Train (or resume) in `out`; returns the path of the exported best checkpoint (face.pt), or
    None when `stop_after` (epochs) ended the run early (resume it later, even with another
    `epochs`: the cosine schedule then follows the new length from where it is). `device`: a
    resolved "cpu" / "cuda:N" where the model, the batches and their rendering live (not part of
    the config: a run may resume on another device)."""
    from tqdm import tqdm

    from emofusion.data.faces_labelled import load_ferplus
    from emofusion.nets.checkpoint import save_checkpoint
    from emofusion.nets.registry import create_model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    data = load_ferplus(ferplus_root)
    tr, va = data.select("train"), data.select("valid")
    torch.manual_seed(cfg.seed)
    model = create_model(face_model_config(cfg))
    targets = head_targets(model, torch.as_tensor(data.soft_targets()))
    tr = tr[targets[tr].sum(dim=1).numpy() > 0]  # face-api: faces whose votes were all contempt
    majority = data.majority()
    head_only = cfg.train == "head"
    if cfg.model == "face_faceapi":
        from emofusion.nets.faceapi import pretrained

        model.load_state_dict(pretrained().state_dict())  # the converted original (npm tarball, sha256-checked)
        model.face.requires_grad_(not head_only)
    elif head_only:
        raise ValueError("train='head' needs a pretrained backbone (model='face_faceapi')")
    model = model.to(device)
    params = model.head.parameters() if head_only else model.parameters()
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, best_acc, history = 0, -1.0, []
    if (out / LAST).is_file():
        state = torch.load(out / LAST, map_location="cpu", weights_only=True)
        was, now = dict(state["config"]), json.loads(json.dumps(cfg.to_dict()))
        if {**was, "epochs": 0} != {**now, "epochs": 0}:
            raise ValueError(f"{out / LAST} was written with another config; use a new --out")
        if was["epochs"] != now["epochs"]:  # a shortened (or lengthened) schedule, logged where it changed
            with open(out / LOG, "a") as f:
                f.write(json.dumps({"schedule_change": {"epochs_from": was["epochs"], "epochs_to": now["epochs"],
                                                        "after_epoch": state["epoch"]}}) + "\n")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start, best_acc = state["epoch"] + 1, state["best_acc"]
        print(f"resuming after epoch {state['epoch']} (best valid accuracy {best_acc:.4f})")
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n")
    steps_per_epoch = math.ceil(len(tr) / cfg.batch_size)
    total, warm = cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch
    for epoch in range(start, cfg.epochs):
        if stop_after is not None and epoch >= stop_after:
            return None
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = tr[torch.randperm(len(tr), generator=gen).numpy()]
        model.train()
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
                   mininterval=5)
        for i in bar:
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            for g in opt.param_groups:
                g["lr"] = _lr_at(epoch * steps_per_epoch + i, total, warm, cfg.lr)
            x = render(data.images[idx], cfg.render, gen, device=device)
            logp = F.log_softmax(_frame_logits(model, x, head_only), dim=-1)
            loss = -(targets[idx].to(device) * logp).sum(dim=-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
        train_s = time.perf_counter() - t0
        probs = predict_frames(model, data.images[va], cfg.render, device=device)
        acc = float((probs.argmax(1) == majority[va]).mean())
        row = {"epoch": epoch, "train_loss": loss_sum / seen, "valid_accuracy": acc,
               "train_seconds": round(train_s, 1), "lr": opt.param_groups[0]["lr"]}
        history.append(row)
        with open(out / LOG, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        if acc > best_acc:
            best_acc = acc
            _save(out / BEST, {"model": model.state_dict(), "epoch": epoch, "valid_accuracy": acc})
        _save(out / LAST, {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch,
                           "best_acc": best_acc, "config": cfg.to_dict()})
    best = torch.load(out / BEST, map_location="cpu", weights_only=True)
    model.load_state_dict(best["model"])
    # the RAVDESS answer is corrected for FER+'s class prior (chosen on FER+ valid: balanced recall
    # over the 7 mapped classes, results/face/face_pretrain.json ferplus.valid_balanced_recall_7_*)
    prior = targets[torch.as_tensor(tr)].mean(dim=0).clamp_min(1e-4)
    use_prior = True
    if cfg.model == "face_faceapi":  # the correction is kept only if FER+ valid's balanced recall
        # over the 7 RAVDESS-mapped classes says so (the rule the FER+ model's correction was chosen by)
        logp = np.log(predict_frames(model, data.images[va], cfg.render, device=device) + 1e-12)
        shift = to_ferplus(model, prior.log().numpy()[None])
        use_prior = _balanced_recall(logp - shift, majority[va], list(range(7))) > _balanced_recall(
            logp, majority[va], list(range(7)))
    if use_prior:
        model.log_prior.copy_(prior.log())
    meta = {"kind": "face", "train_config": cfg.to_dict(), "best_epoch": best["epoch"],
            "ferplus_valid_accuracy": best["valid_accuracy"], "ferplus_train_prior": prior.tolist(),
            "prior_correction": use_prior,
            "data": "FER+ (FER-2013 images, research use only; FER+ labels MIT) train split, vote distributions"}
    if cfg.model == "face_faceapi":
        from emofusion.pretrained.faceapi import ATTRIBUTION, PACKAGE, SHA256, VERSION

        meta.update({"source": f"{PACKAGE}@{VERSION}", "source_sha256": dict(SHA256), "licence": ATTRIBUTION,
                     "head_classes": list(model.head_classes), "variant": f"fine-tuned ({cfg.train})"})
    return save_checkpoint(out / "face.pt", model, face_model_config(cfg), face_media_config(cfg), meta)
