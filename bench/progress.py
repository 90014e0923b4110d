"""`bench run`'s progress, whatever the number of workers: one bar for the run that moves inside a
long cell epoch by epoch, with the time left, and a line per stored cell that names what sets it
apart from its neighbours. On a terminal the bar redraws in place; in a log (not a terminal) the
same state is a line per epoch and per stored cell, so a log grows at the pace of the work."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from tqdm import tqdm

from bench.plan import Cell, groups_of, human, pending, plural, settings, total
from bench.store import Store


@dataclass(frozen=True)
class Outcome:
    """A stored cell, as `bench run` reports it."""

    run_id: str
    what: str  # plan.settings: model, dataset and the values that set the cell apart
    status: str
    test_acc: float | None


@dataclass(frozen=True)
class EpochDone:
    """A training run (named by its first cell) finished an epoch of `epochs`; epoch 0: it started."""

    run_id: str
    epoch: int
    epochs: int


class Progress:
    """The events of a run (`EpochDone`, `Outcome`) as progress. The bar's unit is the estimated
    seconds of each training run when every run has an estimate, else its cells, so the time left
    (elapsed / fraction done x fraction left) weighs a long ResNet-50 run above a short SVM. Runs
    computing beside each other (workers) report their epochs at different times, so the fraction
    done counts each one's epoch in flight at its pace so far (`in_flight`)."""

    def __init__(self, todo: list[Cell], estimates: dict, show: bool, terminal: bool | None = None):
        self.todo, self.estimates, self.started, self.show = todo, estimates, time.time(), show and bool(todo)
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.outcomes: list[Outcome] = []
        groups = groups_of(todo)
        self.groups = {g[0].run_id: g for g in groups}
        self.group_of = {c.run_id: g[0].run_id for g in groups for c in g}
        known = all(c.run_id in estimates for c in todo)
        self.weight = {gid: max(estimates[c.run_id] for c in g) if known else float(len(g))
                       for gid, g in self.groups.items()}
        self.total = sum(self.weight.values()) or 1.0
        self.done = {gid: 0.0 for gid in self.groups}  # fraction of each training run behind us
        self.running: dict[str, str] = {}
        self.begun: dict[str, float] = {}  # when each running training run started
        self.heard: dict[str, tuple[float, float]] = {}  # its last epoch's (time, share of the run per epoch)
        self.bar = tqdm(total=self.total, disable=not (self.show and self.terminal), file=sys.stderr, smoothing=0,
                        dynamic_ncols=True, bar_format="{percentage:3.0f}%|{bar:20}| {desc}")
        self._draw()

    def epoch(self, event: EpochDone) -> None:
        gid = self.group_of.get(event.run_id)
        if gid is None:
            return
        now, short = time.time(), _short(self.groups[gid][0])
        self.running[gid] = f"{short} epoch {event.epoch}/{event.epochs}"
        if event.epoch == 0:
            self.begun[gid] = now
        self.heard[gid] = (now, 1 / event.epochs)
        self._advance(gid, event.epoch / event.epochs)
        self._draw(f"{short} started" if event.epoch == 0 else f"{self.running[gid]} trained")

    def __call__(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        gid = self.group_of.get(outcome.run_id)
        if gid is not None and all(c.run_id in {o.run_id for o in self.outcomes} for c in self.groups[gid]):
            self.running.pop(gid, None)
            self.begun.pop(gid, None)
            self._advance(gid, 1.0)
        acc = "" if outcome.test_acc is None or outcome.test_acc != outcome.test_acc else \
            f", test accuracy {outcome.test_acc:.4f}"
        self._draw(f"stored {outcome.what}: {outcome.status}{acc}")

    def fraction(self) -> float:
        """The share of the run's work behind us, each training run weighed as the bar weighs it."""
        return sum(self.done[g] * self.weight[g] for g in self.groups) / self.total

    def in_flight(self, now: float) -> float:
        """The share of the run's work done since each running training run last reported: its time since
        then at its own pace so far (or, before its first epoch, the mean pace of the others), at most
        the epoch it is in."""
        pace = {g: self.done[g] * self.weight[g] / (self.heard[g][0] - t) for g, t in self.begun.items()
                if self.done[g] > 0 and self.heard[g][0] > t}  # weight per second
        if not pace:
            return 0.0
        mean = sum(pace.values()) / len(pace)
        return sum(min((now - self.heard[g][0]) * pace.get(g, mean), self.heard[g][1] * self.weight[g])
                   for g in self.begun) / self.total

    def left(self) -> float | None:
        """Seconds left at the pace so far (None before any progress)."""
        now = time.time()
        fraction, elapsed = self.fraction() + self.in_flight(now), now - self.started
        return elapsed * (1 - fraction) / fraction if fraction > 0 else None

    def event(self, event: Outcome | EpochDone) -> None:
        (self.epoch if isinstance(event, EpochDone) else self)(event)

    def close(self) -> None:
        self.bar.close()

    def summary(self, store: Store, skip: tuple[str, ...], budgeted: bool) -> list[str]:
        """What another process had, and what a budget left for the next run of the same command."""
        remaining = pending(self.todo, store.finished(skip) if skip else {o.run_id for o in self.outcomes})
        busy = len(self.todo) - len(self.outcomes) - (len(remaining) if budgeted else 0)
        notes = [f"{plural(busy, 'cell')} stored or being run by another bench process; not run here"][:busy > 0]
        if budgeted and remaining:
            runs = plural(len(groups_of(remaining)), "training run")
            notes.append(f"budget: {plural(len(remaining), 'cell')} ({runs}, about "
                         f"{human(total(remaining, self.estimates))}) left for the next run of this command")
        return notes

    def _advance(self, gid: str, fraction: float) -> None:
        step = (fraction - self.done[gid]) * self.weight[gid]
        if step > 0:
            self.done[gid] = fraction
            self.bar.n += step  # drawn with the new description by _draw

    def _state(self) -> str:
        left = self.left()
        return (f"{len(self.outcomes)}/{plural(len(self.todo), 'cell')} stored, {human(time.time() - self.started)}"
                f" elapsed" + (f", about {human(left)} left" if left is not None else ""))

    def _draw(self, line: str = "") -> None:
        if not self.show:
            return
        if self.terminal:
            self.bar.set_description_str("; ".join([*self.running.values(), self._state()]))
            if line.startswith("stored"):
                self.bar.write(line, file=sys.stderr)
        elif line:
            print(f"{line} ({self._state()})", file=sys.stderr, flush=True)


def _short(cell: Cell) -> str:
    """A training run without its epochs and pin_memory (the cells of one run differ only in those)."""
    s = cell.spec
    return (f"{s.label} {s.dataset} {s.optimizer} lr={s.lr:g} bs={s.batch_size}" if s.kind == "resnet"
            else settings(s))
