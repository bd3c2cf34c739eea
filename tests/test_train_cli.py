"""`emofusion train` + `emofusion evaluate` end to end on a tiny generated cache, and CLI misuse."""

import json
import subprocess
import sys

import pytest
from train_data import write_cache

from emofusion.cli import main

TINY = ["--fusion", "audio", "--epochs", "2", "--batch-size", "8", "--lr", "0.003", "--quiet"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    # actors 1-4: custom folds below keep every fold tiny
    return write_cache(tmp_path_factory.mktemp("cache") / "c", actors=(1, 2, 3, 4), per_class=2,
                       classes=tuple(range(8)))


@pytest.mark.slow
def test_train_cv_then_evaluate_writes_everything(cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # --results-name writes to ./results, wherever the package lives
    run = tmp_path / "run"
    # custom split: test actor 1, validation actor 2, training actors 3-4 (others absent from the cache)
    rc = main(["train", "--cache", str(cache), "--out", str(run), "--test-actors", "1", "--val-actors", "2",
               "--results-name", "tiny_audio", *TINY])
    assert rc == 0
    fold = run / "fold_1"
    for name in ("split.json", "metrics.jsonl", "last.pt", "best.pt", "test_metrics.json", "confusion.png",
                 "curves.png"):
        assert (fold / name).exists(), name
    res = json.loads((run / "results.json").read_text())
    assert res["configuration"] == "audio-only" and res["n_folds"] == 1
    full = res["summary"]["full"]
    assert full["pooled"]["n"] == 16  # actor 1: 8 classes x 2 clips
    assert 0 <= full["accuracy"]["mean"] <= 1 and "audio_zeroed" not in res["summary"]
    md = (run / "results.md").read_text()
    assert "| configuration | accuracy | macro F1 |" in md and "| audio-only |" in md
    for name in ("tiny_audio.json", "tiny_audio.md", "tiny_audio_confusion.png"):
        assert (tmp_path / "results" / "runs" / name).exists()

    # a finished run resumed does nothing new and still evaluates
    assert main(["train", "--cache", str(cache), "--out", str(run), "--test-actors", "1", "--val-actors", "2",
                 "--resume", *TINY]) == 0
    assert len((fold / "metrics.jsonl").read_text().splitlines()) == 2
    # a run directory is never overwritten silently
    assert main(["train", "--cache", str(cache), "--out", str(run), "--test-actors", "1", *TINY]) == 2
    # evaluate a single checkpoint on chosen actors
    out = tmp_path / "ck"
    assert main(["evaluate", "--checkpoint", str(fold / "best.pt"), "--cache", str(cache), "--actors", "1,2",
                 "--out", str(out), "--quiet", "--allow-leak"]) == 0  # actor 2 validated it
    assert json.loads((out / "results.json").read_text())["summary"]["full"]["pooled"]["n"] == 32
    # --results-dir puts the copies elsewhere
    assert main(["evaluate", str(run), "--results-name", "again", "--results-dir", str(tmp_path / "elsewhere"),
                 "--quiet"]) == 0
    assert (tmp_path / "elsewhere" / "again.md").read_text() == (run / "results.md").read_text()


@pytest.mark.slow
def test_fusion_model_on_an_audio_only_cache_gets_missing_modality_rows(cache, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--cache", str(cache), "--out", str(run), "--test-actors", "1", "--n-val", "0",
            "--fusion", "lt", "--epochs", "1", "--quiet", "--no-face-aug"]
    assert main(args) == 0  # faces absent from the cache come back as zeros (CacheDataset)
    res = json.loads((run / "results.json").read_text())
    assert {"full", "audio_zeroed", "video_zeroed"} <= set(res["summary"])


@pytest.mark.parametrize("extra, message", [
    (["--folds", "9"], "do not exist"),
    (["--protocol", "custom"], "--test-actors"),
    (["--lr", "-1"], "bad training configuration"),
    (["--face-size", "112"], "does not match"),
    (["--face-pretrained", "/no/such/EfficientFace.pth.tar"], "no such file"),
    (["--fusion", "audio", "--freeze-face"], "need a model with a face CNN"),
])
def test_cli_misuse_is_a_user_error(cache, tmp_path, capsys, extra, message):
    rc = main(["train", "--cache", str(cache), "--out", str(tmp_path / "r"), *TINY, *extra])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_bad_inputs_are_user_errors(tmp_path, capsys):
    assert main(["train", "--cache", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "not a feature cache" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "not a training run" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["evaluate", "--checkpoint", str(junk), "--cache", str(tmp_path), "--actors", "1",
                 "--out", str(tmp_path / "o")]) == 2


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "emofusion", "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--resume" in out.stdout


def _config(*argv):
    import argparse

    from emofusion.train.cli import add_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    return config_from_args(p.parse_args(["--cache", "c", "--out", "o", *argv]))


@pytest.mark.parametrize("flags, fusion", [
    ([], "audio_cnn2d"),  # no --fusion: the config's model, not the parser's default
    (["--fusion", "lt"], "lt"),  # a flag the user wrote beats the file
])
def test_fusion_from_config_unless_the_flag_is_given(tmp_path, flags, fusion):
    from emofusion.train.config import TrainConfig

    cfg_file = tmp_path / "cfg.json"
    TrainConfig(fusion="audio_cnn2d", lr=0.002).save(cfg_file)
    cfg = _config("--config", str(cfg_file), *flags)
    assert cfg.fusion == fusion
    assert cfg.lr == 0.002  # the rest of the file is kept either way


def test_the_issues_command_trains_the_configs_model():
    """`train --config scripts/configs/audio_cnn2d.json` used to train IA silently (issue 15)."""
    from pathlib import Path

    configs = Path(__file__).resolve().parents[1] / "scripts" / "configs"
    assert _config("--config", str(configs / "audio_cnn2d.json")).fusion == "audio_cnn2d"
    assert _config("--config", str(configs / "audio_res.json")).fusion == "audio_res"
    assert _config().fusion == "ia"  # neither flag nor file: the TrainConfig default


def test_face_flags_are_refused_for_an_audio_model_named_by_the_config(tmp_path):
    from emofusion.errors import UsageError
    from emofusion.train.config import TrainConfig

    cfg_file = tmp_path / "cfg.json"
    TrainConfig(fusion="audio").save(cfg_file)
    with pytest.raises(UsageError, match="need a model with a face CNN"):
        _config("--config", str(cfg_file), "--freeze-face")
