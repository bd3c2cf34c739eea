"""The face-api.js face model's recipe (issue 26): framing sweep, candidate comparison, the rule that ships.

    python scripts/face_faceapi.py sweep     # zero-shot: FER+/CK+ render zoom and the MTCNN crop recipe
    python scripts/face_faceapi.py candidate NAME [RUN/face.pt]   # score one candidate (cached by sha256)
    python scripts/face_faceapi.py compare NAME=RUN/face.pt ...    # zero-shot vs the fine-tuned runs
    python scripts/face_faceapi.py compare-md # its table again from results/face/face_faceapi_compare.json
    python scripts/face_faceapi.py wise RUN/face.pt ALPHA OUT.pt    # a weight-space ensemble candidate
    python scripts/face_faceapi.py ship      # compare's choice -> models/face (weights, config, licence,
                                             # card), results/face/face_pretrain.{json,md} and _detail.md
    python scripts/face_faceapi.py score     # models/face scored again (results/face/face_pretrain.*), its card
    python scripts/face_faceapi.py card      # models/face's card again from the results files
    python scripts/face_faceapi.py fixture   # tests/fixtures/faces_actor05.npz

Model choice uses FER+ valid and CK+ only, never actor 5 (a test actor) and never FER+ test. The
rule, fixed before any fine-tuned figure was seen: the candidate with the highest FER+ valid
accuracy (majority labels) whose CK+ accuracy (never trained on; the guard that fine-tuning keeps
what the network knows) is at most 2 points below the zero-shot network's. Test figures of every
candidate are written too, for the record, after the choice.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results" / "face"
# issue 26's targets: (bound, lower is better), percent or ms
TARGETS = {"a05_face_accuracy_noncalm": (65.0, False), "ckplus_accuracy": (90.0, False),
           "ferplus_test_accuracy": (82.0, False), "ms_per_face_batch15_2threads": (3.0, True),
           "clip_face_path_ms": (120.0, True)}


def verdict(key: str, value: float) -> str:
    """The face table's target column: the bound and whether the figure meets it."""
    bound, lower = TARGETS[key]
    ok = value <= bound if lower else value >= bound
    unit = " ms" if lower else " %"
    return f"{'<=' if lower else '>='} {bound:g}{unit}: {'met' if ok else '**missed**'}"
CK_GUARD = 2.0  # points of CK+ accuracy a fine-tuned candidate may lose against zero-shot


def zero_shot():
    from emofusion.nets.faceapi import pretrained

    return pretrained()


def ferplus_valid(model, data, r, split="valid") -> dict:
    from emofusion.train.face_pretrain import predict_frames

    idx = data.select(split)
    p = predict_frames(model, data.images[idx], r)
    y = data.majority()[idx]
    pred = p.argmax(1)
    return {"accuracy": round(100 * float((pred == y).mean()), 2),
            "accuracy_without_contempt": round(100 * float((pred[y != 7] == y[y != 7]).mean()), 2),
            "balanced_recall_7": round(100 * float(np.mean([(pred[y == k] == k).mean() for k in range(7)])), 2)}


def ckplus(model, r) -> dict:
    from emofusion.train.face_eval import ckplus_scores

    res = ckplus_scores(model, r)
    return {"accuracy": res["accuracy"], "six_way_accuracy": res["six_way_accuracy"]}


