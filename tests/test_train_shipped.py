"""Shipping path: still-photo fusion cache, model cards generated from results, CREMA-D check.

Real components throughout: `emofusion preprocess` on a real RAVDESS FLAC, a real still through
synth + MTCNN, real checkpoints via save_checkpoint, real CREMA-D clips when ../shared is there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from emofusion.cli import main as cli_main
from emofusion.config import MediaConfig
from emofusion.constants import CLASSES
from emofusion.nets.checkpoint import save_checkpoint
from emofusion.nets.registry import create_model

FLAC = "03-01-05-02-01-01-01.flac"  # angry, actor 1


def _audio_cache(tmp_path: Path, fixtures_dir: Path) -> Path:
    data = tmp_path / "data" / "Actor_01"
    data.mkdir(parents=True)
    shutil.copy(fixtures_dir / FLAC, data / FLAC)
    cache = tmp_path / "audio_cache"
    assert cli_main(["preprocess", str(data.parent), "--out", str(cache), "--modalities", "audio",
                     "--workers", "1"]) == 0
    return cache


@pytest.mark.slow
def test_stills_cache_pairs_audio_with_the_actors_face(tmp_path, fixtures_dir):
    from emofusion.data.cache import FeatureCache
    from emofusion.data.stills import build, main

    audio = _audio_cache(tmp_path, fixtures_dir)
    stills = tmp_path / "stills"
    stills.mkdir()
    shutil.copy(fixtures_dir / "Actor_01.png", stills / "Actor_01.png")
    out = build(audio, stills, tmp_path / "fused", face_size=64, progress=False)
    fused, src = FeatureCache(out), FeatureCache(audio)
    assert fused.streams == ("audio", "faces") and fused.config.video.face_size == 64
    assert fused.config.audio == src.config.audio
    (rec,) = fused.entries
    arrays = fused.load(rec["id"])
    assert arrays["faces"].shape == (15, 3, 64, 64) and arrays["faces"].dtype == np.uint8
    assert arrays["face_found"].all() and arrays["faces"].std() > 10  # a real picture, not blank
    np.testing.assert_array_equal(arrays["audio"], src.load(rec["id"])["audio"])
    assert rec["label"] == CLASSES.index("angry") and rec["actor"] == 1
    # a missing still is a clear error, not a traceback
    (stills / "Actor_01.png").unlink()
    assert main(["--audio-cache", str(audio), "--stills", str(stills), "--out", str(tmp_path / "f2")]) == 2


def _ship_fake_run(tmp_path: Path, fusion: str = "audio", **model_kw) -> tuple[Path, Path]:
    """A run directory with one fold's best.pt and evaluate-format results (figures we can check)."""
    media = MediaConfig()
    model = create_model(fusion, audio_channels=media.audio.channels, **model_kw)
    run = tmp_path / "run"
    save_checkpoint(run / "fold_2" / "best.pt", model, model.cfg, media, {"fold": 2})
    results = {
        "configuration": "audio-only", "protocol": "5fold", "n_folds": 2, "train_config": {"epochs": 3},
        "summary": {"full": {"accuracy": {"mean": 0.6134, "std": 0.05}, "macro_f1": {"mean": 0.5987, "std": 0.04}}},
        "folds": [{"fold": "fold_1", "test_actors": [1], "full": {"accuracy": 0.5, "macro_f1": 0.4}},
                  {"fold": "fold_2", "test_actors": [2, 5], "full": {"accuracy": 0.7234, "macro_f1": 0.7011}}],
    }
    res = tmp_path / "results.json"
    res.write_text(json.dumps(results))
    return run, res


