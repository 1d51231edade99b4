"""``bench submit RUN_OR_STUDY_DIR... --name NAME [--to DIR]``.

The submission is written to ``DIR/submissions/<name>.json``; ``DIR`` defaults to the current
directory, so a plain ``bench submit`` never modifies a leaderboard (the repository's tracked
``leaderboard/`` included) unless asked with ``--to leaderboard``.
"""

from __future__ import annotations

import argparse

DEFAULT_TO = "."


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit", help="build and validate a leaderboard submission from finished runs"
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="RUN_OR_STUDY_DIR",
        help="a run directory (with run.json) or a bench run output directory (with runs/)",
    )
    parser.add_argument(
        "--name", required=True, help="the method's name on the leaderboard (also the file name)"
    )
    parser.add_argument(
        "--to",
        default=DEFAULT_TO,
        metavar="DIR",
        help="the file goes to DIR/submissions/ (default: ./submissions/ in the current "
        "directory; --to leaderboard adds it to the repository's leaderboard)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing submission of that name"
    )
    parser.add_argument(
        "--no-fingerprints",
        action="store_true",
        help="skip comparing the dataset fingerprints with the registered datasets",
    )
    parser.set_defaults(handler=submit_command)


def submit_command(args: argparse.Namespace) -> None:
    import io
    from pathlib import Path

    from disentangle_bench.leaderboard.build import load_accepted
    from disentangle_bench.leaderboard.submission import (
        SUBMISSIONS_DIR,
        build_submission,
        collect_run_records,
        submission_path,
    )
    from disentangle_bench.leaderboard.validation import FingerprintReport, check
    from disentangle_bench.util.errors import BenchError
    from disentangle_bench.util.files import atomic_write_json
    from disentangle_bench.util.writing import writing

    board = Path(args.to)
    folder = board / SUBMISSIONS_DIR
    for directory in (board, folder):
        if directory.exists() and not directory.is_dir():
            raise BenchError(
                f"--to {board}: {directory} is a file, not a directory; the submission goes to "
                f"DIR/{SUBMISSIONS_DIR}/<name>.json, so name a directory"
            )
    path = submission_path(board, args.name)
    if path.exists() and not args.overwrite:
        raise BenchError(f"{path} exists; choose another --name or pass --overwrite to replace it")
    submission = build_submission(collect_run_records(args.paths), args.name)
    others = {}
    if folder.is_dir():
        quiet = io.StringIO()  # an invalid neighbour is the build's business, not this one's
        others = load_accepted(board, stream=quiet)
        others.pop(f"{SUBMISSIONS_DIR}/{path.name}", None)
    report = FingerprintReport()
    check(
        submission,
        str(path),
        fingerprints=not args.no_fingerprints,
        others=others,
        report=report,
    )
    with writing(path, "the submission"):
        atomic_write_json(path, submission)
    runs = submission["runs"]
    datasets = sorted({run["dataset"]["name"] for run in runs})
    print(
        f"wrote {path}: method {submission['method']['name']!r} ({submission['method']['model']}), "
        f"{len(runs)} runs in {len(submission['configs'])} config(s) on {', '.join(datasets)}; "
        f"{submission['content_hash']}"
    )
    note = report.note()
    if note:
        print(note)
    if args.to == DEFAULT_TO:
        print(
            f"to add it to a leaderboard, copy it into LEADERBOARD/{SUBMISSIONS_DIR}/ (or submit "
            "with --to LEADERBOARD), then run: bench leaderboard build --dir LEADERBOARD"
        )
    else:
        print(f"rebuild the leaderboard with: bench leaderboard build --dir {board}")
