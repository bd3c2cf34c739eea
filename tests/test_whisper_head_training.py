"""The voice head's training recipe (whisper_recipe.train_head) on small synthetic states: the
round-2 regularisers (time masks, mixup) do what they say and keep runs repeatable; the time masks
are train-fusion's too."""

import numpy as np
import pytest
import torch

from emofusion.nets.whisper import VoiceHead
from emofusion.train import whisper_recipe as R
from emofusion.train.augment import mask_state_spans


def _data(n=96, layers=3, frames=20, d=16, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 8
    x = rng.normal(size=(n, layers, frames, d)).astype(np.float32)
    x[np.arange(n), :, :, labels] += 3.0  # a learnable signal: the label's dimension is raised
    return {1.0: x.astype(np.float16)}, labels


def test_round_one_keys_are_unchanged_and_round_two_keys_name_the_regularisers():
    assert R.CANDIDATES[0].key == "tiny.en_lr0.003_sp1_w256_d0.3"  # the shipped run's directory name
    assert [c.key for c in R.ROUND2] == ["tiny.en_lr0.003_sp1_w256_d0.3", "tiny.en_lr0.003_sp1_w256_d0.3_tm0.1",
                                         "tiny.en_lr0.003_sp1_w256_d0.3_tm0.1_mx0.4"]
    assert R.ROUND2[0] == R.CANDIDATES[0]  # the shipped setting is retrained, like for like
    assert all(c.shippable for c in R.ROUND2)


def test_time_masks_set_at_most_two_spans_to_the_standardisation_mean():
    head = VoiceHead(3, 16, 8, 8, 0.0)
    mean = torch.arange(48, dtype=torch.float32).view(3, 16)
    head.set_standardisation(mean, torch.ones(3, 16))
    x = np.random.default_rng(1).normal(size=(32, 3, 40, 16)).astype(np.float32) + 1000.0
    mask_state_spans(x, head.state_mean.numpy(), 0.1, np.random.default_rng(2))
    masked = (x < 500).all(axis=(1, 3))  # (B, T): frames now at the mean in every state and dimension
    assert masked.any()
    for i in range(len(x)):
        assert masked[i].sum() <= 2 * 4  # two spans of at most 10 % of 40 frames
        np.testing.assert_array_equal(x[i][:, masked[i]], np.broadcast_to(mean.numpy()[:, None], (3, masked[i].sum(), 16)))


@pytest.mark.parametrize("setting", [R.HeadSetting(width=16, epochs=20, time_mask=0.1, mixup=0.4),
                                     R.HeadSetting(width=16, epochs=20)])
def test_a_regularised_head_learns_and_repeats_exactly(setting):
    data, labels = _data()
    train, val = np.arange(80), np.arange(80, 96)
    torch.set_num_threads(1)
    a = R.train_head(setting, data, labels, train, val, 3, 16, progress=False)
    b = R.train_head(setting, data, labels, train, val, 3, 16, progress=False)
    assert a["val_history"] == b["val_history"]
    assert a["best_val"] >= 0.5  # chance is 1/8
    for k in a["state"]:
        torch.testing.assert_close(a["state"][k], b["state"][k])


def test_a_later_round_rebuilds_the_folds_an_earlier_setting_made(tmp_path):
    fold = tmp_path / "fold_1"
    fold.mkdir()
    (fold / "setting.txt").write_text("round1-key\n")
    (fold / "test.json").write_text("{}")
    R._forget_other_setting(fold, "round1-key")  # same setting: kept (the run resumes)
    assert (fold / "test.json").exists()
    R._forget_other_setting(fold, "round2-key")  # another setting: its test scores must not be reused
    assert not (fold / "test.json").exists()
    assert (fold / "setting.txt").read_text().strip() == "round2-key"


def test_time_masks_reach_torch_states_through_a_transposed_view():
    """train-fusion holds its states as (L, B, T, d) and masks them through a (B, L, T, d) view."""
    st = torch.randn(3, 8, 40, 16) + 1000.0
    mean = torch.arange(48, dtype=torch.float32).view(3, 16)
    mask_state_spans(st.transpose(0, 1), mean, 0.1, np.random.default_rng(0))
    masked = (st < 500).all(dim=0).all(dim=-1)  # (B, T)
    assert masked.any() and (masked.sum(dim=1) <= 8).all()
    b, t = np.argwhere(masked.numpy())[0]
    torch.testing.assert_close(st[:, b, t], mean)


def test_round_three_keys_and_its_margin():
    keys = [c.key for c in R.ROUND3]
    assert keys[0] == R.ROUND2[1].key == "tiny.en_lr0.003_sp1_w256_d0.3_tm0.1"  # the shipped setting first
    assert keys[1:] == ["tiny.en_lr0.003_sp1_w256_d0.3_tm0.2", "tiny.en_lr0.003_sp1_w256_d0.5_tm0.1",
                        "tiny.en_lr0.003_sp0.9-1-1.1_w256_d0.3_tm0.1"]
    assert R.NOISE_REFERENCE[3].key == keys[0] + "_s1" and R.HeadSetting(epochs=25).key.endswith("_e25")
    summary = {k: {"criterion": c, "shippable": True} for k, c in zip(keys, (0.750, 0.759, 0.740, 0.745))}
    assert R.choose(summary, keys[0]) == keys[1]  # round 2's rule: the best, whatever the gain
    assert R.choose(summary, keys[0], R.ROUND_MARGIN[3]) == keys[0]  # 0.9 point: the shipped setting stays
    summary[keys[2]]["criterion"] = 0.760
    assert R.choose(summary, keys[0], R.ROUND_MARGIN[3]) == keys[2]  # 1.0 point: it replaces
    summary[keys[3]] = {"criterion": 0.9, "shippable": False}  # never an ineligible one
    assert R.choose(summary, keys[0], R.ROUND_MARGIN[3]) == keys[2]
