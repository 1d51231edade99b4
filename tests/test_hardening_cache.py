"""The dataset cache after damage and crashes: incomplete entries rebuilt, temporaries of dead
processes cleaned, fingerprints re-derived, an unwritable cache as one line."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from disentangle_bench.cli import main
from disentangle_bench.data import storage
from disentangle_bench.data.ground_truth import content_fingerprint
from disentangle_bench.data.storage import (
    CACHE_ENV,
    HOST,
    build_entry,
    find_entry,
    load_entry,
    load_or_build,
    remove_stale_temporaries,
    temporary_path,
)
from disentangle_bench.util.errors import DataError

HOUR = 3600.0


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(root))
    return root


def images_of(n: int = 40, binary: bool = True, seed: int = 0) -> np.ndarray:
    rs = np.random.RandomState(seed)
    high = 2 if binary else 256
    return rs.randint(0, high, size=(n, 8, 8, 1)).astype(np.uint8)


class Source:
    """Chunks of ``images``, counting how often the entry had to be built."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images
        self.builds = 0

    def __call__(self):
        self.builds += 1
        return (self.images[i : i + 16] for i in range(0, len(self.images), 16))


def load(directory: Path, source: Source, packed: bool = True):
    return load_or_build(
        directory,
        source,
        count=len(source.images),
        image_shape=source.images.shape[1:],
        factors_num_values=(len(source.images),),
        packed=packed,
    )


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("lost", ["meta.json", "images.npy"])
def test_an_entry_missing_a_file_is_rebuilt_not_stuck(tmp_path, lost, capsys):
    source = Source(images_of())
    directory = tmp_path / "entry"
    load(directory, source)
    (directory / lost).unlink()
    entry = load(directory, source)  # used to fail with "Directory not empty", every time
    assert source.builds == 2
    assert f"is incomplete (no {lost})" in capsys.readouterr().err
    np.testing.assert_array_equal(entry.store.get(np.arange(40)), source.images)
    assert load(directory, source).fingerprint == entry.fingerprint and source.builds == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]  # nothing left beside it


def test_building_over_an_incomplete_entry_replaces_it(tmp_path):
    directory = tmp_path / "entry"
    directory.mkdir()
    (directory / "images.npy").write_bytes(b"left over")
    images = images_of()
    entry = build_entry(
        directory,
        iter([images]),
        count=40,
        image_shape=(8, 8, 1),
        factors_num_values=(40,),
        packed=True,
    )
    assert entry.fingerprint == content_fingerprint(images, (40,))
    assert sorted(p.name for p in directory.iterdir()) == ["images.npy", "meta.json"]


def test_stale_temporaries_are_cleaned_and_live_ones_kept(tmp_path):
    now = time.time()
    gone = dead_pid()
    me = os.getpid()

    def make(name: str, age: float = 0.0, folder: bool = True) -> Path:
        path = tmp_path / name
        if folder:
            path.mkdir()
            (path / "images.npy").write_bytes(b"partial")
            os.utime(path / "images.npy", (now - age, now - age))
        else:
            path.write_bytes(b"partial")
        os.utime(path, (now - age, now - age))
        return path

    stale = [
        make(f".entry.tmp-{gone}-deadbeef"),  # its process is gone (an old-style name)
        make(f".entry.tmp-{HOST}-{gone}-deadbeef"),
        make(f".hub-x.scratch-{gone}-0badf00d"),  # a killed download's scratch folder
        make(f".entry.tmp-{HOST}-{me}-0000beef", age=2 * HOUR),  # made before this process
        make(".entry.tmp-elsewhere-12-abcdef01", age=2 * HOUR),  # another host, quiet 2 h
        make(".results.json.ab12cd34.tmp", age=2 * HOUR, folder=False),  # an atomic write's
    ]
    live = [
        make(f".entry.tmp-{HOST}-{me}-1234abcd"),  # this process, still building
        make(".entry.tmp-elsewhere-12-abcdef02"),  # another host: only age can tell
        make(".results.json.ab12cd35.tmp", folder=False),
        make(".keep", age=2 * HOUR, folder=False),  # not a temporary
        make("entry-ready", age=2 * HOUR),
    ]
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted(stale)
    assert all(p.exists() for p in live) and not any(p.exists() for p in stale)


