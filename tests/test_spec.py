"""Presets expand to exactly the study's cells; overrides, repeats and validation behave."""

import pytest

from bench import presets
from bench.errors import BenchError
from bench.spec import RunSpec, run_id


def cells(name, overrides=None, repeats=1):
    return presets.load(name).specs(overrides, repeats)


def test_q1a_has_128_cells_over_the_full_grid():
    specs = cells("q1a")
    assert len(specs) == 128
    assert {s.model for s in specs} == {"resnet18", "resnet50"}
    assert {s.epochs for s in specs} == {5, 10}
    assert {s.pin_memory for s in specs} == {True, False}
    assert {(s.batch_size, s.lr) for s in specs} == {(16, 1e-3), (16, 1e-4), (32, 1e-3), (32, 1e-4)}


def test_q1b_has_18_poly_and_6_rbf_cells_per_dataset():
    specs = cells("q1b")
    assert len(specs) == 48
    assert sum(s.kernel == "poly" for s in specs) == 36
    assert {s.n_train for s in specs} == {10_000}
    assert len({run_id(s) for s in specs}) == 48


def test_q2_pairs_four_models_with_two_optimizers_on_both_devices():
    specs = cells("q2")
    assert len(specs) == 16 and {s.device for s in specs} == {"cpu", "cuda"}
    assert {s.label for s in specs} == {"resnet18", "resnet32", "resnet34", "resnet50"}
    assert {s.batch_size for s in specs} == {16} and {s.epochs for s in specs} == {5}
    assert len(cells("q2", {"device": "cuda"})) == len(cells("q2", {"device": "cpu"})) == 8


def test_overrides_and_repeats():
    specs = cells("q1a", {"model": ["resnet20"], "subset": 500, "epochs": [1]}, repeats=3)
    assert len(specs) == 2 * 2 * 2 * 2 * 2 * 3
    assert {s.seed for s in specs} == {0, 1, 2}
    assert {s.subset for s in specs} == {500}
    svm = cells("q1b", {"model": ["resnet20"], "epochs": [1], "n_train": 300})
    assert {s.model for s in svm} == {"svc"} and {s.n_train for s in svm} == {300}


def test_run_id_depends_on_spec_and_device_kind_not_on_irrelevant_fields():
    a = RunSpec(model="resnet32")
    assert run_id(a) == run_id(RunSpec(model="resnet32", stem="cifar"))  # stem n/a
    assert run_id(a) != run_id(a.replace(device="cuda"))
    assert run_id(a) != run_id(a.replace(lr=1e-4))
    rbf = RunSpec(kind="svm", model="svc", kernel="rbf")
    assert run_id(rbf) == run_id(rbf.replace(degree=4))  # degree n/a for rbf
    assert run_id(rbf) == run_id(rbf.replace(device="cuda"))  # an SVM always computes on the CPU


def test_labels_name_the_exact_variant():
    assert RunSpec(model="resnet18", stem="cifar").label == "resnet18-cifarstem"
    assert RunSpec(kind="svm", model="svc", kernel="poly", degree=2).label == "svc-poly2"


@pytest.mark.parametrize("changes", [
    {"model": "resnet99"}, {"dataset": "cifar10"}, {"optimizer": "rmsprop"}, {"lr": 0}, {"lr": -1e-3},
    {"batch_size": 0}, {"epochs": 0}, {"device": "tpu"}, {"split": "kfold"}, {"subset": -1},
])
def test_invalid_values_are_user_errors(changes):
    with pytest.raises(BenchError):
        RunSpec(**changes)


def test_preset_file_with_a_typo_names_the_field(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[[grid]]\nkind = "resnet"\nmodle = "resnet18"\n')
    with pytest.raises(BenchError, match="did you mean 'model'"):
        presets.load(str(path))


def test_bundled_presets_are_listed():
    assert {"q1a", "q1b", "q2", "smoke"} <= set(presets.preset_names())
