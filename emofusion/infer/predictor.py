"""Clip or photo in, every model's answer out: what `emofusion predict`, the web app and benchmarks use.

`emofusion.load(models_dir)` builds a `Predictor` over every model in the directory (or the ones
named). Each model brings its own MediaConfig from its checkpoint; a clip is decoded once per
distinct config, then every model that can read what the clip holds runs on the same inputs:

- a clip with voice and face: every model; each fusion model also runs with the face zeroed and
  with the voice zeroed (one batch), so the answer shows what each stream alone says and which one
  drove the fused decision;
- a still photo, or a clip without audio: a face-only answer (the face model; fusions with the
  voice zeroed), with a notice; a clip without a usable face: a voice-only answer, likewise.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.calibration import read_temperature
from emofusion.config import MediaConfig
from emofusion.constants import AUDIO, FACES
from emofusion.errors import ModelLoadError, ModelsNotFound
from emofusion.infer import shared_frontends
from emofusion.infer.backends import Backend, create_backend
from emofusion.infer.sources import CARD, ModelFiles, card_matches, has_model, onnx_metadata, read_card
from emofusion.media.errors import ClipError, Notice
from emofusion.nets.checkpoint import CheckpointError
from emofusion.probs import softmax

# Streams as users name them, and the model input each one is.
VOICE, FACE = "voice", "face"
STREAM_INPUT = {VOICE: AUDIO, FACE: FACES}
# What a model reads: both streams (a fusion) or one.
FUSION = "fusion"


def model_kind(inputs: tuple[str, ...]) -> str:
    """"fusion" for a model reading both streams, else "voice" or "face"."""
    if AUDIO in inputs and FACES in inputs:
        return FUSION
    return VOICE if AUDIO in inputs else FACE


@dataclass
class LoadedPredictorModel:
    """One model ready to run: its backend, preprocessing config, classes and card."""

    name: str
    backend: Backend
    media_cfg: MediaConfig
    classes: tuple[str, ...]
    card: dict[str, Any] = field(default_factory=dict)  # {} unless the card names these weights
    sha256: str = ""  # identity of the weights + config (nets.checkpoint.model_sha256)
    card_problem: str = ""  # why a card.json beside the weights is not used ("" when none / it matches)
    temperature: float = 1.0  # calibration.json's, when fitted for these weights (emofusion/calibration.py)

    def probs(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The backend's logits -> calibrated probabilities (temperature-scaled softmax)."""
        return softmax(self.backend.run(feeds) / self.temperature)

    def stream_probs(self, feeds: dict[str, np.ndarray]) -> np.ndarray | None:
        """(B, 3, classes) calibrated probabilities in constants.STREAMS order, or None where the
        backend does not compute the single-stream runs itself."""
        logits = self.backend.run_streams(feeds)
        return None if logits is None else softmax(logits / self.temperature)

    @property
    def kind(self) -> str:
        return model_kind(tuple(self.backend.inputs))


