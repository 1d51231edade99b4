"""disentanglement_lib's own files, read and written as its users have them.

Three things carry over from disentanglement_lib 1.5 (google-research), facts only:

- **Its study gin files.** Besides the ``evaluation`` configurable (in
  :mod:`disentangle_bench.pipeline.evaluation`), its evaluation and postprocessing configs use
  ``dataset.name = "auto"`` (the dataset of the step before), ``postprocess.postprocess_fn =
  @mean_representation`` and ``postprocess.random_seed``. These names are registered here as gin
  configurables, so ``bench evaluate --gin mig.gin --gin mean.gin`` parses its files unchanged
  (import this module before parsing). ``dataset.name`` other than ``"auto"`` names the dataset a
  representation file is scored on; ``@sampled_representation`` is refused in one line (only the
  posterior mean is scored, as every metric config of its unsupervised study does).
- **Its representation format**: the ``postprocess`` step turns a trained model into a module
  that takes float32 NHWC images in [0, 1] and returns the representation (the posterior mean
  for ``mean.gin``). :func:`export_mean_representation` writes the same as a TorchScript file,
  with a JSON description of the dataset it was trained on inside the archive
  (:data:`METADATA_FILE`); :func:`read_representation_metadata` reads it back without running
  any code of the file.
- **Its results layout and aggregate JSON**: :mod:`disentangle_bench.pipeline.dlib_results`.

A TorchScript file is a program: loading and running one runs the code its author saved. Score
only files you made or trust, as you would run their Python code.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import gin
import torch

from disentangle_bench.util.errors import ConfigError, DataError
from disentangle_bench.util.files import atomic_write

#: The gin names of disentanglement_lib's files that this module defines (reserved for plugins).
DLIB_GIN_NAMES = ("dataset", "postprocess", "mean_representation", "sampled_representation")
#: The dataset name that means "the dataset of the previous step" in disentanglement_lib.
AUTO = "auto"
#: Name of the JSON description stored inside an exported representation file.
METADATA_FILE = "disentangle_bench.json"
METADATA_FORMAT = 1


@gin.configurable("dataset")
def dlib_dataset(name: str = AUTO) -> str:
    """disentanglement_lib's ``dataset.name``: ``"auto"`` (the run's own dataset) or a name."""
    return name


@gin.configurable("mean_representation")
def mean_representation() -> str:
    """disentanglement_lib's ``@mean_representation``: the posterior mean (what is scored)."""
    return "mean"


@gin.configurable("sampled_representation")
def sampled_representation() -> str:
    """disentanglement_lib's ``@sampled_representation``: a posterior sample (not supported)."""
    return "sampled"


@gin.configurable("postprocess")
def postprocess_settings(
    postprocess_fn: Any = None, random_seed: int | None = None, name: str = ""
) -> tuple[Any, int | None, str]:
    """disentanglement_lib's ``postprocess`` configurable (``postprocess_fn``, ``random_seed``,
    ``name``), read so that its ``postprocess_configs/mean.gin`` parses unchanged."""
    return postprocess_fn, random_seed, name


def dataset_binding() -> str:
    """The configured ``dataset.name`` (``"auto"`` unless a gin file names one)."""
    name = dlib_dataset()
    if not isinstance(name, str) or not name:
        raise ConfigError(f"dataset.name must be a dataset name or 'auto', got {name!r}")
    return name


def postprocessing() -> dict[str, Any]:
    """The configured postprocessing: ``{"name": ..., "random_seed": ...}``.

    Only the mean representation exists here; ``@sampled_representation`` (or any other
    function) is a :class:`ConfigError`.
    """
    function, random_seed, name = postprocess_settings()
    kind = getattr(function, "__name__", None) if function is not None else "mean_representation"
    if kind != "mean_representation":
        shown = f"@{kind}" if kind else repr(function)
        raise ConfigError(
            f"postprocess.postprocess_fn = {shown} is not supported: disentangle-bench scores "
            "the posterior mean (use disentanglement_lib's postprocess_configs/mean.gin)"
        )
    return {"name": name or "mean", "random_seed": random_seed}


class _MeanEncoder(torch.nn.Module):
    """NHWC float32 images in [0, 1] -> the model's representation (``encode``, the mean)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        output = self.model.encode(images.permute(0, 3, 1, 2).contiguous())
        if isinstance(output, (tuple, list)):
            output = output[0]
        return output


def export_mean_representation(
    model: torch.nn.Module,
    path: str | Path,
    observation_shape: tuple[int, int, int],
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Save ``model.encode`` as disentanglement_lib's representation format: a TorchScript
    module from float32 NHWC images in [0, 1] to the (N, D) posterior mean.

    ``model`` takes NCHW input (the model contract). The module is traced on the CPU (it is
    loaded onto any device later); ``metadata`` (JSON values, e.g. the dataset record) is stored
    in the archive with the input layout and the observation shape. Written atomically.
    """
    path = Path(path)
    height, width, channels = (int(s) for s in observation_shape)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    example = torch.rand(2, height, width, channels, generator=torch.Generator().manual_seed(0))
    description = {
        "format_version": METADATA_FORMAT,
        "input_layout": "NHWC",
        "observation_shape": [height, width, channels],
        "representation": "mean",
        **(metadata or {}),
    }
    try:
        model.to("cpu")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and TorchScript deprecation warnings
            traced = torch.jit.trace(
                _MeanEncoder(model), example, check_trace=False, _store_inputs=False
            )
            extra = {METADATA_FILE: json.dumps(description, sort_keys=True)}
            atomic_write(path, lambda handle: torch.jit.save(traced, handle, _extra_files=extra))
    finally:
        model.to(device)
        model.train(was_training)
    return path


def read_representation_metadata(path: str | Path) -> dict[str, Any] | None:
    """The JSON description inside a TorchScript file written by
    :func:`export_mean_representation`, or ``None`` for any other TorchScript file. Reads the
    archive only (no code runs); an unreadable description is a :class:`DataError`."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(f"/extra/{METADATA_FILE}")]
            if not names:
                return None
            text = archive.read(names[0]).decode("utf-8")
    except (OSError, zipfile.BadZipFile):
        return None  # not a TorchScript archive: loading it reports the problem
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise DataError(f"{path}: its {METADATA_FILE} is not JSON ({error})") from None
    if not isinstance(payload, dict) or payload.get("input_layout") not in ("NCHW", "NHWC"):
        raise DataError(f"{path}: its {METADATA_FILE} names no input layout (NCHW or NHWC)")
    return payload
