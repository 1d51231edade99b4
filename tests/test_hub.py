"""Hugging Face export, standalone loading, download, schema errors and publishing (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from disentangle_bench.cli import main
from disentangle_bench.data import hub
from disentangle_bench.data.dsprites import ProceduralDSpritesSmall
from disentangle_bench.data.dsprites_variants import ColorDSprites
from disentangle_bench.data.ground_truth import content_fingerprint
from disentangle_bench.data.hub import HubDataset, download, export_dataset, publish_directory
from disentangle_bench.data.hub import export as hub_export
from disentangle_bench.data.hub import importing as hub_importing
from disentangle_bench.perturbations import MatchedNoise
from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import ConfigError, DataError
from disentangle_bench.util.images import decode_png, encode_png

NAMES = ("shape", "scale", "orientation", "position_x", "position_y")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISENTANGLE_BENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def small() -> ProceduralDSpritesSmall:
    return ProceduralDSpritesSmall()


@pytest.fixture(scope="module")
def noisy(small) -> object:
    return MatchedNoise(eps=0.1, seed=3).apply(small)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, noisy) -> dict[str, Path]:
    """The perturbed small dSprites exported once per image format."""
    root = tmp_path_factory.mktemp("exports")
    paths = {}
    for image_format in ("array", "png"):
        paths[image_format] = root / image_format
        export_dataset(
            noisy,
            paths[image_format],
            name="dsprites_small+noise",
            parameters={"cache": True},
            image_format=image_format,
        )
    return paths


def expected_uint8(data) -> np.ndarray:
    factors = data.factors_of(np.arange(data.num_configurations))
    observations = data.sample_observations_from_factors(factors, np.random.RandomState(0))
    return np.round(observations * 255).astype(np.uint8)


def front_matter(path: Path) -> dict:
    text = (path / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_array_export_loads_standalone_with_identical_images_and_labels(exported, noisy):
    ds = datasets.load_dataset(str(exported["array"]), split="train")
    assert list(ds.features) == [
        "image",
        *(f"label_{n}" for n in NAMES),
        *(f"value_{n}" for n in NAMES),
    ]
    assert ds.features["label_position_x"].num_classes == 8
    assert ds.features["value_scale"].dtype == "float32"
    arrays = ds.with_format("numpy", dtype=np.uint8)[:]
    np.testing.assert_array_equal(arrays["image"], expected_uint8(noisy))
    factors = noisy.factors_of(np.arange(noisy.num_configurations))
    labels = np.stack([ds[f"label_{n}"] for n in NAMES], axis=1)
    np.testing.assert_array_equal(labels, factors)
    values = np.stack([np.asarray(ds[f"value_{n}"]) for n in NAMES], axis=1)
    np.testing.assert_allclose(values, noisy.base.factor_values(factors).astype(np.float32))


def test_png_export_loads_standalone(exported, noisy):
    ds = datasets.load_dataset(str(exported["png"]), split="train")
    assert isinstance(ds.features["image"], datasets.Image)
    raw = ds.cast_column("image", datasets.Image(decode=False))
    images = np.stack([decode_png(item["bytes"]) for item in raw["image"]])
    np.testing.assert_array_equal(images, expected_uint8(noisy))
    np.testing.assert_array_equal(ds["label_orientation"][:5], [0, 0, 0, 0, 0])


def test_card_and_metadata_record_provenance(exported, noisy):
    metadata = json.loads((exported["png"] / "disentangle_bench.json").read_text())
    card = front_matter(exported["png"])
    assert card["license"] == "apache-2.0"
    assert card["configs"][0]["data_files"][0]["path"] == "data/train-*.parquet"
    assert [f["name"] for f in card["dataset_info"]["features"]][:2] == ["image", "label_shape"]
    recorded = card["disentangle_bench"]
    for record in (metadata, recorded):
        assert record["format_version"] == 1
        assert record["base_dataset"] == "dsprites_small"
        assert record["base_parameters"] == {"cache": True}
        assert record["perturbation"]["name"] == "noise"
        assert record["perturbation"]["parameters"] == {"eps": 0.1, "seed": 3}
        assert record["seed"] == 0
        assert record["source_fingerprint"] == noisy.fingerprint
        assert record["base_fingerprint"] == noisy.base.fingerprint
        assert record["fingerprint"] == content_fingerprint(
            expected_uint8(noisy), noisy.factors_num_values
        )
    from huggingface_hub import DatasetCard

    loaded = DatasetCard.load(exported["png"] / "README.md")  # the Hub's own card reader
    assert loaded.data.license == "apache-2.0" and loaded.data.pretty_name == metadata["dataset"]
    assert loaded.data["disentangle_bench"]["fingerprint"] == metadata["fingerprint"]
    assert loaded.data["dataset_info"]["splits"][0]["num_examples"] == 2304
    body = (exported["png"] / "README.md").read_text()
    assert "perturbed** twin of `dsprites_small`" in body and "eps=0.1" in body
    assert "@misc{dsprites17" in body and "zietlow2021demystifying" in body
    # The same content in both image encodings.
    other = json.loads((exported["array"] / "disentangle_bench.json").read_text())
    assert other["fingerprint"] == metadata["fingerprint"]


def test_stochastic_datasets_export_reproducibly_from_the_seed(tmp_path):
    colour = ColorDSprites(cache=False)
    colour.base = ProceduralDSpritesSmall()

    def exported_images(seed):
        return np.concatenate([images for _, images in hub.uint8_chunks(colour, seed=seed)])

    first = exported_images(1)
    np.testing.assert_array_equal(first, exported_images(1))
    assert not np.array_equal(first, exported_images(2))
    metadata = export_dataset(colour, tmp_path / "a", name="c", seed=1, image_format="array")
    assert metadata["fingerprint"] == content_fingerprint(first, colour.factors_num_values)
    assert metadata["stochastic"] and "RandomState(1)" in (tmp_path / "a" / "README.md").read_text()


def test_shards_and_overwrite(tmp_path, small):
    out = tmp_path / "sharded"
    export_dataset(small, out, name="dsprites_small", image_format="array", max_shard_bytes=1)
    assert [p.name for p in (out / "data").iterdir()] == ["train-00000-of-00001.parquet"]
    export_dataset(
        small, out, name="x", image_format="png", chunk_size=500, max_shard_bytes=1, overwrite=True
    )
    shards = sorted(p.name for p in (out / "data").iterdir())
    assert shards == [f"train-{i:05d}-of-00005.parquet" for i in range(5)]
    ds = datasets.load_dataset(str(out), split="train")
    assert len(ds) == 2304 and ds["label_position_y"][:9] == [0, 1, 2, 3, 4, 5, 6, 7, 0]
    with pytest.raises(DataError, match="exists"):
        export_dataset(small, out, name="x")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_download_of_an_export_round_trips(exported, noisy):
    slug, entry = download(str(exported["png"]), name="noisy_small")
    assert slug == "noisy_small"
    data = HubDataset("noisy_small")
    assert data.factor_names == NAMES and data.factors_num_values == noisy.factors_num_values
    assert not data.binary
    factors = noisy.factors_of(np.arange(0, 2304, 5))
    got = data.sample_observations_from_factors(factors, np.random.RandomState(0))
    np.testing.assert_array_equal(np.round(got * 255).astype(np.uint8), expected_uint8(noisy)[::5])
    assert len(data.value_grid) == len(NAMES)
    for mine, theirs in zip(data.value_grid, noisy.base.value_grid, strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)
    assert data.license == "apache-2.0"
    # Through the registry and gin, as a config uses it.
    registry = Registry()
    import gin

    gin.parse_config("hf_dataset.path = 'noisy_small'")
    built = registry.build("datasets", "hf_dataset")
    assert built.fingerprint == data.fingerprint


def test_binary_exports_come_back_binary_and_packed(tmp_path, small):
    export_dataset(small, tmp_path / "e", name="dsprites_small", image_format="png")
    data = HubDataset(str(tmp_path / "e"))  # an export directory works directly too
    assert data.binary and data.storage_info()["packed"]
    assert data.fingerprint == small.fingerprint  # the same 0/1 images as the source


def test_hf_dataset_needs_a_path():
    registry = Registry()
    with pytest.raises(DataError, match="hf_dataset.path"):
        registry.build("datasets", "hf_dataset")
    import gin

    gin.parse_config("hf_dataset.path = 'nothing_here'")
    with pytest.raises(DataError, match="bench datasets download nothing_here"):
        registry.build("datasets", "hf_dataset")


def community_directory(root: Path, *, shuffle: bool = True, **overrides) -> Path:
    """A TFDS-style dSprites copy: PNG images, alphabetical label/value columns, colour factor."""
    small = ProceduralDSpritesSmall()
    factors = small.factors_of(np.arange(small.num_configurations))
    images = small.render_factors(factors) * 255
    order = np.random.RandomState(0).permutation(len(factors)) if shuffle else np.arange(2304)
    names = {"shape": 0, "scale": 1, "orientation": 2, "x_position": 3, "y_position": 4}
    columns = {"image": [{"bytes": encode_png(images[i]), "path": None} for i in order]}
    features = {"image": datasets.Image()}
    columns["label_color"] = [0] * len(order)
    features["label_color"] = datasets.ClassLabel(num_classes=1)
    for name in sorted(names):
        k = names[name]
        columns[f"label_{name}"] = factors[order, k].tolist()
        features[f"label_{name}"] = datasets.ClassLabel(num_classes=small.factors_num_values[k])
        columns[f"value_{name}"] = small.grid[k][factors[order, k]].astype(np.float32).tolist()
        features[f"value_{name}"] = datasets.Value("float32")
    columns.update(overrides)
    features = {k: v for k, v in features.items() if k in columns}
    for name in overrides:
        features.setdefault(name, datasets.Value("int64"))
    schema = datasets.Features(features).arrow_schema  # written without Pillow
    arrays = []
    for name in features:
        if name == "image":
            items = columns["image"]
            arrays.append(
                pa.StructArray.from_arrays(
                    [
                        pa.array([i["bytes"] for i in items], pa.binary()),
                        pa.array([i["path"] for i in items], pa.string()),
                    ],
                    names=["bytes", "path"],
                )
            )
        else:
            arrays.append(pa.array(columns[name], type=schema.field(name).type))
    (root / "data").mkdir(parents=True)
    table = pa.Table.from_arrays(arrays, schema=schema)
    pq.write_table(table, root / "data" / "train-00000-of-00001.parquet")
    return root


def test_community_schema_downloads_in_canonical_order(tmp_path, small):
    local = community_directory(tmp_path / "community")
    slug, entry = download(str(local), name="community")
    data = HubDataset("community")
    # Known dSprites names put the factors in dSprites order; the constant colour is dropped.
    assert data.factor_names == ("shape", "scale", "orientation", "x_position", "y_position")
    assert data.factors_num_values == small.factors_num_values
    assert data.binary  # 0/255 PNGs become packed 0/1 images
    factors = small.sample_factors(200, np.random.RandomState(1))
    np.testing.assert_array_equal(
        data.sample_observations_from_factors(factors, None),
        small.sample_observations_from_factors(factors, None),
    )
    np.testing.assert_allclose(data.value_grid[1], small.grid[1], rtol=1e-6)


def rewrite_export(source: Path, target: Path, change) -> Path:
    """Copy an export, passing its (single-shard) table through ``change``."""
    import shutil

    shutil.copytree(source, target)
    (target / "README.md").unlink()  # its feature list would no longer match
    shard = next((target / "data").iterdir())
    table = pq.read_table(shard)
    pq.write_table(change(table).replace_schema_metadata(None), shard)
    return target


def test_wrong_schemas_give_one_clear_error(tmp_path, exported):
    array = exported["array"]
    cases = [
        (lambda t: t.drop_columns(["label_scale"]), "missing label column label_scale"),
        (lambda t: t.slice(0, 2000), "do not cover the factor grid"),
        (lambda t: t.drop_columns(["image"]), "no 'image' column"),
    ]
    for number, (change, message) in enumerate(cases):
        directory = rewrite_export(array, tmp_path / f"case{number}", change)
        with pytest.raises(DataError, match=message):
            download(str(directory), name=f"case{number}")


def test_values_off_the_grid_name_the_column(tmp_path, exported):
    def shift_one_value(table):
        values = table["value_scale"].to_numpy().copy()
        values[10] += 0.25
        index = table.schema.get_field_index("value_scale")
        return table.set_column(index, "value_scale", pa.array(values, pa.float32()))

    directory = rewrite_export(exported["array"], tmp_path / "off", shift_one_value)
    with pytest.raises(
        DataError, match=r"column 'value_scale': value .* at row 10 is off the grid"
    ):
        download(str(directory), name="off")


def test_wrong_image_size_and_label_range(tmp_path):
    small_images = [{"bytes": encode_png(np.zeros((32, 32), np.uint8)), "path": None}] * 2304
    local = community_directory(tmp_path / "tiny", image=small_images)
    with pytest.raises(DataError, match=r"column 'image': row 0 has shape \(32, 32, 1\)"):
        download(str(local), name="tiny")
    bad_labels = [9] + [0] * 2303
    local = community_directory(tmp_path / "range", label_shape=bad_labels)
    with pytest.raises(DataError, match="label_shape"):
        download(str(local), name="range")
    local = community_directory(tmp_path / "nolabels", shuffle=False)
    table = pq.read_table(next((local / "data").iterdir()))
    pq.write_table(
        table.select(["image"]).replace_schema_metadata(None), next((local / "data").iterdir())
    )
    with pytest.raises(DataError, match="no label_<factor> columns"):
        download(str(local), name="nolabels")


def test_tampered_images_fail_the_fingerprint(tmp_path, exported):
    def tamper(table):
        images = table["image"].combine_chunks()
        storage = images.storage if hasattr(images, "storage") else images
        flat = storage.flatten().flatten().flatten().to_numpy().copy()
        flat[100] ^= 1
        rebuilt = hub_export._image_array(
            flat.reshape(len(table), 64, 64, 1),
            "array",
            hub.features_for(
                json.loads((exported["array"] / "disentangle_bench.json").read_text()), "array"
            ),
        )
        return table.set_column(0, "image", pa.chunked_array([rebuilt]))

    directory = rewrite_export(exported["array"], tmp_path / "tampered", tamper)
    with pytest.raises(DataError, match="fingerprint"):
        download(str(directory), name="tampered")


def test_download_of_a_repo_id_goes_through_the_hub_snapshot(monkeypatch, exported):
    calls = []

    def snapshot(repo_id):
        calls.append(repo_id)
        return exported["array"]

    monkeypatch.setattr(hub_importing, "_snapshot", snapshot)
    slug, _ = download("some-org/dsprites-noise")
    assert slug == "some-org--dsprites-noise" and calls == ["some-org/dsprites-noise"]
    assert HubDataset("some-org/dsprites-noise").num_configurations == 2304
    with pytest.raises(DataError, match="neither a directory nor a Hub repo id"):
        download("not a repo")


def test_offline_download_fails_with_one_line():
    with pytest.raises(DataError, match="cannot download nobody/nothing"):
        download("nobody/nothing")


class FakeApi:
    calls: list = []

    def __init__(self, token=None):
        FakeApi.calls.append(("init", token))

    def create_repo(self, repo_id, **kwargs):
        FakeApi.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        folder = Path(kwargs["folder_path"])
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        FakeApi.calls.append(("upload_folder", kwargs["repo_id"], kwargs["repo_type"], files))

        class Info:
            commit_url = f"https://huggingface.co/datasets/{kwargs['repo_id']}/commit/abc"

        return Info()


def test_publish_pushes_the_export_with_huggingface_hub(monkeypatch, tmp_path, capsys):
    import huggingface_hub

    FakeApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    code = main(
        [
            "datasets",
            "publish",
            "dsprites_small",
            "--perturbation",
            "noise",
            "--bind",
            "noise.eps = 0.05",
            "--repo-id",
            "my-org/dsprites-small-noise",
            "--private",
            "--image-format",
            "array",
        ]
    )
    assert code == 0
    assert "published to my-org/dsprites-small-noise" in capsys.readouterr().out
    create = [c for c in FakeApi.calls if c[0] == "create_repo"][0]
    assert create[2] == {"repo_type": "dataset", "private": True, "exist_ok": True}
    upload = [c for c in FakeApi.calls if c[0] == "upload_folder"][0]
    assert upload[1:3] == ("my-org/dsprites-small-noise", "dataset")
    assert upload[3] == [
        "README.md",
        "data/train-00000-of-00001.parquet",
        "disentangle_bench.json",
    ]
    assert main(["datasets", "publish", "dsprites_small", "--repo-id", "no-slash"]) == 2
    assert "invalid repo id" in capsys.readouterr().err


def test_publish_failures_are_one_line(monkeypatch, exported):
    import huggingface_hub

    class Failing(FakeApi):
        def upload_folder(self, **kwargs):
            raise ConnectionError("no network")

    monkeypatch.setattr(huggingface_hub, "HfApi", Failing)
    with pytest.raises(DataError, match="publishing to a/b failed: ConnectionError: no network"):
        publish_directory(exported["png"], "a/b")
    with pytest.raises(DataError, match="not a dataset export"):
        publish_directory(exported["png"] / "data", "a/b")


def test_cli_export_download_list_inspect(tmp_path, capsys, monkeypatch):
    out = tmp_path / "export"
    code = main(
        [
            "datasets",
            "export",
            "dsprites_small",
            "--perturbation",
            "noise",
            "--bind",
            "noise.eps = 0.05",
            "--to",
            str(out),
            "--image-format",
            "array",
        ]
    )
    assert code == 0
    assert "load_dataset" in capsys.readouterr().out
    metadata = json.loads((out / "disentangle_bench.json").read_text())
    assert metadata["perturbation"]["parameters"]["eps"] == 0.05
    assert metadata["dataset"] == "dsprites_small+noise"

    assert main(["datasets", "download", str(out), "--name", "mine"]) == 0
    printed = capsys.readouterr().out
    assert "experiment.datasets = ['hf_dataset']" in printed
    assert "hf_dataset.path = 'mine'" in printed

    assert main(["datasets", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in listing["downloaded"]] == ["mine"]
    registered = {row["name"]: row for row in listing["registered"]}
    assert registered["shapes3d"]["images"] == 480_000
    assert "unavailable" in registered["dsprites_full"]

    monkeypatch.chdir(tmp_path)
    assert main(["datasets", "inspect", "hf_dataset", "--bind", "hf_dataset.path = 'mine'"]) == 0
    text = capsys.readouterr().out
    assert "2,304" in text and "position_y" in text
    assert decode_png((tmp_path / "hf_dataset_contact_sheet.png").read_bytes()).shape[2] == 3

    assert main(["datasets", "export", "nope", "--to", str(tmp_path / "x")]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_registry_errors_for_bad_bindings_are_config_errors():
    registry = Registry()
    import gin

    gin.parse_config("xysquares.spacing = 20")
    with pytest.raises(ConfigError, match="spacing"):
        registry.build("datasets", "xysquares")


def test_the_documented_standalone_snippet_loads_the_export(exported, noisy):
    """The card's (and docs/datasets.md's) code: nothing but datasets and numpy."""
    namespace: dict = {}
    exec(hub.loading_snippet(str(exported["array"]), list(NAMES)), namespace)
    np.testing.assert_array_equal(
        namespace["images"], expected_uint8(noisy).astype(np.float32) / 255.0
    )
    np.testing.assert_array_equal(
        namespace["labels"], noisy.factors_of(np.arange(noisy.num_configurations))
    )
    assert (
        hub.loading_snippet("REPO_OR_DIR", list(NAMES))
        in (exported["array"] / "README.md").read_text()
    )
    docs = (Path(__file__).resolve().parent.parent / "docs" / "datasets.md").read_text()
    documented = hub.loading_snippet("my-org/dsprites-noise", list(NAMES))
    assert documented in docs  # the docs show exactly the code tested here


def test_constant_factors_of_our_exports_are_kept(tmp_path):
    from disentangle_bench.data.ground_truth import ArrayGroundTruthData

    images = np.random.RandomState(5).randint(0, 256, (12, 64, 64, 3)).astype(np.uint8)
    data = ArrayGroundTruthData(images, ["constant", "a", "b"], (1, 4, 3))
    export_dataset(data, tmp_path / "e", name="tiny", image_format="png")
    _, entry = download(str(tmp_path / "e"), name="tiny")
    loaded = HubDataset("tiny")
    assert loaded.factor_names == ("constant", "a", "b")
    assert loaded.factors_num_values == (1, 4, 3)
    factors = data.factors_of(np.arange(12))
    np.testing.assert_array_equal(
        loaded.sample_observations_from_factors(factors, None),
        data.sample_observations_from_factors(factors, None),
    )
    assert loaded.fingerprint == data.fingerprint
