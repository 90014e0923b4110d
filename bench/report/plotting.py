"""What every figure shares: matplotlib (Agg, no pyplot state) set up for deterministic SVG (fixed
hash salt, no date or creator metadata), colour-blind-safe colours, panel grids, and safe file names."""

from __future__ import annotations

import hashlib
import io
import re

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

# Okabe-Ito, with its pale yellow (#F0E442, unreadable as a marker on white) replaced by Tol's olive
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999933", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# The PDF prints a figure at its own size up to A4's text width (182 mm), shrinking wider ones; so no
# figure is made wider and no text smaller than MIN_FONT_PT, and every label prints at least that big.
PRINT_WIDTH_IN = 7.1
MIN_FONT_PT = 7
STYLE = {"svg.hashsalt": "bench-report", "svg.fonttype": "none", "font.size": 8, "axes.titlesize": 8,
         "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO), "figure.dpi": 100,
         "axes.spines.top": False, "axes.spines.right": False}
# Labels carry stored text (labels, presets, tags): a `$` in it must print, not start mathtext.
matplotlib.rcParams["text.parse_math"] = False


def slug(*parts) -> str:
    """A file name part from stored text: letters, digits, - and _, plus a short hash when the text
    had anything else (so `../x` and `..-x` never collide and never leave the figures folder)."""
    text = "-".join(str(p) for p in parts)
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:60] or "x"
    return safe if safe == text else f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def svg(fig: Figure) -> bytes:
    buf = io.StringIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})  # constrained layout fits it
    # the SVG's ids and clip paths come from the fixed salt; nothing else varies between runs
    return buf.getvalue().encode()


def figure(ncols: int, nrows: int, w: float = 2.3, h: float = 1.9, bottom: float | None = None) -> tuple[Figure, list]:
    """A grid of panels w × h inches each, narrower where the grid would be wider than the printed
    page. Constrained layout by default; with `bottom` (inches kept free below, for a legend) fixed
    margins instead, which is twice as fast for big grids."""
    w = min(w, PRINT_WIDTH_IN / ncols)
    with matplotlib.rc_context(STYLE):
        if bottom is None:
            fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
        else:
            width, height = w * ncols, h * nrows + bottom + 0.2
            fig = Figure(figsize=(width, height))
            fig.subplots_adjust(left=0.6 / width, right=1 - 0.1 / width, top=1 - 0.25 / height,
                                bottom=(bottom + 0.55) / height, wspace=0.45, hspace=0.6)
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def plain_log_x(ax) -> None:
    """A log x axis labelled with plain numbers at 1, 2 and 5 of every decade (20, 50, 100), never
    2×10¹, so an axis spanning less than a decade still has several labels; no minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
