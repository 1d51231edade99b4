"""The training loop: seeded, resumable from its last checkpoint, logging every loss term.

Batches come from the sampler the model's ``sample_kind`` asks for
(:func:`disentangle_bench.data.sampling.make_sampler`), drawn with ``np.random.RandomState(seed)``;
model initialisation and the models' own noise (reparametrisation, shuffles, negatives) use
torch's global generator, seeded by the runner. A model with ``draw_noise(batch, generator)``
has its noise drawn here, before the forward pass, and passed to its loss as ``noise`` (the same
numbers in the same order as a loss that draws them itself).

The loop does not wait for the device between steps: the loss terms are summed on the device and
read every ``train.log_every`` steps (each line of ``losses.jsonl`` holds the mean of each term
over the steps since the previous line), and the random states are read only when a checkpoint
is written. A checkpoint holds the model, every optimiser, the gradient scaler, the loss sums and
every random state, as plain tensors, numbers, strings, lists and dicts (it loads with
``torch.load(..., weights_only=True)``; a file with anything else is refused). A resumed run
continues exactly from its last checkpoint (bit for bit on CPU); an interrupted run loses the
steps after it, and the resumed run repeats them.

Optimisation follows the model contract
(:func:`disentangle_bench.registry.hookspecs.register_models`): a plain model gets one Adam
optimiser (named ``model``) over all its parameters and minimises ``loss(batch, step)[0]``; a
model with ``configure_optimizers(config)`` and
``training_losses(batch, step)`` gets one backward pass per optimiser, restricted to that
optimiser's parameters, and every optimiser steps on the same batch. Adam is the fused
implementation on CUDA and the multi-tensor one on CPU (:func:`adam`); on CUDA batches travel
through pinned memory.

Mixed precision (``train.mixed_precision``): ``'bf16'`` runs the forward pass under
``torch.autocast`` in bfloat16; ``'fp16'`` in float16 with a gradient scaler; ``None`` (default)
in float32. Parameters and optimiser states stay float32.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import pickle
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gin
import numpy as np
import torch

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.data.sampling import make_sampler
from disentangle_bench.models.losses import parameter_dtype
from disentangle_bench.models.optimizers import adam
from disentangle_bench.util.errors import BenchError, ConfigError, PluginError
from disentangle_bench.util.files import atomic_write, atomic_write_text
from disentangle_bench.util.images import image_grid, to_display, traversal_values, write_png
from disentangle_bench.util.progress import Progress

CHECKPOINT_FILE = "checkpoint.pt"
LOSS_LOG_FILE = "losses.jsonl"
RECONSTRUCTIONS_FILE = "reconstructions.png"
TRAVERSALS_FILE = "traversals.png"
MIXED_PRECISION = {"bf16": torch.bfloat16, "fp16": torch.float16}
DEFAULT_OPTIMIZER = "model"


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
    mixed_precision: str | None = None

    def __post_init__(self) -> None:
        for field in ("steps", "batch_size", "checkpoint_every", "log_every"):
            if int(getattr(self, field)) < 1:
                raise ValueError(f"train.{field} must be a positive integer")
        if not self.learning_rate > 0:
            raise ValueError("train.learning_rate must be positive")
        if self.mixed_precision not in (None, *MIXED_PRECISION):
            raise ValueError(
                f"train.mixed_precision must be None, 'bf16' or 'fp16', got "
                f"{self.mixed_precision!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainingResult:
    steps: int
    final_losses: dict[str, float]
    train_seconds: float
    resumed_from: int


def to_model_input(
    observations: np.ndarray, device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """float32 ``(..., H, W, C)`` numpy -> ``(..., C, H, W)`` tensor of ``dtype`` on ``device``.

    Single observations ``(N, H, W, C)`` become ``(N, C, H, W)``; pairs ``(2, N, H, W, C)``
    become ``(2, N, C, H, W)``. On CUDA the array travels through pinned memory without waiting
    and is transposed on the device.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(observations, dtype=np.float32))
    if device.type == "cuda":
        tensor = tensor.pin_memory().to(device, non_blocking=True)
        return tensor.movedim(-1, -3).contiguous().to(dtype)
    tensor = tensor.movedim(-1, -3).contiguous()
    return tensor.to(device=device, dtype=dtype)


