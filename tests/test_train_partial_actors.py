"""Training on part of RAVDESS: the folds follow the actors the cache really holds, and the
reports say what changed instead of scoring empty test sets or claiming a validation choice."""

import json

from train_data import write_cache

from emofusion.data.cache import FeatureCache
from emofusion.train.config import TrainConfig
from emofusion.train.cv import RUN_JSON, run_cv


def test_luna5_on_four_actors_skips_untestable_folds_and_says_so(tmp_path, capsys):
    cache = FeatureCache(write_cache(tmp_path / "c", actors=(1, 2, 3, 4), per_class=1, classes=tuple(range(8))))
    # fold 1 tests actor 2 (of 2, 5, 14, 15, 16); fold 3 tests 10, 11, 12, 19, 20: none present
    cfg = TrainConfig(fusion="audio", epochs=1, folds=(1, 3))
    run = run_cv(cache.root, cfg, tmp_path / "run", progress=True)
    out = capsys.readouterr().out
    assert "luna5-fold3: none of its test actors" in out and "fold skipped" in out
    info = json.loads((run / RUN_JSON).read_text())
    assert list(info["folds"]) == ["1"]
    fold1 = info["folds"]["1"]
    assert fold1["test"] == [2] and set(fold1["train"] + fold1["val"]) == {1, 3, 4}
    assert len(fold1["val"]) == 1  # validation re-taken from the present training side
    results = json.loads((run / "results.json").read_text())
    assert results["n_folds"] == 1 and results["folds"][0]["test_actors"] == [2]
    assert results["folds"][0]["full"]["n"] == 8  # actor 2's clips, never an empty test set
    md = (run / "results.md").read_text()
    assert "fold skipped" in md and "chosen on its validation actors only" in md


def test_a_fold_without_validation_clips_is_reported_as_last_epoch(tmp_path):
    cache = FeatureCache(write_cache(tmp_path / "c", actors=(1, 2), per_class=1, classes=tuple(range(8))))
    cfg = TrainConfig(fusion="audio", epochs=1, folds=(1,))
    run = run_cv(cache.root, cfg, tmp_path / "run", progress=False)
    md = (run / "results.md").read_text()
    assert "last epoch" in md and "no validation actors: the last epoch is kept" in md
    assert "chosen on its validation actors only" not in md


def test_no_testable_fold_is_one_clear_error(tmp_path):
    import pytest

    from emofusion.train.runs import RunError

    cache = FeatureCache(write_cache(tmp_path / "c", actors=(1, 3), per_class=1, classes=tuple(range(8))))
    with pytest.raises(RunError, match="no fold can be tested"):
        run_cv(cache.root, TrainConfig(fusion="audio", epochs=1, folds=(3,)), tmp_path / "run", progress=False)
