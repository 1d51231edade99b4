"""Disentanglement metrics with disentanglement_lib 1.5's semantics, plus fast variants and the
decoder-Jacobian diagnostic ``jacobian_orthogonality`` (``principal_alignment`` lives in
:mod:`disentangle_bench.diagnostics`, registered as a metric by its plugin module).

Every metric is a plugin factory (``name``, hyperparameters as keyword arguments, gin-bindable
under the name) whose instances are called as ``metric(ground_truth_data,
representation_function, random_state) -> dict``, and a public array core on samples-first
arrays (codes (N, D), factors (N, F)). docs/metrics.md lists names, keys, defaults and parity.
"""

from disentangle_bench.metrics.beta_vae import BetaVAESklearn, beta_vae_features, beta_vae_sklearn
from disentangle_bench.metrics.dci import (
    DCI,
    completeness,
    completeness_per_factor,
    compute_importance,
    compute_importance_gbt,
    dci,
    dci_from_importance,
    disentanglement,
    disentanglement_per_code,
)
from disentangle_bench.metrics.dci_fast import DCIFast, dci_fast, gain_importances
from disentangle_bench.metrics.downstream_task import (
    DownstreamTask,
    DownstreamTaskBoostedTrees,
    DownstreamTaskBoostedTreesFast,
    DownstreamTaskLogisticRegression,
    downstream_task,
)
from disentangle_bench.metrics.factor_vae import (
    FactorVAEScore,
    factor_vae_score,
    factor_vae_score_from_batches,
    factor_vae_votes,
    prune_dims,
)
from disentangle_bench.metrics.irs import IRS, irs, scalable_disentanglement_score
from disentangle_bench.metrics.jacobian import (
    JacobianOrthogonality,
    decoder_jacobians,
    distance_to_signed_permutation,
    jacobian_orthogonality,
)
from disentangle_bench.metrics.mig import MIG, mig, mig_from_discretized
from disentangle_bench.metrics.modularity_explicitness import (
    ModularityExplicitness,
    explicitness_per_factor,
    modularity,
    modularity_explicitness,
)
from disentangle_bench.metrics.sap_score import (
    SAPScore,
    compute_avg_diff_top_two,
    compute_score_matrix,
    sap_score,
)
from disentangle_bench.metrics.unsupervised import (
    UnsupervisedMetrics,
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
    unsupervised_metrics,
)
from disentangle_bench.metrics.utils import (
    discrete_entropy,
    discrete_mutual_info,
    fork_random_state,
    generate_batch_factor_code,
    gradient_boosting_classifier,
    hist_gradient_boosting_classifier,
    histogram_discretize,
    logistic_regression_cv,
    make_discretizer,
    make_predictor_fn,
    normalize_data,
    obtain_representation,
    seeded_global_generator,
)

#: Names of the variants that are not disentanglement_lib's computation (never report them as
#: the reference score).
FAST_VARIANTS = {
    "dci_fast": "dci",
    "downstream_task_boosted_trees_fast": "downstream_task_boosted_trees",
}

__all__ = [
    "DCI",
    "FAST_VARIANTS",
    "IRS",
    "MIG",
    "BetaVAESklearn",
    "DCIFast",
    "DownstreamTask",
    "DownstreamTaskBoostedTrees",
    "DownstreamTaskBoostedTreesFast",
    "DownstreamTaskLogisticRegression",
    "FactorVAEScore",
    "JacobianOrthogonality",
    "ModularityExplicitness",
    "SAPScore",
    "UnsupervisedMetrics",
    "beta_vae_features",
    "beta_vae_sklearn",
    "completeness",
    "completeness_per_factor",
    "compute_avg_diff_top_two",
    "compute_importance",
    "compute_importance_gbt",
    "compute_score_matrix",
    "dci",
    "dci_fast",
    "dci_from_importance",
    "decoder_jacobians",
    "discrete_entropy",
    "discrete_mutual_info",
    "disentanglement",
    "disentanglement_per_code",
    "distance_to_signed_permutation",
    "downstream_task",
    "explicitness_per_factor",
    "factor_vae_score",
    "factor_vae_score_from_batches",
    "factor_vae_votes",
    "fork_random_state",
    "gain_importances",
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "generate_batch_factor_code",
    "gradient_boosting_classifier",
    "hist_gradient_boosting_classifier",
    "histogram_discretize",
    "irs",
    "jacobian_orthogonality",
    "logistic_regression_cv",
    "make_discretizer",
    "make_predictor_fn",
    "mig",
    "mig_from_discretized",
    "modularity",
    "modularity_explicitness",
    "normalize_data",
    "obtain_representation",
    "prune_dims",
    "sap_score",
    "scalable_disentanglement_score",
    "seeded_global_generator",
    "unsupervised_metrics",
]
