"""The statistics that test the benchmark's claim on paired per-seed scores.

The claim (Zietlow, Rolinek and Martius, ICML 2021): on a structurally perturbed twin, VAE-based
methods lose their disentanglement score, clearly more than on a norm-matched noise twin and on a
shuffled control, while a non-variational reference method (PCL) keeps its score.

Every condition of a study is trained with the same seeds (seed ``s`` of two conditions shares the
initialisation and the batch order), so index ``i`` of every score array is training seed ``i``
and conditions are compared through per-seed differences. Pure functions on 1-D arrays; bad input
(arrays of different lengths, fewer than 2 seeds, NaN or infinite scores) raises ``ValueError``.
See ``docs/statistics.md`` for the family of tests and the verdict rule.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

from disentangle_bench.util.resampling import (
    bootstrap_mean_ci,
    check_resampling,
    percentile_interval,
)

ALTERNATIVES = ("greater", "less", "two-sided")
CONDITIONS = ("original", "structural", "noise", "shuffled")
# (first, second): each test asks whether the score on ``second`` is lower than on ``first``.
DROP_CONTRASTS = (("original", "structural"), ("noise", "structural"), ("shuffled", "structural"))


@dataclass(frozen=True)
class PairedDropTest:
    """Wilcoxon signed-rank test on the per-seed drops ``original - perturbed``."""

    n: int
    mean_drop: float
    median_drop: float
    relative_drop: float | None  # mean drop / mean original; None when the original mean is 0
    statistic: float  # W+: the sum of the ranks of the positive drops
    p_value: float
    alternative: str


@dataclass(frozen=True)
class Interaction:
    """Difference of mean drops between a VAE and the reference, with its bootstrap interval."""

    n_vae: int
    n_pcl: int
    vae_drop: float
    pcl_drop: float
    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float  # one-sided permutation test: the VAE drops more than the reference


@dataclass(frozen=True)
class Equivalence:
    """Paired two one-sided tests (TOST) for ``|mean(original - perturbed)| < margin``."""

    n: int
    mean_difference: float
    sd_difference: float
    margin: float
    alpha: float
    t_lower: float
    t_upper: float
    p_lower: float  # H0: mean difference <= -margin
    p_upper: float  # H0: mean difference >= +margin
    p_value: float  # max(p_lower, p_upper)
    ci_low: float  # the (1 - 2 alpha) t interval of the mean difference
    ci_high: float
    inside_margin: bool
    equivalent: bool


@dataclass(frozen=True)
class ClaimTable:
    """The family of tests (``rows``) and, per model, a decision word and a one-sentence verdict."""

    rows: list[dict]
    decisions: dict[str, str]  # model -> "supports" | "contradicts" | "undecided"
    verdicts: dict[str, str]  # model -> one sentence


def _scores(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array over seeds, got shape {array.shape}")
    if len(array) < 2:
        raise ValueError(f"{name} needs at least 2 seeds, got {len(array)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite scores")
    return array


def _paired(first, second, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a, b = _scores(first, names[0]), _scores(second, names[1])
    if len(a) != len(b):
        raise ValueError(
            f"{names[0]} and {names[1]} must be paired by seed, got {len(a)} and {len(b)} seeds"
        )
    return a, b


def _signed_rank_null(doubled_ranks: np.ndarray) -> np.ndarray:
    """P(2 W+ = k) for k = 0..sum under random signs: the exact conditional null distribution.

    Each non-zero difference is positive or negative with probability 1/2, independently, given
    the ranks (Wilcoxon 1945); with midranks (multiples of 1/2, hence doubled to integers) the
    distribution of their sum is built by convolving one rank at a time.
    """
    distribution = np.zeros(int(doubled_ranks.sum()) + 1)
    distribution[0] = 1.0
    for rank in doubled_ranks:
        shifted = np.zeros_like(distribution)
        shifted[rank:] = distribution[: len(distribution) - rank]
        distribution = 0.5 * (distribution + shifted)
    return distribution


def paired_drop_test(original, perturbed, alternative: str = "greater") -> PairedDropTest:
    """Wilcoxon signed-rank test (Wilcoxon 1945) on the per-seed drops ``original - perturbed``.

    ``alternative="greater"``: the drops are stochastically greater than a distribution symmetric
    about 0 (the score is lower on ``perturbed``). To ask whether a structural drop is larger than
    a noise drop, pass ``noise`` as ``original``: the test then runs on ``noise - structural``.

    Zeros follow Pratt (1959): they are ranked with the other absolute drops and their ranks are
    then left out of the statistic (a drop of exactly 0 counts as evidence of no change). Ties get
    midranks. The p-value is always exact: with no zeros and no ties, from the exact null
    distribution of ``scipy.stats.wilcoxon(method="exact")``; otherwise from the exact conditional
    null distribution given the observed ranks (all ``2^m`` sign patterns of the ``m`` non-zero
    drops, counted by convolution), which is what the exact test becomes with ties. Two-sided
    p-values are twice the smaller tail, capped at 1. All drops 0 give p = 1.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    a, b = _paired(original, perturbed, ("original", "perturbed"))
    drops = a - b
    magnitudes = np.abs(drops)
    ranks = scipy.stats.rankdata(magnitudes)
    statistic = float(ranks[drops > 0].sum())
    nonzero = drops != 0
    if nonzero.all() and len(np.unique(magnitudes)) == len(drops):
        result = scipy.stats.wilcoxon(drops, alternative=alternative, method="exact")
        p_value = float(result.pvalue)
    else:
        null = _signed_rank_null(np.rint(2 * ranks[nonzero]).astype(np.int64))
        observed = int(np.rint(2 * statistic))
        upper, lower = float(null[observed:].sum()), float(null[: observed + 1].sum())
        p_value = {"greater": upper, "less": lower, "two-sided": 2 * min(upper, lower)}[alternative]
    mean_original = float(a.mean())
    return PairedDropTest(
        n=len(drops),
        mean_drop=float(drops.mean()),
        median_drop=float(np.median(drops)),
        relative_drop=float(drops.mean()) / mean_original if mean_original != 0 else None,
        statistic=statistic,
        p_value=min(1.0, p_value),
        alternative=alternative,
    )


