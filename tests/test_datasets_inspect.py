"""``bench datasets inspect``: the report and the contact sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from disentangle_bench.cli import main
from disentangle_bench.data.dsprites import ProceduralDSpritesSmall
from disentangle_bench.data.ground_truth import ArrayGroundTruthData
from disentangle_bench.data.inspect import (
    GUTTER,
    GUTTER_VALUE,
    contact_sheet,
    format_bytes,
    inspect_dataset,
)
from disentangle_bench.perturbations import MatchedNoise
from disentangle_bench.util.images import decode_png

TILE = 64 + GUTTER


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISENTANGLE_BENCH_CACHE", str(tmp_path / "cache"))


def tile(sheet: np.ndarray, row: int, column: int) -> np.ndarray:
    top, left = GUTTER + row * TILE, GUTTER + column * TILE
    return sheet[top : top + 64, left : left + 64]


def test_contact_sheet_layout_and_traversals():
    data = ProceduralDSpritesSmall()
    sheet = contact_sheet(data, seed=0, columns=10)
    assert sheet.dtype == np.uint8
    assert sheet.shape == ((2 + 5) * TILE + GUTTER, 10 * TILE + GUTTER, 3)
    assert np.all(sheet[:GUTTER] == GUTTER_VALUE)
    for factor, size in enumerate(data.factors_num_values):
        row = 2 + factor
        tiles = [tile(sheet, row, c) for c in range(10)]
        # One tile per value, each different from the last; the rest of the row is empty.
        for c in range(1, size):
            assert not np.array_equal(tiles[c], tiles[c - 1]), (factor, c)
        for c in range(size, 10):
            assert np.all(tiles[c] == GUTTER_VALUE)
    # Position x moves the sprite's columns to the right, one step per tile.
    mass = [tile(sheet, 5, c)[..., 0].astype(float) for c in range(8)]
    centres = [(m.sum(axis=0) * np.arange(64)).sum() / m.sum() for m in mass]
    assert np.all(np.diff(centres) > 3)
    # Sample rows hold random, binary (white on black) sprites.
    samples = tile(sheet, 0, 0)
    assert set(np.unique(samples)) <= {0, 255}


def test_report_sections_and_extension(tmp_path):
    data = MatchedNoise(eps=0.1).apply(ProceduralDSpritesSmall())
    sheet = tmp_path / "sheet.png"
    report = inspect_dataset(data, "dsprites_small+noise", sheet_path=sheet)
    text = report.to_text()
    assert "fingerprint" in text and data.fingerprint in text
    assert "perturbation" in text and "'eps': 0.1" in text
    assert "2,304" in text and "in memory; perturbation applied per batch" in text
    assert "row 7       traversal of position_y" in text
    image = decode_png(sheet.read_bytes())
    assert image.shape == (7 * TILE + GUTTER, 10 * TILE + GUTTER, 3)
    report.add("pixel variance", [("shape", "0.01")])  # another analysis adds its section
    assert report.to_text().rstrip().endswith("shape  0.01")


def test_non_image_data_gets_no_sheet(tmp_path):
    class Vectors(ArrayGroundTruthData):
        value_range = None

    data = Vectors(np.zeros((6, 1, 1, 4), np.uint8), ["a", "b"], (2, 3))
    report = inspect_dataset(data, "vectors", sheet_path=tmp_path / "s.png", fingerprint=False)
    assert "the observations are not images" in report.to_text()
    assert not (tmp_path / "s.png").exists()


def test_format_bytes():
    assert format_bytes(None) == "unknown"
    assert format_bytes(512) == "512 B"
    assert format_bytes(377_487_360) == "360.0 MiB"
    assert format_bytes(6 << 30) == "6.0 GiB"


def test_cli_inspect(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["datasets", "inspect", "xysquares", "--no-fingerprint"]) == 0
    out = capsys.readouterr().out
    assert "262,144" in out and "x_R" in out and "fingerprint" not in out
    assert (tmp_path / "xysquares_contact_sheet.png").is_file()
    assert main(["datasets", "inspect", "dsprites_small", "--no-sheet"]) == 0
    assert ProceduralDSpritesSmall().fingerprint in capsys.readouterr().out
    assert main(["datasets", "inspect", "scream_dsprites"]) == 2
    assert "scream_dsprites.path" in capsys.readouterr().err
