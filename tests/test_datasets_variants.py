"""disentanglement_lib's colour, noisy and scream dSprites, and XYSquares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from disentangle_bench.data.dsprites import ProceduralDSprites
from disentangle_bench.data.dsprites_variants import (
    ColorDSprites,
    NoisyDSprites,
    ScreamDSprites,
    _thumbnail_size,
    load_scream,
)
from disentangle_bench.data.xysquares import XYSquares
from disentangle_bench.util.errors import DataError
from disentangle_bench.util.images import encode_png


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISENTANGLE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DISENTANGLEMENT_LIB_DATA", raising=False)


@pytest.fixture(scope="module")
def sprites() -> ProceduralDSprites:
    return ProceduralDSprites(cache=False)


def factors_and_sprites(sprites: ProceduralDSprites, n: int = 20):
    factors = sprites.sample_factors(n, np.random.RandomState(4))
    binary = sprites.render_factors(factors).astype(np.float64)
    return factors, np.repeat(binary, 3, axis=3)


def test_color_dsprites_follows_disentanglement_lib(sprites):
    data = ColorDSprites(cache=False)
    assert data.observation_shape == (64, 64, 3)
    assert data.factors_num_values == sprites.factors_num_values
    factors, rgb = factors_and_sprites(sprites)
    observations = data.sample_observations_from_factors(factors, np.random.RandomState(7))
    reference = np.random.RandomState(7)
    colour = reference.uniform(0.5, 1, [len(factors), 1, 1, 3])
    assert observations.dtype == np.float32
    np.testing.assert_allclose(observations, rgb * colour, rtol=1e-6)
    # One colour per image, in [0.5, 1] on the sprite, 0 elsewhere.
    sprite = rgb[..., 0] == 1
    assert observations[~sprite].max() == 0
    assert observations[sprite].min() >= 0.5


def test_noisy_dsprites_follows_disentanglement_lib(sprites):
    data = NoisyDSprites(cache=False)
    factors, rgb = factors_and_sprites(sprites)
    observations = data.sample_observations_from_factors(factors, np.random.RandomState(3))
    noise = np.random.RandomState(3).uniform(0, 1, [len(factors), 64, 64, 3])
    np.testing.assert_allclose(observations, np.minimum(rgb + noise, 1.0), rtol=1e-6)
    assert np.all(observations[rgb == 1] == 1.0)


def test_variants_record_their_process_in_the_fingerprint():
    base = ProceduralDSprites(cache=False)
    base._fingerprint = "0" * 64  # skip hashing 737,280 images
    color = ColorDSprites(cache=False)
    color.base = base
    noisy = NoisyDSprites(cache=False)
    noisy.base = base
    assert color.fingerprint != noisy.fingerprint != base.fingerprint
    assert ColorDSprites.stochastic


def scream_file(tmp_path: Path, kind: str) -> Path:
    rows, cols = np.mgrid[0:400, 0:320]
    image = np.stack([rows % 256, cols % 256, (rows + cols) % 256], axis=-1).astype(np.uint8)
    if kind == "npy":
        path = tmp_path / "scream.npy"
        np.save(path, image)
    else:
        path = tmp_path / "scream.png"
        path.write_bytes(encode_png(image))
    return path


@pytest.mark.parametrize("kind", ["npy", "png"])
def test_scream_dsprites_follows_disentanglement_lib(tmp_path, sprites, kind):
    path = scream_file(tmp_path, kind)
    data = ScreamDSprites(path=str(path), cache=False)
    # 320 x 400 (w x h) shrinks to fit 350 x 274, keeping the aspect ratio.
    assert data.scream.shape == (274, 219, 3)
    factors, rgb = factors_and_sprites(sprites, 6)
    observations = data.sample_observations_from_factors(factors, np.random.RandomState(5))
    reference = np.random.RandomState(5)
    for i in range(len(factors)):
        row = reference.randint(0, data.scream.shape[0] - 64)
        col = reference.randint(0, data.scream.shape[1] - 64)
        shift = reference.uniform(0, 1, size=3)
        background = (data.scream[row : row + 64, col : col + 64] + shift) / 2.0
        mask = rgb[i, :, :, 0] == 1
        background[mask] = 1.0 - background[mask]
        np.testing.assert_allclose(observations[i], background, rtol=1e-6, atol=1e-7)
    assert (
        data.parameters()["scream_sha256"]
        == ScreamDSprites(str(path)).parameters()["scream_sha256"]
    )


def test_scream_needs_an_image(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=r"scream_dsprites\.path"):
        ScreamDSprites()
    with pytest.raises(DataError, match="not found"):
        ScreamDSprites(path=str(tmp_path / "missing.jpg"))
    jpeg = tmp_path / "scream.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=str(jpeg)):
        ScreamDSprites(path=str(jpeg))
    (tmp_path / "scream").mkdir()
    (tmp_path / "scream" / "scream.jpg").write_bytes(b"")
    monkeypatch.setenv("DISENTANGLEMENT_LIB_DATA", str(tmp_path))
    with pytest.raises(DataError, match="scream.jpg"):
        ScreamDSprites()  # found through the data root, then refused as unreadable


def test_thumbnail_size_and_small_images(tmp_path):
    assert _thumbnail_size(1280, 1600, (350, 274)) == (219, 274)
    assert _thumbnail_size(200, 100, (350, 274)) == (200, 100)  # never enlarged
    small = tmp_path / "small.npy"
    np.save(small, np.zeros((60, 60, 3), np.uint8))
    with pytest.raises(DataError, match="larger than 64"):
        load_scream(small)


# -- XYSquares ---------------------------------------------------------------------------------


def test_xysquares_grid_and_images():
    data = XYSquares()
    assert data.factor_names == ("x_R", "y_R", "x_G", "y_G", "x_B", "y_B")
    assert data.factors_num_values == (8,) * 6
    assert data.num_configurations == 262_144
    assert data.observation_shape == (64, 64, 3)
    images = data.render_factors(np.array([[0, 0, 7, 7, 3, 4]]))[0]
    assert set(np.unique(images)) == {0, 1}
    # Each square: 64 pixels of its own channel only, at 8 * index with spacing 8.
    assert images.sum(axis=(0, 1)).tolist() == [64, 64, 64]
    assert images[0:8, 0:8, 0].all() and images[56:64, 56:64, 1].all()
    assert images[32:40, 24:32, 2].all()


def test_xysquares_traversals_move_only_their_square():
    for spacing in (8, 4, 1):
        data = XYSquares(spacing=spacing)
        base = np.array([2, 5, 1, 1, 6, 3])
        for factor in range(6):
            factors = np.repeat(base[None], 8, axis=0)
            factors[:, factor] = np.arange(8)
            images = data.render_factors(factors).astype(int)
            channel = factor // 2
            others = [c for c in range(3) if c != channel]
            assert np.all(images[..., others] == images[:1, ..., others])
            moved = images[..., channel]
            # The square's top-left corner moves by `spacing` pixels per step along its axis.
            corners = [np.argwhere(m)[0] for m in moved]
            steps = np.diff(np.array(corners), axis=0)
            axis = 1 if factor % 2 == 0 else 0  # x moves columns, y moves rows
            assert np.all(steps[:, axis] == spacing) and np.all(steps[:, 1 - axis] == 0)
        # Neighbouring positions overlap exactly when the spacing is below the square size.
        pair = data.render_factors(np.array([[0] * 6, [1] + [0] * 5]))
        overlap = np.sum(pair[0, ..., 0] & pair[1, ..., 0])
        assert overlap == 8 * max(0, 8 - spacing)
        assert data.value_grid[0][0] == (64 - (7 * spacing + 8)) // 2


def test_xysquares_rejects_bad_spacing():
    for spacing in (0, 9, 2.5):
        with pytest.raises(ValueError, match="spacing"):
            XYSquares(spacing=spacing)


def test_xysquares_cache_key_depends_on_spacing():
    assert XYSquares(spacing=8).cache_key() != XYSquares(spacing=4).cache_key()
    assert XYSquares(spacing=8).cache_key() == XYSquares().cache_key()
