"""Numerical precision of a cell: which autocast dtype runs (fp32, bf16 or fp16) and the loss
scaler fp16 needs."""

from __future__ import annotations

import torch

from bench.spec import RunSpec


def amp_dtype(spec: RunSpec) -> torch.dtype | None:
    """The autocast dtype, None for fp32: bf16 on the CPU and on GPUs that run it natively (not
    emulated, e.g. not on a T4 or V100), else fp16, which needs a GradScaler."""
    if not spec.amp:
        return None
    if spec.device == "cpu" or torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16
    return torch.float16


def dtype_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def grad_scaler(spec: RunSpec) -> torch.amp.GradScaler:
    """Loss scaling, on only for fp16 (bf16 and fp32 keep fp32's exponent range)."""
    return torch.amp.GradScaler(enabled=amp_dtype(spec) == torch.float16)


def autocast(spec: RunSpec):
    dtype = amp_dtype(spec)
    return torch.autocast(spec.device, dtype=dtype, enabled=dtype is not None)
