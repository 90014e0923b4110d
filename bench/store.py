"""The results store: manifest.json and the CSV files of bench.schema.TABLES (runs, curves, timings).
Rows are appended under a file lock and fsync'ed, curves before their run row, so a crash never
leaves a finished run half-written; a torn tail is moved to quarantine/ before the next append.
Every write goes through this module or bench.maintenance, under `Store.locked()`."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from filelock import FileLock, Timeout

from bench import claims, schema
from bench.csvfile import (
    Table,
    anonymise,
    append_durably,
    csv_line,
    ends_without_newline,
    read_table,
    row_problem,
    to_frame,
    write_atomic,
)
from bench.errors import BenchError
from bench.migrations import SCHEMA_VERSION
from bench.schema import EPOCH_COLUMNS, RUN_COLUMNS, TABLES, TIMING_COLUMNS, TIMINGS
from bench.spec import attempt_key, latest_attempts

FINISHED = ("done", "diverged", "error")
LOCK_WAIT_S = 600  # how long a command waits for another one's store lock (BENCH_LOCK_WAIT overrides)
QUIET_WAIT_S = 2.0  # waited without a word first: a lock held for a row's append is gone by then


def lock_wait_s() -> float:
    text = os.environ.get("BENCH_LOCK_WAIT", "").strip()
    try:
        value = float(text) if text else LOCK_WAIT_S
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86_400:
        raise BenchError(f"BENCH_LOCK_WAIT={text!r} must be a number of seconds from 0 to 86400")
    return value


class Store:
    """A results folder. Opening checks the schema version; appends are atomic per run."""

    def __init__(self, root: Path, create: bool = False, allow_old: bool = False):
        self.root = Path(root)
        manifest = self.root / schema.MANIFEST
        if not manifest.exists():
            if not create:
                raise BenchError(f"{self.root} is not a bench store (no manifest.json); run `bench run` first")
            self._create()
        self.version = read_version(manifest)
        if self.version > SCHEMA_VERSION:
            raise BenchError(f"{self.root} uses store schema {self.version}, newer than this bench "
                             f"understands ({SCHEMA_VERSION}); upgrade bench")
        if self.version < SCHEMA_VERSION and not allow_old:
            raise BenchError(f"{self.root} uses store schema {self.version}; run `bench store migrate "
                             f"--store {self.root}` to upgrade it to {SCHEMA_VERSION}")

    def _create(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BenchError(f"cannot create the store in {self.root}: {exc.strerror or exc}") from None
        with self.locked():
            if not (self.root / schema.MANIFEST).exists():
                write_atomic(self.root / schema.MANIFEST, manifest_text(SCHEMA_VERSION))

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's write lock. Waiting says who holds it and gives up after lock_wait_s();
        a filesystem fault inside (read-only, full disk, a folder where a file belongs) is one line."""
        owner = self.root / ".lock.owner"
        lock = FileLock(str(self.root / ".lock"))
        try:
            wait = lock_wait_s()
            try:  # the usual holder (a worker storing a row) lets go within moments: say nothing then
                lock.acquire(timeout=min(QUIET_WAIT_S, wait))
            except Timeout:
                print(f"waiting up to {wait:g}s for the store lock of {self.root}, held by {_read_owner(owner)} "
                      "(BENCH_LOCK_WAIT sets the limit)", flush=True, file=sys.stderr)
                try:
                    lock.acquire(timeout=max(0.0, wait - QUIET_WAIT_S))
                except Timeout:
                    raise BenchError(f"{self.root} is locked by {_read_owner(owner)} for over {wait:g}s; "
                                     "try again when it has finished") from None
            try:
                owner.write_text(f"pid {os.getpid()} on {os.uname().nodename}\n")
                yield
            finally:
                owner.unlink(missing_ok=True)
                lock.release()
        except OSError as exc:
            where = f" ({exc.filename})" if isinstance(exc.filename, str) else ""
            raise BenchError(f"cannot write to the store {self.root}: {exc.strerror or exc}{where}; what was "
                             "being written is not stored and rows stored before are intact: fix permissions, "
                             "space or that file and rerun") from None

    def table(self, name: str) -> Table:
        """A store file; a header that does not match the schema or a damaged line other than a torn
        tail (which the next append quarantines) is a user error pointing at `bench store check`."""
        table = read_table(self.root / name, TABLES[name])
        why = schema.header_mismatch(name, table.header) if self.version == SCHEMA_VERSION else None
        if why:
            raise BenchError(f"{self.root / name} does not match schema {SCHEMA_VERSION} ({why}); "
                             "run `bench store check` to see what is wrong")
        damaged = table.bad_lines[:-1] if table.torn_tail else table.bad_lines
        if damaged:
            number, why, _ = damaged[0]
            more = f" and {len(damaged) - 1} more bad lines" if len(damaged) > 1 else ""
            raise BenchError(f"{self.root / name}:{number}: {why}{more}; run `bench store check --store "
                             f"{self.root} --repair` to move bad lines to quarantine/")
        return table

    def runs(self, key=lambda row: row["run_id"], rows: list[dict] | None = None) -> pd.DataFrame:
        """The latest stored attempt of every run (of every `key`), with schema dtypes (of `rows` if read)."""
        latest = latest_attempts(self.table("runs.csv").rows if rows is None else rows, key)
        return to_frame(list(latest.values()), RUN_COLUMNS)

    def append_timings(self, rows: list[dict]) -> None:
        """Store `bench time` measurements (one row per cell), fsync'ed, under the lock."""
        unknown = {k for row in rows for k in row} - set(TIMING_COLUMNS)
        assert not unknown, f"columns not in the schema: {unknown}"
        with self.locked():
            self._check_header(TIMINGS)
            self._append_rows(TIMINGS, [[anonymise(row.get(k)) for k in TIMING_COLUMNS] for row in rows],
                              TIMING_COLUMNS)

    def timings(self) -> pd.DataFrame:
        """Every stored `bench time` measurement (none: an empty frame), read as runs.csv is."""
        return to_frame(self.table(TIMINGS).rows, TIMING_COLUMNS)

    def superseded(self, rows: list[dict] | None = None) -> list[dict]:
        """Earlier attempts that a later attempt of the same run replaced (--retry-failed, --force)."""
        rows = self.table("runs.csv").rows if rows is None else rows
        latest = latest_attempts(rows)
        return [row for row in rows if row["record_id"] != latest[row["run_id"]]["record_id"]]

    def epochs(self, runs: pd.DataFrame | None = None) -> pd.DataFrame:
        records = set((self.runs() if runs is None else runs)["record_id"])
        rows = [row for row in self.table("epochs.csv").rows if row["record_id"] in records]
        return to_frame(rows, EPOCH_COLUMNS)

    def finished(self, statuses=FINISHED) -> set[str]:
        """The `bench.spec.attempt_key`s of cells whose latest attempt (anywhere, and on each host)
        has a status in `statuses`: a run id for any host, `run_id@host` for one host."""
        rows = self.table("runs.csv").rows
        on_host = latest_attempts(rows, lambda r: attempt_key(r["run_id"], r["host_id"] or "?"))
        return {key for key, row in {**latest_attempts(rows), **on_host}.items() if row["status"] in statuses}

    def append(self, run: dict, curves: list[dict]) -> None:
        """Store one finished run: its curves, then its row (the commit point), each fsync'ed."""
        assert not set(run) - set(RUN_COLUMNS), f"columns not in the schema: {set(run) - set(RUN_COLUMNS)}"
        run = {k: anonymise(v) for k, v in run.items()}
        problems = [p for p in (row_problem(run, RUN_COLUMNS), *(row_problem(c, EPOCH_COLUMNS) for c in curves)) if p]
        assert not problems, f"an impossible value would be stored: {problems[0]}"  # a bug: nothing is written
        with self.locked():
            for name in TABLES:
                self._check_header(name)
            self._append_rows("epochs.csv", [[c.get(k) for k in EPOCH_COLUMNS] for c in curves])
            self._append_rows("runs.csv", [[run.get(k) for k in RUN_COLUMNS]])

    def recover(self) -> list[str]:
        """Before a run: quarantine torn tails left by a crash (under the lock), one note per file
        repaired, and make sure the claims folder can be used, so faults show before any work."""
        notes = []
        with self.locked():
            (self.root / "claims").mkdir(exist_ok=True)
            for name in TABLES:
                if self._quarantine_torn_tail(self.root / name):
                    notes.append(f"note: {name} ended with an interrupted write; its last line was moved to "
                                 f"{self.root / 'quarantine'}/")
        return notes

    @contextmanager
    def claim(self, cells: list, skip: tuple[str, ...] = FINISHED) -> Iterator[list[str]]:
        """Claim cells (`bench.plan.Cell`s) for this process while it computes them (see bench.claims):
        cells already stored with a status in `skip` or claimed by another live process are left out.
        Yields the run ids claimed."""
        folder = self.root / "claims"
        with self.locked():
            stored = self.finished(skip) if skip else set()
            mine = claims.take(folder, [c.run_id for c in cells if c.done_key not in stored])
        try:
            yield mine
        finally:
            claims.release(folder, mine)

    def others_computing(self) -> int:  # other live processes here computing cells of this store
        return claims.others_computing(self.root / "claims")

    def _check_header(self, name: str) -> None:
        """Never append under a header that is not the schema's (a hand-edited file)."""
        path = self.root / name
        if path.exists() and path.stat().st_size:
            with path.open(encoding="utf-8", errors="replace") as f:
                first = f.readline()
            if first.endswith("\n") and first != csv_line(list(TABLES[name])):
                self.table(name)  # raises with what is missing or unknown
                raise BenchError(f"{path}: header does not match schema {SCHEMA_VERSION}; run `bench store check`")

    def verify(self) -> None:  # raise BenchError unless every file parses (a torn tail is allowed)
        for name in TABLES:
            self.table(name)

    def _append_rows(self, name: str, rows: list[list], columns: dict | None = None) -> None:
        path = self.root / name
        self._quarantine_torn_tail(path)
        text = "".join(csv_line(r) for r in rows)
        if not path.exists() or path.stat().st_size == 0:
            text = csv_line(list(columns or TABLES[name])) + text
        append_durably(path, text)

    def torn_tails(self) -> list[str]:
        """For commands that only read: one note per store file whose last line is torn (it is left
        out of what they read; the next `bench run` or `bench store check --repair` moves it aside).
        A whole last line without its newline is no damage: it is read as it is."""
        notes = []
        for name in TABLES:
            path = self.root / name
            if ends_without_newline(path) and not read_table(self.root / name, TABLES[name]).unterminated:
                notes.append(f"note: {path} ends with a torn line (an interrupted write or a hand edit without "
                             f"a final newline), left out here; `bench store check --store {self.root} "
                             "--repair` moves it to quarantine/")
        return notes

    def published(self, name: str) -> bytes:
        """A store file as commands that read it see it, for download: a torn last line left out, a
        whole one without its newline given one."""
        path = self.root / name
        data = path.read_bytes()
        if not data or data.endswith(b"\n"):
            return data
        return data + b"\n" if read_table(path, TABLES[name]).unterminated else data[: data.rfind(b"\n") + 1]

    def _quarantine_torn_tail(self, path: Path) -> bool:
        """A crash mid-write leaves a line without its newline: move it aside, then truncate. A whole
        last line without its newline (a hand edit, as editors save) only gets its newline."""
        if not ends_without_newline(path):
            return False
        if path.name in TABLES and read_table(path, TABLES[path.name]).unterminated:
            append_durably(path, "\n")
            return False
        data = path.read_bytes()
        cut = data.rfind(b"\n") + 1
        quarantine(self.root, path.name, [data[cut:].decode("utf-8", "replace")], "torn tail")
        with path.open("r+b") as f:
            f.truncate(cut)
            os.fsync(f.fileno())
        return True


