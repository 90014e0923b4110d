"""`bench run --workers N`: workers share one store through its claims, every cell is stored once,
rows say how many cells ran beside them and the report keeps their timings out of speed
comparisons; the threads of a worker that runs out of work go to those still computing, between
training steps, and rows and curves record the threads each epoch had; a killed worker loses only
its running cell, which the next run computes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from click.testing import CliRunner

from bench import estimate, plan, presets, runner, train, workers
from bench.cli import main
from bench.report import cells
from bench.report.load import read
from bench.spec import RunSpec

GRID = """
[[grid]]
kind = "svm"
dataset = ["mnist", "fashion"]
kernel = {kernels}
degree = 2
n_train = 600
subset = 600
test_size = 300

[[grid]]
model = "resnet20"
dataset = "mnist"
optimizer = "adam"
lr = {lr}
epochs = {epochs}
batch_size = 32
subset = 300
test_size = 200
"""
# benchmarks/workers.py's `single`: one ResNet run (4 cells) beside SVMs of about 2 s each
SINGLE = """
[[grid]]
model = "resnet18"
dataset = "mnist"
optimizer = "adam"
batch_size = 32
epochs = [1, 2]
pin_memory = [true, false]
subset = 4900
test_size = 2000

[[grid]]
kind = "svm"
dataset = "mnist"
kernel = "rbf"
C = {C}
gamma = "scale"
n_train = 3000
subset = 4900
test_size = 2000
"""
# 8 cells: 4 SVMs, then 2 ResNet groups long enough that a spawned worker, which starts seconds
# after the parent (itself the first worker) began, still finds one to compute beside it
SIDE_BY_SIDE = GRID.format(kernels='["rbf", "poly"]', lr="[1e-3, 3e-3]", epochs="[1, 10]")
ONE_LONG_GROUP = GRID.format(kernels='"rbf"', lr="1e-3", epochs="[1, 10]")  # 2 SVMs, then 1 ResNet group
TWO_LONG_GROUPS = GRID.format(kernels='"rbf"', lr="[1e-3, 3e-3]", epochs="[1, 10]")  # 2 SVMs, 2 ResNet groups


def _args(preset: Path, store: Path, data: Path) -> list[str]:
    return ["run", "--preset", str(preset), "--store", str(store), "--data-dir", str(data), "--quiet",
            "--artifacts", str(store.parent / "artifacts")]


def test_two_workers_store_every_cell_once_and_mark_their_rows(real_data, tmp_path, monkeypatch):
    preset, store = tmp_path / "grid.toml", tmp_path / "results"
    preset.write_text(SIDE_BY_SIDE)
    monkeypatch.setenv("BENCH_THREADS", "2")
    result = CliRunner().invoke(main, [*_args(preset, store, real_data), "--workers", "auto"])
    assert result.exit_code == 0, result.output
    assert "2 workers (auto)" in result.output  # one per thread of BENCH_THREADS=2
    runs = read(store).runs
    assert {(r["workers"], r["workers_auto"]) for r in runs} == {(2, True)}
    ids = [r["run_id"] for r in runs]
    assert len(ids) == len(set(ids)) == 8  # 4 SVMs and 2 ResNet groups of 2 cells: each once
    assert {r["status"] for r in runs} == {"done"} and not list((store / "claims").iterdir())
    assert {r["threads"] for r in runs if r["kind"] == "resnet"} <= {1, 2}  # BENCH_THREADS split, then handed on
    _assert_rows_record_their_epochs_threads(read(store))
    shared = [r for r in runs if r["concurrency"] > 1]
    assert shared, [r["concurrency"] for r in runs]  # two workers computed side by side
    assert not any(cells.timed(r) for r in shared)  # never in a speed comparison
    alone = CliRunner().invoke(main, [*_args(preset, tmp_path / "alone", real_data), "--models", "resnet20",
                                      "--datasets", "mnist", "--kernels", "rbf"])
    assert alone.exit_code == 0, alone.output
    alone_rows = read(tmp_path / "alone").runs
    assert {(r["concurrency"], r["workers"], r["workers_auto"]) for r in alone_rows} == {(1, 1, False)}


def _assert_rows_record_their_epochs_threads(study) -> None:
    """Every ResNet row's threads are the fewest of its epochs' and at least the most (an epoch
    records the fewest its steps had), each within the budget, and a worker's only ever grow."""
    for run in study.runs:
        if run["kind"] == "svm":
            assert run["threads"] == run["threads_max"] == 1
            continue
        counts = [c["threads"] for c in study.curves[run["record_id"]]]
        assert len(counts) == run["epochs"] and counts == sorted(counts) and set(counts) <= {1, 2}, counts
        assert run["threads"] == min(counts) and max(counts) <= run["threads_max"] <= 2


