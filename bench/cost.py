"""Parameters and multiply-accumulates (MACs) per model at the real input size, via ptflops.

We store MACs and label them MACs; FLOPs = 2 x MACs for the forward pass and ~6 x MACs per
trained image (forward + backward). ptflops is imported only here and only when MACs are counted:
on a Python without it (a borrowed GPU machine's stock torch) training still runs and its rows
leave `macs` empty; the report takes a model's MACs from any row that has them (they depend on the
model and the input size only). `make gpu-carry` carries the pure-Python wheel there, so the rows
have them after all."""

from __future__ import annotations

import functools
import io

import torch

from bench import models

PTFLOPS_BACKEND = "pytorch"  # pinned: module hooks, counts conv/linear/bn/pool layers
TRAIN_FLOPS_PER_MAC = 6


def ptflops_available() -> bool:
    try:
        import ptflops  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def model_cost(name: str, stem: str = "standard") -> tuple[int | None, int]:
    """(MACs per image forward pass, None without ptflops; trainable parameters) at 1x28x28."""
    model = models.build(name, stem).eval()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if not ptflops_available():
        return None, params
    from ptflops import get_model_complexity_info

    with torch.no_grad():
        macs, counted = get_model_complexity_info(
            model, models.INPUT_SHAPE, as_strings=False, print_per_layer_stat=False,
            backend=PTFLOPS_BACKEND, ost=io.StringIO(), verbose=False,
        )
    assert int(counted) == params, (counted, params)  # ptflops counts the trainable parameters too
    return int(macs), params


def achieved_flops(macs: int | None, images: int, seconds: float) -> float | None:
    """Training FLOP/s: 6 x MACs per trained image (None without MACs)."""
    return None if macs is None else TRAIN_FLOPS_PER_MAC * macs * images / seconds
