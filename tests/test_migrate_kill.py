"""A migration killed at any file replacement can be finished: the rerun of `bench store migrate`
gives exactly what an uninterrupted migration gives, and no row is lost."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.report.make_fixture import small

from bench.schema import ADDED_IN
from bench.store import Store

ROOT = Path(__file__).resolve().parents[1]
# Runs `bench store migrate` in a process that SIGKILLs itself at its K-th atomic file replacement.
KILLED = """
import os, signal, sys
from bench import csvfile, maintenance, store
k, calls = int(sys.argv[1]), [0]
real = csvfile.write_atomic
def write_atomic(path, text):
    calls[0] += 1
    if calls[0] == k:
        os.kill(os.getpid(), signal.SIGKILL)
    real(path, text)
for module in (csvfile, maintenance, store):
    module.write_atomic = write_atomic
from bench.cli import main
main(["store", "migrate", "--store", sys.argv[2]])
"""


def _as_schema(root: Path, version: int) -> None:
    """The fixture store as schema `version` wrote it: without the columns added later, with ids
    that had a CPU model in them (before schema 5), and without `bench time` rows before schema 2
    (version 1 keyed rows by run id alone, so timings could not refer to an attempt)."""
    later = {c for v, cols in ADDED_IN.items() if v > version for c in cols}
    if version < 2:
        (root / "timings.csv").unlink(missing_ok=True)
    for name in ("runs.csv", "epochs.csv", "timings.csv"):
        path = root / name
        if not path.exists():
            continue
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        keep = [c for c in (rows[0] if rows else []) if c not in later]
        for row in rows:
            row["run_id"] = row["run_id"][:10] + f"v{version}old"
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keep, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    (root / "manifest.json").write_text(json.dumps({"schema_version": version, "format": "bench results store"}))


def _migrate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


VERSIONS = (1, 4)


@pytest.fixture(scope="module")
def old_stores(tmp_path_factory) -> dict[int, Path]:
    stores = {}
    for version in VERSIONS:
        root = small(tmp_path_factory.mktemp(f"old{version}") / "store")
        run = Store(root).table("runs.csv").rows[0]
        Store(root).append_timings([{"run_id": run["run_id"], "record_id": "t1", "preset": "q2", "label": "resnet18",
                                     "dataset": "fashion", "device": "cpu", "batch_size": 16, "steps": 5,
                                     "blocks": 3, "images_per_s": 100.0, "host_id": "h", "threads": 2,
                                     "concurrency": 1, "started_at": "2026-12-01T00:00:00+00:00"}])
        _as_schema(root, version)
        stores[version] = root
    return stores


@pytest.fixture(scope="module")
def expected(old_stores, tmp_path_factory) -> dict[int, dict]:
    out = {}
    for version, old in old_stores.items():
        root = tmp_path_factory.mktemp(f"whole{version}") / "store"
        shutil.copytree(old, root)
        done = _migrate("-m", "bench.cli", "store", "migrate", "--store", str(root))
        assert done.returncode == 0, done.stderr
        out[version] = {n: (root / n).read_text() for n in ("runs.csv", "epochs.csv", "timings.csv", "manifest.json")
                        if (root / n).exists()}
    return out


# The replacements: the journal, runs, epochs, timings (from schema 2 on), the manifest; the last k: none.
KILLS = [(1, k) for k in range(1, 6)] + [(4, k) for k in range(1, 7)]


@pytest.mark.parametrize(("version", "k"), KILLS)
def test_a_migration_killed_at_any_replacement_is_finished_by_a_rerun(old_stores, expected, tmp_path, version, k):
    root = tmp_path / "store"
    shutil.copytree(old_stores[version], root)
    rows_before = len(Store(root, allow_old=True).table("runs.csv").rows)
    killed = _migrate("-c", KILLED, str(k), str(root))
    last = max(kk for v, kk in KILLS if v == version)
    assert killed.returncode == (-9 if k < last else 0), killed.stderr  # killed, or (the last k) finished
    rerun = _migrate("-m", "bench.cli", "store", "migrate", "--store", str(root))
    assert rerun.returncode == 0, rerun.stderr
    assert {n: (root / n).read_text() for n in expected[version]} == expected[version]
    assert len(Store(root).table("runs.csv").rows) == rows_before and not (root / ".migrating").exists()
    if version > 1:
        assert Store(root).timings()["run_id"].iloc[0] in {r["run_id"] for r in Store(root).table("runs.csv").rows}


def test_a_journal_left_by_a_finished_migration_is_never_followed(expected, tmp_path):
    """Killed after its new manifest but before it removed its journal: the migration had finished."""
    root = tmp_path / "store"
    root.mkdir()
    for name, text in expected[4].items():
        (root / name).write_text(text)
    (root / ".migrating").write_text("schema-4-20260101T000000\n")
    done = _migrate("-m", "bench.cli", "store", "migrate", "--store", str(root))
    assert done.returncode == 0 and "already at schema" in done.stdout and not (root / ".migrating").exists()
