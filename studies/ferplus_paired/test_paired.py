"""Voice + FER+ face pairing: the right faces for each clip, modality dropout, a short real training."""

from __future__ import annotations

import numpy as np
import torch

from emofusion.constants import CLASSES
from emofusion.nets.config import ModelConfig
from emofusion.nets.registry import create_model
from studies.ferplus_paired.paired import FERPLUS_FOR_RAVDESS, FaceBank, PairedConfig, cap_per_class, pair_faces, train_paired


def _bank(per_class=4, views=3):
    labels = np.repeat(np.arange(7), per_class)  # FER+ classes without contempt
    # each face's features carry its FER+ class in feature 0, its index in feature 1
    feats = torch.zeros(len(labels), views, 1024, dtype=torch.float16)
    feats[:, :, 0] = torch.as_tensor(labels, dtype=torch.float16)[:, None]
    feats[:, :, 1] = torch.arange(len(labels), dtype=torch.float16)[:, None]
    return FaceBank(feats, labels, torch.full((1024,), -1.0))


def test_each_clip_gets_a_face_of_its_emotion_and_calm_gets_neutral():
    bank = _bank()
    y = np.arange(8).repeat(5)
    faces = pair_faces(y, bank, n_frames=3, gen=torch.Generator().manual_seed(0))
    assert faces.shape == (40, 1024, 3)
    got = faces[:, 0, 0].numpy().astype(int)
    want = [FERPLUS_FOR_RAVDESS[CLASSES[k]] for k in y]
    assert got.tolist() == want
    assert FERPLUS_FOR_RAVDESS["calm"] == FERPLUS_FOR_RAVDESS["neutral"] == 0
    # all frames of one clip come from one face
    assert bool((faces[:, 1, :] == faces[:, 1, :1]).all())
    fixed1 = pair_faces(y, bank, 3, torch.Generator().manual_seed(1), fixed=True)
    fixed2 = pair_faces(y, bank, 3, torch.Generator().manual_seed(2), fixed=True)
    assert torch.equal(fixed1, fixed2)  # validation pairs do not depend on the generator


def test_cap_per_class_keeps_at_most_cap_of_each():
    labels = np.array([0] * 50 + [1] * 3 + [2] * 10)
    idx = cap_per_class(labels, 5, 0)
    assert np.bincount(labels[idx]).tolist() == [5, 3, 5]


def test_a_fusion_learns_from_paired_faces_when_the_voice_says_nothing():
    """The voice is noise, the face carries the class: IA must learn it from the bank alone."""
    torch.manual_seed(0)
    bank = _bank(per_class=6, views=5)
    bank.features[:, :, 2:10] = 0
    for k in range(7):  # a clear per-class signature in the face features
        bank.features[bank.label == k, :, 2 + k] = 3.0
    y = np.tile(np.array([0, 2, 3, 4, 5, 6, 7]), 12)  # no calm: its face is neutral's
    audio = torch.randn(len(y), 10, 40)
    model = create_model(ModelConfig(fusion="ia", audio_channels=10, n_frames=5, face_size=48, face_grey=True))
    model.freeze_face()
    val_faces = pair_faces(y[:21], bank, 5, torch.Generator(), fixed=True)
    cfg = PairedConfig(fusion="ia", epochs=6, batch_size=16, lr=3e-3, drop_audio_p=0.0, drop_face_p=0.0)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        log = train_paired(model, audio, y, bank, audio[:21], y[:21], val_faces, cfg, Path(d), progress=False)
    assert log["best_val_macro_f1"] > 0.8, log["history"]
