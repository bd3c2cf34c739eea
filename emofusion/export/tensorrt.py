"""TensorRT engines (optional extra `emofusion[tensorrt]`, NVIDIA GPU only) on TensorRT 10 and 11.

One build path for both majors: a *strongly typed* network parsed from a precision-specific ONNX
graph. TensorRT 11 removed the precision builder flags (`BuilderFlag.FP16`/`INT8`), the INT8
calibrator and weak typing; on 10.x strong typing is opt-in through
`NetworkDefinitionCreationFlag.STRONGLY_TYPED`, which 11.x keeps, ignores and always applies. So the
precision of an engine is the precision of the graph it is built from:

- fp32: the exported `model.onnx`;
- fp16: that graph converted to float16 with float32 inputs/outputs (`quantize.convert_fp16`);
- int8: a symmetric Q/DQ graph made for TensorRT (`quantize.quantize_int8_tensorrt`,
  `model.trt-int8.onnx`), separate from the CPU INT8 graph (`model.int8.onnx`, asymmetric uint8
  activations and int32 biases, which TensorRT's parser rejects).

Everything up to the `import tensorrt` (graph checks, version gate, cache keys, sidecar comparison)
is plain Python and tested on CPU; building and running engines needs the GPU. Engines are specific
to a TensorRT version and a GPU, so every `.plan` has a sidecar JSON (`.plan.json`) recording both,
the precision and the source ONNX's sha256; loading refuses any mismatch with a message that says
how to rebuild. `import tensorrt` happens inside functions so this module imports anywhere.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.constants import LOGITS
from emofusion.errors import EmofusionError
from emofusion.nets.checkpoint import file_sha256
from emofusion.paths import cache_dir

log = logging.getLogger(__name__)

PROFILE = (1, 8, 32)  # batch sizes: min, opt, max
PRECISIONS = ("fp32", "fp16", "int8")
# TensorRT versions this module builds with: >= MIN and < MAX. pyproject's `tensorrt` extra pins
# the same range (a test keeps the two equal).
TENSORRT_MIN = (10, 0)
TENSORRT_MAX = (12, 0)
SUPPORTED_RANGE = f">={TENSORRT_MIN[0]}.{TENSORRT_MIN[1]},<{TENSORRT_MAX[0]}"
TRT_INT8_ONNX = "model.trt-int8.onnx"  # next to model.onnx: the symmetric Q/DQ graph for TensorRT
HOW_TO_REBUILD = "rebuild it with `emofusion export MODEL.pt --to tensorrt`"
HOW_TO_INT8 = ("make the TensorRT INT8 graph with `emofusion export MODEL.pt --to tensorrt --int8 "
               f"--calib-cache DIR` (writes {TRT_INT8_ONNX})")


class TensorRTError(EmofusionError, RuntimeError):
    """A TensorRT problem with a message meant for the user (no traceback needed)."""


class TensorRTUnavailable(TensorRTError):
    """tensorrt is not importable here, or there is no CUDA GPU."""


class UnsupportedTensorRT(TensorRTError):
    """The installed tensorrt is outside the versions this code builds with."""


class EngineMismatch(TensorRTError):
    """The engine was built for another TensorRT, GPU, precision or ONNX graph: rebuild it."""


class GraphNotForTensorRT(TensorRTError):
    """The ONNX graph is not the precision asked for, or not a graph TensorRT's parser accepts."""


# ---------------------------------------------------------------------------------------------
# Version gate


def parse_version(text: str) -> tuple[int, ...]:
    """'10.13.3.9' -> (10, 13, 3, 9); leading numeric fields only ('11.0.0rc1' -> (11, 0, 0))."""
    fields = []
    for part in str(text).strip().split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        fields.append(int(m.group()))
        if m.end() != len(part):
            break
    if not fields:
        raise UnsupportedTensorRT(f"cannot read a TensorRT version from {text!r}")
    return tuple(fields)


def check_version(text: str) -> tuple[int, ...]:
    """The parsed version if this code supports it; UnsupportedTensorRT (with the fix) if not."""
    version = parse_version(text)
    padded = version + (0,) * (2 - len(version))
    if not TENSORRT_MIN <= padded[:2] < TENSORRT_MAX:
        raise UnsupportedTensorRT(
            f"TensorRT {text} is installed; emofusion builds engines with TensorRT {SUPPORTED_RANGE} "
            f"(strongly typed networks). Install a supported one: pip install 'tensorrt{SUPPORTED_RANGE}' "
            "(or pip install -e '.[tensorrt]')")
    return version


