"""The recommender: the top-k layouts of a two-task table under a budget, as a DataFrame (paper §3, docs/treemtl.md §4, §8).

Ranking (deterministic, the same whichever method finds the layouts):

1. score descending — compared on the exact fixed-point sum of the per-pair contributions
   (:class:`~mtlkit.treemtl.estimator.PairScores`; resolution about 1e-13 score units), so enumeration and search
   agree bit for bit and sums never depend on the summation order;
2. ties: branch vector descending (pairs in ``(0,1), (0,2), ...`` order; the layout whose first differing pair shares
   more blocks first). The authors' code keeps ties in enumeration order (a stable sort); none of the four published
   tables has a tie, and their full rankings equal the authors' (tested).

The budget is a number of backbone models on MACs (the paper's FLOPs) or parameters, inclusive (``<=``).

Many tasks: up to ``EXACT_AUTO_T`` = 16 tasks ``method="auto"`` runs the exact search (seconds); with
``time_limit=S`` any table of up to 40 tasks gets the certified anytime search (:mod:`mtlkit.treemtl.anytime`):
the best layouts found in ``S`` seconds and the optimality gap (``df.attrs["gap"]``, ``["upper_bound"]``).
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import pandas as pd

from mtlkit.errors import ConfigError, unknown_name
from mtlkit.treemtl.anytime import anytime_top_k, check_tasks, check_time_limit
from mtlkit.treemtl.costs import BlockCosts, as_block_costs, check_budget, layout_cost_matrix
from mtlkit.treemtl.enumerate import branch_point_matrix, count_layouts, paper_indices
from mtlkit.treemtl.estimator import PairScores, TwoTaskTable, ranking_order
from mtlkit.treemtl.layout import Layout
from mtlkit.treemtl.topk import search_top_k

#: ``method="auto"`` enumerates up to this many layouts and searches beyond.
ENUMERATE_LIMIT = 1_000_000
#: Paper indices are reported when the space has at most this many layouts (the authors' DFS is replayed once).
PAPER_INDEX_LIMIT = 200_000
#: ``method="auto"`` without a time limit searches exactly up to this many tasks (beyond: give ``time_limit``).
EXACT_AUTO_T = 16


#: ``method="search"`` keeps k layouts in memory: k is capped so memory stays bounded.
MAX_SEARCH_K = 100_000


def _check_magnitude(table: TwoTaskTable, scores: PairScores | None) -> None:
    """Refuse values so large that an estimate or score overflows to inf (a ranking of infs is meaningless)."""
    T = table.T
    values = np.asarray(table.values, dtype=np.float64)[~np.eye(T, dtype=bool)]
    top = float(np.abs(values).max())
    with np.errstate(over="ignore"):
        bound = top * (T - 1) * (1.0 if scores is None else max(1.0, float(np.abs(scores.weights).sum())))
    if not np.isfinite(bound) or bound > 1e300:
        raise ConfigError(f"two-task table{f' {table.source!r}' if table.source else ''}: expected relative "
                          f"performances in % small enough that the estimated scores stay finite, got values up to "
                          f"{top:g} (the scores would overflow)")


def recommend(table: TwoTaskTable, block_costs: "BlockCosts | str | Sequence[float] | None" = None,
              budget: float | None = None, k: int | None = 5, *, weights: "str | Sequence[float]" = "svde",
              budget_on: Literal["macs", "params"] = "macs",
              method: Literal["auto", "enumerate", "search"] = "auto",
              time_limit: float | None = None) -> pd.DataFrame:
    """Recommend the best tree-structured layouts for the tasks of a two-task table.

    Args:
        table: the two-task results (T tasks, branching points 0..B).
        block_costs: cost of one copy of each of the B blocks: a :class:`BlockCosts`, a registered name
            (``"resnet34"``, ``"mobilenetv2@321"``, see :func:`~mtlkit.treemtl.costs.list_block_costs`) or a list of
            per-block MACs. Optional without a budget (the cost columns are then left out).
        budget: maximum cost in number of backbone models (>= 1; inclusive), or None for no budget.
        k: number of layouts; None returns the full ranking (enumeration only).
        weights: ``"svde"`` (the authors'), ``"uniform"`` or T explicit weights.
        budget_on: the cost the budget limits: ``"macs"`` (= the paper's FLOPs) or ``"params"``.
        method: ``"enumerate"`` (score every layout, the paper's way), ``"search"`` (exact top-k without
            enumeration, :mod:`mtlkit.treemtl.topk`) or ``"auto"`` (enumerate up to ``ENUMERATE_LIMIT`` layouts).
        time_limit: seconds (> 0) for the certified anytime search (:func:`~mtlkit.treemtl.anytime.anytime_top_k`,
            up to 40 tasks; with ``method="auto"`` or ``"search"``): the best layouts found by then, and
            ``df.attrs`` gets ``upper_bound`` (on the best score), ``gap``, ``gap_pct`` (of the score range),
            ``exact`` (the exact search finished: the exact top-k) and ``anytime`` (the whole result). None: exact.

    Returns:
        DataFrame indexed by ``rank`` (1 = best), columns ``layout`` (:class:`Layout`), ``paper_index`` (the paper's
        ``#k``; <NA> for spaces larger than ``PAPER_INDEX_LIMIT``), ``score``, ``est_<task>`` per task (estimated
        relative performance, %), and with block costs ``macs``, ``flops`` (= 2 × macs), ``params``, ``macs_pct``
        and ``params_pct`` (the paper's FLOPs(%) and #Params(%): backbone cost relative to T independent backbones)
        and ``backbones`` (cost in number of backbones, on ``budget_on``). ``df.attrs`` holds the weights, T, B, the
        number of layouts, the method and ``search_stats`` (the :class:`~mtlkit.treemtl.topk.SearchStats` of
        ``method="search"``, else None).

    Raises:
        ConfigError: k < 1, a budget without block costs, a budget below one backbone (the cheapest layout), a
            block-cost list whose length is not B, more than 40 tasks, a time limit <= 0, more than 16 tasks
            without a time limit (``method="auto"``).
    """
    if not isinstance(table, TwoTaskTable):
        raise ConfigError("table must be a TwoTaskTable (e.g. TwoTaskTable.from_csv(path)), "
                          f"got {type(table).__name__}")
    T, B = table.T, table.B
    check_tasks(T, table.source)
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
        raise ConfigError(f"k must be a positive integer or None, got {k!r}")
    if method not in ("auto", "enumerate", "search"):
        raise unknown_name("method", method, ["auto", "enumerate", "search"])
    if budget_on not in ("macs", "params"):
        raise unknown_name("budget_on", budget_on, ["macs", "params"])
    _check_magnitude(table, None)
    scores = PairScores.from_table(table, weights)
    _check_magnitude(table, scores)
    if method != "enumerate" and k is not None and k > MAX_SEARCH_K:
        raise ConfigError(f"k: expected at most {MAX_SEARCH_K:,} layouts (the search keeps k layouts in memory), "
                          f"got {k:,}")
    costs = as_block_costs(block_costs, B) if block_costs is not None else None
    if costs is None and budget is not None:
        raise ConfigError("budget given without block_costs; pass a backbone name (e.g. 'resnet34') or per-block costs")
    budget_abs = check_budget(budget, T, costs, budget_on) if costs is not None else None
    n_layouts = count_layouts(T, B)
    if time_limit is not None:
        limit = check_time_limit(time_limit)
        if method == "enumerate" or k is None:
            raise ConfigError("time_limit is for the anytime search: it needs k (not None) and method 'auto' or "
                              f"'search', got k={k!r}, method={method!r}")
        per_block = costs.per_block(budget_on) if costs is not None else None
        result = anytime_top_k(scores, per_block, budget_abs, int(k), limit)
        df = _frame(table, scores, costs, result.branch_points, n_layouts, "anytime", budget, budget_on)
        df.attrs.update(search_stats=None, anytime=result, upper_bound=result.upper_bound, gap=result.gap,
                        gap_pct=result.gap_pct, exact=result.exact)
        return df
    if method == "auto":
        method = "enumerate" if n_layouts <= ENUMERATE_LIMIT or k is None else "search"
        if method == "search" and T > EXACT_AUTO_T:
            raise ConfigError(f"T={T} tasks: the exact search is for at most {EXACT_AUTO_T} tasks (its tables grow "
                              "as 3^T); give time_limit=SECONDS (command line: --time-limit S) for the certified "
                              "anytime search, which reports the optimality gap")
    if method == "search":
        if k is None:
            raise ConfigError("k=None (the full ranking) needs method='enumerate'")
        per_block = costs.per_block(budget_on) if costs is not None else None
        bp, stats = search_top_k(scores, per_block, budget_abs, int(k))
    else:
        bp = branch_point_matrix(T, B)            # refuses spaces above enumerate.MAX_LAYOUTS
        if budget_abs is not None:
            bp = bp[layout_cost_matrix(bp, T, costs.per_block(budget_on)) <= budget_abs]
        order = ranking_order(scores.ranking_keys(bp), bp)
        bp = bp[order if k is None else order[:k]]
        stats = None
    df = _frame(table, scores, costs, bp, n_layouts, method, budget, budget_on)
    df.attrs["search_stats"] = stats
    return df


def _frame(table: TwoTaskTable, scores: PairScores, costs: BlockCosts | None, bp: np.ndarray, n_layouts: int,
           method: str, budget, budget_on: str) -> pd.DataFrame:
    T, B = table.T, table.B
    est = table.estimate_matrix(bp)
    data: dict[str, object] = {
        "layout": Layout.from_branch_matrix(T, B, bp),         # vectorised: milliseconds for 7,556 rows
        "paper_index": (pd.array(paper_indices(bp, T, B), dtype="Int64") if n_layouts <= PAPER_INDEX_LIMIT
                        else pd.array([pd.NA] * len(bp), dtype="Int64")),
        "score": est @ scores.weights,
    }
    for t, name in enumerate(table.task_names):
        data[f"est_{name}"] = est[:, t]
    if costs is not None:
        macs = layout_cost_matrix(bp, T, costs.macs)
        one = float(sum(costs.macs))
        data.update(macs=macs, flops=2 * macs)
        if costs.params is not None:
            params = layout_cost_matrix(bp, T, costs.params)
            data.update(params=params)
        else:
            params = None
            data.update(params=np.full(len(bp), np.nan))
        data["macs_pct"] = 100 * (macs / (T * one) - 1)
        data["params_pct"] = (100 * (params / (T * float(sum(costs.params))) - 1) if params is not None
                              else np.full(len(bp), np.nan))
        data["backbones"] = (macs / one if budget_on == "macs" else params / float(sum(costs.params)))
    df = pd.DataFrame(data, index=pd.RangeIndex(1, len(bp) + 1, name="rank"))
    df.attrs.update(T=T, B=B, n_layouts=n_layouts, method=method, budget=budget, budget_on=budget_on,
                    weights=dict(zip(table.task_names, scores.weights.tolist())),
                    block_costs=None if costs is None else costs.name, source=table.source)
    return df


def pareto_front(frame: pd.DataFrame, score: str = "score", cost: str = "macs") -> pd.DataFrame:
    """The rows of a :func:`recommend` frame that no other row beats on both axes (lower cost, higher score).

    A row is on the front iff every row that costs at most as much scores lower, except rows with exactly the same
    cost and score (all of those are kept: none dominates the others). These are the layouts that are the top-1
    under *some* budget. Use ``recommend(table, block_costs, k=None)`` to get every layout.

    Args:
        frame: a :func:`recommend` DataFrame (or any frame with the two columns).
        score: the column to maximise.
        cost: the column to minimise (``"macs"``, ``"params"``, ``"backbones"``, ...).

    Returns:
        The front's rows, cost ascending (score ascending along the front), with their original index (rank).

    Raises:
        ConfigError: a column is missing (e.g. no cost columns because the frame was made without block costs) or
            holds NaN.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"pareto_front: expected a DataFrame (from recommend), got {type(frame).__name__}")
    for what, col in (("score", score), ("cost", cost)):
        if col not in frame.columns:
            hint = " (recommend() adds cost columns only when block_costs are given)" if what == "cost" else ""
            raise ConfigError(f"pareto_front: {what} column {col!r} not in the frame; columns are "
                              f"{list(frame.columns)}{hint}")
        if frame[col].isna().any():
            raise ConfigError(f"pareto_front: {what} column {col!r} holds NaN (e.g. params of block costs without "
                              "parameter counts)")
    c = frame[cost].to_numpy(dtype=np.float64)
    v = frame[score].to_numpy(dtype=np.float64)
    order = np.lexsort((-v, c))                             # cost ascending, best score first within a cost
    c, v = c[order], v[order]
    new_cost = np.r_[True, c[1:] != c[:-1]]                 # first row of each distinct cost = its best score
    group = np.cumsum(new_cost) - 1
    best = v[new_cost]                                      # best score per cost, cost ascending
    before = np.r_[-np.inf, np.maximum.accumulate(best)[:-1]]   # best score of any strictly cheaper row
    keep = (v == best[group]) & (best[group] > before[group])
    return frame.iloc[order[keep]]
