"""Parameters and multiply-accumulates (MACs) per model at the real input size, via ptflops.

We store MACs and label them MACs; FLOPs = 2 x MACs for the forward pass and ~6 x MACs per
trained image (forward + backward)."""

from __future__ import annotations

import functools
import io

import torch
from ptflops import get_model_complexity_info

from bench import models

PTFLOPS_BACKEND = "pytorch"  # pinned: module hooks, counts conv/linear/bn/pool layers
TRAIN_FLOPS_PER_MAC = 6


@functools.cache
def model_cost(name: str, stem: str = "standard") -> tuple[int, int]:
    """(MACs per image forward pass, trainable parameters) at 1x28x28."""
    model = models.build(name, stem).eval()
    with torch.no_grad():
        macs, params = get_model_complexity_info(
            model, models.INPUT_SHAPE, as_strings=False, print_per_layer_stat=False,
            backend=PTFLOPS_BACKEND, ost=io.StringIO(), verbose=False,
        )
    return int(macs), int(params)
