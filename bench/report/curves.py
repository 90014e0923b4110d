"""Training curves per preset, dataset and device: accuracy (%) and loss per epoch, one panel per
model and optimizer, every panel on shared y ranges."""

from __future__ import annotations

import math
from collections import defaultdict

import matplotlib
from matplotlib.ticker import MaxNLocator

from bench.report.plotting import OKABE_ITO, PRINT_WIDTH_IN, figure, slug, svg
from bench.spec import training_run_key

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


def _curve_figure(preset: str, dataset: str, device: str, fams: list[dict]) -> tuple[str, bytes, dict]:
    panels = sorted({(f["run"]["label"], f["run"]["optimizer"]) for f in fams})
    ncols = min(4, len(panels))
    chunks = math.ceil(len(panels) / ncols)
    hp = sorted({(f["run"]["lr"], f["run"]["batch_size"]) for f in fams})
    legend_cols = min(len(hp) + 2, max(1, int(min(PRINT_WIDTH_IN, 2.3 * ncols) / LEGEND_ENTRY_IN)))
    legend_rows = math.ceil((len(hp) + 2) / legend_cols)
    acc_range, loss_range, clipped = _shared_limits(fams)
    fig, axes = figure(ncols, 2 * chunks, h=1.7, bottom=0.2 * legend_rows)
    for i in range(chunks * ncols):
        acc_ax, loss_ax = axes[(i // ncols) * 2 * ncols + i % ncols], axes[(i // ncols) * 2 * ncols + ncols + i % ncols]
        if i >= len(panels):  # the empty places of the last row of panels
            acc_ax.set_visible(False)
            loss_ax.set_visible(False)
            continue
        for f in (f for f in fams if (f["run"]["label"], f["run"]["optimizer"]) == panels[i]):
            colour = OKABE_ITO[hp.index((f["run"]["lr"], f["run"]["batch_size"])) % len(OKABE_ITO)]
            ep = [c["epoch"] for c in f["curve"]]
            for ax, metric, scale in ((acc_ax, "acc", 100), (loss_ax, "loss", 1)):
                ax.plot(ep, [scale * c[f"val_{metric}"] for c in f["curve"]], color=colour, lw=1.2)
                ax.plot(ep, [scale * c[f"train_{metric}"] for c in f["curve"]], color=colour, lw=0.9, ls="--")
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
    name = f"figures/curves-{slug(preset, dataset, device)}.svg"
    note = " A few points beyond the shared ranges are clipped at the panel's edge." if clipped else ""
    caption = (f"{preset} · {dataset} · {device}: where validation accuracy (top, solid) levels off and "
               "whether it falls behind train accuracy (dashed), per model and optimizer; loss below. All "
               f"panels share their y ranges; one colour per learning rate and batch size.{note}")
    return name, svg(fig), {"src": name, "alt": f"training curves, {preset} {dataset} on {device}",
                            "caption": caption}


def figures(view: dict) -> tuple[dict, list]:
    """Per preset, dataset and device: accuracy and loss per epoch, one panel per model and optimizer."""
    files, figs = {}, []
    by_figure: dict[tuple, list] = defaultdict(list)
    for _, fam in sorted(_families(view["runs"], view["curves"]).items(), key=lambda kv: repr(kv[0])):
        by_figure[(fam["run"]["preset"], fam["run"]["dataset"], fam["run"]["device"])].append(fam)
    for (preset, dataset, device), fams in sorted(by_figure.items(), key=repr):
        name, content, fig = _curve_figure(preset, dataset, device, fams)
        files[name] = content
        figs.append(fig)
    return files, figs
