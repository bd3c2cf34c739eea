"""The README's recipe end to end, through the real `emofusion` commands, on a small RAVDESS-shaped
audio-visual folder built at test time from real material in ../shared:

    data index -> preprocess -> train (IA, 1 epoch, folds 1 and 2) -> evaluate (run, and one
    checkpoint with the leakage guard) -> export safetensors -> model card -> export ONNX ->
    predict with the new models (torch and ONNX Runtime).

The clips: each actor's real still photo (ravdess-stills) carried across the frame, muxed with
that actor's real RAVDESS speech (ravdess-speech), one clip per emotion, named as RAVDESS names
its audio-visual files (01-01-EE-01-01-01-AA.mp4) under Actor_01 ... Actor_04. Luna-5 fold 1
tests actor 2 and fold 2 actor 3; the other actors of those folds are absent, so the folds are
restricted to the actors present (data.splits.over_present) and validate on one present actor.
Everything is written under pytest's tmp_path. About a minute on 2 cores. With
EMOFUSION_E2E_TIMES=results/bench/e2e_recipe.json the test also writes each command's wall time
there (and a .md beside it): the figures docs/TRAINING.md quotes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, shared_path

pytestmark = [pytest.mark.slow, pytest.mark.shared]

ACTORS = (1, 2, 3, 4)
SR = 22_050
STEPS: list[dict] = []  # each command run: its arguments and wall seconds


def build_fixture(root: Path) -> Path:
    """DATA/Actor_XX/01-01-EE-01-01-01-XX.mp4 for every actor in ACTORS and emotion 1-8."""
    from PIL import Image

    from emofusion.media.audio import read_audio
    from emofusion.media.synth import write_clip

    stills, speech = shared_path("ravdess-stills"), shared_path("ravdess-speech")
    data = root / "ravdess"
    for a in ACTORS:
        face = np.asarray(Image.open(stills / f"Actor_{a:02d}.png").convert("RGB"))
        for e in range(1, 9):
            stem = f"{e:02d}-01-01-01-{a:02d}"
            wave = read_audio(speech / f"Actor_{a:02d}" / f"03-01-{stem}.flac", SR)
            write_clip(data / f"Actor_{a:02d}" / f"01-01-{stem}.mp4", face_image=face, seconds=len(wave) / SR,
                       fps=15, size=(320, 240), audio=wave, sample_rate=SR, seed=10 * a + e)
    return data


def emofusion(cwd: Path, *args: str, module: str = "emofusion", ok: bool = True) -> subprocess.CompletedProcess:
    """A command as a user runs it, from the project folder `cwd` (paths relative to it)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "EMOFUSION_CACHE": str(cwd / "emofusion-cache"),
           "OMP_NUM_THREADS": "2"}
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=300)
    STEPS.append({"command": " ".join(["python -m", module, *args]), "seconds": round(time.monotonic() - t0, 1)})
    if ok:
        assert r.returncode == 0, f"{' '.join(args)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    assert "Traceback" not in r.stdout + r.stderr, r.stderr[-3000:]
    return r


