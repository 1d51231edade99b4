"""The range and direction of each known result key (disentanglement_lib's names).

Keys are matched after dropping downstream_task's ``"<num_train>:"`` prefix and a per-factor
``"_factor_<i>"`` suffix (``"100:test_accuracy_factor_3"`` -> ``test_accuracy``). Unknown keys
(third-party metrics) need only be finite and at most ``MAX_MAGNITUDE`` (1e15) in magnitude, as
every score must; they are shown and ranked higher-first.

Ranges follow the definitions: MIG (Chen et al. 2018) is a gap of normalised mutual
informations; SAP (Kumar et al. 2018) a gap of R^2 / accuracies; DCI (Eastwood and Williams 2018)
disentanglement, completeness and informativeness (accuracies) lie in [0, 1]; modularity and
explicitness (Ridgeway and Mozer 2018) in [0, 1]; IRS (Suter et al. 2019) in [0, 1]; the
unsupervised scores (total correlation, Wasserstein correlation, mean mutual information) and
the Jacobian's distance to orthogonality are non-negative, lower being better.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: Floating-point slack allowed at a range's ends.
TOLERANCE = 1e-9
#: Largest magnitude of any score, known key or not: means, drops, bootstrap resamples and plot
#: axes over many such scores stay far from overflow (a float overflows past 1.8e308).
MAX_MAGNITUDE = 1e15


@dataclass(frozen=True)
class KeyRange:
    low: float
    high: float
    higher_is_better: bool | None  # None: not a score to rank (a count)
    shown: bool = True  # shown as its own leaderboard table


UNIT = KeyRange(0.0, 1.0, True)
NON_NEGATIVE_LOWER = KeyRange(0.0, math.inf, False)
COUNT = KeyRange(0.0, math.inf, None, shown=False)

KNOWN_KEYS: dict[str, KeyRange] = {
    "discrete_mig": UNIT,
    "SAP_score": UNIT,
    "train_accuracy": UNIT,
    "eval_accuracy": UNIT,
    "test_accuracy": KeyRange(0.0, 1.0, True, shown=False),
    "informativeness_train": UNIT,
    "informativeness_test": UNIT,
    "disentanglement": UNIT,
    "completeness": UNIT,
    "modularity_score": UNIT,
    "explicitness_score_train": UNIT,
    "explicitness_score_test": UNIT,
    "IRS": UNIT,
    "mean_train_accuracy": UNIT,
    "mean_test_accuracy": UNIT,
    "min_train_accuracy": KeyRange(0.0, 1.0, True, shown=False),
    "min_test_accuracy": KeyRange(0.0, 1.0, True, shown=False),
    "gaussian_total_correlation": NON_NEGATIVE_LOWER,
    "gaussian_wasserstein_correlation": NON_NEGATIVE_LOWER,
    "gaussian_wasserstein_correlation_norm": NON_NEGATIVE_LOWER,
    "mutual_info_score": NON_NEGATIVE_LOWER,
    "distance_to_orthogonality": NON_NEGATIVE_LOWER,
    "num_active_dims": COUNT,
}

_PREFIX = re.compile(r"^[0-9]+:")
_FACTOR_SUFFIX = re.compile(r"_factor_[0-9]+$")


def base_key(key: str) -> str:
    """The key without downstream_task's size prefix and per-factor suffix."""
    return _FACTOR_SUFFIX.sub("", _PREFIX.sub("", key))


def key_range(key: str) -> KeyRange | None:
    """The range of a result key, or None for an unknown key (finite-only)."""
    stripped = base_key(key)
    known = KNOWN_KEYS.get(stripped)
    if known is not None and stripped != key and _FACTOR_SUFFIX.search(key):
        return KeyRange(known.low, known.high, known.higher_is_better, shown=False)
    return known


def value_problem(key: str, value: object) -> str | None:
    """Why ``value`` cannot be a score for ``key`` (None when it can).

    A score is a finite float (an integer counts as the float it equals) of magnitude at most
    :data:`MAX_MAGNITUDE`, within its key's range when the key is known.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"is not a number ({type(value).__name__})"
    if isinstance(value, int):
        if abs(value) > MAX_MAGNITUDE:
            digits = int(value.bit_length() * math.log10(2)) + 1
            return f"is an integer of about {digits} digits, larger than {MAX_MAGNITUDE:g}"
        value = float(value)
    if not math.isfinite(value):
        return f"is not finite ({value})"
    bounds = key_range(key)
    if bounds is not None and not (bounds.low - TOLERANCE <= value <= bounds.high + TOLERANCE):
        high = "inf" if math.isinf(bounds.high) else f"{bounds.high:g}"
        return f"= {value!r} is outside its range [{bounds.low:g}, {high}]"
    if abs(value) > MAX_MAGNITUDE:
        return f"= {value!r} is larger than {MAX_MAGNITUDE:g} in magnitude"
    return None


def higher_is_better(key: str) -> bool:
    """The ranking direction (unknown keys: higher first)."""
    bounds = key_range(key)
    return True if bounds is None or bounds.higher_is_better is None else bounds.higher_is_better


def is_shown(key: str) -> bool:
    """Whether the key gets its own leaderboard table (counts and per-factor keys do not)."""
    bounds = key_range(key)
    return True if bounds is None else bounds.shown