def test_model_card_figures_come_from_the_results_file(tmp_path):
    from emofusion.export.card import main

    run, res = _ship_fake_run(tmp_path)
    out = tmp_path / "models" / "audio"
    assert main(["--run", str(run), "--fold", "2", "--results", str(res), "--name", "audio", "--out", str(out),
                 "--command", "bash scripts/reproduce_audio.sh"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["metrics"]["this_fold"]["full"] == {"accuracy": 0.7234, "macro_f1": 0.7011}
    assert card["metrics"]["all_folds"]["full"]["accuracy"]["mean"] == 0.6134
    md = (out / "card.md").read_text()
    assert "72.3 %" in md and "61.3 +- 5.0 %" in md and "[2, 5]" in md
    assert "CC BY-NC-SA 4.0" in md and "Livingstone" in md and "bash scripts/reproduce_audio.sh" in md
    assert (out / "model.safetensors").stat().st_size < 10 * 1024 * 1024 and (out / "config.json").is_file()
    assert not (out / "model.pt").exists() and card["checkpoint"] == "model.safetensors"
    from emofusion.nets.checkpoint import load_checkpoint

    assert load_checkpoint(out).meta == {"fold": 2} and card["sha256"] == load_checkpoint(out).sha256
    # a fold the results do not have is refused
    assert main(["--run", str(run), "--fold", "3", "--results", str(res), "--name", "a", "--out",
                 str(tmp_path / "x"), "--command", "c"]) == 2


def test_export_of_a_runs_checkpoint_writes_its_card(tmp_path, capsys):
    """`emofusion export RUN/fold_k/best.pt --to safetensors` cards the weights from RUN/results.json;
    a checkpoint outside a run (or before evaluate) gets the hint instead."""
    run, res = _ship_fake_run(tmp_path)
    out = tmp_path / "models" / "audio"
    assert cli_main(["export", str(run / "fold_2" / "best.pt"), "--to", "safetensors", "--out", str(out)]) == 0
    assert not (out / "card.json").exists() and "has no model card yet" in capsys.readouterr().out
    shutil.copy(res, run / "results.json")  # what `emofusion evaluate RUN` writes
    assert cli_main(["export", str(run / "fold_2" / "best.pt"), "--to", "safetensors", "--out", str(out)]) == 0
    assert "card.json" in capsys.readouterr().out
    from emofusion.nets.checkpoint import load_checkpoint

    card = json.loads((out / "card.json").read_text())
    assert card["sha256"] == load_checkpoint(out).sha256 and card["name"] == "audio"
    assert card["metrics"]["this_fold"]["full"] == {"accuracy": 0.7234, "macro_f1": 0.7011}
    assert "train_config.json" in card["command"] and card["data"].startswith("RAVDESS speech")


def test_model_card_of_a_run_without_validation_actors(tmp_path):
    from emofusion.export.card import main

    run, res = _ship_fake_run(tmp_path)
    results = json.loads(res.read_text())
    results["train_config"] = {"epochs": 10, "n_val": 0, "extra_train_caches": ["c-speed0.9", "c-speed1.1"],
                               "ema_decay": 0.999}
    res.write_text(json.dumps(results))
    out = tmp_path / "models" / "audio"
    assert main(["--run", str(run), "--fold", "2", "--results", str(res), "--name", "audio", "--out", str(out),
                 "--command", "c"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert "last epoch" in card["protocol"] and "chosen on validation" not in card["protocol"]
    assert "2 more cache(s)" in card["data"] and "c-speed0.9, c-speed1.1" in card["data"]
    assert "last epoch kept" in (out / "card.md").read_text()
    assert "moving average of the training weights over steps (decay 0.999" in (out / "card.md").read_text()


def test_model_card_says_what_data_was_present_and_holds_no_absolute_path(tmp_path):
    """Actors, clip count and cache fingerprint come from the results file (evaluate's "data"); a
    fold whose validation actors were absent (val_n 0) is not said to be chosen on validation;
    absolute paths (the trainer's cache, extra caches) leave neither config.json nor the card."""
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.export.card import main

    run, res = _ship_fake_run(tmp_path)
    media = MediaConfig()
    model = create_model("audio", audio_channels=media.audio.channels)
    save_checkpoint(run / "fold_2" / "best.pt", model, model.cfg, media,
                    {"fold": 2, "cache": str(tmp_path / "caches" / "speech"), "split": {"test": [2, 5]}})
    results = json.loads(res.read_text())
    results["data"] = {"actors": [1, 2, 5], "clips": 180, "clips_per_actor": {"1": 60, "2": 60, "5": 60},
                       "cache_fingerprint": "ab" * 32, "cache": "speech"}
    results["train_config"] = {"epochs": 3, "n_val": 4, "extra_train_caches": [str(tmp_path / "c-speed0.9")]}
    results["folds"][1]["selection"] = {"epoch": 3, "val_n": 0}
    res.write_text(json.dumps(results))
    out = tmp_path / "models" / "audio"
    assert main(["--run", str(run), "--fold", "2", "--results", str(res), "--name", "audio", "--out", str(out),
                 "--command", "c"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert "3 actor(s) (1, 2, 5), 180 clips" in card["data"] and "ab" * 32 in card["data"]
    assert "24 actors" not in card["data"] and card["dataset"]["clips"] == 180
    assert card["selection"] == "last epoch" and "chosen on validation" not in card["protocol"]
    assert "last epoch kept" in (out / "card.md").read_text()
    for text in ((out / "card.json").read_text(), (out / "card.md").read_text(), (out / "config.json").read_text()):
        assert str(tmp_path) not in text
    assert load_checkpoint(out).meta["cache"] == "speech"  # outside the working directory: its name


def test_cremad_label_names():
    from emofusion.train.crossdata import cremad_label

    assert cremad_label(Path("1001_DFA_ANG_XX.mp4")) == "angry"
    assert cremad_label(Path("1001_DFA_NEU_XX.flv")) == "neutral"
    assert cremad_label(Path("clip.mp4")) is None


def test_cremad_check_runs_models_and_records_bad_clips(tmp_path, cremad_dir):
    from emofusion.train.crossdata import run_check

    torch.manual_seed(0)
    media = MediaConfig()
    models = tmp_path / "models"
    audio = create_model("audio", audio_channels=media.audio.channels)
    save_checkpoint(models / "audio" / "model.pt", audio, audio.cfg, media)
    small = MediaConfig.from_dict({**media.to_dict(), "video": {**media.to_dict()["video"], "face_size": 64}})
    ia = create_model("ia", audio_channels=media.audio.channels, face_size=64)
    save_checkpoint(models / "ia" / "model.pt", ia, ia.cfg, small)
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(cremad_dir / "1001_DFA_ANG_XX.mp4", clips)
    (clips / "1001_DFA_SAD_XX.mp4").write_bytes(b"not a video at all" * 50)  # must be recorded, not crash
    result = run_check(clips, models, results_dir=tmp_path / "results")
    rows = {r["clip"]: r for r in result["clips"]}
    good = rows["1001_DFA_ANG_XX.mp4"]["models"]
    assert good["audio"]["top1"] in CLASSES and 0 <= good["audio"]["p_true"] <= 1
    assert "faces_zeroed" in good["ia"] and "faces_zeroed" not in good["audio"]
    bad = rows["1001_DFA_SAD_XX.mp4"]["models"]
    assert bad["audio"]["error"]["code"] == "unreadable" and "error" in bad["ia"]
    assert result["summary"]["errors"] == 2 and result["summary"]["audio"]["n"] == 1
    md = (tmp_path / "results" / "cremad_check.md").read_text()
    assert "error: unreadable" in md and "far too few" in md


def test_cremad_check_is_reachable_from_the_cli(tmp_path):
    assert cli_main(["evaluate", "--cremad", str(tmp_path / "missing"), "--models", str(tmp_path)]) == 2
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "1001_DFA_ANG_XX.mp4").write_bytes(b"x")
    # clips but no shipped model: a clear error, not a traceback
    assert cli_main(["evaluate", "--cremad", str(tmp_path / "clips"), "--models", str(tmp_path / "none")]) == 2
