"""`bench store drop` takes exactly the attempts that match every --where out of a store, with their
curves and the `bench time` rows of cells left without an attempt; kept lines stay byte for byte,
the files before go to backup/, and a mistake changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.store import Store


def _run(i: int, cell: str, preset: str, test_size: int) -> dict:
    return {"run_id": cell, "record_id": f"rec{i}", "status": "done", "preset": preset, "label": "resnet18",
            "test_size": test_size, "test_acc": 0.5 + i / 100, "finished_at": f"2026-01-0{i}T00:00:00Z"}


@pytest.fixture
def store(tmp_path) -> Path:
    s = Store(tmp_path / "results", create=True)
    attempts = [(1, "small-a", "q1a", 2000), (2, "small-b", "q2", 2000), (3, "full-a", "q1a", 0),
                (4, "mixed", "q1a", 2000), (5, "mixed", "q1a", 0), (6, "svm", "q1b", 2000)]
    for i, cell, preset, test_size in attempts:
        s.append(_run(i, cell, preset, test_size),
                 [{"run_id": cell, "record_id": f"rec{i}", "epoch": e, "val_acc": 0.1 * e} for e in (1, 2)])
    s.append_timings([{"run_id": cell, "record_id": f"time-{cell}", "images_per_s": 100.0}
                      for cell in ("small-a", "small-b", "full-a", "mixed")])
    return s.root


def drop(store: Path, *args: str):
    return CliRunner().invoke(main, ["store", "drop", "--store", str(store), *args])


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_drops_the_matching_attempts_with_their_curves_and_timings(store):
    before = {name: _lines(store / name) for name in ("runs.csv", "epochs.csv", "timings.csv")}
    result = drop(store, "--where", "preset=q1a,q2", "--where", "test_size=2000")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("dropped 3 attempts (2 cells left with none; 6 curve rows, 2 `bench time` rows)")

    runs = Store(store).runs(key=lambda row: row["record_id"])
    assert sorted(runs["record_id"]) == ["rec3", "rec5", "rec6"]  # q1b's test_size 2000 did not match preset
    assert sorted(set(Store(store).epochs()["record_id"])) == ["rec3", "rec5", "rec6"]
    # "mixed" keeps an attempt, so its timing stays; the two cells with no attempt left lose theirs
    assert sorted(Store(store).timings()["run_id"]) == ["full-a", "mixed"]
    for name, lines in before.items():  # what is kept is kept byte for byte, in its order
        kept = _lines(store / name)
        assert kept[0] == lines[0] and kept[1:] == [line for line in lines[1:] if line in kept[1:]]
    (backup,) = (store / "backup").iterdir()
    assert {name: _lines(backup / name) for name in before} == before


def test_a_dry_run_changes_nothing(store):
    before = {p.name: p.read_bytes() for p in store.iterdir() if p.is_file()}
    result = drop(store, "--where", "test_size=2000", "--dry-run")
    assert result.exit_code == 0
    assert result.output.strip() == "would drop 4 attempts (3 cells left with none; 8 curve rows, 2 `bench time` rows)"
    assert {p.name: p.read_bytes() for p in store.iterdir() if p.is_file()} == before
    assert not (store / "backup").exists()


@pytest.mark.parametrize("args, message", [
    ((), "--where: give at least one COLUMN=VALUE[,VALUE]; nothing was dropped"),
    (("--where", "colour=red"), "--where: unknown column 'colour'"),
    (("--where", "test_size"), "--where 'test_size': give COLUMN=VALUE[,VALUE...], e.g. test_size=2000"),
])
def test_a_bad_filter_is_one_line_and_changes_nothing(store, args, message):
    before = (store / "runs.csv").read_bytes()
    result = drop(store, *args)
    assert result.exit_code == 1 and result.output.strip() == f"Error: {message}"
    assert (store / "runs.csv").read_bytes() == before


def test_nothing_matching_leaves_the_store_as_it_was(store):
    before = (store / "runs.csv").read_bytes()
    result = drop(store, "--where", "preset=q9")
    assert result.exit_code == 0 and "nothing was dropped" in result.output
    assert (store / "runs.csv").read_bytes() == before and not (store / "backup").exists()


def test_a_store_with_a_bad_line_is_not_rewritten(store):
    runs = store / "runs.csv"
    runs.write_text(runs.read_text() + "torn,line\n")
    before = runs.read_bytes()
    result = drop(store, "--where", "test_size=2000")
    assert result.exit_code == 1 and "bench store check --repair" in result.output
    assert runs.read_bytes() == before
