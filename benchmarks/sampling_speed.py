"""Dataset speeds: generation, cached loading, rendering, and batch sampling against `datasets`.

Usage::

    python benchmarks/sampling_speed.py [--quick] [--shapes3d-full] [--rows N]

Measured in one run, in a fresh temporary cache (``$DISENTANGLE_BENCH_CACHE`` is pointed at a
scratch directory, so nothing cached before is reused):

1. procedural dSprites: building all 737,280 images into the cache (render + bit-pack + hash +
   write) and loading them back in a new instance (read + SHA-256 check);
2. random batches of 64 from the in-memory (bit-packed) dSprites store, through the dataset
   interface (``sample_observations``, float32 NHWC) — the path training uses;
3. the baseline: naive row access through Hugging Face ``datasets`` (a ``--rows``-image export
   of the same images, loaded with ``load_dataset``, numpy format, ``ds[int(i)]`` per image),
   and the ratio of (2) to it;
4. procedural Shapes3D: ray-casting the 480 geometries (once per cache), then rendering random
   batches of 64 and 4,096 on demand (and with ``--shapes3d-full`` materialising all 480,000);
5. XYSquares rendered on demand, batches of 64.

Results (with the date, the git commit, the hardware and the load average, since the machine
may be shared) go to ``benchmarks/results/sampling_speed-<date>.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provenance import cpu_model, git_commit  # noqa: E402


def hardware() -> dict:
    import torch

    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory": memory,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def rate(function, count: int, *, min_seconds: float = 2.0) -> float:
    """Images per second of ``function()`` (which handles ``count`` images), timed repeatedly."""
    function()  # warm up
    calls = 0
    started = time.perf_counter()
    while True:
        function()
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return calls * count / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings, dsprites_small")
    parser.add_argument(
        "--shapes3d-full", action="store_true", help="also materialise all 480,000 Shapes3D"
    )
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the datasets baseline")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bench-sampling-"))
    try:
        return measure(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure(args: argparse.Namespace, scratch: Path) -> int:
    os.environ["DISENTANGLE_BENCH_CACHE"] = str(scratch / "cache")
    os.environ.setdefault("HF_HOME", str(scratch / "hf"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

    import datasets

    from disentangle_bench.data.dsprites import ProceduralDSprites, ProceduralDSpritesSmall
    from disentangle_bench.data.hub import export_dataset
    from disentangle_bench.data.shapes3d import ProceduralShapes3D
    from disentangle_bench.data.xysquares import XYSquares

    datasets.disable_progress_bars()
    seconds = 1.0 if args.quick else 3.0
    results: dict = {"load_average_start": load_average()}
    rows = []

    def record(key: str, value: float, unit: str, note: str = "") -> None:
        results[key] = value
        rows.append((key, value, unit, note))
        print(f"{key:<40} {value:>14,.1f} {unit:<10} {note}", flush=True)

    # 1. dSprites generation and cached load.
    dsprites_class = ProceduralDSpritesSmall if args.quick else ProceduralDSprites
    if args.quick:
        dsprites_class.memory_limit = 0  # exercise the disk path on the small grid
    started = time.perf_counter()
    built = dsprites_class()
    built.materialise()
    record(
        "dsprites_generate_and_cache_seconds",
        time.perf_counter() - started,
        "s",
        f"{built.num_configurations:,} images: render, bit-pack, SHA-256, write",
    )
    started = time.perf_counter()
    loaded = dsprites_class()
    loaded.materialise()
    record(
        "dsprites_cached_load_seconds",
        time.perf_counter() - started,
        "s",
        f"{loaded.storage_info()['bytes'] / 2**20:.0f} MiB read and verified",
    )
    assert loaded.fingerprint == built.fingerprint

    # 2. Batches from memory, through the interface training uses.
    random_state = np.random.RandomState(0)
    memory_rate = rate(
        lambda: loaded.sample_observations(64, random_state), 64, min_seconds=seconds
    )
    record("dsprites_in_memory_batch64_images_per_s", memory_rate, "images/s", "float32 NHWC")

    # 3. Baseline: naive row access through `datasets`.
    subset = ProceduralDSpritesSmall() if args.quick else built
    count = min(args.rows, subset.num_configurations)

    export_dir = scratch / "export"
    limited = _first_rows(subset, count)
    started = time.perf_counter()
    export_dataset(limited, export_dir, name="dsprites_rows", image_format="array")
    export_seconds = time.perf_counter() - started
    ds = datasets.load_dataset(str(export_dir), split="train").with_format("numpy")
    index_state = np.random.RandomState(1)

    def datasets_batch() -> None:
        index = index_state.randint(0, len(ds), size=64)
        np.stack([ds[int(i)]["image"] for i in index]).astype(np.float32) / 255.0

    datasets_rate = rate(datasets_batch, 64, min_seconds=seconds)
    record(
        "datasets_row_access_batch64_images_per_s",
        datasets_rate,
        "images/s",
        f"{count:,}-row Array3D export ({export_seconds:.1f} s to write)",
    )
    record(
        "in_memory_over_datasets_ratio",
        memory_rate / datasets_rate,
        "x",
        "same run, same batch size",
    )

    # 4. Shapes3D.
    shapes = ProceduralShapes3D()
    started = time.perf_counter()
    geometry = shapes._state()
    geometry.ensure(np.arange(len(geometry.ready)))
    record("shapes3d_geometry_seconds", time.perf_counter() - started, "s", "480 ray-cast, once")
    shape_state = np.random.RandomState(2)
    record(
        "shapes3d_render_batch64_images_per_s",
        rate(lambda: shapes.sample_observations(64, shape_state), 64, min_seconds=seconds),
        "images/s",
        "on demand, float32 NHWC",
    )
    record(
        "shapes3d_render_batch4096_images_per_s",
        rate(
            lambda: shapes.render_factors(shapes.sample_factors(4096, shape_state)),
            4096,
            min_seconds=seconds,
        ),
        "images/s",
        "on demand, uint8",
    )
    if args.shapes3d_full:
        started = time.perf_counter()
        full = ProceduralShapes3D(cache=True)
        full.materialise()
        record(
            "shapes3d_materialise_seconds",
            time.perf_counter() - started,
            "s",
            "480,000 images into the cache",
        )

    # 5. XYSquares.
    squares = XYSquares()
    square_state = np.random.RandomState(3)
    record(
        "xysquares_render_batch64_images_per_s",
        rate(lambda: squares.sample_observations(64, square_state), 64, min_seconds=seconds),
        "images/s",
        "on demand",
    )

    results["load_average_end"] = load_average()
    now = datetime.datetime.now(datetime.timezone.utc)
    results["date"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    results["commit"] = git_commit()
    results["hardware"] = hardware()
    results["quick"] = args.quick
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"sampling_speed-{now:%Y-%m-%d}{'-quick' if args.quick else ''}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"# Dataset speeds ({results['date']})",
        "",
        f"Commit `{results['commit']}`; {results['hardware']['cpu']}, "
        f"{results['hardware']['cores']} cores, {results['hardware']['memory']}, torch "
        f"{results['hardware']['torch']} ({results['hardware']['torch_threads']} threads). "
        f"Load average at start {results['load_average_start']}, at end "
        f"{results['load_average_end']} (the machine may be shared).",
        "",
        "| measurement | value | unit | note |",
        "|---|---:|---|---|",
        *(f"| {k} | {v:,.1f} | {u} | {n} |" for k, v, u, n in rows),
        "",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print(f"\nwritten to {stem}.md and .json")
    return 0


def _first_rows(data, count: int):
    """A view of ``data`` limited to its first ``count`` images (one flat factor)."""
    from disentangle_bench.data.ground_truth import GroundTruthData

    class FirstRows(GroundTruthData):
        factor_names = ("row",)
        factors_num_values = (count,)
        observation_shape = tuple(data.observation_shape)
        fingerprint = "rows"

        def sample_observations_from_factors(self, factors, random_state):
            return data.sample_observations_from_factors(
                data.factors_of(np.asarray(factors)[:, 0]), random_state
            )

    return FirstRows()


if __name__ == "__main__":
    sys.exit(main())
