"""Shared test fixtures.

Real data lives in ``../shared/data`` beside the checkout (never copied into the repo).
Tests that need it use the ``shared_data`` fixture, which skips with a clear reason when
it is absent (a user's checkout). CI always has it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POSETRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))

# keep torch and BLAS on one thread each in tests: the CI machine has two cores
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data``; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set POSETRACK_SHARED_DATA or put shared/ beside the repo)")
    return SHARED_DATA


def shared_file(*parts: str) -> Path:
    """A file under ``../shared/data``; skips the calling test when it is missing."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data file not found: {p}")
    return p
