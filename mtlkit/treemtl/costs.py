"""Cost of a layout from per-block costs, and the paper's budget in "number of backbone models" (docs/treemtl.md §4).

A layout keeps ``|L_c|`` copies of block ``c`` (one per task group), so its backbone cost is
``sum_c |L_c| * f_c`` for any additive per-block cost ``f`` (MACs, parameters); heads add a layout-independent
constant and are left out, as in the paper's FLOPs(%)/#Params(%) columns:
``pct = 100 * (cost / (T * one_backbone) - 1)`` (relative to T independent backbones).

Units: **MACs** (multiply-accumulates, what ptflops reports as "GMac" and the TreeMTL paper calls FLOPs) and
**FLOPs = 2 × MACs** (what ``torch.utils.flop_counter`` counts). Column names always say which.

:data:`PUBLISHED_BLOCK_COSTS` holds the authors' measured costs (docs/treemtl.md §4) of the five coarse blocks of Deeplab-ResNet34 and
MobileNetV2 (docs/treemtl.md §4, ptflops 0.6.6 on the authors' models) so the recommender works without building
torch models; the branching-point detector supplies costs for any other backbone as a :class:`BlockCosts`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mtlkit.errors import ConfigError, unknown_name
from mtlkit.treemtl.layout import Layout

#: Relative tolerance of the (inclusive) budget test ``cost <= budget * one_backbone``.
BUDGET_RTOL = 1e-9


@dataclass(frozen=True)
class BlockCosts:
    """Cost of one copy of each block of a backbone, block 0 (next to the input) first.

    Args:
        macs: multiply-accumulates per block for one input image (FLOPs = 2 × MACs).
        params: parameters per block (None if unknown).
        name: label, e.g. ``"resnet34@224"``.
        input_size: input side length the MACs were measured at (None if not applicable).
        source: where the numbers come from.
    """

    macs: tuple[float, ...]
    params: tuple[float, ...] | None = None
    name: str = "custom"
    input_size: int | None = None
    source: str = ""

    def __post_init__(self) -> None:
        macs = _costs("macs", self.macs)
        object.__setattr__(self, "macs", macs)
        if self.params is not None:
            params = _costs("params", self.params)
            if len(params) != len(macs):
                raise ConfigError(f"BlockCosts: params has {len(params)} blocks but macs has {len(macs)}")
            object.__setattr__(self, "params", params)

    @property
    def B(self) -> int:
        """Number of blocks."""
        return len(self.macs)

    @property
    def flops(self) -> tuple[float, ...]:
        """FLOPs per block (2 × MACs)."""
        return tuple(2 * m for m in self.macs)

    def per_block(self, measure: str) -> tuple[float, ...]:
        """Per-block costs of ``measure`` in ``{"macs", "flops", "params"}``."""
        if measure == "macs":
            return self.macs
        if measure == "flops":
            return self.flops
        if measure == "params":
            if self.params is None:
                raise ConfigError(f"block costs {self.name!r} have no parameter counts; budget_on='params' needs them")
            return self.params
        raise unknown_name("cost measure", measure, ["macs", "flops", "params"])


def _costs(what: str, values: Sequence[float]) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(f"BlockCosts: {what} must be a sequence of numbers, got {values!r}") from None
    if not out:
        raise ConfigError(f"BlockCosts: {what} must have one entry per block (B >= 1), got none")
    if any(not math.isfinite(v) or v < 0 for v in out):
        raise ConfigError(f"BlockCosts: {what} must be finite and >= 0, got {list(out)}")
    if sum(out) <= 0:
        raise ConfigError(f"BlockCosts: {what} sum to 0; at least one block must cost something")
    return tuple(int(v) if v.is_integer() else v for v in out)


_SPEC = "docs/treemtl.md §4 (ptflops 0.6.6 on the authors' models)"
_RESNET34_PARAMS = (9_536, 221_952, 1_116_416, 6_822_400, 13_114_368)
_MOBILENETV2_PARAMS = (15_792, 223_568, 303_168, 1_269_184, 412_160)

#: Published per-coarse-block costs (B = 5) of the paper's backbones, keyed ``"<backbone>@<input size>"``.
PUBLISHED_BLOCK_COSTS: dict[str, BlockCosts] = {
    "resnet34@224": BlockCosts((121_225_216, 722_369_664, 939_767_040, 5_740_221_952, 11_031_767_040),
                               _RESNET34_PARAMS, "resnet34@224", 224, _SPEC),
    "resnet34@321": BlockCosts((250_500_544, 1_458_746_496, 1_878_416_640, 11_473_618_432, 22_050_416_640),
                               _RESNET34_PARAMS, "resnet34@321", 321, _SPEC),
    "mobilenetv2@224": BlockCosts((86_152_192, 81_611_264, 60_023_040, 70_911_232, 20_258_560),
                                  _MOBILENETV2_PARAMS, "mobilenetv2@224", 224, _SPEC),
    "mobilenetv2@321": BlockCosts((179_044_816, 178_083_312, 135_051_840, 172_655_296, 50_026_240),
                                  _MOBILENETV2_PARAMS, "mobilenetv2@321", 321, _SPEC),
}


def list_block_costs() -> list[str]:
    """Names of the registered block costs."""
    return sorted(PUBLISHED_BLOCK_COSTS)


def get_block_costs(name: str, input_size: int | None = None) -> BlockCosts:
    """Registered block costs by name.

    Args:
        name: ``"resnet34"``, ``"mobilenetv2"`` or a full key such as ``"resnet34@321"``.
        input_size: 224 (the paper's Taskonomy input, default) or 321 (NYUv2) when ``name`` has no ``@``.

    Returns:
        The :class:`BlockCosts` (5 coarse blocks).
    """
    key = name.lower()
    if "@" not in key:
        key = f"{key}@{224 if input_size is None else int(input_size)}"
    elif input_size is not None and not key.endswith(f"@{int(input_size)}"):
        raise ConfigError(f"get_block_costs: name {name!r} already fixes the input size; got input_size={input_size}")
    if key not in PUBLISHED_BLOCK_COSTS:
        raise ConfigError(f"unknown block costs {key!r}; valid block-cost names are: "
                          f"{', '.join(sorted(PUBLISHED_BLOCK_COSTS))}")
    return PUBLISHED_BLOCK_COSTS[key]


def as_block_costs(costs: "BlockCosts | str | Sequence[float]", B: int | None = None) -> BlockCosts:
    """Coerce a registry name, a :class:`BlockCosts` or a plain list (taken as per-block MACs) to BlockCosts.

    Args:
        costs: the block costs.
        B: expected number of blocks (checked if given).
    """
    if isinstance(costs, BlockCosts):
        out = costs
    elif isinstance(costs, str):
        out = get_block_costs(costs)
    else:
        out = BlockCosts(tuple(costs))
    if B is not None and out.B != B:
        raise ConfigError(f"block_costs {out.name!r} has {out.B} blocks but the two-task table has B={B} "
                          "branching points; give one cost per block")
    return out


# ----------------------------------------------------------------------------------------------- layout costs
def _suffix(f: Sequence[float]) -> np.ndarray:
    """``suf[d] = sum_{c >= d} f_c`` for d = 0..B."""
    return np.concatenate([np.cumsum(np.asarray(f, dtype=np.float64)[::-1])[::-1], [0.0]])


def layout_cost_matrix(bp: np.ndarray, T: int, per_block: Sequence[float]) -> np.ndarray:
    """Backbone cost ``sum_c |L_c| f_c`` of every row of a branch-point matrix.

    Task ``t`` is the smallest task of its group at block ``c`` iff every smaller task separated from it at or
    before ``c``, i.e. ``m_t = max_{u<t} b_ut <= c``; so ``|L_c| = #{t : m_t <= c}`` and the cost is
    ``sum_t suf[m_t]`` (``m_0 = 0``).

    Args:
        bp: ``(N, T(T-1)/2)`` branching points.
        T: number of tasks.
        per_block: ``B`` per-block costs.

    Returns:
        ``(N,)`` float array.
    """
    bp = np.asarray(bp, dtype=np.int64)
    suf = _suffix(per_block)
    m = np.zeros((bp.shape[0], T), dtype=np.int64)
    p = 0
    for a in range(T):
        for b in range(a + 1, T):
            np.maximum(m[:, b], bp[:, p], out=m[:, b])
            p += 1
    return suf[m].sum(axis=1)


def layout_costs(layout: Layout, costs: "BlockCosts | str | Sequence[float]") -> dict[str, float]:
    """Backbone cost of one layout.

    Returns:
        ``macs``, ``flops`` (= 2 × macs), ``params`` (NaN if unknown), ``macs_pct`` / ``params_pct`` (the paper's
        FLOPs(%) / #Params(%) columns: relative to T independent backbones, in %) and ``backbones`` (MACs in units of
        one backbone).
    """
    c = as_block_costs(costs, layout.B)
    n = np.asarray(layout.num_groups, dtype=np.float64)
    T = layout.T
    macs = float(n @ np.asarray(c.macs, dtype=np.float64))
    one = float(sum(c.macs))
    out = {"macs": macs, "flops": 2 * macs, "macs_pct": 100 * (macs / (T * one) - 1), "backbones": macs / one}
    if c.params is not None:
        params = float(n @ np.asarray(c.params, dtype=np.float64))
        out.update(params=params, params_pct=100 * (params / (T * sum(c.params)) - 1))
    else:
        out.update(params=math.nan, params_pct=math.nan)
    return out


def check_budget(budget: float | None, T: int, costs: BlockCosts, budget_on: str = "macs") -> float | None:
    """Validate a budget in number of backbones and return it as an absolute cost (None = no budget).

    The cheapest layout shares every block between all tasks and costs exactly one backbone; a budget below that
    is refused with the cheapest cost in the message. The comparison is inclusive: a layout costing exactly
    ``budget`` backbones is feasible (TreeMTL #817, five blocks × 2 copies, sits exactly on the 2-model budget).
    """
    if budget is None:
        return None
    try:
        budget = float(budget)
    except (TypeError, ValueError):
        raise ConfigError(f"budget must be a number of backbone models, got {budget!r}") from None
    one = float(sum(costs.per_block(budget_on)))
    if not math.isfinite(budget):
        raise ConfigError(f"budget: expected a finite number of backbone models >= 1, got {budget}")
    if budget < 1 - BUDGET_RTOL:
        raise ConfigError(
            f"budget={budget} backbones is below the cheapest layout: all {T} tasks sharing every block costs "
            f"1 backbone = {one:,.0f} {budget_on}; give budget >= 1 (T independent models cost {T})")
    return budget * one * (1 + BUDGET_RTOL)
