"""``bench`` subcommands: one module each, with ``register(subparsers)`` that adds its parser
and sets ``handler`` (a function of the parsed arguments) as the parser's default."""
