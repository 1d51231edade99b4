"""Parity with disentanglement_lib 1.5: our metrics against golden values the reference produced.

The fixtures (tests/fixtures/dlib/*.json) were written by tests/fixtures/dlib/make_golden.py,
which runs the reference's own code; tests/fixtures/dlib/parity.py holds this side's runner. Every
case is checked twice: through the registered plugin (the case's gin bindings applied) and
through the public array core (the same draws, settings passed as values).

Deterministic metrics must agree within 1e-6 (they agree exactly). The boosted-tree metrics (DCI
and the boosted-tree downstream task) break ties with NumPy's global generator in the reference;
their plugins seed it from the metric's seed (``tie_breaking="reference"``) and must compute
exactly what the array core computes under ``np.random.seed(seed)``. Against the fixtures they
agree within 1e-6 wherever no rounding decides a near-tie; where one does (noisy, rotated or
partial codes), the result depends on the last bit of floating-point results, which differs
between CPUs even with the same library versions (docs/metrics.md, "Boosted trees and
rounding"), so those cases are compared within a stated bound, and only under the scikit-learn
release the fixtures came from.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import sklearn
from dlib_fixtures import FIXTURES, parity

from disentangle_bench.metrics import DCI, dci, fork_random_state

DETERMINISTIC = [m for m in parity.PLUGINS if m not in parity.cases.GLOBAL_RNG_METRICS]
BOOSTED = parity.cases.GLOBAL_RNG_METRICS
TOLERANCE = 1e-6
#: Cases (metric -> representations) that a one-ULP nudge of the boosted classifiers' initial
#: predictions leaves unchanged (parity.py's report): their trees meet exact ties only, broken
#: by the generator, so these cases check its use (the reference's own results spread by up to
#: 0.036 over global seeds there) and must agree within 1e-6 on any machine.
ROUNDING_ROBUST = {"dci": ("perfect", "duplicated"), "downstream_task_boosted_trees": ("perfect",)}
#: Bound for the other cases, where that nudge moves the result: DCI by up to 0.0037, the
#: 20-point downstream task by up to 0.05 (parity.py's report), which is how far another CPU's
#: rounding can move them. They agree exactly where the fixtures were made.
ROUNDING_TOLERANCE = {"dci": 5e-3, "downstream_task_boosted_trees": 0.05 + 1e-9}
FIXTURE_SKLEARN = json.loads((FIXTURES / "dci.json").read_text())["versions"]["scikit-learn"]


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def _cases(metrics, representations=None):
    params = []
    for metric in metrics:
        for case in parity.fixture(metric)["cases"]:
            if representations is None or case["representation"] in representations:
                params.append(pytest.param(metric, case, id=f"{metric}-{parity.case_id(case)}"))
    return params


def _worst(ours, reference):
    return max(parity.differences(ours, reference).values())


def test_fixtures_record_the_reference_and_versions():
    for metric in parity.PLUGINS:
        data = json.loads((FIXTURES / f"{metric}.json").read_text())
        versions = data["versions"]
        assert versions["disentanglement-lib"] == "1.5"
        assert {"numpy", "scikit-learn", "scipy", "python"} <= set(versions)
        assert data["reference_function"].startswith("disentanglement_lib.evaluation.metrics.")
        assert data["cases"], metric
        assert not [c for c in data["cases"] if "error" in c["result"]]
    spaces = {c["space"] for m in parity.PLUGINS for c in parity.fixture(m)["cases"]}
    representations = {
        c["representation"] for m in parity.PLUGINS for c in parity.fixture(m)["cases"]
    }
    assert len(spaces) >= 3
    assert {"perfect", "noisy", "rotated", "duplicated", "partial"} <= representations
    # Every boosted-tree case has the reference's result for the global seed that the plugin's
    # default tie-breaking uses (np.random.seed(case seed)).
    for metric in BOOSTED:
        for case in parity.fixture(metric)["cases"]:
            assert str(case["seed"]) in case["results_by_global_seed"]


@pytest.mark.parametrize(("metric", "case"), _cases(DETERMINISTIC))
def test_deterministic_plugin_matches_reference(metric, case):
    ours = parity.run_plugin(metric, case)
    assert _worst(ours, case["result"]) <= TOLERANCE, parity.differences(ours, case["result"])


@pytest.mark.parametrize(("metric", "case"), _cases(DETERMINISTIC))
def test_deterministic_array_core_matches_reference(metric, case):
    ours = parity.run_core(metric, case)
    assert _worst(ours, case["result"]) <= TOLERANCE, parity.differences(ours, case["result"])


@pytest.mark.parametrize(("metric", "case"), _cases(BOOSTED))
def test_boosted_tree_plugin_is_the_core_under_the_seeded_global_generator(metric, case):
    np.random.seed(12345)
    before = np.random.get_state()
    ours = parity.run_plugin(metric, case)
    after = np.random.get_state()
    assert ours == parity.run_core(metric, case, global_seed=case["seed"])
    # The global generator is put back as it was.
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]


@pytest.mark.parametrize(
    ("metric", "case"), [p for m in BOOSTED for p in _cases([m], ROUNDING_ROBUST[m])]
)
def test_boosted_tree_core_matches_reference_for_several_global_seeds(metric, case):
    # Three of the five recorded seeds keep the test short; on the duplicated codes the
    # reference's results for them are not all equal.
    for seed in parity.cases.GLOBAL_SEEDS[:3]:
        reference = case["results_by_global_seed"][str(seed)]
        ours = parity.run_core(metric, case, global_seed=seed)
        assert _worst(ours, reference) <= TOLERANCE, (seed, parity.differences(ours, reference))


@pytest.mark.skipif(
    _minor(sklearn.__version__) != _minor(FIXTURE_SKLEARN),
    reason=f"near-ties of boosted trees are compared only under scikit-learn "
    f"{'.'.join(_minor(FIXTURE_SKLEARN))}.x, which made the fixtures (1.9 grows the boosting "
    f"trees with another criterion), not under {sklearn.__version__}",
)
@pytest.mark.parametrize(
    ("metric", "case"),
    [
        param
        for param in _cases(BOOSTED)
        if param.values[1]["representation"] not in ROUNDING_ROBUST[param.values[0]]
    ],
)
def test_boosted_tree_plugin_near_reference_where_rounding_decides(metric, case):
    ours = parity.run_plugin(metric, case)
    reference = parity.reference_result(metric, case)
    assert _worst(ours, reference) <= ROUNDING_TOLERANCE[metric], parity.differences(
        ours, reference
    )


def test_fork_tie_breaking_is_reproducible_and_leaves_the_global_generator_alone():
    case = next(c for c in parity.fixture("dci")["cases"] if c["representation"] == "duplicated")
    forked = {**case, "kwargs": {**case["kwargs"], "tie_breaking": "fork"}}
    np.random.seed(7)
    draws_before = np.random.get_state()
    ours = parity.run_plugin("dci", forked)
    assert np.array_equal(np.random.get_state()[1], draws_before[1])
    assert ours == parity.run_plugin("dci", forked)
    # The trees draw from a copy of the metric's generator after sampling ...
    data = parity.CaseData(case["sizes"])
    rs = np.random.RandomState(case["seed"])
    sample = DCI(**case["kwargs"])._sample(
        data, parity.cases.REPRESENTATIONS[case["representation"]], rs
    )
    assert ours == dci(*sample, random_state=fork_random_state(rs))
    # ... which are other draws than the reference's: on this case the score moves.
    assert _worst(ours, parity.reference_result("dci", case)) > 1e-4


def test_downstream_task_with_gin_predictor_matches_reference():
    case = parity.fixture("downstream_task_logistic_regression")["cases"][0]
    ours = parity.run_plugin("downstream_task", case, parity.DownstreamTask)
    assert _worst(ours, case["result"]) <= TOLERANCE
