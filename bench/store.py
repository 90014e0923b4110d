"""The results store: a folder with manifest.json, runs.csv (one row per finished run) and
epochs.csv (per-epoch curves). Rows are appended under a file lock and fsync'ed, curves first and
the run row last, so a crash can never leave a finished run half-written; a torn tail is moved to
quarantine/ before the next append. The files in this module are the only ones bench writes."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from filelock import FileLock, Timeout

from bench.errors import BenchError
from bench.schema import EPOCH_COLUMNS, FILES, RUN_COLUMNS, SCHEMA_VERSION

FINISHED = ("done", "diverged", "error")
LOCK_TIMEOUT_S = 600
# What pandas can parse for each non-string dtype (with our read options); anything else in a
# hand-edited file would make pandas fail with a traceback, so it is reported as a bad line instead.
VALUE_PATTERNS = {
    "Int64": (re.compile(r"[-+]?\d{1,19}"), "an integer"),
    "Float64": (re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?inf(inity)?", re.I), "a number"),
    "boolean": (re.compile(r"true|false", re.I), "true or false"),
}


@dataclass
class Table:
    """One CSV file read line by line: its header, its well-formed rows and what was wrong."""

    header: list[str]
    rows: list[dict] = field(default_factory=list)
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, why, text)
    texts: list[str] = field(default_factory=list)  # the exact line of each row, for lossless rewrites

    @property
    def torn_tail(self) -> bool:
        return bool(self.bad_lines) and self.bad_lines[-1][1].startswith("torn last line")


def _encode(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return " ".join(str(value).split())  # one physical line per row, always


def _anonymise(value):
    """Stored rows travel (git, merged stores, the public site): never leak a home directory."""
    home = str(Path.home())
    if isinstance(value, str) and len(home) > 1 and home in value:
        return value.replace(home, "~")
    return value


def _bad_value(row: dict, columns: dict[str, str]) -> str | None:
    for name, dtype in columns.items():
        value = row.get(name)
        pattern, what = VALUE_PATTERNS.get(dtype, (None, ""))
        if value and pattern and not (pattern.fullmatch(value) and (dtype != "Int64" or abs(int(value)) < 2**63)):
            return f"column {name}: {value[:40]!r} is not {what}"
    return None


def _csv_line(values: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([_encode(v) for v in values])
    return buf.getvalue()


def read_table(path: Path, columns: dict[str, str]) -> Table:
    """Parse a store CSV; torn, short or long lines and unparseable values are reported, never
    silently dropped or kept."""
    if not path.exists():
        return Table(list(columns))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read {path}: {exc}") from None
    lines = text.split("\n")
    torn_tail = lines.pop()  # "" when the file ends with a newline
    if not lines:
        return Table(list(columns), bad_lines=[(1, "torn header", torn_tail)] if torn_tail else [])
    header = next(csv.reader([lines[0]]))
    table = Table(header)
    for number, line in enumerate(lines[1:], start=2):
        values = next(csv.reader([line]), [])
        if len(values) != len(header):
            table.bad_lines.append((number, f"{len(values)} fields, expected {len(header)}", line))
            continue
        row = dict(zip(header, values, strict=True))
        why = _bad_value(row, columns)
        if why:
            table.bad_lines.append((number, why, line))
        else:
            table.rows.append(row)
            table.texts.append(line)
    if torn_tail:
        table.bad_lines.append((len(lines) + 1, "torn last line (no newline: interrupted write)", torn_tail))
    return table


def to_frame(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    """Rows of strings -> a DataFrame with the schema's dtypes (empty strings are missing values)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    buf.seek(0)
    return pd.read_csv(buf, dtype=columns, keep_default_na=False, na_values=[""],
                       true_values=["true"], false_values=["false"])


