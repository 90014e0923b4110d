"""Accuracy against training time per dataset, the grid's ResNets and SVMs together: which models buy
accuracy with time, and which are beaten on both. One point per cell (its runs over seeds averaged).
A run's own time counts where it was timed alone; a ResNet run computed beside other work takes the
time derived from its cell's timed-alone rate (`bench time`, `q2.derived_time`); other runs are left
out, their times not being comparable. The
points no other cell beats on both accuracy and time form the front and are labelled. The full-scale
reference is left out: it trains on another scale, and the caption states each kind's training size."""

from __future__ import annotations

from bench.report import cells
from bench.report.plotting import MARKERS, MIN_FONT_PT, OKABE_ITO, figure, plain_log_x, slug, svg
from bench.report.q2 import derived_time, timed_alone


def _time(run: dict, timings: list[dict]) -> tuple[float | None, str | None, bool]:
    """A run's training time (SVM: fit time), the host it was measured on, and whether it is derived
    from a timed-alone rate (the run computed beside other work)."""
    if cells.alone(run):
        return run["train_time_s"] if run["kind"] == "resnet" else run["fit_time_s"], run.get("host_id"), False
    derived = derived_time(run, timed_alone(run, timings)) if run["kind"] == "resnet" else None
    return (derived["median"], derived["host"], True) if derived else (None, None, False)


def points(runs: list[dict], dataset: str, timings: list[dict] = ()) -> list[dict]:
    """Per cell: mean test accuracy, mean training time (`_time`), the hosts of its times, whether
    they are derived, and a short name."""
    timings = list(timings)
    grid = [r for r in cells.distinct(cells.done(runs)) if r["dataset"] == dataset and r["role"] == "grid"]
    time_of = {id(r): _time(r, timings) for r in grid}  # once per run: a derived time searches the timings
    own = [r for r in grid if r["test_acc"] is not None and time_of[id(r)][0]]
    out = []
    for members in cells.group(own).values():
        timed = [time_of[id(m)] for m in members]
        times = [t for t, _, _ in timed]
        if not all(t and t > 0 for t in times):
            continue
        first = members[0]
        name = (f"{first['label']} {first['optimizer']} lr {first['lr']:g} bs {first['batch_size']} "
                f"{first['epochs']} ep" if first["kind"] == "resnet" else
                f"{first['label']} C {first['C']:g} gamma {first['gamma']}")
        out.append({"label": first["label"], "kind": first["kind"], "name": name, "preset": first["preset"],
                    "n_train": cells.n_trained(first),
                    "acc": sum(m["test_acc"] for m in members) / len(members) * 100,
                    "time": sum(times) / len(times), "hosts": sorted({h for _, h, _ in timed if h}),
                    "derived": any(d for _, _, d in timed), "degenerate": all(m.get("degenerate") for m in members)})
    if len({p["n_train"] for p in out if p["kind"] == "svm"}) > 1:  # name which size an SVM point is
        out = [{**p, "name": f"{p['name']} n {p['n_train']:,}"} if p["kind"] == "svm" and p["n_train"] else p
               for p in out]
    return sorted(out, key=lambda p: (p["time"], -p["acc"], p["name"]))


def _sizes(pts: list[dict]) -> str:
    """'ResNets trained on 1,000 images, SVMs on 5,000': the scale each kind's points rest on."""
    parts = []
    for kind, name in (("resnet", "ResNets"), ("svm", "SVMs")):
        sizes = sorted({p["n_train"] for p in pts if p["kind"] == kind and p["n_train"]})
        if sizes:
            parts.append(f"{name} {' or '.join(f'{n:,}' for n in sizes)}")
    return "training images: " + ", ".join(parts) if parts else "training sizes unknown"


def front(pts: list[dict]) -> list[dict]:
    """The cells no other cell beats on both: faster and at least as accurate, or as fast and more.
    Degenerate fits are no choice a reader would make (cells.DEGENERATE_RULE): never on the front."""
    best, out = -1.0, []
    for p in pts:  # sorted by time, then by accuracy descending
        if p["acc"] > best and not p.get("degenerate"):
            out.append(p)
            best = p["acc"]
    return out


HEIGHTS = (5, -11, 15, -21, 25, -31, 35, -41)  # points above (+) or below (-) a front point, nearest first


