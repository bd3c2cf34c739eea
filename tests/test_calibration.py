"""Temperature scaling: the maths (probs.py), the file beside the weights (infer/calibration.py) and the
predictor using it. Fitted temperatures and their figures: scripts/calibrate_shipped.py ->
results/shipped/calibration.md."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from emofusion.calibration import CALIBRATION_JSON, read_temperature
from emofusion.probs import apply_temperature, expected_calibration_error, fit_temperature, softmax

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "emofusion" / "webapp" / "examples" / "1001_DFA_ANG_XX.mp4"


def _overconfident(n=4000, t_true=2.5, seed=0):
    """Labels drawn from softmax(z / t_true), answered with softmax(z): over-confident by t_true."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, (n, 8))
    p_true = softmax(z / t_true)
    y = np.array([rng.choice(8, p=row) for row in p_true])
    return softmax(z), y


def test_fit_temperature_recovers_the_over_confidence_and_lowers_ece():
    p, y = _overconfident()
    t = fit_temperature(p, y)
    assert 2.1 < t < 2.9
    scaled = apply_temperature(p, t)
    assert (scaled.argmax(1) == p.argmax(1)).all()  # only confidence changes, never the answer
    assert expected_calibration_error(scaled, y) < expected_calibration_error(p, y) / 2


def test_ece_extremes():
    y = np.zeros(10, dtype=int)
    sure_right = np.tile(np.eye(8)[0], (10, 1))
    sure_wrong = np.tile(np.eye(8)[1], (10, 1))
    assert expected_calibration_error(sure_right, y) == pytest.approx(0.0)
    assert expected_calibration_error(sure_wrong, y) == pytest.approx(1.0)


def _write(d: Path, **data):
    (d / CALIBRATION_JSON).write_text(json.dumps(data))


def test_read_temperature_uses_only_a_file_fitted_for_these_weights(tmp_path):
    assert read_temperature(tmp_path, "abc") == (1.0, "")  # no file: plain softmax, nothing to say
    _write(tmp_path, temperature=2.0, sha256="abc")
    assert read_temperature(tmp_path, "abc") == (2.0, "")
    t, why = read_temperature(tmp_path, "other")
    assert t == 1.0 and "other weights" in why
    _write(tmp_path, temperature="warm", sha256="abc")
    assert read_temperature(tmp_path, "abc")[0] == 1.0
    _write(tmp_path, temperature=500.0, sha256="abc")
    assert "out of range" in read_temperature(tmp_path, "abc")[1]


def test_the_shipped_calibration_files_name_the_shipped_weights():
    """A calibration.json whose sha256 is not its weights' would be ignored with a warning at load."""
    from emofusion.nets.checkpoint import load_checkpoint

    files = sorted((REPO / "models").glob(f"*/{CALIBRATION_JSON}"))
    assert files
    for f in files:
        t, why = read_temperature(f.parent, load_checkpoint(f.parent).sha256)
        assert not why and t != 1.0, f


def test_the_predictor_answers_with_the_temperature_beside_the_weights(tmp_path):
    """Same clip, same weights: T = 3 answers the same class, less sure; a stale file is ignored."""
    import emofusion
    from emofusion.nets.checkpoint import load_checkpoint

    d = tmp_path / "audio"
    shutil.copytree(REPO / "models" / "audio", d)
    sha = load_checkpoint(d).sha256
    _write(d, temperature=1.0, sha256=sha)
    plain = emofusion.load(tmp_path, names="audio", backend="torch").analyze(CLIP).models["audio"]
    _write(d, temperature=3.0, sha256=sha)
    pred = emofusion.load(tmp_path, names="audio", backend="torch")
    assert pred.models["audio"].temperature == 3.0
    soft = pred.analyze(CLIP).models["audio"]
    assert soft.top == plain.top and soft.top_prob < plain.top_prob
    _write(d, temperature=3.0, sha256="0" * 64)
    with pytest.warns(UserWarning, match="other weights"):
        stale = emofusion.load(tmp_path, names="audio", backend="torch")
    assert stale.models["audio"].temperature == 1.0
