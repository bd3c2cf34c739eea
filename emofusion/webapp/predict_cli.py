"""`emofusion predict CLIP_OR_PHOTO...`: the web app's analysis from the shell, as a table or JSON.

Each input is reported on its own (a bad one does not stop the others). Exit status: 0 when at
least one was analysed, 1 when every one failed, 2 on usage errors (no models, bad option).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emofusion.webapp.config import WebAppConfig

HELP = "predict the emotion in video clips or photos with every shipped model (table or --json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from emofusion.infer.device import DEVICE_HELP
    from emofusion.webapp.cli import BACKENDS

    d = WebAppConfig()
    parser.add_argument("clips", nargs="+", type=Path, metavar="CLIP",
                        help="video clips, or photos (jpg, png, tiff, webp: a face-only answer)")
    parser.add_argument("--json", action="store_true", help="print one JSON document (a list, one entry per clip)")
    parser.add_argument("--models", type=Path, default=d.models_dir, help="models directory (default: %(default)s)")
    parser.add_argument("--backend", choices=BACKENDS, default=d.backend, help="inference backend (default: %(default)s)")
    parser.add_argument("--device", default=d.device, help=DEVICE_HELP + " (default: %(default)s)")


def _cell(r: dict) -> str:
    """A model's top class; for a fusion also what the voice (v) and face (f) alone say, and
    which one drove the answer."""
    text = f"{r['top']} {float(r['top_prob']):.0%}"
    streams = r.get("streams")
    if streams:
        alone = [f"{s[0]}:{streams[s]['top']}" for s in ("voice", "face") if streams.get(s)]
        text += f" ({' '.join(alone)}; {r['driver']['stream']})"
    return text


def format_table(payloads: list[dict]) -> str:
    """One row per input: the headline answer, each model's top class and probability (fusions
    with voice-alone / face-alone and the driving stream), agreement, notices or the error; then,
    for each clip read in several windows, its timeline (`format_timeline`)."""
    names = list(dict.fromkeys(n for p in payloads for n in (p.get("models") or {})))
    head = ["clip", "answer", *[n.upper() for n in names], "agree", "notes"]
    rows = []
    for p in payloads:
        if not p.get("ok"):
            err = p.get("error") or {}
            msg = err.get("message", str(err)) if isinstance(err, dict) else str(err)
            rows.append([p["clip"], "-", *["-"] * len(names), "-", f"ERROR {msg}"])
            continue
        models = p.get("models") or {}
        cells = [_cell(models[n]) if n in models else "-" for n in names]
        a = p.get("answer") or {}
        answer = "-" if not a else f"{a['top']} ({a['basis']})" if a.get("certain", True) else f"uncertain ({a['basis']})"
        if a.get("disagree"):  # strong disagreement travels with the answer, not only in the columns
            answer += "; " + ", ".join(f"{n.upper()}: {d['top']}" for n, d in a["disagree"].items())
        agree = {True: "yes", False: "no"}.get(p.get("agree"), "-")
        notes = "; ".join(n.get("code", "") for n in p.get("notices") or [])
        rows.append([p["clip"], answer, *cells, agree, notes])
    blocks = [_columns(head, rows), *filter(None, (format_timeline(p) for p in payloads))]
    return "\n\n".join(blocks)


def _columns(head: list[str], rows: list[list]) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def format_timeline(payload: dict) -> str:
    """A long clip's windows, one row each (start-end seconds, each model's top class and
    probability), then the whole-clip row and the rule that made it; "" for a one-window clip."""
    windows = payload.get("windows") or []
    if len(windows) < 2 or not payload.get("ok", True):
        return ""
    from emofusion.infer.predictor import WINDOW_RULE

    models = payload.get("models") or {}
    names = list(dict.fromkeys(n for w in windows for n in w.get("models") or {}))
    cell = lambda r: f"{r['top']} {float(r['top_prob']):.0%}" if r else "-"  # noqa: E731
    rows = [[f"{float(w['start_s']):.1f}-{float(w['end_s']):.1f}", *[cell((w.get("models") or {}).get(n))
                                                                      for n in names]] for w in windows]
    rows.append(["whole clip", *[cell(models.get(n)) for n in names]])
    span = float(windows[0]["end_s"]) - float(windows[0]["start_s"])
    hop = float(windows[1]["start_s"]) - float(windows[0]["start_s"])
    title = (f"{payload.get('clip', '')}: timeline of {len(windows)} windows of {span:.1f} s every {hop:.1f} s. "
             f"{WINDOW_RULE[0].upper()}{WINDOW_RULE[1:]}.")
    return title + "\n" + _columns(["window (s)", *[n.upper() for n in names]], rows)


def run(args: argparse.Namespace) -> int:
    import logging

    from emofusion.webapp.service import AnalysisService, load_predictor

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cfg = WebAppConfig(models_dir=args.models, backend=args.backend, device=args.device)
    service = AnalysisService(load_predictor(cfg), cfg)
    payloads = []
    for clip in args.clips:
        payload = service.analyze(clip)
        payload = payload.payload
        payload["clip"] = str(clip)
        payloads.append(payload)
        if not args.json and not payload["ok"]:
            print(f"emofusion predict: {payload['error']['message']}", file=sys.stderr)
    if args.json:
        print(json.dumps(payloads, indent=2, default=float))
    else:
        print(format_table(payloads))
    return 0 if any(p["ok"] for p in payloads) else 1
