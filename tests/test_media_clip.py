"""load_clip / clip_windows / model_inputs on real clips (committed CREMA-D + RAVDESS fixtures, clips
generated through real encoders) with the real MTCNN. Outcomes are typed: ClipError or Notice."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emofusion.config import MediaConfig
from emofusion.media.audio import read_audio
from emofusion.media.clip import clip_windows, load_clip, model_inputs, window_starts
from emofusion.media.errors import ClipError, Notice
from emofusion.media.faces import get_cropper
from emofusion.media.synth import write_clip

EXAMPLES = Path(__file__).resolve().parents[1] / "emofusion" / "webapp" / "examples"
CFG = MediaConfig()


@pytest.fixture(scope="session")
def face(fixtures_dir):
    return np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))


@pytest.fixture(scope="session")
def cropper():
    """MTCNN built and warmed up once for the whole session."""
    c = get_cropper(CFG.video)
    c.detect([np.zeros((64, 64, 3), np.uint8)])
    return c


def codes(res) -> set[str]:
    return {n.code for n in res.notices}


def assert_crops_are_faces(cropper, faces: np.ndarray) -> None:
    """Running MTCNN again on each crop finds a confident face in it."""
    _, probs = cropper.detect(list(faces.transpose(0, 2, 3, 1)), max_side=0)
    assert (probs > 0.9).all(), probs


@pytest.mark.parametrize("name", ["1001_DFA_ANG_XX.mp4", "1001_DFA_HAP_XX.mp4"])
def test_cremad_mp4_fixture(cropper, name):
    res = load_clip(EXAMPLES / name, CFG)
    assert res.audio.shape == (10, 156) and res.audio.dtype == np.float32
    assert res.faces.shape == (15, 3, 224, 224) and res.faces.dtype == np.uint8
    assert res.face_found.all()
    assert codes(res) == {Notice.PADDED}  # ~2 s clips in a 3.6 s window
    assert 1.5 < res.duration_s < 3.0
    assert set(res.timings_ms) >= {"decode_audio", "audio_features", "decode_video", "faces", "total"}
    assert_crops_are_faces(cropper, res.faces[::7])
    # RGB, not BGR: skin is redder than it is blue.
    assert res.faces[:, 0].mean() > res.faces[:, 2].mean()


def test_cremad_original_flv(cropper, cremad_dir):
    res = load_clip(cremad_dir / "1001_DFA_SAD_XX.flv", CFG)
    assert res.face_found.all() and res.audio.shape == (10, 156)
    assert_crops_are_faces(cropper, res.faces[::7])


def test_ravdess_flac_is_audio_only(fixtures_dir):
    res = load_clip(fixtures_dir / "03-01-05-02-01-01-01.flac", CFG)
    assert res.audio.shape == (10, 156)
    assert res.faces is None and res.face_found is None
    assert Notice.NO_VIDEO in codes(res)
    x = res.model_inputs(CFG)
    assert x["faces"].shape == (15, 3, 224, 224) and not x["faces"].any()
    assert x["audio"].dtype == np.float32 and np.array_equal(x["audio"], res.audio)


@pytest.mark.parametrize(
    "suffix,size,rotation",
    [(".mp4", (320, 240), 90), (".webm", (321, 241), 0), (".mov", (240, 320), 0)],
)
def test_generated_clip_faces(cropper, tmp_path, face, suffix, size, rotation):
    p = write_clip(tmp_path / f"g{suffix}", face_image=face, seconds=4.0, fps=25, size=size, rotation_deg=rotation)
    res = load_clip(p, CFG)
    assert res.face_found.all()
    assert res.audio.shape == (10, 156)
    assert not codes(res)  # 4 s clip: a full window, nothing to report
    assert_crops_are_faces(cropper, res.faces[::7])
    # The face drifts left to right: crop boxes follow it.
    assert res.face_boxes[-1, 0] > res.face_boxes[0, 0]


def test_no_face_keeps_audio(cropper, tmp_path):
    p = write_clip(tmp_path / "noface.mkv", face_image=None, seconds=2.0, size=(160, 120))
    res = load_clip(p, CFG)
    assert Notice.NO_FACE in codes(res)
    assert res.faces is None and res.face_found is not None and not res.face_found.any()
    assert res.audio.shape == (10, 156)


def test_no_audio_keeps_faces(cropper, tmp_path, face):
    p = write_clip(tmp_path / "mute.mp4", face_image=face, seconds=2.0, size=(320, 240), audio=None)
    res = load_clip(p, CFG)
    assert Notice.NO_AUDIO in codes(res)
    assert res.audio is None and res.faces is not None and res.face_found.all()
    assert not res.model_inputs(CFG)["audio"].any()


def test_silent_audio_is_noticed(tmp_path):
    p = write_clip(tmp_path / "silent.mp4", face_image=None, seconds=1.0, size=(64, 48),
                   audio=np.zeros(22_050, np.float32))
    res = load_clip(p, CFG, want=("audio",))
    assert Notice.SILENT in codes(res) and res.audio is not None


def test_too_short_and_too_long(tmp_path):
    short = write_clip(tmp_path / "short.mp4", face_image=None, seconds=0.2, size=(64, 48))
    with pytest.raises(ClipError) as e:
        load_clip(short, CFG)
    assert e.value.code == ClipError.TOO_SHORT
    long = write_clip(tmp_path / "long.mp4", face_image=None, seconds=6.0, fps=10, size=(64, 48))
    with pytest.raises(ClipError) as e:
        load_clip(long, MediaConfig(max_clip_s=5.0))
    assert e.value.code == ClipError.TOO_LONG


def test_random_bytes_unreadable(tmp_path):
    p = tmp_path / "x.webm"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    with pytest.raises(ClipError) as e:
        load_clip(p, CFG)
    assert e.value.code == ClipError.UNREADABLE


def test_truncated_mp4_is_unreadable(tmp_path, face):
    """PyAV writes the mp4 index (moov) at the end: cut the file and nothing can be located."""
    p = write_clip(tmp_path / "full.mp4", face_image=face, seconds=3.0, size=(160, 120))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(ClipError) as e:
        load_clip(cut, CFG)
    assert e.value.code == ClipError.UNREADABLE


def test_truncated_mkv_keeps_what_decoded(cropper, tmp_path, face):
    """Matroska is streamable: a clip cut in the middle still yields the part that decoded, and
    says (`damaged`) how much of the duration the file states was read."""
    p = write_clip(tmp_path / "full.mkv", face_image=face, seconds=4.0, size=(320, 240))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(p.read_bytes()[: int(p.stat().st_size * 0.6)])
    res = load_clip(cut, CFG)
    assert res.audio is not None and res.audio.shape == (10, 156)
    assert res.faces is not None and res.face_found.any()
    audio_s = len(read_audio(cut, 22_050)) / 22_050
    assert 0 < audio_s < len(read_audio(p, 22_050)) / 22_050 - 0.5
    (msg,) = [n.message for n in res.notices if n.code == Notice.DAMAGED]
    assert f"the audio at {audio_s:.1f} s" in msg and f"of the {res.duration_s:.1f} s the file states" in msg
    assert Notice.DAMAGED not in codes(load_clip(p, CFG))


def _truncated_mp4(src: Path, out_dir: Path, keep: float) -> tuple[Path, Path]:
    """(whole, cut): `src` remuxed with its index first (+faststart, as web uploads usually are),
    and the same file cut to its first `keep` share of bytes (an interrupted download)."""
    import subprocess

    whole, cut = out_dir / "whole.mp4", out_dir / "cut.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-c", "copy", "-movflags", "+faststart",
                    str(whole)], check=True)
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * keep)])
    return whole, cut


def test_truncated_mp4_with_index_first_is_damaged(tmp_path):
    """A real clip cut to 60 % of its bytes: the index still states the whole duration, both
    streams stop early, and the notice says how much was read; the whole file has no notice."""
    whole, cut = _truncated_mp4(EXAMPLES / "1001_DFA_HAP_XX.mp4", tmp_path, 0.6)
    res = load_clip(cut, CFG)
    assert res.audio is not None and res.faces is not None
    (msg,) = [n.message for n in res.notices if n.code == Notice.DAMAGED]
    read = max(float(x) for x in re.findall(r"the (?:audio|video) at ([0-9.]+) s", msg))
    stated = res.duration_s
    pct = float(re.search(r"\((\d+) % read\)", msg).group(1))
    assert 0.3 * stated < read < stated - 0.5 and abs(pct - 100 * read / stated) < 4, msg
    assert "the video at" in msg and "the audio at" in msg, msg
    assert Notice.DAMAGED not in codes(load_clip(whole, CFG))
    faces_only = load_clip(cut, CFG, want=("faces",))  # the video alone also tells
    assert Notice.DAMAGED in codes(faces_only)


def test_truncated_long_clip_windows_are_damaged(tmp_path, face):
    p = write_clip(tmp_path / "long.mkv", face_image=face, seconds=9.0, fps=10, size=(160, 120))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(p.read_bytes()[: int(p.stat().st_size * 0.5)])
    wins = clip_windows(cut, CFG, hop_s=1.8)
    assert all(Notice.DAMAGED in codes(w) for w in wins)
    read = max(float(x) for x in re.findall(r"at ([0-9.]+) s", wins[0].notices[-1].message))
    # windows centred past what decoded are left out: they would read only silence and a still
    assert len(wins) >= 2 and all(w.window_start_s + 1.8 <= read + 0.05 for w in wins), (read, len(wins))
    whole = clip_windows(p, CFG, hop_s=1.8)
    assert len(whole) > len(wins) and not any(Notice.DAMAGED in codes(w) for w in whole)


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".mov", ".avi", ".flv"])
def test_whole_generated_clips_are_not_damaged(tmp_path, face, suffix):
    p = write_clip(tmp_path / f"whole{suffix}", face_image=face, seconds=3.0, fps=25, size=(160, 120))
    assert Notice.DAMAGED not in codes(load_clip(p, CFG))


def test_same_window_for_both_streams(tmp_path, face):
    p = write_clip(tmp_path / "w.mp4", face_image=face, seconds=8.0, fps=10, size=(96, 72))
    res = load_clip(p, CFG, want=("audio",), start_s=2.0)
    assert res.window_start_s == 2.0
    sr = CFG.audio.sample_rate
    wave = read_audio(p, sr)
    np.testing.assert_array_equal(res.wave, wave[2 * sr : 2 * sr + CFG.window_samples])
    centred = load_clip(p, CFG, want=("audio",))
    assert centred.window_start_s == pytest.approx((8.0 - 3.6) / 2, abs=0.05)


def test_clip_windows(cropper, tmp_path, face):
    p = write_clip(tmp_path / "long.mp4", face_image=face, seconds=8.0, fps=10, size=(320, 240))
    wins = clip_windows(p, CFG, hop_s=1.8)
    starts = [w.window_start_s for w in wins]
    assert starts[:3] == pytest.approx([0.0, 1.8, 3.6])
    assert starts[-1] == pytest.approx(wins[0].duration_s - 3.6)
    for w in wins:
        assert w.audio.shape == (10, 156) and w.faces.shape == (15, 3, 224, 224) and w.face_found.all()
        assert w.window_start_s <= w.frame_times_s.min() and w.frame_times_s.max() <= w.window_start_s + 3.6
    assert window_starts(2.0, 3.6, 1.0) == [0.0]


def test_model_inputs_contract():
    faces = np.full((15, 3, 224, 224), 255, np.uint8)
    x = model_inputs(None, faces, CFG)
    assert x["faces"].dtype == np.float32 and x["faces"].max() == 1.0
    assert x["audio"].shape == (10, 156) and not x["audio"].any()
    with pytest.raises(ValueError):
        model_inputs(np.zeros((10, 100), np.float32), None, CFG)


@pytest.mark.parametrize("seconds, padded", [(1.5, True), (3.2, False)])
def test_padded_notice_only_when_padding_is_large(tmp_path, seconds, padded):
    """A normal 3-4 s clip in the 3.6 s window is not news; a clip filling under 75 % of it is."""
    path = write_clip(tmp_path / "a.mp4", face_image=None, video=False, seconds=seconds)
    res = load_clip(path, CFG, want=("audio",))
    assert (Notice.PADDED in codes(res)) is padded
