"""Video decoding on real encoded files: every container, odd sizes, rotation, VFR, seeking, damage.

No face detection here (fast): these check the frames the face stage will see.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from emofusion.media.errors import ClipError
from emofusion.media.synth import CODECS, write_clip
from emofusion.media.video import frames_at, probe


@pytest.fixture(scope="session")
def face(fixtures_dir):
    return np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))


def all_frames(path):
    """Every decoded frame with its time, straight from PyAV (the ground truth)."""
    import av

    with av.open(str(path)) as c:
        out = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    return out


def upright(img: np.ndarray) -> bool:
    """The synthetic background is redder to the right and greener towards the bottom."""
    img = img.astype(np.float32)
    return img[:, -4:, 0].mean() > img[:, :4, 0].mean() + 20 and img[-4:, :, 1].mean() > img[:4, :, 1].mean() + 20


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_every_container_odd_size(tmp_path, face, suffix):
    p = write_clip(tmp_path / f"c{suffix}", face_image=face, seconds=1.0, fps=25, size=(321, 241))
    info = probe(p)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (321, 241)
    assert 0.9 < info.duration_s < 1.2
    assert info.fps == pytest.approx(25, rel=0.05)
    frames = frames_at(p, [0.1, 0.5, 0.9])
    assert [f.shape for f in frames] == [(241, 321, 3)] * 3
    assert all(f.dtype == np.uint8 and upright(f) for f in frames)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_gives_upright_frames(tmp_path, rotation):
    p = write_clip(tmp_path / "rot.mp4", face_image=None, seconds=0.6, size=(160, 96), rotation_deg=rotation)
    info = probe(p)
    assert info.rotation == rotation
    assert (info.width, info.height) == (160, 96)
    frames = frames_at(p, [0.2, 0.4])
    assert frames[0].shape == (96, 160, 3)
    assert all(upright(f) for f in frames)
    # The stored pixels really are rotated: PyAV alone returns them sideways / upside down.
    raw = all_frames(p)[0][1]
    assert not upright(raw)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm"])
def test_vfr_picks_the_frame_nearest_in_time(tmp_path, face, suffix):
    p = write_clip(tmp_path / f"vfr{suffix}", face_image=face, seconds=1.5, fps=20, size=(160, 120), vfr=True)
    truth = all_frames(p)
    times = np.array([t for t, _ in truth])
    gaps = np.diff(times)
    assert gaps.max() > 1.5 * gaps.min()  # really variable
    asked = [0.13, 0.52, 0.77, 1.01, 1.33]
    got = frames_at(p, asked)
    for t, img in zip(asked, got):
        want = truth[int(np.argmin(np.abs(times - t)))][1]
        np.testing.assert_array_equal(img, want)


def test_unsorted_and_repeated_times_and_past_the_end(tmp_path, face):
    p = write_clip(tmp_path / "a.mp4", face_image=face, seconds=1.0, fps=10, size=(128, 96))
    truth = all_frames(p)
    got = frames_at(p, [0.52, 0.03, 0.52, 5.0])
    np.testing.assert_array_equal(got[0], truth[5][1])
    np.testing.assert_array_equal(got[1], truth[0][1])
    np.testing.assert_array_equal(got[2], got[0])
    np.testing.assert_array_equal(got[3], truth[-1][1])  # past the end: the last frame


def test_seeking_matches_a_full_decode(tmp_path, face):
    p = write_clip(tmp_path / "long.mp4", face_image=face, seconds=20, fps=15, size=(128, 96), audio=None)
    asked = [0.5, 9.0, 17.3, 19.9]
    seeking = frames_at(p, asked, seek_gap_s=1.0)
    linear = frames_at(p, asked, seek_gap_s=1e9)
    for a, b in zip(seeking, linear):
        np.testing.assert_array_equal(a, b)


def test_audio_only_file_has_no_video(fixtures_dir):
    info = probe(fixtures_dir / "03-01-05-02-01-01-01.flac")
    assert info.has_audio and not info.has_video
    assert 3 < info.duration_s < 5
    with pytest.raises(ClipError) as e:
        frames_at(fixtures_dir / "03-01-05-02-01-01-01.flac", [0.5])
    assert e.value.code == ClipError.NO_STREAMS


@pytest.mark.parametrize("content", [b"", b"hello, this is not a video\n" * 40, "random"])
def test_not_media_is_unreadable(tmp_path, content):
    if content == "random":
        content = np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    p = tmp_path / "clip.mp4"
    p.write_bytes(content)
    with pytest.raises(ClipError) as e:
        probe(p)
    assert e.value.code == ClipError.UNREADABLE


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(ClipError) as e:
        probe(tmp_path / "nope.mp4")
    assert e.value.code == ClipError.UNREADABLE


def test_old_style_rotate_tag_is_the_fallback():
    """Files from before display matrices carry a `rotate` stream tag (degrees clockwise); it is
    used only when the frame itself has no rotation. Plain objects stand in for the PyAV frame and
    stream here: FFmpeg 7 no longer writes that tag, so no real file with it can be made."""
    from types import SimpleNamespace

    from emofusion.media.video import _rotation

    tagged = SimpleNamespace(metadata={"rotate": "90"})
    assert _rotation(SimpleNamespace(rotation=0), tagged) == 270
    assert _rotation(SimpleNamespace(rotation=90), tagged) == 90  # the display matrix wins
    assert _rotation(SimpleNamespace(rotation=0), SimpleNamespace(metadata={"rotate": "junk"})) == 0
    assert _rotation(None, SimpleNamespace(metadata={})) == 0


def test_stopped_at_is_only_past_the_last_decoded_frame():
    from emofusion.media.video import stopped_at

    times = np.array([0.5, 1.5, 2.5, 3.5])
    assert stopped_at(times, times - 0.02, fps=25) is None  # every time got its own frame
    # a sparse stretch mid-clip (a still screen recording): later frames follow, no stop
    assert stopped_at(times, np.array([0.5, 0.6, 2.5, 3.5]), fps=25) is None
    # decoding ended at 1.4 s: the last two times got that frame
    assert stopped_at(times, np.array([0.5, 1.4, 1.4, 1.4]), fps=25) == pytest.approx(1.44)
