"""Reduced-precision ONNX: CPU INT8 and TensorRT INT8 (static QDQ, per-channel; two separate graphs)
and GPU FP16.

INT8 calibration ranges come from REAL preprocessed clips (a feature cache, or decoded clips),
never from random tensors: MFCC values span hundreds while faces are in [0, 1], and ranges
fitted to noise would clip real speech.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# onnxruntime's QDQ quantizer logs this on the ROOT logger for every rank-1 weight (the scale of a
# LayerNorm / BatchNorm) when per-channel is on: axis 1 does not exist there, so it quantizes that
# weight per tensor instead, which is what a single vector of scales wants. Nothing to fix.
_AXIS_WARNING = re.compile(r"Axis -?\d+ is out-of-range for weight '(?P<name>[^']*)' with rank 1$")


@contextlib.contextmanager
def _per_tensor_fallbacks() -> Iterator[list[str]]:
    """Drop exactly onnxruntime's rank-1 "Axis ... is out-of-range" records while quantizing and
    collect the weights they name (kept in the graph's metadata). Scoped: the filter is removed,
    and any handler `logging.warning` installed on an unconfigured root is taken away again."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    names: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        m = _AXIS_WARNING.match(record.getMessage())
        if m:
            names.append(m["name"])
        return m is None

    root.addFilter(keep)
    try:
        yield names
    finally:
        root.removeFilter(keep)
        for h in [h for h in root.handlers if h not in handlers]:
            if not handlers:  # basicConfig() done by the library's logging.warning; undo it
                root.removeHandler(h)


def _copy_metadata(src, dst, precision: str, extra: dict[str, str] | None = None) -> None:
    from emofusion.export.onnx import set_metadata

    props = {p.key: p.value for p in src.metadata_props}
    props["precision"] = precision
    props.update(extra or {})
    set_metadata(dst, props)


def cache_feeds(cache_dir: str | Path, names: tuple[str, ...], limit: int = 128,
                actors: Iterable[int] | None = None, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Up to `limit` single-clip feeds (batch 1) from a FeatureCache, spread over its actors."""
    from emofusion.data.cache import FeatureCache
    from emofusion.media.clip import model_inputs

    cache = FeatureCache(cache_dir)
    entries = cache.select(actors)
    if not entries:
        raise ValueError(f"{cache_dir} has no usable entries for calibration")
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(entries))[:limit]
    feeds = []
    for i in sorted(pick):
        arrays = cache.load(entries[i]["id"])
        f = model_inputs(arrays["audio"], arrays["faces"], cache.config)
        feeds.append({k: _batched(np.asarray(f[k], np.float32), k) for k in names})
    return feeds


def _batched(a: np.ndarray, name: str) -> np.ndarray:
    want = 3 if name == "audio" else 5
    return a[None] if a.ndim == want - 1 else a


def make_reader(feeds: list[dict[str, np.ndarray]]):
    """An ORT CalibrationDataReader over a list of feeds."""
    from onnxruntime.quantization import CalibrationDataReader

    class FeedsReader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)

        def get_next(self):
            return next(self._it, None)

        def rewind(self) -> None:
            self._it = iter(feeds)

    return FeedsReader()


# Inputs whose first layer stays float: raw MFCCs span hundreds (c0) next to deltas of a few
# units, so one uint8 scale for the whole tensor erases the small coefficients (measured: audio
# CV accuracy fell from ~0.49 to ~0.15 with a quantized input). Faces come from uint8 pixels, so
# quantizing them loses nothing.
FLOAT_INPUTS = ("audio",)
# Calibration and the layers kept float (regexes on ONNX node names), chosen by
# scripts/int8_agreement.py (results/bench/int8_agreement.md): calibrated on RAVDESS training actors,
# min-max ranges let a few outlier activations (Whisper's) set the scale, and the shipped models'
# INT8 graphs agreed with FP32 on 14-61 % of validation clips; the 99.999th percentile: 81-92 %.
# The face-api.js backbone's first two dense blocks stay float (in the face model and the fusions
# alike: the same node names): all-INT8, the fine-tuned face network agreed with FP32 on 80 % of CK+
# faces, with them float on 96 % (results/face/face_faceapi_int8.md); the fusions 84-86 %.
CALIBRATION = "percentile"
FLOAT_NODES: tuple[str, ...] = (r"^/face/dense[01]/",)


def quantize_int8(onnx_in: str | Path, onnx_out: str | Path, feeds: list[dict[str, np.ndarray]],
                  method: str = CALIBRATION, per_channel: bool = True,
                  float_inputs: tuple[str, ...] = FLOAT_INPUTS, float_nodes: tuple[str, ...] = FLOAT_NODES) -> Path:
    """Static INT8 for ONNX Runtime on CPU (QDQ: activations uint8 asymmetric, weights int8 per
    channel, int32 biases) calibrated on `feeds`; the layers reading `float_inputs` and the nodes
    whose names match a `float_nodes` pattern stay float.

    Not for TensorRT, whose ONNX parser takes symmetric Q/DQ only: see `quantize_int8_tensorrt`."""
    from onnxruntime.quantization import QuantType

    return _quantize_static(onnx_in, onnx_out, feeds, method, per_channel, float_inputs, float_nodes,
                            activation_type=QuantType.QUInt8,
                            extra_options={"CalibTensorRangeSymmetric": False},
                            meta={"format": "QDQ", "activations": "uint8 asymmetric",
                                  "target": "onnxruntime-cpu"})


# TensorRT's explicit quantization: INT8 Q/DQ with zero-point 0 everywhere (symmetric), activations
# per tensor, weights per output channel in [-127, 127]; biases stay float (a DequantizeLinear of an
# int32 bias is rejected by its ONNX parser). ONNX Runtime's own guidance for GPU/TensorRT targets is
# symmetric QInt8 for activations and weights (quantize_static's docstring).
TENSORRT_QDQ_OPTIONS = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False}


def quantize_int8_tensorrt(onnx_in: str | Path, onnx_out: str | Path, feeds: list[dict[str, np.ndarray]],
                           method: str = CALIBRATION, per_channel: bool = True,
                           float_inputs: tuple[str, ...] = FLOAT_INPUTS,
                           float_nodes: tuple[str, ...] = FLOAT_NODES) -> Path:
    """Static INT8 QDQ graph made for TensorRT (symmetric int8 activations and weights, float
    biases), calibrated on the same real `feeds` as the CPU graph; a separate file from it."""
    from onnxruntime.quantization import QuantType

    return _quantize_static(onnx_in, onnx_out, feeds, method, per_channel, float_inputs, float_nodes,
                            activation_type=QuantType.QInt8, extra_options=dict(TENSORRT_QDQ_OPTIONS),
                            meta={"format": "QDQ", "activations": "int8 symmetric",
                                  "target": "tensorrt"})


def _quantize_static(onnx_in, onnx_out, feeds, method, per_channel, float_inputs, float_nodes, activation_type,
                     extra_options: dict, meta: dict) -> Path:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise ValueError(f"calibration method must be one of {sorted(methods)}")
    if not feeds:
        raise ValueError("INT8 calibration needs at least one real input")
    onnx_out = Path(onnx_out)
    onnx_out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        # Shape inference + graph optimisation first, as the ORT quantization docs recommend.
        quant_pre_process(str(onnx_in), str(pre), skip_symbolic_shape=True)
        graph = onnx.load(str(pre)).graph
        patterns = [re.compile(p) for p in float_nodes]
        exclude = [n.name for n in graph.node
                   if set(n.input) & set(float_inputs) or any(p.search(n.name) for p in patterns)]
        with _per_tensor_fallbacks() as per_tensor:
            quantize_static(
                str(pre), str(onnx_out), make_reader(feeds),
                quant_format=QuantFormat.QDQ, per_channel=per_channel,
                activation_type=activation_type, weight_type=QuantType.QInt8,
                calibrate_method=methods[method], nodes_to_exclude=exclude,
                extra_options=extra_options,
            )
    src = onnx.load(str(onnx_in), load_external_data=False)
    out = onnx.load(str(onnx_out))
    _copy_metadata(src, out, "int8", {"calibration": json.dumps(
        {"clips": len(feeds), "method": method, "per_channel": per_channel, **meta,
         "float_node_patterns": list(float_nodes),
         "float_nodes": exclude, "per_tensor_weights": sorted(set(per_tensor))}),
        "quantized_for": meta["target"]})
    onnx.save(out, str(onnx_out))
    return onnx_out


def convert_fp16(onnx_in: str | Path, onnx_out: str | Path) -> Path:
    """FP16 weights and compute for GPUs; inputs and logits stay float32 for callers."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from emofusion.nets.checkpoint import file_sha256

    src = onnx.load(str(onnx_in))
    out = convert_float_to_float16(src, keep_io_types=True)
    _toposort(out.graph)  # the converter appends its input casts at the end of the node list
    _copy_metadata(src, out, "fp16", {"converted_from_sha256": file_sha256(onnx_in)})
    onnx.checker.check_model(out)
    onnx.save(out, str(onnx_out))
    return Path(onnx_out)


def _toposort(graph) -> None:
    """Reorder graph nodes so every input is produced before use (Kahn's algorithm, stable)."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        rest = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError("graph has a cycle or an undefined input: " + rest[0].name)
        pending = rest
    copies = [type(n)() for n in ordered]
    for c, n in zip(copies, ordered):
        c.CopyFrom(n)
    del graph.node[:]
    graph.node.extend(copies)
