"""Fault injection: SIGKILL at random moments and resume, Ctrl-C, diverging and crashing cells.

Killing needs real processes. Starting `bench` costs several seconds of imports on a small machine,
so the SIGKILL test forks each run from a zygote that imported bench once: every kill still hits
a real process running the real CLI on the real data (tiny subsets), with nothing patched."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from bench import maintenance, models
from bench.cli import main
from bench.csvfile import read_table
from bench.options import ENVIRONMENT_NOTICE
from bench.schema import FILES
from bench.store import Store

GRID = """
[[grid]]  # 4 groups of 2 cells (epochs 1 and 2 share one run)
kind = "resnet"
dataset = "mnist"
model = "resnet20"
optimizer = ["adam", "sgd"]
lr = [1e-3, 1e-2]
batch_size = 32
epochs = [1, 2]
subset = 100
test_size = 100

[[grid]]
kind = "svm"
dataset = "mnist"
kernel = ["rbf", "poly"]
subset = 100
test_size = 100
n_train = 50
"""
N_CELLS = 10
KILLS = 22
SEED = 20260601

ZYGOTE = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from bench import data, runner  # noqa: F401 - imported once, before any fork
    from bench.cli import main

    data.load("mnist", Path(os.environ["BENCH_DATA_DIR"]))
    os.sched_setaffinity(0, {ONE_CPU})
    for line in sys.stdin:
        args, log = json.loads(line)
        pid = os.fork()
        if pid == 0:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            try:
                main(args)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(status, flush=True)
""")


# Subprocesses run on one core, as `taskset -c N bench run` would: on a small shared machine two
# torch threads per process fight the other tests' threads and make every step many times slower.
ONE_CPU = max(os.sched_getaffinity(0))


def one_core() -> None:
    """One CPU; and Ctrl-C as a terminal delivers it, even where the tests themselves run as a background
    job (`make test &`), which starts every child with SIGINT ignored."""
    os.sched_setaffinity(0, {ONE_CPU})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """In-process runs too: the runner sizes torch's thread pool from this."""
    monkeypatch.setenv("BENCH_THREADS", "1")


def assert_store_sound(store: Path) -> dict[str, int]:
    """The store parses; at most a torn tail (quarantined by the next run) is wrong; no run twice.
    Returns how many rows each run id has."""
    for name, columns in FILES.items():
        table = read_table(store / name, columns)
        assert all(why.startswith("torn last line") for _, why, _ in table.bad_lines), table.bad_lines
    problems = maintenance.check(store)
    assert all("torn last line" in p for p in problems), problems
    rows = read_table(store / "runs.csv", FILES["runs.csv"]).rows
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["run_id"]] = counts.get(row["run_id"], 0) + 1
        assert row["status"] == "done", row["message"]
    assert all(n == 1 for n in counts.values()), counts
    curves = Store(store).epochs()
    runs = Store(store).runs()
    for _, run in runs[runs["kind"] == "resnet"].iterrows():
        assert (curves["record_id"] == run["record_id"]).sum() == run["epochs"]
    return counts


def bench(*args: str, env=None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bench.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=one_core, **kwargs)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_loses_nothing(real_data, tmp_path):
    """Run the grid, SIGKILL it at a random moment, check the store, resume; when a grid completes,
    start another in a fresh store, until KILLS kills have landed on a running process."""
    preset = tmp_path / "grid.toml"
    preset.write_text(GRID)
    env = {**os.environ, "BENCH_DATA_DIR": str(real_data), "PYTHONUNBUFFERED": "1"}
    zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE.replace("ONE_CPU", str(ONE_CPU))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    rng = random.Random(SEED)
    killed = completed = lost = 0
    stored: set[str] = set()

    def args(store: Path) -> list[str]:
        return ["run", "--preset", str(preset), "--store", str(store), "--data-dir", str(real_data),
                "--artifacts", str(tmp_path / "artifacts"), "--quiet"]

    store = tmp_path / "results0"
    try:
        for attempt in range(10 * KILLS):
            if killed >= KILLS:
                break
            log = tmp_path / f"run{attempt}.log"
            zygote.stdin.write(json.dumps([args(store), str(log)]) + "\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            ready, _, _ = select.select([zygote.stdout], [], [], rng.uniform(0.05, 2.5))
            if not ready:
                os.kill(pid, signal.SIGKILL)  # may land just after a normal exit: then it did not count
            code = os.waitstatus_to_exitcode(int(zygote.stdout.readline()))
            assert code in (0, -signal.SIGKILL), log.read_text()  # killed or finished, never an error exit
            killed += code == -signal.SIGKILL
            ready = code == 0
            if (store / "manifest.json").exists():
                counts = assert_store_sound(store)
                lost += len(stored - set(counts))
                assert stored <= set(counts), f"finished runs lost: {stored - set(counts)}"
                stored = set(counts)
            if ready and len(stored) == N_CELLS:
                completed += 1
                store, stored = tmp_path / f"results{completed}", set()
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=60)
    assert killed >= KILLS

    resume = bench(*args(store), env=env)  # the real entry point finishes the last grid
    _, err = resume.communicate(timeout=300)
    assert resume.returncode == 0, err
    counts = assert_store_sound(store)
    assert len(counts) == N_CELLS and stored <= set(counts)
    assert not list((store / "claims").iterdir())
    print(f"{killed} SIGKILLs survived over {completed + 1} grids, {lost} finished runs lost")


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_records_only_finished_cells(real_data, tmp_path):
    preset, store = tmp_path / "grid.toml", tmp_path / "results"
    preset.write_text(GRID)
    args = ["run", "--preset", str(preset), "--store", str(store), "--data-dir", str(real_data), "--quiet",
            "--artifacts", str(tmp_path / "artifacts")]
    proc = bench(*args)
    planned = proc.stderr.readline()
    while planned.startswith(ENVIRONMENT_NOTICE):  # the tests' BENCH_WORKERS (conftest.py)
        planned = proc.stderr.readline()
    assert "cells planned" in planned, planned
    time.sleep(0.5)  # inside the first groups' training
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: interrupted"), err  # after the plan line
    counts = assert_store_sound(store) if (store / "runs.csv").exists() else {}
    assert len(counts) < N_CELLS  # the running cell was not recorded
    assert not list((store / "claims").iterdir())

    resume = bench(*args)
    _, err = resume.communicate(timeout=300)
    assert resume.returncode == 0, err
    assert f"{len(counts)} already stored" in err
    assert len(assert_store_sound(store)) == N_CELLS


