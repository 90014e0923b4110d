"""Cells whose computation is already stored under another run id. On the CPU pin_memory is no
factor (`spec.cell_key`), so q2's resnet18 cells (pin_memory not set) are the very computation of
q1a's pin_memory=true/false cells. `bench run` stores such a cell as a copy of that row (its own run
id, preset and tag; the original's measurements, provenance and curves, and a message naming it)
instead of training it again; `bench plan` lists it as `reuse`."""

from __future__ import annotations

import uuid

from bench.csvfile import encode
from bench.errors import BenchError
from bench.spec import latest_attempts, spec_from_row


def sources(rows: list[dict], cells: list) -> dict[str, dict]:
    """run id of a cell (`plan.Cell`) -> the stored row (raw, as `Store.table` reads it) of the
    latest done attempt of the same computation under another run id; for a cell bound to one host
    (`same_host`), only an attempt made on that host."""
    done: dict[tuple, dict] = {}
    for row in latest_attempts(rows, lambda r: (r["run_id"], r["host_id"])).values():
        if row["status"] != "done":
            continue
        try:
            key = spec_from_row(row).computation_key()
        except BenchError:  # a row whose spec no longer validates is nobody's computation
            continue
        done[(key, "")] = done[(key, row["host_id"])] = row
    found = {}
    for cell in cells:
        row = done.get((cell.spec.computation_key(), cell.host))
        if row is not None and row["run_id"] != cell.run_id:
            found[cell.run_id] = row
    return found


def copies(cell, source: dict, curves: list[dict], provenance: dict, pin_effect: str) -> tuple[dict, list[dict]]:
    """The row and curves that store `cell` as the computation `source` (with its `curves`), asked for
    as `provenance` says (`runner.Settings.provenance`: preset, tag, what the preset declared)."""
    record_id = uuid.uuid4().hex[:16]
    row = {**source, **{k: encode(v) for k, v in cell.spec.identity().items()},
           "run_id": cell.run_id, "record_id": record_id, **{k: encode(v) for k, v in provenance.items()},
           "pin_memory": encode(cell.spec.pin_memory), "pin_memory_effect": pin_effect,
           "message": f"reuses run {source['run_id']} ({source['preset'] or 'no preset'}): the same computation"}
    return row, [{**c, "run_id": cell.run_id, "record_id": record_id} for c in curves]
