"""Run a list of cells: skip what the store already holds, train each group once, store every
cell as soon as it is finished. A failing cell is stored as `error` and the grid goes on."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from bench import clock, data, env, reuse
from bench.csvfile import writable_folder
from bench.errors import BenchError
from bench.plan import Cell, groups_of
from bench.plan import settings as settings_of
from bench.progress import EpochDone, Outcome
from bench.spec import SGD_MOMENTUM, RunSpec
from bench.step_config import StepConfig
from bench.store import FINISHED, Store
from bench.svm import run_svm
from bench.train import CellResult, set_deterministic, train_group


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How `bench run` computes, beyond the cells: the same in every worker process. Built with
    keywords only: a row's provenance should not hang on the order of nine arguments."""

    preset: str
    tag: str = ""
    role: str = "grid"  # what the preset declared (`bench.presets.Preset`), stored with every row
    same_host: bool = False
    skip: tuple[str, ...] = FINISHED  # statuses that make a stored cell done
    deterministic: bool = False
    step: StepConfig | None = None  # None: the fastest step configuration here, by measurement
    deadline: float | None = None  # wall clock (time.time()) by which every started group must end
    estimates: dict = field(default_factory=dict)  # run id -> estimated seconds (for the deadline)
    workers: int = 1  # worker processes of this `bench run` (bench.workers.choose)
    workers_auto: bool = False  # whether `--workers auto` chose that number

    def provenance(self) -> dict:
        """What every row this campaign stores says of how it was asked for: preset, tag and what
        the preset declared."""
        return {"preset": self.preset, "tag": self.tag, "role": self.role, "same_host": self.same_host}

    def fits(self, group: list[Cell]) -> bool:
        """Whether the group's estimated time ends before the deadline (no deadline: always)."""
        if self.deadline is None:
            return True
        need = max((self.estimates.get(c.run_id, 0.0) for c in group), default=0.0)
        return time.time() + need <= self.deadline


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _pin_effect(spec: RunSpec) -> str:
    if spec.kind == "svm":
        return ""
    if spec.pin_memory is None:
        return "not a factor: data resident on the device"
    if spec.device == "cpu":
        return "none on CPU: nothing is copied to a device; computed once for both values"
    return "none on the result: data resident on the GPU, computed once for both values (bench time --pin-memory)"


def attempt_row(cell: Cell, result: CellResult, settings: Settings, split: data.Split, started: str,
                record_id: str, load: tuple[float | None, float | None] = (None, None), concurrency: int = 1) -> dict:
    """The self-describing row of one attempt of a finished cell: spec, metrics, status, environment."""
    spec = cell.spec
    row = {**spec.identity(), **result.metrics, **env.describe(spec.compute_device)}
    if spec.kind == "svm":
        row["threads"] = 1  # libsvm fits on one thread, whatever torch's thread count
    else:  # a worker's share may grow between epochs: the fewest and the most its epochs had
        row["threads"] = result.metrics.get("threads", torch.get_num_threads())
    row["threads_max"] = result.metrics.get("threads_max", row["threads"])
    if spec.kind == "resnet" and spec.optimizer == "sgd":
        row["momentum"] = SGD_MOMENTUM
    row.update(
        run_id=cell.run_id, record_id=record_id, status=result.status, message=result.message,
        **settings.provenance(), label=spec.label, peak_flops=env.peak_flops(spec),
        n_train_images=len(split.train), n_val=len(split.val),
        n_test=len(split.test), pin_memory_effect=_pin_effect(spec), started_at=started, finished_at=_now(),
        load_start=load[0], load_end=load[1], concurrency=concurrency, workers=settings.workers,
        workers_auto=settings.workers_auto,
    )
    return row


def store_reused(cells: list[Cell], store: Store, settings: Settings) -> list[Cell]:
    """Store every cell whose computation the store holds under another run id as a copy of it
    (`bench.reuse`); returns the cells left to compute."""
    rows = store.table("runs.csv").rows
    found = reuse.sources(rows, cells)
    if not found:
        return cells
    curves: dict[str, list[dict]] = {}
    for row in store.table("epochs.csv").rows:
        curves.setdefault(row["record_id"], []).append(row)
    for cell in (c for c in cells if c.run_id in found):
        source = found[cell.run_id]
        store.append(*reuse.copies(cell, source, curves.get(source["record_id"], []), settings.provenance(),
                                   _pin_effect(cell.spec)))
    return [c for c in cells if c.run_id not in found]


