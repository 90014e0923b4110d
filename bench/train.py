"""Train one group of ResNet cells and return their results.

A group is the set of cells that would compute the same thing: cells that differ only in
`epochs` (constant lr, same seed) are trained once to the largest epoch count and measured at
each requested epoch; cells that differ only in `pin_memory` are the same computation (the data is
resident on the device), so they share the run too (`bench.spec.training_run_key`)."""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bench import clock, cost, env, evaluate, models, step_config
from bench.data import Dataset, Split, Stats, training_stats
from bench.precision import amp_dtype, dtype_name, grad_scaler
from bench.spec import RunSpec
from bench.step_config import StepConfig

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


class Batches:
    """Shuffled mini-batches of normalised float images, sliced from uint8 tensors resident on the
    device (copied there once): on every device and for both pin_memory values the same batches in
    the same order (`torch.randperm` with the run's generator, as a shuffling DataLoader draws it)."""

    def __init__(self, images, labels, spec: RunSpec, stats: Stats, generator,
                 memory_format: torch.memory_format = torch.contiguous_format):
        self.device, self.memory_format, self.stats = torch.device(spec.device), memory_format, stats
        self.images, self.labels, self.generator = images.to(self.device), labels.to(self.device), generator
        self.batch_size = spec.batch_size

    def __iter__(self):
        order = torch.randperm(len(self.labels), generator=self.generator).to(self.device)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            if len(idx) > 1:  # BatchNorm needs two samples in training mode
                yield self.stats.normalise(self.images[idx], self.memory_format), self.labels[idx]


def set_deterministic(on: bool) -> None:
    """Deterministic kernels for the whole process: cuDNN without autotuning and torch's deterministic
    algorithms where they exist (warn_only: an operation without one, e.g. adaptive average pooling's
    CUDA backward in torchvision's ResNets, warns and runs anyway, so CUDA runs are not guaranteed to
    be bit-identical). Recorded in every row's `deterministic` column as cuDNN's setting."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what cuBLAS needs for it
    torch.backends.cudnn.deterministic = on
    torch.use_deterministic_algorithms(on, warn_only=True)


def batch_sizes(n: int, batch_size: int, smallest: int = 2) -> list[int]:
    """Every batch size a pass over n items in batches of batch_size produces (full and last)."""
    sizes = {min(batch_size, n), n % batch_size}
    return sorted(size for size in sizes if size >= smallest)


def warm_up(run: Setup, spec: RunSpec) -> None:
    """Untimed: one training step at every batch shape the timed loop will see (full and the last
    partial batch) and one evaluation at every evaluation shape, on throwaway copies of the model
    and optimizer. One-off costs (allocator growth; on CUDA, cuDNN autotuning per shape and lazy
    kernel loading) are paid here, and the real run's weights, data order and RNG are untouched."""
    scratch = copy.deepcopy(run.model).train()
    scratch_opt = type(run.opt)(scratch.parameters(), **run.opt.defaults)
    scaler = grad_scaler(spec)
    images, labels = run.part["train"]
    for size in batch_sizes(len(labels), spec.batch_size):
        x = run.stats.normalise(images[:size].to(spec.device), run.config.torch_format)
        step_config.step(scratch, scratch_opt, scaler, spec, x, labels[:size].to(spec.device))
    for name in ("val", "test"):
        images, labels = run.part[name]
        for size in batch_sizes(len(labels), evaluate.EVAL_BATCH, smallest=1):
            evaluate.predict(scratch, images[:size].to(spec.device), labels[:size].to(spec.device), spec, run.stats)
    clock.sync(spec.device)


def first_batch(spec: RunSpec, images, labels, stats: Stats):
    """A full training batch on the device, normalised (NCHW): what step trials and graph capture run on."""
    n = min(len(labels), spec.batch_size)
    return stats.normalise(images[:n].to(spec.device)), labels[:n].to(spec.device)


