"""Sharding: K/N parts are disjoint, cover the plan, keep shared groups together; merged shards
equal the unsharded run."""

import os
import subprocess
import sys

import pytest

from bench import plan, presets
from bench.errors import BenchError
from bench.store import Store

GRID = """
[[grid]]
kind = "resnet"
dataset = "mnist"
model = "resnet20"
optimizer = ["sgd", "adam"]
lr = [1e-2, 1e-3]
batch_size = 32
epochs = [1, 2]
subset = 200
test_size = 100

[[grid]]
kind = "svm"
dataset = ["mnist", "fashion"]
kernel = "rbf"
subset = 200
test_size = 100
n_train = 100
"""
METRICS = ["status", "test_acc", "test_f1", "val_acc", "val_loss", "train_loss", "best_epoch", "confusion", "n_support"]


def test_shards_partition_the_plan_and_keep_groups_whole():
    cells = plan.cells_of(presets.load("q1a").specs())
    parts = [plan.shard(cells, k, 5, plan.work) for k in range(1, 6)]
    ids = [c.run_id for part in parts for c in part]
    assert sorted(ids) == sorted(c.run_id for c in cells) and len(ids) == len(set(ids))
    loads = [sum(plan.work(g) for g in plan.groups_of(part)) for part in parts]
    assert max(loads) <= 1.3 * min(loads)  # balanced by estimated work, not by cell count
    for part in parts:  # a group never spans two shards
        keys = {c.spec.group_key() for c in part}
        assert sum(len(g) for g in plan.groups_of(cells) if g[0].spec.group_key() in keys) == len(part)



def test_every_process_computes_the_same_shard():
    """Shard membership must not depend on the process (hash seeds, set order): array tasks on
    different nodes each compute their own part and must agree."""
    code = ("from bench import plan, presets; cells = plan.cells_of(presets.load('q1a').specs());"
            "print(' '.join(c.run_id for c in plan.shard(cells, 2, 5, plan.work)))")
    parts = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(parts) == 1 and len(parts.pop().split()) > 5


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "3", "1/2/3", "-1/2"])
def test_malformed_or_out_of_range_shards(text):
    with pytest.raises(BenchError):
        plan.parse_shard(text)


def run(*args):
    return subprocess.Popen([sys.executable, "-m", "bench.cli", "run", *args, "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "BENCH_THREADS": "1"})


def test_parallel_shards_merged_equal_the_unsharded_run(real_data, tmp_path):
    preset = tmp_path / "tiny.toml"
    preset.write_text(GRID)
    common = ["--preset", str(preset), "--data-dir", str(real_data), "--artifacts", str(tmp_path / "a")]
    jobs = [run(*common, "--store", str(tmp_path / f"shard{k}"), "--shard", f"{k}/3") for k in (1, 2, 3)]
    jobs.append(run(*common, "--store", str(tmp_path / "whole")))
    for job in jobs:
        _, err = job.communicate(timeout=600)
        assert job.returncode == 0, err
    merge = subprocess.run([sys.executable, "-m", "bench.cli", "store", "merge", "--into", str(tmp_path / "merged"),
                            *(str(tmp_path / f"shard{k}") for k in (1, 2, 3))], capture_output=True, text=True)
    assert merge.returncode == 0 and "0 conflicts" in merge.stdout, merge.stderr
    merged = Store(tmp_path / "merged").runs().set_index("run_id").sort_index()
    whole = Store(tmp_path / "whole").runs().set_index("run_id").sort_index()
    assert len(whole) == 10 and list(merged.index) == list(whole.index)
    assert merged[METRICS].equals(whole[METRICS])
