"""Synthetic many-task two-task tables, for tests and benchmarks of the recommender (beyond the paper).

Real two-task tables stop at T = 5 (the authors' Taskonomy); the search is meant for dozens of tasks. These tables
have the published shape (``values[t, u, b]`` = task ``t``'s relative performance with partner ``u`` when the pair
shares the first ``b`` blocks, row ``b = 0`` = the independent models, hence 0) and one of three characters:

* ``"random"`` — every pair has its own linear trend over the branching points (sharing helps or hurts, drawn from
  a normal law) plus independent noise per point: no structure to find, the hardest case for bounds;
* ``"groups"`` — planted groups: pairs inside a group gain from sharing (positive trend), pairs across groups lose
  (negative trend), plus noise; the best unbudgeted layout is close to "each group shares everything";
* ``"ties"`` — small integers (-2..2): many layouts with exactly the same score (tie-breaking tests).
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from mtlkit.errors import ConfigError
from mtlkit.treemtl.estimator import TwoTaskTable
from mtlkit.treemtl.layout import _check_tb

#: ResNet-34's coarse block MACs at 224 px (the registered ``resnet34`` costs) spread evenly over its 17 fine blocks
#: (stem, then 3/4/6/3 BasicBlocks): the B = 17 costs of the search benchmarks.
_FINE_SPLIT = (1, 3, 4, 6, 3)


def fine_resnet34_macs() -> np.ndarray:
    """Per-block MACs of ResNet-34's 17 fine blocks (the coarse costs divided evenly within each stage)."""
    from mtlkit.treemtl.costs import get_block_costs

    coarse = np.asarray(get_block_costs("resnet34").macs, dtype=np.float64)
    return np.repeat(coarse / _FINE_SPLIT, _FINE_SPLIT)


def synthetic_table(T: int, B: int, kind: Literal["random", "groups", "ties"] = "random", *, seed: int = 0,
                    groups: "int | Sequence[int] | None" = None, noise: float = 3.0, trend: float = 4.0,
                    task_names: Sequence[str] | None = None) -> TwoTaskTable:
    """A random two-task table with ``T`` tasks and branching points ``0..B``.

    Args:
        T: number of tasks (2..40 is what the recommender accepts).
        B: number of blocks (branching points ``0..B``).
        kind: ``"random"``, ``"groups"`` (planted groups) or ``"ties"`` (integers in -2..2); see the module doc.
        seed: seed of ``numpy.random.default_rng``; the same arguments give the same table.
        groups: for ``kind="groups"``: a number of groups (tasks assigned round-robin: task ``t`` in group
            ``t mod groups``; default ``min(3, T)``) or one group label per task.
        noise: standard deviation of the per-point noise (``"random"``, ``"groups"``).
        trend: scale of the trend from ``b = 0`` to ``b = B``.
        task_names: optional names (default ``task0, task1, ...``).

    Returns:
        The table (``source`` records the arguments).

    Raises:
        ConfigError: bad ``T``, ``B``, ``kind``, ``groups``, or a negative ``noise``.
    """
    T, B = _check_tb(T, B)
    if kind not in ("random", "groups", "ties"):
        raise ConfigError(f"synthetic_table: kind must be 'random', 'groups' or 'ties', got {kind!r}")
    if not noise >= 0:
        raise ConfigError(f"synthetic_table: noise must be >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 1.0, B + 1)
    if kind == "ties":
        v = rng.integers(-2, 3, size=(T, T, B + 1)).astype(np.float64)
    elif kind == "random":
        v = rng.normal(size=(T, T, B + 1)) * noise + rng.normal(size=(T, T, 1)) * trend * ramp
    else:
        label = _labels(min(3, T) if groups is None else groups, T)
        same = label[:, None] == label[None, :]
        slope = np.where(same, 1.0, -1.0)[:, :, None] * np.abs(rng.normal(1.0, 0.5, size=(T, T, 1)))
        v = rng.normal(size=(T, T, B + 1)) * noise + slope * trend * ramp
    v[:, :, 0] = 0.0
    v[np.arange(T), np.arange(T)] = 0.0
    extra = f", groups={groups}" if kind == "groups" and groups is not None else ""
    return TwoTaskTable(v, tuple(task_names) if task_names is not None else (),
                        source=f"synthetic_table(T={T}, B={B}, kind={kind!r}, seed={seed}{extra})")


def _labels(groups: "int | Sequence[int]", T: int) -> np.ndarray:
    if isinstance(groups, (int, np.integer)) and not isinstance(groups, bool):
        if not 1 <= groups <= T:
            raise ConfigError(f"synthetic_table: groups must be in 1..T={T}, got {groups}")
        return np.arange(T) % int(groups)
    label = np.asarray(groups)
    if label.shape != (T,):
        raise ConfigError(f"synthetic_table: groups must be a number or {T} labels, got {groups!r}")
    return label
