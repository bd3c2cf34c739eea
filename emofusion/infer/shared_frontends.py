"""ONNX Runtime with frontends shared between models: each distinct frontend runs once per clip.

`backends.SplitOrtBackend` runs a model as its split graphs (export/split.py). Its frontends' sessions
are process-wide, one per frontend graph, and their outputs are remembered for the last few
inputs, keyed by the frontend and a digest of the input's bytes: when the voice model, IA and LT
read the same log-mel, the Whisper encoder runs for the first and the other two reuse its states.
Same input, same frontend, same output, so sharing changes no answer (tests/test_shared_frontends.py).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np


MEMO_SIZE = 8  # frontend outputs kept: a clip's windows x its frontends, a few clips of web requests

_lock = threading.Lock()
_sessions: dict[tuple[Path, int | None], object] = {}
_memo: OrderedDict[tuple[str, bytes], np.ndarray] = OrderedDict()
runs = {"computed": 0, "reused": 0}  # frontend calls since start (tests, benchmarks)


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


def encode(key: str, session, x: np.ndarray) -> np.ndarray:
    """The frontend `key`'s output for `x`: remembered, or computed with `session` now."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    digest = hashlib.blake2b(x.tobytes(), digest_size=16)
    digest.update(repr(x.shape).encode())
    memo_key = (key, digest.digest())
    with _lock:
        hit = _memo.get(memo_key)
        if hit is not None:
            _memo.move_to_end(memo_key)
            runs["reused"] += 1
            return hit
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    out.setflags(write=False)  # shared between models: nobody may change it
    with _lock:
        _memo[memo_key] = out
        while len(_memo) > MEMO_SIZE:
            _memo.popitem(last=False)
        runs["computed"] += 1
    return out


def forget() -> None:
    """Drop remembered outputs (benchmarks that time a frontend each run)."""
    with _lock:
        _memo.clear()
