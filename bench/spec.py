"""The frozen description of one cell of the study, its validation, its stable run id and the rule of
which cells share one computation. This module is the one definition of a cell's identity: the
store, the planner, the shards and the report all ask it.

The words, used in this sense everywhere: a *cell* is one point of a preset's grid (a `RunSpec`,
named by its `run_id`); an *attempt* is one stored computation of a cell, a row of runs.csv (named by
its `record_id`; a cell retried, forced or computed on several machines has several, and the
*latest attempt* is the one shown: `latest_attempts`); a *computation* (a training run) is what is
actually trained: cells that differ only in epochs, or on the CPU only in pin_memory, share one."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from bench.errors import BenchError

DATASETS = ("mnist", "fashion")
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("cpu", "cuda")
SPLITS = ("random", "official")
STEMS = ("standard", "cifar")
KERNELS = ("poly", "rbf")
TORCHVISION_RESNETS = ("resnet18", "resnet34", "resnet50")
CIFAR_RESNETS = ("resnet20", "resnet32", "resnet44", "resnet56")
RESNETS = TORCHVISION_RESNETS + CIFAR_RESNETS
SVM_MODELS = ("svc",)

# SGD momentum used for every SGD cell (the study does not vary it; stated in every row).
SGD_MOMENTUM = 0.9

# Fields that identify a ResNet cell and an SVM cell; everything else is a measurement.
RESNET_FIELDS = ("kind", "dataset", "model", "stem", "optimizer", "lr", "batch_size", "epochs",
                 "pin_memory", "amp", "device", "seed", "data_seed", "split", "subset", "test_size")
SVM_FIELDS = ("kind", "dataset", "model", "kernel", "degree", "C", "gamma", "n_train",
              "seed", "data_seed", "split", "subset", "test_size")
RESNET_ONLY = frozenset(RESNET_FIELDS) - frozenset(SVM_FIELDS)
SVM_ONLY = frozenset(SVM_FIELDS) - frozenset(RESNET_FIELDS)


def identity_fields(kind: str, model: str, kernel: str) -> tuple[str, ...]:
    """The fields that identify a cell; those that cannot matter for it are left out (the degree of
    a non-poly kernel, the stem of a CIFAR ResNet, which has its own)."""
    if kind == "svm":
        return SVM_FIELDS if kernel == "poly" else tuple(f for f in SVM_FIELDS if f != "degree")
    if model in CIFAR_RESNETS:
        return tuple(f for f in RESNET_FIELDS if f != "stem")
    return RESNET_FIELDS


def identity_of(values: Mapping) -> dict:
    """The identity fields of a cell given as a mapping (a RunSpec's fields or a stored row)."""
    return {name: values[name] for name in identity_fields(values["kind"], values["model"], values.get("kernel"))}


def cell_key(values: Mapping, drop: tuple[str, ...] = ()) -> tuple:
    """The key of one computation: the cell's identity without `drop` and without pin_memory. The two
    pin_memory values are one computation on every device: the training data is resident on the
    device (on CUDA copied there once), so the same batches in the same order meet the same math;
    pin_memory's effect is a timing of the host-to-device copy (`bench time --pin-memory`), never a
    second training run. Works on specs and stored rows."""
    skip = {*drop, "pin_memory"}
    return tuple(sorted((k, v) for k, v in identity_of(values).items() if k not in skip))


def training_run_key(values: Mapping) -> tuple:
    """Cells with the same key are computed by one training run: ResNet cells that differ only in
    epochs or pin_memory are measured along one run; an SVM is its own run."""
    return cell_key(values, drop=("epochs",) if values["kind"] == "resnet" else ())


@dataclass(frozen=True)
class RunSpec:
    """One cell: what to train, on what data, with which hyperparameters, on which device."""

    kind: str = "resnet"  # "resnet" or "svm"
    dataset: str = "mnist"
    model: str = "resnet18"
    stem: str = "standard"  # torchvision ResNets only; the CIFAR ResNets have their own stem
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 32
    epochs: int = 1
    pin_memory: bool | None = None  # None: not a factor of this cell (data resident on device)
    amp: bool = False
    device: str = "cpu"
    seed: int = 0  # weights, shuffling; varied by --repeats
    data_seed: int = 0  # split and subset; fixed so repeats see the same data
    split: str = "random"  # random 70/10/20 of all 70k, or official 60k/10k with val from train
    subset: int = 0  # training images: 0 all, else a stratified sample of this many (test unchanged)
    test_size: int = 0  # test images: 0 all; the study's presets use 2,000 (about ±1 pp near 95 %)
    kernel: str = "rbf"
    degree: int = 3
    C: float = 1.0
    gamma: str = "scale"
    n_train: int = 10_000

    def __post_init__(self) -> None:
        validate(self)

    @property
    def fields(self) -> tuple[str, ...]:
        """Identity fields; those that cannot matter for this cell are left out."""
        return identity_fields(self.kind, self.model, self.kernel)

    def identity(self) -> dict:
        """The fields that define this cell, as plain JSON-able values (numbers typed as the store
        reads them back: `C = 1` and `C = 1.0` are one cell)."""
        return {name: float(v) if name in FLOAT_FIELDS else v for name in self.fields
                for v in (getattr(self, name),)}

    @property
    def label(self) -> str:
        """The exact model variant, e.g. `resnet18`, `resnet18-cifarstem`, `svc-poly3`."""
        if self.kind == "svm":
            return f"svc-{self.kernel}{self.degree}" if self.kernel == "poly" else "svc-rbf"
        if self.model in TORCHVISION_RESNETS and self.stem == "cifar":
            return f"{self.model}-cifarstem"
        return self.model

    @property
    def compute_device(self) -> str:
        """Where the cell computes: an SVM always on the CPU (scikit-learn), a ResNet on its device."""
        return "cpu" if self.kind == "svm" else self.device

    def computation_key(self) -> tuple:
        """The computation that produces this cell (`cell_key`): without pin_memory."""
        return cell_key(dataclasses.asdict(self))

    def group_key(self) -> tuple:
        """The training run that computes this cell (`training_run_key`)."""
        return training_run_key(dataclasses.asdict(self))

    def replace(self, **changes) -> RunSpec:
        return dataclasses.replace(self, **changes)


def run_id(spec: RunSpec) -> str:
    """A cell's stable id, from its spec and the device kind it computes on (cpu or cuda) alone: the
    same on every machine, process, hash seed and image. The machine is a property of an attempt,
    recorded in its row; where a preset pairs measurements of one host it says so (`same_host`)."""
    payload = json.dumps({"spec": spec.identity(), "device": spec.compute_device}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def spec_from_row(row: Mapping) -> RunSpec:
    """The spec of a stored row (CSV text or typed values); fields it leaves empty keep their defaults."""
    values = {}
    for f in dataclasses.fields(RunSpec):
        value = row.get(f.name)
        if value is None or value == "":
            continue
        if f.name in INT_FIELDS:
            value = int(value)
        elif f.name in FLOAT_FIELDS:
            value = float(value)
        elif f.name in ("amp", "pin_memory") and isinstance(value, str):
            value = value.lower() == "true"
        values[f.name] = value
    return RunSpec(**values)


def attempt_key(run_id: str, host: str = "") -> str:
    """What makes a cell done: any finished attempt of its run id, or, where a preset binds its cells
    to one host (`same_host`), an attempt made on that host."""
    return f"{run_id}@{host}" if host else run_id


def latest_attempts(rows, key=lambda row: row["run_id"]) -> dict:
    """`key` of a stored row -> the latest attempt among `rows` (in stored order: a later attempt of a
    key replaces an earlier one). The one rule by which a cell retried, recomputed or merged from
    another store shows its last attempt."""
    return {key(row): row for row in rows}


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise BenchError(f"unknown {name} {value!r}; choose from {', '.join(map(str, allowed))}")


INT_FIELDS = ("batch_size", "epochs", "seed", "data_seed", "subset", "test_size", "degree", "n_train")
FLOAT_FIELDS = ("lr", "C")


def _types(spec: RunSpec) -> None:
    for name in INT_FIELDS:
        value = getattr(spec, name)
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 2**63:
            raise BenchError(f"{name} must be a whole number (64-bit), got {value!r}")
    for name in FLOAT_FIELDS:
        value = getattr(spec, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise BenchError(f"{name} must be a finite number, got {value!r}")
    for name in ("amp", "pin_memory"):
        value = getattr(spec, name)
        if not isinstance(value, bool) and not (name == "pin_memory" and value is None):
            raise BenchError(f"{name} must be true or false, got {value!r}")


# What numpy, scikit-learn and memory accept: seeds are 32-bit; a batch beyond 65,536 images or a
# subset beyond ten million cannot come from these datasets and would make the estimator allocate
# terabytes.
LIMITS = (("seed", 0, 2**32 - 1), ("data_seed", 0, 2**32 - 1), ("batch_size", 1, 65_536),
          ("epochs", 1, 10_000), ("subset", 0, 10_000_000), ("test_size", 0, 10_000_000),
          ("n_train", 10, 10_000_000), ("degree", 1, 100))


def validate(spec: RunSpec) -> None:
    """Raise BenchError for any value a user could have mistyped."""
    _types(spec)
    _choice("kind", spec.kind, ("resnet", "svm"))
    _choice("dataset", spec.dataset, DATASETS)
    _choice("split", spec.split, SPLITS)
    for name, low, high in LIMITS:
        value = getattr(spec, name)
        if not low <= value <= high:
            raise BenchError(f"{name} must be from {low:,} to {high:,}, got {value}")
    if spec.subset < 0:
        raise BenchError(f"subset must be 0 (all) or a positive number of images, got {spec.subset}")
    if spec.kind == "svm":
        _choice("model", spec.model, SVM_MODELS)
        _choice("kernel", spec.kernel, KERNELS)
        if spec.C <= 0:
            raise BenchError(f"C must be > 0, got {spec.C}")
        _choice("gamma", spec.gamma, ("scale", "auto"))
        return
    _choice("model", spec.model, RESNETS)
    _choice("optimizer", spec.optimizer, OPTIMIZERS)
    _choice("device", spec.device, DEVICES)
    _choice("stem", spec.stem, STEMS)
    if not spec.lr > 0:
        raise BenchError(f"lr must be > 0, got {spec.lr}")
