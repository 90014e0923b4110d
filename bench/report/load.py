"""Read the store once into plain rows: one dict per run (missing values are None) and the
per-epoch curves of each run. Everything after this stage works on lists of dicts."""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.attempts import latest
from bench.report import cells
from bench.schema import MANIFEST, TABLES
from bench.store import Store

STORE_FILES = (*TABLES, MANIFEST)  # copied into site/data/ for download


@dataclass
class Study:
    """Everything the report knows: the runs, their curves, and the raw store files to link."""

    runs: list[dict]
    curves: dict[str, list[dict]]  # record_id -> epochs in order
    files: dict[str, bytes] = field(default_factory=dict)  # name -> bytes of the store's own files
    superseded: list[dict] = field(default_factory=list)  # earlier attempts: {"preset", "status"}
    timings: list[dict] = field(default_factory=list)  # `bench time` rows, as stored


def _plain(value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def plain_rows(frame: pd.DataFrame) -> list[dict]:
    """DataFrame rows -> dicts of Python values, pandas' missing values as None."""
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _normalise(run: dict) -> dict:
    run["confusion"] = json.loads(run["confusion"]) if run["confusion"] else None
    run["tag"] = run["tag"] or ""
    run["degenerate"] = cells.degenerate(run)
    run["n_trained"] = cells.n_trained(run)  # images it trained on (an SVM's own subsample)
    return run


def _overlaps(runs: list[dict]) -> None:
    """Raise each run's `concurrency` to what the stored times show: runs of one host whose
    computing spans overlap ran beside each other, whichever store or process they came from
    (the value stored at run time samples only a run's start and end). Cells of one training run
    share its start time and count as one computation."""
    by_host: dict[str, list[dict]] = {}
    for run in runs:
        if run.get("host_id") and run.get("started_at") and run.get("finished_at"):
            by_host.setdefault(run["host_id"], []).append(run)
    for members in by_host.values():
        spans: dict[str, str] = {}  # one computation per start time, ending with its last cell
        for run in members:
            spans[run["started_at"]] = max(spans.get(run["started_at"], ""), run["finished_at"])
        starts, ends = sorted(spans), sorted(spans.values())
        for run in members:
            begin, end = run["started_at"], run["finished_at"]
            # computations that start before this run ends and end after it begins (O(log n), not a scan):
            # those starting before its end, less those that ended by its beginning; itself not counted
            if begin < end:
                overlapping = bisect.bisect_left(starts, end) - bisect.bisect_right(ends, begin) - 1
            else:  # a run of no duration (a hand-edited row): the plain scan
                overlapping = sum(s != begin and s < end and begin < e for s, e in spans.items())
            run["concurrency"] = max(run.get("concurrency") or 1, 1 + overlapping)


def read(root: Path) -> Study:
    """Load a store: latest attempt of every run, sorted by run id so output order is stable."""
    store = Store(root)
    stored = store.table("runs.csv").rows  # read and checked once
    frame = latest(store, stored)
    runs = sorted((_normalise(r) for r in plain_rows(frame)), key=lambda r: r["run_id"])
    _overlaps(runs)
    curves: dict[str, list[dict]] = {}
    for row in sorted(plain_rows(store.epochs(frame)), key=lambda c: (c["record_id"], c["epoch"])):
        curves.setdefault(row["record_id"], []).append(row)
    files = {name: store.published(name) for name in STORE_FILES if (Path(root) / name).exists()}
    superseded = [{"preset": r["preset"] or "", "status": r["status"]} for r in store.superseded(stored)]
    return Study(runs, curves, files, superseded, plain_rows(store.timings()))
