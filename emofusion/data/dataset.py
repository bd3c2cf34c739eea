"""A torch Dataset over a feature cache: (model inputs, label) per clip.

Cached arrays go through `emofusion.media.clip.model_inputs`, the one converter the web app and
exporters also use, so training sees float inputs exactly as deployment does. Audio caches are
tiny, so `in_memory=True` keeps every entry's arrays (faces stay uint8 until an item is read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from emofusion.constants import AUDIO, FACES
from emofusion.data.cache import FeatureCache

Inputs = dict[str, torch.Tensor]


class CacheDataset(Dataset):
    """Items of `cache` whose actor is in `actors` (all when None).

    `streams` picks the model inputs returned (default: the cache's streams); a stream the cache
    lacks, or a clip lacks (no face found), comes back as zeros, as `model_inputs` documents.
    `transform(inputs) -> inputs` runs on each item's float tensors (augmentation hook).
    """

    def __init__(
        self,
        cache: FeatureCache | str | Path,
        actors: Iterable[int] | None = None,
        *,
        transform: Callable[[Inputs], Inputs] | None = None,
        in_memory: bool = False,
        streams: Iterable[str] | None = None,
    ):
        self.cache = cache if isinstance(cache, FeatureCache) else FeatureCache(cache)
        self.records = self.cache.select(actors)
        self.labels = [int(r["label"]) for r in self.records]
        self.actors = [int(r["actor"]) for r in self.records]
        self.streams = tuple(streams) if streams is not None else self.cache.streams
        unknown = set(self.streams) - {AUDIO, FACES}
        if unknown or not self.streams:
            raise ValueError(f"streams must be a non-empty subset of ({AUDIO!r}, {FACES!r}), got {self.streams}")
        self.transform = transform
        self._memory: list[dict[str, Any]] | None = None
        if in_memory:
            self._memory = [self._load(i) for i in range(len(self.records))]

    def __len__(self) -> int:
        return len(self.records)

    def _load(self, index: int) -> dict[str, Any]:
        arrays = self.cache.load(self.records[index]["id"])
        # Drop what is not wanted before it costs memory.
        return {k: (arrays[k] if k in self.streams else None) for k in (AUDIO, FACES)}

    def __getitem__(self, index: int) -> tuple[Inputs, int]:
        from emofusion.media.clip import model_inputs

        arrays = self._memory[index] if self._memory is not None else self._load(index)
        cfg = self.cache.config
        feeds = model_inputs(arrays[AUDIO], arrays[FACES], cfg)
        inputs: Inputs = {name: torch.from_numpy(np.ascontiguousarray(feeds[name])) for name in self.streams}
        if self.transform is not None:
            inputs = self.transform(inputs)
        return inputs, self.labels[index]
