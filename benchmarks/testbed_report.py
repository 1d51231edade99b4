"""The test-bed study's results: the claim's statistics, the eps sweep, the diagnostic's forecast.

    python benchmarks/testbed_report.py [--runs benchmarks/results/testbed_study.jsonl]
        [--probe]   also train the supervised factor probes (cached in testbed_probe.json)

Reads the runs ``benchmarks/testbed_study.py`` appended and writes
``benchmarks/results/testbed_study.md`` and ``.json`` and ``testbed_sweep.png``:

- per strength: MIG and phase-probe R^2, mean (sd) per model and condition, over the seeds that
  finished every condition of that model (the design is paired);
- the family of tests of ``disentangle_bench.evidence.statistics.claim_table`` (beta-VAE the
  VAE, PCL the non-variational reference; AE is reported, not tested) with Holm-adjusted p and a
  verdict per model;
- the eps sweep of beta-VAE on the structural twin, and the rank correlation (Spearman) between
  the variance diagnostic's off-diagonal mass at each eps (computed before any training) and the
  measured mean MIG drop;
- per strength: what the codes keep of each factor (held-out linear R^2 from the codes to the
  factor, ``code_r2``) and how many code dimensions are active, per model and condition, and the
  share of beta-VAE runs left with a single active latent;
- the second construction attempt (the cosine profile at eps 0.175): beta-VAE on its structural
  and shuffled twins, with the paired tests against the original and against each other;
- the third attempt (``testbed_study.py --plan base --sigma-y 3.5``, its own runs file
  ``testbed_sigma_y35.jsonl``): beta-VAE at eps 0.1 with every control on a less anisotropic blob;
- the fourth attempt (``testbed_study.py --plan blend``, runs in ``testbed_blend.jsonl``): the
  per-strength tables, tests and codes for the blend twins (``oblique_blend`` and its controls),
  PCL with 2 latents on the inward-push twins tested with beta-VAE's first-attempt runs, and the
  blend's eps sweep (both sweeps drawn in ``testbed_sweep.png``);
- the fifth attempt (a slow pattern, switch share 1/16, blend, eps 0.175; its structural and
  shuffled runs made by ``testbed_decoder.py``, paired with the fourth attempt's original and
  noise runs): beta-VAE's paired tests, what the codes keep, the diagnostic before training and
  the claim family with PCL;
- whether beta-VAE's decoder reproduces the pattern (``testbed_decoder.py``, runs in
  ``testbed_decoder.jsonl``): pattern capture and reconstruction loss against its references, for
  the structural twin and its shuffled control in both forms;
- the held-out accuracy per factor of supervised probes on the original and every twin: the
  ridge probe (``diagnostics.probe.ridge_probe_accuracy``, computed every time, seconds) and,
  with ``--probe``, the conv probe (``conv_probe_accuracy``, cached in testbed_probe.json).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import cpu_model, git_commit  # noqa: E402
from testbed_calibration import TUNED  # noqa: E402
from testbed_study import twin  # noqa: E402

from disentangle_bench.data.blob import Blob  # noqa: E402
from disentangle_bench.diagnostics.probe import (  # noqa: E402
    conv_probe_accuracy,
    ridge_probe_accuracy,
)
from disentangle_bench.diagnostics.variance import local_variance_structure  # noqa: E402
from disentangle_bench.evidence.statistics import (  # noqa: E402
    claim_table,
    format_markdown,
    holm,
    paired_drop_test,
)
from disentangle_bench.evidence.testbed import VARIATIONAL, Condition  # noqa: E402
from disentangle_bench.perturbations.oblique import MAX_SWITCH_SHARE  # noqa: E402
from disentangle_bench.util.files import atomic_write_json, atomic_write_text  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MODELS = ("beta_vae", "pcl", "ae", "beta_tc_vae")
STRENGTHS = (0.1, 0.175)
SERIES_COLOURS = ("crimson", "royalblue", "darkgreen")
BLEND_RUNS = RESULTS / "testbed_blend.jsonl"
DECODER_RUNS = RESULTS / "testbed_decoder.jsonl"
SLOW_RUNS = RESULTS / "testbed_slow.jsonl"
#: The fifth attempt's switch share and strength (its noise twin has no share: the mean change
#: norm does not depend on it).
SLOW, SLOW_EPS = 0.0625, 0.175


def load_rows(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    return rows


def by_seed(rows: list[dict], model: str, label: str, value: str = "mig") -> dict[int, float]:
    return {r["seed"]: r[value] for r in rows if r["model"] == model and r["label"] == label}


def paired_scores(
    rows: list[dict], model: str, labels: dict[str, str], value: str = "mig"
) -> dict[str, np.ndarray]:
    """``{condition: scores}`` over the seeds present in every condition, in seed order."""
    columns = {name: by_seed(rows, model, label, value) for name, label in labels.items()}
    seeds = sorted(set.intersection(*(set(c) for c in columns.values()))) if columns else []
    return {name: np.array([column[s] for s in seeds]) for name, column in columns.items()}


def labels_at(eps: float, form: str = "push", share: float = MAX_SWITCH_SHARE) -> dict[str, str]:
    return {
        "original": Condition("original").label,
        **{k: twin(k, eps, form, share).label for k in ("structural", "noise", "shuffled")},
    }


def mean_sd(values: np.ndarray) -> str:
    if len(values) == 0:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{values.mean():.3f} ({values.std(ddof=1):.3f})"


def condition_table(
    rows: list[dict], eps: float, form: str = "push", share: float = MAX_SWITCH_SHARE
) -> tuple[str, dict]:
    labels = labels_at(eps, form, share)
    lines = [
        f"| model | n | {' | '.join(f'{c} MIG' for c in labels)} "
        "| structural phase R^2 | shuffled phase R^2 |",
        "|---|---|" + "---|" * (len(labels) + 2),
    ]
    summary = {}
    for model in MODELS:
        mig = paired_scores(rows, model, labels)
        phase = paired_scores(rows, model, labels, "phase_r2")
        n = len(mig["original"])
        if n == 0:
            continue
        summary[model] = {c: v.tolist() for c, v in mig.items()}
        lines.append(
            f"| {model} | {n} | "
            + " | ".join(mean_sd(v) for v in mig.values())
            + f" | {mean_sd(phase['structural'])} | {mean_sd(phase['shuffled'])} |"
        )
    return "\n".join(lines), summary


def code_table(
    rows: list[dict], eps: float, form: str = "push", share: float = MAX_SWITCH_SHARE
) -> tuple[str, dict]:
    """Per model and condition: mean code R^2 of each factor and mean number of active latents,
    and (beta-VAE) how many runs kept a single active latent."""
    names = Blob().factor_names
    lines = [
        "| model | condition | n | "
        + " | ".join(f"code R^2 {name}" for name in names)
        + " | active latents | runs with one active latent | MIG of the other runs |",
        "|---|---|---|" + "---|" * (len(names) + 3),
    ]
    summary: dict = {}
    for model in MODELS:
        for condition, label in labels_at(eps, form, share).items():
            group = [r for r in rows if r["model"] == model and r["label"] == label]
            group = [r for r in group if "code_r2" in r]
            if not group:
                continue
            r2 = {name: np.array([r["code_r2"][name] for r in group]) for name in names}
            active = np.array([r["active_latents"] for r in group])
            several = np.array([r["mig"] for r in group if r["active_latents"] > 1])
            summary.setdefault(model, {})[condition] = {
                "n": len(group),
                "code_r2": {name: float(v.mean()) for name, v in r2.items()},
                "active_latents": float(active.mean()),
                "one_active": int((active == 1).sum()),
                "mig_several_active": several.tolist(),
            }
            lines.append(
                f"| {model} | {condition} | {len(group)} | "
                + " | ".join(mean_sd(v) for v in r2.values())
                + f" | {active.mean():.1f} | {int((active == 1).sum())} of {len(group)} "
                f"| {mean_sd(several)} |"
            )
    return "\n".join(lines), summary


def paired_section(
    rows: list[dict], labels: dict[str, str], comparisons: list[tuple[str, str]]
) -> tuple[str, dict]:
    """beta-VAE on ``labels``' conditions, paired by seed: MIG, what the codes keep, and a
    one-sided paired Wilcoxon test ``first < second`` for each of ``comparisons``."""
    mig = paired_scores(rows, "beta_vae", labels)
    n = len(mig["original"])
    if n < 2:
        return "not run yet\n", {}
    measured = [r for r in rows if r["model"] == "beta_vae" and r["label"] in labels.values()]
    phase = (
        paired_scores(rows, "beta_vae", labels, "phase_r2")
        if all("phase_r2" in r for r in measured)
        else {c: np.array([]) for c in labels}  # a runs file without the phase probe
    )
    active = paired_scores(rows, "beta_vae", labels, "active_latents")
    tests = {f"{a} < {b}": paired_drop_test(mig[b], mig[a]) for a, b in comparisons}
    lines = [
        f"beta-VAE, {n} paired seeds.\n",
        "| condition | MIG | phase-probe R^2 | runs with one active latent |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c} | {mean_sd(mig[c])} | {mean_sd(phase[c])} | {int((active[c] == 1).sum())} of {n} |"
        for c in labels
    ]
    adjusted = holm({name: test.p_value for name, test in tests.items()})
    lines += [
        "",
        "| test (one-sided, paired Wilcoxon) | mean drop | p | p (Holm, these tests) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {test.mean_drop:.3f} | {test.p_value:.3g} | {adjusted[name]:.3g} |"
        for name, test in tests.items()
    ]
    record = {
        "n": n,
        "mig": {c: v.tolist() for c, v in mig.items()},
        "tests": {
            name: {"mean_drop": t.mean_drop, "p": t.p_value, "p_holm": adjusted[name]}
            for name, t in tests.items()
        },
    }
    return "\n".join(lines), record


def cosine_section(rows: list[dict]) -> tuple[str, dict]:
    """The cosine-profile twins (eps 0.175) against the original and each other."""
    labels = {
        "original": Condition("original").label,
        "structural": Condition("structural", 0.175, profile="cosine").label,
        "shuffled": Condition("shuffled", 0.175, profile="cosine").label,
    }
    comparisons = [("structural", "original"), ("shuffled", "original"), ("structural", "shuffled")]
    return paired_section(rows, labels, comparisons)


def base_section(path: Path) -> tuple[str, dict]:
    """The plan ``base`` of testbed_study.py (another blob): eps 0.1, every control."""
    if not path.exists():
        return "not run yet\n", {}
    rows = load_rows(path)
    widths = sorted({r["sigma_y"] for r in rows})
    comparisons = [("structural", other) for other in ("original", "noise", "shuffled")]
    text, record = paired_section(rows, labels_at(0.1), comparisons)
    header = (
        f"`{path.relative_to(ROOT)}`: blob with sigma_y {', '.join(f'{w:g}' for w in widths)} "
        f"(sigma_x 2.5), eps 0.1, code at {', '.join(sorted({r['commit'] for r in rows}))}. "
    )
    return header + text, record


def claim_section(
    rows: list[dict], eps: float, form: str = "push", share: float = MAX_SWITCH_SHARE
) -> tuple[str, dict]:
    """The claim's family: every VAE-based model with runs against PCL, a second pattern seed
    (1) pooled per training seed where it was run."""
    scores = {}
    for model in (*VARIATIONAL, "pcl"):
        labels = labels_at(eps, form, share)
        labels["structural@1"] = twin("structural", eps, form, share, 1).label
        if by_seed(rows, model, labels["structural@1"]):  # pooled with pattern seed 0
            labels["structural@0"] = labels.pop("structural")
        else:
            labels.pop("structural@1")
        paired = paired_scores(rows, model, labels)
        if len(paired["original"]) >= 2:
            scores[model] = paired
    vaes = [model for model in VARIATIONAL if model in scores]
    if "pcl" not in scores or not vaes:
        return "not enough paired seeds yet for the tests\n", {}
    table = claim_table(scores, vaes=vaes, reference="pcl")
    return format_markdown(table.rows, table.verdicts), {
        "rows": table.rows,
        "verdicts": dict(table.verdicts),
    }


def strength_section(
    rows: list[dict], eps: float, form: str = "push", share: float = MAX_SWITCH_SHARE
) -> tuple[str, dict]:
    """At one strength: the MIG table, the claim's tests and what the codes keep."""
    table, summary = condition_table(rows, eps, form, share)
    claim, tests = claim_section(rows, eps, form, share)
    codes, code_summary = code_table(rows, eps, form, share)
    text = "\n".join(
        [
            "MIG (and phase-probe R^2), mean (sd) over paired seeds:\n",
            table,
            "\nThe tests of the claim (one family, Holm-adjusted):\n",
            claim,
            "\nWhat the codes keep of each factor (held-out linear R^2 from the codes), mean "
            "(sd) over every run of the condition, the active code dimensions, and the MIG of "
            "the runs that kept more than one active latent (a low MIG with every factor's R^2 "
            "high means the factors are in the code but mixed across latents):\n",
            codes + "\n",
        ]
    )
    return text, {"scores": summary, "tests": tests, "codes": code_summary}


