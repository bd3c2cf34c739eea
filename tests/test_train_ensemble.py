"""`emofusion evaluate --ensemble`: the mean of the runs' probabilities, scored like one model."""

import json

import numpy as np
import pytest
from train_data import write_cache

from emofusion import cli
from emofusion.data.cache import FeatureCache
from emofusion.train.config import TrainConfig
from emofusion.train.cv import run_cv
from emofusion.train.ensemble import member_probabilities


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ens")
    cache = FeatureCache(write_cache(tmp / "c", actors=(1, 2, 3), per_class=3, classes=tuple(range(8))))
    out = []
    for seed, fusion in ((0, "audio"), (1, "audio_res")):
        cfg = TrainConfig(fusion=fusion, epochs=2, lr=3e-3, seed=seed, protocol="custom", test_actors=(3,),
                          val_actors=(2,))
        out.append(run_cv(cache.root, cfg, tmp / f"run{seed}", progress=False))
    return cache, out


def test_ensemble_scores_the_mean_probability(runs, tmp_path):
    cache, (a, b) = runs
    assert cli.main(["evaluate", "--ensemble", str(a), str(b), "--out", str(tmp_path / "ens"), "--quiet"]) == 0
    res = json.loads((tmp_path / "ens" / "results.json").read_text())
    labels, pa, _ = member_probabilities(a / "fold_1", cache)
    _, pb, _ = member_probabilities(b / "fold_1", cache)
    want = float(np.mean(((pa + pb) / 2).argmax(1) == labels))
    assert res["folds"][0]["full"]["accuracy"] == pytest.approx(want)
    single = [json.loads((r / "results.json").read_text())["folds"][0]["full"]["accuracy"] for r in (a, b)]
    assert res["folds"][0]["members"] == pytest.approx(single)
    assert res["ensemble"] == [str(a), str(b)] and (tmp_path / "ens" / "results.md").exists()


def test_ensemble_refuses_one_run_and_non_runs(runs, tmp_path, capsys):
    _, (a, _b) = runs
    assert cli.main(["evaluate", "--ensemble", str(a), "--out", str(tmp_path / "x")]) != 0
    assert "at least two runs" in capsys.readouterr().err
    assert cli.main(["evaluate", "--ensemble", str(a), str(tmp_path), "--out", str(tmp_path / "x")]) != 0
    assert "not a training run" in capsys.readouterr().err


def test_tta_averages_each_clip_over_its_copies(runs, tmp_path, capsys):
    cache, (a, _b) = runs
    # same clip ids and labels, other feature values: stands in for a speed-perturbed copy
    copy = FeatureCache(write_cache(tmp_path / "copy", actors=(1, 2, 3), per_class=3, classes=tuple(range(8)), seed=5))
    assert cli.main(["evaluate", "--ensemble", str(a), "--tta-cache", str(copy.root), "--out", str(tmp_path / "t"),
                     "--quiet"]) == 0
    res = json.loads((tmp_path / "t" / "results.json").read_text())
    labels, plain, _ = member_probabilities(a / "fold_1", cache)
    _, other, _ = member_probabilities(a / "fold_1", copy)
    _, tta, _ = member_probabilities(a / "fold_1", cache, (copy,))
    assert not np.allclose(plain, other)
    np.testing.assert_allclose(tta, (plain + other) / 2, rtol=1e-5, atol=1e-7)
    assert res["folds"][0]["full"]["accuracy"] == pytest.approx(float(np.mean(tta.argmax(1) == labels)))
    assert res["tta"] == [{"cache": str(copy.root), "speed": 1.0}] and "TTA" in res["configuration"]


def test_tta_refuses_other_clips_other_features_and_no_ensemble(runs, tmp_path, capsys):
    from train_data import small_media

    from emofusion.config import AudioConfig

    _, (a, _b) = runs
    fewer = write_cache(tmp_path / "fewer", actors=(1, 2, 3), per_class=2, classes=tuple(range(8)))
    assert cli.main(["evaluate", "--ensemble", str(a), "--tta-cache", str(fewer), "--out", str(tmp_path / "x")]) == 2
    assert "other test clips" in capsys.readouterr().err
    cfg = small_media()
    cfg = type(cfg)(window_s=cfg.window_s, video=cfg.video, audio=AudioConfig(n_mfcc=12))
    odd = write_cache(tmp_path / "odd", actors=(1, 2, 3), per_class=3, classes=tuple(range(8)), cfg=cfg)
    assert cli.main(["evaluate", "--ensemble", str(a), "--tta-cache", str(odd), "--out", str(tmp_path / "x")]) == 2
    assert "other feature settings" in capsys.readouterr().err
    assert cli.main(["evaluate", str(a), "--tta-cache", str(odd)]) == 2
    assert "--tta-cache goes with --ensemble" in capsys.readouterr().err
