"""``oblique_blend``: the oblique pattern blended into the image, with its two controls."""

from __future__ import annotations

import numpy as np
import pytest

from disentangle_bench.data.blob import Blob
from disentangle_bench.data.dsprites import ProceduralDSpritesSmall
from disentangle_bench.data.shapes3d import ProceduralShapes3DSmall
from disentangle_bench.diagnostics import designed_switch_shares, switch_shares
from disentangle_bench.diagnostics.probe import all_observations, ridge_probe_accuracy
from disentangle_bench.perturbations import (
    BlendMatchedNoise,
    ObliqueBlend,
    ObliqueStripes,
    ShuffledObliqueBlend,
)
from disentangle_bench.perturbations.matching import mean_change_norm
from disentangle_bench.registry import Registry


def observations_of(data, factors):
    return data.sample_observations_from_factors(factors, None)


@pytest.mark.parametrize("eps", [0.1, 0.175])
def test_blend_is_the_convex_combination_of_image_and_pattern(eps):
    base = Blob()
    factors, clean = all_observations(base)
    blend = ObliqueBlend(eps=eps, seed=3)
    changed = observations_of(blend.apply(base), factors)
    pattern = ObliqueStripes(eps=eps, seed=3).pattern(base, factors)[..., None]
    np.testing.assert_allclose(changed, (1 - eps) * clean + eps * pattern, atol=1e-6)
    assert changed.min() >= 0.0 and changed.max() <= 1.0  # nothing to clip
    assert np.abs(changed - clean).max() <= eps + 1e-6


@pytest.mark.parametrize("eps", [0.1, 0.175])
def test_thresholding_a_binary_blend_returns_the_clean_image(eps):
    base = ProceduralDSpritesSmall()
    factors, clean = all_observations(base)
    changed = observations_of(ObliqueBlend(eps=eps).apply(base), factors)
    np.testing.assert_array_equal((changed > 0.5).astype(np.float32), clean)


@pytest.mark.parametrize("eps", [0.1, 0.175])
def test_an_8_bit_blend_gives_back_every_clean_pixel(eps):
    """docs/perturbations.md: ``255 eps / (1 - eps)`` is not a whole number, so exactly one of
    ``m = 0`` and ``m = 1`` makes ``255 (x' - eps m) / (1 - eps)`` a whole grey level."""
    base = ProceduralShapes3DSmall()
    factors, clean = all_observations(base)
    changed = observations_of(ObliqueBlend(eps=eps).apply(base), factors).astype(np.float64)
    levels = [255 * (changed - eps * m) / (1 - eps) for m in (0.0, 1.0)]
    whole = [np.abs(level - np.round(level)) < 0.02 for level in levels]
    assert not np.any(whole[0] & whole[1]) and np.all(whole[0] | whole[1])
    recovered = np.where(whole[0], np.round(levels[0]), np.round(levels[1])) / 255
    np.testing.assert_allclose(recovered, clean, atol=1e-4)
    assert len(np.unique(changed.reshape(len(changed), -1), axis=0)) == base.num_configurations


@pytest.mark.parametrize("eps", [0.1, 0.175])
def test_a_ridge_probe_reads_both_blob_factors_through_the_blend_as_from_the_original(eps):
    base = Blob()
    original = ridge_probe_accuracy(base)
    assert original.min() >= 0.95
    slow = ObliqueBlend(eps=eps, switch_share=0.0625)  # the test bed's fifth attempt
    for twin in (ObliqueBlend(eps=eps), ShuffledObliqueBlend(eps=eps), slow):
        accuracy = ridge_probe_accuracy(twin.apply(base))
        assert np.all(accuracy >= original - 0.02), (twin, accuracy, original)
    # the inward push of the same pattern does not meet it: the blend is what fixed the probe
    pushed = ridge_probe_accuracy(ObliqueStripes(eps=eps).apply(base))
    assert np.any(pushed < original - 0.02)


def test_the_blend_keeps_the_designed_switch_shares():
    base = Blob()
    twin = ObliqueBlend(eps=0.175, seed=2).apply(base)
    assert switch_shares(twin) == pytest.approx(designed_switch_shares(twin), abs=0.03)
    same = ObliqueStripes(eps=0.175, seed=2).apply(base)
    assert switch_shares(twin) == switch_shares(same)


