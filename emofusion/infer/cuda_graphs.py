"""CUDA-graph replay of a model's forward call, one graph per input shape, for the torch backend on CUDA.

Why: these networks are small, so on a GPU a batch-1 call is bound by launching hundreds of tiny
kernels (issue 31 measured IA 5.6 ms eager, 0.9 ms replayed from a CUDA graph, same outputs).
A graph replays fixed kernels on fixed buffers, so each input shape gets its own static input
buffers and graph; a capture that fails leaves that shape on eager and says why in `notes`.
Only used on CUDA: the CPU path never reaches this module.
"""

from __future__ import annotations

import threading
from typing import Any

# One capture at a time in the process (captures from two threads would see each other's work).
_CAPTURE_LOCK = threading.Lock()


class GraphedModel:
    """`run(*tensors on the device) -> logits tensor`; graphs replace eager calls per input shape.

    `max_graphs`: shapes captured at most (each holds its buffers on the GPU); later shapes run
    eager. Replays are serialised by a lock: the static buffers are shared by every caller."""

    def __init__(self, model, device: str, max_graphs: int = 8, warmup: int = 3):
        self.model, self.device = model, device
        self.max_graphs, self.warmup = max_graphs, warmup
        self.graphs: dict[tuple, tuple[Any, list, Any]] = {}  # shapes -> (graph, inputs, output)
        self.failed: set[tuple] = set()
        self.notes: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, *args):
        import torch

        key = tuple(tuple(a.shape) for a in args)
        if key in self.failed or (key not in self.graphs and len(self.graphs) >= self.max_graphs):
            return self.model(*args)
        with self._lock:
            if key not in self.graphs:
                try:
                    self.graphs[key] = self._capture(args)
                except Exception as exc:  # unsupported op, out of memory...: this shape stays eager
                    self.failed.add(key)
                    self.notes.append(f"CUDA graph capture failed for input shapes {list(key)}, "
                                      f"running eager: {type(exc).__name__}: {exc}")
                    torch.cuda.synchronize(self.device)
                    return self.model(*args)
            graph, inputs, output = self.graphs[key]
            for buf, a in zip(inputs, args):
                buf.copy_(a)
            graph.replay()
            return output.clone()

    def _capture(self, args):
        """Warm up on a side stream, then capture one forward call (the pattern of PyTorch's
        CUDA-graph documentation: lazy initialisation must not happen inside the capture)."""
        import torch

        inputs = [a.detach().clone() for a in args]
        side = torch.cuda.Stream(device=self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.model(*inputs)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with _CAPTURE_LOCK, torch.cuda.graph(graph, capture_error_mode="thread_local"):
            output = self.model(*inputs)
        return graph, inputs, output
