"""Speed perturbation (`preprocess --speed`) and training on extra caches (`train --extra-train-cache`)."""

import json
from pathlib import Path

import numpy as np
import pytest
from audio_files import write_pcm

from emofusion import cli
from emofusion.config import MediaConfig
from emofusion.data.cache import FeatureCache
from emofusion.media.clip import load_clip

SR = 22_050


def write_tone(path: Path, hz: float, seconds: float = 3.0) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    return write_pcm(path, 0.5 * np.sin(2 * np.pi * hz * t), SR)


def peak_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / SR)[spectrum.argmax()])


@pytest.mark.parametrize("speed", [0.9, 1.1])
def test_speed_scales_pitch_and_keeps_the_window(tmp_path, speed):
    path = write_tone(tmp_path / "tone.wav", 440.0)
    plain = load_clip(path, MediaConfig(), want=("audio",))
    fast = load_clip(path, MediaConfig(), want=("audio",), speed=speed)
    assert peak_hz(plain.wave) == pytest.approx(440.0, abs=2)
    assert peak_hz(fast.wave) == pytest.approx(440.0 * speed, abs=2)  # tempo and pitch change together
    assert fast.audio.shape == plain.audio.shape  # same window, same feature frames
    with pytest.raises(ValueError, match="audio-only"):
        load_clip(path, MediaConfig(), speed=0.9)  # faces wanted too: frame times would lie


def _tree(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for actor in (1, 2, 3):
        for emo in range(1, 9):
            write_tone(data / f"Actor_{actor:02d}/03-01-{emo:02d}-01-01-01-{actor:02d}.wav", 150.0 + 60 * emo,
                       seconds=1.5)
    return data


def test_speed_cache_trains_as_extra_data(tmp_path, capsys):
    data = _tree(tmp_path)
    args = ["--modalities", "audio", "--workers", "1", "--window-s", "1.0"]
    assert cli.main(["preprocess", str(data), "--out", str(tmp_path / "c"), *args]) == 0
    # video settings (here the face size) do not matter for an audio-only cache
    assert cli.main(["preprocess", str(data), "--out", str(tmp_path / "c09"), "--speed", "0.9", "--face-size", "64",
                     *args]) == 0
    plain, slow = FeatureCache(tmp_path / "c"), FeatureCache(tmp_path / "c09")
    assert plain.speed == 1.0 and slow.speed == 0.9 and len(slow) == len(plain) == 24
    assert "speed" not in json.loads((tmp_path / "c" / "config.json").read_text())  # old caches unchanged
    cid = plain.entries[0]["id"]
    assert not np.allclose(plain.load(cid)["audio"], slow.load(cid)["audio"])
    # a cache can only be resumed with the speed it was made with
    assert cli.main(["preprocess", str(data), "--out", str(tmp_path / "c09"), *args]) == 2
    assert "speed" in capsys.readouterr().err
    assert cli.main(["preprocess", str(data), "--out", str(tmp_path / "x"), "--speed", "0.9"]) == 2  # faces too

    train = ["train", "--cache", str(tmp_path / "c"), "--fusion", "audio", "--epochs", "1", "--test-actors", "3",
             "--val-actors", "2", "--quiet"]
    assert cli.main([*train, "--out", str(tmp_path / "run1")]) == 0
    assert cli.main([*train, "--extra-train-cache", str(tmp_path / "c09"), "--out", str(tmp_path / "run2")]) == 0
    seen = [json.loads((tmp_path / r / "fold_1" / "metrics.jsonl").read_text().splitlines()[0])["train_n"]
            for r in ("run1", "run2")]
    assert seen == [8, 16]  # actor 1's 8 clips, then also their slowed copies; never actors 2 or 3
    other = tmp_path / "c10"  # other features settings are refused
    assert cli.main(["preprocess", str(data), "--out", str(other), *args, "--n-mfcc", "12"]) == 0
    assert cli.main([*train, "--extra-train-cache", str(other), "--out", str(tmp_path / "run3")]) == 2
    assert "other feature settings" in capsys.readouterr().err
