"""Chance levels measured by benchmarks/testbed_submissions.py (generated: do not edit; rerun it).

See :mod:`disentangle_bench.leaderboard.chance` for what is measured and how.
"""

from disentangle_bench.leaderboard.chance import ChanceLevel

LEVELS = (
    ChanceLevel(
        dataset="blob",
        score="mig.discrete_mig",
        level=0.0007304558123778053,
        mean=0.000333579289779732,
        num_latent=4,
        draws=20,
        metric_parameters={"batch_size": 16, "num_train": 10000},
    ),
)
