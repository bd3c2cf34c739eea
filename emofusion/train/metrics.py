"""Classification metrics from a confusion matrix (rows = true class, columns = predicted).

Everything derives from the confusion matrix so per-fold matrices can be summed and summarised
the same way; a class with no true and no predicted clips is left out of macro-F1 (sklearn's
`labels=present` convention) instead of counting as 0.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from emofusion.constants import CLASSES, NUM_CLASSES


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n: int = NUM_CLASSES) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def from_confusion(cm: np.ndarray, classes: Sequence[str] = CLASSES) -> dict[str, Any]:
    """accuracy, macro-F1 (over classes present in truth or prediction), per-class P/R/F1/support."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    present = (support + predicted) > 0
    total = cm.sum()
    return {
        "n": int(total),
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion": cm.astype(np.int64).tolist(),
    }


def classify(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, Any]:
    return from_confusion(confusion(y_true, y_pred))


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample std (ddof=1; 0 for a single fold) of per-fold figures."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {"mean": math.nan, "std": math.nan, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}


def summarise_folds(fold_metrics: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean +- std of accuracy and macro-F1 over folds, plus the pooled (summed) confusion."""
    pooled = np.sum([np.asarray(m["confusion"]) for m in fold_metrics], axis=0)
    return {
        "accuracy": mean_std([m["accuracy"] for m in fold_metrics]),
        "macro_f1": mean_std([m["macro_f1"] for m in fold_metrics]),
        "pooled": from_confusion(pooled),
    }
