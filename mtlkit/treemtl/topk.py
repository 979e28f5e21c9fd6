"""Exact top-k layouts without enumeration (beyond the paper).

Why it works. The score is a sum over task pairs of a term that depends only on the pair's branching point,
``S(L) = sum_{t<u} c_tu(b_tu(L))`` (:class:`~mtlkit.treemtl.estimator.PairScores`), and the backbone cost is a sum
over blocks, ``sum_c |L_c| f_c``. A layout is built top-down by one decision at a time on an *item* ``(S, d)`` — a
set ``S`` of tasks that are together on the blocks before ``d`` and must be partitioned at block ``d``:

* ``d = B``: the tasks of ``S`` share every block; their pairs contribute ``c(B)``;
* otherwise choose the part ``P`` holding the smallest task of ``S`` (``2^{|S|-1}`` choices): ``P`` is one group at
  block ``d`` (cost ``f_d``) and becomes the item ``(P, d+1)``; the rest ``S \\ P`` stays the item ``(S \\ P, d)``;
  every pair across ``P`` and ``S \\ P`` branches at ``d``.

Every layout is produced by exactly one sequence of decisions (items are always taken in the same order), and the
items of a partial layout are independent sub-problems. A dynamic programme over (task subset, block) gives, for each
item and each Lagrange multiplier ``λ`` in a small set, ``U_λ(S, d) = max over completions of (score − λ·cost)``,
so for a partial layout with accumulated score ``s`` and cost ``c``

    ``bound = min_λ [ s − λ c + Σ_items U_λ(item) + λ · budget ]``

is an upper bound on any feasible completion (``λ = 0`` is the exact unconstrained optimum of the rest, so without a
budget the bound is exact). A completion's cost is at least ``c + Σ_items suf[d]`` (each item kept whole), which
prunes infeasible branches. Best-first search on the bound pops complete layouts in score order; it stops once
``k`` layouts are found and no open node can beat the k-th (within a 1e-9-relative float tolerance, so exact ties
are all collected). The final order is the exact fixed-point ranking key with the branch-vector tie-break of
:func:`~mtlkit.treemtl.estimator.ranking_order` — identical to sorting a full enumeration.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mtlkit.errors import ConfigError
from mtlkit.treemtl.estimator import PairScores, TwoTaskTable, tie_key
from mtlkit.treemtl.layout import Layout, _check_tb, pairs


@dataclass(frozen=True)
class SearchStats:
    """What the search did: nodes expanded and pushed, complete layouts collected, multipliers used."""

    expanded: int
    pushed: int
    collected: int
    lambdas: int


def _subset_sums(T: int, keys: np.ndarray) -> np.ndarray:
    """``W[S, b]`` = sum of the keys of the pairs inside task set ``S`` at branching point ``b``."""
    index = {p: i for i, p in enumerate(pairs(T))}
    W = np.zeros((1 << T, keys.shape[1]))
    for S in range(1, 1 << T):
        t = S.bit_length() - 1
        R = S ^ (1 << t)
        row = W[R].copy()
        for u in range(t):
            if R >> u & 1:
                row += keys[index[(u, t)]]
        W[S] = row
    return W


def _submasks_with_low(S: int) -> np.ndarray:
    """Subsets of ``S`` containing its smallest element, largest first."""
    low = S & -S
    rest = S ^ low
    out = []
    sub = rest
    while True:
        out.append(low | sub)
        if sub == 0:
            break
        sub = (sub - 1) & rest
    return np.array(out, dtype=np.int64)


def _bound_tables(T: int, B: int, W: np.ndarray, f: np.ndarray, lam: np.ndarray,
                  subs: list[np.ndarray]) -> list[np.ndarray]:
    """``U[d][S, l]`` = max over completions of item (S, d) of (key score − lam[l] · cost)."""
    n = 1 << T
    U = [np.zeros((n, len(lam))) for _ in range(B + 1)]
    U[B][:] = W[:, B][:, None]
    for d in range(B - 1, -1, -1):
        Ud, Un = U[d], U[d + 1]
        Ud[0] = 0.0
        for S in range(1, n):                     # S \ P is a proper submask of S, hence already computed
            P = subs[S]
            O = S ^ P
            cross = W[S, d] - W[P, d] - W[O, d]
            Ud[S] = (cross[:, None] - lam[None, :] * f[d] + Un[P] + Ud[O]).max(axis=0)
    return U


def _lambdas(T: int, B: int, W: np.ndarray, keys: np.ndarray, f: np.ndarray, budget: float,
             subs: list[np.ndarray]) -> np.ndarray:
    """Multipliers for the Lagrangian bound: 0 plus a geometric grid refined around the best root bound."""
    swing = float((keys.max(axis=1) - keys.min(axis=1)).sum()) / max(1.0, float(f.sum()))
    if swing <= 0:
        return np.zeros(1)
    coarse = np.concatenate([[0.0], swing * 2.0 ** np.arange(-24, 7, 1.0)])
    root = (1 << T) - 1
    U = _bound_tables(T, B, W, f, coarse, subs)
    g = U[0][root] + coarse * budget
    best = float(coarse[int(np.argmin(g))])
    if best == 0.0:
        return coarse
    fine = best * 2.0 ** np.arange(-2, 2.01, 0.25)
    return np.unique(np.concatenate([coarse, fine]))


def search_top_k(scores: PairScores, per_block: Sequence[float] | None = None, budget_abs: float | None = None,
                 k: int = 5, max_nodes: int = 20_000_000) -> tuple[np.ndarray, SearchStats]:
    """Exact top-k branch vectors under an optional absolute budget (see the module docstring).

    Args:
        scores: pair contributions and exact ranking keys of the table.
        per_block: ``B`` per-block costs (needed with a budget).
        budget_abs: maximum cost ``sum_c |L_c| f_c`` (inclusive), or None.
        k: number of layouts.
        max_nodes: safety limit on expanded nodes.

    Returns:
        ``(k', P)`` uint8 branch-point matrix of the best layouts, best first (``k' < k`` only if fewer layouts are
        feasible), and the search statistics.
    """
    T, B = scores.T, scores.B
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    keys = np.asarray(scores.keys, dtype=np.float64)
    if per_block is None:
        if budget_abs is not None:
            raise ConfigError("a budget needs block costs")
        f = np.zeros(B)
    else:
        f = np.asarray(per_block, dtype=np.float64)
        if f.shape != (B,):
            raise ConfigError(f"per_block must have B={B} costs, got {len(f)}")
    suf = np.concatenate([np.cumsum(f[::-1])[::-1], [0.0]])
    W = _subset_sums(T, keys)
    subs = [np.zeros(0, dtype=np.int64)] + [_submasks_with_low(S) for S in range(1, 1 << T)]
    if budget_abs is None:
        lam, budget = np.zeros(1), 0.0
    else:
        budget = float(budget_abs)
        lam = _lambdas(T, B, W, keys, f, budget, subs)
    U = _bound_tables(T, B, W, f, lam, subs)
    tol = 2.0 ** 22                                   # key units; the keys' sums stay below 2**52
    index = {p: i for i, p in enumerate(pairs(T))}
    lam_budget = lam * budget

    # node: (acc_key, acc_cost, lower_cost, items, bound_vec, decision)
    # decision: linked list (previous, P, O, d) of the splits made so far
    root = (1 << T) - 1
    items0 = ((root, 0),)
    vec0 = U[0][root] + lam_budget
    heap: list = [(-float(vec0.min()), 0, (0.0, 0.0, suf[0], items0, vec0, None))]
    counter = 1
    found: list[tuple[float, float, object]] = []
    found_keys: list[float] = []                      # min-heap of the best k keys found so far
    expanded = 0
    while heap:
        negb, _, node = heapq.heappop(heap)
        threshold = found_keys[0] if len(found_keys) >= k else -math.inf
        if -negb < threshold - tol:
            break
        acc, cost, lo, items, vec, dec = node
        if not items:
            found.append((acc, cost, dec))
            if len(found_keys) < k:
                heapq.heappush(found_keys, acc)
            elif acc > found_keys[0]:
                heapq.heapreplace(found_keys, acc)
            continue
        expanded += 1
        if expanded > max_nodes:
            raise ConfigError(f"top-k search expanded more than max_nodes={max_nodes:,} nodes; the table may have "
                              "very many exact ties")
        (S, d), rest = items[0], items[1:]
        P = subs[S]
        O = S ^ P
        cross = W[S, d] - W[P, d] - W[O, d]
        child_vec = vec[None, :] - U[d][S][None, :] + cross[:, None] - lam[None, :] * f[d] + U[d + 1][P] + U[d][O]
        bounds = child_vec.min(axis=1)
        child_lo = lo + np.where(O != 0, suf[d], 0.0)
        ok = bounds >= threshold - tol
        if budget_abs is not None:
            ok &= child_lo <= budget
        for j in np.flatnonzero(ok):
            p, o = int(P[j]), int(O[j])
            acc_j = acc + float(cross[j])
            cost_j = cost + f[d]
            new_items = []
            # the part holding the smallest task continues at block d+1
            if p & (p - 1) == 0:
                cost_j += suf[d + 1]
            elif d + 1 == B:
                acc_j += float(W[p, B])
            else:
                new_items.append((p, d + 1))
            # the rest is partitioned at the same block d
            if o:
                if o & (o - 1) == 0:
                    cost_j += suf[d]
                else:
                    new_items.append((o, d))
            dec_j = (dec, p, o, d) if o else dec
            heapq.heappush(heap, (-float(bounds[j]), counter,
                                  (acc_j, cost_j, float(child_lo[j]), tuple(new_items) + rest, child_vec[j], dec_j)))
            counter += 1
    # decode and rank exactly: key descending, then the branch-vector tie-break
    rows = []
    for acc, _, dec in found:
        bp = [B] * len(index)
        while dec is not None:
            dec, p, o, d = dec
            for x in range(T):
                if p >> x & 1:
                    for y in range(T):
                        if o >> y & 1:
                            bp[index[(min(x, y), max(x, y))]] = d
        rows.append((acc, bp))
    rows.sort(key=lambda r: (-r[0], tie_key(r[1])))
    out = np.array([r[1] for r in rows[:k]], dtype=np.uint8).reshape(-1, len(index))
    return out, SearchStats(expanded, counter, len(found), len(lam))


def top_k(table: TwoTaskTable, block_costs=None, budget: float | None = None, k: int = 5, *,
          weights: "str | Sequence[float]" = "svde", budget_on: str = "macs",
          return_stats: bool = False) -> "list[Layout] | tuple[list[Layout], SearchStats]":
    """The exact top-k layouts of a two-task table, without enumerating the design space.

    Args:
        table: the two-task table (T tasks, B branching points).
        block_costs: per-block costs (:class:`~mtlkit.treemtl.costs.BlockCosts`, a registry name or a list of
            per-block MACs); needed only with a budget.
        budget: maximum cost in number of backbone models (inclusive), or None.
        k: number of layouts.
        weights: task weights (see :func:`~mtlkit.treemtl.estimator.task_weights`).
        budget_on: ``"macs"`` (the paper's FLOPs) or ``"params"``.
        return_stats: also return what the search did (:class:`SearchStats`: nodes expanded and pushed, complete
            layouts collected, Lagrange multipliers).

    Returns:
        The layouts, best first, in the order of :func:`mtlkit.treemtl.recommend`; with ``return_stats=True`` the
        pair ``(layouts, stats)``.
    """
    from mtlkit.treemtl.costs import as_block_costs, check_budget

    _check_tb(table.T, table.B)
    scores = PairScores.from_table(table, weights)
    per_block = budget_abs = None
    if block_costs is not None:
        costs = as_block_costs(block_costs, table.B)
        per_block = costs.per_block(budget_on)
        budget_abs = check_budget(budget, table.T, costs, budget_on)
    elif budget is not None:
        raise ConfigError("budget given without block_costs; pass the backbone's per-block costs")
    bp, stats = search_top_k(scores, per_block, budget_abs, k)
    layouts = Layout.from_branch_matrix(table.T, table.B, bp)
    return (layouts, stats) if return_stats else layouts
