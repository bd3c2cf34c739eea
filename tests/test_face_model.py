"""The face expression model: pooled RAVDESS answer, rendering of FER+-style faces, train-face."""

from __future__ import annotations

import lzma

import numpy as np
import torch

from emofusion.constants import CLASSES
from emofusion.nets.checkpoint import load_checkpoint, load_efficientface_pretrained
from emofusion.nets.config import ModelConfig
from emofusion.nets.registry import create_model
from emofusion.train.face_pretrain import FaceRender, FaceTrainConfig, RenderDraw, render, train_face


def _model(**kw):
    torch.manual_seed(0)
    return create_model(ModelConfig(fusion="face", face_size=48, face_grey=True, **kw)).eval()


def test_the_clip_answer_is_the_mean_of_the_frames_answers_with_calm_impossible():
    m = _model()
    faces = torch.rand(2, 3, 3, 48, 48, dtype=torch.float64)
    m = m.double()
    with torch.no_grad():
        clip = torch.softmax(m(faces), -1)
        frames = torch.stack([torch.softmax(m(faces[:, i : i + 1]), -1) for i in range(3)]).mean(0)
    torch.testing.assert_close(clip, frames)
    assert float(clip[:, CLASSES.index("calm")].max()) < 1e-9
    torch.testing.assert_close(clip.sum(-1), torch.ones(2, dtype=torch.float64))


def test_grey_in_the_graph_makes_colour_irrelevant():
    m = _model()
    rgb = torch.rand(1, 2, 3, 48, 48)
    luma = (rgb * torch.tensor([0.299, 0.587, 0.114]).view(1, 1, 3, 1, 1)).sum(2, keepdim=True).expand_as(rgb)
    with torch.no_grad():
        torch.testing.assert_close(m(rgb), m(luma.contiguous()), atol=1e-5, rtol=1e-5)


def test_rendering_without_jitter_is_deterministic_and_jitter_is_seeded():
    r = FaceRender(size=48, zoom=1.0)
    img = np.random.default_rng(0).integers(0, 255, (4, 48, 48), dtype=np.uint8)
    plain = render(img, r)
    assert plain.shape == (4, 3, 48, 48)
    # zoom 1 at the native size is the image itself (bilinear sampling at pixel centres)
    torch.testing.assert_close(plain[:, 0], torch.as_tensor(img).float() / 255, atol=1e-5, rtol=0)
    a = render(img, r, torch.Generator().manual_seed(3))
    b = render(img, r, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, plain)
    d = RenderDraw.draw(4, r, torch.Generator().manual_seed(1))
    moved = d.moved(torch.Generator().manual_seed(2))
    assert torch.equal(moved.flip, d.flip) and (moved.angle - d.angle).abs().max() <= np.radians(4) + 1e-6


def _fake_ferplus(root, n=48):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 8
    images = np.stack([np.full((48, 48), 30 * (k % 8), np.uint8) for k in labels])
    images = (images + rng.integers(0, 20, images.shape)).astype(np.uint8)
    with lzma.open(root / "faces.npy.xz", "wb") as f:
        np.save(f, images)
    rows = ["index,name,split,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF,fer2013_label"]
    for i, k in enumerate(labels):
        votes = [0] * 10
        votes[k] = 10
        rows.append(f"{i},f{i}.png,{'train' if i < 32 else 'valid'},{','.join(map(str, votes))},x")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


def test_train_face_resumes_and_writes_a_checkpoint_the_fusions_load(tmp_path):
    (tmp_path / "fer").mkdir()
    _fake_ferplus(tmp_path / "fer")
    cfg = FaceTrainConfig(epochs=1, batch_size=16, threads=1, render=FaceRender(size=48))
    ckpt = train_face(tmp_path / "run", cfg, tmp_path / "fer", progress=False)
    first = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(first) == 1
    other = FaceTrainConfig(epochs=1, batch_size=8, threads=1, render=FaceRender(size=48))
    try:
        train_face(tmp_path / "run", other, tmp_path / "fer", progress=False)
    except ValueError as exc:  # another config in the same run directory is refused, not mixed
        assert "another config" in str(exc)
    else:
        raise AssertionError("a changed config resumed silently")
    longer = FaceTrainConfig(epochs=2, batch_size=16, threads=1, render=FaceRender(size=48))
    assert train_face(tmp_path / "run", longer, tmp_path / "fer", progress=False, stop_after=1) is None
    ckpt = train_face(tmp_path / "run", longer, tmp_path / "fer", progress=False)  # resumes: one more epoch
    log = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert any("schedule_change" in line for line in log) and '"epoch": 1,' in log[-1]
    loaded = load_checkpoint(ckpt)
    assert loaded.model_cfg.fusion == "face" and loaded.media_cfg.video.face_size == 48
    fusion = create_model(ModelConfig(fusion="ia", audio_channels=10, n_frames=5, face_size=48, face_grey=True))
    report = load_efficientface_pretrained(fusion, ckpt)
    assert not report.missing and not report.shape_mismatched
    torch.testing.assert_close(fusion.face.state_dict()["conv5.0.weight"], loaded.model.face.state_dict()["conv5.0.weight"])


def test_the_face_report_holds_the_target_on_the_product_path():
    """Actor 5's target row is the product's own reading (load_clip), not the 15-frame view."""
    from emofusion.train import face_eval as FE

    def block(correct, n=8):  # n recordings of each class, `correct` of each right
        cm = np.zeros((8, 8), int)
        for k in range(8):
            cm[k, k], cm[k, (k + 1) % 8] = correct, n - correct
        return FE._summary(cm)

    def view(correct):
        return {"all": block(correct), "non_calm": block(correct)}

    ferplus = {k: block(7) for k in ("test_product_framing", "test_native_framing", "valid_product_framing")}
    res = {"checkpoint_sha256": "0" * 64, "command": "c", "ferplus": ferplus,
           "ckplus": {**block(7), "subjects": 3, "six_way_accuracy": 90.0},
           "actor5": {"product": {**view(4), "frames": 5, "window_s": 3.6}, "our_crops": view(6), "given": view(5)},
           "cremad": {"correct": 1, "n": 6}}
    seen = {}

    def verdict(key, value):
        seen[key] = value
        return "V"

    md = FE.markdown(res, verdict)
    row = next(line for line in md.splitlines() if "non-calm" in line and line.endswith("| V |"))
    assert "product path" in row and "5 frames of the 3.6 s window" in row and "50.0 %" in row
    assert seen["a05_face_accuracy_noncalm"] == 50.0  # the product view (4 of 8), not our_crops' 75.0
    assert "75.0 %" not in md  # the 15-frame view goes to _detail.md
    assert "our_crops 75.0" in FE.detail_markdown(res)
