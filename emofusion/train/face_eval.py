"""Score a face model where it matters: FER+ test, CK+48 (never trained on), real RAVDESS video of
actor 5 (a fold-1 test actor: evaluation only) and real CREMA-D clips through the product's path.

Writes results/face/face_pretrain.json / .md and confusion-matrix plots. Views of actor 5:
`product` = each recording's video through `load_clip` with the model's own MediaConfig, exactly as
`emofusion predict` and `evaluate-real` read it (its frames of the centred window, our MTCNN, the
model's framing): the figure the target holds;
`given` = the 15 crops as the reference design's MTCNN cut them (tight box, no margin);
`our_crops` = all 15 given frames re-cropped by our MTCNN + the model's framing (more frames than
the product reads; the 224 px crops are all there is of the frames: parts of a framing reaching
outside them are black); for a face-api-framed model also `given_faceapi_box` = the given crop
taken as the MTCNN box and framed as face-api would, without detecting again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from emofusion.constants import CLASSES
from emofusion.train.metrics import confusion, from_confusion

NON_CALM = [i for i, c in enumerate(CLASSES) if c != "calm"]


def _pct(x: float) -> float:
    return round(100 * float(x), 2)


def _summary(cm: np.ndarray, classes=CLASSES) -> dict[str, Any]:
    m = from_confusion(cm, classes)
    return {"n": m["n"], "accuracy": _pct(m["accuracy"]), "macro_f1": _pct(m["macro_f1"]),
            "recall": {c: _pct(v["recall"]) for c, v in m["per_class"].items() if v["support"]},
            "confusion": m["confusion"]}


@torch.no_grad()
def clip_probs(model, faces_uint8: np.ndarray) -> np.ndarray:
    """(F, 3, S, S) uint8 crops -> the model's RAVDESS probabilities for the clip."""
    x = torch.as_tensor(faces_uint8).float().div(255.0).unsqueeze(0)
    return torch.softmax(model(x), dim=-1)[0].numpy()


