"""`emofusion preprocess` + FeatureCache + CacheDataset on real files: RAVDESS FLACs from ../shared
and audio-visual clips generated here (AV, 02 video + 03 audio pairs, a corrupt file)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audio_files import write_pcm

from emofusion import cli
from emofusion.config import MediaConfig
from emofusion.data.cache import ENTRIES, MANIFEST, CacheError, FeatureCache, read_manifest
from emofusion.data.dataset import CacheDataset
from emofusion.media.synth import synth_audio, write_clip

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def speech_subset(src: Path, dst: Path, actors=(1, 2), per_actor=15) -> Path:
    """Symlink the first `per_actor` FLACs of each actor into an Actor_XX tree."""
    for a in actors:
        d = dst / f"Actor_{a:02d}"
        d.mkdir(parents=True)
        for f in sorted((src / f"Actor_{a:02d}").glob("*.flac"))[:per_actor]:
            (d / f.name).symlink_to(f)
    return dst


def write_wav(path: Path, seconds: float = 2.0, sr: int = 22_050, seed: int = 0) -> Path:
    return write_pcm(path, synth_audio("speech-like", seconds, sr, seed), sr)


def face_image() -> np.ndarray:
    """A real face: the committed still of RAVDESS actor 01."""
    from PIL import Image

    return np.asarray(Image.open(FIXTURES / "Actor_01.png").convert("RGB"))


def run_cli(*argv: str) -> int:
    return cli.main(["preprocess", *map(str, argv)])


@pytest.mark.slow
def test_real_speech_cache_resume_and_config_check(ravdess_speech_dir, tmp_path, capsys):
    data = speech_subset(ravdess_speech_dir, tmp_path / "data")
    out, report = tmp_path / "cache", tmp_path / "report.json"
    assert run_cli(data, "--out", out, "--modalities", "audio", "--workers", "2", "--report", report) == 0
    cache = FeatureCache(out)
    assert len(cache) == 30 and not cache.errors and cache.actors == (1, 2)
    assert cache.config == MediaConfig() and cache.streams == ("audio",)
    rec = cache.record(cache.entries[0]["id"])
    assert rec["files"]["audio"].endswith(".flac") and rec["fields"] == ["audio"] and rec["kind"] == "audio"
    # Labels come from the names: e.g. 03-01-03-... is happy (2).
    for r in cache.entries:
        assert r["label"] == int(Path(r["source"]).name.split("-")[2]) - 1
    arrays = cache.load(rec["id"])
    assert arrays["audio"].shape == (10, 156) and arrays["audio"].dtype == np.float32
    assert arrays["faces"] is None and arrays["face_found"] is None
    stats = json.loads(report.read_text())
    assert stats["entries_ok"] == 30 and stats["cache_bytes"] > 0

    lines = (out / MANIFEST).read_text().count("\n")
    capsys.readouterr()
    assert run_cli(data, "--out", out, "--modalities", "audio", "--workers", "2") == 0
    assert "30 already done, 0 to process" in capsys.readouterr().out
    assert (out / MANIFEST).read_text().count("\n") == lines  # nothing redone

    assert run_cli(data, "--out", out, "--modalities", "audio", "--n-mfcc", "20") == 2
    err = capsys.readouterr().err
    assert "different settings" in err and "audio.n_mfcc: cache has 10, asked for 20" in err
    assert run_cli(data, "--out", out, "--modalities", "audio,faces") == 2
    assert "streams" in capsys.readouterr().err

    ds = CacheDataset(out, actors=[2], in_memory=True)
    assert len(ds) == 15 and set(ds.actors) == {2}
    x, y = ds[0]
    assert set(x) == {"audio"} and tuple(x["audio"].shape) == (10, 156) and isinstance(y, int)
    both = CacheDataset(cache, actors=[1], streams=("audio", "faces"))
    x, _ = both[0]
    assert tuple(x["faces"].shape) == (15, 3, 224, 224) and float(x["faces"].abs().max()) == 0.0  # absent


@pytest.mark.slow
def test_generated_av_pairs_and_a_corrupt_clip(tmp_path):
    data, face = tmp_path / "data", face_image()
    kw = dict(face_image=face, seconds=2.0, size=(320, 240))
    write_clip(data / "Actor_01/01-01-03-01-01-01-01.mp4", **kw)  # AV
    write_clip(data / "Actor_02/02-01-04-01-01-01-02.mp4", audio=None, **kw)  # video-only ...
    write_wav(data / "Actor_02/03-01-04-01-01-01-02.wav")  # ... with its audio
    write_wav(data / "Actor_02/03-01-05-01-01-01-02.wav", seed=1)  # audio only (generated)
    (data / "Actor_01/03-01-05-02-01-01-01.flac").symlink_to(FIXTURES / "03-01-05-02-01-01-01.flac")  # real
    (data / "Actor_01/01-01-06-01-01-01-01.mp4").write_bytes(b"\x00not a video" * 500)  # corrupt
    (data / "Actor_01/01-01-09-01-01-01-01.mp4").write_bytes(b"x")  # malformed name: reported
    out = tmp_path / "cache"
    assert run_cli(data, "--out", out, "--workers", "1", "--face-size", "112") == 0
    cache = FeatureCache(out)
    by_kind = {r["kind"]: r for r in cache.entries if r["actor"] == 2 or r["kind"] != "audio"}
    assert set(by_kind) == {"av", "video+audio", "audio"} and len(cache) == 4
    real = cache.record("05-02-01-01-01-01")  # the committed RAVDESS FLAC: angry, strong
    assert real["label"] == 4 and real["intensity"] == 2 and cache.load(real["id"])["audio"].shape == (10, 156)
    assert [e["error"]["code"] for e in cache.errors] == ["unreadable"]  # recorded, not fatal
    assert cache.errors[0]["files"]["av"].endswith("01-01-06-01-01-01-01.mp4")

    av = cache.load(by_kind["av"]["id"])
    pair = cache.load(by_kind["video+audio"]["id"])
    for arrays in (av, pair):
        assert arrays["audio"].shape == (10, 156) and arrays["face_found"].shape == (15,)
        assert arrays["faces"].shape == (15, 3, 112, 112) and arrays["faces"].dtype == np.uint8
        assert arrays["face_found"].sum() >= 10  # MTCNN finds the real face in most frames
    assert by_kind["av"]["fields"] == ["audio", "faces"] and by_kind["av"]["frames_with_face"] >= 10
    codes = {n["code"] for n in by_kind["video+audio"]["notices"]}
    assert "no_audio" not in codes  # the 02 video's missing track is answered by its 03 pair
    assert "no_video" in {n["code"] for n in by_kind["audio"]["notices"]}
    assert cache.load(by_kind["audio"]["id"])["faces"] is None

    ds = CacheDataset(cache)
    x, y = ds[[r["kind"] for r in ds.records].index("av")]
    assert tuple(x["audio"].shape) == (10, 156) and tuple(x["faces"].shape) == (15, 3, 112, 112)
    assert x["faces"].dtype.is_floating_point and 0.0 <= float(x["faces"].min()) <= float(x["faces"].max()) <= 1.0
    assert y == 2  # happy
    seen = []
    ds_t = CacheDataset(cache, actors=[1], transform=lambda inp: seen.append(1) or {k: v * 0 for k, v in inp.items()})
    x, _ = ds_t[0]
    assert seen and float(x["audio"].abs().max()) == 0.0

    # --retry-errors tries the corrupt clip again (still an error); others are kept.
    assert run_cli(data, "--out", out, "--workers", "1", "--face-size", "112", "--retry-errors") == 0
    assert len(FeatureCache(out).errors) == 1 and len(FeatureCache(out)) == 4


def _audio_tree(tmp_path: Path, n: int) -> Path:
    data = tmp_path / "data"
    for i in range(n):
        emo, actor = 2 + i % 7, 1 + i // 7
        write_wav(data / f"Actor_{actor:02d}/03-01-{emo:02d}-01-01-01-{actor:02d}.wav", seed=i)
    return data


def test_interrupted_writes_leave_no_half_entry(tmp_path):
    data, out = _audio_tree(tmp_path, 6), tmp_path / "cache"
    assert run_cli(data, "--out", out, "--modalities", "audio", "--workers", "1") == 0
    ids = sorted(r["id"] for r in FeatureCache(out).entries)
    assert len(ids) == 6
    entries = out / ENTRIES
    # The states a kill can leave: a temp file mid-write, a torn manifest line, an entry file
    # written but its manifest line missing (we drop one line), an entry file gone.
    (entries / f".{ids[0]}.npz.999.tmp").write_bytes(b"PK\x03\x04 half")
    lines = (out / MANIFEST).read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if json.loads(ln)["id"] != ids[1]]
    (out / MANIFEST).write_text("".join(kept) + '{"id": "' + ids[2] + '", "status": "o')
    (entries / f"{ids[3]}.npz").unlink()
    cache = FeatureCache(out)
    assert sorted(r["id"] for r in cache.entries) == [ids[0], ids[2], ids[4], ids[5]]
    assert ids[2] in read_manifest(out)  # the torn line did not hide the earlier good line
    assert run_cli(data, "--out", out, "--modalities", "audio", "--workers", "1") == 0
    cache = FeatureCache(out)
    assert sorted(r["id"] for r in cache.entries) == ids and not cache.errors
    assert not list(entries.glob(".*.tmp"))
    for i in ids:
        assert cache.load(i)["audio"].shape == (10, 156)
    with pytest.raises(KeyError):
        cache.load("no-such-id")
    with pytest.raises(ValueError, match="streams"):
        CacheDataset(cache, streams=("video",))
    assert len(CacheDataset(cache, actors=[1])) == 6 and len(CacheDataset(cache, actors=[9])) == 0


# `emofusion preprocess` that SIGKILLs itself once its 4th entry file is on disk, before that clip's
# manifest line: a kill at a chosen point, not whenever a polling loop happens to look.
KILLED_AFTER_4_ENTRIES = """
import os, signal, sys
from emofusion.cli import main
from emofusion.data import cache
real, written = cache.write_entry, []
def write_entry(*args, **kwargs):
    path = real(*args, **kwargs)
    written.append(path)
    if len(written) == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return path
