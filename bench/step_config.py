"""How the training step is computed, chosen per machine by measurement: the memory format of the
model and its inputs (NCHW or channels_last) and the step's implementation (torch's default
optimizer, its multi-tensor `foreach` or its `fused` kernel, or on CUDA the whole step replayed as a
CUDA graph, bench.graphed). Every candidate is the same algorithm (fused Adam is Adam, with the same
hyperparameters); only the speed differs, so the fastest is chosen at warm-up, on throwaway copies,
and recorded in every row (`memory_format`, `optimizer_impl`). A graph is a candidate only where it
is proven equal to the eager step on this machine and shape, at that moment (`graphed.proven_equal`);
BENCH_CUDA_GRAPH=0 leaves it out. The step itself (`step`, `build`) and the optimizer of each
configuration live here too, so the measurement needs nothing from bench.train: training hands it a
model and a batch and gets a configuration back (`chosen`)."""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from bench import cache, clock, env, graphed
from bench.errors import BenchError
from bench.precision import autocast, grad_scaler
from bench.spec import SGD_MOMENTUM, RunSpec

MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
OPTIMIZER_IMPLS = ("default", "foreach", "fused", "graph")  # graph: default optimizer, step as a CUDA graph
AUTO = "auto"
# Steps timed per candidate: a short block after untimed ones; the median of a few blocks decides.
TRIAL_WARMUP_STEPS, TRIAL_STEPS, TRIAL_BLOCKS = 2, 3, 3


@dataclass(frozen=True)
class StepConfig:
    memory_format: str = "contiguous"
    optimizer_impl: str = "default"

    @property
    def torch_format(self) -> torch.memory_format:
        return MEMORY_FORMATS[self.memory_format]

    def __str__(self) -> str:
        return f"{self.memory_format}/{self.optimizer_impl}"


# What bench ran before it measured (schema 4 rows): the reference every candidate must agree with.
LEGACY = StepConfig("channels_last", "default")


def parse(text: str) -> StepConfig | None:
    """`auto` (None: measure) or `FORMAT/IMPL`, e.g. `contiguous/fused`."""
    if text == AUTO:
        return None
    fmt, _, impl = text.partition("/")
    if fmt not in MEMORY_FORMATS or impl not in OPTIMIZER_IMPLS:
        raise BenchError(f"--step-config {text!r}: give auto or FORMAT/IMPL with FORMAT one of "
                         f"{', '.join(MEMORY_FORMATS)} and IMPL one of {', '.join(OPTIMIZER_IMPLS)}")
    return StepConfig(fmt, impl)


def candidates(device: str = "cpu", amp: bool = False) -> list[StepConfig]:
    """Every configuration the warm-up tries: torch's default optimizer implementation (foreach on
    CUDA, for-loop on the CPU) and the fused one in both memory formats, and on CUDA in fp32 the
    graphed step (unless BENCH_CUDA_GRAPH=0). The explicit `foreach` implementation is no candidate
    (on CUDA it is the default; `--step-config FORMAT/foreach` still forces it)."""
    impls = ["default", "fused"]
    if graphed.supported(device, amp) and os.environ.get("BENCH_CUDA_GRAPH", "1").strip() != "0":
        impls.append("graph")
    return [StepConfig(fmt, impl) for fmt in MEMORY_FORMATS for impl in impls]


def optimizer(params, spec: RunSpec, config: StepConfig) -> torch.optim.Optimizer:
    """The cell's optimizer, SGD (with the study's momentum) or Adam at its learning rate, in the
    configuration's implementation."""
    impl = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True},
            "graph": {"capturable": True} if spec.optimizer == "adam" else {}}[config.optimizer_impl]
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=SGD_MOMENTUM, **impl)
    return torch.optim.Adam(params, lr=spec.lr, **impl)


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


def build(model, opt, spec: RunSpec, config: StepConfig, x, y) -> Callable:
    """The training step `(x, y) -> (logits, loss)` of a configuration: eager (`step`), or a CUDA
    graph captured on a batch shaped as (x, y) (bench.graphed), eager for other shapes."""
    eager = functools.partial(step, model, opt, grad_scaler(spec), spec)
    if config.optimizer_impl == "graph":
        return graphed.GraphedStep(model, opt, x, y, eager)
    return eager


