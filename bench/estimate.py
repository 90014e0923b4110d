"""Time estimates for `bench plan`: seconds per training image, from a short calibration per
(model, batch, amp) on this device (cached per device) or from a step experiment's table
(benchmarks/step.py, one rate per technique), scaled by the images each group trains and evaluates."""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from bench import cache, env
from bench.errors import BenchError
from bench.plan import TEST_PART, TRAIN_PART, VAL_PART, Cell, groups_of, total, training_seconds
from bench.spec import RunSpec

# SVC fit seconds per (n_train ** 2) on 784 features, measured here (2-core Zen 4, rbf, MNIST);
# poly kernels and Fashion-MNIST vary around it by about 2x: a rough figure.
SVM_SECONDS_PER_PAIR = 2.5e-7
# SVC predict seconds per (training image x image predicted), the validation and test splits: 1.47e-7
# (Xeon, rbf, MNIST, 10,000 x 14,000) and 1.75e-7 (q1b's 48 SVMs on the Xeon, timed alone). Left out
# before, it made q1b's estimate 20 min against 45 min run (benchmarks/README.md, "q1b timed alone").
SVM_PREDICT_SECONDS_PER_PAIR = 1.5e-7

CALIBRATION = "calibration.json"
UNDER_LOAD = 0.25  # cores other processes used while a shape was calibrated, beyond which its estimate is flagged


def cache_path() -> Path:
    return cache.path(CALIBRATION)


def _load_cache() -> dict:
    """The cached calibrations: key -> {seconds_per_image, others_cores, at}; entries of another form
    (an older bench's bare numbers, a hand edit) are dropped and measured again."""
    def valid(v) -> bool:
        rate = v.get("seconds_per_image") if isinstance(v, dict) else None
        return type(rate) is float and math.isfinite(rate) and rate > 0
    return {k: v for k, v in cache.read(CALIBRATION).items() if valid(v)}


def _key(spec: RunSpec, threads: int) -> str:
    """A calibration's shape on this machine (torch-free, so `bench plan` can tell what is missing
    before importing torch)."""
    return (f"{env.device_identity(spec.device)}|{spec.label}|{spec.batch_size}|{spec.optimizer}|{spec.amp}"
            f"|t{threads}")


def _shapes(cells: list[Cell], threads: int) -> dict[str, RunSpec]:
    """The ResNet shapes among `cells` that can be calibrated here, by key (CUDA ones need a GPU)."""
    out = {}
    for group in groups_of(cells):
        spec = group[0].spec
        if spec.kind == "resnet" and not (spec.device == "cuda" and not env.has_cuda()):
            out.setdefault(_key(spec, threads), spec)
    return out


def uncalibrated(cells: list[Cell], threads: int | None = None, every: bool = False) -> list[RunSpec]:
    """The shapes `seconds` would have to calibrate first (none cached for this machine and thread
    count), or `every` shape of the cells (to calibrate them again)."""
    threads = threads or env.thread_count()
    known = {} if every else _load_cache()
    return [spec for key, spec in _shapes(cells, threads).items() if key not in known]


def calibrate(specs: list[RunSpec], threads: int | None = None, show: bool = False) -> None:
    """Measure each shape's seconds per training image (a few steps of the step `bench run` would
    take, `step_config.for_calibration`) on `threads` threads, with how many cores other processes
    used meanwhile, into the machine's cache; a bar on stderr when `show`."""
    from tqdm import tqdm

    from bench import clock

    threads = clock.use_threads(threads)
    for spec in tqdm(specs, desc="calibrating", unit="shape", disable=not show, leave=False):
        busy, own, start = env.cpu_seconds_busy(), _own_cpu_seconds(), time.perf_counter()
        rate = _calibrate(spec)
        wall = time.perf_counter() - start
        after = env.cpu_seconds_busy()
        others = None if busy is None or after is None else max(0.0, (after - busy - (_own_cpu_seconds() - own)) / wall)
        entry = {"seconds_per_image": rate, "others_cores": None if others is None else round(others, 2),
                 "at": dt.datetime.now(dt.UTC).isoformat(timespec="minutes")}
        cache.write(CALIBRATION, {**_load_cache(), _key(spec, threads): entry})


def _own_cpu_seconds() -> float:
    return sum(os.times()[:2])


def under_load(cells: list[Cell], threads: int | None = None) -> list[str]:
    """A line per calibration behind these cells' estimates that other processes disturbed."""
    threads = threads or env.thread_count()
    known = _load_cache()
    notes = []
    for key, spec in _shapes(cells, threads).items():
        entry = known.get(key, {})
        if (entry.get("others_cores") or 0) >= UNDER_LOAD:
            notes.append(f"{spec.label} batch {spec.batch_size} {spec.optimizer} was calibrated under load "
                         f"({entry['others_cores']:g} cores busy with other processes, {entry['at']}): "
                         f"`bench plan --recalibrate` on an idle machine measures it again")
    return notes


def step_seconds_per_image(spec: RunSpec, threads: int | None = None) -> float:
    """Measured seconds per training image for this shape on this device (cached)."""
    threads = threads or env.thread_count()
    key = _key(spec, threads)
    if key not in _load_cache():
        calibrate([spec], threads)
    return _load_cache()[key]["seconds_per_image"]


def _calibrate(spec: RunSpec) -> float:
    """Seconds per training image of the step `bench run` would take here, timed as the warm-up
    times its candidates, on a random batch of the cell's shape normalised with its dataset's
    training statistics (`data.STUDY_STATS`: no dataset is loaded; the time of a step does not
    depend on the pixel values)."""
    import torch

    from bench import models, step_config
    from bench.data import STUDY_STATS

    torch.manual_seed(0)
    model = models.build(spec.model, spec.stem).to(spec.device)
    x = torch.randint(0, 256, (spec.batch_size, *models.INPUT_SHAPE[1:]), dtype=torch.uint8)
    y = torch.randint(0, models.NUM_CLASSES, (spec.batch_size,))
    x, y = STUDY_STATS[spec.dataset].normalise(x.to(spec.device)), y.to(spec.device)
    _, trials = step_config.fastest(model, spec, x, y, step_config.for_calibration(spec))
    return min(trials.values()) / spec.batch_size


