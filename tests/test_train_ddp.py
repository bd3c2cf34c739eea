"""`torchrun --nproc_per_node 2 -m emofusion train` with 2 CPU processes (gloo) on a tiny cache."""

import json
import os
import signal
import subprocess
import sys

import pytest
from train_data import write_cache


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path):
    cache = write_cache(tmp_path / "c", actors=(1, 2, 3), per_class=3)  # 12 clips per actor
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "emofusion", "train", "--cache", str(cache), "--out", str(run), "--test-actors", "1",
           "--val-actors", "2", "--fusion", "audio", "--epochs", "2", "--batch-size", "4", "--device", "cpu",
           "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # own process group: on a timeout the workers go too (killing torchrun alone orphans them)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("torchrun did not finish in 300 s")
    assert proc.returncode == 0, stderr[-3000:]
    info = json.loads((run / "run.json").read_text())
    assert info["world_size"] == 2
    rows = [json.loads(line) for line in (run / "fold_1" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]  # rank 0 alone writes: no duplicated lines
    # each process scored its own half of the validation actor; the sums cover it exactly once
    assert all(r["val_n"] == 12 for r in rows)
    # DistributedSampler: the 12 training clips split over 2 processes, counted once per epoch
    assert all(r["train_n"] == 12 for r in rows)
    res = json.loads((run / "results.json").read_text())
    assert res["summary"]["full"]["pooled"]["n"] == 12
    assert not list(run.rglob("*.tmp"))


def test_a_worker_ends_without_interpreter_shutdown(tmp_path):
    """distributed.end_worker: what was printed arrives, and nothing runs after it (no atexit
    handler, no finalization) while the gloo group's threads are still alive."""
    script = f"""
import atexit, sys
import torch.distributed as dist
from emofusion.train import distributed as D
dist.init_process_group("gloo", init_method={(tmp_path / "rendezvous").as_uri()!r}, rank=0, world_size=1)
atexit.register(lambda: print("interpreter shutdown ran", flush=True))
print("saved", end="")  # no newline: only an explicit flush delivers it through a pipe
print("warning", end="", file=sys.stderr)
dist.destroy_process_group()
D.end_worker(3)
print("not reached")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 3, out.stderr[-2000:]
    assert out.stdout == "saved" and out.stderr.endswith("warning")
