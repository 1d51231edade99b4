"""Image grids and a minimal PNG writer in pure numpy + zlib (no Pillow dependency).

PNG per the W3C specification (2nd edition, 2003): signature, ``IHDR`` (8-bit greyscale or RGB,
no interlace), one ``IDAT`` with every scanline prefixed by filter type 0 (None), ``IEND``; each
chunk carries its CRC-32.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from disentangle_bench.files import atomic_write

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_TILE_PIXELS = 16
MAX_TILE_PIXELS = 512


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image (H, W) / (H, W, 1) greyscale or (H, W, 3) RGB."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"PNG images must be uint8, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        colour_type = 0
    elif array.ndim == 3 and array.shape[2] == 3:
        colour_type = 2
    else:
        raise ValueError(f"expected (H, W), (H, W, 1) or (H, W, 3), got {array.shape}")
    height, width = array.shape[:2]
    if height < 1 or width < 1:
        raise ValueError(f"empty image {array.shape}")
    rows = np.ascontiguousarray(array).reshape(height, -1)
    scanlines = np.concatenate([np.zeros((height, 1), dtype=np.uint8), rows], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


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
