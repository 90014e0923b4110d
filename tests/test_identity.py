"""A cell is the same cell on every machine: run ids and shards from the spec alone, a store made
under one CPU model resumes under another, same_host presets bind done-ness to the host, and
`bench store migrate` re-keys a schema-4 store without losing a row."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bench import env
from bench.attempts import latest
from bench.cli import main
from bench.schema import ADDED_IN, TIMINGS
from bench.store import Store

ROOT = Path(__file__).resolve().parents[1]
SVMS = """
[[grid]]
kind = "svm"
dataset = ["mnist", "fashion"]
kernel = ["rbf", "poly"]
degree = 2
C = [0.5, 1.0]
n_train = 60
"""
# Runs the CLI in a fresh process whose CPU model name is faked (and host id derived from it).
FAKE_CPU = ("import sys; from bench import env; env.cpu_name = lambda: sys.argv[1]; env.host_id.cache_clear();"
            "from bench.cli import main; main(sys.argv[2:])")


def _as(cpu: str, monkeypatch) -> None:
    monkeypatch.setattr(env, "cpu_name", lambda: cpu)
    env.host_id.cache_clear()
    env.describe.cache_clear()


def _plan(store: Path, *args: str) -> list[list[str]]:
    result = CliRunner().invoke(main, ["plan", *args, "--no-estimate", "--store", str(store)])
    assert result.exit_code == 0, result.output
    return [line.split() for line in result.stdout.splitlines()[:-1]]


def test_a_store_made_under_one_cpu_model_is_done_under_another(tiny_data, tmp_path, monkeypatch):
    preset = tmp_path / "svms.toml"
    preset.write_text(SVMS)
    store = tmp_path / "store"
    common = ["--preset", str(preset), "--store", str(store), "--data-dir", str(tiny_data), "--quiet"]
    _as("AMD EPYC 9R14", monkeypatch)
    first = CliRunner().invoke(main, ["run", *common, "--shard", "1/2"])
    assert first.exit_code == 0, first.output
    _as("Intel(R) Xeon(R) Platinum 8488C", monkeypatch)
    states = [line[1] for line in _plan(store, "--preset", str(preset))]
    assert states.count("done") == len(Store(store).runs()) > 0 and "todo" in states
    second = CliRunner().invoke(main, ["run", *common])  # the rest, on the other CPU model
    assert second.exit_code == 0, second.output
    runs = Store(store).runs()
    assert len(runs) == len(states) == runs["run_id"].nunique()  # nothing computed twice
    assert set(runs["cpu_name"]) == {"AMD EPYC 9R14", "Intel(R) Xeon(R) Platinum 8488C"}
    assert {line[1] for line in _plan(store, "--preset", str(preset))} == {"done"}


def test_shards_cut_on_different_cpu_models_cover_every_cell_exactly_once():
    """Each array task may land on another CPU model (heterogeneous partitions, node pools)."""
    n = 4
    seen = []
    outputs = {}
    for k in range(1, n + 1):
        for cpu, seed in (("AMD EPYC 9R14", "1"), ("Intel(R) Xeon(R) Platinum 8488C", "777")):
            out = subprocess.run([sys.executable, "-c", FAKE_CPU, cpu, "plan", "--preset", "q1a", "--no-estimate",
                                  "--store", "/nonexistent-store", "--shard", f"{k}/{n}"],
                                 capture_output=True, text=True, timeout=120, cwd=ROOT,
                                 env={**os.environ, "PYTHONHASHSEED": seed})
            assert out.returncode == 0, out.stderr
            outputs.setdefault(k, set()).add(out.stdout)
        assert len(outputs[k]) == 1  # the same lines on both CPU models and hash seeds
        seen += [line.split()[0] for line in outputs[k].pop().splitlines()[:-1]]
    whole = [line[0] for line in _plan(Path("/nonexistent-store"), "--preset", "q1a")]
    assert sorted(seen) == sorted(whole) and len(seen) == len(set(seen)) == len(whole) > 0


def test_a_same_host_preset_counts_only_this_hosts_attempts(tiny_data, tmp_path, monkeypatch):
    preset = tmp_path / "paired.toml"
    preset.write_text("same_host = true\n" + SVMS)
    store = tmp_path / "store"
    common = ["--preset", str(preset), "--store", str(store), "--data-dir", str(tiny_data), "--quiet"]
    _as("AMD EPYC 9R14", monkeypatch)
    assert CliRunner().invoke(main, ["run", *common]).exit_code == 0
    assert {line[1] for line in _plan(store, "--preset", str(preset))} == {"done"}
    _as("Intel(R) Xeon(R) Platinum 8488C", monkeypatch)  # another host: its own pairs are measured here
    assert {line[1] for line in _plan(store, "--preset", str(preset))} == {"todo"}
    assert CliRunner().invoke(main, ["run", *common]).exit_code == 0
    rows = Store(store).table("runs.csv").rows
    assert len(rows) == 16 and len({r["run_id"] for r in rows}) == 8  # two attempts of each cell
    assert {(r["role"], r["same_host"]) for r in rows} == {("grid", "true")}  # what the preset declared
    assert len(latest(Store(store))) == 16  # each host's attempt, as the rows say
    preset.write_text(SVMS)  # the same cells in a preset that does not pair them: done anywhere
    assert {line[1] for line in _plan(store, "--preset", str(preset))} == {"done"}
    assert len(latest(Store(store))) == 16  # the stored rows still say how they were asked for


AFTER_4 = {c for version, cols in ADDED_IN.items() if version > 4 for c in cols}  # what schema 4 lacked


def _rewrite(path: Path, change) -> None:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        change(row)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[c for c in rows[0] if c not in AFTER_4],
                                extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_migrate_makes_attempts_of_one_cell_from_several_machines_one_cell(tiny_data, tmp_path, monkeypatch):
    """A schema-4 store (ids hashed with the CPU model) holding each cell from two machines."""
    preset = tmp_path / "svms.toml"
    preset.write_text(SVMS)
    stores = []
    for cpu in ("AMD EPYC 9R14", "Intel(R) Xeon(R) Platinum 8488C"):
        _as(cpu, monkeypatch)
        store = tmp_path / cpu.split()[0]
        assert CliRunner().invoke(main, ["run", "--preset", str(preset), "--store", str(store), "--data-dir",
                                         str(tiny_data), "--quiet"]).exit_code == 0
        stores.append(store)
    merged = tmp_path / "merged"
    assert CliRunner().invoke(main, ["store", "merge", *map(str, stores), "--into", str(merged)]).exit_code == 0
    new_ids = {r["record_id"]: r["run_id"] for r in Store(merged).table("runs.csv").rows}
    # make it the old schema: per-machine ids everywhere, no step-configuration columns, manifest 4
    old = {r["record_id"]: f"{r['run_id'][:8]}{r['cpu_name'][:3].lower()}old" for r in
           Store(merged).table("runs.csv").rows}
    _rewrite(merged / "runs.csv", lambda r: r.update(run_id=old[r["record_id"]]))
    (merged / TIMINGS).write_text(
        "run_id,record_id,preset,label,dataset,device,batch_size,pin_memory,amp_dtype,steps,blocks,images_per_s,"
        "min_images_per_s,max_images_per_s,host_id,threads,concurrency,load_start,load_end,device_name,torch,"
        f"git_commit,git_dirty,started_at\n{next(iter(old.values()))},t1,x,svc-rbf,mnist,cpu,1,,fp32,1,1,1.0,1.0,"
        "1.0,h,1,1,,,cpu,2,abc,false,2026-01-01T00:00:00+00:00\n")
    (merged / "manifest.json").write_text(json.dumps({"schema_version": 4, "format": "bench results store"}))
    before = len(Store(merged, allow_old=True).table("runs.csv").rows)
    result = CliRunner().invoke(main, ["store", "migrate", "--store", str(merged)])
    assert result.exit_code == 0, result.output
    rows = Store(merged).table("runs.csv").rows
    assert len(rows) == before == 16 and {r["record_id"]: r["run_id"] for r in rows} == new_ids
    assert len({r["run_id"] for r in rows}) == 8  # two machines' attempts of each cell, one id each
    timing = Store(merged).timings().iloc[0]
    assert timing["run_id"] == new_ids[next(iter(old))]  # the timing follows its cell
    assert {line[1] for line in _plan(merged, "--preset", str(preset))} == {"done"}


def test_a_budgeted_chunk_stops_before_its_budget_and_the_next_chunk_elsewhere_goes_on(tiny_data, tmp_path,
                                                                                      monkeypatch):
    from bench import estimate

    preset = tmp_path / "svms.toml"
    preset.write_text(SVMS)
    store = tmp_path / "store"
    common = ["--preset", str(preset), "--store", str(store), "--data-dir", str(tiny_data), "--quiet"]
    # MNIST cells are estimated to take a second, Fashion-MNIST ones an hour: a 1-minute chunk
    # starts every MNIST cell and no Fashion-MNIST one, and exits 0 saying what is left
    monkeypatch.setattr(estimate, "seconds", lambda cells, threads=None: {
        c.run_id: 1.0 if c.spec.dataset == "mnist" else 3600.0 for c in cells})
    _as("AMD EPYC 9R14", monkeypatch)
    first = CliRunner().invoke(main, ["run", *common, "--budget", "1m"])
    assert first.exit_code == 0, first.output
    assert "budget: 4 cells (4 training runs, about 4h00m) left" in first.output
    assert set(Store(store).runs()["dataset"]) == {"mnist"} and len(Store(store).runs()) == 4
    _as("Intel(R) Xeon(R) Platinum 8488C", monkeypatch)  # the next chunk, on another machine
    second = CliRunner().invoke(main, ["run", *common, "--budget", "5h"])
    assert second.exit_code == 0, second.output
    rows = Store(store).table("runs.csv").rows
    assert len(rows) == 8 and len({r["run_id"] for r in rows}) == 8  # no cell computed twice
    assert {r["cpu_name"] for r in rows if r["dataset"] == "fashion"} == {"Intel(R) Xeon(R) Platinum 8488C"}


def test_a_budget_is_a_duration():
    for text in ("0m", "soon", "2h30", "-5m", "1d"):
        result = CliRunner().invoke(main, ["run", "--preset", "smoke", "--budget", text])
        assert result.exit_code != 0 and "--budget" in result.output and "Traceback" not in result.output


def test_until_is_a_budget_to_the_next_such_clock_time():
    from datetime import datetime

    from bench import plan

    now = datetime(2026, 12, 5, 15, 48, 6)
    assert plan.budget(None, "18:32", now) == 2 * 3600 + 43 * 60 + 54  # later today
    assert plan.budget(None, "9:05", now) == 17 * 3600 + 16 * 60 + 54  # past today: tomorrow's
    assert plan.budget(None, "15:48", now) == 24 * 3600 - 6
    assert plan.budget("2h30m", None, now) == 9000 and plan.budget(None, None, now) is None
    for args in (["--until", "25:00"], ["--until", "6pm"], ["--until", "18:30", "--budget", "1h"]):
        result = CliRunner().invoke(main, ["run", "--preset", "smoke", *args])
        assert result.exit_code != 0 and "--until" in result.output and "Traceback" not in result.output
