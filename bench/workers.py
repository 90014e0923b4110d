"""`bench run --workers N`: N workers on one machine (this process and N - 1 spawned ones) share
one store through its claims (each takes the next group no one holds), each with its share of the
threads. The threads are shared by the workers that still have work: a worker that finds nothing
left to start leaves, and the others take its threads over at their next training step (`share`).
Progress (epochs trained, cells stored) comes back through a queue. Stopping is the parent's job:
spawned workers ignore Ctrl-C and stop on SIGTERM, which the parent sends once on Ctrl-C, on its own
SIGTERM or on any error, and which the kernel sends if the parent dies; a stopped or crashed worker
loses only the cell it was computing, whose claim dies with it, so the next `bench run` computes it."""

from __future__ import annotations

import ctypes
import math
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import env
from bench.errors import BenchError
from bench.estimate import svm_seconds
from bench.plan import Cell, groups_of

MAX_WORKERS = 256
AUTO = "auto"
AUTO_MOST = 8  # auto never starts more: each worker holds both datasets; more was never measured
# A spawned worker's start: importing torch, torchvision and scikit-learn took 4.5-4.8 s (4.7-5.5 s of
# CPU) on the idle 2-core Intel machine (2026-12-05), a core the other worker's training then lacks
WORKER_START_S = 5.0
STOP_GRACE_S = 30  # how long stopped workers may take to leave their current step


def choose(requested: str, cells: list[Cell]) -> tuple[int, bool]:
    """How many worker processes compute `cells`, and whether `auto` chose that: a number as given;
    `auto` (the default) on the CPU one one-thread worker per thread of the budget, because two
    one-thread processes beat one two-thread process on the 2-core machines measured, for the ResNets
    and for the SVMs (benchmarks/README.md, "Parallel workers"), but never more workers than have
    work worth a process start (`worth_a_worker`), at most AUTO_MOST; the threads of a worker that
    runs out of work go to those still computing (`share`). On CUDA one process, which has the GPU
    to itself."""
    if requested != AUTO:
        return int(requested), False
    if any(c.spec.compute_device != "cpu" for c in cells):
        return 1, True
    return max(1, min(env.thread_count(), worth_a_worker(cells), AUTO_MOST)), True


