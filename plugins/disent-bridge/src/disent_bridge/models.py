"""disent's frameworks as disentangle-bench model plugins.

Each plugin builds disent's own framework object (``disent.frameworks.vae.BetaVae``, ...) with
disent's own encoder and decoder, and exposes it through the model contract: ``encode`` is the
framework's ``encode`` (the posterior mean for VAEs), ``loss(batch, step)`` is its
``do_training_step`` (the loss its Lightning ``training_step`` minimises) and every term it logs
is returned by name. bench's trainer owns optimisation (``train.learning_rate``, Adam, the batch
sampler, checkpoints), so disent's ``optimizer`` and ``optimizer_kwargs`` are not exposed.

Hyperparameters are the framework's config fields, with disent 0.8's defaults (the tests check
them against ``<Framework>.cfg``), plus ``z_size`` and ``architecture`` (disent's
``EncoderConv64``/``DecoderConv64`` for ``conv64``, the normalised ``conv64norm``, ``fc`` and
``linear``). Names are prefixed with ``disent_`` so that they never take a built-in model's name.

Not registered: ``DfcVae`` (its VGG feature loss downloads pretrained weights) and the triplet
frameworks (``TripletVae``, ``AdaNegTripletVae``, ``DataOverlapTripletVae`` and their AE forms),
which need triplets of observations that bench's samplers do not draw; train those in disent's
own loop on :func:`disent_bridge.data.disent_data`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, ClassVar

import torch
from torch import nn

from disent_bridge._disent import require_disent

#: ``architecture`` -> (encoder, decoder) classes of ``disent.model.ae``.
ARCHITECTURES = {
    "conv64": ("EncoderConv64", "DecoderConv64"),
    "conv64norm": ("EncoderConv64Norm", "DecoderConv64Norm"),
    "fc": ("EncoderFC", "DecoderFC"),
    "linear": ("EncoderLinear", "DecoderLinear"),
}
_NOT_CONFIG = ("self", "observation_shape", "z_size", "architecture", "k", "__class__")


class DisentModel(nn.Module):
    """One disent framework behind the model contract (see the module docstring)."""

    #: ``<sub-package>.<class>`` under ``disent.frameworks``.
    framework_class: ClassVar[str]
    sample_kind: ClassVar[str] = "single"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        z_size: int,
        architecture: str,
        config: dict[str, Any],
    ) -> None:
        super().__init__()
        require_disent()
        from disent.model import AutoEncoder

        if isinstance(z_size, bool) or not isinstance(z_size, int) or z_size < 1:
            raise ValueError(f"z_size must be a positive integer, got {z_size!r}")
        if architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}"
            )
        package, class_name = self.framework_class.split(".")
        framework = getattr(importlib.import_module(f"disent.frameworks.{package}"), class_name)
        height, width, channels = (int(s) for s in observation_shape)
        x_shape = (channels, height, width)
        models = importlib.import_module("disent.model.ae")
        encoder_name, decoder_name = ARCHITECTURES[architecture]
        try:
            encoder = getattr(models, encoder_name)(
                x_shape=x_shape, z_size=z_size, z_multiplier=framework.REQUIRED_Z_MULTIPLIER
            )
            decoder = getattr(models, decoder_name)(x_shape=x_shape, z_size=z_size)
            cfg = framework.cfg(**config)
            self.framework = framework(model=AutoEncoder(encoder, decoder), cfg=cfg)
        except (AssertionError, KeyError) as error:  # disent checks with assert / dict lookups
            raise ValueError(
                f"disent's {class_name} with {architecture} on observations "
                f"{tuple(observation_shape)}: {error or type(error).__name__}"
            ) from None
        self.z_size = z_size
        self.architecture = architecture
        self._terms: dict[str, Any] = {}
        # The framework logs its loss terms through Lightning's log/log_dict; outside a
        # Lightning Trainer they are collected here and returned by loss().
        self.framework.log = self._log
        self.framework.log_dict = self._log_dict

    def _log(self, name: str, value: Any, *args: Any, **kwargs: Any) -> None:
        self._terms[name] = value

    def _log_dict(self, values: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        self._terms.update(values)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The framework's representation: the posterior mean (VAEs) or the code (AEs)."""
        return self.framework.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Observations for codes ``z``, after the reconstruction loss's activation."""
        return self.framework.decode(z)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def observations(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """bench's batch as disent's tuple of observations (one, or both images of a pair)."""
        return (batch,) if self.sample_kind == "single" else (batch[0], batch[1])

    def loss(self, batch: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """disent's ``do_training_step`` on the batch, and every term it logged."""
        self._terms = {}
        with warnings.catch_warnings():
            # disent logs float(loss) of tensors that require grad; harmless, once per step
            warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")
            total = self.framework.do_training_step({"x_targ": self.observations(batch)}, step)
        terms = {}
        for key, value in self._terms.items():
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                terms[key] = value.detach().float().reshape(())
            elif isinstance(value, (int, float)):
                terms[key] = torch.tensor(float(value))
        terms["loss"] = total.detach().float()
        return total, terms


def _config(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if key not in _NOT_CONFIG}


class DisentVae(DisentModel):
    """disent's ``Vae``: reconstruction + KL."""

    name = "disent_vae"
    framework_class = "vae.Vae"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        z_size: int = 10,
        architecture: str = "conv64",
        recon_loss: str = "mse",
        loss_reduction: str = "mean",
        latent_distribution: str = "normal",
        kl_loss_mode: str = "direct",
        detach_decoder: bool = False,
        disable_rec_loss: bool = False,
        disable_aug_loss: bool = False,
        disable_reg_loss: bool = False,
    ) -> None:
        super().__init__(observation_shape, z_size, architecture, _config(locals()))


class DisentBetaVae(DisentModel):
    """disent's ``BetaVae``: reconstruction + beta KL (beta 0.003 for its ``mean`` reduction)."""

    name = "disent_betavae"
    framework_class = "vae.BetaVae"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        z_size: int = 10,
        architecture: str = "conv64",
        beta: float = 0.003,
        recon_loss: str = "mse",
        loss_reduction: str = "mean",
        latent_distribution: str = "normal",
        kl_loss_mode: str = "direct",
        detach_decoder: bool = False,
        disable_rec_loss: bool = False,
        disable_aug_loss: bool = False,
        disable_reg_loss: bool = False,
    ) -> None:
        super().__init__(observation_shape, z_size, architecture, _config(locals()))


