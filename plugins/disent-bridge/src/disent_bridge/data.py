"""disentangle-bench's datasets and perturbed twins as disent ground-truth data.

:class:`BenchGroundTruthData` is a ``disent.dataset.data.GroundTruthData``: disent's
``DisentDataset``, samplers (single, pairs, triplets, random walks), metrics and Lightning loop
take it like any of disent's own datasets. Both projects order configurations the same way
(row-major, the last factor fastest: disent's ``pos_to_idx`` is disentangle-bench's
``index_of``), so index ``i`` of the disent dataset is configuration ``i`` of the bench dataset.
Observations are float32 (H, W, C) in [0, 1], exactly as bench makes them (perturbed twins are
not rounded to 8 bits); disent's ``ToImgTensorF32`` turns them into CHW tensors unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disent_bridge._disent import require_disent

require_disent()

from disent.dataset.data import GroundTruthData as DisentGroundTruthData  # noqa: E402


class BenchGroundTruthData(DisentGroundTruthData):
    """A disentangle-bench dataset (``GroundTruthData``) seen as disent ground-truth data.

    ``seed`` seeds the ``np.random.RandomState`` handed to the bench dataset (datasets whose
    observations are random given the factors, such as ``noisy_dsprites``, draw from it).
    ``in_memory`` renders every observation once (float32) instead of one per access.
    """

    def __init__(
        self,
        data: Any,
        name: str | None = None,
        *,
        seed: int = 0,
        in_memory: bool = False,
        transform: Any = None,
    ) -> None:
        self._data = data
        self._name = name or type(data).__name__.lower()
        self._random_state = np.random.RandomState(seed)
        self._observations: np.ndarray | None = None
        super().__init__(transform=transform)
        if in_memory:
            every = self.idx_to_pos(np.arange(len(self)))
            self._observations = data.sample_observations_from_factors(
                np.asarray(every, dtype=np.int64), self._random_state
            )

    @property
    def bench_data(self) -> Any:
        """The disentangle-bench dataset behind it."""
        return self._data

    @property
    def name(self) -> str:
        return self._name

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(self._data.factor_names)

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self._data.factors_num_values)

    @property
    def img_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self._data.observation_shape)

    def _get_observation(self, idx: int) -> np.ndarray:
        if self._observations is not None:
            return self._observations[int(idx)]
        factors = np.asarray(self.idx_to_pos(int(idx)), dtype=np.int64)[None]
        return self._data.sample_observations_from_factors(factors, self._random_state)[0]


def disent_data(
    dataset: Any,
    perturbation: str | None = None,
    *,
    registry: Any = None,
    seed: int = 0,
    in_memory: bool = False,
    transform: Any = None,
) -> BenchGroundTruthData:
    """A registered dataset (by name, with its gin-bound hyperparameters, or a bench dataset
    object), perturbed by the registered ``perturbation`` when given, as disent ground-truth
    data named ``<dataset>`` or ``<dataset>+<perturbation>``."""
    from disentangle_bench.registry import Registry

    if isinstance(dataset, str):
        registry = registry if registry is not None else Registry()
        name = dataset
        data = registry.build("datasets", dataset)
    else:
        name, data = type(dataset).__name__.lower(), dataset
    if perturbation is not None:
        registry = registry if registry is not None else Registry()
        data = registry.build("perturbations", perturbation).apply(data)
        name = f"{name}+{perturbation}"
    return BenchGroundTruthData(data, name, seed=seed, in_memory=in_memory, transform=transform)
