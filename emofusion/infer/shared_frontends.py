"""Frozen frontends shared between models (ONNX Runtime and torch, CPU): each distinct one runs once per clip.

`backends.SplitOrtBackend` runs a model as its split graphs (export/split.py), its frontends'
sessions process-wide, one per frontend graph; `backends.TorchBackend` (CPU) runs the model's own
frontend modules and head (`forward_from_encoded`). Inside `sharing()` (the predictor wraps each
clip's analysis in it) their outputs are remembered, keyed by the frontend and a digest of the
input's bytes: when the voice model, IA and LT read the same log-mel, the Whisper encoder runs for
the first and the other two reuse its states. Same input, same frontend, same output, so sharing
changes no answer (tests/test_shared_frontends.py). Outside `sharing()` every call computes.

The memory is per thread and per clip: concurrent web requests neither see nor evict each other's
outputs, and nothing (a long clip's states run to hundreds of MB) outlives the clip.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

LABEL = "(shared frontends)"  # ends the backend label of a model that shares its frontends
# what a timing table says about them (the web app, benchmarks)
TIMING_NOTE = ("Models that read the same frozen frontend (Whisper's encoder, the face backbone) run it once "
               "per clip: the first model's time includes it.")

_lock = threading.Lock()
_sessions: dict[tuple[Path, int | None], object] = {}
_local = threading.local()  # .memo: {(frontend key, input digest): output} inside sharing(), else None
runs = {"computed": 0, "reused": 0}  # frontend calls since start (tests, benchmarks)


@contextmanager
def sharing() -> Iterator[None]:
    """Frontend outputs computed on this thread inside the block are reused inside it (nested
    blocks join the outermost), then dropped."""
    if getattr(_local, "memo", None) is not None:
        yield
        return
    _local.memo = {}
    try:
        yield
    finally:
        _local.memo = None


def session_options(threads: int | None = None):
    """ONNX Runtime options of every session here: no spinning threads (they starve PyTorch, and
    each other, on small CPUs)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return opts


def frontend_session(path: Path, threads: int | None = None):
    """The process-wide CPU session of a frontend graph."""
    import onnxruntime as ort

    with _lock:
        key = (Path(path), threads)
        if key not in _sessions:
            _sessions[key] = ort.InferenceSession(str(path), session_options(threads),
                                                  providers=["CPUExecutionProvider"])
        return _sessions[key]


def encode(key: str, compute: Callable[[np.ndarray], Any], x: np.ndarray) -> Any:
    """The frontend `key`'s output for `x`: remembered inside `sharing()`, else `compute(x)` now.
    An engine's frontends compute with that engine (ONNX Runtime: `session_runner`; torch: the
    module), and their keys say which, so engines never mix outputs."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    memo = getattr(_local, "memo", None)
    memo_key = None
    if memo is not None:
        digest = hashlib.blake2b(x.tobytes(), digest_size=16)
        digest.update(repr(x.shape).encode())
        memo_key = (key, digest.digest())
        if memo_key in memo:
            with _lock:
                runs["reused"] += 1
            return memo[memo_key]
    out = compute(x)
    if isinstance(out, np.ndarray):
        out.setflags(write=False)  # shared between models: nobody may change it
    if memo is not None:
        memo[memo_key] = out
    with _lock:
        runs["computed"] += 1
    return out


def session_runner(session) -> Callable[[np.ndarray], np.ndarray]:
    """`compute` for `encode` from a one-input ONNX Runtime session."""
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]