def blend_section(path: Path, push_rows: list[dict]) -> tuple[str, dict, list[dict]]:
    """The plan ``blend`` of testbed_study.py: every strength with the blend twins, and PCL (2
    latents) on the inward-push twins at eps 0.1 against beta-VAE's runs of the first attempt."""
    if not path.exists():
        return "not run yet\n", {}, []
    rows = load_rows(path)
    commits = ", ".join(sorted({r["commit"] for r in rows}))
    seconds = np.median([r["train_seconds"] for r in rows])
    lines = [
        f"`{path.relative_to(ROOT)}`: {len(rows)} runs, code at {commits}, median {seconds:.0f} "
        "s of training per run. Structural twin `oblique_blend` (`x' = (1 - eps) x + eps m(w)`, "
        "the first attempt's square pattern), its shuffled control and noise norm-matched to it; "
        "beta-VAE and AE with 4 latents, PCL with 2.\n"
    ]
    record: dict = {"commits": commits, "num_runs": len(rows)}
    for eps in STRENGTHS:
        text, record[f"eps={eps:g}"] = strength_section(rows, eps, "blend")
        lines += [f"### Blend, eps {eps:g}\n", text]
    mixed = [r for r in push_rows if r["model"] == "beta_vae"]
    mixed += [r for r in rows if r["model"] == "pcl"]
    claim, record["push_eps=0.1_pcl2"] = claim_section(mixed, 0.1)
    pcl = paired_scores(rows, "pcl", labels_at(0.1))
    here, there = (by_seed(group, "beta_vae", "original") for group in (rows, push_rows))
    common = sorted(set(here) & set(there))
    repeated = sum(here[seed] == there[seed] for seed in common)
    lines += [
        "### Inward push, eps 0.1, with PCL at 2 latents\n",
        "PCL (2 latents, this file), MIG mean (sd): "
        + ", ".join(f"{c} {mean_sd(v)}" for c, v in pcl.items())
        + f" ({len(pcl['original'])} paired seeds). The family with beta-VAE's runs of the "
        f"first attempt (beta-VAE's original runs here repeat the first attempt's MIG exactly "
        f"for {repeated} of {len(common)} seeds):\n",
        claim,
    ]
    points, sweep_text = sweep(rows, form="blend")
    lines += ["### Blend: the eps sweep and the diagnostic's forecast\n", sweep_text]
    return "\n".join(lines) + "\n", record, points


