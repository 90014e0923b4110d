"""Q2: the q2 cells paired across devices, speedups, cost per model, and, when one device is
missing, exactly which runs are missing and the command that produces them."""

from __future__ import annotations

import statistics

from bench.report import cells, commands

DEVICES = ("cpu", "cuda")


def _q2(runs: list[dict]) -> list[dict]:
    return [r for r in runs if r["role"] == "devices" and r["kind"] == "resnet"]


def _timed_alone(members: list[dict], device: str, timings: dict[tuple, dict]) -> dict:
    """The `bench time` medians of this device's cells on their host (the latest measurement of
    each, only those taken alone): images/s over cells as mean ± sd (n); for a single measurement
    also the range over its timed blocks (`low`, `high`, `blocks`), its only spread, and its threads."""
    measured = [t for m in members if m["device"] == device
                for t in [timings.get((m["run_id"], m.get("host_id")))] if t and cells.alone(t)]
    out = cells.summary([t["images_per_s"] for t in measured])
    if len(measured) == 1 and (measured[0]["blocks"] or 0) > 1:
        t = measured[0]
        out = {**out, "low": t["min_images_per_s"], "high": t["max_images_per_s"], "blocks": t["blocks"],
               "threads": t["threads"]}
    return out


def _per_device(members: list[dict], device: str) -> dict:
    own = [m for m in members if m["device"] == device]
    ok = cells.done(own)
    timed = [m for m in ok if cells.alone(m)]
    return {
        "n": len(own), "failed": len(own) - len(ok), "loaded": len(ok) - len(timed),
        "threads": sorted({m["threads"] for m in ok if m["threads"]}),
        "time": cells.summary([m["train_time_s"] for m in timed]),
        "acc": cells.summary([m["test_acc"] for m in ok]),
        "images_per_s": cells.summary([cells.rate(m) for m in timed]),
        "flops": cells.summary([m["achieved_flops"] for m in timed]),
        "peak": next((m["peak_flops"] for m in ok if m["peak_flops"]), None),
        "device_name": next((m["device_name"] for m in ok), None),
    }


def _by_host(groups) -> list[list[dict]]:
    """Each cell's runs split by host: per-device numbers never average across machines."""
    out = []
    for members in groups:
        hosts: dict = {}
        for m in members:
            hosts.setdefault(m.get("host_id"), []).append(m)
        out += [hosts[h] for h in sorted(hosts, key=str)]
    return out


def pairs(members: list[dict]) -> list[dict]:
    """CPU and CUDA runs of one seed on one host (a row without a host id pairs with nothing), both
    timed without load and with a rate: the only runs a speedup may compare."""
    by_key: dict = {}
    for m in cells.done(members):
        if cells.timed(m):
            by_key.setdefault((m["host_id"], m["seed"]), {})[m["device"]] = m
    return [p for p in by_key.values() if "cpu" in p and "cuda" in p]


def _latest(timings: list[dict]) -> dict[tuple, dict]:
    out: dict[tuple, dict] = {}
    for t in sorted(timings, key=lambda t: t["started_at"] or ""):
        out[(t["run_id"], t["host_id"])] = t
    return out


def section(runs: list[dict], timings: list[dict] = ()) -> dict:
    """Rows per (dataset, model, optimizer, ...) cell with each device's numbers and the speedup;
    where `bench time` measured the cells alone, their rates and the speedup of those too."""
    q2, latest = _q2(runs), _latest(list(timings))
    devices = sorted({r["device"] for r in q2})
    rows, scatter = [], []
    for members in _by_host(cells.group(q2, ("seed", "device", "pin_memory")).values()):
        first = members[0]
        speedups = [cells.rate(pair["cuda"]) / cells.rate(pair["cpu"]) for pair in pairs(members)]
        timed = {d: _timed_alone(members, d, latest) for d in DEVICES}
        both = timed["cpu"]["median"] and timed["cuda"]["median"]
        rows.append({
            "host": first.get("host_id") or "unknown",
            "dataset": first["dataset"], "label": first["label"], "optimizer": first["optimizer"],
            "lr": first["lr"], "batch_size": first["batch_size"], "epochs": first["epochs"],
            "macs": first["macs"], "params": first["params"],
            "devices": {d: _per_device(members, d) for d in DEVICES},
            "speedup": cells.summary(speedups),
            "timed": timed, "timed_speedup": timed["cuda"]["median"] / timed["cpu"]["median"] if both else None,
        })
        scatter += [{"device": m["device"], "label": m["label"], "optimizer": m["optimizer"],
                     "time": m["train_time_s"], "acc": m["test_acc"]} for m in cells.done(members)]
    all_speedups = [r["speedup"]["median"] for r in rows if r["speedup"]["n"]]
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
