"""Counter-based uniform noise: the same value for the same (seed, image, pixel), in any order.

Uses the SplitMix64 finaliser (Steele, Lea and Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014) on the counter ``image_index * pixels + pixel`` keyed by the seed, so a
perturbation can be fixed per image without storing it and without consuming any caller's
random state.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 output function applied elementwise to uint64 ``x`` (wraps modulo 2^64)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniform_per_item(seed: int, item_index: np.ndarray, item_size: int) -> np.ndarray:
    """Uniform [0, 1) float64 values, shape (len(item_index), item_size), fixed per item."""
    key = splitmix64(np.array([seed], dtype=np.uint64))[0]
    index = np.asarray(item_index, dtype=np.uint64)[:, None]
    counter = index * np.uint64(item_size) + np.arange(item_size, dtype=np.uint64)[None, :]
    bits = splitmix64(counter ^ key)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
