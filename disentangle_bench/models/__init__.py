"""Models: the standard architecture and the methods of the study.

| name | method | samples |
|---|---|---|
| ``beta_vae`` | beta-VAE (Higgins et al. 2017) | single |
| ``annealed_vae`` | AnnealedVAE (Burgess et al. 2018) | single |
| ``factor_vae`` | FactorVAE (Kim and Mnih 2018), with its discriminator | single |
| ``beta_tc_vae`` | beta-TCVAE (Chen et al. 2018) | single |
| ``dip_vae_i`` / ``dip_vae_ii`` | DIP-VAE-I / -II (Kumar et al. 2018) | single |
| ``ae`` | deterministic autoencoder | single |
| ``slow_vae`` | SlowVAE (Klindt et al. 2021) | natural pairs |
| ``ada_gvae`` | Ada-GVAE (Locatello et al. 2020) | weak pairs |
| ``pcl`` | PCL (Hyvarinen and Morioka 2017) | natural pairs |
"""

from disentangle_bench.models.autoencoder import Autoencoder
from disentangle_bench.models.dip_vae import DIPVAEI, DIPVAEII
from disentangle_bench.models.factor_vae import FactorVAE
from disentangle_bench.models.pcl import PCL
from disentangle_bench.models.slow_vae import SlowVAE
from disentangle_bench.models.tc_vae import BetaTCVAE
from disentangle_bench.models.vae import AnnealedVAE, BetaVAE, GaussianVAE
from disentangle_bench.models.weak import AdaGVAE

__all__ = [
    "PCL",
    "AdaGVAE",
    "AnnealedVAE",
    "Autoencoder",
    "BetaTCVAE",
    "BetaVAE",
    "DIPVAEI",
    "DIPVAEII",
    "FactorVAE",
    "GaussianVAE",
    "SlowVAE",
]
