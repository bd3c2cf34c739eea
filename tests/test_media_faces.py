"""Face stage: boxes smoothed, gaps filled (a first frame without a face must not crash), crops cut
from the full-resolution frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emofusion.config import MediaConfig, VideoConfig
from emofusion.media.clip import load_clip
from emofusion.media.errors import Notice
from emofusion.media.faces import cut, fill_gaps, get_cropper, smooth, square_boxes
from emofusion.media.synth import write_clip
from emofusion.media.video import frames_at

EXAMPLE = Path(__file__).resolve().parents[1] / "emofusion" / "webapp" / "examples" / "1001_DFA_ANG_XX.mp4"


def test_smooth_fill_square_cut_units():
    boxes = np.array([[np.nan] * 4, [10, 10, 30, 50], [14, 10, 34, 50], [np.nan] * 4], np.float32)
    found = ~np.isnan(boxes[:, 0])
    sm = smooth(boxes, found, 3)
    np.testing.assert_allclose(sm[1], [12, 10, 32, 50])
    filled = fill_gaps(sm, found)
    np.testing.assert_allclose(filled[0], sm[1])
    np.testing.assert_allclose(filled[3], sm[2])
    sq = square_boxes(filled, 0.2)
    side = sq[:, 2] - sq[:, 0]
    np.testing.assert_allclose(side, sq[:, 3] - sq[:, 1])
    np.testing.assert_allclose(side, 48.0)  # longer side 40 * 1.2
    frame = np.full((20, 20, 3), 200, np.uint8)
    c = cut(frame, np.array([-10, -10, 10, 10], np.float32), 8)
    assert c.shape == (8, 8, 3)
    assert c[0, 0].max() == 0 and c[-1, -1].min() == 200  # outside the frame is black


def test_first_frames_without_face_are_filled_not_crashed():
    cropper = get_cropper(VideoConfig())
    frames = frames_at(EXAMPLE, np.linspace(0.1, 2.0, 8))
    frames[0] = np.full_like(frames[0], 128)
    frames[1] = np.full_like(frames[1], 30)
    fc = cropper.crop(frames)
    assert fc.found.tolist() == [False, False] + [True] * 6
    assert fc.crops.shape == (8, 3, 224, 224)
    np.testing.assert_allclose(fc.boxes[0], fc.boxes[2])  # box of the nearest detected frame
    assert fc.probs[0] == 0 and (fc.probs[2:] > 0.9).all()


def test_crop_is_cut_at_full_resolution():
    """Detection on a 180 px copy, crop from the 480x360 frame: the face fills the crop sharply."""
    frames = frames_at(EXAMPLE, [1.0])
    small = get_cropper(VideoConfig(detect_max_side=180)).crop(frames)
    full = get_cropper(VideoConfig(detect_max_side=0)).crop(frames)
    assert small.found.all() and full.found.all()
    # Same face, boxes agree within a few percent of the face size.
    side = full.boxes[0, 2] - full.boxes[0, 0]
    assert np.abs(small.boxes[0] - full.boxes[0]).max() < 0.12 * side


def test_faces_filled_notice(tmp_path, fixtures_dir):
    face = np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))
    p = write_clip(tmp_path / "late.mp4", face_image=face, seconds=3.6, fps=10, size=(320, 240), face_after_s=1.0)
    res = load_clip(p, MediaConfig())
    assert Notice.FACES_FILLED in {n.code for n in res.notices}
    assert not res.face_found[:3].any() and res.face_found[5:].all()
    assert res.faces.shape == (15, 3, 224, 224)


@pytest.mark.parametrize("max_side", [0, 360])
def test_detect_returns_one_box_per_frame(max_side):
    frames = frames_at(EXAMPLE, [0.5, 1.5])
    boxes, probs = get_cropper(VideoConfig()).detect(frames, max_side=max_side)
    assert boxes.shape == (2, 4) and probs.shape == (2,)
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 2] <= 480 + 20).all()
