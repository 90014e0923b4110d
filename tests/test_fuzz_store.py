"""Fuzzing the store's files: random bytes, truncations and field edits in runs.csv, epochs.csv and
manifest.json. Every command either succeeds or fails with one line, and no complete line that the
damage left intact is lost: it stays in its file or goes to quarantine/."""

from __future__ import annotations

import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.cli import main
from tests.test_data_loss import make_store, row

FILES = ("runs.csv", "epochs.csv", "manifest.json")
# `run` reads the store (what is done) before it looks for the data, so a missing data folder lets
# it reach the damaged store without training anything
COMMANDS = (["ls"], ["store", "check"], ["store", "check", "--repair"],
            ["run", "--preset", "smoke", "--quiet", "--data-dir", "/nonexistent-data-folder"])


@st.composite
def damage(draw):
    name = draw(st.sampled_from(FILES))
    kind = draw(st.sampled_from(["truncate", "insert", "replace-field", "drop-newline"]))
    return name, kind, draw(st.floats(0, 1)), draw(st.binary(min_size=1, max_size=12))


def apply(path: Path, kind: str, where: float, junk: bytes) -> None:
    data = path.read_bytes()
    at = int(where * len(data))
    if kind == "truncate":
        data = data[:at]
    elif kind == "insert":
        data = data[:at] + junk + data[at:]
    elif kind == "replace-field":
        fields = data.split(b",")
        i = int(where * (len(fields) - 1))
        fields[i] = junk.replace(b"\n", b"")
        data = b",".join(fields)
    else:
        data = data.rstrip(b"\n")
    path.write_bytes(data)


def lines_everywhere(store: Path) -> set[str]:
    found = set()
    for path in [store / "runs.csv", store / "epochs.csv", *sorted((store / "quarantine").glob("*"))]:
        if path.is_file():
            found.update(path.read_bytes().decode("utf-8", "replace").split("\n"))
    return found


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damage())
def test_damaged_files_give_one_line_and_lose_no_intact_row(hit):
    name, kind, where, junk = hit
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp) / "s", [row("aaaa", "r1", "2026-01-01"), row("bbbb", "r2", "2026-01-02"),
                                             row("cccc", "r3", "2026-01-03")])
        apply(store / name, kind, where, junk)
        intact = {line for f in ("runs.csv", "epochs.csv") if (store / f).exists()
                  for line in (store / f).read_bytes().decode("utf-8", "replace").split("\n")[1:-1]}
        for args in COMMANDS:
            result = CliRunner().invoke(main, [*args, "--store", str(store)])
            assert "Traceback" not in result.output, (args, result.output)
            if result.exit_code != 0:
                assert isinstance(result.exception, SystemExit), (args, result.exception)
                errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
                # `store check` lists the problems it found and exits 1, like a linter; all else is one line
                assert len(errors) == 1 or (args[:2] == ["store", "check"] and not errors), (args, result.output)
        assert intact <= lines_everywhere(store), intact - lines_everywhere(store)
