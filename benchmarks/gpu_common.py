"""What ``gpu_study.py`` and ``gpu_throughput.py`` share: running on the bare GPU image, and K
models trained at once on data held on the device.

The lent GPU machine's ``python3`` has torch, numpy, scipy, scikit-learn and pluggy but not
gin-config, datasets or jsonschema, and the package is not installed there (the scripts put the
repository on ``sys.path``). gin-config is needed only to parse configs; these scripts parse none.
Importing this module therefore installs, where gin-config is absent, a stand-in module ``gin``
whose decorators (``configurable``, ``external_configurable``, ``register``) return what they
decorate, so that the package's modules import; any other attribute of it raises an
``AttributeError`` that says gin-config is not installed. ``datasets`` and ``jsonschema`` are
imported only inside the functions that need them, none of which these scripts call.

:class:`ResidentGroup` trains K models of one class, each with its own (condition, seed), through
:class:`~disentangle_bench.pipeline.batched.BatchedModels` (the batched trainer's stacked models
and step) on batches gathered from :class:`~disentangle_bench.data.resident.ResidentData`: model
``k`` is initialised and noised as ``bench run`` with its seed, and with ``sampling='host'`` it
also sees exactly that run's batches (the host samplers' factor draws, only the indices travel).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import time
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "benchmarks")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

#: Set on the stand-in module, so that a report can say which ``gin`` ran.
STAND_IN_MARK = "__disentangle_bench_gin_stand_in__"
#: What comes back from the device tool's $OUT (its README, Limits).
OUT_MAX_FILES = 8
OUT_MAX_FILE_BYTES = 16 * 2**20
OUT_MAX_TOTAL_BYTES = 64 * 2**20
OUT_MAX_DEPTH = 2  # folders between $OUT and a file
COMMIT_ENV = "DISENTANGLE_BENCH_COMMIT"
COMMIT_FILE = ROOT / ".commit"


def install_gin_stand_in() -> bool:
    """Put the stand-in ``gin`` into ``sys.modules`` unless gin-config imports; True if it did."""
    if "gin" in sys.modules:
        return bool(getattr(sys.modules["gin"], STAND_IN_MARK, False))
    try:
        import gin  # noqa: F401
    except ImportError:
        pass
    else:
        return False
    module = types.ModuleType("gin")
    module.__doc__ = "Stand-in for gin-config: decorators only (benchmarks/gpu_common.py)."

    def configurable(name_or_function: Any = None, *args: Any, **kwargs: Any) -> Any:
        if callable(name_or_function) and not isinstance(name_or_function, str):
            return name_or_function
        return lambda function: function

    def external_configurable(function: Any, *args: Any, **kwargs: Any) -> Any:
        return function

    def missing(name: str) -> Any:
        raise AttributeError(
            f"gin.{name}: gin-config is not installed here (the stand-in of "
            "benchmarks/gpu_common.py provides only its decorators)"
        )

    module.configurable = configurable
    module.register = configurable
    module.external_configurable = external_configurable
    module.REQUIRED = object()
    module.__getattr__ = missing
    setattr(module, STAND_IN_MARK, True)
    sys.modules["gin"] = module
    return True


GIN_STAND_IN = install_gin_stand_in()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from provenance import cpu_model, git_commit  # noqa: E402

from disentangle_bench.data.ground_truth import GroundTruthData  # noqa: E402
from disentangle_bench.data.resident import DeviceFactors, HostFactors, ResidentData  # noqa: E402
from disentangle_bench.models.plugin import BUILTIN  # noqa: E402
from disentangle_bench.pipeline.batched import (  # noqa: E402
    BatchedModels,
    build_seeded_models,
    noise_generators,
)
from disentangle_bench.pipeline.training import TrainingConfig, _TermSums  # noqa: E402
from disentangle_bench.util.errors import ConfigError  # noqa: E402

#: The built-in models by name, as the registry lists them (without building the registry).
FACTORIES = {model.name: model for model in BUILTIN}
PAPER_CONFIGS = ROOT / "gin_configs" / "models" / "paper"


def paper_hyperparameters(model: str, dataset: str = "dsprites") -> dict[str, Any]:
    """The ``<model>.<name> = <value>`` bindings of ``gin_configs/models/paper/<model>_<dataset>
    .gin`` as keyword arguments, read without gin (values are Python literals)."""
    import ast

    path = PAPER_CONFIGS / f"{model}_{dataset}.gin"
    bindings: dict[str, Any] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, equals, value = line.partition("=")
        scope, _, key = name.strip().partition(".")
        if not equals or not key:
            raise ConfigError(f"{path}, line {number}: not a binding: {raw!r}")
        parsed = ast.literal_eval(value.strip())
        if scope == "experiment" and key == "model" and parsed != model:
            raise ConfigError(f"{path} configures {parsed!r}, not {model!r}")
        if scope == model:
            bindings[key] = parsed
    return bindings


def resolve_commit() -> str:
    """The commit the results come from: ``$DISENTANGLE_BENCH_COMMIT``, else the first line of
    ``.commit`` at the repository root, else ``git`` (with ``+uncommitted`` for a changed tree),
    else ``unknown`` (``.git`` does not travel to the device)."""
    value = os.environ.get(COMMIT_ENV, "").strip()
    if value:
        return value
    if COMMIT_FILE.is_file():
        lines = COMMIT_FILE.read_text(encoding="utf-8").split()
        if lines:
            return lines[0]
    return git_commit()


def hardware(device: torch.device) -> dict[str, Any]:
    """The machine a result was measured on."""
    info: dict[str, Any] = {
        "device": str(device),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "gin": "stand-in" if GIN_STAND_IN else "gin-config",
    }
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info.update(
            gpu=properties.name,
            gpu_memory_gib=round(properties.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
        )
    return info


def default_out(name: str) -> Path:
    """``$OUT`` on the device machine, else ``benchmarks/results/<name>-<date>``."""
    if os.environ.get("OUT"):
        return Path(os.environ["OUT"])
    return ROOT / "benchmarks" / "results" / f"{name}-{datetime.date.today().isoformat()}"


def check_out_limits(directory: Path) -> list[str]:
    """What under ``directory`` would not come back from the device tool's $OUT (empty: all)."""
    problems = []
    files = [path for path in sorted(directory.rglob("*")) if not path.is_dir()]
    if len(files) > OUT_MAX_FILES:
        problems.append(f"{len(files)} files, at most {OUT_MAX_FILES} come back")
    total = 0
    for path in files:
        relative = path.relative_to(directory)
        if path.is_symlink() or not path.is_file():
            problems.append(f"{relative}: not a plain file")
            continue
        size = path.stat().st_size
        total += size
        if size > OUT_MAX_FILE_BYTES:
            problems.append(f"{relative}: {size} bytes, over {OUT_MAX_FILE_BYTES}")
        if len(relative.parts) - 1 > OUT_MAX_DEPTH:
            problems.append(f"{relative}: more than {OUT_MAX_DEPTH} folders down")
        if any(not all(c.isalnum() or c in "._-" for c in part) for part in relative.parts):
            problems.append(f"{relative}: a name with characters other than letters, digits, ._-")
    if total > OUT_MAX_TOTAL_BYTES:
        problems.append(f"{total} bytes in all, over {OUT_MAX_TOTAL_BYTES}")
    return problems


