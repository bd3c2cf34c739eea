"""Shared test fixtures: where ../shared is, and a skip with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMOFUSION_SHARED", REPO.parent / "shared"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Keep torch/BLAS from oversubscribing the 2 cores when onnxruntime is in the same process.
os.environ.setdefault("OMP_NUM_THREADS", "2")


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data; skips the calling test when it is not there."""
    p = SHARED.joinpath("data", *parts)
    if not p.exists():
        pytest.skip(f"needs ../shared/data/{'/'.join(parts)} (not present in this checkout)")
    return p


@pytest.fixture(scope="session")
def ravdess_speech_dir() -> Path:
    return shared_path("ravdess-speech")


@pytest.fixture(scope="session")
def cremad_dir() -> Path:
    return shared_path("cremad-av")


@pytest.fixture(scope="session")
def stills_dir() -> Path:
    return shared_path("ravdess-stills")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def one_torch_thread():
    """Tiny forward passes: one thread avoids spin contention on the shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