def svm_seconds(spec: RunSpec) -> float:
    """An SVM's estimated seconds on the CPU, a rough figure: its fit (SVM_SECONDS_PER_PAIR) and its
    predictions on the validation and test splits (SVM_PREDICT_SECONDS_PER_PAIR)."""
    from bench.data import val_size

    n_train = min(spec.n_train, spec.subset or TRAIN_PART)
    predicted = val_size(spec.subset, VAL_PART) + (spec.test_size or TEST_PART)
    return SVM_SECONDS_PER_PAIR * n_train ** 2 + SVM_PREDICT_SECONDS_PER_PAIR * n_train * predicted


def seconds(cells: list[Cell], per_image: Callable[[RunSpec], float | None] | None = None,
            threads: int | None = None) -> dict[str, float]:
    """Estimated seconds per cell; cells of one group share a run, so the group's time is given to
    its longest cell and the others show the time to reach their epoch count. `per_image` gives a
    ResNet spec's seconds per training image (None: not known); by default, calibrated here with
    `threads` (default BENCH_THREADS: what one process computing alone gets)."""
    from bench.data import val_size

    threads = threads or env.thread_count()
    out: dict[str, float] = {}
    for group in groups_of(cells):
        spec = group[0].spec
        n_train = spec.subset or TRAIN_PART
        n_val = val_size(spec.subset, VAL_PART)
        if spec.kind == "svm":
            out[group[0].run_id] = svm_seconds(spec)
            continue
        if per_image is None:
            if spec.device == "cuda" and not env.has_cuda():  # no GPU here to calibrate on
                continue
            rate = step_seconds_per_image(spec, threads)
        else:
            rate = per_image(spec)
            if rate is None:
                continue
        # validation every epoch, the test split at each of the group's epoch counts
        passes = len({c.spec.epochs for c in group})
        for cell in group:
            out[cell.run_id] = training_seconds(rate, n_train, n_val, spec.test_size or TEST_PART, cell.spec.epochs,
                                                passes)
    return out


STEP_COLUMNS = ("device", "model", "batch", "technique", "ms_per_step")


def read_step_table(path: Path) -> tuple[dict, dict[str, dict[tuple[str, int], float]]]:
    """A step experiment's CSV (benchmarks/step.py): what it was measured with (device, threads,
    torch) and, per technique, seconds per training image by (model, batch). Errors are one line."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's byte-order mark
            reader = csv.DictReader(f)
            rows, header = list(reader), reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BenchError(f"cannot read step table {path}: {exc}") from None
    if any(c not in header for c in STEP_COLUMNS):
        raise BenchError(f"step table {path}: not a step experiment's CSV (needs columns {', '.join(STEP_COLUMNS)})")
    if not rows:
        raise BenchError(f"step table {path}: no rows under its header")
    about = {k: sorted({r.get(k) or "?" for r in rows}) for k in ("device", "device_name", "threads", "torch")}
    if len(about["device"]) != 1 or about["device"][0] not in ("cpu", "cuda"):
        raise BenchError(f"step table {path}: rows must all be of one device, cpu or cuda; found {about['device']}")
    rates: dict[str, dict[tuple[str, int], float]] = {}
    for line, row in enumerate(rows, start=2):
        try:
            batch, ms = int(row["batch"]), float(row["ms_per_step"])
        except (TypeError, ValueError):
            raise BenchError(f"step table {path}, line {line}: batch and ms_per_step must be numbers") from None
        if batch < 1 or not (math.isfinite(ms) and ms > 0):
            raise BenchError(f"step table {path}, line {line}: batch and ms_per_step must be positive")
        technique, model = (row["technique"] or "").strip(), (row["model"] or "").strip()
        if not technique or not model:
            raise BenchError(f"step table {path}, line {line}: technique and model must not be empty")
        if (model, batch) in rates.get(technique, {}):
            raise BenchError(f"step table {path}, line {line}: a second row for {technique}, {model}, batch {batch}")
        rates.setdefault(technique, {})[(model, batch)] = ms / 1000 / batch
    return {k: ", ".join(v) for k, v in about.items()}, rates


def from_step_table(device: str, rates: dict[tuple[str, int], float]) -> Callable[[RunSpec], float | None]:
    """seconds per training image of a spec from one technique's rates: fp32 cells of the table's
    device, model and batch size; others are not covered (None)."""
    def per_image(spec: RunSpec) -> float | None:
        if spec.compute_device != device or spec.amp:
            return None
        return rates.get((spec.label, spec.batch_size))
    return per_image


def by_technique(cells: list[Cell], path: Path) -> tuple[dict, list[tuple[str, float, int, int]]]:
    """The ResNet training runs among `cells` (of the table's device) under each technique of a step
    table: (technique, estimated seconds, runs covered, runs in all); none if no such runs."""
    about, table = read_step_table(path)
    runs = [g for g in groups_of(cells) if g[0].spec.kind == "resnet" and g[0].spec.compute_device == about["device"]]
    mine = [c for g in runs for c in g]
    out = []
    for technique, rates in table.items():
        per_image = from_step_table(about["device"], rates)
        per_cell = seconds(mine, per_image)
        covered = sum(per_image(g[0].spec) is not None for g in runs)
        out.append((technique, total(mine, per_cell), covered, len(runs)))
    return about, out if runs else []
