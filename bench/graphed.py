"""The whole training step (forward, loss, backward, optimizer step) captured once as a CUDA graph and
replayed per batch: on a GPU whose eager step is bound by kernel launches (a ResNet on 28x28 images
at batch 16 keeps an H200 about 1 % busy), one replay launches the step's hundreds of kernels at once.

The computation is the eager step's: the same model, the same optimizer and hyperparameters (Adam
with `capturable=True`, which keeps its step count on the GPU), the same batches. Capturing needs a
few untimed warm-up steps on the real model and optimizer (torch's rule for whole-network capture);
their effect is undone before training (weights, batch-norm statistics and optimizer state restored
in place, so the graph's addresses stay valid), so the run starts from the state the eager run
starts from. Batches of another shape than the captured one (the last partial batch) take the eager
step on the same tensors. `proven_equal` checks the equivalence on the machine before a run may use it
(bench.step_config admits the candidate only then)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

WARMUP_STEPS = 3  # torch's whole-network capture example warms up on a side stream first
CHECK_STEPS = 4  # steps compared against the eager step by `proven_equal`
RTOL, ATOL = 1e-3, 1e-5  # float32 reductions may reorder between graphed and eager kernels


def supported(device: str, amp: bool) -> bool:
    """A graph needs CUDA; fp16's loss scaler skips steps on the host, so mixed precision stays eager."""
    return device == "cuda" and not amp and torch.cuda.is_available()


def _snapshot(model: nn.Module, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            {id(p): {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in opt.state[p].items()}
             for group in opt.param_groups for p in group["params"] if p in opt.state})


def _restore(model: nn.Module, opt: torch.optim.Optimizer, saved: tuple[dict, dict]) -> None:
    """Put back the state of before the warm-up, in place. Optimizer state the warm-up created (Adam's
    moments and step count, SGD's momentum buffer) goes back to zero: the first real step then computes
    exactly what a fresh optimizer's first step computes (0.9 x 0 + g = g; Adam's moments from zero)."""
    weights, state = saved
    with torch.no_grad():
        for k, v in model.state_dict().items():
            v.copy_(weights[k])
        for group in opt.param_groups:
            for p in group["params"]:
                before = state.get(id(p), {})
                for k, v in opt.state.get(p, {}).items():
                    if torch.is_tensor(v) and k in before:
                        v.copy_(before[k])
                    elif torch.is_tensor(v):
                        v.zero_()


class GraphedStep:
    """`step(x, y) -> (logits, loss)` by graph replay for batches of the captured shape, eager otherwise."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                 eager: Callable):
        self.eager, self.shape = eager, tuple(x.shape)
        self.x, self.y = x.detach().clone(memory_format=torch.preserve_format), y.detach().clone()
        saved = _snapshot(model, opt)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                opt.zero_grad(set_to_none=True)
                self._step(model, opt)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)  # gradients are allocated from the graph's own pool
        with torch.cuda.graph(self.graph):
            self.out, self.loss = self._step(model, opt)
        torch.cuda.synchronize()
        _restore(model, opt, saved)

    def _step(self, model, opt):
        out = model(self.x)
        loss = nn.functional.cross_entropy(out.float(), self.y)
        loss.backward()
        opt.step()
        return out, loss

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        if tuple(x.shape) != self.shape:
            return self.eager(x, y)
        self.x.copy_(x)
        self.y.copy_(y)
        self.graph.replay()
        return self.out, self.loss


def proven_equal(model: nn.Module, graph_optimizer: Callable, eager_optimizer: Callable, x: torch.Tensor,
                 y: torch.Tensor, eager_step: Callable) -> bool:
    """Whether CHECK_STEPS graphed steps leave a copy of `model` where as many eager steps with the
    eager optimizer leave another copy (weights and batch-norm statistics within RTOL/ATOL), on this
    GPU and batch shape. `eager_step(model, opt, x, y)` is bench's eager step."""
    mine, theirs = (copy.deepcopy(model).train() for _ in range(2))
    mine_opt, their_opt = graph_optimizer(mine.parameters()), eager_optimizer(theirs.parameters())
    graphed = GraphedStep(mine, mine_opt, x, y, lambda a, b: eager_step(mine, mine_opt, a, b))
    for i in range(CHECK_STEPS):  # a new batch each step: a graph that missed its input would differ
        xi, yi = x.roll(i, 0), y.roll(i, 0)
        graphed(xi, yi)
        eager_step(theirs, their_opt, xi, yi)
    torch.cuda.synchronize()
    a, b = mine.state_dict(), theirs.state_dict()
    return all(torch.allclose(a[k].double(), b[k].double(), rtol=RTOL, atol=ATOL) for k in a)
