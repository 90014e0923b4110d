"""Which stored attempts are the latest: one per cell, or for a preset that pairs measurements of one
host (`same_host`, as q2 does) one per cell and host. The report, `bench ls` and `bench.load` all read
the store through `latest`, so they show the same rows."""

from __future__ import annotations

import functools

import pandas as pd

from bench import presets
from bench.errors import BenchError
from bench.spec import attempt_key
from bench.store import Store


@functools.lru_cache(maxsize=64)
def declared(preset: str | None) -> tuple[bool, str]:
    """What a stored run's preset declares (`bench.presets`): whether it pairs measurements of one
    host, and its role in the report. A preset file that is not here pairs nothing by host as far as
    we know, and is a grid."""
    if not preset:  # a row stored without a preset (an old store): a grid of its own
        return False, "grid"
    try:
        declaring = presets.load(preset)
    except BenchError:
        return False, "grid"
    return declaring.same_host, declaring.role


def key(row: dict) -> str:
    """What the report shows one latest attempt of: a cell, or for a preset that pairs measurements of
    one host (`same_host`, as q2 does) a cell on each host, so every host's pairs stay whole."""
    return attempt_key(row["run_id"], row["host_id"]) if declared(row["preset"])[0] else row["run_id"]


def latest(store: Store, rows: list[dict] | None = None) -> pd.DataFrame:
    """The latest attempts (`key`) with the schema's dtypes, in stored order; an SVM's device is
    the CPU (its spec has no device field). What the report, `bench ls` and `bench.load` show."""
    frame = store.runs(key=key, rows=rows)
    frame["device"] = frame["device"].fillna("cpu")
    return frame
