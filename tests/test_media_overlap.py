"""The overlapped path (media/overlap.py: decoding on the caller's thread, RGB conversion and MTCNN
on the media pool) gives exactly the crops of the serial path on the same frames, including the
fallback when a key frame has no face and rotated video, and stays correct under concurrent calls
(two conversions of one PyAV frame at once used to hang: DecodedFrame serialises them)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emofusion.config import MediaConfig
from emofusion.media.clip import frame_times, load_clip
from emofusion.media.faces import FaceCropper
from emofusion.media.overlap import decode_and_crop
from emofusion.media.synth import write_clip
from emofusion.media.video import frames_and_thumbs_at, probe

EXAMPLES = Path(__file__).resolve().parents[1] / "emofusion" / "webapp" / "examples"


def serial_crops(path: Path, cfg: MediaConfig):
    """The serial reference: decode every kept frame and its thumbnail, then FaceCropper.crop."""
    info = probe(path)
    times = frame_times(info.duration_s, cfg.window_s, max(0.0, (info.duration_s - cfg.window_s) / 2),
                        cfg.video.n_frames)
    frames, thumbs = frames_and_thumbs_at(path, times, cfg.video.detect_max_side,
                                          skip_nonref=cfg.video.decode_skip_nonref)
    return times, FaceCropper(cfg.video).crop(frames, thumbs)


def assert_same(path: Path, cfg: MediaConfig) -> None:
    times, ref = serial_crops(path, cfg)
    timings: dict[str, float] = {}
    got = decode_and_crop(path, times, cfg.video, timings)
    assert {"decode_video", "faces"} <= set(timings)
    np.testing.assert_array_equal(got.found, ref.found)
    if ref.crops is None:
        assert got.crops is None
        return
    np.testing.assert_allclose(got.boxes, ref.boxes, atol=1e-3)
    np.testing.assert_array_equal(got.crops, ref.crops)


def test_same_crops_as_serial_on_a_real_clip():
    assert_same(EXAMPLES / "1001_DFA_ANG_XX.mp4", MediaConfig())


@pytest.mark.parametrize("kw", [{"face_after_s": 1.5}, {"rotation_deg": 90}, {"size": (1280, 720)}])
def test_same_crops_as_serial_on_generated_clips(tmp_path, fixtures_dir, kw):
    """face_after_s: the first key frames have no face, so detection falls back to every frame."""
    face = np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))
    p = write_clip(tmp_path / "c.mp4", face_image=face, seconds=3.6, fps=25, **kw)
    assert_same(p, MediaConfig())


def test_no_face_anywhere(tmp_path):
    p = write_clip(tmp_path / "noface.mp4", face_image=None, seconds=2.0, size=(320, 240))
    times = frame_times(2.0, 3.6, 0.0, 15)
    fc = decode_and_crop(p, times, MediaConfig().video, {})
    assert fc.crops is None and not fc.found.any()


def test_concurrent_calls_agree():
    p = EXAMPLES / "1001_DFA_HAP_XX.mp4"
    one = load_clip(p)
    with ThreadPoolExecutor(4) as ex:
        many = list(ex.map(lambda _: load_clip(p), range(6)))
    for r in many:
        np.testing.assert_array_equal(r.faces, one.faces)
        np.testing.assert_array_equal(r.audio, one.audio)


def test_mtcnn_runs_on_the_calling_thread(monkeypatch):
    """torch used from a pool thread left two OpenMP teams spinning and made the caller's later
    torch calls ~2.5x slower; so decoding goes to the pool and detection stays on the caller."""
    import threading

    seen = []
    real = FaceCropper.detect_small

    def spy(self, small, full_size):
        seen.append(threading.get_ident())
        return real(self, small, full_size)

    monkeypatch.setattr(FaceCropper, "detect_small", spy)
    load_clip(EXAMPLES / "1001_DFA_ANG_XX.mp4")
    assert seen and set(seen) == {threading.get_ident()}
