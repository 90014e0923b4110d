"""End to end on the real MNIST / Fashion-MNIST: the smoke preset through the real CLI."""

import subprocess
import sys

import pandas as pd

from bench.options import ENVIRONMENT_NOTICE
from bench.store import Store


def bench(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, env=env,
                          timeout=900)


def test_smoke_preset_on_real_data_then_resume_does_nothing(real_data, tmp_path):
    store, artifacts = tmp_path / "results", tmp_path / "artifacts"
    first = bench("run", "--preset", "smoke", "--store", str(store), "--artifacts", str(artifacts),
                  "--data-dir", str(real_data))
    assert first.returncode == 0, first.stderr
    # progress in a log (stderr is no terminal): a line per epoch of each training run and per stored
    # cell, each naming what sets the cell apart, with the count stored and the time left
    log = [line for line in first.stderr.splitlines() if "elapsed" in line]
    assert sum(" epoch 3/3 trained (" in line for line in log) == 4, first.stderr
    assert "stored resnet20 mnist adam lr=0.001 bs=32 epochs=1 pin=None: done, test accuracy 0." in first.stderr
    assert "stored svc-rbf fashion C=10 gamma=scale n_train=1400: done" in first.stderr
    assert "(10/10 cells stored, " in log[-1] and all(" left)" in line for line in log[1:])
    assert "\r" not in first.stderr
    runs = Store(store).runs()
    assert len(runs) == 10 and set(runs["status"]) == {"done"}
    best_mnist = runs[(runs["dataset"] == "mnist") & (runs["epochs"] == 3) & (runs["kind"] == "resnet")]
    assert (best_mnist["test_acc"] > 0.8).all(), best_mnist[["label", "test_acc"]]
    svm = runs[runs["kind"] == "svm"].set_index("dataset")
    assert svm.loc["mnist", "test_acc"] > 0.85 and svm.loc["fashion", "test_acc"] > 0.7
    assert runs["macs"].notna().sum() == 8 and (runs.loc[runs["kind"] == "resnet", "n_test"] == 500).all()
    assert len(list(artifacts.glob("*.pt"))) == 8
    curves = Store(store).epochs()
    assert len(curves) == 4 * (1 + 3) and curves["val_acc"].between(0, 1).all()
    assert pd.notna(runs["torch"]).all() and (runs["threads"] >= 1).all()

    again = bench("run", "--preset", "smoke", "--store", str(store), "--data-dir", str(real_data))
    assert again.returncode == 0 and again.stdout == ""  # no bar, no table for work that does not exist
    assert [line for line in again.stderr.splitlines() if not line.startswith(ENVIRONMENT_NOTICE)] == [
        "10 cells planned, 10 already stored, 0 to run"], again.stderr
    assert len(Store(store).table("runs.csv").rows) == 10

    listing = bench("ls", "--store", str(store), "--dataset", "mnist")
    assert listing.returncode == 0 and listing.stdout.count("\n") == 1 + 5
