"""The training loop: same seed -> same weights; an interrupted run resumed from last.pt ends where
an uninterrupted one does; logs and checkpoints are there; augmentations keep their contracts."""

import json

import pytest
import torch
from train_data import small_media, write_cache

from emofusion.data.cache import FeatureCache
from emofusion.train.augment import augment_batch, augment_faces, modality_dropout, spec_augment
from emofusion.train.config import AugmentConfig, TrainConfig
from emofusion.train.cv import make_dataset, model_config
from emofusion.train.loop import BEST, LAST, LOG, train_fold

AUG = AugmentConfig(time_masks=1, freq_masks=1, audio_noise=0.05, mixup_alpha=0.2)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = write_cache(tmp_path_factory.mktemp("cache") / "c", actors=(1, 2, 3), per_class=3)
    return FeatureCache(root)


def _run(cache, out, cfg, resume=False, stop_after=None):
    def stop(row):
        if stop_after is not None and row["epoch"] == stop_after:
            raise KeyboardInterrupt("simulated interruption")

    mcfg = model_config(cfg, cache.config)
    train = make_dataset(cache, (1, 2), ("audio",))
    val = make_dataset(cache, (3,), ("audio",))
    return train_fold(mcfg, cfg, train, val, out, cache.config, {"fold": 1}, resume=resume,
                      on_epoch_end=stop, progress=False)


