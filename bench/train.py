"""Train one group of ResNet cells and return their results.

A group is the set of cells that would compute the same thing: cells that differ only in
`epochs` (constant lr, same seed) are trained once to the largest epoch count and measured at
each requested epoch; on CPU, cells that differ only in `pin_memory` are the same computation
(nothing is copied to a device), so they share the run too."""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn import metrics
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bench import cost, env, models
from bench.data import Dataset, Split
from bench.precision import amp_dtype, autocast, dtype_name, grad_scaler
from bench.spec import SGD_MOMENTUM, RunSpec, pin_memory_is_factor

EVAL_BATCH = 512
# A run has diverged when its epoch's mean training loss is not finite or exceeds this many times
# the loss of a uniform guess (ln 10 = 2.3): BatchNorm keeps an exploding net's loss finite
# (we saw 1e23 at lr 1e12), so "not finite" alone would miss it. Healthy runs stay below ~3.
DIVERGED_LOSS = 100 * math.log(models.NUM_CLASSES)


@dataclass
class CellResult:
    """What one cell of a group measured: status, metrics, per-epoch curves, best-val weights."""

    spec: RunSpec
    status: str = "done"
    message: str = ""
    metrics: dict = field(default_factory=dict)
    curves: list[dict] = field(default_factory=list)
    weights: dict | None = None


def normalise(x: torch.Tensor, scale: float, shift: float) -> torch.Tensor:
    """uint8 [B, 28, 28] -> standardised float [B, 1, 28, 28], channels_last, in one pass."""
    x = x.unsqueeze(1).float()
    return x.mul_(scale).sub_(shift).contiguous(memory_format=torch.channels_last)


class Batches:
    """Shuffled mini-batches of normalised float images from uint8 tensors.

    cpu, or cuda with pin_memory None: batches sliced from tensors resident on the device.
    cuda with pin_memory True/False: a real DataLoader whose pinning is the factor under study."""

    def __init__(self, images, labels, spec: RunSpec, mean: float, std: float, generator):
        self.device = torch.device(spec.device)
        self.loader_path = pin_memory_is_factor(spec.device) and spec.pin_memory is not None
        self.pin = bool(spec.pin_memory) and self.loader_path
        if not self.loader_path:
            images, labels = images.to(self.device), labels.to(self.device)
        self.images, self.labels, self.generator = images, labels, generator
        self.batch_size, self.scale, self.shift = spec.batch_size, 1.0 / (255.0 * std), mean / std



    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return normalise(x.to(self.device, non_blocking=self.pin), self.scale, self.shift)

    def __iter__(self):
        n = len(self.labels)
        if self.loader_path:
            loader = DataLoader(TensorDataset(self.images, self.labels), batch_size=self.batch_size,
                                shuffle=True, generator=self.generator, pin_memory=self.pin, num_workers=0)
            for x, y in loader:
                if len(y) > 1:  # BatchNorm needs two samples in training mode
                    yield self._prepare(x), y.to(self.device, non_blocking=self.pin)
            return
        order = torch.randperm(n, generator=self.generator).to(self.device)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            if len(idx) > 1:
                yield self._prepare(self.images[idx]), self.labels[idx]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@torch.inference_mode()
def predict(model: nn.Module, images, labels, spec: RunSpec, mean: float, std: float):
    """(mean loss, predictions) over a whole split, without autograd and in large batches."""
    model.eval()
    total, preds = 0.0, []
    for start in range(0, len(labels), EVAL_BATCH):
        x = normalise(images[start:start + EVAL_BATCH], 1.0 / (255.0 * std), mean / std)
        y = labels[start:start + EVAL_BATCH]
        with autocast(spec):
            out = model(x)
        total += nn.functional.cross_entropy(out.float(), y, reduction="sum").item()
        preds.append(out.argmax(1).cpu())
    return total / max(len(labels), 1), torch.cat(preds).numpy()


def test_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    p, r, f1, _ = metrics.precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    cm = metrics.confusion_matrix(y_true, y_pred, labels=list(range(models.NUM_CLASSES)))
    return {"test_acc": metrics.accuracy_score(y_true, y_pred), "test_precision": p, "test_recall": r,
            "test_f1": f1, "confusion": cm.tolist()}


