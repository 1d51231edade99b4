"""``bench leaderboard validate FILE...`` and ``bench leaderboard build [--dir DIR]``."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard", help="validate submissions and build the leaderboard pages"
    )
    commands = parser.add_subparsers(dest="leaderboard_command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate", help="run every submission check on files (e.g. to review a pull request)"
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="submission JSON files")
    validate.add_argument(
        "--against",
        metavar="DIR",
        help="also refuse duplicates of the submissions already in DIR/submissions",
    )
    validate.add_argument(
        "--no-fingerprints",
        action="store_true",
        help="skip comparing the dataset fingerprints with the registered datasets",
    )
    validate.set_defaults(handler=validate_command)

    build = commands.add_parser(
        "build", help="regenerate DIR/README.md and DIR/index.html from DIR/submissions/*.json"
    )
    build.add_argument(
        "--dir", default="leaderboard", help="leaderboard directory (default: leaderboard)"
    )
    build.add_argument(
        "--strict", action="store_true", help="fail on the first bad submission instead of skipping"
    )
    build.add_argument(
        "--check-fingerprints",
        action="store_true",
        help="also compare fingerprints with the registered datasets (needs their plugins)",
    )
    build.set_defaults(handler=build_command)


def validate_command(args: argparse.Namespace) -> None:
    import io
    from pathlib import Path

    from disentangle_bench.leaderboard.build import load_accepted
    from disentangle_bench.leaderboard.schema import SubmissionError
    from disentangle_bench.leaderboard.validation import FingerprintReport, admit
    from disentangle_bench.util.errors import BenchError

    others = {}
    if args.against:
        others = load_accepted(Path(args.against), stream=io.StringIO())
    registry = None
    if not args.no_fingerprints:
        from disentangle_bench.registry import Registry

        registry = Registry()
    rejected = []
    for name in args.files:
        path = Path(name)
        mine = {
            source: other
            for source, other in others.items()
            if Path(args.against or ".", source).resolve() != path.resolve()
        }
        report = FingerprintReport()
        try:
            submission = admit(
                path,
                fingerprints=not args.no_fingerprints,
                registry=registry,
                others=mine,
                file_name=True,
                report=report,
            )
        except SubmissionError as error:
            if len(args.files) == 1:
                raise
            print(f"bench: {error}", file=sys.stderr)
            rejected.append(name)
            continue
        print(
            f"{path}: valid: method {submission['method']['name']!r} "
            f"({submission['method']['model']}), {len(submission['runs'])} runs; "
            f"{submission['content_hash']}"
        )
        note = report.note()
        if note:
            print(f"{path}: {note}")
    if rejected:
        raise BenchError(f"{len(rejected)} of {len(args.files)} submissions rejected")


def build_command(args: argparse.Namespace) -> None:
    from disentangle_bench.leaderboard.build import build_leaderboard

    result = build_leaderboard(
        args.dir, strict=args.strict, fingerprints=args.check_fingerprints, stream=sys.stderr
    )
    skipped = f", {len(result.skipped)} skipped" if result.skipped else ""
    print(
        f"wrote {result.readme} and {result.html} from {len(result.accepted)} submission(s)"
        f"{skipped}"
    )
