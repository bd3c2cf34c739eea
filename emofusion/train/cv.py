"""Speaker-independent cross-validation: one directory per fold, then evaluation of every fold.

The run directory's layout is described in runs.py. Problems a user can fix (folds that do not
exist, a cache or run made with other settings) raise runs.RunError or data errors, all
EmofusionErrors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emofusion.errors import UsageError
from emofusion.train import distributed as D
from emofusion.train.config import SPLIT_PROTOCOLS, TrainConfig
from emofusion.train.report import RESULTS_DIR
from emofusion.train.runs import (RUN_JSON, SPLIT_JSON, TRAIN_JSON, RunError, make_dataset,  # noqa: F401
                                  matching_cache, open_cache)


def fold_splits(cfg: TrainConfig, present=None) -> tuple[list[tuple[int, Any]], list[str]]:
    """([(fold number, Split)], notes) for the configured protocol and folds; with `present` (the
    actors the cache holds) each split is restricted to them (data.splits.over_present: folds with
    no test actor are skipped, absent validation actors replaced) and the notes say what changed."""
    from emofusion.data.splits import custom_split, over_present, protocol_splits

    if cfg.protocol == "custom":
        if not cfg.test_actors:
            raise UsageError("the custom protocol needs --test-actors")
        splits = [custom_split(cfg.test_actors, cfg.val_actors or None, cfg.n_val)]
    else:
        splits = protocol_splits(SPLIT_PROTOCOLS[cfg.protocol], cfg.n_val)
    numbered = list(enumerate(splits, start=1))
    if cfg.folds:
        bad = [f for f in cfg.folds if not 1 <= f <= len(splits)]
        if bad:
            raise UsageError(f"folds {bad} do not exist; protocol {cfg.protocol} has folds 1-{len(splits)}")
        numbered = [(k, s) for k, s in numbered if k in cfg.folds]
    if present is None:
        return numbered, []
    kept, notes = [], []
    for k, split in numbered:
        restricted, why = over_present(split, present, cfg.n_val)
        notes += why
        if restricted is not None:
            kept.append((k, restricted))
    if not kept:
        raise RunError(f"no fold can be tested: the cache holds actors {sorted(set(present))}, none of them a "
                       f"test actor of folds {[k for k, _ in numbered]}")
    return kept, notes


def model_config(cfg: TrainConfig, media):
    """The network's sizes follow the cache's MediaConfig; cfg.model adds options (dropout, ...)."""
    from emofusion.nets.config import ModelConfig

    base = dict(
        fusion=cfg.fusion,
        audio_channels=media.audio.channels,
        audio_planes=media.audio.planes,
        audio_frames=media.audio_frames,
        n_frames=media.video.n_frames,
        face_size=media.video.face_size,
    )
    extra = dict(cfg.model)
    if "face_size" in extra and extra["face_size"] != media.video.face_size:
        raise RunError(
            f"--face-size {extra['face_size']} does not match the cache's faces ({media.video.face_size} px); "
            "preprocess a cache at that size"
        )
    try:
        return ModelConfig.from_dict({**base, **extra})
    except ValueError as exc:
        raise UsageError(f"bad model configuration: {exc}") from None


def extra_caches(cfg: TrainConfig, cache) -> list:
    """The --extra-train-cache caches, each checked to hold the same features as the main one."""
    return [matching_cache(path, cache, "--extra-train-cache") for path in cfg.extra_train_caches]


def provenance(cache, extras: list) -> dict[str, Any]:
    """Machine, libraries and cache fingerprints: what tells two runs of one command apart."""
    from emofusion import provenance as P

    return {"machine": P.machine(), "versions": P.versions(),
            "caches": {str(c.root.resolve()): P.cache_fingerprint(c) for c in (cache, *extras)}}


def model_streams(mcfg) -> tuple[str, ...]:
    from emofusion.nets.registry import create_model

    return tuple(create_model(mcfg).inputs)


def _check_run_dir(out: Path, cfg: TrainConfig, resume: bool) -> None:
    saved = out / TRAIN_JSON
    if resume:
        if saved.exists() and TrainConfig.load(saved) != cfg:
            raise RunError(f"{out} was started with a different configuration ({saved}); resume with the same flags")
    elif any(out.glob("fold_*/last.pt")):
        raise RunError(f"{out} already holds a run; use --resume to continue it or choose another --out")


def run_cv(
    cache_dir: str | Path,
    cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    results_name: str | None = None,
    evaluate: bool = True,
    results_dir: Path = RESULTS_DIR,
) -> Path:
    """Train every selected fold, then (rank 0) evaluate each fold's best model on its test actors."""
    from emofusion.train.loop import train_fold

    out = Path(out_dir)
    cache = open_cache(cache_dir)
    media = cache.config
    mcfg = model_config(cfg, media)
    streams = model_streams(mcfg)
    folds, split_notes = fold_splits(cfg, cache.actors)
    extras = extra_caches(cfg, cache)
    _check_run_dir(out, cfg, resume)
    env = D.setup(cfg.device)
    try:
        if env.is_main:
            out.mkdir(parents=True, exist_ok=True)
            cfg.save(out / TRAIN_JSON)
            run_info = {
                "cache": str(Path(cache_dir).resolve()),
                "model_config": mcfg.to_dict(),
                "media_config": media.to_dict(),
                "world_size": env.world,
                "folds": {str(k): s.to_dict() for k, s in folds},
                "split_notes": split_notes,  # folds skipped / changed because actors are absent
                "provenance": provenance(cache, extras),
            }
            (out / RUN_JSON).write_text(json.dumps(run_info, indent=2) + "\n")
            if progress:
                for note in split_notes:
                    print(f"note: {note}", flush=True)
        for k, split in folds:
            fold_dir = out / f"fold_{k}"
            if env.is_main:
                fold_dir.mkdir(parents=True, exist_ok=True)
                (fold_dir / SPLIT_JSON).write_text(json.dumps(split.to_dict(), indent=2) + "\n")
            if env.is_main and progress:
                print(f"fold {k}: train {list(split.train)} val {list(split.val)} test {list(split.test)}", flush=True)
            train_set = make_dataset(cache, split.train, streams, cfg.in_memory)
            if extras:
                from torch.utils.data import ConcatDataset

                train_set = ConcatDataset([train_set] + [make_dataset(c, split.train, streams, cfg.in_memory)
                                                         for c in extras])
            val_set = make_dataset(cache, split.val, streams, cfg.in_memory) if split.val else None
            meta = {"fold": k, "split": split.to_dict(), "cache": str(Path(cache_dir).resolve())}
            teachers = None
            if cfg.teachers:
                from emofusion.train.distill import load_teachers

                teachers = load_teachers(cfg.teachers, k, split.test, media, env.device)
                meta["teachers"] = teachers.sources
            train_fold(mcfg, cfg, train_set, val_set, fold_dir, media, meta, resume=resume, env=env,
                       progress=progress, teachers=teachers)
        D.barrier(env)
        if evaluate and env.is_main:
            from emofusion.train.evaluate import evaluate_run

            evaluate_run(out, results_name=results_name, progress=progress, results_dir=results_dir)
        D.barrier(env)
    finally:
        D.teardown(env)
    return out
