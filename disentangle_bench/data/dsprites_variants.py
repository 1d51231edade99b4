"""disentanglement_lib's colour, noisy and scream dSprites (``data/ground_truth/dsprites.py``).

Each variant turns the binary sprite into an RGB observation using draws from the caller's
``random_state``, in disentanglement_lib's order, so the same factors and random state give the
same observations as there (given the same base images):

- ``color_dsprites``: the sprite times one colour per image, ``U(0.5, 1)^3`` (one
  ``uniform(0.5, 1, [N, 1, 1, 3])`` call).
- ``noisy_dsprites``: background noise ``U(0, 1)`` per pixel and channel (one
  ``uniform(0, 1, [N, 64, 64, 3])`` call); sprite pixels become 1 (``min(x + noise, 1)``).
- ``scream_dsprites``: per image ``randint`` (row), ``randint`` (column) of a 64 x 64 crop of
  The Scream and ``uniform(0, 1, 3)`` for a colour shift; background ``(crop + shift) / 2``;
  the sprite's pixels are inverted (``1 - background``).

The base images are the procedural ``dsprites`` (default) or DeepMind's file when
``dsprites_path`` is given. Observations depend on the random state, not only on the factors:
the fingerprint identifies the generating process (base fingerprint + variant + parameters).
The Scream is read from a user-given file: ``.npy`` (H, W, 3), PNG or, with
Pillow installed, any image Pillow reads. disentanglement_lib shrinks it with Pillow's
``thumbnail((350, 274))``; with Pillow available the same call is used, otherwise a box-filter
resize to the same size (close, not pixel-identical).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from disentangle_bench.data.dsprites import DSPRITES_CITATION, ProceduralDSprites
from disentangle_bench.data.ground_truth import GroundTruthData, derived_fingerprint
from disentangle_bench.util.errors import DataError

SCREAM_FILE = "scream/scream.jpg"
SCREAM_THUMBNAIL = (350, 274)  # (width, height) box, as disentanglement_lib


class DSpritesVariant(GroundTruthData):
    """An RGB transform of binary dSprites drawn from the caller's random state."""

    name: ClassVar[str]
    license: ClassVar[str] = "apache-2.0"
    citation: ClassVar[str] = DSPRITES_CITATION
    description: ClassVar[str] = ""
    #: Observations depend on the random state (exports record the seed they used).
    stochastic: ClassVar[bool] = True

    def __init__(self, cache: bool = True, dsprites_path: str | None = None) -> None:
        if dsprites_path:
            from disentangle_bench.data.loaders import DSpritesFile

            self.base: GroundTruthData = DSpritesFile(dsprites_path)
        else:
            self.base = ProceduralDSprites(cache=cache)
        self.dsprites_path = dsprites_path

    def parameters(self) -> dict[str, Any]:
        return {}

    @property
    def categorical_factors(self) -> tuple[str, ...]:
        return tuple(getattr(self.base, "categorical_factors", ()))

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(self.base.factor_names)

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return tuple(self.base.factors_num_values)

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (64, 64, 3)

    @property
    def value_grid(self) -> tuple[np.ndarray, ...]:
        return self.base.value_grid

    @property
    def fingerprint(self) -> str:
        return derived_fingerprint(self.base.fingerprint, self.name, self.parameters())

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState
    ) -> np.ndarray:
        sprites = self.base.sample_observations_from_factors(factors, random_state)
        rgb = np.repeat(sprites, 3, axis=3)
        return self.colourise(rgb, random_state).astype(np.float32)

    def colourise(self, rgb: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
        raise NotImplementedError


class ColorDSprites(DSpritesVariant):
    """dSprites with a random colour per image: ``x * U(0.5, 1)^3``."""

    name: ClassVar[str] = "color_dsprites"
    description: ClassVar[str] = (
        "disentanglement_lib's color_dsprites: each sprite multiplied by a random RGB colour "
        "U(0.5, 1)^3 drawn per image."
    )

    def colourise(self, rgb: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
        colour = random_state.uniform(0.5, 1.0, [rgb.shape[0], 1, 1, 3])
        return rgb * colour


class NoisyDSprites(DSpritesVariant):
    """dSprites on uniform noise: ``min(x + U(0, 1), 1)`` per pixel and channel."""

    name: ClassVar[str] = "noisy_dsprites"
    description: ClassVar[str] = (
        "disentanglement_lib's noisy_dsprites: background U(0, 1) noise per pixel and channel, "
        "sprite pixels set to 1."
    )

    def colourise(self, rgb: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
        noise = random_state.uniform(0.0, 1.0, [rgb.shape[0], 64, 64, 3])
        return np.minimum(rgb + noise, 1.0)


def _thumbnail_size(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """Pillow's ``thumbnail`` target: fit inside ``box`` keeping the aspect ratio, never grow."""
    if width <= box[0] and height <= box[1]:
        return width, height
    scale = min(box[0] / width, box[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _box_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average resize of float (H, W, C) to (height, width, C)."""
    rows = np.minimum((np.arange(image.shape[0]) * height) // image.shape[0], height - 1)
    cols = np.minimum((np.arange(image.shape[1]) * width) // image.shape[1], width - 1)
    total = np.zeros((height, width, image.shape[2]))
    np.add.at(total, (rows[:, None], cols[None, :]), image)
    counts = np.zeros((height, width, 1))
    np.add.at(counts, (rows[:, None], cols[None, :]), 1.0)
    return total / counts


def load_scream(path: Path) -> np.ndarray:
    """The Scream as float64 (H, W, 3) in [0, 1], shrunk as disentanglement_lib does."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            image = np.load(path, allow_pickle=False)
            if image.dtype != np.uint8:
                raise DataError(f"{path}: expected a uint8 (H, W, 3) array, got {image.dtype}")
        else:
            try:
                from PIL import Image
            except ImportError:
                Image = None
            if Image is not None:
                with Image.open(path) as opened:
                    picture = opened.convert("RGB")
                    picture.thumbnail(SCREAM_THUMBNAIL)
                    return np.asarray(picture, dtype=np.float64) / 255.0
            if suffix != ".png":
                raise DataError(
                    f"{path}: reading {suffix or 'this'} images needs Pillow (pip install "
                    "Pillow); or give the image as PNG or as a uint8 .npy array"
                )
            from disentangle_bench.util.images import decode_png

            image = decode_png(path.read_bytes())
    except DataError:
        raise
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read the image ({error})") from None
    if image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"{path}: expected an RGB image (H, W, 3), got shape {image.shape}")
    width, height = _thumbnail_size(image.shape[1], image.shape[0], SCREAM_THUMBNAIL)
    scream = image.astype(np.float64) / 255.0
    if (width, height) != (image.shape[1], image.shape[0]):
        scream = _box_resize(scream, width, height)
    if scream.shape[0] <= 64 or scream.shape[1] <= 64:
        raise DataError(f"{path}: the image must be larger than 64 x 64 after resizing")
    return scream


class ScreamDSprites(DSpritesVariant):
    """dSprites over random crops of The Scream, the sprite inverted."""

    name: ClassVar[str] = "scream_dsprites"
    description: ClassVar[str] = (
        "disentanglement_lib's scream_dsprites: background a random 64x64 crop of Munch's "
        "The Scream averaged with a random colour, sprite pixels inverted."
    )

    def __init__(
        self, path: str | None = None, cache: bool = True, dsprites_path: str | None = None
    ) -> None:
        resolved = self._resolve(path)
        self.path = resolved
        self.scream = load_scream(resolved)
        super().__init__(cache=cache, dsprites_path=dsprites_path)

    @staticmethod
    def _resolve(path: str | None) -> Path:
        if path:
            resolved = Path(path).expanduser()
            if not resolved.is_file():
                raise DataError(f"scream_dsprites: image not found: {resolved}")
            return resolved
        root = os.environ.get("DISENTANGLEMENT_LIB_DATA")
        if root and (Path(root) / SCREAM_FILE).is_file():
            return Path(root) / SCREAM_FILE
        raise DataError(
            "scream_dsprites needs an image of The Scream: bind scream_dsprites.path = "
            "'/path/to/scream.jpg' (or put it at $DISENTANGLEMENT_LIB_DATA/scream/scream.jpg)"
        )

    def parameters(self) -> dict[str, Any]:
        digest = hashlib.sha256(np.ascontiguousarray(self.scream).data).hexdigest()
        return {"scream_sha256": digest}

    def colourise(self, rgb: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
        out = np.empty(rgb.shape, dtype=np.float64)
        for i in range(rgb.shape[0]):
            row = random_state.randint(0, self.scream.shape[0] - 64)
            col = random_state.randint(0, self.scream.shape[1] - 64)
            shift = random_state.uniform(0, 1, size=3)
            background = (self.scream[row : row + 64, col : col + 64] + shift) / 2.0
            mask = rgb[i, :, :, 0] == 1
            background[mask] = 1.0 - background[mask]
            out[i] = background
        return out
