"""Loaders of the original files (tiny files in the same formats), and the dlib-layout export."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from disentangle_bench.cli import main
from disentangle_bench.data.dlib_layout import export_dlib
from disentangle_bench.data.dsprites import ProceduralDSpritesSmall
from disentangle_bench.data.ground_truth import content_fingerprint, factor_bases
from disentangle_bench.data.loaders import (
    DSPRITES_FILE,
    DSpritesFile,
    MPI3DFile,
    MPI3DToy,
    Shapes3DFile,
)
from disentangle_bench.data.shapes3d import ProceduralShapes3DSmall
from disentangle_bench.perturbations import MatchedNoise
from disentangle_bench.util.errors import DataError

SIZES = (3, 2, 4, 2, 2)  # a tiny dSprites-like grid: 96 images


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISENTANGLE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DISENTANGLEMENT_LIB_DATA", raising=False)


def grid_classes(sizes) -> np.ndarray:
    return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)


def write_dsprites(path: Path, *, sizes=SIZES, imgs=None, classes=None, drop=(), metadata=None):
    n = int(np.prod(sizes))
    rng = np.random.RandomState(0)
    if imgs is None:
        imgs = rng.randint(0, 2, size=(n, 64, 64)).astype(np.uint8)
    if classes is None:
        classes = np.concatenate([np.zeros((n, 1), np.int64), grid_classes(sizes)], axis=1)
    values = classes.astype(np.float64) * 0.5 + 1.0
    arrays = {
        "imgs": imgs,
        "latents_classes": classes,
        "latents_values": values,
        "metadata": np.array(
            metadata if metadata is not None else {"latents_sizes": np.array([1, *sizes])},
            dtype=object,
        ),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{k: v for k, v in arrays.items() if k not in drop})
    return imgs


def test_dsprites_file_loads_with_its_grid(tmp_path):
    path = tmp_path / "d.npz"
    imgs = write_dsprites(path)
    data = DSpritesFile(str(path))
    assert data.factors_num_values == SIZES
    assert data.factor_names == ("shape", "scale", "orientation", "position_x", "position_y")
    assert data.observation_shape == (64, 64, 1) and data.binary
    np.testing.assert_allclose(data.value_grid[1], [1.0, 1.5])
    factors = data.factors_of(np.arange(96))
    observations = data.sample_observations_from_factors(factors, np.random.RandomState(0))
    np.testing.assert_array_equal(observations[..., 0], imgs.astype(np.float32))
    assert data.fingerprint == content_fingerprint(imgs[..., None], SIZES)
    assert data.storage_info()["packed"]
    # A second instance reads the converted cache entry, not the file.
    again = DSpritesFile(str(path))
    assert again.fingerprint == data.fingerprint


def test_dsprites_file_is_found_through_the_data_root(tmp_path, monkeypatch):
    write_dsprites(tmp_path / DSPRITES_FILE)
    with pytest.raises(DataError, match="DISENTANGLEMENT_LIB_DATA"):
        DSpritesFile()
    monkeypatch.setenv("DISENTANGLEMENT_LIB_DATA", str(tmp_path))
    assert DSpritesFile().path == tmp_path / DSPRITES_FILE
    monkeypatch.setenv("DISENTANGLEMENT_LIB_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(DataError, match="dsprites_full.path"):
        DSpritesFile()
    with pytest.raises(DataError, match="file not found"):
        DSpritesFile(str(tmp_path / "nope.npz"))


def test_truncated_npz_names_the_file(tmp_path):
    path = tmp_path / "d.npz"
    write_dsprites(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"{path}: not a readable \.npz file"):
        DSpritesFile(str(path))


def test_corrupt_image_data_is_caught_at_first_use(tmp_path):
    path = tmp_path / "d.npz"
    write_dsprites(path)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("imgs.npy")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    middle = start + info.compress_size // 2  # past the .npy header
    for offset in range(middle, middle + 200):
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))
    loaded = DSpritesFile(str(path))  # headers and labels are intact
    with pytest.raises(DataError, match=rf"{path}: 'imgs' is corrupt"):
        loaded.sample_observations_from_factors(np.zeros((1, 5), np.int64), None)
    assert not list((tmp_path / "cache").rglob("meta.json"))  # nothing half-written kept


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": ("latents_classes",)}, "missing key.*latents_classes"),
        ({"imgs": np.zeros((96, 32, 32), np.uint8)}, r"'imgs' has shape \(96, 32, 32\)"),
        ({"imgs": np.zeros((96, 64, 64), np.int32)}, "'imgs' has dtype int32"),
        (
            {"classes": np.concatenate([np.ones((96, 1), np.int64), grid_classes(SIZES)], 1)},
            r"grid of sizes \[2, 3, 2, 4, 2, 2\], not \[1 \(colour\)",
        ),
        ({"classes": grid_classes(SIZES)}, r"grid of sizes \[3, 2, 4, 2, 2\]"),
        ({"classes": np.zeros((96, 6), np.float64)}, "expected \\(N, F\\) integer class indices"),
        (
            {
                "classes": np.concatenate(
                    [np.zeros((96, 1), np.int64), grid_classes(SIZES)[::-1]], 1
                )
            },
            "not the factor grid in row-major order",
        ),
    ],
)
def test_bad_dsprites_files_are_refused(tmp_path, change, message):
    path = tmp_path / "d.npz"
    write_dsprites(path, **change)
    with pytest.raises(DataError, match=message):
        DSpritesFile(str(path))


def test_non_binary_dsprites_images_are_refused_at_conversion(tmp_path):
    path = tmp_path / "d.npz"
    write_dsprites(path, imgs=np.full((96, 64, 64), 7, np.uint8))
    with pytest.raises(DataError, match="values other than 0 and 1"):
        DSpritesFile(str(path)).fingerprint  # noqa: B018


def shapes3d_arrays(sizes=(2, 2, 2, 2, 2, 3)):
    values = [np.linspace(0, 1, s) if i != 4 else np.arange(s) for i, s in enumerate(sizes)]
    classes = grid_classes(sizes)
    labels = np.stack([values[i][classes[:, i]] for i in range(6)], axis=1)
    images = np.random.RandomState(1).randint(0, 256, (len(labels), 64, 64, 3)).astype(np.uint8)
    return images, labels


def write_h5(path: Path, images, labels):
    import h5py

    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=images, compression="gzip")
        handle.create_dataset("labels", data=labels)


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_shapes3d_file_loads(tmp_path, suffix):
    images, labels = shapes3d_arrays()
    path = tmp_path / f"3dshapes{suffix}"
    if suffix == ".h5":
        pytest.importorskip("h5py")
        write_h5(path, images, labels)
    else:
        np.savez(path, images=images, labels=labels)
    data = Shapes3DFile(str(path))
    assert data.factors_num_values == (2, 2, 2, 2, 2, 3)
    np.testing.assert_allclose(data.value_grid[5], [0, 0.5, 1])
    index = np.array([0, 5, 95])
    observations = data.sample_observations_from_factors(data.factors_of(index), None)
    np.testing.assert_allclose(observations, images[index] / np.float32(255), rtol=1e-6)


def test_bad_shapes3d_files_are_refused(tmp_path):
    pytest.importorskip("h5py")
    images, labels = shapes3d_arrays()
    path = tmp_path / "a.h5"
    write_h5(path, images[:-1], labels[:-1])  # one row short of the grid
    with pytest.raises(DataError, match=r"95 rows.*grid of 96"):
        Shapes3DFile(str(path))
    write_h5(path, images, labels[::-1].copy())
    with pytest.raises(DataError, match="row-major"):
        Shapes3DFile(str(path))
    write_h5(path, images[:, :32], labels)
    with pytest.raises(DataError, match=r"'images' has shape \(96, 32, 64, 3\)"):
        Shapes3DFile(str(path))
    write_h5(path, images, labels)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match=rf"{path}: not a readable HDF5 file"):
        Shapes3DFile(str(path))
    other = tmp_path / "a.txt"
    other.write_text("x")
    with pytest.raises(DataError, match="unknown file type"):
        Shapes3DFile(str(other))


class TinyMPI3D(MPI3DFile):
    name: ClassVar[str] = "mpi3d_tiny"
    factor_sizes: ClassVar[tuple[int, ...]] = (2, 1, 1, 1, 1, 2, 3)


def test_mpi3d_files(tmp_path, monkeypatch):
    images = np.random.RandomState(2).randint(0, 256, (12, 64, 64, 3)).astype(np.uint8)
    root = tmp_path / "data"
    (root / "mpi3d_toy").mkdir(parents=True)
    np.savez(root / "mpi3d_toy" / "mpi3d_toy.npz", images=images)
    with pytest.raises(DataError, match=r"expected \(1036800, 64, 64, 3\)"):
        MPI3DToy(str(root / "mpi3d_toy" / "mpi3d_toy.npz"))
    monkeypatch.setenv("DISENTANGLEMENT_LIB_DATA", str(root))
    data = TinyMPI3D(str(root / "mpi3d_toy" / "mpi3d_toy.npz"))
    assert data.factor_names[0] == "object_color" and data.num_configurations == 12
    factors = data.factors_of(np.arange(12))
    np.testing.assert_allclose(
        data.sample_observations_from_factors(factors, None), images / np.float32(255), rtol=1e-6
    )
    with pytest.raises(DataError, match="mpi3d_real"):
        from disentangle_bench.data.loaders import MPI3DReal

        MPI3DReal()


def test_a_broken_metadata_pickle_is_never_read(tmp_path):
    path = tmp_path / "d.npz"
    write_dsprites(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = members["metadata.npy"][: members["metadata.npy"].index(b"\n") + 1]
    members["metadata.npy"] = header + pickle.dumps(object)[:5]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    # 'metadata' is never read (the grid comes from latents_classes): a broken one is harmless.
    assert DSpritesFile(str(path)).factors_num_values == SIZES


# -- disentanglement_lib layout export, read back through our own loaders -----------------------


def test_dsprites_layout_round_trip(tmp_path):
    small = ProceduralDSpritesSmall()
    target = export_dlib(small, tmp_path, name="dsprites_small")
    # not the full grid: a name of its own, which disentanglement_lib never opens by mistake
    assert target == tmp_path / "dsprites" / "dsprites_ndarray_co1sh3sc3or4x8y8_64x64.npz"
    assert not (tmp_path / DSPRITES_FILE).exists()
    with np.load(target, allow_pickle=True, encoding="latin1") as archive:
        assert archive["imgs"].dtype == np.uint8 and archive["imgs"].shape == (2304, 64, 64)
        assert archive["latents_classes"].shape == (2304, 6)
        assert archive["metadata"].item()["latents_sizes"].tolist() == [1, 3, 3, 4, 8, 8]
        np.testing.assert_array_equal(archive["latents_values"][:, 0], 1.0)
    loaded = DSpritesFile(str(target))
    assert loaded.factors_num_values == small.factors_num_values
    assert len(loaded.value_grid) == len(small.factor_names) == 5
    for mine, theirs in zip(loaded.value_grid, small.value_grid, strict=True):
        np.testing.assert_allclose(mine, theirs)
    assert loaded.fingerprint == small.fingerprint
    assert (tmp_path / "disentangle_bench.json").is_file()
    with pytest.raises(DataError, match="exists"):
        export_dlib(small, tmp_path, name="dsprites_small")


def test_perturbed_dsprites_layout_is_8_bit(tmp_path):
    noisy = MatchedNoise(eps=0.1).apply(ProceduralDSpritesSmall())
    target = export_dlib(noisy, tmp_path, name="dsprites_small+noise")
    loaded = DSpritesFile(str(target))
    assert not loaded.binary
    factors = noisy.factors_of(np.arange(0, 2304, 7))
    expected = np.round(noisy.sample_observations_from_factors(factors, None) * 255) / 255
    np.testing.assert_allclose(
        loaded.sample_observations_from_factors(factors, None), expected, atol=1e-6
    )


@pytest.mark.parametrize("layout", ["shapes3d_h5", "shapes3d_npz"])
def test_shapes3d_layout_round_trip(tmp_path, layout):
    if layout == "shapes3d_h5":
        pytest.importorskip("h5py")
    small = ProceduralShapes3DSmall()
    target = export_dlib(small, tmp_path, name="shapes3d_small", layout=layout)
    loaded = Shapes3DFile(str(target))
    assert loaded.factors_num_values == small.factors_num_values
    assert len(loaded.value_grid) == len(small.factor_names) == 6
    for mine, theirs in zip(loaded.value_grid, small.value_grid, strict=True):
        np.testing.assert_allclose(mine, theirs)
    assert loaded.fingerprint == small.fingerprint


def test_layout_checks(tmp_path):
    with pytest.raises(DataError, match="needs 64x64 RGB"):
        export_dlib(ProceduralDSpritesSmall(), tmp_path, name="x", layout="shapes3d_npz")
    with pytest.raises(DataError, match="1-channel dataset with 5 factors"):
        export_dlib(ProceduralShapes3DSmall(), tmp_path, name="x", layout="dsprites_npz")
    with pytest.raises(DataError, match="unknown layout"):
        export_dlib(ProceduralDSpritesSmall(), tmp_path, name="x", layout="tfrecord")


def test_cli_export_and_build(tmp_path, capsys):
    out = tmp_path / "dlib"
    assert main(["datasets", "export", "dsprites_small", "--to", str(out), "--format", "dlib"]) == 0
    assert "not disentanglement_lib's full one" in capsys.readouterr().out
    path = out / "dsprites" / "dsprites_ndarray_co1sh3sc3or4x8y8_64x64.npz"
    binding = f"dsprites_full.path = '{path}'"
    assert main(["datasets", "build", "dsprites_full", "--bind", binding]) == 0
    printed = capsys.readouterr().out
    assert "2,304 images" in printed and ProceduralDSpritesSmall().fingerprint in printed
    assert main(["datasets", "build", "dsprites_full"]) == 2
    assert "dsprites_full needs its data file" in capsys.readouterr().err
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(path.read_bytes()[:1000])
    assert (
        main(
            ["datasets", "build", "dsprites_full", "--bind", f"dsprites_full.path = '{truncated}'"]
        )
        == 2
    )
    assert str(truncated) in capsys.readouterr().err


def test_index_layout_of_loaded_files_is_canonical(tmp_path):
    path = tmp_path / "d.npz"
    write_dsprites(path)
    data = DSpritesFile(str(path))
    np.testing.assert_array_equal(factor_bases(data.factors_num_values), [32, 16, 4, 2, 1])
