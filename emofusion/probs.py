"""Probabilities from model outputs: the one softmax for numpy logits.

Models output logits (softmax stays outside the graph, see docs/ARCHITECTURE.md); everything that
turns them into probabilities in numpy (the Predictor, evaluation, ensembles) uses this function.
A leaf module: numpy only, so any layer can import it.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis, computed stably (max subtracted first)."""
    z = np.asarray(logits) - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# A face says nothing about calm (probability 0); pooling in the log domain needs every class > 0.
FLOOR = 1e-3


def log_linear_pool(p_voice: np.ndarray, p_face: np.ndarray, w_voice: float, w_face: float) -> np.ndarray:
    """Score-level fusion: p ~ p_voice^w_voice * p_face^w_face, renormalised (calibrated log-linear
    pooling; the weights are chosen on validation data). The baseline every fusion table shows."""
    z = (w_voice * np.log(np.maximum(p_voice, FLOOR)) + w_face * np.log(np.maximum(p_face, FLOOR)))
    return softmax(z)


def choose_pool_weights(p_voice: np.ndarray, p_face: np.ndarray, y: np.ndarray,
                        grid: np.ndarray | None = None) -> tuple[float, float]:
    """(w_voice, w_face) on a grid maximising mean log-likelihood of `y` (validation data): the
    weights both calibrate (their sum acts as a temperature) and balance the two streams."""
    grid = np.round(np.arange(0.0, 2.01, 0.1), 2) if grid is None else grid
    best, best_ll = (1.0, 0.0), -np.inf
    for wv in grid:
        for wf in grid:
            p = log_linear_pool(p_voice, p_face, float(wv), float(wf))
            ll = float(np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-12))))
            if ll > best_ll:
                best, best_ll = (float(wv), float(wf)), ll
    return best


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): temperature scaling applied to probabilities (log p is the logits up to a
    constant, so this equals softmax(logits / T)). T > 1 softens over-confident answers."""
    if temperature == 1.0:
        return np.asarray(probs)
    return softmax(np.log(np.maximum(probs, 1e-12)) / temperature)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    return float(-np.mean(np.log(np.maximum(np.asarray(probs)[np.arange(len(y)), y], 1e-12))))


def fit_temperature(probs: np.ndarray, y: np.ndarray, lo: float = 0.25, hi: float = 8.0) -> float:
    """The temperature minimising the NLL of `y` (validation data), on a log grid refined twice.
    One scalar: the answers' order never changes, only how sure they look (Guo et al. 2017)."""
    best = 1.0
    for step in range(3):
        grid = np.exp(np.linspace(np.log(lo), np.log(hi), 41))
        scores = [nll(apply_temperature(probs, float(t)), y) for t in grid]
        i = int(np.argmin(scores))
        best = float(grid[i])
        lo, hi = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, len(grid) - 1)])
    return round(best, 4)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """ECE: the gap between confidence (top probability) and accuracy, averaged over `bins` equal-width
    confidence bins weighted by how many answers fall in each."""
    p = np.asarray(probs)
    conf, pred = p.max(axis=1), p.argmax(axis=1)
    right = (pred == np.asarray(y)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for i in range(bins):
        inside = (conf > edges[i]) & (conf <= edges[i + 1]) if i else (conf >= 0) & (conf <= edges[1])
        if inside.any():
            ece += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    return float(ece)
