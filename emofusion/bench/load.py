"""`emofusion bench load`: the real web app under N concurrent API calls on a real clip.

Starts `emofusion webapp` on a free 127.0.0.1 port, warms it up with one call, then fires N calls
at once through gradio_client (bounded: N <= 100, each with a timeout) and reports how many were
answered, how many failed or were lost, and latency percentiles. Loopback only, never a remote host.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HELP = "web app under concurrent API calls (answered / lost, latency p50/p95) -> results/bench/webapp_load.*"

MAX_CALLS = 100


def default_clip() -> Path | None:
    from emofusion.webapp.app import example_clips
    from emofusion.webapp.config import WebAppConfig

    clips = example_clips(WebAppConfig())
    return Path(clips[0]) if clips else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=Path, default=Path("models"), help="models directory (default: %(default)s)")
    parser.add_argument("--backend", default="auto", help="server backend (default: %(default)s)")
    parser.add_argument("--clip", type=Path, default=None, help="clip to send (default: first web app example)")
    parser.add_argument("--calls", type=int, default=20, help=f"concurrent calls, at most {MAX_CALLS} (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=None, help="server --concurrency (default: the server's)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per call (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("results") / "bench", help="output directory (default: %(default)s)")


def fire(url: str, clip: Path, calls: int, timeout_s: float) -> tuple[list[dict], float]:
    """`calls` simultaneous API calls after one warm-up: per-call records and the wall time."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)

    def one(i: int) -> dict:
        t0 = time.perf_counter()
        try:
            job = client.submit(handle_file(str(clip)), api_name="/analyze")
            payload = job.result(timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001 - a lost call is a result here, not a crash
            return {"i": i, "status": "lost", "error": f"{type(exc).__name__}: {exc}"[:300],
                    "s": time.perf_counter() - t0}
        status = "ok" if payload.get("ok") else "error"
        backends = sorted({m.get("backend", "") for m in (payload.get("models") or {}).values()})
        return {"i": i, "status": status, "error": (payload.get("error") or {}).get("code"),
                "s": time.perf_counter() - t0, "server_total_ms": payload.get("timings_ms", {}).get("total"),
                "backend": ", ".join(backends)}

    one(-1)  # warm-up (first call loads lazy state); not counted
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=calls) as pool:
        records = list(pool.map(one, range(calls)))
    return records, time.perf_counter() - t0


def summarize(records: list[dict], wall_s: float) -> dict:
    lat = np.array([r["s"] for r in records if r["status"] == "ok"], dtype=float)
    pct = (lambda q: round(float(np.percentile(lat, q)), 3)) if len(lat) else (lambda q: None)
    served = [r["server_total_ms"] for r in records if r.get("server_total_ms")]
    return {
        "calls": len(records),
        "server_analysis_ms_median": round(float(np.median(served)), 1) if served else None,
        "backend_used": next((r["backend"] for r in records if r.get("backend")), None),
        "answered_ok": sum(r["status"] == "ok" for r in records),
        "answered_error": sum(r["status"] == "error" for r in records),
        "lost": sum(r["status"] == "lost" for r in records),
        "latency_s": {"p50": pct(50), "p95": pct(95), "min": pct(0), "max": pct(100)},
        "wall_s": round(wall_s, 3),
        "throughput_clips_per_s": round(len(lat) / wall_s, 3) if wall_s > 0 else None,
    }


def markdown(result: dict) -> str:
    s, c = result["summary"], result["setup"]
    lat = s["latency_s"]
    return "\n".join([
        "# Web app under concurrent load",
        "",
        f"`emofusion bench load`: {s['calls']} simultaneous gradio_client calls to `/analyze` on "
        f"`{c['clip']}` against a real `emofusion webapp` on 127.0.0.1 (models `{c['models']}`, "
        f"backend `{c['backend']}` -> `{s['backend_used']}`, server concurrency "
        f"{c['server_concurrency']}); {c['cpus']} CPU cores (1-min load average {c['load_before']} "
        f"before the run, other work included), {c['date']}.",
        "",
        "| calls | answered ok | answered with error | lost | p50 s | p95 s | max s | wall s | clips/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {s['calls']} | {s['answered_ok']} | {s['answered_error']} | {s['lost']} | {lat['p50']} | "
        f"{lat['p95']} | {lat['max']} | {s['wall_s']} | {s['throughput_clips_per_s']} |",
        "",
        ("The models served are the shipped ones (each has a model card)." if c.get("shipped_models")
         else "**These are not the shipped models** (no model cards: untrained checkpoints with the same"
              " architecture). Latency does not depend on the weights; rerun on `models/` to refresh."),
        "",
        "Latency is per call, from submit (including the upload) to the JSON answer, so it includes",
        "time spent waiting in the server's queue behind the other calls. Time inside the analysis",
        f"itself (median of the calls' `timings_ms.total`, {c['server_concurrency']} running at once): "
        f"{s['server_analysis_ms_median']} ms.",
        "",
    ])


def run(args: argparse.Namespace) -> int:
    from emofusion.errors import UsageError
    from emofusion.webapp.server import running_server
    from emofusion.webapp.service import check_models_dir

    if not 1 <= args.calls <= MAX_CALLS:
        raise UsageError(f"--calls must be 1..{MAX_CALLS}")
    clip = args.clip or default_clip()
    if clip is None or not Path(clip).is_file():
        raise UsageError(f"clip not found: {clip} (pass --clip PATH)")
    check_models_dir(args.models, ("ia", "lt"))
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "webapp_load.server.log"
    with running_server(args.models, log_path, backend=args.backend, concurrency=args.concurrency) as url:
        load_before = os.getloadavg()[0]
        records, wall = fire(url, Path(clip), args.calls, args.timeout)
    from emofusion.webapp.config import WebAppConfig

    result = {
        "setup": {"clip": Path(clip).name, "models": str(args.models), "backend": args.backend,
                  "server_concurrency": args.concurrency or WebAppConfig().concurrency,
                  "cpus": os.cpu_count(), "python": platform.python_version(),
                  "load_before": round(load_before, 2),
                  "shipped_models": all((args.models / n / "card.json").is_file() for n in ("ia", "lt")),
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
        "summary": summarize(records, wall),
        "calls": records,
    }
    (args.out / "webapp_load.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "webapp_load.md").write_text(markdown(result))
    print(markdown(result))
    s = result["summary"]
    if s["answered_ok"] != s["calls"]:
        print(f"server log kept at {log_path}")
        return 1
    log_path.unlink(missing_ok=True)
    return 0
