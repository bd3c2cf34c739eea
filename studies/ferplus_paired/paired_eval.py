"""Score the paired-trained models and their baselines on real audio-visual pairs, never trained on.

RAVDESS actor 5 (60 recordings: its real face video, 15 reference crops each, re-cropped by our face
path, 5 evenly spaced frames as the product samples them; with its real speech audio) and the 6
CREMA-D clips through the whole product path (decode -> MTCNN -> features -> model). Rows: audio
model, face model, late fusion (weighted mean of the two; weight chosen on validation actors), and
each fusion model whole, with the voice zeroed and with the faces zeroed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emofusion.constants import AUDIO, CLASSES, FACES
from emofusion.train.metrics import classify

CALM = CLASSES.index("calm")


def _row(y: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    pred = probs.argmax(1)
    m, nc = classify(y, pred), classify(y[y != CALM], pred[y != CALM])
    return {"accuracy": round(100 * m["accuracy"], 1), "macro_f1": round(100 * m["macro_f1"], 1),
            "non_calm_accuracy": round(100 * nc["accuracy"], 1),
            "recall": {c: round(100 * v["recall"], 1) for c, v in m["per_class"].items() if v["support"]},
            "confusion": m["confusion"]}


@torch.no_grad()
def _probs(model, audio: np.ndarray, faces: np.ndarray, zero: str | None = None) -> np.ndarray:
    """Whole-network probabilities (faces as crops in [0, 1]) for a batch; `zero` removes a stream
    the way the product does when it is missing (zeros: silent features / black crops)."""
    a, f = torch.as_tensor(audio), torch.as_tensor(faces)
    if zero == AUDIO:
        a = torch.zeros_like(a)
    if zero == FACES:
        f = torch.zeros_like(f)
    feeds = {AUDIO: a, FACES: f}
    return torch.softmax(model(*[feeds[k] for k in model.inputs]), dim=-1).numpy()


def actor5_inputs(cache, n_frames: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(audio (60,C,T), faces (60,F,3,S,S) float, labels, recordings where our MTCNN found no face)."""
    from emofusion.config import VideoConfig
    from emofusion.data.faces_labelled import load_actor_faces
    from emofusion.media.faces import FaceCropper

    cropper = FaceCropper(VideoConfig(n_frames=n_frames, face_size=size, detect_frames=0))
    audio, faces, labels, missed = [], [], [], 0
    by_stem = {r["id"]: r for r in cache.select([5])}
    for rec in load_actor_faces():
        audio_id = next(k for k, r in by_stem.items() if rec.name[6:] in k)  # same EE-II-SS-RR-AA
        pick = np.round(np.linspace(0, len(rec.frames) - 1, n_frames)).astype(int)
        fc = cropper.crop(list(rec.frames[pick]))
        if fc.crops is None:
            missed += 1
            crops = np.zeros((n_frames, 3, size, size), np.uint8)
        else:
            crops = fc.crops
        audio.append(cache.load(audio_id)["audio"])
        faces.append(crops.astype(np.float32) / 255.0)
        labels.append(rec.label)
    return np.stack(audio), np.stack(faces), np.array(labels), missed


def cremad_inputs(media_cfg) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    from emofusion.data.cremad import cremad_label
    from emofusion.data.faces_labelled import shared_data
    from emofusion.media.clip import load_clip

    a, f, y, names = [], [], [], []
    for path in sorted(shared_data("cremad-av").glob("*.mp4")):
        x = load_clip(path, media_cfg).model_inputs(media_cfg)
        a.append(x[AUDIO]), f.append(x[FACES]), y.append(CLASSES.index(cremad_label(path)))
        names.append(path.name)
    return np.stack(a), np.stack(f), np.array(y), names


