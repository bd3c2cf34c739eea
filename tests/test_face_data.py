"""Labelled-face loaders and the one FER+/CK+ -> RAVDESS mapping."""

from __future__ import annotations

import lzma

import numpy as np
import pytest

from conftest import shared_path
from emofusion.constants import CLASSES
from emofusion.data import faces_labelled as fl
from emofusion.nets.face_classifier import FERPLUS_HEAD, RAVDESS_FROM_HEAD


def test_the_face_model_and_the_loaders_share_one_mapping():
    assert FERPLUS_HEAD == fl.FERPLUS_CLASSES
    assert RAVDESS_FROM_HEAD == fl.RAVDESS_FROM_FERPLUS
    assert RAVDESS_FROM_HEAD[CLASSES.index("calm")] == -1  # no face class for calm
    assert "contempt" not in [fl.FERPLUS_CLASSES[i] for i in RAVDESS_FROM_HEAD if i >= 0]
    for ck, rav in fl.CKPLUS_TO_RAVDESS.items():
        assert rav is None or rav in CLASSES, ck


def test_majority_rule_drops_single_votes_and_needs_more_than_half():
    #            neu hap sur sad ang dis fea con unk NF
    votes = np.array([[6, 0, 0, 1, 3, 0, 0, 0, 0, 0],   # 6 of 9 after dropping the single vote -> neutral
                      [4, 4, 0, 0, 0, 0, 0, 0, 2, 0],   # a tie: no majority
                      [0, 0, 0, 0, 0, 0, 0, 0, 8, 2],   # unknown wins: left out
                      [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],   # every vote single: nothing left
                      [0, 2, 0, 0, 0, 0, 0, 7, 1, 0]], np.float32)  # contempt is a FER+ class
    assert fl.majority_labels(votes).tolist() == [0, -1, -1, -1, 7]


def test_ferplus_loader_reads_a_generated_folder(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    with lzma.open(tmp_path / "faces.npy.xz", "wb") as f:
        np.save(f, images)
    header = "index,name,split,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF,fer2013_label\n"
    rows = ["0,a.png,train,10,0,0,0,0,0,0,0,0,0,neutral\n", "1,b.png,valid,0,5,5,0,0,0,0,0,0,0,happy\n",
            "2,c.png,test,0,0,0,0,0,2,8,0,0,0,fear\n"]
    (tmp_path / "labels.csv").write_text(header + "".join(rows))
    data = fl.load_ferplus(tmp_path)
    assert np.array_equal(data.images, images)
    assert data.majority().tolist() == [0, -1, 6]
    assert data.select("train").tolist() == [0] and data.select("valid").tolist() == []
    np.testing.assert_allclose(data.soft_targets()[1], [0, 0.5, 0.5, 0, 0, 0, 0, 0])


def test_a_folder_in_another_layout_is_a_clear_error(tmp_path):
    with pytest.raises(fl.FaceDataError, match="faces.npy.xz"):
        fl.load_ferplus(tmp_path)
    with pytest.raises(fl.FaceDataError, match="S\\*.png"):
        fl.load_ckplus(tmp_path)
    with pytest.raises(fl.FaceDataError, match="facecroppad"):
        fl.load_actor_faces(tmp_path, tmp_path)


@pytest.mark.shared
def test_ferplus_majority_counts_match_its_readme():
    data = fl.load_ferplus(shared_path("ferplus"))
    counts = np.bincount(data.majority()[data.majority() >= 0], minlength=8)
    # data/ferplus/README.md: neutral 10,996, happiness 9,038, surprise 3,941, sadness 3,752,
    # anger 2,656, disgust 157, fear 682, contempt 151
    assert counts.tolist() == [10996, 9038, 3941, 3752, 2656, 157, 682, 151]
    assert {s: int((data.split == s).sum()) for s in ("train", "valid", "test")} == \
        {"train": 28558, "valid": 3579, "test": 3573}


@pytest.mark.shared
def test_ckplus_has_981_frames_of_118_people():
    ck = fl.load_ckplus(shared_path("ckplus48"))
    assert len(ck.images) == 981 and len(set(ck.subjects.tolist())) == 118
    assert int((ck.labels == -1).sum()) == 54  # contempt: no RAVDESS class


@pytest.mark.shared
def test_actor5_recordings_pair_with_their_audio():
    recs = fl.load_actor_faces(shared_path("ravdess-a05-faces"), shared_path("ravdess-speech"))
    assert len(recs) == 60
    assert all(r.frames.shape == (15, 224, 224, 3) and r.audio is not None and r.audio.is_file() for r in recs)
    counts = np.bincount([r.label for r in recs], minlength=8)
    assert counts.tolist() == [4, 8, 8, 8, 8, 8, 8, 8]