class DisentBetaTcVae(DisentModel):
    """disent's ``BetaTcVae``: reconstruction + beta KL + (beta - 1) TC (see README.md: the
    reference regularises KL + (beta - 1) TC)."""

    name = "disent_betatcvae"
    framework_class = "vae.BetaTcVae"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        z_size: int = 10,
        architecture: str = "conv64",
        beta: float = 0.003,
        recon_loss: str = "mse",
        loss_reduction: str = "mean",
        latent_distribution: str = "normal",
        kl_loss_mode: str = "direct",
        detach_decoder: bool = False,
        disable_rec_loss: bool = False,
        disable_aug_loss: bool = False,
        disable_reg_loss: bool = False,
    ) -> None:
        super().__init__(observation_shape, z_size, architecture, _config(locals()))


class DisentDipVae(DisentModel):
    """disent's ``DipVae`` (``dip_mode`` ``'i'`` or ``'ii'``): reconstruction + beta KL +
    dip_beta (lambda_d diagonal + lambda_od off-diagonal terms)."""

    name = "disent_dipvae"
    framework_class = "vae.DipVae"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        z_size: int = 10,
        architecture: str = "conv64",
        beta: float = 0.003,
        dip_mode: str = "ii",
        dip_beta: float = 1.0,
        lambda_d: float = 10.0,
        lambda_od: float = 5.0,
        recon_loss: str = "mse",
        loss_reduction: str = "mean",
        latent_distribution: str = "normal",
        kl_loss_mode: str = "direct",
        detach_decoder: bool = False,
        disable_rec_loss: bool = False,
        disable_aug_loss: bool = False,
        disable_reg_loss: bool = False,
    ) -> None:
        super().__init__(observation_shape, z_size, architecture, _config(locals()))


