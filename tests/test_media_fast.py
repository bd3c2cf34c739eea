"""The fast media path (key-frame detection + box interpolation, NONREF decoding, 240 px MTCNN)
still yields a face in every crop: real CREMA-D clips and a generated clip whose face drifts
across the frame. "Contains a face" = MTCNN re-run on the 224 px crop finds one with prob > 0.9."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emofusion.config import MediaConfig, VideoConfig
from emofusion.media.clip import load_clip
from emofusion.media.faces import FaceCropper, _shared_mtcnn, interpolate, key_frames
from emofusion.media.synth import write_clip
from emofusion.media.video import frames_at

EXAMPLES = Path(__file__).resolve().parents[1] / "emofusion" / "webapp" / "examples"


def crop_face_probs(crops: np.ndarray) -> np.ndarray:
    """Best MTCNN probability on each (3,S,S) uint8 crop (0 when none), default MTCNN settings."""
    import torch

    m = _shared_mtcnn("cpu")
    m.min_face_size, m.factor = 80, 0.709  # the face fills most of a 224 px crop
    with torch.inference_mode():
        _, probs = m.detect(np.ascontiguousarray(crops.transpose(0, 2, 3, 1)))
    return np.array([0.0 if p is None or p[0] is None else float(np.max(p)) for p in probs])


def assert_all_faces(path: Path, cfg: MediaConfig) -> None:
    res = load_clip(path, cfg)
    assert res.face_found.all(), f"{path.name}: faces in {int(res.face_found.sum())} of 15 frames"
    probs = crop_face_probs(res.faces)
    assert (probs > 0.9).all(), f"{path.name}: crop face probs {probs.round(3).tolist()}"


def test_defaults_use_the_fast_path():
    v = VideoConfig()
    assert 0 < v.detect_frames < v.n_frames and v.decode_skip_nonref


def test_key_frames_and_interpolation_units():
    assert key_frames(15, 5).tolist() == [0, 4, 7, 10, 14]
    assert key_frames(15, 0).tolist() == list(range(15))
    assert key_frames(3, 5).tolist() == [0, 1, 2]
    boxes = np.full((5, 4), np.nan, np.float32)
    boxes[0], boxes[4] = [0, 0, 10, 10], [40, 20, 50, 30]
    probs = np.array([0.99, 0, 0, 0, 0.95], np.float32)
    out, p, found = interpolate(boxes, probs, ~np.isnan(boxes[:, 0]))
    np.testing.assert_allclose(out[2], [20, 10, 30, 20])
    assert found.all() and p[1] == pytest.approx(0.95)


@pytest.mark.parametrize("name", ["1001_DFA_ANG_XX.mp4", "1001_DFA_HAP_XX.mp4"])
def test_examples_every_crop_is_a_face(name):
    assert_all_faces(EXAMPLES / name, MediaConfig())


@pytest.mark.slow
def test_cremad_every_crop_is_a_face(cremad_dir):
    clips = sorted(p for p in cremad_dir.iterdir() if p.suffix == ".mp4")  # the .flv twins hold the same video
    assert len(clips) >= 6
    for p in clips:
        assert_all_faces(p, MediaConfig())


def test_moving_face_crops_follow_it(tmp_path, fixtures_dir):
    """The synthetic face drifts 60 % of the free width left to right and bobs up and down: the
    interpolated boxes stay on it and agree with detecting every frame."""
    face = np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))
    p = write_clip(tmp_path / "moving.mp4", face_image=face, seconds=3.6, fps=30, size=(960, 540))
    assert_all_faces(p, MediaConfig())
    fast = load_clip(p, MediaConfig())
    full = load_clip(p, MediaConfig(video=VideoConfig(detect_frames=0, decode_skip_nonref=False)))
    centres = lambda b: np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)  # noqa: E731
    assert np.ptp(centres(full.face_boxes)[:, 0]) > 100  # the face really moves (pixels)
    side = full.face_boxes[:, 2] - full.face_boxes[:, 0]
    err = np.abs(centres(fast.face_boxes) - centres(full.face_boxes)).max(axis=1)
    assert (err < 0.15 * side).all(), (err / side).round(3).tolist()


def test_key_frame_without_face_falls_back_to_every_frame():
    frames = frames_at(EXAMPLES / "1001_DFA_ANG_XX.mp4", np.linspace(0.1, 2.5, 15))
    frames[7] = np.full_like(frames[7], 90)  # a key frame (index 7 of 0,4,7,10,14) without a face
    cropper = FaceCropper(VideoConfig())
    _, _, ran = cropper.detect_some(frames)
    assert ran.all()  # detected everywhere, not interpolated across the miss
    fc = cropper.crop(frames)
    assert fc.found.sum() == 14 and not fc.found[7]


def test_nonref_decoding_is_within_one_frame_interval(tmp_path, fixtures_dir):
    import av

    face = np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))
    p = write_clip(tmp_path / "b.mp4", face_image=face, seconds=2.0, fps=30, size=(256, 144), audio=None)
    with av.open(str(p)) as c:
        truth = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
        c.seek(0)
        c.streams.video[0].codec_context.skip_frame = "NONREF"
        kept = sum(1 for _ in c.decode(video=0))
    assert kept < 0.8 * len(truth)  # frames really are skipped (x264 B-frames)
    asked = np.linspace(0.05, 1.95, 15)
    got = frames_at(p, asked, skip_nonref=True)
    for t, img in zip(asked, got):
        match = [ft for ft, f in truth if np.array_equal(f, img)]
        assert match and min(abs(ft - t) for ft in match) <= 1.01 / 30


def test_new_face_defaults_keep_audio_only_caches_resumable(tmp_path):
    """An audio-only cache made with the previous face defaults still resumes; a face cache made
    with them is refused (its crops came from other detection settings)."""
    import dataclasses

    from emofusion.data.cache import CacheError, open_for_writing

    old = MediaConfig()
    old = dataclasses.replace(old, video=dataclasses.replace(old.video, detect_max_side=360, detect_frames=0))
    open_for_writing(tmp_path / "a", old, ["audio"])
    open_for_writing(tmp_path / "a", MediaConfig(), ["audio"])
    open_for_writing(tmp_path / "f", old, ["audio", "faces"])
    with pytest.raises(CacheError, match="detect_max_side: cache has 360, asked for 240"):
        open_for_writing(tmp_path / "f", MediaConfig(), ["audio", "faces"])
