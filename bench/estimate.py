"""Time estimates for `bench plan`: a short calibration per (model, batch, amp) on this device,
cached per device, scaled by the number of images each group trains and evaluates."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch

from bench import env, models
from bench.data import val_size
from bench.plan import TEST_PART, TRAIN_PART, VAL_PART, Cell, groups_of
from bench.spec import RunSpec

WARMUP_STEPS, TIMED_STEPS = 2, 5
EVAL_COST = 1 / 3  # an inference image costs about a third of a training image (no backward)
# SVC fit seconds per (n_train ** 2) on 784 features, measured here (2-core Zen 4, rbf, MNIST);
# poly kernels and Fashion-MNIST vary around it by about 2x: a rough figure.
SVM_SECONDS_PER_PAIR = 2.5e-7


def cache_path() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "bench" / "calibration.json"


def _load_cache() -> dict:
    """The cached calibrations; a corrupt or foreign cache is ignored (and rewritten), never fatal."""
    try:
        cache = json.loads(cache_path().read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(cache, dict):
        return {}
    return {k: v for k, v in cache.items()
            if type(v) is float and math.isfinite(v) and v > 0}


def step_seconds_per_image(spec: RunSpec) -> float:
    """Measured seconds per training image for this model/batch/amp on this device (cached)."""
    key = f"{env.device_identity(spec.device)}|{spec.label}|{spec.batch_size}|{spec.amp}|t{torch.get_num_threads()}"
    cache = _load_cache()
    if key not in cache:
        cache[key] = _calibrate(spec)
        path = cache_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
            os.replace(tmp, path)
        except OSError:
            pass  # a cache we cannot write only costs a calibration next time
    return cache[key]


def _calibrate(spec: RunSpec) -> float:
    from bench.train import autocast, sync

    torch.manual_seed(0)
    model = models.build(spec.model, spec.stem).to(spec.device, memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(spec.batch_size, *models.INPUT_SHAPE, device=spec.device).contiguous(
        memory_format=torch.channels_last)
    y = torch.randint(0, models.NUM_CLASSES, (spec.batch_size,), device=spec.device)
    for step in range(WARMUP_STEPS + TIMED_STEPS):
        if step == WARMUP_STEPS:
            sync(spec.device)
            start = time.perf_counter()
        with autocast(spec):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync(spec.device)
    return (time.perf_counter() - start) / (TIMED_STEPS * spec.batch_size)


def seconds(cells: list[Cell]) -> dict[str, float]:
    """Estimated seconds per cell; cells of one group share a run, so the group's time is given to
    its longest cell and the others show the time to reach their epoch count."""
    torch.set_num_threads(env.thread_count())
    out: dict[str, float] = {}
    for group in groups_of(cells):
        spec = group[0].spec
        n_train = spec.subset or TRAIN_PART
        n_val = val_size(spec.subset, VAL_PART)
        if spec.kind == "svm":
            out[group[0].run_id] = SVM_SECONDS_PER_PAIR * min(spec.n_train, n_train) ** 2
            continue
        if spec.device == "cuda" and not env.has_cuda():  # no GPU here to calibrate on
            continue
        per_image = step_seconds_per_image(spec)
        # validation every epoch, the test split at each of the group's epoch counts
        per_epoch = per_image * (n_train + EVAL_COST * n_val)
        test = per_image * EVAL_COST * (spec.test_size or TEST_PART) * len({c.spec.epochs for c in group})
        for cell in group:
            out[cell.run_id] = per_epoch * cell.spec.epochs + test
    return out
