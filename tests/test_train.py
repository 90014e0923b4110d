"""Training: epoch sharing gives the numbers of separate runs; CPU pin_memory cells share one run; SVM."""

import pytest
import torch

from bench import data, precision, train
from bench.spec import RunSpec, run_id
from bench.svm import run_svm

COMPARED = ("test_acc", "test_f1", "val_acc", "val_loss", "best_epoch", "train_loss", "confusion")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def without_time(curves):
    return [{k: v for k, v in c.items() if k != "epoch_time_s"} for c in curves]


def test_epoch_sharing_equals_separate_runs(tiny_data):
    ds = data.load("mnist", tiny_data)
    split = data.split(ds, "random", 0, 0)
    spec = RunSpec(model="resnet20", epochs=3, batch_size=16, subset=0)
    shared = train.train_group([spec.replace(epochs=1), spec], ds, split)
    alone = [train.train_group([spec.replace(epochs=1)], ds, split)[0], train.train_group([spec], ds, split)[0]]
    for a, b in zip(shared, alone, strict=True):
        assert {k: a.metrics[k] for k in COMPARED} == {k: b.metrics[k] for k in COMPARED}
        assert without_time(a.curves) == without_time(b.curves)
        assert a.metrics["shared_compute"] and not b.metrics["shared_compute"]
    assert len(shared[0].curves) == 1 and len(shared[1].curves) == 3
    assert shared[0].metrics["train_time_s"] < shared[1].metrics["train_time_s"]


def test_cpu_pin_memory_cells_are_computed_once_and_stored_as_both(tiny_data):
    ds = data.load("mnist", tiny_data)
    spec = RunSpec(model="resnet20", epochs=1, batch_size=32)
    group = [spec.replace(pin_memory=True), spec.replace(pin_memory=False), spec.replace(pin_memory=True, epochs=2)]
    split = data.split(ds, "random", 0, 0)
    results = train.train_group(group, ds, split)
    assert [r.status for r in results] == ["done"] * 3
    assert results[1].weights is results[0].weights is not None  # one training run, stored as both
    # sharing is sound only if pin_memory=false trained on its own gives the same numbers
    alone = train.train_group([spec.replace(pin_memory=False)], ds, split)[0]
    assert {k: alone.metrics[k] for k in COMPARED} == {k: results[1].metrics[k] for k in COMPARED}
    assert without_time(alone.curves) == without_time(results[1].curves)


def test_pin_memory_cells_share_a_group_on_every_device():
    """The data is resident on the device (on CUDA copied there once), so pin_memory changes nothing
    that is computed: one training run per pair on the CPU and on CUDA, each cell keeping its own id."""
    a, b = RunSpec(pin_memory=True), RunSpec(pin_memory=False)
    for device in ("cpu", "cuda"):
        assert a.replace(device=device).group_key() == b.replace(device=device).group_key()
        assert a.replace(device=device).computation_key() == b.replace(device=device).computation_key()
    assert run_id(a) != run_id(b) and run_id(a.replace(device="cuda")) != run_id(b.replace(device="cuda"))
    assert a.group_key() != a.replace(lr=1e-4).group_key()
    assert a.group_key() != a.replace(device="cuda").group_key()


def test_model_learns_and_reports_all_metrics(tiny_data):
    ds = data.load("fashion", tiny_data)
    result = train.train_group([RunSpec(model="resnet20", epochs=4, batch_size=16, optimizer="adam", lr=3e-3)],
                               ds, data.split(ds, "random", 0, 0))[0]
    m = result.metrics
    assert result.status == "done" and m["test_acc"] > 0.5  # the blobs are easy; chance is 0.1
    assert 0 <= m["test_f1"] <= 1 and len(m["confusion"]) == 10 and sum(map(sum, m["confusion"])) == 32
    assert m["images_per_s"] > 0 and m["achieved_flops"] == pytest.approx(6 * m["macs"] * m["images_per_s"])
    assert set(result.weights) and 1 <= m["best_epoch"] <= 4


def test_absurd_learning_rate_diverges_without_stopping_the_grid(tiny_data):
    ds = data.load("mnist", tiny_data)
    spec = RunSpec(model="resnet20", optimizer="sgd", lr=1e12, epochs=2, batch_size=16)
    result = train.train_group([spec], ds, data.split(ds, "random", 0, 0))[0]
    assert result.status == "diverged" and "loss became" in result.message


