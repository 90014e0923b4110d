"""`make gpu-check`'s CPU-only parts: its steps fit the 8-minute budget and use the committed scale,
missing packages are one line each, and speedups pair CPU and CUDA rows of one host."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from bench.store import Store
from benchmarks import gpu_check


def test_steps_fit_eight_minutes_and_use_the_committed_scale(tmp_path):
    plan = gpu_check.steps(tmp_path / "s", "cuda", "/data")
    assert sum(budget for _, _, budget in plan) <= 8 * 60
    commands = [" ".join(c) for _, c, _ in plan]
    assert "-m cuda tests/test_gpu.py" in commands[0]
    assert "--preset q2 --subset 1000 --repeats 3 --device cuda" in commands[1]
    assert "--preset q2 --subset 1000 --repeats 3 --device cpu" in commands[2]  # same host, for pairs
    assert "--preset q1a --subset 1000 --datasets fashion --device cuda" in commands[3]
    assert all("--data-dir /data" in c for c in commands[1:4])
    assert "benchmarks/step.py --device cuda --techniques eager,fused,graph,fused4" in commands[4]


def test_missing_packages_are_one_line_each(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name in ("ptflops", "tqdm") else real(name))
    assert gpu_check.main(["--dry-run"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["gpu-check: missing Python package ptflops; install it (pip install ptflops)",
                     "gpu-check: missing Python package tqdm; install it (pip install tqdm)"]


def test_dry_run_prints_every_step(capsys):
    assert gpu_check.main(["--dry-run", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.count("(budget") == 5 and sys.executable in out


def _row(device: str, seed: int, rate: float, status: str = "done") -> dict:
    return {"run_id": f"{device}{seed}", "record_id": f"r{device}{seed}", "status": status, "preset": "q2",
            "kind": "resnet", "dataset": "fashion", "model": "resnet18", "stem": "standard", "label": "resnet18",
            "optimizer": "adam", "lr": 0.001, "batch_size": 16, "epochs": 5, "device": device, "seed": seed,
            "data_seed": 0, "split": "random", "subset": 1000, "test_size": 2000, "amp": False,
            "host_id": "h1", "threads": 16, "load_start": 0.5, "load_end": 1.0, "steady_images_per_s": rate,
            "images_per_s": rate, "train_time_s": 1.0, "test_acc": 0.8, "n_test": 2000,
            "finished_at": f"2026-01-0{seed + 1}"}


def test_speedups_pair_one_host_and_failures_count(tmp_path):
    store = Store(tmp_path / "s", create=True)
    for seed, (cpu, gpu) in enumerate([(100.0, 2000.0), (110.0, 2310.0), (90.0, 1710.0)]):
        store.append(_row("cpu", seed, cpu), [])
        store.append(_row("cuda", seed, gpu), [])
    store.append(_row("cuda", 7, 1.0, status="error"), [])
    [line] = gpu_check.speedups(Path(store.root))
    assert line.split() == ["resnet18", "adam", "20×", "(19×–21×,", "n=3)"]
    assert gpu_check.failed_rows(Path(store.root), "cuda") == 1
