"""TensorRT 10 engines (optional extra `emofusion[tensorrt]`, NVIDIA GPU only).

Engines are specific to a TensorRT version and a GPU, so every `.plan` has a sidecar JSON
(`.plan.json`) recording both plus the source ONNX's sha256; loading refuses any mismatch with a
message that says how to rebuild. INT8 uses explicit quantization from the QDQ ONNX
(`emofusion export --int8`), the path TensorRT >= 10.1 recommends; an IInt8EntropyCalibrator2 over
real feeds (with a calibration cache) remains for plain FP32 graphs. `import tensorrt` happens
inside functions so this module imports anywhere.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.infer.sources import cache_dir, onnx_metadata
from emofusion.nets.checkpoint import file_sha256

log = logging.getLogger(__name__)

PROFILE = (1, 8, 32)  # batch sizes: min, opt, max
PRECISIONS = ("fp32", "fp16", "int8")


class EngineMismatch(RuntimeError):
    """The engine was built for another TensorRT, GPU or ONNX graph: rebuild it."""


def _trt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise RuntimeError("TensorRT is not installed (pip install 'emofusion[tensorrt]' on a "
                           "machine with an NVIDIA GPU)") from exc
    return trt


def gpu_info() -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA GPU visible to PyTorch; TensorRT engines need one")
    major, minor = torch.cuda.get_device_capability(0)
    return {"gpu_name": torch.cuda.get_device_name(0), "compute_capability": f"{major}.{minor}"}


def _input_shapes(onnx_path: Path) -> dict[str, tuple[int, ...]]:
    """Per-sample shape (without batch) of every graph input."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return {i.name: tuple(d.dim_value for d in i.type.tensor_type.shape.dim[1:]) for i in graph.input}


class EntropyCalibrator:
    """Builds an IInt8EntropyCalibrator2 subclass instance over real feeds (CUDA via torch)."""

    def __new__(cls, feeds: list[dict[str, np.ndarray]], cache_file: str | Path, batch: int = 8):
        trt = _trt()
        import torch

        class _Calib(trt.IInt8EntropyCalibrator2):
            def __init__(self) -> None:
                trt.IInt8EntropyCalibrator2.__init__(self)
                names = list(feeds[0]) if feeds else []
                self.batches = [
                    {k: np.concatenate([f[k] for f in feeds[i:i + batch]]) for k in names}
                    for i in range(0, len(feeds) - batch + 1, batch)
                ]
                self.index = 0
                self.device_buffers: dict[str, Any] = {}

            def get_batch_size(self) -> int:
                return batch

            def get_batch(self, names):
                if self.index >= len(self.batches):
                    return None
                b = self.batches[self.index]
                self.index += 1
                self.device_buffers = {n: torch.from_numpy(b[n]).cuda().contiguous() for n in names}
                return [int(self.device_buffers[n].data_ptr()) for n in names]

            def read_calibration_cache(self):
                p = Path(cache_file)
                return p.read_bytes() if p.is_file() else None

            def write_calibration_cache(self, cache) -> None:
                Path(cache_file).write_bytes(bytes(cache))

        return _Calib()


def build_engine(onnx_path: str | Path, engine_path: str | Path, precision: str = "fp16",
                 profile: tuple[int, int, int] = PROFILE, timing_cache: str | Path | None = None,
                 calib_feeds: list[dict[str, np.ndarray]] | None = None,
                 calib_cache: str | Path | None = None, workspace_gb: float = 2.0) -> Path:
    """Build and serialize an engine for batch sizes profile[0]..profile[2]; write its sidecar."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}")
    trt = _trt()
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    opt = builder.create_optimization_profile()
    shapes = _input_shapes(onnx_path)
    for name, sample in shapes.items():
        opt.set_shape(name, (profile[0], *sample), (profile[1], *sample), (profile[2], *sample))
    config.add_optimization_profile(opt)
    is_qdq = onnx_metadata(onnx_path).get("precision") == "int8"
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        if not is_qdq:  # implicit quantization: needs a calibrator (deprecated since TRT 10.1)
            if not calib_feeds and not (calib_cache and Path(calib_cache).is_file()):
                raise ValueError("INT8 from an FP32 graph needs calibration feeds or a calibration cache; "
                                 "or pass the QDQ graph from `emofusion export --int8`")
            config.set_calibration_profile(opt)
            config.int8_calibrator = EntropyCalibrator(calib_feeds or [], calib_cache or
                                                       engine_path.with_suffix(".calib"))
    tc_path = Path(timing_cache) if timing_cache else cache_dir("tensorrt") / "timing.cache"
    cache = config.create_timing_cache(tc_path.read_bytes() if tc_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(serialized))
    tc_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    sidecar = {"tensorrt_version": trt.__version__, **gpu_info(), "precision": precision,
               "profile": {"min": profile[0], "opt": profile[1], "max": profile[2]},
               "inputs": {n: list(s) for n, s in shapes.items()},
               "onnx_sha256": file_sha256(onnx_path), "onnx": onnx_path.name}
    Path(str(engine_path) + ".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return engine_path


def check_engine(engine_path: str | Path, onnx_path: str | Path | None = None) -> dict[str, Any]:
    """The sidecar, after checking it against this TensorRT, this GPU and (optionally) the ONNX."""
    trt = _trt()
    side_path = Path(str(engine_path) + ".json")
    if not side_path.is_file():
        raise EngineMismatch(f"{engine_path} has no sidecar {side_path.name}; rebuild it with "
                             "`emofusion export MODEL.pt --to tensorrt`")
    side = json.loads(side_path.read_text())
    here = {"tensorrt_version": trt.__version__, **gpu_info()}
    if onnx_path is not None:
        here["onnx_sha256"] = file_sha256(onnx_path)
    diffs = [f"{k}: engine {side.get(k)!r}, here {v!r}" for k, v in here.items() if side.get(k) != v]
    if diffs:
        raise EngineMismatch(f"{engine_path} is stale or from another machine ({'; '.join(diffs)}); "
                             "rebuild it with `emofusion export MODEL.pt --to tensorrt`")
    return side


def engine_for_onnx(onnx_path: str | Path, shipped: Path | None = None, precision: str = "fp16") -> Path:
    """A usable engine for this ONNX: the shipped one if it checks out, else a cached/built one."""
    if shipped is not None and shipped.is_file():
        try:
            check_engine(shipped, onnx_path)
            return shipped
        except EngineMismatch as exc:
            log.warning("%s", exc)
    info = gpu_info()
    key = f"{file_sha256(onnx_path)[:16]}-{precision}-{info['gpu_name'].replace(' ', '_')}"
    target = cache_dir("tensorrt") / f"{key}.plan"
    if target.is_file():
        try:
            check_engine(target, onnx_path)
            return target
        except EngineMismatch as exc:
            log.warning("%s", exc)
    return build_engine(onnx_path, target, precision=precision)


class TrtRunner:
    """Deserialized engine + execution context; inputs/outputs as torch CUDA tensors."""

    def __init__(self, engine_path: str | Path, onnx_path: str | Path | None = None):
        trt = _trt()
        import torch

        side = check_engine(engine_path, onnx_path)
        self.torch = torch
        self.gpu_name = side["gpu_name"]
        self.precision = side["precision"]
        self.max_batch = side["profile"]["max"]
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise EngineMismatch(f"TensorRT could not deserialize {engine_path}; rebuild it")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
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
                raise RuntimeError("TensorRT execution failed")
        self.stream.synchronize()
        return bufs[self.outputs[0]].cpu().numpy()
