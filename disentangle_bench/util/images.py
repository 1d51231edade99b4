"""Image grids, traversals and image files: PNG writing and image reading through Pillow.

Decoded images are uint8 (H, W, C) with C = 1 for greyscale and C = 3 otherwise: palettes become
RGB, alpha is dropped, 1-bit and 2- or 4-bit greyscale are scaled to 0-255 and 16-bit samples
keep their high byte.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from disentangle_bench.util.files import atomic_write

__all__ = [
    "ImageDecodeError",
    "decode_image",
    "decode_png",
    "encode_png",
    "image_grid",
    "to_display",
    "traversal_values",
    "write_png",
]

MIN_TILE_PIXELS = 16
MAX_TILE_PIXELS = 512


class ImageDecodeError(ValueError):
    """Bytes that are not an image this reader reads (or a damaged one)."""


def encode_png(image: np.ndarray, *, level: int = 6) -> bytes:
    """PNG bytes of a uint8 image (H, W), (H, W, 1) or (H, W, 3), at zlib ``level``."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"PNG images must be uint8, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"PNG images must be (H, W), (H, W, 1) or (H, W, 3), got {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def decode_image(data: bytes, *, formats: Sequence[str] | None = None) -> np.ndarray:
    """uint8 (H, W, C) pixels of an image file's bytes (any format Pillow reads, or only
    ``formats``, such as ``("PNG",)``); raises :class:`ImageDecodeError`."""
    try:
        with Image.open(io.BytesIO(data), formats=formats) as opened:
            opened.verify()  # chunk structure and checksums, before decoding
        with Image.open(io.BytesIO(data), formats=formats) as opened:
            opened.load()
            return _pixels(opened)
    except ImageDecodeError:
        raise
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, ...
        kind = "/".join(formats) if formats else "image"
        detail = str(error) if not isinstance(error, Image.UnidentifiedImageError) else "unknown"
        raise ImageDecodeError(f"not a readable {kind} ({detail})") from None


def decode_png(data: bytes) -> np.ndarray:
    """uint8 (H, W, C) pixels of PNG bytes; raises :class:`ImageDecodeError`."""
    return decode_image(data, formats=("PNG",))


def _pixels(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit greyscale: the high byte
        wide = np.asarray(image).astype(np.int64)
        return (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)[:, :, None]
    if mode in ("1", "L", "LA", "La"):
        return np.asarray(image.convert("L"), dtype=np.uint8)[:, :, None]
    if mode == "F":
        raise ImageDecodeError("floating-point images are not supported")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def write_png(path: Path | str, image: np.ndarray) -> None:
    """Write ``image`` (uint8) as a PNG file, atomically."""
    payload = encode_png(image)
    atomic_write(path, lambda handle: handle.write(payload))


def to_display(
    observations: np.ndarray, value_range: tuple[float, float] | None = (0.0, 1.0)
) -> np.ndarray:
    """Observations (..., H, W, C) -> float images (..., H', W', 1 or 3) in [0, 1].

    Values are mapped from ``value_range`` (``None``: the array's own min and max). One or three
    channels display as greyscale or RGB; any other channel count (vector data such as (1, 1, D))
    is laid out side by side as a greyscale (H, W * C) strip.
    """
    array = np.asarray(observations, dtype=np.float64)
    if value_range is None:
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 1.0)
    else:
        low, high = (float(v) for v in value_range)
    scaled = np.clip((array - low) / (high - low if high > low else 1.0), 0.0, 1.0)
    channels = scaled.shape[-1]
    if channels in (1, 3):
        return scaled
    lead, (height, width) = scaled.shape[:-3], scaled.shape[-3:-1]
    strip = np.moveaxis(scaled, -1, -2).reshape(*lead, height, width * channels, 1)
    return strip


def image_grid(tiles: np.ndarray, padding: int = 2) -> np.ndarray:
    """(rows, columns, H, W, C) float images in [0, 1] -> one uint8 (H', W', C) grid.

    Tiles are upscaled (nearest neighbour) so that their short side has at least
    :data:`MIN_TILE_PIXELS` pixels, without their long side exceeding :data:`MAX_TILE_PIXELS`;
    they are separated by ``padding`` white pixels.
    """
    tiles = np.asarray(tiles, dtype=np.float64)
    if tiles.ndim != 5:
        raise ValueError(f"expected (rows, columns, H, W, C) tiles, got {tiles.shape}")
    rows, columns, height, width, channels = tiles.shape
    factor = max(
        1,
        min(math.ceil(MIN_TILE_PIXELS / min(height, width)), MAX_TILE_PIXELS // max(height, width)),
    )
    tiles = tiles.repeat(factor, axis=2).repeat(factor, axis=3)
    height, width = height * factor, width * factor
    grid = np.ones(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels)
    )
    for r in range(rows):
        for c in range(columns):
            top, left = padding + r * (height + padding), padding + c * (width + padding)
            grid[top : top + height, left : left + width] = tiles[r, c]
    return np.round(np.clip(grid, 0.0, 1.0) * 255.0).astype(np.uint8)


def traversal_values(
    codes: np.ndarray, steps: int, quantiles: Sequence[float] = (0.05, 0.95)
) -> np.ndarray:
    """Per latent dimension, ``steps`` values evenly spaced between two quantiles of ``codes``."""
    low, high = np.quantile(np.asarray(codes, dtype=np.float64), quantiles, axis=0)
    return np.linspace(low, high, steps, axis=1)  # (D, steps)
