"""The ``bench`` command line: ``bench plugins list``, ``bench run``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from disentangle_bench.device import DEVICE_CHOICES
from disentangle_bench.errors import BenchError

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description="Train and score disentanglement methods on original and perturbed data.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plugins = commands.add_parser("plugins", help="inspect installed plugins")
    plugin_commands = plugins.add_subparsers(dest="plugins_command", required=True)
    listing = plugin_commands.add_parser(
        "list", help="every dataset, perturbation, model and metric, and who provides it"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    run = commands.add_parser("run", help="train and evaluate the runs a gin config describes")
    run.add_argument(
        "--gin",
        action="append",
        required=True,
        metavar="FILE",
        help="gin config file (repeatable; later files override earlier ones)",
    )
    run.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="BINDING",
        help="extra gin binding such as 'train.steps = 100' (repeatable)",
    )
    run.add_argument(
        "--out", metavar="DIR", help="output directory (default: bench_runs/<experiment.name>)"
    )
    run.add_argument(
        "--device",
        default="auto",
        choices=DEVICE_CHOICES,
        help="where to train (default: auto = cuda, then mps, then cpu)",
    )
    run.add_argument(
        "--overwrite", action="store_true", help="replace runs of a different config in --out"
    )
    return parser


def plugins_list(as_json: bool) -> None:
    from disentangle_bench.registry import Registry

    entries = Registry().entries()
    if as_json:
        payload = [
            {"kind": e.kind, "name": e.name, "plugin": e.plugin, "distribution": e.distribution}
            for e in entries
        ]
        print(json.dumps(payload, indent=2))
        return
    widths = [max(len(getattr(e, f)) for e in entries) for f in ("kind", "name", "plugin")]
    header = ("KIND", "NAME", "PLUGIN", "DISTRIBUTION")
    rows = [header] + [(e.kind, e.name, e.plugin, e.distribution) for e in entries]
    widths = [max(w, len(h)) for w, h in zip(widths, header[:3])]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "plugins":
            plugins_list(args.json)
        elif args.command == "run":
            from disentangle_bench.running import run_experiment

            run_experiment(
                args.gin, args.bind, out_dir=args.out, device=args.device, overwrite=args.overwrite
            )
    except BenchError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("bench: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
