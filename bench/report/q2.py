"""Q2: the q2 cells on both devices, the CUDA ÷ CPU speedup from one host's `bench time` rates,
cost per model, and, when one device is missing, exactly which runs are missing and the command that
produces them."""

from __future__ import annotations

import statistics

from bench.plan import training_seconds
from bench.report import cells, commands

DEVICES = ("cpu", "cuda")


def _q2(runs: list[dict]) -> list[dict]:
    return [r for r in runs if r["role"] == "devices" and r["kind"] == "resnet"]


def _rank(t: dict) -> tuple:
    """Which of one host's `bench time` rows of a cell speaks for it: the most threads (the machine
    to itself), then the latest."""
    return t["threads"] or 0, t["started_at"] or ""


def _alone(members: list[dict], device: str, chosen: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """Per host: the `bench time` row that speaks for this device's cells on that host (`_rank`)."""
    out: dict[str, dict] = {}
    for m in members:
        for host, t in chosen.get(m["run_id"], {}).items() if m["device"] == device else ():
            if host not in out or _rank(t) > _rank(out[host]):
                out[host] = t
    return out


def _timed(t: dict | None) -> dict:
    """One `bench time` measurement: its median rate and the range over its timed blocks."""
    if t is None:
        return cells.summary([])
    return {**cells.summary([t["images_per_s"]]), "low": t["min_images_per_s"], "high": t["max_images_per_s"],
            "blocks": t["blocks"], "threads": t["threads"], "host": t["host_id"], "started_at": t["started_at"]}


def speedup(cpu: dict, cuda: dict) -> dict:
    """CUDA ÷ CPU of two `bench time` rows of one host: the ratio of their medians, and the lowest and
    highest ratio their timed blocks allow (slowest CUDA block over fastest CPU block, and back)."""
    return {"median": cuda["images_per_s"] / cpu["images_per_s"],
            "min": cuda["min_images_per_s"] / cpu["max_images_per_s"],
            "max": cuda["max_images_per_s"] / cpu["min_images_per_s"],
            "host": cpu["host_id"]}


def timed_alone(run: dict, timings: list[dict]) -> list[dict]:
    """The `bench time` rows a run's time alone is derived from, latest first: of its cell's rows
    taken alone, those of one host and thread count, the run's own host first, then the most threads
    (the machine to itself)."""
    own = [t for t in timings if t["run_id"] == run["run_id"] and cells.alone(t)]
    pick = max(own, key=lambda t: (t["host_id"] == run.get("host_id"), *_rank(t)), default=None)
    return measurements(pick, own) if pick else []


def measurements(timing: dict, timings: list[dict]) -> list[dict]:
    """Every measurement taken alone of `timing`'s cell on its host at its thread count, latest first:
    the drift between them is part of what a rate can say."""
    same = [t for t in timings if cells.alone(t) and all(t[k] == timing[k] for k in ("run_id", "host_id", "threads"))]
    return sorted(same, key=lambda t: t["started_at"] or "", reverse=True)


def derived_time(run: dict | None, rows: list[dict]) -> dict | None:
    """The time a run costs on one machine alone, derived from the rate of its latest `bench time`
    measurement there (`rows`, latest first, one host and thread count; images trained ÷ rate,
    evaluation at a third of a training image: `plan.training_seconds`), with the range the timed
    blocks of every measurement allow; None without both."""
    if not run or not rows or not run.get("n_train_images"):
        return None

    def at(rate: float) -> float:
        return training_seconds(1 / rate, run["n_train_images"], run["n_val"] or 0, run["n_test"] or 0, run["epochs"])

    return {"median": at(rows[0]["images_per_s"]), "low": at(max(t["max_images_per_s"] for t in rows)),
            "high": at(min(t["min_images_per_s"] for t in rows)), "host": rows[0]["host_id"],
            "threads": rows[0]["threads"], "measurements": len(rows)}


def _per_device(members: list[dict], device: str) -> dict:
    """The stored runs of one device (the latest attempt of each cell, from whichever host computed
    it): accuracy, and the training time of runs timed alone."""
    own = [m for m in members if m["device"] == device]
    ok = cells.done(own)
    timed = [m for m in ok if cells.alone(m)]
    return {
        "n": len(own), "failed": len(own) - len(ok), "loaded": len(ok) - len(timed),
        "threads": sorted({m["threads"] for m in ok if m["threads"]}),
        "hosts": sorted({m.get("host_id") or "unknown" for m in own}),
        "time": cells.summary([m["train_time_s"] for m in timed]),
        "acc": cells.summary([m["test_acc"] for m in ok]),
        "flops": cells.summary([m["achieved_flops"] for m in timed]),
        "peak": next((m["peak_flops"] for m in ok if m["peak_flops"]), None),
        "device_name": next((m["device_name"] for m in ok), None),
    }


def _chosen(timings: list[dict]) -> dict[str, dict[str, dict]]:
    """run id -> host -> the `bench time` row taken alone (never one timed beside other work) that
    speaks for that host (`_rank`)."""
    out: dict[str, dict[str, dict]] = {}
    for t in sorted(timings, key=_rank):
        if cells.alone(t):
            out.setdefault(t["run_id"], {})[t["host_id"]] = t
    return out


def section(runs: list[dict], timings: list[dict] = ()) -> dict:
    """One row per Q2 cell (dataset, model, optimizer, ...) with each device's stored runs, from
    whichever host computed them, and the speedup: the ratio of the two devices' `bench time` rates
    measured alone on one host (the latest host that timed both). A new GPU host thus needs only its
    CUDA training runs and a few minutes of `bench time`, never a retraining of the CPU side."""
    timings = list(timings)
    q2, chosen = _q2(runs), _chosen(timings)
    devices = sorted({r["device"] for r in q2})
    rows, scatter = [], []
    for members in cells.group(q2, ("seed", "device", "pin_memory")).values():
        first = members[0]
        alone = {d: _alone(members, d, chosen) for d in DEVICES}
        both = [h for h in alone["cpu"] if h in alone["cuda"]]
        host = max(both, key=lambda h: max(alone["cpu"][h]["started_at"], alone["cuda"][h]["started_at"]),
                   default=None)
        shown = {d: alone[d].get(host) if host else max(alone[d].values(), key=lambda t: t["started_at"],
                                                           default=None) for d in DEVICES}
        rows.append({
            "dataset": first["dataset"], "label": first["label"], "optimizer": first["optimizer"],
            "lr": first["lr"], "batch_size": first["batch_size"], "epochs": first["epochs"],
            "macs": next((m["macs"] for m in members if m["macs"]), None), "params": first["params"],
            "devices": {d: _per_device(members, d) for d in DEVICES},
            "timed": {d: _timed(shown[d]) for d in DEVICES},
            "derived": {d: derived_time(next(iter(cells.done([m for m in members if m["device"] == d])), None),
                                        measurements(shown[d], timings) if shown[d] else []) for d in DEVICES},
            "speedup": speedup(alone["cpu"][host], alone["cuda"][host]) if host else None,
            "run_ids": {d: sorted(m["run_id"] for m in members if m["device"] == d) for d in DEVICES},
        })
        derived = rows[-1]["derived"]
        for m in cells.done(members):  # a time alone, or derived from the cell's timed-alone rate, or none
            time = m["train_time_s"] if cells.alone(m) else (derived[m["device"]] or {}).get("median")
            if time:
                scatter.append({"device": m["device"], "label": m["label"], "optimizer": m["optimizer"],
                                "time": time, "acc": m["test_acc"], "derived": not cells.alone(m)})
    all_speedups = [r["speedup"]["median"] for r in rows if r["speedup"]]
    return {
        "n_runs": len(q2), "devices": devices, "rows": rows, "scatter": scatter,
        "median_speedup": statistics.median(all_speedups) if all_speedups else None,
        "n_paired": len(all_speedups), "missing": missing(q2),
    }


def missing(q2: list[dict]) -> dict | None:
    """With only one device stored: the runs the other device still needs and the command for them."""
    devices = {r["device"] for r in q2}
    if len(devices) != 1:
        return None
    have = devices.pop()
    other = "cuda" if have == "cpu" else "cpu"
    return {
        "have": have, "other": other,
        "runs": [{"dataset": r["dataset"], "label": r["label"], "optimizer": r["optimizer"], "lr": r["lr"],
                  "batch_size": r["batch_size"], "epochs": r["epochs"], "seed": r["seed"], "run_id": r["run_id"]}
                 for r in sorted(q2, key=lambda r: (r["dataset"], r["label"], r["optimizer"], r["seed"]))],
        "commands": commands.for_device(q2, other),
    }
