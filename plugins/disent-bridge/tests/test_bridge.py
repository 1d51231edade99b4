"""The disent bridge, with the real disent: its frameworks as bench models, bench's data in
disent, a disent-trained model scored and submitted, and disent's losses against the reference."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import gin
import numpy as np
import pytest
import torch
from disent_bridge import MODELS, disent_data, score_and_submit
from disent_bridge.reference import disent_terms, reference_terms

from disentangle_bench.cli import main
from disentangle_bench.leaderboard import load_submission
from disentangle_bench.pipeline.representation import TorchRepresentation
from disentangle_bench.pipeline.training import to_model_input
from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import ConfigError

HERE = Path(__file__).resolve().parent
BRIDGE = HERE.parent
TINY = HERE / "configs" / "tiny_disent.gin"
DISTRIBUTION = "disentangle-bench-disent-bridge 0.1.0"
#: disent config fields the bench trainer owns (optimisation), so the plugins do not take them.
TRAINER_FIELDS = {"optimizer", "optimizer_kwargs"}
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def _framework(model_class):
    package, name = model_class.framework_class.split(".")
    return getattr(importlib.import_module(f"disent.frameworks.{package}"), name)


def test_frameworks_are_registered_with_disents_defaults():
    registry = Registry()
    names = [model.name for model in MODELS]
    assert names == sorted(set(names), key=names.index)  # unique
    for model in MODELS:
        entry = registry.get("models", model.name)
        assert entry.distribution == DISTRIBUTION and entry.plugin == "disent_bridge"
        assert model.name.startswith("disent_")
        parameters = inspect.signature(model).parameters
        fields = {f.name: f.default for f in dataclasses.fields(_framework(model).cfg)}
        exposed = {k: p.default for k, p in parameters.items() if k in fields}
        # Every config field but the optimiser's is a hyperparameter, with disent's default.
        assert set(exposed) == set(fields) - TRAINER_FIELDS, model.name
        assert exposed == {k: v for k, v in fields.items() if k in exposed}, model.name
        assert parameters["z_size"].default == 10
        assert parameters["architecture"].default == "conv64"
    assert {m.name for m in MODELS if m.sample_kind == "weak_pairs"} == {
        "disent_adavae",
        "disent_adagvae_minimal",
        "disent_adaae",
    }


def test_every_framework_computes_its_loss_and_representation():
    data = Registry().build("datasets", "dsprites_small")
    rng = np.random.RandomState(0)
    images = data.sample_observations_from_factors(data.sample_factors(8, rng), rng)
    x = to_model_input(images, torch.device("cpu"))
    for model_class in MODELS:
        torch.manual_seed(0)
        model = model_class(observation_shape=(64, 64, 1), z_size=3)
        batch = torch.stack([x, x.flip(0)]) if model.sample_kind == "weak_pairs" else x
        total, terms = model.loss(batch, step=0)
        total.backward()
        assert torch.isfinite(total) and terms["loss"] == total.detach(), model.name
        assert "recon_loss" in terms and all(t.ndim == 0 for t in terms.values()), model.name
        assert model.encode(x).shape == (8, 3)
        assert model.reconstruct(x).shape == x.shape
    with pytest.raises(ValueError, match="64x64"):
        MODELS[1](observation_shape=(32, 32, 1))
    with pytest.raises(ValueError, match="architecture must be one of"):
        MODELS[1](observation_shape=(64, 64, 1), architecture="resnet")


def test_reference_settings_give_the_reference_beta_vae_loss():
    """disent's beta-VAE with recon_loss='bce' and loss_reduction='mean_sum' is the reference's
    loss to float precision; its defaults and its beta-TCVAE and DIP-VAE-II are not."""
    model = MODELS[1](
        observation_shape=(64, 64, 1), z_size=4, beta=4.0, recon_loss="bce",
        loss_reduction="mean_sum",
    )  # fmt: skip
    data = Registry().build("datasets", "dsprites_small")
    rng = np.random.RandomState(1)
    images = data.sample_observations_from_factors(data.sample_factors(16, rng), rng)
    x = to_model_input(images, torch.device("cpu"))
    torch.manual_seed(3)
    total, _ = model.loss(x, step=0)
    torch.manual_seed(3)  # the same reparametrisation noise
    mean, log_var = model.framework._model.encode(x, chunk=True)
    z = torch.distributions.Normal(mean, torch.exp(0.5 * log_var)).rsample()
    logits = model.framework._model.decode(z)
    reference = reference_terms("beta_vae", x, logits, mean, log_var, z, beta=4.0)
    assert float(total) == pytest.approx(float(reference["total"]), rel=1e-6)

    with torch.no_grad():  # in float64, so that differences of large terms stay exact
        x, logits, mean, log_var, z = (t.double() for t in (x, logits, mean, log_var, z))
        kl = reference_terms("beta_vae", x, logits, mean, log_var, z, beta=1.0)["kl"]
        tc_model = MODELS[2](
            observation_shape=(64, 64, 1), z_size=4, beta=6.0, recon_loss="bce",
            loss_reduction="mean_sum",
        )  # fmt: skip
        theirs = disent_terms(tc_model.framework, x, logits, mean, log_var, z)
        ours = reference_terms("beta_tc_vae", x, logits, mean, log_var, z, beta=6.0)
        # disent: beta KL + (beta - 1) TC; the reference: KL + (beta - 1) TC.
        difference = float(theirs["regularizer"] - ours["regularizer"])
        assert difference == pytest.approx(5.0 * float(kl), rel=1e-9)
        assert float(theirs["reconstruction"]) == pytest.approx(
            float(ours["reconstruction"]), rel=1e-6
        )
        for mode, reference_name in (("i", "dip_vae_i"), ("ii", "dip_vae_ii")):
            dip = MODELS[3](
                observation_shape=(64, 64, 1), z_size=4, beta=1.0, dip_mode=mode, lambda_od=2.0,
                lambda_d=2.0, recon_loss="bce", loss_reduction="mean_sum",
            )  # fmt: skip
            theirs = disent_terms(dip.framework, x, logits, mean, log_var, z)
            ours = reference_terms(reference_name, x, logits, mean, log_var, z, lambda_od=2.0,
                                   lambda_d=2.0)  # fmt: skip
            same = float(theirs["regularizer"]) == pytest.approx(float(ours["regularizer"]))
            assert same is (mode == "i"), mode  # DIP-VAE-II's matrix differs (see README)
        defaults = MODELS[1](observation_shape=(64, 64, 1), z_size=4)
        theirs = disent_terms(defaults.framework, x, logits, mean, log_var, z)
        squared = (logits - x).square().mean()  # disent's default: MSE averaged over pixels
        assert float(theirs["reconstruction"]) == pytest.approx(float(squared), rel=1e-6)
        assert float(theirs["kl"]) == pytest.approx(float(kl) / 4, rel=1e-5)  # mean over z


def test_disents_bernoulli_loss_refuses_a_twins_values_and_bce_takes_them():
    registry = Registry()
    twin = registry.build("perturbations", "noise").apply(
        registry.build("datasets", "dsprites_small")
    )
    rng = np.random.RandomState(0)
    images = twin.sample_observations_from_factors(twin.sample_factors(4, rng), rng)
    x = to_model_input(images, torch.device("cpu"))
    assert len(np.unique(images)) > 2  # not binary
    options = {"observation_shape": (64, 64, 1), "z_size": 3, "loss_reduction": "mean_sum"}
    with pytest.raises(ValueError, match="support"):
        MODELS[1](recon_loss="bernoulli", **options).loss(x, 0)
    assert torch.isfinite(MODELS[1](recon_loss="bce", **options).loss(x, 0)[0])


def test_bench_run_trains_a_disent_framework(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--gin", str(TINY), "--out", str(out), "--device", "cpu"]) == 0
    for condition in ("original", "noise"):
        run_dir = out / "runs" / f"dsprites_small-{condition}-disent_betavae-seed0"
        record = json.loads((run_dir / "run.json").read_text())
        assert record["model"]["distribution"] == DISTRIBUTION
        hyperparameters = record["model"]["hyperparameters"]
        assert hyperparameters["z_size"] == 3 and hyperparameters["beta"] == 4.0
        assert hyperparameters["recon_loss"] == "bce"
        assert hyperparameters["loss_reduction"] == "mean_sum"
        losses = [json.loads(line) for line in (run_dir / "losses.jsonl").read_text().splitlines()]
        assert losses[-1]["loss"] < losses[0]["loss"]
        assert {"recon_loss", "kl_loss", "kl_reg_loss"} <= set(losses[-1])
        assert 0.0 <= record["metrics"]["mig"]["discrete_mig"] <= 1.0
    # The run's model rescored from its checkpoint gives the recorded score.
    assert main(["evaluate", str(run_dir), "--metric", "mig", "--bind", "mig.num_train = 300"]) == 0
    rescored = json.loads((run_dir / "evaluations" / "mig.json").read_text())["evaluations"]
    assert rescored[0]["scores"] == record["metrics"]["mig"]


def test_bench_data_in_disent_order_and_values():
    from disent.dataset import DisentDataset
    from disent.dataset.sampling import GroundTruthPairOrigSampler
    from disent.dataset.transform import ToImgTensorF32

    registry = Registry()
    base = registry.build("datasets", "dsprites_small")
    twin = registry.build("perturbations", "oblique").apply(base)
    data = disent_data("dsprites_small", "oblique", registry=registry)
    assert data.name == "dsprites_small+oblique"
    assert data.factor_names == tuple(base.factor_names)
    assert tuple(data.factor_sizes) == tuple(base.factors_num_values)
    assert len(data) == base.num_configurations and data.x_shape == (1, 64, 64)
    factors = base.sample_factors(50, np.random.RandomState(0))
    indices = data.pos_to_idx(factors)
    assert np.array_equal(indices, base.index_of(factors))  # the same order
    dataset = DisentDataset(data, transform=ToImgTensorF32())
    expected = twin.sample_observations_from_factors(factors, np.random.RandomState(0))
    got = np.stack([dataset[int(i)]["x_targ"][0].numpy() for i in indices])
    assert np.array_equal(got, np.moveaxis(expected, -1, 1))  # float32, not rounded to 8 bits
    assert len(np.unique(got)) > 2
    # disent's own weak-pair sampler draws pairs from it.
    sampler = GroundTruthPairOrigSampler(p_k=1)
    pairs = DisentDataset(data, sampler=sampler, transform=ToImgTensorF32())
    x0, x1 = pairs[0]["x_targ"]
    assert x0.shape == x1.shape == (1, 64, 64)
    in_memory = disent_data(twin, in_memory=True)
    assert np.array_equal(in_memory[int(indices[3])], expected[3])


def _readme_block(heading: str) -> str:
    text = (BRIDGE / "README.md").read_text()
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return block


def test_readme_example_trains_in_disents_loop_and_submits(tmp_path, monkeypatch):
    """The README's example, as written: disent's Lightning loop on a perturbed twin, then one
    call to score and submit; the file passes the leaderboard's checks."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_readme_block("Train in disent, submit to the leaderboard"), "README", "exec"),
         namespace)  # fmt: skip
    path = tmp_path / "submissions" / "disent-beta-vae-on-the-oblique-twin.json"
    submission = load_submission(path)
    assert submission["method"]["model"] == "disent_betavae"
    assert submission["method"]["distribution"] == "disent"
    assert submission["method"]["version"].startswith("0.8")
    assert submission["configs"][0]["training"]["protocol"] == "trained_per_condition"
    runs = {run["dataset"]["name"]: run for run in submission["runs"]}
    assert set(runs) == {"dsprites_small", "dsprites_small+oblique"}
    assert main(["leaderboard", "validate", str(path)]) == 0
    # The submitted score is the metric on the twin with the twin's model, seed 0.
    gin.parse_config("mig.num_train = 500")
    registry = Registry()
    twin = registry.build("perturbations", "oblique").apply(
        registry.build("datasets", "dsprites_small")
    )
    represent = TorchRepresentation(namespace["models"]["oblique"].eval(), "cpu", method="encode")
    expected = registry.build("metrics", "mig")(twin, represent, np.random.RandomState(0))
    assert runs["dsprites_small+oblique"]["metrics"]["mig"] == pytest.approx(expected, rel=1e-6)
    assert runs["dsprites_small+oblique"]["steps"] == 20


