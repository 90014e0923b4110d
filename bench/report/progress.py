"""How far the study is: per preset of the study, the training runs and cells of its plan that are
stored, and the command that computes the rest. The study is what its presets state, scale included
(training and test images, seeds, device): the plan comes from the presets as they stand, so the
banner counts exactly what `bench plan --preset P` with no options would."""

from __future__ import annotations

from bench import plan, presets
from bench.spec import RunSpec

COMMAND = "bench run --preset {preset} --budget 2h30m"
SPEED = "bench time --preset {preset} --blocks 5"  # speeds: alone, on an idle machine
LISTING = "bench plan --preset {preset}"  # every cell, done or to do, with its estimate
# What a table or figure needs to place a pending cell where its row would be.
PENDING_FIELDS = ("kind", "dataset", "device", "subset", "split", "batch_size", "optimizer", "lr", "epochs",
                  "pin_memory", "kernel", "C", "gamma", "degree", "n_train")


def planned(name: str) -> list[plan.Cell]:
    """The cells of a study preset as it stands: the study's own definition, never a constant here."""
    return plan.cells_of(presets.load(name).specs())


def _sizes(values: set[int], whole: int, noun: str) -> str:
    return " / ".join(f"all {whole:,}" if not v else f"{v:,}" for v in sorted(values)) + f" {noun}"


def describe(specs: list[RunSpec]) -> str:
    """The scale of some cells in words: `all 49,000 training images, all 14,000 test images, 1 seed, cpu`
    (an SVM trains on its n_train sample of the training part)."""
    train = {s.n_train if s.kind == "svm" else s.subset for s in specs}
    seeds = len({s.seed for s in specs})
    return ", ".join([_sizes(train, plan.TRAIN_PART, "training images"),
                      _sizes({s.test_size for s in specs}, plan.TEST_PART, "test images"),
                      f"{seeds} seed{'' if seeds == 1 else 's'}",
                      "+".join(sorted({s.compute_device for s in specs}))])


def stated() -> str:
    """The scale each study preset states, in words: `q1a all 49,000 training images, ...; q1b ...`."""
    return "; ".join(f"{name} {describe([c.spec for c in planned(name)])}" for name in presets.study())


def stage(runs: list[dict]) -> str:
    """Where the study's done rows stand against the presets: all are cells of their preset's plan
    ("study"), none are (or no study rows at all: "other"), or both scales side by side ("mixed")."""
    study = {name: {c.run_id for c in planned(name)} for name in presets.study()}
    rows = [r for r in runs if r["status"] == "done" and r["preset"] in study]
    planned_rows = sum(r["run_id"] in study[r["preset"]] for r in rows)
    return "other" if not planned_rows else "study" if planned_rows == len(rows) else "mixed"


def _left(remaining: list[list[plan.Cell]]) -> list[str]:
    """The training runs still to do, counted per dataset and model: `mnist resnet50: 8`."""
    counts: dict[str, int] = {}
    for group in remaining:
        key = f"{group[0].spec.dataset} {group[0].spec.label}"
        counts[key] = counts.get(key, 0) + 1
    return [f"{key}: {n}" for key, n in counts.items()]


def account(runs: list[dict]) -> list[dict]:
    """The study's state, computed once for every place that tells it (cover, overview, banner,
    notebook): per study preset in the questions' order, its cells planned, done and pending, in all
    and per device, its training runs, the runs left per dataset and model, and the command per
    device with work left; `todo` lists the pending cells (`PENDING_FIELDS`), for the tables and
    figures that draw them as pending. `after` names the earlier presets that hold some of its cells (compute
    those first, and this preset stores them as copies, `bench.reuse`)."""
    done = {r["run_id"] for r in runs if r["status"] == "done"}
    out = []
    earlier: dict[tuple, str] = {}  # computations of the presets before this one -> the first preset
    for name in presets.study():
        preset, cells = presets.load(name), planned(name)
        groups = plan.groups_of(cells)
        keys = {c.run_id: c.spec.computation_key() for c in cells}
        shared = sorted({earlier[keys[c.run_id]] for c in cells
                         if c.run_id not in done and keys[c.run_id] in earlier})
        for key in keys.values():
            earlier.setdefault(key, name)
        remaining = [g for g in groups if not all(c.run_id in done for c in g)]
        devices = sorted({c.spec.compute_device for c in cells})
        per_device = []
        for device in devices:
            own = [c for c in cells if c.spec.compute_device == device]
            n_done = sum(c.run_id in done for c in own)
            per_device.append({"device": device, "cells": len(own), "done": n_done, "pending": len(own) - n_done,
                               "command": COMMAND.format(preset=name + (f" --device {device}" if len(devices) > 1
                                                                         else ""))})
        n_done = sum(c.run_id in done for c in cells)
        todo = [{"preset": name, "run_id": c.run_id, "label": c.spec.label, **{k: getattr(c.spec, k) for k in
                                                                              PENDING_FIELDS}}
                for c in cells if c.run_id not in done]
        out.append({"preset": name, "todo": todo, "question": preset.question, "cells": len(cells),
                    "cells_done": n_done,
                    "pending": len(cells) - n_done, "runs": len(groups), "runs_done": len(groups) - len(remaining),
                    "devices": per_device, "scale": describe([c.spec for c in cells]),
                    "remaining": _left(remaining), "listing": LISTING.format(preset=name),
                    "commands": [d["command"] for d in per_device if d["pending"]], "after": shared,
                    "speed": SPEED.format(preset=name) if preset.role == "devices" else ""})
    return out


def pending(state: list[dict]) -> list[dict]:
    """The pending cells of the study's `account`, per preset and device: {preset, device, cells, command}."""
    return [{"preset": p["preset"], "device": d["device"], "cells": d["pending"], "command": d["command"]}
            for p in state for d in p["devices"] if d["pending"]]


def banner(state: list[dict]) -> list[dict]:
    """The banner's lines from the study's `account`: once its campaign has begun, the study presets
    not finished; a finished preset needs no line: the scale banner states it."""
    begun = any(p["cells_done"] for p in state)
    return [p for p in state if p["pending"]] if begun else []


def complete(state: list[dict]) -> list[dict]:
    """The devices whose every cell of the study is stored and done, once its campaign has begun:
    [{device, cells}], e.g. the CPU half while the CUDA cells wait for a GPU."""
    if not any(p["cells_done"] for p in state):
        return []
    cells: dict[str, int] = {}
    pending: dict[str, int] = {}
    for p in state:
        for d in p["devices"]:
            cells[d["device"]] = cells.get(d["device"], 0) + d["cells"]
            pending[d["device"]] = pending.get(d["device"], 0) + d["pending"]
    return [{"device": device, "cells": n} for device, n in sorted(cells.items()) if not pending[device]]
