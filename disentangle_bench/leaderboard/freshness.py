"""Whether a committed leaderboard entry still measures the code it names.

A submission's runs may record the commit of the code that made them (``versions["commit"]``,
see :data:`~disentangle_bench.leaderboard.aggregate.COMMIT_KEY`). An entry is *stale* when the
code that decides its numbers changed between that commit and ``HEAD``: the modules that define
the entry's model, its datasets and its perturbations, the trainer, the representation and the
test bed's runner (:data:`MEASURED_MODULES`), with every module of :data:`TRACKED_PACKAGES` they
import, directly or not (read from their source, imports inside functions included). The
metrics are not tracked here: their numbers on given codes are pinned by the parity fixtures
that disentanglement_lib made (``tests/test_metrics_parity.py`` fails when MIG changes). The
comparison is
``git diff --quiet <commit> HEAD -- <paths>``: committed code only (a working tree's edits are
not anyone's measurement yet). ``tests/test_leaderboard_freshness.py`` runs it on every file of
``leaderboard/submissions/``.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disentangle_bench.leaderboard.aggregate import COMMIT_KEY

PACKAGE = "disentangle_bench"
#: The modules every test-bed entry ran, besides its model's, datasets' and perturbations'.
MEASURED_MODULES = (
    "disentangle_bench.pipeline.training",
    "disentangle_bench.pipeline.representation",
    "disentangle_bench.evidence.testbed",
)
#: Imports followed into these sub-packages: the code that turns a seed into trained weights.
TRACKED_PACKAGES = (
    "disentangle_bench.data",
    "disentangle_bench.models",
    "disentangle_bench.perturbations",
    "disentangle_bench.pipeline.training",
    "disentangle_bench.pipeline.representation",
)
#: What ``benchmarks/provenance.git_commit`` appends for a working tree with changes.
UNCOMMITTED = "+uncommitted"
#: A recorded commit must be a hexadecimal object name: nothing else reaches git's command line.
COMMIT_PATTERN = re.compile(r"^[0-9a-f]{7,64}$")
REGENERATE = (
    "re-run the study on the current code (move benchmarks/results/testbed_study.jsonl away "
    "first: runs already in it are skipped; then python benchmarks/testbed_study.py), then "
    "regenerate the entries with python benchmarks/testbed_submissions.py"
)


class GitUnavailable(Exception):
    """Not a git checkout, or git cannot be run here."""


def git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GitUnavailable(f"git cannot be run: {error}") from None


def repository_root(start: Path) -> Path:
    """The work tree holding ``start``; :class:`GitUnavailable` when there is none."""
    result = git(start, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[:1] or ["git rev-parse failed"]
        raise GitUnavailable(f"{start} is not in a git checkout ({reason[0]})")
    return Path(result.stdout.strip())


def _checked(commit: str) -> str:
    if not COMMIT_PATTERN.match(commit):
        raise ValueError(f"{commit[:80]!r} is not a commit hash")
    return commit


def commit_known(root: Path, commit: str) -> bool:
    """Whether ``commit`` names a commit of this repository (a shallow clone may lack it)."""
    return git(root, "cat-file", "-e", f"{_checked(commit)}^{{commit}}").returncode == 0


def changed_paths(root: Path, commit: str, paths: list[str]) -> list[str]:
    """The files under ``paths`` that differ between ``commit`` and ``HEAD`` (empty: none)."""
    _checked(commit)
    quiet = git(root, "diff", "--quiet", commit, "HEAD", "--", *paths)
    if quiet.returncode == 0:
        return []
    if quiet.returncode != 1:
        raise GitUnavailable(f"git diff {commit} HEAD failed: {quiet.stderr.strip()}")
    names = git(root, "diff", "--name-only", commit, "HEAD", "--", *paths)
    return sorted(line for line in names.stdout.splitlines() if line.strip())


def recorded_commits(submission: dict[str, Any]) -> dict[str, list[str]]:
    """Recorded commit -> the run ids that name it ("" for runs that record none)."""
    commits: dict[str, list[str]] = defaultdict(list)
    for run in submission["runs"]:
        commit = (run.get("versions") or {}).get(COMMIT_KEY, "")
        commits[str(commit)].append(str(run["run_id"]))
    return dict(commits)


REPOSITORY = Path(__file__).resolve().parents[2]


def _module_file(module: str) -> Path | None:
    """The source file of a package module, or None for a name that is not a module."""
    base = REPOSITORY.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path) -> set[str]:
    """Every ``disentangle_bench`` module the source at ``path`` imports (anywhere in it)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] == PACKAGE}