def test_the_threads_are_shared_by_the_workers_still_computing():
    assert [workers.share(2, [True, True], me) for me in (0, 1)] == [1, 1]
    assert workers.share(2, [True, False], 0) == workers.share(2, [False, True], 1) == 2  # the other left
    assert [workers.share(3, [True, True], me) for me in (0, 1)] == [2, 1]  # no thread left unused
    assert [workers.share(5, [True] * 3, me) for me in range(3)] == [2, 2, 1]
    assert [workers.share(5, [True, False, True], me) for me in (0, 2)] == [3, 2]  # shares only grow
    assert [workers.share(2, [True] * 3, me) for me in range(3)] == [1, 1, 1]  # more workers than threads
    assert workers.threads_each(2) >= 1


def test_a_worker_takes_over_the_threads_of_one_that_ran_out_of_work(tiny_data, tmp_path, monkeypatch):
    """This worker trains a ResNet group (1 and 3 epochs from one run) beside another worker, which
    finds nothing left to start after this one's first training step: from the next step on this one
    trains on both threads. Counted, not timed: the curves and rows record each epoch's threads."""
    from bench.store import Store

    monkeypatch.setenv("BENCH_THREADS", "2")
    active = [True, True]  # this worker (0) and the other one
    batches = train.Batches.__iter__

    def batches_while_the_other_runs_out_of_work(self):
        for i, batch in enumerate(batches(self)):
            yield batch
            active[1] = False if i == 0 else active[1]  # after this worker's first training step

    monkeypatch.setattr(train.Batches, "__iter__", batches_while_the_other_runs_out_of_work)
    spec = RunSpec(model="resnet20", epochs=3, batch_size=32, subset=0)
    group = plan.cells_of([spec.replace(epochs=1), spec])
    before, events = torch.get_num_threads(), []
    try:
        runner.execute(group, Store(tmp_path / "results", create=True), tiny_data, None, runner.Settings(preset="test"),
                       on_event=events.append, share=lambda: workers.share(2, active, 0))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    study = read(tmp_path / "results")
    by_epochs = {r["epochs"]: r for r in study.runs}
    assert [c["threads"] for c in study.curves[by_epochs[3]["record_id"]]] == [1, 2, 2]  # each epoch's fewest
    assert (by_epochs[3]["threads"], by_epochs[3]["threads_max"]) == (1, 2)
    assert (by_epochs[1]["threads"], by_epochs[1]["threads_max"]) == (1, 2)  # its one epoch: 1 step, then 2
    assert not any(cells.timed(r) for r in study.runs if r["threads"] != r["threads_max"])
    # progress heard the shared run start, then each of its epochs, then both cells as they were stored
    assert [(type(e).__name__, getattr(e, "epoch", None)) for e in events] == [
        ("EpochDone", 0), ("EpochDone", 1), ("EpochDone", 2), ("EpochDone", 3), ("Outcome", None), ("Outcome", None)]


