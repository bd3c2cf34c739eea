"""The face-api.js expression network: converter checks, parity with the original JavaScript, the
RAVDESS mapping, the crop framing, ONNX export.

Parity: tests/fixtures/faceapi_golden.npz holds inputs and the ORIGINAL network's outputs
(scripts/faceapi_golden: the package's own build on @tensorflow/tfjs 4.22.0, WASM backend); the
weights are the converter's output committed in tests/fixtures/faceapi_expression (MIT, licence
beside them), or the npm tarball itself when it is cached (EMOFUSION_FACEAPI_TGZ).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from emofusion.constants import CLASSES
from emofusion.export.faceapi import convert
from emofusion.nets.faceapi import pretrained
from emofusion.pretrained import faceapi as fa

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDEN = FIXTURES / "faceapi_golden.npz"
CONVERTED = FIXTURES / "faceapi_expression"
TGZ = Path(os.environ.get("EMOFUSION_FACEAPI_TGZ", Path.home() / ".cache/emofusion/faceapi" / fa.TARBALL))

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def original():
    """The converted original network: from the tarball when cached, else the committed conversion."""
    if TGZ.is_file():
        return pretrained(TGZ)
    from emofusion.nets.checkpoint import load_checkpoint

    return load_checkpoint(CONVERTED).model.eval()


def _tgz(tmp_path: Path, files: dict[str, bytes]) -> Path:
    path = tmp_path / "fake.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _manifest(entries: list[dict]) -> bytes:
    return json.dumps([{"paths": ["face_expression_model.bin"], "weights": entries}]).encode()


def test_wrong_sha256_is_a_clear_error(tmp_path):
    tgz = _tgz(tmp_path, {fa.MANIFEST: _manifest([]), fa.WEIGHTS_BIN: b"", fa.LICENSE: b"MIT"})
    with pytest.raises(fa.FaceApiSourceError, match="sha256 .* is not the pinned"):
        fa.load_files(tgz)


def test_truncated_bin_is_a_clear_error():
    entries = [{"name": "w", "shape": [4, 4], "dtype": "float32",
                "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
               {"name": "b", "shape": [4], "dtype": "float32"}]
    full = bytes(range(16)) + np.arange(4, dtype="<f4").tobytes()
    w = fa.decode_weights(_manifest(entries), full)
    np.testing.assert_array_equal(w["w"].ravel(), np.arange(16) * 0.5 - 1.0)  # q * scale + min
    np.testing.assert_array_equal(w["b"], np.arange(4))
    with pytest.raises(fa.FaceApiSourceError, match="truncated"):
        fa.decode_weights(_manifest(entries), full[:-3])


def test_missing_tarball_and_missing_member_are_clear_errors(tmp_path):
    from emofusion.errors import EmofusionError

    with pytest.raises(EmofusionError, match="no such file"):
        fa.load_files(tmp_path / "absent.tgz")
    with pytest.raises(EmofusionError, match="has no package/model"):
        fa.load_files(_tgz(tmp_path, {"package/README.md": b"x"}))


@pytest.mark.skipif(not TGZ.is_file(), reason="npm tarball not cached (npm pack @vladmandic/face-api@1.7.15)")
def test_converter_reproduces_the_committed_conversion(tmp_path):
    convert(tmp_path / "out", TGZ)
    a = (tmp_path / "out" / "model.safetensors").read_bytes()
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256((CONVERTED / "model.safetensors").read_bytes()).hexdigest()


def test_parity_with_the_original_javascript(original):
    g = np.load(GOLDEN)
    x = torch.from_numpy(g["images"]).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        feats = original.frame_features(x).numpy()
        probs = torch.softmax(original.head(torch.from_numpy(feats)), -1).numpy()
    assert len(probs) >= 24 and (g["shapes"][:, 0] != g["shapes"][:, 1]).sum() >= 10  # padding exercised
    assert np.abs(probs - g["probs"]).max() <= 1e-4
    assert np.abs(feats - g["features"]).max() <= 1e-3
    assert (probs.argmax(1) == g["probs"].argmax(1)).all()


def test_stride2_padding_is_tensorflows():
    from emofusion.nets.faceapi import _pad_same

    x = torch.ones(1, 1, 112, 112)
    p = _pad_same(x, 2)
    assert p.shape[-2:] == (113, 113) and p[0, 0, 0, 0] == 1 and p[0, 0, -1, -1] == 0  # 0 top/left, 1 bottom/right
    assert _pad_same(x, 1).shape[-2:] == (114, 114)


def test_ravdess_mapping():
    from emofusion.nets.faceapi import HEAD_CLASSES, RAVDESS_FROM_HEAD, FaceApiExpressionNet
    from emofusion.nets.config import ModelConfig

    names = {"disgusted": "disgust"}
    for rav, i in zip(CLASSES, RAVDESS_FROM_HEAD):
        if rav == "calm":
            assert i == -1
        else:
            assert names.get(HEAD_CLASSES[i], HEAD_CLASSES[i]) == rav
    net = FaceApiExpressionNet(ModelConfig(fusion="face_faceapi", face_size=112)).eval()
    for k in range(len(HEAD_CLASSES)):  # a head that is sure of class k answers the mapped class
        with torch.no_grad():
            net.head.weight.zero_()
            net.head.bias.zero_()
            net.head.bias[k] = 50.0
            out = net.forward_head(torch.zeros(1, 3, 256)).exp()[0]
        assert CLASSES[int(out.argmax())] == names.get(HEAD_CLASSES[k], HEAD_CLASSES[k])
        assert out[CLASSES.index("calm")] < 1e-9 and abs(float(out.sum()) - 1) < 1e-5


def test_features_and_head_compose(original):
    x = torch.rand(2, 3, 3, 112, 112, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        f = original.forward_features(x)
        assert f.shape == (2, 3, 256)
        torch.testing.assert_close(original.forward_head(f), original(x))


def test_faceapi_framing_from_an_mtcnn_box():
    from emofusion.media.faces import cut_padded, faceapi_boxes

    box = faceapi_boxes(np.array([[100, 100, 180, 200]], np.float32))[0]  # 80 wide, 100 tall
    w, h = box[2] - box[0], box[3] - box[1]
    assert abs(w - 80 * 1.23) < 1e-3 and abs(h - 100 * 0.88) < 1e-3
    assert abs((box[1] + box[3]) / 2 - (150 + 11)) < 1e-3  # centre lower by 11 % of the height
    frame = np.full((300, 300, 3), 200, np.uint8)
    crop = cut_padded(frame, box, 112)
    assert crop.shape == (112, 112, 3)
    assert crop[0, 56].max() == 0 and crop[56, 56].min() == 200  # wider than tall: zero bands top and bottom


def test_onnx_export_matches_torch(original, tmp_path):
    pytest.importorskip("onnxruntime")
    from emofusion.export.onnx import export_onnx
    from emofusion.nets.checkpoint import load_checkpoint

    loaded = load_checkpoint(CONVERTED)
    export_onnx(loaded, tmp_path / "face.onnx")  # raises when ONNX and torch differ by > 1e-4


def test_train_face_fine_tunes_the_faceapi_network(tmp_path, monkeypatch):
    """`emofusion train-face --model face_faceapi`: starts from the original weights, trains the head
    only when asked (the backbone stays bit-identical), writes a product-loadable checkpoint."""
    from test_face_model import _fake_ferplus

    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.train.face_pretrain import FaceRender, FaceTrainConfig, train_face

    committed = load_checkpoint(CONVERTED).model
    import emofusion.nets.faceapi as net

    monkeypatch.setattr(net, "pretrained", lambda *a, **k: committed)
    (tmp_path / "fer").mkdir()
    _fake_ferplus(tmp_path / "fer")
    cfg = FaceTrainConfig(epochs=1, batch_size=16, threads=1, lr=1e-2, render=FaceRender(size=112),
                          model="face_faceapi", train="head")
    loaded = load_checkpoint(train_face(tmp_path / "run", cfg, tmp_path / "fer", progress=False))
    assert loaded.model_cfg.fusion == "face_faceapi"
    assert loaded.media_cfg.video.framing == "faceapi" and loaded.media_cfg.video.face_size == 112
    sd, ref = loaded.model.state_dict(), committed.state_dict()
    assert all(torch.equal(sd[k], ref[k]) for k in ref if k.startswith("face."))
    assert not torch.equal(sd["head.weight"], ref["head.weight"])
    assert loaded.meta["licence"].startswith("face-api.js") and "Vladimir Mandic" in loaded.meta["licence"]


def test_the_shipped_face_model_reads_real_faces():
    """models/face on 7 real actor-5 recordings (tests/fixtures/faces_actor05.npz: 3 product-path
    crops each, recordings fixed by rule in scripts/face_faceapi.py): a random model gets >= 5 of 7
    right with probability ~1e-4; the shipped one must."""
    from emofusion.nets.checkpoint import load_checkpoint

    shipped = Path(__file__).resolve().parents[1] / "models" / "face"
    loaded = load_checkpoint(shipped)
    if loaded.model_cfg.fusion != "face_faceapi":
        pytest.skip("models/face is not the face-api.js network")
    d = np.load(FIXTURES / "faces_actor05.npz")
    with torch.no_grad():
        answers = loaded.model(torch.from_numpy(d["faces"]).float() / 255.0).argmax(1).numpy()
    right = [CLASSES[a] == t for a, t in zip(answers, d["labels"])]
    assert sum(right) >= 5, list(zip([CLASSES[a] for a in answers], d["labels"]))
