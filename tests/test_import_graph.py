"""The package's layering, read from the source with ``ast``: each sub-package imports only its
own modules and those of lower layers (imports inside functions count too).

    util < registry < data < perturbations < models < metrics < diagnostics < pipeline
         < {evidence, sweeping, leaderboard} < cli

``disentangle_bench.registry.hookspecs`` (the plugin contract's markers), ``disentangle_bench.util``
and the package root (``hookimpl`` and ``__version__``) may be imported from anywhere.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = "disentangle_bench"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
LAYERS: tuple[tuple[str, ...], ...] = (
    ("util",),
    ("registry",),
    ("data",),
    ("perturbations",),
    ("models",),
    ("metrics",),
    ("diagnostics",),
    ("pipeline",),
    ("evidence", "sweeping", "leaderboard"),
    ("cli",),
)
RANK = {name: rank for rank, group in enumerate(LAYERS) for name in group}
#: Modules every layer may import.
SHARED = (PACKAGE, f"{PACKAGE}.registry.hookspecs", f"{PACKAGE}.util")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth."""
    name = module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if module == PACKAGE:  # ``from disentangle_bench import x``: a sub-package or a name
                found += [(node.lineno, _root_member(alias.name, root)) for alias in node.names]
            else:
                found.append((node.lineno, module))
    return found


def _root_member(name: str, root: Path) -> str:
    is_module = (root / name / "__init__.py").is_file() or (root / f"{name}.py").is_file()
    return f"{PACKAGE}.{name}" if is_module else PACKAGE


def sub_package(module: str) -> str | None:
    """``disentangle_bench.<sub-package>...`` -> the sub-package; anything else -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == PACKAGE else None


def shared(module: str) -> bool:
    return module == PACKAGE or any(module == s or module.startswith(s + ".") for s in SHARED[1:])


def edges() -> list[tuple[str, int, str | None, str]]:
    """(file, line, importing sub-package, imported module) of every import of the package's
    own modules (``None``: the package root's ``__init__.py``)."""
    result = []
    for path in sorted(ROOT.rglob("*.py")):
        source = sub_package(module_name(path))
        for line, module in imported_modules(path):
            if module == PACKAGE or sub_package(module) is not None:
                result.append((str(path.relative_to(ROOT.parent)), line, source, module))
    return result


def violations(found: list[tuple[str, int, str | None, str]]) -> list[str]:
    return [
        f"{file}:{line}: {source} imports {module}"
        for file, line, source, module in found
        if source is not None
        and not shared(module)
        and sub_package(module) != source
        and RANK[sub_package(module)] >= RANK[source]
    ]


def test_every_sub_package_has_a_layer():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(RANK), "give the new sub-package a place in LAYERS"


def test_the_reader_finds_nested_relative_and_root_imports(tmp_path):
    """The checker itself, on a made-up module: every kind of import is found and resolved."""
    fake = tmp_path / PACKAGE
    (fake / "data").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "cli").mkdir()
    (fake / "cli" / "__init__.py").write_text("")
    (fake / "data" / "__init__.py").write_text("")
    (fake / "data" / "thing.py").write_text(
        "import numpy\n"
        "from disentangle_bench import hookimpl, cli\n"
        "from . import other\n"
        "from ..util.errors import BenchError\n"
        "def f():\n"
        "    from disentangle_bench.pipeline.running import execute_run\n"
    )
    found = [module for _, module in imported_modules(fake / "data" / "thing.py", fake)]
    assert found == [
        "numpy",
        PACKAGE,
        f"{PACKAGE}.cli",
        f"{PACKAGE}.data",
        f"{PACKAGE}.util.errors",
        f"{PACKAGE}.pipeline.running",
    ]
    edge = [("x.py", 1, "data", m) for m in found if m == PACKAGE or sub_package(m)]
    assert violations(edge) == [
        f"x.py:1: data imports {PACKAGE}.cli",
        f"x.py:1: data imports {PACKAGE}.pipeline.running",
    ]


def test_each_sub_package_imports_only_its_own_or_lower_layers():
    found = edges()
    assert {source for _, _, source, _ in found} >= set(RANK) - {"util"}  # the reader reads
    assert violations(found) == []


def test_the_package_root_imports_only_shared_modules():
    root = [module for _, _, source, module in edges() if source is None]
    assert root and all(shared(module) for module in root), root


def test_the_readme_layout_names_existing_modules_and_every_sub_package():
    readme = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    layout = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(\w+/[\w/]+\.(?:py|j2))`", layout))  # paths, not bare names
    assert len(named) > 20
    assert [path for path in sorted(named) if not (ROOT / path).is_file()] == []
    tree = layout.split("```text", 1)[1].split("```", 1)[0]
    assert {name for name in RANK if f"  {name}/" not in tree} == set()