def write_json(path: Path, payload: Any) -> None:
    """Write through a temporary file and rename (a killed run leaves the previous version)."""
    text = json.dumps(payload, indent=1, sort_keys=False, allow_nan=True, default=_plain) + "\n"
    write_text(path, text)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def set_precision(device: torch.device, precision: str) -> str | None:
    """Apply ``precision`` (``fp32``: TF32 off; ``tf32``: TF32 matmuls and convolutions;
    ``bf16``: bf16 autocast, TF32 for what stays float32); returns ``train.mixed_precision``."""
    if precision not in ("fp32", "tf32", "bf16"):
        raise ConfigError(f"precision must be fp32, tf32 or bf16, got {precision!r}")
    if device.type == "cuda":
        fast = precision != "fp32"
        torch.backends.cuda.matmul.allow_tf32 = fast
        torch.backends.cudnn.allow_tf32 = fast
        torch.backends.cudnn.benchmark = True
    return "bf16" if precision == "bf16" else None


class ResidentGroup:
    """K models of ``model_name`` with ``hyperparameters``, member ``k`` trained on
    ``residents[conditions[k]]`` with ``seeds[k]``, all at once.

    Members with the same seed share one factor stream (their datasets share one grid, so
    ``bench run`` would draw the same factors for each). ``sampling='host'``: the host samplers'
    draws with ``np.random.RandomState(seed)``, exactly ``bench run``'s batches; ``'device'``:
    the same distributions drawn on the device (``sampling_seed`` seeds the generator).
    ``log`` holds ``(step, {term: [K interval means]})`` every ``config.log_every`` steps.
    """

    def __init__(
        self,
        model_name: str,
        hyperparameters: dict[str, Any],
        members: Sequence[tuple[str, int]],
        residents: dict[str, ResidentData],
        config: TrainingConfig,
        device: torch.device,
        *,
        sampling: str = "host",
        sampling_seed: int = 0,
        dtype: torch.dtype | None = None,
    ) -> None:
        if sampling not in ("host", "device"):
            raise ConfigError(f"sampling must be 'host' or 'device', got {sampling!r}")
        self.name = model_name
        self.members = [(str(c), int(s)) for c, s in members]
        self.config = config
        self.device = device
        conditions = [c for c, _ in self.members]
        seeds = [s for _, s in self.members]
        grid = {tuple(residents[c].factors_num_values) for c in conditions}
        if len(grid) != 1:
            raise ConfigError(f"{model_name}: the members' datasets have different factor grids")
        self.residents = residents
        data: GroundTruthData = residents[conditions[0]].data
        factory = FACTORIES[model_name]
        models, states = build_seeded_models(
            factory, hyperparameters, data.observation_shape, seeds
        )
        if dtype is not None:
            models = [model.to(dtype) for model in models]
        self.dtype = dtype or torch.float32
        self.kind = getattr(models[0], "sample_kind", "single")
        options = dict(getattr(models[0], "sample_options", None) or {})
        self.streams = list(dict.fromkeys(seeds))
        self.stream_of = torch.as_tensor(
            [self.streams.index(s) for s in seeds], dtype=torch.int64, device=device
        )
        if sampling == "host":
            self.factors: Any = HostFactors(data, self.kind, self.streams, device, options)
        else:
            self.factors = DeviceFactors(
                data, self.kind, len(self.streams), device, seed=sampling_seed, options=options
            )
        # Members grouped by dataset, and where each group's slice goes in member order.
        positions: dict[str, list[int]] = {}
        for position, condition in enumerate(conditions):
            positions.setdefault(condition, []).append(position)
        order = [p for group in positions.values() for p in group]
        self.restore = torch.as_tensor(np.argsort(order), dtype=torch.int64, device=device)
        self.by_condition = {
            c: torch.as_tensor(group, dtype=torch.int64, device=device)
            for c, group in positions.items()
        }
        self.batched = BatchedModels(
            models, config, device, noise_generators(seeds, states, device)
        )
        self.sums = _TermSums(device, (len(self.members),))
        self.step = 0
        self.log: list[tuple[int, dict[str, list[float]]]] = []
        self.seconds = 0.0

    def __len__(self) -> int:
        return len(self.members)

    def batch(self) -> torch.Tensor:
        """One batch per member ``(K, B, C, H, W)`` or ``(K, 2, B, C, H, W)``."""
        index = self.factors(self.config.batch_size)
        parts = [
            self.residents[condition].observations(index[self.stream_of[positions]], self.dtype)
            for condition, positions in self.by_condition.items()
        ]
        stacked = parts[0] if len(parts) == 1 else torch.cat(parts)
        return stacked if len(parts) == 1 else stacked[self.restore]

    def train(
        self,
        steps: int,
        stop_at: float | None = None,
        progress: Callable[[str], None] | None = None,
        every: float = 20.0,
    ) -> int:
        """Train up to step ``steps`` (counted from the start), stopping at a log interval once
        ``time.monotonic()`` passes ``stop_at``; returns the step reached. The loss terms are
        logged every ``config.log_every`` steps (:meth:`flush` logs a shorter last interval);
        ``progress`` gets a line with the rate, the ETA and the mean loss at most every
        ``every`` seconds."""
        started = last = time.monotonic()
        first = self.step
        while self.step < steps:
            terms = self.batched.step(self.batch(), self.step)
            self.sums.add(terms, self.name)
            self.step += 1
            if self.step % self.config.log_every == 0:
                self.flush()
                now = time.monotonic()
                if progress is not None and now - last >= every:
                    last = now
                    rate = (self.step - first) / (now - started)
                    loss = float(np.mean(self.log[-1][1].get("loss", [float("nan")])))
                    progress(
                        f"train {self.name} x{len(self)}: step {self.step}/{steps}, "
                        f"{rate:.1f} steps/s, ETA {(steps - self.step) / rate:.0f} s, "
                        f"mean loss {loss:.4g}"
                    )
                if stop_at is not None and now > stop_at:
                    break
        self.seconds += time.monotonic() - started
        return self.step

    def flush(self) -> None:
        """Log the means of the steps since the last line (nothing if there are none); raise
        ``FloatingPointError`` naming the members whose loss is not finite."""
        if not self.sums.count:
            return
        means = self.sums.means()
        self.sums.reset()
        self.log.append((self.step, means))
        bad = [
            self.members[k]
            for k in range(len(self.members))
            if not all(np.isfinite(values[k]) for values in means.values())
        ]
        if bad:
            raise FloatingPointError(f"{self.name}: non-finite loss at step {self.step} for {bad}")

    def models(self) -> list[torch.nn.Module]:
        """The K trained models (eval mode), in member order."""
        return self.batched.unstack()

    def loss_curves(self, max_points: int = 500) -> dict[str, Any]:
        """The logged interval means, one list per term of ``[K values]`` per logged step, at
        most ``max_points`` logged steps (evenly thinned, the last one kept), so that the file
        stays within what the device tool brings back."""
        names = list(self.log[0][1]) if self.log else []
        keep = np.unique(np.linspace(0, len(self.log) - 1, min(max_points, len(self.log))).round())
        log = [self.log[int(i)] for i in keep] if self.log else []
        return {
            "members": [list(member) for member in self.members],
            "steps": [step for step, _ in log],
            "terms": {
                name: [[float(f"{v:.6g}") for v in means[name]] for _, means in log]
                for name in names
            },
        }


def encode_all(
    model: torch.nn.Module, resident: ResidentData, index: torch.Tensor, batch_size: int = 2048
) -> np.ndarray:
    """``model.encode`` of the resident observations at ``index`` (N,), as float32 numpy."""
    codes = []
    was_training = model.training
    model.eval()
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            x = resident.observations(index[start : start + batch_size], dtype)
            codes.append(model.encode(x).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(codes)
