"""bench's one timing protocol: a timed region is bracketed by device synchronisation, blocks are
timed after untimed warm-up calls, and training epochs, `bench time` and the step trials use it."""

from __future__ import annotations

from bench import clock, data, train
from bench.spec import RunSpec


def test_a_timed_region_is_bracketed_by_synchronisation(monkeypatch):
    events = []
    monkeypatch.setattr(clock, "sync", lambda device: events.append(f"sync {device}"))
    ticks = iter(range(100))
    monkeypatch.setattr(clock.time, "perf_counter", lambda: events.append("clock") or next(ticks))
    with clock.timed("cuda") as t:
        events.append("work")
    assert events == ["sync cuda", "clock", "work", "sync cuda", "clock"] and t["seconds"] == 1


def test_blocks_time_only_what_follows_the_warm_up(monkeypatch):
    calls = []
    monkeypatch.setattr(clock, "timed", _counting(clock.timed, calls))
    seconds = clock.block_seconds(lambda: calls.append("fn"), "cpu", warmup=2, steps=3, blocks=4)
    assert len(seconds) == 4 and all(s >= 0 for s in seconds)
    assert calls[:2] == ["fn", "fn"] and calls[2:] == (["<", "fn", "fn", "fn", ">"] * 4)


def _counting(timed, calls):
    import contextlib

    @contextlib.contextmanager
    def wrapper(device):
        calls.append("<")
        with timed(device) as t:
            yield t
        calls.append(">")
    return wrapper


def test_every_training_epoch_is_one_timed_region(monkeypatch, tiny_data):
    ds = data.load("mnist", tiny_data)
    calls = []
    monkeypatch.setattr(clock, "timed", _counting(clock.timed, calls))
    train.train_group([RunSpec(model="resnet20", epochs=3, batch_size=32)], ds, data.split(ds, "random", 0, 0),
                      config=train.step_config.LEGACY)
    assert calls.count("<") == 3 == calls.count(">")
