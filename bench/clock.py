"""The one timing protocol of bench, for every measurement it makes (training epochs, `bench time`,
the step-configuration trials, `bench plan`'s calibration, the benchmarks): torch's thread count
fixed from BENCH_THREADS, untimed warm-up calls, then timed blocks bracketed by device
synchronisation, one time per block, so callers report the median and the range over blocks, the way
torch.utils.benchmark does; and the peak of CUDA memory a phase of a run allocates."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from bench import env


def use_threads(threads: int | None = None) -> int:
    """Fix torch's intra-op threads to `threads`, by default BENCH_THREADS (else the cores this
    process may use)."""
    threads = threads or env.thread_count()
    torch.set_num_threads(threads)
    return threads


def sync(device: str) -> None:
    """Wait for the device's queued work, so a timer brackets computation, not its launch."""
    if device == "cuda":
        torch.cuda.synchronize()


@contextmanager
def timed(device: str) -> Iterator[dict]:
    """`with timed(device) as t: ...` then t["seconds"]: wall time between two synchronisations."""
    result = {}
    sync(device)
    start = time.perf_counter()
    try:
        yield result
    finally:
        sync(device)
        result["seconds"] = time.perf_counter() - start


def block_seconds(fn: Callable[[], object], device: str, warmup: int, steps: int, blocks: int) -> list[float]:
    """Seconds per call of `fn` in each of `blocks` timed blocks of `steps` calls, after `warmup`
    untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(blocks):
        with timed(device) as t:
            for _ in range(steps):
                fn()
        out.append(t["seconds"] / steps)
    return out


def median_seconds(fn: Callable[[], object], device: str, warmup: int, steps: int, blocks: int) -> float:
    return statistics.median(block_seconds(fn, device, warmup, steps, blocks))


class MemoryPeaks:
    """CUDA memory allocated at its peak, training and evaluation apart (each phase starts from a
    reset counter, after warm-up). None on the CPU: the process's peak RSS grows with every run
    before it in the process, so it says nothing about this run."""

    def __init__(self, device: str):
        self.cuda = device == "cuda"
        self.mb = {"train": None, "eval": None}

    def start(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def stop(self, phase: str) -> None:
        if self.cuda:
            self.mb[phase] = max(self.mb[phase] or 0.0, torch.cuda.max_memory_allocated() / 2**20)
