"""One inference interface over three engines: PyTorch eager, ONNX Runtime, TensorRT.

Callers (Predictor, benchmarks, web app) feed `{name: float32 array}` and get `(B, 8)` logits,
whatever runs underneath; `create_backend(kind="auto")` picks the fastest engine that actually
works on this machine and says why, so a missing GPU library degrades instead of crashing.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.constants import CLASSES, LOGITS, STREAM_LOGITS
from emofusion.export.onnx import onnx_for_checkpoint, onnx_metadata
from emofusion.export.split import ENCODED
from emofusion.export.tensorrt import cuda_present, tensorrt_present
from emofusion.infer import shared_frontends
from emofusion.infer.shared_frontends import session_options
from emofusion.infer.sources import ModelFiles

log = logging.getLogger(__name__)

KINDS = ("auto", "torch", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")
# Best first; filtered by what the installed onnxruntime offers and what the machine can run.
ORT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


class Backend(ABC):
    """Runs one model. `name` = engine, `device` = where it actually runs, `inputs` = feed names."""

    name: str = ""
    device: str = "cpu"
    precision: str = "fp32"
    inputs: tuple[str, ...] = ()
    classes: tuple[str, ...] = CLASSES
    # Set by create_backend: why this engine was chosen (and what was skipped), and where it runs
    # ("cpu" or "cuda:N (GPU name)"; the web app's Models tab shows both).
    reason: str = ""
    where: str = "cpu"

    @abstractmethod
    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """float32 logits (B, n_classes) for float32 feeds keyed by `self.inputs`."""

    def run_streams(self, feeds: dict[str, np.ndarray]) -> np.ndarray | None:
        """(B, 3, n_classes) logits in constants.STREAMS order (both streams, voice alone, face
        alone) from one pass, for a fusion whose model / graph computes them itself (its frontends
        run once, not three times); None where it does not (the caller batches zeroed inputs)."""
        return None

    @property
    def label(self) -> str:
        return f"{self.name}/{self.device}/{self.precision}"

    def _feeds(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        missing = [k for k in self.inputs if k not in feeds]
        if missing:
            raise KeyError(f"{self.label} needs inputs {missing}; got {sorted(feeds)}")
        return [np.ascontiguousarray(feeds[k], dtype=np.float32) for k in self.inputs]


class TorchBackend(Backend):
    """PyTorch eager: the reference every other engine is checked against.

    On CPU it runs with `threads` intra-op threads (default 1), set for the call and restored
    after. Why: the CLI makes OpenMP threads wait passively (training on a busy machine needs
    it), and then every layer wakes a sleeping thread: these models ran slower on 2 threads than
    on 1 here (`emofusion bench backends --torch-threads 2 --out DIR` times the other setting).
    On CUDA, `cuda_graphs` replays each input shape's forward call from a CUDA graph
    (infer/cuda_graphs.py: small models are launch-bound there); never on the CPU.
    """

    name = "torch"

    def __init__(self, loaded, device: str = "cpu", threads: int | None = None, cuda_graphs: bool = False,
                 share_frontends: bool = False):
        """`share_frontends` (CPU only): frozen frontends run once per input for every torch model
        of the process that has them (infer/shared_frontends.py)."""
        import torch

        self._torch = torch
        self.loaded = loaded
        self.device = device
        on_cpu = str(device).startswith("cpu")
        self.threads = (threads or 1) if on_cpu else None
        self.model = loaded.model.to(device).eval()
        self.inputs = tuple(self.model.inputs)
        self.classes = tuple(loaded.classes)
        self.graphed = None
        if cuda_graphs and not on_cpu:
            from emofusion.infer.cuda_graphs import GraphedModel

            self.graphed = GraphedModel(self.model, device)
        self.fronts = {}
        if share_frontends and on_cpu and hasattr(self.model, "frontends"):
            self.fronts = {n: (f"{f.key}|torch", f.module) for n, f in self.model.frontends().items()}

    @property
    def label(self) -> str:
        return super().label + (f" {shared_frontends.LABEL}" if self.fronts else "")

    @property
    def notes(self) -> list[str]:
        """What fell back (a CUDA graph capture that failed) since loading."""
        return list(self.graphed.notes) if self.graphed is not None else []

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if self.fronts:
            return self._call(lambda arrays: self._shared(arrays, streams=False), feeds, raw=True)
        return self._call(self.graphed or self.model, feeds)

    def run_streams(self, feeds: dict[str, np.ndarray]) -> np.ndarray | None:
        if not hasattr(self.model, "forward_streams"):
            return None
        if self.fronts:
            return self._call(lambda arrays: self._shared(arrays, streams=True), feeds, raw=True)
        return self._call(self.model.forward_streams, feeds)

    def _shared(self, arrays: list[np.ndarray], streams: bool):
        """The model from its shared frontends' outputs (inside `_call`): logits, or stream logits."""
        encoded = []
        for name, a in zip(self.inputs, arrays):
            key, module = self.fronts[name]
            encoded.append(shared_frontends.encode(key, lambda x, m=module: m(self._torch.from_numpy(x)), a))
        if len(encoded) == 1:
            return self.model.forward_from_encoded(*encoded)
        if streams:
            return self.model.forward_from_encoded(*encoded, *((1, *a.shape[1:]) for a in arrays))[1]
        return self.model.forward_encoded(encoded[0].transpose(0, 1), encoded[1])

    def _call(self, fn, feeds: dict[str, np.ndarray], raw: bool = False) -> np.ndarray:
        """`fn` on the feeds as tensors (`raw`: on the list of arrays) with this backend's thread
        count, returned as float32 numpy."""
        torch = self._torch
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                if raw:
                    return fn(self._feeds(feeds)).float().cpu().numpy()
                args = [torch.from_numpy(a).to(self.device) for a in self._feeds(feeds)]
                return fn(*args).float().cpu().numpy()
        finally:
            if self.threads:
                torch.set_num_threads(before)


