"""The GPU study's one command, run tiny on the CPU as the bare GPU image would run it: without
gin-config, datasets and jsonschema, writing what the device tool brings back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_common  # noqa: E402
import gpu_study  # noqa: E402
import gpu_throughput  # noqa: E402

BLOCKED = ("gin", "datasets", "jsonschema")
BLOCKER = f"""
import sys
BLOCKED = {BLOCKED!r}


class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not installed on the bare GPU image")
        return None


sys.meta_path.insert(0, _Absent())
"""
STUDY_FILES = {"results.json", "results.md", "losses.json", "log.txt", "self_check.json"}
THROUGHPUT_FILES = {"throughput.json", "throughput.md"}


def _bare_environment(tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH with a sitecustomize that makes gin, datasets and jsonschema unimportable."""
    site = tmp_path / "bare_site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(site)
    env["DISENTANGLE_BENCH_COMMIT"] = "0123abc+test"
    env.pop("OUT", None)
    return env


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke run of the wrapper in a bare environment, with the throughput cases first."""
    tmp_path = tmp_path_factory.mktemp("gpu_study")
    env = _bare_environment(tmp_path)
    env["PYTHON"] = sys.executable
    for name in BLOCKED:  # the blocker works: each of them fails to import
        check = subprocess.run(
            [sys.executable, "-c", f"import {name}"], env=env, capture_output=True, text=True
        )
        assert check.returncode != 0 and "bare GPU image" in check.stderr
    out = tmp_path / "out"
    command = [
        str(ROOT / "benchmarks" / "gpu_study.sh"),
        *("--device", "cpu", "--smoke", "--threads", "1", "--out", str(out)),
        *("--throughput", "0.01"),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    return result, out


def test_smoke_runs_without_gin_datasets_and_jsonschema(smoke):
    result, out = smoke
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert {p.name for p in out.iterdir()} == STUDY_FILES | THROUGHPUT_FILES
    assert gpu_common.check_out_limits(out) == []
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "complete"
    assert results["commit"] == "0123abc+test"
    assert results["hardware"]["gin"] == "stand-in"
    # the wrapper's default first, the caller's arguments after it (argparse: the last wins)
    assert results["command"].startswith("python benchmarks/gpu_study.py --throughput 40 ")
    assert results["command"].endswith(" --throughput 0.01")


def test_smoke_self_check_passes_and_is_written(smoke):
    _, out = smoke
    check = json.loads((out / "self_check.json").read_text())
    assert check["passed"] is True
    names = [c["check"] for c in check["checks"]]
    # batches of every condition for every model, and batched against separate runs per model
    assert sum(n.startswith("resident ") for n in names) == 3 * 4
    assert [n.split("(")[1].split(",")[0] for n in names if n.startswith("batched")] == [
        "beta_vae",
        "pcl",
        "ae",
    ]
    for c in check["checks"]:
        if c["check"].startswith("batched"):
            assert c["parameters_within_lr_over_10"] >= 0.999
            assert c["first_step_loss_relative_difference"] <= 1e-4


def test_smoke_trains_and_scores_every_model_condition_and_seed(smoke):
    _, out = smoke
    results = json.loads((out / "results.json").read_text())
    assert results["hyperparameters"]["beta_vae"] == {"num_latent": 5, "beta": 8.0}
    for study in ("dsprites", "testbed"):
        runs = results[study]["runs"]
        keys = {(r["model"], r["condition"], r["seed"]) for r in runs}
        assert keys == {
            (m, c, s) for m in gpu_study.MODELS for c in gpu_study.CONDITIONS for s in (0, 1)
        }
        assert all(0.0 <= r["mig"] <= 1.0 and r["steps"] == 2 for r in runs)
        statistics = results[study]["statistics"]
        assert {row["model"] for row in statistics["rows"]} == {"beta_vae", "pcl"}
        assert set(statistics["decisions"]) == {"beta_vae", "pcl"}
        assert set(statistics["decisions"].values()) <= {"supports", "contradicts", "undecided"}
    assert all(-1.0 <= r["phase_r2"] <= 1.0 for r in results["testbed"]["runs"])
    storage = {c: d["storage"] for c, d in results["datasets"].items()}
    assert storage == {
        "original": "uint8 codes",
        "structural": "uint8 codes",
        "noise": "float32",
        "shuffled": "uint8 codes",
    }
    markdown = (out / "results.md").read_text()
    assert "- status: complete" in markdown
    assert "| beta_vae | 2 | 2 |" in markdown and "claim_table" in markdown


def test_smoke_writes_every_loss_curve(smoke):
    _, out = smoke
    losses = json.loads((out / "losses.json").read_text())
    assert set(losses) == {f"{s}/{m}" for s in ("dsprites", "testbed") for m in gpu_study.MODELS}
    curves = losses["dsprites/beta_vae"]
    assert len(curves["members"]) == 8 and curves["steps"] == [1, 2]
    assert set(curves["terms"]) >= {"loss", "reconstruction_loss", "kl_loss"}
    assert all(len(values) == 8 for values in curves["terms"]["loss"])
    log = (out / "log.txt").read_text()
    assert "self-check beta_vae: passed" in log and "plan: 2 steps per model" in log


def test_smoke_throughput_reports_ratios_and_the_study_estimate(smoke):
    _, out = smoke
    report = json.loads((out / "throughput.json").read_text())
    rows = {row["case"]: row for row in report["rows"]}
    assert list(rows) == ["naive", "single", "batched_device", "batched_host"]
    assert rows["naive"]["model_steps_vs_naive"] == 1.0
    for row in rows.values():
        assert row["steps"] >= 1 and row["steps_per_second"] > 0
        assert row["model_steps_per_second"] == pytest.approx(
            row["steps_per_second"] * row["models"]
        )
    assert rows["batched_host"]["models"] == 2
    ratios = report["ratios"]
    assert ratios["single_vs_naive"] == pytest.approx(
        rows["single"]["steps_per_second"] / rows["naive"]["steps_per_second"]
    )
    best = max(row["model_steps_per_second"] for row in rows.values())
    assert report["paper_study"]["model_steps"] == 7 * 2 * 3 * 10 * 300_000
    assert report["paper_study"]["hours"] == pytest.approx(126e6 / best / 3600)
    assert report["targets"] == {
        "single_steps_per_second": 3000.0,
        "batched_model_steps_per_second": 12000.0,
        "paper_study_gpu_hours": 3.0,
    }
    text = (out / "throughput.md").read_text()
    assert "| naive | 1 |" in text and "target on one H200 (not asserted)" in text


def test_a_failed_self_check_says_so_and_trains_nothing(tmp_path, monkeypatch):
    original = gpu_common.HostFactors.__call__

    def shifted(self, batch_size):  # other images than bench run's batches
        return original(self, batch_size) // 2

    monkeypatch.setattr(gpu_common.HostFactors, "__call__", shifted)
    monkeypatch.setattr(gpu_study.HostFactors, "__call__", shifted)
    out = tmp_path / "out"
    argv = ["--device", "cpu", "--smoke", "--models", "ae", "--no-testbed", "--out", str(out)]
    assert gpu_study.main(argv) == 1
    check = json.loads((out / "self_check.json").read_text())
    assert check["passed"] is False
    assert not all(c["passed"] for c in check["checks"] if c["check"].startswith("batched"))
    results = json.loads((out / "results.json").read_text())
    assert results["status"].startswith("self-check failed")
    assert "dsprites" not in results and json.loads((out / "losses.json").read_text()) == {}


def test_the_plan_fits_the_deadline():
    settings = {"steps": None, "log_every": 100}
    rates = {"beta_vae": 50.0, "pcl": 100.0}  # 0.03 s per step of both groups
    plan = gpu_study.plan_steps(settings, rates, 500.0, 40.0, 20.0, 0.1, 300_000, 23)
    margin = 10.0 + 0.02 * 500.0
    budget = 500.0 - margin - 40.0 - 20.0  # the test bed costs under a tenth: included
    assert plan["testbed"] is True and plan["margin_seconds"] == margin
    assert plan["steps"] == int(budget / 0.03) // 100 * 100 == 14000
    expensive = gpu_study.plan_steps(settings, rates, 500.0, 40.0, 100.0, 0.1, 300_000, 23)
    assert expensive["testbed"] is False and expensive["steps"] == 14600  # 440 s / 0.03 s
    capped = gpu_study.plan_steps(settings, rates, 1e6, 40.0, None, 0.1, 5000, 23)
    assert capped["steps"] == 5000 and capped["testbed"] is False
    late = gpu_study.plan_steps(settings, rates, 5.0, 40.0, None, 0.1, 5000, 23)
    assert late["steps"] == 23  # no time left: what calibration trained
    fixed = gpu_study.plan_steps(
        {"steps": 700, "log_every": 100}, rates, 5.0, 40.0, None, 0.1, 5000, 23
    )
    assert fixed["steps"] == 700


def test_paper_hyperparameters_are_read_from_the_paper_configs(tmp_path, monkeypatch):
    assert gpu_common.paper_hyperparameters("beta_vae") == {"num_latent": 5, "beta": 8.0}
    assert gpu_common.paper_hyperparameters("pcl") == {"num_latent": 5, "transition_rate": 1.0}
    assert gpu_common.paper_hyperparameters("ae") == {"num_latent": 5}
    assert gpu_common.paper_hyperparameters("beta_vae", "shapes3d")["beta"] == 32.0
    (tmp_path / "ae_dsprites.gin").write_text("experiment.model = 'pcl'\npcl.num_latent = 5\n")
    monkeypatch.setattr(gpu_common, "PAPER_CONFIGS", tmp_path)
    with pytest.raises(gpu_common.ConfigError, match="configures 'pcl'"):
        gpu_common.paper_hyperparameters("ae")


def test_output_limits_are_those_of_the_device_tool(tmp_path):
    for name in ("a.json", "b.md"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "y" / "two_down.txt").write_text("ok")
    assert gpu_common.check_out_limits(tmp_path) == []
    (tmp_path / "x" / "y" / "z").mkdir()
    (tmp_path / "x" / "y" / "z" / "three_down.txt").write_text("lost")
    (tmp_path / "bad name.txt").write_text("lost")
    with open(tmp_path / "big.bin", "wb") as handle:
        handle.truncate(16 * 2**20 + 1)
    for k in range(4):
        (tmp_path / f"extra{k}.txt").write_text("")
    problems = "\n".join(gpu_common.check_out_limits(tmp_path))
    assert "10 files, at most 8 come back" in problems
    assert "three_down.txt: more than 2 folders down" in problems
    assert "bad name.txt: a name with characters" in problems
    assert f"big.bin: {16 * 2**20 + 1} bytes" in problems


def test_the_commit_comes_from_the_environment_or_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DISENTANGLE_BENCH_COMMIT", " abc123 ")
    assert gpu_common.resolve_commit() == "abc123"
    monkeypatch.delenv("DISENTANGLE_BENCH_COMMIT")
    (tmp_path / ".commit").write_text("def456+uncommitted\n")
    monkeypatch.setattr(gpu_common, "COMMIT_FILE", tmp_path / ".commit")
    assert gpu_common.resolve_commit() == "def456+uncommitted"


def test_the_gin_stand_in_keeps_only_the_decorators(tmp_path):
    code = (
        "import sys; sys.path.insert(0, 'benchmarks'); import gpu_common, gin\n"
        "assert gpu_common.GIN_STAND_IN\n"
        "f = lambda: 1\n"
        "assert gin.configurable('x', denylist=['y'])(f) is f and gin.configurable(f) is f\n"
        "assert gin.external_configurable(f, name='z') is f\n"
        "try:\n    gin.parse_config('a.b = 1')\nexcept AttributeError as e:\n    print(e)\n"
    )
    env = _bare_environment(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "gin.parse_config: gin-config is not installed here" in result.stdout


def test_resident_group_members_get_their_own_dataset_and_seed():
    """Members on two datasets, sharing factor streams by seed, in member order."""
    import torch

    from disentangle_bench.data.dsprites import ProceduralDSpritesSmall
    from disentangle_bench.data.resident import ResidentData
    from disentangle_bench.perturbations.oblique import ObliqueStripes
    from disentangle_bench.perturbations.resident import make_resident
    from disentangle_bench.pipeline.training import TrainingConfig

    base = ProceduralDSpritesSmall()
    cpu = torch.device("cpu")
    residents = {"original": ResidentData.build(base, cpu)}
    residents["structural"] = make_resident(
        ObliqueStripes(eps=0.1).apply(base), cpu, base=residents["original"]
    )
    members = [("structural", 1), ("original", 0), ("original", 1), ("structural", 0)]
    group = gpu_common.ResidentGroup(
        "ae",
        {"num_latent": 3, "architecture": "mlp"},
        members,
        residents,
        TrainingConfig(batch_size=4),
        cpu,
    )
    batch = group.batch()
    assert batch.shape == (4, 4, 1, 64, 64)
    samplers = {s: np.random.RandomState(s) for s in (1, 0)}  # the streams, in member order
    expected = {s: base.sample_factors(4, samplers[s]) for s in (1, 0)}
    for k, (condition, seed) in enumerate(members):
        assert torch.equal(batch[k], residents[condition].observations_of(expected[seed]))


def test_throughput_runs_alone_on_the_cpu(tmp_path, capsys):
    assert gpu_throughput.main(["--device", "cpu", "--smoke", "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == THROUGHPUT_FILES
    report = json.loads((tmp_path / "throughput.json").read_text())
    assert report["settings"]["dataset"] == "dsprites_small"
    assert report["settings"]["models_at_once"] == 2
    assert report["hardware"]["device"] == "cpu"
    assert "| quantity | measured |" in capsys.readouterr().out


def test_loss_curves_are_thinned_to_what_comes_back():
    import torch

    from disentangle_bench.data.blob import Blob
    from disentangle_bench.data.resident import ResidentData
    from disentangle_bench.pipeline.training import TrainingConfig

    cpu = torch.device("cpu")
    residents = {"original": ResidentData.build(Blob(), cpu)}
    config = TrainingConfig(batch_size=4, log_every=1)
    group = gpu_common.ResidentGroup(
        "beta_vae",
        {"num_latent": 2, "architecture": "mlp"},
        [("original", 0)],
        residents,
        config,
        cpu,
        sampling="device",
    )
    lines: list[str] = []
    assert group.train(5, progress=lines.append, every=0.0) == 5
    assert len(lines) == 5 and lines[-1].startswith("train beta_vae x1: step 5/5, ")
    assert "steps/s, ETA 0 s, mean loss " in lines[-1]
    assert group.loss_curves()["steps"] == [1, 2, 3, 4, 5]
    thinned = group.loss_curves(max_points=3)
    assert thinned["steps"] == [1, 3, 5]
    expected = [group.log[i][1]["loss"] for i in (0, 2, 4)]  # written to 6 significant digits
    np.testing.assert_allclose(thinned["terms"]["loss"], expected, rtol=1e-5)


def test_gpu_train_check_runs_on_the_bare_image(tmp_path):
    env = _bare_environment(tmp_path)
    env["PYTHON"] = sys.executable
    out = tmp_path / "out"
    command = [
        str(ROOT / "benchmarks" / "gpu_train_check.sh"),
        *("--device", "cpu", "--steps", "1", "--warmup", "1", "--models", "ae"),
        *("--threads", "1", "--out", str(out)),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (written,) = out.glob("train_check-*-cpu.json")
    report = json.loads(written.read_text())
    assert report["commit"] == "0123abc+test"
    assert [row["model"] for row in report["models"]] == ["ae"]
    assert report["models"][0]["steps"] == 1 and report["models"][0]["steps_per_second"] > 0


@pytest.mark.parametrize("model", ["beta_vae", "pcl"])
def test_resident_group_trains_exactly_what_train_batched_trains(model):
    """Host-drawn factors on resident data: the batched trainer's models, bit for bit."""
    import torch

    from disentangle_bench.data.blob import Blob
    from disentangle_bench.data.resident import ResidentData
    from disentangle_bench.pipeline.batched import train_batched
    from disentangle_bench.pipeline.training import TrainingConfig

    cpu, data = torch.device("cpu"), Blob()
    hyperparameters = {"num_latent": 3, "architecture": "mlp"}
    config = TrainingConfig(steps=3, batch_size=8, learning_rate=1e-3, log_every=1)
    registry = SimpleNamespace(  # the registry's lookup, without building the registry
        get=lambda kind, name: SimpleNamespace(factory=gpu_common.FACTORIES[name])
    )
    expected = train_batched(
        model, hyperparameters, data, [0, 1], config, cpu, progress=False, registry=registry
    )
    residents = {"original": ResidentData.build(data, cpu)}
    group = gpu_common.ResidentGroup(
        model, hyperparameters, [("original", 0), ("original", 1)], residents, config, cpu
    )
    group.train(3)
    for got, want in zip(group.models(), expected, strict=True):
        for (name, a), (_, b) in zip(got.named_parameters(), want.named_parameters(), strict=True):
            assert torch.equal(a, b), name
