"""Subject-wise splits: protocol facts, validation from the training side, clear input errors."""

from __future__ import annotations

import pytest

from emofusion.data.ravdess import gender_of
from emofusion.data.splits import (
    LUNA5_TEST,
    SplitError,
    choose_val,
    custom_split,
    parse_actor_list,
    protocol_splits,
)


def _check_partition(s):
    assert not set(s.train) & set(s.val) and not set(s.train) & set(s.test) and not set(s.val) & set(s.test)
    assert sorted(s.train + s.val + s.test) == list(range(1, 25))


def test_luna5_protocol_facts():
    folds = protocol_splits("luna5")
    assert [f.test for f in folds] == [tuple(sorted(t)) for t in LUNA5_TEST]
    assert folds[0].test == (2, 5, 14, 15, 16) and folds[4].test == (1, 4, 9, 22)
    assert sorted(a for f in folds for a in f.test) == list(range(1, 25))  # every actor tested once
    for f in folds:
        _check_partition(f)
        assert len(f.val) == 4
        assert sorted(gender_of(a) for a in f.val) == ["female", "female", "male", "male"]
    assert protocol_splits("luna5") == folds  # deterministic


def test_contiguous6_and_reference():
    folds = protocol_splits("contiguous6")
    assert [f.test for f in folds] == [tuple(range(s, s + 4)) for s in (1, 5, 9, 13, 17, 21)]
    for f in folds:
        _check_partition(f)
    (ref,) = protocol_splits("reference")
    assert ref.test == (5, 10, 16, 19) and ref.val == (11, 13, 18, 22)
    _check_partition(ref)


@pytest.mark.parametrize("n_val", [0, 1, 3, 6])
def test_val_size_configurable_and_never_from_test(n_val):
    for f in protocol_splits("luna5", n_val=n_val):
        assert len(f.val) == n_val and not set(f.val) & set(f.test)
        _check_partition(f)


def test_choose_val_when_one_gender_is_short():
    assert choose_val([1, 3, 5, 2], 3) == (1, 2, 5)  # one female only: the third is male
    val = choose_val([1, 3, 5, 7, 2], 4)
    assert 2 in val and len(val) == 4


def test_custom_split_and_errors():
    s = custom_split([1, 2], val=[3, 4])
    assert s.test == (1, 2) and s.val == (3, 4) and 5 in s.train
    assert custom_split([1, 2], n_val=0).val == ()
    with pytest.raises(SplitError, match="unknown actor 25"):
        custom_split([25])
    with pytest.raises(SplitError, match="overlap"):
        custom_split([1, 2], val=[2, 3])
    with pytest.raises(SplitError, match="twice"):
        custom_split([1, 1])
    with pytest.raises(SplitError, match="no actors"):
        custom_split([])
    with pytest.raises(SplitError, match="leaves no training"):
        custom_split(list(range(1, 21)), n_val=4)
    with pytest.raises(SplitError, match="unknown split protocol"):
        protocol_splits("random")
    assert parse_actor_list("1, 2,5-7") == (1, 2, 5, 6, 7)
    with pytest.raises(SplitError):
        parse_actor_list("1,x")


def test_over_present_keeps_a_full_split_unchanged():
    from emofusion.data.splits import over_present

    for split in protocol_splits("luna5"):
        assert over_present(split, range(1, 25)) == (split, [])


def test_over_present_skips_folds_without_test_actors_and_says_so():
    from emofusion.data.splits import over_present

    folds = protocol_splits("luna5")
    restricted, notes = over_present(folds[2], [1, 2, 3, 4])  # fold 3 tests 10, 11, 12, 19, 20
    assert restricted is None and "fold skipped" in notes[0]
    restricted, notes = over_present(folds[0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert restricted.test == (2, 5)  # only the present test actors
    assert set(restricted.train) | set(restricted.val) | set(restricted.test) <= set(range(1, 11))
    assert not set(restricted.train) & set(restricted.val)
    assert len(restricted.val) == 2  # a quarter of the 8 present training-side actors
    assert any("validating on" in n for n in notes) and any("absent" in n for n in notes)


def test_over_present_with_one_training_side_actor_keeps_the_last_epoch():
    from emofusion.data.splits import over_present

    restricted, notes = over_present(protocol_splits("luna5")[0], [1, 2])
    assert restricted.train == (1,) and restricted.val == () and restricted.test == (2,)
    assert any("last epoch is kept" in n for n in notes)
