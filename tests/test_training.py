"""The trainer: loss log, checkpoints, exact resume after an interruption, divergence."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch

from disentangle_bench.data.ground_truth import ArrayGroundTruthData
from disentangle_bench.models.vae import BetaVAE
from disentangle_bench.pipeline.training import (
    CHECKPOINT_FILE,
    LOSS_LOG_FILE,
    TrainingConfig,
    TrainingDivergedError,
    train,
)

CPU = torch.device("cpu")


def small_binary_dataset():
    rng = np.random.RandomState(0)
    images = (rng.rand(4 * 4, 64, 64, 1) > 0.8).astype(np.uint8)
    return ArrayGroundTruthData(images, ["a", "b"], (4, 4), binary=True)


def new_model():
    torch.manual_seed(0)
    return BetaVAE((64, 64, 1), num_latent=2, beta=1.0)


def config(**overrides):
    values = {
        "steps": 10,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "checkpoint_every": 3,
        "log_every": 2,
    }
    values.update(overrides)
    return TrainingConfig(**values)


def test_training_logs_every_term_and_leaves_a_checkpoint(tmp_path):
    result = train(
        new_model(), small_binary_dataset(), config(), run_dir=tmp_path, seed=0, device=CPU
    )
    assert result.steps == 10 and result.resumed_from == 0
    lines = [json.loads(line) for line in (tmp_path / LOSS_LOG_FILE).read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4, 6, 8, 10]
    assert set(lines[0]) == {
        "step",
        "loss",
        "reconstruction_loss",
        "kl_loss",
        "regularizer",
        "elbo",
    }
    assert lines[-1]["loss"] < lines[0]["loss"]
    checkpoint = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert checkpoint["step"] == 10


def test_resume_after_interruption_gives_the_same_model_as_an_uninterrupted_run(tmp_path):
    data = small_binary_dataset()
    straight = new_model()
    train(straight, data, config(), run_dir=tmp_path / "straight", seed=0, device=CPU)

    interrupted = new_model()
    original_loss = interrupted.loss

    def loss_interrupted_at_step_7(x, step, *noise):
        if step == 7:
            raise KeyboardInterrupt
        return original_loss(x, step, *noise)

    interrupted.loss = loss_interrupted_at_step_7
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, data, config(), run_dir=tmp_path / "resumed", seed=0, device=CPU)
    # Exact at checkpoint granularity: the last checkpoint (step 6) stays; steps 7.. are redone.
    assert torch.load(tmp_path / "resumed" / CHECKPOINT_FILE, weights_only=True)["step"] == 6

    resumed = new_model()
    torch.manual_seed(999)  # resuming must not depend on the state of the global generator
    result = train(resumed, data, config(), run_dir=tmp_path / "resumed", seed=0, device=CPU)
    assert result.resumed_from == 6 and result.steps == 10
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    logged = (tmp_path / "resumed" / LOSS_LOG_FILE).read_text().splitlines()
    assert [json.loads(line)["step"] for line in logged] == [2, 4, 6, 8, 10]
    assert logged == (tmp_path / "straight" / LOSS_LOG_FILE).read_text().splitlines()


def test_finished_checkpoint_means_no_more_steps(tmp_path):
    data = small_binary_dataset()
    train(new_model(), data, config(), run_dir=tmp_path, seed=0, device=CPU)
    model = new_model()
    result = train(model, data, config(), run_dir=tmp_path, seed=0, device=CPU)
    assert result.resumed_from == 10 and result.steps == 10


def test_divergence_is_reported_and_the_last_checkpoint_survives(tmp_path):
    model = new_model()
    original_loss = model.loss

    def diverging(x, step, *noise):
        total, terms = original_loss(x, step, *noise)
        if step >= 5:
            terms = {**terms, "loss": total * float("nan")}
        return total, terms

    model.loss = diverging
    with pytest.raises(TrainingDivergedError, match="non-finite loss at step 6"):
        train(model, small_binary_dataset(), config(), run_dir=tmp_path, seed=0, device=CPU)
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["step"] == 3


@pytest.mark.parametrize("field", ["steps", "batch_size", "checkpoint_every", "log_every"])
def test_config_rejects_non_positive_counts(field):
    with pytest.raises(ValueError, match=f"train.{field}"):
        TrainingConfig(**{field: 0})


# -- models with their own optimisers, pairs, mixed precision, figures ---------------------------


def two_bar_dataset():
    images = np.zeros((16, 64, 64, 1), dtype=np.uint8)
    for x in range(4):
        for y in range(4):
            images[4 * x + y, :, 8 + 12 * x : 14 + 12 * x] = 1
            images[4 * x + y, 8 + 12 * y : 14 + 12 * y, :] = 1
    return ArrayGroundTruthData(images, ["x", "y"], (4, 4), binary=True)


def build(name):
    from disentangle_bench.models import AdaGVAE, FactorVAE, SlowVAE

    torch.manual_seed(0)
    cls = {"factor_vae": FactorVAE, "ada_gvae": AdaGVAE, "slow_vae": SlowVAE}[name]
    return cls((64, 64, 1), num_latent=2)


@pytest.mark.parametrize("name", ["factor_vae", "ada_gvae", "slow_vae"])
def test_resume_is_exact_for_two_optimisers_and_for_pair_samplers(tmp_path, name):
    data = two_bar_dataset()
    settings = config(checkpoint_every=5)  # FactorVAE's checkpoints are large: save fewer
    straight = build(name)
    train(straight, data, settings, run_dir=tmp_path / "straight", seed=0, device=CPU)

    interrupted = build(name)
    method = "training_losses" if hasattr(interrupted, "training_losses") else "loss"
    original = getattr(interrupted, method)

    def interrupted_at_step_7(batch, step, *noise):
        if step == 7:
            raise KeyboardInterrupt
        return original(batch, step, *noise)

    setattr(interrupted, method, interrupted_at_step_7)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, data, settings, run_dir=tmp_path / "resumed", seed=0, device=CPU)
    checkpoint = torch.load(tmp_path / "resumed" / CHECKPOINT_FILE, weights_only=True)
    assert checkpoint["step"] == 5
    if name == "factor_vae":
        assert sorted(checkpoint["optimizers"]) == ["discriminator", "vae"]
        assert checkpoint["optimizers"]["discriminator"]["state"]  # Adam moments saved

    resumed = build(name)
    torch.manual_seed(999)
    result = train(resumed, data, settings, run_dir=tmp_path / "resumed", seed=0, device=CPU)
    assert result.resumed_from == 5
    for (key, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), key
    logged = (tmp_path / "resumed" / LOSS_LOG_FILE).read_text()
    assert logged == (tmp_path / "straight" / LOSS_LOG_FILE).read_text()


def test_resuming_from_a_checkpoint_in_the_middle_of_a_log_interval_keeps_the_log(tmp_path):
    # checkpoint_every=3, log_every=2: the checkpoint at step 3 holds the sum of step 3's terms,
    # which the resumed run's line for step 4 must include.
    data = small_binary_dataset()
    train(new_model(), data, config(), run_dir=tmp_path / "straight", seed=0, device=CPU)
    interrupted = new_model()
    original_loss = interrupted.loss

    def interrupted_at_step_4(x, step, *noise):
        if step == 4:
            raise KeyboardInterrupt
        return original_loss(x, step, *noise)

    interrupted.loss = interrupted_at_step_4
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, data, config(), run_dir=tmp_path / "resumed", seed=0, device=CPU)
    checkpoint = torch.load(tmp_path / "resumed" / CHECKPOINT_FILE, weights_only=True)
    assert checkpoint["step"] == 3 and checkpoint["term_sums"]["count"] == 1
    result = train(new_model(), data, config(), run_dir=tmp_path / "resumed", seed=0, device=CPU)
    assert result.resumed_from == 3
    logged = (tmp_path / "resumed" / LOSS_LOG_FILE).read_text().splitlines()
    assert logged == (tmp_path / "straight" / LOSS_LOG_FILE).read_text().splitlines()


def test_each_log_line_is_the_mean_of_the_steps_since_the_previous_line(tmp_path):
    data = small_binary_dataset()
    every = tmp_path / "every"
    train(new_model(), data, config(steps=4, log_every=1), run_dir=every, seed=0, device=CPU)
    pairs = tmp_path / "pairs"
    result = train(
        new_model(), data, config(steps=4, log_every=2), run_dir=pairs, seed=0, device=CPU
    )
    single = [json.loads(line) for line in (every / LOSS_LOG_FILE).read_text().splitlines()]
    paired = [json.loads(line) for line in (pairs / LOSS_LOG_FILE).read_text().splitlines()]
    assert [line["step"] for line in paired] == [2, 4]
    for line, (first, second) in zip(paired, [single[0:2], single[2:4]], strict=True):
        for name in ("loss", "kl_loss", "reconstruction_loss"):
            assert line[name] == pytest.approx(0.5 * (first[name] + second[name]), rel=1e-6)
    assert result.final_losses == pytest.approx(
        {k: v for k, v in paired[-1].items() if k != "step"}
    )
    assert single[0]["loss"] != pytest.approx(single[1]["loss"], rel=1e-3)  # a real average


def test_random_states_are_read_only_when_a_checkpoint_is_written(tmp_path, monkeypatch):
    from disentangle_bench.pipeline import training

    calls = []
    original = training._random_states
    monkeypatch.setattr(
        training, "_random_states", lambda state: calls.append(1) or original(state)
    )
    train(new_model(), small_binary_dataset(), config(), run_dir=tmp_path, seed=0, device=CPU)
    assert len(calls) == 4  # checkpoints at steps 3, 6, 9 and the last, 10; none per step


def test_checkpoints_hold_only_tensors_and_plain_values(tmp_path):
    data = small_binary_dataset()
    train(new_model(), data, config(steps=3), run_dir=tmp_path, seed=0, device=CPU)
    payload = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    numpy_state = payload["numpy_random_state"]
    assert numpy_state["algorithm"] == "MT19937" and numpy_state["keys"].shape == (624,)
    random_state = np.random.RandomState(0)
    for _ in range(3):  # the three batches of 8 the run drew
        data.sample_observations(8, random_state)
    expected = random_state.get_state()
    assert np.array_equal(numpy_state["keys"].numpy(), expected[1])
    assert numpy_state["position"] == expected[2]


def test_a_checkpoint_with_a_pickled_object_is_refused_in_one_line(tmp_path):
    from disentangle_bench.util.errors import BenchError

    data = small_binary_dataset()
    train(new_model(), data, config(steps=3), run_dir=tmp_path, seed=0, device=CPU)
    path = tmp_path / CHECKPOINT_FILE
    payload = torch.load(path, weights_only=True)
    payload["numpy_random_state"] = np.random.RandomState(0).get_state()  # a numpy array inside
    torch.save(payload, path)
    with pytest.raises(BenchError) as caught:
        train(new_model(), data, config(steps=6), run_dir=tmp_path, seed=0, device=CPU)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"refusing to load {path}: it holds pickled")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_checkpoint_is_named_as_such_in_one_line(tmp_path, damage):
    from disentangle_bench.util.errors import BenchError

    data = small_binary_dataset()
    train(new_model(), data, config(steps=3), run_dir=tmp_path, seed=0, device=CPU)
    path = tmp_path / CHECKPOINT_FILE
    whole = path.read_bytes()
    path.write_bytes(bytes(range(256)) * 2 if damage == "garbage" else whole[: len(whole) // 2])
    with pytest.raises(BenchError) as caught:
        train(new_model(), data, config(steps=6), run_dir=tmp_path, seed=0, device=CPU)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"cannot read {path}: not a checkpoint")
    assert "pickled" not in message and message.endswith("delete it to start over")


def test_a_loss_log_cut_short_in_the_middle_of_a_line_resumes(tmp_path):
    data = small_binary_dataset()
    train(new_model(), data, config(), run_dir=tmp_path / "straight", seed=0, device=CPU)
    run_dir = tmp_path / "crashed"
    train(new_model(), data, config(steps=6), run_dir=run_dir, seed=0, device=CPU)
    with open(run_dir / LOSS_LOG_FILE, "a", encoding="utf-8") as log:
        log.write('{"step": 8, "loss": 12')  # the process died here
    result = train(new_model(), data, config(), run_dir=run_dir, seed=0, device=CPU)
    assert result.resumed_from == 6
    logged = (run_dir / LOSS_LOG_FILE).read_text()
    assert logged == (tmp_path / "straight" / LOSS_LOG_FILE).read_text()


def test_a_damaged_line_inside_the_loss_log_stops_the_resume_in_one_line(tmp_path):
    from disentangle_bench.util.errors import BenchError

    data = small_binary_dataset()
    train(new_model(), data, config(steps=6), run_dir=tmp_path, seed=0, device=CPU)
    lines = (tmp_path / LOSS_LOG_FILE).read_text().splitlines()
    lines[1] = lines[1][:10]
    (tmp_path / LOSS_LOG_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(BenchError, match=r"losses.jsonl, line 2, is not a loss record"):
        train(new_model(), data, config(), run_dir=tmp_path, seed=0, device=CPU)


def test_pair_model_on_a_dataset_that_cannot_make_its_pairs_fails_before_training(tmp_path):
    from disentangle_bench.models import AdaGVAE
    from disentangle_bench.util.errors import ConfigError

    model = AdaGVAE((64, 64, 1), num_latent=2, k=3)
    with pytest.raises(ConfigError, match="k=3 differing factors need at least 3"):
        train(model, small_binary_dataset(), config(), run_dir=tmp_path / "run", seed=0, device=CPU)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_checkpoints(tmp_path, precision):
    from disentangle_bench.models import FactorVAE

    data = small_binary_dataset()
    reference = new_model()
    train(reference, data, config(steps=2), run_dir=tmp_path / "fp32", seed=0, device=CPU)
    model = new_model()
    result = train(
        model,
        data,
        config(steps=2, mixed_precision=precision),
        run_dir=tmp_path / precision,
        seed=0,
        device=CPU,
    )
    expected = json.loads((tmp_path / "fp32" / LOSS_LOG_FILE).read_text().splitlines()[0])
    assert result.final_losses["loss"] == pytest.approx(expected["loss"], rel=0.02)
    checkpoint = torch.load(tmp_path / precision / CHECKPOINT_FILE, weights_only=True)
    assert (checkpoint["grad_scaler"] is not None) == (precision == "fp16")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    torch.manual_seed(0)
    factor = FactorVAE((64, 64, 1), num_latent=2)
    result = train(
        factor,
        data,
        config(steps=2, mixed_precision=precision),
        run_dir=tmp_path / f"{precision}-factor",
        seed=0,
        device=CPU,
    )
    assert all(math.isfinite(v) for v in result.final_losses.values())


def test_config_rejects_unknown_mixed_precision():
    with pytest.raises(ValueError, match="train.mixed_precision"):
        TrainingConfig(mixed_precision="fp8")


def test_bench_run_trains_a_pair_model_and_writes_the_figures(tmp_path):
    from disentangle_bench.pipeline.running import run_experiment

    gin_file = tmp_path / "slow.gin"
    gin_file.write_text(
        "experiment.name = 'slow'\n"
        "experiment.model = 'slow_vae'\n"
        "experiment.datasets = ['dsprites_small']\n"
        "experiment.metrics = ['mig']\n"
        "slow_vae.num_latent = 2\n"
        "train.steps = 3\n"
        "train.batch_size = 8\n"
        "train.log_every = 1\n"
        "mig.num_train = 100\n"
    )
    out = tmp_path / "out"
    outcome = run_experiment([gin_file], out_dir=out, device="cpu", stream=io.StringIO())
    run_dir = out / "runs" / "dsprites_small-original-slow_vae-seed0"
    assert (run_dir / "reconstructions.png").read_bytes().startswith(b"\x89PNG")
    assert (run_dir / "traversals.png").read_bytes().startswith(b"\x89PNG")
    record = outcome.records[0]
    assert set(record["training"]["final_losses"]) >= {"transition_kl", "kl_loss"}
    assert record["model"]["hyperparameters"]["gamma"] == 10.0


def decode_png(payload):
    """Pixels (H, W, C) of a PNG written by disentangle_bench.util.images, read by Pillow."""
    from PIL import Image

    with Image.open(io.BytesIO(payload), formats=["PNG"]) as image:
        assert image.mode in ("L", "RGB")
        pixels = np.asarray(image)
    return pixels if pixels.ndim == 3 else pixels[:, :, None]


@pytest.mark.parametrize("channels", [1, 3])
def test_png_writer_round_trips(tmp_path, channels):
    from disentangle_bench.util.images import write_png

    image = np.random.RandomState(0).randint(0, 256, (5, 7, channels)).astype(np.uint8)
    write_png(tmp_path / "image.png", image)
    assert np.array_equal(decode_png((tmp_path / "image.png").read_bytes()), image)


def test_figures_for_vector_data_are_strips_on_the_datas_own_scale(tmp_path):
    from disentangle_bench.models import BetaVAE
    from disentangle_bench.pipeline.training import save_figures

    values = np.random.RandomState(0).randn(16, 1, 1, 12).astype(np.float32) * 3.0
    data = ArrayGroundTruthData(values, ["a", "b"], (4, 4), binary=True)
    data.value_range = None  # real-valued observations: scaled to their own range
    torch.manual_seed(0)
    model = BetaVAE((1, 1, 12), num_latent=3, architecture="mlp", reconstruction="gaussian")
    written = save_figures(model, data, tmp_path, CPU)
    reconstructions = decode_png(written[0].read_bytes())
    traversals = decode_png(written[1].read_bytes())
    # Each (1, 1, 12) observation is a 1 x 12 strip, upscaled 16x: 8 columns x 2 rows of tiles.
    assert reconstructions.shape == (2 * (16 + 2) + 2, 8 * (12 * 16 + 2) + 2, 1)
    assert traversals.shape == (3 * (16 + 2) + 2, 8 * (12 * 16 + 2) + 2, 1)
    originals = reconstructions[2:18, 2 : 2 + 12 * 16, 0]
    assert (
        originals.min() < 60 and originals.max() > 200
    )  # the range is used, not clipped to [0, 1]
