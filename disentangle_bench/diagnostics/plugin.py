"""The diagnostics registered as metrics: ``principal_alignment`` (the encoder side of the
mechanism; the decoder side, ``jacobian_orthogonality``, is registered with the metrics)."""

from __future__ import annotations

from disentangle_bench.diagnostics.principal_alignment import PrincipalAlignment
from disentangle_bench.registry.hookspecs import hookimpl

BUILTIN = (PrincipalAlignment,)


@hookimpl
def register_metrics():
    return list(BUILTIN)