def fastest(model: torch.nn.Module, spec: RunSpec, x, y, options: list[StepConfig]) -> tuple[StepConfig, dict]:
    """Time each candidate's step on a throwaway copy of `model`, on the batch (x, y) (normalised,
    on the device; each candidate takes it in its memory format), and return the fastest and every
    candidate's median seconds per step. A graphed candidate that is not proven equal to the eager
    step here, or cannot be captured, is left out. The real model and torch's RNG are untouched."""
    times = {}
    rng = torch.get_rng_state()
    for config in options:
        scratch = copy.deepcopy(model).to(memory_format=config.torch_format).train()
        x_in = x.contiguous(memory_format=config.torch_format)
        if config.optimizer_impl == "graph" and not _graph_equal(scratch, spec, config, x_in, y):
            continue
        one = build(scratch, optimizer(scratch.parameters(), spec, config), spec, config, x_in, y)
        times[config] = clock.median_seconds(functools.partial(one, x_in, y), spec.device, TRIAL_WARMUP_STEPS,
                                             TRIAL_STEPS, TRIAL_BLOCKS)
    torch.set_rng_state(rng)
    best = min(times, key=lambda c: (times[c], str(c)))
    return best, {str(c): t for c, t in times.items()}


def _graph_equal(model, spec: RunSpec, config: StepConfig, x, y) -> bool:
    eager = StepConfig(config.memory_format, "default")
    try:
        return graphed.proven_equal(model, lambda p: optimizer(p, spec, config), lambda p: optimizer(p, spec, eager),
                                    x, y, lambda m, o, a, b: build(m, o, spec, eager, a, b)(a, b))
    except RuntimeError:  # capture refused (an operation graphs cannot hold on this torch or GPU)
        return False


def memory_format_of(model: torch.nn.Module) -> torch.memory_format:
    """The format the model's convolution weights are in (its inputs follow it), read from a weight
    whose layout tells the two apart (more than one channel, a kernel larger than 1x1)."""
    weight = next(p for p in model.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] > 1)
    return torch.contiguous_format if weight.is_contiguous() else torch.channels_last


STEP_CHOICES = "step-configs.json"


def _choice_key(spec) -> str:
    return (f"{env.device_identity(spec.device)}|{spec.label}|{spec.batch_size}|{spec.optimizer}|{spec.amp}"
            f"|t{torch.get_num_threads()}|torch {torch.__version__}")


def recalled(spec) -> StepConfig | None:
    """The step configuration remembered for this cell's shape on this machine (None: none yet, a
    foreign or hand-edited entry, or one that is no candidate any more, e.g. with BENCH_CUDA_GRAPH=0)."""
    try:
        config = parse(cache.read(STEP_CHOICES)[_choice_key(spec)])
    except (KeyError, TypeError, AttributeError, BenchError):
        return None
    return config if config in candidates(spec.device, spec.amp) else None


def chosen(spec: RunSpec, model: torch.nn.Module, x, y) -> tuple[StepConfig, dict]:
    """The step configuration for this cell's shape on this machine, with each candidate's trial time
    when measured: the remembered one, else the fastest among every candidate (`fastest`, on the
    batch (x, y)), then remembered in the machine's cache, so that every later run of the same shape
    here computes the same way and two runs of one cell agree exactly."""
    config = recalled(spec)
    if config is not None:
        return config, {}
    config, trials = fastest(model, spec, x, y, candidates(spec.device, spec.amp))
    cache.write(STEP_CHOICES, {**cache.read(STEP_CHOICES), _choice_key(spec): str(config)})
    return config, trials


# The configuration the warm-up chose for most CPU shapes measured (q1a's ResNet-18/50 rows on two
# machines): what `bench plan` times for a shape no run has chosen for yet.
USUAL_CPU = StepConfig("contiguous", "fused")


def for_calibration(spec) -> list[StepConfig]:
    """What `bench plan` times for a shape: the remembered choice; else on the CPU the usual one (one
    candidate instead of four keeps a calibration short), on CUDA every candidate."""
    config = recalled(spec)
    if config is not None:
        return [config]
    return [USUAL_CPU] if spec.device == "cpu" else candidates(spec.device, spec.amp)
