"""The linter is part of the test run: ruff (rules in pyproject.toml's [tool.ruff]) on src/, tests/ and benchmarks/."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ("src", "tests", "benchmarks")


def _ruff() -> list[str]:
    try:
        import ruff  # noqa: F401  (the wheel ships the binary; `python -m ruff` runs it)

        return [sys.executable, "-m", "ruff"]
    except ImportError:
        exe = shutil.which("ruff")
        if exe is None:
            pytest.fail("ruff is not installed. It is in the `testing` extra: run `bash scripts/install.sh`, or "
                        "`.venv/bin/python -m uv pip install --python .venv/bin/python ruff`.")
        return [exe]


def test_ruff_reports_nothing():
    paths = [p for p in PATHS if (ROOT / p).is_dir()]
    proc = subprocess.run([*_ruff(), "check", "--no-cache", "--output-format", "concise", *paths], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"ruff found problems (fix them, `ruff check --fix` does the safe ones; rules in pyproject.toml):\n"
        f"{proc.stdout}{proc.stderr}")
