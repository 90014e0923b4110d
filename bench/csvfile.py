"""The store's file format: CSV lines with schema dtypes, read line by line so that nothing is
silently dropped or kept, and the two durable ways to write (append with fsync, replace atomically)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import BenchError
from bench.schema import BOUNDS

if TYPE_CHECKING:
    import pandas

# What pandas can parse for each non-string dtype (with our read options); anything else in a
# hand-edited file would make pandas fail with a traceback, so it is reported as a bad line instead.
VALUE_PATTERNS = {
    "Int64": (re.compile(r"[-+]?\d{1,19}"), "an integer"),
    "Float64": (re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?inf(inity)?", re.I), "a number"),
    "boolean": (re.compile(r"true|false", re.I), "true or false"),
}
# Ids become file names (site pages, weights) and travel between stores: a safe slug, never a path.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
ID_COLUMNS = ("run_id", "record_id")


@dataclass
class Table:
    """One CSV file read line by line: its header, its well-formed rows and what was wrong."""

    header: list[str]
    rows: list[dict] = field(default_factory=list)
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, why, text)
    texts: list[str] = field(default_factory=list)  # the exact line of each row, for lossless rewrites
    unterminated: bool = False  # the last line holds a whole, valid row but no newline (a hand edit)

    @property
    def torn_tail(self) -> bool:
        return bool(self.bad_lines) and self.bad_lines[-1][1].startswith("torn last line")


def encode(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return " ".join(str(value).split())  # one physical line per row, always


def _bad_confusion(text: str) -> bool:
    try:
        matrix = json.loads(text)
    except ValueError:
        return True
    return not (isinstance(matrix, list) and all(isinstance(r, list) and len(r) == len(matrix) and
                                                 all(type(v) is int and v >= 0 for v in r) for r in matrix))


def bad_value(row: dict, columns: dict[str, str]) -> str | None:
    """Why a row of strings cannot be stored or read under `columns`, or None."""
    for name, dtype in columns.items():
        value = row.get(name)
        if name in ID_COLUMNS and not ID_PATTERN.fullmatch(value or ""):
            return f"column {name}: {(value or '')[:40]!r} is not an id (letters, digits, - and _)"
        if name == "confusion" and value and _bad_confusion(value):
            return f"column confusion: {value[:40]!r} is not a JSON square matrix of counts"
        pattern, what = VALUE_PATTERNS.get(dtype, (None, ""))
        if value and pattern and not (pattern.fullmatch(value) and (dtype != "Int64" or abs(int(value)) < 2**63)):
            return f"column {name}: {value[:40]!r} is not {what}"
        if value and dtype in ("Int64", "Float64"):
            number, (low, high) = float(value), BOUNDS.get(name, (-math.inf, math.inf))
            if not math.isfinite(number) or not low <= number <= high:
                return f"column {name}: {value[:40]} is impossible (must be finite{_range(low, high)})"
    return None


def _range(low: float, high: float) -> str:
    if high == math.inf:
        return f" and at least {low:g}" if low > -math.inf else ""
    return f", from {low:g} to {high:g}"


def anonymise(value):
    """Stored rows travel (git, merged stores, the public site): never leak a home directory."""
    home = str(Path.home())
    if isinstance(value, str) and len(home) > 1 and home in value:
        return value.replace(home, "~")
    return value


def row_problem(values: dict, columns: dict[str, str]) -> str | None:
    """Why a row of Python values could not be read back under `columns` (as it would be stored)."""
    return bad_value({k: encode(values.get(k)) for k in columns}, columns)


def csv_line(values: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([encode(v) for v in values])
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
    try:
        header = next(csv.reader([lines[0]]), [])
    except csv.Error:
        header = []
    table = Table(header)
    dtypes = {c: columns.get(c, "string") for c in header} if columns else {}  # checked per row: built once
    for number, line in enumerate(lines[1:], start=2):
        try:
            values = next(csv.reader([line]), [])
        except csv.Error as exc:  # e.g. a NUL byte
            table.bad_lines.append((number, f"not CSV: {exc}", line))
            continue
        if len(values) != len(header):
            table.bad_lines.append((number, f"{len(values)} fields, expected {len(header)}", line))
            continue
        row = dict(zip(header, values, strict=True))
        why = bad_value(row, dtypes)
        if why:
            table.bad_lines.append((number, why, line))
        else:
            table.rows.append(row)
            table.texts.append(line)
    if torn_tail:
        row = _complete(torn_tail, header, dtypes)
        if row is None:
            table.bad_lines.append((len(lines) + 1, "torn last line (no newline: interrupted write)", torn_tail))
        else:
            table.rows.append(row)
            table.texts.append(torn_tail)
            table.unterminated = True
    return table


TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z)")  # as bench writes them


def _complete(line: str, header: list[str], dtypes: dict) -> dict | None:
    """The row of a last line without its newline if it is whole: every field, every value valid,
    and a last field that cannot be a cut-off prefix: a whole timestamp. (A file whose last column
    is a number, such as epochs.csv, cannot tell a cut number from a short one: its line is torn.)"""
    try:
        values = next(csv.reader([line]), [])
    except csv.Error:
        return None
    if not header or len(values) != len(header):
        return None
    row = dict(zip(header, values, strict=True))
    if bad_value(row, dtypes) or not (header[-1].endswith("_at") and TIMESTAMP.fullmatch(values[-1])):
        return None
    return row


def ends_without_newline(path: Path) -> bool:
    """A non-empty file whose last byte is not a newline (its last line is torn, or unterminated)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def to_frame(rows: list[dict], columns: dict[str, str]) -> pandas.DataFrame:
    """Rows of strings -> a DataFrame with the schema's dtypes (empty strings are missing values)."""
    import pandas as pd  # here, not at the top: commands that never build a frame start without it

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    buf.seek(0)
    return pd.read_csv(buf, dtype=columns, keep_default_na=False, na_values=[""],
                       true_values=["true"], false_values=["false"])


def append_durably(path: Path, text: str) -> None:
    """One write call, flushed and fsync'ed: the row is on disk before we call it stored."""
    with path.open("a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside the target, fsync, then rename over it. A symlinked file is
    replaced where it really lives, so the link survives."""
    path = Path(os.path.realpath(path))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_table(path: Path, columns, rows: list[dict]) -> None:
    write_atomic(path, csv_line(list(columns)) + "".join(csv_line([r.get(c) for c in columns]) for r in rows))


def write_lines(path: Path, columns, lines: list[str]) -> None:
    """Rewrite a store file from the exact text of the lines to keep."""
    write_atomic(path, csv_line(list(columns)) + "".join(line + "\n" for line in lines))


def writable_folder(path: Path, option: str, consequence: str, keep: bool = True) -> None:
    """Create `path` (and its parents) and write and remove a probe file in it, so a folder that cannot
    take the output fails before the work, as one line: `--artifacts x: cannot write there (...)`.
    `keep=False`: the folders this made are removed again (the work creates them when it writes)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BenchError(f"{option} {path} is a file, not a folder; {consequence}")
    made = [p for p in (path, *path.parents) if not p.exists()]  # the leaf first
    probe = path / f".bench-probe-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
        for folder in made if not keep else []:
            folder.rmdir()
    except OSError as exc:
        raise BenchError(f"{option} {path}: cannot write there ({exc.strerror or exc}); {consequence}") from None
