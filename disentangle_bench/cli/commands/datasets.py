"""``bench datasets list|inspect|build|export|publish|download``."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "datasets", help="list, inspect, build, export, publish and download datasets"
    )
    commands = parser.add_subparsers(dest="datasets_command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="registered and downloaded datasets")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=list_datasets)

    inspect = commands.add_parser(
        "inspect", help="factors, sizes, count, fingerprint, storage and a PNG contact sheet"
    )
    _add_dataset_arguments(inspect)
    inspect.add_argument(
        "--sheet",
        metavar="PNG",
        help="where to write the contact sheet (default: <name>_contact_sheet.png)",
    )
    inspect.add_argument("--no-sheet", action="store_true", help="do not write a contact sheet")
    inspect.add_argument(
        "--no-fingerprint",
        action="store_true",
        help="skip the fingerprint (it renders or reads every image once)",
    )
    inspect.add_argument(
        "--variance",
        action="store_true",
        help="diagnose the local variance structure, original vs perturbed side by side "
        "(perturbation: --perturbation, the twin's own, or 'oblique')",
    )
    inspect.add_argument(
        "--eps",
        metavar="LIST",
        help="with --variance: comma-separated strengths to sweep, e.g. 0,0.05,0.1,0.2",
    )
    inspect.add_argument(
        "--points", type=int, default=64, help="with --variance: base configurations (64)"
    )
    inspect.add_argument(
        "--report",
        metavar="PREFIX",
        help="with --variance: write PREFIX.png, PREFIX.json and PREFIX.md "
        "(default: <name>_variance)",
    )
    inspect.set_defaults(handler=inspect_command)

    build = commands.add_parser(
        "build", help="materialise every image of a dataset in the on-disk cache (with progress)"
    )
    _add_dataset_arguments(build, perturbation=False)
    build.set_defaults(handler=build_command)

    export = commands.add_parser(
        "export", help="write a dataset as a Hugging Face dataset or in disentanglement_lib layout"
    )
    _add_dataset_arguments(export)
    export.add_argument("--to", required=True, metavar="DIR", help="output directory")
    export.add_argument(
        "--format",
        choices=("hf", "dlib"),
        default="hf",
        help="hf: Parquet shards + dataset card (default); dlib: disentanglement_lib files",
    )
    export.add_argument(
        "--image-format",
        choices=("array", "png"),
        default="array",
        help="hf image column: uint8 Array3D (default; needs nothing but datasets to read) or "
        "PNG Image() (shown by the Hub's viewer; reading it needs Pillow)",
    )
    export.add_argument(
        "--layout",
        default="auto",
        choices=("auto", "dsprites_npz", "shapes3d_h5", "shapes3d_npz"),
        help="dlib layout (default: dsprites_npz for 1 channel, else shapes3d_h5)",
    )
    export.add_argument("--overwrite", action="store_true", help="replace an existing export")
    export.set_defaults(handler=export_command)

    publish = commands.add_parser("publish", help="export and push to the Hugging Face Hub")
    _add_dataset_arguments(publish)
    publish.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="dataset repo")
    publish.add_argument(
        "--from", dest="from_dir", metavar="DIR", help="push this existing export instead"
    )
    publish.add_argument(
        "--image-format",
        choices=("array", "png"),
        default="array",
        help="image column: uint8 Array3D (default) or PNG Image() (the Hub viewer shows it)",
    )
    publish.add_argument("--private", action="store_true", help="create the repo as private")
    publish.add_argument("--token", help="Hugging Face token (default: the logged-in one)")
    publish.set_defaults(handler=publish_command)

    download = commands.add_parser(
        "download", help="bring a Hub dataset (or an export directory) into the local cache"
    )
    download.add_argument("source", metavar="REPO_ID_OR_DIR")
    download.add_argument("--name", help="name to use in configs (default: derived)")
    download.add_argument("--overwrite", action="store_true", help="re-import an existing copy")
    download.set_defaults(handler=download_command)


def _add_dataset_arguments(parser: argparse.ArgumentParser, *, perturbation: bool = True) -> None:
    parser.add_argument("name", metavar="NAME", help="registered dataset name")
    if perturbation:
        parser.add_argument(
            "--perturbation", metavar="NAME", help="apply this registered perturbation"
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=0,
            help="seed of the random state observations draw from (default 0)",
        )
    parser.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="BINDING",
        help="gin binding such as 'dsprites.cache = False' or 'noise.eps = 0.05' (repeatable)",
    )


def load_dataset(
    name: str, perturbation: str | None = None, bindings: list[str] | tuple[str, ...] = ()
) -> tuple[Any, str, dict[str, Any]]:
    """Build a registered dataset (and perturbation) with gin bindings.

    Returns the dataset object, its display name (``base+perturbation``) and the dataset's
    effective hyperparameters.
    """
    from disentangle_bench.pipeline.config import parse_gin
    from disentangle_bench.pipeline.record import build_dataset
    from disentangle_bench.registry import Registry

    registry = Registry()
    parse_gin([], bindings)
    built = build_dataset(registry, name, perturbation or None)
    return built.data, built.name, built.parameters


def list_datasets(args: argparse.Namespace) -> None:
    from disentangle_bench.data.hub import downloaded
    from disentangle_bench.registry import Registry
    from disentangle_bench.util.errors import BenchError

    registry = Registry()
    rows = []
    for entry in registry.entries("datasets"):
        row: dict[str, Any] = {"name": entry.name, "distribution": entry.distribution}
        try:
            data = registry.build("datasets", entry.name)
            row["factors"] = dict(zip(data.factor_names, data.factors_num_values))
            row["images"] = int(data.num_configurations)
            row["shape"] = list(data.observation_shape)
        except BenchError as error:
            row["unavailable"] = str(error)
        rows.append(row)
    hub = downloaded()
    if args.json:
        print(json.dumps({"registered": rows, "downloaded": hub}, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        if "unavailable" in row:
            detail = f"(needs configuration: {row['unavailable']})"
        else:
            factors = " x ".join(f"{k} {v}" for k, v in row["factors"].items())
            shape = "x".join(str(s) for s in row["shape"])
            detail = f"{row['images']:>9,}  {shape:<8}  {factors}"
        print(f"{row['name'].ljust(width)}  {detail}")
    if hub:
        print(
            "\ndownloaded (use with experiment.datasets = ['hf_dataset'], hf_dataset.path = NAME):"
        )
        for item in hub:
            sizes = dict(zip(item["factor_names"] or [], item["factors_num_values"] or []))
            print(f"  {item['name']}  from {item['source']}  {sizes}")


def inspect_command(args: argparse.Namespace) -> None:
    from disentangle_bench.data.inspect import inspect_dataset

    data, display, _ = load_dataset(args.name, args.perturbation, args.bind)
    if args.variance:
        variance_command(args, data, display)
        return
    sheet = None
    if not args.no_sheet:
        sheet = args.sheet or f"{display.replace('+', '_')}_contact_sheet.png"
    report = inspect_dataset(
        data, display, sheet_path=sheet, seed=args.seed, fingerprint=not args.no_fingerprint
    )
    print(report.to_text(), end="")


def variance_command(args: argparse.Namespace, data: Any, display: str) -> None:
    from disentangle_bench.diagnostics.report import write_variance_report
    from disentangle_bench.perturbations.base import PerturbedData
    from disentangle_bench.util.errors import ConfigError

    if isinstance(data, PerturbedData):
        base, perturbation = data.base, data.perturbation
        base_name = getattr(base, "name", None) or display.split("+")[0]
    else:
        from disentangle_bench.perturbations import ObliqueStripes

        base, perturbation, base_name = data, ObliqueStripes(), display
    try:
        eps_values = (
            [float(e) for e in args.eps.split(",")] if args.eps else [0.0, perturbation.eps]
        )
    except ValueError:
        raise ConfigError(f"--eps must be comma-separated numbers, got {args.eps!r}") from None
    if args.points < 1:
        raise ConfigError("--points must be positive")
    prefix = args.report or f"{base_name.split(' ')[0]}_{perturbation.name}_variance"
    text = write_variance_report(
        base,
        perturbation,
        eps_values,
        prefix=prefix,
        base_name=base_name,
        num_points=args.points,
        seed=args.seed,
    )
    print(text, end="")


def build_command(args: argparse.Namespace) -> None:
    from disentangle_bench.data.inspect import format_bytes, storage_of
    from disentangle_bench.util.errors import DataError

    data, display, _ = load_dataset(args.name, None, args.bind)
    started = time.perf_counter()
    if hasattr(data, "materialise"):
        if not getattr(data, "uses_disk", True):
            data.materialise()
            print(f"{display}: small enough to live in memory only; nothing written")
            return
        data.materialise()
    elif hasattr(data, "entry"):
        data.entry  # noqa: B018 - converts a file into the cache on first access
    else:
        raise DataError(f"{display} has no cache to build (it is rendered on demand)")
    storage = storage_of(data)
    print(
        f"{display}: {data.num_configurations:,} images in {storage.get('path')} "
        f"({format_bytes(storage.get('bytes'))}), fingerprint {data.fingerprint}, "
        f"{time.perf_counter() - started:.1f} s"
    )


def export_command(args: argparse.Namespace) -> None:
    data, display, parameters = load_dataset(args.name, args.perturbation, args.bind)
    if args.format == "hf":
        from disentangle_bench.data.hub import export_dataset

        metadata = export_dataset(
            data,
            Path(args.to),
            name=display,
            parameters=parameters,
            seed=args.seed,
            image_format=args.image_format,
            overwrite=args.overwrite,
        )
        print(
            f"wrote {metadata['num_rows']:,} rows in {metadata['num_shards']} shard(s) to "
            f"{args.to} (fingerprint {metadata['fingerprint']})"
        )
        print(f"load it with: datasets.load_dataset({str(args.to)!r}, split='train')")
    else:
        from disentangle_bench.data.dlib_layout import choose_layout, export_dlib, is_full_grid

        target = export_dlib(
            data,
            Path(args.to),
            name=display,
            layout=args.layout,
            parameters=parameters,
            seed=args.seed,
            overwrite=args.overwrite,
        )
        if is_full_grid(data, choose_layout(data, args.layout)):
            print(
                f"wrote {target}; point disentanglement_lib at it: "
                f"DISENTANGLEMENT_LIB_DATA={args.to}"
            )
        else:
            sizes = tuple(int(s) for s in data.factors_num_values)
            print(
                f"wrote {target}: a {sizes} grid, not disentanglement_lib's full one, so it has "
                "a name of its own (disentanglement_lib opens only the full file, with the full "
                "factor sizes); this project's loaders read it with path = that file"
            )


def publish_command(args: argparse.Namespace) -> None:
    from disentangle_bench.data.hub import export_dataset, publish_directory

    if args.from_dir:
        result = publish_directory(
            Path(args.from_dir), args.repo_id, private=args.private, token=args.token
        )
    else:
        data, display, parameters = load_dataset(args.name, args.perturbation, args.bind)
        with tempfile.TemporaryDirectory(prefix="bench-publish-") as scratch:
            directory = Path(scratch) / "export"
            export_dataset(
                data,
                directory,
                name=display,
                parameters=parameters,
                seed=args.seed,
                image_format=args.image_format,
            )
            result = publish_directory(
                directory, args.repo_id, private=args.private, token=args.token
            )
    url = getattr(result, "commit_url", None) or f"https://huggingface.co/datasets/{args.repo_id}"
    print(f"published to {args.repo_id}: {url}")


def download_command(args: argparse.Namespace) -> None:
    from disentangle_bench.data.hub import download

    started = time.perf_counter()
    slug, entry = download(args.source, name=args.name, overwrite=args.overwrite)
    meta = entry.meta
    sizes = dict(zip(meta["factor_names"], meta["factors_num_values"]))
    print(
        f"{args.source} -> {entry.directory} ({meta['count']:,} images, factors {sizes}, "
        f"{time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
    )
    print("use it in a config with:")
    print("  experiment.datasets = ['hf_dataset']")
    print(f"  hf_dataset.path = '{slug}'")