class MemoryPeaks:
    """CUDA memory allocated at its peak, training and evaluation apart (each phase starts from a
    reset counter, after warm-up). None on the CPU: the process's peak RSS grows with every run
    before it in the process, so it says nothing about this run."""

    def __init__(self, device: str):
        self.cuda = device == "cuda"
        self.mb = {"train": None, "eval": None}

    def start(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def stop(self, phase: str) -> None:
        if self.cuda:
            self.mb[phase] = max(self.mb[phase] or 0.0, torch.cuda.max_memory_allocated() / 2**20)


def set_deterministic(on: bool) -> None:
    """Deterministic kernels for the whole process: cuDNN without autotuning and torch's deterministic
    algorithms where they exist (warn_only: an operation without one, e.g. adaptive average pooling's
    CUDA backward in torchvision's ResNets, warns and runs anyway, so CUDA runs are not guaranteed to
    be bit-identical). Recorded in every row's `deterministic` column as cuDNN's setting."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what cuBLAS needs for it
    torch.backends.cudnn.deterministic = on
    torch.use_deterministic_algorithms(on, warn_only=True)


def step(model, opt, scaler, spec: RunSpec, x, y):
    """One optimizer step on a batch (autocast, loss scaling where fp16); returns (logits, loss)."""
    with autocast(spec):
        out = model(x)
        loss = nn.functional.cross_entropy(out.float(), y)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    return out, loss


def batch_sizes(n: int, batch_size: int, smallest: int = 2) -> list[int]:
    """Every batch size a pass over n items in batches of batch_size produces (full and last)."""
    sizes = {min(batch_size, n), n % batch_size}
    return sorted(size for size in sizes if size >= smallest)


def warm_up(model, opt, spec: RunSpec, part: dict, mean: float, std: float) -> None:
    """Untimed: one training step at every batch shape the timed loop will see (full and the last
    partial batch) and one evaluation at every evaluation shape, on throwaway copies of the model
    and optimizer. One-off costs (allocator growth; on CUDA, cuDNN autotuning per shape and lazy
    kernel loading) are paid here, and the real run's weights, data order and RNG are untouched."""
    device = next(model.parameters()).device
    scratch = copy.deepcopy(model).train()
    scratch_opt = type(opt)(scratch.parameters(), **opt.defaults)
    scaler = grad_scaler(spec)
    images, labels = part["train"]
    scale, shift = 1.0 / (255.0 * std), mean / std
    for size in batch_sizes(len(labels), spec.batch_size):
        step(scratch, scratch_opt, scaler, spec, normalise(images[:size].to(device), scale, shift),
              labels[:size].to(device))
    for name in ("val", "test"):
        images, labels = part[name]
        for size in batch_sizes(len(labels), EVAL_BATCH, smallest=1):
            predict(scratch, images[:size].to(device), labels[:size].to(device), spec, mean, std)
    sync(spec.device)


def setup(spec: RunSpec, data: Dataset, split: Split):
    """The model, its optimizer and loss scaler, the split's tensors and the training batches."""
    torch.backends.cudnn.benchmark = not torch.backends.cudnn.deterministic  # autotune unless deterministic
    torch.manual_seed(spec.seed)
    model = models.build(spec.model, spec.stem).to(spec.device, memory_format=torch.channels_last)
    opt = (torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=SGD_MOMENTUM) if spec.optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=spec.lr))
    part = {k: (data.images[getattr(split, k)], data.labels[getattr(split, k)]) for k in ("train", "val", "test")}
    pixels = part["train"][0].float()
    mean, std = pixels.mean().item() / 255, pixels.std().item() / 255
    batches = Batches(*part["train"], spec, mean, std, torch.Generator().manual_seed(spec.seed))
    return model, opt, grad_scaler(spec), part, (mean, std), batches


def _train_epoch(model, opt, scaler, spec: RunSpec, batches: Batches) -> dict:
    """One timed pass over the training batches (timer bracketed by device synchronisation)."""
    model.train()
    loss_sum = correct = count = 0
    sync(spec.device)
    start = time.perf_counter()
    for x, y in batches:
        out, loss = step(model, opt, scaler, spec, x, y)
        loss_sum += loss.detach() * len(y)
        correct += (out.argmax(1) == y).sum()
        count += len(y)
    sync(spec.device)
    seconds = time.perf_counter() - start
    return {"train_loss": float(loss_sum) / count, "train_acc": float(correct) / count, "images": count,
            "seconds": seconds}