class Store:
    """A results folder. Opening checks the schema version; appends are atomic per run."""

    def __init__(self, root: Path, create: bool = False, allow_old: bool = False):
        self.root = Path(root)
        self.lock = FileLock(str(self.root / ".lock"), timeout=LOCK_TIMEOUT_S)
        manifest = self.root / "manifest.json"
        if not manifest.exists():
            if not create:
                raise BenchError(f"{self.root} is not a bench store (no manifest.json); run `bench run` first")
            self._create()
        self.version = self._read_version(manifest)
        if self.version > SCHEMA_VERSION:
            raise BenchError(f"{self.root} uses store schema {self.version}, newer than this bench "
                             f"understands ({SCHEMA_VERSION}); upgrade bench")
        if self.version < SCHEMA_VERSION and not allow_old:
            raise BenchError(f"{self.root} uses store schema {self.version}; run `bench store migrate "
                             f"--store {self.root}` to upgrade it to {SCHEMA_VERSION}")

    def _create(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self.lock:
                if not (self.root / "manifest.json").exists():
                    write_atomic(self.root / "manifest.json", _manifest(SCHEMA_VERSION))
        except (OSError, Timeout) as exc:
            raise BenchError(f"cannot create the store in {self.root}: {exc}") from None

    def _read_version(self, manifest: Path) -> int:
        try:
            return int(json.loads(manifest.read_text())["schema_version"])
        except (OSError, ValueError, KeyError, TypeError):
            raise BenchError(f"{manifest} is unreadable or has no schema_version; "
                             "restore it from git or a backup") from None

    def table(self, name: str) -> Table:
        """A store file; a header that does not match the schema or a damaged line other than a torn
        tail (which the next append quarantines) is a user error pointing at `bench store check`."""
        table = read_table(self.root / name, FILES[name])
        expected = list(FILES[name])
        if self.version == SCHEMA_VERSION and table.header != expected:
            missing = [c for c in expected if c not in table.header]
            extra = [c for c in table.header if c not in expected]
            raise BenchError(f"{self.root / name} does not match schema {SCHEMA_VERSION}"
                             f"{' (missing ' + ', '.join(missing) + ')' if missing else ''}"
                             f"{' (unknown ' + ', '.join(extra) + ')' if extra else ''}; "
                             "run `bench store check` to see what is wrong")
        damaged = table.bad_lines[:-1] if table.torn_tail else table.bad_lines
        if damaged:
            number, why, _ = damaged[0]
            more = f" and {len(damaged) - 1} more bad lines" if len(damaged) > 1 else ""
            raise BenchError(f"{self.root / name}:{number}: {why}{more}; run `bench store check --store "
                             f"{self.root} --repair` to move bad lines to quarantine/")
        return table

    def runs(self) -> pd.DataFrame:
        """The latest stored attempt of every run, with schema dtypes."""
        rows = {row["run_id"]: row for row in self.table("runs.csv").rows}
        return to_frame(list(rows.values()), RUN_COLUMNS)

    def epochs(self, runs: pd.DataFrame | None = None) -> pd.DataFrame:
        records = set((self.runs() if runs is None else runs)["record_id"])
        rows = [row for row in self.table("epochs.csv").rows if row["record_id"] in records]
        return to_frame(rows, EPOCH_COLUMNS)

    def finished(self, statuses=FINISHED) -> set[str]:
        runs = self.runs()
        return set(runs.loc[runs["status"].isin(statuses), "run_id"])

    def append(self, run: dict, curves: list[dict]) -> None:
        """Store one finished run: its curves, then its row (the commit point), each fsync'ed."""
        unknown = set(run) - set(RUN_COLUMNS)
        assert not unknown, f"columns not in the schema: {unknown}"
        run = {k: _anonymise(v) for k, v in run.items()}
        try:
            with self.lock:
                for name in FILES:
                    self._check_header(name)
                self._append_rows("epochs.csv", [[c.get(k) for k in EPOCH_COLUMNS] for c in curves])
                self._append_rows("runs.csv", [[run.get(k) for k in RUN_COLUMNS]])
        except Timeout:
            raise BenchError(f"another process holds {self.lock.lock_file} for over {LOCK_TIMEOUT_S}s") from None
        except OSError as exc:
            raise BenchError(f"cannot write to {self.root}: {exc.strerror or exc}; "
                             "the run was not stored, free space or fix permissions and rerun") from None

    def recover(self) -> list[str]:
        """Quarantine torn tails left by a crash (under the lock); one note per file repaired."""
        notes = []
        with self.lock:
            for name in FILES:
                if self._quarantine_torn_tail(self.root / name):
                    notes.append(f"note: {name} ended with an interrupted write; the partial line was moved "
                                 "to quarantine/")
        return notes

    @contextmanager
    def claim(self, run_ids: list[str], skip: tuple[str, ...] = FINISHED) -> Iterator[list[str]]:
        """Claim cells for this process while it computes them, so two `bench run`s on one store never
        train a cell twice: under the lock, cells already stored with a status in `skip` or claimed by
        another live process on this machine are left out; the rest are claimed (claims/<run_id> holds
        the owner's boot id and pid) until the block ends. A claim whose owner died is ignored."""
        folder = self.root / "claims"
        mine: list[str] = []
        with self.lock:
            stored = self.finished(skip) if skip else set()
            folder.mkdir(exist_ok=True)
            for rid in run_ids:
                if rid not in stored and not _claimed_by_other(folder / rid):
                    (folder / rid).write_text(f"{_boot_id()} {os.getpid()}\n")
                    mine.append(rid)
        try:
            yield mine
        finally:
            for rid in mine:
                (folder / rid).unlink(missing_ok=True)

    def _check_header(self, name: str) -> None:
        """Never append under a header that is not the schema's (a hand-edited file)."""
        path = self.root / name
        if path.exists() and path.stat().st_size:
            with path.open(encoding="utf-8", errors="replace") as f:
                first = f.readline()
            if first.endswith("\n") and first != _csv_line(list(FILES[name])):
                self.table(name)  # raises with what is missing or unknown
                raise BenchError(f"{path}: header does not match schema {SCHEMA_VERSION}; run `bench store check`")

    def verify(self) -> None:
        """Raise BenchError unless both files parse under the schema (a torn tail is allowed)."""
        for name in FILES:
            self.table(name)

    def _append_rows(self, name: str, rows: list[list]) -> None:
        path = self.root / name
        self._quarantine_torn_tail(path)
        text = "".join(_csv_line(r) for r in rows)
        if not path.exists() or path.stat().st_size == 0:
            text = _csv_line(list(FILES[name])) + text
        append_durably(path, text)

    def _quarantine_torn_tail(self, path: Path) -> bool:
        """A crash mid-write leaves a line without its newline: move it aside, then truncate."""
        if not path.exists() or path.stat().st_size == 0:
            return False
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return False
            data = path.read_bytes()
        cut = data.rfind(b"\n") + 1
        quarantine(self.root, path.name, [data[cut:].decode("utf-8", "replace")], "torn tail")
        with path.open("r+b") as f:
            f.truncate(cut)
            os.fsync(f.fileno())
        return True

    def save_weights(self, artifacts: Path, run_id: str, weights: dict) -> None:
        """Best-val weights to the artifacts folder (outside git), written atomically."""
        tmp = artifacts / f".{run_id}.pt.tmp"
        try:
            artifacts.mkdir(parents=True, exist_ok=True)
            torch.save(weights, tmp)
            os.replace(tmp, artifacts / f"{run_id}.pt")
        except (OSError, RuntimeError) as exc:  # torch reports a full disk as RuntimeError
            if tmp.parent.is_dir():
                tmp.unlink(missing_ok=True)
            raise BenchError(f"run {run_id} is stored but its weights could not be written to {artifacts}: "
                             f"{exc}; free space or fix --artifacts") from None


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def _claimed_by_other(path: Path) -> bool:
    """A claim holds while its owner (same boot of this machine, another pid) is alive. Claims from
    another machine or an earlier boot cannot be checked and are ignored: work is never blocked forever."""
    try:
        boot, pid = path.read_text().split()
        pid = int(pid)
    except (OSError, ValueError):
        return False  # no claim, or one torn by a crash
    if boot != _boot_id() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _manifest(version: int) -> str:
    return json.dumps({"schema_version": version, "format": "bench results store"}, indent=2) + "\n"


def append_durably(path: Path, text: str) -> None:
    """One write call, flushed and fsync'ed: the row is on disk before we call it stored."""
    with path.open("a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_table(path: Path, columns, rows: list[dict]) -> None:
    write_atomic(path, _csv_line(list(columns)) + "".join(_csv_line([r.get(c) for c in columns]) for r in rows))


def write_lines(path: Path, columns, lines: list[str]) -> None:
    """Rewrite a store file from the exact text of the lines to keep."""
    write_atomic(path, _csv_line(list(columns)) + "".join(line + "\n" for line in lines))


def quarantine(root: Path, name: str, lines: list[str], why: str) -> Path:
    """Keep every line we take out of a store file, with the reason, in quarantine/."""
    folder = root / "quarantine"
    folder.mkdir(exist_ok=True)
    target = folder / f"{name}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}.txt"
    append_durably(target, "".join(f"# {why}\n{line}\n" for line in lines))
    return target


def write_manifest(root: Path, version: int) -> None:
    write_atomic(root / "manifest.json", _manifest(version))
