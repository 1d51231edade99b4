"""Build a leaderboard directory from its submissions, and the quickstart's own leaderboard.

``<dir>/submissions/*.json`` -> ``<dir>/README.md`` and ``<dir>/index.html``. Both pages are
rendered in memory first and then each written atomically, so a failure leaves the previous
leaderboard as it was. Submissions are read in file-name order; one that fails a check is
skipped with a warning (``strict``: the build stops with its error). Of two submissions with the
same content hash, method name or runs, the one whose file name sorts first is kept.

Each file goes through :func:`~disentangle_bench.leaderboard.validation.admit`, the function
``bench leaderboard validate`` calls: the build refuses every file ``validate --no-fingerprints``
refuses (and also files whose names it would not write). It checks what the files alone can
prove (schema, hash, twins, scores, duplicates): its output depends only on the submissions.
Comparing fingerprints with the registry's datasets needs their plugins installed and is
``bench leaderboard validate``'s job (or ``fingerprints=True``, ``--check-fingerprints``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from disentangle_bench.leaderboard.aggregate import aggregate
from disentangle_bench.leaderboard.render_html import render_html
from disentangle_bench.leaderboard.render_markdown import render_markdown
from disentangle_bench.leaderboard.schema import SubmissionError
from disentangle_bench.leaderboard.submission import (
    SUBMISSIONS_DIR,
    build_submission,
    collect_run_records,
    submission_path,
)
from disentangle_bench.leaderboard.validation import admit, check
from disentangle_bench.util.errors import BenchError
from disentangle_bench.util.files import atomic_write_json, atomic_write_text
from disentangle_bench.util.writing import WriteError, writing

README_FILE = "README.md"
HTML_FILE = "index.html"
LEADERBOARD_DIR = "leaderboard"
MAX_SUBMISSIONS = 1000


class LeaderboardError(BenchError):
    """A leaderboard directory that cannot be built."""


@dataclass
class BuildResult:
    directory: Path
    accepted: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def readme(self) -> Path:
        return self.directory / README_FILE

    @property
    def html(self) -> Path:
        return self.directory / HTML_FILE


def submission_files(directory: Path) -> list[Path]:
    """``*.json`` entries of ``<directory>/submissions`` (hidden files are ignored)."""
    folder = directory / SUBMISSIONS_DIR
    if not folder.is_dir():
        raise LeaderboardError(
            f"{folder} is not a directory; create it, or write a submission there with "
            f"bench submit RUN_DIR --name NAME --to {directory}"
        )
    try:
        names = list(folder.iterdir())
    except OSError as error:
        raise LeaderboardError(f"cannot list {folder}: {error.strerror or error}") from None
    files = sorted(p for p in names if p.name.endswith(".json") and not p.name.startswith("."))
    if len(files) > MAX_SUBMISSIONS:
        raise LeaderboardError(f"{folder} holds {len(files)} submissions (limit {MAX_SUBMISSIONS})")
    return files


def load_accepted(
    directory: Path,
    *,
    strict: bool = False,
    fingerprints: bool = False,
    registry: Any = None,
    stream: TextIO | None = None,
    result: BuildResult | None = None,
) -> dict[str, dict[str, Any]]:
    """Every submission of ``directory`` that passes the checks (file name -> submission)."""
    stream = stream if stream is not None else sys.stderr
    accepted: dict[str, dict[str, Any]] = {}
    for path in submission_files(directory):
        source = f"{SUBMISSIONS_DIR}/{path.name}"
        try:
            submission = admit(
                path,
                source,
                fingerprints=fingerprints,
                registry=registry,
                others=accepted,
                file_name=True,
            )
        except SubmissionError as error:
            if strict:
                raise
            print(f"warning: skipping {error}", file=stream, flush=True)
            if result is not None:
                result.skipped.append((source, str(error)))
            continue
        accepted[source] = submission
        if result is not None:
            result.accepted.append(source)
    return accepted


def build_leaderboard(
    directory: str | Path = LEADERBOARD_DIR,
    *,
    strict: bool = False,
    fingerprints: bool = False,
    registry: Any = None,
    stream: TextIO | None = None,
) -> BuildResult:
    """Regenerate ``<directory>/README.md`` and ``index.html`` from its submissions."""
    directory = Path(directory)
    result = BuildResult(directory)
    accepted = load_accepted(
        directory,
        strict=strict,
        fingerprints=fingerprints,
        registry=registry,
        stream=stream,
        result=result,
    )
    board = aggregate(accepted)
    readme, page = render_markdown(board), render_html(board)
    with writing(directory / README_FILE, "the leaderboard table"):
        atomic_write_text(directory / README_FILE, readme)
    with writing(directory / HTML_FILE, "the leaderboard page"):
        atomic_write_text(directory / HTML_FILE, page)
    return result


def build_leaderboard_for_runs(
    out_dir: str | Path, *, stream: TextIO | None = None
) -> BuildResult | None:
    """The leaderboard of ``out_dir``'s own runs in ``out_dir/leaderboard/``.

    One submission per model (named after it) from ``out_dir/runs/*/run.json`` replaces every
    submission in ``out_dir/leaderboard/submissions/``; then README.md and index.html are
    rebuilt. Fingerprints are not re-checked (the runs were just made here). Runs that cannot
    form a submission (no perturbed twin, unfinished runs) leave a one-line note on ``stream``
    and return None: a run's results never depend on its leaderboard.
    """
    stream = stream if stream is not None else sys.stdout
    out = Path(out_dir)
    board = out / LEADERBOARD_DIR
    try:
        records = collect_run_records([out])
        by_model: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_model.setdefault(str((record.get("model") or {}).get("name")), []).append(record)
        submissions: dict[Path, dict[str, Any]] = {}
        for model, group in sorted(by_model.items()):
            submission = build_submission(group, name=model)
            path = submission_path(board, model)
            check(submission, str(path))
            submissions[path] = submission
    except BenchError as error:
        print(f"leaderboard not built: {error}", file=stream, flush=True)
        return None
    try:
        for path, submission in submissions.items():
            with writing(path, "the submission"):
                atomic_write_json(path, submission)
        for stale in submission_files(board):
            if stale not in submissions:
                with writing(stale, "(removing) the stale submission"):
                    stale.unlink()
        result = build_leaderboard(board, strict=True, stream=stream)
    except WriteError as error:  # the runs and their results are written; only this is not
        print(f"leaderboard not built: {error}", file=stream, flush=True)
        return None
    print(f"leaderboard written to {result.html}", file=stream, flush=True)
    return result
