"""`make gpu-check`: the first thing to run on a machine with an NVIDIA GPU.

Needs only a Python with torch and torchvision and bench's pure-Python dependencies (no Docker, no
venv, no network; a missing package is reported in one line each). It runs the GPU tests, then q2 on
this host's CPU and on CUDA at the committed scale and seeds (speedups pair only within one host),
then the q1a cells of one dataset on CUDA at the committed q1a scale, all into a separate store,
and the step experiment's in-process techniques (step-cuda.csv beside the store);
prints each step's elapsed time and the CUDA/CPU speedup per model with its spread; exits 1 if a
step or any CUDA row failed. Each step has a time budget so the whole fits 8 minutes on an
H100-class card; a step cut short keeps the cells it stored (a rerun resumes them).

    PYTHONPATH=. python3 benchmarks/gpu_check.py --store gpu-results [--device cpu --dry-run]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = ("torch", "torchvision", "sklearn", "pandas", "matplotlib", "jinja2", "click", "ptflops",
            "filelock", "tqdm", "pytest")
Q2 = ["--preset", "q2", "--subset", "1000", "--repeats", "3"]  # as the committed CPU q2 rows
OPTIONAL = "step experiment (best effort)"
Q1A = ["--preset", "q1a", "--subset", "1000", "--datasets", "fashion"]  # the committed q1a scale


def missing_packages() -> list[str]:
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]


def steps(store: Path, device: str, data_dir: str | None) -> list[tuple[str, list[str], int]]:
    """(name, command, time budget in seconds) of each step."""
    bench = [sys.executable, "-m", "bench.cli", "run", "--store", str(store), "--quiet",
             "--artifacts", str(store / "artifacts"), *(["--data-dir", data_dir] if data_dir else [])]
    return [
        ("GPU tests", [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "tests/test_gpu.py"], 90),
        (f"q2 on {device}", [*bench, *Q2, "--device", device], 60),
        ("q2 on this host's CPU (for same-host pairs)", [*bench, *Q2, "--device", "cpu"], 180),
        (f"q1a fashion on {device}", [*bench, *Q1A, "--device", device], 120),
        # best effort, last: the in-process techniques of the step experiment (`make step DEVICE=cuda`
        # adds the worker processes); cut short, it fails nothing
        (OPTIONAL, [sys.executable, "benchmarks/step.py", "--device", device, "--techniques",
                    "eager,fused,graph,fused4", "--out", str(store)], 30),
    ]


def speedups(store: Path) -> list[str]:
    """One line per Q2 model and optimizer: CUDA/CPU steady-state speedup, median (min–max, n)."""
    from bench.report import load, q2
    from bench.report.render import median_range

    section = q2.section(load.read(store).runs)
    return [f"{row['label']:10} {row['optimizer']:4} {median_range(row['speedup'])}"
            for row in section["rows"] if row["speedup"]["n"]]


def failed_rows(store: Path, device: str) -> int:
    from bench.report import load

    return sum(r["status"] != "done" for r in load.read(store).runs if r["device"] == device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("gpu-results"))
    parser.add_argument("--device", default="cuda", help="cpu substitutes for cuda to try the steps here")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--dry-run", action="store_true", help="print the steps and exit")
    args = parser.parse_args(argv)
    missing = missing_packages()
    for name in missing:
        print(f"gpu-check: missing Python package {name}; install it (pip install {name})")
    if missing:
        return 1
    plan = steps(args.store, args.device, args.data_dir)
    if args.dry_run:
        for name, command, budget in plan:
            print(f"{name} (budget {budget}s): {' '.join(command)}")
        return 0
    ok = True
    for name, command, budget in plan:
        start = time.perf_counter()
        try:
            rc = subprocess.run(command, timeout=budget, check=False).returncode
        except subprocess.TimeoutExpired:
            rc = "stopped at its time budget (stored cells are kept; rerun to resume)"
        print(f"gpu-check: {name}: {time.perf_counter() - start:.0f}s, exit {rc}", flush=True)
        ok = ok and (rc == 0 or name == OPTIONAL)
    if (args.store / "manifest.json").exists():
        for line in speedups(args.store):
            print(f"speedup {line}")
        failures = failed_rows(args.store, args.device)
        if failures:
            print(f"gpu-check: {failures} {args.device} rows did not finish as done")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
