"""The study's figures with matplotlib (Agg, no pyplot state), as deterministic SVG: fixed hash
salt, no date or creator metadata, colour-blind-safe colours (Okabe-Ito lines, viridis maps).

`render(view)` returns the files ({name: bytes}) and, per section, what the templates show."""

from __future__ import annotations

import math
from collections import defaultdict

from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from bench import presets
from bench.report import cells, curves, findings, pareto
from bench.report.charts import CLASS_NAMES
from bench.report.plotting import MARKERS, MIN_FONT_PT, OKABE_ITO, figure, plain_log_x, slug, svg
from bench.report.tables import TABLE_KEY


def _heat(ax, matrix: list[list[float | None]], xlabels: list[str], ylabels: list[str], vmin: float, vmax: float,
          pending: set[tuple[int, int]] = frozenset(), hatched: set[tuple[int, int]] = frozenset()):
    """A heatmap of accuracies (None: no value); the (x, y) positions in `pending` are labelled so,
    those in `hatched` (degenerate fits) are hatched."""
    data = [[math.nan if v is None else v * 100 for v in row] for row in matrix]
    image = ax.imshow(data, cmap="viridis", vmin=vmin * 100, vmax=vmax * 100, aspect="auto")
    ax.set_xticks(range(len(xlabels)), xlabels)
    ax.set_yticks(range(len(ylabels)), ylabels)
    for y, row in enumerate(data):
        for x, v in enumerate(row):
            if not math.isnan(v):
                dark = (v - vmin * 100) / ((vmax - vmin) * 100 or 1) < 0.6
                ax.text(x, y, f"{v:.1f}", ha="center", va="center", color="white" if dark else "black")
            elif (x, y) in pending:
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor="#eeeeee", edgecolor="white"))
                ax.text(x, y, "pending", ha="center", va="center", color="#444444", fontstyle="italic",
                        fontsize=MIN_FONT_PT)
    for x, y in hatched:
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="///", edgecolor="#d55e00", lw=0))
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    return image


def _table_grid(table: dict, optimizer: str, column: int) -> tuple[list, list, list, set]:
    """One panel of a Q1(a) table: learning rates (x), batch sizes (y), the mean test accuracy per
    position (None: none) and the positions of the study's pending cells."""
    rows = [r for r in table["rows"] if r["optimizer"] == optimizer]
    xs = sorted({r["lr"] for r in rows}, key=repr)
    ys = sorted({r["batch_size"] for r in rows}, key=repr)
    at = {(r["lr"], r["batch_size"]): r["cells"][column] for r in rows}
    matrix = [[(at.get((x, y)) or {}).get("test", {}).get("mean") for x in xs] for y in ys]
    pending = {(i, j) for j, y in enumerate(ys) for i, x in enumerate(xs) if (at.get((x, y)) or {}).get("pending")}
    return xs, ys, matrix, pending


def _grid(runs: list[dict], xf: str, yf: str) -> tuple[list, list, list[list[float | None]]]:
    xs = sorted({r[xf] for r in runs}, key=repr)
    ys = sorted({r[yf] for r in runs}, key=repr)
    cells: dict[tuple, list[float]] = defaultdict(list)
    for r in runs:
        if r["status"] == "done" and r["test_acc"] is not None:
            cells[(r[xf], r[yf])].append(r["test_acc"])
    return xs, ys, [[sum(cells[(x, y)]) / len(cells[(x, y)]) if cells[(x, y)] else None for x in xs] for y in ys]


def _degenerate(runs: list[dict], xf: str, yf: str) -> set[tuple[int, int]]:
    """The positions of `_grid(runs, xf, yf)` whose finished runs are all degenerate fits."""
    xs, ys = sorted({r[xf] for r in runs}, key=repr), sorted({r[yf] for r in runs}, key=repr)
    done = [r for r in runs if r["status"] == "done"]
    return {(xs.index(x), ys.index(y)) for x in xs for y in ys
            if (at := [r for r in done if (r[xf], r[yf]) == (x, y)]) and all(r["degenerate"] for r in at)}