class DisentInfoVae(DisentModel):
    """disent's ``InfoVae``: reconstruction + an MMD term (its ``mean`` reduction only)."""

    name = "disent_infovae"
    framework_class = "vae.InfoVae"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        z_size: int = 10,
        architecture: str = "conv64",
        info_alpha: float = -0.5,
        info_lambda: float = 5.0,
        info_kernel: str = "rbf",
        z_var: float = 2.0,
        maintain_reg_ratio: bool = True,
        recon_loss: str = "mse",
        loss_reduction: str = "mean",
        latent_distribution: str = "normal",
        kl_loss_mode: str = "direct",
        detach_decoder: bool = False,
        disable_rec_loss: bool = False,
        disable_aug_loss: bool = False,
        disable_reg_loss: bool = False,
    ) -> None:
        super().__init__(observation_shape, z_size, architecture, _config(locals()))


class _WeakPairs(DisentModel):
    """A framework on weak pairs: bench's ``weak_pairs`` sampler, ``k`` factors changed."""

    sample_kind = "weak_pairs"

    def _set_k(self, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or (k < 1 and k != -1):
            raise ValueError(f"k must be a positive integer or -1, got {k!r}")
        self.k = k
        self.sample_options = {"k": k}


class DisentAdaVae(_WeakPairs):
    """disent's ``AdaVae`` (Ada-GVAE averaging by default) on pairs differing in ``k``
    factors (-1: a random number per pair)."""

    name = "disent_adavae"
    framework_class = "vae.AdaVae"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        z_size: int = 10,
        architecture: str = "conv64",
        k: int = 1,
        beta: float = 0.003,
        ada_average_mode: str = "gvae",
        ada_thresh_mode: str = "symmetric_kl",
        ada_thresh_ratio: float = 0.5,
        recon_loss: str = "mse",
        loss_reduction: str = "mean",
        latent_distribution: str = "normal",
        kl_loss_mode: str = "direct",
        detach_decoder: bool = False,
        disable_rec_loss: bool = False,
        disable_aug_loss: bool = False,
        disable_reg_loss: bool = False,
    ) -> None:
        super().__init__(observation_shape, z_size, architecture, _config(locals()))
        self._set_k(k)


class DisentAdaGVaeMinimal(_WeakPairs):
    """disent's ``AdaGVaeMinimal``: Ada-GVAE written out directly, on weak pairs."""

    name = "disent_adagvae_minimal"
    framework_class = "vae.AdaGVaeMinimal"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        z_size: int = 10,
        architecture: str = "conv64",
        k: int = 1,
        beta: float = 0.003,
        recon_loss: str = "mse",
        loss_reduction: str = "mean",
        latent_distribution: str = "normal",
        kl_loss_mode: str = "direct",
        detach_decoder: bool = False,
        disable_rec_loss: bool = False,
        disable_aug_loss: bool = False,
        disable_reg_loss: bool = False,
    ) -> None:
        super().__init__(observation_shape, z_size, architecture, _config(locals()))
        self._set_k(k)


class DisentAe(DisentModel):
    """disent's ``Ae``: a deterministic autoencoder (reconstruction only)."""

    name = "disent_ae"
    framework_class = "ae.Ae"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        z_size: int = 10,
        architecture: str = "conv64",
        recon_loss: str = "mse",
        loss_reduction: str = "mean",
        detach_decoder: bool = False,
        disable_rec_loss: bool = False,
        disable_aug_loss: bool = False,
    ) -> None:
        super().__init__(observation_shape, z_size, architecture, _config(locals()))


class DisentAdaAe(_WeakPairs):
    """disent's ``AdaAe``: the adaptive averaging of Ada-GVAE on an autoencoder's codes."""

    name = "disent_adaae"
    framework_class = "ae.AdaAe"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        z_size: int = 10,
        architecture: str = "conv64",
        k: int = 1,
        ada_thresh_ratio: float = 0.5,
        recon_loss: str = "mse",
        loss_reduction: str = "mean",
        detach_decoder: bool = False,
        disable_rec_loss: bool = False,
        disable_aug_loss: bool = False,
    ) -> None:
        super().__init__(observation_shape, z_size, architecture, _config(locals()))
        self._set_k(k)


MODELS = (
    DisentVae,
    DisentBetaVae,
    DisentBetaTcVae,
    DisentDipVae,
    DisentInfoVae,
    DisentAdaVae,
    DisentAdaGVaeMinimal,
    DisentAe,
    DisentAdaAe,
)
