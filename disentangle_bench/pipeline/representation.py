"""Representation functions: float32 NHWC observations in [0, 1] -> (N, D) numpy codes.

A metric receives a *representation function* (disentanglement_lib's interface): any callable
from an (N, H, W, C) float32 array to an (N, D) array. This module builds them, with bounded
memory (never more than ``batch_size`` observations per forward pass, 256 by default, whatever
the metric asks for at once), from

- a trained model plugin or any ``torch.nn.Module`` (its ``encode`` method if it has one, else
  ``forward``; a tuple or list output means ``(mean, ...)`` and its first element is used);
- a TorchScript file (``torch.jit.save`` of such a module);
- a plain Python callable on numpy arrays.

Torch modules receive float32 NCHW tensors on their device (``input_layout='NCHW'``, the layout of
this project's model plugins) or NHWC tensors (``input_layout='NHWC'``, disentanglement_lib's
layout). The object returned for a torch module exposes it as ``.model`` so that metrics which
need more than codes (the decoder-Jacobian diagnostic) can reach it; other metrics ignore it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disentangle_bench.pipeline.training import to_model_input
from disentangle_bench.util.errors import DataError

RepresentationFunction = Callable[[np.ndarray], np.ndarray]

#: The most observations one forward pass ever sees, unless a smaller batch_size is asked for.
DEFAULT_BATCH_SIZE = 256
INPUT_LAYOUTS = ("NCHW", "NHWC")

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "CallableRepresentation",
    "RepresentationFunction",
    "TorchRepresentation",
    "load_torchscript",
    "model_representation",
    "representation_function",
]


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def _check_observations(observations: np.ndarray) -> np.ndarray:
    observations = np.asarray(observations)
    if observations.ndim != 4:
        raise ValueError(
            f"observations must be an (N, H, W, C) array, got shape {observations.shape}"
        )
    return observations


def _check_output(codes: np.ndarray, n: int, source: str) -> np.ndarray:
    if codes.ndim != 2 or codes.shape[0] != n:
        raise ValueError(
            f"{source} must return an ({n}, D) array for a batch of {n} observations, got shape "
            f"{codes.shape}"
        )
    return codes


class TorchRepresentation:
    """A torch module as a representation function, ``batch_size`` observations at a time.

    Runs the module in eval mode under ``torch.no_grad`` on ``device`` (the module is moved
    there; default: the device of its first parameter or buffer, else CPU) and returns float32
    numpy codes.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device | str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        *,
        method: str | None = None,
        input_layout: str = "NCHW",
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if input_layout not in INPUT_LAYOUTS:
            raise ValueError(f"input_layout must be one of {INPUT_LAYOUTS}, got {input_layout!r}")
        self.device = torch.device(device) if device is not None else _module_device(model)
        self.model = model.to(self.device) if device is not None else model
        self.batch_size = _check_batch_size(batch_size)
        self.input_layout = input_layout
        if method is None:
            method = "encode" if callable(getattr(model, "encode", None)) else "forward"
        if not callable(getattr(model, method, None)):
            raise ValueError(f"{type(model).__name__} has no method {method!r}")
        self.method = method

    def _input(self, observations: np.ndarray) -> torch.Tensor:
        if self.input_layout == "NCHW":
            return to_model_input(observations, self.device)
        array = np.ascontiguousarray(observations, dtype=np.float32)
        return torch.from_numpy(array).to(self.device)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        observations = _check_observations(observations)
        encode = getattr(self.model, self.method)
        self.model.eval()
        codes = []
        with torch.no_grad():
            for start in range(0, len(observations), self.batch_size):
                batch = observations[start : start + self.batch_size]
                output = encode(self._input(batch))
                if isinstance(output, (tuple, list)):
                    output = output[0]
                if not isinstance(output, torch.Tensor):
                    raise ValueError(
                        f"{type(self.model).__name__}.{self.method} returned "
                        f"{type(output).__name__}, not a tensor"
                    )
                code = output.detach().float().cpu().numpy()
                codes.append(_check_output(code, len(batch), f"{self.method}"))
        if not codes:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(codes, axis=0)

    def __repr__(self) -> str:
        return (
            f"TorchRepresentation({type(self.model).__name__}.{self.method}, device={self.device}, "
            f"batch_size={self.batch_size}, input_layout={self.input_layout!r})"
        )


class CallableRepresentation:
    """A numpy callable as a representation function, ``batch_size`` observations at a time,
    with its output checked (an (n, D) array per batch of n)."""

    def __init__(self, function: RepresentationFunction, batch_size: int = DEFAULT_BATCH_SIZE):
        if not callable(function):
            raise TypeError(f"{function!r} is not callable")
        self.function = function
        self.batch_size = _check_batch_size(batch_size)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        observations = _check_observations(observations)
        codes = []
        for start in range(0, len(observations), self.batch_size):
            batch = observations[start : start + self.batch_size]
            codes.append(
                _check_output(np.asarray(self.function(batch)), len(batch), "the function")
            )
        if not codes:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(codes, axis=0)

    def __repr__(self) -> str:
        return f"CallableRepresentation({self.function!r}, batch_size={self.batch_size})"


def _module_device(model: torch.nn.Module) -> torch.device:
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")


def load_torchscript(path: str | os.PathLike, device: torch.device | str = "cpu") -> Any:
    """Load a TorchScript module onto ``device``; an unreadable file raises a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"TorchScript file not found: {path}")
    try:
        with warnings.catch_warnings():  # torch >= 2.9 deprecates TorchScript; still loads it
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location=torch.device(device))
    except Exception as error:  # torch raises RuntimeError / ValueError / zip errors
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise DataError(
            f"{path} is not a TorchScript module ({type(error).__name__}: {message}); save one "
            "with torch.jit.save(torch.jit.script(encoder), path)"
        ) from error


def representation_function(
    source: Any,
    *,
    device: torch.device | str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    input_layout: str = "NCHW",
    method: str | None = None,
) -> RepresentationFunction:
    """A representation function from a model, a module, a TorchScript file or a callable.

    Args:
        source: a ``torch.nn.Module`` (model plugins included; ``encode`` if present, else
            ``forward``), a path to a TorchScript file, an existing :class:`TorchRepresentation`
            or :class:`CallableRepresentation` (returned as is), or a callable on numpy arrays.
        device: where a torch module runs (default: where its parameters are; a TorchScript file
            is loaded onto ``device`` or the CPU).
        batch_size: the most observations per call of the underlying model or function.
        input_layout: ``'NCHW'`` (this project's models) or ``'NHWC'`` (disentanglement_lib's
            TF-Hub modules) for torch modules.
        method: the module's method to call (default ``encode``, else ``forward``).
    """
    if isinstance(source, (TorchRepresentation, CallableRepresentation)):
        return source
    if isinstance(source, (str, os.PathLike)):
        source = load_torchscript(source, device if device is not None else "cpu")
    if isinstance(source, torch.nn.Module):
        return TorchRepresentation(
            source, device, batch_size, method=method, input_layout=input_layout
        )
    if callable(source):
        return CallableRepresentation(source, batch_size)
    raise TypeError(
        f"cannot build a representation function from {type(source).__name__}: expected a "
        "torch.nn.Module, a TorchScript file or a callable"
    )


def model_representation(
    model: torch.nn.Module, device: torch.device, batch_size: int = DEFAULT_BATCH_SIZE
) -> TorchRepresentation:
    """``model.encode`` in eval mode on ``device``, at most ``batch_size`` images at a time."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    return TorchRepresentation(model, device, batch_size, method="encode")
