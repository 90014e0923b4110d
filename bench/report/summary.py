"""The answers a reader wants in thirty seconds: the scale every number rests on (the banner) and
one answer per question (`answers`): Q1(a) and Q1(b) the best configuration per dataset with its
interval and every factor's effect, those chance would not explain first; the SVM-against-ResNet
gap; Q2 each model's cost and speed per device with the speedup, or what is pending."""

from __future__ import annotations

from bench.report import cells, findings, progress


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


def _factor_effects(found: list[dict], kind: str, grids: set[str]) -> list[dict]:
    """Every accuracy effect of a kind's factors in the grid presets `grids`, one line per comparison
    (from the preset with the most pairs), those chance would not explain first."""
    chosen: dict[tuple, dict] = {}
    for f in found:
        if f["kind"] == kind and f["metric"] == "accuracy" and f["preset"] in grids:
            key = (f["factor"], *sorted((f["a"], f["b"])))
            if key not in chosen or f["n"] > chosen[key]["n"]:
                chosen[key] = f
    return [{**f, "noise": f["caveat"] is not None}
            for f in sorted(chosen.values(), key=lambda f: (f["caveat"] is not None, -abs(f["median"])))]


def _per_model(q2: dict) -> list[dict]:
    """Q2 per model: parameters, MACs, each device's timed-alone rate (median over the model's cells)
    and the CUDA ÷ CPU speedup (median and range over its cells timed on both devices)."""
    out: dict[str, dict] = {}
    for row in q2["rows"]:
        m = out.setdefault(row["label"], {"label": row["label"], "params": row["params"], "macs": row["macs"],
                                          "rates": {"cpu": [], "cuda": []}, "speedups": [],
                                          "run_ids": {"cpu": [], "cuda": []}})
        m["macs"] = m["macs"] or row["macs"]
        for device, timed in row["timed"].items():
            if timed["median"] is not None:
                m["rates"][device].append(timed["median"])
            m["run_ids"][device] += row["run_ids"][device]
        if row["speedup"]:
            m["speedups"].append(row["speedup"]["median"])
    return [{**m, "rates": {d: cells.summary(v) for d, v in m["rates"].items()},
             "speedup": cells.summary(m["speedups"])} for m in out.values()]


def answers(found: list[dict], q2: dict, grid_best: dict[str, dict[str, dict]], vs: list[dict],
            state: list[dict], grids: set[str]) -> dict:
    """One answer per question for the first screen: Q1(a) the best ResNet configuration per
    dataset (chosen on validation) and every factor's effect; Q1(b) the best SVM per dataset, the
    SVM factors and the gap to the best ResNet on the same test images; Q2 per model its cost and
    speed on each device with the speedup, and the cells still pending with their commands."""
    q2_pending = [x for x in progress.pending(state) if x["preset"] == "q2"]
    return {"q1a": {"best": [grid_best["resnet"][d] for d in sorted(grid_best["resnet"])],
                    "effects": _factor_effects(found, "resnet", grids)},
            "q1b": {"best": [grid_best["svm"][d] for d in sorted(grid_best["svm"])],
                    "effects": _factor_effects(found, "svm", grids), "gap": vs},
            "q2": {"models": _per_model(q2), "pending": q2_pending}}


def build(runs: list[dict], found: list[dict], q2: dict, grid_best: dict[str, dict[str, dict]],
          state: list[dict], vs: list[dict] = ()) -> dict:
    """The first screen; `state` is the study's account (`progress.account`), `vs` the SVM-against-
    ResNet rows (`findings.svm_vs_resnet`)."""
    best, scales = _best(runs, grid_best), scale(runs)
    return {"scale": scales, "single_seed": bool(scales) and all(s["seeds"] == 1 for s in scales),
            "best": best,
            "full_scale": progress.banner(state), "stage": progress.stage(runs), "stated": progress.stated(),
            "has_reference": any(b["reference"] for b in best),
            "answers": answers(found, q2, grid_best, list(vs), state if progress.stage(runs) != "other" else [],
                               {r["preset"] for r in runs if r["role"] == "grid"})}
