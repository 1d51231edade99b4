"""One run of a study in its own process: ``python -m disentangle_bench.sweeping.worker RUN_DIR``.

The process parses ``RUN_DIR/config.gin`` (gin is global state, hence one process per run) and
calls :func:`disentangle_bench.pipeline.running.execute_run`, exactly what ``bench run`` does for
that run: a finished run (``run.json``) is reused, an interrupted one resumes from its checkpoint.
An exclusive lock on ``RUN_DIR/.lock`` (:mod:`disentangle_bench.util.lock`, the helper
``bench run`` uses for its output directory) keeps two attempts from ever writing the same run at
once. ``--attempt N`` is the executor's attempt number (the executor writes it to the log).

Exit status: 0 finished, 2 a user-caused error (one line on stderr), anything else a crash.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from disentangle_bench.util.errors import BenchError
from disentangle_bench.util.lock import exclusive_lock

RUN_CONFIG_FILE = "config.gin"
LOCK_FILE = ".lock"


def run_in_this_process(run_dir: Path, device: str = "auto") -> None:
    """Execute the run configured in ``run_dir/config.gin`` (holding the run's lock)."""
    from disentangle_bench.pipeline.config import parse_gin
    from disentangle_bench.pipeline.experiment import build_experiment
    from disentangle_bench.pipeline.record import RUN_RECORD_FILE
    from disentangle_bench.pipeline.running import execute_run
    from disentangle_bench.registry import Registry
    from disentangle_bench.util.device import resolve_device

    # waits for an orphaned earlier attempt to end (a dead one's lock is free at once)
    with exclusive_lock(run_dir / LOCK_FILE, what=f"run {run_dir.name}", wait=True):
        if (run_dir / RUN_RECORD_FILE).exists():
            print(f"{run_dir.name}: finished earlier", file=sys.stderr)
            return
        registry = Registry()
        parse_gin([run_dir / RUN_CONFIG_FILE])
        spec = build_experiment()
        spec.validate(registry)
        # a study run names at most one perturbation: the run is that twin, else the original
        wanted = spec.perturbations[0] if spec.perturbations else None
        (run,) = [r for r in spec.runs() if r.perturbation == wanted]
        execute_run(run, registry, run_dir, resolve_device(device))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m disentangle_bench.sweeping.worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--attempt", type=int, default=1, help="attempt number (for the log)")
    args = parser.parse_args(argv)
    try:
        run_in_this_process(args.run_dir, args.device)
    except BenchError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
