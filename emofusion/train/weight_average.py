"""Exponential moving average of a network's weights (Polyak averaging).

Why: with no validation actors a fold keeps its last epoch, whose weights still move with the last
batches seen. An average over the last few epochs' steps is a flatter, steadier point of the same
run, at no extra training cost. BatchNorm statistics are averaged like the weights (as timm's
ModelEmaV2 does); integer buffers (batch counters) are copied.
"""

from __future__ import annotations

import copy

import torch


class WeightAverage:
    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), not {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """After an optimiser step: ema = decay * ema + (1 - decay) * current."""
        live = model.state_dict()
        for name, avg in self.model.state_dict().items():
            cur = live[name].detach()
            if avg.dtype.is_floating_point:
                avg.mul_(self.decay).add_(cur.to(avg.dtype), alpha=1.0 - self.decay)
            else:
                avg.copy_(cur)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
