"""`--device` on the commands that run models: CUDA asked for on a machine without one is one line
on stderr and exit status 2 (never a traceback, never a silent CPU run); cpu runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emofusion.cli import main
from emofusion.infer.device import cuda_device_count

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "emofusion" / "webapp" / "examples" / "1001_DFA_ANG_XX.mp4"
no_cuda = pytest.mark.skipif(cuda_device_count() > 0, reason="a CUDA GPU is here: the CUDA-absent error cannot happen")


def _one_line_error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


@no_cuda
def test_predict_device_cuda_without_a_gpu_is_one_line_no_traceback():
    r = subprocess.run([sys.executable, "-m", "emofusion", "predict", "--device", "cuda", str(CLIP)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("emofusion predict: error: device 'cuda'") and "--device cpu" in lines[0]
    assert r.stdout == ""


@no_cuda
@pytest.mark.parametrize("argv", [
    ["webapp", "--device", "cuda:0"],
    ["bench", "backends", "--device", "cuda", "--out", "{tmp}"],
    ["bench", "gpu", "--out", "{tmp}"],
    ["train", "--cache", "{tmp}", "--out", "{tmp}/run", "--device", "cuda"],
    ["train-face", "--out", "{tmp}/face", "--device", "cuda"],
    ["train-fusion", "--states", "{tmp}", "--pool", "{tmp}/pool.npz", "--out", "{tmp}/f", "--device", "cuda"],
])
def test_each_command_refuses_cuda_here_in_one_line(capsys, tmp_path, argv):
    err = _one_line_error(capsys, [a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert "CUDA GPU" in err and "--device cpu" in err


def test_a_device_that_means_nothing_is_a_usage_error(capsys):
    err = _one_line_error(capsys, ["predict", "--device", "gpu0", str(CLIP)])
    assert "device must be one of auto, cpu, cuda, cuda:N" in err


def test_predict_on_the_cpu_says_where_it_ran(capsys):
    assert main(["predict", "--device", "cpu", "--json", str(CLIP)]) == 0
    payload = json.loads(capsys.readouterr().out)[0]
    assert payload["ok"] and payload["models"]
    assert all("/cpu" in m["backend"] or "CPUExecutionProvider" in m["backend"] for m in payload["models"].values())
