"""The claim's statistics on inputs whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from disentangle_bench.evidence.statistics import (
    ROW_FIELDS,
    bootstrap_mean_ci,
    claim_table,
    equivalence_test,
    format_markdown,
    holm,
    interaction_ci,
    paired_drop_test,
    pool_conditions,
)

# --- Wilcoxon signed-rank: exact p-values counted by hand over the 2^n sign patterns ---


@pytest.mark.parametrize(
    ("drops", "statistic", "p_value"),
    [
        ([1, 2, 3, 4, 5], 15, 1 / 32),  # only the all-positive pattern reaches W+ = 15
        ([-1, 2, 3, 4, 5], 14, 2 / 32),  # W+ >= 14 <=> W- <= 1: {}, {1}
        ([1, 2, 3, 4, -5], 10, 10 / 32),  # W- <= 5: {}, 5 singletons, {1,2} {1,3} {1,4} {2,3}
        ([-1, -2, 3, 4, 5], 12, 5 / 32),  # W- <= 3: {}, {1}, {2}, {3}, {1,2}
    ],
)
def test_exact_p_values_without_ties(drops, statistic, p_value):
    result = paired_drop_test(np.array(drops, dtype=float), np.zeros(5))
    assert result.n == 5
    assert result.statistic == statistic
    assert result.p_value == pytest.approx(p_value, abs=1e-12)


def test_the_other_alternatives():
    drops, zeros = np.array([-1.0, 2, 3, 4, 5]), np.zeros(5)
    assert paired_drop_test(drops, zeros, alternative="less").p_value == pytest.approx(31 / 32)
    assert paired_drop_test(drops, zeros, alternative="two-sided").p_value == pytest.approx(4 / 32)
    assert paired_drop_test(-drops, zeros, alternative="less").p_value == pytest.approx(2 / 32)


@pytest.mark.parametrize(
    ("drops", "statistic", "p_value"),
    [
        # midranks 1.5, 1.5, 3, 4: only all-positive reaches W+ = 10
        ([1, 1, 2, 3], 10, 1 / 16),
        # W+ = 8.5 >= 8.5 <=> W- <= 1.5: no negative, or either of the tied ones
        ([-1, 1, 2, 3], 8.5, 3 / 16),
        # Pratt: the zero takes rank 1 and drops out; W+ = 2 + 3 + 4 = 9, reached by 1 of 8
        ([0, 1, 2, 3], 9, 1 / 8),
        # every drop 0: no evidence at all
        ([0, 0, 0, 0], 0, 1.0),
    ],
)
def test_exact_p_values_with_ties_and_zeros(drops, statistic, p_value):
    result = paired_drop_test(np.array(drops, dtype=float), np.zeros(len(drops)))
    assert result.statistic == statistic
    assert result.p_value == pytest.approx(p_value, abs=1e-12)


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_tied_p_values_match_scipy_exhaustive_sign_flips(alternative):
    drops = np.array([0.0, 0.1, -0.1, 0.2, 0.2, 0.3, -0.05])
    reference = scipy.stats.wilcoxon(
        drops,
        zero_method="pratt",
        alternative=alternative,
        method=scipy.stats.PermutationMethod(n_resamples=2 ** len(drops)),
    )
    ours = paired_drop_test(drops, np.zeros_like(drops), alternative=alternative)
    assert ours.p_value == pytest.approx(float(reference.pvalue), abs=1e-12)


def test_summary_of_the_drops():
    original = np.array([0.5, 0.6, 0.7, 0.4])
    perturbed = np.array([0.1, 0.3, 0.2, 0.4])
    result = paired_drop_test(original, perturbed)
    assert result.mean_drop == pytest.approx(0.3)  # drops 0.4, 0.3, 0.5, 0
    assert result.median_drop == pytest.approx(0.35)
    assert result.relative_drop == pytest.approx(0.3 / 0.55)
    assert paired_drop_test(np.zeros(3), np.array([0.1, 0.2, 0.3])).relative_drop is None


def test_structural_versus_noise_runs_on_noise_minus_structural():
    noise = np.array([0.5, 0.6, 0.55, 0.65, 0.58])
    structural = noise - np.array([0.3, 0.1, 0.2, 0.4, 0.5])
    result = paired_drop_test(noise, structural)
    assert result.mean_drop == pytest.approx(0.3)
    assert result.p_value == pytest.approx(1 / 32)


@pytest.mark.parametrize(
    ("original", "perturbed", "message"),
    [
        ([0.1, 0.2, 0.3], [0.1, 0.2], "paired by seed"),
        ([0.1], [0.2], "at least 2 seeds"),
        ([0.1, np.nan], [0.2, 0.1], "NaN"),
        ([[0.1, 0.2]], [[0.1, 0.2]], "1-D"),
    ],
)
def test_bad_scores_raise_one_clear_error(original, perturbed, message):
    with pytest.raises(ValueError, match=message):
        paired_drop_test(original, perturbed)
    with pytest.raises(ValueError, match=message):
        equivalence_test(original, perturbed)
    with pytest.raises(ValueError, match=message):
        interaction_ci(original, perturbed, [0.1, 0.2], [0.1, 0.2])


def test_unknown_alternative_is_refused():
    with pytest.raises(ValueError, match="alternative"):
        paired_drop_test([1, 2], [0, 0], alternative="bigger")


# --- the interaction ---


def synthetic_drops(rng, n, vae_drop, pcl_drop, sd):
    vae_original = 0.6 + 0.1 * rng.randn(n)
    pcl_original = 0.4 + 0.1 * rng.randn(n)
    return (
        vae_original,
        vae_original - vae_drop - sd * rng.randn(n),
        pcl_original,
        pcl_original - pcl_drop - sd * rng.randn(n),
    )


def test_interaction_is_the_difference_of_mean_drops():
    result = interaction_ci([0.5, 0.6, 0.7], [0.1, 0.2, 0.4], [0.4, 0.5], [0.4, 0.3])
    assert result.vae_drop == pytest.approx((0.4 + 0.4 + 0.3) / 3)
    assert result.pcl_drop == pytest.approx(0.1)
    assert result.difference == pytest.approx(1.1 / 3 - 0.1)
    assert (result.n_vae, result.n_pcl) == (3, 2)


def test_interaction_interval_holds_the_true_value_and_is_deterministic():
    arrays = synthetic_drops(np.random.RandomState(1), 20, vae_drop=0.3, pcl_drop=0.0, sd=0.05)
    result = interaction_ci(*arrays, seed=3)
    assert result.ci_low < 0.3 < result.ci_high
    assert result.ci_low > 0.2 and result.ci_high < 0.4
    assert result.p_value < 1e-3
    assert interaction_ci(*arrays, seed=3) == result
    other = interaction_ci(*arrays, seed=4)
    assert (other.ci_low, other.ci_high) != (result.ci_low, result.ci_high)
    assert other.difference == result.difference


def test_interaction_interval_covers_about_as_often_as_it_says():
    rng = np.random.RandomState(0)
    covered = 0
    for _ in range(100):
        arrays = synthetic_drops(rng, 15, vae_drop=0.25, pcl_drop=0.05, sd=0.1)
        result = interaction_ci(*arrays, num_resamples=1000)
        covered += result.ci_low < 0.2 < result.ci_high
    assert 85 <= covered <= 99


def test_interaction_permutation_p_is_exact_for_small_groups():
    # 3 + 3 drops, every VAE drop above every PCL drop: 1 of the C(6, 3) = 20 splits
    result = interaction_ci([1, 1, 1], [0.7, 0.8, 0.9], [1, 1, 1], [1.0, 0.95, 0.92])
    assert result.p_value == pytest.approx(1 / 20)
    # equal drops: every split gives the observed difference
    assert interaction_ci([1, 1], [0.5, 0.5], [1, 1], [0.5, 0.5]).p_value == pytest.approx(1.0)


def test_interaction_without_a_difference_is_not_significant():
    arrays = synthetic_drops(np.random.RandomState(2), 10, vae_drop=0.1, pcl_drop=0.1, sd=0.05)
    result = interaction_ci(*arrays)
    assert result.ci_low < 0 < result.ci_high
    assert result.p_value > 0.05


def test_interaction_checks_its_resampling_arguments():
    with pytest.raises(ValueError, match="num_resamples"):
        interaction_ci([1, 2], [0, 0], [1, 2], [0, 0], num_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        interaction_ci([1, 2], [0, 0], [1, 2], [0, 0], confidence=1.5)


def test_bootstrap_mean_interval_of_constant_values_is_the_point():
    assert bootstrap_mean_ci([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3))


# --- equivalence (TOST) ---


def test_identical_scores_are_equivalent():
    scores = np.array([0.40, 0.45, 0.43, 0.47, 0.41])
    result = equivalence_test(scores, scores.copy())
    assert result.equivalent and result.inside_margin
    assert result.p_value == 0.0
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)


def test_a_shift_of_0_2_is_not_equivalent_within_0_05():
    rng = np.random.RandomState(0)
    original = 0.5 + 0.05 * rng.randn(10)
    for perturbed in (original - 0.2, original - 0.2 + 0.01 * rng.randn(10)):
        result = equivalence_test(original, perturbed, margin=0.05)
        assert not result.equivalent and not result.inside_margin
        assert result.p_upper > 0.99
        assert result.mean_difference == pytest.approx(0.2, abs=0.01)


def test_tost_matches_two_one_sided_t_tests_and_its_interval():
    d = np.array([0.01, 0.02, 0.03, 0.04, 0.05])
    result = equivalence_test(d, np.zeros(5), margin=0.05, alpha=0.05)
    lower = scipy.stats.ttest_1samp(d, -0.05, alternative="greater").pvalue
    upper = scipy.stats.ttest_1samp(d, 0.05, alternative="less").pvalue
    assert result.p_lower == pytest.approx(lower, rel=1e-10)
    assert result.p_upper == pytest.approx(upper, rel=1e-10)
    assert result.p_value == pytest.approx(max(lower, upper), rel=1e-10)
    # mean 0.03, se 0.01 / sqrt(2); t(0.95, 4) = 2.1318468
    half = 2.1318468 * 0.01 / np.sqrt(2)
    assert result.ci_low == pytest.approx(0.03 - half, abs=1e-7)
    assert result.ci_high == pytest.approx(0.03 + half, abs=1e-7)
    assert result.equivalent and result.inside_margin


def test_equivalence_agrees_with_the_interval_rule():
    rng = np.random.RandomState(5)
    original = 0.5 + 0.05 * rng.randn(8)
    noise = 0.02 * rng.randn(8)
    for shift in np.linspace(-0.1, 0.1, 41):
        result = equivalence_test(original, original - shift - noise)
        assert result.equivalent == result.inside_margin


def test_equivalence_checks_margin_and_alpha():
    with pytest.raises(ValueError, match="margin"):
        equivalence_test([1, 2], [1, 2], margin=0)
    with pytest.raises(ValueError, match="alpha"):
        equivalence_test([1, 2], [1, 2], alpha=0.5)


# --- Holm ---


def test_holm_on_a_known_vector_keeps_key_order():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert list(adjusted) == ["a", "b", "c"]
    assert adjusted == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})


def test_holm_is_capped_at_one_and_monotone():
    adjusted = holm({"x": 0.5, "y": 0.6, "z": 0.001, "w": 0.02})
    assert adjusted == pytest.approx({"x": 1.0, "y": 1.0, "z": 0.004, "w": 0.06})
    assert holm({}) == {}
    assert holm({"only": 0.2}) == {"only": 0.2}


def test_holm_refuses_values_that_are_not_p_values():
    with pytest.raises(ValueError, match="p-values"):
        holm({"a": 0.2, "b": float("nan")})
    with pytest.raises(ValueError, match="p-values"):
        holm({"a": 1.2})


# --- the claim table ---

N = 10


def claim_scores(vae_structural, pcl_structural, seed=0, *, vae_sd=0.03, patterns=2, n=N):
    """VAE and PCL scores: the VAE's structural mean is ``vae_structural``, PCL's the given."""
    rng = np.random.RandomState(seed)
    vae_original = 0.6 + 0.05 * rng.randn(n)
    pcl_original = 0.44 + 0.02 * rng.randn(n)
    vae = {
        "original": vae_original,
        "noise": vae_original - 0.02 + 0.01 * rng.randn(n),
        "shuffled": vae_original - 0.01 + 0.01 * rng.randn(n),
    }
    pcl = {"original": pcl_original, "noise": pcl_original + 0.01 * rng.randn(n)}
    for k in range(1, patterns + 1):
        vae[f"structural@{k}"] = vae_original - (0.6 - vae_structural) + vae_sd * rng.randn(n)
        pcl[f"structural@{k}"] = pcl_original - (0.44 - pcl_structural) + 0.01 * rng.randn(n)
    return {"beta_vae": vae, "pcl": pcl, "ae": {"original": [0.1, 0.1]}}


def test_a_clear_vae_drop_with_a_stable_reference_supports_the_claim():
    table = claim_table(claim_scores(0.1, 0.44), vaes=["beta_vae"], reference="pcl")
    assert table.decisions == {"beta_vae": "supports", "pcl": "supports"}
    assert [row["test"] for row in table.rows] == [
        "beta_vae: structural < original",
        "beta_vae: structural < noise",
        "beta_vae: structural < shuffled",
        "beta_vae - pcl: structural drop",
        "beta_vae: original = structural (+-0.05)",
        "pcl: structural < original",
        "pcl: original = structural (+-0.05)",
    ]
    first = table.rows[0]
    assert set(first) == set(ROW_FIELDS)
    # every one of the 10 drops is positive: exact p 2^-10, Holm over 7 tests at most 7 times that
    assert first["p"] == pytest.approx(2.0**-10)
    assert first["p_holm"] <= 7 * 2.0**-10
    assert first["drop"] == pytest.approx(0.5, abs=0.05)
    assert first["patterns"] == 2
    assert first["ci_low"] < first["drop"] < first["ci_high"]
    assert table.verdicts["beta_vae"].startswith(
        f"beta_vae supports the claim at alpha 0.05: the structural twin lowers its MIG by "
        f"{first['drop']:.3f} ({first['relative_drop']:.0%}), more than the noise and shuffled"
    )
    assert table.verdicts["pcl"].startswith("pcl supports the claim")


def test_six_seeds_are_too_few_for_the_holm_corrected_family():
    # the reference's TOST and the interaction have the smallest p; the three drop tests share
    # p = 2^-6 and are multiplied by the 5 tests still in the family: 5/64 > 0.05
    table = claim_table(claim_scores(0.1, 0.44, n=6), vaes=["beta_vae"], reference="pcl")
    assert [row["p_holm"] for row in table.rows[:3]] == pytest.approx([5 / 64] * 3)
    assert table.decisions["beta_vae"] == "undecided"
    seven = claim_table(claim_scores(0.1, 0.44, n=7), vaes=["beta_vae"], reference="pcl")
    assert [row["p_holm"] for row in seven.rows[:3]] == pytest.approx([5 / 128] * 3)
    assert seven.decisions["beta_vae"] == "supports"


def test_nothing_dropping_contradicts_the_claim_for_the_vae():
    table = claim_table(claim_scores(0.6, 0.44), vaes=["beta_vae"], reference="pcl")
    assert table.decisions == {"beta_vae": "contradicts", "pcl": "supports"}
    assert "stays within +-0.05" in table.verdicts["beta_vae"]


def test_noisy_scores_without_a_drop_leave_the_claim_undecided():
    table = claim_table(claim_scores(0.6, 0.44, vae_sd=0.3), vaes=["beta_vae"], reference="pcl")
    assert table.decisions["beta_vae"] == "undecided"
    assert (
        "not significant after Holm: structural < original, structural < noise"
        in table.verdicts["beta_vae"]
    )


def test_a_reference_that_drops_contradicts_the_claim():
    # both drop by 0.3: the reference loses its score and the VAE drops no more than it
    table = claim_table(claim_scores(0.3, 0.14), vaes=["beta_vae"], reference="pcl")
    assert table.decisions == {"beta_vae": "undecided", "pcl": "contradicts"}
    assert "(not significant after Holm: a larger drop than pcl's)" in table.verdicts["beta_vae"]
    drop = table.rows[-2]["drop"]
    assert table.verdicts["pcl"].startswith(
        f"pcl contradicts the claim at alpha 0.05: the structural twin lowers its MIG by {drop:.3f}"
    )
    renamed = claim_table(claim_scores(0.3, 0.14), vaes=["beta_vae"], reference="pcl", metric="DCI")
    assert "lowers its DCI by" in renamed.verdicts["pcl"]


def test_a_missing_control_leaves_the_vae_undecided():
    scores = claim_scores(0.1, 0.44)
    del scores["beta_vae"]["shuffled"]
    table = claim_table(scores, vaes=["beta_vae"], reference="pcl")
    assert table.decisions["beta_vae"] == "undecided"
    assert "(no control for structural < shuffled)" in table.verdicts["beta_vae"]
    assert len(table.rows) == 6


def test_pattern_seeds_are_averaged_per_training_seed():
    scores = claim_scores(0.1, 0.44, patterns=3)
    pooled = {
        model: {
            **{c: v for c, v in conditions.items() if "@" not in c},
            "structural": np.mean([v for c, v in conditions.items() if "@" in c], axis=0),
        }
        for model, conditions in scores.items()
        if model != "ae"
    }
    by_patterns = claim_table(scores, vaes=["beta_vae"], reference="pcl")
    by_means = claim_table(pooled, vaes=["beta_vae"], reference="pcl")
    for a, b in zip(by_patterns.rows, by_means.rows, strict=True):
        assert a["patterns"] == 3 and b["patterns"] == 1
        assert a["p"] == pytest.approx(b["p"], abs=1e-12)
        assert a["drop"] == pytest.approx(b["drop"], abs=1e-12)
    assert pool_conditions(scores["beta_vae"], "beta_vae")["structural"][1] == 3


def test_claim_table_is_deterministic():
    first = claim_table(claim_scores(0.3, 0.44), vaes=["beta_vae"], reference="pcl", seed=7)
    second = claim_table(claim_scores(0.3, 0.44), vaes=["beta_vae"], reference="pcl", seed=7)
    assert first == second


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["beta_vae"].update(structual=np.ones(N)), "unknown condition 'structual'"),
        (lambda s: s["beta_vae"].update(structural=np.ones(N)), "either 'structural' or"),
        (lambda s: s["beta_vae"].update(noise=np.ones(N - 1)), "paired by seed"),
        (lambda s: s["pcl"].pop("original"), "pcl: the 'original' condition is missing"),
        (lambda s: s["pcl"]["structural@1"].__setitem__(0, np.nan), "NaN"),
        (lambda s: s.pop("pcl"), "no scores for model 'pcl'"),
    ],
)
def test_claim_table_refuses_bad_scores(change, message):
    scores = claim_scores(0.1, 0.44)
    change(scores)
    with pytest.raises(ValueError, match=message):
        claim_table(scores, vaes=["beta_vae"], reference="pcl")


def test_reference_cannot_also_be_a_vae():
    with pytest.raises(ValueError, match="both a VAE and the reference"):
        claim_table(claim_scores(0.1, 0.44), vaes=["beta_vae", "pcl"], reference="pcl")


def test_markdown_table_shows_numbers_and_verdicts():
    table = claim_table(claim_scores(0.1, 0.44), vaes=["beta_vae"], reference="pcl")
    text = format_markdown(table.rows, table.verdicts)
    lines = text.splitlines()
    assert lines[0].startswith("| test | n | first: mean (sd) |")
    assert len([line for line in lines if line.startswith("| ")]) == 1 + len(table.rows)
    row = table.rows[0]
    assert lines[2].startswith(
        f"| beta_vae: structural < original | 10 | original {row['first_mean']:.3f} "
        f"({row['first_sd']:.3f}) | structural {row['second_mean']:.3f} "
    )
    assert "| 0.000977 |" in lines[2]
    assert f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}] (95%)" in lines[2]
    assert "| 10/10 |" in lines[5]
    assert "(90%)" in lines[6]
    assert lines[-1] == f"- {table.verdicts['pcl']}"
