"""Time `bench report` on the 256-run synthetic fixture: HTML (view, figures, pages) and PDF.

    .venv/bin/python benchmarks/render.py [--repeats 3]
    .venv/bin/python benchmarks/render.py --store results --replicate 10 --no-pdf   # the weight at scale

`--replicate N` renders a copy of a real store holding each run N times (each copy another seed and
run id, its curves with it), and also prints the size of index.html and of the whole site.

Targets (issue 3): HTML <= 10 s and PDF <= 60 s on 2 cores. Prints the median wall and CPU
seconds of each stage over the repeats; a discarded warm-up pass loads fonts and imports first.
Wall time counts whatever else the machine runs; CPU time is this process's and its children's."""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures.report.make_fixture import large  # noqa: E402

from bench.report import build_files  # noqa: E402


def replicated(source: Path, root: Path, n: int) -> Path:
    """A copy of the store `source` whose every run (and its curves) appears n times, copy k with
    seed + 1000 k and its own run and record ids: what the store of a study n times larger reads like."""
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("claims", "quarantine", "*.lock*"))
    for name in ("runs.csv", "epochs.csv"):
        with (source / name).open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        with (root / name).open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            for k in range(n):
                for row in rows:
                    new = {**row, **{key: hashlib.sha256(f"{row[key]}/{k}".encode()).hexdigest()[:16]
                                     for key in ("run_id", "record_id") if k}}
                    if k and name == "runs.csv" and row["seed"]:
                        new["seed"] = str(int(row["seed"]) + 1000 * k)
                    writer.writerow(new)
    return root


def _clock() -> tuple[float, float]:
    """Wall seconds and CPU seconds of this process and its finished children (the figures drawn
    beside the pages, bench.report.aside)."""
    t = os.times()
    return time.perf_counter(), t.user + t.system + t.children_user + t.children_system


def one_pass(store: Path, pdf: bool = True) -> dict[str, tuple[float, float]]:
    """(wall, cpu) seconds of the HTML site (`bench report --no-pdf`'s work, writing aside) and of
    the PDF (a whole build with it, less the HTML)."""
    wall, cpu = _clock()
    files = build_files(store, pdf=False)
    end_wall, end_cpu = _clock()
    out = {"html": (end_wall - wall, end_cpu - cpu),
           "weight": (len(files["index.html"]) / 1e6, sum(len(v) for v in files.values()) / 1e6),
           "pages": (len(files), 0.0)}
    if pdf:
        files = build_files(store, pdf=True)
        wall, cpu = _clock()
        out["pdf"] = (wall - end_wall - out["html"][0], cpu - end_cpu - out["html"][1])
        out["pages"] = (len(files), len(files["report.pdf"]) / 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--store", type=Path, help="a real store to render instead of the synthetic fixture")
    parser.add_argument("--replicate", type=int, default=1, help="hold each run of --store this many times")
    parser.add_argument("--no-pdf", action="store_true", help="time the HTML site only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = (replicated(args.store, Path(tmp) / "store", args.replicate) if args.store
                 else large(Path(tmp) / "store"))
        one_pass(store, not args.no_pdf)  # warm-up: imports, fonts, matplotlib caches
        passes = [one_pass(store, not args.no_pdf) for _ in range(args.repeats)]
    files, mb = passes[0]["pages"]
    index_mb, site_mb = passes[0]["weight"]
    what = f"{args.store} x{args.replicate}" if args.store else "256-run fixture"
    print(f"{what}: {files} site files, {site_mb:.1f} MB in all, index.html {index_mb:.2f} MB"
          + (f", report.pdf {mb:.1f} MB" if mb else "") + f", median of {args.repeats}")
    for stage, target in (("html", 10), ("pdf", 60))[:1 if args.no_pdf else 2]:
        wall = statistics.median(p[stage][0] for p in passes)
        cpu = statistics.median(p[stage][1] for p in passes)
        print(f"{stage:4}  wall {wall:6.2f} s   cpu {cpu:6.2f} s   target <= {target} s   "
              f"{'ok' if wall <= target else 'OVER'}")


if __name__ == "__main__":
    main()
