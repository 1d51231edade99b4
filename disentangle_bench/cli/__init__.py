"""The ``bench`` command line: :mod:`.main` parses it, :mod:`.commands` holds one module per
subcommand."""

from disentangle_bench.cli.main import main

__all__ = ["main"]
