"""Wall time of `bench run --workers 2` against `--workers 1` on q1b's 48 SVM cells at n_train
2,000, side by side in one run: each repetition runs both into fresh stores, alternating which
goes first, and the ratio is taken per repetition. Run by `make perf` (not a test) on an idle
machine; results go to stdout and benchmarks/workers.csv.
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


def wall_time(workers: int, data_dir: str | None, n_train: int) -> float:
    """Seconds of one whole `bench run` (process start included: what the user waits for)."""
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        cmd = [sys.executable, "-m", "bench.cli", "run", "--preset", "q1b", "--n-train", str(n_train),
               "--store", f"{tmp}/results", "--artifacts", f"{tmp}/artifacts", "--quiet", "--workers", str(workers)]
        if data_dir:
            cmd += ["--data-dir", data_dir]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE.parent)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--data-dir", default=os.environ.get("BENCH_DATA_DIR"))
    parser.add_argument("--out", type=Path, default=HERE / "workers.csv")
    args = parser.parse_args()
    rows = []
    for rep in range(args.repeats):
        order = (1, 2) if rep % 2 == 0 else (2, 1)
        times = {w: wall_time(w, args.data_dir, args.n_train) for w in order}
        rows.append({"repeat": rep + 1, "first": order[0], "workers_1_s": round(times[1], 2),
                     "workers_2_s": round(times[2], 2), "speedup": round(times[1] / times[2], 3)})
        print(f"repeat {rep + 1}: 1 worker {times[1]:.1f} s, 2 workers {times[2]:.1f} s, "
              f"speedup {times[1] / times[2]:.2f}x", flush=True)
    ratios = [r["speedup"] for r in rows]
    print(f"q1b SVMs, n_train {args.n_train}, {os.cpu_count()} cores, BENCH_THREADS="
          f"{os.environ.get('BENCH_THREADS', 'unset')}: --workers 2 is {statistics.median(ratios):.2f}x faster "
          f"than --workers 1 (median of {len(ratios)}; range {min(ratios):.2f}-{max(ratios):.2f})")
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
