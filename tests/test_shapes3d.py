"""Procedural Shapes3D: grid, index layout, determinism, and where each factor changes pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from disentangle_bench.data.ground_truth import content_fingerprint, factor_bases
from disentangle_bench.data.shapes3d import (
    HUES,
    ORIENTATIONS,
    SCALES,
    GeometryCache,
    ProceduralShapes3D,
    ProceduralShapes3DSmall,
    hue_to_rgb,
)
from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import ConfigError

FLOOR, WALL, OBJECT = 0, 1, 2


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("DISENTANGLE_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    monkeypatch.undo()


@pytest.fixture(scope="module")
def full() -> ProceduralShapes3D:
    return ProceduralShapes3D()


@pytest.fixture(scope="module")
def small() -> ProceduralShapes3DSmall:
    return ProceduralShapes3DSmall(cache=False)


def traverse(data, base, factor):
    factors = np.repeat(np.asarray(base)[None], data.factors_num_values[factor], axis=0)
    factors[:, factor] = np.arange(data.factors_num_values[factor])
    return factors


def test_grid_and_index_layout(full):
    assert full.factor_names == (
        "floor_hue",
        "wall_hue",
        "object_hue",
        "scale",
        "shape",
        "orientation",
    )
    assert full.factors_num_values == (10, 10, 10, 8, 4, 15)
    assert full.num_configurations == 480_000
    assert full.observation_shape == (64, 64, 3)
    np.testing.assert_allclose(full.value_grid[0], np.arange(10) / 10)
    np.testing.assert_allclose(full.value_grid[3], np.linspace(0.75, 1.25, 8))
    np.testing.assert_array_equal(full.value_grid[4], [0, 1, 2, 3])
    np.testing.assert_allclose(full.value_grid[5], np.linspace(-30, 30, 15))
    # 3dshapes' order: orientation fastest, floor hue slowest.
    np.testing.assert_array_equal(
        factor_bases(full.factors_num_values), [48000, 4800, 480, 60, 15, 1]
    )
    index = np.array([0, 1, 15, 479_999])
    np.testing.assert_array_equal(full.index_of(full.factors_of(index)), index)


def test_observations_are_float32_images(full):
    factors, observations = full.sample(16, np.random.RandomState(0))
    assert observations.dtype == np.float32 and observations.shape == (16, 64, 64, 3)
    assert observations.min() >= 0.0 and observations.max() <= 1.0
    assert len(np.unique(observations.reshape(16, -1), axis=0)) == 16


def test_rendering_is_deterministic_and_batch_independent(full):
    factors = full.sample_factors(300, np.random.RandomState(1))
    factors[:, 3] = factors[:, 3] % 2 * 7  # scales 0 and 7: fewer geometries to ray-cast
    images = full.render_factors(factors)
    assert images.dtype == np.uint8
    again = ProceduralShapes3D().render_factors(factors[::-1])[::-1]
    np.testing.assert_array_equal(images, again)
    one_by_one = np.concatenate(
        [full.render_factors(factors[i : i + 1]) for i in range(0, 300, 37)]
    )
    np.testing.assert_array_equal(one_by_one, images[::37])
    odd_chunks = full.render_tensor(factors, chunk_size=7).numpy()
    np.testing.assert_array_equal(odd_chunks, images)


def test_small_grid_is_a_subgrid_of_the_full_one(full, small):
    assert small.factors_num_values == (3, 3, 4, 4, 4, 5)
    assert small.num_configurations == 2_880
    factors = small.sample_factors(100, np.random.RandomState(2))
    full_factors = np.stack([np.asarray(small.indices[i])[factors[:, i]] for i in range(6)], axis=1)
    np.testing.assert_array_equal(small.render_factors(factors), full.render_factors(full_factors))
    np.testing.assert_allclose(small.factor_values(factors), full.factor_values(full_factors))


def test_small_fingerprint_is_the_content_fingerprint(small):
    images = np.concatenate(list(small.iter_images(1000)))
    assert small.fingerprint == content_fingerprint(images, small.factors_num_values)
    assert ProceduralShapes3DSmall(cache=True).fingerprint == small.fingerprint
    assert len(np.unique(images.reshape(len(images), -1), axis=0)) == len(images)


@pytest.mark.parametrize(
    ("factor", "surface"), [(0, FLOOR), (1, WALL), (2, OBJECT)], ids=["floor", "wall", "object"]
)
def test_each_hue_changes_only_its_surface(full, factor, surface):
    for base in ([3, 6, 1, 4, 0, 7], [8, 2, 5, 7, 3, 0], [0, 9, 9, 0, 2, 14]):
        factors = traverse(full, base, factor)
        images = full.render_factors(factors).astype(int)
        weights = full.geometry_weights(factors[:1])[0]
        changed = np.any(images != images[:1], axis=(0, 3))
        covered = weights[surface] > 0
        assert not np.any(changed & ~covered)  # nothing outside the surface changes
        # ... and the (unshadowed, fully covered) surface changes everywhere.
        assert changed[weights[surface] > 0.5].all()
        assert changed.sum() > 50


def test_hues_are_the_documented_colours():
    rgb = hue_to_rgb(np.array([0.0, 1 / 3, 2 / 3, 0.5]))
    np.testing.assert_allclose(rgb, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1]], atol=1e-12)
    colours = np.round(hue_to_rgb(HUES) * 255)
    assert len(np.unique(colours, axis=0)) == 10


def test_scale_grows_the_object_and_keeps_it_on_the_floor(full):
    for shape in range(4):
        factors = traverse(full, [1, 4, 0, 0, shape, 7], 3)
        weights = full.geometry_weights(factors)
        area = (weights[:, OBJECT] > 0).sum(axis=(1, 2))
        assert np.all(np.diff(area) > 0), (shape, area)
        bottoms = [np.nonzero(w[OBJECT].sum(axis=1))[0].max() for w in weights]
        # Growing from the floor: the bottom edge barely moves while the top rises.
        assert max(bottoms) - min(bottoms) <= 4


def test_shapes_differ_and_leave_the_room_alone(full):
    factors = traverse(full, [2, 5, 0, 6, 0, 7], 4)
    weights = full.geometry_weights(factors)
    masks = weights[:, OBJECT] > 0.5
    for a in range(4):
        for b in range(a + 1, 4):
            assert np.sum(masks[a] ^ masks[b]) > 10, (a, b)
    # Away from the object, only its shadow (cast to the right: the light is on the left)
    # changes the floor and walls.
    objects = weights[:, OBJECT].sum(axis=0) > 0
    room_changed = np.any(weights[:, :2] != weights[:1, :2], axis=(0, 1)) & ~objects
    columns = np.nonzero(objects.any(axis=0))[0]
    assert 0 < room_changed.sum() < 0.03 * 64 * 64
    assert np.nonzero(room_changed)[1].min() > (columns.min() + columns.max()) / 2


def test_orientation_turns_the_room_around_a_centred_object(full):
    factors = traverse(full, [2, 5, 0, 4, 2, 0], 5)  # a sphere: the same from every side
    weights = full.geometry_weights(factors)
    walls = weights[:, WALL] > 0
    assert len({w.tobytes() for w in walls}) == 15  # the walls move with the camera
    sphere = weights[:, OBJECT] > 0  # coverage (shading differs: the light stays put)
    columns = [np.nonzero(m.any(axis=0))[0] for m in sphere]
    centres = [(c.min() + c.max()) / 2 for c in columns]
    assert max(centres) - min(centres) <= 0.5  # the camera always looks at the object
    # The room is mirror-symmetric: azimuth -30 sees the mirror image of +30 (coverage).
    mirrored = walls[14][:, ::-1]
    assert np.mean(walls[0] != mirrored) < 0.01


def face_shades(weights: np.ndarray) -> int:
    """Shades that each fill at least 5% of an object's pixels: its flat, lit faces."""
    _, counts = np.unique(np.round(weights[weights > 0], 3), return_counts=True)
    return int(np.sum(counts >= 0.05 * counts.sum()))


