"""The answers a reader wants in thirty seconds: the scale every number rests on (the banner) and
the key results (best ResNet and best SVM per dataset with intervals, the largest effects that
chance would not explain first, flagged ones after them, and the CPU→GPU speedup per model where CUDA rows exist)."""

from __future__ import annotations

import statistics

from bench.report import cells, findings, progress

TOP_EFFECTS = 4  # what fits the first screen at 1400 px with the rest of the box; all are in the findings


def scale(runs: list[dict]) -> list[dict]:
    """Per preset: training, validation and test images, seeds per cell, devices, threads, hosts."""
    out = []
    for preset in sorted({r["preset"] or "" for r in runs}):
        own = [r for r in cells.done(runs) if (r["preset"] or "") == preset]
        if not own:
            continue
        out.append({
            "preset": preset,
            "n_train": sorted({cells.n_trained(r) for r in own if cells.n_trained(r) is not None}),
            "n_test": sorted({r["n_test"] for r in own if r["n_test"] is not None}),
            "seeds": max((len({m["seed"] for m in g}) for g in cells.group(own).values()), default=0),
            "epochs": sorted({r["epochs"] for r in own if r["epochs"]}),
            "devices": sorted({r["device"] for r in own}),
            "threads": sorted({r["threads"] for r in own if r["threads"]}),
            "hosts": len({r.get("host_id") for r in own if r.get("host_id")}),
        })
    return out


def _best(runs: list[dict], grid_best: dict[str, dict[str, dict]]) -> list[dict]:
    """Per dataset: the best ResNet of the grid, the best SVM (`grid_best`, from
    `findings.best_by_kind`), and the full-scale reference, each with its own training size (no
    best-model claim across training scales)."""
    resnets, svms = grid_best["resnet"], grid_best["svm"]
    reference = findings.best_cells([r for r in runs if r["role"] == "reference"], "resnet")
    return [{"dataset": d, "resnet": resnets.get(d), "svm": svms.get(d), "reference": reference.get(d)}
            for d in sorted(set(resnets) | set(svms) | set(reference))]


def _effects(found: list[dict]) -> list[dict]:
    """Accuracy effects that chance alone would not explain, ranked by the size of their median paired
    difference; flagged ones only after them. One line per comparison, from the preset with the most
    pairs: q2 repeats some of q1a's specs, so its runs are not new evidence for the same comparison."""
    chosen: dict[tuple, dict] = {}
    for f in (f for f in found if f["metric"] == "accuracy"):
        key = (f["factor"], *sorted((f["a"], f["b"])))  # either level may have won in either preset
        if key not in chosen or f["n"] > chosen[key]["n"]:
            chosen[key] = f
    ranked = sorted(chosen.values(), key=lambda f: (f["caveat"] is not None, -abs(f["median"])))
    return [{**f, "noise": f["caveat"] is not None} for f in ranked[:TOP_EFFECTS]]


def _speedups(q2: dict) -> list[dict]:
    """Per model: the median CUDA/CPU speedup over its Q2 cells timed on both devices, with the range."""
    by_model: dict[str, list[float]] = {}
    for row in q2["rows"]:
        if row["speedup"]:
            by_model.setdefault(row["label"], []).append(row["speedup"]["median"])
    return [{"label": label, "median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
            for label, v in sorted(by_model.items())]


def build(runs: list[dict], found: list[dict], q2: dict, grid_best: dict[str, dict[str, dict]],
          state: list[dict]) -> dict:
    """The first screen; `state` is the study's account (`progress.account`)."""
    best, scales = _best(runs, grid_best), scale(runs)
    return {"scale": scales, "single_seed": bool(scales) and all(s["seeds"] == 1 for s in scales),
            "best": best, "effects": _effects(found), "speedups": _speedups(q2),
            "full_scale": progress.banner(state), "stage": progress.stage(runs), "stated": progress.stated(),
            "has_reference": any(b["reference"] for b in best)}
