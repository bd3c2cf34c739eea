"""IA / LT on the pretrained streams: what is saved, what the frontends feed, how faces are paired,
the score-level baseline, and that the trainer's loop learns (on synthetic cached inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emofusion.constants import CLASSES

REPO_MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module", params=["ia_fw", "lt_fw"])
def model(request):
    from emofusion.nets.registry import create_model

    torch.manual_seed(0)
    return create_model(request.param, audio_channels=80, face_size=112, audio_width=32, dropout=0.0).eval()


def test_the_frozen_whisper_encoder_is_not_saved_and_comes_back_on_load(model):
    from emofusion.nets.registry import create_model

    state = model.state_dict()
    assert not [k for k in state if ".encoder." in k]
    assert any(k.startswith("face.") for k in state)  # the face backbone travels with the fusion
    other = create_model(model.cfg)
    other.load_state_dict(state)  # strict: the encoder is filled from the pinned source
    other.eval()
    a, f = torch.randn(2, 80, 200), torch.rand(2, 4, 3, 112, 112)
    with torch.no_grad():
        assert torch.allclose(model(a, f), other(a, f), atol=1e-6)


def test_forward_is_forward_encoded_on_the_frontends(model):
    a, f = torch.randn(2, 80, 200), torch.rand(2, 4, 3, 112, 112)
    with torch.no_grad():
        states, feats = model.encode(a, f)
        assert states.shape[:3] == (model.voice.n_states, 2, 100) and feats.shape == (2, 4, 256)
        assert torch.allclose(model(a, f), model.forward_encoded(states, feats), atol=1e-6)
        assert model.forward_features(a, f).shape == (2, 256)


def test_forward_streams_are_the_plain_forward_on_zeroed_inputs(model):
    """One pass gives what the predictor used to get from three: both streams, faces zeroed, voice
    zeroed; the zero-input frontend outputs it keeps follow new frontend weights."""
    from emofusion.constants import STREAMS

    a, f = torch.randn(2, 80, 200), torch.rand(2, 4, 3, 112, 112)
    zero_a, zero_f = torch.zeros_like(a), torch.zeros_like(f)
    with torch.no_grad():
        got = model.forward_streams(a, f)
        want = model(torch.cat([a, a, zero_a]), torch.cat([f, zero_f, f])).reshape(3, 2, -1).transpose(0, 1)
        assert got.shape == (2, len(STREAMS), len(CLASSES))
        assert torch.allclose(got, want, atol=1e-5)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        changed = dict(state)
        key = next(k for k in state if k.startswith("face.") and k.endswith("bias"))
        changed[key] = state[key] + 0.5
        model.load_state_dict(changed)
        try:
            want = model(torch.cat([a, a, zero_a]), torch.cat([f, zero_f, f])).reshape(3, 2, -1).transpose(0, 1)
            assert torch.allclose(model.forward_streams(a, f), want, atol=1e-5)
        finally:
            model.load_state_dict(state)


def test_only_the_fusion_trains(model):
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert "voice" not in trainable and "face" not in trainable
    assert {"audio_mix", "audio_tcn", "video_tcn", "head"} <= trainable


def _pool(n_per_class=6, k=3):
    """A synthetic face pool; every other face is a "FER+ valid" one (the validation pool)."""
    from emofusion.train.fusion_fw import FacePool

    labels = np.repeat([c for c in range(len(CLASSES)) if CLASSES[c] != "calm"], n_per_class)
    rng = np.random.default_rng(0)
    probs = np.full((len(labels), k, len(CLASSES)), 0.02, np.float16)
    probs[np.arange(len(labels)), :, labels] = 0.9
    feats = rng.normal(size=(len(labels), k, 256)).astype(np.float16)
    source = np.where(np.arange(len(labels)) % 2, "ferplus-valid", "ferplus-train")
    return FacePool(feats, labels, probs, source)


def test_pairing_gives_same_class_faces_and_calm_gets_neutral():
    from emofusion.train.fusion_fw import pair_faces, sequence_accuracy

    pool = _pool()
    y = np.arange(len(CLASSES)).repeat(5)
    faces, views = pair_faces(y, pool, 15, 0.0, np.random.default_rng(0))
    want = np.where(y == CLASSES.index("calm"), CLASSES.index("neutral"), y)
    assert (pool.labels[faces] == want).all() and views.shape == (len(y), 15)
    assert sequence_accuracy(y, pool, faces, views) == 1.0
    faces, _ = pair_faces(y, pool, 15, 1.0, np.random.default_rng(0))
    assert (pool.labels[faces] != want).all()


def test_mismatch_calibration_reaches_the_target_reliability():
    from emofusion.train.fusion_fw import calibrate_mismatch

    pool = _pool()
    y = np.arange(len(CLASSES)).repeat(40)
    p = calibrate_mismatch(y, pool, 0.7, 15, seed=0)
    assert 0.2 <= p <= 0.4  # a perfect face model must be wrong ~30 % of the time


def test_log_linear_pool_and_its_weights():
    from emofusion.probs import choose_pool_weights, log_linear_pool

    rng = np.random.default_rng(0)
    y = rng.integers(0, 8, 400)
    voice = np.full((400, 8), 0.05)
    voice[np.arange(400), y] = 0.65  # an informative voice
    face = rng.dirichlet(np.ones(8), 400)  # a face that knows nothing
    p = log_linear_pool(voice, face, 1.0, 0.0)
    assert np.allclose(p.sum(1), 1) and np.allclose(p, voice / voice.sum(1, keepdims=True), atol=1e-6)
    wv, wf = choose_pool_weights(voice, face, y)
    assert wv > 0.5 and wf <= 0.2


def test_a_fusion_learns_from_cached_inputs():
    """The training step of train_fusion (forward_encoded on states + face features) learns a task
    only the faces can solve: a fusion that ignored a stream could not."""
    from emofusion.nets.registry import create_model

    torch.manual_seed(0)
    m = create_model("ia_fw", audio_channels=80, face_size=112, audio_width=16, dropout=0.0)
    n = 64
    y = torch.randint(0, 8, (n,))
    states = torch.randn(m.voice.n_states, n, 20, m.voice.dim)
    faces = torch.randn(n, 5, 256) * 0.1
    faces[torch.arange(n), :, y] += 2.0  # the class is in the faces only
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=3e-3)
    m.train()
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(m.forward_encoded(states, faces), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        acc = (m.forward_encoded(states, faces).argmax(1) == y).float().mean().item()
    assert acc > 0.9


def test_speech_key_matches_video_to_its_audio():
    from emofusion.train.fusion_fw import speech_key

    assert speech_key("01-01-03-02-01-01-05_facecroppad.avi") == "03-01-03-02-01-01-05"
    assert speech_key("Actor_05/02-01-08-01-02-02-05.mp4") == "03-01-08-01-02-02-05"
    assert speech_key("Actor_01/03-01-01-01-01-01-01.flac") == "03-01-01-01-01-01-01"
    assert speech_key("clip.mp4") is None


@pytest.mark.shared
@pytest.mark.slow
def test_train_fusion_on_real_face_video(tmp_path):
    """The path a user with the RAVDESS video takes (`train-fusion --videos`), on a small real
    fixture built here: actor 5's real face video and voices, laid out as a training actor (1) and
    a validation actor (7) of fold 1; real faces replace paired ones for every clip that has them."""
    import json
    import shutil

    from conftest import shared_path

    from emofusion.train import whisper_cache
    from emofusion.train.fusion_fw import FusionTrainConfig, _real_face_cache, train_fusion

    faces_src, speech_src = shared_path("ravdess-a05-faces"), shared_path("ravdess-speech", "Actor_05")
    data, videos = tmp_path / "speech", tmp_path / "video"
    picks = sorted(faces_src.glob("01-01-0[3-5]-01-01-0*-05_facecroppad.avi"))[:6]
    assert len(picks) == 6
    for k, avi in enumerate(picks):
        actor = 1 if k < 4 else 7
        stem = avi.name.replace("_facecroppad.avi", "")[:-2] + f"{actor:02d}"
        for d, suffix, src in ((data, ".flac", speech_src / ("03" + avi.name[2:20] + ".flac")), (videos, ".avi", avi)):
            (d / f"Actor_{actor:02d}").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, d / f"Actor_{actor:02d}" / (("03" if d is data else "01") + stem[2:] + suffix))
    states = whisper_cache.build(data, tmp_path / "states", "tiny.en", 1.0, progress=False)
    face_model = REPO_MODELS / "face"  # the shipped face-api.js model: its backbone is the fusions'
    cfg = FusionTrainConfig(epochs=1, batch_size=4, mismatch_p=0.0)
    real = tmp_path / "run" / "real_faces.npz"
    _real_face_cache(videos, face_model, cfg, real)
    assert len(np.load(real).files) == 6
    summary = train_fusion(cfg, states, _pool(), face_model, tmp_path / "run", progress=False, real_faces=real)
    assert summary["real_face_clips"] == {"train": 4, "val": 2}
    assert (tmp_path / "run" / "best.pt").is_file()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["best"]["epoch"] == 1


def test_standardised_layer_mix_keeps_its_statistics_in_the_file():
    from emofusion.nets.registry import create_model

    m = create_model("ia_fw", audio_channels=80, face_size=48, audio_width=16, audio_norm="standard").eval()
    n, d = m.voice.n_states, m.voice.dim
    m.audio_mix.set_standardisation(torch.full((n, d), 2.0), torch.full((n, d), 3.0))
    state = m.state_dict()
    assert state["audio_mix.state_mean"].shape == (n, d) and float(state["audio_mix.state_std"][0, 0]) == 3.0
    other = create_model(m.cfg)
    other.load_state_dict(state)
    states = torch.randn(n, 2, 12, d)
    x = m.audio_mix(states)
    assert x.shape == (2, 16, 12) and torch.allclose(x, other.eval().audio_mix(states))
    with pytest.raises(ValueError, match="audio_norm"):
        create_model("ia_fw", audio_channels=80, audio_norm="batch")


@pytest.mark.parametrize("name", ["ia", "lt"])
def test_shipped_fusion_answers_change_with_the_face_not_only_the_voice(name, fixtures_dir):
    """Same real voice, real faces of actor 5 (product crop path) of two emotions: the shipped
    fusion's answer must move towards the face's emotion, so it is not the voice alone."""
    from emofusion.constants import AUDIO, FACES
    from emofusion.media.clip import ClipInputs, load_clip
    from emofusion.nets.checkpoint import load_checkpoint

    m = load_checkpoint(REPO_MODELS / name)
    cfg = m.media_cfg
    if m.model_cfg.fusion not in ("ia_fw", "lt_fw"):
        pytest.skip(f"models/{name} is not a pretrained-stream fusion")
    example = Path(__file__).resolve().parents[1] / "emofusion" / "webapp" / "examples" / "1001_DFA_ANG_XX.mp4"
    voice = load_clip(example, cfg, want=(AUDIO,)).audio  # an angry voice
    z = np.load(fixtures_dir / "faces_actor05.npz")
    labels = list(z["labels"])
    probs = {}
    for emotion in ("happy", "sad"):
        faces = z["faces"][labels.index(emotion)]  # (3, 3, 112, 112) uint8
        faces = faces[np.resize(np.arange(len(faces)), cfg.video.n_frames)]
        x = ClipInputs(str(example), voice, faces, np.ones(len(faces), bool)).model_inputs(cfg)
        with torch.no_grad():
            logits = m.model(torch.from_numpy(x[AUDIO])[None], torch.from_numpy(x[FACES])[None])
        probs[emotion] = torch.softmax(logits, -1)[0].numpy()
    happy = CLASSES.index("happy")
    assert probs["happy"][happy] > probs["sad"][happy] + 0.02, probs
    assert np.abs(probs["happy"] - probs["sad"]).max() > 0.05


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ia", "lt"])
def test_shipped_fusion_exports_to_onnx_with_parity_on_a_real_clip(name, tmp_path):
    """The shipped IA / LT through the project's exporter; ONNX Runtime matches PyTorch on the real
    example clip's inputs (the product path) within 1e-4, and at batch 2 (dynamic batch); so do the
    graph's single-stream logits (`stream_logits`) against the model on zeroed inputs."""
    import warnings

    import onnx
    import onnxruntime as ort

    from emofusion.export.onnx import export_onnx, onnx_metadata
    from emofusion.media.clip import load_clip
    from emofusion.nets.checkpoint import load_checkpoint

    ld = load_checkpoint(REPO_MODELS / name)
    path = export_onnx(ld, tmp_path / "model.onnx")  # also checks parity on random feeds
    example = Path(__file__).resolve().parents[1] / "emofusion" / "webapp" / "examples" / "1001_DFA_mixed_HAPface_ANGvoice.mp4"
    x = load_clip(example, ld.media_cfg).model_inputs(ld.media_cfg)
    feeds = {k: np.repeat(x[k][None], 2, axis=0) for k in ld.model.inputs}
    got, streams = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["logits", "stream_logits"], feeds)
    with torch.no_grad():
        want = ld.model(*[torch.from_numpy(feeds[k]) for k in ld.model.inputs]).numpy()
        zeroed = {k: np.zeros_like(v) for k, v in feeds.items()}
        voice_alone = ld.model(torch.from_numpy(feeds["audio"]), torch.from_numpy(zeroed["faces"])).numpy()
        face_alone = ld.model(torch.from_numpy(zeroed["audio"]), torch.from_numpy(feeds["faces"])).numpy()
    assert got.shape == (2, 8) and np.abs(got - want).max() <= 1e-4
    assert streams.shape == (2, 3, 8)
    for i, ref in enumerate((want, voice_alone, face_alone)):
        assert np.abs(streams[:, i] - ref).max() <= 1e-4, i
    assert onnx_metadata(path)["exporter"] == "legacy"  # the fast exporter; dynamo stays the fallback
    # each frontend is in the graph once: the zeroed streams' frontend outputs are constants
    plain = tmp_path / "plain.onnx"
    args = tuple(torch.from_numpy(feeds[k]) for k in ld.model.inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(ld.model, args, str(plain), dynamo=False, input_names=list(ld.model.inputs))

    def convs(p):
        return sum(n.op_type == "Conv" for n in onnx.load(str(p)).graph.node)

    assert convs(path) == convs(plain) > 0


def test_validation_streams_zero_the_stream_they_name(tmp_path):
    """A fusion that can only read the class from the faces: on the validation actors it is right
    with both streams and with the voice zeroed, and at chance with the faces zeroed; a swap of the
    two zeroings (or zeroing both) would fail this."""
    import json

    from emofusion.nets.registry import create_model
    from emofusion.train.fusion_fw import FacePool, ckplus_faces_only, validation_streams

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    m = create_model("ia_fw", audio_channels=80, face_size=48, audio_width=16, dropout=0.0, n_frames=5)
    classes = [c for c in range(len(CLASSES)) if CLASSES[c] != "calm"]
    labels = np.repeat(classes, 6)
    feats = rng.normal(scale=0.1, size=(len(labels), 3, 256))
    feats[np.arange(len(labels)), :, labels] += 2.0  # the class is in the faces only
    pool = FacePool(feats.astype(np.float16), labels, np.zeros((len(labels), 3, 8), np.float16),
                    np.array(["ferplus-valid"] * len(labels)))
    t = 40
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=3e-3)
    m.train()
    for _ in range(60):
        y = rng.choice(classes, 32)
        faces = torch.from_numpy(feats[[rng.choice(np.flatnonzero(labels == c)) for c in y]][:, [0, 1, 2, 0, 1]]).float()
        states = torch.randn(m.voice.n_states, 32, t, m.voice.dim)
        loss = torch.nn.functional.cross_entropy(m.forward_encoded(states, faces), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    clips = [{"actor": a, "label": int(c), "file": f"03-01-0{c + 1}-01-01-01-{a:02d}.flac"}
             for a in (7, 8, 19, 20) for c in classes for _ in range(2)]
    states_dir = tmp_path / "states"
    states_dir.mkdir()
    (states_dir / "index.json").write_text(json.dumps({"clips": clips, "source": "synthetic"}))
    np.save(states_dir / "states.npy", rng.normal(size=(len(clips), m.voice.n_states, t, m.voice.dim)).astype(np.float16))
    r = validation_streams(m, states_dir, pool, fold=1)
    assert r["n"] == len(clips) and r["validation_actors"] == [7, 8, 19, 20]
    assert r["both"]["accuracy"] >= 90 and r["voice_zeroed"]["accuracy"] >= 90
    assert r["faces_zeroed"]["accuracy"] <= 40
    ck = ckplus_faces_only(m, FacePool(pool.feats, pool.labels, pool.probs, np.array(["ckplus"] * len(labels))), t)
    assert ck["n"] == len(labels) and ck["accuracy"] >= 90  # every face class there, read from the faces alone


@pytest.mark.parametrize("bad", [{"drop_voice_p": 0.7, "drop_face_p": 0.5}, {"drop_voice_p": -0.1},
                                 {"time_mask": 1.0}, {"feature_noise": -1.0}])
def test_fusion_training_refuses_impossible_shares(bad):
    from emofusion.errors import UsageError
    from emofusion.train.fusion_fw import FusionTrainConfig

    with pytest.raises(UsageError, match="fusion training"):
        FusionTrainConfig(**bad)
    FusionTrainConfig(drop_voice_p=0.5, drop_face_p=0.5)  # the edge is allowed


def test_probs_face_input_reads_the_face_models_own_answers_and_keeps_them_frozen():
    """face_input="probs": the visual stream's input is the face model's head's per-frame RAVDESS
    log-probabilities (copied from models/face, saved with the fusion, never trained)."""
    from emofusion.nets.registry import create_model
    from emofusion.train.fusion_fw import FusionTrainConfig, build_fusion

    m, mcfg, _, face = build_fusion(FusionTrainConfig(face_input="probs"), REPO_MODELS / "face")
    assert mcfg.face_input == "probs"
    feats = m.encode_faces(torch.rand(2, 5, 3, 48, 48, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        want = torch.log(face.model.head_probs(feats).clamp_min(1e-4))
        assert torch.allclose(m.face_probs(feats), want)
    assert not any(p.requires_grad for p in m.face_probs.parameters())
    state = m.state_dict()
    assert "face_probs.head.weight" in state and "face_probs.log_prior" in state
    other = create_model(mcfg)
    other.load_state_dict(state)
    with torch.no_grad():
        assert torch.equal(other.face_probs(feats), m.face_probs(feats))
    with pytest.raises(ValueError, match="face_input"):
        create_model("ia_fw", audio_channels=80, face_input="pixels")


def test_training_pool_leaves_out_validation_faces_and_ckplus_when_asked():
    from emofusion.train.fusion_fw import FacePool, FusionTrainConfig, training_pool

    pool = _pool()
    pool = FacePool(pool.feats, pool.labels, pool.probs,
                    np.where(np.arange(len(pool.labels)) % 3 == 0, "ckplus", pool.source))
    assert set(training_pool(pool, FusionTrainConfig()).source) == {"ferplus-train", "ckplus"}
    assert set(training_pool(pool, FusionTrainConfig(hold_out_ckplus=True)).source) == {"ferplus-train"}
