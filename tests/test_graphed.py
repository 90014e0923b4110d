"""The graphed training step (bench.graphed) computes what the eager step computes. On the CPU: the
warm-up that capturing needs is undone exactly (weights, batch-norm statistics, optimizer state), the
part of the technique a CPU can run. On a GPU (marked `cuda`): graphed against eager steps, a whole
run with the graph against one without, the eager fallback for the last partial batch, and the
candidate list that admits the graph only where it may run."""

from __future__ import annotations

import pytest
import torch

from bench import data, graphed, models, step_config, train
from bench.spec import RunSpec
from bench.step_config import StepConfig

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to torch")


def _batches(n: int, batch: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(3)
    return [(torch.randn(batch, 1, 28, 28, generator=generator), torch.randint(0, 10, (batch,), generator=generator))
            for _ in range(n)]


def _steps(model, opt, batches) -> None:
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_capture_warm_up_is_undone_exactly(optimizer):
    """Steps taken on the real model and optimizer, then `_restore`: the run goes on exactly as a fresh
    model and optimizer would (SGD's momentum buffer and Adam's moments and step count back to zero)."""
    def fresh():
        torch.manual_seed(0)
        model = models.build("resnet20").train()
        return model, step_config.optimizer(model.parameters(), RunSpec(optimizer=optimizer, lr=1e-2), StepConfig())

    warmed, warmed_opt = fresh()
    saved = graphed._snapshot(warmed, warmed_opt)
    _steps(warmed, warmed_opt, _batches(3))
    assert any(not torch.equal(a, b) for a, b in zip(warmed.state_dict().values(), saved[0].values(), strict=True))
    graphed._restore(warmed, warmed_opt, saved)
    reference, reference_opt = fresh()
    later = _batches(2)
    _steps(warmed, warmed_opt, later)
    _steps(reference, reference_opt, later)
    for (name, a), b in zip(warmed.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # bit for bit, batch-norm statistics and counters included


def test_graphs_are_candidates_only_on_cuda_in_fp32_and_can_be_left_out(monkeypatch):
    assert all(c.optimizer_impl != "graph" for c in step_config.candidates("cpu"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert {c.optimizer_impl for c in step_config.candidates("cuda")} == {"default", "fused", "graph"}
    assert all(c.optimizer_impl != "graph" for c in step_config.candidates("cuda", amp=True))
    monkeypatch.setenv("BENCH_CUDA_GRAPH", "0")
    assert all(c.optimizer_impl != "graph" for c in step_config.candidates("cuda"))


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_graphed_steps_equal_eager_steps_on_this_gpu(optimizer):
    torch.manual_seed(0)
    model = models.build("resnet20").cuda().train()
    x, y = (t.cuda() for t in _batches(1, batch=16)[0])
    spec = RunSpec(model="resnet20", device="cuda", optimizer=optimizer, batch_size=16)

    def make(config):
        return lambda params: step_config.optimizer(params, spec, config)

    def eager(m, o, a, b):
        return step_config.step(m, o, torch.amp.GradScaler(enabled=False), spec, a, b)

    assert graphed.proven_equal(model, make(StepConfig("contiguous", "graph")), make(StepConfig()), x, y, eager)
    # a graph that kept its first batch instead of copying each new one in is caught
    stale = graphed.GraphedStep.__call__
    try:
        graphed.GraphedStep.__call__ = lambda self, a, b: (self.graph.replay(), (self.out, self.loss))[1]
        assert not graphed.proven_equal(model, make(StepConfig("contiguous", "graph")), make(StepConfig()), x, y,
                                        eager)
    finally:
        graphed.GraphedStep.__call__ = stale


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_graphed_run_matches_an_eager_run(tiny_data, optimizer):
    """Whole runs (the last partial batch takes the eager step): the same curve within float noise."""
    ds = data.load("mnist", tiny_data)
    split = data.split(ds, "random", 0, 0)
    spec = RunSpec(model="resnet20", device="cuda", epochs=2, batch_size=16, optimizer=optimizer, lr=3e-3)
    assert len(split.train) % spec.batch_size > 1  # a partial last batch exists
    fast = train.train_group([spec], ds, split, config=StepConfig("contiguous", "graph"))[0]
    slow = train.train_group([spec], ds, split, config=StepConfig("contiguous", "default"))[0]
    assert fast.status == slow.status == "done" and fast.metrics["optimizer_impl"] == "graph"
    for a, b in zip(fast.curves, slow.curves, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
    assert abs(fast.metrics["test_acc"] - slow.metrics["test_acc"]) <= 0.05
