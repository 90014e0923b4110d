"""The store's schema version and the forward migrations: each `migrate_to_N` turns version N-1's
tables (lists of row dicts, every value its CSV text) into version N's; `bench store migrate` runs
them in order (bench.maintenance). The columns themselves are declared in `bench.schema`."""

from __future__ import annotations

from bench.schema import ADDED_IN, TIMINGS


def migrate_to_2(tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Version 1 keyed curves by run_id alone, so a --force rerun mixed its curves with the old
    ones. Version 2 gives every stored attempt a record_id; old rows get one derived from their
    position (curves attach to the last attempt of their run, as version 1 showed them)."""
    from bench.spec import latest_attempts

    runs = tables["runs.csv"]
    for i, row in enumerate(runs):
        row["record_id"] = f"v1-{row['run_id']}-{i}"
    latest = latest_attempts(runs)
    for row in tables["epochs.csv"]:
        last = latest.get(row["run_id"])
        row["record_id"] = last["record_id"] if last else f"v1-{row['run_id']}-orphan"
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


def migrate_to_8(tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Version 8 stores with every row what its preset declared when it ran (`role`, `same_host`),
    so that the report and the latest-attempt rule read the row, not today's preset files. Older
    rows get what their preset declares now; a row without a preset, or whose preset file is not
    here, is a grid that pairs nothing by host (what version 7 took them for)."""
    from bench import presets
    from bench.csvfile import encode
    from bench.errors import BenchError

    declared = {}
    for row in tables["runs.csv"]:
        name = row.get("preset", "")
        if name not in declared:
            try:
                preset = presets.load(name) if name else None
            except BenchError:
                preset = None
            declared[name] = (preset.role, encode(preset.same_host)) if preset else ("grid", encode(False))
        row["role"], row["same_host"] = declared[name]
    return tables


# target version -> step from the version before
MIGRATIONS = {2: migrate_to_2, 3: migrate_to_3, 4: migrate_to_4, 5: migrate_to_5, 6: migrate_to_6, 7: migrate_to_7,
              8: migrate_to_8}
SCHEMA_VERSION = max(MIGRATIONS)


def mismatch(version: int, header: list[str]) -> str | None:
    """Why a file with `header` cannot be of schema `version`, or None: a store whose manifest
    understates its version must not be migrated again."""
    if "run_id" not in header:
        return "it has no run_id column"
    newer = [c for v, cols in ADDED_IN.items() if v > version for c in cols if c in header]
    return f"it has {', '.join(newer)}, added in a later schema" if newer else None
