"""disent and disentangle-bench, both ways.

- disent's frameworks as model plugins (``disent_betavae``, ...; :mod:`disent_bridge.models`),
  trained by ``bench run --gin`` and configured in gin under those names;
- every disentangle-bench dataset and perturbed twin as disent ground-truth data
  (:func:`disent_data`, :class:`BenchGroundTruthData`), for disent's own training loop;
- a disent-trained model scored with disentangle-bench's metrics and written as a validated
  leaderboard submission in one call (:func:`score_and_submit`).

``disent_data`` and ``BenchGroundTruthData`` import disent when first used; when it cannot be
imported they raise :class:`DisentUnavailableError` (one line: what failed, how to install).
"""

from __future__ import annotations

from typing import Any

from disent_bridge._disent import DisentUnavailableError, require_disent
from disent_bridge.models import MODELS, DisentModel
from disent_bridge.submit import method_record, score_and_submit

__all__ = [
    "MODELS",
    "BenchGroundTruthData",
    "DisentModel",
    "DisentUnavailableError",
    "disent_data",
    "method_record",
    "require_disent",
    "score_and_submit",
]


def __getattr__(name: str) -> Any:
    if name in ("BenchGroundTruthData", "disent_data"):
        from disent_bridge import data

        return getattr(data, name)
    raise AttributeError(f"module 'disent_bridge' has no attribute {name!r}")
