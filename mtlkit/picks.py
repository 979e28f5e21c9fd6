"""TreeMTL's picks next to the exact rankings of the authors' published two-task tables (torch-free).

:data:`TREEMTL_PICKS` names the layouts the paper's Tables 1, 2, 4, 5 and 6 report (by index, or by their printed
cost where the paper gives none) and :func:`pick_ranking` places each of them in the exact ranking that
:func:`mtlkit.treemtl.recommend` computes from the authors' published two-task tables, under the row's budget, with
the recommender's own top-1 next to it. :data:`TREEMTL_TABLES` says which published table and block costs each
TreeMTL table uses.
"""
from __future__ import annotations

import re
import numpy as np
import pandas as pd

from mtlkit.errors import ConfigError, unknown_name
from mtlkit.paper import paper_values
from mtlkit.tables import TABLES, PaperPick, TreeMTLSetup

__all__ = ["TreeMTLSetup", "PaperPick", "TREEMTL_TABLES", "TREEMTL_PICKS", "RECOMMENDER_TOP1", "budget_of",
           "treemtl_costs", "identify_by_cost", "pick_ranking", "ranking_records"]


#: Table -> which published two-task table and block costs it uses (from :data:`mtlkit.tables.TABLES`).
TREEMTL_TABLES = {name: t.published for name, t in TABLES.items() if t.published is not None}
#: The paper's picks, row by row (from :data:`mtlkit.tables.TABLES`).
TREEMTL_PICKS: dict[str, tuple[PaperPick, ...]] = {name: t.picks for name, t in TABLES.items() if t.picks}


def budget_of(setting: str) -> float | None:
    """The budget (number of backbone models) of a TreeMTL setting: ``"no budget"`` -> None, ``"3 models"`` -> 3."""
    if setting == "no budget":
        return None
    m = re.fullmatch(r"(\d+) models?", setting)
    if not m:
        raise ConfigError(f"setting must be 'no budget' or '<k> model(s)', got {setting!r}")
    return float(m.group(1))


def _setup(table: str) -> TreeMTLSetup:
    if table not in TREEMTL_TABLES:
        raise unknown_name("TreeMTL table", table, TREEMTL_TABLES)
    return TREEMTL_TABLES[table]


def treemtl_costs(table: str):
    """``(published two-task table, block costs)`` of a TreeMTL table (the paper's input size)."""
    from mtlkit.treemtl import get_block_costs, published_table

    s = _setup(table)
    return published_table(s.dataset, s.backbone), get_block_costs(s.backbone, s.input_size)


def _paper_cell(values: pd.DataFrame, pick: PaperPick, metric: str) -> str:
    hit = values[(values.setting == pick.setting) & (values.method == pick.method) & (values.task == "all")
                 & (values.metric == metric)]
    if len(hit) != 1:
        raise ConfigError(f"paper_values/{pick.table}.csv must hold exactly one {metric} cell for "
                          f"({pick.setting!r}, {pick.method!r}), found {len(hit)}")
    return hit.value.iloc[0]


def identify_by_cost(ranking: pd.DataFrame, flops_pct: str, params_pct: str, tolerance: float = 0.01) -> list[int]:
    """Paper indices of the layouts whose exact FLOPs(%) and #Params(%) match the printed ones.

    A printed cost matches when it is within ``tolerance`` of the exact value: half a unit of the last printed digit
    for the rounding, plus half a unit for the paper's habit of printing a few cells one unit off (see
    ``known_errors.csv``).

    Args:
        ranking: a full :func:`mtlkit.treemtl.recommend` result with cost columns.
        flops_pct, params_pct: the printed values.
        tolerance: maximum absolute difference (percentage points).
    """
    f, p = float(flops_pct), float(params_pct)
    hit = ranking[((ranking.macs_pct - f).abs() <= tolerance) & ((ranking.params_pct - p).abs() <= tolerance)]
    return [int(i) for i in hit.paper_index]


