"""Whole-process wall time of `bench run` under two worker settings (by default `--workers 1`, one
process with every thread, and `--workers auto`), for one or two versions of bench, side by side.
Run by `make perf` (not a test) on an idle machine; results go to stdout and benchmarks/workers.csv.

Grids (each run into a fresh store, process start included: what the user waits for):
- svm: q1b's 48 SVM cells at n_train 2,000;
- resnet: a q1a-shaped ResNet grid of 4 training runs (ResNet-18, Fashion-MNIST, SGD and Adam x lr
  1e-3 and 1e-4, batch 16, 1 epoch, 2,000 training images);
- single: one ResNet training run (ResNet-18, MNIST, Adam lr 1e-3, batch 32, epochs 1 and 2 x
  pin_memory true and false: 4 cells, one computation on the CPU, 4,900 training images, perf.py's
  grid (e)) beside one SVM of a few seconds: the grid where one-thread workers left a core idle;
- equal: two equal ResNet training runs (as `single`, 2 epochs, lr 1e-3 and 1e-4);
- long: one long ResNet run (as `single`, 3 epochs) beside four SVMs.
With `--notebook`, each repetition of `single` also times the notebook-style pipeline on its ResNet
cells (perf.py --notebook-grid, one whole process): the issue-34 comparison, side by side.

With `--old PATH` (a checkout of the code before, e.g. `git worktree add /tmp/bench-old ec55db0`)
every setting runs under both versions; each repetition runs every (version, workers) pair, the
order rotated from one repetition to the next, so old and new alternate. The summary gives each
pair's median and range, and per version the ratio of medians `--workers 1` / the other setting.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESNET = ('[[grid]]\nkind = "resnet"\nmodel = "resnet18"\ndataset = "mnist"\noptimizer = "adam"\nlr = {lr}\n'
          'batch_size = 32\nepochs = {epochs}\npin_memory = [true, false]\nsubset = 4900\ntest_size = 2000\n\n')
SVMS = ('[[grid]]\nkind = "svm"\ndataset = {datasets}\nkernel = {kernels}\nC = 1.0\ngamma = "scale"\n'
        'n_train = 3000\nsubset = 4900\ntest_size = 2000\n')
PRESETS = {
    "single": RESNET.format(lr="1e-3", epochs="[1, 2]") + SVMS.format(datasets='"mnist"', kernels='"rbf"'),
    "equal": RESNET.format(lr="[1e-3, 1e-4]", epochs="2"),
    "long": RESNET.format(lr="1e-3", epochs="3") + SVMS.format(datasets='["mnist", "fashion"]',
                                                               kernels='["rbf", "poly"]'),
}
GRIDS = {
    "svm": ["--preset", "q1b", "--n-train", "2000"],
    "resnet": ["--preset", "q1a", "--models", "resnet18", "--datasets", "fashion", "--batch-size", "16",
               "--epochs", "1", "--pin-memory", "false", "--subset", "2000", "--test-size", "2000"],
    **{name: ["--preset", "{preset}"] for name in PRESETS},
}


def wall_time(grid: str, workers: str, code: Path, data_dir: str | None) -> float:
    """Seconds of one whole `bench run` of `grid` with the bench in `code`."""
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        preset = Path(tmp) / f"{grid}.toml"
        preset.write_text(PRESETS.get(grid, ""))
        args = [a.replace("{preset}", str(preset)) for a in GRIDS[grid]]
        cmd = [sys.executable, "-m", "bench.cli", "run", *args, "--store", f"{tmp}/results",
               "--artifacts", f"{tmp}/artifacts", "--quiet", "--workers", workers]
        if data_dir:
            cmd += ["--data-dir", data_dir]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=code,
                       env={**os.environ, "PYTHONPATH": str(code)})
        return time.perf_counter() - start


def notebook_time(data_dir: str | None) -> float:
    """Seconds of one whole process running `single`'s ResNet cells through the notebook-style pipeline
    (perf.py's grid (e), cell by cell; the notebook has no SVM: the comparison favours it by that)."""
    cmd = [sys.executable, str(HERE / "perf.py"), "--notebook-grid", *(["--data-dir", data_dir] if data_dir else [])]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE.parent,
                   env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grids", default="svm,resnet,single,equal,long", help=f"Comma-separated: {', '.join(GRIDS)}.")
    parser.add_argument("--compare", default="1,auto", help="The two --workers settings, the reference first.")
    parser.add_argument("--old", type=Path, help="A checkout of the code to compare with (it runs as `old`).")
    parser.add_argument("--notebook", action="store_true",
                        help="in each repetition of `single`, also the notebook-style pipeline (perf.py's (e))")
    parser.add_argument("--data-dir", default=os.environ.get("BENCH_DATA_DIR"))
    parser.add_argument("--out", type=Path, default=HERE / "workers.csv")
    args = parser.parse_args()
    codes = {"new": HERE.parent, **({"old": args.old.resolve()} if args.old else {})}
    settings = args.compare.split(",")
    pairs = [(code, w) for code in codes for w in settings]
    rows = []
    for grid in args.grids.split(","):
        runs = pairs + ([("notebook", "-")] if args.notebook and grid == "single" else [])
        for rep in range(args.repeats):
            shift = rep % len(runs)
            for code, workers in runs[shift:] + runs[:shift]:
                seconds = (notebook_time(args.data_dir) if code == "notebook"
                           else wall_time(grid, workers, codes[code], args.data_dir))
                rows.append({"grid": grid, "repeat": rep + 1, "code": code, "workers": workers,
                             "seconds": round(seconds, 2)})
                print(f"{grid} repeat {rep + 1}: {code} --workers {workers}: {seconds:.1f} s", flush=True)
        for code in codes:
            times = {w: [r["seconds"] for r in rows if (r["grid"], r["code"], r["workers"]) == (grid, code, w)]
                     for w in settings}
            spread = "; ".join(f"--workers {w} {statistics.median(t):.1f} s (range {min(t):.1f}-{max(t):.1f})"
                               for w, t in times.items())
            ratio = statistics.median(times[settings[0]]) / statistics.median(times[settings[1]])
            print(f"{grid}, {code} code: {spread}: --workers {settings[1]} is {ratio:.2f}x as fast as --workers "
                  f"{settings[0]} ({os.cpu_count()} cores, BENCH_THREADS={os.environ.get('BENCH_THREADS', 'unset')}, "
                  f"median of {args.repeats})", flush=True)
        notebook = [r["seconds"] for r in rows if (r["grid"], r["code"]) == (grid, "notebook")]
        if notebook:
            default = statistics.median(r["seconds"] for r in rows
                                        if (r["grid"], r["code"], r["workers"]) == (grid, "new", settings[-1]))
            print(f"{grid}: notebook pipeline {statistics.median(notebook):.1f} s (range {min(notebook):.1f}-"
                  f"{max(notebook):.1f}): new --workers {settings[-1]} is {statistics.median(notebook) / default:.2f}x "
                  "as fast", flush=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
