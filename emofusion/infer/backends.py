"""One inference interface over three engines: PyTorch eager, ONNX Runtime, TensorRT.

Callers (Predictor, benchmarks, web app) feed `{name: float32 array}` and get `(B, 8)` logits,
whatever runs underneath; `create_backend(kind="auto")` picks the fastest engine that actually
works on this machine and says why, so a missing GPU library degrades instead of crashing.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.constants import CLASSES, LOGITS
from emofusion.infer.sources import ModelFiles, onnx_for_checkpoint, onnx_metadata

log = logging.getLogger(__name__)

KINDS = ("auto", "torch", "onnxruntime", "tensorrt")
# Best first; filtered by what the installed onnxruntime offers and what the machine can run.
ORT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


class Backend(ABC):
    """Runs one model. `name` = engine, `device` = where it actually runs, `inputs` = feed names."""

    name: str = ""
    device: str = "cpu"
    precision: str = "fp32"
    inputs: tuple[str, ...] = ()
    classes: tuple[str, ...] = CLASSES
    # Set by create_backend: why this engine was chosen (and what was skipped).
    reason: str = ""

    @abstractmethod
    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """float32 logits (B, n_classes) for float32 feeds keyed by `self.inputs`."""

    @property
    def label(self) -> str:
        return f"{self.name}/{self.device}/{self.precision}"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "precision": self.precision,
                "inputs": list(self.inputs), "reason": self.reason}

    def _feeds(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        missing = [k for k in self.inputs if k not in feeds]
        if missing:
            raise KeyError(f"{self.label} needs inputs {missing}; got {sorted(feeds)}")
        return [np.ascontiguousarray(feeds[k], dtype=np.float32) for k in self.inputs]


class TorchBackend(Backend):
    """PyTorch eager: the reference every other engine is checked against."""

    name = "torch"

    def __init__(self, loaded, device: str = "cpu"):
        import torch

        self._torch = torch
        self.loaded = loaded
        self.device = device
        self.model = loaded.model.to(device).eval()
        self.inputs = tuple(self.model.inputs)
        self.classes = tuple(loaded.classes)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            args = [torch.from_numpy(a).to(self.device) for a in self._feeds(feeds)]
            return self.model(*args).float().cpu().numpy()


def cuda_present() -> bool:
    """A usable NVIDIA GPU (torch's check when torch has CUDA, else the driver's device node)."""
    try:
        import torch

        if torch.cuda.is_available():
            return True
    except ImportError:
        pass
    return os.path.exists("/dev/nvidiactl") and os.path.exists("/dev/nvidia0")


def tensorrt_present() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


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


class OrtBackend(Backend):
    """ONNX Runtime; `device` is the provider the session really uses (it may fall back)."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, providers: list[str] | None = None,
                 threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # Spinning worker threads starve PyTorch (and each other) on small CPUs.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        self.path = Path(onnx_path)
        self.session = ort.InferenceSession(str(self.path), opts, providers=providers or ort_providers())
        self.device = self.session.get_providers()[0]
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        meta = onnx_metadata(self.path)
        self.metadata = meta
        self.classes = tuple(meta["classes"].split(",")) if meta.get("classes") else CLASSES
        self.precision = meta.get("precision", "fp32")

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        arrays = self._feeds(feeds)
        out = self.session.run([LOGITS], dict(zip(self.inputs, arrays)))[0]
        return out.astype(np.float32, copy=False)


class TensorRTBackend(Backend):
    """A serialized TensorRT engine checked against its sidecar (TRT version, GPU, ONNX hash)."""

    name = "tensorrt"

    def __init__(self, engine_path: str | Path, onnx_path: str | Path | None = None):
        from emofusion.export.tensorrt import TrtRunner

        self.runner = TrtRunner(engine_path, onnx_path=onnx_path)
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
    if precision == "int8":
        candidates = [files.onnx] if files.onnx and "int8" in files.onnx.name else []
        if files.checkpoint is not None:
            candidates.append(files.checkpoint.parent / "model.int8.onnx")
        for c in candidates:
            if c is not None and c.is_file():
                return c
        raise FileNotFoundError("no INT8 ONNX graph (emofusion export MODEL.pt --to onnx --int8)")
    if files.checkpoint is not None:
        return onnx_for_checkpoint(files.checkpoint, shipped=files.onnx, loaded=loaded)
    if files.onnx is None:
        raise FileNotFoundError("no ONNX graph and no checkpoint to export one from")
    return files.onnx


def create_backend(source, kind: str = "auto", *, device: str | None = None,
                   precision: str = "fp32", threads: int | None = None, loaded=None) -> Backend:
    """A Backend for a model dir / `.pt` / `.onnx` / `.plan` (or an already-loaded checkpoint).

    `auto`: TensorRT if installed with a GPU, else ONNX Runtime with its best working provider,
    else PyTorch. The pick and every skipped option are in `backend.reason`.
    """
    if kind not in KINDS:
        raise ValueError(f"backend must be one of {KINDS}, not {kind!r}")
    files = ModelFiles() if source is None else ModelFiles.resolve(source)
    skipped: list[str] = []

    if kind in ("auto", "tensorrt"):
        why_not = None if tensorrt_present() else "tensorrt not installed"
        why_not = why_not or (None if cuda_present() else "no CUDA GPU")
        if why_not is None:
            try:
                from emofusion.export.tensorrt import engine_for_onnx

                onnx_path = _onnx_path(files, loaded, "fp32")
                engine = engine_for_onnx(onnx_path, shipped=files.engine,
                                         precision="fp16" if precision == "fp32" else precision)
                b = TensorRTBackend(engine, onnx_path)
                b.reason = "tensorrt: fastest engine, usable here"
                return b
            except Exception as exc:  # engine build/load problems fall through to ORT in auto
                if kind == "tensorrt":
                    raise
                why_not = f"tensorrt failed: {exc}"
        if kind == "tensorrt":
            raise RuntimeError(f"TensorRT backend unavailable: {why_not}")
        skipped.append(why_not)

    if kind in ("auto", "onnxruntime"):
        try:
            path = _onnx_path(files, loaded, precision)
            providers = ["CPUExecutionProvider"] if device == "cpu" else None
            b = OrtBackend(path, providers=providers, threads=threads)
            b.reason = f"onnxruntime on {b.device}" + (f" ({'; '.join(skipped)})" if skipped else "")
            return b
        except (ImportError, FileNotFoundError) as exc:
            if kind == "onnxruntime":
                raise
            skipped.append(f"onnxruntime unavailable: {exc}")

    if precision != "fp32":
        raise ValueError(f"the torch backend runs fp32 only, not {precision}")
    dev = device or "cpu"
    b = TorchBackend(_load_checkpoint(files, loaded), device=dev)
    b.reason = "torch eager" + (f" ({'; '.join(skipped)})" if skipped else "")
    return b
