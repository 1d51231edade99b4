"""disent's losses and defaults against the reference (disentanglement_lib 1.5), measured.

Run in the bridge's environment (a few minutes on one CPU thread)::

    nice -n 15 python plugins/disent-bridge/benchmarks/compare_reference.py

1. Training: on ``dsprites_small``, the same steps, batch, Adam settings and seed for
   disentangle-bench's reference ``beta_vae`` (disentanglement_lib's architecture and loss),
   ``disent_betavae`` configured with the reference's loss (``recon_loss='bce'``,
   ``loss_reduction='mean_sum'``, beta 4) and ``disent_betavae`` with disent's defaults
   (``'mse'``, ``'mean'``, beta 0.003). Each trained model is measured the same way on the same
   1,024 observations: squared reconstruction error (summed over pixels, averaged over images),
   KL (summed over latents) and MIG (2,000 points, seed 0).
2. Loss terms: the trained reference model's posterior, sampled codes and decoder logits on one
   batch of 64 observations, fed to disent's beta-VAE, beta-TCVAE and DIP-VAE-I/II loss code
   and to the reference formulas (:mod:`disent_bridge.reference`).

Writes ``plugins/disent-bridge/benchmarks/results/compare_reference.md`` (the README quotes it).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import gin
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parents[2]
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

from disent_bridge._disent import disent_version  # noqa: E402
from disent_bridge.models import DisentBetaTcVae, DisentBetaVae, DisentDipVae  # noqa: E402
from disent_bridge.reference import disent_terms, reference_terms  # noqa: E402
from provenance import cpu_model, git_commit  # noqa: E402

from disentangle_bench.pipeline.representation import model_representation  # noqa: E402
from disentangle_bench.pipeline.training import TrainingConfig, to_model_input, train  # noqa: E402
from disentangle_bench.registry import Registry  # noqa: E402

DATASET = "dsprites_small"
MODELS = [
    ("beta_vae", "reference beta-VAE (disentangle-bench beta_vae)", {"num_latent": 5, "beta": 4.0}),
    (
        "disent_betavae",
        "disent BetaVae, reference loss (bce, mean_sum, beta 4)",
        {"z_size": 5, "beta": 4.0, "recon_loss": "bce", "loss_reduction": "mean_sum"},
    ),
    ("disent_betavae", "disent BetaVae, disent defaults (mse, mean, beta 0.003)", {"z_size": 5}),
]


def measure(model: torch.nn.Module, data, registry: Registry) -> dict[str, float]:
    """Reconstruction error, KL and MIG of a trained model, on fixed observations."""
    rng = np.random.RandomState(1)
    images = data.sample_observations_from_factors(data.sample_factors(1024, rng), rng)
    x = to_model_input(images, torch.device("cpu"))
    model.eval()
    with torch.no_grad():
        squared = (model.reconstruct(x) - x).square().flatten(1).sum(dim=1).mean()
        if hasattr(model, "posterior"):
            mean, log_var = model.posterior(x)
        else:
            mean, log_var = model.framework._model.encode(x, chunk=True)
        kl = (0.5 * (mean.square() + log_var.exp() - log_var - 1.0)).sum(dim=1).mean()
    gin.parse_config("mig.num_train = 2000")
    mig = registry.build("metrics", "mig")(
        data, model_representation(model, torch.device("cpu")), np.random.RandomState(0)
    )
    gin.clear_config()
    return {"squared_error": float(squared), "kl": float(kl), "mig": mig["discrete_mig"]}


def train_models(steps: int, registry: Registry) -> list[tuple[str, torch.nn.Module, dict]]:
    data = registry.build("datasets", DATASET)
    config = TrainingConfig(
        steps=steps, batch_size=64, learning_rate=5e-4, checkpoint_every=steps, log_every=steps
    )
    trained = []
    for name, label, hyperparameters in MODELS:
        torch.manual_seed(0)
        model = registry.get("models", name).factory(
            observation_shape=data.observation_shape, **hyperparameters
        )
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as run_dir:
            train(model, data, config, run_dir=Path(run_dir), seed=0, device=torch.device("cpu"))
        seconds = time.perf_counter() - started
        trained.append((label, model, {**measure(model, data, registry), "seconds": seconds}))
        print(f"{label}: {trained[-1][2]}", flush=True)
    return trained


def loss_terms(reference_model: torch.nn.Module, registry: Registry) -> list[dict]:
    data = registry.build("datasets", DATASET)
    rng = np.random.RandomState(2)
    images = data.sample_observations_from_factors(data.sample_factors(64, rng), rng)
    x = to_model_input(images, torch.device("cpu"))
    shape = data.observation_shape
    with torch.no_grad():
        mean, log_var = reference_model.posterior(x)
        generator = torch.Generator().manual_seed(0)
        z = mean + torch.exp(0.5 * log_var) * torch.randn(mean.shape, generator=generator)
        logits = reference_model.decoder(z)
        cases = [
            ("beta-VAE, beta 4", "beta_vae", {"beta": 4.0}, DisentBetaVae, {"beta": 4.0}),
            ("beta-TCVAE, beta 6", "beta_tc_vae", {"beta": 6.0}, DisentBetaTcVae, {"beta": 6.0}),
            (
                "DIP-VAE-I, lambda_od 2, lambda_d 20",
                "dip_vae_i",
                {"lambda_od": 2.0, "lambda_d": 20.0},
                DisentDipVae,
                {"beta": 1.0, "dip_mode": "i", "lambda_od": 2.0, "lambda_d": 20.0},
            ),
            (
                "DIP-VAE-II, lambda_od 2, lambda_d 2",
                "dip_vae_ii",
                {"lambda_od": 2.0, "lambda_d": 2.0},
                DisentDipVae,
                {"beta": 1.0, "dip_mode": "ii", "lambda_od": 2.0, "lambda_d": 2.0},
            ),
        ]
        rows = []
        for label, reference, reference_hp, framework_class, disent_hp in cases:
            framework = framework_class(
                shape, z_size=mean.shape[1], architecture="linear", recon_loss="bce",
                loss_reduction="mean_sum", **disent_hp,
            ).framework  # fmt: skip
            ours = reference_terms(reference, x, logits, mean, log_var, z, **reference_hp)
            theirs = disent_terms(framework, x, logits, mean, log_var, z)
            rows.append(
                {
                    "case": label,
                    "beta": reference_hp["beta"] if reference == "beta_tc_vae" else None,
                    "kl": float(ours["kl"]),
                    **{f"reference_{k}": float(v) for k, v in ours.items()},
                    **{f"disent_{k}": float(v) for k, v in theirs.items()},
                }
            )
    return rows


def markdown(trained, rows, steps: int, total_seconds: float) -> str:
    lines = [
        "# disent 0.8 against the reference (disentanglement_lib 1.5)",
        "",
        f"- command: `nice -n 15 python plugins/disent-bridge/benchmarks/compare_reference.py "
        f"--steps {steps}`",
        f"- date: {datetime.date.today().isoformat()}; commit {git_commit()}",
        f"- hardware: CPU ({cpu_model()}), 1 torch thread; wall time {total_seconds:.0f} s",
        f"- versions: torch {torch.__version__}, disent {disent_version()}",
        f"- data: `{DATASET}`; training: {steps} steps, batch 64, Adam lr 5e-4 "
        "(0.9, 0.999, 1e-8), seed 0, 5 latents",
        "",
        "## 1. Trained models, measured the same way",
        "",
        "Squared reconstruction error summed over pixels and KL summed over latents, both averaged "
        "over the same 1,024 observations; MIG on 2,000 points, seed 0. At this scale MIG says "
        "nothing about disentanglement; the columns show the scale of what each loss optimises.",
        "",
        "| model | squared error | KL | MIG | train seconds |",
        "|---|---|---|---|---|",
    ]
    for label, _, values in trained:
        lines.append(
            f"| {label} | {values['squared_error']:.1f} | {values['kl']:.2f} | "
            f"{values['mig']:.3f} | {values['seconds']:.0f} |"
        )
    lines += [
        "",
        "## 2. Loss terms on the same tensors",
        "",
        "The trained reference model's posterior, codes and logits on 64 observations; disent's "
        "loss code with `recon_loss='bce'`, `loss_reduction='mean_sum'` (the reference's "
        "reductions) against the reference formulas. KL is the same in both (summed over "
        "latents); the last but two column is beta-TCVAE's expected difference.",
        "",
        "| case | KL | reference regulariser | disent regulariser | disent - reference | "
        "(beta - 1) KL | reference reconstruction | disent reconstruction |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        difference = row["disent_regularizer"] - row["reference_regularizer"]
        beta = row.get("beta")
        extra = f"{(beta - 1.0) * row['kl']:+.4f}" if beta is not None else ""
        lines.append(
            f"| {row['case']} | {row['kl']:.4f} | {row['reference_regularizer']:.4f} | "
            f"{row['disent_regularizer']:.4f} | {difference:+.4f} | {extra} | "
            f"{row['reference_reconstruction']:.3f} | {row['disent_reconstruction']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "compare_reference.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    registry = Registry()
    trained = train_models(args.steps, registry)
    rows = loss_terms(trained[0][1], registry)
    text = markdown(trained, rows, args.steps, time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
