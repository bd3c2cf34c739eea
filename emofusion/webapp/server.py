"""Run the real `emofusion webapp` in a child process on a free loopback port (tests, load bench).

A child process, not a thread: the server under test is exactly what users start, and its
torch/onnxruntime threads do not compete with the caller's client threads inside one interpreter.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Iterator


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now. Only a guess: the child binds it seconds later, and another program
    may take it in between (`_serve` notices and retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class PortTaken(RuntimeError):
    """The child could not listen on its port: another program took it after `free_port`."""


PORT_TAKEN_MESSAGE = "Cannot find empty port"  # what gradio raises when its port is in use
RUNNING_ON = re.compile(r"Running on local URL:\s+(\S+)")  # gradio's line once it listens


def _listening_on(log_path: Path) -> str | None:
    m = RUNNING_ON.search(log_path.read_text(errors="replace")) if log_path.exists() else None
    return m.group(1).rstrip("/") if m else None


def wait_until_up(url: str, proc: subprocess.Popen, timeout_s: float, log_path: Path) -> None:
    """Until *this* child serves `url`: it said it listens there (then the listening socket is its
    own, not another program's that took the port first) and it answers /config."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = log_path.read_text(errors="replace")
            cls = PortTaken if PORT_TAKEN_MESSAGE in log else RuntimeError
            raise cls(f"web app exited with {proc.returncode}:\n{log[-3000:]}")
        if _listening_on(log_path) == url:
            try:
                with urllib.request.urlopen(url + "/config", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
        time.sleep(0.5)
    raise TimeoutError(f"web app not up after {timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def _serve(command: Callable[[int], list[str]], log_path: Path, env: dict[str, str], startup_timeout_s: float,
           ports: Iterable[int] | None = None) -> Iterator[str]:
    """Run `command(port)` until it serves http://127.0.0.1:port; yield that URL; stop it. A port
    taken by someone else between `free_port` and the child's bind costs one retry (3 ports)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for port in ports if ports is not None else (free_port() for _ in range(3)):
        url = f"http://127.0.0.1:{port}"
        with open(log_path, "wb") as log:  # one attempt's log: a taken port leaves no error behind
            proc = subprocess.Popen(command(port), stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until_up(url, proc, startup_timeout_s, log_path)
        except PortTaken:
            _stop(proc)
            continue
        except BaseException:
            _stop(proc)
            raise
        try:
            yield url
        finally:
            _stop(proc)
        return
    raise RuntimeError("the web app found no free port in 3 attempts")


@contextlib.contextmanager
def running_server(models_dir: str | Path, log_path: str | Path, *, backend: str = "auto",
                   max_upload_mb: float | None = None, concurrency: int | None = None,
                   startup_timeout_s: float = 180.0) -> Iterator[str]:
    """Start `python -m emofusion webapp` on 127.0.0.1:<free port>; yield its URL; stop it."""
    def command(port: int) -> list[str]:
        cmd = [sys.executable, "-m", "emofusion", "webapp", "--models", str(models_dir),
               "--backend", backend, "--host", "127.0.0.1", "--port", str(port)]
        if max_upload_mb is not None:
            cmd += ["--max-upload-mb", str(max_upload_mb)]
        if concurrency is not None:
            cmd += ["--concurrency", str(concurrency)]
        return cmd

    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    with _serve(command, Path(log_path), env, startup_timeout_s) as url:
        yield url
