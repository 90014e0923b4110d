"""The step configurations are one algorithm: every candidate's first steps match the reference
(today's channels_last with torch's default optimizer) within float tolerance, a short run with the
chosen one reaches the reference's accuracy, and rows record what ran."""

from __future__ import annotations

import pytest
import torch

from bench import data, models, step_config, train
from bench.data import Stats
from bench.errors import BenchError
from bench.spec import RunSpec
from bench.step_config import LEGACY, StepConfig


def _gradients(config: StepConfig) -> torch.Tensor:
    """The loss gradient of one batch, all parameters flattened, with the model in `config`'s format."""
    spec = RunSpec(model="resnet20", batch_size=8)
    torch.manual_seed(0)
    model = models.build(spec.model, spec.stem).to(memory_format=config.torch_format).train()
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (spec.batch_size, 28, 28), dtype=torch.uint8, generator=generator)
    y = torch.randint(0, 10, (spec.batch_size,), generator=generator)
    out = model(Stats.of(x).normalise(x, config.torch_format))
    torch.nn.functional.cross_entropy(out, y).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize("memory_format", list(step_config.MEMORY_FORMATS))
def test_every_memory_format_computes_the_reference_gradient(memory_format):
    reference, candidate = _gradients(LEGACY), _gradients(StepConfig(memory_format, "default"))
    assert reference.norm() > 0
    assert ((candidate - reference).norm() / reference.norm()).item() < 1e-4


def _updates(optimizer: str, impl: str, steps: int = 3) -> list[torch.Tensor]:
    """Weights after `steps` steps of the optimizer on the same fixed gradients."""
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(64, 32)), torch.nn.Parameter(torch.randn(10))]
    opt = step_config.optimizer(params, RunSpec(optimizer=optimizer, lr=1e-2), StepConfig("contiguous", impl))
    generator = torch.Generator().manual_seed(2)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator)
        opt.step()
    return [p.detach() for p in params]


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("impl", [i for i in step_config.OPTIMIZER_IMPLS if i != "graph"])  # graph: CUDA only
def test_every_optimizer_implementation_takes_the_reference_steps(optimizer, impl):
    """fused and foreach Adam are Adam: the same updates from the same gradients. (Whole training
    steps are compared by accuracy below: Adam turns float-rounding differences in a near-zero
    gradient into full-size updates, so weights of two formats drift apart elementwise.)"""
    reference, candidate = _updates(optimizer, "default"), _updates(optimizer, impl)
    start = _updates(optimizer, "default", steps=0)
    for s, r, c in zip(start, reference, candidate, strict=True):
        assert (r - s).abs().mean() > 1e-3  # the weights moved, so agreeing means something
        assert torch.allclose(r, c, rtol=1e-5, atol=1e-6)


def test_the_chosen_configuration_is_recorded_and_reaches_the_reference_accuracy(tiny_data):
    ds = data.load("mnist", tiny_data)
    split = data.split(ds, "random", 0, 0)
    spec = RunSpec(model="resnet20", epochs=3, batch_size=16, optimizer="adam", lr=3e-3)
    chosen = train.train_group([spec], ds, split)[0]
    reference = train.train_group([spec], ds, split, config=LEGACY)[0]
    assert chosen.status == reference.status == "done"
    assert (chosen.metrics["memory_format"], chosen.metrics["optimizer_impl"]) in \
        {(c.memory_format, c.optimizer_impl) for c in step_config.candidates()}
    assert (reference.metrics["memory_format"], reference.metrics["optimizer_impl"]) == ("channels_last", "default")
    # the same algorithm: on these learnable blobs both reach (near) perfect accuracy; a step that
    # were wrong would not (run-to-run noise here is a few test images of 40 at most)
    assert abs(chosen.metrics["test_acc"] - reference.metrics["test_acc"]) <= 0.1
    assert reference.metrics["test_acc"] >= 0.8


def test_a_forced_configuration_is_kept_and_a_wrong_one_is_one_line():
    assert step_config.parse("contiguous/fused") == StepConfig("contiguous", "fused")
    assert step_config.parse("auto") is None
    for text in ("fused", "nhwc/fused", "contiguous/fast", ""):
        with pytest.raises(BenchError):
            step_config.parse(text)


def test_candidates_are_measured_on_the_batch_given_leaving_model_and_rng_alone(monkeypatch):
    """The trials need nothing from training: a model and a normalised batch are all they take."""
    for name, steps in (("TRIAL_WARMUP_STEPS", 0), ("TRIAL_STEPS", 1), ("TRIAL_BLOCKS", 1)):
        monkeypatch.setattr(step_config, name, steps)  # one timed step a candidate: enough to test the plumbing
    spec = RunSpec(model="resnet20", batch_size=8)
    torch.manual_seed(0)
    model = models.build(spec.model, spec.stem).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = data.STUDY_STATS["mnist"].normalise(torch.randint(0, 256, (8, 28, 28), dtype=torch.uint8))
    y = torch.randint(0, 10, (8,))
    rng = torch.get_rng_state()
    options = step_config.candidates()
    best, trials = step_config.fastest(model, spec, x, y, options)
    assert best in options and set(trials) == {str(c) for c in options} and all(t > 0 for t in trials.values())
    assert trials[str(best)] == min(trials.values())
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
