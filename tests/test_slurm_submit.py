"""deploy/slurm/submit.sh against a fake `sbatch` (no cluster needed), and how CI reaches the real
SLURM run (`make slurm-test`, deploy/slurm/ci-cluster.sh), shown with `make -n`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBMIT = ROOT / "deploy/slurm/submit.sh"


def submit(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run submit.sh with a fake sbatch that logs its arguments and answers like `--parsable` on a
    federated cluster (JOBID;CLUSTER): 11 for the first call, 12 for the second."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "sbatch.log"
    fake = bin_dir / "sbatch"
    fake.write_text('#!/bin/bash\nprintf "%s\\n" "$*" >> "$SBATCH_LOG"\n'
                    'n=$(wc -l < "$SBATCH_LOG")\necho "$((10 + n));cluster"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SBATCH_LOG": str(log)}
    out = subprocess.run(["bash", str(SUBMIT), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    calls = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return out, calls


def test_submit_queues_the_array_then_the_merge_after_it(tmp_path):
    out, calls = submit(tmp_path, "4")
    assert out.returncode == 0, out.stderr
    assert calls == [["--parsable", "--array=0-3", str(ROOT / "deploy/slurm/study.sbatch")],
                     ["--parsable", "--dependency=afterok:11", str(ROOT / "deploy/slurm/merge.sbatch")]]
    assert out.stdout.strip() == "study: job array 11 (4 shards); merge: job 12 after all of them succeed"


def test_submit_passes_extra_sbatch_options_to_both_jobs_before_the_script(tmp_path):
    out, calls = submit(tmp_path, "2", "--partition=gpu", "--cpus-per-task=1")
    assert out.returncode == 0, out.stderr
    for call in calls:
        assert call[1:3] == ["--partition=gpu", "--cpus-per-task=1"] and call[-1].endswith(".sbatch")
    assert len(calls) == 2 and "--array=0-1" in calls[0] and "--dependency=afterok:11" in calls[1]


@pytest.mark.parametrize("n", ["0", "-1", "two", ""])
def test_submit_refuses_a_bad_count(tmp_path, n):
    out, calls = submit(tmp_path, n)
    assert out.returncode != 0 and calls == []


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_make_slurm_test_runs_the_harness_with_the_data_and_ci_runs_it():
    out = subprocess.run(["make", "--no-print-directory", "-n", "slurm-test", "DATA=/some/data"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "DATA=/some/data bash deploy/slurm/ci-cluster.sh" in out.stdout
    steps = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line.startswith("make ")]
    assert steps.index("make slurm-test") == steps.index("make test") + 1
    assert steps.index("make slurm-test") < steps.index("make image-test DEVICE=cpu")