def cuda_present() -> bool:
    """A usable NVIDIA GPU (torch's check when torch has CUDA, else the driver's device node)."""
    import os

    try:
        import torch

        if torch.cuda.is_available():
            return True
    except ImportError:
        pass
    return os.path.exists("/dev/nvidiactl") and os.path.exists("/dev/nvidia0")


def tensorrt_present() -> bool:
    """The tensorrt package is installed (not yet whether it loads or is a supported version)."""
    import importlib.util

    return importlib.util.find_spec("tensorrt") is not None


def load_tensorrt():
    """`import tensorrt`, version-checked. Raises TensorRTUnavailable / UnsupportedTensorRT."""
    try:
        import tensorrt as trt
    except (ImportError, OSError) as exc:  # OSError: the wheel is there but libnvinfer is not loadable
        raise TensorRTUnavailable(
            f"TensorRT is not usable here ({type(exc).__name__}: {exc}); pip install "
            f"'emofusion[tensorrt]' on a machine with an NVIDIA GPU") from exc
    version = getattr(trt, "__version__", None)
    if not version:
        raise UnsupportedTensorRT("the imported tensorrt module has no __version__; reinstall it: "
                                  f"pip install 'tensorrt{SUPPORTED_RANGE}'")
    check_version(version)
    return trt


def gpu_info() -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        raise TensorRTUnavailable("no CUDA GPU visible to PyTorch; TensorRT engines need one")
    major, minor = torch.cuda.get_device_capability(0)
    return {"gpu_name": torch.cuda.get_device_name(0), "compute_capability": f"{major}.{minor}"}


def live_environment() -> dict[str, Any]:
    """What an engine must have been built for to run here: TensorRT version and GPU."""
    trt = load_tensorrt()
    return {"tensorrt_version": trt.__version__, **gpu_info()}


# ---------------------------------------------------------------------------------------------
# Cache keys


def safe_name(text: str) -> str:
    """A file-name-safe form of a GPU name or version ('NVIDIA GeForce RTX 4090' -> ...)."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", str(text)).strip("_") or "unknown"


def engine_key(onnx_sha256: str, gpu_name: str, tensorrt_version: str, precision: str) -> str:
    """Cache key of one engine: the GPU, the TensorRT version, the precision and the ONNX hash."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}")
    return f"{safe_name(gpu_name)}-trt{safe_name(tensorrt_version)}-{precision}-{onnx_sha256[:16]}"


def timing_cache_path(gpu_name: str, tensorrt_version: str) -> Path:
    """Per GPU and TensorRT version: a timing cache holds per-layer kernel timings, which are
    shared by every model built on that pair, and TensorRT rejects one from another device."""
    return cache_dir("tensorrt") / f"timing-{safe_name(gpu_name)}-trt{safe_name(tensorrt_version)}.cache"


# ---------------------------------------------------------------------------------------------
# Graphs handed to TensorRT (CPU-only checks)

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def _load(model_or_path):
    import onnx

    if isinstance(model_or_path, (str, Path)):
        return onnx.load(str(model_or_path))
    return model_or_path


def graph_precision(model_or_path) -> str:
    """'int8' if the graph has Q/DQ nodes, 'fp16' if it computes in float16, else 'fp32'."""
    from onnx import TensorProto

    model = _load(model_or_path)
    g = model.graph
    if any(n.op_type in QDQ_OPS for n in g.node):
        return "int8"
    half = TensorProto.FLOAT16
    if any(t.data_type == half for t in g.initializer):
        return "fp16"
    if any(v.type.tensor_type.elem_type == half for v in g.value_info):
        return "fp16"
    for n in g.node:
        if n.op_type == "Cast" and any(a.name == "to" and a.i == half for a in n.attribute):
            return "fp16"
    return "fp32"


