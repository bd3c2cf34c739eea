"""Cross-modal attention for the fusion models (sequences are (B, T, D) here).

IA uses only the softmax attention maps (`AttentionMaps`, `gate_stream`); IT and LT use pre-norm
cross-attention Transformer blocks (`CrossAttentionBlock`). Heads are split with `unflatten` and
batch-free reshapes so tracing keeps the batch dynamic.
"""

from __future__ import annotations

import torch
from torch import nn


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, N, D) -> (B, heads, N, D / heads)."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


class AttentionMaps(nn.Module):
    """softmax(q k^T / sqrt(d)) of `xq` queries over `xk` keys, averaged over heads: (B, Nq, Nk).

    Only q and k projections: IA never uses values, so none are built (the reference carries unused
    value and output projections, about 37 k parameters that receive no gradient)."""

    def __init__(self, dim_q: int, dim_k: int, heads: int = 1):
        super().__init__()
        if dim_q % heads:
            raise ValueError(f"{heads} heads do not divide width {dim_q}")
        self.heads = heads
        self.scale = (dim_q // heads) ** -0.5
        self.q = nn.Linear(dim_q, dim_q, bias=False)
        self.k = nn.Linear(dim_k, dim_q, bias=False)

    def forward(self, xk: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:
        q = _split_heads(self.q(xq), self.heads)
        k = _split_heads(self.k(xk), self.heads)
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        return attn.mean(dim=1)


def gate_stream(x: torch.Tensor, attn: torch.Tensor, mode: str) -> torch.Tensor:
    """Re-weight stream x (B, C, T) over time by the attention its T steps received, attn (B, Nq, T).

    "raw": x * sum_q attn (the reference; mean scale Nq / T, unbounded).
    "sigmoid": x * (0.5 + sigmoid(log r)) with r = that sum relative to uniform attention (mean 1);
    bounded in (0.5, 1.5), the identity when attention is uniform, and scale-free in Nq and T."""
    weight = attn.sum(dim=1).unsqueeze(1)  # (B, 1, T)
    if mode == "raw":
        return x * weight
    if mode == "sigmoid":
        r = weight * (attn.shape[2] / attn.shape[1])
        return x * (0.5 + r / (1.0 + r))
    raise ValueError(f"unknown gate {mode!r}")


class CrossAttention(nn.Module):
    """Multi-head attention of `xq` over `xk`; output width = query width (as the reference)."""

    def __init__(self, dim_q: int, dim_k: int, heads: int = 1, drop: float = 0.0):
        super().__init__()
        if dim_q % heads:
            raise ValueError(f"{heads} heads do not divide width {dim_q}")
        self.heads = heads
        self.scale = (dim_q // heads) ** -0.5
        self.q = nn.Linear(dim_q, dim_q, bias=False)
        self.kv = nn.Linear(dim_k, 2 * dim_q, bias=False)
        self.proj = nn.Linear(dim_q, dim_q)
        self.drop = nn.Dropout(drop)

    def forward(self, xk: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:
        q = _split_heads(self.q(xq), self.heads)
        k, v = (_split_heads(t, self.heads) for t in self.kv(xk).chunk(2, dim=-1))
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        out = (attn @ v).transpose(1, 2).flatten(2)  # (B, Nq, D)
        return self.drop(self.proj(out))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class CrossAttentionBlock(nn.Module):
    """Pre-norm block: LayerNorm on q and k, cross-attention, then x + MLP(LN(x)) (MLP ratio 2, GELU).

    As in the reference the block returns the attended sequence; IT adds it to the query stream,
    LT pools it directly."""

    def __init__(self, dim_q: int, dim_k: int, heads: int = 1, mlp_ratio: float = 2.0, drop: float = 0.0):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim_q)
        self.norm_k = nn.LayerNorm(dim_k)
        self.attn = CrossAttention(dim_q, dim_k, heads, drop)
        self.norm2 = nn.LayerNorm(dim_q)
        self.mlp = Mlp(dim_q, int(dim_q * mlp_ratio), drop)

    def forward(self, xk: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.norm_k(xk), self.norm_q(xq))
        return x + self.mlp(self.norm2(x))