def test_one_encoder_on_every_twin_and_bad_mappings(tmp_path):
    torch.manual_seed(0)
    model = MODELS[1](observation_shape=(64, 64, 1), z_size=3)
    path = score_and_submit(model, name="untrained", dataset="dsprites_small",
                            bindings=["mig.num_train = 300"], board=tmp_path)  # fmt: skip
    submission = load_submission(path)
    assert submission["configs"][0]["training"]["protocol"] == "fixed_encoder"
    assert {run["dataset"]["condition"] for run in submission["runs"]} == {
        "original",
        "oblique",
        "noise",
    }
    with pytest.raises(ConfigError, match="missing \\['noise'\\]"):
        score_and_submit({"original": model, "oblique": model}, name="x", dataset="dsprites_small",
                         board=tmp_path)  # fmt: skip
    with pytest.raises(ConfigError, match="same number of models"):
        score_and_submit({"original": [model, model], "oblique": model, "noise": model},
                         name="x", dataset="dsprites_small", board=tmp_path)  # fmt: skip


def test_missing_disent_is_one_line(tmp_path):
    """With disent unimportable, bench stops with one line saying how to install it."""
    code = (
        "import sys; sys.modules['disent'] = None\n"
        "from disentangle_bench.cli import main\n"
        f"sys.exit(main(['run', '--gin', {str(TINY)!r}, '--out', {str(tmp_path / 'o')!r}]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISENTANGLE_BENCH_")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "cannot import disent" in done.stderr and "torch==2.14.1" in done.stderr
    assert not (tmp_path / "o" / "runs").exists()