def resize_crops(frames: np.ndarray, size: int) -> np.ndarray:
    """(F, H, W, 3) uint8 -> (F, 3, size, size) uint8 (bilinear, as media/faces.cut resizes)."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR)) for f in frames]
                    ).transpose(0, 3, 1, 2)


def ferplus_scores(model, render_cfg) -> dict[str, Any]:
    from emofusion.data.faces_labelled import FERPLUS_CLASSES, load_ferplus
    from emofusion.train.face_pretrain import predict_frames

    data = load_ferplus()
    out = {}
    for name, zoom in (("product_framing", render_cfg.zoom), ("native_framing", 1.0)):
        r = type(render_cfg)(**{**render_cfg.__dict__, "zoom": zoom})
        for split in ("valid", "test"):
            idx = data.select(split)
            pred = predict_frames(model, data.images[idx], r).argmax(1)
            cm = confusion(data.majority()[idx], pred, len(FERPLUS_CLASSES))
            out[f"{split}_{name}"] = _summary(cm, FERPLUS_CLASSES)
    # the evidence for the prior correction of the RAVDESS answer: FER+ valid's balanced recall over
    # the 7 classes that map to RAVDESS, without and with it (face_classifier.log_prior)
    idx = data.select("valid")
    logp = np.log(predict_frames(model, data.images[idx], render_cfg) + 1e-12)
    y = data.majority()[idx]
    from emofusion.train.face_pretrain import to_ferplus

    for key, shift in (("valid_balanced_recall_7_uncorrected", 0.0),
                       ("valid_balanced_recall_7_prior_corrected", to_ferplus(model, model.log_prior.numpy()[None]))):
        pred = (logp - shift).argmax(1)
        out[key] = _pct(np.mean([(pred[y == k] == k).mean() for k in range(7)]))
    return out


def ckplus_scores(model, render_cfg) -> dict[str, Any]:
    """CK+ images of the 6 classes shared with RAVDESS; the answer is the model's RAVDESS argmax
    (prior-corrected; neutral is a possible, always wrong, answer). `six_way`: argmax over the 6
    true classes only."""
    from emofusion.data.faces_labelled import load_ckplus
    from emofusion.train.face_pretrain import render

    ck = load_ckplus()
    keep = ck.labels >= 0
    with torch.no_grad():  # the product's answer: one-frame clips through the whole model
        rav = np.concatenate([torch.softmax(model(render(ck.images[keep][i : i + 256], render_cfg).unsqueeze(1)), -1)
                              .numpy() for i in range(0, int(keep.sum()), 256)])
    y = ck.labels[keep]
    six = sorted(set(y.tolist()))
    res = _summary(confusion(y, rav.argmax(1)))
    masked = np.full_like(rav, -1.0)
    masked[:, six] = rav[:, six]
    res["six_way_accuracy"] = _pct((masked.argmax(1) == y).mean())
    res["subjects"] = int(len(set(ck.subjects[keep].tolist())))
    return res


def _product_view(model, media_cfg) -> tuple[list[int], list[int], int, list[dict]]:
    """Actor 5's recordings through the product's own reader (`load_clip`, as evaluate-real)."""
    from emofusion.constants import FACES
    from emofusion.media.clip import load_clip
    from emofusion.train.real_av import actor5_pairs

    y, p, missed, rows = [], [], 0, []
    for name, video, _, label in actor5_pairs():
        clip = load_clip(video, media_cfg, want=(FACES,))
        if clip.faces is None:
            missed += 1
            continue
        pred = int(clip_probs(model, clip.faces).argmax())
        y.append(label)
        p.append(pred)
        rows.append({"clip": name, "true": CLASSES[label], "pred": CLASSES[pred]})
    return y, p, missed, rows


def actor5_scores(model, size: int, framing: str = "square", media_cfg=None) -> dict[str, Any]:
    """Actor 5 in each view of the module docstring; `product` only where `media_cfg` is given."""
    from emofusion.config import VideoConfig
    from emofusion.data.faces_labelled import load_actor_faces
    from emofusion.media.faces import FaceCropper, cut_padded, faceapi_boxes

    recs = load_actor_faces()
    cropper = FaceCropper(VideoConfig(n_frames=15, face_size=size, detect_frames=0, framing=framing))
    out: dict[str, Any] = {}
    rows = []
    views = ("given", "our_crops") + (("given_faceapi_box",) if framing == "faceapi" else ())
    if media_cfg is not None:
        y, p, missed, product_rows = _product_view(model, media_cfg)
        y, p = np.array(y), np.array(p)
        nc = y != CLASSES.index("calm")
        out["product"] = {"all": _summary(confusion(y, p)), "non_calm": _summary(confusion(y[nc], p[nc])),
                          "no_face_found": missed, "per_clip": product_rows,
                          "frames": media_cfg.video.n_frames, "window_s": media_cfg.window_s}
    for view in views:
        y, p, missed = [], [], 0
        for r in recs:
            if view == "given":
                crops = resize_crops(r.frames, size)
            elif view == "given_faceapi_box":
                h, w = r.frames.shape[1:3]
                box = faceapi_boxes(np.array([[0, 0, w, h]], np.float32))[0]
                crops = np.stack([cut_padded(f, box, size) for f in r.frames]).transpose(0, 3, 1, 2)
            else:
                fc = cropper.crop(list(r.frames))
                if fc.crops is None:
                    missed += 1
                    continue
                crops = fc.crops
            probs = clip_probs(model, crops)
            y.append(r.label)
            p.append(int(probs.argmax()))
            if view == "our_crops":
                rows.append({"clip": r.name, "true": CLASSES[r.label], "pred": CLASSES[int(probs.argmax())]})
        y, p = np.array(y), np.array(p)
        nc = y != CLASSES.index("calm")
        out[view] = {"all": _summary(confusion(y, p)), "non_calm": _summary(confusion(y[nc], p[nc])),
                     "no_face_found": missed}
    out["our_crops"]["per_clip"] = rows
    return out


def cremad_scores(model, media_cfg) -> dict[str, Any]:
    """The 6 CREMA-D clips through the product path: decode -> our MTCNN crops -> face model."""
    from emofusion.constants import FACES
    from emofusion.data.cremad import cremad_label
    from emofusion.data.faces_labelled import shared_data
    from emofusion.media.clip import load_clip

    rows = []
    for path in sorted(p for p in shared_data("cremad-av").glob("*.mp4") if cremad_label(p)):
        clip = load_clip(path, media_cfg, want=(FACES,))
        probs = clip_probs(model, clip.faces)
        true = cremad_label(path)
        rows.append({"clip": path.name, "true": true, "pred": CLASSES[int(probs.argmax())],
                     "p_true": round(float(probs[CLASSES.index(true)]), 3)})
    return {"n": len(rows), "correct": sum(r["true"] == r["pred"] for r in rows), "clips": rows}


# The "target" column's text for a figure: (key, value) -> str. Targets and their verdicts are the
# project's bookkeeping, kept in scripts/ (scripts/face_faceapi.py passes its own); none here.
Verdict = Callable[[str, float], str]


def no_verdict(key: str, value: float) -> str:
    return ""


def benchmark(model, size: int, repeats: int = 20, clip_repeats: int = 10) -> dict[str, Any]:
    """ms a face at batch 15 (one clip's frames) on 1 and 2 threads, median of `repeats`; and the
    whole face path of one 3 s CREMA-D clip (decode, detect, crop, classify), median of `clip_repeats`
    after one untimed run: the first clip of a process also loads MTCNN and the codecs (about a
    second), which a server pays once, not per clip."""
    import time

    from emofusion.data.faces_labelled import shared_data

    before = torch.get_num_threads()
    load_before = os.getloadavg()[0]
    out: dict[str, Any] = {}
    x = torch.rand(1, 15, 3, size, size, generator=torch.Generator().manual_seed(0))
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with torch.inference_mode():
                model(x)
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    model(x)
                    times.append(time.perf_counter() - t0)
            key = f"ms_per_face_batch15_{threads}thread{'s' if threads > 1 else ''}"
            out[key] = round(1000 * float(np.median(times)) / 15, 2)
            out[key + "_best"] = round(1000 * float(np.min(times)) / 15, 2)  # least disturbed by other jobs
        clips = sorted(shared_data("cremad-av").glob("*.mp4"))
        if clips:
            from emofusion.constants import FACES
            from emofusion.media.clip import load_clip

            media_cfg = getattr(model, "_bench_media_cfg", None)
            if media_cfg is not None:
                times = []
                for i in range(clip_repeats + 1):
                    t0 = time.perf_counter()
                    clip = load_clip(clips[0], media_cfg, want=(FACES,))
                    clip_probs(model, clip.faces)
                    if i:  # run 0 warms up
                        times.append(time.perf_counter() - t0)
                out["clip_face_path_ms"] = round(1000 * float(np.median(times)), 1)
                out["clip_face_path_ms_best"] = round(1000 * float(np.min(times)), 1)
                out["clip_repeats"] = clip_repeats
                out["clip"] = clips[0].name
    finally:
        torch.set_num_threads(before)
    out["machine"] = (f"{os.cpu_count()} CPU cores, load {load_before:.1f} before (its own scoring "
                      f"included), {os.getloadavg()[0]:.1f} after")
    return out


def _recall_row(name: str, block: dict[str, Any]) -> str:
    r = block["recall"]
    return f"| {name} | n={block['n']} | " + ", ".join(f"{c} {v:.0f}" for c, v in r.items()) + " |"


def _confusion_md(title: str, cm: list[list[int]], labels) -> list[str]:
    rows = [i for i, row in enumerate(cm) if sum(row) > 0]
    lines = [f"**{title}** (rows: true, columns: answered)", "",
             "| true \\ answered | " + " | ".join(labels) + " |", "| --- " * (len(labels) + 1) + "|"]
    lines += [f"| {labels[i]} | " + " | ".join(str(v) for v in cm[i]) + " |" for i in rows]
    return lines + [""]


def markdown(res: dict[str, Any], verdict: Verdict = no_verdict) -> str:
    f, ck, a5 = res["ferplus"], res["ckplus"], res["actor5"]
    ok = verdict
    target_view = "product" if "product" in a5 else "our_crops"  # records from before the product view
    ft, a5p = f["test_product_framing"]["accuracy"], a5[target_view]["non_calm"]["accuracy"]
    lines = [
        f"Face model `{res.get('model', 'face')}` ({(res.get('meta') or {}).get('variant', 'trained here')}, "
        f"sha256 `{res['checkpoint_sha256'][:12]}`): `{res['command']}`",
        "",
        "| test | what | accuracy | macro-F1 | target |",
        "| --- | --- | --- | --- | --- |",
        f"| FER+ test (majority labels, 8 FER+ classes, n={f['test_product_framing']['n']}) | faces drawn at the "
        f"model's framing | {ft:.1f} % | {f['test_product_framing']['macro_f1']:.1f} % "
        f"| {ok('ferplus_test_accuracy', ft)} |",
        f"| FER+ test, FER+'s own framing | same model | {f['test_native_framing']['accuracy']:.1f} % "
        f"| {f['test_native_framing']['macro_f1']:.1f} % | |",
        f"| FER+ valid (model choice) | model's framing | {f['valid_product_framing']['accuracy']:.1f} % "
        f"| {f['valid_product_framing']['macro_f1']:.1f} % | |",
        f"| CK+48, 6 shared classes (n={ck['n']}, {ck['subjects']} people, never trained on) | RAVDESS answer "
        f"(6-way: {ck['six_way_accuracy']:.1f} %) | {ck['accuracy']:.1f} % | {ck['macro_f1']:.1f} % "
        f"| {ok('ckplus_accuracy', ck['accuracy'])} |",
    ]
    product = a5.get("product", {})
    views = [("product", f"product path, as `emofusion predict` reads it ({product.get('frames')} frames of the "
                         f"{product.get('window_s')} s window)") if product
             else ("our_crops", "MTCNN + the model's framing on all 15 given frames"),
             ("given", "the reference design's crops as given")]  # more views (the 15-frame one): _detail.md
    for view, what in views:
        if view not in a5:
            continue
        v = a5[view]
        target = ok("a05_face_accuracy_noncalm", a5p) if view == target_view else ""
        lines.append(f"| RAVDESS actor 5, 52 non-calm recordings | {what} | {v['non_calm']['accuracy']:.1f} % "
                     f"| {v['non_calm']['macro_f1']:.1f} % | {target} |")
        lines.append(f"| RAVDESS actor 5, all 60 recordings | {what} | {v['all']['accuracy']:.1f} % "
                     f"| {v['all']['macro_f1']:.1f} % | |")
    c = res["cremad"]
    lines.append(f"| CREMA-D, 6 real clips, product path (decode -> our MTCNN -> face model) | smoke test "
                 f"| {c['correct']}/{c['n']} | | |")
    b = res.get("benchmark") or {}
    if b:
        lines.append(f"| ms a face, batch 15, 2 / 1 threads, median (best) of 20; {b['machine']} | "
                     f"{b['ms_per_face_batch15_2threads']:.2f} ({b['ms_per_face_batch15_2threads_best']:.2f}) / "
                     f"{b['ms_per_face_batch15_1thread']:.2f} ({b['ms_per_face_batch15_1thread_best']:.2f}) ms | | "
                     f"| {ok('ms_per_face_batch15_2threads', b['ms_per_face_batch15_2threads'])} |")
        if "clip_face_path_ms" in b:
            runs = (f"warm, median (best) of {b['clip_repeats']}" if "clip_repeats" in b
                    else "median of 3, the first cold")
            best = f" ({b['clip_face_path_ms_best']:.0f})" if "clip_face_path_ms_best" in b else ""
            lines.append(f"| whole face path of one ~3 s clip ({b['clip']}: decode, detect, crop, classify; {runs}) | "
                         f"{b['clip_face_path_ms']:.0f}{best} ms | | "
                         f"| {ok('clip_face_path_ms', b['clip_face_path_ms'])} |")
    if "training" in res:
        t = res["training"]
        lines.append(f"| training time ({t['epochs']} epochs, this 2-core CPU, shared) | "
                     f"{t['train_minutes']:.0f} min | | | |")
    return "\n".join(lines) + "\n"


def detail_markdown(res: dict[str, Any]) -> str:
    """Per-class recall and every confusion matrix (results/face/face_pretrain_detail.md)."""
    from emofusion.data.faces_labelled import FERPLUS_CLASSES

    f, ck, a5 = res["ferplus"], res["ckplus"], res["actor5"]
    views = [v for v in ("product", "our_crops", "given", "given_faceapi_box") if v in a5]
    lines = [f"Face model `{res.get('model', 'face')}`: per-class recall and confusion matrices "
             f"(summary: results/face/face_pretrain.md; command: `{res['command']}`).",
             "", "Actor 5 by view (accuracy, non-calm 52 / all 60): "
             + "; ".join(f"{v} {a5[v]['non_calm']['accuracy']:.1f} / {a5[v]['all']['accuracy']:.1f} %" for v in views)
             + ". product: the recording through load_clip, as the product reads it; our_crops: MTCNN + the "
               "model's framing on all 15 given frames; given_faceapi_box: the given crop taken as the MTCNN box "
               "and framed as face-api does.",
             "", "Per-class recall (%):", "", "| test | n | recall |", "| --- | --- | --- |",
              _recall_row("FER+ test", f["test_product_framing"]), _recall_row("CK+48", ck)]
    for view in views:
        lines.append(_recall_row(f"actor 5 {view}, all 60", a5[view]["all"]))
    lines += ["", "Confusion matrices:", ""]
    lines += _confusion_md("FER+ test", f["test_product_framing"]["confusion"], FERPLUS_CLASSES)
    lines += _confusion_md("CK+48", ck["confusion"], CLASSES)
    for view in views:
        lines += _confusion_md(f"actor 5, {view}, all 60 recordings", a5[view]["all"]["confusion"], CLASSES)
    return "\n".join(lines) + "\n"


def evaluate_face(checkpoint: str | Path, results: str | Path = "results/face", name: str = "face_pretrain",
                  command: str | None = None, verdict: Verdict = no_verdict) -> dict:
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.train.face_pretrain import model_render
    from emofusion.train.plots import confusion_png

    loaded = load_checkpoint(checkpoint)
    model = loaded.model.eval()
    r = model_render(loaded.meta)
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    res = {"checkpoint_sha256": loaded.sha256, "ferplus": ferplus_scores(model, r), "ckplus": ckplus_scores(model, r),
           "actor5": actor5_scores(model, loaded.media_cfg.video.face_size, loaded.media_cfg.video.framing,
                                   loaded.media_cfg),
           "cremad": cremad_scores(model, loaded.media_cfg),
           "command": command or ("emofusion train-face --out RUN (trains, then scores; `python -m "
                                  "emofusion.train.face_eval RUN/face.pt` scores only)")}
    res["ferplus_test_accuracy"] = res["ferplus"]["test_product_framing"]["accuracy"]
    res["ckplus_accuracy"] = res["ckplus"]["accuracy"]
    res["a05_face_accuracy_noncalm"] = res["actor5"]["product"]["non_calm"]["accuracy"]  # what predict answers
    res["a05_face_accuracy_noncalm_all_frames"] = res["actor5"]["our_crops"]["non_calm"]["accuracy"]
    res["a05_face_accuracy_noncalm_given_crops"] = res["actor5"]["given"]["non_calm"]["accuracy"]
    res["meta"] = {k: loaded.meta.get(k) for k in ("best_epoch", "ferplus_valid_accuracy", "train_config")}
    res["meta"].update({k: loaded.meta[k] for k in ("variant", "source", "render", "prior_correction")
                        if k in loaded.meta})
    res["model"] = loaded.model_cfg.fusion
    model._bench_media_cfg = loaded.media_cfg
    res["benchmark"] = benchmark(model, loaded.media_cfg.video.face_size)
    log = Path(checkpoint).parent / "metrics.jsonl"  # the training run's per-epoch log, when beside it
    if log.is_file():
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        epochs = [r for r in rows if "epoch" in r]
        res["training"] = {"epochs": len(epochs),
                           "train_minutes": round(sum(r["train_seconds"] for r in epochs) / 60, 1),
                           "valid_accuracy": [round(100 * r["valid_accuracy"], 2) for r in epochs],
                           "schedule_changes": [r["schedule_change"] for r in rows if "schedule_change" in r]}
    (results / f"{name}.json").write_text(json.dumps(res, indent=1) + "\n")
    (results / f"{name}.md").write_text(markdown(res, verdict))
    (results / f"{name}_detail.md").write_text(detail_markdown(res))
    from emofusion.data.faces_labelled import FERPLUS_CLASSES
    confusion_png(res["ckplus"]["confusion"], results / f"{name}_ckplus.png", "face model on CK+48")
    confusion_png(res["actor5"]["product"]["all"]["confusion"], results / f"{name}_actor5.png",
                  "face model on RAVDESS actor 5 (product path)")
    confusion_png(res["ferplus"]["test_product_framing"]["confusion"], results / f"{name}_ferplus_test.png",
                  "face model on FER+ test", labels=FERPLUS_CLASSES)
    return res


if __name__ == "__main__":
    import sys

    out = evaluate_face(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "results/face")
    print(markdown(out))