def test_the_shuffled_blend_reassigns_the_same_pattern_images():
    base = Blob()
    factors, clean = all_observations(base)
    structural = observations_of(ObliqueBlend(eps=0.1, seed=1).apply(base), factors)
    shuffled_twin = ShuffledObliqueBlend(eps=0.1, seed=1)
    shuffled = observations_of(shuffled_twin.apply(base), factors)
    patterns = [((x - 0.9 * clean) / 0.1).round().astype(np.uint8) for x in (structural, shuffled)]
    a, b = (p.reshape(len(factors), -1) for p in patterns)
    assert not np.array_equal(a, b)
    assert sorted(map(bytes, a)) == sorted(map(bytes, b))
    assert shuffled_twin.parameters()["shuffle"] is True


@pytest.mark.parametrize("name", ["blob", "dsprites_small", "shapes3d_small"])
def test_blend_matched_noise_matches_the_blends_change_norm(name):
    base = Registry().build("datasets", name)
    noise = BlendMatchedNoise(eps=0.1, num=300).apply(base)
    target = mean_change_norm(base, ObliqueBlend(eps=0.1).apply(base), num=300, seed=11)
    assert mean_change_norm(base, noise, num=300, seed=11) == pytest.approx(target, rel=0.02)
    assert noise.perturbation.parameters()["match"] == "oblique_blend"


def test_the_blend_noise_matches_a_slower_pattern_too():
    """The fifth test-bed attempt pairs a switch share of 1/16 with the default blend's noise
    twin: the change norm is a per-image statistic, the same for any share."""
    base = Blob()
    noise = BlendMatchedNoise(eps=0.175).apply(base)
    slow = ObliqueBlend(eps=0.175, switch_share=0.0625).apply(base)
    target = mean_change_norm(base, slow, num=256, seed=3)
    assert mean_change_norm(base, noise, num=256, seed=3) == pytest.approx(target, rel=0.02)


def test_blend_twins_are_registered_with_their_own_fingerprints():
    registry = Registry()
    names = registry.names("datasets")
    for base in ("dsprites", "shapes3d", "blob"):
        for perturbation in ("oblique_blend", "blend_matched_noise", "oblique_blend_shuffled"):
            for strength in ("010", "0175"):
                assert f"{base}_{perturbation}_{strength}" in names
    blend = registry.build("datasets", "blob_oblique_blend_010")
    assert blend.perturbation.name == "oblique_blend"
    pushed = registry.build("datasets", "blob_oblique_010")
    assert blend.fingerprint != pushed.fingerprint


def test_the_test_beds_blend_conditions_build_the_registered_blend_twins():
    from disentangle_bench.evidence.testbed import MODELS, Condition

    registry, base = Registry(), Blob()
    for kind, name in (
        ("structural", "blob_oblique_blend_0175"),
        ("noise", "blob_blend_matched_noise_0175"),
        ("shuffled", "blob_oblique_blend_shuffled_0175"),
    ):
        condition = Condition(kind, 0.175, form="blend")
        assert condition.label == f"{kind}@eps=0.175,pattern=0,form=blend"
        assert condition.build(base).fingerprint == registry.build("datasets", name).fingerprint
    assert Condition("structural", 0.1).label == "structural@eps=0.1,pattern=0"  # push: unchanged
    assert MODELS["pcl"]["num_latent"] == 2 and MODELS["beta_vae"]["num_latent"] == 4
    with pytest.raises(ValueError, match="form must be one of push, blend"):
        Condition("structural", 0.1, form="stir")
    with pytest.raises(ValueError, match="condition kind must be one of"):
        Condition("rotated", 0.1)


def test_the_test_beds_slow_conditions_carry_their_switch_share():
    from disentangle_bench.evidence.testbed import Condition

    base = Blob()
    slow = Condition("structural", 0.175, form="blend", switch_share=0.0625)
    assert slow.label == "structural@eps=0.175,pattern=0,form=blend,share=0.0625"
    built = slow.build(base)
    assert built.perturbation.switch_share == 0.0625 and not built.perturbation.shuffle
    expected = ObliqueBlend(eps=0.175, switch_share=0.0625).apply(base)
    assert built.fingerprint == expected.fingerprint
    shuffled = Condition("shuffled", 0.175, form="blend", switch_share=0.0625).build(base)
    assert shuffled.perturbation.shuffle and shuffled.perturbation.switch_share == 0.0625
    for kind in ("original", "noise"):
        with pytest.raises(ValueError, match=f"the {kind} condition has no pattern"):
            Condition(kind, 0.175, form="blend", switch_share=0.0625)
