"""Distance to orthogonality of the decoder Jacobian: a mechanistic diagnostic of a trained VAE.

Rolinek, Zietlow and Martius, "Variational Autoencoders Pursue PCA Directions (by Accident)",
CVPR 2019, Sec. 5: at the posterior mean ``mu(x)`` of an observation, write the decoder Jacobian
restricted to the active latent coordinates as ``J = U S V^T``. A VAE whose latent axes are the
local principal directions has ``V`` close to a signed permutation matrix; the diagnostic is the
Frobenius distance from ``V`` to the nearest signed permutation matrix (Hungarian matching on
``|V|``), averaged over sampled observations. 0 means orthogonal columns of ``J`` (aligned axes);
for k active latents the largest possible value is about ``sqrt(2k)``.

Active latents are the "active units" of Burda, Grosse and Salakhutdinov (ICLR 2016): coordinates
whose posterior mean varies over the data, ``Var_x[mu_j(x)] > active_variance_threshold``
(0.01).

It needs the model, not only its codes: the representation function must expose ``.model`` with
``encode(x)`` and ``decode(z)``
(``disentangle_bench.pipeline.representation.representation_function(model)``; the ``bench run``
and ``bench evaluate`` runners provide that). Not part of disentanglement_lib.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.metrics.utils import (
    RepresentationFunction,
    _check_non_negative,
    _check_positive_int,
    _warn,
    generate_batch_factor_code,
)

__all__ = [
    "JacobianOrthogonality",
    "decoder_jacobians",
    "distance_to_signed_permutation",
    "jacobian_orthogonality",
]


def distance_to_signed_permutation(matrix: np.ndarray) -> float:
    """Frobenius distance from a square matrix to its nearest signed permutation matrix.

    The permutation maximises ``sum_i |M[i, pi(i)]|`` (Hungarian algorithm), the signs are those
    of the matched entries (Rolinek et al. 2019).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square, got shape {matrix.shape}")
    rows, cols = linear_sum_assignment(-np.abs(matrix))
    nearest = np.zeros_like(matrix)
    nearest[rows, cols] = np.where(matrix[rows, cols] < 0, -1.0, 1.0)
    return float(np.linalg.norm(matrix - nearest))


def jacobian_orthogonality(jacobians: np.ndarray) -> dict[str, float]:
    """Mean distance to orthogonality of (N, P, k) Jacobians (P outputs, k active latents).

    For each Jacobian, ``V`` from its SVD is compared with the nearest signed permutation.
    Returns ``distance_to_orthogonality`` and ``num_active_dims`` (k); with k = 0 the distance
    is nan (with a warning).
    """
    jacobians = np.asarray(jacobians, dtype=np.float64)
    if jacobians.ndim != 3 or jacobians.shape[0] < 1:
        raise ValueError(
            f"jacobians must be a non-empty (N, outputs, active latents) array, got shape "
            f"{jacobians.shape}"
        )
    if not np.all(np.isfinite(jacobians)):
        raise ValueError("jacobians contain NaN or infinite values")
    num_active = jacobians.shape[2]
    if num_active == 0:
        _warn("no active latent dimension; the distance to orthogonality is nan")
        return {"distance_to_orthogonality": float("nan"), "num_active_dims": 0}
    distances = []
    for jacobian in jacobians:
        _, _, v_transposed = np.linalg.svd(jacobian, full_matrices=False)
        distances.append(distance_to_signed_permutation(v_transposed))
    return {"distance_to_orthogonality": float(np.mean(distances)), "num_active_dims": num_active}


def decoder_jacobians(
    model: torch.nn.Module, means: np.ndarray, active: np.ndarray, batch_size: int = 16
) -> np.ndarray:
    """(N, P, k) Jacobians of ``model.decode`` (flattened output) at the codes ``means`` (N, D)
    with respect to the ``active`` coordinates (boolean (D,)); the others stay at ``means``.

    Forward-mode differentiation (``torch.func.jacfwd``), ``batch_size`` points at a time.
    """
    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    index = torch.as_tensor(np.flatnonzero(active), device=device)
    model.eval()

    def decode_one(z_active: torch.Tensor, z_full: torch.Tensor) -> torch.Tensor:
        z = z_full.index_copy(0, index, z_active)
        return model.decode(z.unsqueeze(0)).reshape(-1)

    jacobian = torch.func.vmap(torch.func.jacfwd(decode_one, argnums=0))
    chunks = []
    for start in range(0, len(means), batch_size):
        z_full = torch.as_tensor(means[start : start + batch_size], dtype=torch.float32)
        z_full = z_full.to(device)
        chunks.append(jacobian(z_full[:, index], z_full).detach().double().cpu().numpy())
    return np.concatenate(chunks, axis=0)


class JacobianOrthogonality:
    """The diagnostic plugin ``jacobian_orthogonality(num_train, num_points,
    active_variance_threshold, batch_size)``.

    Encodes ``num_train`` sampled observations (as ``generate_batch_factor_code`` does), marks the
    active latents on them, and evaluates the decoder Jacobian at the first ``num_points`` posterior
    means. Result keys ``distance_to_orthogonality``, ``num_active_dims``.
    """

    name = "jacobian_orthogonality"
    result_keys = ("distance_to_orthogonality", "num_active_dims")

    def __init__(
        self,
        num_train: int = 1000,
        num_points: int = 100,
        active_variance_threshold: float = 0.01,
        batch_size: int = 16,
    ) -> None:
        self.num_train = _check_positive_int(num_train, "num_train")
        self.num_points = _check_positive_int(num_points, "num_points")
        if self.num_points > self.num_train:
            raise ValueError(
                f"num_points ({num_points}) cannot exceed num_train ({num_train}): the Jacobians "
                "are taken at the first num_points of the sampled codes"
            )
        self.active_variance_threshold = _check_non_negative(
            active_variance_threshold, "active_variance_threshold"
        )
        self.batch_size = _check_positive_int(batch_size, "batch_size")

    def __call__(
        self,
        ground_truth_data: GroundTruthData,
        representation_function: RepresentationFunction,
        random_state: np.random.RandomState,
    ) -> dict[str, float]:
        model = getattr(representation_function, "model", None)
        if model is None or not callable(getattr(model, "decode", None)):
            raise ValueError(
                "jacobian_orthogonality needs the model's decoder: pass a representation "
                "function built from a model with encode() and decode() "
                "(disentangle_bench.pipeline.representation.representation_function(model)), "
                "not only "
                "an encoder"
            )
        codes, _ = generate_batch_factor_code(
            ground_truth_data,
            representation_function,
            self.num_train,
            random_state,
            self.batch_size,
        )
        active = np.var(codes, axis=0) > self.active_variance_threshold
        if not active.any():
            _warn("no active latent dimension; the distance to orthogonality is nan")
            return {"distance_to_orthogonality": float("nan"), "num_active_dims": 0}
        jacobians = decoder_jacobians(model, codes[: self.num_points], active, self.batch_size)
        return jacobian_orthogonality(jacobians)

    def __repr__(self) -> str:
        return (
            f"JacobianOrthogonality(num_train={self.num_train}, num_points={self.num_points}, "
            f"active_variance_threshold={self.active_variance_threshold}, "
            f"batch_size={self.batch_size})"
        )
