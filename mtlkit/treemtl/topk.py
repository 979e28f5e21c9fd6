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
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from mtlkit.errors import ConfigError
from mtlkit.treemtl.estimator import PairScores, TwoTaskTable, tie_key
from mtlkit.treemtl.layout import Layout, _check_tb, pairs


#: Largest T the exact search accepts: its bound tables hold (B+1)·2^T numbers per multiplier and take O(3^T·B).
EXACT_MAX_T = 20
#: With a budget, start the cutting planes from the independent layout's line instead of a λ = 0 table.
START_INDEPENDENT = True
#: Tables of at least this many tasks are computed by the numba kernel (smaller ones: numpy, no JIT start-up).
COMPILED_MIN_T = 11
#: Most multipliers tried by the budget's dual search (each one is a bound table).
MAX_MULTIPLIERS = 2
_TOL = 2.0 ** 22                                      # key units; the keys' sums stay below 2**52


@dataclass(frozen=True)
class SearchStats:
    """What the search did: nodes expanded and pushed, complete layouts collected, multipliers used."""

    expanded: int
    pushed: int
    collected: int
    lambdas: int


@dataclass(frozen=True)
class _Outcome:
    """Raw result of the best-first search: exact keys and branch vectors of the layouts found, best first."""

    keys: list
    rows: list
    finished: bool
    bound: float                                      # upper bound on every layout not in ``rows`` (key units)
    stats: SearchStats


def _subset_sums(T: int, keys: np.ndarray) -> np.ndarray:
    """``W[S, b]`` = sum of the keys of the pairs inside task set ``S`` at branching point ``b`` (exact)."""
    index = {p: i for i, p in enumerate(pairs(T))}
    W = np.zeros((1 << T, keys.shape[1]))
    for t in range(1, T):                             # sets whose largest task is t: a set R below t, plus t
        Z = np.zeros((1 << t, keys.shape[1]))         # Z[R] = keys of the pairs (u, t), u in R
        for u in range(t):
            Z[1 << u: 2 << u] = Z[: 1 << u] + keys[index[(u, t)]]
        W[1 << t: 2 << t] = W[: 1 << t] + Z
    return W


@lru_cache(maxsize=1 << 16)
def _splits(S: int) -> tuple[np.ndarray, np.ndarray]:
    """The parts ``P`` of ``S`` holding its smallest task (largest first) and the rests ``S \\ P`` (read-only)."""
    low = S & -S
    rest = S ^ low
    sub = np.zeros(1, dtype=np.int64)
    for i in range(rest.bit_length()):
        if rest >> i & 1:
            sub = np.concatenate([sub, sub | (1 << i)])
    P = low | sub[::-1]
    O = S ^ P
    P.setflags(write=False)
    O.setflags(write=False)
    return P, O


def _dp_levels(T, B, W, charge, U):                   # pragma: no cover - compiled by numba (tested via _table)
    """``U[d, S]`` = best ``key − cost`` of item ``(S, d)``; plain loops for numba.

    ``charge[d, i]``: the cost of a group at block ``d`` whose smallest task is ``i`` (``lam·f_d`` for the exact
    search; :mod:`~mtlkit.treemtl.bounds` charges by the smallest task). With ``X(S) = U(S, d) − W(S, d)`` and
    ``A(P) = U(P, d+1) − W(P, d) − charge(d, min P)`` the recursion of the module docstring reads
    ``X(S) = max_P A(P) + X(S \\ P)`` (``P`` holds the smallest task of ``S``).
    """
    n = 1 << T
    for S in range(n):
        U[B, S] = W[S, B]
    A = np.empty(n)
    X = np.empty(n)
    for d in range(B - 1, -1, -1):
        A[0] = 0.0
        for S in range(1, n):
            i = 0
            while (S >> i) & 1 == 0:
                i += 1
            A[S] = U[d + 1, S] - W[S, d] - charge[d, i]
        X[0] = 0.0
        for S in range(1, n):
            low = S & -S
            rest = S ^ low
            best = A[S]
            sub = rest
            while sub != 0:
                sub = (sub - 1) & rest
                v = A[low | sub] + X[rest ^ sub]
                if v > best:
                    best = v
            X[S] = best
            U[d, S] = best + W[S, d]
        U[d, 0] = 0.0


_KERNEL: dict = {}                                    # "fn": the compiled kernel or None; "warm": it has run


