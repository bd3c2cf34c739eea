"""A model's temperature (calibrated confidence), kept beside its weights in `calibration.json`.

Why a file of its own: the temperature is fitted after training, on validation actors (see
scripts/calibrate_shipped.py), and must not change the weights' identity (their sha256, which the
model card names). It is used only when its sha256 is the weights' own, like the card; exported
graphs (ONNX, TensorRT, Triton) output the uncalibrated logits: divide them by the temperature.
"""

from __future__ import annotations

import json
from pathlib import Path

CALIBRATION_JSON = "calibration.json"


def read_temperature(model_dir: str | Path, sha256: str) -> tuple[float, str]:
    """(temperature, problem): 1.0 and "" without a file; 1.0 and why when it cannot be used."""
    path = Path(model_dir) / CALIBRATION_JSON
    if not path.is_file():
        return 1.0, ""
    try:
        data = json.loads(path.read_text())
        t = float(data["temperature"])
    except (ValueError, KeyError, TypeError):
        return 1.0, f"{path} is not a calibration file (no numeric temperature): not used"
    if not sha256 or data.get("sha256") != sha256:
        return 1.0, f"{path} was fitted for other weights (its sha256 is not this model's): not used"
    if not 0.05 <= t <= 20.0:
        return 1.0, f"{path}: temperature {t} is out of range: not used"
    return t, ""


def remove_stale_calibration(model_dir: str | Path, sha256: str) -> Path | None:
    """Delete calibration.json when it was fitted for other weights (export replaced them): the
    removed path, or None. A temperature is only valid for the weights it was fitted on."""
    path = Path(model_dir) / CALIBRATION_JSON
    if not path.is_file():
        return None
    try:
        named = json.loads(path.read_text()).get("sha256")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        named = None
    if named == sha256:
        return None
    path.unlink()
    return path
