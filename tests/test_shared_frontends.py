"""Frontends shared between the shipped models (export/split.py, infer/shared_frontends.py).

The voice model, IA and LT read Whisper's frozen encoder; IA and LT the same face backbone. On
ONNX Runtime (CPU) the predictor runs each once per clip: these check that the answers are those
of each model on its own graph, that the frontends really run once, and that models whose
frontends differ do not share.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def predictors():
    import emofusion

    names = ["ia", "lt", "audio"]
    return (emofusion.load(MODELS, names=names, backend="onnxruntime"),
            emofusion.load(MODELS, names=names, backend="onnxruntime", share_frontends=False))


def analyze_both(shared, own, clip):
    """Both predictors' analyses of `clip`; the shared one must run 2 frontends for 5 reads (one
    Whisper run and one face-backbone run for ia, lt and audio) and give the same answers."""
    from emofusion.infer import shared_frontends

    before = dict(shared_frontends.runs)
    a = shared.analyze(clip)
    assert shared_frontends.runs["computed"] - before["computed"] == 2
    assert shared_frontends.runs["reused"] - before["reused"] == 3
    b = own.analyze(clip)
    for name, r in b.models.items():
        np.testing.assert_allclose(a.models[name].probs, r.probs, atol=1e-5)
        for stream, p in (r.streams or {}).items():
            np.testing.assert_allclose(a.models[name].streams[stream], p, atol=1e-5)
    return a, b


def test_shared_frontends_answer_as_each_model_alone_and_run_once(predictors, cremad_dir):
    from emofusion.infer.backends import OrtBackend, SplitOrtBackend

    shared, own = predictors
    assert all(isinstance(m.backend, SplitOrtBackend) for m in shared.models.values())
    assert all(type(m.backend) is OrtBackend for m in own.models.values())
    assert "frontends shared" in shared.models["ia"].backend.reason
    a, b = analyze_both(shared, own, sorted(cremad_dir.glob("*.mp4"))[0])
    assert a.error is None and b.error is None and set(a.models) == {"ia", "lt", "audio"}


def test_torch_models_share_their_frontends_on_the_cpu_too(cremad_dir):
    import emofusion

    names = ["ia", "lt", "audio"]
    shared = emofusion.load(MODELS, names=names, backend="torch")
    own = emofusion.load(MODELS, names=names, backend="torch", share_frontends=False)
    assert all(m.backend.fronts for m in shared.models.values())
    assert not any(m.backend.fronts for m in own.models.values())
    analyze_both(shared, own, sorted(cremad_dir.glob("*.mp4"))[1])


def test_a_long_clip_shares_per_window_batch(predictors, fixtures_dir, tmp_path):
    """A clip cut into windows runs each frontend once on the batch of windows; answers unchanged."""
    from PIL import Image

    from emofusion.infer import shared_frontends
    from emofusion.media.synth import write_clip

    face = np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))
    clip = write_clip(tmp_path / "long.mp4", face_image=face, seconds=9.0, size=(320, 240))
    shared, own = predictors
    before = dict(shared_frontends.runs)
    a, b = shared.analyze(clip), own.analyze(clip)
    assert len(a.windows) > 1 and a.error is None
    assert shared_frontends.runs["computed"] - before["computed"] == 2
    for name, r in b.models.items():
        np.testing.assert_allclose(a.models[name].probs, r.probs, atol=1e-5)
        for j, w in enumerate(b.windows):
            np.testing.assert_allclose(list(a.windows[j]["models"][name]["probs"].values()),
                                       list(w["models"][name]["probs"].values()), atol=1e-5)


def test_split_graphs_match_the_single_graph_at_several_batch_sizes(predictors):
    from emofusion.export.onnx import example_inputs

    shared, own = predictors
    for name in ("ia", "audio"):
        s, o = shared.models[name], own.models[name]
        for batch in (1, 3):
            feeds = example_inputs(s.backend.inputs, s.media_cfg, batch=batch, seed=batch)
            want, got = o.backend.run(feeds), s.backend.run(feeds)
            assert got.shape == (batch, 8)
            assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))
            if name == "ia":
                np.testing.assert_allclose(s.backend.run_streams(feeds), o.backend.run_streams(feeds),
                                           rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))


def test_outputs_are_shared_within_one_analysis_only_and_read_only(predictors):
    from emofusion.export.onnx import example_inputs
    from emofusion.infer import shared_frontends

    m = predictors[0].models["audio"]
    key, run = m.backend.fronts["audio"]
    x = example_inputs(("audio",), m.media_cfg, batch=1)["audio"]
    assert shared_frontends.encode(key, run, x) is not shared_frontends.encode(key, run, x)
    with shared_frontends.sharing():
        out = shared_frontends.encode(key, run, x)
        assert not out.flags.writeable  # shared between models: none may change it
        with shared_frontends.sharing():  # a nested block joins the outer one
            assert shared_frontends.encode(key, run, x) is out
        assert shared_frontends.encode(key, run, x + 1.0) is not out  # other input, computed
    with shared_frontends.sharing():  # a new analysis starts empty
        assert shared_frontends.encode(key, run, x) is not out


def test_concurrent_analyses_do_not_share(predictors):
    """Each thread (a web request) has its own memory: one thread's outputs never reach another."""
    import threading

    from emofusion.export.onnx import example_inputs
    from emofusion.infer import shared_frontends

    m = predictors[0].models["audio"]
    key, run = m.backend.fronts["audio"]
    x = example_inputs(("audio",), m.media_cfg, batch=1)["audio"]
    got = {}

    def other():
        got["other"] = shared_frontends.encode(key, run, x)

    with shared_frontends.sharing():
        mine = shared_frontends.encode(key, run, x)
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert got["other"] is not mine
    np.testing.assert_array_equal(got["other"], mine)


def test_frontend_keys_name_weights_and_preprocessing():
    import torch

    from emofusion.nets.checkpoint import load_checkpoint

    ia = load_checkpoint(MODELS / "ia").model
    lt = load_checkpoint(MODELS / "lt").model
    audio = load_checkpoint(MODELS / "audio").model
    keys = {n: {k: f.key for k, f in m.frontends().items()} for n, m in (("ia", ia), ("lt", lt), ("audio", audio))}
    assert keys["ia"] == keys["lt"]  # both built on the shipped face model and Whisper tiny.en
    assert keys["audio"]["audio"] == keys["ia"]["audio"]
    colour = copy.deepcopy(ia)
    colour.cfg = dataclasses.replace(ia.cfg, face_grey=not ia.cfg.face_grey)
    colour.__dict__.pop("_frontend_keys", None)
    assert colour.frontends()["faces"].key != keys["ia"]["faces"]  # other preprocessing, other key
    other = copy.deepcopy(audio)
    other.__dict__.pop("_frontend_keys", None)
    with torch.no_grad():
        other.encoder.blocks[0].mlp[0].weight[0, 0] += 1e-3
    assert other.frontends()["audio"].key != keys["audio"]["audio"]  # other weights, other key


def test_a_model_whose_split_export_fails_runs_as_one_graph(monkeypatch, tmp_path):
    from emofusion.export import split
    from emofusion.infer.backends import OrtBackend, create_backend

    def broken(loaded):
        raise RuntimeError("split ONNX export differs from torch")

    monkeypatch.setattr(split, "split_graphs", broken)
    b = create_backend(MODELS / "audio", kind="onnxruntime", share_frontends=True)
    assert type(b) is OrtBackend