def _summary(probs: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
    top = int(np.argmax(probs))
    return {"probs": {c: float(p) for c, p in zip(classes, probs)}, "top": classes[top],
            "top_prob": float(probs[top])}


def decision_driver(fused: np.ndarray, voice: np.ndarray | None, face: np.ndarray | None,
                    classes: tuple[str, ...]) -> dict[str, Any]:
    """Which stream drove a fusion's answer, from what each stream alone says.

    `stream`: "voice" or "face" when only that stream alone gives the fused top class, "both"
    when each alone gives it; when neither does, the stream whose removal lowers the fused top
    class's probability most. `without_voice` / `without_face`: that probability with the stream
    removed minus with both (negative = the stream supported the answer)."""
    top = int(np.argmax(fused))
    label = classes[top]
    if voice is None or face is None:
        only = FACE if voice is None else VOICE
        return {"stream": only, "basis": "only_stream", "without_voice": None, "without_face": None,
                "message": f"only the {only} was available"}
    without_voice = float(face[top] - fused[top])
    without_face = float(voice[top] - fused[top])
    v_top, f_top = classes[int(np.argmax(voice))], classes[int(np.argmax(face))]
    if v_top == label and f_top == label:
        stream, basis = "both", "top"
        message = f"voice and face alone both say {label}"
    elif v_top == label or f_top == label:
        stream, basis = (VOICE, "top") if v_top == label else (FACE, "top")
        other, other_top = (FACE, f_top) if stream == VOICE else (VOICE, v_top)
        message = f"the {stream} alone says {label} too; the {other} alone says {other_top}"
    else:
        stream, basis = (VOICE if without_voice < without_face else FACE), "shift"
        message = (f"neither stream alone says {label} (voice: {v_top}, face: {f_top}); removing the "
                   f"{stream} lowers p({label}) most")
    return {"stream": stream, "basis": basis, "without_voice": round(without_voice, 4),
            "without_face": round(without_face, 4), "message": message}


@dataclass
class ModelResult:
    probs: np.ndarray  # (n_classes,) of the whole clip (mean over windows)
    classes: tuple[str, ...]
    backend: str
    kind: str = FUSION
    # Fusion models only: what each stream alone says (None: that stream is absent from the input).
    streams: dict[str, np.ndarray | None] | None = None

    @property
    def top(self) -> str:
        return self.classes[int(np.argmax(self.probs))]

    @property
    def top_prob(self) -> float:
        return float(np.max(self.probs))

    def to_dict(self) -> dict[str, Any]:
        d = {**_summary(self.probs, self.classes), **certainty(self.probs), "backend": self.backend, "kind": self.kind}
        if self.streams is not None:
            d["streams"] = {s: None if p is None else _summary(p, self.classes) for s, p in self.streams.items()}
            d["driver"] = decision_driver(self.probs, self.streams.get(VOICE), self.streams.get(FACE), self.classes)
        return d


@dataclass
class Analysis:
    """One clip's result. `inputs` keeps the ClipInputs (faces, waveform) for display only."""

    path: str
    models: dict[str, ModelResult] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    windows: list[dict[str, Any]] = field(default_factory=list)
    error: ClipError | None = None
    inputs: Any = None
    media_config: MediaConfig | None = None
    input_kind: str = "clip"  # "clip" (video or audio file) | "photo"
    present: dict[str, bool] = field(default_factory=lambda: {VOICE: False, FACE: False})
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why it did not answer
    # models that hear the voice, best cross-validated first (`voice_ranking`); [] = fusions first
    voice_ranking: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool | None:
        """Whether the fusion models give the same top class (None with fewer than two)."""
        tops = {r.top for r in self.models.values() if r.kind == FUSION}
        n = sum(r.kind == FUSION for r in self.models.values())
        return None if n < 2 else len(tops) == 1

    @property
    def basis(self) -> str | None:
        """What the answers rest on: "face+voice", "face" or "voice"."""
        p = self.present
        return "face+voice" if p[VOICE] and p[FACE] else FACE if p[FACE] else VOICE if p[VOICE] else None

    @property
    def answer(self) -> dict[str, Any] | None:
        """The headline answer. When the voice is there and every loaded model that hears it has a
        5-fold cross-validated accuracy on its card, the best of them answers (`voice_ranking`).
        Otherwise: the first fusion when both streams are there; with one stream, the model made
        for it (face / voice model) if loaded, else the first fusion. `disagree` names the other
        models that strongly disagree (`strong_disagreement`)."""
        if not self.models:
            return None
        order = list(self.models)
        name = None
        if self.present[VOICE]:
            name = next((n for n in self.voice_ranking if n in self.models), None)
        if name is None:
            want = {"face+voice": FUSION, FACE: FACE, VOICE: VOICE}.get(self.basis or "", FUSION)
            name = next((n for n in order if self.models[n].kind == want), None)
            name = name or next((n for n in order if self.models[n].kind == FUSION), order[0])
        r = self.models[name]
        # what the answering model itself read: a voice model's answer is "voice" even when the
        # clip has a face too (never "face+voice" for a single-stream model)
        basis = {VOICE: VOICE, FACE: FACE}.get(r.kind, self.basis)
        return {"model": name, "top": r.top, "top_prob": r.top_prob, "basis": basis, **certainty(r.probs),
                "disagree": strong_disagreement(name, r.top, self.models)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input_kind,
            "streams_present": dict(self.present),
            "answer": self.answer,
            "models": {n: r.to_dict() for n, r in self.models.items()},
            "skipped": dict(self.skipped),
            "agree": self.agree,
            "notices": [n.to_dict() for n in self.notices],
            "timings_ms": {k: round(float(v), 2) for k, v in self.timings_ms.items()},
            "windows": self.windows,
            "error": self.error.to_dict() if self.error is not None else None,
        }


def _media_cfg(backend: Backend, files: ModelFiles, loaded) -> MediaConfig:
    if loaded is not None:
        return loaded.media_cfg
    meta = getattr(backend, "metadata", None) or (onnx_metadata(files.onnx) if files.onnx else {})
    if "media_config" not in meta:
        raise ModelLoadError(f"{files.onnx} carries no media_config metadata; re-export it")
    return MediaConfig.from_dict(json.loads(meta["media_config"]))


def model_names(models_dir: str | Path) -> list[str]:
    """The models in a directory, fusions first (then voice, face), each group alphabetical."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise ModelsNotFound(f"models directory {models_dir}/ does not exist. Run from the project root (it "
                             "ships models/), pass the directory, or train and convert a model: "
                             "emofusion train --help, emofusion export MODEL.pt --to safetensors --out DIR")
    names = sorted(d.name for d in models_dir.iterdir() if d.is_dir() and has_model(d))
    if not names:
        raise ModelsNotFound(f"no model in {models_dir}/ (expected <name>/model.safetensors + config.json, "
                             "or <name>/model.pt): pass another directory or train and convert one")
    return names


def load(models_dir: str | Path = "models", names=None, backend: str = "auto", **kwargs) -> "Predictor":
    """The Predictor over `models_dir`'s models (all of them, or `names`), on `backend`
    (auto | torch | onnxruntime | tensorrt) and `device` (auto | cpu | cuda | cuda:N; auto: the GPU
    when torch sees one). Raises ModelsNotFound / ModelLoadError / CheckpointError /
    DeviceUnavailable (all EmofusionError) with a sentence that says what to do."""
    return Predictor(models_dir, names=names, backend=backend, **kwargs)


class Predictor:
    """`Predictor(models_dir, names, backend).analyze(path) -> Analysis`; `emofusion.load` makes one."""

    def __init__(self, models_dir: str | Path = "models", names=None, backend: str = "auto",
                 device: str | None = None, threads: int | None = None,
                 long_clip_factor: float = 2.0, hop_s: float = 1.8, one_pass_streams: bool = True,
                 share_frontends: bool = True):
        """`one_pass_streams` False: fusions always run their single-stream answers as a batch of
        three zeroed inputs (what the benchmark compares the one-pass graphs with).
        `share_frontends` False: on the CPU (ONNX Runtime, torch) each model runs its own frozen
        frontends instead of one run of each per clip for all (infer/shared_frontends.py)."""
        self.models_dir = Path(models_dir)
        self.long_clip_factor, self.hop_s = long_clip_factor, hop_s
        self.one_pass_streams = one_pass_streams
        self.models: dict[str, LoadedPredictorModel] = {}
        discover = names is None
        names = model_names(self.models_dir) if discover else [names] if isinstance(names, str) else list(names)
        from emofusion.infer.device import resolve_device

        resolve_device(device)  # CUDA asked for and absent: one DeviceUnavailable, before any loading
        for name in names:
            d = self.models_dir / name
            if not has_model(d):
                raise ModelsNotFound(f"no model {name!r}: expected {d}/model.safetensors + config.json "
                                     f"(or model.pt, model.onnx)")
            self.models[name] = self._load(name, d, backend, device, threads, share_frontends)
        if discover:  # fusions first, then the voice and face models
            rank = {FUSION: 0, VOICE: 1, FACE: 2}
            self.models = dict(sorted(self.models.items(), key=lambda kv: (rank[kv[1].kind], kv[0])))
        self.voice_ranking = voice_ranking(self.models)
        on_gpu = [m.backend.where.split()[0] for m in self.models.values() if m.backend.where.startswith("cuda")]
        if on_gpu:  # face detection runs where the models do
            from emofusion.media.faces import use_device

            use_device(on_gpu[0])

    @staticmethod
    def _load(name: str, d: Path, backend: str, device, threads, share_frontends: bool = True) -> LoadedPredictorModel:
        files = ModelFiles.resolve(d)
        loaded = None
        if files.checkpoint is not None:
            from emofusion.nets.checkpoint import load_checkpoint

            loaded = load_checkpoint(files.checkpoint)  # CheckpointError says what is wrong
        try:
            b = create_backend(d, kind=backend, device=device, threads=threads, loaded=loaded,
                               share_frontends=share_frontends)
        except CheckpointError:
            raise
        except (ValueError, RuntimeError, ImportError, OSError) as exc:
            raise ModelLoadError(f"cannot run model {name!r} ({d}) on backend {backend!r}: {exc}") from exc
        cfg = _media_cfg(b, files, loaded)
        sha = loaded.sha256 if loaded is not None else (getattr(b, "metadata", None) or {}).get("source_sha256", "")
        card, problem = read_card(d / CARD), ""
        if card and not card_matches(card, sha):
            card, problem = {}, (f"{d / CARD} describes other weights (its sha256 is not this model's): "
                                 "not used; write the card again with python -m emofusion.export.card")
            warnings.warn(f"model {name!r}: {problem}", stacklevel=2)
        temperature, why = read_temperature(d, sha)
        if why:
            warnings.warn(f"model {name!r}: {why}", stacklevel=2)
        return LoadedPredictorModel(name, b, cfg, tuple(b.classes), card, sha, problem, temperature)

    @property
    def backend(self) -> Backend | None:
        """The first model's backend (all models get the same kind)."""
        return next(iter(self.models.values())).backend if self.models else None

    @property
    def backend_name(self) -> str:
        return ", ".join(sorted({m.backend.label for m in self.models.values()}))

    def decode_plan(self) -> list[tuple[MediaConfig, tuple[str, ...], list[LoadedPredictorModel]]]:
        """(config, streams to decode, models) per decode of a clip. A model joins a decode when
        the streams it reads are decoded with its own settings there (same window; same audio
        settings if it reads audio, same face settings but for the crop side if it reads faces):
        the voice model shares the fusions' audio, the face model their faces (cut at the largest
        side any of them reads, scaled down per model), and nothing is decoded that no model of
        the decode reads."""
        plan: list[list] = []  # [cfg, want, models]

        def same_faces(a, b) -> bool:  # face size aside: smaller faces are scaled from larger crops
            return dataclasses.replace(a, face_size=b.face_size) == b

        for m in self.models.values():
            reads, c = set(m.backend.inputs), m.media_cfg
            for g in plan:
                cfg, want = g[0], g[1]
                if dataclasses.replace(c, video=cfg.video, audio=cfg.audio) != cfg:
                    continue  # another window or clip-length limits
                if AUDIO in reads & want and c.audio != cfg.audio:
                    continue
                if FACES in reads & want and not same_faces(c.video, cfg.video):
                    continue
                video = cfg.video
                if FACES in reads:
                    video = c.video if FACES not in want else dataclasses.replace(
                        cfg.video, face_size=max(c.video.face_size, cfg.video.face_size))
                g[0] = dataclasses.replace(cfg, audio=c.audio if AUDIO in reads else cfg.audio, video=video)
                g[1] = want | reads
                g[2].append(m)
                break
            else:
                plan.append([c, set(reads), [m]])
        return [(cfg, tuple(k for k in (AUDIO, FACES) if k in want), models) for cfg, want, models in plan]

    def analyze(self, path: str | Path) -> Analysis:
        """Decode once per `decode_plan` entry (normally once), run every model that can read the
        input; a ClipError becomes `analysis.error`.

        Clips longer than `long_clip_factor` windows are cut into sliding windows (one decode);
        the clip's prediction is then the mean of the windows' probabilities. Models with the same
        frozen frontend share its run on this clip (infer/shared_frontends.py)."""
        with shared_frontends.sharing():
            return self._analyze(path)

    def _analyze(self, path: str | Path) -> Analysis:
        t_all = time.perf_counter()
        analysis = Analysis(path=str(path), voice_ranking=list(self.voice_ranking))
        seen_notices: set[tuple[str, str]] = set()
        per_window: dict[int, dict[str, Any]] = {}
        plan = self.decode_plan()
        unread: ClipError | None = None  # a one-stream decode found nothing it could read
        for i, (cfg, want, group) in enumerate(plan):
            suffix = "" if i == 0 else f"[{i}]"
            try:
                windows, kind = self._decode(path, cfg, want)
            except ClipError as exc:
                if exc.code == ClipError.NO_STREAMS and len(want) == 1:  # e.g. the voice model, no audio
                    unread = unread or exc
                    for m in group:
                        analysis.skipped[m.name] = f"a {m.kind} model; the input has no {m.kind}"
                    continue
                analysis.error = exc
                analysis.models.clear()
                analysis.skipped.clear()
                analysis.timings_ms["total"] = (time.perf_counter() - t_all) * 1000.0
                return analysis
            analysis.input_kind = kind
            for k, v in stage_timings(windows).items():
                analysis.timings_ms[k + suffix] = v
            for n in windows[0].notices:
                if (n.code, n.message) not in seen_notices:
                    seen_notices.add((n.code, n.message))
                    analysis.notices.append(n)
            if analysis.inputs is None or (len(want) == 2 and analysis.inputs.audio is None
                                           and analysis.inputs.faces is None):
                analysis.inputs, analysis.media_config = windows[len(windows) // 2], cfg
            present = {VOICE: any(w.audio is not None for w in windows),
                       FACE: any(w.faces is not None for w in windows)}
            analysis.present = {s: analysis.present[s] or present[s] for s in present}
            feeds_by_side: dict[int, dict[str, np.ndarray]] = {}
            for m in group:
                side = m.media_cfg.video.face_size if FACES in m.backend.inputs else cfg.video.face_size
                if side not in feeds_by_side:
                    c = dataclasses.replace(cfg, video=dataclasses.replace(cfg.video, face_size=side))
                    feeds_by_side[side] = _stack([w.model_inputs(c) for w in windows])
                t0 = time.perf_counter()
                result, per_window_probs = self._run(m, feeds_by_side[side], present, self.one_pass_streams)
                analysis.timings_ms[m.name] = (time.perf_counter() - t0) * 1000.0
                if result is None:
                    absent = VOICE if m.kind == VOICE else FACE
                    analysis.skipped[m.name] = f"a {m.kind} model; the input has no {absent}"
                    continue
                analysis.models[m.name] = result
                if len(windows) > 1:
                    for j, w in enumerate(windows):
                        start = float(w.window_start_s)
                        entry = per_window.setdefault(j, {"start_s": round(start, 3),
                                                          "end_s": round(start + cfg.window_s, 3), "models": {}})
                        entry["models"][m.name] = ModelResult(per_window_probs[j], m.classes, m.backend.label,
                                                              m.kind).to_dict()
        if unread is not None and not analysis.models:  # no decode gave any model something to read
            need = " or ".join(sorted({m.kind for m in self.models.values()}))
            analysis.error = ClipError(ClipError.NO_STREAMS, f"{Path(path).name}: nothing the loaded models "
                                       f"({', '.join(self.models)}) can read: they need a {need}")
            analysis.skipped = {}
            analysis.timings_ms["total"] = (time.perf_counter() - t_all) * 1000.0
            return analysis
        analysis.models = {n: analysis.models[n] for n in self.models if n in analysis.models}
        analysis.skipped = {n: analysis.skipped[n] for n in self.models if n in analysis.skipped}
        analysis.windows = [per_window[j] for j in sorted(per_window)]
        if len(analysis.windows) > 1:
            w = analysis.windows
            analysis.notices.append(Notice(Notice.WINDOWED, (
                f"long clip: {len(w)} windows of {w[0]['end_s'] - w[0]['start_s']:.1f} s every {self.hop_s:g} s "
                f"(0-{w[-1]['end_s']:.1f} s); {WINDOW_RULE} (the timeline shows each window)")))
        _explain_single_stream(analysis)
        analysis.timings_ms["total"] = (time.perf_counter() - t_all) * 1000.0
        return analysis

    @staticmethod
    def _run(m: LoadedPredictorModel, feeds: dict[str, np.ndarray], present: dict[str, bool],
             one_pass: bool = True) -> tuple[ModelResult | None, np.ndarray | None]:
        """The model's clip-level result and per-window probabilities; (None, None) when the
        input holds none of the streams it reads. A fusion with both streams also runs with each
        stream zeroed: in one pass where its backend computes that itself (`run_streams`: each
        frontend once), else as a batch of three."""
        kind = m.kind
        if kind != FUSION:
            if not present[kind]:
                return None, None
            probs = m.probs(feeds)
            return ModelResult(probs.mean(axis=0), m.classes, m.backend.label, kind), probs
        if not (present[VOICE] and present[FACE]):  # one stream: the plain run is that stream alone
            probs = m.probs(feeds)
            mean = probs.mean(axis=0)
            streams = {VOICE: mean if present[VOICE] else None, FACE: mean if present[FACE] else None}
            return ModelResult(mean, m.classes, m.backend.label, kind, streams), probs
        streams = m.stream_probs(feeds) if one_pass else None
        if streams is not None:
            full, voice, face = streams[:, 0], streams[:, 1], streams[:, 2]
        else:
            n = len(feeds[AUDIO])
            zero = {k: np.zeros_like(v) for k, v in feeds.items()}
            batch = {k: np.concatenate([feeds[k],                                  # both streams
                                        feeds[k] if k == AUDIO else zero[k],       # voice alone
                                        feeds[k] if k == FACES else zero[k]])      # face alone
                     for k in feeds}
            probs = m.probs(batch)
            full, voice, face = probs[:n], probs[n:2 * n], probs[2 * n:]
        streams = {VOICE: voice.mean(axis=0), FACE: face.mean(axis=0)}
        return ModelResult(full.mean(axis=0), m.classes, m.backend.label, kind, streams), full

    def _decode(self, path, cfg: MediaConfig, want: tuple[str, ...] = (AUDIO, FACES)) -> tuple[list, str]:
        """(ClipInputs of the centred window or of sliding windows for a long clip, "clip"), or
        ([the photo's ClipInputs], "photo") for a still image (by name, or by content when a
        video reader refuses it)."""
        from emofusion.media import clip as media_clip
        from emofusion.media.still import is_image_path, load_still, looks_like_image
        from emofusion.media.video import probe

        if is_image_path(path):
            return [load_still(path, cfg)], "photo"
        try:
            info = _probe(path, probe)  # once: the decode reuses it
            if info.duration_s > self.long_clip_factor * cfg.window_s:
                return media_clip.clip_windows(path, cfg, hop_s=self.hop_s, want=want, info=info), "clip"
            return [media_clip.load_clip(path, cfg, want=want, info=info)], "clip"
        except ClipError as exc:
            if exc.code != ClipError.TOO_LONG and looks_like_image(path):
                return [load_still(path, cfg)], "photo"
            raise


# How a long clip's windows become one answer (what `analyze` does; the CLI and the page quote it).
WINDOW_RULE = ("each model's whole-clip answer is the mean of its windows' probabilities (every window "
               "weighs the same); the headline is then chosen from those whole-clip answers")

# The answer is "uncertain" (shown as such, not as a bold class) when its top probability is below
# UNSURE_TOP or its lead over the second class below UNSURE_MARGIN: 8 classes at chance are 12.5 %
# each, and a near-uniform answer (e.g. every class 12-15 % with no voice) is not a verdict.
UNSURE_TOP = 0.30
UNSURE_MARGIN = 0.10
# Another model "disagrees strongly" with the headline when it is itself certain (above) and gives a
# different class at least this probable: a happy face over an angry voice must not read as settled.
DISAGREE_TOP = 0.50


def strong_disagreement(answer_name: str, answer_top: str, models: dict[str, "ModelResult"]) -> dict[str, Any]:
    """{model: {"top", "top_prob"}} for every other model that disagrees strongly with the answer."""
    out = {}
    for name, r in models.items():
        if name != answer_name and r.top != answer_top and r.top_prob >= DISAGREE_TOP and certainty(r.probs)["certain"]:
            out[name] = {"top": r.top, "top_prob": round(r.top_prob, 4)}
    return out


def certainty(probs: np.ndarray) -> dict[str, Any]:
    """{"certain": bool, "margin": top1 - top2} by the documented thresholds above."""
    p = np.sort(np.asarray(probs, dtype=np.float64))[::-1]
    margin = float(p[0] - p[1]) if len(p) > 1 else float(p[0])
    return {"certain": bool(p[0] >= UNSURE_TOP and margin >= UNSURE_MARGIN), "margin": round(margin, 4)}


def cv_accuracy(card: dict[str, Any]) -> float | None:
    """Mean test accuracy over >= 5 subject-wise folds of the model's recipe, from its card."""
    folds = ((card.get("metrics") or {}).get("all_folds") or {})
    acc = ((folds.get("full") or {}).get("accuracy") or {})
    return float(acc["mean"]) if acc.get("n", 0) >= 5 and "mean" in acc else None


def voice_ranking(models: dict[str, LoadedPredictorModel]) -> list[str]:
    """The models that hear the voice (fusions and the voice model), best 5-fold accuracy first;
    [] unless every one of them has that figure (then no comparison is made). Cross-validation
    over all folds, not one test fold, decides which model gives the headline answer."""
    hear = {n: cv_accuracy(m.card) for n, m in models.items() if m.kind in (FUSION, VOICE)}
    if len(hear) < 2 or any(v is None for v in hear.values()):
        return []
    return sorted(hear, key=lambda n: -hear[n])


def _explain_single_stream(analysis: Analysis) -> None:
    """Say which models a face-only / voice-only answer comes from (replaces the media layer's
    generic sentence for a missing stream)."""
    basis = analysis.basis
    if basis not in (FACE, VOICE) or not analysis.models:
        return
    alone = [n for n, r in analysis.models.items() if r.kind == basis]
    fused = [n for n, r in analysis.models.items() if r.kind == FUSION]
    missing = VOICE if basis == FACE else FACE
    parts = ([f"{', '.join(alone)} model"] if alone else []) + (
        [f"{', '.join(fused)} with the {missing} zeroed"] if fused else [])
    how = f"{basis}-only answer ({'; '.join(parts)})"
    codes = {Notice.PHOTO: f"a still photo has no voice: {how}",
             Notice.NO_AUDIO: f"no audio track: {how}",
             Notice.NO_VIDEO: f"no video track: {how}",
             Notice.NO_FACE: f"no face found in the video: {how}"}
    analysis.notices = [Notice(n.code, codes[n.code]) if n.code in codes else n for n in analysis.notices]


def _probe(path, probe):
    """Probe the clip (length, streams); unopenable files surface as ClipError(UNREADABLE)."""
    try:
        return probe(path)
    except ClipError:
        raise
    except Exception as exc:  # PyAV raises several types for non-media files
        raise ClipError(ClipError.UNREADABLE, f"cannot read {Path(path).name}: {exc}") from exc


def stage_timings(windows: list) -> dict[str, float]:
    """decode / faces / features in ms: decoding is shared by all windows, the rest adds up. The
    audio decodes on the media pool while the video decodes (media/clip.py), so decoding took the
    longer of the two, not their sum (which could exceed the whole analysis)."""
    first = windows[0].timings_ms
    out = {"decode": max(first.get("decode_audio", 0.0), first.get("decode_video", 0.0)) + first.get("decode_image", 0.0)}
    out["faces"] = sum(w.timings_ms.get("faces", 0.0) for w in windows)
    out["features"] = sum(w.timings_ms.get("audio_features", 0.0) for w in windows)
    return out


def _stack(feeds_list: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One batch (windows on axis 0) from unbatched per-window feeds."""
    return {k: np.ascontiguousarray(np.stack([f[k] for f in feeds_list]), np.float32) for k in feeds_list[0]}
