"""The store's columns and their dtypes (schema version 7), and the forward migrations.

pandas 3 would turn "12.10" into 12.1 and "1e-3" into a float column shared with strings, so
every column is read with an explicit dtype."""

from __future__ import annotations

SCHEMA_VERSION = 7

S, I, F, B = "string", "Int64", "Float64", "boolean"
RUN_COLUMNS: dict[str, str] = {
    "run_id": S, "record_id": S, "status": S, "message": S, "preset": S, "tag": S, "label": S,
    # the spec
    "kind": S, "dataset": S, "model": S, "stem": S, "optimizer": S, "momentum": F, "lr": F,
    "batch_size": I, "epochs": I, "pin_memory": B, "amp": B, "device": S, "seed": I, "data_seed": I,
    "split": S, "subset": I, "test_size": I, "kernel": S, "degree": I, "C": F, "gamma": S, "n_train": I,
    "n_train_images": I, "n_val": I, "n_test": I,
    # metrics
    "test_acc": F, "test_precision": F, "test_recall": F, "test_f1": F, "val_acc": F, "val_loss": F,
    "best_epoch": I, "train_loss": F, "train_time_s": F, "eval_time_s": F, "images_per_s": F,
    "steady_images_per_s": F, "amp_dtype": S, "tf32": B, "deterministic": B, "load_start": F, "load_end": F,
    "achieved_flops": F, "peak_flops": F, "macs": I, "params": I, "peak_mem_mb": F, "eval_peak_mem_mb": F,
    "fit_time_s": F, "predict_time_s": F, "n_support": I, "cache_size_mb": I, "n_train_used": I, "train_mean": F,
    "train_std": F, "shared_compute": B, "concurrency": I, "pin_memory_effect": S, "confusion": S,
    "memory_format": S, "optimizer_impl": S, "workers": I, "workers_auto": B,
    # environment
    "bench_version": S, "python": S, "torch": S, "cuda": S, "cudnn": S, "sklearn": S,
    "device_name": S, "cpu_name": S, "host_id": S, "threads": I, "threads_max": I, "os": S, "git_commit": S,
    "git_dirty": B, "container_image": S, "started_at": S, "finished_at": S,
}
# What a cell computed: two attempts of one cell on one host that differ here disagree (`bench store
# merge` reports it); every other column (timings, environment, bookkeeping, columns added later) may
# differ between attempts of one result.
OUTCOME_COLUMNS = ("status", "test_acc", "test_precision", "test_recall", "test_f1", "val_acc", "val_loss",
                   "best_epoch", "train_loss", "confusion", "n_support")
EPOCH_COLUMNS: dict[str, str] = {
    "run_id": S, "record_id": S, "epoch": I, "train_loss": F, "train_acc": F, "val_loss": F,
    "val_acc": F, "epoch_time_s": F, "threads": I,
}
FILES = {"runs.csv": RUN_COLUMNS, "epochs.csv": EPOCH_COLUMNS}
# What a stored value can be, by column name (the same name means the same thing in every file):
# (lowest, highest). Every number must also be finite. A value outside is a bad line, quarantined
# by `bench store check --repair`, so it never reaches a computation in the report.
FRACTIONS = ("test_acc", "test_precision", "test_recall", "test_f1", "val_acc", "train_acc", "train_mean",
             "train_std")
NON_NEGATIVE = ("train_loss", "val_loss", "train_time_s", "eval_time_s", "epoch_time_s", "fit_time_s",
                "predict_time_s", "images_per_s", "steady_images_per_s", "min_images_per_s", "max_images_per_s",
                "achieved_flops", "peak_flops", "macs", "params", "peak_mem_mb", "eval_peak_mem_mb", "n_support",
                "n_train_images", "n_val", "n_test", "n_train_used", "load_start", "load_end", "cache_size_mb",
                "subset", "test_size", "seed", "data_seed", "momentum")
AT_LEAST_ONE = ("batch_size", "epochs", "best_epoch", "epoch", "threads", "threads_max", "concurrency", "workers",
                "steps", "blocks", "degree", "n_train")
BOUNDS = {**{c: (0.0, 1.0) for c in FRACTIONS}, **{c: (0.0, float("inf")) for c in NON_NEGATIVE},
          **{c: (1.0, float("inf")) for c in AT_LEAST_ONE}}
# `bench time`: exclusive speed measurements of cells, one row per cell and measurement. Optional
# (absent in stores that never ran it), so it is not one of FILES that every store must have.
TIMINGS = "timings.csv"
TIMING_COLUMNS: dict[str, str] = {
    "run_id": S, "record_id": S, "preset": S, "label": S, "dataset": S, "device": S, "batch_size": I,
    "pin_memory": B, "amp_dtype": S, "memory_format": S, "optimizer_impl": S, "steps": I,
    "blocks": I, "images_per_s": F, "min_images_per_s": F,
    "max_images_per_s": F, "host_id": S, "threads": I, "concurrency": I, "load_start": F, "load_end": F,
    "device_name": S, "torch": S, "git_commit": S, "git_dirty": B, "started_at": S,
}
# Every CSV file of a store, read, validated, appended, repaired, merged and migrated by the same code
# (bench.store, bench.maintenance); FILES are the ones every store has.
TABLES = {**FILES, TIMINGS: TIMING_COLUMNS}
MANIFEST = "manifest.json"  # the schema version: what makes a folder a store


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


