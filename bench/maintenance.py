"""Store upkeep: check (and repair into quarantine/), migrate old schemas, merge stores."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.schema import FILES, MIGRATIONS, RUN_COLUMNS, SCHEMA_VERSION
from bench.store import Store, quarantine, read_table, write_lines, write_manifest, write_table

# Columns that are measurements of the hardware at that moment; two honest runs of the same cell
# differ in them, so they do not make a merge conflict.
VOLATILE = {"record_id", "message", "started_at", "finished_at", "train_time_s", "eval_time_s",
            "images_per_s", "achieved_flops", "peak_mem_mb", "fit_time_s", "predict_time_s",
            "git_commit", "git_dirty", "container_image", "bench_version", "preset", "threads"}


def check(root: Path, repair: bool = False) -> list[str]:
    """Every problem found, one line each; with repair, bad lines go to quarantine/ and the files
    are rewritten from the good lines (atomically, under the store lock)."""
    store = Store(root)
    problems = []
    with store.lock:
        for name, columns in FILES.items():
            path = root / name
            table = read_table(path, columns)
            missing = [c for c in columns if c not in table.header]
            extra = [c for c in table.header if c not in columns]
            if table.header != list(columns):
                what = f"missing {missing}, unknown {extra}" if missing or extra else "columns out of order"
                problems.append(f"{name}: header does not match schema {SCHEMA_VERSION}: {what}"
                                + ("; not repaired, restore or migrate it" if repair else ""))
                continue
            for number, why, _ in table.bad_lines:
                problems.append(f"{name}:{number}: {why}")
            key = "record_id" if name == "runs.csv" else None
            seen, good, dupes = set(), [], []
            for row, text in zip(table.rows, table.texts, strict=True):
                ident = row[key] if key else (row["record_id"], row["epoch"])
                if ident in seen:
                    dupes.append(text)
                    problems.append(f"{name}: duplicate row for {row['record_id']}")
                else:
                    good.append(text)
                    seen.add(ident)
            if repair and (table.bad_lines or dupes):
                # The exact text of every removed line goes to quarantine/; kept lines stay byte for byte.
                quarantine(root, name, [text for _, _, text in table.bad_lines] + dupes,
                           "removed by bench store check --repair")
                write_lines(path, columns, good)
    return problems


def migrate(root: Path) -> str:
    """Apply migrate_to_N steps one by one until the store is at SCHEMA_VERSION."""
    store = Store(root, allow_old=True)
    if store.version == SCHEMA_VERSION:
        return f"{root} is already at schema {SCHEMA_VERSION}"
    with store.lock:
        tables = {}
        for name in FILES:
            path = root / name
            tables[name] = read_table(path, {}).rows if path.exists() else []
        for target in range(store.version + 1, SCHEMA_VERSION + 1):
            tables = MIGRATIONS[target](tables)
        for name, columns in FILES.items():
            write_table(root / name, columns, tables[name])
        write_manifest(root, SCHEMA_VERSION)
    return f"{root} migrated from schema {store.version} to {SCHEMA_VERSION}"


@dataclass
class MergeSummary:
    added: int = 0
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)


def _epoch(curve: dict) -> int:
    return int(curve["epoch"]) if curve.get("epoch", "").lstrip("-").isdigit() else 0


def _result(row: dict) -> str:
    return json.dumps({k: v for k, v in row.items() if k not in VOLATILE}, sort_keys=True)


def merge(sources: list[Path], into: Path) -> MergeSummary:
    """Add every attempt from `sources` that `into` lacks (by record_id). The same run id with a
    different result (ignoring timings) is reported as a conflict; both attempts are kept."""
    target = Store(into, create=True)
    stores = [Store(s) for s in sources]
    summary = MergeSummary()
    with target.lock:
        runs = target.table("runs.csv").rows
        curves = target.table("epochs.csv").rows
        known = {r["record_id"] for r in runs}
        by_run = {r["run_id"]: r for r in runs}
        for source in stores:
            if source.root.resolve() == target.root.resolve():
                continue
            new_curves = source.table("epochs.csv").rows
            for row in source.table("runs.csv").rows:
                if row["record_id"] in known:
                    summary.duplicates += 1
                    continue
                other = by_run.get(row["run_id"])
                if other and other["status"] == row["status"] == "done" and _result(other) != _result(row):
                    summary.conflicts.append(f"run {row['run_id']} ({row['label']} {row['dataset']}): "
                                             f"{source.root} differs from an earlier attempt "
                                             f"(test_acc {other['test_acc']} vs {row['test_acc']})")
                runs.append(row)
                curves += [c for c in new_curves if c["record_id"] == row["record_id"]]
                known.add(row["record_id"])
                by_run[row["run_id"]] = row
                summary.added += 1
        if not stores and not runs:
            raise BenchError("nothing to merge")
        runs.sort(key=lambda r: (r["finished_at"], r["record_id"]))
        position = {r["record_id"]: i for i, r in enumerate(runs)}
        curves.sort(key=lambda c: (position.get(c["record_id"], len(runs)), c["record_id"], _epoch(c)))
        write_table(into / "epochs.csv", FILES["epochs.csv"], curves)
        write_table(into / "runs.csv", RUN_COLUMNS, runs)
    return summary