def train_group(specs: list[RunSpec], data: Dataset, split: Split, warmup: bool = True) -> list[CellResult]:
    """Train the group's shared run to the largest epoch count; one result per spec."""
    spec = specs[0]
    assert all(s.group_key() == spec.group_key() for s in specs)
    model, opt, scaler, part, (mean, std), batches = setup(spec, data, split)
    val_images, test_images = part["val"][0].to(spec.device), part["test"][0].to(spec.device)
    val_labels = part["val"][1].to(spec.device)
    macs, params = cost.model_cost(spec.model, spec.stem)
    if warmup:
        warm_up(model, opt, spec, part, mean, std)
    peaks = MemoryPeaks(spec.device)  # counted after warm-up: the run's own peaks

    wanted = sorted({s.epochs for s in specs})
    curves, results_at, best = [], {}, {"val_acc": -1.0}
    train_time = eval_time = 0.0
    seen, rates, failure = 0, [], ""  # rates: images per second of each timed epoch
    for epoch in range(1, wanted[-1] + 1):
        peaks.start()
        trained = _train_epoch(model, opt, scaler, spec, batches)
        peaks.stop("train")
        opt.zero_grad(set_to_none=True)  # frees the gradients before evaluation; the next step zeroes them anyway
        if not math.isfinite(trained["train_loss"]) or trained["train_loss"] > DIVERGED_LOSS:
            failure = (f"training loss became {trained['train_loss']:.3g} in epoch {epoch} "
                       f"(limit {DIVERGED_LOSS:.0f})")
            break
        train_time += trained["seconds"]
        seen += trained["images"]
        rates.append(trained["images"] / trained["seconds"])
        start = time.perf_counter()
        peaks.start()
        val_loss, val_pred = predict(model, val_images, val_labels, spec, mean, std)
        val_acc = float((val_pred == part["val"][1].numpy()).mean())
        curves.append({"epoch": epoch, "train_loss": trained["train_loss"], "train_acc": trained["train_acc"],
                       "val_loss": val_loss, "val_acc": val_acc, "epoch_time_s": trained["seconds"]})
        if val_acc > best["val_acc"]:
            # kept on the CPU: no GPU memory held for them, and saved as CPU tensors
            best = {"val_acc": val_acc, "val_loss": val_loss, "epoch": epoch,
                    "weights": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}}
        if epoch in wanted:
            results_at[epoch] = _measure(model, best, test_images, part["test"][1], spec, mean, std)
        eval_time += time.perf_counter() - start
        peaks.stop("eval")
        if epoch in wanted:
            results_at[epoch].update(train_time_s=train_time, eval_time_s=eval_time, images_per_s=seen / train_time,
                                     steady_images_per_s=float(np.median(rates)),
                                     achieved_flops=cost.TRAIN_FLOPS_PER_MAC * macs * seen / train_time)

    common = {"macs": macs, "params": params, "peak_mem_mb": peaks.mb["train"], "eval_peak_mem_mb": peaks.mb["eval"],
              "amp_dtype": dtype_name(amp_dtype(spec)), "tf32": env.tf32_enabled(spec.device),
              "deterministic": bool(torch.backends.cudnn.deterministic),
              "train_mean": mean, "train_std": std, "shared_compute": len(specs) > 1}
    return [_cell_result(s, curves, results_at.get(s.epochs), common, failure, train_time) for s in specs]


def _cell_result(spec: RunSpec, curves: list[dict], done: dict | None, common: dict, failure: str,
                 train_time: float) -> CellResult:
    """One cell of a group: its epochs' slice of the shared curve and the metrics at its epoch count."""
    cell = CellResult(spec, curves=curves[: spec.epochs])
    if done is None:
        cell.status, cell.message = "diverged", failure
        last = curves[-1] if curves else {}
        cell.metrics = {**common, "val_acc": last.get("val_acc"), "train_loss": last.get("train_loss"),
                        "train_time_s": train_time}
    else:
        cell.weights = done["weights"]  # cells of one group may share these: never mutate `done`
        cell.metrics = {**common, **{k: v for k, v in done.items() if k != "weights"},
                        "train_loss": curves[spec.epochs - 1]["train_loss"]}
    return cell


def _measure(model, best, test_images, test_labels, spec, mean, std) -> dict:
    """Test metrics of the best-val weights seen so far (model selection on val, never on test)."""
    scratch = copy.deepcopy(model)
    scratch.load_state_dict(best["weights"])
    _, pred = predict(scratch, test_images, test_labels.to(spec.device), spec, mean, std)
    return {**test_metrics(test_labels.numpy(), pred), "val_acc": best["val_acc"], "val_loss": best["val_loss"],
            "best_epoch": best["epoch"], "weights": best["weights"]}