def import_closure(modules: set[str]) -> set[Path]:
    """The source files of ``modules`` and of every :data:`TRACKED_PACKAGES` module they import,
    transitively."""
    files: set[Path] = set()
    todo = sorted(modules)
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module)
        if path is None:
            continue  # a name imported from a module, not a module itself
        files.add(path)
        todo += [
            name
            for name in _imported_modules(path)
            if name.startswith(TRACKED_PACKAGES) and name not in seen
        ]
    return files


def _factory_modules(registry: Any, kind: str, name: str) -> set[str]:
    factory = registry.get(kind, name).factory
    classes = inspect.getmro(factory) if inspect.isclass(factory) else (factory,)
    return {
        item.__module__
        for item in classes
        if (getattr(item, "__module__", "") or "").split(".")[0] == PACKAGE
    }


def measured_paths(submission: dict[str, Any], registry: Any = None) -> list[str]:
    """The repository paths of the code that decided the submission's numbers (module
    docstring)."""
    if registry is None:
        from disentangle_bench.registry import Registry

        registry = Registry()
    modules = set(MEASURED_MODULES) | _factory_modules(
        registry, "models", submission["method"]["model"]
    )
    for run in submission["runs"]:
        modules |= _factory_modules(registry, "datasets", run["dataset"]["base"])
        perturbation = run["dataset"].get("perturbation")
        if perturbation:
            modules |= _factory_modules(registry, "perturbations", perturbation["name"])
    return sorted(path.relative_to(REPOSITORY).as_posix() for path in import_closure(modules))


@dataclass(frozen=True)
class Staleness:
    """Why one committed entry no longer measures the code (or cannot be checked)."""

    source: str
    commit: str
    runs: int
    changed: tuple[str, ...] = ()
    problem: str = ""

    def message(self) -> str:
        if self.problem:
            return f"{self.source}: {self.problem}; {REGENERATE}"
        shown = ", ".join(self.changed[:20]) + (" ..." if len(self.changed) > 20 else "")
        return (
            f"{self.source} ({self.runs} runs) measured commit {self.commit}, and the code that "
            f"decides its numbers has changed since (git diff {self.commit[:12]} HEAD): {shown}; "
            f"{REGENERATE}"
        )


def staleness(
    submission: dict[str, Any], source: str, root: Path, registry: Any = None
) -> tuple[list[Staleness], list[str]]:
    """(why the entry is stale, commits this repository does not know) for one submission."""
    found: list[Staleness] = []
    unknown: list[str] = []
    paths = measured_paths(submission, registry)
    for commit, runs in sorted(recorded_commits(submission).items()):
        if not commit:
            found.append(
                Staleness(source, commit, len(runs), problem=f"{len(runs)} runs record no commit")
            )
        elif commit.endswith(UNCOMMITTED) and COMMIT_PATTERN.match(commit[: -len(UNCOMMITTED)]):
            found.append(
                Staleness(
                    source,
                    commit,
                    len(runs),
                    problem=f"{len(runs)} runs were made from a working tree with uncommitted "
                    f"changes ({commit}): no commit says which code made them",
                )
            )
        elif not COMMIT_PATTERN.match(commit):
            found.append(
                Staleness(
                    source,
                    commit[:80],
                    len(runs),
                    problem=f"{len(runs)} runs record {commit[:80]!r}, not a commit hash",
                )
            )
        elif not commit_known(root, commit):
            unknown.append(commit)
        else:
            changed = changed_paths(root, commit, paths)
            if changed:
                found.append(Staleness(source, commit, len(runs), tuple(changed)))
    return found, unknown
