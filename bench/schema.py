"""The store's columns, each declared once in `COLUMNS` (its dtype, its role, the values it may take,
the schema version that added it), and the file layouts and rules derived from them.

pandas 3 would turn "12.10" into 12.1 and "1e-3" into a float column shared with strings, so
every column is read with an explicit dtype. A new runs.csv column is one line in `COLUMNS` (with
`added` set to the new version) plus its step in `bench.migrations`."""

from __future__ import annotations

import math
from dataclasses import dataclass

S, I, F, B = "string", "Int64", "Float64", "boolean"
FRACTION, NON_NEGATIVE, AT_LEAST_ONE = (0.0, 1.0), (0.0, math.inf), (1.0, math.inf)
# A column's role: what it says about its row.
KEY = "key"  # which cell (run_id) and which stored attempt of it (record_id)
NOTE = "note"  # how the row came to be asked for: its preset (and what it declared), tag, label, an error's message
SPEC = "spec"  # the cell's specification (bench.spec.RunSpec), and the data it was given
RESULT = "result"  # what the computation measured, listed on its run page
DETAIL = "detail"  # measured too, shown in its own place (status, confusion matrix, step) or not at all
RUN = "run"  # how this attempt ran: workers, concurrency, the most threads, when
ENVIRONMENT = "environment"  # the machine and software it ran on
CURVE, TIMED = "curve", "timed"  # only in epochs.csv (per epoch), only in timings.csv (`bench time`)


@dataclass(frozen=True)
class Column:
    dtype: str
    role: str
    bounds: tuple[float, float] | None = None  # (lowest, highest); every number must also be finite
    added: int | None = None  # the schema version that added it, where a file's header tells its version
    outcome: bool = False  # what a cell computed: attempts of one cell on one host must agree on it


# Every column of every store file, once (the same name means the same thing in every file); runs.csv
# has all but the CURVE and TIMED ones, in this order.
COLUMNS: dict[str, Column] = {
    "run_id": Column(S, KEY),
    "record_id": Column(S, KEY, added=2),
    "status": Column(S, DETAIL, outcome=True),
    "message": Column(S, NOTE),
    "preset": Column(S, NOTE),
    "tag": Column(S, NOTE),
    "label": Column(S, NOTE),
    "role": Column(S, NOTE, added=8),  # its preset's role in the report (bench.presets.ROLES), as it ran
    "same_host": Column(B, NOTE, added=8),  # whether its preset pairs measurements of one host
    "kind": Column(S, SPEC),
    "dataset": Column(S, SPEC),
    "model": Column(S, SPEC),
    "stem": Column(S, SPEC),
    "optimizer": Column(S, SPEC),
    "momentum": Column(F, SPEC, NON_NEGATIVE),
    "lr": Column(F, SPEC),
    "batch_size": Column(I, SPEC, AT_LEAST_ONE),
    "epochs": Column(I, SPEC, AT_LEAST_ONE),
    "pin_memory": Column(B, SPEC),
    "amp": Column(B, SPEC),
    "device": Column(S, SPEC),
    "seed": Column(I, SPEC, NON_NEGATIVE),
    "data_seed": Column(I, SPEC, NON_NEGATIVE),
    "split": Column(S, SPEC),
    "subset": Column(I, SPEC, NON_NEGATIVE),
    "test_size": Column(I, SPEC, NON_NEGATIVE, added=3),
    "kernel": Column(S, SPEC),
    "degree": Column(I, SPEC, AT_LEAST_ONE),
    "C": Column(F, SPEC),
    "gamma": Column(S, SPEC),
    "n_train": Column(I, SPEC, AT_LEAST_ONE),
    "n_train_images": Column(I, SPEC, NON_NEGATIVE),
    "n_val": Column(I, SPEC, NON_NEGATIVE),
    "n_test": Column(I, SPEC, NON_NEGATIVE),
    "test_acc": Column(F, RESULT, FRACTION, outcome=True),
    "test_precision": Column(F, RESULT, FRACTION, outcome=True),
    "test_recall": Column(F, RESULT, FRACTION, outcome=True),
    "test_f1": Column(F, RESULT, FRACTION, outcome=True),
    "val_acc": Column(F, RESULT, FRACTION, outcome=True),
    "val_loss": Column(F, RESULT, NON_NEGATIVE, outcome=True),
    "best_epoch": Column(I, RESULT, AT_LEAST_ONE, outcome=True),
    "train_loss": Column(F, RESULT, NON_NEGATIVE, outcome=True),
    "train_time_s": Column(F, RESULT, NON_NEGATIVE),
    "eval_time_s": Column(F, RESULT, NON_NEGATIVE),
    "images_per_s": Column(F, RESULT, NON_NEGATIVE),
    "steady_images_per_s": Column(F, RESULT, NON_NEGATIVE, added=3),
    "amp_dtype": Column(S, RESULT, added=3),
    "tf32": Column(B, RESULT),
    "deterministic": Column(B, RESULT),
    "load_start": Column(F, RESULT, NON_NEGATIVE),
    "load_end": Column(F, RESULT, NON_NEGATIVE),
    "achieved_flops": Column(F, RESULT, NON_NEGATIVE),
    "peak_flops": Column(F, RESULT, NON_NEGATIVE),
    "macs": Column(I, RESULT, NON_NEGATIVE),
    "params": Column(I, RESULT, NON_NEGATIVE),
    "peak_mem_mb": Column(F, RESULT, NON_NEGATIVE),
    "eval_peak_mem_mb": Column(F, DETAIL, NON_NEGATIVE, added=4),
    "fit_time_s": Column(F, RESULT, NON_NEGATIVE),
    "predict_time_s": Column(F, RESULT, NON_NEGATIVE),
    "n_support": Column(I, RESULT, NON_NEGATIVE, outcome=True),
    "cache_size_mb": Column(I, RESULT, NON_NEGATIVE),
    "n_train_used": Column(I, RESULT, NON_NEGATIVE),
    "train_mean": Column(F, DETAIL, FRACTION),
    "train_std": Column(F, DETAIL, FRACTION),
    "shared_compute": Column(B, RESULT),
    "concurrency": Column(I, RUN, AT_LEAST_ONE, added=4),
    "pin_memory_effect": Column(S, RESULT),
    "confusion": Column(S, DETAIL, outcome=True),
    "memory_format": Column(S, DETAIL, added=5),
    "optimizer_impl": Column(S, DETAIL, added=5),
    "workers": Column(I, RUN, AT_LEAST_ONE, added=6),
    "workers_auto": Column(B, RUN, added=6),
    "bench_version": Column(S, ENVIRONMENT),
    "python": Column(S, ENVIRONMENT),
    "torch": Column(S, ENVIRONMENT),
    "cuda": Column(S, ENVIRONMENT),
    "cudnn": Column(S, ENVIRONMENT),
    "sklearn": Column(S, ENVIRONMENT),
    "device_name": Column(S, ENVIRONMENT),
    "cpu_name": Column(S, ENVIRONMENT),
    "host_id": Column(S, ENVIRONMENT, added=3),
    "threads": Column(I, ENVIRONMENT, AT_LEAST_ONE),
    "threads_max": Column(I, RUN, AT_LEAST_ONE, added=7),
    "os": Column(S, ENVIRONMENT),
    "git_commit": Column(S, ENVIRONMENT),
    "git_dirty": Column(B, ENVIRONMENT),
    "container_image": Column(S, ENVIRONMENT),
    "started_at": Column(S, RUN),
    "finished_at": Column(S, RUN),
    "epoch": Column(I, CURVE, AT_LEAST_ONE),
    "train_acc": Column(F, CURVE, FRACTION),
    "epoch_time_s": Column(F, CURVE, NON_NEGATIVE),
    "steps": Column(I, TIMED, AT_LEAST_ONE),
    "blocks": Column(I, TIMED, AT_LEAST_ONE),
    "min_images_per_s": Column(F, TIMED, NON_NEGATIVE),
    "max_images_per_s": Column(F, TIMED, NON_NEGATIVE),
}