def ort_tensorrt_major() -> int | None:
    """The TensorRT major version this onnxruntime's TensorRT provider library links against
    (libnvinfer.so.N in its dynamic section), or None without that library. ORT's TensorRT EP only
    loads with that major's libraries, whatever the tensorrt Python package is."""
    import onnxruntime as ort

    capi = Path(ort.__file__).parent / "capi"
    for lib in sorted(capi.glob("libonnxruntime_providers_tensorrt*")):
        m = re.search(rb"libnvinfer\.so\.(\d+)", lib.read_bytes())
        if m:
            return int(m.group(1))
    return None


def ort_providers() -> list[str]:
    """ORT providers worth asking for here: installed ones, GPU ones only with a GPU present."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    gpu_ok = cuda_present()
    trt_ok = gpu_ok and tensorrt_present()
    wanted = []
    for p in ORT_PROVIDERS:
        if p not in available:
            continue
        if p == "CUDAExecutionProvider" and not gpu_ok:
            continue
        if p == "TensorrtExecutionProvider" and not trt_ok:
            continue
        wanted.append(p)
    return wanted or ["CPUExecutionProvider"]


def tensorrt_provider_options(onnx_path: str | Path, gpu_name: str, tensorrt_version: str,
                              profile: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """Options for ORT's TensorRT execution provider, as its documentation recommends: FP16 when the
    graph is the FP16 one, engine and timing caches on disk (keyed by GPU + TensorRT version + ONNX
    hash, ORT version too for engines), and an explicit optimization profile for batch 1..32."""
    import onnxruntime as ort

    from emofusion.export.tensorrt import PROFILE, graph_precision, input_shapes, safe_name
    from emofusion.nets.checkpoint import file_sha256
    from emofusion.paths import cache_dir

    lo, opt, hi = profile or PROFILE
    shapes = input_shapes(onnx_path)

    def spec(batch: int) -> str:
        return ",".join(f"{n}:{'x'.join(str(d) for d in (batch, *s))}" for n, s in shapes.items())

    device = f"{safe_name(gpu_name)}-trt{safe_name(tensorrt_version)}"
    root = cache_dir("ort-tensorrt")
    engines = root / f"{device}-ort{safe_name(ort.__version__)}-{file_sha256(onnx_path)[:16]}"
    timing = root / f"timing-{device}"
    engines.mkdir(parents=True, exist_ok=True)
    timing.mkdir(parents=True, exist_ok=True)
    return {"device_id": 0, "trt_fp16_enable": graph_precision(onnx_path) == "fp16",
            "trt_engine_cache_enable": True, "trt_engine_cache_path": str(engines),
            "trt_timing_cache_enable": True, "trt_timing_cache_path": str(timing),
            "trt_profile_min_shapes": spec(lo), "trt_profile_opt_shapes": spec(opt),
            "trt_profile_max_shapes": spec(hi)}


def ort_provider_config(onnx_path: str | Path, names: list[str] | None = None,
                        environment: dict[str, Any] | None = None) -> tuple[list, list[str]]:
    """(providers with options for ORT, notes on providers left out). TensorRT first, then CUDA as
    the fallback for what TensorRT does not take, then CPU. `environment` ({gpu_name,
    tensorrt_version}) defaults to this machine's."""
    names = list(names or ort_providers())
    config: list = []
    notes: list[str] = []
    for name in names:
        if name == "TensorrtExecutionProvider":
            try:
                env = environment or _trt_environment()
                config.append((name, tensorrt_provider_options(onnx_path, env["gpu_name"],
                                                               env["tensorrt_version"])))
            except Exception as exc:  # version gate, ORT/TensorRT major mismatch: fall back to CUDA
                notes.append(f"TensorrtExecutionProvider left out: {exc}")
        elif name == "CUDAExecutionProvider":
            config.append((name, {"device_id": 0}))
        else:
            config.append(name)
    return config, notes