@dataclass
class Setup:
    """A cell's training, ready to run: model, optimizer, data, statistics, batches, chosen step."""

    model: nn.Module
    opt: torch.optim.Optimizer
    part: dict
    stats: Stats
    batches: Batches
    config: StepConfig
    step: Callable
    trials: dict


def setup(spec: RunSpec, data: Dataset, split: Split, config: StepConfig | None = None) -> Setup:
    """The model, its optimizer, the split's tensors, the training batches and the step of a
    configuration (None: the fastest here, by measurement, with each candidate's trial time)."""
    torch.backends.cudnn.benchmark = not torch.backends.cudnn.deterministic  # autotune unless deterministic
    torch.manual_seed(spec.seed)
    model = models.build(spec.model, spec.stem).to(spec.device)
    part = {k: (data.images[getattr(split, k)], data.labels[getattr(split, k)]) for k in ("train", "val", "test")}
    stats = training_stats(data, split)
    x, y = first_batch(spec, *part["train"], stats)
    trials = {}
    if config is None:
        config, trials = step_config.chosen(spec, model, x, y)
    model = model.to(memory_format=config.torch_format)
    opt = step_config.optimizer(model.parameters(), spec, config)
    batches = Batches(*part["train"], spec, stats, torch.Generator().manual_seed(spec.seed), config.torch_format)
    step = step_config.build(model, opt, spec, config, x.contiguous(memory_format=config.torch_format), y)
    return Setup(model, opt, part, stats, batches, config, step, trials)


def _train_epoch(run: Setup, spec: RunSpec, share: Callable[[], int]) -> dict:
    """One timed pass over the training batches (timer bracketed by device synchronisation). torch's
    threads follow `share()` step by step (a worker's share grows as soon as another runs out of
    work, `bench.workers`); the epoch reports the fewest and the most threads its steps had."""
    had = [clock.use_threads(share())]
    run.model.train()
    loss_sum = correct = count = 0
    with clock.timed(spec.device) as timer:
        for x, y in run.batches:
            if (threads := share()) != had[-1]:
                had.append(clock.use_threads(threads))
            out, loss = run.step(x, y)
            loss_sum += loss.detach() * len(y)
            correct += (out.argmax(1) == y).sum()
            count += len(y)
    return {"train_loss": float(loss_sum) / count, "train_acc": float(correct) / count, "images": count,
            "seconds": timer["seconds"], "threads": min(had), "threads_max": max(had)}


