"""End to end on the real MNIST / Fashion-MNIST: the smoke preset through the real CLI."""

import subprocess
import sys

import pandas as pd

from bench.store import Store


def bench(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, env=env,
                          timeout=900)


def test_smoke_preset_on_real_data_then_resume_does_nothing(real_data, tmp_path):
    store, artifacts = tmp_path / "results", tmp_path / "artifacts"
    first = bench("run", "--preset", "smoke", "--store", str(store), "--artifacts", str(artifacts),
                  "--data-dir", str(real_data), "--quiet")
    assert first.returncode == 0, first.stderr
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

    again = bench("run", "--preset", "smoke", "--store", str(store), "--data-dir", str(real_data), "--quiet")
    assert again.returncode == 0 and "0 to run" in again.stderr
    assert len(Store(store).table("runs.csv").rows) == 10

    listing = bench("ls", "--store", str(store), "--dataset", "mnist")
    assert listing.returncode == 0 and listing.stdout.count("\n") == 1 + 5
