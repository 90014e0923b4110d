"""Templates to strings: the Jinja environment (StrictUndefined, autoescape on), the filters that
do all the formatting, and pure functions that render the site's pages and the PDF's bytes."""

from __future__ import annotations

import math
import os
from pathlib import Path
from urllib.parse import urlsplit

import jinja2

import bench
from bench import presets

ASSETS = ("report.css", "screen.css", "table.js")  # copied from templates/assets/ into site/assets/
MISSING = "–"
VIRTUAL_ROOT = "/bench-site/"  # the PDF resolves links against this; nothing is read from it
MIME = {".svg": "image/svg+xml", ".png": "image/png", ".css": "text/css"}


def template_dir() -> Path:
    """templates/ beside the package, unless BENCH_TEMPLATES points elsewhere (containers set it)."""
    return Path(os.environ.get("BENCH_TEMPLATES") or Path(bench.__file__).parents[1] / "templates")


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def pct(x, digits: int = 2) -> str:
    """0.98765 -> '98.77%'."""
    return MISSING if _missing(x) else f"{x * 100:.{digits}f}%"


def pp(x, digits: int = 2) -> str:
    """A difference already in percentage points, signed: '+0.60 pp' (never '-0.00 pp')."""
    if _missing(x):
        return MISSING
    return f"{0.0 if round(x, digits) == 0 else x:+.{digits}f} pp"


UNIT = "\u00a0"  # between a time and its unit: a narrow column wraps a table cell, never '18.3 / s'


def secs(x) -> str:
    if _missing(x):
        return MISSING
    return f"{x:.3g}{UNIT}s" if x < 100 else f"{x:,.0f}{UNIT}s"


def minutes(x) -> str:
    """A training time at a glance: seconds under a minute, then minutes (whole from ten on)."""
    if _missing(x) or x < 60:
        return secs(x)
    return f"{x / 60:.1f}{UNIT}min" if x < 600 else f"{x / 60:,.0f}{UNIT}min"


def time_range(d: dict) -> str:
    """A derived time's range as printed after its value: ' (13–15 min)', or nothing where both ends
    round to the same figure (a range of '13 min–13 min' says nothing)."""
    low, high = minutes(d["low"]), minutes(d["high"])
    if low == high:
        return ""
    value, _, unit = low.rpartition(UNIT)
    return f" ({value}–{high})" if high.endswith(UNIT + unit) else f" ({low}–{high})"


def si(x, unit: str = "") -> str:
    """1.23e9 -> '1.23 G' + unit; MACs and FLOP/s are read at a glance this way."""
    if _missing(x):
        return MISSING
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}".rstrip()


def num(x) -> str:
    if _missing(x):
        return MISSING
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"


def fixed(x, digits: int = 4) -> str:
    return MISSING if _missing(x) else f"{x:.{digits}f}"


def value(x) -> str:
    """Any stored value for spec and environment tables: booleans lower case, floats short."""
    if _missing(x):
        return MISSING
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def meansd(s: dict, fmt: str = "pct") -> str:
    """{'mean', 'sd', 'n'} -> '98.70% ± 0.12 (n=3)'; one run shows its value alone."""
    if not s or s["mean"] is None:
        return MISSING
    f = FORMATS[fmt]
    if s["n"] > 1 and s["sd"] is not None:
        return f"{_pair(s['mean'], s['sd'], fmt)} (n={s['n']})"
    return f(s["mean"])


def _pair(mean: float, sd: float, fmt: str) -> str:
    """A mean and its spread in one unit and one precision: '37.0 ± 1.0 s', '123.0 ± 0.1 GFLOP/s'."""
    if fmt == "pct":
        return f"{mean * 100:.2f} ± {sd * 100:.2f}%"
    if fmt == "secs":
        digits = 1 if abs(mean) < 100 else 0
        return f"{mean:,.{digits}f} ± {sd:,.{digits}f} s"
    if fmt in ("si", "flops"):
        unit = "FLOP/s" if fmt == "flops" else ""
        factor, prefix = next(((f, p) for f, p in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
                               if abs(mean) >= f), (1.0, ""))
        return f"{mean / factor:.1f} ± {sd / factor:.1f} {prefix}{unit}".rstrip()
    if fmt == "times":
        return f"{mean:.2f} ± {sd:.2f}×"
    return f"{mean:,.0f} ± {sd:,.0f}" if abs(mean) >= 100 else f"{mean:,.1f} ± {sd:,.1f}"


def interval(ci) -> str:
    """(0.951, 0.968) -> '95.10–96.80%'."""
    return MISSING if not ci else f"{ci[0] * 100:.2f}–{ci[1] * 100:.2f}%"


def acc_ci(acc, n) -> str:
    """An accuracy with its 95 % Wilson interval from n test images: '96.00% [95.10–96.80%]'."""
    from bench.report.cells import wilson

    ci = wilson(None if _missing(acc) else acc, n)
    return f"{pct(acc)} [{interval(ci)}]" if ci else pct(acc)


