"""``bench plugins list [--json]``."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    plugins = subparsers.add_parser("plugins", help="inspect installed plugins")
    commands = plugins.add_subparsers(dest="plugins_command", required=True, metavar="COMMAND")
    listing = commands.add_parser(
        "list", help="every dataset, perturbation, model and metric, and who provides it"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=list_plugins)


def list_plugins(args: argparse.Namespace) -> None:
    from disentangle_bench.registry import Registry

    entries = Registry().entries()
    rows = [(e.kind, e.name, e.plugin, e.module, e.distribution) for e in entries]
    if args.json:
        keys = ("kind", "name", "plugin", "module", "distribution")
        print(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=2))
        return
    header = ("KIND", "NAME", "PLUGIN", "MODULE", "DISTRIBUTION")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        cells = zip(row[:4], widths, strict=True)
        print("  ".join(cell.ljust(width) for cell, width in cells) + "  " + row[4])
