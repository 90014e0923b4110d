"""Wall time of `bench run --workers 2` (one thread each) against `--workers 1` (both threads), side
by side in one run, for the two kinds of work the study has: q1b's 48 SVM cells at n_train 2,000,
and a q1a-shaped ResNet grid (ResNet-18, Fashion-MNIST, SGD and Adam x lr 1e-3 and 1e-4, batch 16,
1 epoch, 2,000 training images: 4 training runs). Each repetition runs both into fresh stores,
alternating which goes first, and the ratio is taken per repetition. Run by `make perf` (not a test)
on an idle machine; results go to stdout and benchmarks/workers.csv. What it measured is why
`bench run --workers auto` (the default) takes one one-thread worker per thread on the CPU.
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
GRIDS = {
    "svm": ["--preset", "q1b", "--n-train", "2000"],
    "resnet": ["--preset", "q1a", "--models", "resnet18", "--datasets", "fashion", "--batch-size", "16",
               "--epochs", "1", "--pin-memory", "false", "--subset", "2000", "--test-size", "2000"],
}


def wall_time(grid: str, workers: int, data_dir: str | None) -> float:
    """Seconds of one whole `bench run` (process start included: what the user waits for)."""
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        cmd = [sys.executable, "-m", "bench.cli", "run", *GRIDS[grid], "--store", f"{tmp}/results",
               "--artifacts", f"{tmp}/artifacts", "--quiet", "--workers", str(workers)]
        if data_dir:
            cmd += ["--data-dir", data_dir]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE.parent)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grids", default="svm,resnet", help="Comma-separated: svm, resnet.")
    parser.add_argument("--data-dir", default=os.environ.get("BENCH_DATA_DIR"))
    parser.add_argument("--out", type=Path, default=HERE / "workers.csv")
    args = parser.parse_args()
    rows = []
    for grid in args.grids.split(","):
        for rep in range(args.repeats):
            order = (1, 2) if rep % 2 == 0 else (2, 1)
            times = {w: wall_time(grid, w, args.data_dir) for w in order}
            rows.append({"grid": grid, "repeat": rep + 1, "first": order[0], "workers_1_s": round(times[1], 2),
                         "workers_2_s": round(times[2], 2), "speedup": round(times[1] / times[2], 3)})
            print(f"{grid} repeat {rep + 1}: 1 worker {times[1]:.1f} s, 2 workers {times[2]:.1f} s, "
                  f"speedup {times[1] / times[2]:.2f}x", flush=True)
        ratios = [r["speedup"] for r in rows if r["grid"] == grid]
        print(f"{grid}: {os.cpu_count()} cores, BENCH_THREADS={os.environ.get('BENCH_THREADS', 'unset')}: "
              f"--workers 2 is {statistics.median(ratios):.2f}x faster than --workers 1 (median of "
              f"{len(ratios)}; range {min(ratios):.2f}-{max(ratios):.2f})", flush=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