def _permutation_p_value(first: np.ndarray, second: np.ndarray, num_resamples: int, rng) -> float:
    """One-sided p of ``mean(first) - mean(second)`` under exchangeable group labels.

    Exact (every split of the pooled values) when there are at most ``num_resamples`` splits;
    otherwise Monte Carlo with the observed split counted once, (1 + k) / (1 + B) (Phipson and
    Smyth 2010).
    """
    pooled = np.concatenate([first, second])
    n_total, n_first = len(pooled), len(first)
    observed = first.mean() - second.mean()
    tolerance = 1e-12 * max(1.0, float(np.abs(pooled).max()))
    if math.comb(n_total, n_first) <= num_resamples:
        masks = np.zeros((math.comb(n_total, n_first), n_total), dtype=bool)
        for row, chosen in enumerate(itertools.combinations(range(n_total), n_first)):
            masks[row, list(chosen)] = True
        sums = masks.astype(np.float64) @ pooled
        statistics = sums / n_first - (pooled.sum() - sums) / (n_total - n_first)
        return float(np.mean(statistics >= observed - tolerance))
    order = np.argsort(rng.random_sample((num_resamples, n_total)), axis=1)
    shuffled = pooled[order]
    statistics = shuffled[:, :n_first].mean(axis=1) - shuffled[:, n_first:].mean(axis=1)
    return float((1 + np.sum(statistics >= observed - tolerance)) / (1 + num_resamples))