def _strip(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def _weights(path):
    return torch.load(path, weights_only=False)["model"]


@pytest.mark.slow
def test_same_seed_same_result_and_resume_matches(cache, tmp_path):
    cfg = TrainConfig(fusion="audio", epochs=3, lr=3e-3, schedule="cosine", augment=AUG, seed=7)
    a = _run(cache, tmp_path / "a", cfg)
    b = _run(cache, tmp_path / "b", cfg)
    assert _strip(a.history) == _strip(b.history)
    wa, wb = _weights(tmp_path / "a" / LAST), _weights(tmp_path / "b" / LAST)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

    # a different seed gives different weights (the test above can fail)
    c = _run(cache, tmp_path / "c", cfg.replace(seed=8))
    assert _strip(c.history) != _strip(a.history)

    # interrupted after epoch 2, then resumed: same final weights and history as uninterrupted
    with pytest.raises(KeyboardInterrupt):
        _run(cache, tmp_path / "r", cfg, stop_after=2)
    assert torch.load(tmp_path / "r" / LAST, weights_only=False)["epoch"] == 2
    r = _run(cache, tmp_path / "r", cfg, resume=True)
    assert _strip(r.history) == _strip(a.history)
    wr = _weights(tmp_path / "r" / LAST)
    assert all(torch.equal(wa[k], wr[k]) for k in wa)
    log = [json.loads(line) for line in (tmp_path / "r" / LOG).read_text().splitlines()]
    assert [row["epoch"] for row in log] == [1, 2, 3]  # no duplicated epochs after the resume
    assert (tmp_path / "r" / BEST).exists() and not list((tmp_path / "r").glob("*.tmp"))
    assert r.best_epoch == a.best_epoch
    row = log[-1]
    assert set(row) >= {"train_loss", "train_acc", "val_loss", "val_acc", "val_f1", "lr", "seconds"}


def test_no_validation_actors_keeps_last_epoch(cache, tmp_path):
    cfg = TrainConfig(fusion="audio", epochs=2, lr=3e-3)
    mcfg = model_config(cfg, cache.config)
    res = train_fold(mcfg, cfg, make_dataset(cache, (1, 2), ("audio",)), None, tmp_path, cache.config,
                     progress=False)
    assert res.best_epoch == 2 and res.history[-1]["val_acc"] is None


def test_face_augmentation_is_per_clip_and_consistent_over_frames():
    g = torch.Generator().manual_seed(0)
    faces = torch.rand(6, 4, 3, 32, 32)
    faces[:, 1:] = faces[:, :1]  # all frames of a clip identical
    out = augment_faces(faces, AugmentConfig(face_flip_p=0.5, face_rotate_deg=10), g)
    assert out.shape == faces.shape and out.min() >= 0 and out.max() <= 1
    assert torch.allclose(out[:, 0], out[:, 3])  # same flip and angle for every frame of a clip
    assert not torch.allclose(out, faces)
    flip_only = augment_faces(faces, AugmentConfig(face_flip_p=1.0, face_rotate_deg=0), g)
    assert torch.equal(flip_only, faces.flip(-1))


def test_spec_augment_masks_and_modality_dropout_copies():
    g = torch.Generator().manual_seed(0)
    audio = torch.ones(5, 10, 44)
    masked = spec_augment(audio, AugmentConfig(time_masks=2, time_mask_width=5, freq_masks=1,
                                               freq_mask_width=2), g)
    zeros = (masked == 0).float()
    assert 0 < zeros.mean() < 0.5 and set(masked.unique().tolist()) <= {0.0, 1.0}
    batch = {"audio": torch.ones(3, 10, 44), "faces": torch.ones(3, 2, 3, 8, 8)}
    t = torch.eye(8)[:3]
    out, tt = modality_dropout(batch, t, "softhard", 0.0, g)
    assert out["audio"].shape[0] == 12 and tt.shape[0] == 12
    assert out["audio"][6:9].abs().sum() == 0 and out["faces"][9:12].abs().sum() == 0
    a = out["audio"][3:6, 0, 0]
    assert torch.allclose(a + out["faces"][3:6, 0, 0, 0, 0], torch.ones(3))  # a and 1 - a
    # same seed, same draws
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    cfg = AugmentConfig(mixup_alpha=0.4, time_masks=1, modality_dropout="random", modality_dropout_p=0.5)
    o1, _ = augment_batch(batch, t, cfg, g1)
    o2, _ = augment_batch(batch, t, cfg, g2)
    assert all(torch.equal(o1[k], o2[k]) for k in o1)


def test_train_config_round_trips_json(tmp_path):
    cfg = TrainConfig(fusion="lt", optimizer="sgd", lr=0.04, schedule="step", milestones=(40, 55),
                      augment=AugmentConfig(modality_dropout="softhard"), folds=(1, 2))
    cfg.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == cfg
    with pytest.raises(ValueError):
        TrainConfig(optimizer="rmsprop")


def test_pretrained_frozen_face_stays_fixed_while_the_rest_trains(tmp_path):
    """--face-pretrained loads a published-layout file into the face CNN; --freeze-face keeps it
    (weights and BatchNorm statistics, even with precise BN) while the temporal stacks, fusion and
    head train."""
    from emofusion.nets.efficientface import EfficientFace

    media = small_media(face_size=64, n_frames=2)
    root = write_cache(tmp_path / "c", actors=(1, 2), per_class=2, streams=("audio", "faces"), cfg=media)
    cache = FeatureCache(root)
    torch.manual_seed(123)
    source = EfficientFace()
    for m in source.modules():  # non-default BN statistics, so "kept" is visible
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "EfficientFace_Trained_on_AffectNet7.pth.tar")
    cfg = TrainConfig(fusion="ia", epochs=2, lr=3e-3, precise_bn=1, n_val=0,
                      face_pretrained=str(tmp_path / "EfficientFace_Trained_on_AffectNet7.pth.tar"),
                      freeze_face=True)
    mcfg = model_config(cfg, cache.config)
    train_fold(mcfg, cfg, make_dataset(cache, (1, 2), ("audio", "faces")), None, tmp_path / "run",
               cache.config, progress=False)
    got = _weights(tmp_path / "run" / LAST)
    want = source.state_dict()
    assert all(torch.equal(got[f"face.{k}"], v) for k, v in want.items() if not k.endswith("num_batches_tracked"))
    start = torch.load(tmp_path / "run" / LAST, weights_only=False)  # the head did move
    from emofusion.nets.registry import create_model

    torch.manual_seed(cfg.seed)
    fresh = create_model(mcfg).state_dict()
    assert not torch.equal(start["model"]["head.weight"], fresh["head.weight"])


