"""The ``bench`` command line. Each subcommand lives in :mod:`disentangle_bench.cli.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from disentangle_bench.util.errors import BenchError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Subcommand modules, in the order ``bench --help`` lists them.
COMMANDS = (
    "disentangle_bench.cli.commands.run",
    "disentangle_bench.cli.commands.plugins",
    "disentangle_bench.cli.commands.datasets",
    "disentangle_bench.cli.commands.evaluate",
    "disentangle_bench.cli.commands.submit",
    "disentangle_bench.cli.commands.leaderboard",
    "disentangle_bench.cli.commands.sweep",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description="Train and score disentanglement methods on original and perturbed data.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except BenchError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("bench: interrupted; rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
