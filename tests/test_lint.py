"""The code base stays ruff-clean (lint and format), so CI fails on a style regression."""

from __future__ import annotations

import ast
import importlib.util
import re
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


# -- every package the code imports is declared ----------------------------------------------

#: Import name -> distribution, for packages whose metadata may be absent (an uninstalled extra).
KNOWN_DISTRIBUTIONS = {"ray": "ray", "h5py": "h5py", "PIL": "pillow", "sklearn": "scikit-learn"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _declared() -> tuple[set[str], set[str]]:
    """Distributions in [project] dependencies, and those only in optional extras."""
    project = _pyproject()["project"]

    def names(requirements: list[str]) -> set[str]:
        return {_normalise(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in requirements}

    required = names(project["dependencies"])
    extras = set().union(*(names(v) for v in project["optional-dependencies"].values()))
    return required, extras - required


def _third_party_imports(root: Path) -> dict[str, list[tuple[str, bool]]]:
    """Top-level module -> (file:line, guarded by ``except ImportError``) of every import."""
    found: dict[str, list[tuple[str, bool]]] = {}

    def visit(node: ast.AST, guarded: bool, path: Path) -> None:
        if isinstance(node, ast.Try):
            handles = any(
                h.type is not None and "ImportError" in ast.unparse(h.type) for h in node.handlers
            )
            for child in node.body:
                visit(child, guarded or handles, path)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded, path)
            return
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules = [node.module]
        for module in modules:
            top = module.split(".")[0]
            if top not in sys.stdlib_module_names and top != "disentangle_bench":
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.setdefault(top, []).append((where, guarded))
        for child in ast.iter_child_nodes(node):
            visit(child, guarded, path)

    for path in sorted(root.rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), False, path)
    return found


def test_every_imported_package_is_declared_and_extras_are_imported_guarded():
    from importlib.metadata import packages_distributions

    required, extras = _declared()
    installed = packages_distributions()
    imports = _third_party_imports(ROOT / "disentangle_bench")
    assert {"numpy", "torch", "PIL", "jinja2", "huggingface_hub"} <= set(imports)  # it reads
    undeclared, unguarded = [], []
    for module, places in sorted(imports.items()):
        distributions = installed.get(module) or [KNOWN_DISTRIBUTIONS.get(module, module)]
        names = {_normalise(d) for d in distributions}
        if names & required:
            continue
        if names & extras:
            unguarded += [where for where, guarded in places if not guarded]
        else:
            undeclared.append(f"{module} ({places[0][0]})")
    assert undeclared == [], "declare these in pyproject.toml [project] dependencies"
    assert unguarded == [], "an extra's import needs a try/except ImportError with a clear error"


def test_b905_is_on_for_the_tests():
    """A zip in a test must say whether lengths may differ (a loop that compares nothing
    passes silently); only the package may leave it out."""
    lint = _pyproject()["tool"]["ruff"]["lint"]
    assert "B905" not in lint.get("ignore", [])
    per_file = lint.get("per-file-ignores", {})
    assert [glob for glob, rules in per_file.items() if "B905" in rules] == ["disentangle_bench/**"]
