"""The figure of a TreeMTL table's exact ranking: every layout's score against its cost, with the paper's picks."""
from __future__ import annotations

from typing import Iterable

import pandas as pd

__all__ = ["plot_ranking"]


def plot_ranking(ranking: pd.DataFrame, picks: pd.DataFrame, *, title: str, T: int,
                 budgets: Iterable[float] = (), ax=None):
    """Every layout's estimated score against its FLOPs(%), with the paper's picks and the recommender's top-1s.

    Args:
        ranking: the full :func:`mtlkit.treemtl.recommend` result (with cost columns).
        picks: :func:`pick_ranking` of the table.
        title: the axes title.
        T: number of tasks (places the budget lines: ``k`` backbones = ``100·(k/T − 1)`` %).
        budgets: budgets (in backbones) to draw as dashed vertical lines.
        ax: a matplotlib Axes to draw on (a new figure when None).

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(8.5, 5.2))
    else:
        fig = ax.figure
    n = len(ranking)
    ax.scatter(ranking.macs_pct, ranking.score, s=6 if n > 1000 else 22, c="0.72", lw=0,
               label=f"all {n:,} layouts (published two-task table)")
    for b in budgets:
        x = 100 * (b / T - 1)
        ax.axvline(x, color="0.45", ls="--", lw=0.8)
        ax.text(x, 1.0, f" ≤{b:g} model{'' if b == 1 else 's'}", transform=ax.get_xaxis_transform(), va="top", ha="left", fontsize=8, color="0.3")
    shown_pick = shown_top = False
    for i, r in enumerate(picks.itertuples(index=False)):
        if not pd.isna(r.paper_index):
            ax.scatter([r.flops_pct], [r.score], s=70, facecolors="none", edgecolors="tab:red", lw=1.6,
                       label=None if shown_pick else "the paper's pick (paper rank → our rank under its budget)",
                       zorder=3)
            shown_pick = True
            ax.annotate(f"#{r.paper_index}: {r.paper_rank} → {r.rank}", (r.flops_pct, r.score),
                        xytext=(8, 5 if i % 2 == 0 else -13), textcoords="offset points", fontsize=8,
                        color="tab:red")
        else:
            ax.axvline(float(r.paper_flops_pct), color="tab:red", ls=":", lw=1.2,
                       label=f"the paper's {r.method} cost ({r.paper_flops_pct} %): no layout has it")
        top = ranking[ranking.paper_index == r.top1_index].iloc[0]
        ax.scatter([top.macs_pct], [top.score], marker="*", s=130, c="tab:blue", zorder=4,
                   label=None if shown_top else "recommender's top-1 under the row's budget")
        shown_top = True
    ax.set_xlabel("FLOPs (%) relative to T independent backbones (backbone MACs)")
    ax.set_ylabel("estimated score $S = \\hat w^\\top \\hat{\\Delta t}$ (Eq. 2)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return fig