cache.write_entry = write_entry  # preprocess.process looks it up on every clip
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_killed_run_resumes(tmp_path):
    data, out = _audio_tree(tmp_path, 21), tmp_path / "cache"
    cmd = [sys.executable, "-c", KILLED_AFTER_4_ENTRIES, "preprocess", str(data), "--out", str(out),
           "--modalities", "audio", "--workers", "1"]
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=240)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    done = FeatureCache(out).entries
    assert len(done) == 3  # the 4th clip's entry file is there, its manifest line is not
    assert len(list((out / ENTRIES).glob("*.npz"))) == 4
    for r in done:  # everything the manifest vouches for loads
        assert FeatureCache(out).load(r["id"])["audio"].shape == (10, 156)
    assert run_cli(data, "--out", out, "--modalities", "audio", "--workers", "1") == 0
    assert len(FeatureCache(out)) == 21
    ids = [json.loads(ln)["id"] for ln in (out / MANIFEST).read_text().splitlines() if ln.strip()]
    assert len(ids) == len(set(ids)) == 21  # finished clips were not redone


def test_bad_arguments_are_user_errors(tmp_path, capsys):
    assert run_cli(tmp_path / "missing", "--out", tmp_path / "c") == 2
    (tmp_path / "empty").mkdir()
    assert run_cli(tmp_path / "empty", "--out", tmp_path / "c") == 2
    assert "no RAVDESS recordings" in capsys.readouterr().err
    data = _audio_tree(tmp_path, 1)
    assert run_cli(data, "--out", tmp_path / "c", "--modalities", "video") == 2
    assert run_cli(data, "--out", tmp_path / "c", "--workers", "0") == 2
    not_cache = tmp_path / "notcache"
    not_cache.mkdir()
    (not_cache / "precious.txt").write_text("keep me")
    assert run_cli(data, "--out", not_cache, "--modalities", "audio") == 2
    assert "not a feature cache" in capsys.readouterr().err
    assert [p.name for p in not_cache.iterdir()] == ["precious.txt"]  # nothing written into it
    with pytest.raises(CacheError, match="not a feature cache"):
        FeatureCache(not_cache)
