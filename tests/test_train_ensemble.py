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
    assert "no --tta-cache is made with the feature settings" in capsys.readouterr().err
    assert cli.main(["evaluate", str(a), "--tta-cache", str(odd)]) == 2
    assert "--tta-cache goes with --ensemble" in capsys.readouterr().err


def test_tta_gives_each_member_the_copies_made_like_its_own_cache(runs, tmp_path, capsys):
    """An MFCC member and one on other features in one ensemble: each is scored from the copies
    made with its own features; copies at other speeds for one member are refused."""
    from train_data import small_media

    from emofusion.config import AudioConfig
    from emofusion.train.ensemble import member_tta

    cache, (a, _b) = runs
    base = small_media()
    odd_cfg = type(base)(window_s=base.window_s, video=base.video, audio=AudioConfig(n_mfcc=12))
    odd = FeatureCache(write_cache(tmp_path / "odd", actors=(1, 2, 3), per_class=3, classes=tuple(range(8)),
                                   cfg=odd_cfg))
    cfg = TrainConfig(fusion="audio", epochs=1, seed=0, protocol="custom", test_actors=(3,), val_actors=(2,))
    c = run_cv(odd.root, cfg, tmp_path / "odd_run", progress=False)
    copies = {}
    for name, media, speed in (("a09", None, 0.9), ("odd09", odd_cfg, 0.9), ("odd11", odd_cfg, 1.1)):
        copies[name] = FeatureCache(write_cache(tmp_path / name, actors=(1, 2, 3), per_class=3,
                                                classes=tuple(range(8)), cfg=media, seed=7, speed=speed))
    picked = member_tta([copies["odd09"].root, copies["a09"].root], [cache, odd])
    assert [[t.root for t in m] for m in picked] == [[copies["a09"].root], [copies["odd09"].root]]
    args = ["evaluate", "--ensemble", str(a), str(c), "--tta-cache", str(copies["a09"].root),
            "--tta-cache", str(copies["odd09"].root), "--out", str(tmp_path / "mixed"), "--quiet"]
    assert cli.main(args) == 0
    res = json.loads((tmp_path / "mixed" / "results.json").read_text())
    assert res["member_tta"] == [[str(copies["a09"].root)], [str(copies["odd09"].root)]]
    assert res["tta"] == [{"cache": str(copies["a09"].root), "speed": 0.9}]
    args[args.index(str(copies["odd09"].root))] = str(copies["odd11"].root)
    assert cli.main(args) == 2
    assert "give every member the same speeds" in capsys.readouterr().err