def train_group(specs: list[RunSpec], data: Dataset, split: Split, warmup: bool = True,
                config: StepConfig | None = None, share: Callable[[], int] = env.thread_count,
                on_epoch: Callable[[int, int], None] | None = None) -> list[CellResult]:
    """Train the group's shared run to the largest epoch count; one result per spec. `config` forces a
    step configuration (None: the fastest here). torch's threads are `share()`, renewed before every
    step (a worker's share grows as others finish); each curve row records the fewest its epoch had.
    `on_epoch(epoch, epochs)` hears of every epoch trained and evaluated."""
    spec = specs[0]
    assert all(s.group_key() == spec.group_key() for s in specs)
    clock.use_threads(share())  # the step configuration is chosen and warmed up under the current share
    run = setup(spec, data, split, config)
    model, part, stats = run.model, run.part, run.stats
    val_images, test_images = part["val"][0].to(spec.device), part["test"][0].to(spec.device)
    val_labels = part["val"][1].to(spec.device)
    macs, params = cost.model_cost(spec.model, spec.stem)
    if warmup:
        warm_up(run, spec)
    peaks = clock.MemoryPeaks(spec.device)  # counted after warm-up: the run's own peaks

    wanted = sorted({s.epochs for s in specs})
    curves, most, results_at, best = [], [], {}, {"val_acc": -1.0}  # most: each epoch's most threads
    train_time = eval_time = 0.0
    seen, rates, failure = 0, [], ""  # rates: images per second of each timed epoch
    for epoch in range(1, wanted[-1] + 1):
        peaks.start()
        trained = _train_epoch(run, spec, share)
        peaks.stop("train")
        run.opt.zero_grad(set_to_none=True)  # frees the gradients before evaluation; the next step zeroes them anyway
        if not math.isfinite(trained["train_loss"]) or trained["train_loss"] > DIVERGED_LOSS:
            failure = (f"training loss became {trained['train_loss']:.3g} in epoch {epoch} "
                       f"(limit {DIVERGED_LOSS:.0f})")
            break
        train_time += trained["seconds"]
        seen += trained["images"]
        rates.append(trained["images"] / trained["seconds"])
        start = time.perf_counter()
        peaks.start()
        val_loss, val_pred = evaluate.predict(model, val_images, val_labels, spec, stats)
        if not math.isfinite(val_loss):  # e.g. fp16 logits that overflow while the training loss looks fine
            failure = f"validation loss became {val_loss:.3g} in epoch {epoch}"
            break
        val_acc = float((val_pred == part["val"][1].numpy()).mean())
        most.append(trained["threads_max"])
        curves.append({"epoch": epoch, **{k: trained[k] for k in ("train_loss", "train_acc", "threads")},
                       "val_loss": val_loss, "val_acc": val_acc, "epoch_time_s": trained["seconds"]})
        best = _best_so_far(best, model, val_acc, val_loss, epoch)
        if epoch in wanted:
            results_at[epoch] = evaluate.measure(model, best, test_images, part["test"][1], spec, stats)
        eval_time += time.perf_counter() - start
        peaks.stop("eval")
        if epoch in wanted:
            results_at[epoch].update(train_time_s=train_time, eval_time_s=eval_time, images_per_s=seen / train_time,
                                     steady_images_per_s=float(np.median(rates)),
                                     achieved_flops=cost.achieved_flops(macs, seen, train_time))
        if on_epoch:
            on_epoch(epoch, wanted[-1])

    common = {"macs": macs, "params": params, "peak_mem_mb": peaks.mb["train"], "eval_peak_mem_mb": peaks.mb["eval"],
              "shared_compute": len(specs) > 1, **_how(spec, run)}
    return [_cell_result(s, curves, most, results_at.get(s.epochs), common, failure, train_time) for s in specs]


def _best_so_far(best: dict, model: nn.Module, val_acc: float, val_loss: float, epoch: int) -> dict:
    """The best validation epoch so far, with its weights kept on the CPU (no GPU memory held for
    them, and saved as CPU tensors)."""
    if val_acc <= best["val_acc"]:
        return best
    return {"val_acc": val_acc, "val_loss": val_loss, "epoch": epoch,
            "weights": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}}


def _how(spec: RunSpec, run: Setup) -> dict:
    """How the run computed: precision, kernels, the input statistics and the step configuration."""
    return {"amp_dtype": dtype_name(amp_dtype(spec)), "tf32": env.tf32_enabled(spec.device),
            "deterministic": bool(torch.backends.cudnn.deterministic), "train_mean": run.stats.mean,
            "train_std": run.stats.std, "memory_format": run.config.memory_format,
            "optimizer_impl": run.config.optimizer_impl}


def _cell_result(spec: RunSpec, curves: list[dict], most: list[int], done: dict | None, common: dict,
                 failure: str, train_time: float) -> CellResult:
    """One cell of a group: its epochs' slice of the shared curve, the metrics at its epoch count and
    the fewest and the most threads its steps had (`most`: each epoch's most; a run that diverged in
    its first epoch: torch's)."""
    cell = CellResult(spec, curves=curves[: spec.epochs])
    fewest = [c["threads"] for c in cell.curves] or [torch.get_num_threads()]
    common = {**common, "threads": min(fewest), "threads_max": max(most[: spec.epochs] or fewest)}
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


