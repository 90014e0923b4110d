"""The view model: every number and sentence the report shows, as plain dicts and lists built
from the stored rows. Templates only loop over it and format with filters."""

from __future__ import annotations

from collections import Counter

from bench import presets, schema
from bench.report import charts, commands, findings, progress, q2, summary, tables
from bench.report.cells import DEGENERATE_RULE, alone, group, loaded
from bench.report.load import STORE_FILES, Study
from bench.spec import identity_of


def _reading_order(role: str, first: tuple[str, ...]) -> tuple[str, ...]:
    """The stored columns of `role` (bench.schema), `first` ahead in that order and the rest in the
    registry's: a column added to the registry shows in the report without a change here."""
    names = schema.named(role)
    return tuple(n for n in first if n in names) + tuple(n for n in names if n not in first)


ENV_FIELDS = _reading_order(schema.ENVIRONMENT, ("device_name", "cpu_name", "host_id", "threads", "torch", "cuda",
                                                 "cudnn", "sklearn", "python", "os"))
RUN_FIELDS = _reading_order(schema.RUN, ("threads_max", "workers", "workers_auto"))  # of this run, not its machine
METRIC_FIELDS = _reading_order(schema.RESULT, (
    "val_acc", "val_loss", "best_epoch", "test_acc", "test_precision", "test_recall", "test_f1", "train_loss",
    "train_time_s", "eval_time_s", "images_per_s", "steady_images_per_s", "amp_dtype", "tf32", "deterministic",
    "load_start", "load_end", "achieved_flops", "peak_flops", "macs", "params", "peak_mem_mb", "fit_time_s",
    "predict_time_s", "n_support", "n_train_used"))
TITLE = "ResNets and SVMs on MNIST and Fashion-MNIST"


def _counts(values) -> list[dict]:
    return [{"value": v, "n": n} for v, n in sorted(Counter(values).items(), key=lambda kv: repr(kv[0]))]


def _threads(run: dict) -> str:
    """`cpu: 2 torch threads per process`; for a worker whose share grew between epochs (it took over
    the threads of workers that had run out of work), `cpu: 1 to 2 torch threads per process`."""
    most = run.get("threads_max") or run["threads"]
    count = run["threads"] if most == run["threads"] else f"{run['threads']} to {most}"
    return f"{run['device']}: {count} torch thread{'s' * (most != 1)} per process"


def overview(runs: list[dict], superseded: list[dict] = ()) -> dict:
    """What was run: runs per preset and status (and the failed attempts a later attempt replaced),
    the scale of each preset, devices, data splits, tags."""
    presets = []
    for preset in sorted({r["preset"] or "" for r in runs}):
        own = [r for r in runs if (r["preset"] or "") == preset]
        status = Counter(r["status"] for r in own)
        presets.append({
            "preset": preset, "n": len(own), "done": status["done"], "diverged": status["diverged"],
            "error": status["error"], "degenerate": sum(bool(r["degenerate"]) for r in own),
            "devices": sorted({r["device"] for r in own}),
            "retried": sum(1 for s in superseded if s["preset"] == preset and s["status"] != "done"),
            "subsets": sorted({r["subset"] for r in own}), "epochs": sorted({r["epochs"] for r in own if r["epochs"]}),
            "seeds": max((len({m["seed"] for m in g}) for g in group(own).values()), default=0),
            "n_train": sorted({r["n_train"] for r in own if r["kind"] == "svm"}),
        })
    splits = sorted({(r["dataset"], r["split"], r["subset"], r["n_train_images"], r["n_val"], r["n_test"])
                     for r in runs if r["n_test"] is not None}, key=repr)
    return {
        "n_runs": len(runs), "presets": presets,
        "devices": _counts(f"{r['device']}: {r['device_name']}" for r in runs),
        "splits": [dict(zip(("dataset", "split", "subset", "n_train", "n_val", "n_test"), s, strict=True))
                   for s in splits],
        "tags": _counts(r["tag"] for r in runs if r["tag"]),
    }


def methodology(runs: list[dict]) -> dict:
    """How it was measured, from the rows: pin_memory, AMP, threads, momentum, model cost, environments."""
    resnets = [r for r in runs if r["kind"] == "resnet"]
    costs = sorted({(r["label"], r["macs"], r["params"]) for r in resnets if r["macs"]}, key=repr)
    envs = []
    for device in sorted({r["device"] for r in runs}):
        own = [r for r in runs if r["device"] == device]
        for combo, n in sorted(Counter(tuple(r[f] for f in ENV_FIELDS) for r in own).items(), key=repr):
            fields = dict(zip(ENV_FIELDS, combo, strict=True))
            dates = sorted((r["finished_at"] or "")[:10] for r in own if tuple(r[f] for f in ENV_FIELDS) == combo)
            envs.append({"device": device, "n": n, "fields": list(fields.items()), "commit": fields["git_commit"],
                         "dirty": bool(fields["git_dirty"]), "first": dates[0], "last": dates[-1]})
    varying = [f for f in ENV_FIELDS if len({dict(e["fields"])[f] for e in envs}) > 1]
    return {
        # one table of environments: what all share once, then a row per environment with what varies
        "env_common": [(f, v) for f, v in (envs[0]["fields"] if envs else []) if f not in varying],
        "env_columns": varying,
        "env_rows": [{**e, "shown": [dict(e["fields"])[f] for f in varying]} for e in envs],
        "degenerate_rule": DEGENERATE_RULE,
        "step_configs": _counts(f"{r['memory_format']}/{r['optimizer_impl']}" for r in resnets
                                if r.get("memory_format")),
        "pin_effects": _counts(r["pin_memory_effect"] for r in resnets if r["pin_memory_effect"]),
        "amp": _counts(bool(r["amp"]) for r in resnets),
        "amp_dtypes": _counts(r["amp_dtype"] for r in resnets if r.get("amp_dtype")),
        "loaded": sum(loaded(r) for r in resnets),
        "hosts": len({r.get("host_id") for r in runs if r.get("host_id")}),
        "threads": _counts(_threads(r) for r in runs if r["threads"] is not None),
        "workers": _counts("not recorded (older rows)" if r.get("workers") is None else
                           f"{r['workers']}{' (auto)' if r.get('workers_auto') else ''}" for r in runs),
        "momentum": _counts(r["momentum"] for r in resnets if r["optimizer"] == "sgd"),
        "cache": _counts(r["cache_size_mb"] for r in runs if r["kind"] == "svm" and r["cache_size_mb"]),
        "costs": [{"label": label, "macs": macs, "params": params} for label, macs, params in costs],
        "reproduce": commands.study(runs),
    }


