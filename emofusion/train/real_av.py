"""`emofusion evaluate-real`: every model in a models dir on real audio-visual recordings no model
trained on, through the product's own media path.

RAVDESS actor 5 (a test actor of fold 1: its 60 recordings; real face video as the reference
design's 224 px crops, re-cropped by our face path at each model's own framing, size and frame
count, with the voice from its FLAC) and the CREMA-D clips (a new actor and set-up: a smoke test).
Each model gets its inputs from `load_clip` + `ClipInputs.model_inputs` with its own MediaConfig,
exactly as `emofusion predict` and the web app do; a fusion model is also scored with the faces
zeroed and with the voice zeroed (how the product feeds a missing stream), which tells whether it
uses both. Writes RESULTS/real_av.{json,md}; the README's table of the shipped models is a copy of
the markdown (scripts/update_readme.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.constants import AUDIO, CLASSES, FACES

HELP = "score every model in a models dir on real audio-visual recordings (RAVDESS actor 5, CREMA-D)"
CALM = CLASSES.index("calm")
COMMAND = "emofusion evaluate-real --models models --out results/shipped"


def add_arguments(p) -> None:
    p.add_argument("--models", type=Path, default=Path("models"), help="a dir of model dirs (default: models)")
    p.add_argument("--out", type=Path, default=Path("results/shipped"), help="results dir (default: results/shipped)")
    p.add_argument("--only", default="", help="comma-separated model names to score (default: all)")
    p.add_argument("--score-weights", type=Path, default=Path("results/fusion/score_fusion.json"),
                   help="weights of the score-level baseline (emofusion train-fusion --score-weights); "
                        "the row is left out when the file is absent")


def _row(y: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    from emofusion.train.metrics import classify

    pred = probs.argmax(1)
    m, nc = classify(y, pred), classify(y[y != CALM], pred[y != CALM])
    return {"accuracy": round(100 * m["accuracy"], 1), "macro_f1": round(100 * m["macro_f1"], 1),
            "non_calm_accuracy": round(100 * nc["accuracy"], 1), "n": int(len(y)),
            "recall": {c: round(100 * v["recall"], 1) for c, v in m["per_class"].items() if v["support"]},
            "confusion": m["confusion"]}


def actor5_pairs() -> list[tuple[str, Path, Path, int]]:
    """(name, face-crop AVI, FLAC, label) of actor 5's real audio-visual recordings."""
    from emofusion.data.faces_labelled import shared_data

    root, speech = shared_data("ravdess-a05-faces"), shared_data("ravdess-speech") / "Actor_05"
    out = []
    for avi in sorted(root.glob("01-01-*_facecroppad.avi")):
        stem = avi.name.replace("_facecroppad.avi", "")
        flac = speech / ("03" + stem[2:] + ".flac")
        if flac.is_file():
            out.append((stem, avi, flac, int(stem.split("-")[2]) - 1))
    return out


def cremad_clips() -> list[tuple[str, Path, Path, int]]:
    from emofusion.data.cremad import cremad_label
    from emofusion.data.faces_labelled import shared_data

    return [(p.name, p, p, CLASSES.index(cremad_label(p))) for p in sorted(shared_data("cremad-av").glob("*.mp4"))
            if cremad_label(p)]


def inputs_for(video: Path, audio: Path, media_cfg, wants: tuple[str, ...]) -> tuple[dict[str, np.ndarray], bool]:
    """Model inputs of one recording for one MediaConfig, through load_clip (faces from `video`,
    voice from `audio`, which may be the same file); and whether a face was found."""
    from emofusion.media.clip import ClipInputs, load_clip

    faces = found = None
    if FACES in wants:
        v = load_clip(video, media_cfg, want=(FACES,))
        faces, found = v.faces, v.face_found
    a = load_clip(audio, media_cfg, want=(AUDIO,)).audio if AUDIO in wants else None
    clip = ClipInputs(str(video), a, faces, found)
    return clip.model_inputs(media_cfg), faces is not None


def _probs(model, feeds: dict[str, np.ndarray], zero: str | None = None) -> np.ndarray:
    import torch

    x = {k: torch.as_tensor(v) for k, v in feeds.items()}
    if zero is not None:
        x[zero] = torch.zeros_like(x[zero])
    with torch.no_grad():
        return torch.softmax(model(*[x[k] for k in model.inputs]), dim=-1).numpy()