def test_freeze_face_on_an_audio_model_is_refused(tmp_path):
    from emofusion.train.loop import prepare_face
    from emofusion.nets.registry import create_model

    with pytest.raises(ValueError, match="no face CNN"):
        prepare_face(create_model("audio"), TrainConfig(fusion="audio", freeze_face=True))


def test_audio_cnn2d_trains_on_log_mel_planes_from_the_cache(tmp_path):
    """A log-mel + deltas cache gives the 2D audio net three planes; it trains and learns the cue."""
    from emofusion.config import AudioConfig

    base = small_media()
    media = type(base)(window_s=base.window_s, video=base.video,
                       audio=AudioConfig(kind="logmel", n_mels=16, deltas=True))
    cache = FeatureCache(write_cache(tmp_path / "c", actors=(1, 2, 3), per_class=6, cfg=media, strength=3.0))
    cfg = TrainConfig(fusion="audio_cnn2d", epochs=6, lr=3e-3, model={"audio_width": 8})
    mcfg = model_config(cfg, cache.config)
    assert (mcfg.audio_channels, mcfg.audio_planes) == (48, 3)
    res = train_fold(mcfg, cfg, make_dataset(cache, (1, 2), ("audio",)), make_dataset(cache, (3,), ("audio",)),
                     tmp_path / "run", cache.config, progress=False)
    assert res.history[-1]["val_acc"] > 0.5  # 4 classes: chance is 0.25


def test_weight_average_follows_the_formula_and_keeps_integer_buffers():
    from emofusion.train.weight_average import WeightAverage

    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    avg = WeightAverage(net, 0.9)
    before = {k: v.clone() for k, v in avg.state_dict().items()}
    with torch.no_grad():
        net[0].weight.add_(1.0)
        net[1].num_batches_tracked.fill_(5)
    avg.update(net)
    got = avg.state_dict()
    assert torch.allclose(got["0.weight"], 0.9 * before["0.weight"] + 0.1 * net[0].weight)
    assert int(got["1.num_batches_tracked"]) == 5
    assert not any(p.requires_grad for p in avg.model.parameters())
    with pytest.raises(ValueError):
        WeightAverage(net, 1.0)


@pytest.mark.slow
def test_ema_run_saves_the_average_as_best_and_resumes_exactly(cache, tmp_path):
    """best.pt holds the averaged weights, raw.pt the last raw ones; an interrupted EMA run resumed
    from last.pt ends with the same average as an uninterrupted one."""
    from emofusion.train.loop import RAW

    cfg = TrainConfig(fusion="audio", epochs=3, lr=3e-3, schedule="cosine", augment=AUG, seed=7, ema_decay=0.9)
    a = _run(cache, tmp_path / "a", cfg)
    def shipped(path):  # best.pt / raw.pt: the checkpoint format, weights under "state_dict"
        return torch.load(path, weights_only=False)["state_dict"]

    best, raw, last = shipped(tmp_path / "a" / BEST), shipped(tmp_path / "a" / RAW), _weights(tmp_path / "a" / LAST)
    assert all(torch.equal(raw[k], last[k]) for k in raw)
    assert any(not torch.equal(best[k], raw[k]) for k in best if best[k].is_floating_point())
    assert a.history[-1]["val_acc"] is not None  # validation scored the average
    with pytest.raises(KeyboardInterrupt):
        _run(cache, tmp_path / "r", cfg.replace(n_val=0), stop_after=2)
    _run(cache, tmp_path / "r", cfg.replace(n_val=0), resume=True)
    b = _run(cache, tmp_path / "u", cfg.replace(n_val=0))
    wr, wu = shipped(tmp_path / "r" / BEST), shipped(tmp_path / "u" / BEST)
    assert b.best_epoch == 3 and all(torch.equal(wr[k], wu[k]) for k in wr)
    with pytest.raises(ValueError):
        TrainConfig(ema_decay=1.0)
