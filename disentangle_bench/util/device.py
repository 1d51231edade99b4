"""Choose the torch device at run time."""

from __future__ import annotations

import torch

from disentangle_bench.util.errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(requested: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; asking for an absent accelerator is an error."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {requested!r} was requested but CUDA is not available "
                f"(torch {torch.__version__}); use --device cpu or --device auto"
            )
        return torch.device(requested)
    if requested == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError("device 'mps' was requested but MPS is not available")
        return torch.device("mps")
    if requested == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"unknown device {requested!r}; expected one of {', '.join(DEVICE_CHOICES)}")


def describe_device(device: torch.device) -> str:
    """A human-readable description for run records (``cuda:0 (NVIDIA H200)``)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device.type
