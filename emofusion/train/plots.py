"""Pictures people look at: confusion matrices and training curves (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from emofusion.constants import CLASSES


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def confusion_png(cm: Sequence[Sequence[int]], path: str | Path, title: str,
                  labels: Sequence[str] | None = None) -> Path:
    """Row-normalised colours (recall) with raw counts written in each cell."""
    plt = _plt()
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    n = len(cm)
    labels = list(labels or CLASSES[:n])
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    ax.set_title(title)
    return _save(plt, fig, path)


def curves_png(history: Sequence[dict[str, Any]], path: str | Path, title: str) -> Path:
    """Loss and accuracy/macro-F1 per epoch, train vs validation."""
    plt = _plt()
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    if any(h.get("val_loss") is not None for h in history):
        ax1.plot(epochs, [h.get("val_loss") for h in history], label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend()
    ax2.plot(epochs, [h["train_acc"] for h in history], label="train accuracy")
    if any(h.get("val_acc") is not None for h in history):
        ax2.plot(epochs, [h.get("val_acc") for h in history], label="val accuracy")
        ax2.plot(epochs, [h.get("val_f1") for h in history], label="val macro-F1", linestyle="--")
    ax2.set_xlabel("epoch")
    ax2.set_ylim(0, 1)
    ax2.legend()
    fig.suptitle(title)
    return _save(plt, fig, path)
