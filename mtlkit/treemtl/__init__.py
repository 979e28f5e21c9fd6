"""TreeMTL (Zhang, Liu, Guan — AutoML-Conf 2022): a tree-structured multi-task model recommender.

The recommender is pure numpy/pandas (no torch): :class:`Layout`, enumeration (:func:`count_layouts`,
:func:`enumerate_layouts` in the paper's order, :func:`branch_point_matrix`, :func:`paper_index`,
:func:`iter_cut_steps`), the estimator (:class:`TwoTaskTable`, :func:`published_table`, :func:`svd_entropy`,
:func:`task_weights`), costs (:class:`BlockCosts`, :func:`get_block_costs`, :func:`layout_costs`,
:func:`check_budget`), :func:`recommend`, :func:`pareto_front`, the exact search :func:`top_k`, the certified
anytime search :func:`anytime_top_k` (up to 40 tasks) and synthetic many-task tables (:func:`synthetic_table`). The
branching-point detector (:func:`branching_points`, :func:`coarsen`), tree models (:class:`TreeModel`), the two-task
grid (:class:`TwoTaskGrid`, :func:`train_two_task_grid`, :class:`ExperimentSpec`)
and the oracle study (:func:`oracle_study`, :func:`study_spec`) use torch and are imported on first use.
"""
from __future__ import annotations

from mtlkit.lazy import lazy_attributes
from mtlkit.treemtl.costs import (
    PUBLISHED_BLOCK_COSTS, BlockCosts, as_block_costs, check_budget, get_block_costs, layout_cost_matrix,
    layout_costs, list_block_costs,
)
from mtlkit.treemtl.enumerate import (
    CutStep, branch_point_matrix, count_layouts, enumerate_layouts, iter_cut_steps, paper_index, paper_indices,
    paper_layout,
)
from mtlkit.treemtl.estimator import (
    PUBLISHED, PairScores, TwoTaskTable, published_table, ranking_order, svd_entropy, task_weights,
)
from mtlkit.treemtl.layout import Layout, pairs
from mtlkit.treemtl.recommend import pareto_front, recommend
from mtlkit.treemtl.topk import SearchStats, search_top_k, top_k
from mtlkit.treemtl.anytime import AnytimeResult, anytime_top_k
from mtlkit.treemtl.synthetic import fine_resnet34_macs, synthetic_table

__getattr__ = lazy_attributes(__name__, {
    "mtlkit.treemtl.branching": ("branching_points", "coarsen", "Block", "BlockSequence"),
    "mtlkit.treemtl.tree_model": ("TreeModel",),
    "mtlkit.treemtl.experiment": ("ExperimentSpec",),
    "mtlkit.treemtl.grid": ("TwoTaskGrid", "train_two_task_grid"),
    "mtlkit.treemtl.oracle": ("oracle_study", "study_spec"),
})[0]

__all__ = [
    "Layout", "pairs", "count_layouts", "enumerate_layouts", "branch_point_matrix", "paper_index", "paper_indices",
    "paper_layout", "iter_cut_steps", "CutStep", "TwoTaskTable", "published_table", "PUBLISHED", "svd_entropy",
    "task_weights", "PairScores", "ranking_order", "BlockCosts", "PUBLISHED_BLOCK_COSTS", "get_block_costs",
    "list_block_costs", "as_block_costs", "layout_costs", "layout_cost_matrix", "check_budget", "recommend",
    "pareto_front", "top_k", "search_top_k", "SearchStats", "anytime_top_k", "AnytimeResult", "synthetic_table",
    "fine_resnet34_macs",
]  # the lazy (torch) names are left out so that ``from mtlkit.treemtl import *`` stays light
