"""`make gpu-session` rehearsed here: the same command on the CPU at a tiny scale, on a Python where
ptflops cannot be imported (as on a borrowed GPU machine), must leave an output folder that keeps the
contract (at most 8 files, two folders deep, each under 16 MiB), merges into a copy of results/ and
renders; and a session killed mid-run must leave one that still merges."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import maintenance
from bench.store import Store
from benchmarks import gpu_session

ROOT = Path(__file__).resolve().parents[1]
NAMES = {"session.json", "session.log", "tests.txt", "step-cpu.csv", *(f"store/{n}" for n in gpu_session.STORE_FILES)}


def test_the_gpu_session_fits_nine_minutes_at_the_committed_scale(tmp_path):
    plan = gpu_session.phases("cuda", "full", tmp_path / "store", tmp_path, tmp_path / "out")
    assert [p.name for p in plan] == ["tests", "step", "time-gpu", "time-cpu", "q2", "q1a"]
    assert sum(p.seconds for p in plan) < 540 / 2  # fixed reserves leave half the session to training
    runs = {p.name: " ".join(p.argv) for p in plan if p.name in ("q2", "q1a")}
    for name, command in runs.items():  # the presets' own (full) scale: no --subset, --test-size or --epochs
        assert f"run --store {tmp_path / 'store'} --artifacts {tmp_path / 'artifacts'}" in command
        assert f"--preset {name}" in command and "--device cuda" in command
        assert not any(flag in command for flag in ("--subset", "--test-size", "--epochs"))
    assert "--device cuda" in " ".join(plan[2].argv) and "--device cpu" in " ".join(plan[3].argv)


def _session(out: Path, data: Path, blocker: Path, seconds: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{ROOT}", "BENCH_GIT_COMMIT": "rehearsal"}
    return subprocess.Popen([sys.executable, "benchmarks/gpu_session.py", "--device", "cpu", "--scale", "tiny",
                             "--seconds", str(seconds), "--out", str(out), "--data-dir", str(data)],
                            cwd=ROOT, env=env, start_new_session=True)


@pytest.fixture
def no_ptflops(tmp_path) -> Path:
    """A folder that, first on the path, makes `import ptflops` fail as on a stock GPU Python."""
    blocker = tmp_path / "blocker"
    (blocker / "ptflops").mkdir(parents=True)
    (blocker / "ptflops" / "__init__.py").write_text('raise ImportError("ptflops is not installed here")\n')
    return blocker


def _merges_and_renders(out: Path, tmp_path: Path, render: bool) -> list[dict]:
    results = tmp_path / "results"
    shutil.copytree(ROOT / "results", results, ignore=shutil.ignore_patterns("claims", "backup", ".lock*"))
    before = len(Store(results).table("runs.csv").rows)
    summary = maintenance.merge([out / "store"], results)
    assert not summary.conflicts
    rows = Store(results).table("runs.csv").rows
    new = rows[before:]
    if render:
        done = subprocess.run([sys.executable, "-m", "bench.cli", "report", "--store", str(results), "--out",
                               str(tmp_path / "site"), "--no-pdf"], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "site" / "index.html").exists()
    return new


@pytest.mark.slow
def test_the_rehearsal_keeps_the_output_contract_and_merges_without_ptflops(real_data, tmp_path, no_ptflops):
    out = tmp_path / "out"
    assert _session(out, real_data, no_ptflops, 300).wait(timeout=450) == 0
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert files == NAMES
    assert all((out / f).stat().st_size < 16 * 2**20 for f in files)
    import json

    phases = {p["name"]: p["outcome"] for p in json.loads((out / "session.json").read_text())["phases"]}
    assert phases["tests"] == phases["step"] == "exit 0", phases
    assert all(phases[n] == "exit 0" or phases[n].startswith("cut") for n in ("time-gpu", "time-cpu", "q2")), phases
    timings = [t for t in Store(out / "store").table("timings.csv").rows if t["git_commit"] == "rehearsal"]
    assert {t["device"] for t in timings} == {"cpu"}  # bench time ran and stored rows without ptflops
    new = _merges_and_renders(out, tmp_path, render=True)
    assert new and all(r["git_commit"] == "rehearsal" and r["torch"] for r in new)
    assert all(r["macs"] in ("", None) for r in new)  # MACs need ptflops: left empty, the run went on
    assert all(r["params"] for r in new)


@pytest.mark.slow
def test_a_session_killed_mid_run_leaves_a_store_that_merges(real_data, tmp_path, no_ptflops):
    out = tmp_path / "out"
    committed = len((ROOT / "results" / "runs.csv").read_bytes().splitlines())
    session = _session(out, real_data, no_ptflops, 300)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and session.poll() is None:
        runs = out / "store" / "runs.csv"
        if runs.exists() and len(runs.read_bytes().splitlines()) > committed:  # a new row is out
            break
        time.sleep(0.5)
    os.killpg(session.pid, signal.SIGKILL)
    session.wait()
    assert len((out / "store" / "runs.csv").read_bytes().splitlines()) > committed
    assert len([p for p in out.rglob("*") if p.is_file()]) <= 8
    assert _merges_and_renders(out, tmp_path, render=False)