def _kernel():
    """The numba-compiled :func:`_dp_levels`, or None without numba (the numpy version is used instead)."""
    if "fn" not in _KERNEL:
        try:
            import numba
        except ImportError:
            _KERNEL.update(fn=None, warm=False)
        else:
            _KERNEL.update(fn=numba.njit(cache=True, nogil=True)(_dp_levels), warm=False)
    return _KERNEL["fn"]


def _table_numpy(T: int, B: int, W: np.ndarray, f: np.ndarray, lam: float) -> np.ndarray:
    """:func:`_table` in numpy (one vectorised max per task set): the fallback without numba, and its reference."""
    n = 1 << T
    U = np.empty((B + 1, n))
    U[B] = W[:, B]
    splits = [None] + [_splits(S) for S in range(1, n)]
    for d in range(B - 1, -1, -1):
        Ud, Un = U[d], U[d + 1]
        Ud[0] = 0.0
        for S in range(1, n):                         # S \ P is a proper submask of S, hence already computed
            P, O = splits[S]
            Ud[S] = (W[S, d] - W[P, d] - W[O, d] - lam * f[d] + Un[P] + Ud[O]).max()
    return U


def _table(T: int, B: int, W: np.ndarray, f: np.ndarray, lam: float, out: np.ndarray | None = None,
           compiled: bool | None = None) -> np.ndarray:
    """``U[d, S]`` = max over completions of item ``(S, d)`` of (key score − lam · cost), shape ``(B+1, 2^T)``.

    ``out``: a ``(B+1, 2^T)`` array (or view) to fill instead of a new one. ``compiled``: use the numba kernel
    (if installed); default: from ``COMPILED_MIN_T`` tasks on, or once the kernel has run in this process (below,
    numpy is faster than numba's start-up).
    """
    U = np.empty((B + 1, 1 << T)) if out is None else out
    use = (T >= COMPILED_MIN_T or _KERNEL.get("warm", False)) if compiled is None else compiled
    kernel = _kernel() if use else None
    if kernel is None:
        U[...] = _table_numpy(T, B, W, f, lam)
    else:
        charge = np.repeat(float(lam) * np.asarray(f, dtype=np.float64)[:, None], T, axis=1)
        kernel(T, B, np.ascontiguousarray(W), charge, U)
        _KERNEL["warm"] = True                        # started up: from now on it is the faster one at any size
    return U