def _read_owner(path: Path) -> str:  # who holds the lock, for those who wait for it
    try:
        return path.read_text().strip() or "another process"
    except (OSError, UnicodeDecodeError):
        return "another process"


def exists(root: Path) -> bool:  # a folder is a store when it has a manifest
    return (Path(root) / schema.MANIFEST).exists()


def manifest_text(version: int) -> str:
    return json.dumps({"schema_version": version, "format": "bench results store"}, indent=2) + "\n"


def read_version(manifest: Path) -> int:
    try:
        version = json.loads(manifest.read_text())["schema_version"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BenchError(f"{manifest} is unreadable or has no schema_version; "
                         "restore it from git or a backup") from None
    if type(version) is not int or not 1 <= version <= 10_000:
        raise BenchError(f"{manifest}: schema_version {str(version)[:20]!r} is not a version number; "
                         "restore it from git or a backup")
    return version


def quarantine(root: Path, name: str, lines: list[str], why: str) -> Path:
    """Keep every line we take out of a store file, with the reason, in quarantine/."""
    folder = root / "quarantine"
    folder.mkdir(exist_ok=True)
    target = folder / f"{name}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}.txt"
    append_durably(target, "".join(f"# {why}\n{line}\n" for line in lines))
    return target


def write_manifest(root: Path, version: int) -> None:
    write_atomic(root / schema.MANIFEST, manifest_text(version))
