"""The training loop: seeded, resumable from its last checkpoint, logging every loss term.

Batches are drawn from the dataset with ``np.random.RandomState(seed)``; model initialisation and
reparametrisation noise use torch's generator seeded by the runner. A checkpoint holds the model,
the optimiser and every random state, so a resumed run continues exactly where the interrupted one
stopped (bit for bit on CPU).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gin
import numpy as np
import torch

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.errors import BenchError
from disentangle_bench.files import atomic_write, atomic_write_text
from disentangle_bench.progress import Progress

CHECKPOINT_FILE = "checkpoint.pt"
LOSS_LOG_FILE = "losses.jsonl"


class TrainingDivergedError(BenchError):
    """The loss became NaN or infinite."""


@gin.configurable("train")
@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation hyperparameters; defaults are disentanglement_lib's (Adam, batch 64)."""

    steps: int = 300_000
    batch_size: int = 64
    learning_rate: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    checkpoint_every: int = 1000
    log_every: int = 100

    def __post_init__(self) -> None:
        for field in ("steps", "batch_size", "checkpoint_every", "log_every"):
            if int(getattr(self, field)) < 1:
                raise ValueError(f"train.{field} must be a positive integer")
        if not self.learning_rate > 0:
            raise ValueError("train.learning_rate must be positive")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainingResult:
    steps: int
    final_losses: dict[str, float]
    train_seconds: float
    resumed_from: int


def to_model_input(observations: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 NHWC numpy -> float32 NCHW tensor on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(observations, dtype=np.float32))
    return tensor.permute(0, 3, 1, 2).contiguous().to(device, non_blocking=True)


def train(
    model: torch.nn.Module,
    data: GroundTruthData,
    config: TrainingConfig,
    *,
    run_dir: Path,
    seed: int,
    device: torch.device,
    label: str = "train",
) -> TrainingResult:
    """Train ``model`` on ``data`` for ``config.steps`` steps, resuming from ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    model.to(device)
    model.train()
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=config.learning_rate,
        betas=(config.beta1, config.beta2),
        eps=config.epsilon,
    )
    random_state = np.random.RandomState(seed)
    state = {"step": 0, "train_seconds": 0.0, "final_losses": {}}
    checkpoint_path = run_dir / CHECKPOINT_FILE
    if checkpoint_path.exists():
        state = _load_checkpoint(checkpoint_path, model, optimizer, random_state, device)
    resumed_from = state["step"]
    _truncate_loss_log(run_dir / LOSS_LOG_FILE, resumed_from)

    progress = Progress(config.steps, label, start=resumed_from)
    step = resumed_from
    updating = False
    step_start_states = _random_states(random_state)
    started = time.perf_counter()
    previous_seconds = state["train_seconds"]
    final_losses: dict[str, float] = state["final_losses"]

    def save(random_states: dict[str, Any]) -> None:
        state_now = {
            "step": step,
            "train_seconds": previous_seconds + time.perf_counter() - started,
            "final_losses": final_losses,
        }
        _save_checkpoint(checkpoint_path, model, optimizer, random_states, state_now)

    try:
        with open(run_dir / LOSS_LOG_FILE, "a", encoding="utf-8") as log:
            while step < config.steps:
                step_start_states = _random_states(random_state)
                batch = to_model_input(
                    data.sample_observations(config.batch_size, random_state), device
                )
                total, terms = model.loss(batch, step)
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                updating = True
                optimizer.step()
                updating = False
                step += 1
                if step % config.log_every == 0 or step == config.steps:
                    final_losses = {name: float(value.detach()) for name, value in terms.items()}
                    if not all(math.isfinite(v) for v in final_losses.values()):
                        raise TrainingDivergedError(
                            f"{label}: non-finite loss at step {step}: {final_losses}; the last "
                            f"checkpoint ({CHECKPOINT_FILE}) holds the model before it diverged"
                        )
                    log.write(json.dumps({"step": step, **final_losses}) + "\n")
                    log.flush()
                    progress.update(step, _format_losses(final_losses))
                if step % config.checkpoint_every == 0 or step == config.steps:
                    save(_random_states(random_state))
    except KeyboardInterrupt:
        if not updating:  # parameters match `step`; the random states rewind to its start
            save(step_start_states)
        raise
    seconds = previous_seconds + time.perf_counter() - started
    model.eval()
    return TrainingResult(step, final_losses, seconds, resumed_from)


def _format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.4g}" for name, value in losses.items())


def _random_states(random_state: np.random.RandomState) -> dict[str, Any]:
    """Every random state a training step consumes (the batch sampler's and torch's)."""
    return {
        "numpy_random_state": random_state.get_state(),
        "torch_random_state": torch.get_rng_state(),
        "cuda_random_state": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    random_states: dict[str, Any],
    state: dict[str, Any],
) -> None:
    payload = {
        **state,
        **random_states,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
    }
    atomic_write(path, lambda handle: torch.save(payload, handle))


def _load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    random_state: np.random.RandomState,
    device: torch.device,
) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location=device, weights_only=False)
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
    except Exception as error:
        raise BenchError(
            f"cannot resume from {path}: {type(error).__name__}: {error}; delete it to start over"
        ) from error
    random_state.set_state(payload["numpy_random_state"])
    torch.set_rng_state(payload["torch_random_state"].cpu())
    if payload["cuda_random_state"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in payload["cuda_random_state"]])
    return {key: payload[key] for key in ("step", "train_seconds", "final_losses")}


def _truncate_loss_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a resumed run continues from."""
    if not path.exists():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line)["step"] <= step
    ]
    atomic_write_text(path, "".join(line + "\n" for line in kept))
