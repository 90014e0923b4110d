"""docker/cuda-entrypoint.sh refuses in one line without a GPU, and BENCH_SKIP_GPU_CHECK lets it go on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_cuda_entrypoint_refuses_without_gpu(tmp_path):
    """The CUDA image's entry point, run here with this venv's torch: one line and exit 1 when no GPU."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible; the refusal cannot be shown")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run([str(ROOT / "docker/cuda-entrypoint.sh"), "--version"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "no CUDA GPU is visible" in out.stderr
    out = subprocess.run([str(ROOT / "docker/cuda-entrypoint.sh"), "--version"], capture_output=True, text=True,
                         env={**env, "BENCH_SKIP_GPU_CHECK": "1"}, timeout=120)
    assert out.returncode == 0, out.stderr