def _label(ax, top: list[dict]) -> None:
    """Name each front point without two names overlapping: right of the middle the text ends at its
    point, left of it it starts there; each name takes the first height (above, below, further out)
    whose box meets no name placed before it, measured with the figure laid out as it will be saved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    fig = ax.figure
    renderer = FigureCanvasAgg(fig).get_renderer()
    if fig.get_layout_engine() is not None:
        fig.get_layout_engine().execute(fig)
    low, high = ax.get_xlim()
    placed = []
    for p in top:
        right = p["time"] > (low * high) ** 0.5
        for dy in HEIGHTS:
            text = ax.annotate(p["name"], (p["time"], p["acc"]), fontsize=MIN_FONT_PT, textcoords="offset points",
                               xytext=(-4 if right else 4, dy), ha="right" if right else "left",
                               arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.4} if abs(dy) > 11 else None)
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer)  # the name alone, without its leader line
            if dy == HEIGHTS[-1] or not any(box.overlaps(other) for other in placed):
                break  # the last height is kept even where it overlaps: no point loses its name
            text.remove()
        placed.append(box)


def figures(view: dict) -> tuple[dict, list]:
    files, figs = {}, []
    runs = view["runs"]
    for dataset in sorted({r["dataset"] for r in runs}):
        pts = points(runs, dataset, view["timings"])
        left_out = sum(1 for r in cells.distinct(cells.done(runs)) if r["dataset"] == dataset
                       and r["role"] == "grid" and not _time(r, view["timings"])[0])
        derived, degenerate = sum(p["derived"] for p in pts), sum(p["degenerate"] for p in pts)
        hosts = sorted({h for p in pts for h in p["hosts"]})
        if len(pts) < 2:
            continue
        fig, (ax,) = figure(1, 1, w=6.4, h=2.9)  # two with their captions fit a printed page
        labels = sorted({p["label"] for p in pts})
        for i, label in enumerate(labels):
            colour, marker = OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)]
            mine = [p for p in pts if p["label"] == label and not p["degenerate"]]
            ax.scatter([p["time"] for p in mine], [p["acc"] for p in mine], s=16, alpha=0.75, lw=0,
                       color=colour, marker=marker, label=label)
            hollow = [p for p in pts if p["label"] == label and p["degenerate"]]  # as hatched in the heatmaps
            ax.scatter([p["time"] for p in hollow], [p["acc"] for p in hollow], s=16, lw=0.8,
                       facecolors="none", edgecolors=colour, marker=marker)
        top = front(pts)
        ax.plot([p["time"] for p in top], [p["acc"] for p in top], color="grey", lw=0.8, ls="--", zorder=0)
        plain_log_x(ax)
        ax.set_xlabel("training time per cell, s (log scale; SVMs: fit time)")
        ax.set_ylabel("test accuracy, %")
        ax.set_ylim(max(0.0, min(p["acc"] for p in pts) - 2), min(100.0, max(p["acc"] for p in pts) + 2))
        ax.legend(fontsize=7, frameon=False, loc="lower right")
        _label(ax, top)  # last: the names are placed on the axes as they will be saved
        name = f"figures/pareto-{slug(dataset)}.svg"
        files[name] = svg(fig)
        figs.append({"src": name,
                     "alt": f"test accuracy against training time, {dataset}",
                     "caption": f"{dataset}: what accuracy each model buys with training time, {_sizes(pts)}. "
                                "The dashed line joins "
                                f"the {len(top)} cells that no other cell beats on both (labelled); every other "
                                "point is slower, less accurate, or both."
                                + (f" Hollow: {degenerate} degenerate fit{'s' if degenerate > 1 else ''} (see the "
                                   "methodology), never on the front." if degenerate else "")
                                + (f" {derived} ResNet cells computed beside other work show the time derived from "
                                   "their timed-alone rate (bench time: images trained ÷ rate, plus evaluation), "
                                   "as on their run pages; every other point is its runs' own time, timed alone."
                                   if derived else " Every point is its runs' own time, timed alone.")
                                + (f" Measured on {len(hosts)} machines ({', '.join(hosts)}): times compare only "
                                   "within one." if len(hosts) > 1 else f" Measured on host {hosts[0]}." if hosts
                                   else "")
                                + (f" {left_out} runs computed beside other work without a timed-alone rate are left "
                                   "out: their times do not compare." if left_out else "")})
    return files, figs
