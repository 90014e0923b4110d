"""`bench run`'s progress and `bench plan`'s wall time, without training: events in, lines out."""

from __future__ import annotations

import pytest

from bench import plan, workers
from bench.progress import EpochDone, Outcome, Progress
from bench.spec import RunSpec


def _cells(*specs: RunSpec) -> list[plan.Cell]:
    return plan.cells_of(list(specs))


def test_a_log_gets_a_line_per_epoch_and_per_stored_cell_naming_what_sets_it_apart(capsys):
    run = RunSpec(model="resnet50", epochs=10, batch_size=32, optimizer="sgd", lr=1e-4)
    cells = _cells(run.replace(epochs=5), run, RunSpec(kind="svm", model="svc", kernel="poly", degree=2, C=0.1))
    progress = Progress(cells, {}, show=True, terminal=False)
    for epoch in (1, 5):
        progress.event(EpochDone(cells[0].run_id, epoch, 10))
    progress.event(Outcome(cells[2].run_id, plan.settings(cells[2].spec), "done", 0.9))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("resnet50 mnist sgd lr=0.0001 bs=32 epoch 1/10 trained (0/3 cells stored, ")
    assert lines[1].startswith("resnet50 mnist sgd lr=0.0001 bs=32 epoch 5/10 trained") and "left)" in lines[1]
    assert lines[2].startswith("stored svc-poly2 mnist C=0.1 gamma=scale n_train=10000: done, test accuracy 0.9000 "
                               "(1/3 cells stored, ")
    assert len(lines) == 3
    # without estimates each cell weighs the same: half of the two-cell run and the SVM are behind us
    assert progress.fraction() == pytest.approx((0.5 * 2 + 1) / 3)


def test_with_estimates_the_time_left_weighs_each_run_by_its_estimate(monkeypatch):
    long, short = RunSpec(model="resnet50", epochs=10), RunSpec(kind="svm", model="svc")
    cells = _cells(long, short)
    clock = iter([100.0, 200.0])  # the run starts at 100 s; the time left is asked at 200 s
    monkeypatch.setattr("bench.progress.time.time", lambda: next(clock))
    progress = Progress(cells, {cells[0].run_id: 900.0, cells[1].run_id: 100.0}, show=False)
    progress.event(Outcome(cells[1].run_id, "svm", "done", 0.9))  # the SVM: a tenth of the work, in 100 s
    assert progress.left() == pytest.approx(900.0)


def test_two_workers_reporting_epochs_at_different_times_give_the_same_time_left(monkeypatch, capsys):
    """Two equal 10-epoch runs start together on two workers; their first epochs end 19 s apart. The
    time left counts the epoch the other run has in flight at the pace so far, so both lines say about
    nine epochs more (the fraction of epochs reported alone would say 4 h at the first, 2 h at the second)."""
    now = [0.0]
    monkeypatch.setattr("bench.progress.time.time", lambda: now[0])
    base = RunSpec(model="resnet50", epochs=10, batch_size=16, optimizer="adam")
    cells = _cells(base.replace(lr=1e-3), base.replace(lr=1e-4))
    progress = Progress(cells, {c.run_id: 8000.0 for c in cells}, show=True, terminal=False)
    for at, cell, epoch in [(1.0, cells[0], 0), (2.0, cells[1], 0), (800.0, cells[0], 1), (819.0, cells[1], 1)]:
        now[0] = at
        progress.event(EpochDone(cell.run_id, epoch, 10))
        if epoch == 1:
            assert progress.left() == pytest.approx(9 * 800.0, rel=0.03)
    assert progress.fraction() == pytest.approx(0.1)  # the bar moves by reported epochs only
    now[0] = 5000.0  # long after the last report: a run in flight is credited at most the epoch it is in
    assert progress.in_flight(now[0]) == pytest.approx(0.1)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("resnet50 mnist adam lr=0.001 bs=16 started (0/2 cells stored, ")
    assert lines[2].startswith("resnet50 mnist adam lr=0.001 bs=16 epoch 1/10 trained") and "about 2h0" in lines[2]


def test_nothing_is_shown_for_a_run_with_nothing_to_do(capsys):
    progress = Progress([], {}, show=True, terminal=False)
    progress.close()
    assert capsys.readouterr().err == ""


def test_words_are_counted_right():
    assert [plan.plural(n, "cell") for n in (0, 1, 2)] == ["0 cells", "1 cell", "2 cells"]


def test_wall_time_hands_the_threads_of_a_finished_worker_to_the_one_still_computing(monkeypatch):
    monkeypatch.setenv("BENCH_THREADS", "2")
    resnet, svm = RunSpec(model="resnet18", epochs=1), RunSpec(kind="svm", model="svc")
    cells = _cells(resnet, svm)
    per_cell = {cells[0].run_id: 100.0, cells[1].run_id: 10.0}  # at one thread each
    # both start; after 10 s the SVM ends and the ResNet run goes on with both threads: 10 + 90 / 2
    assert workers.wall_seconds(cells, per_cell, 2) == pytest.approx(55.0)
    assert workers.wall_seconds(cells, per_cell, 1) == pytest.approx(110.0)  # one worker: one after the other
    two = _cells(resnet, resnet.replace(lr=0.1))
    assert workers.wall_seconds(two, {c.run_id: 100.0 for c in two}, 2) == pytest.approx(100.0)