def test_the_last_long_run_gets_the_threads_of_the_workers_that_finished(real_data, tmp_path, monkeypatch):
    """Two one-thread workers (BENCH_THREADS=2) fit two SVMs, then one of them trains a 10-epoch
    ResNet group while the other finds nothing left and leaves: the group ends on both threads."""
    preset, store = tmp_path / "grid.toml", tmp_path / "results"
    preset.write_text(ONE_LONG_GROUP)
    monkeypatch.setenv("BENCH_THREADS", "2")
    result = CliRunner().invoke(main, [*_args(preset, store, real_data), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "2 workers" in result.output
    study = read(store)
    _assert_rows_record_their_epochs_threads(study)
    longest = max(study.runs, key=lambda r: r["epochs"] if r["kind"] == "resnet" else 0)
    assert study.curves[longest["record_id"]][-1]["threads"] == longest["threads_max"] == 2


def test_auto_takes_one_worker_per_thread_on_the_cpu_never_more_than_runs_to_share_and_one_on_cuda(monkeypatch):
    def cells(device: str = "cpu", **fields):
        specs = presets.load("q1b").specs({"device": device, **fields}, 1)
        return plan.cells_of(specs)

    monkeypatch.setenv("BENCH_THREADS", "4")
    assert workers.choose("auto", cells()) == (4, True)  # 48 SVMs
    assert workers.choose("auto", cells(kernel=["rbf"], C=[1.0], gamma=["scale"], dataset=["mnist"])) == (1, True)
    assert workers.choose("auto", cells(kernel=["rbf"], C=[1.0], dataset=["mnist"])) == (2, True)
    assert workers.choose("3", cells()) == (3, False)
    assert workers.choose("auto", plan.cells_of(presets.load("q2").specs({"device": "cuda"}, 1))) \
        == (1, True)  # one process has the GPU to itself
    monkeypatch.setenv("BENCH_THREADS", "64")
    assert workers.choose("auto", cells()) == (workers.AUTO_MOST, True)


def test_auto_starts_no_worker_for_less_work_than_its_start(monkeypatch, tmp_path):
    """Issue 34's grid, one ResNet training run beside one SVM of about 3 s, gets one process with
    every thread; SVMs too short for a worker each are pooled, one worker per start-up's worth."""
    monkeypatch.setenv("BENCH_THREADS", "2")

    def grid(svm_c: str) -> list[plan.Cell]:
        path = tmp_path / "grid.toml"
        path.write_text(SINGLE.format(C=svm_c))
        return plan.cells_of(presets.load(str(path)).specs())

    single, many = grid("1.0"), grid("[1.0, 2.0, 4.0, 8.0]")
    svm_seconds = [estimate.svm_seconds(c.spec) for c in many if c.spec.kind == "svm"]
    assert len(svm_seconds) == 4 and max(svm_seconds) < workers.WORKER_START_S
    assert workers.choose("auto", single) == (1, True)
    assert workers.worth_a_worker(many) == 1 + int(sum(svm_seconds) // workers.WORKER_START_S) >= 2
    assert workers.choose("auto", many) == (2, True)
    assert workers.choose("2", single) == (2, False)  # the user's override stands


def test_a_bad_worker_count_is_one_line(tmp_path):
    for bad in ("0", "two", "-1", str(workers.MAX_WORKERS + 1)):
        result = CliRunner().invoke(main, ["run", "--preset", "smoke", "--store", str(tmp_path), "--workers", bad])
        assert result.exit_code != 0 and "auto or a number" in result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output




def _workers_alive(parent: int) -> set[int]:
    """The parent's worker processes (spawned interpreters), read from /proc."""
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return set()
    alive = set()
    for pid in map(int, children):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                alive.add(pid)
        except OSError:
            pass
    return alive


def test_a_killed_worker_loses_only_its_cell_and_the_next_run_computes_it(real_data, tmp_path):
    """The parent (the first worker) and one spawned worker share two SVMs and two ResNet groups; the
    spawned one is killed while it trains a group: only that group is lost (its claim dies with it, so
    the parent, which reaches that group after its own, may compute it in the same run), the run says
    so in one line, and the next run computes whatever is missing."""
    preset, store = tmp_path / "grid.toml", tmp_path / "results"
    preset.write_text(TWO_LONG_GROUPS)
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", *_args(preset, store, real_data), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "BENCH_THREADS": "2"})
    victim, deadline = None, time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        owners = []  # one entry per claimed cell: a ResNet group's worker holds two
        for claim in (store / "claims").glob("*") if (store / "claims").is_dir() else ():
            try:
                owners.append(int(claim.read_text().split()[1]))
            except (OSError, IndexError, ValueError):
                pass
        victim = next((pid for pid in _workers_alive(proc.pid) if owners.count(pid) == 2), None)
        time.sleep(0.05)
    assert victim is not None, "never saw the spawned worker train a ResNet group"
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert "exited with code -9" in err and "run the same command again" in err
    before = [r["run_id"] for r in read(store).runs]
    assert len(before) == len(set(before)) in (4, 6)  # the SVMs and the parent's group; the other if the parent took it
    again = CliRunner().invoke(main, _args(preset, store, real_data))
    assert again.exit_code == 0, again.output
    assert f"{len(before)} already stored, {6 - len(before)} to run" in again.output
    ids = [r["run_id"] for r in read(store).runs]
    assert len(ids) == len(set(ids)) == 6 and set(before) <= set(ids)


def test_stopping_the_parent_stops_every_worker(real_data, tmp_path):
    """`kill` (or `timeout`) on `bench run --workers 2` stops its workers too, in one line; nothing
    computes for nobody, and the next run finishes the grid."""
    preset, store = tmp_path / "grid.toml", tmp_path / "results"
    preset.write_text(ONE_LONG_GROUP)
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", *_args(preset, store, real_data), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "BENCH_THREADS": "2"})
    workers, deadline = set(), time.monotonic() + 120
    while not workers and time.monotonic() < deadline and proc.poll() is None:
        workers = _workers_alive(proc.pid)
        time.sleep(0.05)
    assert workers, "no worker started"
    time.sleep(3)  # inside their first groups
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert "interrupted" in err
    for pid in workers:  # gone with their parent, not computing on
        assert not Path(f"/proc/{pid}").exists() or b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    again = CliRunner().invoke(main, _args(preset, store, real_data))
    assert again.exit_code == 0, again.output
    ids = [r["run_id"] for r in read(store).runs]
    assert len(ids) == len(set(ids)) == 4


def test_a_worker_stays_while_its_own_parent_lives_even_when_that_parent_is_pid_1():
    """In a container bench is pid 1: a worker must not take "my parent is pid 1" for "my parent died"."""
    def check(parent: str) -> int:
        code = f"import os; from bench.workers import _die_with_parent; _die_with_parent({parent})"
        return subprocess.run([sys.executable, "-c", code], timeout=60).returncode

    assert check("os.getppid()") == 0  # its parent alive, whatever its pid
    assert check("os.getppid() + 1") == 130  # the parent it was started by is gone
