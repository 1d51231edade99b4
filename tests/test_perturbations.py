"""Structural perturbations: bounded, factor-preserving, deterministic, and recorded."""

from __future__ import annotations

import gin
import numpy as np
import pytest

from disentangle_bench.data.dsprites import ProceduralDSpritesSmall
from disentangle_bench.data.ground_truth import ArrayGroundTruthData
from disentangle_bench.data.linear import LinearData
from disentangle_bench.diagnostics.probe import all_observations, linear_probe_r2
from disentangle_bench.perturbations import (
    ExternalPerturbation,
    LinearMix,
    MatchedNoise,
    ObliqueStripes,
)
from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def sprites():
    base = ProceduralDSpritesSmall()
    factors, clean = all_observations(base)
    return base, factors, clean


@pytest.mark.parametrize("eps", [0.1, 0.175])
def test_oblique_is_bounded_inward_and_keeps_every_factor(sprites, eps):
    base, factors, clean = sprites
    perturbed = ObliqueStripes(eps=eps).apply(base)
    assert perturbed.factors_num_values == base.factors_num_values
    assert perturbed.factor_names == base.factor_names
    changed = perturbed.sample_observations_from_factors(factors, np.random.RandomState(0))
    change = changed - clean
    assert np.abs(change).max() <= eps + 1e-6
    # Every change is exactly +-eps and points inward (background up, sprite down): no clipping.
    moved = change != 0
    assert np.allclose(np.abs(change[moved]), eps)
    assert np.all(change[moved & (clean == 0)] > 0) and np.all(change[moved & (clean == 1)] < 0)
    assert 0.2 < moved.mean() < 0.8  # the pattern covers a substantial part of every image
    # Thresholding at 1/2 gives back the clean image: every factor is kept exactly ...
    assert np.array_equal(changed >= 0.5, clean >= 0.5)
    # ... and distinct configurations stay distinct images.
    flat = changed.reshape(len(changed), -1)
    assert len(np.unique(flat, axis=0)) == base.num_configurations


def test_oblique_is_deterministic_and_recorded_in_the_fingerprint(sprites):
    base, factors, _ = sprites
    a = ObliqueStripes(eps=0.1, seed=3).apply(base)
    b = ObliqueStripes(eps=0.1, seed=3).apply(base)
    first = a.sample_observations_from_factors(factors[:50], np.random.RandomState(0))
    assert np.array_equal(first, b.sample_observations_from_factors(factors[:50], None))
    assert a.fingerprint == b.fingerprint != base.fingerprint
    assert a.fingerprint != ObliqueStripes(eps=0.1, seed=4).apply(base).fingerprint
    assert (
        a.fingerprint != ObliqueStripes(eps=0.1, seed=3, switch_share=0.125).apply(base).fingerprint
    )


def test_oblique_phase_advances_by_the_designed_share_per_grid_step(sprites):
    base, _, _ = sprites
    perturbation = ObliqueStripes(eps=0.1, seed=0, switch_share=0.25)
    advance, _ = perturbation.layout(base)
    # Shape is categorical and orientation cyclic: neither is mixed by default.
    assert list(np.abs(advance)) == [0.0, 0.25, 0.0, 0.25, 0.25]
    start = np.array([[1, 1, 1, 3, 3]])
    for k, expected in enumerate(np.abs(advance)):
        step = np.eye(5, dtype=np.int64)[k]
        change = np.diff(perturbation.phase(base, np.vstack([start, start + step])))[0]
        assert abs(change) == pytest.approx(np.pi * expected)
    # Along the slow diagonal of two mixed factors the pattern does not change at all.
    slow = np.zeros(5, dtype=np.int64)
    slow[3], slow[4] = 1, -int(np.sign(advance[3]) * np.sign(advance[4]))
    same = perturbation.pattern(base, np.vstack([start, start + slow]))
    assert np.array_equal(same[0], same[1])


GRIDS = ["dsprites_small", "dsprites", "shapes3d_small", "blob", "xysquares"]