def test_the_recipe_from_a_ravdess_folder_to_predict(tmp_path):
    t0 = time.monotonic()
    build_fixture(tmp_path)
    cwd = tmp_path

    r = emofusion(cwd, "data", "index", "ravdess")
    assert "32 recordings" in r.stdout and "01:8 02:8 03:8 04:8" in r.stdout

    emofusion(cwd, "preprocess", "ravdess", "--out", "cache", "--face-size", "64", "--workers", "2")
    manifest = [json.loads(x) for x in (cwd / "cache" / "manifest.jsonl").read_text().splitlines() if x.strip()]
    assert len(manifest) == 32 and all(m["status"] == "ok" for m in manifest)
    assert min(m["frames_with_face"] for m in manifest) >= 10  # MTCNN finds the real faces

    r = emofusion(cwd, "train", "--cache", "cache", "--out", "run", "--fusion", "ia", "--folds", "1,2",
                  "--epochs", "1", "--batch-size", "8", "--quiet")
    for k, test in ((1, [2]), (2, [3])):
        split = json.loads((cwd / "run" / f"fold_{k}" / "split.json").read_text())
        assert split["test"] == test and len(split["val"]) == 1 and set(split["train"]) <= set(ACTORS)
        assert not set(split["train"]) & set(split["val"] + split["test"])

    emofusion(cwd, "evaluate", "run", "--results-name", "e2e", "--results-dir", "reports", "--quiet")
    results = json.loads((cwd / "reports" / "e2e.json").read_text())
    assert results["n_folds"] == 2 and [f["test_actors"] for f in results["folds"]] == [[2], [3]]
    assert all(f["full"]["n"] == 8 for f in results["folds"])  # 8 emotions of one actor each
    assert results["data"]["actors"] == list(ACTORS) and results["data"]["clips"] == 32
    assert any("absent" in n for n in results["split_notes"])

    # one checkpoint: its own test actor is scored, its validation actor is refused in one line
    best = "run/fold_1/best.pt"
    val_actor = json.loads((cwd / "run" / "fold_1" / "split.json").read_text())["val"][0]
    emofusion(cwd, "evaluate", "--checkpoint", best, "--cache", "cache", "--actors", "2", "--out", "ck", "--quiet")
    r = emofusion(cwd, "evaluate", "--checkpoint", best, "--cache", "cache", "--actors", str(val_actor),
                  "--out", "ck2", "--quiet", ok=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--allow-leak" in r.stderr

    r = emofusion(cwd, "export", best, "--to", "safetensors", "--out", "models/ia")
    assert "wrote models/ia/model.safetensors" in r.stdout
    assert "wrote models/ia/card.json and models/ia/card.md (from run/results.json)" in r.stdout  # export cards it
    r = emofusion(cwd, "export", "models/ia", "--to", "onnx")
    assert r.stdout.strip().splitlines()[-1] == "wrote models/ia/model.onnx"

    # the card speaks for these weights, with this run's figures and data, and no machine's paths
    model = cwd / "models" / "ia"
    card, config = json.loads((model / "card.json").read_text()), json.loads((model / "config.json").read_text())
    weights_sha = hashlib.sha256((model / "model.safetensors").read_bytes()).hexdigest()
    assert config["weights_sha256"] == weights_sha
    assert card["sha256"] == hashlib.sha256(f"{weights_sha}\n".encode() + (model / "config.json").read_bytes()).hexdigest()
    fold1 = results["folds"][0]
    assert card["metrics"]["this_fold"]["full"] == {k: fold1["full"][k] for k in ("accuracy", "macro_f1")}
    assert card["dataset"]["cache_fingerprint"] == results["data"]["cache_fingerprint"]
    md = (model / "card.md").read_text()
    assert "4 actor(s) (1, 2, 3, 4), 32 clips" in md and "24 actors" not in md
    assert f"{100 * fold1['full']['accuracy']:.1f} %" in md
    for f in ("card.json", "card.md", "config.json"):
        assert str(tmp_path) not in (model / f).read_text(), f

    # predict with the new models: both backends give the same answer on a real clip
    clip = "ravdess/Actor_02/01-01-05-01-01-01-02.mp4"
    answers = {}
    for backend in ("torch", "onnxruntime"):
        r = emofusion(cwd, "predict", clip, "--models", "models", "--backend", backend, "--json")
        out = json.loads(r.stdout)[0]
        assert out["ok"] and list(out["models"]) == ["ia"], out
        answers[backend] = out["models"]["ia"]
    assert answers["onnxruntime"]["backend"].startswith("onnxruntime")
    p_torch, p_onnx = (np.array(list(answers[b]["probs"].values())) for b in ("torch", "onnxruntime"))
    assert len(p_torch) == 8 and abs(p_torch.sum() - 1) < 1e-4 and np.abs(p_torch - p_onnx).max() < 1e-3
    total = time.monotonic() - t0
    if os.environ.get("EMOFUSION_E2E_TIMES"):
        write_times(Path(os.environ["EMOFUSION_E2E_TIMES"]), total)
    assert total < 180, f"the recipe took {total:.0f} s (budget 3 min)"


def write_times(path: Path, total: float) -> None:
    from emofusion.provenance import machine

    doc = {"command": "EMOFUSION_E2E_TIMES=results/bench/e2e_recipe.json python -m pytest tests/test_e2e_recipe.py",
           "what": f"the recipe on {len(ACTORS)} actors x 8 clips (real stills + real RAVDESS speech, 320x240 "
                   "15 fps mp4), faces 64 px, IA 1 epoch batch 8 on folds 1-2, CPU",
           "machine": machine(), "load_average_after": list(os.getloadavg()), "total_seconds": round(total, 1),
           "steps": STEPS}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    rows = [f"| `{s['command'].removeprefix('python -m ')}` | {s['seconds']:.1f} |" for s in STEPS]
    path.with_suffix(".md").write_text("\n".join([
        "# The training recipe end to end on a small fixture (CPU)", "", f"Written by `{doc['command']}`: {doc['what']}; "
        f"{doc['machine']['cores']} cores ({doc['machine']['cpu']}), shared with other jobs (load average "
        f"{doc['load_average_after'][0]:.1f} after). Wall seconds per command, each a fresh process (~3 s of it "
        "importing torch).", "", "| command | seconds |", "| --- | --- |", *rows, "",
        f"Total, fixture building included: {total:.1f} s.", ""]))
