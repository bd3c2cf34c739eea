"""`emofusion data download` end to end against a real HTTP server on 127.0.0.1 that mimics the
Zenodo record API (JSON with md5 checksums) and serves byte ranges."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emofusion import cli
from emofusion.data.download import DownloadConfig, DownloadError, download_ravdess, fetch, record_files
from emofusion.data.ravdess import index_ravdess

RECORD = "1188976"


class FakeZenodo:
    """Serves `files` (key -> bytes); `md5` overrides the advertised checksum; `cut` makes the
    next full download of a key stop after that many bytes (an interrupted transfer)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.md5: dict[str, str] = {}
        self.cut: dict[str, int] = {}
        self.record: dict | None = None  # serve this record JSON instead of the generated one
        self.requests: list[tuple[str, str | None]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def do_GET(self):
                owner.requests.append((self.path, self.headers.get("Range")))
                if self.path == f"/api/records/{RECORD}" and owner.record is not None:
                    return self._send(200, json.dumps(owner.record).encode())
                if self.path == f"/api/records/{RECORD}":
                    body = json.dumps({"id": RECORD, "files": [
                        {"key": k, "size": len(v),
                         "checksum": "md5:" + owner.md5.get(k, hashlib.md5(v).hexdigest()),
                         "links": {"self": f"{owner.url}/api/records/{RECORD}/files/{k}/content"}}
                        for k, v in owner.files.items()
                    ]}).encode()
                    return self._send(200, body, {"Content-Type": "application/json"})
                m = re.fullmatch(rf"/api/records/{RECORD}/files/(.+)/content", self.path)
                if not m or m.group(1) not in owner.files:
                    return self._send(404, b"not found")
                key, data = m.group(1), owner.files[m.group(1)]
                rng = self.headers.get("Range")
                if rng:
                    start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
                    if start >= len(data):
                        return self._send(416, b"")
                    return self._send(206, data[start:], {
                        "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
                if key in owner.cut:  # promise everything, send part, hang up
                    n = owner.cut.pop(key)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:n])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                return self._send(200, data)

            def _send(self, code, body, headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def range_requests(self, key):
        return [r for p, r in self.requests if key in p and r]


@pytest.fixture()
def zenodo():
    z = FakeZenodo()
    z.thread.start()
    yield z
    z.server.shutdown()
    z.server.server_close()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:  # stored: big enough to cut mid-way
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _video_zip(actor: int) -> bytes:
    members = {f"Actor_{actor:02d}/0{m}-01-0{e}-01-01-01-{actor:02d}.mp4": bytes([e]) * 40_000
               for m in (1, 2) for e in (2, 3)}
    return _zip(members)


def _audio_zip() -> bytes:
    return _zip({f"Actor_{a:02d}/03-01-0{e}-01-01-01-{a:02d}.wav": bytes([a]) * 20_000
                 for a in (1, 2, 3) for e in (2, 3)})


def _cfg(z, **kw):
    return DownloadConfig(base_url=z.url, timeout_s=10, chunk_bytes=4096, **kw)


def test_happy_path_via_cli(zenodo, tmp_path):
    zenodo.files = {"Audio_Speech_Actors_01-24.zip": _audio_zip(),
                    "Video_Speech_Actor_01.zip": _video_zip(1), "Video_Speech_Actor_02.zip": _video_zip(2)}
    out = tmp_path / "ravdess"
    rc = cli.main(["data", "download", "ravdess", "--out", str(out), "--actors", "1-2", "--base-url", zenodo.url])
    assert rc == 0
    ix = index_ravdess(out)
    assert not ix.malformed and len(ix.items) == 4  # 2 actors x 2 emotions, AV + video + audio each
    assert {r.source for r in ix.items} == {"av"} and all(r.video and r.audio for r in ix.items)
    assert {r.actor for r in ix.items} == {1, 2}  # actor 3's audio was not asked for
    assert not (out / "archives" / "Video_Speech_Actor_01.zip").exists()  # removed after extraction
    n_requests = len(zenodo.requests)
    assert download_ravdess(out, ("speech-video",), (1, 2), _cfg(zenodo)) == {
        "Video_Speech_Actor_01.zip": 4, "Video_Speech_Actor_02.zip": 4}
    assert len(zenodo.requests) == n_requests + 1  # only the record JSON: finished archives skipped


def test_resume_after_interrupted_transfer(zenodo, tmp_path):
    data = _video_zip(5)
    key = "Video_Speech_Actor_05.zip"
    zenodo.files = {key: data}
    zenodo.cut[key] = len(data) // 3
    remote = record_files(_cfg(zenodo))[key]
    # First run dies after the cut (no retries allowed): the .part file keeps what arrived.
    with pytest.raises(DownloadError, match="rerun to resume"):
        fetch(remote, tmp_path / key, _cfg(zenodo, retries=0))
    part = tmp_path / f"{key}.part"
    assert part.exists() and 0 < part.stat().st_size < len(data)
    have = part.stat().st_size
    # The rerun asks only for the rest and ends with the exact archive.
    dest = fetch(remote, tmp_path / key, _cfg(zenodo))
    assert dest.read_bytes() == data and not part.exists()
    assert zenodo.range_requests(key) == [f"bytes={have}-"]
    # Within one run, a dropped connection is resumed automatically.
    zenodo.cut[key] = 20_000
    dest.unlink()
    fetch(remote, tmp_path / key, _cfg(zenodo))
    ranges = zenodo.range_requests(key)
    assert dest.read_bytes() == data and len(ranges) == 2
    assert 0 < int(ranges[-1][6:-1]) <= 20_000  # resumed from what the client had kept


def test_md5_mismatch_is_refused_and_nothing_extracted(zenodo, tmp_path):
    key = "Video_Speech_Actor_03.zip"
    zenodo.files = {key: _video_zip(3)}
    zenodo.md5[key] = "0" * 32
    out = tmp_path / "ravdess"
    with pytest.raises(DownloadError, match="does not match the record"):
        download_ravdess(out, ("speech-video",), (3,), _cfg(zenodo))
    assert not list(out.glob("Actor_*")) and not list(out.rglob("*.part"))
    rc = cli.main(["data", "download", "ravdess", "--out", str(out), "--what", "speech-video",
                   "--actors", "3", "--base-url", zenodo.url])
    assert rc == 2  # an EmofusionError: message, no traceback


def test_corrupt_zip_leaves_no_half_tree(zenodo, tmp_path):
    good = _video_zip(4)
    corrupt = bytearray(good)
    corrupt[len(good) // 2 : len(good) // 2 + 100] = b"\x00" * 100  # damage a member's data
    key = "Video_Speech_Actor_04.zip"
    zenodo.files = {key: bytes(corrupt)}  # the record's md5 matches: the archive itself is bad
    out = tmp_path / "ravdess"
    with pytest.raises(DownloadError, match="corrupt|not a readable zip"):
        download_ravdess(out, ("speech-video",), (4,), _cfg(zenodo))
    assert not list(out.glob("Actor_*")) and not list(out.glob(".extract-*"))
    assert not list((out / ".downloaded").glob("*.json"))
    zenodo.files = {key: b"this is not a zip at all" * 10}
    with pytest.raises(DownloadError, match="not a readable zip"):
        download_ravdess(out, ("speech-video",), (4,), _cfg(zenodo))
    assert not list(out.glob("Actor_*"))


def test_missing_archive_and_bad_record(zenodo, tmp_path):
    zenodo.files = {"Video_Speech_Actor_01.zip": _video_zip(1)}
    with pytest.raises(DownloadError, match="has no file"):
        download_ravdess(tmp_path, ("speech-video",), (2,), _cfg(zenodo))
    with pytest.raises(DownloadError, match="cannot read the record"):
        download_ravdess(tmp_path, ("speech-video",), (1,), DownloadConfig(base_url=zenodo.url + "/nope"))
    with pytest.raises(DownloadError, match="unknown archive kind"):
        download_ravdess(tmp_path, ("speech-pictures",), (1,), _cfg(zenodo))


def test_record_formats(zenodo, tmp_path):
    zenodo.files = {"Video_Speech_Actor_01.zip": b"abc"}
    (remote,) = record_files(_cfg(zenodo)).values()
    assert remote.md5 == hashlib.md5(b"abc").hexdigest() and remote.size == 3 and remote.url.startswith(zenodo.url)
    # Legacy field names (filename / filesize / links.download, bare md5) are read the same way.
    entry = {"filename": "A.zip", "filesize": 7, "checksum": "0" * 32, "links": {"download": "http://x/A"}}
    zenodo.record = {"files": [entry]}
    assert record_files(_cfg(zenodo))["A.zip"] == type(remote)("A.zip", 7, "0" * 32, "http://x/A")
    entry["checksum"] = "sha256:" + "0" * 64
    with pytest.raises(DownloadError, match="not md5"):
        record_files(_cfg(zenodo))
    zenodo.record = {"no_files": True}
    with pytest.raises(DownloadError, match="cannot read the record"):
        record_files(_cfg(zenodo))
