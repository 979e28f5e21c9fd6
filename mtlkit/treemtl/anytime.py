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
  The **bound** is the dual decomposition of :mod:`~mtlkit.treemtl.bounds`: task sets of ``COVER_TASKS`` tasks
  that cover every pair, each pair's score split between the sets holding it, every set solved exactly; the budget
  enters through per-block lower bounds on the number of groups (chosen, block by block, to be exact at the best
  layout found), and the split and the multiplier are improved by subgradient steps until the time share ends.

  Time shares: 15 % local search, 70 % bound (it stops early once its steps stall), the rest local search (from
  T = 20 to 40 the bound gains far more from time than the best layout: measured with 3.5 vs 30 s and 10 vs 60 s).

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
from mtlkit.treemtl import bounds, topk
from mtlkit.treemtl.estimator import PairScores, tie_key
from mtlkit.treemtl.layout import pairs

#: Most tasks the recommender accepts (the bound and the local search are polynomial; 40 = CelebA's attributes).
MAX_TASKS = 40
#: Up to this many tasks the anytime search runs the exact search first (it usually finishes).
EXACT_TASKS = 16
#: Shares of the time limit: the first local search, then the bound (the rest: local search again).
FIRST_SEARCH, BOUND_SHARE = 0.15, 0.70


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
        ls.run(t0 + FIRST_SEARCH * limit)
        dec = bounds.Decomposition(K, f, budget_abs, bounds.COVER_TASKS, seed)
        ub = dec.bound(ls.best_key, t0 + (FIRST_SEARCH + BOUND_SHARE) * limit, ls.best_b)
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