def _constants(graph) -> dict[str, Any]:
    out = {t.name: t for t in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = a.t
    return out


def tensorrt_qdq_problems(model_or_path) -> list[str]:
    """Why TensorRT's ONNX parser would refuse these Q/DQ nodes (empty: none found).

    TensorRT quantizes symmetrically: int8 zero-points that are all 0, positive scales, int8
    weights in [-127, 127], and no DequantizeLinear of an int32 (quantized bias) tensor."""
    from onnx import TensorProto, numpy_helper

    model = _load(model_or_path)
    consts = _constants(model.graph)
    names = {v: k for k, v in TensorProto.DataType.items()}
    problems = []
    for node in model.graph.node:
        if node.op_type not in QDQ_OPS:
            continue
        label = f"{node.op_type} {node.name or node.output[0]}"
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{label}: domain {node.domain} (TensorRT parses standard ONNX Q/DQ)")
        zp_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if zp_name is None:
            if node.op_type == "QuantizeLinear":
                problems.append(f"{label}: no zero-point, so it quantizes to uint8")
        elif zp_name not in consts:
            problems.append(f"{label}: zero-point {zp_name} is not a constant")
        else:
            zp = consts[zp_name]
            if zp.data_type != TensorProto.INT8:
                problems.append(f"{label}: zero-point type {names.get(zp.data_type, zp.data_type)}, not INT8")
            if np.any(numpy_helper.to_array(zp) != 0):
                problems.append(f"{label}: non-zero zero-point (asymmetric quantization)")
        scale = consts.get(node.input[1])
        if scale is not None and np.any(numpy_helper.to_array(scale) <= 0):
            problems.append(f"{label}: non-positive scale")
        if node.op_type == "DequantizeLinear" and node.input[0] in consts:
            x = consts[node.input[0]]
            if x.data_type == TensorProto.INT32:
                problems.append(f"{label}: DequantizeLinear of an int32 tensor (a quantized bias)")
            elif x.data_type != TensorProto.INT8:
                problems.append(f"{label}: quantized weight type {names.get(x.data_type, x.data_type)}, not INT8")
            elif np.any(numpy_helper.to_array(x) == -128):
                problems.append(f"{label}: int8 weight uses -128 (TensorRT weights are in [-127, 127])")
    return problems


def check_graph_for_tensorrt(onnx_path: str | Path, precision: str | None = None) -> str:
    """The graph's precision after checking that it is the one asked for and that a strongly
    typed TensorRT network can be parsed from it (types consistent; Q/DQ symmetric)."""
    import onnx

    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}")
    path = Path(onnx_path)
    model = onnx.load(str(path))
    found = graph_precision(model)
    if precision is not None and found != precision:
        hint = HOW_TO_INT8 if precision == "int8" else "pass the graph of that precision"
        raise GraphNotForTensorRT(f"{path.name} is a {found} graph, not {precision}: TensorRT builds "
                                  f"strongly typed networks, so the graph sets the precision; {hint}")
    if found == "int8":
        problems = tensorrt_qdq_problems(model)
        if problems:
            n = sum(1 for node in model.graph.node if node.op_type in QDQ_OPS)
            raise GraphNotForTensorRT(
                f"{path.name} has Q/DQ that TensorRT's parser rejects ({len(problems)} problems over "
                f"{n} Q/DQ nodes, e.g. {problems[0]}); it is probably the CPU INT8 graph. {HOW_TO_INT8}")
    try:  # strong typing: every tensor's type must follow from the graph
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as exc:  # onnx raises InferenceError / ValidationError subclasses
        raise GraphNotForTensorRT(f"{path.name} does not type-check ({exc}); TensorRT's strongly "
                                  "typed parser needs a consistently typed graph") from exc
    return found


def graph_for_precision(onnx_path: str | Path, precision: str) -> Path:
    """The graph to build a `precision` engine from, given a model's graph: itself if it already
    is that precision; its float16 conversion (made once into the cache) for fp16 from fp32."""
    path = Path(onnx_path)
    found = graph_precision(path)
    if found == precision:
        return path
    if found == "fp32" and precision == "fp16":
        from emofusion.export.quantize import convert_fp16
        from emofusion.export.onnx import onnx_metadata

        sha = file_sha256(path)
        target = cache_dir("onnx") / f"{sha}.fp16.onnx"
        if not (target.is_file() and onnx_metadata(target).get("converted_from_sha256") == sha):
            convert_fp16(path, target)
        return target
    if precision == "int8":
        raise GraphNotForTensorRT(f"an INT8 engine needs a symmetric Q/DQ graph, not the {found} "
                                  f"graph {path.name}; {HOW_TO_INT8}")
    raise GraphNotForTensorRT(f"{path.name} is a {found} graph; a {precision} engine needs a "
                              f"{precision} graph")


