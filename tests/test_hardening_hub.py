"""Hugging Face export integrity: a fingerprint is required, recomputed from the files on disk
and must agree between the card and the JSON; schema and card errors are one line; killed
exports and downloads leave nothing behind for good."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from disentangle_bench.cli import main
from disentangle_bench.data.dlib_layout import export_dlib
from disentangle_bench.data.dsprites import ProceduralDSpritesSmall
from disentangle_bench.data.hub import download, export_dataset, features_for
from disentangle_bench.data.hub import export as hub_export
from disentangle_bench.data.storage import HOST
from disentangle_bench.util.errors import DataError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("DISENTANGLE_BENCH_CACHE", str(root))
    return root


@pytest.fixture(scope="module")
def small() -> ProceduralDSpritesSmall:
    return ProceduralDSpritesSmall()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, small) -> Path:
    path = tmp_path_factory.mktemp("hub_exports") / "small"
    export_dataset(small, path, name="dsprites_small", parameters={"cache": True})
    return path


def copy(exported: Path, target: Path) -> Path:
    shutil.copytree(exported, target)
    return target


def edit_json(directory: Path, change) -> None:
    path = directory / "disentangle_bench.json"
    metadata = json.loads(path.read_text())
    change(metadata)
    path.write_text(json.dumps(metadata))


def card_fingerprint_line(directory: Path) -> str:
    fingerprint = json.loads((directory / "disentangle_bench.json").read_text())["fingerprint"]
    line = f"  fingerprint: {fingerprint}\n"
    assert (directory / "README.md").read_text().count(line) == 1
    return line


def flip_one_pixel(shard: Path, metadata: dict) -> None:
    """Rewrite ``shard`` with one pixel changed, its schema (and the card's features) kept."""
    table = pq.read_table(shard)
    images = table["image"].combine_chunks()
    storage = images.storage if hasattr(images, "storage") else images
    flat = storage.flatten().flatten().flatten().to_numpy().copy()
    flat[100] ^= 1
    rebuilt = hub_export._image_array(
        flat.reshape(len(table), 64, 64, 1), "array", features_for(metadata, "array")
    )
    pq.write_table(table.set_column(0, "image", pa.chunked_array([rebuilt])), shard)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("bench: error: ")
    return err[0][len("bench: error: ") :]


def test_an_export_that_records_no_fingerprint_is_refused(tmp_path, exported):
    directory = copy(exported, tmp_path / "nofp")
    edit_json(directory, lambda m: m.pop("fingerprint"))
    with pytest.raises(DataError, match=r"disentangle_bench.json records no 'fingerprint'"):
        download(str(directory), name="nofp")
    # without the JSON, the card's own section is the metadata, and it must record one too
    (directory / "disentangle_bench.json").unlink()
    card = directory / "README.md"
    card.write_text(card.read_text().replace(card_fingerprint_line(exported), ""))
    with pytest.raises(DataError, match=r"the card's 'disentangle_bench' section records no"):
        download(str(directory), name="nofp")
    edit = copy(exported, tmp_path / "badfp")
    edit_json(edit, lambda m: m.update(fingerprint="not-a-digest"))
    with pytest.raises(DataError, match="'fingerprint' 'not-a-digest' is not a SHA-256"):
        download(str(edit), name="badfp")


def test_the_card_and_the_json_must_agree(tmp_path, exported):
    directory = copy(exported, tmp_path / "disagree")
    card = directory / "README.md"
    line = card_fingerprint_line(directory)
    card.write_text(card.read_text().replace(line, f"  fingerprint: {'0' * 64}\n"))
    with pytest.raises(DataError, match=r"the card \(README.md\) and disentangle_bench.json "):
        download(str(directory), name="disagree")
    card.write_text(card.read_text().replace(f"  fingerprint: {'0' * 64}\n", ""))
    with pytest.raises(DataError, match=r"the card \(README.md\) records no content fingerprint"):
        download(str(directory), name="disagree")


def test_the_cards_fingerprint_is_checked_when_the_json_is_gone(tmp_path, exported):
    directory = copy(exported, tmp_path / "cardonly")
    metadata = json.loads((directory / "disentangle_bench.json").read_text())
    (directory / "disentangle_bench.json").unlink()
    flip_one_pixel(next((directory / "data").iterdir()), metadata)
    with pytest.raises(DataError, match="do not match the recorded content fingerprint"):
        download(str(directory), name="cardonly")


def test_download_overwrite_rereads_a_shard_changed_in_place(tmp_path, exported, small):
    directory = copy(exported, tmp_path / "inplace")
    slug, entry = download(str(directory), name="inplace")
    assert (
        entry.meta["received_fingerprint"]
        == json.loads((directory / "disentangle_bench.json").read_text())["fingerprint"]
    )
    shard = next((directory / "data").iterdir())
    times = shard.stat()
    metadata = json.loads((directory / "disentangle_bench.json").read_text())
    flip_one_pixel(shard, metadata)
    os.utime(shard, ns=(times.st_atime_ns, times.st_mtime_ns))  # same size class, same mtime
    assert download(str(directory), name="inplace")[1].directory == entry.directory  # reused
    with pytest.raises(DataError, match="do not match the recorded content fingerprint"):
        download(str(directory), name="inplace", overwrite=True)


def test_a_renamed_column_is_one_line_naming_it(tmp_path, exported, capsys):
    directory = copy(exported, tmp_path / "renamed")
    shard = next((directory / "data").iterdir())
    table = pq.read_table(shard)
    renamed = [name if name != "label_scale" else "label_size" for name in table.column_names]
    pq.write_table(table.rename_columns(renamed), shard)
    assert main(["datasets", "download", str(directory), "--name", "renamed"]) == 2
    assert one_error_line(capsys) == (
        f"{directory}: data/{shard.name} does not have the columns that the dataset card "
        "(README.md) lists (missing label_scale; unexpected label_size)"
    )


def test_a_broken_yaml_card_is_one_line_with_its_line(tmp_path, exported, capsys):
    directory = copy(exported, tmp_path / "yaml")
    card = directory / "README.md"
    card.write_text(card.read_text().replace("license:", "license: [unclosed", 1))
    assert main(["datasets", "download", str(directory), "--name", "yaml"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(
        f"{directory}: the dataset card has malformed YAML front matter (README.md, line 3): "
    )


def test_a_download_prints_its_own_progress_only(tmp_path, exported, capsys):
    assert main(["datasets", "download", str(exported), "--name", "quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(" ")[0] for line in err] == ["import", "store", str(exported)]
    assert not any("Generating" in line or "%|" in line for line in err)


# -- killed exports and downloads ------------------------------------------------------------

STALL = """
import os, sys, time
sys.path.insert(0, {root!r})
from disentangle_bench.data.dsprites import ProceduralDSpritesSmall
from disentangle_bench.data.hub import export as hub_export, importing
from disentangle_bench.data import dlib_layout

def stall(original):
    def chunks(*args, **kwargs):
        for number, chunk in enumerate(original(*args, **kwargs)):
            if number == 1:
                print("started", flush=True)
                time.sleep(60)
            yield chunk
    return chunks

job, target = sys.argv[1], sys.argv[2]
if job == "export":
    hub_export.uint8_chunks = stall(hub_export.uint8_chunks)
    hub_export.export_dataset(ProceduralDSpritesSmall(), target, name="s", chunk_size=512)
elif job == "dlib":
    dlib_layout.uint8_chunks = stall(dlib_layout.uint8_chunks)
    dlib_layout.export_dlib(ProceduralDSpritesSmall(), target, name="s", chunk_size=512)
else:
    decode = importing._decode
    def slow(dataset, feature, source, start, stop):
        print("started", flush=True)  # the scratch folder exists by now
        time.sleep(60)
        return decode(dataset, feature, source, start, stop)
    importing._decode = slow
    importing.download(target, name="killed")
"""


def kill_midway(job: str, target: Path, how: signal.Signals, env_cache: Path) -> int:
    """Run ``job`` in another process, stop it with ``how`` halfway; return its pid."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "DISENTANGLE_BENCH_CACHE": str(env_cache)}
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(STALL).format(root=root), job, str(target)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout.readline().strip() == "started"
    finally:
        process.send_signal(how)
        process.wait(timeout=60)
    return process.pid


def leftovers(folder: Path, pid: int) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".") and f"-{HOST}-{pid}-" in p.name]


def test_a_terminated_export_leaves_a_temporary_that_the_next_export_removes(tmp_path, small):
    target = tmp_path / "exports" / "small"
    pid = kill_midway("export", target, signal.SIGTERM, tmp_path / "cache")
    (temporary,) = leftovers(target.parent, pid)
    assert temporary.name.startswith(".small.tmp-") and not target.exists()
    export_dataset(small, tmp_path / "exports" / "other", name="dsprites_small")
    assert leftovers(target.parent, pid) == []


def test_a_killed_dlib_export_leaves_a_temporary_that_the_next_one_removes(tmp_path, small):
    out = tmp_path / "dlib"
    pid = kill_midway("dlib", out, signal.SIGKILL, tmp_path / "cache")
    (temporary,) = leftovers(out / "dsprites", pid)
    assert ".tmp-" in temporary.name
    written = export_dlib(small, out, name="dsprites_small")
    assert leftovers(out / "dsprites", pid) == []
    assert written.is_file()


def test_a_killed_download_leaves_scratch_that_the_next_download_removes(
    tmp_path, exported, _private_cache
):
    pid = kill_midway("download", exported, signal.SIGKILL, _private_cache)
    hub = _private_cache / "hub"
    (scratch,) = leftovers(hub, pid)
    assert scratch.name.startswith(".killed.scratch-") and (scratch / "arrow").is_dir()
    slug, entry = download(str(exported), name="again")
    assert leftovers(hub, pid) == []
    assert [p.name for p in hub.iterdir()] == ["again"]  # no scratch of its own left either
    assert entry.meta["count"] == 2304 and entry.store.get(np.arange(5)).shape == (5, 64, 64, 1)
