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