def test_main_readme_from_disent_example(tmp_path, monkeypatch):
    """disentangle-bench's README, "From disent": its config and its two commands, with 12
    training steps and a smaller mig.num_train so that the test stays short."""
    text = (BRIDGE.parents[1] / "README.md").read_text()
    section = text.split("### From disent\n", 1)[1].split("\n### ", 1)[0]
    (config,) = re.findall(r"```gin\n(.*?)```", section, flags=re.S)
    (commands,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "disent_betavae.gin").write_text(config)
    quick = ["--bind", "train.steps = 12", "--bind", "mig.num_train = 300", "--device", "cpu"]
    run, submit = (line.split() for line in commands.strip().splitlines())
    assert run[:2] == ["bench", "run"] and submit[:2] == ["bench", "submit"]
    assert main([*run[1:], *quick]) == 0
    name = re.search(r'--name "([^"]+)"', commands).group(1)
    assert main([*submit[1 : submit.index("--name")], "--name", name]) == 0
    submission = load_submission(tmp_path / "submissions" / "disent-beta-vae.json")
    assert submission["method"]["model"] == "disent_betavae"
    assert submission["method"]["distribution"] == DISTRIBUTION.split()[0]
    assert {run["dataset"]["condition"] for run in submission["runs"]} == {
        "original",
        "oblique",
        "noise",
    }
