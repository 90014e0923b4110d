"""Store upkeep: check (and repair into quarantine/), migrate old schemas, merge stores."""

from __future__ import annotations

import json
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from bench import schema
from bench.csvfile import read_table, write_atomic, write_lines, write_table
from bench.errors import BenchError
from bench.migrations import MIGRATIONS, SCHEMA_VERSION, mismatch
from bench.schema import FILES, OUTCOME_COLUMNS, RUN_COLUMNS, TABLES, TIMING_COLUMNS, TIMINGS
from bench.spec import latest_attempts
from bench.store import Store, quarantine, read_version, write_manifest


def check(root: Path, repair: bool = False) -> list[str]:
    """Every problem found, one line each, in runs.csv, epochs.csv and (where `bench time` wrote
    one) timings.csv; with repair, bad lines go to quarantine/ and the files are rewritten from the
    good lines (atomically, under the store lock). Checking alone only reads: appends and rewrites
    are atomic, so it needs no lock and works on a read-only store."""
    store = Store(root)
    problems = []
    with store.locked() if repair else nullcontext():
        for name, columns in TABLES.items():
            if name not in FILES and not (root / name).exists():
                continue
            path = root / name
            table = read_table(path, columns)
            what = schema.header_mismatch(name, table.header)
            if what:
                problems.append(f"{name}: header does not match schema {SCHEMA_VERSION}: {what}"
                                + ("; not repaired, restore or migrate it" if repair else ""))
                continue
            for number, why, _ in table.bad_lines:
                problems.append(f"{name}:{number}: {why}")
            key = None if name == "epochs.csv" else "record_id"
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


def _back_up(root: Path, what: str) -> Path:
    """Copy every file of the store to backup/<what>-<time>/ before it is rewritten; return that folder."""
    backup = root / "backup" / f"{what}-{time.strftime('%Y%m%dT%H%M%S')}"
    backup.mkdir(parents=True, exist_ok=True)
    for name in (*TABLES, schema.MANIFEST):
        if (root / name).exists():
            shutil.copy2(root / name, backup / name)
    return backup


JOURNAL = ".migrating"  # in the store while a migration rewrites it: the backup it reads from


def _unfinished(root: Path, version: int) -> Path | None:
    """The backup of a migration from `version` that was killed while it rewrote the store (its
    journal names it; a journal of another version's migration is stale)."""
    try:
        backup = root / "backup" / (root / JOURNAL).read_text().strip()
        backed_up = read_version(backup / schema.MANIFEST)
    except (OSError, BenchError):
        return None
    return backup if backed_up == version else None


def _read_originals(folder: Path, version: int) -> dict[str, list[dict]]:
    """The files of a schema-`version` store in `folder`, checked as that schema, as rows of text."""
    tables = {}
    for name, columns in TABLES.items():
        if not (folder / name).exists():
            tables[name] = []
            continue
        table = read_table(folder / name, {c: t for c, t in columns.items() if c in ("run_id", "record_id")})
        why = mismatch(version, table.header)
        if why:
            raise BenchError(f"{folder / name} is not schema {version} as manifest.json claims: {why}; "
                             "nothing was migrated. Fix the manifest or restore the file")
        if table.bad_lines:
            number, why, _ = table.bad_lines[0]
            raise BenchError(f"{folder / name}:{number}: {why}; nothing was migrated. Fix or remove the line first")
        tables[name] = table.rows
    return tables


def migrate(root: Path) -> str:
    """Apply migrate_to_N steps one by one until the store is at SCHEMA_VERSION. Every file of the
    store is migrated together (runs, curves and `bench time` rows), since a step may re-key all of
    them. The originals are first copied to backup/, then a journal (`.migrating`) names that copy and
    the migration reads it: killed at any point before the new manifest, the manifest still names
    the old schema and a rerun starts again from the same originals, so it can always be finished."""
    store = Store(root, allow_old=True)
    if store.version == SCHEMA_VERSION:
        (root / JOURNAL).unlink(missing_ok=True)  # killed after its new manifest: it had finished
        return f"{root} is already at schema {SCHEMA_VERSION}"
    with store.locked():
        backup = _unfinished(root, store.version)
        if backup is None:
            _read_originals(root, store.version)  # refuse before copying anything
            backup = _back_up(root, f"schema-{store.version}")
            write_atomic(root / JOURNAL, backup.name + "\n")  # from here on, a rerun reads the backup
        tables = _read_originals(backup, store.version)
        for target in range(store.version + 1, SCHEMA_VERSION + 1):
            tables = MIGRATIONS[target](tables)
        for name, columns in TABLES.items():
            if name in FILES or (backup / name).exists():
                write_table(root / name, columns, tables[name])
        write_manifest(root, SCHEMA_VERSION)
        (root / JOURNAL).unlink()
    return f"{root} migrated from schema {store.version} to {SCHEMA_VERSION}; the old files are in {backup}"


@dataclass
class MergeSummary:
    added: int = 0
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _epoch(curve: dict) -> int:
    return int(curve["epoch"]) if curve.get("epoch", "").lstrip("-").isdigit() else 0


def _result(row: dict) -> str:
    return json.dumps({k: row.get(k) for k in OUTCOME_COLUMNS}, sort_keys=True)