@pytest.mark.parametrize("name", GRIDS)
def test_switch_shares_are_the_designed_ones_on_every_registered_grid(name):
    from disentangle_bench.diagnostics import designed_switch_shares, switch_shares

    registry = Registry()
    build = {"dsprites": {"cache": False}}.get(name, {})
    base = registry.build("datasets", name, **build) if build else registry.build("datasets", name)
    twin = ObliqueStripes(eps=0.1, seed=0).apply(base)
    measured = switch_shares(twin, num=128, seed=1)
    designed = designed_switch_shares(twin)
    assert measured.keys() == designed.keys() and measured
    for move, share in designed.items():
        assert measured[move] == pytest.approx(share, abs=0.03), move
    # Every mixed factor switches a quarter of the blocks per step, on the small and full grid.
    mixed = [n for n, s in designed.items() if "+" not in n and "-" not in n and s > 0]
    assert mixed and all(designed[n] == 0.25 for n in mixed)


def test_switch_shares_of_the_full_shapes3d_grid():
    from disentangle_bench.diagnostics import designed_switch_shares, switch_shares

    base = Registry().build("datasets", "shapes3d")
    twin = ObliqueStripes(eps=0.1).apply(base)
    designed = designed_switch_shares(twin)
    assert designed["floor_hue"] == designed["orientation"] == 0.25
    assert designed["shape"] == 0.0  # categorical: not mixed
    measured = switch_shares(twin, num=32, seed=0)
    for move in ("floor_hue", "scale", "orientation", "shape"):
        assert measured[move] == pytest.approx(designed[move], abs=0.05), move


def test_a_cyclic_factor_is_mixed_only_where_its_grid_can_carry_the_share(sprites):
    base, _, _ = sprites  # orientation has 4 values on the small grid
    with pytest.raises(ConfigError, match=r"oblique.switch_share.*'orientation' has 4 values"):
        ObliqueStripes(factors=["orientation", "position_x"]).apply(base)
    full = Registry().build("datasets", "dsprites", cache=False)  # 40 orientations
    twin = ObliqueStripes(factors=["orientation", "position_x"]).apply(full)
    advance, _ = twin.perturbation.layout(full)
    assert np.abs(advance).tolist() == [0.0, 0.0, 0.25, 0.25, 0.0]
    # A full turn of orientation brings the phase back: the pattern wraps with the factor.
    start = np.array([[0, 0, 0, 5, 5]])
    turn = start + np.array([[0, 0, 40, 0, 0]])
    assert np.allclose(
        np.cos(twin.perturbation.phase(full, np.vstack([start, turn]))),
        np.cos(twin.perturbation.phase(full, start)[0]),
    )


@pytest.mark.parametrize(
    ("factors", "message"),
    [(["shape", "scale"], "'shape' is categorical"), (["colour"], r"\['colour'\] are not factors")],
)
def test_oblique_refuses_factors_it_cannot_mix(sprites, factors, message):
    base, _, _ = sprites
    with pytest.raises(ConfigError, match=message) as error:
        ObliqueStripes(factors=factors).apply(base)
    assert "\n" not in str(error.value) and "oblique.factors" in str(error.value)


@pytest.mark.parametrize("name", ["blob", "dsprites_small", "shapes3d_small"])
def test_matched_noise_matches_the_structural_twins_change_norm(name):
    from disentangle_bench.perturbations import NormMatchedNoise
    from disentangle_bench.perturbations.matching import mean_change_norm

    base = Registry().build("datasets", name)
    structural = ObliqueStripes(eps=0.1).apply(base)
    noise = NormMatchedNoise(eps=0.1, num=300).apply(base)
    # Measured on configurations other than those the amplitude was matched on.
    target = mean_change_norm(base, structural, num=300, seed=11)
    assert mean_change_norm(base, noise, num=300, seed=11) == pytest.approx(target, rel=0.02)
    assert noise.perturbation.parameters()["noise_eps"] > 0.1  # clipping eats part of the noise
    assert noise.fingerprint != MatchedNoise(eps=0.1).apply(base).fingerprint


def test_shuffled_control_reassigns_the_same_patterns(sprites):
    base, factors, _ = sprites
    structured = ObliqueStripes(eps=0.1, seed=1)
    shuffled = ObliqueStripes(eps=0.1, seed=1, shuffle=True)
    a = structured.pattern(base, factors).reshape(len(factors), -1)
    b = shuffled.pattern(base, factors).reshape(len(factors), -1)
    assert not np.array_equal(a, b)
    assert sorted(map(bytes, a.astype(np.uint8))) == sorted(map(bytes, b.astype(np.uint8)))
    with pytest.raises(ValueError, match="grid only"):
        shuffled.pattern(base, factors[:1] + 0.5)