def _failed(cell: Cell, exc: Exception) -> CellResult:
    return CellResult(cell.spec, status="error", message=f"{type(exc).__name__}: {exc}"[:500])


def execute(cells: list[Cell], store: Store, data_dir: Path | None, artifacts: Path | None, settings: Settings,
            on_event: Callable[[Outcome | EpochDone], None] = lambda event: None,
            share: Callable[[], int] = env.thread_count) -> None:
    """Train/fit every cell (grouped so no work is done twice) and store each as it finishes.

    Each group is claimed in the store first, so a second `bench run` on the same store skips what
    this one stored or is computing; a group that would not end before the settings' deadline is
    not started. `on_event` hears of every training run started and epoch trained (`EpochDone`) and
    every cell stored (`Outcome`). `share` says how many threads this process may use now (a
    worker's share grows as other workers run out of work; `bench.workers`). What another process
    had, or the deadline left, the caller reads from the store (`progress.Progress.summary`)."""
    clock.use_threads(share())
    set_deterministic(settings.deterministic)
    for device in {c.spec.compute_device for c in cells}:
        env.describe(device)  # the provenance of this process's rows: the commit as it starts
    for group in groups_of(cells):
        if not settings.fits(group):
            continue
        with store.claim(group, settings.skip) as mine:
            group = [c for c in group if c.run_id in mine]
            if group:
                for outcome in _run_group(group, store, data_dir, artifacts, settings, share, on_event):
                    on_event(outcome)


def save_weights(artifacts: Path, run_id: str, weights: dict) -> None:
    """Best-val weights to the artifacts folder (outside git), written atomically."""
    tmp = artifacts / f".{run_id}.pt.tmp"
    try:
        artifacts.mkdir(parents=True, exist_ok=True)
        torch.save(weights, tmp)
        os.replace(tmp, artifacts / f"{run_id}.pt")
    except (OSError, RuntimeError) as exc:  # torch reports a full disk as RuntimeError
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        raise BenchError(f"run {run_id} is stored but its weights could not be written to {artifacts}: "
                         f"{exc}; free space or fix --artifacts") from None


def preflight(cells: list[Cell], data_dir: Path | None, folders: dict[str, Path | None]) -> None:
    """Everything a user can get wrong about devices, data and folders fails here, before the store
    is touched or anything is trained; every output folder (`{"--store": path, "--artifacts": path}`)
    is created and written to."""
    env.thread_count()  # validates BENCH_THREADS
    for device in sorted({c.spec.compute_device for c in cells}):
        env.require_device(device)
    for key in sorted({(c.spec.dataset, c.spec.split, c.spec.subset, c.spec.data_seed, c.spec.test_size)
                       for c in cells}):
        data.split(data.load(key[0], data_dir), *key[1:])
    for option, folder in folders.items():
        if folder is not None:
            writable_folder(folder, option, "nothing was trained")


def _run_group(group: list[Cell], store: Store, data_dir: Path | None, artifacts: Path | None,
               settings: Settings, share: Callable[[], int],
               on_event: Callable[[EpochDone], None]) -> Iterator[Outcome]:
    spec = group[0].spec
    dataset = data.load(spec.dataset, data_dir)
    split = data.split(dataset, spec.split, spec.subset, spec.data_seed, spec.test_size)
    started, load_start, beside = _now(), env.load_average(), store.others_computing()
    try:
        if spec.kind == "svm":
            results = [run_svm(spec, dataset, split)]
        else:
            on_event(EpochDone(group[0].run_id, 0, max(c.spec.epochs for c in group)))
            results = train_group([c.spec for c in group], dataset, split, config=settings.step, share=share,
                                  on_epoch=lambda epoch, epochs: on_event(EpochDone(group[0].run_id, epoch, epochs)))
    except BenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - a crashing cell is stored, the grid goes on
        results = [_failed(c, exc) for c in group]
    load = (load_start, env.load_average())
    concurrency = 1 + max(beside, store.others_computing())  # cells seen running beside this one
    for cell, result in zip(group, results, strict=True):
        record_id = uuid.uuid4().hex[:16]
        curves = [{"run_id": cell.run_id, "record_id": record_id, **row} for row in result.curves]
        store.append(attempt_row(cell, result, settings, split, started, record_id, load, concurrency),
                     curves)
        if artifacts is not None and result.weights is not None:
            save_weights(artifacts, cell.run_id, result.weights)
        yield Outcome(cell.run_id, settings_of(cell.spec), result.status, result.metrics.get("test_acc"))
