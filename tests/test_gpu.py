"""GPU tests: the CUDA paths a CPU machine cannot exercise. Marked `cuda`; skipped with a reason
when torch sees no GPU (`make test-gpu` runs only these; `make gpu-session` runs them first)."""

from __future__ import annotations

import contextlib

import pytest
import torch

from bench import clock, data, env, plan, step_config, train
from bench.spec import RunSpec, run_id

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to torch")]
COMPARED = ("test_acc", "val_acc", "val_loss", "best_epoch", "confusion")


@pytest.fixture
def tiny(tiny_data):
    ds = data.load("mnist", tiny_data)
    return ds, data.split(ds, "random", 0, 0)


def test_fp16_uses_a_grad_scaler_and_bf16_runs_natively(tiny, monkeypatch):
    ds, split = tiny
    spec = RunSpec(model="resnet20", device="cuda", epochs=1, batch_size=16, amp=True)
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    result = train.train_group([spec], ds, split)[0]
    assert result.status == "done" and result.metrics["amp_dtype"] == ("bf16" if native else "fp16")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    scales = []
    real_update = torch.amp.GradScaler.update

    def update(self, new_scale=None):
        real_update(self, new_scale)
        scales.append(self.get_scale())

    monkeypatch.setattr(torch.amp.GradScaler, "update", update)
    fp16 = train.train_group([spec], ds, split)[0]
    assert fp16.status == "done" and fp16.metrics["amp_dtype"] == "fp16"
    assert scales and all(s > 0 for s in scales)  # the scaler ran and its state advanced
    assert fp16.metrics["train_loss"] == fp16.metrics["train_loss"]  # finite, not NaN


def test_cuda_peak_memory_is_the_runs_own_after_warm_up(tiny):
    ds, split = tiny
    spec = RunSpec(model="resnet20", device="cuda", epochs=1, batch_size=16)
    result = train.train_group([spec], ds, split)[0]
    peak, eval_peak = result.metrics["peak_mem_mb"], result.metrics["eval_peak_mem_mb"]
    total = torch.cuda.get_device_properties(0).total_memory / 2**20
    assert peak is not None and 0 < peak < total  # training's own peak
    assert eval_peak is not None and 0 < eval_peak < total  # evaluation's, counted apart


def test_best_weights_are_saved_as_cpu_tensors(tiny):
    ds, split = tiny
    result = train.train_group([RunSpec(model="resnet20", device="cuda", epochs=1, batch_size=16)], ds, split)[0]
    assert all(not t.is_cuda for t in result.weights.values())


def test_timers_are_bracketed_by_synchronisation(monkeypatch, tiny):
    """Each timed epoch: a synchronisation, the clock, the steps, a synchronisation, the clock."""
    ds, split = tiny
    events = []
    real_sync, real_step = clock.sync, step_config.step
    monkeypatch.setattr(clock, "sync", lambda device: events.append("sync") or real_sync(device))
    monkeypatch.setattr(step_config, "step", lambda *a: events.append("step") or real_step(*a))
    monkeypatch.setattr(clock, "timed", _logged(clock.timed, events))
    train.train_group([RunSpec(model="resnet20", device="cuda", epochs=2, batch_size=16)], ds, split,
                      config=step_config.LEGACY)  # no step trials: only the epochs are timed
    timed = "".join("s" if e == "sync" else "x" if e == "step" else e for e in events)
    epochs = [part[: part.index(">") + 1] for part in timed.split("<")[1:]]  # what each timer enclosed
    assert len(epochs) == 2 and all(p.startswith("sx") and p.endswith("xs>") for p in epochs), timed


def _logged(timed, events):
    @contextlib.contextmanager
    def wrapper(device):
        events.append("<")
        with timed(device) as t:
            yield t
        events.append(">")
    return wrapper


def test_cuda_run_ids_name_the_device_kind_not_the_gpu():
    spec = RunSpec(model="resnet18", device="cuda")
    assert run_id(spec) != run_id(spec.replace(device="cpu"))
    assert plan.cells_of([spec])[0].run_id == run_id(spec)  # the GPU's name plays no part
    assert torch.cuda.get_device_name(0) in env.describe("cuda")["device_name"]  # it is in the row
