"""The code base stays ruff-clean (lint and format), so CI fails on a style regression."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["disentangle_bench", "tests", "plugins", "benchmarks"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff(command):
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed (it comes with the [test] extra)")
    targets = [t for t in TARGETS if (ROOT / t).exists()]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *targets], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
