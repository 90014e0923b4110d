"""`bench run` command lines rebuilt from stored spec fields: one per run (to reproduce it) and
one per group of runs (to produce the same cells on another device)."""

from __future__ import annotations

import shlex
from collections import defaultdict


def _num(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _common(run: dict) -> list[str]:
    out = [f"--subset {run['subset']}"]
    if run.get("test_size") is not None:  # 0 (all test images) too: the preset may say otherwise
        out.append(f"--test-size {run['test_size']}")
    if run["split"] and run["split"] != "random":
        out.append(f"--split {run['split']}")
    if run["data_seed"]:
        out.append(f"--data-seed {run['data_seed']}")
    return out


def reproduce(run: dict) -> str:
    """The command that trains exactly this run again (against a fresh --store, or with --force)."""
    parts = ["bench run", f"--preset {shlex.quote(run['preset'] or 'smoke')}", f"--datasets {run['dataset']}"]
    if run["kind"] == "svm":
        parts.append(f"--kernels {run['kernel']}")
        if run["kernel"] == "poly":
            parts.append(f"--degrees {run['degree']}")
        parts += [f"--C {_num(run['C'])}", f"--gammas {run['gamma']}", f"--n-train {run['n_train']}",
                  *_common(run), f"--seed {run['seed']}"]
        return " ".join(parts)
    parts.append(f"--models {run['model']}")
    if run["stem"] == "cifar":
        parts.append("--stem cifar")
    parts += [f"--optimizers {run['optimizer']}", f"--lr {_num(run['lr'])}", f"--batch-size {run['batch_size']}",
              f"--epochs {run['epochs']}"]
    if run["pin_memory"] is not None:
        parts.append(f"--pin-memory {str(run['pin_memory']).lower()}")
    if run["amp"]:
        parts.append("--amp")
    parts += [*_common(run), f"--seed {run['seed']}", f"--device {run['device']}"]
    return " ".join(parts)


def study(runs: list[dict]) -> list[dict]:
    """One command per preset, scale and device that computes every cell of the preset as the store
    holds it (each run's own command is on its page): {"command", "n"} with n the runs it covers."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        size = [f"--n-train {r['n_train']}"] if r["kind"] == "svm" else []  # one SVM size per command
        groups[(r["preset"] or "smoke", *size, *_common(r), r["device"] if r["kind"] == "resnet" else "")].append(r)
    out = []
    for (preset, *common, device), members in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        seeds = sorted({m["seed"] for m in members})
        parts = ["bench run", f"--preset {shlex.quote(preset)}", *common]
        parts += [f"--repeats {len(seeds)}"] if len(seeds) > 1 else []
        parts += [f"--device {device}"] if device else []
        out.append({"command": " ".join(parts), "n": len(members)})
    return out


def _joined(values) -> str:
    return ",".join(_num(v) for v in sorted(set(values)))


def for_device(runs: list[dict], device: str) -> list[str]:
    """Commands that run the same ResNet cells as `runs` on `device` (one per group of options
    that a single command cannot mix, e.g. two subsets)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        groups[(r["preset"] or "smoke", r["stem"] or "standard", r["subset"], r.get("test_size"), r["split"],
                r["data_seed"], bool(r["amp"]), r["pin_memory"])].append(r)
    out = []
    for (preset, stem, _, _, _, _, amp, pin), members in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        first, seeds = members[0], sorted({m["seed"] for m in members})
        parts = ["bench run", f"--preset {shlex.quote(preset)}", f"--datasets {_joined(m['dataset'] for m in members)}",
                 f"--models {_joined(m['model'] for m in members)}"]
        if stem == "cifar":
            parts.append("--stem cifar")
        parts += [f"--optimizers {_joined(m['optimizer'] for m in members)}",
                  f"--lr {_joined(m['lr'] for m in members)}",
                  f"--batch-size {_joined(m['batch_size'] for m in members)}",
                  f"--epochs {_joined(m['epochs'] for m in members)}"]
        if pin is not None:
            parts.append(f"--pin-memory {str(pin).lower()}")
        if amp:
            parts.append("--amp")
        parts += _common(first)
        if seeds[0]:
            parts.append(f"--seed {seeds[0]}")
        if len(seeds) > 1:
            parts.append(f"--repeats {len(seeds)}")
        parts.append(f"--device {device}")
        out.append(" ".join(parts))
    return out
