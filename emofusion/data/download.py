"""Download RAVDESS archives from its Zenodo record, resumably, verified, extracted safely.

File names, sizes and md5 checksums come from the record's JSON API at run time (the record is
the authority, and the base URL is configurable so tests can serve a record locally). A transfer
resumes from its `.part` file with an HTTP Range request; an archive is extracted into a
temporary folder and moved into `Actor_XX/` only when the whole archive reads back cleanly, and a
marker file records finished archives so a rerun skips them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from emofusion.data.ravdess import ACTORS, MalformedName, parse_name
from emofusion.errors import EmofusionError

WHAT = ("speech-audio", "speech-video", "song-audio", "song-video")
SONG_MISSING_ACTORS = frozenset({18})  # RAVDESS has no song recordings of actor 18


class DownloadError(EmofusionError):
    """A download that cannot complete: network, checksum, archive or record problem."""


@dataclass(frozen=True)
class DownloadConfig:
    base_url: str = "https://zenodo.org"
    record: str = "1188976"
    timeout_s: float = 60.0
    retries: int = 3  # reconnects (each resumes) before giving up on one file
    chunk_bytes: int = 1 << 20
    keep_archives: bool = False


@dataclass(frozen=True)
class RemoteFile:
    key: str
    size: int
    md5: str
    url: str


def archive_names(what: Iterable[str], actors: Iterable[int] = ACTORS) -> list[str]:
    actors = sorted(set(actors))
    names: list[str] = []
    for w in what:
        if w not in WHAT:
            raise DownloadError(f"unknown archive kind {w!r}; choose from {', '.join(WHAT)}")
        kind, media = w.split("-")
        if media == "audio":
            names.append(f"Audio_{kind.capitalize()}_Actors_01-24.zip")
        else:
            skip = SONG_MISSING_ACTORS if kind == "song" else frozenset()
            names += [f"Video_{kind.capitalize()}_Actor_{a:02d}.zip" for a in actors if a not in skip]
    return names


def record_files(cfg: DownloadConfig) -> dict[str, RemoteFile]:
    """key -> RemoteFile, from `{base_url}/api/records/{record}`."""
    import requests

    url = f"{cfg.base_url.rstrip('/')}/api/records/{cfg.record}"
    try:
        resp = requests.get(url, timeout=cfg.timeout_s)
        resp.raise_for_status()
        files = resp.json()["files"]
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise DownloadError(f"cannot read the record at {url}: {exc}") from exc
    out = {}
    for f in files:  # current Zenodo: key/size/links.self; legacy: filename/filesize/links.download
        try:
            key = f.get("key") or f["filename"]
            size = f["size"] if "size" in f else f["filesize"]
            algo, _, digest = str(f["checksum"]).rpartition(":")
            if algo not in ("", "md5") or len(digest) != 32:
                raise ValueError(f"checksum {f['checksum']!r} is not md5")
            links = f.get("links") or {}
            link = links.get("self") or links.get("download") or links.get("content")
            out[key] = RemoteFile(key, int(size), digest.lower(), link or f"{url}/files/{key}/content")
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise DownloadError(f"unexpected file entry in the record at {url}: {exc}") from exc
    return out


def md5_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fetch(remote: RemoteFile, dest: Path, cfg: DownloadConfig) -> Path:
    """Download to `dest` via `dest.part`, resuming; verify size and md5 before the final rename."""
    import requests
    from tqdm import tqdm

    if dest.exists() and dest.stat().st_size == remote.size and md5_of(dest) == remote.md5:
        return dest
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempts = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if have > remote.size:
            part.unlink()
            have = 0
        if have == remote.size:
            break
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with requests.get(remote.url, headers=headers, stream=True, timeout=cfg.timeout_s) as resp:
                if resp.status_code == 416:  # range not satisfiable: our .part is unusable
                    part.unlink(missing_ok=True)
                    raise DownloadError(f"{remote.key}: server refused to resume; retrying from the start")
                resp.raise_for_status()
                if have and resp.status_code != 206:  # server ignored Range: start over
                    have = 0
                mode = "ab" if have else "wb"
                with open(part, mode) as f, tqdm(
                    total=remote.size, initial=have, unit="B", unit_scale=True, desc=remote.key, leave=False
                ) as bar:
                    for block in resp.iter_content(cfg.chunk_bytes):
                        f.write(block)
                        bar.update(len(block))
        except (requests.RequestException, DownloadError) as exc:
            attempts += 1
            if attempts > cfg.retries:
                raise DownloadError(
                    f"{remote.key}: transfer failed after {attempts} attempts ({exc}); "
                    f"rerun to resume from {part.stat().st_size if part.exists() else 0} bytes"
                ) from exc
            continue
        if part.stat().st_size >= remote.size:
            break
        attempts += 1  # connection closed early without an exception: resume
        if attempts > cfg.retries:
            raise DownloadError(f"{remote.key}: transfer keeps stopping early; rerun to resume")
    got = md5_of(part)
    if got != remote.md5:
        part.unlink()  # a wrong byte anywhere: resuming cannot repair it
        raise DownloadError(f"{remote.key}: md5 {got} does not match the record's {remote.md5}; deleted, rerun")
    part.replace(dest)
    return dest


def extract(archive: Path, out: Path, actors: Iterable[int] | None = None) -> int:
    """Move the archive's RAVDESS files into `out/Actor_XX/`; all or nothing. Returns files placed."""
    keep = set(actors) if actors is not None else None
    tmp = out / f".extract-{archive.stem}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()  # reads every member, checks CRCs
            if bad is not None:
                raise DownloadError(f"{archive.name}: member {bad} is corrupt")
            zf.extractall(tmp)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadError(f"{archive.name} is not a readable zip archive: {exc}") from exc
    except DownloadError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    moves = []
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        if any(part.startswith((".", "__MACOSX")) for part in path.relative_to(tmp).parts):
            continue
        try:
            name = parse_name(path)
        except MalformedName:
            continue  # readme or stray file: not ours to place
        if keep is None or name.actor in keep:
            moves.append((path, out / f"Actor_{name.actor:02d}" / path.name))
    if not moves:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadError(f"{archive.name} holds no RAVDESS files")
    for src, dst in moves:
        dst.parent.mkdir(parents=True, exist_ok=True)
        src.replace(dst)
    shutil.rmtree(tmp, ignore_errors=True)
    return len(moves)


