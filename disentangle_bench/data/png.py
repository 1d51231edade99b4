"""A small PNG codec in numpy + zlib (no Pillow needed).

Written from the PNG specification (W3C, "Portable Network Graphics (PNG) Specification",
2nd edition, 2003): chunks ``IHDR``, ``PLTE``, ``IDAT``, ``IEND`` with CRC-32; scanline filters
None, Sub, Up, Average and Paeth (section 9). The encoder writes 8-bit greyscale or RGB with
filter type None on every row, which keeps encoding and decoding cheap; the decoder reads any
non-interlaced PNG (greyscale, RGB, palette, with or without alpha; bit depths 1-16) and returns
uint8 (H, W, C) with C = 1 for greyscale and C = 3 otherwise (alpha is dropped; 16-bit samples
keep their high byte; sub-byte greyscale is scaled to 0-255 as the specification requires).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


class PNGError(ValueError):
    """Bytes that are not a PNG this decoder can read."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF)
    )


def encode_png(image: np.ndarray, *, level: int = 6) -> bytes:
    """PNG bytes of a uint8 image (H, W), (H, W, 1) or (H, W, 3)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"PNG images must be uint8, got {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise ValueError(f"PNG images must be (H, W), (H, W, 1) or (H, W, 3), got {array.shape}")
    height, width, channels = array.shape
    colour_type = 0 if channels == 1 else 2
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    rows = np.empty((height, 1 + width * channels), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None
    rows[:, 1:] = array.reshape(height, width * channels)
    return b"".join(
        (
            SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)),
            _chunk(b"IEND", b""),
        )
    )


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _unfilter(raw: np.ndarray, height: int, stride: int, bpp: int) -> np.ndarray:
    """Reverse the per-row filters of ``raw`` (height rows of 1 + stride bytes)."""
    rows = raw.reshape(height, 1 + stride)
    filters = rows[:, 0]
    data = rows[:, 1:]
    if not filters.any():
        return data
    if filters.max() > 4:
        raise PNGError(f"unknown PNG filter type {int(filters.max())}")
    out = np.zeros((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.int64)
    pad = (-stride) % bpp
    for y in range(height):
        line = data[y].astype(np.int64)
        kind = filters[y]
        if kind == 0:
            recon = line
        elif kind == 1:  # Sub: a running sum per byte position modulo bpp
            padded = np.concatenate([line, np.zeros(pad, np.int64)]).reshape(-1, bpp)
            recon = (np.cumsum(padded, axis=0) % 256).reshape(-1)[:stride]
        elif kind == 2:  # Up
            recon = (line + prior) % 256
        else:  # Average and Paeth depend on the reconstructed left byte: one pixel at a time
            recon = np.zeros(stride, dtype=np.int64)
            for x in range(0, stride, bpp):
                stop = min(x + bpp, stride)
                up = prior[x:stop]
                left = recon[x - bpp : stop - bpp] if x >= bpp else np.zeros(stop - x, np.int64)
                if kind == 3:
                    predictor = (left + up) // 2
                else:
                    upleft = prior[x - bpp : stop - bpp] if x >= bpp else np.zeros_like(up)
                    predictor = _paeth(left, up, upleft)
                recon[x:stop] = (line[x:stop] + predictor) % 256
        out[y] = recon
        prior = recon
    return out


def decode_png(data: bytes) -> np.ndarray:
    """uint8 (H, W, C) pixels of a PNG (C = 1 greyscale, 3 colour); raises :class:`PNGError`."""
    if not data.startswith(SIGNATURE):
        raise PNGError("not a PNG (bad signature)")
    position = len(SIGNATURE)
    header = None
    palette = None
    idat = []
    while True:
        if position + 8 > len(data):
            raise PNGError("truncated PNG (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        crc = data[position + 8 + length : position + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise PNGError(f"truncated PNG chunk {kind!r}")
        if struct.unpack(">I", crc)[0] != zlib.crc32(body, zlib.crc32(kind)) & 0xFFFFFFFF:
            raise PNGError(f"corrupt PNG chunk {kind!r} (CRC mismatch)")
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise PNGError("PNG without IHDR chunk")
    width, height, depth, colour_type, _, _, interlace = header
    if colour_type not in _CHANNELS or depth not in (1, 2, 4, 8, 16):
        raise PNGError(f"unsupported PNG colour type {colour_type} / bit depth {depth}")
    if interlace:
        raise PNGError("interlaced PNGs are not supported")
    samples = _CHANNELS[colour_type]
    bits_per_pixel = samples * depth
    stride = (width * bits_per_pixel + 7) // 8
    try:
        raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    except zlib.error as error:
        raise PNGError(f"corrupt PNG image data: {error}") from None
    if raw.size != height * (1 + stride):
        raise PNGError(f"PNG image data has {raw.size} bytes, expected {height * (1 + stride)}")
    rows = _unfilter(raw, height, stride, max(1, bits_per_pixel // 8))
    if depth < 8:
        pixels = np.unpackbits(rows, axis=1)
        pixels = pixels.reshape(height, -1, depth)[:, :width, :]
        weights = 1 << np.arange(depth - 1, -1, -1)
        values = (pixels * weights).sum(axis=2).astype(np.uint8)[:, :, None]
        if colour_type == 0:
            values = (values.astype(np.uint16) * 255 // ((1 << depth) - 1)).astype(np.uint8)
    elif depth == 16:
        values = rows.reshape(height, width, samples, 2)[..., 0]
    else:
        values = rows.reshape(height, width, samples)
    if colour_type == 3:
        if palette is None:
            raise PNGError("palette PNG without PLTE chunk")
        index = values[:, :, 0]
        if index.max(initial=0) >= len(palette):
            raise PNGError("PNG palette index out of range")
        return palette[index]
    if colour_type in (4, 6):
        values = values[:, :, :-1]  # drop alpha
    return np.ascontiguousarray(values)
