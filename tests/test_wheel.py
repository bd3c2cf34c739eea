"""The package works as installed from a wheel, with no source checkout to lean on.

The wheel is built from a copy of the package files (pyproject.toml, README.md, emofusion/), installed
with --no-deps into a fresh venv, and run from an empty temporary directory. The fresh venv borrows
the main venv's site-packages for the dependencies (torch & co.) through a plain path line in a .pth
file: a path line does not run the .pth files found there, so the main venv's editable install of
this checkout stays invisible, which the test checks before trusting anything else.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from emofusion.constants import CLASSES

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list, cwd: Path, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a fresh venv holding only the wheel's emofusion, the wheel, an empty cwd)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "emofusion", src / "emofusion", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp / "dist"
    # no build isolation: setuptools comes from the main venv, so no index is needed
    _run([sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--no-build-isolation", "-w", dist, "-q"],
         cwd=tmp, timeout=600)
    wheel = next(dist.glob("emofusion-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp, timeout=120)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp, timeout=60).stdout.strip())
    (site / "main_venv_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
         cwd=tmp, timeout=600)
    work = tmp / "elsewhere"
    work.mkdir()
    return python, wheel, work


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_wheel_holds_the_package_and_its_data_only(installed):
    _, wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "emofusion/webapp/examples/1001_DFA_HAP_XX.mp4" in names and "emofusion/cli.py" in names
    assert not [n for n in names if n.startswith(("tests/", "scripts/", "results/", "models/"))]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_emofusion_predict_runs_from_the_installed_wheel(installed):
    python, _, work = installed
    where = _run([python, "-c", "import emofusion, emofusion.webapp; print(emofusion.__file__); "
                  "print(emofusion.webapp.__file__)"], cwd=work, timeout=120, env=_env()).stdout.split()
    venv = python.parents[1]
    assert all(Path(p).is_relative_to(venv) for p in where), f"imported from {where}, not the wheel in {venv}"
    clip = Path(where[1]).parent / "examples" / "1001_DFA_HAP_XX.mp4"  # package data, as installed
    assert clip.is_file()
    r = _run([venv / "bin" / "emofusion", "predict", clip, "--json", "--models", REPO / "models",
              "--backend", "torch"], cwd=work, timeout=900, env=_env())
    answers = json.loads(r.stdout)
    assert len(answers) == 1 and answers[0]["ok"], answers
    assert answers[0]["models"] and all(m["top"] in CLASSES for m in answers[0]["models"].values())
    assert sorted(p.name for p in work.iterdir()) == []  # nothing written where it ran