def recipe_scores(model, images: np.ndarray, labels: np.ndarray, recipes: dict, upscale: int = 192) -> dict:
    """Each 48 px image upscaled, MTCNN run once as the product runs it, then every recipe's crop
    classified; `labels` in FER+ order -> 8-class accuracy over the images where a face was found."""
    from PIL import Image

    from emofusion.config import VideoConfig
    from emofusion.media.faces import FaceCropper, cut, cut_padded, faceapi_boxes, square_boxes
    from emofusion.train.face_pretrain import to_ferplus

    cropper = FaceCropper(VideoConfig(detect_max_side=0))
    preds: dict = {k: [] for k in recipes}
    ys, missed = [], 0
    for i in range(0, len(images), 64):
        frames = [np.asarray(Image.fromarray(im).convert("RGB").resize((upscale, upscale), Image.BICUBIC))
                  for im in images[i : i + 64]]
        boxes, _ = cropper.detect(frames)
        hit = ~np.isnan(boxes[:, 0])
        missed += int((~hit).sum())
        ys += list(labels[i : i + 64][hit])
        if not hit.any():
            continue
        for name, (framing, margin) in recipes.items():
            crops = [cut_padded(f, faceapi_boxes(b[None])[0], 112) if framing == "faceapi"
                     else cut(f, square_boxes(b[None], margin)[0], 112)
                     for f, b, h in zip(frames, boxes, hit) if h]
            x = torch.as_tensor(np.stack(crops)).permute(0, 3, 1, 2).float() / 255
            with torch.no_grad():
                preds[name].append(to_ferplus(model, torch.softmax(model.frame_logits(x), -1).numpy()).argmax(1))
    y = np.array(ys)
    return {name: {"accuracy": round(100 * float((np.concatenate(p) == y).mean()), 2), "n": int(len(y)),
                   "no_face": missed} for name, p in preds.items()}


