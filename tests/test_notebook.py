"""The store in a notebook: `bench.load` gives the latest attempts, curves, timings and the study's
state as typed DataFrames; `bench ls` shows the same rows as a table, CSV or JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

import bench
from bench.cli import main
from bench.ls import COLUMNS
from bench.schema import RUN_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def _ls(*args: str):
    result = CliRunner().invoke(main, ["ls", "--store", str(RESULTS), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_load_reads_the_committed_study_with_numeric_dtypes():
    study = bench.load(RESULTS)
    runs = study.runs
    assert len(runs) >= 128 and runs["run_id"].is_unique
    for column in ("test_acc", "lr", "train_time_s"):
        assert str(runs[column].dtype) == "Float64", column
    for column in ("batch_size", "epochs", "seed", "subset", "test_size"):
        assert str(runs[column].dtype) == "Int64", column
    assert str(runs["pin_memory"].dtype) == "boolean" and runs["test_acc"].between(0, 1).all()
    assert set(runs["device"]) == {"cpu"}  # an SVM computes on the CPU, not on <NA>
    assert set(study.epochs["record_id"]) <= set(runs["record_id"]) and len(study.epochs) > len(runs)
    assert str(study.epochs["val_acc"].dtype) == "Float64" and len(study.timings) > 0
    state = study.state.set_index("preset")
    assert list(state.index) == ["q1a", "q1b", "q2"]
    q1a = state.loc["q1a"]  # the campaign goes on: at least the first half, never more than planned
    assert q1a["cells"] == 128 and 72 <= q1a["done"] == 128 - q1a["todo"] and state.loc["q1b", "todo"] == 0
    assert state.loc["q1a", "scale"].startswith("all 49,000 training images, all 14,000 test images")


def test_ls_csv_round_trips_through_pandas():
    frame = pd.read_csv(io.StringIO(_ls("--format", "csv")), dtype={c: RUN_COLUMNS[c] for c in COLUMNS})
    expected = bench.load(RESULTS).runs[list(COLUMNS)]
    pd.testing.assert_frame_equal(frame, expected)


def test_ls_filters_sorts_and_cuts_columns():
    rows = json.loads(_ls("--format", "json", "--preset", "q1b,q2", "--columns", "run_id,preset,test_acc",
                          "--sort", "preset,-test_acc"))
    assert {r["preset"] for r in rows} == {"q1b", "q2"} and list(rows[0]) == ["run_id", "preset", "test_acc"]
    q1b = [r["test_acc"] for r in rows if r["preset"] == "q1b"]
    assert q1b == sorted(q1b, reverse=True) and rows[0]["preset"] == "q1b"
    table = _ls("--label", "svc-poly3", "--columns", "label,device,lr").splitlines()
    assert table[0].split() == ["label", "device", "lr"] and len(table) == 1 + 12  # 3 C x 2 gammas x 2 datasets
    assert "<NA>" not in "\n".join(table) and all(line.split() == ["svc-poly3", "cpu"] for line in table[1:])
    assert _ls("--preset", "nothing-like-it") == "no runs\n"
    assert _ls("--model", "svc", "--format", "csv").count("\n") == 1 + 48


def test_ls_refuses_an_unknown_column_in_one_line():
    result = CliRunner().invoke(main, ["ls", "--store", str(RESULTS), "--sort", "-tst_acc"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == ("Error: --sort: no column '-tst_acc' (did you mean 'test_acc'?); "
                                                      "the columns are those of runs.csv")
