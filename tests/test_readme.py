"""The README's plugin example is real: extract it, register it, apply it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import gin
import numpy as np

from disentangle_bench.registry import Registry

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def fenced(language: str, first_line: str) -> str:
    for block in re.findall(rf"```{language}\n(.*?)```", README, flags=re.S):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"no {language} block starting with {first_line!r} in README.md")


def test_readme_plugin_example_registers_and_perturbs(tmp_path, monkeypatch):
    pyproject = tomllib.loads(fenced("toml", "# pyproject.toml"))
    entry_points = pyproject["project"]["entry-points"]["disentangle_bench"]
    module = entry_points["my_perturbations"]
    (tmp_path / f"{module}.py").write_text(fenced("python", '"""my_perturbations.py'))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DISENTANGLE_BENCH_PLUGINS", module)

    registry = Registry()
    assert registry.get("perturbations", "stripes").plugin == module
    gin.parse_config("stripes.period = 4\nstripes.eps = 0.2")
    stripes = registry.build("perturbations", "stripes")
    assert stripes.parameters() == {"eps": 0.2, "seed": 0, "period": 4}

    base = registry.build("datasets", "dsprites_small")
    perturbed = stripes.apply(base)
    factors = base.sample_factors(32, np.random.RandomState(0))
    clean = base.sample_observations_from_factors(factors, np.random.RandomState(0))
    changed = perturbed.sample_observations_from_factors(factors, np.random.RandomState(0))
    assert np.abs(changed - clean).max() <= 0.2 + 1e-6
    assert perturbed.fingerprint != base.fingerprint
    # Background rows follow the period-4 stripe pattern, shifted by the first factor.
    background = changed[:, :, 0, 0]
    row_is_up = background > 0.1
    assert np.array_equal(row_is_up[:, :-4], row_is_up[:, 4:])
