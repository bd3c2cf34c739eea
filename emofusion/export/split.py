"""A model with shared frontends as ONNX graphs: one per frontend, one for its head.

Why: on the CPU the shipped voice model, IA and LT each spend ~20 ms in the same frozen Whisper
encoder on the same clip, and IA and LT ~10 ms each in the same face backbone. With the frontends
as graphs of their own, named by what they compute (nets/frontends.py), ONNX Runtime runs each
once per clip (infer/shared_frontends.py). The single-graph export (export/onnx.py) stays what
INT8, TensorRT and Triton use.

Cache layout (under `emofusion.paths.cache_dir("onnx")`):
    frontends/<digest of key + input shape>.onnx   shared by every model with that frontend
    split/<model sha256>/head.onnx                  the head; its metadata names its frontends
A graph is exported once and checked against PyTorch before it takes its name.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emofusion.constants import LOGITS, STREAM_LOGITS
from emofusion.export.onnx import GRAPH_VERSION, OPSET, example_inputs, metadata, onnx_metadata, set_metadata

SPLIT_VERSION = "1"
ENCODED = "{}_encoded"  # the head graph's input for a frontend's output
ATOL = 1e-4  # relative to the output's scale, as export.onnx.verify_parity


@dataclass(frozen=True)
class SplitGraphs:
    """`frontends`: input name -> (key, graph path); `head`: reads ENCODED.format(input) for each."""

    frontends: dict[str, tuple[str, Path]]
    head: Path


def can_split(model) -> bool:
    return bool(getattr(model, "frontends", None) and model.frontends())


def _export(module, args: tuple, inputs: list[str], outputs: list[str], path: Path) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # fixed axes trace to constants; checked after
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes={n: {0: "batch"} for n in inputs + outputs})


def _check(path: Path, feeds: dict[str, np.ndarray], refs: dict[str, np.ndarray]) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = dict(zip(refs, session.run(list(refs), feeds)))
    for name, ref in refs.items():
        diff = float(np.abs(got[name] - ref).max() / max(1.0, float(np.abs(ref).max())))
        if not diff <= ATOL:
            raise RuntimeError(f"split ONNX export {path} ({name}) differs from torch by {diff:.2e} (relative)")


def _save(tmp: Path, out: Path, props: dict[str, str], feeds: dict, refs: dict) -> None:
    import onnx

    proto = onnx.load(str(tmp))
    set_metadata(proto, props)
    onnx.save(proto, str(tmp))
    try:
        _check(tmp, feeds, refs)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def _head_module(model, shapes: dict[str, tuple]):
    """What the head graph traces: the model from its frontends' outputs (a fusion also needs its
    inputs' shapes for its zero-input constants)."""
    import torch

    names = list(model.inputs)

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, *encoded):
            extra = () if len(names) == 1 else tuple(shapes[n] for n in names)
            return self.inner.forward_from_encoded(*encoded, *extra)

    return Head().eval()


def split_graphs(loaded) -> SplitGraphs:
    """The split graphs of a loaded checkpoint (exported now where absent). Raises ValueError for a
    model without shared frontends, RuntimeError when a graph fails its check against PyTorch."""
    import torch

    from emofusion.paths import cache_dir

    model = loaded.model.eval().cpu()
    fronts = model.frontends() if hasattr(model, "frontends") else {}
    if not fronts:
        raise ValueError(f"{type(model).__name__} has no shared frontends")
    names = list(model.inputs)
    root = cache_dir("onnx")
    head_path = root / "split" / loaded.sha256 / "head.onnx"
    meta = onnx_metadata(head_path) if head_path.is_file() else {}
    if meta.get("split_version") == SPLIT_VERSION and meta.get("graph_version") == GRAPH_VERSION:
        stored = json.loads(meta["frontends"])
        paths = {n: (k, root / "frontends" / f"{_digest(k)}.onnx") for n, k in stored.items()}
        if all(p.is_file() for _, p in paths.values()):
            return SplitGraphs(paths, head_path)

    feeds = example_inputs(tuple(names), loaded.media_cfg, batch=2)
    shapes = {n: (1, *feeds[n].shape[1:]) for n in names}
    frontends, encoded = {}, {}
    with torch.no_grad():
        for n in names:
            f = fronts[n]
            key = f"{f.key}|input={'x'.join(str(d) for d in shapes[n][1:])}"
            path = root / "frontends" / f"{_digest(key)}.onnx"
            x = torch.from_numpy(feeds[n])
            encoded[n] = f.module(x)
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.{loaded.sha256[:8]}.tmp.onnx")  # processes may race
                _export(f.module, (x,), [n], [ENCODED.format(n)], tmp)
                _save(tmp, path, {"frontend_key": key, "split_version": SPLIT_VERSION},
                      {n: feeds[n]}, {ENCODED.format(n): encoded[n].numpy()})
            frontends[n] = (key, path)
        head = _head_module(model, shapes)
        if len(names) > 1:
            model.forward_streams(*(torch.from_numpy(feeds[n]) for n in names))  # zero-input constants, warmed
        args = tuple(encoded[n] for n in names)
        outs = head(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        out_names = [LOGITS, STREAM_LOGITS][: len(outs)]
        head_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = head_path.with_suffix(f".{os.getpid()}.tmp.onnx")
        _export(head, args, [ENCODED.format(n) for n in names], out_names, tmp)
        props = {**metadata(loaded, "legacy"), "split_version": SPLIT_VERSION,
                 "frontends": json.dumps({n: frontends[n][0] for n in names}, sort_keys=True)}
        _save(tmp, head_path, props, {ENCODED.format(n): encoded[n].numpy() for n in names},
              {o: t.numpy() for o, t in zip(out_names, outs)})
    return SplitGraphs(frontends, head_path)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]