def score(models: dict[str, Any], recordings: list[tuple[str, Path, Path, int]], progress: str = "",
          pool_weights: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rows per model (and per fusion with a stream zeroed) on `recordings`; with `pool_weights`
    (w_voice, w_face) also the score-level baseline over the `audio` and `face` models."""
    from emofusion.probs import log_linear_pool

    from tqdm import tqdm

    y = np.array([r[3] for r in recordings])
    rows: dict[str, Any] = {}
    decoded: dict[str, tuple[dict[str, np.ndarray], int]] = {}  # models with one MediaConfig share a decode
    probs: dict[str, np.ndarray] = {}
    for name, m in models.items():
        wants = tuple(m.model.inputs)
        key = json.dumps([m.media_cfg.to_dict(), wants], sort_keys=True)
        if key not in decoded:
            feeds, found = [], 0
            for _, video, audio, _ in tqdm(recordings, desc=f"{progress}{name}", leave=False):
                f, ok = inputs_for(video, audio, m.media_cfg, wants)
                feeds.append(f)
                found += ok
            decoded[key] = {k: np.stack([f[k] for f in feeds]) for k in (AUDIO, FACES)}, found
        batch, found = decoded[key]
        probs[name] = _probs(m.model, batch)
        rows[name] = {**_row(y, probs[name]), "inputs": list(wants),
                      **({"face_found": found} if FACES in wants else {})}
        if AUDIO in wants and FACES in wants:
            rows[f"{name} (faces zeroed)"] = _row(y, _probs(m.model, batch, FACES))
            rows[f"{name} (voice zeroed)"] = _row(y, _probs(m.model, batch, AUDIO))
    if pool_weights and "audio" in probs and "face" in probs:
        rows["score fusion"] = _row(y, log_linear_pool(probs["audio"], probs["face"], pool_weights["w_voice"],
                                                       pool_weights["w_face"]))
    return rows


def load_models(models_dir: Path, only: list[str]) -> dict[str, Any]:
    from emofusion.errors import UsageError
    from emofusion.nets.checkpoint import load_checkpoint

    dirs = sorted(d for d in models_dir.iterdir() if (d / "config.json").is_file()) if models_dir.is_dir() else []
    if only:
        dirs = [d for d in dirs if d.name in only]
    if not dirs:
        raise UsageError(f"{models_dir}: no model dirs (model.safetensors + config.json) to score")
    return {d.name: load_checkpoint(d) for d in dirs}


def evaluate(models_dir: Path, out: Path, only: list[str] | None = None,
             pool_weights: Path | None = None) -> dict[str, Any]:
    from emofusion.errors import UsageError

    models = load_models(models_dir, only or [])
    weights = json.loads(pool_weights.read_text()) if pool_weights and pool_weights.is_file() else None
    res: dict[str, Any] = {"command": COMMAND, "models": {n: {"sha256": m.sha256, "kind": m.model_cfg.fusion}
                                                          for n, m in models.items()},
                           "score_fusion": weights}
    for where, recs in (("actor5", actor5_pairs()), ("cremad", cremad_clips())):
        if not recs:
            raise UsageError(f"no {where} recordings found under ../shared/data (set EMOFUSION_SHARED)")
        res[where] = {"n": len(recs), "rows": score(models, recs, f"{where}: ", weights)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "real_av.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "real_av.md").write_text(markdown(res))
    return res


def markdown(res: dict[str, Any]) -> str:
    a5, cd = res["actor5"]["rows"], res["cremad"]["rows"]
    lines = [f"| model | actor 5: accuracy ({res['actor5']['n']} real AV recordings) | macro-F1 "
             f"| non-calm accuracy | CREMA-D ({res['cremad']['n']} clips) |", "| --- | --- | --- | --- | --- |"]
    for name, r in a5.items():
        c = cd.get(name)
        cremad = f"{round(c['accuracy'] * c['n'] / 100)}/{c['n']}" if c else "-"
        lines.append(f"| {name} | {r['accuracy']:.1f} % | {r['macro_f1']:.1f} % | {r['non_calm_accuracy']:.1f} % "
                     f"| {cremad} |")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    from emofusion.data.faces_labelled import FaceDataError
    from emofusion.errors import UsageError

    try:
        res = evaluate(args.models, args.out, [s for s in args.only.split(",") if s], args.score_weights)
    except FaceDataError as exc:
        raise UsageError(str(exc)) from exc
    print(markdown(res))
    print(f"wrote {args.out / 'real_av.json'} and {args.out / 'real_av.md'}")
    return 0
