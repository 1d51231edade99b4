"""Does beta-VAE's decoder model the structural pattern, or treat it as noise?

    python benchmarks/testbed_decoder.py [--seeds 0-4] [--eps 0.1] [--forms blend,push]
        [--kinds structural,shuffled] [--pattern 0] [--switch-share 0.25] [--model beta_vae]
        [--threads 1] [--out benchmarks/results/testbed_decoder.jsonl]

The claim's mechanism needs the pattern to be *modelled*: a structural pattern is a function of
the factors, so a decoder that reads the factors from its code can reproduce it, and the cheapest
code is then a rotated one. For the structural twin and its shuffled control (the same pattern
images, no longer a function of the factors), in both forms (``push``, ``blend``), this trains
beta-VAE exactly as the test-bed study does (``disentangle_bench.evidence.testbed.run_one``,
whose row it extends: the same model, seeds, steps and batches, so the MIG it records equals the
study's for the same run) and measures on every configuration, with the decoder fed the
posterior mean:

- ``pattern_capture`` (``disentangle_bench.evidence.decoding``): the share of the pattern's
  variation over the configurations the reconstructions reproduce (1: all of it; 0: none);
- ``reconstruction_loss``: the Bernoulli reconstruction term per image (nats), beside the two
  references ``loss_floor`` (a decoder that outputs the twin's images exactly) and
  ``loss_pattern_blind`` (one that outputs the clean part exactly and the mean pattern).

and, as the study does, what the code keeps (``code_r2``, ``active_latents``). A structural
pattern that is modelled shows a capture well above its shuffled control's and a loss below it.
``--switch-share`` trains on a pattern of another switch share (the fifth attempt,
docs/testbed.md: 1/16, a pattern slow enough in the factors for a decoder to follow); its runs are
labelled ``...,share=0.0625``. ``--model beta_tc_vae`` measures beta-TCVAE the same way;
``--model pcl`` trains PCL (2 latents) on the same twins for the claim's reference (MIG and codes
only: PCL has no decoder). One JSON line per run is appended to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import cpu_model, git_commit  # noqa: E402
from testbed_calibration import seeds_of  # noqa: E402

from disentangle_bench.data.blob import Blob  # noqa: E402
from disentangle_bench.diagnostics.probe import all_observations  # noqa: E402
from disentangle_bench.evidence.decoding import (  # noqa: E402
    bernoulli_loss_per_image,
    pattern_capture,
)
from disentangle_bench.evidence.testbed import CPU, STEPS, Condition, run_one  # noqa: E402
from disentangle_bench.perturbations.oblique import MAX_SWITCH_SHARE  # noqa: E402
from disentangle_bench.pipeline.training import to_model_input  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "testbed_decoder.jsonl"
#: The models this script trains; only those with a decoder get the decoder's measurements.
MODELS = ("beta_vae", "pcl", "beta_tc_vae")


def clean_part(condition: Condition, clean: np.ndarray) -> np.ndarray:
    """The clean image as the twin keeps it: ``x`` (push) or ``(1 - eps) x`` (blend)."""
    return (1.0 - condition.eps) * clean if condition.form == "blend" else clean


def measure(condition: Condition, seed: int, base: Blob, model_name: str = "beta_vae") -> dict:
    """The study's run of ``model_name`` on ``condition`` (``evidence.testbed.run_one``), with
    the decoder's measurements when the model has a decoder."""
    _, clean = all_observations(base)

    def decoder(model: torch.nn.Module, data, observations: np.ndarray) -> dict:
        if not callable(getattr(model, "reconstruct", None)):
            return {}
        return decoder_measurements(model, condition, clean, observations)

    row = run_one(model_name, condition, seed, steps=STEPS, base=base, measure=decoder)
    row["kind"] = row.pop("condition")
    return row


def decoder_measurements(
    model: torch.nn.Module, condition: Condition, clean: np.ndarray, observations: np.ndarray
) -> dict:
    """Pattern capture and the reconstruction loss with its two references (module docstring)."""
    model.eval()
    with torch.no_grad():
        reconstructions = model.reconstruct(to_model_input(observations, CPU))
    reconstructions = reconstructions.permute(0, 2, 3, 1).numpy().astype(np.float64)
    kept = clean_part(condition, clean)
    pattern = observations - kept
    blind = kept + pattern.mean(axis=0, keepdims=True)
    return {
        "pattern_capture": pattern_capture(reconstructions, kept, pattern),
        "reconstruction_loss": bernoulli_loss_per_image(reconstructions, observations),
        "loss_floor": bernoulli_loss_per_image(observations, observations),
        "loss_pattern_blind": bernoulli_loss_per_image(blind, observations),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--forms", default="blend,push")
    parser.add_argument("--kinds", default="structural,shuffled")
    parser.add_argument("--pattern", type=int, default=0, help="the pattern's seed")
    parser.add_argument("--switch-share", type=float, default=MAX_SWITCH_SHARE)
    parser.add_argument("--model", choices=MODELS, default="beta_vae")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    base, commit, cpu = Blob(), git_commit(), cpu_model()
    conditions = [
        Condition(kind, args.eps, pattern=args.pattern, form=form, switch_share=args.switch_share)
        for form in args.forms.split(",")
        for kind in args.kinds.split(",")
    ]
    for seed in seeds_of(args.seeds):
        for condition in conditions:
            row = measure(condition, seed, base, args.model)
            row.update(threads=args.threads, cpu=cpu, commit=commit)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            decoder = (
                f", capture {row['pattern_capture']:.3f}, loss {row['reconstruction_loss']:.1f} "
                f"(floor {row['loss_floor']:.1f}, pattern-blind {row['loss_pattern_blind']:.1f})"
                if "pattern_capture" in row
                else ""
            )
            print(
                f"{args.model} {row['label']} seed {seed}: MIG {row['mig']:.3f}{decoder}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