def _label(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def heatmap_figures(view: dict) -> tuple[dict, dict]:
    """Per Q1(a) table: test accuracy over batch × lr, one panel per optimizer and model × epochs."""
    files, figs = {}, {}
    for table in view["q1a"]:
        runs = [r for r in view["runs"] if r["kind"] == "resnet" and all(r[k] == table[k] for k in TABLE_KEY)]
        accs = [r["test_acc"] for r in runs if r["status"] == "done" and r["test_acc"] is not None]
        if not accs:
            continue
        cols = [(c["label"], c["epochs"]) for c in table["columns"]]
        opts = sorted({r["optimizer"] for r in table["rows"]})
        fig, axes = figure(len(cols), len(opts), w=2.3, h=1.6)
        for i, (opt, col) in enumerate((o, c) for o in opts for c in cols):
            xs, ys, m, pending = _table_grid(table, opt, cols.index(col))
            image = _heat(axes[i], m, [_label(x) for x in xs], [str(y) for y in ys], min(accs), max(accs), pending)
            axes[i].set_title(f"{col[0]}, {col[1]} ep", fontsize=MIN_FONT_PT + 1)
            axes[i].set_xlabel("lr")
            axes[i].set_ylabel(f"{opt}: batch")
        fig.colorbar(image, ax=axes, shrink=0.8, label="test accuracy, % (one scale for all panels)")
        name = f"figures/heatmap-{slug(table['id'])}.svg"
        files[name] = svg(fig)
        best = findings.best_cells(runs, "resnet").get(table["dataset"])
        chosen = (f"; the cell with the highest mean validation accuracy: {best['run']['optimizer']}, lr "
                  f"{best['run']['lr']:g}, batch {best['run']['batch_size']} ({best['label']}, "
                  f"{best['run']['epochs']} epochs)." if best else ".")
        figs[table["id"]] = {"src": name, "alt": f"test accuracy heatmaps for {table['dataset']}",
                             "caption": f"{table['dataset']} on {table['device']}: where the grid is accurate. Test "
                                        "accuracy (%) over batch size × learning rate, mean over seeds, one colour "
                                        "scale for every panel" + chosen}
    return files, figs


def confusion_figures(view: dict) -> tuple[dict, list]:
    """The confusion matrix of each dataset's best ResNet and best SVM (chosen on validation accuracy)."""
    files, figs = {}, []
    for best in view["best"]:
        matrix = best["run"]["confusion"]
        if not matrix:
            continue
        fig, (ax,) = figure(1, 1, w=4.4, h=3.6)  # four-digit counts fit every cell; two figures fit a printed page
        image = ax.imshow(matrix, cmap="Blues")
        fig.colorbar(image, ax=ax, shrink=0.8, pad=0.03, label="test images")
        top = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                if v:
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=MIN_FONT_PT,
                            color="white" if v > top / 2 else "black")
        names = CLASS_NAMES.get(best["dataset"], [str(i) for i in range(len(matrix))])
        ax.set_xticks(range(len(matrix)), names[:len(matrix)], rotation=45, ha="right")
        ax.set_yticks(range(len(matrix)), names[:len(matrix)])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{best['dataset']}: {best['label']}", loc="left")  # the run id is in the caption
        name = f"figures/confusion-{slug(best['dataset'])}-{best['kind']}.svg"
        files[name] = svg(fig)
        worst = max(((matrix[i][j], names[i], names[j]) for i in range(len(matrix)) for j in range(len(matrix))
                     if i != j), default=(0, "", ""))
        kind = "ResNet" if best["kind"] == "resnet" else "SVM"
        figs.append({"src": name, "alt": f"confusion matrix of the best {best['dataset']} {kind}",
                     "caption": f"{best['dataset']}: test-set confusion matrix of {best['label']} (run "
                                f"{best['run']['run_id']}), the best {kind} on validation accuracy"
                                + (f"; its most frequent mistake: {worst[1]} taken for {worst[2]} ({worst[0]} images)."
                                   if worst[0] else ".")})
    return files, figs


