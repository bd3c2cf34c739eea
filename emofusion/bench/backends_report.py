"""Markdown tables, speed-ups and a plot for `emofusion bench backends` (whether they meet the
project brief's targets is scripts/check_targets.py's business, not the package's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _row(result: dict, model: str, backend: str, batch: int) -> dict | None:
    for m in result["models"]:
        for r in m["rows"]:
            if r["model"] == model and r["backend"] == backend and r["batch"] == batch:
                return r
    return None


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Every other backend's p50 speed-up over torch eager at batch 1, per model."""
    speedups = []
    for m in result["models"]:
        torch_r = _row(result, m["model"], "torch", 1)
        for r in m["rows"]:
            if torch_r and r["batch"] == 1 and r["backend"] != "torch":
                speedups.append({"model": r["model"], "backend": r["backend"],
                                 "speedup": round(torch_r["p50_ms"] / r["p50_ms"], 2)})
    return {"speedups_vs_torch_b1": speedups}


def write_report(result: dict[str, Any], out: Path) -> None:
    hw = result["hardware"]
    peak = result["peak_gflops"]
    lines = ["# Inference backends benchmark", ""]
    if result["untrained"]:
        lines += ["**Untrained checkpoints** (no trained models were present): same architectures and "
                  "cost as the trained ones; latency does not depend on the weights.", ""]
    lines += [f"CPU: {hw['cpu']}, {hw['logical_cores']} logical cores, torch threads {result['torch_threads']} "
              f"({result.get('torch_threads_reason', '')}), ONNX Runtime default threads without spinning; "
              f"load average {hw['loadavg_start'][0]:.1f} at start, {hw['loadavg_end'][0]:.1f} at end "
              "(a shared machine: other jobs ran at the same time, so figures are pessimistic). "
              f"Peak float32 matmul: {peak:.1f} GFLOP/s. Versions: "
              + ", ".join(f"{k} {v}" for k, v in hw["versions"].items()) + ".", "",
              f"Memory: {result['memory_method']}.", "",
              "| model | backend | device | batch | p50 ms | p95 ms | p99 ms | clips/s | floor ms | peak RSS +MB | iters |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m in result["models"]:
        for r in m["rows"]:
            floor = m["gflops_per_clip"] * r["batch"] / peak * 1000
            dev = r["device"].replace("ExecutionProvider", "")
            lines.append(f"| {r['model']} | {r['backend']} | {dev} | {r['batch']} | {r['p50_ms']:.2f} | "
                         f"{r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['throughput_clips_s']:.1f} | {floor:.2f} | "
                         f"{r['peak_rss_delta_mb']} | {r['iters']} |")
    lines += ["", "Floor = model GFLOPs per clip x batch / peak matmul GFLOP/s (compute-bound ideal).", ""]
    lines += ["The INT8 graphs timed here are calibrated on the few clips they are timed on (the last batch: "
              "32 inputs from them), so their agreement below is no accuracy figure: what INT8 costs is in "
              "`results/bench/int8_agreement.md` (calibration and comparison on different RAVDESS actors).", "",
              "| model | GFLOP per clip | INT8 calibration | top-1 agreement with torch (last batch) | TensorRT |",
              "| --- | ---: | --- | --- | --- |"]
    for m in result["models"]:
        agree = ", ".join(f"{k} {v:.2f}" for k, v in m["top1_agreement_with_torch_last_batch"].items())
        trt = "ran" if not m["tensorrt_skipped"] else f"skipped: {m['tensorrt_skipped']}"
        lines.append(f"| {m['model']} | {m['gflops_per_clip']:.3f} | {m['calibration']} | {agree} | {trt} |")
    lines += ["", "## GPU rows", "",
              f"GPU: {hw.get('gpu') or 'none'}; ONNX Runtime providers available: "
              f"{', '.join(hw.get('ort_available_providers') or []) or 'not recorded'}; this onnxruntime's "
              f"TensorRT provider links TensorRT {hw.get('ort_tensorrt_provider_links_tensorrt') or '?'}.x.", "",
              "| model | backend | providers used (first runs the graph) | skipped because |",
              "| --- | --- | --- | --- |"]
    for m in result["models"]:
        provs = m.get("ort_providers", {})
        for label in ("ort_trt_fp16", "ort_cuda"):
            used = ", ".join(provs[label]["used"]) if label in provs else ""
            why = ((m["ort_gpu_skipped"] or {}).get(label, "") if "ort_gpu_skipped" in m
                   else "not recorded (result written before these rows existed)")
            lines.append(f"| {m['model']} | {label} | {used or '-'} | {why or '-'} |")
        trt = (f"ran ({m.get('tensorrt_precision')})" if not m["tensorrt_skipped"]
               else m["tensorrt_skipped"])
        lines.append(f"| {m['model']} | tensorrt (native engine) | - | {'-' if not m['tensorrt_skipped'] else trt} |")
    e2e = result["e2e"]
    lines += ["", f"## End to end ({e2e['clip']}; Predictor, backend {e2e['backend']}, {e2e['runs']} runs)", "",
              f"Backend choice: {e2e['reason']}. Notices: {', '.join(e2e['notices']) or 'none'}.", "",
              "Fusions give their voice-alone and face-alone answers from one pass of their graph (each "
              "frontend runs once). Models with the same frozen frontend (Whisper's encoder: ia, lt, audio; "
              "the face backbone: ia, lt) share one run of it per clip (`infer/shared_frontends.py`): the "
              "first model that reads it pays for it, so ia's row holds both frontends. The other columns "
              "time, runs alternated, a predictor whose models run their own frontends, with one-pass "
              "graphs and with the single-stream answers from a batch of three zeroed inputs. Frontend outputs "
              "are shared within one clip's analysis only: each run pays for its own.", ""]
    own = e2e.get("p50_ms_own_frontends") or {}
    three = e2e.get("p50_ms_batch_of_three") or {}
    lines += ["| stage | p50 ms | p95 ms | p50 ms, own frontends | p50 ms, own frontends, batch of three |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for k, v in e2e["p50_ms"].items():
        cols = [f"{d[k]:.1f}" if k in d else "-" for d in (own, three)]
        lines.append(f"| {k} | {v:.1f} | {e2e['p95_ms'][k]:.1f} | {' | '.join(cols)} |")
    lines += ["", "## Speed-up over torch eager (batch 1, p50)", "", "| model | backend | speed-up |",
              "| --- | --- | ---: |"]
    for s in result["summary"]["speedups_vs_torch_b1"]:
        lines.append(f"| {s['model']} | {s['backend']} | {s['speedup']:.2f}x |")
    lines += ["", "Written by `emofusion bench backends` (emofusion/bench/backends.py).", ""]
    (out / "bench_backends.md").write_text("\n".join(lines))
    plot(result, out / "bench_backends.png")


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m["model"] for m in result["models"]]
    backends = sorted({r["backend"] for m in result["models"] for r in m["rows"]},
                      key=["torch", "ort_fp32", "ort_int8", "torch_cuda", "torch_cuda_graph", "ort_cuda",
                           "ort_trt_fp16", "tensorrt"].index)
    batches = sorted({r["batch"] for m in result["models"] for r in m["rows"]})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(1, len(backends))
    for j, backend in enumerate(backends):
        lat = [(_row(result, m, backend, 1) or {}).get("p50_ms", 0) for m in models]
        thr = [(_row(result, m, backend, batches[-1]) or {}).get("throughput_clips_s", 0) for m in models]
        xs = [i + j * width for i in range(len(models))]
        axes[0].bar(xs, lat, width, label=backend)
        axes[1].bar(xs, thr, width, label=backend)
    for ax, title in ((axes[0], "latency p50, batch 1 (ms, lower is better)"),
                      (axes[1], f"throughput, batch {batches[-1]} (clips/s, higher is better)")):
        ax.set_xticks([i + width * (len(backends) - 1) / 2 for i in range(len(models))], models)
        ax.set_title(title, fontsize=10)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    tag = " (untrained checkpoints)" if result["untrained"] else ""
    fig.suptitle(f"emofusion inference backends on {result['hardware']['cpu']}{tag}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
