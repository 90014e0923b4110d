"""Two `bench run`s on one store: no torn or lost rows, and no cell trained twice (cells are claimed
under the store lock right before their group starts; a claim whose owner died is ignored)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.claims import boot_id, started
from bench.csvfile import read_table
from bench.plan import Cell
from bench.schema import FILES
from bench.spec import RunSpec
from bench.store import Store

SHARED = ('[[grid]]\nmodel = "resnet20"\ndataset = "mnist"\noptimizer = "adam"\nlr = [1e-2, {lr}]\nepochs = [1, 2]\n'
          'batch_size = 32\nsubset = 100\ntest_size = 100\n\n'
          '[[grid]]\nkind = "svm"\ndataset = "mnist"\nkernel = {kernels}\n'
          'subset = 100\ntest_size = 100\nn_train = 50\n')
# A and B both start with the lr=1e-2 group (2 cells) and share the rbf SVM: 3 cells overlap, 8 in all.
GRIDS = {"a": SHARED.format(lr="1e-3", kernels='["rbf"]'), "b": SHARED.format(lr="3e-3", kernels='["rbf", "poly"]')}


def start(real_data: Path, preset: Path, store: Path, cpu: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "run", "--preset", str(preset), "--store", str(store), "--quiet",
         "--data-dir", str(real_data), "--artifacts", str(store.parent / "artifacts")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))  # one core each, as two users' jobs would be


@pytest.mark.slow
def test_two_runs_on_one_store_lose_nothing_and_train_no_cell_twice(real_data, tmp_path):
    store = tmp_path / "results"
    cpus = sorted(os.sched_getaffinity(0))
    procs = []
    for i, (name, grid) in enumerate(GRIDS.items()):
        preset = tmp_path / f"{name}.toml"
        preset.write_text(grid)
        procs.append(start(real_data, preset, store, cpus[i % len(cpus)]))
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0 and "Traceback" not in err, err
    for name, columns in FILES.items():
        assert not read_table(store / name, columns).bad_lines
    rows = read_table(store / "runs.csv", FILES["runs.csv"]).rows
    ids = [r["run_id"] for r in rows]
    assert len(set(ids)) == 8 and len(ids) == 8, sorted(ids)  # every cell once: none lost, none trained twice
    trained = sum(out.count(" done ") for out, _ in outputs)
    assert trained == 8, outputs
    assert {r["status"] for r in rows} == {"done"} and not list((store / "claims").iterdir())
    curves = Store(store).epochs()
    assert len(curves) == 3 * (1 + 2)  # 3 resnet groups, cells of 1 and 2 epochs


@pytest.fixture
def live_and_dead():
    """The pids of a live process and of one that has exited: a claim's owner alive and gone."""
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    yield live.pid, dead.pid
    live.kill()
    live.wait()


def test_a_claim_left_by_a_killed_owner_goes_with_the_next_claim(tmp_path, live_and_dead):
    """A run killed after storing its cell and before releasing its claim leaves the claim behind, and
    no later run claims that stored cell: the next claim of any cell removes it. A live process's claims
    stay, and so do this process's own (it may claim again while it holds a group)."""
    live, killed = live_and_dead
    store = Store(tmp_path, create=True)
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "stored").write_text(f"{boot_id()} {killed} ?\n")
    (claims / "live").write_text(f"{boot_id()} {live} {started(live)}\n")
    store.append({"run_id": "stored", "record_id": "r1", "status": "error"}, [])
    with store.claim([Cell(RunSpec(), "outer")]):
        with store.claim([Cell(RunSpec(), "stored"), Cell(RunSpec(), "new")]) as mine:
            assert mine == ["new"]
            assert sorted(p.name for p in claims.iterdir()) == ["live", "new", "outer"]
    assert [p.name for p in claims.iterdir()] == ["live"]


def test_claims_keep_out_live_owners_only(tmp_path, live_and_dead):
    live, dead = live_and_dead
    store = Store(tmp_path, create=True)
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "live").write_text(f"{boot_id()} {live}\n")
    (claims / "dead").write_text(f"{boot_id()} {dead}\n")
    (claims / "other-boot").write_text(f"not-this-boot {live}\n")
    (claims / "torn").write_text(f"{boot_id()} ")
    # a stale claim whose pid now names another process (pids repeat in containers)
    (claims / "reused-pid").write_text(f"{boot_id()} {live} 1\n")
    (claims / "live-started").write_text(f"{boot_id()} {live} {started(live)}\n")
    store.append({"run_id": "stored", "record_id": "r1", "status": "error"}, [])
    wanted = [Cell(RunSpec(), rid) for rid in
              ("live", "dead", "other-boot", "torn", "reused-pid", "live-started", "stored", "new")]
    with store.claim(wanted) as mine:
        assert mine == ["dead", "other-boot", "torn", "reused-pid", "new"]
        assert (claims / "new").read_text().split()[1] == str(os.getpid())
        with store.claim(wanted) as again:  # the same process may re-enter its own claims
            assert "new" in again
    assert sorted(p.name for p in claims.iterdir()) == ["live", "live-started"]  # ours released, live kept
    with store.claim([Cell(RunSpec(), "stored")], skip=("done",)) as retry:  # --retry-failed: retried
        assert retry == ["stored"]