def test_svm_on_a_tiny_subset(tiny_data):
    ds = data.load("mnist", tiny_data)
    spec = RunSpec(kind="svm", model="svc", kernel="poly", degree=2, C=1.0, n_train=50)
    result = run_svm(spec, ds, data.split(ds, "random", 0, 0))
    m = result.metrics
    assert m["n_train_used"] == 50 and m["n_support"] > 0 and m["test_acc"] > 0.5
    assert m["fit_time_s"] > 0 and m["predict_time_s"] > 0 and m["cache_size_mb"] == 1000


def test_warm_up_leaves_weights_data_order_and_metrics_unchanged(tiny_data):
    """The warm-up runs on throwaway copies: with or without it, every metric and curve is identical
    (only the times differ), for a batch size that leaves a partial last batch."""
    ds = data.load("mnist", tiny_data)
    split = data.split(ds, "random", 0, 0)
    for spec in (RunSpec(model="resnet20", epochs=2, batch_size=24, subset=0),
                 RunSpec(model="resnet20", epochs=2, batch_size=24, subset=0, optimizer="sgd", lr=0.05)):
        warm = train.train_group([spec], ds, split, warmup=True)[0]
        cold = train.train_group([spec], ds, split, warmup=False)[0]
        assert len(split.train) % spec.batch_size > 1  # a partial last batch exists
        assert {k: warm.metrics[k] for k in COMPARED} == {k: cold.metrics[k] for k in COMPARED}
        assert without_time(warm.curves) == without_time(cold.curves)
        assert all(torch.equal(warm.weights[k], cold.weights[k]) for k in warm.weights)


def test_batch_sizes_cover_full_and_partial_batches():
    assert train.batch_sizes(100, 32) == [4, 32]
    assert train.batch_sizes(96, 32) == [32]
    assert train.batch_sizes(97, 32) == [32]  # a last batch of one is skipped in training
    assert train.batch_sizes(97, 32, smallest=1) == [1, 32]
    assert train.batch_sizes(10, 512, smallest=1) == [10]


def test_steady_rate_and_precision_are_recorded(tiny_data):
    ds = data.load("mnist", tiny_data)
    split = data.split(ds, "random", 0, 0)
    spec = RunSpec(model="resnet20", epochs=3, batch_size=32, subset=0)
    result = train.train_group([spec], ds, split)[0]
    assert len(split.train) % 32 > 1  # so every image is trained on in every epoch
    rates = sorted(len(split.train) / c["epoch_time_s"] for c in result.curves)  # images/s per timed epoch
    assert result.metrics["steady_images_per_s"] == pytest.approx(rates[1])  # the median of three
    assert result.metrics["amp_dtype"] == "fp32" and result.metrics["peak_mem_mb"] is None
    amp = train.train_group([spec.replace(amp=True, epochs=1)], ds, split)[0]
    assert amp.metrics["amp_dtype"] == "bf16" and amp.status == "done"


def test_cuda_amp_is_bf16_only_where_native_else_fp16_with_a_scaler(monkeypatch):
    spec = RunSpec(model="resnet20", amp=True, device="cuda")
    seen = []

    def supported(including_emulation=True):
        seen.append(including_emulation)
        return native

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    native = False  # e.g. a T4 or V100: bf16 would only be emulated
    assert precision.amp_dtype(spec) == torch.float16 and seen == [False]
    native = True
    assert precision.amp_dtype(spec) == torch.bfloat16
    assert precision.amp_dtype(spec.replace(amp=False)) is None
    assert precision.dtype_name(torch.float16) == "fp16"


def test_deterministic_mode_is_set_recorded_and_reproducible(tiny_data, tmp_path):
    """`bench run --deterministic` turns on deterministic kernels for the process and every row says
    so; two runs of one cell then agree exactly. CPU rows have no memory peaks to report."""
    from click.testing import CliRunner

    from bench.cli import main
    from bench.report.load import read

    preset = tmp_path / "one.toml"
    preset.write_text('[[grid]]\nmodel = "resnet20"\ndataset = "mnist"\nepochs = 1\nbatch_size = 16\n')
    try:
        for store in ("a", "b"):
            result = CliRunner().invoke(main, ["run", "--preset", str(preset), "--store", str(tmp_path / store),
                                               "--data-dir", str(tiny_data), "--quiet", "--deterministic",
                                               "--artifacts", str(tmp_path / "art")])
            assert result.exit_code == 0, result.output
        (a,), (b,) = read(tmp_path / "a").runs, read(tmp_path / "b").runs
        assert a["deterministic"] is True and torch.backends.cudnn.deterministic
        assert {k: a[k] for k in COMPARED} == {k: b[k] for k in COMPARED}
        assert a["peak_mem_mb"] is None and a["eval_peak_mem_mb"] is None
    finally:
        train.set_deterministic(False)
