"""The on-disk cache: atomic entries, verification, rebuilds, recorded fingerprints."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from disentangle_bench.data import dsprites
from disentangle_bench.data.dsprites import ProceduralDSpritesSmall
from disentangle_bench.data.ground_truth import content_fingerprint
from disentangle_bench.data.storage import (
    CACHE_ENV,
    ArrayStore,
    PackedStore,
    build_entry,
    cache_root,
    cached_fingerprint,
    entry_directory,
    find_entry,
    load_entry,
    load_or_build,
    pack_images,
)
from disentangle_bench.util.errors import DataError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(root))
    return root


def binary_images(n: int = 50, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 2, size=(n, 8, 8, 1)).astype(np.uint8)


def chunks_of(images: np.ndarray, size: int = 16):
    for start in range(0, len(images), size):
        yield images[start : start + size]


def build(directory: Path, images: np.ndarray, packed: bool):
    return build_entry(
        directory,
        chunks_of(images),
        count=len(images),
        image_shape=images.shape[1:],
        factors_num_values=(len(images),),
        packed=packed,
    )


def test_cache_root_comes_from_the_environment(monkeypatch, tmp_path):
    assert cache_root() == tmp_path / "cache"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_root() == Path.home() / ".cache" / "disentangle_bench"


@pytest.mark.parametrize("packed", [True, False])
def test_entry_round_trip_and_fingerprint(tmp_path, packed):
    images = binary_images()
    directory = tmp_path / "entry"
    entry = build(directory, images, packed)
    assert isinstance(entry.store, PackedStore if packed else ArrayStore)
    assert entry.fingerprint == content_fingerprint(images, (len(images),))
    again = load_entry(directory)
    index = np.array([3, 0, 49, 3])
    np.testing.assert_array_equal(again.store.get(index), images[index])
    # Packed: 64 pixels in 8 bytes per image.
    assert again.store.nbytes == (len(images) * 8 if packed else images.nbytes)
    assert not [p for p in directory.parent.iterdir() if p.name.startswith(".")]


def test_pack_images_round_trip():
    images = binary_images(7)
    store = PackedStore(pack_images(images), images.shape[1:])
    np.testing.assert_array_equal(store.get(np.arange(7)), images)
    assert len(store) == 7 and store.shape == (7, 8, 8, 1)


def test_interrupted_build_leaves_nothing_and_a_rebuild_works(tmp_path):
    images = binary_images()
    directory = tmp_path / "entry"

    def failing_chunks():
        yield images[:16]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_entry(
            directory,
            failing_chunks(),
            count=len(images),
            image_shape=images.shape[1:],
            factors_num_values=(len(images),),
            packed=True,
        )
    assert not directory.exists()
    assert list(tmp_path.iterdir()) == []  # the temporary directory is gone too
    entry = load_or_build(
        directory,
        lambda: chunks_of(images),
        count=len(images),
        image_shape=images.shape[1:],
        factors_num_values=(len(images),),
        packed=True,
    )
    np.testing.assert_array_equal(entry.store.get(np.arange(len(images))), images)


def test_a_crashed_build_is_never_used_and_stale_temporaries_are_removed(tmp_path):
    images = binary_images()
    directory = tmp_path / "entry"
    # What a killed process leaves behind: a temporary directory with partial files.
    stale = tmp_path / ".entry.tmp-99999-deadbeef"
    stale.mkdir()
    (stale / "images.npy").write_bytes(b"partial")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = tmp_path / f".entry.tmp-{os.getpid()}-cafef00d"
    fresh.mkdir()
    assert find_entry(directory) is None
    build(directory, images, packed=True)
    assert not stale.exists()  # its process is gone (and it is older than an hour): removed
    assert fresh.exists()  # a live process still building it: left alone


def test_a_damaged_entry_is_discarded_and_rebuilt(tmp_path, capsys):
    images = binary_images()
    directory = tmp_path / "entry"
    build(directory, images, packed=True)
    path = directory / "images.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="do not match the fingerprint recorded in meta.json"):
        load_entry(directory)
    assert find_entry(directory) is None
    assert "discarding damaged cache entry" in capsys.readouterr().err
    assert not directory.exists()
    build(directory, images, packed=True)
    # A truncated file is caught too (its header no longer matches its size).
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=str(directory)):
        load_entry(directory)


def test_meta_json_records_the_entry(tmp_path):
    images = binary_images()
    build(tmp_path / "entry", images, packed=True)
    meta = json.loads((tmp_path / "entry" / "meta.json").read_text())
    assert meta["count"] == 50 and meta["image_shape"] == [8, 8, 1] and meta["packed"]
    assert meta["fingerprint"] == content_fingerprint(images, (50,))


def test_losing_a_race_uses_the_winner(tmp_path):
    images = binary_images()
    directory = tmp_path / "entry"
    winner = build(directory, images, packed=True)
    other = build(directory, binary_images(seed=1), packed=True)  # finishes second
    assert other.fingerprint == winner.fingerprint
    assert list(p.name for p in tmp_path.iterdir()) == ["entry"]


def test_large_procedural_grids_build_once_and_then_load_without_rendering(monkeypatch):
    monkeypatch.setattr(ProceduralDSpritesSmall, "memory_limit", 100)  # force the disk path
    first = ProceduralDSpritesSmall()
    assert first.uses_disk
    factors = first.sample_factors(300, np.random.RandomState(0))
    expected = ProceduralDSpritesSmall(cache=False).render_factors(factors)
    np.testing.assert_array_equal(first.images_of(factors), expected)
    directory = entry_directory("procedural", "dsprites_small", first.cache_key())
    assert (directory / "meta.json").is_file()
    assert first.storage_info()["built"]

    def fail(*args, **kwargs):
        raise AssertionError("rendered although the cache holds every image")

    monkeypatch.setattr(dsprites, "render_dsprites", fail)
    second = ProceduralDSpritesSmall()
    np.testing.assert_array_equal(second.images_of(factors), expected)
    assert second.fingerprint == first.fingerprint
    monkeypatch.undo()
    assert second.fingerprint == ProceduralDSpritesSmall(cache=False).fingerprint


def test_cache_key_changes_with_the_grid():
    class Shifted(ProceduralDSpritesSmall):
        grid = (*ProceduralDSpritesSmall.grid[:3], np.linspace(0, 0.5, 8), np.linspace(0, 1, 8))

    assert Shifted().cache_key() != ProceduralDSpritesSmall().cache_key()
    assert ProceduralDSpritesSmall().cache_key() == ProceduralDSpritesSmall().cache_key()


def test_recorded_fingerprints_are_checked_against_probes():
    calls = []

    def compute():
        calls.append(1)
        return "f" * 64

    def probe(index):
        return np.stack([np.full((2, 2, 1), i % 256, np.uint8) for i in index])

    assert cached_fingerprint("toy", "k1", compute, probe, 1000) == "f" * 64
    assert cached_fingerprint("toy", "k1", compute, probe, 1000) == "f" * 64
    assert len(calls) == 1  # recorded, and the probes still match

    def changed(index):
        return probe(index) + 1

    assert cached_fingerprint("toy", "k1", compute, changed, 1000) == "f" * 64
    assert len(calls) == 2  # a renderer that changed is caught, the fingerprint recomputed


def test_on_demand_fingerprint_is_recorded(monkeypatch):
    monkeypatch.setattr(ProceduralDSpritesSmall, "memory_limit", 100)
    data = ProceduralDSpritesSmall(cache=False)
    fingerprint = data.fingerprint
    records = list((cache_root() / "fingerprints").iterdir())
    assert len(records) == 1
    assert json.loads(records[0].read_text())["fingerprint"] == fingerprint
    assert not (cache_root() / "procedural").exists()  # no images were stored