def _layout(*names: str) -> dict[str, str]:
    return {name: COLUMNS[name].dtype for name in names}


def named(role: str, among=COLUMNS) -> tuple[str, ...]:
    """The columns of `role` (of those `among`), in the registry's order."""
    return tuple(name for name in among if COLUMNS[name].role == role)


RUN_COLUMNS = _layout(*(name for name, c in COLUMNS.items() if c.role not in (CURVE, TIMED)))
EPOCH_COLUMNS = _layout("run_id", "record_id", "epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                        "epoch_time_s", "threads")
FILES = {"runs.csv": RUN_COLUMNS, "epochs.csv": EPOCH_COLUMNS}
# `bench time`: exclusive speed measurements of cells, one row per cell and measurement. Optional
# (absent in stores that never ran it), so it is not one of FILES that every store must have.
TIMINGS = "timings.csv"
TIMING_COLUMNS = _layout(
    "run_id", "record_id", "preset", "label", "dataset", "device", "batch_size", "pin_memory", "amp_dtype",
    "memory_format", "optimizer_impl", "steps", "blocks", "images_per_s", "min_images_per_s", "max_images_per_s",
    "host_id", "threads", "concurrency", "load_start", "load_end", "device_name", "torch", "git_commit",
    "git_dirty", "started_at")
# Every CSV file of a store, read, validated, appended, repaired, merged and migrated by the same code
# (bench.store, bench.maintenance); FILES are the ones every store has.
TABLES = {**FILES, TIMINGS: TIMING_COLUMNS}
MANIFEST = "manifest.json"  # the schema version: what makes a folder a store

# What a stored value can be, by column name: a value outside is a bad line, quarantined by `bench
# store check --repair`, so it never reaches a computation in the report.
BOUNDS = {name: c.bounds for name, c in COLUMNS.items() if c.bounds}
# What a cell computed: two attempts of one cell on one host that differ here disagree (`bench store
# merge` reports it); every other column (timings, environment, bookkeeping) may differ between them.
OUTCOME_COLUMNS = tuple(name for name, c in COLUMNS.items() if c.outcome)
# version -> columns it introduced (a file that has them is not older)
ADDED_IN = {v: tuple(name for name, c in COLUMNS.items() if c.added == v)
            for v in sorted({c.added for c in COLUMNS.values() if c.added})}


def header_mismatch(name: str, header: list[str]) -> str | None:
    """How a store file's header differs from the schema's, or None (the one header rule)."""
    expected = list(TABLES[name])
    if header == expected:
        return None
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    if not missing and not extra:
        return "columns out of order"
    return "; ".join(part for part in (f"missing {', '.join(missing[:5])}" if missing else "",
                                       f"unknown {', '.join(extra[:5])}" if extra else "") if part)
