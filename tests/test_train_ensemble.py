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
