"""The leakage guard: `evaluate --checkpoint` refuses (or with --allow-leak, warns about) actors the
checkpoint trained or was selected on; a real checkpoint trained by `emofusion train`."""

import json

import pytest
from train_data import write_cache

from emofusion.cli import main
from emofusion.nets.checkpoint import load_checkpoint
from emofusion.train.leakage import LeakageError, check_leakage, leaked_actors


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """fold_1/best.pt of a 1-epoch audio run: test actor 1, validation actor 2, training actors 3-4."""
    root = tmp_path_factory.mktemp("leak")
    cache = write_cache(root / "cache", actors=(1, 2, 3, 4), per_class=1, classes=tuple(range(8)))
    run = root / "run"
    assert main(["train", "--cache", str(cache), "--out", str(run), "--test-actors", "1", "--val-actors", "2",
                 "--fusion", "audio", "--epochs", "1", "--batch-size", "8", "--quiet"]) == 0
    return cache, run / "fold_1" / "best.pt"


def _evaluate(trained, tmp_path, actors, *extra):
    cache, ckpt = trained
    return main(["evaluate", "--checkpoint", str(ckpt), "--cache", str(cache), "--actors", actors,
                 "--out", str(tmp_path / "out"), "--quiet", *extra])


def test_the_checkpoint_records_its_split(trained):
    meta = load_checkpoint(trained[1]).meta
    assert leaked_actors(meta, [1]) == {}
    assert leaked_actors(meta, [1, 2, 3]) == {"train": [3], "val": [2]}
    with pytest.raises(LeakageError, match="--allow-leak"):
        check_leakage(meta, [4], allow=False)
    assert check_leakage(meta, [1], allow=False) is None


def test_test_actors_evaluate_without_a_word(trained, tmp_path, capsys):
    assert _evaluate(trained, tmp_path, "1") == 0
    assert capsys.readouterr().err == ""
    assert "leaked_actors" not in json.loads((tmp_path / "out" / "results.json").read_text())


@pytest.mark.parametrize("actors, role", [("3", "training"), ("2", "validation"), ("1,4", "training")])
def test_training_or_validation_actors_are_refused(trained, tmp_path, capsys, actors, role):
    assert _evaluate(trained, tmp_path, actors) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"its {role} actors" in err and "--allow-leak" in err and "test actors [1]" in err
    assert not (tmp_path / "out" / "results.json").exists()


def test_allow_leak_scores_with_a_one_line_warning(trained, tmp_path, capsys):
    assert _evaluate(trained, tmp_path, "1,2,3", "--allow-leak") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning:") and "not a test" in err[0]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["leaked_actors"] == {"train": [3], "val": [2]}
    assert res["summary"]["full"]["pooled"]["n"] == 24  # 3 actors x 8 classes x 1 clip