def worth_a_worker(cells: list[Cell]) -> int:
    """How many workers the computations of `cells` keep busy for longer than a worker takes to start
    (WORKER_START_S): one per training run or long SVM, and the short SVMs pooled, one worker per
    WORKER_START_S of their estimated seconds. A worker started for less work costs more than it
    saves: a q1a-shaped grid of one ResNet run and one 2-second SVM ran slower with a second worker
    than with one (benchmarks/README.md, issue 34)."""
    seconds = [svm_seconds(g[0].spec) if g[0].spec.kind == "svm" else math.inf for g in groups_of(cells)]
    short = sum(s for s in seconds if s < WORKER_START_S)
    return sum(s >= WORKER_START_S for s in seconds) + int(short // WORKER_START_S)


def threads_each(workers: int) -> int:
    """The fewest threads a worker starts with (`share` with every worker computing), at least one."""
    return share(env.thread_count(), [True] * workers, workers - 1)


def share(budget: int, active: Sequence, me: int) -> int:
    """Worker `me`'s threads while the workers flagged in `active` still compute: the budget split
    among them, the remainder to the first ones, so no thread is left unused (at least one each).
    A worker's share only grows as others leave, so workers that have not yet taken up a larger
    share never add up to more than the budget."""
    ranks = [i for i, on in enumerate(active) if on]
    if me not in ranks:
        return max(1, budget)
    count, extra = divmod(budget, len(ranks))
    return max(1, count + (ranks.index(me) < extra))


def wall_seconds(cells: list[Cell], per_cell: dict[str, float], count: int) -> float:
    """The wall time of `count` workers computing `cells`, from each training run's estimated seconds
    at a worker's starting share of the threads (`threads_each`): workers take runs in plan order, and
    once nothing is left to start, the threads of a worker that finishes go to the others, whose
    ResNet runs speed up in proportion (2 threads ran 1.96x as fast as 1, benchmarks/README.md, chunk
    5); an SVM fits on one thread whatever its share."""
    budget, base = env.thread_count(), threads_each(count)
    queue = [[max(per_cell.get(c.run_id, 0.0) for c in g), g[0].spec.kind == "resnet"] for g in groups_of(cells)]
    running: list[list] = []
    elapsed = 0.0
    while queue or running:
        while queue and len(running) < count:
            running.append(queue.pop(0))
        speeds = [share(budget, [True] * len(running), i) / base if scales else 1.0
                  for i, (_, scales) in enumerate(running)]
        step = min(left / speed for (left, _), speed in zip(running, speeds, strict=True))
        elapsed += step
        for job, speed in zip(running, speeds, strict=True):
            job[0] -= step * speed
        running = [job for job in running if job[0] > 1e-9]
    return elapsed


def _work(cells: list[Cell], store_root: Path, data_dir: Path | None, artifacts: Path | None, settings,
          active, me: int, outbox, parent: int) -> None:
    """One spawned worker: the ordinary single-process run over all cells, skipping what others claim,
    with its share of the threads as it stands at every group and training step; when it finds
    nothing left to start it leaves `active`, and its threads go to the workers still computing."""
    signal.signal(signal.SIGTERM, _interrupt)
    _die_with_parent(parent)
    budget = env.thread_count()
    try:
        from bench import runner
        from bench.store import Store

        runner.execute(cells, Store(store_root), data_dir, artifacts, settings,
                       on_event=lambda event: outbox.put(("event", event)), share=lambda: share(budget, active, me))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except BenchError as exc:
        outbox.put(("error", str(exc)))
        raise SystemExit(1) from None
    finally:
        active[me] = False


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: claims are released, nothing half-stored


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel sends this worker SIGTERM when the parent (pid `parent`) dies (killed, out
    of memory), so no worker goes on computing for nobody."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the line above (not "ppid 1": in a container bench is pid 1)
        raise SystemExit(130)


def _stop(procs: list) -> None:
    """SIGTERM to every live worker once; stragglers are killed after one shared grace period."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


def run(cells: list[Cell], store_root: Path, data_dir: Path | None, artifacts: Path | None, settings,
        workers: int, on_event: Callable) -> None:
    """Run `cells` with `workers` workers (`runner.Settings` shared): this process is the first, so
    its computation starts without a second start-up (interpreter, torch), and `workers - 1` spawned
    processes are the others; `on_event` hears, in this process and one at a time, of each epoch
    trained and each cell stored (`bench.progress`). Raises BenchError, after the others finish, when
    a worker failed or died."""
    from bench import runner
    from bench.store import Store

    ctx = multiprocessing.get_context("spawn")  # no forked torch state, the same on every OS
    outbox = ctx.Queue()
    active = ctx.RawArray(ctypes.c_bool, [True] * workers)  # who still computes: they share the threads
    procs = [ctx.Process(target=_work, args=(cells, store_root, data_dir, artifacts, settings, active, i, outbox,
                                             os.getpid()),
                         name=f"bench-worker-{i + 1}")
             for i in range(1, workers)]
    lock, errors, finished = threading.Lock(), [], False

    def hear(event) -> None:
        with lock:
            on_event(event)

    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill`, `timeout`: stop like Ctrl-C
    try:
        interactive = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: workers ignore Ctrl-C
        try:
            for p in procs:
                p.start()
        finally:
            signal.signal(signal.SIGINT, interactive)
        listener = threading.Thread(target=_listen, args=(procs, outbox, active, hear, errors), daemon=True)
        listener.start()
        budget = env.thread_count()
        try:
            runner.execute(cells, Store(store_root), data_dir, artifacts, settings, on_event=hear,
                           share=lambda: share(budget, active, 0))
        except BenchError as exc:
            errors.append(str(exc))  # the others finish their work first
        finally:
            active[0] = False  # this process's threads go to the workers still computing
        while listener.is_alive():
            listener.join(0.5)  # in steps, so Ctrl-C and SIGTERM are heard here
        finished = True
    finally:
        if not finished:  # Ctrl-C, SIGTERM or an error here: no worker outlives this process
            _stop(procs)
        signal.signal(signal.SIGTERM, previous)
    for p in procs:
        p.join()
    died = [f"{p.name} exited with code {p.exitcode}" for p in procs if p.exitcode not in (0, None)]
    if errors:
        raise BenchError("; ".join(dict.fromkeys(errors)))
    if died:
        raise BenchError("; ".join(died) + ": the cell it was computing is stored only if another worker "
                         "computed it after; run the same command again to compute what is missing")


def _listen(procs: list, outbox, active, hear: Callable, errors: list) -> None:
    """Until every spawned worker has exited and said all it had: their events to `hear`, their
    errors to `errors`, and the threads of one that died to the others."""
    while any(p.is_alive() for p in procs) or not outbox.empty():
        for i, p in enumerate(procs, start=1):
            if p.exitcode is not None:
                active[i] = False  # a worker that died leaves its threads to the others too
        try:
            kind, value = outbox.get(timeout=0.5)
        except queue.Empty:
            continue
        if kind == "event":
            hear(value)
        else:
            errors.append(value)
