"""`emofusion bench gpu`: the GPU check's code path, run here on the CPU (`--device cpu --out DIR`,
small repeats), and its refusals. The GPU figures themselves need a GPU (tests/test_gpu.py)."""

from __future__ import annotations

import json

import pytest

from emofusion.cli import main
from emofusion.infer.device import cuda_device_count


def test_cpu_run_writes_the_documented_schema(tmp_path, capsys):
    argv = ["bench", "gpu", "--device", "cpu", "--out", str(tmp_path), "--names", "audio", "face",
            "--batches", "1", "3", "--repeats", "2", "--e2e-runs", "1", "--train-batch", "2",
            "--train-steps", "1", "--train-face-size", "48"]
    assert main(argv) == 0
    r = json.loads((tmp_path / "gpu.json").read_text())
    assert r["device"] == "cpu" and r["machine"]["gpu"] is None and r["machine"]["torch"]
    assert r["machine"]["machine"]
    rows = r["latency"]
    assert {(x["model"], x["backend"], x["batch"]) for x in rows} == {
        (m, b, n) for m in ("audio", "face") for b in ("torch", "onnxruntime") for n in (1, 3)}
    for x in rows:
        assert {"model", "backend", "device", "batch", "p50_ms"} <= set(x) and x["p50_ms"] > 0
    for p in r["parity"]:  # the same CPU: torch matches itself exactly, ONNX Runtime within 1e-4
        assert p["max_abs_prob_diff"] <= (0.0 if p["backend"] == "torch" else 1e-4), p
    assert {c["clip"] for c in r["e2e"]["clips"]} == set(r["clips"]) and len(r["clips"]) == 3
    assert r["e2e"]["p50_total_ms"] > 0 and "cpu" in " ".join(r["e2e"]["reasons"].values())
    t = r["training"]
    assert t["device"] == "cpu" and t["batch"] == 2 and t["samples_per_s"] > 0
    md = (tmp_path / "gpu.md").read_text()
    assert "not a GPU result" in md and "| audio | torch | cpu | 1 |" in md


def test_cpu_run_never_writes_the_gpu_results_file(capsys):
    assert main(["bench", "gpu", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "give --out DIR" in err


@pytest.mark.skipif(cuda_device_count() > 0, reason="a CUDA GPU is here")
def test_without_cuda_the_gpu_check_refuses_in_one_line(capsys, tmp_path):
    assert main(["bench", "gpu", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "torch sees no CUDA GPU" in err
    assert not (tmp_path / "gpu.json").exists()