def merge(sources: list[Path], into: Path) -> MergeSummary:
    """Add every attempt from `sources` that `into` lacks (by record_id). The same run id from the
    same host with a different result (ignoring timings and the environment) is reported as a
    conflict; both attempts are kept. (Attempts of one cell from two machines may differ by float
    rounding: they are attempts, not conflicts.) A torn
    last line of `into` goes to quarantine/ first, one of a source is left out (a note each); curves
    already present are never added twice, so a merge killed between its two file replacements can
    simply be rerun."""
    stores = [Store(s) for s in sources]
    target = Store(into, create=True)
    summary = MergeSummary(notes=[n for s in stores for n in s.torn_tails()] + target.recover())
    with target.locked():
        runs = target.table("runs.csv").rows
        curves = target.table("epochs.csv").rows
        have_curve = {(c["record_id"], c["epoch"]) for c in curves}
        known = {r["record_id"] for r in runs}
        on_host = latest_attempts(runs, lambda r: (r["run_id"], r["host_id"]))  # another machine's may differ
        for source in stores:
            if source.root.resolve() == target.root.resolve():
                continue
            new_curves = source.table("epochs.csv").rows
            for row in source.table("runs.csv").rows:
                if row["record_id"] in known:
                    summary.duplicates += 1
                    continue
                other = on_host.get((row["run_id"], row["host_id"]))
                if other and other["status"] == row["status"] == "done" and _result(other) != _result(row):
                    summary.conflicts.append(f"run {row['run_id']} ({row['label']} {row['dataset']}): "
                                             f"{source.root} differs from an earlier attempt "
                                             f"(test_acc {other['test_acc']} vs {row['test_acc']})")
                runs.append(row)
                curves += [c for c in new_curves
                           if c["record_id"] == row["record_id"] and (c["record_id"], c["epoch"]) not in have_curve]
                known.add(row["record_id"])
                on_host[(row["run_id"], row["host_id"])] = row
                summary.added += 1
        if not stores and not runs:
            raise BenchError("nothing to merge")
        runs.sort(key=lambda r: (r["finished_at"], r["record_id"]))
        position = {r["record_id"]: i for i, r in enumerate(runs)}
        curves.sort(key=lambda c: (position.get(c["record_id"], len(runs)), c["record_id"], _epoch(c)))
        write_table(into / "epochs.csv", FILES["epochs.csv"], curves)
        write_table(into / "runs.csv", RUN_COLUMNS, runs)
        _merge_timings([s.root for s in stores if s.root.resolve() != target.root.resolve()], into, summary)
    return summary


def _merge_timings(sources: list[Path], into: Path, summary: MergeSummary) -> None:
    """`bench time` rows travel with the runs: every measurement `into` lacks (by record_id), read as
    runs are (a torn last line left out, other damage refused). One measurement id with two
    different rows is a conflict, reported; the first is kept."""
    rows = Store(into).table(TIMINGS).rows
    known = {r["record_id"]: r for r in rows}
    for source in sources:
        for row in Store(source).table(TIMINGS).rows:
            if row["record_id"] not in known:
                rows.append(row)
                known[row["record_id"]] = row
            elif known[row["record_id"]] != row:
                summary.conflicts.append(f"timing {row['record_id']} of run {row['run_id']} ({row['label']} "
                                         f"{row['dataset']}): {source} differs from the copy already merged "
                                         f"({known[row['record_id']]['images_per_s']} vs {row['images_per_s']} "
                                         "images/s)")
    if rows:
        write_table(into / TIMINGS, TIMING_COLUMNS, rows)


def _matches(row: dict, where: dict[str, set[str]]) -> bool:
    return all(row.get(column, "") in values for column, values in where.items())


def drop(root: Path, where: dict[str, set[str]], dry_run: bool = False) -> str:
    """Take out of the store every attempt whose stored values match all of `where` (column ->
    accepted values, as written in runs.csv), with its curves, and the `bench time` rows of cells
    left with no attempt. The files are first copied to backup/ (git history keeps them too); kept
    lines stay byte for byte; under the store lock."""
    unknown = sorted(set(where) - set(RUN_COLUMNS))
    if not where or unknown:
        raise BenchError(f"--where: unknown column {unknown[0]!r}" if unknown
                         else "--where: give at least one COLUMN=VALUE[,VALUE]; nothing was dropped")
    store = Store(root)
    with store.locked():
        tables = {name: read_table(root / name, columns) for name, columns in TABLES.items()
                  if name in FILES or (root / name).exists()}
        for name, table in tables.items():
            if table.bad_lines:
                raise BenchError(f"{root / name}:{table.bad_lines[0][0]}: {table.bad_lines[0][1]}; nothing was "
                                 "dropped. Run `bench store check --repair` first")
        runs = tables["runs.csv"]
        gone = {r["record_id"] for r in runs.rows if _matches(r, where)}
        kept_cells = {r["run_id"] for r in runs.rows if r["record_id"] not in gone}
        gone_cells = {r["run_id"] for r in runs.rows if r["record_id"] in gone} - kept_cells
        keep = {"runs.csv": lambda r: r["record_id"] not in gone, "epochs.csv": lambda r: r["record_id"] not in gone,
                TIMINGS: lambda r: r["run_id"] not in gone_cells}
        kept = {name: [text for row, text in zip(t.rows, t.texts, strict=True) if keep[name](row)]
                for name, t in tables.items()}
        removed = {name: len(t.rows) - len(kept[name]) for name, t in tables.items()}
        what = (f"{len(gone)} attempts ({len(gone_cells)} cells left with none; {removed['epochs.csv']} curve rows, "
                f"{removed.get(TIMINGS, 0)} `bench time` rows)")
        if dry_run or not gone:
            return f"would drop {what}" if dry_run else "no stored attempt matches; nothing was dropped"
        backup = _back_up(root, "dropped")
        for name, lines in kept.items():
            write_lines(root / name, TABLES[name], lines)
    return f"dropped {what}; the files before are in {backup}"