def download_ravdess(
    out: str | Path,
    what: Iterable[str] = ("speech-audio", "speech-video"),
    actors: Iterable[int] = ACTORS,
    cfg: DownloadConfig = DownloadConfig(),
) -> dict[str, int]:
    """Fetch, verify and extract the chosen archives into `out`. Returns files placed per archive."""
    out = Path(out)
    actors = sorted(set(actors))
    bad = [a for a in actors if a not in ACTORS]
    if bad:
        raise DownloadError(f"unknown actors {bad} (RAVDESS has 1-24)")
    names = archive_names(what, actors)
    remote = record_files(cfg)
    missing = [n for n in names if n not in remote]
    if missing:
        raise DownloadError(f"record {cfg.record} has no file(s) {', '.join(missing)}")
    done_dir = out / ".downloaded"
    done_dir.mkdir(parents=True, exist_ok=True)
    placed: dict[str, int] = {}
    for name in names:
        marker = done_dir / f"{name}.json"
        if marker.exists():
            done = json.loads(marker.read_text())
            if done.get("md5") == remote[name].md5 and set(actors) <= set(done.get("actors", ())):
                placed[name] = done["files"]
                continue
        archive = fetch(remote[name], out / "archives" / name, cfg)
        n = extract(archive, out, actors if name.startswith("Audio_") else None)
        marker.write_text(json.dumps({"md5": remote[name].md5, "files": n, "actors": actors}) + "\n")
        if not cfg.keep_archives:
            archive.unlink()
        placed[name] = n
    return placed