def pick_ranking(table: str) -> pd.DataFrame:
    """The paper's picks of a TreeMTL table in the exact ranking of the published two-task table.

    For every :data:`TREEMTL_PICKS` row: the layout (identified by cost where the paper prints no index), its rank
    under the row's budget and without budget, its score, the paper's and the exact FLOPs(%) / #Params(%), and the
    recommender's top-1 under the same budget. Costs are backbone-only relative to T independent backbones, on
    MACs (the paper's "FLOPs"), at the paper's input size.

    Args:
        table: ``"treemtl_table1"``, ``"treemtl_table2"``, ``"treemtl_table4"``, ``"treemtl_table5"`` or
            ``"treemtl_table6"``.

    Returns:
        One row per pick with columns ``setting, budget, method, identified_by, paper_index, layout, paper_rank,
        rank, rank_overall, score, paper_flops_pct, paper_params_pct, flops_pct, params_pct, cost_matches,
        closest_index, top1_index, top1_layout, top1_score, top1_flops_pct, top1_params_pct``. A pick that no
        layout's cost matches has <NA> index and ranks, and the closest-cost layout in ``closest_index``.
    """
    from mtlkit.treemtl import recommend

    two_task, costs = treemtl_costs(table)
    values = paper_values(table)
    full = recommend(two_task, costs, k=None)
    by_index = full.reset_index().set_index("paper_index")
    rows = []
    for pick in TREEMTL_PICKS[table]:
        budget = budget_of(pick.setting)
        sub = full if budget is None else recommend(two_task, costs, budget=budget, k=None)
        rank_in_sub = pd.Series(sub.index.to_numpy(), index=sub.paper_index.to_numpy())
        paper_flops, paper_params = _paper_cell(values, pick, "flops_pct"), _paper_cell(values, pick, "params_pct")
        row = dict(setting=pick.setting, budget=budget, method=pick.method, paper_rank=int(_paper_cell(values, pick,
                   "rank")), paper_flops_pct=paper_flops, paper_params_pct=paper_params, cost_matches=pd.NA,
                   closest_index=pd.NA)
        index = pick.paper_index
        if index is None:
            matches = identify_by_cost(full, paper_flops, paper_params)
            row["cost_matches"] = len(matches)
            dist = np.maximum((full.macs_pct - float(paper_flops)).abs(), (full.params_pct - float(paper_params)).abs())
            row["closest_index"] = int(full.paper_index.iloc[int(np.argmin(dist.to_numpy()))])
            if matches:  # several layouts may share a cost: take the one the recommender ranks best
                index = min(matches, key=lambda i: rank_in_sub.get(i, np.inf))
                row["identified_by"] = f"cost ({len(matches)} layout{'s' if len(matches) > 1 else ''} with it)"
            else:
                row["identified_by"] = "no layout has the printed cost"
        else:
            row["identified_by"] = "index"
        if index is not None:
            ours = by_index.loc[index]
            row.update(paper_index=int(index), layout=str(ours.layout), rank=int(rank_in_sub[index]),
                       rank_overall=int(ours["rank"]), score=float(ours.score), flops_pct=float(ours.macs_pct),
                       params_pct=float(ours.params_pct))
        else:
            row.update(paper_index=pd.NA, layout="", rank=pd.NA, rank_overall=pd.NA, score=np.nan,
                       flops_pct=np.nan, params_pct=np.nan)
        top = sub.iloc[0]
        row.update(top1_index=int(top.paper_index), top1_layout=str(top.layout), top1_score=float(top.score),
                   top1_flops_pct=float(top.macs_pct), top1_params_pct=float(top.params_pct))
        rows.append(row)
    cols = ["setting", "budget", "method", "identified_by", "paper_index", "layout", "paper_rank", "rank",
            "rank_overall", "score", "paper_flops_pct", "paper_params_pct", "flops_pct", "params_pct", "cost_matches",
            "closest_index", "top1_index", "top1_layout", "top1_score", "top1_flops_pct", "top1_params_pct"]
    return pd.DataFrame(rows)[cols]


#: The method name under which :func:`ranking_records` stores the recommender's own top-1 of a setting.
RECOMMENDER_TOP1 = "recommender top-1"


def ranking_records(picks: pd.DataFrame) -> list[dict]:
    """Long rows for :func:`mtlkit.report.record` (``dataset=PUBLISHED_DATASET``) from :func:`pick_ranking`.

    Per pick (task ``"all"``): ``rank`` (under the row's budget), ``rank_overall``, ``score``, ``flops_pct``,
    ``params_pct``, ``paper_index`` and, for picks identified by cost, ``cost_matches``; the extra key ``layout``.
    Per setting, the recommender's top-1 as method :data:`RECOMMENDER_TOP1` (``paper_index``, ``score``,
    ``flops_pct``, ``params_pct``).
    """
    out: list[dict] = []

    def add(setting, method, metric, value, layout):
        if value is not None and not pd.isna(value):
            out.append(dict(setting=setting, method=method, task="all", metric=metric, value=value, layout=layout))

    seen = set()
    for r in picks.itertuples(index=False):
        for metric in ("rank", "rank_overall", "score", "flops_pct", "params_pct", "paper_index", "cost_matches"):
            add(r.setting, r.method, metric, getattr(r, metric), r.layout)
        if r.setting not in seen:
            seen.add(r.setting)
            for metric, col in (("paper_index", "top1_index"), ("score", "top1_score"),
                                ("flops_pct", "top1_flops_pct"), ("params_pct", "top1_params_pct")):
                add(r.setting, RECOMMENDER_TOP1, metric, getattr(r, col), r.top1_layout)
    return out
