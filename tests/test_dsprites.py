"""Tests for the procedurally rendered dSprites datasets."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from disentangle_bench.data import dsprites
from disentangle_bench.data.dsprites import (
    ProceduralDSprites,
    ProceduralDSpritesSmall,
    render_dsprites,
)
from disentangle_bench.data.ground_truth import content_fingerprint, factor_bases

NAMES = ("shape", "scale", "orientation", "position_x", "position_y")
SQUARE, ELLIPSE, HEART = 0, 1, 2


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISENTANGLE_BENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def full() -> ProceduralDSprites:
    return ProceduralDSprites(cache=False)  # rendered on demand: no 737,280-image build here


@pytest.fixture(scope="module")
def small() -> ProceduralDSpritesSmall:
    return ProceduralDSpritesSmall()


@pytest.fixture(scope="module")
def small_images(small: ProceduralDSpritesSmall) -> np.ndarray:
    """All 2,304 small-variant images, uint8 (N, 64, 64, 1), in canonical order."""
    return np.concatenate(list(small.iter_images(chunk_size=1000)))


def render_one(shape: int, scale: float, orientation: float, x: float, y: float) -> np.ndarray:
    return render_dsprites(
        np.array([shape]), np.array([scale]), np.array([orientation]), np.array([x]), np.array([y])
    )[0]


def extents(image: np.ndarray) -> tuple[int, int]:
    """(width in columns, height in rows) of the foreground's bounding box."""
    rows, cols = np.nonzero(image)
    return int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)


def centre_of_mass(images: np.ndarray) -> np.ndarray:
    """(row, column) centre of mass of each binary image (N, 64, 64) -> (N, 2)."""
    grid = np.arange(64, dtype=np.float64)
    mass = images.sum(axis=(1, 2)).astype(np.float64)
    rows = (images.sum(axis=2) * grid).sum(axis=1) / mass
    cols = (images.sum(axis=1) * grid).sum(axis=1) / mass
    return np.stack([rows, cols], axis=1)


def test_names_sizes_and_grid(full: ProceduralDSprites, small: ProceduralDSpritesSmall) -> None:
    assert ProceduralDSprites.name == "dsprites"
    assert ProceduralDSpritesSmall.name == "dsprites_small"
    assert full.factor_names == NAMES == small.factor_names
    assert full.factors_num_values == (3, 6, 40, 32, 32)
    assert small.factors_num_values == (3, 3, 4, 8, 8)
    assert full.num_factors == 5
    assert full.num_configurations == 737_280
    assert small.num_configurations == 2_304
    assert full.observation_shape == (64, 64, 1) == small.observation_shape
    np.testing.assert_array_equal(full.grid[1], np.linspace(0.5, 1.0, 6))
    np.testing.assert_array_equal(full.grid[2], np.linspace(0, 2 * np.pi, 40, endpoint=False))
    np.testing.assert_array_equal(full.grid[3], np.linspace(0, 1, 32))
    np.testing.assert_array_equal(small.grid[2], [0, np.pi / 8, np.pi / 4, 3 * np.pi / 8])
    np.testing.assert_array_equal(small.grid[4], np.linspace(0, 1, 8))