class _Items:
    """Decisions on items ``(S, d)``: the splits of a set (cached) and what a split adds."""

    def __init__(self, B: int, W: np.ndarray, f: np.ndarray, suf: np.ndarray):
        self.B, self.W, self.f, self.suf = B, W, f, suf
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.tables: np.ndarray | None = None         # (B+1, 2^T, #multipliers), set by the search

    def splits(self, S: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(P, O, cross)``: the parts holding the smallest task, the rests, the keys of the pairs across."""
        key = S * (self.B + 1) + d
        if key not in self._cache:
            P, O = _splits(S)
            W = self.W
            self._cache[key] = (P, O, W[S, d] - W[P, d] - W[O, d])
        return self._cache[key]

    def advance(self, p: int, o: int, d: int) -> tuple[float, float, list]:
        """Key and cost added by splitting off ``p`` (continues at ``d+1``) from ``o`` (stays at ``d``), new items."""
        B, suf = self.B, self.suf
        key, cost, new = 0.0, float(self.f[d]), []
        if p & (p - 1) == 0:                          # a single task: its own copy of every later block
            cost += suf[d + 1]
        elif d + 1 == B:
            key += float(self.W[p, B])
        else:
            new.append((p, d + 1))
        if o:
            if o & (o - 1) == 0:
                cost += suf[d]
            else:
                new.append((o, d))
        return key, cost, new


def _branch_vector(T: int, B: int, splits) -> list[int]:
    """Branch vector of the layout made by the splits ``(P, O, d)`` (pairs across P and O branch at d)."""
    index = {p: i for i, p in enumerate(pairs(T))}
    bp = [B] * len(index)
    for p, o, d in splits:
        for x in range(T):
            if p >> x & 1:
                for y in range(T):
                    if o >> y & 1:
                        bp[index[(min(x, y), max(x, y))]] = d
    return bp


def _trace(items: _Items, U: np.ndarray, lam: float, root: int, splits: list | None = None) -> tuple[float, float]:
    """Key and cost of a layout maximising ``key − lam · cost`` (follows the table ``U`` down from the root).

    ``splits``: a list that receives the layout's splits ``(P, O, d)`` (for :func:`_branch_vector`).
    """
    key, cost, todo = 0.0, 0.0, [(root, 0)]
    while todo:
        S, d = todo.pop()
        P, O, cross = items.splits(S, d)
        j = int(np.argmax(cross - lam * items.f[d] + U[d + 1][P] + U[d][O]))
        p, o = int(P[j]), int(O[j])
        dk, dc, new = items.advance(p, o, d)
        if splits is not None and o:
            splits.append((p, o, d))
        key, cost, todo = key + float(cross[j]) + dk, cost + dc, todo + new
    return key, cost


def _multipliers(T: int, items: _Items, budget: float | None, deadline: float | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers and their tables: the budget's dual minimised by cutting planes (no budget: λ = 0 only).

    The dual ``g(λ) = U_λ(root) + λ·budget`` is the upper envelope of one line per layout; each table gives the line
    of its maximiser (``_trace``). Starting from the independent layout (too expensive; if it scores less than the
    all-shared layout: from a λ = 0 table's optimum instead) and the all-shared layout (the cheapest, feasible), the
    next λ is where the two current lines cross; the search stops when no layout lies above that point (λ then
    minimises ``g``) or after ``MAX_MULTIPLIERS`` tables. Any λ gives a valid bound; the search uses the minimum
    over all of them. (At 16 tasks a table costs about a second and an expanded node milliseconds: two tables and
    more nodes beat three tables.)
    """
    B, W, f, suf = items.B, items.W, items.f, items.suf
    root = (1 << T) - 1
    tables = np.empty((B + 1, 1 << T, 1 if budget is None else MAX_MULTIPLIERS))
    lo_key, lo_cost = float(W[root, B]), float(suf[0])                 # all shared: the cheapest layout
    ind_key, ind_cost = float(W[root, 0]), T * float(suf[0])           # independent: the dearest
    if budget is not None and START_INDEPENDENT and ind_cost > budget and ind_key > lo_key:
        lams, (hi_key, hi_cost) = [], (ind_key, ind_cost)              # no λ = 0 table: start from these two lines
    else:
        lams = [0.0]
        _table(T, B, W, f, 0.0, tables[:, :, 0])
        if budget is not None:
            hi_key, hi_cost = _trace(items, tables[:, :, 0], 0.0, root)
    if budget is not None:
        while (hi_cost > budget >= lo_cost and hi_cost > lo_cost and len(lams) < MAX_MULTIPLIERS
               and (deadline is None or time.perf_counter() < deadline)):
            lam = (hi_key - lo_key) / (hi_cost - lo_cost)
            if not lam > 0 or lam in lams:
                break
            U = _table(T, B, W, f, lam, tables[:, :, len(lams)])
            lams.append(lam)
            if U[0, root] <= hi_key - lam * hi_cost + _TOL:
                break                                 # nothing above the crossing: lam minimises the dual
            key, cost = _trace(items, U, lam, root)
            if cost > budget:
                hi_key, hi_cost = key, cost
            else:
                lo_key, lo_cost = key, cost
    return np.array(lams), tables[:, :, :len(lams)]


def _prepare(scores: PairScores, per_block, budget_abs, k):
    T, B = scores.T, scores.B
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    if per_block is None:
        if budget_abs is not None:
            raise ConfigError("a budget needs block costs")
        f = np.zeros(B)
    else:
        f = np.asarray(per_block, dtype=np.float64)
        if f.shape != (B,):
            raise ConfigError(f"per_block must have B={B} costs, got {len(f)}")
    suf = np.concatenate([np.cumsum(f[::-1])[::-1], [0.0]])
    return T, B, f, suf


def _child(family: tuple, pos: int, items: _Items, lam: np.ndarray, f: np.ndarray) -> tuple:
    """Child number ``pos`` (in bound order) of an expanded node, as a node (plus ``pos``)."""
    (acc, cost, _, todo, vec, dec), idx, _, child_lo, P, O, cross, S, d = family
    j = int(idx[pos])
    p, o = int(P[j]), int(O[j])
    U = items.tables
    child_vec = vec - U[d][S] + cross[j] - lam * f[d] + U[d + 1][p] + U[d][o]
    dk, dc, new = items.advance(p, o, d)
    return (acc + float(cross[j]) + dk, cost + dc, float(child_lo[pos]), tuple(new) + todo[1:], child_vec,
            (dec, p, o, d) if o else dec, pos)


def _exact(scores: PairScores, per_block, budget_abs, k: int, max_nodes: int = 20_000_000,
           deadline: float | None = None) -> _Outcome:
    """Best-first search of the module docstring; stops early (``finished=False``) at ``deadline``."""
    T, B, f, suf = _prepare(scores, per_block, budget_abs, k)
    if T > EXACT_MAX_T:
        raise ConfigError(f"the exact top-k search handles at most T={EXACT_MAX_T} tasks (its bound tables grow as "
                          f"2^T), got T={T}; give a time limit for the certified anytime search (up to 40 tasks)")
    items = _Items(B, _subset_sums(T, np.asarray(scores.keys, dtype=np.float64)), f, suf)
    budget = None if budget_abs is None else float(budget_abs)
    lam, U = _multipliers(T, items, budget, deadline)
    items.tables = U
    lam_budget = lam * (0.0 if budget is None else budget)
    root = (1 << T) - 1
    vec0 = U[0][root] + lam_budget
    # heap entries: (-bound, counter, node, family); a node is (acc_key, acc_cost, lower_cost, items, bound_vec,
    # decision) with decision = linked list (previous, P, O, d). An expanded node's children are not pushed one by
    # one: their bounds are sorted once and a cursor into that family stands for all of them, holding the bound of
    # the best child not yet taken (the heap's top stays the largest bound of every open layout).
    heap: list = [(-float(vec0.min()), 0, (0.0, 0.0, suf[0], ((root, 0),), vec0, None), None)]
    counter, expanded, pushed = 1, 0, 1
    found: list[tuple[float, object]] = []
    found_keys: list[float] = []                      # min-heap of the best k keys found so far
    finished = True
    while heap:
        negb, _, node, family = heapq.heappop(heap)
        threshold = found_keys[0] if len(found_keys) >= k else -math.inf
        if -negb < threshold - _TOL:
            break
        if family is not None:                        # take the family's next child, re-queue the cursor
            node = _child(family, node, items, lam, f)
            pos = node[-1]
            if pos + 1 < len(family[1]):
                heapq.heappush(heap, (-float(family[2][pos + 1]), counter, pos + 1, family))
                counter += 1
            node = node[:-1]
            heapq.heappush(heap, (negb, counter, node, None))
            counter += 1
            pushed += 1
            continue
        acc, cost, lo, todo, vec, dec = node
        if not todo:
            found.append((acc, dec))
            if len(found_keys) < k:
                heapq.heappush(found_keys, acc)
            elif acc > found_keys[0]:
                heapq.heapreplace(found_keys, acc)
            continue
        if deadline is not None and expanded % 16 == 0 and time.perf_counter() > deadline:
            heapq.heappush(heap, (negb, -1, node, None))
            finished = False
            break
        expanded += 1
        if expanded > max_nodes:
            raise ConfigError(f"top-k search expanded more than max_nodes={max_nodes:,} nodes; the table may have "
                              "very many exact ties")
        S, d = todo[0]
        P, O, cross = items.splits(S, d)
        bounds = (vec[None, :] - U[d][S][None, :] + cross[:, None] - lam[None, :] * f[d] + U[d + 1][P]
                  + U[d][O]).min(axis=1)
        child_lo = lo + np.where(O != 0, suf[d], 0.0)
        ok = bounds >= threshold - _TOL
        if budget is not None:
            ok &= child_lo <= budget
        idx = np.flatnonzero(ok)
        if len(idx):
            idx = idx[np.argsort(-bounds[idx], kind="stable")]
            fam = (node, idx, bounds[idx], child_lo[idx], P, O, cross, S, d)
            heapq.heappush(heap, (-float(fam[2][0]), counter, 0, fam))
            counter += 1
    # decode and rank exactly: key descending, then the branch-vector tie-break
    rows = []
    for acc, dec in found:
        splits = []
        while dec is not None:
            dec, p, o, d = dec
            splits.append((p, o, d))
        rows.append((acc, _branch_vector(T, B, splits)))
    rows.sort(key=lambda r: (-r[0], tie_key(r[1])))
    bound = -heap[0][0] if (heap and not finished) else -math.inf
    stats = SearchStats(expanded, pushed, len(found), len(lam))
    return _Outcome([r[0] for r in rows[:k]], [r[1] for r in rows[:k]], finished, bound, stats)


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

    Raises:
        ConfigError: ``k < 1``, a budget without costs, ``T > EXACT_MAX_T`` or more than ``max_nodes`` nodes.
    """
    out = _exact(scores, per_block, budget_abs, k, max_nodes)
    P = scores.T * (scores.T - 1) // 2
    return np.array(out.rows, dtype=np.uint8).reshape(-1, P), out.stats


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
