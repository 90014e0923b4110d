"""The committed store as the study stands: it migrates to today's schema without losing a row, its
cells are done under today's identity, and `bench.load` reads it typed, with the presets' counts."""

from __future__ import annotations

from click.testing import CliRunner
from committed import Q1A_DONE_AT_LEAST, RESULTS, preset_cells

import bench
from bench import maintenance
from bench.cli import main
from bench.csvfile import read_table
from bench.migrations import SCHEMA_VERSION
from bench.schema import FILES
from bench.store import Store


def _plan(store, *args: str) -> list[list[str]]:
    """`bench plan ... --no-estimate` on `store`: one [run_id, state, device, ...] per cell."""
    result = CliRunner().invoke(main, ["plan", *args, "--no-estimate", "--store", str(store)])
    assert result.exit_code == 0, result.output
    return [line.split() for line in result.stdout.splitlines()[:-1]]


def test_the_committed_store_migrates_with_the_threads_each_row_had(committed_store):
    """Schema 7 records the threads of every epoch and the most a row had: rows from before trained
    at one thread count, their row's, so a copy of results/ migrates to exactly that; rows computed
    since by workers that took over a finished one's threads have more at the end than at the start.
    Schema 8 stores what each row's preset declared: the study's presets are q1a and q1b (grids) and
    q2 (devices), none of them pairing attempts by host."""
    store = Store(committed_store)
    runs, curves = store.table("runs.csv").rows, store.table("epochs.csv").rows
    assert store.version == SCHEMA_VERSION == 8
    assert {(r["preset"], r["role"], r["same_host"]) for r in runs} == {
        ("q1a", "grid", "false"), ("q1b", "grid", "false"), ("q2", "devices", "false")}
    assert len(runs) == len(read_table(RESULTS / "runs.csv", FILES["runs.csv"]).rows)
    assert len(curves) == len(read_table(RESULTS / "epochs.csv", FILES["epochs.csv"]).rows) > 0
    # every row its fewest and most threads (a row from before schema 7 had one count: both are it),
    # every epoch's fewest between them (a worker's share grows as others finish, never shrinks)
    rows = {r["record_id"]: r for r in runs}
    assert all(r["threads"] != "" and int(r["threads"]) <= int(r["threads_max"]) for r in runs)
    assert all(int(rows[c["record_id"]]["threads"]) <= int(c["threads"]) <= int(rows[c["record_id"]]["threads_max"])
               for c in curves)
    assert not maintenance.check(committed_store)


def test_the_committed_store_plans_as_done_here(committed_store):
    """Every cell of the committed study is found under today's identity (on any CPU), by the presets
    as they stand: `bench plan --preset q1a` with no options counts the stored cells as done."""
    q1a = _plan(committed_store, "--preset", "q1a")
    stored = set(Store(committed_store).runs()["run_id"])
    assert len(q1a) == len(preset_cells("q1a")) and sum(line[1] == "done" for line in q1a) >= Q1A_DONE_AT_LEAST
    assert {line[1] for line in q1a if line[0] in stored} == {"done"}
    for args in (("--preset", "q1a", "--models", "resnet18"), ("--preset", "q1b"),
                 ("--preset", "q2", "--device", "cpu")):
        assert {line[1] for line in _plan(committed_store, *args)} == {"done"}, args
    q2 = _plan(committed_store, "--preset", "q2")  # the study's q2 has both devices' cells: CUDA's are to do
    assert {(line[2], line[1]) for line in q2} == {("cpu", "done"), ("cuda", "todo")}
    assert len(q2) == len(preset_cells("q2"))
    # another scale is another plan, visible as such: nothing of it is done
    assert {line[1] for line in _plan(committed_store, "--preset", "q1b", "--test-size", "2000")} == {"todo"}
    last = CliRunner().invoke(main, ["plan", "--preset", "q1b", "--test-size", "2000", "--no-estimate", "--store",
                                     str(committed_store)]).stdout.splitlines()[-1]
    n = len(preset_cells("q1b"))
    assert last == (f"{n} cells, 0 done, {n} to run; at another scale than preset q1b states: "
                    "test_size 2000 (the preset: 0)")


def test_every_committed_row_is_at_full_scale_from_a_clean_commit(committed_store):
    """The study's rows as #30 asks of them: every one from a commit with nothing uncommitted,
    evaluated on the one 14,000-image test split of its dataset and trained on all 49,000 images
    (q1b's SVMs on the 10,000 its preset states)."""
    runs = Store(committed_store).table("runs.csv").rows
    assert runs and all(r["git_dirty"] == "false" for r in runs)
    assert {(r["preset"], r["subset"], r["n_test"], r["n_train"]) for r in runs} == {
        ("q1a", "0", "14000", ""), ("q1b", "0", "14000", "10000"), ("q2", "0", "14000", "")}


def test_load_reads_the_committed_study_with_its_presets_counts(committed_store):
    study = bench.load(committed_store)
    runs = study.runs
    q1a_cells = len(preset_cells("q1a"))
    assert len(runs) >= q1a_cells and runs["run_id"].is_unique
    assert set(runs["device"]) == {"cpu"}  # an SVM computes on the CPU, not on <NA>
    state = study.state.set_index("preset")
    assert list(state.index) == ["q1a", "q1b", "q2"]
    q1a = state.loc["q1a"]  # the campaign goes on: at least the first half, never more than planned
    assert q1a["cells"] == q1a_cells and Q1A_DONE_AT_LEAST <= q1a["done"] == q1a_cells - q1a["todo"]
    assert state.loc["q1b", "todo"] == 0
    assert state.loc["q1a", "scale"].startswith("all 49,000 training images, all 14,000 test images")
