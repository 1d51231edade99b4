"""``python -m disentangle_bench.cli``: the ``bench`` command."""

import sys

from disentangle_bench.cli.main import main

sys.exit(main())
