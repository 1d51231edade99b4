"""The numpy + zlib PNG codec: round trips, every scanline filter, bit depths, bad bytes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest

from disentangle_bench.data.png import SIGNATURE, PNGError, _chunk, decode_png, encode_png


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filtered_png(
    rows: np.ndarray,
    width: int,
    *,
    colour_type: int,
    depth: int = 8,
    filters=(0, 1, 2, 3, 4),
    palette=None,
    interlace: int = 0,
) -> bytes:
    """A PNG whose scanlines use the given filters in turn (written straight from the spec)."""
    height, stride = rows.shape
    bpp = max(1, {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type] * depth // 8)
    out = bytearray()
    prior = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        line = rows[y].astype(np.int64)
        kind = filters[y % len(filters)]
        encoded = np.zeros(stride, dtype=np.int64)
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prior[x]
            c = prior[x - bpp] if x >= bpp else 0
            predictor = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
            encoded[x] = (line[x] - predictor) % 256
        out.append(kind)
        out.extend(encoded.astype(np.uint8).tobytes())
        prior = line
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, interlace)
    chunks = [SIGNATURE, _chunk(b"IHDR", header)]
    if palette is not None:
        chunks.append(_chunk(b"PLTE", palette.astype(np.uint8).tobytes()))
    chunks += [_chunk(b"IDAT", zlib.compress(bytes(out))), _chunk(b"IEND", b"")]
    return b"".join(chunks)


@pytest.mark.parametrize("shape", [(64, 64), (64, 64, 1), (17, 5, 3)])
def test_round_trip(shape):
    image = np.random.RandomState(0).randint(0, 256, size=shape).astype(np.uint8)
    decoded = decode_png(encode_png(image))
    expected = image if image.ndim == 3 else image[..., None]
    np.testing.assert_array_equal(decoded, expected)


def test_encoder_rejects_bad_arrays():
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        encode_png(np.zeros((4, 4, 2), np.uint8))


@pytest.mark.parametrize("colour_type", [0, 2, 6])
def test_every_filter_type(colour_type):
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    image = np.random.RandomState(colour_type).randint(0, 256, (10, 7, channels)).astype(np.uint8)
    png = filtered_png(image.reshape(10, -1), 7, colour_type=colour_type)
    expected = image if channels != 4 else image[..., :3]
    np.testing.assert_array_equal(decode_png(png), expected)


def test_one_bit_greyscale_and_palette_and_sixteen_bit():
    bits = np.random.RandomState(1).randint(0, 2, (9, 13)).astype(np.uint8)
    packed = np.packbits(bits, axis=1)
    decoded = decode_png(filtered_png(packed, 13, colour_type=0, depth=1, filters=(0, 2)))
    np.testing.assert_array_equal(decoded[..., 0], bits * 255)

    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]])
    index = np.random.RandomState(2).randint(0, 3, (6, 5)).astype(np.uint8)
    decoded = decode_png(filtered_png(index, 5, colour_type=3, palette=palette, filters=(1,)))
    np.testing.assert_array_equal(decoded, palette[index])

    wide = np.random.RandomState(3).randint(0, 65536, (4, 3)).astype(">u2")
    decoded = decode_png(
        filtered_png(wide.view(np.uint8).reshape(4, 6), 3, colour_type=0, depth=16)
    )
    np.testing.assert_array_equal(decoded[..., 0], (wide >> 8).astype(np.uint8))


def test_bad_bytes_raise_png_errors():
    good = encode_png(np.zeros((8, 8), np.uint8))
    with pytest.raises(PNGError, match="signature"):
        decode_png(b"GIF89a" + good)
    with pytest.raises(PNGError, match="truncated"):
        decode_png(good[:-20])
    corrupt = bytearray(good)
    corrupt[len(SIGNATURE) + 10] ^= 0xFF  # inside IHDR
    with pytest.raises(PNGError, match="CRC"):
        decode_png(bytes(corrupt))
    interlaced = filtered_png(np.zeros((2, 2), np.uint8), 2, colour_type=0, interlace=1)
    with pytest.raises(PNGError, match="interlaced"):
        decode_png(interlaced)


def test_matches_pillow_when_installed():
    image_module = pytest.importorskip("PIL.Image")
    image = np.random.RandomState(4).randint(0, 256, (64, 64, 3)).astype(np.uint8)
    buffer = io.BytesIO()
    image_module.fromarray(image).save(buffer, format="PNG", optimize=True)
    np.testing.assert_array_equal(decode_png(buffer.getvalue()), image)
    with image_module.open(io.BytesIO(encode_png(image))) as opened:
        np.testing.assert_array_equal(np.asarray(opened), image)
