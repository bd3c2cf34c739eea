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
