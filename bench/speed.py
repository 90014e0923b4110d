"""`bench time`: the exclusive speed of each ResNet cell, apart from training it. After the untimed
warm-up, `blocks` blocks of `steps` optimizer steps each run on the cell's own data path (on CUDA
the DataLoader with its pin_memory), timed between device synchronisations; a row per cell stores
the median rate over the blocks and its range. Nothing else of this store may compute meanwhile:
it refuses to start beside any other `bench run` or `bench time` on this machine, whatever store
it computes in (found in /proc), unless --beside-others, and records what it saw (`concurrency`)."""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from pathlib import Path

from bench import claims, clock, data, env, schema, train
from bench.errors import BenchError
from bench.plan import Cell, groups_of
from bench.precision import amp_dtype, dtype_name
from bench.spec import RunSpec
from bench.step_config import StepConfig
from bench.store import Store

ENVIRONMENT = schema.named(schema.ENVIRONMENT, among=schema.TIMING_COLUMNS)  # what a timing row copies of env


def block_rates(spec: RunSpec, dataset: data.Dataset, split: data.Split, steps: int, blocks: int,
                config: StepConfig | None = None) -> tuple[list[float], StepConfig]:
    """Training images per second of each timed block (epochs wrap around, reshuffled), and the step
    configuration measured (None: the fastest here, chosen as `bench run` chooses it)."""
    run = train.setup(spec, dataset, split, config)
    train.warm_up(run, spec)
    stream = _endless(run.batches)
    sizes = []

    def one_step() -> None:
        x, y = next(stream)
        run.step(x, y)
        sizes.append(len(y))

    seconds = clock.block_seconds(one_step, spec.device, 0, steps, blocks)
    images = [sum(sizes[i * steps:(i + 1) * steps]) / steps for i in range(blocks)]
    return [n / s for n, s in zip(images, seconds, strict=True)], run.config


def _endless(batches):
    while True:
        yield from batches


def beside(store: Store) -> list[str]:
    """What computes beside us: other bench run/time processes anywhere on this machine (from /proc)
    and other claimants of this store (a process /proc cannot show, e.g. in another PID namespace)."""
    found = claims.bench_processes()
    theirs = store.others_computing()
    return found if len(found) >= theirs else [*found, f"{theirs - len(found)} more computing on {store.root}"]


def _require_alone(store: Store, allow_others: bool) -> int:
    """How many other processes compute beside us; refused unless `allow_others`."""
    others = beside(store)
    if others and not allow_others:
        raise BenchError(f"`bench time` measures alone, but other bench processes compute on this machine "
                         f"({'; '.join(others[:3])}); wait for them, or pass --beside-others to time anyway "
                         "(the rows then record the concurrency)")
    return len(others)


def run(cells: list[Cell], store: Store, data_dir: Path | None, preset: str, steps: int, blocks: int,
        on_row=None, config: StepConfig | None = None, allow_others: bool = False) -> list[dict]:
    """Time every group of `cells` (ResNet cells) once and store a row per cell; returns the rows.
    `on_row(row, spec)` hears of each group's first row as it is stored."""
    clock.use_threads()
    rows = []
    for group in groups_of(cells):
        spec = group[0].spec
        dataset = data.load(spec.dataset, data_dir)
        split = data.split(dataset, spec.split, spec.subset, spec.data_seed, spec.test_size)
        with store.claim(group, skip=()):
            seen = _require_alone(store, allow_others)
            load_start, started = env.load_average(), dt.datetime.now(dt.UTC)
            rates, chosen = block_rates(spec, dataset, split, steps, blocks, config)
            concurrency = 1 + max(seen, len(beside(store)))  # what ran beside it, at its start and end
        described = env.describe(spec.compute_device)
        measured = {"steps": steps, "blocks": blocks, "images_per_s": statistics.median(rates),
                    "min_images_per_s": min(rates), "max_images_per_s": max(rates), "concurrency": concurrency,
                    "load_start": load_start, "load_end": env.load_average(),
                    "started_at": started.isoformat(timespec="seconds"), "amp_dtype": dtype_name(amp_dtype(spec)),
                    "memory_format": chosen.memory_format, "optimizer_impl": chosen.optimizer_impl,
                    **{k: described.get(k) for k in ENVIRONMENT}}
        new = [{"run_id": c.run_id, "record_id": uuid.uuid4().hex[:16], "preset": preset, "label": c.spec.label,
                "dataset": c.spec.dataset, "device": c.spec.device, "batch_size": c.spec.batch_size,
                "pin_memory": c.spec.pin_memory, **measured} for c in group]
        store.append_timings(new)
        rows += new
        if on_row:
            on_row(new[0], spec)
    return rows
