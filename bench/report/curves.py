"""Training curves per preset, dataset and device: accuracy (%) and loss per epoch, one panel per
model and optimizer, every panel on shared y ranges."""

from __future__ import annotations

import math
from collections import defaultdict

import matplotlib
from matplotlib.ticker import MaxNLocator

from bench import presets
from bench.report import cells
from bench.report.plotting import OKABE_ITO, PRINT_WIDTH_IN, figure, slug, svg
from bench.spec import cell_key, training_run_key

LEGEND_ENTRY_IN = 1.7  # the width of the longest legend entry ("lr 0.0001, batch 32") at 8 pt


def _families(runs: list[dict], curves: dict) -> dict[tuple, dict]:
    """The longest stored curve of each training run (cells that differ only in epochs or, on the
    CPU, in pin_memory share one training run and one curve)."""
    out: dict[tuple, dict] = {}
    for r in runs:
        if r["kind"] != "resnet" or r["record_id"] not in curves:
            continue
        key = (r["preset"], training_run_key(r))
        if key not in out or len(curves[r["record_id"]]) > len(out[key]["curve"]):
            out[key] = {"run": r, "curve": curves[r["record_id"]]}
    return out


def _shared_limits(fams: list[dict]) -> tuple[tuple, tuple, bool]:
    """One y range for every accuracy panel and one for every loss panel of a figure, so panels
    compare at a glance: accuracy in % up to 100, loss from 0; an outlier (a diverging run's loss
    of 30) would flatten every other curve, so the ranges cover 95 % of the points and the rest is
    clipped at the edge (the caption says so)."""
    def values(name: str, scale: float) -> list[float]:
        points = (c[f"{split}_{name}"] for f in fams for c in f["curve"] for split in ("train", "val"))
        return sorted(scale * v for v in points if v is not None and math.isfinite(v)) or [0.0]

    acc, loss = values("acc", 100), values("loss", 1)
    acc_low = max(0.0, acc[int(0.05 * (len(acc) - 1))] - 2)
    loss_high = max(loss[int(0.95 * (len(loss) - 1))] * 1.15, 1e-3)
    clipped = acc[0] < acc_low or loss[-1] > loss_high
    return (acc_low, 100.0), (0.0, loss_high), clipped


def _over_seeds(runs: list[list[dict]], column: str, scale: float) -> tuple[list, list, list, list]:
    """Per epoch, the mean of `column` over the runs (seeds) that reached it, and its range."""
    by_epoch: dict[int, list[float]] = defaultdict(list)
    for curve in runs:
        for c in curve:
            if c[column] is not None and math.isfinite(c[column]):
                by_epoch[c["epoch"]].append(scale * c[column])
    epochs = sorted(by_epoch)
    return (epochs, [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs], [min(by_epoch[e]) for e in epochs],
            [max(by_epoch[e]) for e in epochs])


def _curve_figure(preset: str, dataset: str, device: str, trained: int, fams: list[dict]) -> tuple[str, bytes, dict]:
    panels = sorted({(f["run"]["label"], f["run"]["optimizer"]) for f in fams})
    ncols = min(4, len(panels))
    chunks = math.ceil(len(panels) / ncols)
    hp = sorted({(f["run"]["lr"], f["run"]["batch_size"]) for f in fams})
    legend_cols = min(len(hp) + 2, max(1, int(min(PRINT_WIDTH_IN, 2.3 * ncols) / LEGEND_ENTRY_IN)))
    legend_rows = math.ceil((len(hp) + 2) / legend_cols)
    acc_range, loss_range, clipped = _shared_limits(fams)
    fig, axes = figure(ncols, 2 * chunks, h=1.25, bottom=0.2 * legend_rows)  # two fit a printed page
    for i in range(chunks * ncols):
        acc_ax, loss_ax = axes[(i // ncols) * 2 * ncols + i % ncols], axes[(i // ncols) * 2 * ncols + ncols + i % ncols]
        if i >= len(panels):  # the empty places of the last row of panels
            acc_ax.set_visible(False)
            loss_ax.set_visible(False)
            continue
        seeds: dict[tuple, list] = defaultdict(list)  # one line per cell: its training runs differ in seed only
        for f in fams:
            if (f["run"]["label"], f["run"]["optimizer"]) == panels[i]:
                seeds[cell_key(f["run"], drop=("epochs", "seed"))].append(f)
        for _, members in sorted(seeds.items(), key=repr):
            runs = [f["curve"] for f in members]
            colour = OKABE_ITO[hp.index((members[0]["run"]["lr"], members[0]["run"]["batch_size"])) % len(OKABE_ITO)]
            for ax, metric, scale, (lo, hi) in ((acc_ax, "acc", 100, acc_range), (loss_ax, "loss", 1, loss_range)):
                for split, style in (("val", {"lw": 1.2}), ("train", {"lw": 0.9, "ls": "--"})):
                    ep, *values = _over_seeds(runs, f"{split}_{metric}", scale)
                    # clipped here, not only by the axes: a PDF renderer may ignore an SVG's clip path
                    mean, low, high = ([min(max(v, lo), hi) for v in vs] for vs in values)
                    ax.plot(ep, mean, color=colour, **style)
                    if split == "val" and len(runs) > 1:
                        ax.fill_between(ep, low, high, color=colour, alpha=0.15, lw=0)
        acc_ax.set_title(f"{panels[i][0]} · {panels[i][1]}")
        for ax, limits, label in ((acc_ax, acc_range, "accuracy (%)"), (loss_ax, loss_range, "loss")):
            ax.set_ylim(*limits)
            ax.set_ylabel(label)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))  # 10 labels crowd a narrow panel
        loss_ax.set_xlabel("epoch")
    handles = [matplotlib.lines.Line2D([], [], color=OKABE_ITO[i % len(OKABE_ITO)], label=f"lr {lr:g}, batch {bs}")
               for i, (lr, bs) in enumerate(hp)]
    handles += [matplotlib.lines.Line2D([], [], color="grey", label="validation"),
                matplotlib.lines.Line2D([], [], color="grey", ls="--", label="train")]
    fig.legend(handles=handles, loc="lower center", ncols=legend_cols, frameon=False)
    name = f"figures/curves-{slug(preset, dataset, device, trained)}.svg"
    note = " A few points beyond the shared ranges are clipped at the panel's edge." if clipped else ""
    shown = presets.display(preset)
    caption = (f"{shown} · {dataset} · {device} · {trained:,} training images: where validation accuracy "
               "(top, solid) levels off and whether it falls behind train accuracy (dashed), per model and "
               "optimizer; loss below. All panels share their y ranges; one colour per learning rate and batch "
               f"size, its line the mean over seeds and its band (validation) their range.{note}")
    return name, svg(fig), {"src": name, "alt": f"training curves, {shown} {dataset} on {device}, {trained:,} "
                                                 "training images",
                            "caption": caption}


def figures(view: dict) -> tuple[dict, list]:
    """Per preset, dataset, device and training size (scales are never drawn together): accuracy and
    loss per epoch, one panel per model and optimizer."""
    files, figs = {}, []
    by_figure: dict[tuple, list] = defaultdict(list)
    for _, fam in sorted(_families(view["runs"], view["curves"]).items(), key=lambda kv: repr(kv[0])):
        run = fam["run"]
        by_figure[(run["preset"], run["dataset"], run["device"], cells.n_trained(run) or 0)].append(fam)
    for (preset, dataset, device, trained), fams in sorted(by_figure.items(), key=repr):
        name, content, fig = _curve_figure(preset, dataset, device, trained, fams)
        files[name] = content
        figs.append(fig)
    return files, figs
