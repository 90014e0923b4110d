"""Which stored attempts are the latest: one per cell, or for rows whose preset pairs measurements of
one host (their stored `same_host`) one per cell and host. The report, `bench ls` and `bench.load` all read
the store through `latest`, so they show the same rows."""

from __future__ import annotations

import pandas as pd

from bench.spec import attempt_key
from bench.store import Store


def key(row: dict) -> str:
    """What the report shows one latest attempt of: a cell, or for a row whose preset pairs
    measurements of one host (its stored `same_host`) a cell on each host, so every host's pairs stay
    whole."""
    return attempt_key(row["run_id"], row["host_id"]) if row["same_host"] == "true" else row["run_id"]


def latest(store: Store, rows: list[dict] | None = None) -> pd.DataFrame:
    """The latest attempts (`key`) with the schema's dtypes, in stored order; an SVM's device is
    the CPU (its spec has no device field). What the report, `bench ls` and `bench.load` show."""
    frame = store.runs(key=key, rows=rows)
    frame["device"] = frame["device"].fillna("cpu")
    return frame
