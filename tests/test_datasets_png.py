"""PNG files through Pillow (:mod:`disentangle_bench.util.images`): round trips, every scanline
filter, bit depths and colour types in the documented (H, W, 1 or 3) uint8 form, bad bytes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest

from disentangle_bench.util.images import ImageDecodeError, decode_image, decode_png, encode_png

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


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
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    chunks = [SIGNATURE, chunk(b"IHDR", header)]
    if palette is not None:
        chunks.append(chunk(b"PLTE", palette.astype(np.uint8).tobytes()))
    chunks += [chunk(b"IDAT", zlib.compress(bytes(out))), chunk(b"IEND", b"")]
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


def test_two_and_four_bit_greyscale_scale_to_255_and_alpha_is_dropped():
    for depth in (2, 4):
        top = (1 << depth) - 1
        values = np.random.RandomState(depth).randint(0, top + 1, (5, 8)).astype(np.uint8)
        bits = np.unpackbits(values[:, :, None], axis=2)[:, :, 8 - depth :].reshape(5, -1)
        packed = np.packbits(bits, axis=1)
        decoded = decode_png(filtered_png(packed, 8, colour_type=0, depth=depth, filters=(0,)))
        np.testing.assert_array_equal(decoded[..., 0], values.astype(np.int64) * 255 // top)
    grey_alpha = np.random.RandomState(7).randint(0, 256, (3, 4, 2)).astype(np.uint8)
    decoded = decode_png(filtered_png(grey_alpha.reshape(3, -1), 4, colour_type=4))
    np.testing.assert_array_equal(decoded, grey_alpha[..., :1])


def test_bad_bytes_raise_one_error_type():
    good = encode_png(np.zeros((8, 8), np.uint8))
    with pytest.raises(ImageDecodeError, match="not a readable PNG"):
        decode_png(b"GIF89a" + good)
    with pytest.raises(ImageDecodeError, match="runcated"):
        decode_png(good[:-20])
    corrupt = bytearray(good)
    corrupt[-20] ^= 0xFF  # inside IDAT: its CRC no longer matches
    with pytest.raises(ImageDecodeError, match="checksum"):
        decode_png(bytes(corrupt))
    assert issubclass(ImageDecodeError, ValueError)


def test_other_formats_are_read_when_asked_for():
    from PIL import Image

    image = np.random.RandomState(5).randint(0, 256, (9, 11, 3)).astype(np.uint8)
    bitmap = io.BytesIO()
    Image.fromarray(image).save(bitmap, format="BMP")
    np.testing.assert_array_equal(decode_image(bitmap.getvalue()), image)
    with pytest.raises(ImageDecodeError, match="PNG"):
        decode_png(bitmap.getvalue())  # a PNG was asked for


def test_encoder_writes_what_pillow_reads():
    from PIL import Image

    image = np.random.RandomState(4).randint(0, 256, (64, 64, 3)).astype(np.uint8)
    with Image.open(io.BytesIO(encode_png(image))) as opened:
        assert opened.format == "PNG" and opened.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(opened), image)
    grey = image[..., :1]
    with Image.open(io.BytesIO(encode_png(grey))) as opened:
        assert opened.mode == "L"
        np.testing.assert_array_equal(np.asarray(opened), grey[..., 0])
