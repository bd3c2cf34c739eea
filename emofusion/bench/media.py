"""`emofusion bench media`: time the clip -> model-inputs path per stage on a generated 720p clip.

The shipped path (load_clip: work overlapped on two cores) is timed beside the same stages run
serially, so what the overlap buys is measured, not assumed.

Compares our path (frames picked by PTS, MTCNN batched on frames downscaled to
`detect_max_side`, one intra-op thread) with the reference approach (MTCNN on each full-resolution
frame, one call per frame). The machine is shared, so the load average is recorded with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from emofusion.provenance import machine, versions

HELP = "time the media path (decode audio/video, features, face crops) on a generated 720p clip"
STAGES = ("decode_audio", "audio_features", "decode_video", "faces", "total")
# CPU seconds our process used per clip (all its threads): on a busy shared machine wall time
# includes waiting for a core; CPU time is what the path itself costs.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=10, help="timed runs of our path (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--comparison-runs", type=int, default=3,
                        help="timed runs of the comparison variants (torch threads, reference); 0 skips them")
    parser.add_argument("--size", default="1280x720", help="clip size WxH")
    parser.add_argument("--seconds", type=float, default=3.6)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--face", type=Path, default=None,
                        help="face photo (default: SHARED/data/ravdess-stills/Actor_01.png, SHARED = "
                             "$EMOFUSION_SHARED or ../shared)")
    parser.add_argument("--out", type=Path, default=Path("results") / "bench",
                        help="directory for media_bench.{json,md} (default: ./%(default)s)")


def default_face() -> Path:
    from emofusion.data.faces_labelled import shared_data
    from emofusion.errors import UsageError

    still = shared_data("ravdess-stills") / "Actor_01.png"
    if still.is_file():
        return still
    raise UsageError(f"no face photo at {still}: pass --face PATH (any photo of one face)")


def serial_stages(clip: Path, cfg) -> dict[str, dict[str, float]]:
    """The path with every stage run one after another on this thread (as before media/overlap.py):
    {"wall": {stage: ms}, "cpu": {stage: ms}}, CPU = all of our threads."""
    from emofusion.media import audio
    from emofusion.media.clip import frame_times
    from emofusion.media.faces import get_cropper
    from emofusion.media.video import frames_and_thumbs_at, probe

    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    start = (time.perf_counter(), time.process_time())
    mark = start

    def lap(stage: str) -> None:
        nonlocal mark
        now = (time.perf_counter(), time.process_time())
        wall[stage], cpu[stage] = (now[0] - mark[0]) * 1000, (now[1] - mark[1]) * 1000
        mark = now

    info = probe(clip)
    wave = audio.read_audio(clip, cfg.audio.sample_rate)
    lap("decode_audio")
    audio.features(audio.fit_window(wave, cfg.window_samples), cfg.audio)
    lap("audio_features")
    times = frame_times(info.duration_s, cfg.window_s, 0.0, cfg.video.n_frames)
    frames = frames_and_thumbs_at(clip, times, cfg.video.detect_max_side, skip_nonref=cfg.video.decode_skip_nonref)
    lap("decode_video")
    get_cropper(cfg.video).crop(*frames)
    lap("faces")
    end = (time.perf_counter(), time.process_time())
    wall["total"], cpu["total"] = (end[0] - start[0]) * 1000, (end[1] - start[1]) * 1000
    return {"wall": wall, "cpu": cpu}


def before_config():
    """The media path's defaults before the fast path (results/bench/media_bench.md of 2026-11-24T02:54Z):
    MTCNN on all 15 frames at 360 px, min face 40 px, pyramid factor 0.709, every frame decoded."""
    import dataclasses

    from emofusion.config import MediaConfig

    cfg = MediaConfig()
    return dataclasses.replace(cfg, video=dataclasses.replace(
        cfg.video, detect_max_side=360, min_face_size=40, detect_factor=0.709, detect_frames=0,
        decode_skip_nonref=False))


def decode_study(clip: Path, times, runs: int) -> dict:
    """CPU ms of one decoding pass per PyAV thread_type x skip_frame, frames each yields, and the
    worst gap between a requested time and the nearest frame NONREF decoding keeps."""
    import av
    import numpy as np

    def one(tt, skip):
        with av.open(str(clip)) as c:
            vs = c.streams.video[0]
            if tt:
                vs.thread_type = tt
            if skip:
                vs.codec_context.skip_frame = skip
            return [float(f.time) for f in c.decode(vs)]

    rows = {}
    for _ in range(runs):
        for tt in (None, "AUTO", "SLICE"):
            for skip in (None, "NONREF"):
                t = time.process_time()
                got = one(tt, skip)
                key = f"thread_type={tt or 'none'} skip_frame={skip or 'none'}"
                rows.setdefault(key, {"cpu_ms": [], "frames": len(got)})["cpu_ms"].append((time.process_time() - t) * 1000)
    out = {k: {"cpu_median_ms": round(statistics.median(v["cpu_ms"]), 1), "frames": v["frames"]} for k, v in rows.items()}
    kept = np.array(one(None, "NONREF"))
    worst = max(float(np.min(np.abs(kept - t))) for t in times)
    return {"variants": out, "nonref_worst_time_error_ms": round(worst * 1000, 1)}


def _median(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if key in r]
    return round(statistics.median(vals), 1) if vals else float("nan")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from emofusion.config import MediaConfig, VideoConfig
    from emofusion.errors import UsageError
    from emofusion.media.clip import frame_times, load_clip
    from emofusion.media.faces import FaceCropper
    from emofusion.media.synth import write_clip
    from emofusion.media.video import frames_at, probe

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError as exc:
        raise UsageError(f"--size must look like 1280x720, not {args.size!r}") from exc
    face_path = args.face or default_face()
    if not face_path.is_file():
        raise UsageError(f"no such face photo: {face_path}")
    face = np.asarray(Image.open(face_path).convert("RGB"))
    cfg = MediaConfig()
    load_start = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "bench.mp4", face_image=face, seconds=args.seconds, fps=args.fps, size=(w, h))
        info = probe(clip)
        ours: list[dict] = []
        serial: list[dict] = []
        before: list[dict] = []
        found = []
        before_cfg = before_config()
        # Now (overlapped), the same defaults run serially, and the previous defaults (serially, as
        # they ran then) alternate, so all three see the same machine load.
        for i in tqdm(range(args.warmup + args.runs), desc="media path (now, serial, before)", unit="run"):
            cpu = time.process_time()
            res = load_clip(clip, cfg)
            cpu = (time.process_time() - cpu) * 1000
            s_now, s_before = serial_stages(clip, cfg), serial_stages(clip, before_cfg)
            if i >= args.warmup:
                ours.append({**res.timings_ms, "cpu_total": cpu})
                found.append(int(res.face_found.sum()))
                serial.append(s_now)
                before.append(s_before)

        times = frame_times(info.duration_s, cfg.window_s, 0.0, cfg.video.n_frames)
        decoding = decode_study(clip, times, max(3, args.runs // 2))

        # Our config with torch's own thread count, to show what the 1-thread choice buys.
        cropper_mt = FaceCropper(cfg.video, threads=None)
        frames = frames_at(clip, times)
        if args.comparison_runs:
            cropper_mt.crop(frames)
        ours_mt = []
        for _ in tqdm(range(args.comparison_runs), desc="ours, torch threads", unit="run"):
            t = time.perf_counter()
            cropper_mt.crop(frames)
            ours_mt.append((time.perf_counter() - t) * 1000)

        # Reference: MTCNN default min face (20 px) on each full-resolution frame, one call each.
        ref_cfg = VideoConfig(detect_max_side=0, min_face_size=20, detect_factor=0.709, detect_frames=0, box_smoothing=1)
        ref = FaceCropper(ref_cfg, threads=None)
        if args.comparison_runs:
            ref.detect(frames[:1])
        ref_rows, ref_found = [], []
        for _ in tqdm(range(args.comparison_runs), desc="reference faces", unit="run"):
            t = time.perf_counter()
            probs = [ref.detect([f])[1][0] for f in frames]
            ref_rows.append((time.perf_counter() - t) * 1000)
            ref_found.append(int(sum(p > 0 for p in probs)))

    load_end = os.getloadavg()
    med = {k: _median(ours, k) for k in (*STAGES, "cpu_total")}
    ref_faces = round(statistics.median(ref_rows), 1) if ref_rows else None
    ser = {k: _median([r["wall"] for r in serial], k) for k in STAGES}
    ref_total = round(ser["total"] - ser["faces"] + ref_faces, 1) if ref_rows else None
    result = {
        "clip": {"size": [w, h], "seconds": args.seconds, "fps": args.fps, "codec": "h264/aac mp4",
                 "face_photo": face_path.name, "frames_sampled": cfg.video.n_frames},
        "media_config": cfg.to_dict(),
        "runs": args.runs, "warmup": args.warmup, "comparison_runs": args.comparison_runs,
        "ours_median_ms": med,
        "ours_runs_ms": ours,
        "ours_faces_found": found,
        "serial_median_ms": {k: _median([r["wall"] for r in serial], k) for k in STAGES},
        "serial_cpu_median_ms": {k: _median([r["cpu"] for r in serial], k) for k in STAGES},
        "before_config": before_cfg.video.__dict__,
        "before_median_ms": {k: _median([r["wall"] for r in before], k) for k in STAGES},
        "before_cpu_median_ms": {k: _median([r["cpu"] for r in before], k) for k in STAGES},
        "decoding": decoding,
        "ours_faces_torch_threads_median_ms": round(statistics.median(ours_mt), 1) if ours_mt else None,
        "reference_faces_median_ms": ref_faces,
        "reference_faces_runs_ms": [round(v, 1) for v in ref_rows],
        "reference_faces_found": ref_found,
        "reference_total_estimate_ms": ref_total,
        "loadavg_start": [round(v, 2) for v in load_start],
        "loadavg_end": [round(v, 2) for v in load_end],
        "machine": machine(),
        "versions": versions(),
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "media_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "media_bench.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(r: dict) -> str:
    m, c = r["ours_median_ms"], r["clip"]
    lines = [
        "# Media path benchmark",
        "",
        f"Generated {c['size'][0]}x{c['size'][1]} {c['seconds']} s {c['fps']:g} fps {c['codec']} clip with a real "
        f"face ({c['face_photo']}); {c['frames_sampled']} frames sampled. Median of {r['runs']} runs after "
        f"{r['warmup']} warm-up runs (`emofusion bench media`, {r['when_utc']}).",
        "",
        "Now = `load_clip` as shipped: the fast-path defaults (MTCNN on "
        f"{r['media_config']['video']['detect_frames']} key frames at {r['media_config']['video']['detect_max_side']} px, "
        f"min face {r['media_config']['video']['min_face_size']} px, factor {r['media_config']['video']['detect_factor']}, "
        "boxes interpolated; only reference frames decoded) with the work overlapped on two cores "
        "(`emofusion/media/overlap.py`: audio decodes on a pool thread; this thread decodes video while "
        "the pool converts kept frames to RGB and runs MTCNN on key frames as they arrive). "
        "Serial = the same defaults with every stage one after another (the previous commit's path). "
        "Before = the defaults before the fast path (all 15 frames at 360 px, min face 40 px, factor "
        "0.709, every frame decoded), serial. The three alternate in one process.",
        "",
        f"**Now: {m['total']} ms per clip** (median wall), {m['cpu_total']} ms CPU (all threads). "
        f"Faces found: {sorted(set(r['ours_faces_found']))} of {c['frames_sampled']}.",
        "",
        "Now's stages overlap, so they do not add up: decode_video includes the RGB conversion and the "
        "first detections running beside it, faces is what is left after decoding (the last detection "
        "and the crops), decode_audio ran on the pool during video decoding.",
        "",
        "| stage | now, wall (ms) | serial, wall (ms) | serial, CPU (ms) | before, wall (ms) | before, CPU (ms) |",
        "| --- | --- | --- | --- | --- | --- |",
        *[f"| {k} | {m[k]} | {r['serial_median_ms'][k]} | {r['serial_cpu_median_ms'][k]} | "
          f"{r['before_median_ms'][k]} | {r['before_cpu_median_ms'][k]} |" for k in STAGES],
        "",
        "Decoding the whole clip once (CPU ms, median), per PyAV thread_type and skip_frame; NONREF's worst "
        f"gap between a requested time and the nearest kept frame: {r['decoding']['nonref_worst_time_error_ms']} ms.",
        "",
        "| variant | CPU ms | frames decoded |",
        "| --- | --- | --- |",
        *[f"| {k} | {v['cpu_median_ms']} | {v['frames']} |" for k, v in r["decoding"]["variants"].items()],
        "",
    ]
    if r["comparison_runs"]:
        lines += [
            "| face stage variant | median ms | faces found |",
            "| --- | --- | --- |",
            f"| now: MTCNN on {r['media_config']['video']['detect_frames']} key frames downscaled to "
            f"{r['media_config']['video']['detect_max_side']} px, "
            f"min face {r['media_config']['video']['min_face_size']} px, 1 thread (serial) | "
            f"{r['serial_median_ms']['faces']} | "
            f"{min(r['ours_faces_found'])} |",
            f"| now with torch's default threads ({r['versions']['torch_threads']}) | "
            f"{r['ours_faces_torch_threads_median_ms']} | - |",
            f"| reference: MTCNN per full-resolution frame, min face 20 px ({r['comparison_runs']} runs) | "
            f"{r['reference_faces_median_ms']} | {min(r['reference_faces_found'])} |",
            "",
            f"Reference whole path (our serial decoding + its face stage): ~{r['reference_total_estimate_ms']} ms.",
            "",
        ]
    lines += [
        f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, shared with other jobs: load average "
        f"(1/5/15 min) {r['loadavg_start']} at start, {r['loadavg_end']} at end. Timings on a busy machine "
        "are upper bounds.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()),
        "",
    ]
    return "\n".join(lines)
