"""What a new user met: bench evaluate re-scores a run with the settings it was scored with (and
says so), unknown metric names get a suggestion, a model without a decoder is told why it has
no figures, a small grid's dlib export cannot pass for the full file, and long metric
evaluations print progress."""

from __future__ import annotations

import io
import json
import re
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from disentangle_bench.cli import main
from disentangle_bench.data.dlib_layout import export_dlib, is_full_grid, target_file
from disentangle_bench.data.dsprites import ProceduralDSpritesSmall
from disentangle_bench.data.loaders import DSPRITES_FILE, SHAPES3D_FILES
from disentangle_bench.data.shapes3d import ProceduralShapes3DSmall
from disentangle_bench.metrics import MIG
from disentangle_bench.metrics.utils import metric_progress
from disentangle_bench.util.errors import DataError

README = Path(__file__).resolve().parents[1] / "README.md"
RUN_ID = "linear-original-beta_vae-seed0"


def write_config(tmp_path: Path, model: str = "beta_vae") -> Path:
    config = tmp_path / f"{model}.gin"
    config.write_text(
        f"""
experiment.name = 'newuser'
experiment.model = '{model}'
experiment.datasets = ['linear']
experiment.metrics = ['mig']
{model}.architecture = 'mlp'
{model}.num_latent = 2
train.steps = 6
train.batch_size = 16
train.checkpoint_every = 6
train.log_every = 3
mig.num_train = 200
discretizer.num_bins = 5
"""
    )
    return config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("newuser")
    assert main(["run", "--gin", str(write_config(root)), "--out", str(root / "out")]) == 0
    return root / "out" / "runs" / RUN_ID


def evaluations(path: Path) -> list[dict]:
    return json.loads((path / "evaluations" / "mig.json").read_text())["evaluations"]


def test_evaluate_rescores_a_run_with_its_own_settings_and_says_so(run_dir, capsys):
    recorded = json.loads((run_dir / "run.json").read_text())["metrics"]["mig"]
    assert main(["evaluate", str(run_dir), "--metric", "mig"]) == 0
    out = capsys.readouterr().out
    assert (
        "  metric settings: the run's operative config (the bindings it was scored with); "
        "--metric-defaults ignores it"
    ) in out
    latest = evaluations(run_dir)[-1]
    assert latest["scores"] == recorded  # the same number, not the defaults' 10,000 points
    assert latest["parameters"]["num_train"] == 200
    assert "discretizer.num_bins = 5" in latest["operative_gin"]
    assert latest["settings"] == {
        "source": "run operative config",
        "run": str(run_dir),
        "gin_files": [],
        "bindings": [],
    }


