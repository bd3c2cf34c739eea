"""A batch as the networks take it: the one conversion from cached arrays to float tensors, shared by
the training loop (loop.py) and the face-feature cache (face_views.py)."""

from __future__ import annotations

import torch


def to_float_inputs(inputs: dict[str, torch.Tensor], device: str) -> dict[str, torch.Tensor]:
    """Faces may be cached as uint8 to save RAM; the model wants floats in [0, 1] of torch's default
    dtype (float32; float64 under `torch.set_default_dtype`, which the exactness tests use)."""
    dtype = torch.get_default_dtype()
    out = {}
    for k, v in inputs.items():
        v = torch.as_tensor(v).to(device)
        out[k] = v.to(dtype).div_(255.0) if v.dtype == torch.uint8 else v.to(dtype)
    return out