def test_cosine_profile_is_smooth_in_the_phase_with_the_same_switch_shares():
    from disentangle_bench.data.blob import Blob
    from disentangle_bench.diagnostics import designed_switch_shares, switch_shares

    base = Blob()
    factors, _ = all_observations(base)
    square = ObliqueStripes(eps=0.175, seed=2)
    cosine = ObliqueStripes(eps=0.175, seed=2, profile="cosine")
    _, pixel_phase = cosine.layout(base)
    theta = cosine.phase(base, factors)
    # (1 + cos(theta + phi)) / 2 = 1/2 + cos(theta) cos(phi) / 2 - sin(theta) sin(phi) / 2
    span = np.stack([np.ones_like(pixel_phase), np.cos(pixel_phase), np.sin(pixel_phase)])
    coefficients = np.stack([np.full_like(theta, 0.5), np.cos(theta) / 2, -np.sin(theta) / 2], 1)
    expected = np.tensordot(coefficients, span, axes=1)
    np.testing.assert_allclose(cosine.pattern(base, factors), expected, atol=1e-6)
    np.testing.assert_array_equal(
        square.pattern(base, factors), (cosine.pattern(base, factors) > 0.5).astype(np.float32)
    )
    twin = cosine.apply(base)
    measured, designed = switch_shares(twin), designed_switch_shares(twin)
    assert measured == pytest.approx(designed, abs=0.03)
    # the default profile stays out of the parameters: square twins keep their fingerprints
    assert "profile" not in square.parameters() and cosine.parameters()["profile"] == "cosine"
    assert twin.fingerprint != square.apply(base).fingerprint
    with pytest.raises(ValueError, match="profile must be one of square, cosine"):
        ObliqueStripes(profile="sine")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eps": 0.0}, "eps"),
        ({"eps": 0.6}, "eps"),
        ({"switch_share": 0}, "switch_share"),
        ({"switch_share": 0.3}, "quarter period"),
        ({"block": 0}, "block"),
        ({"factors": "position_x"}, "list of factor names"),
    ],
)
def test_oblique_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ObliqueStripes(**kwargs)


def test_noise_rejects_eps_outside_the_unit_interval():
    for eps in (0.0, 1.5):
        with pytest.raises(ValueError, match=r"eps must be in \(0, 1\]"):
            MatchedNoise(eps=eps)


def test_linear_mix_is_bounded_linear_and_keeps_factors_linearly_decodable():
    base = LinearData()
    perturbed = LinearMix(eps=1.0).apply(base)
    factors, clean = all_observations(base)
    _, changed = all_observations(perturbed)
    change = (changed - clean).reshape(len(clean), -1)
    assert np.abs(change).max() <= 1.0 + 1e-5
    assert np.abs(change).max() > 0.9  # the bound is attained at a corner of the grid
    assert perturbed.value_range is None  # unbounded data are not clipped
    assert np.min(linear_probe_r2(perturbed)) > 0.999
    assert np.min(linear_probe_r2(base)) > 0.999


def grid_dataset():
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(12, 4, 4, 1)).astype(np.uint8)
    return ArrayGroundTruthData(images, ["a", "b"], (3, 4))


def test_external_manipulation_and_observations_round_trip(tmp_path):
    base = grid_dataset()
    factors, clean = all_observations(base)
    m = np.random.RandomState(1).uniform(-1, 1, size=clean.shape).astype(np.float32)
    np.savez(tmp_path / "m.npz", manipulation=m)
    perturbed = ExternalPerturbation(path=str(tmp_path / "m.npz"), eps=0.05).apply(base)
    _, observed = all_observations(perturbed)
    assert np.allclose(observed, np.clip(clean + 0.05 * m, 0, 1), atol=1e-6)

    target = np.clip(clean + 0.05 * m, 0, 1)
    np.savez(tmp_path / "x.npz", observations=target)
    ready = ExternalPerturbation(path=str(tmp_path / "x.npz"), eps=0.05).apply(base)
    assert np.allclose(ready.sample_observations_from_factors(factors, None), target, atol=1e-6)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"manipulation": np.zeros((11, 4, 4, 1), np.float32)}, r"shape \(11, 4, 4, 1\)"),
        ({"manipulation": np.zeros((12, 4, 4, 1), np.int32)}, "floating point"),
        ({"manipulation": np.full((12, 4, 4, 1), 1.5, np.float32)}, r"within \[-1, 1\]"),
        ({"something": np.zeros(3)}, "expected an array named"),
        ({"observations": np.ones((12, 4, 4, 1), np.float32)}, "more than eps"),
    ],
)
def test_external_rejects_bad_files_naming_them(tmp_path, payload, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **payload)
    with pytest.raises(DataError, match=message) as error:
        ExternalPerturbation(path=str(path), eps=0.05).apply(grid_dataset())
    assert str(path) in str(error.value)