def test_temporaries_carry_host_and_pid():
    path = temporary_path(Path("/c/procedural/dsprites-abc"), "scratch")
    prefix = f".dsprites-abc.scratch-{HOST}-{os.getpid()}-"
    assert path.parent == Path("/c/procedural") and path.name.startswith(prefix)
    assert re.fullmatch(r"[A-Za-z0-9_.]+", HOST)  # no "-": the name splits unambiguously
    assert HOST[:3] == re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:3]


KILLED_BUILD = """
import sys, time
import numpy as np
from pathlib import Path
from disentangle_bench.data.storage import build_entry

def chunks():
    yield np.zeros((16, 8, 8, 1), np.uint8)
    print("building", flush=True)
    time.sleep(60)

build_entry(Path(sys.argv[1]), chunks(), count=40, image_shape=(8, 8, 1),
            factors_num_values=(40,), packed=True)
"""


def test_the_next_build_cleans_what_a_killed_build_left(tmp_path):
    directory = tmp_path / "procedural" / "entry"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "building"
    process.send_signal(signal.SIGKILL)
    process.wait()
    [left] = list(directory.parent.iterdir())
    assert left.name.startswith(f".entry.tmp-{HOST}-{process.pid}-")
    load(directory, Source(images_of()))
    assert [p.name for p in directory.parent.iterdir()] == ["entry"]


@pytest.mark.parametrize("packed", [True, False])
def test_the_fingerprint_is_re_derived_from_the_images(tmp_path, packed, capsys):
    images = images_of(binary=packed)
    source = Source(images)
    directory = tmp_path / "entry"
    entry = load(directory, source, packed)
    assert load_entry(directory).verified == "fingerprint"
    # meta.json rewritten consistently but with another fingerprint: re-deriving catches it.
    meta_path = directory / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["fingerprint"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="do not match the fingerprint recorded in meta.json"):
        load_entry(directory)
    assert find_entry(directory) is None and not directory.exists()
    rebuilt = load(directory, source, packed)
    assert rebuilt.fingerprint == entry.fingerprint == content_fingerprint(images, (40,))
    assert source.builds == 2


def test_large_packed_entries_check_their_stored_bytes_instead(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "REDERIVE_LIMIT_BYTES", 100)  # pretend 40 tiny images are big
    directory = tmp_path / "entry"
    load(directory, Source(images_of()))
    assert load_entry(directory).verified == "sha256"
    path = directory / "images.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="contents do not match the SHA-256 in meta.json"):
        load_entry(directory)
    assert load_entry(directory, verify=False).verified == "none"


def test_an_unwritable_cache_is_one_line(tmp_path, monkeypatch, capsys):
    classes = np.stack(np.unravel_index(np.arange(12), (1, 3, 2, 2, 1, 1)), axis=1)
    npz = tmp_path / "d.npz"
    np.savez(
        npz,
        imgs=np.zeros((12, 64, 64), np.uint8),
        latents_classes=classes.astype(np.int64),
        latents_values=classes.astype(np.float64),
    )
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("x")
    monkeypatch.setenv(CACHE_ENV, str(not_a_folder))
    argv = ["datasets", "build", "dsprites_full", "--bind", f"dsprites_full.path = '{npz}'"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"bench: error: cannot write the dataset cache entry {not_a_folder / 'files'}"
    )
    assert err[0].endswith(f"(set {CACHE_ENV} to a writable folder)")
    assert not_a_folder.read_text() == "x"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert main(argv) == 0
    assert "dsprites_full: 12 images in " in capsys.readouterr().out


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "posix_fallocate", full, raising=False)
    directory = tmp_path / "entry"
    with pytest.raises(DataError) as failed:
        load(directory, Source(images_of()))
    assert str(failed.value) == (
        f"cannot write the dataset cache entry {directory}: No space left on device: the disk is "
        f"full (set {CACHE_ENV} to a writable folder)"
    )
    assert list(tmp_path.iterdir()) == []
