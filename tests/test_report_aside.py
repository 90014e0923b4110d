"""bench.report.aside: a call computed in a forked child gives what the call gives here, an error in
the child is raised here with its traceback, and with a thread budget of one the call is made here."""

from __future__ import annotations

import os

import pytest

from bench.report import aside


def _work(n: int) -> dict:
    return {"pid": os.getpid(), "squares": [i * i for i in range(n)]}


def _fail() -> None:
    raise ValueError("a figure could not be drawn")


def test_the_child_computes_the_same_result_in_another_process(monkeypatch):
    monkeypatch.setenv("BENCH_THREADS", "2")
    result = aside.beside(_work, 100_000)()  # a result bigger than a pipe's buffer
    assert result["squares"] == _work(100_000)["squares"]
    assert result["pid"] != os.getpid()


def test_an_error_in_the_child_is_raised_with_its_traceback(monkeypatch):
    monkeypatch.setenv("BENCH_THREADS", "2")
    wait = aside.beside(_fail)
    with pytest.raises(RuntimeError, match="(?s)beside the report.*ValueError: a figure could not be drawn"):
        wait()


def test_with_one_thread_the_call_is_made_here_when_asked(monkeypatch):
    monkeypatch.setenv("BENCH_THREADS", "1")
    wait = aside.beside(_work, 3)
    assert wait() == {"pid": os.getpid(), "squares": [0, 1, 4]}
