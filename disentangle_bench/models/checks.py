"""Hyperparameter validation: every out-of-range value is a ValueError raised in the constructor,
which the registry reports as one line before any training starts."""

from __future__ import annotations

import math


def non_negative(name: str, value: float) -> float:
    value = float(value)
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"{name} must be non-negative, got {value}")
    return value


def positive(name: str, value: float) -> float:
    value = float(value)
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def probability(name: str, value: float) -> float:
    value = float(value)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value
