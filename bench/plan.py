"""From specs to cells: run ids, which cells share one computation, cost estimates and shards."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench import env
from bench.errors import BenchError
from bench.spec import RunSpec, attempt_key, run_id

# The random split's parts of a 70,000-image dataset (70/10/20): what subset 0 and test_size 0 mean.
TRAIN_PART, VAL_PART, TEST_PART = 49_000, 7_000, 14_000
EVAL_COST = 1 / 3  # an inference image costs about a third of a training image (no backward)


def training_seconds(seconds_per_image: float, n_train: int, n_val: int, n_test: int, epochs: int,
                     test_passes: int = 1) -> float:
    """The one rule of what a ResNet training run costs from its rate: `epochs` passes over the
    training images, validation after each, and `test_passes` evaluations of the test images, an
    evaluated image at EVAL_COST of a trained one. `bench plan`'s estimates and the report's times
    derived from `bench time` rates both use it."""
    return seconds_per_image * (epochs * (n_train + EVAL_COST * n_val) + EVAL_COST * n_test * test_passes)


@dataclass(frozen=True)
class Cell:
    spec: RunSpec
    run_id: str
    host: str = ""  # non-empty: only an attempt made on this host makes the cell done (same_host)

    @property
    def done_key(self) -> str:
        return attempt_key(self.run_id, self.host)


def cells_of(specs: list[RunSpec], same_host: bool = False) -> list[Cell]:
    """Attach run ids (from the spec alone: the same on every machine); a same_host preset's cells
    are bound to this host for what counts as done."""
    host = env.host_id() if same_host else ""
    return [Cell(s, run_id(s), host) for s in specs]


def groups_of(cells: list[Cell]) -> list[list[Cell]]:
    """Cells computed by one run, in plan order; within a group, by epochs."""
    groups: dict = {}
    for cell in cells:
        groups.setdefault(cell.spec.group_key(), []).append(cell)
    return [sorted(g, key=lambda c: (c.spec.epochs, str(c.spec.pin_memory))) for g in groups.values()]


def _small_int(text: str) -> bool:
    """ASCII digits only, at most six: what Python's int() accepts beyond that (e.g. '²') is refused."""
    return text.isascii() and text.isdecimal() and len(text) <= 6


def scheduler_index(text: str) -> str:
    """K may be `$INDEX` style: `index/N` with K taken from a scheduler's 0-based index variable."""
    k, _, n = text.partition("/")
    for var in ("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"):
        if k == var and var in os.environ:
            if not _small_int(os.environ[var].strip()):
                raise BenchError(f"--shard {text}: {var}={os.environ[var]!r} is not a 0-based index")
            return f"{int(os.environ[var]) + 1}/{n}"
    return text


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` with 1 <= K <= N (1-based, as people count shards)."""
    parts = text.split("/")
    if len(parts) != 2 or not all(map(_small_int, parts)):
        raise BenchError(f"--shard must look like K/N, e.g. 1/4; got {text!r}")
    k, n = map(int, parts)
    if not (1 <= n <= 10_000 and 1 <= k <= n):
        raise BenchError(f"--shard {text}: K must be between 1 and N, N from 1 to 10,000")
    return k, n


def shard(cells: list[Cell], k: int, n: int, cost) -> list[Cell]:
    """The K-th of N disjoint parts, balanced by estimated cost: whole groups are assigned, largest
    first, each to the currently lightest shard (ties by group id), so the split is stable."""
    groups = sorted(groups_of(cells), key=lambda g: (-cost(g), min(c.run_id for c in g)))
    loads = [0.0] * n
    mine: set[str] = set()
    for group in groups:
        target = min(range(n), key=lambda i: (loads[i], i))
        loads[target] += cost(group)
        if target == k - 1:
            mine.update(c.run_id for c in group)
    return [c for c in cells if c.run_id in mine]


def settings(spec: RunSpec) -> str:
    """A cell in words: model, dataset and every value that can set it apart from the other cells of
    a grid (one definition for `bench plan`'s listing and `bench run`'s progress)."""
    what = f"{spec.label} {spec.dataset}"
    if spec.kind == "resnet":
        return f"{what} {spec.optimizer} lr={spec.lr:g} bs={spec.batch_size} epochs={spec.epochs} pin={spec.pin_memory}"
    return f"{what} C={spec.C:g} gamma={spec.gamma} n_train={spec.n_train}"


def listing(cell: Cell, state: str, seconds: float | None) -> str:
    """One line of `bench plan`: id, state (done, reuse, todo), the cell and the estimate."""
    s = cell.spec
    est = f"  ~{human(seconds)}" if seconds else ""
    return f"{cell.run_id}  {state:5} {s.compute_device:4} {settings(s)}  seed={s.seed}{est}"


def pending(cells: list[Cell], finished: set[str]) -> list[Cell]:
    """Cells without a finished attempt (`Store.finished` gives the keys)."""
    return [c for c in cells if c.done_key not in finished]



def work(group: list[Cell]) -> float:
    """A machine-independent size of a group's computation, for balancing shards: training MACs
    for ResNets, the kernel matrix size for SVMs. Calibrated time estimates live in estimate.py."""
    from bench.cost import model_cost

    spec = group[0].spec
    if spec.kind == "svm":
        return float(spec.n_train) ** 2 * 784 * 10
    macs, params = model_cost(spec.model, spec.stem)  # no ptflops here: parameters stand in for MACs
    images = spec.subset or TRAIN_PART
    return 3.0 * (macs if macs is not None else params) * images * max(c.spec.epochs for c in group)


def total(cells: list[Cell], per_cell: dict[str, float]) -> float:
    """Seconds for all groups: each group costs its longest cell once."""
    return sum(max((per_cell.get(c.run_id, 0.0) for c in g), default=0.0) for g in groups_of(cells))


def parse_duration(text: str) -> float:
    """`2h30m`, `90m`, `45s`, `1h`, `1h5m30s` -> seconds (more than zero, at most 30 days)."""
    match = re.fullmatch(r"(?:(\d{1,4})h)?(?:(\d{1,5})m)?(?:(\d{1,7})s)?", text.strip())
    if not text.strip() or not match:
        raise BenchError(f"--budget {text!r}: give a duration like 2h30m, 90m or 45s")
    h, m, s = (int(g or 0) for g in match.groups())
    seconds = 3600 * h + 60 * m + s
    if not 0 < seconds <= 30 * 86_400:
        raise BenchError(f"--budget {text!r}: give more than zero and at most 30 days")
    return float(seconds)


def budget(duration: str | None, until: str | None, now: datetime) -> float | None:
    """Seconds `bench run` may take: --budget's duration, or from `now` to --until's clock time."""
    if duration and until:
        raise BenchError("give --budget (a duration) or --until (a clock time), not both")
    if until:
        return seconds_until(until, now)
    return parse_duration(duration) if duration else None


def seconds_until(text: str, now: datetime) -> float:
    """`18:30` -> seconds from `now` to the next 18:30 of `now`'s clock (today, else tomorrow)."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if not match:
        raise BenchError(f"--until {text!r}: give a clock time like 18:30 (24-hour, this machine's clock)")
    end = now.replace(hour=int(match[1]), minute=int(match[2]), second=0, microsecond=0)
    if end <= now:
        end += timedelta(days=1)
    return (end - now).total_seconds()


def plural(n: int, word: str) -> str:
    """`1 cell`, `2 cells`, `0 cells`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def human(secs: float) -> str:
    hours, rest = divmod(int(secs), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
