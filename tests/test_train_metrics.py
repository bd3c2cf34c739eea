"""Metrics on confusion matrices worked out by hand, cross-checked against scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from emofusion.train.metrics import classify, confusion, from_confusion, mean_std, summarise_folds


def test_known_matrix_by_hand():
    # 3 classes used of 8: rows true, columns predicted
    cm = np.zeros((8, 8), dtype=int)
    cm[0, 0], cm[0, 1] = 3, 1  # class 0: 4 clips, 3 right
    cm[1, 1], cm[1, 0] = 2, 2  # class 1: 4 clips, 2 right
    cm[2, 2] = 4  # class 2: all right
    m = from_confusion(cm)
    assert m["n"] == 12
    assert m["accuracy"] == pytest.approx(9 / 12)
    p0, r0 = 3 / 5, 3 / 4
    p1, r1 = 2 / 3, 2 / 4
    f = [2 * p0 * r0 / (p0 + r0), 2 * p1 * r1 / (p1 + r1), 1.0]
    assert m["macro_f1"] == pytest.approx(sum(f) / 3)  # absent classes 3..7 do not count
    assert m["per_class"]["neutral"]["precision"] == pytest.approx(p0)
    assert m["per_class"]["calm"]["recall"] == pytest.approx(r1)
    assert m["per_class"]["happy"]["support"] == 4
    assert m["per_class"]["sad"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_matches_sklearn_on_random_predictions():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 8, 300)
    p = np.where(rng.random(300) < 0.5, y, rng.integers(0, 8, 300))
    m = classify(y, p)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    prec = precision_score(y, p, average=None, labels=range(8), zero_division=0)
    rec = recall_score(y, p, average=None, labels=range(8), zero_division=0)
    for i, name in enumerate(m["per_class"]):
        assert m["per_class"][name]["precision"] == pytest.approx(prec[i])
        assert m["per_class"][name]["recall"] == pytest.approx(rec[i])
    assert np.array_equal(confusion(y, p).sum(axis=1), np.bincount(y, minlength=8))


def test_predicted_but_absent_class_counts_against_macro_f1():
    # class 1 never occurs but is predicted once: it is "present" with F1 0, as sklearn does
    y, p = [0, 0, 0, 2], [0, 0, 1, 2]
    assert classify(y, p)["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))


def test_fold_summary_mean_std_and_pooled_confusion():
    a = classify([0, 1, 2, 3], [0, 1, 2, 3])  # 100 %
    b = classify([0, 1, 2, 3], [0, 0, 2, 2])  # 50 %
    s = summarise_folds([a, b])
    assert s["accuracy"]["mean"] == pytest.approx(0.75)
    assert s["accuracy"]["std"] == pytest.approx(np.std([1.0, 0.5], ddof=1))
    assert s["pooled"]["n"] == 8 and s["pooled"]["accuracy"] == pytest.approx(6 / 8)
    assert mean_std([0.4])["std"] == 0.0