def slow_section(path: Path, earlier: list[dict]) -> tuple[str, dict, list[dict]]:
    """The plan ``slow`` of testbed_study.py (the fifth attempt: switch share 1/16, blend): every
    model at eps 0.175, beta-VAE at eps 0.1, the sweep, and the runs that repeat earlier ones."""
    if not path.exists():
        return "not run yet\n", {}, []
    rows = load_rows(path)
    commits = ", ".join(sorted({r["commit"] for r in rows}))
    seconds = {
        model: np.median([r["train_seconds"] for r in rows if r["model"] == model])
        for model in MODELS
        if any(r["model"] == model for r in rows)
    }
    before = {(r["model"], r["label"], r["seed"]): r["mig"] for r in earlier}
    repeated = [r for r in rows if (r["model"], r["label"], r["seed"]) in before]
    same = sum(before[(r["model"], r["label"], r["seed"])] == r["mig"] for r in repeated)
    lines = [
        f"`{path.relative_to(ROOT)}`: {len(rows)} runs, code at {commits}; median seconds of "
        "training per run: "
        + ", ".join(f"{model} {value:.0f}" for model, value in seconds.items())
        + f". Of its runs, {len(repeated)} repeat a run of the fourth attempt or of "
        f"`testbed_decoder.jsonl` (the same model, condition and seed, made before the trainer's "
        f"Adam became the multi-tensor implementation); {same} of them give the same MIG to the "
        "last digit. Structural twin `oblique_blend` with switch share 1/16, its shuffled control "
        "(the same share) and the blend's norm-matched noise; beta-VAE, beta-TCVAE and AE with 4 "
        "latents, PCL with 2.\n"
    ]
    record: dict = {
        "commits": commits,
        "num_runs": len(rows),
        "repeats_equal": [same, len(repeated)],
    }
    text, record[f"eps={SLOW_EPS:g}"] = strength_section(rows, SLOW_EPS, "blend", SLOW)
    lines += [f"### Slow blend, eps {SLOW_EPS:g}\n", text]
    base = Blob()
    slow = twin("structural", SLOW_EPS, "blend", SLOW).build(base)
    fast = twin("structural", SLOW_EPS, "blend").build(base)
    masses = [local_variance_structure(d, num_points=64).off_diagonal_mass for d in (slow, fast)]
    record["off_diagonal_mass"] = {"share=1/16": masses[0], "share=1/4": masses[1]}
    lines.append(
        f"The diagnostic before training: off-diagonal mass {masses[0]:.3f} for this twin "
        f"(switch share {SLOW:g}), {masses[1]:.3f} for the share-1/4 blend at the same eps.\n"
    )
    comparisons = [("structural", other) for other in ("original", "noise", "shuffled")]
    text, record["eps=0.1"] = paired_section(rows, labels_at(0.1, "blend", SLOW), comparisons)
    lines += ["### Slow blend, eps 0.1 (beta-VAE)\n", text + "\n"]
    points, sweep_text = sweep(rows, "blend", SLOW)
    lines += ["### Slow blend: the eps sweep and the diagnostic's forecast\n", sweep_text]
    return "\n".join(lines) + "\n", record, points


