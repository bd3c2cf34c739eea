"""run.sh's install stamp: a venv set up with more extras serves a job that needs fewer, so
`./run.sh webapp` after `./run.sh test` does not reinstall."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def stamp_functions(call: str) -> subprocess.CompletedProcess:
    """Run `call` in bash with run.sh's own covers / union functions (cut from the script)."""
    text = (REPO / "run.sh").read_text()
    funcs = "\n".join(text[text.index(f"{name}() {{"):].split("\n}\n", 1)[0] + "\n}" for name in ("covers", "union"))
    return subprocess.run(["bash", "-c", f"set -euo pipefail\n{funcs}\n{call}"], capture_output=True, text=True,
                          timeout=30, check=False)


@pytest.mark.parametrize("have, want, ok", [("dev", "", True), ("dev", "dev", True), ("", "dev", False),
                                            ("dev,gpu", "gpu", True), ("gpu", "dev,gpu", False), ("", "", True)])
def test_installed_extras_cover_a_job_needing_fewer(have, want, ok):
    assert (stamp_functions(f'covers "{have}" "{want}"').returncode == 0) is ok


def test_a_new_install_keeps_the_extras_already_there():
    assert stamp_functions('union "dev" ""').stdout.strip() == "dev"
    assert stamp_functions('union "" "dev"').stdout.strip() == "dev"
    assert stamp_functions('union "gpu" "dev,gpu"').stdout.strip() == "dev,gpu"
    assert stamp_functions('union "" ""').stdout.strip() == ""


def test_webapp_after_test_setup_does_not_reinstall():
    """The real venv, set up by `./run.sh test` (extras: dev): `./run.sh webapp --help` runs the
    app's own --help at once, with no install step."""
    stamp = REPO / ".venv" / ".emofusion-installed"
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    parts = stamp.read_text().split() if stamp.is_file() else []
    if parts[:1] != [digest] or "dev" not in (parts[1].split(",") if len(parts) > 1 else []):
        pytest.skip("needs .venv set up by ./run.sh test for this pyproject.toml (its stamp)")
    if not shutil.which("ffmpeg"):
        pytest.skip("run.sh would install ffmpeg first")
    r = subprocess.run(["./run.sh", "webapp", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120,
                       check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert r.returncode == 0, r.stderr
    assert "installing" not in r.stdout + r.stderr and "--share" in r.stdout
    assert stamp.read_text().split() == parts  # the stamp is left as it was
