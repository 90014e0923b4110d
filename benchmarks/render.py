"""Time `bench report` on the 256-run synthetic fixture: HTML (view, figures, pages) and PDF.

    .venv/bin/python benchmarks/render.py [--repeats 3]

Targets (issue 3): HTML <= 10 s and PDF <= 60 s on 2 cores. Prints the median wall and CPU
seconds of each stage over the repeats; a discarded warm-up pass loads fonts and imports first.
Wall time counts whatever else the machine runs; CPU time is this process's own."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures.report.make_fixture import large  # noqa: E402

from bench.report import figures, load, render, view  # noqa: E402


def one_pass(store: Path) -> dict[str, tuple[float, float]]:
    """(wall, cpu) seconds of HTML (everything but the PDF) and of the PDF alone."""
    out = {}
    wall, cpu = time.perf_counter(), time.process_time()
    model = view.build(load.read(store))
    figure_files, model["figures"] = figures.render(model)
    env = render.environment()
    files = {**figure_files, **render.assets(env)}
    model["has_pdf"] = True
    files.update(render.site(model, env))
    out["html"] = (time.perf_counter() - wall, time.process_time() - cpu)
    wall, cpu = time.perf_counter(), time.process_time()
    pdf = render.pdf(model, env, files)
    out["pdf"] = (time.perf_counter() - wall, time.process_time() - cpu)
    out["pages"] = (len(files), len(pdf) / 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = large(Path(tmp) / "store")
        one_pass(store)  # warm-up: imports, fonts, matplotlib caches
        passes = [one_pass(store) for _ in range(args.repeats)]
    files, mb = passes[0]["pages"]
    print(f"256-run fixture: {files} site files, report.pdf {mb:.1f} MB, median of {args.repeats}")
    for stage, target in (("html", 10), ("pdf", 60)):
        wall = statistics.median(p[stage][0] for p in passes)
        cpu = statistics.median(p[stage][1] for p in passes)
        print(f"{stage:4}  wall {wall:6.2f} s   cpu {cpu:6.2f} s   target <= {target} s   "
              f"{'ok' if wall <= target else 'OVER'}")


if __name__ == "__main__":
    main()
