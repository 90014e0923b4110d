"""`bench store check` finds torn lines, duplicates, bad values, unknown columns and schema mismatches;
`--repair` moves exactly the bad lines to quarantine/ and keeps every good line byte for byte."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.migrations import SCHEMA_VERSION
from bench.store import Store


def row(i: int, **extra) -> dict:
    return {"run_id": f"run{i}", "record_id": f"rec{i}", "status": "done", "label": "resnet20", "lr": 0.01 * i,
            "epochs": 2, "test_acc": 0.5, "confusion": [[i, 1], [2, 3]], "message": f'note {i}, "quoted"',
            "finished_at": f"2026-01-0{i}", **extra}


@pytest.fixture
def store(tmp_path) -> Path:
    s = Store(tmp_path / "results", create=True)
    for i in range(1, 5):
        s.append(row(i), [{"run_id": f"run{i}", "record_id": f"rec{i}", "epoch": e, "val_acc": 0.1 * e}
                          for e in (1, 2)])
    return s.root


def check(store: Path, *args: str):
    return CliRunner().invoke(main, ["store", "check", "--store", str(store), *args])


def quarantined(store: Path) -> list[str]:
    return [line for p in sorted((store / "quarantine").iterdir()) for line in p.read_text().splitlines()
            if not line.startswith("# ")]


def test_a_sound_store_is_sound(store):
    result = check(store)
    assert result.exit_code == 0 and result.output.strip() == "store is sound"


def test_finds_and_repairs_torn_duplicate_short_and_bad_value_lines(store):
    runs = store / "runs.csv"
    lines = runs.read_text().splitlines()
    header, good = lines[0], lines[1:]
    duplicate = good[1]
    short = "run9,rec9,done"
    bad_value = good[2].replace(",0.03,", ",three percent,")
    torn = good[3][:50]
    runs.write_text("\n".join([header, good[0], good[1], duplicate, short, bad_value, good[3]]) + "\n" + torn)
    curves = store / "epochs.csv"
    curve_lines = curves.read_text().splitlines()
    curves.write_text("\n".join(curve_lines + [curve_lines[1]]) + "\n")  # a duplicated curve row

    result = check(store)
    assert result.exit_code == 1
    out = result.output
    assert "runs.csv: duplicate row for rec2" in out and "runs.csv:5: 3 fields, expected" in out
    assert "runs.csv:6: column lr: 'three percent' is not a number" in out
    assert "runs.csv:8: torn last line" in out and "epochs.csv: duplicate row for rec1" in out
    with pytest.raises(Exception, match="bench store check"):
        Store(store).runs()  # nothing reads a damaged store silently

    before = runs.read_text() + "\n" + curves.read_text()  # runs.csv ends in its torn line
    repaired = check(store, "--repair")
    assert repaired.exit_code == 0 and "repaired" in repaired.output
    assert runs.read_text() == "\n".join([header, good[0], good[1], good[3]]) + "\n"  # good lines, byte for byte
    assert curves.read_text() == "\n".join(curve_lines) + "\n"
    removed = quarantined(store)
    assert sorted(removed) == sorted([short, bad_value, torn, duplicate, curve_lines[1]])
    # nothing vanished: every line that was in the files is still in them or in quarantine/
    kept = (runs.read_text() + curves.read_text()).splitlines()
    assert sorted(before.splitlines()) == sorted(kept + removed)
    assert check(store).output.strip() == "store is sound"
    assert len(Store(store).runs()) == 3


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda h: h + ",gpu_temperature", "unknown gpu_temperature"),
    (lambda h: h.replace("status,", ""), "missing status"),
    (lambda h: h.replace("run_id,record_id", "record_id,run_id"), "columns out of order"),
], ids=["unknown-column", "missing-column", "reordered"])
def test_header_mismatch_is_reported_and_never_rewritten(store, edit, expected):
    runs = store / "runs.csv"
    header, rest = runs.read_text().split("\n", 1)
    runs.write_text(edit(header) + "\n" + rest)
    damaged = runs.read_bytes()
    result = check(store)
    assert result.exit_code == 1 and f"runs.csv: header does not match schema {SCHEMA_VERSION}" in result.output
    assert expected in result.output
    repair = check(store, "--repair")
    assert repair.exit_code == 1 and "not repaired" in repair.output and "1 problems remain" in repair.output
    assert runs.read_bytes() == damaged and not (store / "quarantine").exists()


def test_schema_mismatch_of_the_store_is_one_line(store):
    (store / "manifest.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    result = check(store, "--repair")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "newer than this bench understands" in result.output


def test_a_torn_header_is_quarantined(tmp_path):
    Store(tmp_path, create=True)
    (tmp_path / "runs.csv").write_text("run_id,record_id,sta")
    assert "runs.csv:1: torn header" in check(tmp_path).output
    assert check(tmp_path, "--repair").exit_code == 0
    assert quarantined(tmp_path) == ["run_id,record_id,sta"]
    assert check(tmp_path).output.strip() == "store is sound"


@pytest.mark.parametrize("command", [["ls", "--store", "{store}"],
                                     ["report", "--store", "{store}", "--out", "{tmp}/site", "--no-pdf"],
                                     ["store", "merge", "{store}", "--into", "{tmp}/merged"]])
def test_commands_that_read_say_when_they_leave_out_a_torn_line(store, tmp_path, command):
    runs = store / "runs.csv"
    runs.write_bytes(runs.read_bytes() + b"run9,rec9,do")  # a write cut short
    before = runs.read_bytes()
    result = CliRunner().invoke(main, [a.format(store=store, tmp=tmp_path) for a in command])
    assert result.exit_code == 0, result.output
    assert f"note: {runs} ends with a torn line" in result.output
    assert runs.read_bytes() == before  # reading never repairs behind the user's back
    assert "run9" not in result.stdout  # ls: the torn row is not listed
    for written in (tmp_path / "site" / "data" / "runs.csv", tmp_path / "merged" / "runs.csv"):
        assert not written.exists() or b"run9" not in written.read_bytes()  # report, merge: nor carried on


@pytest.mark.parametrize(("column", "value"), [("test_acc", "7.5"), ("test_acc", "-inf"), ("val_acc", "-0.1"),
                                                ("train_time_s", "-3"), ("epochs", "0"), ("test_f1", "nan")])
def test_an_impossible_value_is_a_bad_line_and_never_reaches_the_report(store, tmp_path, column, value):
    runs = store / "runs.csv"
    with runs.open(newline="") as f:
        rows = list(csv.reader(f))
    rows[2][rows[0].index(column)] = value
    with runs.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    result = check(store)
    assert result.exit_code == 1 and f"runs.csv:3: column {column}" in result.output
    report = CliRunner().invoke(main, ["report", "--store", str(store), "--out", str(tmp_path / "site"), "--no-pdf"])
    assert report.exit_code == 1 and "bench store check" in report.output and "Traceback" not in report.output
    assert check(store, "--repair").exit_code == 0 and check(store).exit_code == 0
    assert len(Store(store).runs()) == 3 and any(value in line for line in quarantined(store))


def test_a_whole_last_line_without_its_newline_is_kept(store, tmp_path):
    """As editors save a hand edit: every field there and valid, only the newline missing."""
    Store(store).append(row(5, finished_at="2026-01-05T10:00:00+00:00"), [])
    runs = store / "runs.csv"
    runs.write_bytes(runs.read_bytes().rstrip(b"\n"))
    assert check(store).exit_code == 0 and len(Store(store).runs()) == 5
    merged = CliRunner().invoke(main, ["store", "merge", str(store), "--into", str(tmp_path / "into")])
    assert merged.exit_code == 0 and "torn" not in merged.output, merged.output
    assert len(Store(tmp_path / "into").runs()) == 5 and not (tmp_path / "into" / "quarantine").exists()
    Store(store).recover()  # the next run's recovery gives it its newline, quarantines nothing
    assert runs.read_bytes().endswith(b"\n") and not (store / "quarantine").exists() and len(Store(store).runs()) == 5


@pytest.mark.parametrize("cut", ["2026-01-05T10:00", "2026-01-05", ""])
def test_a_last_line_cut_inside_its_timestamp_is_torn(store, cut):
    Store(store).append(row(5, finished_at="2026-01-05T10:00:00+00:00"), [])
    runs = store / "runs.csv"
    text = runs.read_text()
    runs.write_text(text[: text.rindex("2026-01-05T10:00:00+00:00")] + cut)
    assert check(store).exit_code == 1 and "torn last line" in check(store).output
