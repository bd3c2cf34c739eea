"""Run the real `emofusion webapp` in a child process on a free loopback port (tests, load bench).

A child process, not a thread: the server under test is exactly what users start, and its
torch/onnxruntime threads do not compete with the caller's client threads inside one interpreter.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen, timeout_s: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"web app exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/config", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"web app not up after {timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")


@contextlib.contextmanager
def running_server(models_dir: str | Path, log_path: str | Path, *, backend: str = "auto",
                   max_upload_mb: float | None = None, concurrency: int | None = None,
                   startup_timeout_s: float = 180.0) -> Iterator[str]:
    """Start `python -m emofusion webapp` on 127.0.0.1:<free port>; yield its URL; stop it."""
    port = free_port()
    cmd = [sys.executable, "-m", "emofusion", "webapp", "--models", str(models_dir),
           "--backend", backend, "--host", "127.0.0.1", "--port", str(port)]
    if max_upload_mb is not None:
        cmd += ["--max-upload-mb", str(max_upload_mb)]
    if concurrency is not None:
        cmd += ["--concurrency", str(concurrency)]
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until_up(url, proc, startup_timeout_s, log_path)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
