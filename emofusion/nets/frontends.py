"""Frozen frontends that several shipped models share, named by what they compute.

Why: the voice model, IA and LT all run the same frozen Whisper encoder on the same log-mel, and
IA and LT the same frozen face-api.js backbone on the same crops. A model that exposes its
frontends (`model.frontends()`: input name -> `Frontend`) and a head over their outputs
(`model.forward_from_encoded`) lets an engine run each distinct frontend once per clip
(export/split.py, infer/shared_frontends.py). Two frontends with the same `key` compute the same
function: the key is a digest of their weights and of the preprocessing they apply, and the
exporter adds the input's shape.

Every frontend output is batch first, so an exported graph keeps one dynamic batch axis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import nn


def weights_digest(module: nn.Module, extra: str = "") -> str:
    """sha256 over a module's state (names, dtypes, shapes, bytes) plus `extra`: equal digests, same function."""
    h = hashlib.sha256(extra.encode())
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


@dataclass
class Frontend:
    """`module(input) -> encoded` (batch first), `key` names what it computes (see module docstring)."""

    key: str
    module: nn.Module


class WhisperStates(nn.Module):
    """log-mel (B, 80, T) -> every hidden state of Whisper's encoder, batch first (B, L, T/2, d)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.encoder(mel, hidden=True), dim=1)


def whisper_frontend(encoder: nn.Module, cache: dict) -> Frontend:
    """The shared Whisper frontend; the digest (~30 MB hashed) is kept in `cache` (the model's)."""
    if "whisper" not in cache:
        cache["whisper"] = "whisper-states:" + weights_digest(encoder)[:32]
    return Frontend(cache["whisper"], WhisperStates(encoder))