def effects_figure(view: dict) -> tuple[dict, list]:
    """Paired differences in test accuracy for every factor: one dot per pair, a bar at the median.
    ResNet and SVM factors get a figure each: their scales differ by an order of magnitude."""
    files, figs = {}, []
    for kind, what in (("resnet", "ResNet"), ("svm", "SVM")):
        found = [f for f in view["findings"] if f["metric"] == "accuracy" and f["kind"] == kind]
        if not found:
            continue
        fig, (ax,) = figure(1, 1, w=6.0, h=0.24 * len(found) + 0.8)
        for y, f in enumerate(found):
            jitter = [((i * 0.618) % 1 - 0.5) * 0.5 for i in range(len(f["diffs"]))]  # golden-ratio spread
            ax.scatter(f["diffs"], [y + j for j in jitter], s=9, color=OKABE_ITO[0], alpha=0.7, lw=0)
            ax.plot([f["median"]] * 2, [y - 0.35, y + 0.35], color=OKABE_ITO[5], lw=2)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(range(len(found)),
                      [f"{presets.display(f['preset'])}: {f['a']} − {f['b']} (n={f['n']})" for f in found])
        ax.invert_yaxis()
        ax.set_xlabel("difference in test accuracy (percentage points); bar: median")
        name = f"figures/effects-{slug(kind)}.svg"
        files[name] = svg(fig)
        top = max(found, key=lambda f: abs(f["median"]))
        figs.append({"src": name, "alt": f"paired differences per {what} factor",
                     "caption": f"Which {what} factors matter: for runs identical in every other field, the "
                                "difference in test accuracy (one dot per pair, orange bar at the median). A factor "
                                "matters where its dots sit on one side of the zero line; the largest median: "
                                f"{presets.display(top['preset'])}, {top['a']} over {top['b']}, "
                                f"{top['median']:+.1f} pp."})
    return files, figs


def svm_figures(view: dict) -> tuple[dict, list]:
    """Per dataset and training size: test accuracy over C × degree (poly, per gamma) and C × gamma
    (rbf); sizes are never averaged together."""
    files, figs = {}, []
    for dataset, n_train in sorted({(r["dataset"], r["n_train"] or 0) for r in view["svm"]}):
        own = [r for r in view["svm"] if r["dataset"] == dataset and (r["n_train"] or 0) == n_train]
        accs = [r["test_acc"] for r in own if r["status"] == "done" and r["test_acc"] is not None]
        if not accs:
            continue
        panels = [("poly", g) for g in sorted({r["gamma"] for r in own if r["kernel"] == "poly"})]
        panels += [("rbf", None)] if any(r["kernel"] == "rbf" for r in own) else []
        fig, axes = figure(len(panels), 1, w=2.4, h=1.9)
        for ax, (kernel, gamma) in zip(axes, panels, strict=True):
            if kernel == "poly":
                panel, yf = [r for r in own if r["kernel"] == "poly" and r["gamma"] == gamma], "degree"
                ax.set_title(f"poly, gamma={gamma}")
            else:
                panel, yf = [r for r in own if r["kernel"] == "rbf"], "gamma"
                ax.set_title("rbf")
            xs, ys, m = _grid(panel, "C", yf)
            ax.set_ylabel(yf)
            _heat(ax, m, [_label(x) for x in xs], [str(y) for y in ys], min(accs), max(accs),
                  hatched=_degenerate(panel, "C", yf))
            ax.set_xlabel("C")
        name = f"figures/svm-{slug(dataset)}-{n_train}.svg"
        files[name] = svg(fig)
        best = max((r for r in own if r["status"] == "done" and r["test_acc"] is not None),
                   key=lambda r: cells.validation_rank([r]))
        trained = cells.n_trained(own[0]) or n_train
        best_text = f"{best['label']}, C {best['C']:g}, gamma {best['gamma']} ({100 * best['test_acc']:.1f} % test)"
        caption = (f"{dataset}, SVMs trained on {trained:,} images: how C, the kernel and its degree or gamma move "
                   "test accuracy (%), one colour scale for every panel; hatched: degenerate fits (see the "
                   f"methodology), kept out of every effect. Best on validation: {best_text}.")
        figs.append({"src": name, "alt": f"SVM test accuracy heatmaps for {dataset}, {trained:,} training images",
                     "caption": caption})
    return files, figs


