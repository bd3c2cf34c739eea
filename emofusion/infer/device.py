"""One device notion for inference, training and benchmarks: `auto | cpu | cuda | cuda:N`.

`resolve_device` turns what a user asked for into "cpu" or "cuda:N", and refuses CUDA where
torch sees none (a silent CPU run would hide a broken GPU install behind slow answers).
`engine_plan` says which engines `create_backend(kind="auto")` tries, in order, on that device:
on a GPU TensorRT, then ONNX Runtime's CUDA provider, then torch on CUDA; on the CPU ONNX Runtime
then torch. The availability probes are plain functions so the chooser's unit tests can fake them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from emofusion.errors import UsageError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
DEVICE_HELP = ("where the models run: auto (the GPU when torch sees one, else the CPU), cpu, cuda or cuda:N "
               "(an error when there is no such CUDA GPU)")
_PATTERN = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


class DeviceUnavailable(UsageError):
    """A CUDA device was asked for and this machine (or this install) has none."""


def parse_device(text: str | None) -> tuple[str, int | None]:
    """("auto" | "cpu" | "cuda", index or None) from "auto" / "cpu" / "cuda" / "cuda:N" (None = auto)."""
    t = "auto" if text is None else str(text).strip().lower()
    m = _PATTERN.match(t)
    if not m or (m.group(2) is not None and m.group(1) != "cuda"):
        raise UsageError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {text!r}")
    return m.group(1), None if m.group(2) is None else int(m.group(2))


def cuda_device_count() -> int:
    """CUDA GPUs torch can use here (0 without a GPU, a driver, or a CUDA build of torch)."""
    try:
        import torch
    except ImportError:
        return 0
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a broken driver install reads as no GPU; resolve_device says what to do
        return 0


def _no_cuda_message(asked: str) -> str:
    try:
        import torch

        build = f"torch {torch.__version__}" + (f" (CUDA {torch.version.cuda})" if torch.version.cuda
                                                 else " (a CPU-only build)")
    except ImportError:
        build = "torch not installed"
    return (f"device {asked!r} asked for, but torch sees no CUDA GPU here ({build}): use --device cpu "
            "(or device='cpu'), or run on a machine with an NVIDIA GPU and driver and a CUDA build of torch")


def resolve_device(device: str | None = "auto", *, cuda_count: int | None = None) -> str:
    """"cpu" or "cuda:N" for `device`; raises DeviceUnavailable when CUDA is asked for and absent.

    `cuda_count`: how many CUDA GPUs there are (None: ask torch; tests pass a number)."""
    kind, index = parse_device(device)
    if kind == "cpu":
        return "cpu"
    n = cuda_device_count() if cuda_count is None else cuda_count
    if kind == "auto":
        return "cuda:0" if n > 0 else "cpu"
    if n == 0:
        raise DeviceUnavailable(_no_cuda_message(str(device)))
    index = 0 if index is None else index
    if index >= n:
        raise DeviceUnavailable(f"device {device!r} asked for, but this machine has {n} CUDA GPU"
                                f"{'s' if n > 1 else ''} (cuda:0{f'..cuda:{n - 1}' if n > 1 else ''}): "
                                "pick one of those or --device cuda")
    return f"cuda:{index}"


def cuda_index(device: str) -> int:
    """N of a resolved "cuda:N"."""
    return int(device.split(":", 1)[1]) if device.startswith("cuda:") else 0


def tensorrt_importable() -> bool:
    """`import tensorrt` works (the package and its libraries are there)."""
    try:
        import tensorrt  # noqa: F401
    except Exception:  # ImportError, or OSError when libnvinfer cannot load
        return False
    return True


def ort_cuda_listed() -> bool:
    """onnxruntime offers the CUDA provider (onnxruntime-gpu lists it even without a GPU: a
    session must still be tried, see `create_backend`)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


@dataclass(frozen=True)
class EnginePlan:
    """The resolved device, the engines to try there in order, and why others are not tried."""

    device: str
    engines: tuple[str, ...]
    skipped: tuple[str, ...] = field(default=())


def engine_plan(kind: str, device: str | None = "auto", *, cuda_count: int | None = None,
                tensorrt: bool | None = None, ort_cuda: bool | None = None) -> EnginePlan:
    """Engines `create_backend` tries for backend `kind` on `device`, best first.

    auto on CUDA: tensorrt (if it imports), onnxruntime (if it lists the CUDA provider), torch;
    auto on the CPU: onnxruntime, torch. An explicit kind is tried alone; one that cannot run on
    the device at all (TensorRT on the CPU, ORT's CUDA provider absent) raises UsageError.
    The keyword probes default to this machine's (tests pass booleans)."""
    dev = resolve_device(device, cuda_count=cuda_count)
    on_gpu = dev.startswith("cuda")
    trt = (tensorrt_importable() if tensorrt is None else tensorrt) if on_gpu else False
    ocuda = (ort_cuda_listed() if ort_cuda is None else ort_cuda) if on_gpu else False
    if kind == "auto":
        if not on_gpu:
            return EnginePlan(dev, ("onnxruntime", "torch"), ("tensorrt: no CUDA GPU",))
        engines, skipped = [], []
        (engines if trt else skipped).append("tensorrt" if trt else "tensorrt: not installed")
        (engines if ocuda else skipped).append(
            "onnxruntime" if ocuda else "onnxruntime: no CUDA provider (pip install onnxruntime-gpu)")
        return EnginePlan(dev, (*engines, "torch"), tuple(skipped))
    asked = parse_device(device)[0]
    if kind == "tensorrt" and asked == "cpu":
        raise UsageError("the tensorrt backend runs on a CUDA GPU only: use --device cuda on a GPU machine, "
                         "or another --backend on the CPU")
    if kind == "onnxruntime" and on_gpu and not ocuda:
        if asked == "auto":  # a CPU-only onnxruntime on a GPU machine: it runs where it can
            return EnginePlan("cpu", (kind,), ("onnxruntime: no CUDA provider (pip install onnxruntime-gpu)",))
        raise DeviceUnavailable(f"onnxruntime on {dev} needs the CUDA provider, which this onnxruntime lacks: "
                                "pip install onnxruntime-gpu, or use --backend torch / auto")
    return EnginePlan(dev, (kind,))  # tensorrt with auto on a CPU machine: create_backend says why not
