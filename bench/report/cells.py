"""Runs grouped into cells (the same spec over several seeds) and the statistics the report
states beside every number: mean, sample standard deviation and n."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from bench.spec import cell_key

REPEAT_FIELDS = ("seed",)  # what --repeats varies; a cell is its runs over these


def distinct(runs: list[dict], per_preset: bool = False) -> list[dict]:
    """One run per CPU computation: pin_memory=true/false rows on the CPU are the same result, and so
    are a q1a cell and the q2 cell of the same spec. `per_preset` keeps one per computation and preset,
    for statistics taken within each preset."""
    seen, out = set(), []
    for run in runs:
        key = (run["preset"] if per_preset else None, cell_key(run))
        if key not in seen:
            seen.add(key)
            out.append(run)
    return out


def validation_rank(members: list[dict]) -> tuple:
    """The one rule of "best on validation", for a cell (its runs over seeds): the higher mean
    validation accuracy wins; a tie (common on small validation sets) goes to the lower mean
    validation loss, then to the lower run id, so test data never decides and the choice is stable.
    Compare ranks with max()."""
    accs = [m["val_acc"] for m in members if m.get("val_acc") is not None]
    losses = [m["val_loss"] for m in members if m.get("val_loss") is not None]
    first = min((m["run_id"] for m in members), default="")
    return (statistics.fmean(accs) if accs else -math.inf,
            -statistics.fmean(losses) if losses else -math.inf,
            tuple(-ord(ch) for ch in first))


def summary(values: list[float | None]) -> dict:
    """{'mean', 'sd', 'median', 'min', 'max', 'n'} of the finite values; sd is None with fewer than two."""
    xs = [v for v in values if v is not None and math.isfinite(v)]
    return {"mean": statistics.fmean(xs) if xs else None, "sd": statistics.stdev(xs) if len(xs) > 1 else None,
            "median": statistics.median(xs) if xs else None, "min": min(xs, default=None),
            "max": max(xs, default=None), "n": len(xs)}


def group(runs: list[dict], drop: tuple[str, ...] = REPEAT_FIELDS) -> dict[tuple, list[dict]]:
    """Runs keyed by their cell without `drop`, in a stable order."""
    out: dict[tuple, list[dict]] = defaultdict(list)
    for run in runs:
        out[cell_key(run, drop)].append(run)
    return dict(sorted(out.items(), key=lambda kv: repr(kv[0])))


COLLAPSED = 0.5  # the share of all test predictions in one class beyond which a fit has collapsed
DEGENERATE_RULE = (f"A finished run is a degenerate fit when more than {COLLAPSED:.0%} of its test predictions "
                   "fall in one class (the test images are ten nearly balanced classes: a sound classifier puts "
                   "about 10 % there, a collapsed one predicts (almost) one class for everything) or, for an SVM, "
                   "when every training image became a support vector (the kernel separated nothing). The rule "
                   "reads how a fit predicts, not how well: a ResNet that is merely still learning is not flagged. "
                   "Diverged runs are failures of their own. Degenerate fits are flagged in every table and left out "
                   "of every effect estimate")


def degenerate(run: dict) -> str | None:
    """Why a finished run's result says nothing about its factors (DEGENERATE_RULE), or None."""
    if run["status"] != "done":
        return None
    matrix = run.get("confusion")
    if matrix:
        predicted = [sum(row[j] for row in matrix) for j in range(len(matrix))]
        share = max(predicted) / max(sum(predicted), 1)
        if share > COLLAPSED:
            return f"degenerate fit: {share:.0%} of its test predictions are one class"
    if run["kind"] == "svm" and run.get("n_support") and run.get("n_train_used") and \
            run["n_support"] >= run["n_train_used"]:
        return "degenerate fit: every training image is a support vector"
    return None


def sound(runs: list[dict]) -> list[dict]:
    """Finished runs that are not degenerate fits: what effect estimates rest on."""
    return [r for r in done(runs) if not r.get("degenerate")]


def done(runs: list[dict]) -> list[dict]:
    return [r for r in runs if r["status"] == "done"]


def spread(runs: list[dict], metric: str = "test_acc") -> dict:
    """Run-to-run spread: pooled sd of `metric` within cells that were repeated with other seeds."""
    variances, cells = [], 0
    for members in group(distinct(done(runs))).values():
        values = [m[metric] for m in members if m[metric] is not None]
        if len(values) > 1:
            variances.append((statistics.variance(values), len(values) - 1))
            cells += 1
    if not variances:
        return {"sd": None, "cells": 0}
    dof = sum(d for _, d in variances)
    return {"sd": math.sqrt(sum(v * d for v, d in variances) / dof), "cells": cells}


def wilson(acc: float | None, n: int | None, z: float = 1.96) -> tuple[float, float] | None:
    """The 95 % Wilson score interval of an accuracy measured on n test images (None without n)."""
    if acc is None or not n:
        return None
    centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def pooled_accuracy(runs: list[dict]) -> dict:
    """A cell's test accuracy (mean over its runs) with the Wilson interval of its test split. The
    seeds of a cell are tested on the same images, so n is one split's size, not the sum."""
    counted = [(r["test_acc"], r["n_test"]) for r in runs if r["test_acc"] is not None and r.get("n_test")]
    n = min((k for _, k in counted), default=0)
    acc = sum(a for a, _ in counted) / len(counted) if counted else None
    return {"acc": acc, "n": n, "ci": wilson(acc, n)}


def loaded(run: dict) -> bool:
    """Timed beside other work: the 1-minute load average at the start or end of the run exceeded
    its own thread count (with 0.5 of slack for the system's own noise)."""
    loads = [x for x in (run.get("load_start"), run.get("load_end")) if x is not None]
    return bool(loads) and max(loads) > (run.get("threads") or 1) + 0.5


def alone(run: dict) -> bool:
    """Timed on a machine of its own: no other cell computing beside it (`bench run --workers`,
    `concurrency`) and no load from elsewhere."""
    return (run.get("concurrency") or 1) == 1 and not loaded(run)


def timed(run: dict) -> bool:
    """A run whose speed may be compared: its host is known, it ran alone, at one thread count
    throughout, and it has a rate."""
    return (bool(run.get("host_id")) and alone(run) and run.get("threads_max") in (None, run.get("threads"))
            and bool(rate(run)))


def n_trained(run: dict) -> int | None:
    """Images the model trained on: an SVM's subsample, else the split's training part."""
    return run.get("n_train_used") or run.get("n_train_images")


def rate(run: dict) -> float | None:
    """Training images per second for speed comparisons: the steady-state rate (median over timed
    epochs, after warm-up) where stored, else the whole-run rate of older rows."""
    return run.get("steady_images_per_s") or run.get("images_per_s")
