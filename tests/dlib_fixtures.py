"""The disentanglement_lib parity fixtures (``tests/fixtures/dlib``), loaded once for every test
module that uses them: ``parity`` (the comparison helpers) and ``cases`` (the inputs)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "dlib"


def _load_parity():
    if "dlib_parity" in sys.modules:
        return sys.modules["dlib_parity"]
    spec = importlib.util.spec_from_file_location("dlib_parity", FIXTURES / "parity.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


parity = _load_parity()
cases = parity.cases