def _trt_environment() -> dict[str, Any]:
    from emofusion.export.tensorrt import live_environment, parse_version

    env = live_environment()
    linked = ort_tensorrt_major()
    have = parse_version(env["tensorrt_version"])[0]
    if linked is not None and linked != have:
        raise RuntimeError(f"this onnxruntime's TensorRT provider needs TensorRT {linked}.x libraries, "
                           f"TensorRT {env['tensorrt_version']} is installed")
    return env


class OrtBackend(Backend):
    """ONNX Runtime; `device` is the provider the session really uses (it may fall back)."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, providers: list | None = None,
                 threads: int | None = None):
        """`providers`: names or (name, options) pairs as ONNX Runtime takes them; None: the best
        ones here, configured by `ort_provider_config`."""
        import onnxruntime as ort

        opts = session_options(threads)
        self.path = Path(onnx_path)
        self.provider_notes: list[str] = []
        if providers is None:
            providers, self.provider_notes = ort_provider_config(self.path)
        self.requested = [p if isinstance(p, str) else p[0] for p in providers]
        self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        self.providers = self.session.get_providers()  # what ORT really uses (it may fall back)
        self.device = self.providers[0]
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        self.outputs = tuple(o.name for o in self.session.get_outputs())
        meta = onnx_metadata(self.path)
        self.metadata = meta
        self.classes = tuple(meta["classes"].split(",")) if meta.get("classes") else CLASSES
        self.precision = meta.get("precision", "fp32")

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        arrays = self._feeds(feeds)
        out = self.session.run([LOGITS], dict(zip(self.inputs, arrays)))[0]
        return out.astype(np.float32, copy=False)

    def run_streams(self, feeds: dict[str, np.ndarray]) -> np.ndarray | None:
        if STREAM_LOGITS not in self.outputs:
            return None
        out = self.session.run([STREAM_LOGITS], dict(zip(self.inputs, self._feeds(feeds))))[0]
        return out.astype(np.float32, copy=False)


class SplitOrtBackend(Backend):
    """A model as its split graphs (export/split.py) on ONNX Runtime's CPU provider, its frontends
    shared with the other models of the process (infer/shared_frontends.py); feeds and outputs as
    OrtBackend's."""

    name = "onnxruntime"
    device = "CPUExecutionProvider"

    @property
    def label(self) -> str:
        return f"{super().label} {shared_frontends.LABEL}"

    def __init__(self, graphs, threads: int | None = None):
        """`graphs`: export.split.SplitGraphs."""
        self.graphs = graphs
        self.head = OrtBackend(graphs.head, providers=["CPUExecutionProvider"], threads=threads)
        self.metadata = self.head.metadata
        self.inputs = tuple(self.metadata["inputs"].split(","))
        self.classes = self.head.classes
        self.precision = self.head.precision
        self.providers = self.head.providers
        self.outputs = self.head.outputs
        self.fronts = {n: (f"{key}|onnxruntime", shared_frontends.session_runner(
            shared_frontends.frontend_session(path, threads))) for n, (key, path) in graphs.frontends.items()}

    def _encoded(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = dict(zip(self.inputs, self._feeds(feeds)))
        return {ENCODED.format(n): shared_frontends.encode(key, run, arrays[n]) for n, (key, run) in self.fronts.items()}

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.head.session.run([LOGITS], self._encoded(feeds))[0].astype(np.float32, copy=False)

    def run_streams(self, feeds: dict[str, np.ndarray]) -> np.ndarray | None:
        if STREAM_LOGITS not in self.outputs:
            return None
        return self.head.session.run([STREAM_LOGITS], self._encoded(feeds))[0].astype(np.float32, copy=False)


class TensorRTBackend(Backend):
    """A serialized TensorRT engine checked against its sidecar (TRT version, GPU, precision, ONNX)."""

    name = "tensorrt"

    def __init__(self, engine_path: str | Path, onnx_path: str | Path | None = None,
                 precision: str | None = None):
        from emofusion.export.tensorrt import TrtRunner

        self.runner = TrtRunner(engine_path, onnx_path=onnx_path, precision=precision)
        self.device = f"cuda:{self.runner.gpu_name}"
        self.precision = self.runner.precision
        self.inputs = tuple(self.runner.inputs)
        if onnx_path is not None:
            meta = onnx_metadata(onnx_path)
            if meta.get("classes"):
                self.classes = tuple(meta["classes"].split(","))

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.runner.run(dict(zip(self.inputs, self._feeds(feeds))))


def _load_checkpoint(files: ModelFiles, loaded):
    if loaded is not None:
        return loaded
    if files.checkpoint is None:
        raise FileNotFoundError("the torch backend needs a .pt checkpoint")
    from emofusion.nets.checkpoint import load_checkpoint

    return load_checkpoint(files.checkpoint)


def _onnx_path(files: ModelFiles, loaded, precision: str) -> Path:
    """The graph ONNX Runtime runs for `precision` (int8: the CPU INT8 graph)."""
    if precision == "int8":
        candidates = [files.onnx] if files.onnx and "int8" in files.onnx.name else []
        if files.checkpoint is not None:
            candidates.append(files.checkpoint.parent / "model.int8.onnx")
        for c in candidates:
            if c is not None and c.is_file():
                return c
        raise FileNotFoundError("no INT8 ONNX graph (emofusion export MODEL.pt --to onnx --int8)")
    if files.checkpoint is not None:
        fp32 = onnx_for_checkpoint(files.checkpoint, shipped=files.onnx, loaded=loaded)
    elif files.onnx is None:
        raise FileNotFoundError("no ONNX graph and no checkpoint to export one from")
    else:
        fp32 = files.onnx
    if precision == "fp16":
        from emofusion.export.tensorrt import graph_for_precision

        return graph_for_precision(fp32, "fp16")
    return fp32


def tensorrt_source(files: ModelFiles, loaded, precision: str) -> Path:
    """The graph a `precision` TensorRT engine is built from: the model's FP32 graph for fp32 and
    fp16 (converted at build time), the symmetric Q/DQ graph made for TensorRT for int8 (never the
    CPU INT8 graph, never the FP32 graph)."""
    from emofusion.export.tensorrt import HOW_TO_INT8, TRT_INT8_ONNX, graph_precision, tensorrt_qdq_problems

    if precision != "int8":
        return _onnx_path(files, loaded, "fp32")
    candidates = []
    if files.onnx is not None:
        candidates += [files.onnx, files.onnx.parent / TRT_INT8_ONNX]
    if files.checkpoint is not None:
        candidates.append(files.checkpoint.parent / TRT_INT8_ONNX)
    for c in candidates:
        if c.is_file() and graph_precision(c) == "int8" and not tensorrt_qdq_problems(c):
            return c
    raise FileNotFoundError(f"no INT8 graph for TensorRT next to the model; {HOW_TO_INT8}")


def _gpu_name(device: str) -> str:
    try:
        import torch

        from emofusion.infer.device import cuda_index

        return torch.cuda.get_device_name(cuda_index(device))
    except Exception:  # the name is only for the description
        return "CUDA GPU"


def _tensorrt_backend(files: ModelFiles, loaded, precision: str | None, device: str) -> Backend:
    if not tensorrt_present():
        raise RuntimeError("TensorRT backend unavailable: tensorrt not installed")
    if not device.startswith("cuda") or not cuda_present():
        raise RuntimeError("TensorRT backend unavailable: no CUDA GPU")
    if device != "cuda:0":
        raise RuntimeError(f"TensorRT backend unavailable: engines run on cuda:0 here, not {device}")
    from emofusion.export.tensorrt import engine_for_onnx

    trt_precision = precision or "fp16"
    if files.engine is not None and files.checkpoint is None and files.onnx is None:
        return TensorRTBackend(files.engine, None, precision=precision)
    onnx_path = tensorrt_source(files, loaded, trt_precision)
    engine = engine_for_onnx(onnx_path, shipped=files.engine, precision=trt_precision)
    return TensorRTBackend(engine, onnx_path, precision=trt_precision)


def _ort_backend(files: ModelFiles, loaded, precision: str, device: str, threads: int | None,
                 share_frontends: bool = False) -> Backend:
    """ONNX Runtime on the CPU, or with the CUDA provider on `device` (an error if ORT falls back).
    With `share_frontends`, an FP32 CPU model with frozen frontends runs as split graphs whose
    frontends it shares with the process's other models (SplitOrtBackend); where that cannot be
    exported it runs as one graph, as without."""
    from emofusion.infer.device import cuda_index

    if share_frontends and precision == "fp32" and not device.startswith("cuda") and files.checkpoint is not None:
        from emofusion.export.split import can_split, split_graphs

        loaded = _load_checkpoint(files, loaded)
        if can_split(loaded.model):
            try:
                return SplitOrtBackend(split_graphs(loaded), threads=threads)
            except (RuntimeError, ValueError, OSError) as exc:  # the one-graph path still answers
                log.warning("shared frontends unavailable for %s, running one graph: %s", files.checkpoint, exc)
    path = _onnx_path(files, loaded, precision)
    if not device.startswith("cuda"):
        return OrtBackend(path, providers=["CPUExecutionProvider"], threads=threads)
    b = OrtBackend(path, providers=[("CUDAExecutionProvider", {"device_id": cuda_index(device)}),
                                    "CPUExecutionProvider"], threads=threads)
    if b.device != "CUDAExecutionProvider":
        raise RuntimeError(f"ONNX Runtime could not start its CUDA provider on {device} (it fell back to "
                           f"{b.providers}); check the CUDA / cuDNN libraries onnxruntime-gpu needs")
    return b


def create_backend(source, kind: str = "auto", *, device: str | None = None,
                   precision: str | None = None, threads: int | None = None, loaded=None,
                   cuda_graphs: bool = True, share_frontends: bool = False) -> Backend:
    """A Backend for a model dir / `.pt` / `.onnx` / `.plan` (or an already-loaded checkpoint).

    `device`: auto (None) | cpu | cuda | cuda:N, resolved by infer/device.py; CUDA asked for where
    there is none raises DeviceUnavailable (never a silent CPU run). `auto` tries, on a GPU: a
    TensorRT engine, ONNX Runtime's CUDA provider, torch on CUDA; on the CPU: ONNX Runtime, then
    torch. The pick, where it runs and every skipped option are in `backend.reason`. `precision`
    None: fp16 for TensorRT, fp32 elsewhere; an explicit one is what every engine must deliver.
    `cuda_graphs`: the torch backend on CUDA replays its calls from CUDA graphs (no effect on CPU).
    `share_frontends`: on the CPU, ONNX Runtime (SplitOrtBackend) and torch run frozen frontends
    (Whisper, the face backbone) once per clip for all models that have them (the predictor's
    default; infer/shared_frontends.py).
    """
    from emofusion.infer.device import engine_plan

    if kind not in KINDS:
        raise ValueError(f"backend must be one of {KINDS}, not {kind!r}")
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    plan = engine_plan(kind, device)
    dev, on_gpu = plan.device, plan.device.startswith("cuda")
    files = ModelFiles() if source is None else ModelFiles.resolve(source)
    skipped: list[str] = list(plan.skipped)
    # in auto, these make an engine give way to the next one (on a GPU: any failure of a GPU engine)
    give_way = Exception if on_gpu else (ImportError, FileNotFoundError)
    for engine in plan.engines:
        try:
            if engine == "tensorrt":
                b = _tensorrt_backend(files, loaded, precision, dev)
            elif engine == "onnxruntime":
                b = _ort_backend(files, loaded, precision or "fp32", dev, threads, share_frontends)
            else:
                if (precision or "fp32") != "fp32":
                    raise ValueError(f"the torch backend runs fp32 only, not {precision}")
                b = TorchBackend(_load_checkpoint(files, loaded), device=dev, threads=threads,
                                 cuda_graphs=cuda_graphs, share_frontends=share_frontends)
        except give_way as exc:
            if kind != "auto" or engine == plan.engines[-1]:
                raise
            skipped.append(f"{engine} failed: {exc}")
            continue
        b.where = f"{dev} ({_gpu_name(dev)})" if on_gpu else "cpu"
        how = {"tensorrt": "tensorrt engine", "onnxruntime": f"onnxruntime on {b.device}"
               + (", frontends shared between models" if isinstance(b, SplitOrtBackend) else ""),
               "torch": "torch eager" + (", CUDA graphs per input shape" if getattr(b, "graphed", None) else "")
               + (", frontends shared between models" if getattr(b, "fronts", None) else "")}
        b.reason = f"{how[engine]}, runs on {b.where}" + (f" (skipped: {'; '.join(skipped)})" if skipped else "")
        return b
    raise RuntimeError(f"no engine could run {source}: {'; '.join(skipped)}")
