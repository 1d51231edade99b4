"""The built-in metrics, registered through the same hook as any third-party plugin."""

from __future__ import annotations

from disentangle_bench.metrics import (
    DCI,
    IRS,
    MIG,
    BetaVAESklearn,
    DCIFast,
    DownstreamTask,
    DownstreamTaskBoostedTrees,
    DownstreamTaskBoostedTreesFast,
    DownstreamTaskLogisticRegression,
    FactorVAEScore,
    JacobianOrthogonality,
    ModularityExplicitness,
    SAPScore,
    UnsupervisedMetrics,
)
from disentangle_bench.registry.hookspecs import hookimpl

BUILTIN = (
    BetaVAESklearn,
    FactorVAEScore,
    MIG,
    DCI,
    SAPScore,
    ModularityExplicitness,
    IRS,
    UnsupervisedMetrics,
    DownstreamTask,
    DownstreamTaskLogisticRegression,
    DownstreamTaskBoostedTrees,
    DCIFast,
    DownstreamTaskBoostedTreesFast,
    JacobianOrthogonality,
)


@hookimpl
def register_metrics():
    return list(BUILTIN)