def input_shapes(onnx_path: str | Path) -> dict[str, tuple[int, ...]]:
    """Per-sample shape (without batch) of every graph input."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    inits = {t.name for t in graph.initializer}
    return {i.name: tuple(d.dim_value for d in i.type.tensor_type.shape.dim[1:])
            for i in graph.input if i.name not in inits}


# ---------------------------------------------------------------------------------------------
# Sidecars: what an engine was built for, and the refusal of a stale or mismatched one

def sidecar_path(engine_path: str | Path) -> Path:
    return Path(str(engine_path) + ".json")


def write_sidecar(engine_path: str | Path, environment: dict[str, Any], precision: str,
                  source: str | Path, graph: str | Path, profile: tuple[int, int, int] = PROFILE,
                  timing_cache: str | Path | None = None) -> Path:
    """Record what the engine at `engine_path` was built for: the TensorRT version and GPU
    (`environment`), the precision, the model graph it stands for (`source`) and the graph parsed."""
    source, graph = Path(source), Path(graph)
    side = {**environment, "precision": precision, "network": "strongly_typed",
            "profile": {"min": profile[0], "opt": profile[1], "max": profile[2]},
            "inputs": {n: list(s) for n, s in input_shapes(graph).items()},
            "onnx_sha256": file_sha256(source), "onnx": source.name,
            "graph_sha256": file_sha256(graph), "timing_cache": str(timing_cache) if timing_cache else None}
    path = sidecar_path(engine_path)
    path.write_text(json.dumps(side, indent=2) + "\n")
    return path


def engine_mismatches(side: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Each way the sidecar differs from what is expected here (keys of `expected` only)."""
    diffs = [f"{k}: engine {side.get(k)!r}, here {v!r}" for k, v in expected.items()
             if v is not None and side.get(k) != v]
    if side.get("network") != "strongly_typed":
        diffs.append("network: not strongly typed (built by an older emofusion)")
    return diffs


