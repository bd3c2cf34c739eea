"""A training run on disk, and the caches and checkpoints it reads: the layer below cv, evaluate and
ensemble (they all import it; it imports none of them).

RUN_DIR/
  train_config.json   the TrainConfig (resume reads it back and refuses a different one)
  run.json            cache path, model config, the folds and their actors
  fold_k/             split.json, metrics.jsonl, last.pt, best.pt, test_metrics.json, *.png
  results.json/.md    written by `emofusion evaluate RUN_DIR` (run automatically at the end)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emofusion.errors import EmofusionError

RUN_JSON, TRAIN_JSON, SPLIT_JSON = "run.json", "train_config.json", "split.json"


class RunError(EmofusionError):
    """A run directory, a checkpoint or a cache that cannot be used as asked (not a run, a run with
    other settings, caches whose features or clips do not match)."""


def open_cache(path: str | Path):
    """The FeatureCache at `path` (a bad directory raises data.cache.CacheError, an EmofusionError)."""
    from emofusion.data.cache import FeatureCache

    return FeatureCache(path)


def matching_cache(path: str | Path, cache, flag: str):
    """The cache at `path`, refused unless its entries are made like `cache`'s (speed aside)."""
    other = open_cache(path)
    if not other.same_features(cache):
        raise RunError(f"{flag} {path}: made with other feature settings than {cache.root}")
    return other


def make_dataset(cache, actors, streams, in_memory: bool = True):
    """Dataset over `actors` of `cache` giving the model's inputs (a stream the cache lacks = zeros)."""
    from emofusion.data.dataset import CacheDataset

    return CacheDataset(cache, actors, in_memory=in_memory, streams=streams)


def load_model(path: Path):
    """The LoadedModel at `path`, its model in eval mode; a bad file is a RunError."""
    from emofusion.nets.checkpoint import CheckpointError, load_checkpoint

    try:
        loaded = load_checkpoint(path)
    except CheckpointError as exc:
        raise RunError(str(exc)) from None
    loaded.model.eval()
    return loaded


def run_info(run: Path) -> dict[str, Any]:
    """RUN_DIR/run.json, or a RunError naming what `run` is not."""
    if not (run / RUN_JSON).exists():
        raise RunError(f"{run} is not a training run (no {RUN_JSON})")
    return json.loads((run / RUN_JSON).read_text())


def trained_folds(run: Path) -> dict[str, Path]:
    """{fold_k: its directory} for every fold of `run` with a best.pt, in fold order."""
    dirs = sorted((d for d in run.glob("fold_*") if (d / "best.pt").exists()), key=lambda d: int(d.name.split("_")[1]))
    return {d.name: d for d in dirs}