def test_cube_faces_turn_with_the_camera(full):
    factors = traverse(full, [2, 5, 0, 7, 0, 0], 5)
    weights = full.geometry_weights(factors)[:, OBJECT]
    # Flat faces: head-on the camera sees the front and the top; turned, a side face too.
    assert face_shades(weights[7]) == 2
    assert face_shades(weights[0]) == 3 and face_shades(weights[14]) == 3


def test_device_is_checked():
    with pytest.raises(ValueError, match="device"):
        ProceduralShapes3D(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            ProceduralShapes3D(device="cuda")
        registry = Registry()
        import gin

        gin.parse_config("shapes3d.device = 'cuda'")
        with pytest.raises(ConfigError, match="CUDA"):
            registry.build("datasets", "shapes3d")


def test_geometry_is_recorded_in_the_cache(tmp_path):
    path = tmp_path / "geometry.npy"
    geometry = GeometryCache(SCALES[:1], ORIENTATIONS[:2], path)
    geometry.ensure(np.arange(4))
    assert not path.exists()  # only once every geometry is known
    geometry.ensure(np.arange(8))
    assert path.is_file()
    reloaded = GeometryCache(SCALES[:1], ORIENTATIONS[:2], path)
    assert bool(reloaded.ready.all())
    torch.testing.assert_close(reloaded.weights, geometry.weights, rtol=0, atol=0)
    assert float(geometry.weights.max()) <= 4096 and float(geometry.weights.min()) >= 0
    # Every pixel is covered: floor + walls + object coverage adds up to the whole pixel.
    assert Path(path).stat().st_size < 8 * 64 * 64 * 3 * 2 + 1024
