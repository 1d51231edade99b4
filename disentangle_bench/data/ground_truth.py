"""The ground-truth data interface, with disentanglement_lib's semantics.

A dataset is a discrete grid of factor configurations. Factors are drawn independently and
uniformly, one factor after the other from the caller's ``np.random.RandomState``, so a metric that
samples through this interface makes the same random draws as disentanglement_lib
(``SplitDiscreteStateSpace.sample_latent_factors``). Observations are float32 NHWC in [0, 1].
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterable, Sequence

import numpy as np


def factor_bases(factors_num_values: Sequence[int]) -> np.ndarray:
    """Mixed-radix bases: ``index = factors @ bases``, the last factor varying fastest.

    ``bases = prod(sizes) / cumprod(sizes)`` as in disentanglement_lib's ``StateSpaceAtomIndex``.
    """
    sizes = np.asarray(factors_num_values, dtype=np.int64)
    return np.prod(sizes) // np.cumprod(sizes)


class GroundTruthData(abc.ABC):
    """A dataset whose observations are a function of known, discrete generative factors."""

    @property
    @abc.abstractmethod
    def factor_names(self) -> tuple[str, ...]:
        """Names of the factors, in factor order."""

    @property
    @abc.abstractmethod
    def factors_num_values(self) -> tuple[int, ...]:
        """Number of values of each factor."""

    @property
    @abc.abstractmethod
    def observation_shape(self) -> tuple[int, int, int]:
        """Shape (H, W, C) of one observation."""

    @property
    @abc.abstractmethod
    def fingerprint(self) -> str:
        """A hex digest that changes whenever any observation (or the factor grid) changes."""

    @abc.abstractmethod
    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState
    ) -> np.ndarray:
        """Observations (float32, (N, H, W, C), in [0, 1]) for int factors of shape (N, F)."""

    @property
    def num_factors(self) -> int:
        return len(self.factors_num_values)

    @property
    def num_configurations(self) -> int:
        return int(np.prod(self.factors_num_values, dtype=np.int64))

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        """``num`` factor configurations, int64 (num, F), each factor uniform and independent."""
        factors = np.zeros((num, self.num_factors), dtype=np.int64)
        for i, size in enumerate(self.factors_num_values):
            factors[:, i] = random_state.randint(size, size=num)
        return factors

    def sample(
        self, num: int, random_state: np.random.RandomState
    ) -> tuple[np.ndarray, np.ndarray]:
        """Factors, then observations for them, both from ``random_state`` (reference order)."""
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        return self.sample(num, random_state)[1]

    @property
    def value_grid(self) -> tuple[np.ndarray, ...]:
        """The physical value of each factor index, one float64 array per factor.

        Defaults to :meth:`factor_values` along each factor's axis when a subclass defines
        that, else to the indices themselves; datasets with physical values (scale, angle,
        hue, ...) override one of the two. Exports write these as the ``value_<factor>``
        columns.
        """
        sizes = self.factors_num_values
        if type(self).factor_values is GroundTruthData.factor_values:
            return tuple(np.arange(size, dtype=np.float64) for size in sizes)
        grid = []
        for k, size in enumerate(sizes):
            factors = np.zeros((size, len(sizes)), dtype=np.int64)
            factors[:, k] = np.arange(size)
            grid.append(np.asarray(self.factor_values(factors), dtype=np.float64)[:, k])
        return tuple(grid)

    def factor_values(self, factors: np.ndarray) -> np.ndarray:
        """Physical values, float64 (N, F), of int factor indices (N, F)."""
        factors = np.asarray(factors, dtype=np.int64).reshape(-1, self.num_factors)
        sizes = np.asarray(self.factors_num_values)
        if np.any((factors < 0) | (factors >= sizes)):
            raise ValueError(f"factor indices out of range for sizes {tuple(sizes)}")
        grid = self.value_grid
        columns = [grid[i][factors[:, i]] for i in range(self.num_factors)]
        return np.stack(columns, axis=1) if columns else np.zeros((len(factors), 0))

    def index_of(self, factors: np.ndarray) -> np.ndarray:
        """Position of each factor configuration in the dataset's canonical (row-major) order."""
        factors = np.asarray(factors, dtype=np.int64)
        return factors @ factor_bases(self.factors_num_values)

    def factors_of(self, index: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`index_of`."""
        index = np.asarray(index, dtype=np.int64)
        return np.stack(np.unravel_index(index, self.factors_num_values), axis=-1).astype(np.int64)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={s}" for n, s in zip(self.factor_names, self.factors_num_values))
        return f"{type(self).__name__}({sizes}; shape={self.observation_shape})"


class ArrayGroundTruthData(GroundTruthData):
    """A dataset held as one array of all observations in canonical factor order.

    ``images`` is uint8 (N, H, W, C) with values in [0, 255], or binary {0, 1} when
    ``binary=True``; it is converted to float32 in [0, 1] per batch, never as a whole.
    """

    def __init__(
        self,
        images: np.ndarray,
        factor_names: Sequence[str],
        factors_num_values: Sequence[int],
        *,
        binary: bool = False,
    ) -> None:
        sizes = tuple(int(s) for s in factors_num_values)
        if images.ndim != 4:
            raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
        if images.shape[0] != int(np.prod(sizes)):
            raise ValueError(
                f"{images.shape[0]} images for a factor grid of {int(np.prod(sizes))} ({sizes})"
            )
        if len(factor_names) != len(sizes):
            raise ValueError("one name per factor is required")
        self._images = images
        self._names = tuple(factor_names)
        self._sizes = sizes
        self._scale = np.float32(1.0 if binary else 1.0 / 255.0)
        self._fingerprint: str | None = None

    @property
    def factor_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return self._sizes

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return tuple(self._images.shape[1:])  # type: ignore[return-value]

    @property
    def images(self) -> np.ndarray:
        """The stored images, in canonical order (not converted to float)."""
        return self._images

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = content_fingerprint(self._images, self._sizes)
        return self._fingerprint

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState
    ) -> np.ndarray:
        del random_state  # observations are a deterministic function of the factors
        return self._images[self.index_of(factors)].astype(np.float32) * self._scale


def content_fingerprint(images: np.ndarray, factors_num_values: Sequence[int]) -> str:
    """SHA-256 over the factor grid, the array's dtype and shape, and every image byte."""
    chunks = (images[start : start + 65536] for start in range(0, images.shape[0], 65536))
    return chunked_fingerprint(chunks, factors_num_values, images.dtype, images.shape)


def chunked_fingerprint(
    chunks: Iterable[np.ndarray],
    factors_num_values: Sequence[int],
    dtype: np.dtype | str,
    shape: Sequence[int],
) -> str:
    """:func:`content_fingerprint` of the concatenation of ``chunks``, one chunk in memory at a
    time (for datasets rendered on demand)."""
    digest = hashlib.sha256(fingerprint_header(factors_num_values, dtype, shape))
    for chunk in chunks:
        digest.update(np.ascontiguousarray(chunk, dtype=dtype).tobytes())
    return digest.hexdigest()


def fingerprint_header(
    factors_num_values: Sequence[int], dtype: np.dtype | str, shape: Sequence[int]
) -> bytes:
    """The bytes :func:`chunked_fingerprint` hashes before the images: grid, dtype, shape."""
    header = (
        tuple(int(s) for s in factors_num_values),
        str(np.dtype(dtype)),
        tuple(int(s) for s in shape),
    )
    return repr(header).encode()


def derived_fingerprint(base_fingerprint: str, transform: str, parameters: dict) -> str:
    """Fingerprint of a dataset derived from another by a named, parametrised transform."""
    payload = repr((base_fingerprint, transform, sorted(parameters.items())))
    return hashlib.sha256(payload.encode()).hexdigest()
