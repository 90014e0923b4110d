"""The Makefile's choices, shown with `make -n` (nothing runs) and a fake `docker` on PATH, and the
one-line refusals: a bad DEVICE, and `bench run --device cuda` on a machine without a GPU."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.options import ENVIRONMENT_NOTICE

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def make(*args: str, docker: bool | None = None, tmp_path: Path | None = None) -> subprocess.CompletedProcess:
    """Run make in the repository; docker=True/False puts a fake `docker` that answers (or not) first
    on PATH, so RUNNER=auto can be shown both ways on any machine."""
    env = dict(os.environ)
    if docker is not None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        fake = bin_dir / "docker"
        fake.write_text(f"#!/bin/sh\nexit {0 if docker else 1}\n")
        fake.chmod(0o755)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_help_is_the_default_and_lists_the_targets():
    out = make()
    assert out.returncode == 0, out.stderr
    for target in ("bench", "report", "test", "lint", "image", "image-test", "clean"):
        assert f"make {target} " in out.stdout


@pytest.mark.parametrize("device", ["tpu", "cpu cuda", ""])
def test_bad_device_is_refused(device):
    out = make("-n", "bench", f"DEVICE={device}")
    assert out.returncode != 0
    assert f"DEVICE must be cpu or cuda, not '{device}'" in out.stderr


def test_bad_runner_is_refused():
    out = make("-n", "bench", "RUNNER=kubernetes")
    assert out.returncode != 0 and "RUNNER must be auto, container or local" in out.stderr


def test_local_runner_uses_the_venv(tmp_path):
    out = make("-n", "bench", "RUNNER=local", "DATA=/some/data", "PRESET=q2")
    assert out.returncode == 0, out.stderr
    assert ".venv/bin/bench run --preset q2 --device cpu" in out.stdout and "--data-dir /some/data" in out.stdout
    assert ".venv/bin/bench report --store results --out site" in out.stdout
    assert "docker" not in out.stdout


def test_smoke_goes_to_a_scratch_store_and_site_and_says_where(tmp_path):
    """A newcomer's `make bench` (the smoke preset) never touches the committed results/ or site/."""
    out = make("-n", "bench", "RUNNER=local", "DATA=/some/data")
    assert out.returncode == 0, out.stderr
    assert "--store build/smoke/results" in out.stdout and "--out build/smoke/site" in out.stdout
    assert f"report: {ROOT}/build/smoke/site/index.html" in out.stdout
    assert "--store results" not in out.stdout and "--out site" not in out.stdout


def test_make_test_finds_the_data_like_make_bench(tmp_path):
    out = make("-n", "test", "DATA=/some/data")
    assert out.returncode == 0, out.stderr
    assert "BENCH_DATA_DIR=/some/data" in out.stdout and "-m pytest" in out.stdout


def test_auto_runner_is_local_without_a_docker_engine(tmp_path):
    out = make("-n", "bench", docker=False, tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert ".venv/bin/bench run" in out.stdout and "docker" not in out.stdout


def test_auto_runner_uses_the_cuda_image_with_the_gpu(tmp_path):
    out = make("-n", "bench", "DEVICE=cuda", "DATA=/some/data", docker=True, tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "docker build -f docker/Dockerfile.cuda -t bench:cuda" in out.stdout
    lines = [" ".join(line.split()) for line in out.stdout.replace("\\\n", " ").splitlines()]
    run = next(line for line in lines if line.startswith("docker run") and " run --preset" in line)
    assert "--gpus all" in run and '--user "$(id -u):$(id -g)"' in run
    assert '"/some/data:/data:ro"' in run and "/results" in run and "/artifacts" in run
    assert run.endswith("bench:cuda run --preset smoke --device cuda --store /results --artifacts /artifacts")
    assert any(line.startswith("docker run") and f'"{ROOT}/build/smoke/site:/site" bench:cuda report --store '
               '/results --out /site' in line for line in lines)


def test_cpu_image_gets_no_gpu(tmp_path):
    out = make("-n", "run", "RUNNER=container", "DATA=/some/data")
    assert out.returncode == 0, out.stderr
    assert "--gpus" not in out.stdout and "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in out.stdout


def test_make_report_runs_locally_on_a_tiny_store(tmp_path, tiny_data):
    """`make report RUNNER=local` renders a store without any container engine."""
    from bench.cli import main

    preset = tmp_path / "tiny.toml"
    preset.write_text('[[grid]]\nkind = "svm"\ndataset = "mnist"\nkernel = "rbf"\nC = 10.0\n'
                      'gamma = "scale"\nn_train = 60\n')
    store, site = tmp_path / "store", tmp_path / "site"
    result = CliRunner().invoke(main, ["run", "--preset", str(preset), "--store", str(store), "--data-dir",
                                       str(tiny_data), "--quiet", "--artifacts", str(tmp_path / "art")])
    assert result.exit_code == 0, result.output
    out = make("report", "RUNNER=local", f"STORE={store}", f"SITE={site}", f"VENV={Path(sys.prefix)}",
               "STAMP=pyproject.toml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (site / "index.html").stat().st_size > 0


def test_cuda_without_a_gpu_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    bench = Path(sys.executable).parent / "bench"
    out = subprocess.run([str(bench), "run", "--preset", "smoke", "--device", "cuda", "--store", str(tmp_path / "s")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip() and "cells planned" not in line
             and not line.startswith(ENVIRONMENT_NOTICE)]  # the tests' BENCH_WORKERS (conftest.py)
    assert len(lines) == 1 and "no CUDA GPU is visible" in lines[0], out.stderr


def test_engine_chooses_the_engine_for_runs_as_well_as_builds():
    out = make("-n", "bench", "RUNNER=container", "ENGINE=podman", "DATA=/some/data")
    assert out.returncode == 0, out.stderr
    assert "podman build -f docker/Dockerfile.cpu" in out.stdout
    assert "podman run --rm" in out.stdout and "docker" not in out.stdout.replace("docker/", "")


def test_make_bench_installs_what_running_needs_and_make_test_adds_the_test_tools(tmp_path):
    """A fresh venv (one that does not exist yet): make bench installs bench alone, on a CPU machine
    torch's CPU wheels first when their index answers; make test adds the test extras."""
    venv = f"VENV={tmp_path / 'venv'}"
    bench = make("-n", "bench", "RUNNER=local", venv)
    assert bench.returncode == 0, bench.stderr
    assert "pip install -e .\n" in bench.stdout and ".[test]" not in bench.stdout
    assert "pip install --index-url https://download.pytorch.org/whl/cpu" in bench.stdout
    assert "pip install --index-url" not in make("-n", "bench", "RUNNER=local", "TORCH_CPU=no", venv).stdout
    assert "pip install --index-url" not in make("-n", "bench", "RUNNER=local", "DEVICE=cuda", venv).stdout
    test = make("-n", "test", venv)
    assert "pip install -e .\n" in test.stdout and "pip install -e '.[test]'" in test.stdout
