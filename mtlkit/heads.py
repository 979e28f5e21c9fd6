"""Task heads ``(B, C, h, w) -> (B, out_channels, h, w)``, built by name. Heads never upsample.

Registered heads (``list_heads()``):

* ``aspp`` — the DeepLab ASPP head of AutoMTL (docs/automtl.md §1.5): the **sum** of 4 branches with rates 6/12/18/24, each
  ``Conv3×3(C→width, dilation=padding=rate, bias) → ReLU → Dropout(0.5) → Conv1×1(width→width) → ReLU →
  Dropout(0.5) → Conv1×1(width→K)``. ``width=1024`` (the papers) gives 23,080,964 parameters for C=512, K=1.
* ``light`` — a small head for CPU scale: ``Conv3×3(C→width, no bias) → BN → ReLU → Conv1×1(width→K)``;
  ``width`` defaults to ``min(C, 256)``.
* ``linear`` — one ``Conv1×1(C→K)`` (a per-pixel linear probe).
* ``fc`` — one ``Linear(C→K)`` for **vector features**: a backbone that ends in global pooling returns ``(B, C)``
  (e.g. a torchvision classifier without its last layer, :func:`mtlkit.backbones.classifier_trunk`), and an
  image-level task (classification, multi-label) predicts ``(B, K)``.
* ``pool_fc`` — global average pooling, then ``Linear(C→K)``: an image-level task ``(B, K)`` on a **spatial**
  backbone, beside dense tasks.

Every head has ``in_channels`` and ``out_channels`` attributes; :func:`head_in_channels` reads them (or the first
conv/linear layer of an arbitrary module). :func:`head_feature_kind` tells whether a head takes spatial maps or
vectors, and :func:`check_head_fits` refuses a head that does not fit the backbone's features (a Linear head on a
``(B, C, h, w)`` backbone, a conv head on a ``(B, C)`` one, wrong channels) with a message naming the task.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from mtlkit.errors import ConfigError, unknown_name

__all__ = ["ASPPHead", "LightHead", "VectorHead", "PooledVectorHead", "register_head", "get_head", "list_heads", "head_in_channels",
           "head_feature_kind", "check_head_fits"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_head(name: str):
    """Decorator registering ``builder(in_channels, out_channels, **kw) -> nn.Module`` under ``name``."""

    def deco(builder):
        if name in _REGISTRY:
            raise ConfigError(f"head name {name!r} is already registered")
        _REGISTRY[name] = builder
        return builder

    return deco


def list_heads() -> list[str]:
    """Names of the registered heads, sorted."""
    return sorted(_REGISTRY)


def get_head(name: str, in_channels: int, out_channels: int, **kw) -> nn.Module:
    """Build a registered head.

    Args:
        name: a name from :func:`list_heads`.
        in_channels: feature channels ``C`` of the backbone.
        out_channels: prediction channels ``K`` (``task.out_channels``).
        **kw: head options (``width``, ``rates``, ``dropout`` for ``aspp``; ``width`` for ``light``).

    Returns:
        The head module (with ``in_channels``/``out_channels`` attributes).

    Raises:
        ConfigError: unknown name, non-positive channels or a bad option.
    """
    if name not in _REGISTRY:
        raise unknown_name("head", name, _REGISTRY)
    for arg, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"get_head({name!r}): {arg} must be a positive int, got {value!r}")
    try:
        return _REGISTRY[name](in_channels, out_channels, **kw)
    except TypeError as exc:
        raise ConfigError(f"bad option for head {name!r}: {exc}") from None


def head_in_channels(head: nn.Module) -> int | None:
    """Input channels a head expects: its ``in_channels`` attribute, else its first ``nn.Conv2d``.

    Args:
        head: the head module.

    Returns:
        The channel count, or ``None`` if neither is found (:func:`check_head_fits` also reads ``nn.Linear``).
    """
    c = getattr(head, "in_channels", None)
    if isinstance(c, int):
        return c
    for m in head.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return None


def _first_in_features(head: nn.Module) -> int | None:
    """Input channels of the first conv / linear / BN layer (``None`` if there is none or it is lazy)."""
    first = _first_layer(head)
    weight = getattr(first, "weight", None)
    if first is None or isinstance(weight, nn.parameter.UninitializedParameter):
        return None
    if isinstance(first, nn.Conv2d):
        return first.in_channels
    if isinstance(first, nn.Linear):
        return first.in_features
    return first.num_features


_SPATIAL = (nn.Conv2d, nn.BatchNorm2d)
_VECTOR = (nn.Linear, nn.BatchNorm1d)
_REDUCE = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten)  # map -> vector before the first layer


def _first_layer(head: nn.Module) -> nn.Module | None:
    return next((m for m in head.modules() if isinstance(m, _SPATIAL + _VECTOR)), None)


def _reduces_first(head: nn.Module) -> bool:
    """True if a global pooling / flatten comes before the first conv/linear layer (a pooled head takes maps)."""
    for m in head.modules():
        if isinstance(m, _REDUCE):
            return True
        if isinstance(m, _SPATIAL + _VECTOR):
            return False
    return False


def head_feature_kind(head: nn.Module) -> str | None:
    """What features a head takes, from its first conv/linear/BN layer.

    Args:
        head: the head module.

    Returns:
        ``"spatial"`` (first layer ``Conv2d``/``BatchNorm2d``, or a global pooling/``Flatten`` before the first
        ``Linear``: ``(B, C, h, w)`` maps), ``"vector"`` (``Linear``/``BatchNorm1d``: ``(B, C)`` vectors) or ``None``
        (none of them: unknown).
    """
    first = _first_layer(head)
    if first is None:
        return None
    if _reduces_first(head):
        return "spatial"
    return "spatial" if isinstance(first, _SPATIAL) else "vector"


def check_head_fits(task: str, head: nn.Module, feature_shape: Sequence[int]) -> None:
    """Refuse a head that cannot take the backbone's features.

    Args:
        task: the task name (for the message).
        head: the head module.
        feature_shape: the backbone's output for one sample: ``(C, h, w)`` (spatial) or ``(C,)`` (vector).

    Raises:
        ConfigError: a vector (Linear) head on spatial features, a spatial (conv) head on vector features, or a
            channel mismatch; the message names the task, what the head expects and what the backbone gives.
    """
    shape = tuple(int(s) for s in feature_shape)
    if len(shape) not in (1, 3):
        raise ConfigError(f"feature_shape must be (C, h, w) or (C,) for one sample, got {shape}")
    kind = head_feature_kind(head)
    given = "spatial" if len(shape) == 3 else "vector"
    first = _first_layer(head)
    if first is not None:
        base = next(c.__name__ for c in type(first).__mro__ if c in _SPATIAL + _VECTOR)
        first = f"an nn.{base} ({first})"
    if kind == "vector" and given == "spatial":
        raise ConfigError(
            f"the head of task {task!r} starts with {first} and takes (B, C) vectors, but the backbone returns "
            f"spatial features (C, h, w) = {shape}; use a spatial head (get_head('light'|'linear'|'aspp', ...)) or "
            f"a backbone that ends in global pooling (mtlkit.backbones.classifier_trunk)")
    if kind == "spatial" and given == "vector":
        raise ConfigError(
            f"the head of task {task!r} starts with {first} and takes (B, C, h, w) maps, but the backbone returns "
            f"(B, C) vectors with C = {shape[0]}; use a vector head such as get_head('fc', {shape[0]}, K)")
    expected = _first_in_features(head)
    if expected is not None and expected != shape[0]:
        raise ConfigError(
            f"the head of task {task!r} expects {expected} input channels (its first layer is {first}), but the "
            f"backbone's features have {shape[0]} channels (shape {shape})")


def _positive(name: str, arg: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} head: {arg} must be a positive int, got {value!r}")


class ASPPHead(nn.Module):
    """DeepLab ASPP head (AutoMTL ``ASPPHeadNode``): the sum of one branch per dilation rate.

    Args:
        in_channels: feature channels ``C``.
        out_channels: prediction channels ``K``.
        width: hidden channels of each branch (1024 in the papers).
        rates: dilation rates, one branch each.
        dropout: dropout probability after each hidden ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 1024,
                 rates: Sequence[int] = (6, 12, 18, 24), dropout: float = 0.5):
        super().__init__()
        _positive("aspp", "width", width)
        rates = tuple(rates)
        if not rates or any(not isinstance(r, int) or r < 1 for r in rates):
            raise ConfigError(f"aspp head: rates must be a non-empty sequence of positive ints, got {rates!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"aspp head: dropout must be in [0, 1), got {dropout!r}")
        self.in_channels, self.out_channels, self.rates = in_channels, out_channels, rates
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels, width, 3, padding=r, dilation=r, bias=True),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Conv2d(width, width, 1),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Conv2d(width, out_channels, 1),
            )
            for r in rates
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branches[0](x)  # (B, K, h, w)
        for branch in self.branches[1:]:
            out = out + branch(x)
        return out


class LightHead(nn.Module):
    """``Conv3×3(C→width, no bias) → BN → ReLU → Conv1×1(width→K)``: a cheap head for CPU-scale studies.

    Args:
        in_channels: feature channels ``C``.
        out_channels: prediction channels ``K``.
        width: hidden channels; ``None`` means ``min(in_channels, 256)``.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int | None = None):
        super().__init__()
        width = min(in_channels, 256) if width is None else width
        _positive("light", "width", width)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.out = nn.Conv2d(width, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.relu(self.bn(self.conv(x))))  # (B, K, h, w)


class LinearHead(nn.Conv2d):
    """A single ``Conv1×1(C→K)`` with bias."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, 1)


class VectorHead(nn.Linear):
    """A single ``Linear(C→K)`` with bias, for ``(B, C)`` vector features (an image-level prediction ``(B, K)``)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels


class PooledVectorHead(nn.Module):
    """Global average pooling, then ``Linear(C→K)``: ``(B, C, h, w) -> (B, K)``, an image-level task on maps."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(x)))  # (B, K)


register_head("aspp")(ASPPHead)
register_head("light")(LightHead)
register_head("linear")(LinearHead)
register_head("fc")(VectorHead)
register_head("pool_fc")(PooledVectorHead)
