"""The run record (``run.json``): its schema, builder and reader; the dataset with its
perturbation built from gin or from a record; the versions a record names."""

from __future__ import annotations

import copy
import json

import gin
import pytest
from test_leaderboard_support import run_record

from disentangle_bench.pipeline.config import parse_gin
from disentangle_bench.pipeline.record import (
    RUN_RECORD_FILE,
    RunRecord,
    RunRecordError,
    build_dataset,
    build_run_record,
    load_run_record,
    record_problems,
    versions,
)
from disentangle_bench.registry import Registry


@pytest.fixture
def record() -> RunRecord:
    return run_record(condition="noise", seed=2, scores={"mig": {"discrete_mig": 0.25}})


def test_the_builder_fills_the_bookkeeping_and_the_reader_returns_the_same_record(tmp_path, record):
    assert record["format_version"] == 1 and record["status"] == "complete"
    assert record["run_id"] == "dsprites_small-noise-beta_vae-seed2"
    assert record["dataset"]["name"] == "dsprites_small+noise"
    assert record["config"] == {"operative_gin": "beta_vae.beta = 4.0\n"}
    assert record_problems(record) == []
    path = tmp_path / RUN_RECORD_FILE
    path.write_text(json.dumps(record))
    assert load_run_record(path) == record
    assert RUN_RECORD_FILE == "run.json"


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda r: r.pop("metrics"), "'metrics' is missing"),
        (lambda r: r["dataset"].pop("fingerprint"), "'dataset.fingerprint' is missing"),
        (lambda r: r["dataset"]["perturbation"].pop("parameters"), "perturbation.parameters'"),
        (lambda r: r.update(seed="2"), "seed is str, not int"),
        (lambda r: r.update(seed=True), "seed is bool, not int"),
        (lambda r: r["metrics"]["mig"].update(discrete_mig=None), "discrete_mig is NoneType"),
        (lambda r: r["dataset"].update(factor_names="ab"), "factor_names is str, not a list"),
        (lambda r: r["dataset"]["factors_num_values"].append(1.5), "factors_num_values[2] is"),
        (lambda r: r["training"].pop("steps_completed"), "'training.steps_completed' is missing"),
        (lambda r: r["wall_seconds"].update(total_this_session="1s"), "total_this_session is"),
        (lambda r: r.update(format_version=2), "format_version 2 (expected 1)"),
    ],
)
def test_the_reader_names_what_breaks_the_schema(tmp_path, record, edit, problem):
    broken = copy.deepcopy(record)
    edit(broken)
    path = tmp_path / RUN_RECORD_FILE
    path.write_text(json.dumps(broken))
    with pytest.raises(RunRecordError, match="is not a finished run record: ") as raised:
        load_run_record(path)
    assert problem in str(raised.value) and "\n" not in str(raised.value)
    assert record_problems(broken) and not record_problems(record)


def test_keys_beyond_the_schema_are_kept_and_an_original_run_has_no_perturbation(tmp_path):
    original = run_record()
    assert original["dataset"]["perturbation"] is None and record_problems(original) == []
    original["notes"] = {"anything": [1, "two"]}
    path = tmp_path / RUN_RECORD_FILE
    path.write_text(json.dumps(original))
    assert load_run_record(path)["notes"] == {"anything": [1, "two"]}


def test_unreadable_and_unfinished_records_are_refused(tmp_path):
    path = tmp_path / RUN_RECORD_FILE
    with pytest.raises(RunRecordError, match="cannot read run record"):
        load_run_record(path)  # missing
    path.write_text("{not json")
    with pytest.raises(RunRecordError, match="cannot read run record"):
        load_run_record(path)
    for text in ('{"status": "running"}', "[1, 2]"):
        path.write_text(text)
        with pytest.raises(RunRecordError, match="is not a finished run record$"):
            load_run_record(path)


def test_the_builder_refuses_a_record_outside_its_schema(record):
    with pytest.raises(ValueError, match="'dataset.base' is missing"):
        build_run_record(
            run_id="x",
            seed=0,
            evaluation_seed=0,
            dataset={k: v for k, v in record["dataset"].items() if k != "base"},
            model=record["model"],
            training=record["training"],
            metrics=record["metrics"],
            metric_parameters={},
            operative_gin="",
            device="cpu",
            wall_seconds=record["wall_seconds"],
        )


def test_versions_name_the_project_and_the_numeric_libraries():
    import numpy as np
    import sklearn
    import torch

    found = versions()
    assert set(found) == {"disentangle_bench", "python", "torch", "numpy", "scikit-learn",
                          "gin-config"}  # fmt: skip
    assert found["numpy"] == np.__version__ and found["torch"] == torch.__version__
    assert found["scikit-learn"] == sklearn.__version__


def test_a_dataset_with_its_perturbation_from_gin_and_from_a_record():
    registry = Registry()
    parse_gin([], ["noise.eps = 0.05", "noise.seed = 3"])
    built = build_dataset(registry, "dsprites_small", "noise")
    assert built.name == "dsprites_small+noise" and built.base == "dsprites_small"
    assert built.data.perturbation.eps == 0.05
    record = built.record(registry)
    assert record["name"] == "dsprites_small+noise" and record["condition"] == "noise"
    assert record["perturbation"]["parameters"] == {"eps": 0.05, "seed": 3}
    assert record["parameters"] == built.parameters and "cache" in record["parameters"]
    assert record["fingerprint"] == built.data.fingerprint
    assert record["factors_num_values"] == [3, 3, 4, 8, 8]

    # From the record, whatever gin now says: the same data.
    gin.clear_config()
    parse_gin([], ["noise.eps = 0.2"])
    again = build_dataset(
        registry,
        record["base"],
        record["perturbation"]["name"],
        parameters=record["parameters"],
        perturbation_parameters=record["perturbation"]["parameters"],
    )
    assert again.data.perturbation.eps == 0.05
    assert again.data.fingerprint == record["fingerprint"]
    assert build_dataset(registry, "dsprites_small", "noise").data.perturbation.eps == 0.2

    plain = build_dataset(registry, "dsprites_small")
    assert plain.name == "dsprites_small" and plain.perturbation is None
    assert plain.record(registry)["perturbation"] is None
    assert plain.record(registry)["condition"] == "original"
    gin.clear_config()
