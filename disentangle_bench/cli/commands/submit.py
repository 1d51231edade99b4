"""``bench submit RUN_OR_STUDY_DIR... --name NAME [--to leaderboard/]``."""

from __future__ import annotations

import argparse


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
        default="leaderboard",
        metavar="DIR",
        help="leaderboard directory: the file goes to DIR/submissions/ (default: leaderboard)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing submission of that name"
    )
    parser.add_argument(
        "--no-fingerprints",
        action="store_true",
        help="skip rebuilding each dataset to compare its fingerprint",
    )
    parser.set_defaults(handler=submit_command)


def submit_command(args: argparse.Namespace) -> None:
    from pathlib import Path

    from disentangle_bench.leaderboard.build import load_accepted
    from disentangle_bench.leaderboard.submission import (
        build_submission,
        collect_run_records,
        submission_path,
    )
    from disentangle_bench.leaderboard.validation import check
    from disentangle_bench.util.errors import BenchError
    from disentangle_bench.util.files import atomic_write_json

    board = Path(args.to)
    path = submission_path(board, args.name)
    if path.exists() and not args.overwrite:
        raise BenchError(f"{path} exists; choose another --name or pass --overwrite to replace it")
    submission = build_submission(collect_run_records(args.paths), args.name)
    others = {}
    if (board / "submissions").is_dir():
        import io

        quiet = io.StringIO()  # an invalid neighbour is the build's business, not this one's
        others = load_accepted(board, stream=quiet)
        others.pop(f"submissions/{path.name}", None)
    check(submission, str(path), fingerprints=not args.no_fingerprints, others=others)
    atomic_write_json(path, submission)
    runs = submission["runs"]
    datasets = sorted({run["dataset"]["name"] for run in runs})
    print(
        f"wrote {path}: method {submission['method']['name']!r} ({submission['method']['model']}), "
        f"{len(runs)} runs in {len(submission['configs'])} config(s) on {', '.join(datasets)}; "
        f"{submission['content_hash']}"
    )
    print(f"rebuild the leaderboard with: bench leaderboard build --dir {board}")