def median_range(s: dict, fmt: str = "times") -> str:
    """{'median', 'min', 'max', 'n'} -> '3.10× (2.90–3.40×, n=3)'; with fewer than 3 the spread is unknown."""
    if not s or s.get("median") is None:
        return MISSING
    f = FORMATS[fmt]
    if s["n"] >= 3:
        return f"{f(s['median'])} ({f(s['min'])}–{f(s['max'])}, n={s['n']})"
    return f"{f(s['median'])} (n={s['n']}, spread unknown: fewer than 3 repeats)"


def plural(value, word: str) -> str:
    """`3 seeds`, `1 thread`, `1/2 threads` (a list of counts, joined): the count with its noun."""
    counts = list(value) if isinstance(value, list | tuple) else [value]
    return f"{'/'.join(num(c) for c in counts)} {word}{'' if counts == [1] else 's'}"


def setting(row: dict) -> str:
    """A row's cell in a few words: the one configuration column a phone shows of a wide table
    ('mnist resnet18 cpu · sgd 0.001 · batch 16 · 10 epochs · pin true', 'mnist svc-rbf cpu · C 1 ·
    scale · 10,000'); only the keys the row has."""
    words = " ".join(value(row[k]) for k in ("dataset", "label", "device") if k in row)
    if row.get("kind") == "svm":
        return f"{words} · C {value(row['C'])} · {row['gamma']} · {num(row['n_train_used'])}"
    rest = [" ".join(value(row[k]) for k in ("optimizer", "lr") if k in row),
            *(form.format(value(row[k])) for k, form in (("batch_size", "batch {}"), ("epochs", "{} epochs"),
                                                         ("pin_memory", "pin {}")) if k in row)]
    return " · ".join([words, *rest])


def times(x) -> str:
    return MISSING if _missing(x) else f"{x:.3g}×"


def sortkey(x) -> str:
    """The data-sort attribute of a table cell: numbers as plain numbers, the rest as text."""
    if _missing(x):
        return ""
    if isinstance(x, bool):
        return str(int(x))
    return repr(x) if isinstance(x, int | float) else str(x)


FORMATS = {"pct": pct, "secs": secs, "minutes": minutes, "si": si, "num": num, "times": times,
           "flops": lambda x: si(x, "FLOP/s")}
FILTERS = {"interval": interval, "acc_ci": acc_ci, "median_range": median_range,
           "pct": pct, "pp": pp, "secs": secs, "minutes": minutes, "si": si, "num": num, "value": value, "fixed": fixed,
           "meansd": meansd, "times": times, "plural": plural, "sortkey": sortkey, "preset": presets.display,
           "setting": setting, "time_range": time_range}


def environment(directory: Path | None = None) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory or template_dir()),
                             undefined=jinja2.StrictUndefined, autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(FILTERS)
    return env


def site(view: dict, env: jinja2.Environment) -> dict[str, str]:
    """The study's own HTML pages (which show the figures): {relative path: text}."""
    return {"index.html": env.get_template("index.html").render(v=view, root="", pdf=False),
            "runs.html": env.get_template("runs.html").render(v=view, root="", pdf=False, listing=True)}


def run_pages(view: dict, env: jinja2.Environment) -> dict[str, str]:
    """One HTML page per stored run (they show no study figure): {relative path: text}."""
    run_template = env.get_template("run.html")
    return {f"runs/{page['run']['run_id']}.html": run_template.render(v=view, p=page, root="../", pdf=False)
            for page in view["pages"]}


def assets(env: jinja2.Environment) -> dict[str, bytes]:
    root = Path(env.loader.searchpath[0]) / "assets"
    return {f"assets/{name}": (root / name).read_bytes() for name in ASSETS}


def pdf(view: dict, env: jinja2.Environment, files: dict[str, str | bytes]) -> bytes:
    """The PDF from the same view and partials, with print CSS; figures and CSS come from `files`
    (the site being built), so nothing is read from or written to disk."""
    return layout(view, env, files).write_pdf()


def layout(view: dict, env: jinja2.Environment, files: dict[str, str | bytes]):
    """The PDF's pages as weasyprint lays them out (a `weasyprint.Document`), before they are written."""
    import weasyprint
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class SiteFetcher(URLFetcher):
        """Serves the site's own files from memory; any other URL stops the rendering."""

        def fetch(self, url, headers=None):
            if url.startswith("data:"):  # images that matplotlib embeds in its SVG
                return super().fetch(url, headers)
            path = urlsplit(url).path.removeprefix(VIRTUAL_ROOT)
            if path not in files:
                raise ValueError(f"the PDF asked for {url}, which the site does not have")
            mime = MIME.get(Path(path).suffix, "application/octet-stream")
            return URLFetcherResponse(url, files[path], headers={"Content-Type": mime})

    html = env.get_template("report.html").render(v=view, root="", pdf=True)
    fetcher = SiteFetcher(fail_on_errors=True)
    return weasyprint.HTML(string=html, base_url="file://" + VIRTUAL_ROOT, url_fetcher=fetcher).render()
