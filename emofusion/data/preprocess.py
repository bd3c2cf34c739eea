"""`emofusion preprocess`: a RAVDESS folder -> a feature cache (see emofusion.data.cache).

Every clip goes through `emofusion.media.clip.load_clip`, the same path the web app uses, so the
cache holds exactly what a deployed model will see. Clips run in parallel worker processes; a
clip that fails is recorded in the manifest and skipped, and a rerun resumes where a run stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

HELP = "turn a RAVDESS folder into a feature cache (audio features, face crops) for training"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", metavar="DATA_DIR", help="RAVDESS folder (Actor_XX/ layout or flat)")
    p.add_argument("--out", required=True, metavar="CACHE", help="cache directory (created or resumed)")
    p.add_argument("--audio-kind", choices=("mfcc", "logmel"), help="audio features (default mfcc)")
    p.add_argument("--n-mfcc", type=int, help="MFCC coefficients (default 10)")
    p.add_argument("--n-mels", type=int, help="mel bands for logmel (default 128)")
    p.add_argument("--deltas", action="store_true", help="append delta and delta-delta channels")
    p.add_argument("--face-size", type=int, help="face crop side in pixels (default 224)")
    p.add_argument("--window-s", type=float, help="analysis window in seconds (default 3.6)")
    p.add_argument("--modalities", default="audio,faces", help="streams to compute: audio,faces (default both)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--include-song", action="store_true", help="also use song recordings")
    p.add_argument("--actors", help="only these actors, e.g. 1-4,9")
    p.add_argument("--retry-errors", action="store_true", help="retry clips recorded as errors")
    p.add_argument("--speed", type=float, default=1.0,
                   help="audio-only: speed-perturbed copy for training (e.g. 0.9, 1.1; tempo and pitch change "
                        "together); use it with `train --extra-train-cache`")
    p.add_argument("--report", metavar="JSON", help="also write run statistics (time, size, counts) here")


def media_config_from_args(args: argparse.Namespace):
    from emofusion.config import MediaConfig
    from emofusion.errors import UsageError

    cfg = MediaConfig()
    audio = {k: v for k, v in (("kind", args.audio_kind), ("n_mfcc", args.n_mfcc), ("n_mels", args.n_mels)) if v is not None}
    if args.deltas:
        audio["deltas"] = True
    for name in ("n_mfcc", "n_mels"):
        if name in audio and audio[name] < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1")
    if args.face_size is not None and not 16 <= args.face_size <= 1024:
        raise UsageError("--face-size must be between 16 and 1024")
    if args.window_s is not None and not 0.1 <= args.window_s <= 60:
        raise UsageError("--window-s must be between 0.1 and 60")
    return dataclasses.replace(
        cfg,
        window_s=cfg.window_s if args.window_s is None else args.window_s,
        audio=dataclasses.replace(cfg.audio, **audio),
        video=cfg.video if args.face_size is None else dataclasses.replace(cfg.video, face_size=args.face_size),
    )


def parse_streams(text: str) -> tuple[str, ...]:
    from emofusion.data.cache import STREAMS
    from emofusion.errors import UsageError

    streams = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in streams if s not in STREAMS]
    if bad or not streams:
        raise UsageError(f"--modalities: use a comma list of {', '.join(STREAMS)} (got {text!r})")
    return tuple(s for s in STREAMS if s in streams)


def make_jobs(recordings, streams: tuple[str, ...]) -> list[dict[str, Any]]:
    """What each worker needs: plain, picklable data only."""
    jobs = []
    for r in recordings:
        n = r.name
        jobs.append({
            "id": r.key,
            "files": {k: str(v) for k, v in (("av", r.av), ("video", r.video), ("audio", r.audio)) if v},
            "source": str(r.path),
            "kind": r.source,
            "actor": n.actor, "label": n.label, "emotion": n.emotion_name, "gender": n.gender,
            "intensity": n.intensity, "statement": n.statement, "repetition": n.repetition,
            "channel": n.channel_name,
        })
    return jobs


_WORKER: dict[str, Any] = {}


def _init_worker(root: str, cfg_dict: dict, streams: tuple[str, ...], in_pool: bool = False,
                 speed: float = 1.0) -> None:
    import signal

    from emofusion.config import MediaConfig

    if in_pool:  # Ctrl-C is the parent's to handle (it terminates the pool); no traceback per worker
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    if "faces" in streams:
        import torch

        torch.set_num_threads(1)  # one core per worker; the pool provides the parallelism
    _WORKER.update(root=Path(root), cfg=MediaConfig.from_dict(cfg_dict), streams=streams, speed=speed)


def _plan(job: dict, streams: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """(file, streams wanted from it). An AV file serves both streams (its audio track is what a
    deployed model hears); a 02 video pairs with its 03 audio; a lone file is asked for all, so
    load_clip itself reports what it lacks (no video, no audio)."""
    files = job["files"]
    if "av" in files:
        return [(files["av"], streams)]
    if "video" in files and "audio" in files:
        return [(files["video"], ("faces",))] * ("faces" in streams) + [(files["audio"], ("audio",))] * (
            "audio" in streams
        )
    return [(files.get("video") or files["audio"], streams)]


def process(job: dict) -> dict:
    """One clip -> entry file + manifest record. Never raises: failures become error records."""
    from emofusion.data.cache import write_entry
    from emofusion.media.clip import load_clip
    from emofusion.media.errors import ClipError, Notice

    root, cfg, streams = _WORKER["root"], _WORKER["cfg"], _WORKER["streams"]
    record = dict(job)
    t0 = time.perf_counter()
    arrays: dict[str, Any] = {}
    notices: list[dict] = []
    errors: list[dict] = []
    plan = _plan(job, streams)
    for path, want in plan:
        try:
            clip = load_clip(path, cfg, want=want, speed=_WORKER.get("speed", 1.0))
        except ClipError as exc:
            errors.append(exc.to_dict())
            continue
        except Exception as exc:  # a decoder bug must not stop 1440 clips; it is recorded, not hidden
            errors.append({"code": "failed", "message": f"{type(exc).__name__}: {exc}"})
            continue
        if "audio" in want and clip.audio is not None:
            arrays["audio"] = np.asarray(clip.audio, dtype=np.float32)
        if "faces" in want and clip.face_found is not None:
            arrays["face_found"] = np.asarray(clip.face_found, dtype=bool)
        if "faces" in want and clip.faces is not None:
            arrays["faces"] = np.asarray(clip.faces, dtype=np.uint8)
        notices += [n.to_dict() for n in clip.notices]
    if len(plan) > 1:  # each half of a pair only answers for its own stream
        notices = [n for n in notices if n["code"] not in (Notice.NO_AUDIO, Notice.NO_VIDEO)]
    notices = [dict(t) for t in dict.fromkeys(tuple(sorted(n.items())) for n in notices)]  # dedupe
    record["elapsed_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    if "audio" not in arrays and "faces" not in arrays:
        err = errors[0] if errors else {"code": ClipError.NO_STREAMS, "message": "no wanted stream could be used"}
        record.update(status="error", error=err, fields=[], notices=notices)
        return record
    for err in errors:  # one half of a pair failed: usable, with a caveat
        notices.append({"code": "partial", "message": f"{err['code']}: {err['message']}"})
    write_entry(root, job["id"], arrays)
    found = arrays.get("face_found")
    record.update(status="ok", error=None, fields=[k for k in ("audio", "faces") if k in arrays],
                  frames_with_face=int(found.sum()) if found is not None else None, notices=notices)
    return record


def _process_all(root: Path, cfg, streams: tuple[str, ...], jobs: list[dict], workers: int,
                 speed: float = 1.0) -> tuple[int, int]:
    """Run the jobs (in worker processes when workers > 1); the manifest is written only here."""
    import multiprocessing as mp

    from tqdm import tqdm

    from emofusion.data.cache import append_manifest

    n_ok = n_err = 0
    init = (str(root), cfg.to_dict(), streams)
    pool = None
    with tqdm(total=len(jobs), unit="clip", desc="preprocess") as bar:
        try:
            if workers == 1 or len(jobs) <= 1:
                _init_worker(*init, speed=speed)
                results = map(process, jobs)
            else:  # spawn: no forked copies of a parent's threads or torch state
                pool = mp.get_context("spawn").Pool(min(workers, len(jobs)), _init_worker, (*init, True, speed))
                results = pool.imap_unordered(process, jobs)
            for rec in results:
                append_manifest(root, rec)
                n_ok += rec["status"] == "ok"
                n_err += rec["status"] == "error"
                if rec["status"] == "error":
                    bar.write(f"error {rec['id']} ({Path(rec['source']).name}): {rec['error']['message']}")
                bar.update()
            if pool is not None:
                pool.close()
                pool.join()
        finally:
            if pool is not None:
                pool.terminate()
    return n_ok, n_err


def run(args: argparse.Namespace) -> int:
    import fcntl

    from emofusion.data.cache import finished_ids, open_for_writing
    from emofusion.data.ravdess import index_ravdess
    from emofusion.data.splits import parse_actor_list
    from emofusion.errors import UsageError

    data_dir, root = Path(args.data_dir).resolve(), Path(args.out)
    if not data_dir.is_dir():
        raise UsageError(f"{data_dir} is not a directory")
    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    cfg = media_config_from_args(args)
    streams = parse_streams(args.modalities)
    if args.speed != 1.0 and (streams != ("audio",) or not 0.5 <= args.speed <= 2.0):
        raise UsageError("--speed needs --modalities audio and a factor between 0.5 and 2")
    file_modalities = ("av", "video", "audio") if "audio" in streams else ("av", "video")
    index = index_ravdess(data_dir, include_song=args.include_song, modalities=file_modalities)
    for m in index.malformed:
        print(f"skipped malformed name {m.path}: {m.reason}")
    items = index.items
    if args.actors:
        keep = set(parse_actor_list(args.actors))
        items = [r for r in items if r.actor in keep]
    if not items:
        raise UsageError(f"no RAVDESS recordings found in {data_dir} ({len(index.malformed)} malformed names)")

    if root.is_dir() and not (root / "config.json").exists() and any(p.name != ".lock" for p in root.iterdir()):
        raise UsageError(f"{root} exists, is not empty and is not a feature cache; choose another --out")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:  # closing it releases the lock, also on errors
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another preprocess is writing to {root}") from None
        open_for_writing(root, cfg, streams, args.speed)  # a CacheError is an EmofusionError
        done = finished_ids(root, retry_errors=args.retry_errors)
        jobs = [j for j in make_jobs(items, streams) if j["id"] not in done]
        print(f"{len(items)} recordings, {len(items) - len(jobs)} already done, {len(jobs)} to process -> {root}")
        t0 = time.perf_counter()
        n_ok, n_err = _process_all(root, cfg, streams, jobs, args.workers, args.speed)
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"done in {seconds:.1f} s: {n_ok} ok, {n_err} errors this run; cache {size / 1e6:.1f} MB at {root}")
    if args.report:
        from emofusion.data.cache import FeatureCache

        cache = FeatureCache(root)
        stats = {
            "command": f"emofusion preprocess {data_dir} --out {root} --modalities {','.join(streams)} --workers {args.workers}",
            "media_config": cfg.to_dict(), "streams": list(streams), "workers": args.workers,
            "processed_this_run": len(jobs), "ok_this_run": n_ok, "errors_this_run": n_err,
            "seconds": round(seconds, 2), "ms_per_clip": round(1000 * seconds / max(1, len(jobs)), 1),
            "entries_ok": len(cache.entries), "entries_error": len(cache.errors),
            "cache_bytes": size, "cache_mb": round(size / 1e6, 2),
        }
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(stats, indent=2) + "\n")
    return 0
