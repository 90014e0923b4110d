"""The store in a notebook: `bench.load(path)` reads a store once into pandas DataFrames with the
schema's dtypes (numbers as Int64/Float64, flags as boolean, text as string): the latest attempts,
their training curves, the `bench time` measurements and where the study stands against its presets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.attempts import latest
from bench.report import progress
from bench.store import Store

STATE_COLUMNS = {"preset": "string", "question": "string", "cells": "Int64", "done": "Int64", "todo": "Int64",
                 "scale": "string"}


@dataclass(frozen=True)
class Results:
    """A store as DataFrames. `runs`: the latest attempt of every cell (of every cell and host for a
    `same_host` preset), one row each, in stored order; `epochs`: their curves (join on
    `record_id`); `timings`: every `bench time` row; `state`: per study preset, its cells as the preset
    states them, how many are done and to do, and its scale: what `bench plan --preset P` counts."""

    root: Path
    runs: pd.DataFrame
    epochs: pd.DataFrame
    timings: pd.DataFrame
    state: pd.DataFrame


def state(runs: pd.DataFrame) -> pd.DataFrame:
    """Per study preset (in the questions' order): cells planned, done and to do, as the report's
    account counts them (`bench.report.progress.account`), with the scale the preset states."""
    rows = [{"preset": p["preset"], "question": p["question"], "cells": p["cells"], "done": p["cells_done"],
             "todo": p["pending"], "scale": p["scale"]}
            for p in progress.account(runs[["run_id", "status"]].astype(object).to_dict("records"))]
    return pd.DataFrame(rows, columns=list(STATE_COLUMNS)).astype(STATE_COLUMNS)


def load(path: str | Path = "results") -> Results:
    """Read the store at `path` (a folder with manifest.json); a missing or damaged store is one
    BenchError line, as in the command line."""
    store = Store(Path(path))
    stored = store.table("runs.csv").rows  # read and checked once
    runs = latest(store, stored).reset_index(drop=True)
    return Results(Path(path), runs, store.epochs(runs).reset_index(drop=True), store.timings(), state(runs))
