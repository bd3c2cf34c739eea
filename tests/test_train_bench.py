"""`emofusion bench train` runs end to end on tiny settings and reports the frozen-face rows."""

from __future__ import annotations

import json

import pytest

from emofusion import cli


@pytest.mark.usefixtures("one_torch_thread")
def test_bench_train_writes_rows_with_frozen_and_views_folds(tmp_path):
    rc = cli.main(["bench", "train", "--models", "audio_res,audio_cnn2d,ia,ia-frozen,ia-views", "--sizes", "112", "--batches",
                   "1", "--warmup", "0", "--batch-size", "2", "--views", "3", "--out-dir", str(tmp_path)])
    assert rc == 0
    r = json.loads((tmp_path / "train_bench.json").read_text())
    assert [(row["model"], row["face_size"]) for row in r["rows"]] == [
        ("audio_res", None), ("audio_cnn2d", None), ("ia", 112), ("ia-frozen", 112), ("ia-views", 112)]
    assert all(row["train_step_s"] > 0 and row["fold_min"] > 0 for row in r["rows"])
    assert "target" not in r  # the brief's 30-minute target is checked by scripts/check_targets.py
    views = r["rows"][-1]
    # the views fold = 3 face-CNN passes over the training clips + epochs of feature-only steps
    assert views["precompute_s"] == pytest.approx((3 * 900 + 240) * views["encode_clip_s"])
    assert views["fold_min"] == pytest.approx((views["precompute_s"] + 50 * views["epoch_s"]) / 60)
    assert r["rows"][3]["precompute_s"] == 0 and r["rows"][3]["fold_min"] > views["fold_min"] > 0
    # audio_cnn2d is timed at the input it was trained on (log-mel 64 + deltas), not the MFCC-10 default
    assert r["rows"][1]["audio_input"][0] == 192 and r["rows"][0]["audio_input"][0] == 10
    md = (tmp_path / "train_bench.md").read_text()
    assert "face CNN frozen and run 3 times" in md and "--face-views" in md
    assert "(audio_cnn2d)" in md and "(audio_res, ia, ia-frozen, ia-views)" in md


def test_bench_train_with_two_ddp_processes(tmp_path):
    """--procs 2: real DistributedDataParallel over gloo in two spawned processes."""
    rc = cli.main(["bench", "train", "--models", "audio,ia-views", "--sizes", "64", "--batches", "1",
                   "--warmup", "0", "--batch-size", "4", "--procs", "2", "--out-dir", str(tmp_path)])
    assert rc == 0
    r = json.loads((tmp_path / "train_bench.json").read_text())
    assert r["setup"]["procs"] == 2 and len(r["rows"]) == 2
    assert all(len(row["train_steps_s"]) == 2 and row["train_step_s"] > 0 for row in r["rows"])
    assert r["rows"][1]["precompute_s"] > 0
    assert "2 DDP processes" in (tmp_path / "train_bench.md").read_text()