def evaluate_all(trained: dict[str, Path], face_ckpt: Path, cache, split, va_a, va_y, va_faces, val_bank,
                 results: Path, compare: dict[str, Path] | None = None) -> dict[str, Any]:
    """`compare`: other models (e.g. the ones shipped before) scored on the same recordings, each
    with its own face size and frame count (their audio features must be the cache's)."""
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.train.plots import confusion_png

    models = {n: load_checkpoint(p) for n, p in trained.items()}
    face = load_checkpoint(face_ckpt)
    any_fusion = next(m for n, m in models.items() if n != "audio")
    n_frames, size = any_fusion.model_cfg.n_frames, any_fusion.model_cfg.face_size
    # late fusion weight on validation actors: audio model on their voices, face model on their FER+ faces
    with torch.no_grad():
        pa_val = torch.softmax(models["audio"].model(va_a), -1).numpy()
        pf_val = torch.softmax(face.model.forward_head(va_faces.transpose(1, 2)), -1).numpy()
    grid = np.round(np.arange(0, 1.0001, 0.05), 2)
    f1 = [classify(va_y, (w * pa_val + (1 - w) * pf_val).argmax(1))["macro_f1"] for w in grid]
    w_audio = float(grid[int(np.argmax(f1))])

    res: dict[str, Any] = {"late_fusion_audio_weight": w_audio, "split": split.to_dict(),
                           "command": "python -m studies.ferplus_paired.paired_cli --cache CACHE --face FACE.pt --out RUN"}
    for where in ("actor5", "cremad"):
        if where == "actor5":
            audio, faces, y, missed = actor5_inputs(cache, n_frames, size)
            extra = {"n": int(len(y)), "no_face_found": missed}
        else:
            audio, faces, y, names = cremad_inputs(any_fusion.media_cfg)
            extra = {"n": int(len(y)), "clips": names}
        a, f = audio.astype(np.float32), faces.astype(np.float32)
        pa = _probs(models["audio"].model, a, f)
        pf = _probs(face.model, a, f)
        rows = {"audio": _row(y, pa), "face": _row(y, pf), "late fusion": _row(y, w_audio * pa + (1 - w_audio) * pf)}
        for name, m in models.items():
            if name == "audio":
                continue
            rows[name] = _row(y, _probs(m.model, a, f))
            rows[f"{name} (voice zeroed)"] = _row(y, _probs(m.model, a, f, AUDIO))
            rows[f"{name} (faces zeroed)"] = _row(y, _probs(m.model, a, f, FACES))
        for label, path in (compare or {}).items():
            other = load_checkpoint(path)
            if other.media_cfg.audio != cache.config.audio:
                continue
            v = other.media_cfg.video
            if where == "actor5":
                oa, of_, _, _ = actor5_inputs(cache, v.n_frames, v.face_size)
            else:
                oa, of_, _, _ = cremad_inputs(other.media_cfg)
            oa, of_ = oa.astype(np.float32), of_.astype(np.float32)
            rows[label] = _row(y, _probs(other.model, oa, of_))
            if FACES in other.model.inputs and AUDIO in other.model.inputs:
                rows[f"{label} (faces zeroed)"] = _row(y, _probs(other.model, oa, of_, FACES))
        res[where] = {**extra, "rows": rows}
    results.mkdir(parents=True, exist_ok=True)
    res["models"] = {n: {"sha256": m.sha256, **{k: m.meta.get(k) for k in ("best_epoch", "best_val_macro_f1",
                                                                            "train_seconds")}}
                     for n, m in models.items()}
    (results / "paired_fold1.json").write_text(json.dumps(res, indent=1) + "\n")
    (results / "paired_fold1.md").write_text(markdown(res))
    (results / "actor5_shipped.md").write_text(shipped_markdown(res))
    for name in ("ia", "lt"):
        if name in res["actor5"]["rows"]:
            confusion_png(res["actor5"]["rows"][name]["confusion"], results / f"paired_fold1_{name}_actor5.png",
                          f"{name.upper()} on RAVDESS actor 5 (real video + voice)")
    return res


def markdown(res: dict[str, Any]) -> str:
    a5, cd = res["actor5"]["rows"], res["cremad"]["rows"]
    lines = ["| model | actor 5: accuracy (60) | macro-F1 | non-calm accuracy (52) | CREMA-D (6 clips) |",
             "| --- | --- | --- | --- | --- |"]
    for name, r in a5.items():
        c = cd[name]
        label = name if name != "late fusion" else f"late fusion (audio weight {res['late_fusion_audio_weight']:.2f})"
        lines.append(f"| {label} | {r['accuracy']:.1f} % | {r['macro_f1']:.1f} % | {r['non_calm_accuracy']:.1f} % "
                     f"| {round(c['accuracy'] * 6 / 100)}/6 |")
    return "\n".join(lines) + "\n"


def shipped_markdown(res: dict[str, Any]) -> str:
    """Only the rows of models that ship (models/): the face model and the `compare` models."""
    a5, cd = res["actor5"]["rows"], res["cremad"]["rows"]
    names = ["face"] + [n for n in a5 if "(shipped" in n]
    lines = ["| shipped model | actor 5: accuracy (60 real AV recordings) | macro-F1 | non-calm accuracy (52) "
             "| CREMA-D (6 clips) |", "| --- | --- | --- | --- | --- |"]
    for n in names:
        r, c = a5[n], cd[n]
        label = n.replace(" (shipped)", "")
        lines.append(f"| {label} | {r['accuracy']:.1f} % | {r['macro_f1']:.1f} % | {r['non_calm_accuracy']:.1f} % "
                     f"| {round(c['accuracy'] * 6 / 100)}/6 |")
    return "\n".join(lines) + "\n"