def test_bindings_go_on_top_and_metric_defaults_leave_the_run_out(run_dir, capsys):
    binding = "discretizer.num_bins = 7"
    assert main(["evaluate", str(run_dir), "--metric", "mig", "--bind", binding]) == 0
    assert f"then --bind '{binding}'" in capsys.readouterr().out
    on_top = evaluations(run_dir)[-1]
    assert on_top["parameters"]["num_train"] == 200
    assert "discretizer.num_bins = 7" in on_top["operative_gin"]

    arguments = ["evaluate", str(run_dir), "--metric", "mig", "--metric-defaults"]
    assert main([*arguments, "--bind", "mig.num_train = 200"]) == 0
    assert "metric settings: the metrics' defaults, then --bind" in capsys.readouterr().out
    defaults = evaluations(run_dir)[-1]
    assert defaults["settings"]["source"] == "metric defaults"
    assert "discretizer.num_bins = 20" in defaults["operative_gin"]  # the default, not the run's


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("discrete_mig", "unknown metric 'discrete_mig'; did you mean 'mig'?"),
        ("SAP_score", "unknown metric 'SAP_score'; did you mean 'sap_score'?"),
        ("factorvae", "unknown metric 'factorvae'; did you mean 'factor_vae_score'"),
    ],
)
def test_an_unknown_metric_gets_a_suggestion(run_dir, capsys, name, message):
    assert main(["evaluate", str(run_dir), "--metric", name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert "installed metrics" not in err[0]


def test_an_unknown_name_with_nothing_close_lists_the_metrics(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--metric", "zzz"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error: unknown metric 'zzz'; installed metrics: ")
    assert "mig" in err and "dci" in err


def test_a_model_without_a_decoder_is_told_why_it_has_no_figures(tmp_path, capsys, run_dir):
    assert (run_dir / "reconstructions.png").is_file() and (run_dir / "traversals.png").is_file()
    config = write_config(tmp_path, "pcl")
    assert main(["run", "--gin", str(config), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert (
        "  reconstructions.png and traversals.png not written: model 'pcl' has no reconstruct() "
        "or decode() (optional methods of the model contract)"
    ) in err
    pcl_run = tmp_path / "out" / "runs" / "linear-original-pcl-seed0"
    assert (pcl_run / "run.json").is_file()
    assert not list(pcl_run.glob("*.png"))


def test_the_readme_documents_the_optional_model_methods():
    text = README.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `register_models()`"))
    assert "optional" in row and "`decode(z)`" in row and "`reconstruct(x)`" in row
    assert "reconstructions.png, traversals.png  only for a model with" in text


# -- disentanglement_lib layout of a small grid --------------------------------------------------


def test_a_small_grid_never_takes_disentanglement_libs_file_name(tmp_path, capsys):
    out = tmp_path / "dlib"
    assert main(["datasets", "export", "dsprites_small", "--to", str(out), "--format", "dlib"]) == 0
    printed = capsys.readouterr().out
    assert "a (3, 3, 4, 8, 8) grid, not disentanglement_lib's full one" in printed
    assert "DISENTANGLEMENT_LIB_DATA" not in printed
    assert not (out / DSPRITES_FILE).exists()
    written = out / "dsprites" / "dsprites_ndarray_co1sh3sc3or4x8y8_64x64.npz"
    with np.load(written, allow_pickle=False) as archive:
        assert archive["latents_classes"].max(axis=0).tolist() == [0, 2, 2, 3, 7, 7]


def test_the_full_grids_keep_disentanglement_libs_names():
    full = types.SimpleNamespace(factors_num_values=(3, 6, 40, 32, 32))
    assert target_file(full, "dsprites_npz") == DSPRITES_FILE
    assert is_full_grid(full, "dsprites_npz")
    shapes = types.SimpleNamespace(factors_num_values=(10, 10, 10, 8, 4, 15))
    assert target_file(shapes, "shapes3d_h5") == SHAPES3D_FILES[0]
    assert target_file(shapes, "shapes3d_npz") == SHAPES3D_FILES[2]
    small = ProceduralShapes3DSmall()
    sizes = "x".join(str(s) for s in small.factors_num_values)
    assert target_file(small, "shapes3d_h5") == f"3dshapes/3dshapes_{sizes}.h5"
    assert not is_full_grid(small, "shapes3d_npz")


def test_the_rgb_default_is_refused_without_h5py_not_switched(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py raises ImportError
    with pytest.raises(DataError, match=r"needs h5py: .*or pass --layout shapes3d_npz"):
        export_dlib(ProceduralShapes3DSmall(), tmp_path / "rgb", name="shapes3d_small")
    assert not (tmp_path / "rgb").exists()


# -- progress of long metric evaluations ----------------------------------------------------


def slow_codes(observations: np.ndarray) -> np.ndarray:
    time.sleep(0.02)
    return observations.reshape(len(observations), -1)[:, :2].astype(np.float32)


def test_a_long_metric_prints_periodic_lines_with_rate_and_eta():
    stream = io.StringIO()
    with metric_progress("  mig", stream=stream, interval=0.1):
        MIG(num_train=300, batch_size=10)(
            ProceduralDSpritesSmall(), slow_codes, np.random.RandomState(0)
        )
    lines = stream.getvalue().splitlines()
    # on a loaded machine a tick can come before the first batch: the elapsed-time form
    while lines and re.fullmatch(r"  mig: still scoring, \d+s so far", lines[0]):
        lines.pop(0)
    assert len(lines) >= 2, lines
    pattern = r"  mig: codes (\d+)/300 \(\d+%\) [\d.]+ points/s ETA \S+"
    assert all(re.fullmatch(pattern, line) for line in lines), lines
    assert lines[-1].startswith("  mig: codes 300/300 (100%)")
    done = [int(re.fullmatch(pattern, line).group(1)) for line in lines]
    assert done == sorted(done) and done[0] < 300


def test_between_sampling_loops_a_line_says_how_long_it_has_run():
    stream = io.StringIO()
    with metric_progress("  dci", stream=stream, interval=0.05):
        time.sleep(0.3)  # a classifier being fitted
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(re.fullmatch(r"  dci: still scoring, \d+s so far", line) for line in lines)


def test_a_short_metric_and_one_outside_the_block_print_nothing(capsys):
    stream = io.StringIO()
    with metric_progress("  mig", stream=stream, interval=30):
        MIG(num_train=100, batch_size=10)(
            ProceduralDSpritesSmall(), slow_codes, np.random.RandomState(0)
        )
    assert stream.getvalue() == ""
    MIG(num_train=100, batch_size=10)(
        ProceduralDSpritesSmall(), slow_codes, np.random.RandomState(0)
    )
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