def interaction_ci(
    vae_original,
    vae_perturbed,
    pcl_original,
    pcl_perturbed,
    *,
    num_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interaction:
    """The VAE-vs-reference interaction ``mean(vae_o - vae_p) - mean(pcl_o - pcl_p)``.

    Interval: percentile bootstrap (Efron and Tibshirani 1993, ch. 13) that resamples seeds with
    replacement within each model, the two conditions of a model together (a seed's drop is the
    unit), ``num_resamples`` times from ``np.random.RandomState(seed)``: the same inputs and seed
    give the same interval. p-value: one-sided permutation test of the same difference on the
    per-seed drops (Fisher-Pitman: under H0 the drops of both models are exchangeable), exact when
    the number of splits is at most ``num_resamples``, Monte Carlo from the same generator
    otherwise.
    """
    check_resampling(num_resamples, confidence)
    vo, vp = _paired(vae_original, vae_perturbed, ("vae_original", "vae_perturbed"))
    po, pp = _paired(pcl_original, pcl_perturbed, ("pcl_original", "pcl_perturbed"))
    vae_drops, pcl_drops = vo - vp, po - pp
    rng = np.random.RandomState(seed)
    vae_indices = rng.randint(0, len(vae_drops), size=(num_resamples, len(vae_drops)))
    pcl_indices = rng.randint(0, len(pcl_drops), size=(num_resamples, len(pcl_drops)))
    resampled = vae_drops[vae_indices].mean(axis=1) - pcl_drops[pcl_indices].mean(axis=1)
    low, high = percentile_interval(resampled, confidence)
    return Interaction(
        n_vae=len(vae_drops),
        n_pcl=len(pcl_drops),
        vae_drop=float(vae_drops.mean()),
        pcl_drop=float(pcl_drops.mean()),
        difference=float(vae_drops.mean() - pcl_drops.mean()),
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        p_value=_permutation_p_value(vae_drops, pcl_drops, num_resamples, rng),
    )


def equivalence_test(original, perturbed, margin: float = 0.05, alpha: float = 0.05) -> Equivalence:
    """Paired TOST (Schuirmann 1987) for ``-margin < mean(original - perturbed) < margin``.

    Two one-sided paired t-tests on the per-seed differences ``d`` (n - 1 degrees of freedom):
    ``p_lower`` of H0 ``mean(d) <= -margin`` and ``p_upper`` of H0 ``mean(d) >= margin``. The TOST
    p-value is their maximum; ``equivalent`` is ``p_value < alpha``, which holds exactly when the
    (1 - 2 alpha) t interval of ``mean(d)`` lies strictly inside ``(-margin, margin)``
    (``inside_margin``). Differences without spread (sd 0) give p = 0 or 1 for each side.
    """
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin!r}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    a, b = _paired(original, perturbed, ("original", "perturbed"))
    d = a - b
    n, mean, sd = len(d), float(d.mean()), float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    df = n - 1
    if se > 0:
        t_lower, t_upper = (mean + margin) / se, (mean - margin) / se
        p_lower = float(scipy.stats.t.sf(t_lower, df))
        p_upper = float(scipy.stats.t.cdf(t_upper, df))
    else:
        t_lower = math.inf if mean > -margin else -math.inf
        t_upper = -math.inf if mean < margin else math.inf
        p_lower, p_upper = float(mean <= -margin), float(mean >= margin)
    half_width = float(scipy.stats.t.ppf(1.0 - alpha, df)) * se
    ci_low, ci_high = mean - half_width, mean + half_width
    p_value = max(p_lower, p_upper)
    return Equivalence(
        n=n,
        mean_difference=mean,
        sd_difference=sd,
        margin=margin,
        alpha=alpha,
        t_lower=t_lower,
        t_upper=t_upper,
        p_lower=p_lower,
        p_upper=p_upper,
        p_value=p_value,
        ci_low=ci_low,
        ci_high=ci_high,
        inside_margin=bool(-margin < ci_low and ci_high < margin),
        equivalent=bool(p_value < alpha),
    )


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (Holm 1979), in the input's key order.

    With the m p-values sorted ascending, the i-th (from 0) is adjusted to
    ``max_{j <= i} min(1, (m - j) p_(j))``: monotone in the raw p-values and capped at 1.
    Rejecting where the adjusted p is below alpha controls the family-wise error rate at alpha.
    Equal p-values keep their input order.
    """
    names = list(p_values)
    values = np.array([float(p_values[name]) for name in names])
    if np.any(~np.isfinite(values)) or np.any((values < 0) | (values > 1)):
        raise ValueError("p-values must be finite numbers in [0, 1]")
    m = len(values)
    order = np.argsort(values, kind="stable")
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * values[order]))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return {name: float(p) for name, p in zip(names, adjusted)}


def pool_conditions(by_condition: Mapping[str, Sequence[float]], model: str) -> dict:
    """Scores per condition with pattern seeds averaged per training seed.

    ``structural@1``, ``structural@2``, ... are pattern seeds of ``structural`` (the same for any
    condition). The training seed is the unit of pairing, so the pooled score of seed ``i`` is the
    mean of seed ``i`` over the pattern seeds: one paired difference per training seed (no
    pseudo-replication), with the variation between patterns averaged in. Returns
    ``{condition: (scores, number of pattern seeds)}``.
    """
    grouped: dict[str, list[tuple[str, np.ndarray]]] = {}
    for key, values in by_condition.items():
        base, _, pattern = key.partition("@")
        if base not in CONDITIONS:
            raise ValueError(f"{model}: unknown condition {key!r}, expected one of {CONDITIONS}")
        if "@" in key and not pattern:
            raise ValueError(f"{model}: condition {key!r} names no pattern seed after '@'")
        grouped.setdefault(base, []).append((key, _scores(values, f"{model} {key}")))
    pooled = {}
    for base, variants in grouped.items():
        keys = [key for key, _ in variants]
        if len(variants) > 1 and base in keys:
            raise ValueError(f"{model}: give either {base!r} or its pattern seeds, not both")
        lengths = {len(values) for _, values in variants}
        if len(lengths) > 1:
            raise ValueError(f"{model}: pattern seeds of {base!r} have different numbers of seeds")
        pooled[base] = (np.mean([values for _, values in variants], axis=0), len(variants))
    lengths = {len(values) for values, _ in pooled.values()}
    if len(lengths) > 1:
        raise ValueError(f"{model}: conditions must be paired by seed, got {sorted(lengths)} seeds")
    for needed in ("original", "structural"):
        if needed not in pooled:
            raise ValueError(f"{model}: the {needed!r} condition is missing")
    return pooled


# One row per test. first/second: the two compared conditions (for an interaction: the two
# models' drops), each with its mean and sd over seeds; drop: mean of the per-seed differences
# first - second (interaction: the difference of mean drops); p: the raw p of the row's test,
# p_holm: Holm-adjusted over the family, significant: p_holm < alpha; ci_*: bootstrap interval of
# the mean drop (equivalence rows: the (1 - 2 alpha) t interval); patterns: pattern seeds averaged
# into the structural condition. A field that does not apply to a row is None.
ROW_FIELDS = (
    "test",
    "model",
    "kind",
    "method",
    "n",
    "n_reference",
    "first",
    "first_mean",
    "first_sd",
    "second",
    "second_mean",
    "second_sd",
    "drop",
    "median_drop",
    "relative_drop",
    "statistic",
    "p",
    "p_holm",
    "significant",
    "ci_low",
    "ci_high",
    "ci_level",
    "patterns",
)


def _row(**fields) -> dict:
    return {key: fields.get(key) for key in ROW_FIELDS}


def _drop_row(model, first, second, pooled, resampling) -> dict:
    (a, _), (b, patterns) = pooled[first], pooled[second]
    result = paired_drop_test(a, b)
    low, high = bootstrap_mean_ci(a - b, **resampling)
    return _row(
        test=f"{model}: {second} < {first}",
        model=model,
        kind="drop",
        method="Wilcoxon signed-rank, exact",
        n=result.n,
        first=first,
        first_mean=float(a.mean()),
        first_sd=float(a.std(ddof=1)),
        second=second,
        second_mean=float(b.mean()),
        second_sd=float(b.std(ddof=1)),
        drop=result.mean_drop,
        median_drop=result.median_drop,
        relative_drop=result.relative_drop,
        statistic=result.statistic,
        p=result.p_value,
        ci_low=low,
        ci_high=high,
        ci_level=resampling["confidence"],
        patterns=patterns,
    )


def _equivalence_row(model, pooled, margin, alpha) -> dict:
    (a, _), (b, patterns) = pooled["original"], pooled["structural"]
    result = equivalence_test(a, b, margin=margin, alpha=alpha)
    binding = result.t_lower if result.p_lower >= result.p_upper else result.t_upper
    return _row(
        test=f"{model}: original = structural (+-{margin:g})",
        model=model,
        kind="equivalence",
        method="paired TOST",
        n=result.n,
        first="original",
        first_mean=float(a.mean()),
        first_sd=float(a.std(ddof=1)),
        second="structural",
        second_mean=float(b.mean()),
        second_sd=float(b.std(ddof=1)),
        drop=result.mean_difference,
        relative_drop=result.mean_difference / float(a.mean()) if a.mean() != 0 else None,
        statistic=binding,
        p=result.p_value,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        ci_level=1.0 - 2.0 * alpha,
        patterns=patterns,
    )


def _interaction_row(model, reference, pooled, reference_pooled, resampling) -> dict:
    (vo, _), (vp, patterns) = pooled["original"], pooled["structural"]
    (po, _), (pp, _) = reference_pooled["original"], reference_pooled["structural"]
    result = interaction_ci(vo, vp, po, pp, **resampling)
    return _row(
        test=f"{model} - {reference}: structural drop",
        model=model,
        kind="interaction",
        method="bootstrap CI, permutation p",
        n=result.n_vae,
        n_reference=result.n_pcl,
        first=f"{model} drop",
        first_mean=result.vae_drop,
        first_sd=float((vo - vp).std(ddof=1)),
        second=f"{reference} drop",
        second_mean=result.pcl_drop,
        second_sd=float((po - pp).std(ddof=1)),
        drop=result.difference,
        statistic=result.difference,
        p=result.p_value,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        ci_level=result.confidence,
        patterns=patterns,
    )


def _kept(model, decision, equivalence, alpha, margin, metric) -> str:
    return (
        f"{model} {decision} the claim at alpha {alpha:g}: its {metric} on the structural twin "
        f"stays within +-{margin:g} of the original (TOST, Holm p {equivalence['p_holm']:.3g})."
    )


def _vae_verdict(model, reference, rows, alpha, margin, metric) -> tuple[str, str]:
    by_name = {row["test"]: row for row in rows if row["model"] == model}
    equivalence = next(row for row in by_name.values() if row["kind"] == "equivalence")
    if equivalence["significant"]:
        return "contradicts", _kept(model, "contradicts", equivalence, alpha, margin, metric)
    needed = {
        f"{model}: {second} < {first}": f"{second} < {first}" for first, second in DROP_CONTRASTS
    }
    needed[f"{model} - {reference}: structural drop"] = f"a larger drop than {reference}'s"
    missing = [label for name, label in needed.items() if name not in by_name]
    failing = [
        label
        for name, label in needed.items()
        if name in by_name and not by_name[name]["significant"]
    ]
    if not missing and not failing:
        drop = by_name[f"{model}: structural < original"]
        relative = drop["relative_drop"]
        share = f" ({relative:.0%})" if relative is not None else ""
        largest = max(by_name[name]["p_holm"] for name in needed)
        return "supports", (
            f"{model} supports the claim at alpha {alpha:g}: the structural twin lowers its "
            f"{metric} by {drop['drop']:.3f}{share}, more than the noise and shuffled twins do "
            f"and more than {reference}'s drop (largest Holm p {largest:.3g})."
        )
    reasons = []
    if failing:
        reasons.append("not significant after Holm: " + ", ".join(failing))
    if missing:
        reasons.append("no control for " + ", ".join(missing))
    return "undecided", (
        f"{model} leaves the claim undecided at alpha {alpha:g} ({'; '.join(reasons)}), and its "
        f"score is not shown to stay within +-{margin:g} either."
    )


def _reference_verdict(reference, rows, alpha, margin, metric) -> tuple[str, str]:
    own = {row["kind"]: row for row in rows if row["model"] == reference}
    equivalence, drop = own["equivalence"], own["drop"]
    if equivalence["significant"]:
        return "supports", _kept(reference, "supports", equivalence, alpha, margin, metric)
    if drop["significant"]:
        return "contradicts", (
            f"{reference} contradicts the claim at alpha {alpha:g}: the structural twin lowers its "
            f"{metric} by {drop['drop']:.3f} (Wilcoxon, Holm p {drop['p_holm']:.3g})."
        )
    return "undecided", (
        f"{reference} leaves the claim undecided at alpha {alpha:g}: neither a drop nor "
        f"equivalence within +-{margin:g} is significant after Holm."
    )


def claim_table(
    scores: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    vaes: Sequence[str],
    reference: str,
    margin: float = 0.05,
    alpha: float = 0.05,
    num_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    metric: str = "MIG",
) -> ClaimTable:
    """The family of tests of the claim, Holm-corrected, with a verdict per model.

    ``scores[model][condition]`` is an array over training seeds, in the same seed order for every
    condition of a model. Conditions: ``original``, ``structural`` (required), ``noise``,
    ``shuffled``; pattern seeds as ``structural@1``, ``structural@2``, ... are averaged per
    training seed (:func:`pool_conditions`). ``vaes`` are the VAE-based models, ``reference`` the
    non-variational one; other models in ``scores`` are left out. ``metric`` names the score in
    the verdicts.

    The family, per VAE: structural < original, structural < noise, structural < shuffled
    (:func:`paired_drop_test`, one-sided), the interaction with the reference
    (:func:`interaction_ci`: permutation p, bootstrap CI) and original = structural within
    +-margin (:func:`equivalence_test`); for the reference: structural < original and original =
    structural within +-margin. Holm (:func:`holm`) adjusts the whole family; a test is
    significant when its Holm p is below ``alpha``. Drop rows carry a bootstrap CI of the mean
    drop.

    Verdict rule (the margin decides first: a score that stays within +-margin has kept it):

    - a VAE *contradicts* the claim when its equivalence test is significant; otherwise it
      *supports* it when its three drop tests and its interaction are all run and significant;
      otherwise it leaves it *undecided* (a missing noise or shuffled control included);
    - the reference *supports* the claim when its equivalence test is significant; otherwise it
      *contradicts* it when its drop test is significant; otherwise *undecided*.
    """
    check_resampling(num_resamples, confidence)
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin!r}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    vaes = list(vaes)
    if reference in vaes:
        raise ValueError(f"{reference!r} cannot be both a VAE and the reference")
    if len(set(vaes)) != len(vaes):
        raise ValueError("vaes lists a model twice")
    for model in [*vaes, reference]:
        if model not in scores:
            raise ValueError(f"no scores for model {model!r}")
    resampling = {"num_resamples": num_resamples, "confidence": confidence, "seed": seed}
    reference_pooled = pool_conditions(scores[reference], reference)
    rows = []
    for model in vaes:
        pooled = pool_conditions(scores[model], model)
        for first, second in DROP_CONTRASTS:
            if first in pooled:
                rows.append(_drop_row(model, first, second, pooled, resampling))
        rows.append(_interaction_row(model, reference, pooled, reference_pooled, resampling))
        rows.append(_equivalence_row(model, pooled, margin, alpha))
    rows.append(_drop_row(reference, "original", "structural", reference_pooled, resampling))
    rows.append(_equivalence_row(reference, reference_pooled, margin, alpha))
    adjusted = holm({row["test"]: row["p"] for row in rows})
    for row in rows:
        row["p_holm"] = adjusted[row["test"]]
        row["significant"] = bool(row["p_holm"] < alpha)
    decisions, verdicts = {}, {}
    for model in vaes:
        decisions[model], verdicts[model] = _vae_verdict(
            model, reference, rows, alpha, margin, metric
        )
    decisions[reference], verdicts[reference] = _reference_verdict(
        reference, rows, alpha, margin, metric
    )
    return ClaimTable(rows=rows, decisions=decisions, verdicts=verdicts)


def _number(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def format_markdown(rows: Sequence[Mapping], verdicts: Mapping[str, str] | None = None) -> str:
    """The rows of :func:`claim_table` as a Markdown table, then the verdicts as a list."""
    lines = [
        "| test | n | first: mean (sd) | second: mean (sd) | drop | relative | p | p (Holm) | CI |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        n = str(row["n"]) if row.get("n_reference") is None else f"{row['n']}/{row['n_reference']}"
        first = f"{row['first']} {_number(row['first_mean'])} ({_number(row['first_sd'])})"
        second = f"{row['second']} {_number(row['second_mean'])} ({_number(row['second_sd'])})"
        interval = (
            f"[{_number(row['ci_low'])}, {_number(row['ci_high'])}] ({row['ci_level']:.0%})"
            if row.get("ci_low") is not None
            else "n/a"
        )
        cells = [
            row["test"],
            n,
            first,
            second,
            _number(row["drop"]),
            _number(row.get("relative_drop"), ".0%"),
            _number(row["p"], ".3g"),
            _number(row.get("p_holm"), ".3g"),
            interval,
        ]
        lines.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |")
    text = "\n".join(lines) + "\n"
    if verdicts:
        text += "\n" + "".join(f"- {sentence}\n" for sentence in verdicts.values())
    return text
