"""`emofusion evaluate --ensemble RUN RUN ...`: average the class probabilities of several runs.

Each run trained the same folds (same test actors) with another model or recipe; per fold, every
run's best.pt scores the fold's test actors on its own cache, the softmax outputs are averaged and
the mean is scored like a single model. Nothing is tuned on test data: the members and their
equal weights are fixed before scoring.

Test-time augmentation (`--tta-cache`, one run is then enough): each member also scores the same
test clips from speed-perturbed caches (`preprocess --speed`), and its softmax outputs over the
run's cache and those are averaged first. Each clip is scored only from copies of itself, so this is
what a deployed model could do with one clip in hand. Members may read different features (MFCC,
log-mel): each uses the --tta-cache copies made like its own cache, and every member must find
copies at the same speeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.errors import UsageError
from emofusion.probs import softmax
from emofusion.train.report import RESULTS_DIR, markdown, summarise, write_results
from emofusion.train.runs import RunError, TRAIN_JSON, load_model, make_dataset, open_cache, run_info, trained_folds


def member_probabilities(fold_dir: Path, cache, tta: tuple = ()) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(labels, probabilities, test actors) of one run's fold model on that fold's test actors;
    with `tta` caches, the mean of its probabilities over `cache` and each of them."""
    from emofusion.train.loop import predict

    split = json.loads((fold_dir / "split.json").read_text())
    model = load_model(fold_dir / "best.pt").model
    scored = []
    for c in (cache, *tta):
        dataset = make_dataset(c, split["test"], model.inputs, in_memory=False)
        labels, logits = predict(model, dataset)
        scored.append(([r["id"] for r in dataset.records], labels, softmax(logits)))
    ids, labels, _ = scored[0]
    for other_ids, _, _ in scored[1:]:
        if other_ids != ids:
            raise RunError(f"{fold_dir.name}: a --tta-cache holds other test clips than {cache.root}")
    return labels, np.mean([p for _, _, p in scored], axis=0), list(split["test"])


def member_tta(tta: list, caches: list) -> list[tuple]:
    """Per member cache, the TTA caches made with its feature settings (speed aside), in the given
    order; refused unless every member gets copies at the same speeds."""
    opened = [open_cache(p) for p in tta]
    per_member = [tuple(t for t in opened if t.same_features(c)) for c in caches]
    for c, mine in zip(caches, per_member):
        if not mine:
            raise RunError(f"no --tta-cache is made with the feature settings of {c.root}")
    speeds = [sorted(t.speed for t in mine) for mine in per_member]
    for c, s in zip(caches, speeds):
        if s != speeds[0]:
            raise RunError(f"--tta-cache: {c.root} has copies at speeds {s}, {caches[0].root} at {speeds[0]}; "
                            "give every member the same speeds")
    return per_member


def evaluate_ensemble(runs: list[Path], out: Path, results_name: str | None = None,
                      progress: bool = True, tta: list[Path] | tuple = (),
                      results_dir: Path = RESULTS_DIR) -> dict[str, Any]:
    from emofusion.train.metrics import classify

    if len(runs) < 2 and not tta:
        raise UsageError("--ensemble needs at least two runs (or one run with --tta-cache)")
    infos = [run_info(r) for r in runs]
    folds = [trained_folds(r) for r in runs]
    common = sorted(set.intersection(*(set(f) for f in folds)), key=lambda n: int(n.split("_")[1]))
    if not common:
        raise RunError("the runs share no trained fold")
    caches = [open_cache(info["cache"]) for info in infos]
    tta_caches = member_tta(list(tta), caches) if tta else [() for _ in caches]
    scored = []
    for name in common:
        members = [member_probabilities(f[name], c, t) for f, c, t in zip(folds, caches, tta_caches)]
        labels, _, actors = members[0]
        for other_labels, _, other_actors in members[1:]:
            if other_actors != actors or not np.array_equal(other_labels, labels):
                raise RunError(f"{name}: the runs were tested on different clips ({actors} vs {other_actors})")
        mean = np.mean([p for _, p, _ in members], axis=0)
        res = {"full": classify(labels, mean.argmax(1)), "fold": name, "test_actors": actors,
               "members": [classify(labels, p.argmax(1))["accuracy"] for _, p, _ in members]}
        scored.append(res)
        if progress:
            print(f"{name}: ensemble accuracy {res['full']['accuracy']:.3f} "
                  f"(members {', '.join(f'{a:.3f}' for a in res['members'])})")
    first = infos[0]
    train_configs = [json.loads((r / TRAIN_JSON).read_text()) for r in runs]
    label = f"ensemble of {len(runs)} runs" if len(runs) > 1 else first["model_config"]["fusion"]
    if tta:
        label += f" + speed TTA ({', '.join(f'{c.speed:g}' for c in tta_caches[0])})"
    results = {
        "configuration": label,
        "fusion": first["model_config"]["fusion"],
        "protocol": train_configs[0].get("protocol"),
        "n_folds": len(scored),
        "ensemble": [str(r) for r in runs],
        "tta": [{"cache": str(c.root), "speed": c.speed} for c in tta_caches[0]],
        "member_tta": [[str(c.root) for c in t] for t in tta_caches],
        "train_config": train_configs[0],
        "member_train_configs": train_configs,
        "member_provenance": [info.get("provenance") for info in infos],
        "summary": summarise(scored),
        "folds": scored,
    }
    write_results(results, out, results_name, results_dir)
    if progress:
        print(markdown(results))
    return results
