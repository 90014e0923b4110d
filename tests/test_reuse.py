"""A cell whose computation is stored under another run id is stored as a copy, never trained again:
on the CPU q2's cells (pin_memory not set) are q1a's pin_memory=true/false cells."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from bench import env
from bench.cli import main
from bench.store import Store

GRID = """
[[grid]]
kind = "resnet"
dataset = "mnist"
model = "resnet20"
optimizer = "adam"
batch_size = 32
epochs = [1, 2]
"""


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_cpu_cell_without_pin_memory_reuses_the_stored_pin_memory_cells(tiny_data, tmp_path, monkeypatch):
    q1a, q2 = tmp_path / "grid.toml", tmp_path / "devices.toml"
    q1a.write_text(GRID + "pin_memory = [true, false]\n")
    q2.write_text("same_host = true\n" + GRID.replace("epochs = [1, 2]", "epochs = 1"))
    store = tmp_path / "store"
    env.host_id.cache_clear()  # another test may have left a faked machine in the caches
    env.describe.cache_clear()
    common = ["--store", str(store), "--data-dir", str(tiny_data), "--quiet"]
    _invoke("run", "--preset", str(q1a), *common)
    assert len(Store(store).runs()) == 4  # two epoch counts x two pin_memory values, one training run

    listed = _invoke("plan", "--preset", str(q2), "--no-estimate", "--store", str(store))
    assert [line.split()[1] for line in listed.splitlines()[:-1]] == ["reuse"]
    assert "1 reuse stored computations, 0 to run" in listed
    trained = []
    monkeypatch.setattr("bench.runner.train_group", lambda *a, **k: trained.append(a) or [])
    _invoke("run", "--preset", str(q2), *common)
    assert not trained

    runs = Store(store).runs()
    copy = runs[runs["preset"] == str(q2)].iloc[0]
    source = runs[(runs["preset"] == str(q1a)) & (runs["epochs"] == 1)]
    assert copy["test_acc"] in set(source["test_acc"]) and copy["started_at"] in set(source["started_at"])
    assert copy["run_id"] not in set(source["run_id"]) and pd.isna(copy["pin_memory"])
    assert copy["message"].split()[:2] == ["reuses", "run"] and copy["message"].split()[2] in set(source["run_id"])
    assert (copy["role"], copy["same_host"]) == ("grid", True) and not source["same_host"].any()  # as asked for
    curves = Store(store).epochs(runs)
    source_curve = curves[curves["record_id"] == source.iloc[0]["record_id"]]
    copied_curve = curves[curves["record_id"] == copy["record_id"]]
    assert list(copied_curve["val_acc"]) == list(source_curve["val_acc"]) and len(copied_curve) == 1
    assert {line.split()[1] for line in _invoke("plan", "--preset", str(q2), "--no-estimate", "--store",
                                                   str(store)).splitlines()[:-1]} == {"done"}

    monkeypatch.setattr(env, "cpu_name", lambda: "a CPU model no other test fakes")  # another host
    env.host_id.cache_clear()
    listed = _invoke("plan", "--preset", str(q2), "--no-estimate", "--store", str(store))
    assert listed.splitlines()[0].split()[1] == "todo"  # a same_host cell reuses only this host's attempts
    env.host_id.cache_clear()
    env.describe.cache_clear()
