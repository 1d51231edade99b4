"""The direction the test-bed study found, re-measured on a reduced study (3 seeds) in CI.

benchmarks/results/testbed_study.md holds the full study (10 seeds, three models, four
conditions); this test trains the same beta-VAE configuration (evidence.testbed, 3,000 steps) on
the original and the structural twin at eps 0.1 and fails when a code change loses the effect.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disentangle_bench.data.blob import Blob
from disentangle_bench.evidence.testbed import Condition, run_one

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def reduced_study():
    torch.set_num_threads(2)
    base = Blob()
    conditions = {
        "original": Condition("original"),
        "structural": Condition("structural", 0.1),
    }
    return {
        name: np.array([run_one("beta_vae", c, s, base=base)["mig"] for s in SEEDS])
        for name, c in conditions.items()
    }


@pytest.mark.slow
def test_the_unperturbed_beta_vae_disentangles_the_test_bed(reduced_study):
    assert np.all(reduced_study["original"] > 0.3)


@pytest.mark.slow
def test_the_structural_twin_lowers_beta_vae_mig_on_every_seed(reduced_study):
    drops = reduced_study["original"] - reduced_study["structural"]
    assert np.all(drops > 0.1), drops
