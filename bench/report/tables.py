"""Tables of the view model: Q1(a) grids in the familiar shape, the table of all runs and the
SVM table. Cells carry raw numbers (mean, sd, n); templates format them with filters."""

from __future__ import annotations

from bench.report import cells
from bench.report.q2 import derived_time, timed_alone

ROW_FIELDS = ("batch_size", "optimizer", "lr")
COLUMN_FIELDS = ("label", "epochs")
TABLE_KEY = ("preset", "dataset", "device", "subset", "split")
PENDING = {"pending": True, "best": False}  # a planned cell of the study not computed yet


def _key(run: dict, fields: tuple[str, ...]) -> tuple:
    return tuple(run[f] for f in fields)


def _sortable(key: tuple) -> tuple:
    return tuple((v is None, str(type(v)), v if v is not None else 0) for v in key)


def q1a_tables(runs: list[dict], pending: list[dict] = (), timings: list[dict] = ()) -> list[dict]:
    """Per grid preset and dataset (and device, subset, split): rows batch × optimizer × lr (the two
    pin_memory values are one computation, shown once), columns model × epochs, cells the test
    accuracy as mean ± sd over seeds, with n, and the time the cell costs on a machine alone, derived
    from its `bench time` rate (`q2.derived_time`; None without one). The study's `pending` cells
    (`progress.account`'s `todo`) of a table with stored runs take their places, marked pending."""
    grid = [r for r in runs if r["role"] == "grid" and r["kind"] == "resnet"]
    tables = []
    for tkey in sorted({_key(r, TABLE_KEY) for r in grid}, key=_sortable):
        members = cells.distinct([r for r in grid if _key(r, TABLE_KEY) == tkey])
        waiting = [p for p in pending if p["kind"] == "resnet" and _key(p, TABLE_KEY) == tkey]
        fields = ROW_FIELDS
        columns = sorted({_key(r, COLUMN_FIELDS) for r in members + waiting}, key=_sortable)
        row_keys = sorted({_key(r, fields) for r in members + waiting}, key=_sortable)
        by_cell: dict[tuple, list[dict]] = {}
        for r in members:
            by_cell.setdefault(_key(r, fields) + _key(r, COLUMN_FIELDS), []).append(r)
        later = {_key(p, fields) + _key(p, COLUMN_FIELDS) for p in waiting}
        rows = []
        for rk in row_keys:
            values = [_cell(by_cell[rk + ck], timings) if rk + ck in by_cell else PENDING if rk + ck in later else None
                      for ck in columns]
            rows.append({**dict(zip(fields, rk, strict=True)), "cells": values})
        _mark_best(rows)
        seeds = max((c["seeds"] for r in rows for c in r["cells"] if c and not c["pending"]), default=0)
        tables.append({**dict(zip(TABLE_KEY, tkey, strict=True)), "n_runs": len(members), "seeds": seeds,
                       "columns": [dict(zip(COLUMN_FIELDS, c, strict=True)) for c in columns], "rows": rows,
                       "derived": any(c and c.get("derived") for r in rows for c in r["cells"]),
                       "pending": any(c and c["pending"] for r in rows for c in r["cells"]),
                       "id": "-".join(str(v) for v in tkey)})
    return tables


def _cell(members: list[dict], timings: list[dict]) -> dict | None:
    if not members:
        return None
    ok = cells.done(members)
    pooled = cells.pooled_accuracy(ok)
    derived = derived_time(ok[0], timed_alone(ok[0], timings)) if ok else None
    return {"test": cells.summary([m["test_acc"] for m in ok]), "val": cells.summary([m["val_acc"] for m in ok]),
            "ci": pooled["ci"], "n_test": pooled["n"], "seeds": len({m["seed"] for m in ok}),
            "n_val": min((m["n_val"] for m in ok if m["n_val"]), default=None),
            "failed": sorted(m["status"] for m in members if m["status"] != "done"),
            "run_ids": sorted(m["run_id"] for m in members), "rank": cells.validation_rank(ok), "best": False,
            "tied": False, "pending": False, "derived": derived}


def _mark_best(rows: list[dict]) -> None:
    """Flag the best cell on validation in each column (`cells.validation_rank`): `best` where its
    validation accuracy beats the runner-up's by more than the 95 % sampling interval of a validation
    accuracy on its images, else `tied` (best by a margin that sampling alone could give)."""
    for i in range(len(rows[0]["cells"]) if rows else 0):
        scored = sorted((r["cells"][i] for r in rows if r["cells"][i] and not r["cells"][i]["pending"]
                         and r["cells"][i]["val"]["mean"] is not None), key=lambda c: c["rank"], reverse=True)
        if not scored:
            continue
        best = scored[0]
        lo_hi = cells.wilson(best["val"]["mean"], best["n_val"])
        half = (lo_hi[1] - lo_hi[0]) / 2 if lo_hi else 0.0
        clear = len(scored) == 1 or best["val"]["mean"] - scored[1]["val"]["mean"] > half
        best["best" if clear else "tied"] = True


RUN_ORDER = ("dataset", "kind", "label", "device", "optimizer", "lr", "batch_size", "pin_memory", "epochs",
             "kernel", "degree", "C", "gamma", "seed", "run_id")


def all_runs(runs: list[dict]) -> list[dict]:
    """Every stored run (latest attempt), in a stable reading order."""
    return sorted(runs, key=lambda r: _sortable(_key(r, RUN_ORDER)))


def svm_rows(runs: list[dict]) -> list[dict]:
    return [r for r in all_runs(runs) if r["kind"] == "svm"]
