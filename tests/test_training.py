"""The trainer: loss log, checkpoints, exact resume after an interruption, divergence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from disentangle_bench.data.ground_truth import ArrayGroundTruthData
from disentangle_bench.models.vae import BetaVAE
from disentangle_bench.training import (
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
    checkpoint = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=False)
    assert checkpoint["step"] == 10


def test_resume_after_interruption_gives_the_same_model_as_an_uninterrupted_run(tmp_path):
    data = small_binary_dataset()
    straight = new_model()
    train(straight, data, config(), run_dir=tmp_path / "straight", seed=0, device=CPU)

    interrupted = new_model()
    original_loss = interrupted.loss

    def loss_interrupted_at_step_7(x, step):
        if step == 7:
            raise KeyboardInterrupt
        return original_loss(x, step)

    interrupted.loss = loss_interrupted_at_step_7
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, data, config(), run_dir=tmp_path / "resumed", seed=0, device=CPU)
    assert torch.load(tmp_path / "resumed" / CHECKPOINT_FILE, weights_only=False)["step"] == 7

    resumed = new_model()
    torch.manual_seed(999)  # resuming must not depend on the state of the global generator
    result = train(resumed, data, config(), run_dir=tmp_path / "resumed", seed=0, device=CPU)
    assert result.resumed_from == 7 and result.steps == 10
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
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

    def diverging(x, step):
        total, terms = original_loss(x, step)
        if step >= 5:
            terms = {**terms, "loss": total * float("nan")}
        return total, terms

    model.loss = diverging
    with pytest.raises(TrainingDivergedError, match="non-finite loss at step 6"):
        train(model, small_binary_dataset(), config(), run_dir=tmp_path, seed=0, device=CPU)
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=False)["step"] == 3


@pytest.mark.parametrize("field", ["steps", "batch_size", "checkpoint_every", "log_every"])
def test_config_rejects_non_positive_counts(field):
    with pytest.raises(ValueError, match=f"train.{field}"):
        TrainingConfig(**{field: 0})