def decoder_section(path: Path, study_rows: list[dict]) -> tuple[str, dict]:
    """``benchmarks/testbed_decoder.py``: do the VAEs' decoders reproduce the pattern?"""
    if not path.exists():
        return "not run yet\n", {}
    rows = [r for r in load_rows(path) if "pattern_capture" in r]  # the models with a decoder
    study = {(r["model"], r["label"], r["seed"]): r["mig"] for r in study_rows}
    matched = [r for r in rows if (r["model"], r["label"], r["seed"]) in study]
    same = sum(study[(r["model"], r["label"], r["seed"])] == r["mig"] for r in matched)
    lines = [
        f"`{path.relative_to(ROOT)}`: the VAEs retrained as in the study, code at "
        f"{', '.join(sorted({r['commit'] for r in rows}))}; their MIG equals the study's for "
        f"{same} of the {len(matched)} runs the study also has. Means (sd) over seeds:\n",
        "| model | form | switch share | eps | condition | pattern seed | n | MIG "
        "| pattern capture | reconstruction loss (nats) | floor | pattern-blind |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    record: dict = {"mig_equal_to_study": [same, len(matched)]}

    def setting(row: dict) -> tuple:
        share = row.get("switch_share", MAX_SWITCH_SHARE)
        pattern = int(re.search(r"pattern=(\d+)", row["label"]).group(1))  # older rows: label only
        return row["model"], row["form"], share, row["eps"], row["kind"], pattern

    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(setting(row), []).append(row)
    order = sorted(groups, key=lambda key: (MODELS.index(key[0]), *key[1:]))
    for model, form, share, eps, kind, pattern in order:
        group = groups[(model, form, share, eps, kind, pattern)]
        names = (
            "mig",
            "pattern_capture",
            "reconstruction_loss",
            "loss_floor",
            "loss_pattern_blind",
        )
        values = {name: np.array([r[name] for r in group]) for name in names}
        key = f"{model}/{form}/share={share:g}/eps={eps:g}/{kind}/pattern={pattern}"
        record[key] = {name: v.tolist() for name, v in values.items()}
        lines.append(
            f"| {model} | {form} | {share:g} | {eps:g} | {kind} | {pattern} | {len(group)} | "
            + " | ".join(mean_sd(v) for v in values.values())
            + " |"
        )
    return "\n".join(lines) + "\n", record


def sweep(
    rows: list[dict], form: str = "push", share: float = MAX_SWITCH_SHARE
) -> tuple[list[dict], str]:
    """beta-VAE's structural-twin MIG against eps, with the diagnostic's off-diagonal mass."""
    base = Blob()
    original = by_seed(rows, "beta_vae", "original")
    points = []
    for eps in (0.0, 0.05, 0.1, 0.175, 0.3):
        structural = twin("structural", eps, form, share)
        label = "original" if eps == 0 else structural.label
        scores = by_seed(rows, "beta_vae", label)
        seeds = sorted(set(scores) & set(original))
        if not seeds:
            continue
        data = base if eps == 0 else structural.build(base)
        mass = local_variance_structure(data, num_points=64).off_diagonal_mass
        drops = [original[s] - scores[s] for s in seeds]
        phase = by_seed(rows, "beta_vae", label, "phase_r2")
        points.append(
            {
                "eps": eps,
                "n": len(seeds),
                "mig_mean": float(np.mean([scores[s] for s in seeds])),
                "mig_drop_mean": float(np.mean(drops)),
                "phase_r2_mean": float(np.mean([phase[s] for s in seeds])),
                "off_diagonal_mass": mass,
            }
        )
    text = (
        "| eps | n | beta-VAE MIG (structural) | mean drop | phase-probe R^2 "
        "| diagnostic off-diagonal mass |\n"
    )
    text += "|---|---|---|---|---|---|\n" + "\n".join(
        f"| {p['eps']:g} | {p['n']} | {p['mig_mean']:.3f} | {p['mig_drop_mean']:.3f} "
        f"| {p['phase_r2_mean']:.2f} | {p['off_diagonal_mass']:.3f} |"
        for p in points
    )
    if len(points) >= 3:
        rho, p_value = spearmanr(
            [p["off_diagonal_mass"] for p in points], [p["mig_drop_mean"] for p in points]
        )
        text += (
            f"\n\nSpearman rank correlation of the diagnostic (before training) with the measured "
            f"mean MIG drop over {len(points)} strengths: {rho:.2f} (scipy's p = {p_value:.2g}; "
            "with this few strengths it shows a monotone relation, not its strength)."
        )
    return points, text


def sweep_png(series: dict[str, list[dict]], path: Path) -> None:
    """MIG of beta-VAE on the structural twin against eps, one line per construction."""
    from PIL import Image, ImageDraw

    width, height, margin = 480, 320, 50
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.line([(margin, height - margin), (width - 20, height - margin)], fill="black")
    draw.line([(margin, 20), (margin, height - margin)], fill="black")

    def xy(eps: float, mig: float) -> tuple[float, float]:
        return (
            margin + eps / 0.3 * (width - margin - 30),
            height - margin - mig * (height - margin - 30),
        )

    for tick in (0.0, 0.1, 0.2, 0.3):
        x, y = xy(tick, 0.0)
        draw.text((x - 8, y + 6), f"{tick:g}", fill="black")
    for tick in (0.0, 0.5, 1.0):
        x, y = xy(0.0, tick)
        draw.text((x - 30, y - 6), f"{tick:g}", fill="black")
    draw.text((width // 2 - 20, height - 22), "eps", fill="black")
    draw.text((margin + 6, 4), "beta-VAE MIG on blob's structural twin", fill="black")
    for row, ((name, points), colour) in enumerate(
        zip(series.items(), SERIES_COLOURS, strict=False)
    ):
        coords = [xy(p["eps"], p["mig_mean"]) for p in points]
        if len(coords) > 1:
            draw.line(coords, fill=colour, width=2)
        for x, y in coords:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        draw.text((width - 150, 24 + 14 * row), name, fill=colour)
    image.save(path)


def probe_conditions() -> list[Condition]:
    """The original, every twin of the study at both strengths, and the cosine-profile twins."""
    conditions = [Condition("original")] + [
        Condition(kind, eps) for eps in STRENGTHS for kind in ("structural", "noise", "shuffled")
    ]
    conditions += [Condition(k, 0.175, profile="cosine") for k in ("structural", "shuffled")]
    return conditions + [
        Condition(kind, eps, form="blend")
        for eps in STRENGTHS
        for kind in ("structural", "noise", "shuffled")
    ]


def ridge_probe_section() -> tuple[str, dict]:
    """The ridge probe's held-out accuracy per factor on every condition (deterministic)."""
    base, names = Blob(), Blob().factor_names
    lines = [f"| condition | {' | '.join(names)} |", "|---|" + "---|" * len(names)]
    record = {}
    conditions = probe_conditions()  # and the fifth attempt's slow pattern:
    conditions += [twin(kind, SLOW_EPS, "blend", SLOW) for kind in ("structural", "shuffled")]
    twins = {condition.label: condition.build(base) for condition in conditions}
    for label, data in twins.items():
        accuracy = ridge_probe_accuracy(data)
        record[label] = accuracy.tolist()
        lines.append(f"| {label} | " + " | ".join(f"{a:.3f}" for a in accuracy) + " |")
    budget = (
        "Ridge probe: pixels to each factor's index, rounded; penalty by leave-one-out; 30 % of "
        "the configurations held out (77 of 256)."
    )
    return f"{budget}\n\n" + "\n".join(lines), record


def probe_section(path: Path, run: bool) -> str:
    cache = json.loads(path.read_text()) if path.exists() else {}
    if run:
        base = Blob()
        for condition in probe_conditions():
            accuracy = conv_probe_accuracy(condition.build(base), steps=1500, seed=0)
            cache[condition.label] = accuracy.tolist()
            print(condition.label, accuracy, flush=True)
        cache["budget"] = "conv probe, 1,500 steps, batch 64, 30 % of configurations held out"
        atomic_write_json(path, cache)
    if not cache:
        return "not run (pass --probe)\n"
    names = Blob().factor_names
    lines = [f"| condition | {' | '.join(names)} |", "|---|" + "---|" * len(names)]
    for label, accuracy in cache.items():
        if label != "budget":
            lines.append(f"| {label} | " + " | ".join(f"{a:.3f}" for a in accuracy) + " |")
    return f"{cache.get('budget', '')}\n\n" + "\n".join(lines)


def calibration_section(path: Path) -> str:
    """Per setting of ``benchmarks/testbed_calibration.py``: MIG on the unperturbed ``blob``."""
    if not path.exists():
        return "no calibration runs\n"
    groups: dict[tuple, list[dict]] = {}
    for row in load_rows(path):
        model = row.get("model", "beta_vae")  # the first lines predate the PCL option
        tuned = TUNED[model]
        knob = f"{tuned.replace('transition_', '')} {row[tuned]:g}"
        setting = (model, row["sigma_x"], row["sigma_y"], knob, row["num_latent"], row["steps"])
        groups.setdefault(setting, []).append(row)
    lines = [
        "| model | sigma_x | sigma_y | beta / gamma / transition rate | latents | steps | seeds "
        "| MIG per seed | mean | share > 0.3 | median s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for setting, group in groups.items():
        migs = np.array([r["mig"] for r in group])
        lines.append(
            "| "
            + " | ".join(v if isinstance(v, str) else f"{v:g}" for v in setting)
            + f" | {len(group)} | "
            + ", ".join(f"{m:.2f}" for m in migs)
            + f" | {migs.mean():.2f} | {np.mean(migs > 0.3):.0%} "
            f"| {np.median([r['train_seconds'] for r in group]):.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=RESULTS / "testbed_study.jsonl")
    parser.add_argument("--probe", action="store_true")
    args = parser.parse_args(argv)
    rows = load_rows(args.runs)
    commits = sorted({r["commit"] for r in rows})
    seconds = [r["train_seconds"] for r in rows]
    header = (
        "# The test-bed study (CPU)\n\n"
        f"{len(rows)} runs from `benchmarks/testbed_study.py` (blob, MLP models with 4 latents, "
        f"3,000 steps, batch 64, Adam 1e-3; beta-VAE beta 16), on {rows[0]['cpu'] if rows else '-'}"
        f", {rows[0]['threads'] if rows else '-'} thread(s) per run, on a shared 2-core machine"
        f" (median {np.median(seconds) if seconds else 0:.0f} s of training per run); code at "
        f"{', '.join(commits)}; report made at {git_commit()} on {cpu_model()}.\n"
    )
    sections, record = [header], {"commits": commits, "num_runs": len(rows)}
    for eps in STRENGTHS:
        text, record[f"eps={eps:g}"] = strength_section(rows, eps)
        sections += [f"## eps {eps:g}\n", text]
    cosine, cosine_record = cosine_section(rows)
    sections += ["\n## Second attempt: the cosine profile (eps 0.175)\n", cosine + "\n"]
    record["cosine"] = cosine_record
    other, record["sigma_y_3.5"] = base_section(RESULTS / "testbed_sigma_y35.jsonl")
    sections += ["\n## Third attempt: a less anisotropic blob (sigma_y 3.5)\n", other + "\n"]
    blend_text, record["blend"], blend_points = blend_section(BLEND_RUNS, rows)
    sections += ["\n## Fourth attempt: the pattern blended in, PCL with 2 latents\n", blend_text]
    earlier = load_rows(BLEND_RUNS) if BLEND_RUNS.exists() else []
    earlier += load_rows(DECODER_RUNS) if DECODER_RUNS.exists() else []
    slow, record["slow"], slow_points = slow_section(SLOW_RUNS, earlier)
    sections += ["\n## Fifth attempt: a slow pattern (switch share 1/16, blend)\n", slow]
    studies = rows + (load_rows(BLEND_RUNS) if BLEND_RUNS.exists() else [])
    studies += load_rows(SLOW_RUNS) if SLOW_RUNS.exists() else []
    decoder, record["decoder"] = decoder_section(DECODER_RUNS, studies)
    sections += ["\n## Does the decoder model the pattern?\n", decoder]
    points, sweep_text = sweep(rows)
    sections += ["## The eps sweep and the diagnostic's forecast (inward push)\n", sweep_text]
    record["sweep"] = points
    record["blend_sweep"] = blend_points
    record["slow_sweep"] = slow_points
    if len(points) > 1:
        series = {"inward push": points, "blend": blend_points, "slow blend": slow_points}
        series = {name: series_points for name, series_points in series.items() if series_points}
        sweep_png(series, RESULTS / "testbed_sweep.png")
        sections.append("\n![MIG against eps](testbed_sweep.png)")
    ridge, record["ridge_probe"] = ridge_probe_section()
    sections += [
        "\n## Are the factors still there? Supervised probes per factor\n",
        ridge,
        "\nConv probe:",
        probe_section(RESULTS / "testbed_probe.json", args.probe),
    ]
    sections += [
        "\n## Calibration of the test bed (unperturbed blob)\n",
        calibration_section(RESULTS / "testbed_calibration.jsonl"),
    ]
    text = "\n".join(sections) + "\n"
    atomic_write_text(RESULTS / "testbed_study.md", text)
    atomic_write_json(RESULTS / "testbed_study.json", record)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