def run_page(run: dict, curves: list[dict], timings: list[dict] = ()) -> dict:
    """Everything one run's page shows: spec, metrics, environment, curves, confusion matrix, and
    whether its own time was taken alone, with the time derived from its cell's timed-alone rate."""
    spec = {"preset": run["preset"], "label": run["label"], **identity_of(run), "tag": run["tag"]}
    if run["momentum"] is not None:
        spec["momentum"] = run["momentum"]
    return {
        "run": run, "spec": list(spec.items()),
        "metrics": [(k, run[k]) for k in METRIC_FIELDS if run[k] is not None],
        "environment": [(k, run[k]) for k in ENV_FIELDS + RUN_FIELDS if run[k] is not None],
        "data": [(k, run[k]) for k in ("n_train_images", "n_val", "n_test", "train_mean", "train_std")
                 if run[k] is not None],
        "curves": curves, "curves_svg": charts.curves(curves) if curves else None,
        "confusion_svg": charts.confusion(run["confusion"], run["dataset"]) if run["confusion"] else None,
        "command": commands.reproduce(run),
        "alone": alone(run), "derived": q2.derived_time(run, q2.timed_alone(run, list(timings))),
    }


# The report's sections: id, name in the navigation, title, and (for the questions' sections) the
# question it answers for the study's own presets and what a store must hold to show it.
SECTIONS = (("overview", "Overview", "Overview", None, None),
            ("q1a", "ResNets", "ResNets over the hyperparameter grid", "Q1(a)", lambda r: r["role"] == "grid"
             and r["kind"] == "resnet"),
            ("figures", "Figures", "Training curves, factors and confusion matrices", None, None),
            ("svm", "SVMs", "support vector machines", "Q1(b)", lambda r: r["role"] == "grid" and r["kind"] == "svm"),
            ("q2", "CPU vs GPU", "CPU against GPU", "Q2", lambda r: r["role"] == "devices"),
            ("runs", "All runs", "All runs", None, None),
            ("methodology", "Methodology", "Methodology and environment", None, None),
            ("downloads", "Downloads", "Downloads", None, None))


def sections(runs: list[dict]) -> list[dict]:
    """The sections this store's rows call for, in reading order: a question's section only where
    rows of its kind exist, prefixed with the question (`Q1(a)`) only where they all come from the
    study's own presets (a grid of your own is a grid, not the assignment's question)."""
    study = set(presets.study())
    out = []
    for id_, nav, title, question, holds in SECTIONS:
        rows = [r for r in runs if holds(r)] if holds else None
        if rows == []:
            continue
        asked = question if rows and all(r["preset"] in study for r in rows) else None
        out.append({"id": id_, "nav": f"{asked} {nav}" if asked else nav, "question": asked,
                    "title": f"{asked}: {title}" if asked else title[0].upper() + title[1:]})
    return out


def build(study: Study) -> dict:
    """The whole report as data. Figures are attached later by `bench.report.figures`."""
    runs = study.runs
    found, q2_section = findings.factor_findings(runs), q2.section(runs, study.timings)
    grid_best = findings.best_by_kind([r for r in runs if r["role"] == "grid"])  # the questions' grids, not Q2
    state, shown = progress.account(runs), sections(runs)
    return {
        "title": TITLE,
        "repository": "",  # the project's web address, set by the caller (`bench report --repository`)
        "sections": shown,
        "titles": {s["id"]: s["title"] for s in shown},
        "questions": {s["id"]: s["question"] for s in shown},
        "state": state,  # the study's cells planned, done and pending: told the same on every page
        "pending": progress.pending(state),
        "complete": progress.complete(state),  # the devices whose every study cell is stored
        "pending_cells": [c for p in state for c in p["todo"] if p["cells_done"]] if progress.stage(runs) != "other"
        else [],
        "summary": summary.build(runs, found, q2_section, grid_best, state, findings.svm_vs_resnet(grid_best)),
        "overview": overview(runs, study.superseded),
        "best": findings.best_per_kind(grid_best),
        "findings": found,
        "answers": findings.answers(found),
        "shared_presets": findings.shared_across_presets(runs),
        "svm_vs_resnet": findings.svm_vs_resnet(grid_best),
        "q1a": tables.q1a_tables(runs, [c for p in state for c in p["todo"]], study.timings),
        "runs": tables.all_runs(runs),
        "svm": tables.svm_rows(runs),
        "q2": q2_section,
        "methodology": methodology(runs),
        "pages": [run_page(r, study.curves.get(r["record_id"], []), study.timings) for r in tables.all_runs(runs)],
        "downloads": [name for name in STORE_FILES if name in study.files],
        "curves": study.curves,
        "timings": study.timings,
    }