def tiny_run(tiny_data: Path, store: Path, *extra: str):
    return CliRunner().invoke(main, ["run", "--store", str(store), "--data-dir", str(tiny_data), "--quiet",
                                     "--artifacts", str(store.parent / "artifacts"), "--datasets", "mnist",
                                     "--subset", "100", "--test-size", "0", "--batch-size", "32", *extra])


def test_absurd_lr_is_stored_as_diverged_and_the_grid_goes_on(tiny_data, tmp_path):
    store = tmp_path / "results"
    result = tiny_run(tiny_data, store, "--models", "resnet20", "--optimizers", "sgd", "--lr", "1e6,1e-2",
                      "--epochs", "1")
    assert result.exit_code == 0, result.output
    runs = Store(store).runs().set_index("lr")
    assert runs.loc[1e6, "status"] == "diverged" and "loss became" in runs.loc[1e6, "message"]
    assert runs.loc[1e-2, "status"] == "done"
    assert (runs.loc[runs["kind"] == "svm", "status"] == "done").all()


def test_diverged_cell_keeps_its_last_finite_metrics(tiny_data, tmp_path, monkeypatch):
    """The loss turns NaN in epoch 2: the 1-epoch cell is done, the 2-epoch cell is diverged and keeps
    epoch 1's validation accuracy and training loss (and only epoch 1's curve)."""
    real = torch.nn.functional.cross_entropy
    calls = {"train": 0}
    batches_per_epoch = 4  # 100 training images in batches of 32 (the last one of 4)
    warm_up_steps = 2  # the untimed warm-up trains one batch of each shape (32 and 4) on a copy

    def exploding(out, y, **kwargs):
        if kwargs:
            return real(out, y, **kwargs)  # evaluation
        calls["train"] += 1
        loss = real(out, y)
        return loss * float("nan") if calls["train"] > warm_up_steps + batches_per_epoch else loss

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", exploding)
    result = tiny_run(tiny_data, tmp_path / "results", "--models", "resnet20", "--epochs", "1,2",
                      "--preset", str(write(tmp_path / "p.toml", '[[grid]]\nmodel = "resnet20"\n')))
    assert result.exit_code == 0, result.output
    s = Store(tmp_path / "results")
    runs = s.runs().set_index("epochs")
    assert list(runs["status"].sort_index()) == ["done", "diverged"]
    one, two = runs.loc[1], runs.loc[2]
    assert "epoch 2" in two["message"]
    curves = s.epochs()
    first = curves[(curves["record_id"] == one["record_id"])].iloc[0]
    assert two["val_acc"] == first["val_acc"] and two["train_loss"] == first["train_loss"]
    assert (curves["record_id"] == two["record_id"]).sum() == 1


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_crashing_cell_is_stored_as_error_and_retry_failed_reruns_only_it(tiny_data, tmp_path, monkeypatch):
    store = tmp_path / "results"
    preset = write(tmp_path / "p.toml", '[[grid]]\nmodel = ["resnet20", "resnet32"]\n'
                   '[[grid]]\nkind = "svm"\nn_train = 50\n')
    real_build = models.build

    def build(name, *args, **kwargs):
        if name == "resnet32":
            raise RuntimeError("CUDA out of memory (simulated), tried to allocate 2.00 GiB")
        return real_build(name, *args, **kwargs)

    monkeypatch.setattr(models, "build", build)
    first = tiny_run(tiny_data, store, "--preset", str(preset))
    assert first.exit_code == 0, first.output
    runs = Store(store).runs().set_index("label")
    assert runs.loc["resnet32", "status"] == "error"
    assert runs.loc["resnet32", "message"].startswith("RuntimeError: CUDA out of memory (simulated)")
    assert runs.loc["resnet20", "status"] == "done" and runs.loc["svc-rbf", "status"] == "done"

    assert "0 to run" in tiny_run(tiny_data, store, "--preset", str(preset)).output  # errors count as finished
    monkeypatch.setattr(models, "build", real_build)
    retry = tiny_run(tiny_data, store, "--preset", str(preset), "--retry-failed")
    assert retry.exit_code == 0 and "2 already stored, 1 to run" in retry.output, retry.output
    rows = read_table(store / "runs.csv", FILES["runs.csv"]).rows
    assert [r["label"] for r in rows].count("resnet32") == 2 and len(rows) == 4  # the error row is kept
    assert Store(store).runs().set_index("label").loc["resnet32", "status"] == "done"