def test_index_layout_matches_deepmind_file(full: ProceduralDSprites) -> None:
    # latents_sizes [1, 3, 6, 40, 32, 32] without the colour factor; last factor fastest.
    np.testing.assert_array_equal(
        factor_bases(full.factors_num_values), [245760, 40960, 1024, 32, 1]
    )
    np.testing.assert_array_equal(
        full.factors_of(np.array([1, 32, 737_279])),
        [[0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [2, 5, 39, 31, 31]],
    )


def test_factor_values(full: ProceduralDSprites, small: ProceduralDSpritesSmall) -> None:
    values = full.factor_values(np.array([[2, 5, 10, 31, 0], [0, 0, 0, 0, 31]]))
    assert values.dtype == np.float64
    np.testing.assert_allclose(values, [[2, 1.0, np.pi / 2, 1.0, 0.0], [0, 0.5, 0.0, 0.0, 1.0]])
    np.testing.assert_allclose(
        small.factor_values(np.array([[1, 1, 3, 7, 1]])), [[1, 0.75, 3 * np.pi / 8, 1.0, 1 / 7]]
    )
    with pytest.raises(ValueError):
        full.factor_values(np.array([[3, 0, 0, 0, 0]]))
    with pytest.raises(ValueError):
        small.factor_values(np.array([[0, 0, 0, 8, 0]]))
    with pytest.raises(ValueError):
        full.factor_values(np.array([[0, 0, 0, 0]]))
    with pytest.raises(ValueError):
        full.factor_values(np.array([[0, 0, 0.5, 0, 0]]))
    assert full.factor_values(np.zeros((0, 5), dtype=np.int64)).shape == (0, 5)


def test_observations_dtype_shape_and_values(full: ProceduralDSprites) -> None:
    random_state = np.random.RandomState(3)
    factors = full.sample_factors(50, random_state)
    state_before = random_state.get_state()[1].copy()
    images = full.sample_observations_from_factors(factors, random_state)
    np.testing.assert_array_equal(random_state.get_state()[1], state_before)  # not consumed
    assert images.dtype == np.float32
    assert images.shape == (50, 64, 64, 1)
    assert set(np.unique(images)) == {0.0, 1.0}
    # every image shows a whole sprite (the smallest, a 10 x 6 pixel ellipse, has about 40)
    assert np.all(images.sum(axis=(1, 2, 3)) >= 30)


def test_matches_rendering_by_hand(
    full: ProceduralDSprites, small: ProceduralDSpritesSmall
) -> None:
    for data in (full, small):
        factors = data.sample_factors(40, np.random.RandomState(5))
        values = data.factor_values(factors)
        by_hand = render_dsprites(
            values[:, 0].astype(int), values[:, 1], values[:, 2], values[:, 3], values[:, 4]
        )
        observations = data.sample_observations_from_factors(factors, np.random.RandomState(0))
        np.testing.assert_array_equal(observations, by_hand[..., None].astype(np.float32))


def test_render_is_deterministic_and_chunk_independent() -> None:
    rs = np.random.RandomState(7)
    n = 300
    args = (
        rs.randint(0, 3, n),
        rs.uniform(0.5, 1, n),
        rs.uniform(0, 2 * np.pi, n),
        rs.uniform(0, 1, n),
        rs.uniform(0, 1, n),
    )
    first = render_dsprites(*args)
    assert first.dtype == np.uint8 and first.shape == (n, 64, 64)
    assert set(np.unique(first)) == {0, 1}
    assert render_dsprites(*args).tobytes() == first.tobytes()
    assert render_dsprites(*args, chunk_size=7).tobytes() == first.tobytes()
    assert render_dsprites(*(a[:0] for a in args)).shape == (0, 64, 64)


def test_window_and_full_frame_rendering_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    # Off-grid values too: large sprites and positions beyond [0, 1] take the full-frame path.
    rs = np.random.RandomState(11)
    n = 600
    args = (
        rs.randint(0, 3, n),
        rs.uniform(0.3, 2.0, n),
        rs.uniform(-7, 7, n),
        rs.uniform(-0.5, 1.5, n),
        rs.uniform(-0.5, 1.5, n),
    )
    windowed = render_dsprites(*args)
    original = dsprites._window_origins

    def never_fits(*a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, cols, fits = original(*a)
        return rows, cols, np.zeros_like(fits)

    monkeypatch.setattr(dsprites, "_window_origins", never_fits)
    np.testing.assert_array_equal(render_dsprites(*args), windowed)


def test_render_rejects_bad_input() -> None:
    one = np.array([0.5])
    with pytest.raises(ValueError):
        render_dsprites(np.array([3]), one, one, one, one)
    with pytest.raises(ValueError):
        render_dsprites(np.array([0.5]), one, one, one, one)
    with pytest.raises(ValueError):
        render_dsprites(np.array([0, 1]), one, one, one, one)
    with pytest.raises(ValueError):
        render_dsprites(np.array([0]), np.array([0.0]), one, one, one)
    with pytest.raises(ValueError):
        render_dsprites(np.array([0]), one, one, np.array([np.nan]), one)


def test_fingerprint(small: ProceduralDSpritesSmall, small_images: np.ndarray) -> None:
    fingerprint = small.fingerprint
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert ProceduralDSpritesSmall().fingerprint == fingerprint
    # Chunked hashing gives exactly content_fingerprint over all images at once.
    assert fingerprint == content_fingerprint(small_images, small.factors_num_values)

    class Shifted(ProceduralDSpritesSmall):
        grid = (
            *ProceduralDSpritesSmall.grid[:3],
            np.linspace(0, 0.9, 8),
            ProceduralDSpritesSmall.grid[4],
        )

    assert Shifted().fingerprint != fingerprint


def test_construction_renders_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("rendered at construction")

    monkeypatch.setattr(dsprites, "render_dsprites", fail)
    data = ProceduralDSprites()
    assert data.num_configurations == 737_280
    assert data.cache and data.uses_disk  # the full grid goes to the on-disk cache at first use


def test_cached_and_on_demand_observations_agree(small: ProceduralDSpritesSmall) -> None:
    cached = ProceduralDSpritesSmall(cache=True)
    factors = small.sample_factors(500, np.random.RandomState(2))
    np.testing.assert_array_equal(
        cached.sample_observations_from_factors(factors, np.random.RandomState(0)),
        ProceduralDSpritesSmall(cache=False).sample_observations_from_factors(
            factors, np.random.RandomState(0)
        ),
    )
    assert cached.storage_info()["kind"] == "in memory"
    # Once materialised, batches come from memory: rendering is never called again.
    assert cached.fingerprint == ProceduralDSpritesSmall(cache=False).fingerprint


def test_value_grid_is_the_factor_grid(full: ProceduralDSprites) -> None:
    assert full.value_grid is full.grid
    factors = np.array([[1, 2, 3, 4, 5]])
    np.testing.assert_array_equal(
        full.factor_values(factors)[0],
        [full.grid[i][factors[0, i]] for i in range(5)],
    )


def test_traversal_changes_only_the_expected_pixels(full: ProceduralDSprites) -> None:
    base = np.array([0, 3, 0, 10, 20])
    for factor, size in enumerate(full.factors_num_values):
        factors = np.repeat(base[None], size, axis=0)
        factors[:, factor] = np.arange(size)
        images = full.render_factors(factors)[..., 0].astype(int)
        flat = images.reshape(size, -1)
        # Each step changes the image (except the symmetric square orientations).
        changed = np.any(np.diff(flat, axis=0) != 0, axis=1)
        if factor == 2:  # orientation of a square repeats every 90 degrees (10 steps)
            assert changed.sum() >= size - 1 - 3
        else:
            assert changed.all(), factor
        com = centre_of_mass(images)
        if factor == 3:  # position x moves the centre of mass along columns only
            np.testing.assert_allclose(np.diff(com[:, 1]), 1.0, atol=1e-9)
            np.testing.assert_allclose(np.diff(com[:, 0]), 0.0, atol=1e-9)
        elif factor == 4:  # position y along rows only
            np.testing.assert_allclose(np.diff(com[:, 0]), 1.0, atol=1e-9)
            np.testing.assert_allclose(np.diff(com[:, 1]), 0.0, atol=1e-9)
        else:  # shape, scale and orientation keep the sprite where it is (the heart's
            # centre of mass sits 1.4 px above its bounding-box centre)
            assert np.abs(com - com[0]).max() < 1.5, factor


def test_small_images_are_all_distinct(small_images: np.ndarray) -> None:
    flat = small_images.reshape(len(small_images), -1)
    assert len(np.unique(flat, axis=0)) == 2_304
    assert small_images.max() == 1 and small_images.min() == 0


def test_position_moves_centre_of_mass(full: ProceduralDSprites) -> None:
    steps = np.arange(32)
    for shape in range(3):
        for orientation in (0, 7):
            base = np.zeros((32, 5), dtype=np.int64)
            base[:, :3] = (shape, 5, orientation)
            along_x = base.copy()
            along_x[:, 3], along_x[:, 4] = steps, 12
            along_y = base.copy()
            along_y[:, 3], along_y[:, 4] = 20, steps
            com_x = centre_of_mass(full.render_factors(along_x)[..., 0])
            com_y = centre_of_mass(full.render_factors(along_y)[..., 0])
            # One grid step is one pixel: x moves columns only, y moves rows only (downwards).
            np.testing.assert_allclose(np.diff(com_x[:, 1]), 1.0, atol=1e-9)
            np.testing.assert_allclose(np.diff(com_x[:, 0]), 0.0, atol=1e-9)
            np.testing.assert_allclose(np.diff(com_y[:, 0]), 1.0, atol=1e-9)
            np.testing.assert_allclose(np.diff(com_y[:, 1]), 0.0, atol=1e-9)


def test_larger_scale_gives_more_pixels(full: ProceduralDSprites) -> None:
    for shape in range(3):
        for orientation in (0, 5):
            factors = np.array([[shape, s, orientation, 15, 15] for s in range(6)])
            counts = full.render_factors(factors).sum(axis=(1, 2, 3))
            assert np.all(np.diff(counts) > 0), (shape, counts)


def test_sprite_sizes_at_scale_one() -> None:
    x = 15 / 31  # a full-grid position: the sprite centre is a pixel corner
    square = render_one(SQUARE, 1.0, 0.0, x, x)
    assert extents(square) == (20, 20) and square.sum() == 400
    assert extents(render_one(ELLIPSE, 1.0, 0.0, x, x)) == (20, 10)
    assert extents(render_one(HEART, 1.0, 0.0, x, x)) == (20, 19)
    assert extents(render_one(SQUARE, 0.5, 0.0, x, x)) == (10, 10)


def test_ellipse_is_asymmetric_and_rotation_swaps_extents(full: ProceduralDSprites) -> None:
    for scale in range(6):
        # orientation index 10 is pi / 2
        images = full.render_factors(
            np.array([[ELLIPSE, scale, 0, 9, 22], [ELLIPSE, scale, 10, 9, 22]])
        )[..., 0]
        width, height = extents(images[0])
        assert width > height
        assert extents(images[1]) == (height, width)
        assert 1.6 <= width / height <= 2.0  # 2:1 up to pixel rounding (10 x 6 at scale 0.5)


def test_heart_points_down_at_orientation_zero() -> None:
    x = 15 / 31
    heart = render_one(HEART, 1.0, 0.0, x, x)
    widths = heart.sum(axis=1)
    rows = np.flatnonzero(widths)
    # The point is at the bottom (narrow last row), the two lobes at the top (a notch between).
    assert widths[rows[-1]] < widths[rows[0]]
    top = heart[rows[0]]
    cols = np.flatnonzero(top)
    assert np.any(top[cols[0] : cols[-1] + 1] == 0)
    # Orientation turns counter-clockwise on screen: at pi / 2 the point is on the right.
    turned = render_one(HEART, 1.0, np.pi / 2, x, x)
    heights = turned.sum(axis=0)
    cols = np.flatnonzero(heights)
    assert heights[cols[-1]] < heights[cols[0]]
    # Rotating by pi puts the point at the top.
    flipped = render_one(HEART, 1.0, np.pi, x, x)
    flipped_widths = flipped.sum(axis=1)
    flipped_rows = np.flatnonzero(flipped_widths)
    assert flipped_widths[flipped_rows[0]] < flipped_widths[flipped_rows[-1]]


def test_symmetric_orientations_give_identical_images(full: ProceduralDSprites) -> None:
    # As in the original: squares repeat every 90 degrees (10 steps), ellipses every 180 (20).
    for shape, period in ((SQUARE, 10), (ELLIPSE, 20)):
        factors = np.array([[shape, s, o, 4, 27] for s in range(6) for o in range(40 - period)])
        turned = factors.copy()
        turned[:, 2] += period
        np.testing.assert_array_equal(full.render_factors(factors), full.render_factors(turned))
    hearts = full.render_factors(np.array([[HEART, 5, o, 4, 27] for o in range(40)]))
    assert len(np.unique(hearts.reshape(40, -1), axis=0)) == 40


def test_sprite_stays_inside_frame(full: ProceduralDSprites) -> None:
    corners = [(0, 0), (0, 31), (31, 0), (31, 31)]
    factors = np.array(
        [
            [shape, scale, orientation, x, y]
            for shape in range(3)
            for scale in (5,)
            for orientation in range(40)
            for x, y in corners
        ]
    )
    images = full.render_factors(factors)[..., 0]
    border = np.zeros((64, 64), dtype=bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    assert not np.any(images[:, border])
    # The same sprite away from the edges has exactly as many pixels: nothing was cut off.
    centred = factors.copy()
    centred[:, 3:] = 15
    np.testing.assert_array_equal(
        images.sum(axis=(1, 2)), full.render_factors(centred).sum(axis=(1, 2, 3))
    )


def test_sample_is_reproducible(full: ProceduralDSprites, small: ProceduralDSpritesSmall) -> None:
    for data in (full, small):
        factors, images = data.sample(64, np.random.RandomState(0))
        again_factors, again_images = data.sample(64, np.random.RandomState(0))
        np.testing.assert_array_equal(factors, again_factors)
        np.testing.assert_array_equal(images, again_images)
        assert factors.dtype == np.int64 and factors.shape == (64, 5)
        assert np.all(factors >= 0)
        assert np.all(factors < np.array(data.factors_num_values))
        assert images.shape == (64, 64, 64, 1) and images.dtype == np.float32
    # The same draws as disentanglement_lib: one randint per factor, in factor order.
    rs = np.random.RandomState(0)
    expected = np.stack([rs.randint(n, size=64) for n in full.factors_num_values], axis=1)
    np.testing.assert_array_equal(full.sample(64, np.random.RandomState(0))[0], expected)


def test_sprites_are_centred_on_their_position() -> None:
    x = 15 / 31  # sprite centre at pixel coordinate 16 + 15 = 31
    for shape in range(3):
        rows, cols = np.nonzero(render_one(shape, 1.0, 0.0, x, x))
        # bounding box in continuous pixel coordinates: [min, max + 1)
        assert abs((rows.min() + rows.max() + 1) / 2 - 31) <= 0.5
        assert abs((cols.min() + cols.max() + 1) / 2 - 31) <= 0.5


@pytest.mark.slow
def test_full_grid_is_built_once_then_loaded_from_the_cache(monkeypatch: pytest.MonkeyPatch):
    """The 737,280-image build (about 10 s here) and a second, render-free load."""
    built = ProceduralDSprites()
    store = built.materialise()
    assert store.shape == (737_280, 64, 64, 1)
    assert built.storage_info()["built"] and built.storage_info()["bytes"] == 737_280 * 512
    factors = built.sample_factors(2000, np.random.RandomState(9))
    on_demand = ProceduralDSprites(cache=False).render_factors(factors)
    np.testing.assert_array_equal(built.images_of(factors), on_demand)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("rendered although the cache holds every image")

    monkeypatch.setattr(dsprites, "render_dsprites", fail)
    loaded = ProceduralDSprites()
    np.testing.assert_array_equal(loaded.images_of(factors), on_demand)
    assert loaded.fingerprint == built.fingerprint
    assert re.fullmatch(r"[0-9a-f]{64}", loaded.fingerprint)
