"""Representation functions: float32 NHWC observations -> (N, D) numpy codes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from disentangle_bench.training import to_model_input

RepresentationFunction = Callable[[np.ndarray], np.ndarray]


def model_representation(
    model: torch.nn.Module, device: torch.device, batch_size: int = 256
) -> RepresentationFunction:
    """``model.encode`` in eval mode on ``device``, at most ``batch_size`` images at a time."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")

    def represent(observations: np.ndarray) -> np.ndarray:
        model.eval()
        codes = []
        with torch.no_grad():
            for start in range(0, len(observations), batch_size):
                batch = to_model_input(observations[start : start + batch_size], device)
                codes.append(model.encode(batch).float().cpu().numpy())
        if not codes:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(codes, axis=0)

    return represent