def migrate_to_2(tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Version 1 keyed curves by run_id alone, so a --force rerun mixed its curves with the old
    ones. Version 2 gives every stored attempt a record_id; old rows get one derived from their
    position (curves attach to the last attempt of their run, as version 1 showed them)."""
    runs = tables["runs.csv"]
    latest = {}
    for i, row in enumerate(runs):
        row["record_id"] = f"v1-{row['run_id']}-{i}"
        latest[row["run_id"]] = row["record_id"]
    for row in tables["epochs.csv"]:
        row["record_id"] = latest.get(row["run_id"], f"v1-{row['run_id']}-orphan")
    return tables


def migrate_to_3(tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Version 3 adds the timing protocol's columns (steady-state rate, precision, TF32, determinism,
    load average, host id) and test_size, with which `subset` shrinks training only. Older rows did
    not measure them: they stay empty, never guessed (their subset was of all images)."""
    return tables


def migrate_to_4(tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Version 4 adds `concurrency`: how many cells computed on the machine at once (`bench run
    --workers`, or several `bench run`s on one store), and `eval_peak_mem_mb`, the CUDA memory peak
    of evaluation apart from training's (`peak_mem_mb`). Older rows stay empty: they were timed one
    at a time under the timing protocol, but that is not recorded in them."""
    return tables


def migrate_to_5(tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Version 5 identifies a cell by its spec and device kind alone (`bench.spec.run_id`); version
    4's ids also hashed the CPU or GPU model, so one cell computed on two machines had two ids.
    Every row gets its cell's new id (attempts of one cell from several machines become attempts of
    that cell; the machine stays in each row), curves follow their row by record_id and timings
    their cell. Rows from before schema 3 (no test_size) were another computation and keep their
    ids. Version 5 also adds the step configuration that trained a row (`memory_format`,
    `optimizer_impl`); older rows ran channels_last with torch's default optimizer (on the CPU its
    single-tensor loop)."""
    from bench.spec import run_id, spec_from_row

    new_id, by_record = {}, {}
    for row in tables["runs.csv"]:
        if row.get("test_size", "") != "":
            new_id[row["run_id"]] = by_record[row["record_id"]] = run_id(spec_from_row(row))
            row["run_id"] = by_record[row["record_id"]]
        if row.get("kind") == "resnet":
            row["memory_format"], row["optimizer_impl"] = "channels_last", "default"
    for curve in tables["epochs.csv"]:
        curve["run_id"] = by_record.get(curve["record_id"], new_id.get(curve["run_id"], curve["run_id"]))
    for timing in tables.get(TIMINGS, []):
        timing["run_id"] = new_id.get(timing["run_id"], timing["run_id"])
        timing["memory_format"], timing["optimizer_impl"] = "channels_last", "default"
    return tables


def migrate_to_6(tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Version 6 adds how many worker processes the `bench run` that computed a row had (`workers`)
    and whether `--workers auto` chose them (`workers_auto`). Older rows stay empty: their
    `concurrency` says what ran beside them, not what was asked for."""
    return tables


def migrate_to_7(tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Version 7 records the threads a computation had as they changed: a `bench run --workers`
    worker takes over the threads of workers that ran out of work between two epochs. Every curve row
    gets its epoch's `threads`, every run row the most (`threads_max`; `threads` is the fewest). Older
    rows trained at one thread count set once per process, their row's `threads`: that is what they
    get (curves through their run row's record_id; a curve without one stays empty)."""
    threads = {row["record_id"]: row.get("threads", "") for row in tables["runs.csv"]}
    for row in tables["runs.csv"]:
        row["threads_max"] = row.get("threads", "")
    for curve in tables["epochs.csv"]:
        curve["threads"] = threads.get(curve["record_id"], "")
    return tables


# target version -> step from the version before
MIGRATIONS = {2: migrate_to_2, 3: migrate_to_3, 4: migrate_to_4, 5: migrate_to_5, 6: migrate_to_6, 7: migrate_to_7}
# version -> columns it introduced (a file that has them is not older)
ADDED_IN = {2: ("record_id",), 3: ("host_id", "steady_images_per_s", "amp_dtype", "test_size"),
            4: ("concurrency", "eval_peak_mem_mb"), 5: ("memory_format", "optimizer_impl"),
            6: ("workers", "workers_auto"), 7: ("threads_max",)}


def mismatch(version: int, header: list[str]) -> str | None:
    """Why a file with `header` cannot be of schema `version`, or None: a store whose manifest
    understates its version must not be migrated again."""
    if "run_id" not in header:
        return "it has no run_id column"
    newer = [c for v, cols in ADDED_IN.items() if v > version for c in cols if c in header]
    return f"it has {', '.join(newer)}, added in a later schema" if newer else None