def default_optimizer(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """disentanglement_lib's optimiser: Adam with the training config's hyperparameters."""
    return adam(
        model.parameters(), config.learning_rate, (config.beta1, config.beta2), config.epsilon
    )


def configure_optimizers(
    model: torch.nn.Module, config: TrainingConfig
) -> dict[str, torch.optim.Optimizer]:
    """The model's optimisers by name: its own ``configure_optimizers`` or one Adam."""
    if not hasattr(model, "configure_optimizers"):
        return {DEFAULT_OPTIMIZER: default_optimizer(model, config)}
    optimizers = dict(model.configure_optimizers(config))
    name = getattr(model, "name", type(model).__name__)
    if not optimizers or not hasattr(model, "training_losses"):
        raise PluginError(
            f"model {name!r}: configure_optimizers() must return at least one optimiser and the "
            "model must define training_losses(batch, step)"
        )
    seen: set[int] = set()
    for optimizer in optimizers.values():
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                if id(parameter) in seen:
                    raise PluginError(
                        f"model {name!r}: a parameter belongs to two optimisers; each optimiser "
                        "must own its own parameters"
                    )
                seen.add(id(parameter))
    return optimizers


def draw_noise(
    model: torch.nn.Module, batch: torch.Tensor, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor] | None:
    """The model's random draws for one step on ``batch`` (None if it draws its own)."""
    if not hasattr(model, "draw_noise"):
        return None
    return model.draw_noise(batch, generator)


def compute_losses(
    model: torch.nn.Module,
    batch: torch.Tensor,
    step: int,
    names: list[str],
    noise: dict[str, torch.Tensor] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``({optimiser name: loss}, terms)`` for one batch; ``noise`` (from :func:`draw_noise`) is
    passed to the model's loss when given."""
    extra = () if noise is None else (noise,)
    if hasattr(model, "training_losses"):
        losses, terms = model.training_losses(batch, step, *extra)
        losses = dict(losses)
    else:
        total, terms = model.loss(batch, step, *extra)
        losses = {DEFAULT_OPTIMIZER: total}
    if sorted(losses) != sorted(names):
        name = getattr(model, "name", type(model).__name__)
        raise PluginError(
            f"model {name!r} returned losses for {sorted(losses)} but has optimisers {names}"
        )
    return losses, terms


class _Precision:
    """The autocast context and gradient scaler of ``train.mixed_precision``."""

    def __init__(self, mode: str | None, device: torch.device) -> None:
        self.dtype = MIXED_PRECISION.get(mode) if mode else None
        self.device_type = device.type
        if self.dtype is not None:
            try:
                with torch.autocast(self.device_type, dtype=self.dtype):
                    pass
            except (RuntimeError, ValueError) as error:
                raise ConfigError(
                    f"train.mixed_precision = {mode!r} is not supported on {device}: {error}"
                ) from None
        enabled = self.dtype is torch.float16
        self.scaler = torch.amp.GradScaler(self.device_type, enabled=enabled) if enabled else None

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward(**kwargs)

    def step(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        for optimizer in optimizers.values():
            if self.scaler:
                self.scaler.step(optimizer)
            else:
                optimizer.step()
        if self.scaler:
            self.scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        return self.scaler.state_dict() if self.scaler else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)


def _parameters(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]


def backward(
    losses: dict[str, torch.Tensor],
    optimizers: dict[str, torch.optim.Optimizer],
    precision: _Precision | None = None,
) -> None:
    """Zero every gradient, then back-propagate each loss into its optimiser's parameters only."""
    precision = precision or _Precision(None, torch.device("cpu"))
    for optimizer in optimizers.values():
        optimizer.zero_grad(set_to_none=True)
    if len(optimizers) == 1:
        precision.backward(next(iter(losses.values())))
        return
    names = list(optimizers)
    for position, name in enumerate(names):
        precision.backward(
            losses[name],
            inputs=_parameters(optimizers[name]),
            retain_graph=position < len(names) - 1,
        )


def optimization_step(
    model: torch.nn.Module,
    batch: torch.Tensor,
    step: int,
    optimizers: dict[str, torch.optim.Optimizer],
) -> dict[str, torch.Tensor]:
    """One full-precision training step of ``model`` on ``batch`` (as :func:`train` takes it);
    returns the logged terms."""
    noise = draw_noise(model, batch)
    losses, terms = compute_losses(model, batch, step, list(optimizers), noise)
    precision = _Precision(None, batch.device)
    backward(losses, optimizers, precision)
    precision.step(optimizers)
    return terms


class _TermSums:
    """Running sums of the logged terms on the device: one stack and one add per step, read
    (one synchronisation) only when a line is logged or a checkpoint is written."""

    def __init__(self, device: torch.device, shape: tuple[int, ...] = ()) -> None:
        self.device = device
        self.shape = shape  # of each term: () for one model, (K,) for K batched models
        self.names: list[str] | None = None
        self.sums: torch.Tensor | None = None
        self.count = 0

    def add(self, terms: dict[str, Any], label: str) -> None:
        if self.names is None:
            self.names = list(terms)
        elif list(terms) != self.names:
            raise PluginError(
                f"{label}: the model reported terms {list(terms)} after {self.names}; every step "
                "must report the same terms"
            )
        values = torch.stack(
            [
                torch.as_tensor(terms[name], device=self.device)
                .detach()
                .float()
                .reshape(self.shape)
                for name in self.names
            ]
        )
        self.sums = values if self.sums is None else self.sums + values
        self.count += 1

    def finite(self) -> bool:
        return self.sums is None or bool(torch.isfinite(self.sums).all())

    def means(self) -> dict[str, Any]:
        """The mean of each term since the last reset (a list of K values for K models)."""
        if self.sums is None or self.names is None:
            return {}
        return dict(zip(self.names, (self.sums / self.count).tolist()))

    def reset(self) -> None:
        self.sums, self.count = None, 0

    def state_dict(self) -> dict[str, Any]:
        return {"names": self.names, "sums": self.sums, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.names = None if state["names"] is None else list(state["names"])
        sums = state["sums"]
        self.sums = None if sums is None else sums.to(self.device)
        self.count = int(state["count"])


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
    """Train ``model`` on ``data`` for ``config.steps`` steps, resuming from ``run_dir``.

    Raises :class:`ConfigError` before any step if the dataset cannot make the samples the model
    needs (e.g. weak pairs with more differing factors than the dataset has).
    """
    sampler = make_sampler(model, data)
    precision = _Precision(config.mixed_precision, device)
    run_dir.mkdir(parents=True, exist_ok=True)
    model.to(device)
    model.train()
    dtype = parameter_dtype(model)
    optimizers = configure_optimizers(model, config)
    names = list(optimizers)
    random_state = np.random.RandomState(seed)
    sums = _TermSums(device)
    state = {"step": 0, "train_seconds": 0.0, "final_losses": {}}
    checkpoint_path = run_dir / CHECKPOINT_FILE
    if checkpoint_path.exists():
        state = _load_checkpoint(
            checkpoint_path, model, optimizers, precision, random_state, sums, device
        )
    resumed_from = state["step"]
    _truncate_loss_log(run_dir / LOSS_LOG_FILE, resumed_from)

    progress = Progress(config.steps, label, start=resumed_from)
    step = resumed_from
    started = time.perf_counter()
    previous_seconds = state["train_seconds"]
    final_losses: dict[str, float] = state["final_losses"]

    def diverged(values: Any) -> TrainingDivergedError:
        return TrainingDivergedError(
            f"{label}: non-finite loss at step {step}: {values}; the last checkpoint "
            f"({CHECKPOINT_FILE}) holds the model before it diverged"
        )

    with open(run_dir / LOSS_LOG_FILE, "a", encoding="utf-8") as log:
        while step < config.steps:
            batch = to_model_input(sampler(config.batch_size, random_state), device, dtype)
            noise = draw_noise(model, batch)
            with precision.autocast():
                losses, terms = compute_losses(model, batch, step, names, noise)
            backward(losses, optimizers, precision)
            precision.step(optimizers)
            sums.add(terms, label)
            step += 1
            if step % config.log_every == 0 or step == config.steps:
                final_losses = sums.means()
                if not all(math.isfinite(v) for v in final_losses.values()):
                    raise diverged(final_losses)
                sums.reset()
                log.write(json.dumps({"step": step, **final_losses}) + "\n")
                log.flush()
                progress.update(step, _format_losses(final_losses))
            if step % config.checkpoint_every == 0 or step == config.steps:
                if not sums.finite():
                    raise diverged(sums.means())
                state_now = {
                    "step": step,
                    "train_seconds": previous_seconds + time.perf_counter() - started,
                    "final_losses": final_losses,
                    "term_sums": sums.state_dict(),
                }
                _save_checkpoint(
                    checkpoint_path,
                    model,
                    optimizers,
                    precision,
                    _random_states(random_state),
                    state_now,
                )
    seconds = previous_seconds + time.perf_counter() - started
    model.eval()
    return TrainingResult(step, final_losses, seconds, resumed_from)


def save_figures(
    model: torch.nn.Module,
    data: GroundTruthData,
    run_dir: Path,
    device: torch.device,
    *,
    seed: int = 0,
    num_images: int = 8,
    steps: int = 8,
) -> list[Path]:
    """Write ``reconstructions.png`` and ``traversals.png`` into ``run_dir``; return their paths.

    Reconstructions: ``num_images`` observations (top row) and ``model.reconstruct`` of them
    (bottom row). Traversals: one row per latent dimension, the first observation's code with
    that dimension set to ``steps`` values between the 5% and 95% quantiles of the codes of 64
    observations, decoded by ``model.decode``. Each figure is skipped if the model lacks the
    method (PCL has no decoder). Observations come from ``np.random.RandomState(seed)``.
    """
    random_state = np.random.RandomState(seed)
    observations = data.sample_observations(max(64, num_images), random_state)
    value_range = getattr(data, "value_range", (0.0, 1.0))
    written = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        x = to_model_input(observations, device, parameter_dtype(model))
        if hasattr(model, "reconstruct"):
            originals = observations[:num_images]
            reconstructed = model.reconstruct(x[:num_images]).float().movedim(-3, -1).cpu().numpy()
            scale = value_range if value_range is not None else _joint_range(originals)
            tiles = to_display(np.stack([originals, reconstructed]), scale)
            written.append(run_dir / RECONSTRUCTIONS_FILE)
            write_png(written[-1], image_grid(tiles))
        if hasattr(model, "decode"):
            codes = model.encode(x).float()
            values = torch.from_numpy(traversal_values(codes.cpu().numpy(), steps)).float()
            num_latent = codes.shape[1]
            grid_codes = codes[:1].repeat(num_latent * steps, 1).view(num_latent, steps, -1)
            for dim in range(num_latent):
                grid_codes[dim, :, dim] = values[dim].to(device)
            decoded = model.decode(grid_codes.flatten(0, 1)).float().movedim(-3, -1).cpu().numpy()
            decoded = decoded.reshape(num_latent, steps, *decoded.shape[1:])
            scale = value_range if value_range is not None else _joint_range(decoded)
            written.append(run_dir / TRAVERSALS_FILE)
            write_png(written[-1], image_grid(to_display(decoded, scale)))
    model.train(was_training)
    return written


def _joint_range(array: np.ndarray) -> tuple[float, float]:
    return float(np.min(array)), float(np.max(array))


def _format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.4g}" for name, value in losses.items())


def _random_states(random_state: np.random.RandomState) -> dict[str, Any]:
    """Every random state a training step consumes (the batch sampler's and torch's), as plain
    values: numpy's ``get_state()`` tuple becomes a dict with its keys as an int64 tensor."""
    algorithm, keys, position, has_gauss, cached_gaussian = random_state.get_state()
    return {
        "numpy_random_state": {
            "algorithm": str(algorithm),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch_random_state": torch.get_rng_state(),
        "cuda_random_state": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_random_states(payload: dict[str, Any], random_state: np.random.RandomState) -> None:
    numpy_state = payload["numpy_random_state"]
    random_state.set_state(
        (
            numpy_state["algorithm"],
            numpy_state["keys"].cpu().numpy().astype(np.uint32),
            int(numpy_state["position"]),
            int(numpy_state["has_gauss"]),
            float(numpy_state["cached_gaussian"]),
        )
    )
    torch.set_rng_state(payload["torch_random_state"].cpu())
    if payload["cuda_random_state"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in payload["cuda_random_state"]])


def _save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    precision: _Precision,
    random_states: dict[str, Any],
    state: dict[str, Any],
) -> None:
    payload = {
        **state,
        **random_states,
        "model": model.state_dict(),
        "optimizers": {name: optimizer.state_dict() for name, optimizer in optimizers.items()},
        "grad_scaler": precision.state_dict(),
    }
    atomic_write(path, lambda handle: torch.save(payload, handle))


def load_checkpoint_file(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint's payload, loaded with ``weights_only=True``: tensors and plain values only.

    Raises :class:`BenchError` (one line) for a file that holds anything else (a pickled object
    could run code when loaded) or cannot be read.
    """
    if Path(path).is_file() and not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        raise BenchError(
            f"cannot read {path}: not a checkpoint (torch.save writes a zip archive; this file is "
            "corrupt, truncated or of another format); delete it to start over"
        )
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise BenchError(
            f"refusing to load {path}: it holds pickled objects other than tensors and plain "
            "values, and loading those could run code; delete it to start over"
        ) from None
    except Exception as error:
        raise BenchError(
            f"cannot read {path}: {type(error).__name__}: {_first_line(error)}; delete it to "
            "start over"
        ) from error


def _load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    precision: _Precision,
    random_state: np.random.RandomState,
    sums: _TermSums,
    device: torch.device,
) -> dict[str, Any]:
    payload = load_checkpoint_file(path, device)
    try:
        model.load_state_dict(payload["model"])
        saved = payload["optimizers"]
        if sorted(saved) != sorted(optimizers):
            raise ValueError(
                f"it holds optimisers {sorted(saved)}, the model has {sorted(optimizers)}"
            )
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(saved[name])
        precision.load_state_dict(payload.get("grad_scaler"))
        sums.load_state_dict(payload["term_sums"])
        _set_random_states(payload, random_state)
        return {key: payload[key] for key in ("step", "train_seconds", "final_losses")}
    except Exception as error:
        raise BenchError(
            f"cannot resume from {path}: {type(error).__name__}: {_first_line(error)}; delete it "
            "to start over"
        ) from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _truncate_loss_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a resumed run continues from, and a last line
    cut short by a crash in the middle of a write."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").split("\n")
    kept = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            logged_step = int(record["step"])
        except (ValueError, KeyError, TypeError):
            if number == len(lines):  # no newline after it: a write cut short
                continue
            raise BenchError(
                f"{path}, line {number}, is not a loss record; move the file away to resume"
            ) from None
        if logged_step <= step:
            kept.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in kept))
