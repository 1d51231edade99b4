"""The template plugin distribution, discovered through its entry point and trained by bench."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "plugins" / "template-model"
TINY = Path(__file__).parent / "configs" / "tiny.gin"


def install_as_distribution(site: Path) -> None:
    """Write the dist-info that ``pip install`` would: metadata and the entry points declared in
    the template's own ``pyproject.toml`` (its package is put on the path by :func:`bench`)."""
    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    entry_points = project["entry-points"]["disentangle_bench"]
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = ["[disentangle_bench]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def bench(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISENTANGLE_BENCH_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(TEMPLATE / "src")])
    return subprocess.run(
        [sys.executable, "-m", "disentangle_bench.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_template_plugin_is_listed_and_trained_by_bench_run(tmp_path):
    site = tmp_path / "site"
    install_as_distribution(site)

    listed = bench(site, "plugins", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entry = next(e for e in json.loads(listed.stdout) if e["name"] == "template_vae")
    assert entry == {
        "kind": "models",
        "name": "template_vae",
        "plugin": "template_model",
        "module": "bench_template_model",
        "distribution": "disentangle-bench-template-model 0.1.0",
    }

    out = tmp_path / "out"
    run = bench(
        site,
        "run",
        "--gin",
        str(TINY),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--bind",
        "experiment.model = 'template_vae'",
        "--bind",
        "template_vae.hidden = 32",
        "--bind",
        "template_vae.num_latent = 3",
    )
    assert run.returncode == 0, run.stderr
    record = json.loads(
        (out / "runs" / "dsprites_small-original-template_vae-seed0" / "run.json").read_text()
    )
    assert record["model"]["distribution"] == "disentangle-bench-template-model 0.1.0"
    assert record["model"]["hyperparameters"] == {"num_latent": 3, "hidden": 32, "beta": 1.0}
    losses = [
        json.loads(line)
        for line in (out / "runs" / record["run_id"] / "losses.jsonl").read_text().splitlines()
    ]
    assert losses[-1]["loss"] < losses[0]["loss"]
    assert 0.0 <= record["metrics"]["mig"]["discrete_mig"] <= 1.0
