"""On a CUDA GPU: every shipped model, torch on CUDA (eager and replayed from CUDA graphs), gives
the CPU's probabilities within 1e-3 on the example clips; a clip analysed on the GPU gives the
CPU's answer; `emofusion bench gpu` runs. Skips (with the reason) on machines without CUDA."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emofusion.infer.device import cuda_device_count

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"
EXAMPLES = sorted((REPO / "emofusion" / "webapp" / "examples").glob("*.mp4"))
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(cuda_device_count() == 0, reason="needs a CUDA GPU (torch sees none here)")]


@pytest.mark.parametrize("name", ["audio", "face", "ia", "lt"])
def test_shipped_model_on_cuda_matches_the_cpu(name):
    from emofusion.bench.gpu import example_feeds
    from emofusion.infer.backends import TorchBackend, create_backend
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.probs import softmax

    cpu = TorchBackend(load_checkpoint(MODELS / name), device="cpu")
    feeds = example_feeds(cpu.loaded, EXAMPLES)
    ref = softmax(cpu.run(feeds))
    eager = create_backend(MODELS / name, kind="torch", device="cuda", cuda_graphs=False)
    graph = create_backend(MODELS / name, kind="torch", device="cuda", cuda_graphs=True)
    assert eager.device == graph.device == "cuda:0" and "runs on cuda:0" in graph.reason
    p_eager = softmax(eager.run(feeds))
    assert np.abs(p_eager - ref).max() <= 1e-3
    for _ in range(3):  # capture, then replays on the same buffers
        p_graph = softmax(graph.run(feeds))
        assert np.abs(p_graph - p_eager).max() <= 1e-5, graph.notes
    one = {k: v[:1] for k, v in feeds.items()}  # another shape: another graph, same answers
    assert np.abs(softmax(graph.run(one)) - ref[:1]).max() <= 1e-3
    assert graph.graphed is not None and len(graph.graphed.graphs) == 2, graph.notes


def test_auto_on_a_gpu_runs_there_and_answers_as_the_cpu():
    import emofusion

    gpu = emofusion.load(MODELS, device="cuda")
    assert all(m.backend.where.startswith("cuda") for m in gpu.models.values())
    cpu = emofusion.load(MODELS, device="cpu")
    a, b = gpu.analyze(EXAMPLES[0]), cpu.analyze(EXAMPLES[0])
    assert a.error is None and b.error is None
    for name in cpu.models:
        # MTCNN on the GPU may move a box by a pixel: the same answer, probabilities close
        assert a.models[name].top == b.models[name].top
        assert np.abs(a.models[name].probs - b.models[name].probs).max() <= 5e-2


@pytest.mark.slow
def test_bench_gpu_runs_and_writes_its_schema(tmp_path):
    from emofusion.cli import main

    assert main(["bench", "gpu", "--out", str(tmp_path), "--repeats", "5", "--e2e-runs", "1",
                 "--train-steps", "2"]) == 0
    r = json.loads((tmp_path / "gpu.json").read_text())
    assert r["machine"]["gpu"] and {x["backend"] for x in r["latency"]} >= {"torch", "torch_graph"}
