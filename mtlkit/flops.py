"""FLOP and MAC counting, shared by AutoMTL and TreeMTL.

A thin wrapper around :class:`torch.utils.flop_counter.FlopCounterMode`, so every number in the kit follows one
convention: **FLOPs = 2 × MACs** (one multiply-accumulate is two floating-point operations), counted for the
operators torch's counter knows (convolutions, matrix products, attention). Batch-norm, activations, pooling and
element-wise additions are *not* counted, as in ``FlopCounterMode``; this is the usual convention of papers that
report "GFLOPs" of CNNs. Numbers scale with the batch size and the input resolution of the call.

Example::

    >>> import torch
    >>> from mtlkit.flops import count_flops, count_macs
    >>> conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    >>> count_flops(conv, torch.zeros(1, 3, 4, 4))   # 2 * 4*4 positions * 8 out * 3 in * 9 taps
    6912
    >>> count_macs(conv, torch.zeros(1, 3, 4, 4))
    3456
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops", "count_macs", "flops_by_module", "conv2d_flops"]


def count_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """Total FLOPs (= 2 × MACs) of one call ``fn(*args, **kwargs)``, forward only.

    Args:
        fn: any callable, typically an ``nn.Module``.
        *args: positional arguments of the call (e.g. the input batch).
        **kwargs: keyword arguments of the call.

    Returns:
        The FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode`` (an ``int``). The call runs under
        ``torch.no_grad()``, so no backward FLOPs are included and no graph is kept.
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def count_macs(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """Multiply-accumulates of one call: ``count_flops(...) // 2`` (see :func:`count_flops`)."""
    return count_flops(fn, *args, **kwargs) // 2


def flops_by_module(module: nn.Module, *args: Any, depth: int = 2, **kwargs: Any) -> dict[str, int]:
    """FLOPs of one forward call broken down by module, as ``FlopCounterMode`` attributes them.

    Args:
        module: the module to run.
        *args: positional arguments of ``module(...)``.
        depth: how deep in the module hierarchy to report (``FlopCounterMode``'s ``depth``).
        **kwargs: keyword arguments of ``module(...)``.

    Returns:
        ``{name: flops}`` where ``"Global"`` is the total and modules appear as ``ClassName.child.path`` (the
        names ``FlopCounterMode`` gives, e.g. ``"ResNet.layer1.0"``).
    """
    with torch.no_grad(), FlopCounterMode(depth=depth, display=False) as counter:
        module(*args, **kwargs)
    return {name: int(sum(ops.values())) for name, ops in counter.get_flop_counts().items()}


def conv2d_flops(conv: nn.Conv2d, out_shape: Sequence[int]) -> int:
    """Analytic FLOPs of ``conv`` producing an output of ``out_shape``, in ``FlopCounterMode``'s convention.

    ``2 × N·H_out·W_out × C_out × (C_in / groups) × k_h·k_w``; the bias is not counted (as in torch's counter).

    Args:
        conv: an ``nn.Conv2d``.
        out_shape: output shape ``(N, C_out, H_out, W_out)`` or ``(C_out, H_out, W_out)`` for one sample.

    Returns:
        The FLOPs as an ``int``.
    """
    shape = tuple(int(s) for s in out_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4:
        raise ValueError(f"out_shape must be (N, C, H, W) or (C, H, W), got {tuple(out_shape)}")
    n, c_out, h, w = shape
    if c_out != conv.out_channels:
        raise ValueError(f"out_shape has {c_out} channels but the conv produces {conv.out_channels}")
    c_in_per_group = conv.in_channels // conv.groups
    return 2 * n * h * w * c_out * c_in_per_group * math.prod(conv.kernel_size)
