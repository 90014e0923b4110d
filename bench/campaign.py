"""`bench run` and `bench time` between their options and their output. `prepare` decides what a run
computes (what the store holds, which cells are copies of stored computations, the workers, the
estimates, the deadline) and `compute` computes it and says what happened; `time_cells` measures
training speeds. Notes reach the caller through `say` as they happen; nothing here prints a result.
Whatever imports torch is imported inside the functions that train, so `bench plan` starts fast."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench import estimate, plan, workers
from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.presets import Preset
    from bench.progress import Outcome
    from bench.runner import Settings
    from bench.spec import RunSpec
    from bench.step_config import StepConfig
    from bench.store import Store

Say = Callable[[str], None]  # a note for the user, told as it happens (the CLI writes it to stderr)


@dataclass(frozen=True)
class Campaign:
    """What a `bench run` computes, decided before anything is trained."""

    store: Store
    data_dir: Path | None
    artifacts: Path | None  # where best-val weights go; None: nowhere
    settings: Settings  # as every worker computes: workers, estimates, deadline, what counts as done
    planned: int  # the cells the options select
    stored: int  # of those, the cells the store holds already
    copies: int  # of those, the cells stored as copies of a computation the store holds (`bench.reuse`)
    todo: list[plan.Cell]  # the cells to compute
    wall_seconds: float | None  # their estimated wall time with the chosen workers; None: not estimated


@dataclass(frozen=True)
class Finished:
    """What a `bench run` did: every cell it stored, and notes on what it did not compute."""

    outcomes: list[Outcome]
    notes: list[str]  # cells another process stored meanwhile, cells the deadline left (`Progress.summary`)


def done_statuses(force: bool, retry_failed: bool) -> tuple[str, ...]:
    """The stored statuses that make a cell done: none with --force, `done` with --retry-failed."""
    from bench.store import FINISHED

    return () if force else ("done",) if retry_failed else FINISHED


def prepare(cells: list[plan.Cell], *, preset: Preset, store: Path, data_dir: Path | None, artifacts: Path | None,
            tag: str = "", force: bool = False, retry_failed: bool = False, deterministic: bool = False,
            step: StepConfig | None = None, requested_workers: str = workers.AUTO, budget: float | None = None,
            say: Say = lambda note: None) -> Campaign:
    """Check the inputs (`runner.preflight`), open the store (recovering an interrupted write, told),
    store the cells whose computation it holds as copies, and choose the workers; estimate each cell
    (calibrating shapes first, told) under a `budget` (seconds from now) or where every shape is
    calibrated. The preset's name and what it declares, and `tag`, are stored with every row."""
    from bench import runner
    from bench.store import Store
    from bench.store import exists as store_exists

    started = time.time()
    skip = done_statuses(force, retry_failed)
    held = Store(store).finished(skip) if skip and store_exists(store) else set()
    todo = plan.pending(cells, held)
    runner.preflight(todo, data_dir, {"--store": store, "--artifacts": artifacts})
    opened = Store(store, create=True)
    opened.verify()
    for note in opened.recover():
        say(note)
    pending = len(todo)
    settings = runner.Settings(preset=preset.name, tag=tag, role=preset.role, same_host=preset.same_host, skip=skip,
                               deterministic=deterministic, step=step)
    todo = runner.store_reused(todo, opened, settings) if skip else todo  # --force: compute all
    count, auto = workers.choose(requested_workers, todo)
    threads = workers.threads_each(count)
    estimates = {}
    if budget is not None or (todo and not estimate.uncalibrated(todo, threads)):
        # each worker computes with its share of the threads: calibrated as it will run
        estimates = estimated(todo, threads, say)
    settings = dataclasses.replace(settings, deadline=started + budget if budget is not None else None,
                                   estimates=estimates, workers=count, workers_auto=auto)
    return Campaign(store=opened, data_dir=data_dir, artifacts=artifacts, settings=settings, planned=len(cells),
                    stored=len(cells) - pending, copies=pending - len(todo), todo=todo,
                    wall_seconds=workers.wall_seconds(todo, estimates, count) if estimates else None)


def compute(campaign: Campaign, show: bool = True) -> Finished:
    """Compute the campaign's cells, storing each as it finishes, with a progress bar (`show`); in
    worker processes where it chose more than one. Ctrl-C stops it with what to do next."""
    from bench import runner
    from bench.progress import Progress

    c, settings = campaign, campaign.settings
    progress = Progress(c.todo, settings.estimates, show=show)
    try:
        if settings.workers > 1:
            workers.run(c.todo, c.store.root, c.data_dir, c.artifacts, settings, settings.workers, progress.event)
        else:
            runner.execute(c.todo, c.store, c.data_dir, c.artifacts, settings, on_event=progress.event)
    except KeyboardInterrupt:
        raise BenchError("interrupted: finished cells are stored; the running cell was not recorded. "
                         "Run the same command again to resume.") from None
    finally:
        progress.close()
    return Finished(outcomes=progress.outcomes,
                    notes=progress.summary(c.store, settings.skip, settings.deadline is not None))


def estimated(cells: list[plan.Cell], threads: int, say: Say, again: bool = False) -> dict[str, float]:
    """Estimated seconds per cell at `threads` threads per worker; the shapes not calibrated on this
    machine yet (all of them `again`) are calibrated first, told, with a bar."""
    shapes = estimate.uncalibrated(cells, threads, again)
    if shapes:
        say(f"calibrating {plan.plural(len(shapes), 'training shape')} at {plan.plural(threads, 'thread')} "
            f"(a few seconds each, once per machine: cached in {estimate.cache_path()}; --no-estimate skips it)")
        estimate.calibrate(shapes, threads, show=True)
    return estimate.seconds(cells, threads=threads)


def time_cells(cells: list[plan.Cell], *, preset: str, store: Path, data_dir: Path | None, steps: int, blocks: int,
               step: StepConfig | None, beside_others: bool, on_row: Callable[[dict, RunSpec], None]) -> list[dict]:
    """`bench time`: each ResNet cell's training speed alone (`bench.speed`), stored in the store's
    timings.csv; `on_row` hears of each row as it is stored. Ctrl-C keeps the rows stored so far."""
    from bench import runner, speed
    from bench.store import Store

    cells = [c for c in cells if c.spec.kind == "resnet"]
    if not cells:
        raise BenchError("no ResNet cells selected: `bench time` measures training steps")
    runner.preflight(cells, data_dir, {"--store": store})
    opened = Store(store, create=True)
    opened.verify()
    try:
        return speed.run(cells, opened, data_dir, preset, steps, blocks, on_row=on_row, config=step,
                          allow_others=beside_others)
    except KeyboardInterrupt:
        raise BenchError("interrupted: the cells timed so far are stored") from None