def q2_figures(view: dict) -> tuple[dict, list]:
    """Speedup of CUDA over CPU per model and optimizer, and accuracy against training time."""
    files, figs, q2 = {}, [], view["q2"]
    paired = [r for r in q2["rows"] if r["speedup"]]
    if paired:
        fig, (ax,) = figure(1, 1, w=5.0, h=0.3 * len(paired) + 0.9)
        ys = range(len(paired))
        medians = [r["speedup"]["median"] for r in paired]
        ax.barh(ys, medians, color=OKABE_ITO[0],
                xerr=[[m - r["speedup"]["min"] for m, r in zip(medians, paired, strict=True)],
                      [r["speedup"]["max"] - m for m, r in zip(medians, paired, strict=True)]])
        ax.set_yticks(ys, [f"{r['dataset']} · {r['label']} · {r['optimizer']}" for r in paired])
        ax.invert_yaxis()
        ax.set_xlabel("speedup: CUDA ÷ CPU images/s, timed alone on one host (×)")
        files["figures/q2-speedup.svg"] = svg(fig)
        figs.append({"src": "figures/q2-speedup.svg", "alt": "GPU speedup per model and optimizer",
                     "caption": "How much faster CUDA trains each cell than the CPU: the ratio of the two devices' "
                                "bench time rates, measured alone on one host (bar: ratio of the medians; "
                                "whisker: the lowest and highest ratio their timed blocks allow)."})
    if q2["scatter"]:
        fig, (ax,) = figure(1, 1, w=6.4, h=3.2)
        labels = sorted({p["label"] for p in q2["scatter"]})
        optimizers = sorted({p["optimizer"] for p in q2["scatter"]})
        for p in q2["scatter"]:  # colour: model; marker: optimizer; filled: CPU, open: CUDA
            colour = OKABE_ITO[labels.index(p["label"]) % len(OKABE_ITO)]
            ax.scatter([p["time"]], [p["acc"] * 100], s=30, marker=MARKERS[optimizers.index(p["optimizer"])],
                       color=colour if p["device"] == "cpu" else "none", edgecolors=colour, lw=1.2)
        handles = [Line2D([], [], ls="", marker="o", color=OKABE_ITO[i % len(OKABE_ITO)], label=label)
                   for i, label in enumerate(labels)]
        handles += [Line2D([], [], ls="", marker=MARKERS[i], color="grey", label=o) for i, o in enumerate(optimizers)]
        handles += [Line2D([], [], ls="", marker="o", color="grey", label="cpu"),
                    Line2D([], [], ls="", marker="o", markerfacecolor="none", color="grey", label="cuda")]
        plain_log_x(ax)
        ax.set_xlabel("training time alone, s (log scale)")
        ax.set_ylabel("test accuracy, %")
        ax.legend(handles=handles, fontsize=7, frameon=False, loc="best", ncols=2)
        files["figures/q2-scatter.svg"] = svg(fig)
        derived = sum(p["derived"] for p in q2["scatter"])
        figs.append({"src": "figures/q2-scatter.svg", "alt": "accuracy against training time per device",
                     "caption": "Whether the faster device costs accuracy: each run's test accuracy against its "
                                "training time alone; colour: model, marker: optimizer, filled: CPU, open: CUDA. "
                                "A device's points lie further left the faster it trains."
                                + (f" {derived} of the {len(q2['scatter'])} times are derived from the cell's "
                                   "timed-alone rate (its run computed beside other work), as in the table."
                                   if derived else "")})
    return files, figs


# The figures, per section of the report, and what draws them
MAKERS = {"curves": curves.figures, "heatmaps": heatmap_figures, "confusion": confusion_figures,
          "effects": effects_figure, "svm": svm_figures, "q2": q2_figures, "pareto": pareto.figures}
SECTIONS = tuple(MAKERS)
# Drawn beside the rest of the report (bench.report.aside): about half of the drawing time, at any size.
ASIDE = ("curves", "heatmaps")
HERE = tuple(s for s in SECTIONS if s not in ASIDE)


def render(view: dict, sections: tuple[str, ...] = SECTIONS) -> tuple[dict[str, bytes], dict]:
    """The figures of `sections`: the files to write and, per section, what to show."""
    files, figs = {}, {}
    for section in sections:
        made, shown = MAKERS[section](view)
        files.update(made)
        for fig in shown.values() if isinstance(shown, dict) else shown:
            fig["id"] = "figure-" + fig["src"].removeprefix("figures/").removesuffix(".svg")  # an anchor per figure
        figs[section] = shown
    return files, figs
