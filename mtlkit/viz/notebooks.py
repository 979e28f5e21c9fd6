"""Plotting and helper functions of the course notebooks (kept here so notebook cells stay short).

matplotlib is imported inside the functions (``import mtlkit.viz.notebooks`` stays light).
"""
from __future__ import annotations

from typing import Sequence

__all__ = ["SHORT_TASK_NAMES", "short_task_names"]

#: three-letter labels of the five dense tasks, for crowded axes and tree drawings
SHORT_TASK_NAMES = {"segment_semantic": "seg", "normal": "nrm", "depth_zbuffer": "dep", "keypoints2d": "kpt",
                    "edge_texture": "edg", "edge_occlusion": "occ"}


def short_task_names(names: Sequence[str]) -> list[str]:
    """The short label of each task name (names without one are kept)."""
    return [SHORT_TASK_NAMES.get(n, n) for n in names]


# ------------------------------------------------------------------------------------ notebook 06: budgets, fronts
def plot_pareto_front(ax, full, front, title: str, picks: Sequence[int] = ()):
    """Estimated score against cost of every layout, with the Pareto front and some layouts ringed.

    Args:
        ax: the matplotlib Axes.
        full: a :func:`~mtlkit.treemtl.recommend` frame of every layout (``k=None``, with block costs).
        front: its :func:`~mtlkit.treemtl.pareto_front` on ``cost="backbones"``.
        title: the Axes title.
        picks: paper indices to ring in blue (e.g. the paper's Table 2 picks).
    """
    import numpy as np

    ax.scatter(full.backbones, full.score, s=5, color="0.7", label=f"all {len(full):,} layouts", rasterized=True)
    ax.step(front.backbones, front.score, where="post", color="C3", lw=1.5)
    ax.scatter(front.backbones, front.score, s=25, color="C3", zorder=3, label=f"Pareto front ({len(front)})")
    for k in range(1, full.attrs["T"] + 1):
        ax.axvline(k, color="0.5", ls=":", lw=0.8)
    previous = -np.inf
    for _, row in front.iterrows():                              # label front points that are not crowded
        if row.paper_index not in picks and row.backbones - previous > 0.15:
            ax.annotate(f"#{row.paper_index}", (row.backbones, row.score), xytext=(-4, 6), textcoords="offset points",
                        color="C3", fontsize=8, ha="right")
        previous = row.backbones
    for pick in picks:
        row = full[full.paper_index == pick].iloc[0]
        ax.scatter(row.backbones, row.score, s=70, facecolor="none", edgecolor="C0", lw=1.5, zorder=4)
        ax.annotate(f"#{pick}", (row.backbones, row.score), xytext=(4, -12), textcoords="offset points",
                    color="C0", fontsize=9)
    ax.set(xlabel="backbone cost in MACs (number of backbone models)", ylabel="estimated score S (%)", title=title)
    ax.legend(loc="lower right", fontsize=9)


def top1_by_budget(table, costs, budgets: Sequence[float], budget_on: str = "macs"):
    """The recommender's top-1 under each budget, one row per budget (paper index, layout, score, costs)."""
    import pandas as pd

    from mtlkit.treemtl import recommend

    rows = []
    for b in budgets:
        top = recommend(table, costs, budget=b, k=1, budget_on=budget_on).iloc[0]
        rows.append(dict(budget=b, top1=f"#{top.paper_index}", layout=str(top.layout), score=top.score,
                         backbones=top.backbones, flops_pct=top.macs_pct, params_pct=top.params_pct))
    return pd.DataFrame(rows).set_index("budget")


def synthetic_family_table(T: int, B: int, rng):
    """A SYNTHETIC two-task table with hidden task families (for searches beyond enumeration, notebook 06).

    Each task gets one of three hidden families; a task's two-task result drifts by +0.3 points per shared block
    with a task of its family and by -0.2 with the others, plus Gaussian noise (sigma 1) at every block; row b = 0
    stays 0, as in the published tables.

    Returns:
        ``(table, family)``: the :class:`~mtlkit.treemtl.TwoTaskTable` (tasks ``s0, s1, ...``) and the families.
    """
    import numpy as np

    from mtlkit.treemtl import TwoTaskTable

    family = rng.integers(0, 3, size=T)
    v = np.zeros((T, T, B + 1))
    for t in range(T):
        for u in range(T):
            if t != u:
                drift = 0.3 if family[t] == family[u] else -0.2
                v[t, u, 1:] = np.cumsum(drift + rng.normal(0.0, 1.0, B))
    return TwoTaskTable(v, [f"s{t}" for t in range(T)], source="SYNTHETIC (random, seeded)"), family