def test_external_rejects_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        ExternalPerturbation(path=str(tmp_path / "none.npz")).apply(grid_dataset())
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        ExternalPerturbation(path=str(tmp_path / "corrupt.npz")).apply(grid_dataset())


def test_registered_twins_name_base_perturbation_and_strength():
    registry = Registry()
    names = registry.names("datasets")
    for base in ("dsprites", "shapes3d", "blob"):
        for perturbation in ("oblique", "matched_noise", "oblique_shuffled"):
            for strength in ("010", "0175"):
                assert f"{base}_{perturbation}_{strength}" in names
    gin.parse_config("dsprites_oblique_0175.seed = 2")
    data = registry.build("datasets", "dsprites_oblique_0175")
    assert data.perturbation.parameters()["eps"] == 0.175
    assert data.perturbation.parameters()["seed"] == 2
    assert data.perturbation.name == "oblique"


@pytest.mark.parametrize("eps", [0.1, 0.175])
def test_oblique_on_shapes3d_is_bounded_and_keeps_configurations_distinct(eps):
    from disentangle_bench.data.shapes3d import ProceduralShapes3DSmall

    base = ProceduralShapes3DSmall()
    factors, clean = all_observations(base)
    changed = ObliqueStripes(eps=eps).apply(base).sample_observations_from_factors(factors, None)
    change = changed - clean
    assert np.abs(change).max() <= eps + 1e-6
    moved = np.abs(change) > 1e-6
    assert np.allclose(np.abs(change[moved]), eps, atol=1e-6)  # inward: never clipped
    assert len(np.unique(changed.reshape(len(changed), -1), axis=0)) == base.num_configurations


@pytest.mark.parametrize("eps", [0.1, 0.175])
def test_oblique_keeps_every_blob_configuration_distinct(eps):
    base = Registry().build("datasets", "blob")
    factors, clean = all_observations(base)
    changed = ObliqueStripes(eps=eps).apply(base).sample_observations_from_factors(factors, None)
    assert np.abs(changed - clean).max() <= eps + 1e-6
    assert len(np.unique(changed.reshape(len(changed), -1), axis=0)) == base.num_configurations


def test_a_plugin_dataset_gets_its_twins_shares_and_diagnostic_with_no_code():
    """A third-party dataset with ordinal factors: oblique, matched_noise and the diagnostic
    apply as they are."""
    from disentangle_bench import hookimpl
    from disentangle_bench.diagnostics import (
        designed_switch_shares,
        local_variance_structure,
        switch_shares,
    )

    class Bars(ArrayGroundTruthData):
        """A vertical bar (x, 12 values) of a height (6 values) in a 16 x 16 image."""

        name = "plugin_bars"

        def __init__(self):
            images = np.zeros((12, 6, 16, 16, 1), np.uint8)
            for x in range(12):
                for h in range(6):
                    images[x, h, 16 - 2 * (h + 2) :, x + 2, 0] = 255
            super().__init__(images.reshape(72, 16, 16, 1), ["x", "height"], (12, 6))

    class Plugin:
        @hookimpl
        def register_datasets(self):
            return [Bars]

    registry = Registry(plugins=[Plugin()])
    base = registry.build("datasets", "plugin_bars")
    twin = registry.build("perturbations", "oblique").apply(base)
    designed = designed_switch_shares(twin)
    assert designed["x"] == designed["height"] == 0.25
    measured = switch_shares(twin, num=64)
    assert measured["x"] == pytest.approx(0.25, abs=0.05)
    noise = registry.build("perturbations", "matched_noise", num=72).apply(base)
    assert noise.perturbation.noise_eps > 0
    before = local_variance_structure(base, num_points=16).off_diagonal_mass
    after = local_variance_structure(twin, num_points=16).off_diagonal_mass
    assert after > before