def check_engine(engine_path: str | Path, onnx_path: str | Path | None = None,
                 precision: str | None = None, environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sidecar, after checking it against this TensorRT and GPU (`environment`, default: the
    live one), the precision asked for and (optionally) the source ONNX graph."""
    side_path = sidecar_path(engine_path)
    if not Path(engine_path).is_file():
        raise EngineMismatch(f"no engine at {engine_path}; {HOW_TO_REBUILD}")
    if not side_path.is_file():
        raise EngineMismatch(f"{engine_path} has no sidecar {side_path.name}; {HOW_TO_REBUILD}")
    side = json.loads(side_path.read_text())
    here = dict(live_environment() if environment is None else environment)
    if precision is not None:
        here["precision"] = precision
    if onnx_path is not None:
        here["onnx_sha256"] = file_sha256(onnx_path)
    diffs = engine_mismatches(side, here)
    if diffs:
        raise EngineMismatch(f"{engine_path} is stale or from another machine ({'; '.join(diffs)}); "
                             f"{HOW_TO_REBUILD}")
    return side


# ---------------------------------------------------------------------------------------------
# Build and run (GPU)


def network_flags(trt) -> int:
    """Strongly typed: the flag on 10.x; on 11.x it is kept, ignored and always on."""
    flag = getattr(getattr(trt, "NetworkDefinitionCreationFlag", None), "STRONGLY_TYPED", None)
    return 1 << int(flag) if flag is not None else 0


def _set_timing_cache(trt, config, tc_path: Path):
    """Attach the timing cache at `tc_path` (or a fresh one if TensorRT refuses it); checked."""
    data = tc_path.read_bytes() if tc_path.is_file() else b""
    cache = config.create_timing_cache(data)
    if config.set_timing_cache(cache, ignore_mismatch=False):
        return cache
    log.warning("TensorRT refused the timing cache %s (another GPU or TensorRT); starting a fresh one",
                tc_path)
    cache = config.create_timing_cache(b"")
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        raise TensorRTError("TensorRT refused even an empty timing cache")
    return cache


def build_engine(onnx_path: str | Path, engine_path: str | Path, precision: str | None = None,
                 profile: tuple[int, int, int] = PROFILE, timing_cache: str | Path | None = None,
                 workspace_gb: float = 2.0) -> Path:
    """Build and serialize a strongly typed engine for batch sizes profile[0]..profile[2] and write
    its sidecar. `precision` None: the graph's own; fp16 from an fp32 graph converts it first."""
    source = Path(onnx_path)
    graph = graph_for_precision(source, precision) if precision else source
    precision = check_graph_for_tensorrt(graph, precision)  # before any GPU work
    trt = load_tensorrt()
    env = {"tensorrt_version": trt.__version__, **gpu_info()}
    engine_path = Path(engine_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(graph)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TensorRTError(f"TensorRT could not parse {graph}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    opt = builder.create_optimization_profile()
    shapes = input_shapes(graph)
    for name, sample in shapes.items():
        opt.set_shape(name, (profile[0], *sample), (profile[1], *sample), (profile[2], *sample))
    config.add_optimization_profile(opt)
    tc_path = Path(timing_cache) if timing_cache else timing_cache_path(env["gpu_name"], env["tensorrt_version"])
    cache = _set_timing_cache(trt, config, tc_path)  # kept alive until the build is done
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTError(f"TensorRT failed to build an engine from {graph}")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(serialized))
    tc_path.parent.mkdir(parents=True, exist_ok=True)
    tc_path.write_bytes(bytes(cache.serialize()))
    write_sidecar(engine_path, env, precision, source, graph, profile, timing_cache=tc_path)
    return engine_path


def engine_for_onnx(onnx_path: str | Path, shipped: Path | None = None, precision: str = "fp16") -> Path:
    """A usable `precision` engine for this model graph: the shipped one if it checks out, else a
    cached one keyed by GPU + TensorRT version + precision + ONNX hash, else one built now."""
    env = live_environment()
    if shipped is not None and shipped.is_file():
        try:
            check_engine(shipped, onnx_path, precision, env)
            return shipped
        except EngineMismatch as exc:
            log.warning("%s", exc)
    key = engine_key(file_sha256(onnx_path), env["gpu_name"], env["tensorrt_version"], precision)
    target = cache_dir("tensorrt") / f"{key}.plan"
    if target.is_file():
        try:
            check_engine(target, onnx_path, precision, env)
            return target
        except EngineMismatch as exc:
            log.warning("%s", exc)
    return build_engine(onnx_path, target, precision=precision)


class TrtRunner:
    """Deserialized engine + execution context; inputs/outputs as torch CUDA tensors."""

    def __init__(self, engine_path: str | Path, onnx_path: str | Path | None = None,
                 precision: str | None = None):
        trt = load_tensorrt()
        import torch

        side = check_engine(engine_path, onnx_path, precision)
        self.torch = torch
        self.gpu_name = side["gpu_name"]
        self.precision = side["precision"]
        self.max_batch = side["profile"]["max"]
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise EngineMismatch(f"TensorRT could not deserialize {engine_path}; {HOW_TO_REBUILD}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        for n in names:  # the graphs keep float32 IO (convert_fp16 keep_io_types, Q/DQ inside)
            if self.engine.get_tensor_dtype(n) != trt.DataType.FLOAT:
                raise EngineMismatch(f"{engine_path}: I/O tensor {n} is {self.engine.get_tensor_dtype(n)}, "
                                     f"not float32; {HOW_TO_REBUILD}")
        self.stream = torch.cuda.Stream()

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        torch = self.torch
        batch = next(iter(feeds.values())).shape[0]
        if batch > self.max_batch:  # beyond the profile: run in chunks
            parts = [self.run({k: v[i:i + self.max_batch] for k, v in feeds.items()})
                     for i in range(0, batch, self.max_batch)]
            return np.concatenate(parts)
        with torch.cuda.stream(self.stream):
            bufs = {}
            for name in self.inputs:
                t = torch.from_numpy(np.ascontiguousarray(feeds[name], np.float32)).cuda(non_blocking=True)
                bufs[name] = t
                self.context.set_input_shape(name, tuple(t.shape))
                self.context.set_tensor_address(name, int(t.data_ptr()))
            for name in self.outputs:
                shape = tuple(self.context.get_tensor_shape(name))
                out = torch.empty(shape, dtype=torch.float32, device="cuda")
                bufs[name] = out
                self.context.set_tensor_address(name, int(out.data_ptr()))
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise TensorRTError("TensorRT execution failed")
        self.stream.synchronize()
        # a fusion's graph has two outputs (export/onnx.output_names): the logits are named
        return bufs[LOGITS if LOGITS in bufs else self.outputs[0]].cpu().numpy()
