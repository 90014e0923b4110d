"""The store in a notebook: `bench.load` gives the latest attempts, curves, timings and the study's
state as typed DataFrames; `bench ls` shows the same rows as a table, CSV or JSON (on a fixture store;
checks/ reads the committed study)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from fixtures.report.make_fixture import small

import bench
from bench import plan, presets
from bench.cli import main
from bench.ls import COLUMNS
from bench.schema import RUN_COLUMNS


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return small(tmp_path_factory.mktemp("small") / "store")


def _ls(store: Path, *args: str):
    result = CliRunner().invoke(main, ["ls", "--store", str(store), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_load_reads_the_store_with_numeric_dtypes(store):
    study = bench.load(store)
    runs = study.runs
    assert len(runs) > 0 and runs["run_id"].is_unique
    for column in ("test_acc", "lr", "train_time_s"):
        assert str(runs[column].dtype) == "Float64", column
    for column in ("batch_size", "epochs", "seed", "subset", "test_size"):
        assert str(runs[column].dtype) == "Int64", column
    assert str(runs["pin_memory"].dtype) == "boolean" and runs["test_acc"].between(0, 1).all()
    assert set(runs["device"]) == {"cpu"}  # an SVM computes on the CPU, not on <NA>
    assert set(study.epochs["record_id"]) <= set(runs["record_id"]) and len(study.epochs) > len(runs)
    assert str(study.epochs["val_acc"].dtype) == "Float64"
    state = study.state.set_index("preset")  # the study's presets at the scale they state: none of it stored
    assert list(state.index) == list(presets.study())
    for name in state.index:
        cells = len(plan.cells_of(presets.load(name).specs()))
        assert (state.loc[name, "cells"], state.loc[name, "done"], state.loc[name, "todo"]) == (cells, 0, cells)
    assert state.loc["q1a", "scale"].startswith("all 49,000 training images, all 14,000 test images")


def test_ls_csv_round_trips_through_pandas(store):
    frame = pd.read_csv(io.StringIO(_ls(store, "--format", "csv")), dtype={c: RUN_COLUMNS[c] for c in COLUMNS})
    expected = bench.load(store).runs[list(COLUMNS)]
    pd.testing.assert_frame_equal(frame, expected)


def test_ls_filters_sorts_and_cuts_columns(store):
    rows = json.loads(_ls(store, "--format", "json", "--preset", "q1b,q2", "--columns", "run_id,preset,test_acc",
                          "--sort", "preset,-test_acc"))
    assert {r["preset"] for r in rows} == {"q1b", "q2"} and list(rows[0]) == ["run_id", "preset", "test_acc"]
    q1b = [r["test_acc"] for r in rows if r["preset"] == "q1b"]
    assert q1b == sorted(q1b, reverse=True) and rows[0]["preset"] == "q1b"
    runs = bench.load(store).runs
    table = _ls(store, "--label", "svc-poly3", "--columns", "label,device,lr").splitlines()
    assert table[0].split() == ["label", "device", "lr"] and len(table) == 1 + (runs["label"] == "svc-poly3").sum()
    assert "<NA>" not in "\n".join(table) and all(line.split() == ["svc-poly3", "cpu"] for line in table[1:])
    assert _ls(store, "--preset", "nothing-like-it") == "no runs\n"
    assert _ls(store, "--model", "svc", "--format", "csv").count("\n") == 1 + (runs["model"] == "svc").sum()


def test_ls_refuses_an_unknown_column_in_one_line(store):
    result = CliRunner().invoke(main, ["ls", "--store", str(store), "--sort", "-tst_acc"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == ("Error: --sort: no column '-tst_acc' (did you mean 'test_acc'?); "
                                                      "the columns are those of runs.csv")
