"""The store in a notebook: `bench.load(path)` reads a store once into pandas DataFrames with the
schema's dtypes (numbers as Int64/Float64, flags as boolean, text as string): the latest attempts,
their training curves, the `bench time` measurements and where the study stands against its presets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import presets
from bench.attempts import latest
from bench.report import progress
from bench.store import Store

STATE_COLUMNS = {"preset": "string", "question": "string", "cells": "Int64", "done": "Int64", "todo": "Int64",
                 "scale": "string"}


@dataclass(frozen=True)
class Results:
    """A store as DataFrames. `runs`: the latest attempt of every cell (of every cell and host for a
    `same_host` preset such as q2), one row each, in stored order; `epochs`: their curves (join on
    `record_id`); `timings`: every `bench time` row; `state`: per study preset, its cells as the preset
    states them, how many are done and to do, and its scale: what `bench plan --preset P` counts."""

    root: Path
    runs: pd.DataFrame
    epochs: pd.DataFrame
    timings: pd.DataFrame
    state: pd.DataFrame


def state(store: Store) -> pd.DataFrame:
    """Per study preset (in the questions' order): cells planned, done (as `bench plan` counts them:
    for a same_host preset, by attempts of this host) and to do, with the scale the preset states."""
    finished = store.finished()
    rows = []
    for name in presets.study():
        cells = progress.planned(name)
        done = sum(c.done_key in finished for c in cells)
        rows.append({"preset": name, "question": presets.question(name), "cells": len(cells), "done": done,
                     "todo": len(cells) - done, "scale": progress.describe([c.spec for c in cells])})
    return pd.DataFrame(rows, columns=list(STATE_COLUMNS)).astype(STATE_COLUMNS)


def load(path: str | Path = "results") -> Results:
    """Read the store at `path` (a folder with manifest.json); a missing or damaged store is one
    BenchError line, as in the command line."""
    store = Store(Path(path))
    stored = store.table("runs.csv").rows  # read and checked once
    runs = latest(store, stored).reset_index(drop=True)
    return Results(Path(path), runs, store.epochs(runs).reset_index(drop=True), store.timings(), state(store))
