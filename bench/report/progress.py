"""How far the full-scale study is: per preset of the study, the training runs and cells of its
full-scale plan (all training images, all 14,000 test images, one seed, on the CPU) that are
stored, and the command that computes the rest. The plan comes from the presets themselves, so the
banner counts exactly what `bench plan` would."""

from __future__ import annotations

from bench import plan, presets

SIZES = ("subset", "test_size")  # 0: all training images, all test images
FULL_SCALE = {**dict.fromkeys(SIZES, 0), "device": "cpu"}  # what "full scale" means, for every preset
COMMAND = "bench run --preset {preset} --test-size 0 --budget 2h30m"
SPEED = "bench time --preset {preset} --test-size 0 --blocks 5"  # speeds: alone, on an idle machine


LISTING = "bench plan --preset {preset} --test-size 0"  # every cell, done or to do, with its estimate


def stage(runs: list[dict]) -> str:
    """Where the study's done rows stand: all at full scale ("full"), none ("reduced", also for a
    store without study rows) or both scales side by side ("mixed")."""
    study = set(presets.study())
    rows = [r for r in runs if r["status"] == "done" and r["preset"] in study]
    full = sum(all(not r[size] for size in SIZES) for r in rows)  # on any device
    return "reduced" if not full else "full" if full == len(rows) else "mixed"


def _left(remaining: list[list[plan.Cell]]) -> list[str]:
    """The training runs still to do, counted per dataset and model: `mnist resnet50: 8`."""
    counts: dict[str, int] = {}
    for group in remaining:
        key = f"{group[0].spec.dataset} {group[0].spec.label}"
        counts[key] = counts.get(key, 0) + 1
    return [f"{key}: {n}" for key, n in counts.items()]


def build(runs: list[dict]) -> list[dict]:
    """Once a full-scale campaign has begun, per study preset not finished at full scale: runs and
    cells done of all, the remaining training runs, the commands that compute them and the earlier
    presets that hold some of its cells (`after`: compute those first, and this preset stores them
    as copies, `bench.reuse`). A finished preset needs no line: the scale banner states it."""
    done = {r["run_id"] for r in runs if r["status"] == "done"}
    out, begun = [], False
    earlier: dict[tuple, str] = {}  # computations of the presets before this one -> the first preset
    for name in presets.study():  # the presets that answer the assignment's questions, in its order
        cells = plan.cells_of(presets.expand(presets.load_preset(name), FULL_SCALE))
        groups = plan.groups_of(cells)
        keys = {c.run_id: c.spec.computation_key() for c in cells}
        shared = sorted({earlier[keys[c.run_id]] for c in cells
                         if c.run_id not in done and keys[c.run_id] in earlier})
        for key in keys.values():
            earlier.setdefault(key, name)
        finished = [g for g in groups if all(c.run_id in done for c in g)]
        n_cells = sum(c.run_id in done for c in cells)
        begun = begun or n_cells > 0
        if len(finished) == len(groups):
            continue
        remaining = [g for g in groups if not all(c.run_id in done for c in g)]
        out.append({"preset": name, "runs_done": len(finished), "runs": len(groups), "cells_done": n_cells,
                    "cells": len(cells), "remaining": _left(remaining), "listing": LISTING.format(preset=name),
                    "command": COMMAND.format(preset=name), "after": shared,
                    "speed": SPEED.format(preset=name) if presets.role(name) == "devices" else ""})
    return out if begun else []  # no full-scale campaign begun: no banner