def sweep(out: Path = RESULTS / "face_faceapi_framing.json") -> dict:
    """Zero-shot figures for (1) the zoom at which 48 px FER+/CK+ faces are drawn for the network
    (training and the FER+/CK+ figures) and (2) the product's crop recipe from an MTCNN box."""
    from emofusion.data.faces_labelled import load_ckplus, load_ferplus
    from emofusion.train.face_pretrain import FaceRender

    torch.set_num_threads(1)
    model = zero_shot()
    data = load_ferplus()
    res: dict = {"zoom": {}, "recipe": {}}
    for zoom in (0.9, 1.0, 1.1, 1.23):
        r = FaceRender(size=112, zoom=zoom)
        res["zoom"][str(zoom)] = {"ferplus_valid": ferplus_valid(model, data, r), "ckplus": ckplus(model, r)}
        print(zoom, res["zoom"][str(zoom)], flush=True)
    # training and the FER+/CK+ figures draw faces at the zoom best on FER+ valid (CK+ reported beside it)
    res["chosen_zoom"] = float(max(res["zoom"], key=lambda z: res["zoom"][z]["ferplus_valid"]["accuracy"]))
    print("chosen zoom", res["chosen_zoom"], flush=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    va = data.select("valid")
    ck = load_ckplus()
    keep = ck.labels >= 0
    # CK+ labels are RAVDESS indices; in FER+ order for the shared scorer
    rav_to_fer = {0: 0, 2: 1, 7: 2, 3: 3, 4: 4, 6: 5, 5: 6}
    ck_y = np.array([rav_to_fer[int(v)] for v in ck.labels[keep]])
    recipes = {"faceapi": ("faceapi", 0.0), "square_margin_0.2": ("square", 0.2), "square_margin_0": ("square", 0.0)}
    res["recipe"] = {"ferplus_valid": recipe_scores(model, data.images[va], data.majority()[va], recipes),
                     "ckplus": recipe_scores(model, ck.images[keep], ck_y, recipes)}
    print(res["recipe"], flush=True)
    res["command"] = "python scripts/face_faceapi.py sweep"
    res["note"] = ("zero-shot face-api.js network; zoom = rendered crop side / 48 px source side (FER+/CK+ "
                   "drawn at 112 px); recipe = MTCNN on the image upscaled to 192 px, then that crop "
                   "(accuracy over the images where MTCNN found a face; CK+ scored over the 7 FER+ classes)")
    out.write_text(json.dumps(res, indent=1) + "\n")
    return res


def candidate(name: str, ckpt: str | None, zoom: float, cache: Path = Path("/work/cache/faceapi_compare")) -> dict:
    """One candidate's figures: FER+ valid and CK+ (the choice), FER+ test and actor 5 (the record).
    Kept in `cache` by weights sha256, so candidates can be scored as soon as each exists."""
    import hashlib

    from emofusion.config import from_dict
    from emofusion.data.faces_labelled import load_ferplus
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.train.face_eval import actor5_scores
    from emofusion.train.face_pretrain import FaceRender

    torch.set_num_threads(1)
    if ckpt is None:
        model, r = zero_shot(), FaceRender(size=112, zoom=zoom)
        sha = hashlib.sha256(b"zero-shot %f" % zoom).hexdigest()
    else:
        loaded = load_checkpoint(ckpt)
        model, r, sha = loaded.model.eval(), from_dict(FaceRender, loaded.meta["train_config"]["render"]), loaded.sha256
    path = cache / f"{sha}.json"
    if path.is_file():
        return json.loads(path.read_text())
    data = load_ferplus()
    c = {"checkpoint": ckpt, "sha256": sha, "zoom": r.zoom,
         "ferplus_valid": ferplus_valid(model, data, r), "ckplus": ckplus(model, r)}
    c["ferplus_test"] = ferplus_valid(model, data, r, "test")
    a5 = actor5_scores(model, 112, "faceapi")
    c["actor5"] = {v: {"non_calm": a5[v]["non_calm"]["accuracy"], "all": a5[v]["all"]["accuracy"]}
                   for v in a5 if isinstance(a5[v], dict) and "all" in a5[v]}
    print(name, c, flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(c, indent=1) + "\n")
    return c


def wise(ckpt: str, alpha: float, out: str) -> Path:
    """A weight-space ensemble (WiSE-FT, Wortsman et al. 2022) of the published network and a
    fine-tuned one: every weight (1 - alpha) * zero-shot + alpha * fine-tuned. Another candidate
    for `compare`: it may keep what the published network knows (CK+) while gaining on FER+."""
    from emofusion.nets.checkpoint import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(ckpt)
    base = zero_shot().state_dict()
    tuned = loaded.model.state_dict()
    if set(base) != set(tuned) or any(base[k].shape != tuned[k].shape for k in base):
        raise SystemExit(f"{ckpt} is not the face-api.js network's architecture")
    mixed = {k: (1 - alpha) * base[k] + alpha * tuned[k] if tuned[k].is_floating_point() else tuned[k]
             for k in tuned}
    loaded.model.load_state_dict(mixed)
    meta = {**loaded.meta, "wise_ft": {"alpha": alpha, "fine_tuned": str(ckpt)}}
    return save_checkpoint(out, loaded.model, loaded.model_cfg, loaded.media_cfg, meta)


def compare(runs: dict[str, str], out: Path = RESULTS / "face_faceapi_compare.json") -> dict:
    """`runs`: candidate name -> its face.pt (besides zero-shot, always a candidate)."""
    zoom = json.loads((RESULTS / "face_faceapi_framing.json").read_text())["chosen_zoom"]
    res: dict = {"candidates": {"zero-shot": candidate("zero-shot", None, zoom)}}
    # candidates scored by an earlier compare stay in the comparison (their runs need not exist here)
    earlier = json.loads(out.read_text())["candidates"] if out.is_file() else {}
    res["candidates"].update({n: c for n, c in earlier.items() if n != "zero-shot" and n not in runs})
    for name, ck in runs.items():
        res["candidates"][name] = candidate(name, ck, zoom)
        res["candidates"][name]["train"] = _train_summary(ck)
    z_ck = res["candidates"]["zero-shot"]["ckplus"]["accuracy"]
    ok = {n: c for n, c in res["candidates"].items() if c["ckplus"]["accuracy"] >= z_ck - CK_GUARD}
    res["chosen"] = max(ok, key=lambda n: ok[n]["ferplus_valid"]["accuracy"])
    res["rule"] = (f"highest FER+ valid accuracy among candidates whose CK+ accuracy is >= zero-shot's "
                   f"({z_ck}) - {CK_GUARD}; actor 5 and FER+ test are not used")
    res["command"] = ("python scripts/face_faceapi.py compare " + " ".join(f"'{n}={c}'" for n, c in runs.items())
                      + (" (and the earlier compare's candidates)" if earlier else ""))
    out.write_text(json.dumps(res, indent=1) + "\n")
    out.with_suffix(".md").write_text(compare_md(res))
    return res


def _train_summary(ckpt: str) -> dict:
    """The recipe of a fine-tuned candidate, from its checkpoint and its run's log."""
    from emofusion.nets.checkpoint import load_checkpoint

    meta = load_checkpoint(ckpt).meta
    tc = meta["train_config"]
    if "wise_ft" in meta:  # a weight-space ensemble: the recipe is its fine-tuned run's, mixed
        return {**_train_summary(meta["wise_ft"]["fine_tuned"]), "wise_alpha": meta["wise_ft"]["alpha"]}
    log = Path(ckpt).parent / "metrics.jsonl"
    rows = [json.loads(x) for x in log.read_text().splitlines() if x.strip()] if log.is_file() else []
    return {"train": tc["train"], "epochs": len([r for r in rows if "epoch" in r]), "lr": tc["lr"],
            "batch_size": tc["batch_size"], "zoom": tc["render"]["zoom"], "prior_correction": meta.get("prior_correction"),
            "valid_accuracy_by_epoch": [round(100 * r["valid_accuracy"], 2) for r in rows if "epoch" in r],
            "train_minutes": round(sum(r.get("train_seconds", 0) for r in rows) / 60, 1),
            "schedule_changes": [r["schedule_change"] for r in rows if "schedule_change" in r]}


def compare_md(res: dict) -> str:
    lines = [f"Rule (fixed before any fine-tuned figure): {res['rule']}. Chosen: **{res['chosen']}**. "
             "All at render zoom 1.1 (results/face/face_faceapi_framing.json); actor 5 and FER+ test are the record, "
             "not the choice.", "",
             "| candidate | recipe | FER+ valid | CK+ | FER+ test | actor 5 non-calm (our MTCNN on all 15 given frames / "
             "given / given, face-api box) | actor 5 all 60 (same) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, c in res["candidates"].items():
        a = c.get("actor5", {})
        views = [v for v in ("our_crops", "given", "given_faceapi_box") if v in a]
        t = c.get("train")
        recipe = (f"{'head only' if t['train'] == 'head' else 'all layers'}, {t['epochs']} epoch(s) of FER+ train, "
                  f"lr {t['lr']:g}, {t['train_minutes']:.0f} min" if t else "as published")
        if t and "wise_alpha" in t:
            recipe = (f"WiSE-FT: {t['wise_alpha']:g} x ({recipe}) + {1 - t['wise_alpha']:g} x the published "
                      "weights, no training of its own")
        lines.append(f"| {name} | {recipe} | {c['ferplus_valid']['accuracy']:.1f} % | {c['ckplus']['accuracy']:.1f} % "
                     f"| {c.get('ferplus_test', {}).get('accuracy', float('nan')):.1f} % "
                     f"| {' / '.join('%.1f' % a[v]['non_calm'] for v in views)} % "
                     f"| {' / '.join('%.1f' % a[v]['all'] for v in views)} % |")
    return "\n".join(lines) + "\n"


LICENCE_FACEAPI = ("Weights derived from the face-api.js expression network of @vladmandic/face-api 1.7.15, "
                   "MIT License, Copyright (c) Vladimir Mandic (full text: LICENSE-face-api.txt beside the weights).")
LICENCE_FERPLUS = (" Fine-tuned on FER+ (Barsoum et al. 2016, arXiv:1608.01041; labels MIT, Microsoft) on the "
                   "FER-2013 images (Goodfellow et al. 2013), released for research use only: these weights "
                   "inherit FER-2013's research-only terms. No FER+/FER-2013 image, crop or array is in this "
                   "repository.")


def ship(out: Path = REPO / "models" / "face") -> dict:
    """The candidate `compare` chose -> models/face (weights, config, licence, card), then its figures."""
    from emofusion.export.faceapi import convert as convert_faceapi
    from emofusion.nets.checkpoint import convert_checkpoint
    from emofusion.pretrained import faceapi as fa
    from emofusion.train.face_pretrain import FaceRender

    comp = json.loads((RESULTS / "face_faceapi_compare.json").read_text())
    chosen = comp["chosen"]
    for stale in ("card.json", "card.md", "model.safetensors", "config.json", "model.onnx"):
        (out / stale).unlink(missing_ok=True)
    zoom = json.loads((RESULTS / "face_faceapi_framing.json").read_text())["chosen_zoom"]
    if chosen == "zero-shot":
        convert_faceapi(out, meta={"render": FaceRender(size=112, zoom=zoom).__dict__,
                              "chosen_by": comp["rule"]})
    else:
        convert_checkpoint(comp["candidates"][chosen]["checkpoint"], out)
        files = fa.load_files()
        (out / fa.LICENSE_FILE).write_text(f"{fa.ATTRIBUTION}\n\n{files.license}")
    return score(out)


def score(out: Path = REPO / "models" / "face") -> dict:
    """models/face's figures (results/face/face_pretrain.*), then its card: the shipped model again,
    e.g. its speed on an idle machine."""
    from emofusion.train.face_eval import evaluate_face

    evaluate_face(out, RESULTS, command="python scripts/face_faceapi.py ship (after its compare; "
                  "python scripts/face_faceapi.py score scores only)", verdict=verdict)
    return card(out)


def card(out: Path = REPO / "models" / "face") -> dict:
    """models/face's card from compare's choice and the figures `ship` (or face_eval) wrote."""
    from emofusion.export import card as MC
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.train.face_pretrain import model_render

    comp = json.loads((RESULTS / "face_faceapi_compare.json").read_text())
    chosen = comp["chosen"]
    res = json.loads((RESULTS / "face_pretrain.json").read_text())
    loaded = load_checkpoint(out)
    tc = loaded.meta.get("train_config") or {}
    r = model_render(loaded.meta)
    if chosen == "zero-shot":
        data = ("The face-api.js expression network as published (training data undisclosed by its author: "
                "'publicly available datasets and images scraped from the web'; CK+ may have been among them), "
                "converted bit for bit from the npm package (sha256-checked) and unchanged here: it saw no "
                "data of this project. Its 7 classes answer the RAVDESS classes one to one; calm has no face "
                "class and gets probability 0.")
    else:
        wise_ft = loaded.meta.get("wise_ft")
        mix = (f"; then every weight mixed {wise_ft['alpha']:g} x fine-tuned + {1 - wise_ft['alpha']:g} x published "
               "(WiSE-FT, no training of its own)" if wise_ft else "")
        data = (f"The face-api.js expression network (training data undisclosed) fine-tuned here ({chosen}: "
                f"{tc.get('epochs')} epoch(s), lr {tc.get('lr')}{mix}) on the FER+ train split's vote distributions "
                f"over its 7 classes (contempt votes dropped), faces drawn at zoom {r.zoom} at 112 px; model "
                "choice on FER+ valid and CK+ (results/face/face_faceapi_compare.md). Calm has no face class: "
                "probability 0.")
    c = MC.face_card(
        loaded, data=data, licence=LICENCE_FACEAPI + ("" if chosen == "zero-shot" else LICENCE_FERPLUS),
        metrics={"face_pretrain": {k: res[k] for k in ("ferplus_test_accuracy", "ckplus_accuracy",
                                                       "a05_face_accuracy_noncalm",
                                                       "a05_face_accuracy_noncalm_given_crops",
                                                       "a05_face_accuracy_noncalm_all_frames")},
                 "actor5_all_60_product_path": res["actor5"]["product"]["all"]["accuracy"],
                 "benchmark": res["benchmark"], "source": "results/face/face_pretrain.json",
                 "choice": {"chosen": chosen, "rule": comp["rule"], "source": "results/face/face_faceapi_compare.json"}},
        command="bash scripts/reproduce_face_faceapi.sh")
    MC.save_card(out, c, MC.face_markdown(c, r.size, (RESULTS / "face_pretrain.md").read_text()))
    return c


FIXTURE = REPO / "tests" / "fixtures" / "faces_actor05.npz"
# actor 5's recordings for the regression fixture, fixed by rule (not by any model's answers): each
# non-calm emotion's statement 1, repetition 1, strong intensity (neutral: normal, the only one)
FIXTURE_CLIPS = ("01-01-01-01-01-01-05",) + tuple(f"01-01-{e:02d}-02-01-01-05" for e in range(3, 9))
FIXTURE_FRAMES = (2, 7, 12)


def fixture() -> Path:
    """tests/fixtures/faces_actor05.npz: 3 product-path crops (MTCNN + face-api framing, 112 px) of 7
    actor-5 recordings (RAVDESS, CC BY-NC-SA 4.0) with their labels, for the shipped-model check."""
    from emofusion.config import VideoConfig
    from emofusion.constants import CLASSES
    from emofusion.data.faces_labelled import load_actor_faces
    from emofusion.media.faces import FaceCropper

    recs = {r.name: r for r in load_actor_faces()}
    cropper = FaceCropper(VideoConfig(n_frames=15, face_size=112, detect_frames=0, framing="faceapi"))
    crops, labels = [], []
    for name in FIXTURE_CLIPS:
        fc = cropper.crop(list(recs[name].frames))
        crops.append(fc.crops[list(FIXTURE_FRAMES)])
        labels.append(CLASSES[recs[name].label])
    np.savez_compressed(FIXTURE, faces=np.stack(crops), labels=np.array(labels), clips=np.array(FIXTURE_CLIPS))
    return FIXTURE


# INT8 settings measured: every layer quantized (the export's first default); each block alone kept
# float (which layers lose the most when quantized: read on CK+ agreement, dense0 and dense1); those
# two kept float, which scripts/int8_agreement.py then made emofusion.export.quantize.FLOAT_NODES
BLOCKS = ("dense0", "dense1", "dense2", "dense3", "head")
INT8_SETTINGS = (("all layers INT8", ()),
                 *((f"{b} float", (f"^/face/{b}/" if b != "head" else "^/head",)) for b in BLOCKS),
                 ("blocks dense0-1 float", ("^/face/dense0/", "^/face/dense1/")))


def int8(out: Path = RESULTS / "face_faceapi_int8.json", work: Path = Path("/work/cache/faceapi_int8")) -> dict:
    """What static INT8 (ONNX Runtime QDQ, emofusion.export.quantize) costs models/face: calibrated on
    the 24 RAVDESS-still faces of tests/fixtures/faceapi_golden.npz (no test data), scored against
    the FP32 graph on CK+ (RAVDESS answer) and FER+ valid (the answer mapped to FER+ classes)."""
    import onnxruntime as ort

    from emofusion.constants import CLASSES
    from emofusion.data.faces_labelled import FERPLUS_CLASSES, FERPLUS_TO_RAVDESS, load_ckplus, load_ferplus
    from emofusion.export.onnx import export_onnx
    from emofusion.export.quantize import CALIBRATION, quantize_int8
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.train.face_pretrain import FaceRender, render

    work.mkdir(parents=True, exist_ok=True)
    loaded = load_checkpoint(REPO / "models" / "face")
    fp32 = export_onnx(loaded, work / "face.onnx")
    g = np.load(REPO / "tests" / "fixtures" / "faceapi_golden.npz")
    n = loaded.media_cfg.video.n_frames  # the graph's frame axis is fixed: a face is n identical frames
    calib = [{"faces": np.repeat(im.transpose(2, 0, 1)[None, None] / 255.0, n, axis=1).astype(np.float32)}
             for im, name in zip(g["images"], g["names"]) if str(name).startswith("Actor_")]
    graphs = {"fp32": fp32}
    for i, (_, float_nodes) in enumerate(INT8_SETTINGS):
        graphs[f"int8_{i}"] = quantize_int8(fp32, work / f"face.int8_{i}.onnx", calib, float_nodes=float_nodes)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = {k: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for k, p in graphs.items()}
    zoom = json.loads((RESULTS / "face_faceapi_framing.json").read_text())["chosen_zoom"]
    r = FaceRender(size=112, zoom=zoom)

    def answers(images: np.ndarray) -> dict:
        out = {k: [] for k in sess}
        for i in range(0, len(images), 128):
            x = np.repeat(render(images[i : i + 128], r).numpy()[:, None], n, axis=1).astype(np.float32)
            for k, s in sess.items():
                out[k].append(s.run(None, {"faces": x})[0].argmax(1))
        return {k: np.concatenate(v) for k, v in out.items()}

    def scores(a: dict, correct) -> dict:
        return {k: {"accuracy": round(100 * float(correct(a[k]).mean()), 2),
                    "agreement": round(100 * float((a["fp32"] == a[k]).mean()), 2)} for k in a}

    ck = load_ckplus()
    keep = ck.labels >= 0
    res: dict = {"settings": {f"int8_{i}": {"name": name, "float_nodes": list(fl)}
                              for i, (name, fl) in enumerate(INT8_SETTINGS)}}
    res["ckplus"] = scores(answers(ck.images[keep]), lambda p: p == ck.labels[keep])
    data = load_ferplus()
    va = data.select("valid")
    fer_of_rav = {CLASSES.index(v): FERPLUS_CLASSES.index(k) for k, v in FERPLUS_TO_RAVDESS.items() if v}
    y = data.majority()[va]
    res["ferplus_valid"] = scores(answers(data.images[va]), lambda p: np.vectorize(fer_of_rav.get)(p) == y)
    res["sizes_kb"] = {k: round(Path(p).stat().st_size / 1024) for k, p in graphs.items()}
    res["calibration"] = f"{len(calib)} RAVDESS-still faces (tests/fixtures/faceapi_golden.npz), {CALIBRATION} ranges"
    res["command"] = "python scripts/face_faceapi.py int8"
    out.write_text(json.dumps(res, indent=1) + "\n")
    names = {"fp32": "FP32 (ONNX Runtime)", **{k: f"INT8, {v['name']}" for k, v in res["settings"].items()}}
    rows = "".join(f"| {names[k]} | {res['sizes_kb'][k]} KB | {res['ckplus'][k]['accuracy']:.1f} % "
                   f"({res['ckplus'][k]['agreement']:.1f} %) | {res['ferplus_valid'][k]['accuracy']:.1f} % "
                   f"({res['ferplus_valid'][k]['agreement']:.1f} %) |\n" for k in graphs)
    out.with_suffix(".md").write_text(
        "| graph | file | CK+48, RAVDESS answer (top-1 agreement with FP32) | FER+ valid, answer in FER+ "
        "classes (agreement) |\n| --- | --- | --- | --- |\n" + rows
        + f"\nmodels/face; static QDQ, calibration: {res['calibration']}. The one-block rows say which layers "
          "lose the most when quantized; the last row keeps the two that do (read on CK+ agreement). "
          f"Written by `{res['command']}`.\n")
    return res


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "sweep":
        print(json.dumps(sweep(), indent=1))
    elif cmd == "compare":
        print(json.dumps(compare(dict(a.split("=", 1) for a in sys.argv[2:])), indent=1))
    elif cmd == "compare-md":  # the comparison's table again from its record (nothing re-scored)
        out = RESULTS / "face_faceapi_compare.json"
        out.with_suffix(".md").write_text(compare_md(json.loads(out.read_text())))
    elif cmd == "candidate":  # score one candidate now (cached for compare): NAME [CKPT]
        zoom = json.loads((RESULTS / "face_faceapi_framing.json").read_text())["chosen_zoom"]
        print(json.dumps(candidate(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None, zoom), indent=1))
    elif cmd == "wise":  # FINE_TUNED.pt ALPHA OUT.pt
        print(wise(sys.argv[2], float(sys.argv[3]), sys.argv[4]))
    elif cmd == "int8":
        print(json.dumps(int8(), indent=1))
    elif cmd == "fixture":
        print(fixture())
    elif cmd == "ship":
        print(json.dumps(ship()["metrics"], indent=1))
    elif cmd == "score":
        print(json.dumps(score()["metrics"], indent=1))
    elif cmd == "card":  # the card again, from the results files (after face_eval re-scored models/face)
        print(json.dumps(card()["metrics"], indent=1))
    else:
        raise SystemExit(__doc__)
