"""Certified anytime top-k for many tasks (up to 40): the best layouts found in a time limit and a bound on the best.

The exact search (:mod:`mtlkit.treemtl.topk`) needs bound tables over all 2^T task sets; beyond about 16 tasks they
no longer fit in seconds. :func:`anytime_top_k` works for any ``T <= MAX_TASKS`` and returns, when its time is up,

* the best ``k`` feasible layouts it found (exact scores, ranked as everywhere else), and
* a certified upper bound on the best feasible score, hence the optimality gap ``upper_bound - best``.

How:

* ``T <= EXACT_TASKS``: the exact best-first search runs with the deadline. If it finishes (T <= 12 always does in
  well under a second) the answer is the exact top-k and the gap is 0. If it is stopped, the largest bound left in
  its queue bounds every layout it has not collected.
* Larger ``T``: **local search** finds the layouts. A layout is an ultrametric on tasks; a move takes one task —
  or a whole subtree (the tasks sharing at least ``h`` blocks with it) — out and puts it back where it scores best
  (an independent branch, or under any other task's path up to any block: all places evaluated at once with numpy),
  within the budget. Local optima are perturbed by random moves and improved again until the deadline (iterated
  local search from the all-shared layout and from a greedy insertion); with a budget, half of the rounds first
  improve ``score − λ·cost`` without the budget and then repair (cheapest moves per score lost). Every neighbour of
  a local optimum that scores above the k-th best is collected.
  The **bound** is the smaller of two relaxations, each valid for every feasible layout:

  1. *dual decomposition*: task sets of ``COVER_TASKS`` tasks that cover every pair; each pair's score is split
     between the sets holding it, every set's layouts are solved exactly (the subset tables of
     :mod:`~mtlkit.treemtl.topk`) and the optima are added; the budget enters through ``cost(L) >= cost of L
     restricted to a set`` (each set pays ``λ/r`` per unit of its own cost, ``λ`` by bisection). The split starts
     uniform and is improved by subgradient steps until the sets agree or the time share runs out;
  2. *prefix + rows*: for a task order, the first ``PREFIX_TASKS`` tasks solved exactly and, for every later task
     ``t``, the best its pairs with the earlier tasks can score if they branch at most at some block ``m`` while
     ``t`` pays ``suf(m)`` (the cost of a layout is the sum of these terms in any task order).

  Time shares: 15 % local search, 10 % bound 2, 35 % bound 1, the rest local search.

The gap is also reported relative to the **score range** ``best − worst``, where ``worst`` is the lowest score of
the all-shared layout, the independent layout and a layout found by a short local search for *low* scores (at most
0.5 s): a lower bound on the true spread of scores, so the relative gap is, if anything, overstated.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mtlkit.errors import ConfigError
from mtlkit.treemtl import topk
from mtlkit.treemtl.estimator import PairScores, tie_key
from mtlkit.treemtl.layout import pairs

#: Most tasks the recommender accepts (the bound and the local search are polynomial; 40 = CelebA's attributes).
MAX_TASKS = 40
#: Up to this many tasks the anytime search runs the exact search first (it usually finishes).
EXACT_TASKS = 16
#: Size of the exactly solved task set of the prefix bound (3^13 · B work per multiplier).
PREFIX_TASKS = 13
#: Size of the task sets of the decomposition bound (each solved exactly, 3^10 · B work).
COVER_TASKS = 10


@dataclass(frozen=True)
class AnytimeResult:
    """What :func:`anytime_top_k` returns.

    Attributes:
        branch_points: ``(k', T(T-1)/2)`` uint8 branch-point matrix of the layouts found, best first.
        keys: their exact fixed-point scores (:meth:`PairScores.ranking_keys`).
        best: score of the best layout found (score units).
        upper_bound: certified upper bound on the best feasible score.
        gap: ``upper_bound - best`` (>= 0; 0 = the first layout is optimal).
        score_range: ``best`` minus the lowest score known (module doc), the scale of ``gap_pct``.
        gap_pct: ``100 * gap / score_range`` (0 if both are 0).
        exact: True if the exact search finished: the layouts are then the exact top-k.
        seconds: wall time used.
        nodes: nodes expanded by the exact search, or moves evaluated by the local search.
        method: ``"exact"``, ``"exact, stopped"`` or ``"local search + relaxation"``.
    """

    branch_points: np.ndarray
    keys: np.ndarray
    best: float
    upper_bound: float
    gap: float
    score_range: float
    gap_pct: float
    exact: bool
    seconds: float
    nodes: int
    method: str


def check_time_limit(time_limit) -> float:
    """A time limit in seconds as a float; refuses anything but a finite number > 0."""
    try:
        value = float(time_limit)
    except (TypeError, ValueError):
        raise ConfigError(f"time_limit must be a number of seconds > 0, got {time_limit!r}") from None
    if isinstance(time_limit, bool) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"time_limit must be a number of seconds > 0, got {time_limit!r}")
    return value


def check_tasks(T: int, source: str = "") -> None:
    """Refuse tables with more than :data:`MAX_TASKS` tasks."""
    if T > MAX_TASKS:
        where = f" ({source})" if source else ""
        raise ConfigError(f"the recommender handles at most {MAX_TASKS} tasks; the two-task table{where} has "
                          f"T={T} (split the tasks into groups, or drop some with TwoTaskTable.without)")


class _Pool:
    """The best ``k`` distinct feasible layouts seen: branch vector -> exact key."""

    def __init__(self, k: int):
        self.k = k
        self.items: dict[tuple, float] = {}

    def threshold(self) -> float:
        if len(self.items) < self.k:
            return -math.inf
        return sorted(self.items.values(), reverse=True)[self.k - 1]

    def add(self, bp: tuple, key: float) -> None:
        if bp in self.items or key < self.threshold():
            return
        self.items[bp] = key
        if len(self.items) > 4 * self.k:
            self.items = dict(self.ranked()[: self.k])

    def ranked(self) -> list[tuple[tuple, float]]:
        return sorted(self.items.items(), key=lambda kv: (-kv[1], tie_key(kv[0])))

    def best(self) -> float:
        return max(self.items.values()) if self.items else -math.inf


class _LocalSearch:
    """Iterated local search on ultrametrics ``b`` (``b[t, u]`` = branching point of tasks t, u; diagonal = B)."""

    def __init__(self, K: np.ndarray, f: np.ndarray, budget: float, pool: _Pool, seed: int = 0):
        self.K, self.f, self.budget, self.pool = K, f, budget, pool
        self.T, self.B = K.shape[0], K.shape[2] - 1
        self.suf = np.concatenate([np.cumsum(f[::-1])[::-1], [0.0]])
        self.iu = np.triu_indices(self.T, 1)
        self.rng = np.random.default_rng(seed)
        self.moves = 0
        self.best_b: np.ndarray | None = None
        self.best_key = -math.inf

    # ---------------------------------------------------------------------------------------- evaluation
    def key(self, b: np.ndarray) -> float:
        return float(self.K[self.iu[0], self.iu[1], b[self.iu]].sum())

    def cost(self, b: np.ndarray) -> float:
        """``sum_t suf(max_{u<t} b[t, u])`` (the first task pays a whole backbone): the layout's backbone cost."""
        m = [0] + [int(b[t, :t].max()) for t in range(1, self.T)]
        return float(self.suf[m].sum())

    def options(self, b: np.ndarray, t: int, C: np.ndarray | None = None):
        """Every place for task ``t`` — or for the whole cluster ``C`` holding it (tasks sharing at least ``h``
        blocks with ``t``), moved as one subtree: key and cost of each (anchor ``g``, block ``m``) outside it."""
        T, B = self.T, self.B
        C = np.array([t]) if C is None else C
        o = np.setdiff1d(np.arange(T), C)
        KC = self.K[np.ix_(C, o)].sum(axis=0)                           # (outside tasks, B+1), summed over C
        mins = np.minimum(b[np.ix_(o, o)][:, :, None], np.arange(B + 1))  # [g, u, m] = min(b[g, u], m)
        G = KC[np.arange(len(o))[None, :, None], mins].sum(axis=1)       # (anchors, B+1 blocks)
        key_rest = self.key_of(b) - float(KC[np.arange(len(o)), b[t, o]].sum())
        cost_rest = self.cost_of(b) - float(self.suf[int(b[t, o].max())])
        if len(C) > 1:                                                  # a subtree stays below its own split
            G[:, int(b[np.ix_(C, C)].min()) + 1:] = -np.inf
        self.moves += G.size
        return o, G + key_rest, cost_rest + self.suf[None, :]

    def clusters(self, b: np.ndarray, t: int) -> list[np.ndarray]:
        """``{t}`` and the clusters of more tasks whose smallest task is ``t`` (each subtree once per sweep)."""
        out, seen = [np.array([t])], set()
        for h in range(1, self.B + 1):
            C = np.flatnonzero(b[t] >= h)
            if 1 < len(C) < self.T and C[0] == t and len(C) not in seen:
                seen.add(len(C))
                out.append(C)
        return out

    def key_of(self, b):
        return self._key if b is self._cur else self.key(b)

    def cost_of(self, b):
        return self._cost if b is self._cur else self.cost(b)

    def place(self, b: np.ndarray, t: int, o: np.ndarray, g: int, m: int, C: np.ndarray | None = None
              ) -> np.ndarray:
        new = b.copy()
        C = np.array([t]) if C is None else C
        row = np.minimum(b[o[g], o], m) if m > 0 else np.zeros(len(o), dtype=b.dtype)
        new[np.ix_(C, o)] = row[None, :]
        new[np.ix_(o, C)] = row[:, None]
        return new

    def offer(self, b: np.ndarray, key: float) -> None:
        self.pool.add(tuple(int(x) for x in b[self.iu]), key)
        if key > self.best_key:
            self.best_key, self.best_b = key, b

    # ---------------------------------------------------------------------------------------- moves
    def set_current(self, b: np.ndarray) -> None:
        self._cur, self._key, self._cost = b, self.key(b), self.cost(b)

    def improve(self, b: np.ndarray, deadline: float, lam: float = 0.0, constrained: bool = True) -> np.ndarray:
        """Best-improvement reinsertion sweeps on ``key − lam·cost`` (within the budget if ``constrained``) until no
        task can move up (or the deadline); a feasible result is offered to the pool."""
        self.set_current(b)
        improved = True
        while improved and time.perf_counter() < deadline:
            improved = False
            for t in self.rng.permutation(self.T):
                for C in self.clusters(self._cur, int(t)):
                    o, keys, costs = self.options(self._cur, int(t), C)
                    value = keys - lam * costs
                    if constrained:
                        value = np.where(np.broadcast_to(costs <= self.budget, keys.shape), value, -np.inf)
                    g, m = np.unravel_index(int(np.argmax(value)), keys.shape)
                    if value[g, m] > self._key - lam * self._cost + 1.0:
                        self.set_current(self.place(self._cur, int(t), o, int(g), int(m), C))
                        improved = True
        if self._cost <= self.budget:
            self.offer(self._cur, self._key)
            self.harvest(deadline)
        return self._cur

    def repair(self, b: np.ndarray, deadline: float) -> np.ndarray:
        """Move tasks to cheaper places, least key lost per cost saved first, until the budget holds."""
        self.set_current(b)
        while self._cost > self.budget and time.perf_counter() < deadline:
            best = None
            for t in range(self.T):
                o, keys, costs = self.options(self._cur, t)
                saved = self._cost - np.broadcast_to(costs, keys.shape)
                with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                    rate = np.where(saved > 0, (keys - self._key) / np.maximum(saved, 1e-300), -np.inf)
                g, m = np.unravel_index(int(np.argmax(rate)), keys.shape)
                if best is None or rate[g, m] > best[0]:
                    best = (rate[g, m], t, o, int(g), int(m))
            if best is None or not np.isfinite(best[0]):
                break
            self.set_current(self.place(self._cur, best[1], best[2], best[3], best[4]))
        return self._cur

    def harvest(self, deadline: float) -> None:
        """Collect every neighbour of the current layout that scores above the pool's k-th best."""
        b = self._cur
        for t in range(self.T):
            if time.perf_counter() > deadline:
                return
            o, keys, costs = self.options(b, t)
            keys = np.where(np.broadcast_to(costs <= self.budget, keys.shape), keys, -np.inf)
            for g, m in np.argwhere(keys >= self.pool.threshold()):
                self.pool.add(tuple(int(x) for x in self.place(b, t, o, int(g), int(m))[self.iu]),
                              float(keys[g, m]))

    def perturb(self, b: np.ndarray, moves: int) -> np.ndarray:
        """Random feasible reinsertions of ``moves`` random tasks."""
        self.set_current(b)
        for _ in range(moves):
            t = int(self.rng.integers(self.T))
            o, keys, costs = self.options(self._cur, t)
            ok = np.argwhere(np.broadcast_to(costs <= self.budget, keys.shape))
            if not len(ok):
                continue
            g, m = ok[int(self.rng.integers(len(ok)))]
            self.set_current(self.place(self._cur, t, o, int(g), int(m)))
        return self._cur

    def greedy(self) -> np.ndarray:
        """Insert the tasks one by one, each where it scores best within the budget left."""
        T, B = self.T, self.B
        b = np.full((T, T), B, dtype=np.int64)            # start all-shared; re-place every task in turn
        self.set_current(b)
        for t in range(T):
            o, keys, costs = self.options(self._cur, t)
            keys = np.where(np.broadcast_to(costs <= self.budget, keys.shape), keys, -np.inf)
            g, m = np.unravel_index(int(np.argmax(keys)), keys.shape)
            self.set_current(self.place(self._cur, t, o, int(g), int(m)))
        return self._cur

    def run(self, deadline: float, lam: float | None = None) -> None:
        """Iterated local search until ``deadline``: restarts from the best layout after 2..4 random moves and, with
        a budget, Lagrangian rounds (improve ``key − λ·cost`` freely, repair, improve within the budget; λ drawn
        around ``lam``, by default a scale of the keys per unit cost)."""
        if self.best_b is None:
            self.improve(np.full((self.T, self.T), self.B, dtype=np.int64), deadline)
            self.improve(self.greedy(), deadline)
        if lam is None:
            lam = float(np.ptp(self.K, axis=2).sum()) / max(float(self.suf[0]), 1e-300) / self.T
        while time.perf_counter() < deadline:
            feasible = self._cost <= self.budget
            start = self.best_b if self.rng.random() < 0.7 or not feasible else self._cur
            start = self.perturb(start, int(self.rng.integers(2, 5)))
            if math.isfinite(self.budget) and self.rng.random() < 0.5:
                free = self.improve(start, deadline, lam * 2.0 ** self.rng.uniform(-3, 3), constrained=False)
                start = self.repair(free, deadline)
            self.improve(start, deadline)


def _relaxation_bound(K: np.ndarray, order: Sequence[int], f: np.ndarray, budget: float | None,
                      deadline: float) -> float:
    """Upper bound (key units) on every feasible layout: exact prefix set + one relaxed row per later task."""
    T, B = K.shape[0], K.shape[2] - 1
    suf = np.concatenate([np.cumsum(f[::-1])[::-1], [0.0]])
    a = min(T, PREFIX_TASKS)
    A, later = list(order[:a]), list(order[a:])
    keys_A = np.array([K[A[i], A[j]] for i, j in pairs(a)])
    items = topk._Items(B, topk._subset_sums(a, keys_A), f, suf)
    root = (1 << a) - 1
    prefix_max = np.maximum.accumulate(K, axis=2)        # best key of a pair branching at block <= m
    rows = np.array([prefix_max[t, list(order[:i])].sum(axis=0) for i, t in enumerate(order) if i >= a]
                    ).reshape(len(later), B + 1)

    def g(lam: float) -> tuple[float, float]:
        U = topk._table(a, B, items.W, f, lam, compiled=True)
        pen = rows - lam * suf[None, :]
        m = pen.argmax(axis=1)
        value = U[0, root] + float(pen[np.arange(len(later)), m].sum()) + lam * (budget or 0.0)
        if budget is None:
            return value, 0.0
        cost = topk._trace(items, U, lam, root)[1] + float(suf[m].sum())
        return value, cost

    best, cost = g(0.0)
    if budget is None or cost <= budget:
        return best
    lo, hi = 0.0, float(np.ptp(K, axis=2).sum()) / max(float(suf[0]), 1e-300)
    while time.perf_counter() < deadline:                # grow hi until the maximisers fit the budget
        value, cost = g(hi)
        best = min(best, value)
        if cost <= budget:
            break
        lo, hi = hi, 2 * hi
    for _ in range(40):                                  # bisection on the multiplier (log scale once lo > 0)
        if time.perf_counter() > deadline or hi - lo <= 1e-9 * hi:
            break
        mid = math.sqrt(lo * hi) if lo > 0 else hi / 64
        value, cost = g(mid)
        best = min(best, value)
        if cost > budget:
            lo = mid
        else:
            hi = mid
    return best


def _cover(T: int, size: int, rng: np.random.Generator) -> list[list[int]]:
    """Task sets of ``size`` tasks covering every pair at least once (greedy: grow a set around the least-covered
    pair with the tasks least covered together with it)."""
    count = np.eye(T, dtype=np.int64) * 10 ** 9
    sets: list[list[int]] = []
    while (count == 0).any():
        a, c = np.unravel_index(int(np.argmin(count + rng.random((T, T)) * 0.5)), count.shape)
        A = [int(a), int(c)]
        while len(A) < size:
            score = count[A].sum(axis=0) + rng.random(T) * 0.5
            score[A] = np.inf
            A.append(int(np.argmin(score)))
        A.sort()
        sets.append(A)
        count[np.ix_(A, A)] += 1
    return sets


def _decomposition_bound(K: np.ndarray, f: np.ndarray, budget: float | None, size: int, best_key: float,
                         deadline: float, seed: int = 0) -> float:
    """Upper bound (key units) by dual decomposition over task sets that cover every pair.

    Each pair's key is split between the sets holding it (``K_p = sum_j K_p^j``); every set's layouts are solved
    exactly (the subset tables of :mod:`~mtlkit.treemtl.topk`), so ``sum_j max K^j`` bounds every layout. With a
    budget, ``cost(L) >= cost of L restricted to any set``, so ``cost >= mean_j cost(L | A_j)`` and each set pays
    ``λ / r`` per unit of its own cost. The split starts uniform and is improved by subgradient steps (Polyak steps
    towards ``best_key``) that move key mass to the sets whose optimum disagrees with the others on a pair.
    """
    T, B = K.shape[0], K.shape[2] - 1
    rng = np.random.default_rng(seed)
    sets = _cover(T, min(size, T), rng)
    r, s = len(sets), min(size, T)
    P = pairs(s)
    count = np.zeros((T, T))
    for A in sets:
        count[np.ix_(A, A)] += 1
    share = [np.array([K[A[i], A[j]] / count[A[i], A[j]] for i, j in P]) for A in sets]
    mu = [np.zeros_like(x) for x in share]
    suf = np.concatenate([np.cumsum(f[::-1])[::-1], [0.0]])
    root = (1 << s) - 1

    def solve(lam: float):
        value, cost, rows = (0.0 if budget is None else lam * budget), 0.0, []
        for x, m in zip(share, mu):
            items = topk._Items(B, topk._subset_sums(s, x + m), f, suf)
            U = topk._table(s, B, items.W, f, lam / r, compiled=True)
            splits: list = []
            cost += topk._trace(items, U, lam / r, root, splits)[1] / r
            value += float(U[0, root])
            rows.append(topk._branch_vector(s, B, splits))
        return value, cost, rows

    lam = 0.0
    value, cost, rows = solve(0.0)
    best = value
    if budget is not None and cost > budget:             # bisection on the multiplier, as in _relaxation_bound
        lo, hi = 0.0, float(np.ptp(K, axis=2).sum()) / max(float(suf[0]), 1e-300)
        for _ in range(60):
            if time.perf_counter() > deadline or (lo > 0 and hi - lo <= 0.05 * hi):
                break
            mid = hi if lo == 0 and cost > budget and _ == 0 else (math.sqrt(lo * hi) if lo > 0 else hi / 64)
            value, cost, rows = solve(mid)
            if value < best:
                best, lam = value, mid
            if cost > budget:
                lo = mid
                if mid == hi:
                    hi *= 2
            else:
                hi = mid
        value, cost, rows = solve(lam)
    theta = 1.0
    where = {}                                           # pair (a, c) -> [(set j, position in P)]
    for j, A in enumerate(sets):
        for q, (i, k) in enumerate(P):
            where.setdefault((A[i], A[k]), []).append((j, q))
    shared = [v for v in where.values() if len(v) > 1]
    while time.perf_counter() < deadline and shared:     # subgradient steps on the split
        g = [np.zeros_like(x) for x in share]
        for v in shared:
            onehot = np.zeros((len(v), B + 1))
            for n, (j, q) in enumerate(v):
                onehot[n, rows[j][q]] = 1.0
            diff = onehot - onehot.mean(axis=0)
            for n, (j, q) in enumerate(v):
                g[j][q] = diff[n]
        norm = sum(float((x * x).sum()) for x in g)
        if norm == 0:
            break                                        # the sets agree on every shared pair: the bound is tight
        step = theta * max(value - best_key, 0.0) / norm
        for m, x in zip(mu, g):
            m -= step * x
        value, cost, rows = solve(lam)
        if value < best:
            best = value
        else:
            theta *= 0.7
    return best


def anytime_top_k(scores: PairScores, per_block: Sequence[float] | None = None, budget_abs: float | None = None,
                  k: int = 5, time_limit: float = 10.0, seed: int = 0) -> AnytimeResult:
    """The best layouts found within ``time_limit`` seconds and a certified bound on the best score (module doc).

    Args:
        scores: pair contributions and exact ranking keys of the table (T <= :data:`MAX_TASKS`).
        per_block: ``B`` per-block costs (needed with a budget).
        budget_abs: maximum cost ``sum_c |L_c| f_c`` (inclusive), or None.
        k: number of layouts.
        time_limit: seconds (> 0). Checked between steps: one bound table of 16 tasks takes about a second.
        seed: seed of the local search's random moves.

    Returns:
        An :class:`AnytimeResult`.

    Raises:
        ConfigError: ``T > MAX_TASKS``, ``time_limit <= 0``, ``k < 1``, a budget without costs.
    """
    t0 = time.perf_counter()
    limit = check_time_limit(time_limit)
    check_tasks(scores.T)
    T, B, f, suf = topk._prepare(scores, per_block, budget_abs, k)
    deadline = t0 + limit
    K = np.zeros((T, T, B + 1))
    for p, (a, c) in enumerate(pairs(T)):
        K[a, c] = K[c, a] = scores.keys[p]
    pool = _Pool(k)
    budget = math.inf if budget_abs is None else float(budget_abs)
    if T <= EXACT_TASKS:
        out = topk._exact(scores, per_block, budget_abs, k, deadline=deadline)
        for row, key in zip(out.rows, out.keys):
            pool.add(tuple(row), key)
        nodes, method = out.stats.expanded, "exact" if out.finished else "exact, stopped"
        ub = -math.inf if out.finished else out.bound
        if not out.finished or not out.rows:                 # a quick incumbent in case the queue held none
            ls = _LocalSearch(K, f, budget, pool, seed)
            ls.improve(np.full((T, T), B, dtype=np.int64), deadline + 0.1 * limit)
            nodes += ls.moves
        exact = out.finished
    else:
        ls = _LocalSearch(K, f, budget, pool, seed)
        ls.run(t0 + 0.15 * limit)
        b = ls.best_b
        slack = (K.max(axis=2) - np.take_along_axis(K, b[:, :, None], axis=2)[:, :, 0]).sum(axis=1)
        ub = _relaxation_bound(K, list(np.argsort(-slack, kind="stable")), f, budget_abs, t0 + 0.25 * limit)
        ub = min(ub, _decomposition_bound(K, f, budget_abs, COVER_TASKS, ls.best_key, t0 + 0.6 * limit, seed))
        ls.run(deadline)
        nodes, method, exact = ls.moves, "local search + relaxation", False
    ranked = pool.ranked()[:k]
    keys = np.array([kv[1] for kv in ranked])
    bp = np.array([kv[0] for kv in ranked], dtype=np.uint8).reshape(-1, T * (T - 1) // 2)
    scale = 2.0 ** -scores.shift
    best = float(keys[0]) * scale if len(keys) else -math.inf
    upper = max(ub * scale, best)
    shared = float(scores.keys[:, B].sum()) * scale
    independent = float(scores.keys[:, 0].sum()) * scale
    low = _LocalSearch(-K, f, math.inf, _Pool(1), seed)        # a low-scoring layout (any budget), briefly
    low.run(time.perf_counter() + min(0.05 if exact else 0.5, 0.05 * limit))
    spread = best - min(shared, independent, -low.best_key * scale)
    gap = upper - best
    pct = 100.0 * gap / spread if spread > 0 else (0.0 if gap == 0 else math.inf)
    return AnytimeResult(bp, keys, best, upper, gap, spread, pct, exact, time.perf_counter() - t0, nodes, method)
