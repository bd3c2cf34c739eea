"""CREMA-D file names -> RAVDESS class names: the one label map every CREMA-D figure uses.

CREMA-D has six emotions and no calm or surprised; its clip names carry the code in the third
field (`1001_DFA_ANG_XX.mp4`).
"""

from __future__ import annotations

from pathlib import Path

CREMAD_LABELS: dict[str, str] = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy",
                                 "NEU": "neutral", "SAD": "sad"}


def cremad_label(path: str | Path) -> str | None:
    """`1001_DFA_ANG_XX.mp4` -> "angry"; None when the name carries no CREMA-D emotion code."""
    parts = Path(path).stem.split("_")
    return CREMAD_LABELS.get(parts[2]) if len(parts) >= 3 else None
