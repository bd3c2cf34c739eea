"""One training code path for 1 process and for torchrun (DDP): gloo on CPU, nccl on GPU.

Under torchrun every process runs the same loop on its DistributedSampler shard; only rank 0
writes files. Without torchrun the same code runs with world size 1.

How a worker ends matters (`end_worker`): torch never frees a gloo process group, not even after
`destroy_process_group()`, so its C++ threads are still running while the interpreter shuts down.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def resolve_device(name: str, local_rank: int = 0) -> str:
    """"cpu" or "cuda:N" for auto | cpu | cuda | cuda:N (emofusion.infer.device); under torchrun
    auto and cuda mean this process's GPU (cuda:LOCAL_RANK). CUDA asked for and absent raises
    DeviceUnavailable (the CLI prints one line)."""
    from emofusion.infer.device import parse_device
    from emofusion.infer.device import resolve_device as resolve

    kind, index = parse_device(name)
    dev = resolve(name if index is not None else kind)
    return f"cuda:{local_rank}" if dev.startswith("cuda") and index is None else dev


def launched_by_torchrun() -> bool:
    """True in a torchrun worker of a multi-process run: `setup` joins a process group there."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str = "auto") -> DistEnv:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); else a 1-process env."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.startswith("cuda") else "gloo"
        if dev.startswith("cuda"):
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return DistEnv(rank, world, local_rank, dev)


def teardown(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()


def end_worker(code: int = 0) -> NoReturn:
    """End a process that was in a process group, now, without interpreter shutdown.

    torch 2.14 never runs ProcessGroupGloo's destructor (seen under gdb: constructed once per
    process, never destroyed, also after `destroy_process_group()` with the DDP model deleted and
    garbage collected). Its threads (gloo_tcp_loop, waking every 10 ms, and two pt_gloo_runloop)
    therefore outlive Python's finalization and the C++ static destructors that `exit()` runs, while
    the peer process closes its end of the sockets. Now and then that aborted a rank after the
    run had finished ("terminate called without an active exception", std::terminate with no C++
    exception: what a std::thread destroyed unjoined or a thread unwound through noexcept code
    prints), and torchrun then killed the other rank. Call this once the work is done and saved:
    streams are flushed and the process leaves with `os._exit`, so no destructor and no
    interpreter teardown can run next to those threads."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more to save
            pass
    os._exit(code)


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def all_sum(env: DistEnv, t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over processes (metrics from each shard); a no-op for one process."""
    if env.distributed:
        t = t.to(env.device).clone()  # nccl reduces on the GPU, gloo on the CPU
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t = t.cpu()
    return t

