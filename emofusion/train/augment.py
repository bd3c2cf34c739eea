"""Training-time augmentation on batches, pure torch, every draw from one seeded generator.

Working on whole batches (not per item in the Dataset) keeps the random stream in one place, so
a run is reproducible and a resumed run draws exactly what the uninterrupted one drew.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from emofusion.constants import AUDIO, FACES
from emofusion.train.config import AugmentConfig

Batch = dict[str, torch.Tensor]


def augment_faces(faces: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(B, F, 3, S, S) in [0, 1]: per clip one horizontal flip and one rotation for all frames."""
    if cfg.face_flip_p <= 0 and cfg.face_rotate_deg <= 0:
        return faces  # also what cached face features (train/face_views.py) go through
    b, f, c, s, _ = faces.shape
    out = faces
    if cfg.face_flip_p > 0:
        flip = torch.rand(b, generator=gen) < cfg.face_flip_p  # drawn on the CPU, applied on faces' device
        if flip.any():
            flip = flip.to(faces.device)
            out = out.clone()
            out[flip] = out[flip].flip(-1)
    if cfg.face_rotate_deg > 0:
        angles = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(cfg.face_rotate_deg)
        cos, sin = torch.cos(angles), torch.sin(angles)
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
        theta = theta.to(faces.dtype).repeat_interleave(f, dim=0)  # same angle for every frame
        frames = out.reshape(b * f, c, s, s)
        grid = F.affine_grid(theta.to(faces.device), list(frames.shape), align_corners=False)
        # border padding: rotated corners repeat the edge instead of black wedges
        frames = F.grid_sample(frames, grid, padding_mode="border", align_corners=False)
        out = frames.reshape(b, f, c, s, s)
    return out


def spec_augment(audio: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(B, C, T): zero `time_masks` time spans and `freq_masks` channel bands per clip."""
    b, c, t = audio.shape
    if not (cfg.time_masks or cfg.freq_masks):
        return audio
    keep = torch.ones(b, c, t)
    for n_masks, width, size, axis in (
        (cfg.time_masks, cfg.time_mask_width, t, 2),
        (cfg.freq_masks, cfg.freq_mask_width, c, 1),
    ):
        for _ in range(n_masks):
            w = torch.randint(0, max(1, min(width, size)) + 1, (b,), generator=gen)
            start = (torch.rand(b, generator=gen) * (size - w + 1).float()).long()
            idx = torch.arange(size)
            band = (idx[None] >= start[:, None]) & (idx[None] < (start + w)[:, None])  # (B, size)
            keep = keep * (~band[:, None, :] if axis == 2 else ~band[:, :, None]).float()
    return audio * keep.to(audio.device, audio.dtype)


def mask_state_spans(x, mean, fraction: float, rng: np.random.Generator) -> None:
    """In place on hidden states x (B, L, T, d), numpy or torch: two random spans of each clip, each
    up to `fraction` of its frames, set to `mean` (L, d, same type): a frozen encoder's states get
    the time masking SpecAugment gives spectrograms. Draws from a numpy generator (the recipes' own)."""
    b, _, t, _ = x.shape
    fill = mean[:, None, :]
    longest = max(1, int(fraction * t))
    for i in range(b):
        for _ in range(2):
            w = int(rng.integers(0, longest + 1))
            if w:
                s0 = int(rng.integers(0, t - w + 1))
                x[i, :, s0:s0 + w] = fill


def audio_noise(audio: torch.Tensor, scale: float, gen: torch.Generator) -> torch.Tensor:
    """Gaussian noise proportional to each clip's own feature spread (feature-space jitter)."""
    if scale <= 0:
        return audio
    std = audio.std(dim=(1, 2), keepdim=True)
    noise = torch.randn(audio.shape, generator=gen).to(audio.device, audio.dtype)
    return audio + noise * std * scale


def mixup(batch: Batch, targets: torch.Tensor, alpha: float, gen: torch.Generator) -> tuple[Batch, torch.Tensor]:
    """Mix each clip with a shuffled partner: lam ~ Beta(alpha, alpha); targets are soft (B, K)."""
    if alpha <= 0:
        return batch, targets
    b = targets.shape[0]
    # numpy's Beta sampler, seeded from our generator, keeps the draw on the one random stream
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(b, generator=gen).to(targets.device)
    mixed = {k: lam * v + (1 - lam) * v[perm] for k, v in batch.items()}
    return mixed, lam * targets + (1 - lam) * targets[perm]


def modality_dropout(
    batch: Batch, targets: torch.Tensor, mode: str, p: float, gen: torch.Generator
) -> tuple[Batch, torch.Tensor]:
    """Teach a fusion model to cope with a missing stream (zeros = missing, as at inference).

    softhard (the reference): the batch becomes four copies: original; audio*a and faces*(1-a)
    with a ~ U[0, 1) per clip; audio zeroed; faces zeroed. random: each clip independently loses
    its audio (p/2) or its faces (p/2).
    """
    if mode == "none" or AUDIO not in batch or FACES not in batch:
        return batch, targets
    audio, faces = batch[AUDIO], batch[FACES]
    b = audio.shape[0]
    per_clip = (b,) + (1,) * (faces.dim() - 1)  # crops (B, F, 3, S, S) or face features (B, D, F)
    if mode == "softhard":
        a = torch.rand(b, generator=gen).to(audio.device, audio.dtype)
        new_audio = torch.cat([audio, audio * a[:, None, None], torch.zeros_like(audio), audio])
        fa = (1 - a).to(faces.dtype).reshape(per_clip)
        new_faces = torch.cat([faces, faces * fa, faces, torch.zeros_like(faces)])
        return {AUDIO: new_audio, FACES: new_faces}, torch.cat([targets] * 4)
    if mode == "random":
        r = torch.rand(b, generator=gen).to(audio.device)
        keep_audio = (r >= p / 2).to(audio.dtype)
        keep_faces = ~((r >= p / 2) & (r < p))
        return {
            AUDIO: audio * keep_audio[:, None, None],
            FACES: faces * keep_faces.to(faces.dtype).reshape(per_clip),
        }, targets
    raise ValueError(f"unknown modality dropout mode {mode!r}")


def augment_batch(
    batch: Batch, targets: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator
) -> tuple[Batch, torch.Tensor]:
    """All augmentations in a fixed order; `targets` are one-hot/soft (B, K) float."""
    out = dict(batch)
    if FACES in out:
        out[FACES] = augment_faces(out[FACES], cfg, gen)
    if AUDIO in out:
        out[AUDIO] = audio_noise(spec_augment(out[AUDIO], cfg, gen), cfg.audio_noise, gen)
    out, targets = mixup(out, targets, cfg.mixup_alpha, gen)
    return modality_dropout(out, targets, cfg.modality_dropout, cfg.modality_dropout_p, gen)
