"""Does a trained decoder reproduce a twin's pattern? Pure functions on reconstructions.

A twin's image is ``x'(w) = c(w) + p(w)``: the clean image as the twin keeps it (``x`` for the
inward push, ``(1 - eps) x`` for the blend) plus the pattern's part ``p``. A decoder that models
the pattern as a function of its code reproduces ``p``'s variation over the configurations; one
that treats it as noise outputs roughly its mean. :func:`pattern_capture` measures which.

"""

from __future__ import annotations

import numpy as np


def _centred(values: np.ndarray) -> np.ndarray:
    flat = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    return flat - flat.mean(axis=0)


def pattern_capture(reconstructions: np.ndarray, kept: np.ndarray, pattern: np.ndarray) -> float:
    """The share of the pattern's variation that the reconstructions reproduce beyond the kept
    clean image ``c`` (``kept``), the least-squares coefficient

        sum_w <(r(w) - c(w)) - mean, p(w) - p_bar> / sum_w ||p(w) - p_bar||^2

    over the configurations ``w`` (means over them). 1 when the reconstructions are the
    observations ``c + p``, 0 when they are ``c`` plus the mean pattern, ``a`` for
    ``c + p_bar + a (p - p_bar)``, whatever the correlation of object and pattern (the inward
    push's pattern changes sign with the object). Errors of the reconstruction on the clean part
    enter too, as far as they covary with the pattern: compare a structural twin with its
    shuffled control, whose clean parts are the same."""
    if not reconstructions.shape == kept.shape == pattern.shape:
        raise ValueError(
            "reconstructions, kept and pattern must have one shape, got "
            f"{reconstructions.shape}, {kept.shape} and {pattern.shape}"
        )
    centred_pattern = _centred(pattern)
    variation = float(np.sum(centred_pattern**2))
    if not variation > 0:
        raise ValueError("the pattern does not vary over the configurations: nothing to capture")
    added = np.asarray(reconstructions, dtype=np.float64) - np.asarray(kept, dtype=np.float64)
    return float(np.sum(_centred(added) * centred_pattern) / variation)


def bernoulli_loss_per_image(reconstructions: np.ndarray, observations: np.ndarray) -> float:
    """Mean over images of ``-sum_pixels [x' log r + (1 - x') log (1 - r)]`` (nats), the
    Bernoulli reconstruction term at the reconstructions ``r`` (clipped away from 0 and 1)."""
    r = np.clip(np.asarray(reconstructions, dtype=np.float64), 1e-7, 1 - 1e-7)
    x = np.asarray(observations, dtype=np.float64)
    per_pixel = -(x * np.log(r) + (1 - x) * np.log1p(-r))
    return float(per_pixel.reshape(len(x), -1).sum(axis=1).mean())
