"""Certified upper bounds on the best layout of many tasks under a budget (beyond the paper).

The score of a layout ``L`` is a sum of pair terms, ``S(L) = sum_{t<u} K_tu(b_tu)``, and its cost is
``sum_d f_d n_d(L)`` with ``n_d`` its number of groups at block ``d``. The bound is a **dual decomposition**:

* *task sets* ``A_1..A_r`` of ``s`` tasks cover every pair; each pair's key is split between the sets holding it
  (``K_p = sum_j K_p^j``, the split is the dual variable), so ``S(L) = sum_j S_j(L|A_j)``;
* the *cost* is bounded from below, block by block, by group counts of the restrictions ``L|A_j``, with per-group
  weights that the exact dynamic programme of a set can charge (see :func:`group_weights`). Two valid inequalities,
  mixed per block by ``alpha_d`` in ``[0, 1]``:

  - *mean*: every group of ``L`` meets at most ``r`` sets, so ``n_d(L) >= (1/r) sum_j n_d(L|A_j)`` — tight when the
    tasks share the block;
  - *representatives*: in task order, ``n_d = T - #{t: t shares block d with an earlier task}`` and "t shares with
    an earlier task" is at most ``sum_j w_jt [t shares with an earlier task of A_j]`` when the weights cover every
    earlier task (``sum_{j ∋ t, u} w_jt >= 1`` for ``u < t``), so
    ``n_d(L) >= T - sum_jt w_jt + sum_j sum_{groups P of L|A_j} w_{j, min P}`` — tight when tasks are apart;

* for any multiplier ``λ >= 0``, ``S(L) <= S(L) + λ (budget - cost(L))`` for a feasible ``L``, and every term then
  splits over the sets, each maximised exactly over all layouts of its ``s`` tasks (a DP over subsets, ``3^s B``).

The split and ``λ`` are improved by projected subgradient steps (Polyak steps towards a known feasible score); any
split, ``λ >= 0`` and ``alpha`` give a valid bound, so the smallest value seen is returned whenever time runs out.
"""
from __future__ import annotations

import math
import time

import numpy as np

from mtlkit.treemtl import topk

#: Size of the task sets (each solved exactly by a DP over its 2^s subsets, 3^s · B work).
COVER_TASKS = 10
#: Non-improving subgradient steps before the step size is halved.
PATIENCE = 10
#: Share of the previous direction kept in a subgradient step.
MOMENTUM = 0.5


def _subset_keys(s, B, Ks, W):                           # pragma: no cover - compiled by numba when present
    """``W[S, b]`` = keys of the pairs inside the tasks ``S`` of one set at branching point ``b`` (``Ks[u, t]``,
    ``u < t``: the pair's keys)."""
    for b in range(B + 1):
        W[0, b] = 0.0
    for S in range(1, 1 << s):
        t = 0
        while (S >> (t + 1)) != 0:
            t += 1
        R = S ^ (1 << t)
        for b in range(B + 1):
            W[S, b] = W[R, b]
        for u in range(t):
            if (R >> u) & 1:
                for b in range(B + 1):
                    W[S, b] += Ks[u, t, b]


def _set_trace(s, B, cw, W, U, bp, groups):              # pragma: no cover - compiled by numba when present
    """Follow ``U`` down: ``bp[x, y]`` receives the maximiser's branching points, ``groups[d, i]`` its number of
    groups at block ``d`` with smallest task ``i``."""
    n = 1 << s
    for x in range(s):
        for y in range(s):
            bp[x, y] = B
    for d in range(B):
        for i in range(s):
            groups[d, i] = 0.0
    stack_S = np.empty(4 * s * (B + 1) + 4, dtype=np.int64)
    stack_d = np.empty(4 * s * (B + 1) + 4, dtype=np.int64)
    top = 0
    stack_S[0] = n - 1
    stack_d[0] = 0
    top = 1
    while top > 0:
        top -= 1
        S = stack_S[top]
        d = stack_d[top]
        if d == B or S == 0:
            continue
        low = S & -S
        i = 0
        while (low >> i) != 1:
            i += 1
        rest = S ^ low
        target = U[d, S] - W[S, d]
        best_p, best_v = S, -np.inf
        sub = rest
        while True:                                       # the part P holding the smallest task (all subsets)
            P = low | sub
            O = rest ^ sub
            v = U[d + 1, P] - W[P, d] - cw[d, i] + (U[d, O] - W[O, d] if O != 0 else 0.0)
            if v > best_v:
                best_v, best_p = v, P
            if v >= target:
                break
            if sub == 0:
                break
            sub = (sub - 1) & rest
        P = best_p
        O = S ^ P
        groups[d, i] += 1.0
        for x in range(s):
            if (P >> x) & 1:
                for y in range(s):
                    if (O >> y) & 1:
                        bp[x, y] = d
                        bp[y, x] = d
        stack_S[top] = P
        stack_d[top] = d + 1
        top += 1
        if O != 0:
            stack_S[top] = O
            stack_d[top] = d
            top += 1


_KERNELS: dict = {}


def _kernels():
    """``(subset keys, DP, trace)`` compiled by numba if it is installed (else the plain functions, slow but exact);
    the DP is the exact search's (:func:`mtlkit.treemtl.topk._dp_levels`, charging each group by its smallest task).
    """
    if not _KERNELS:
        try:
            import numba
        except ImportError:
            _KERNELS.update(keys=_subset_keys, dp=topk._dp_levels, trace=_set_trace)
        else:
            jit = numba.njit(cache=True, nogil=True)
            _KERNELS.update(keys=jit(_subset_keys), dp=topk._kernel(), trace=jit(_set_trace))
    return _KERNELS["keys"], _KERNELS["dp"], _KERNELS["trace"]


def cover(T: int, size: int, rng: np.random.Generator) -> list[list[int]]:
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


def group_weights(T: int, sets: list[list[int]]) -> np.ndarray:
    """Weights ``w[j, t]`` of the representatives inequality: for every task ``t`` the sets holding ``t`` that cover
    its earlier tasks ``u < t`` (greedy set cover, weight 1 each; the first task needs none)."""
    w = np.zeros((len(sets), T))
    member = [set(A) for A in sets]
    for t in range(1, T):
        todo = set(range(t))
        holding = [j for j in range(len(sets)) if t in member[j]]
        while todo:
            j = max(holding, key=lambda j: (len(todo & member[j]), -j))
            w[j, t] = 1.0
            todo -= member[j]
    return w


class Decomposition:
    """The dual decomposition of the module docstring for one table ``K`` (``(T, T, B+1)``, symmetric, key units),
    block costs ``f`` and a budget (``None`` or ``inf``: none)."""

    def __init__(self, K: np.ndarray, f: np.ndarray, budget: float | None, size: int = COVER_TASKS,
                 seed: int = 0):
        self.T, self.B = K.shape[0], K.shape[2] - 1
        T, B = self.T, self.B
        self.f = np.asarray(f, dtype=np.float64)
        self.budget = None if budget is None or not math.isfinite(budget) else float(budget)
        self.s = s = min(size, T)
        self.sets = cover(T, s, np.random.default_rng(seed))
        self.r = len(self.sets)
        count = np.zeros((T, T))
        for A in self.sets:
            count[np.ix_(A, A)] += 1
        np.fill_diagonal(count, 1.0)
        self.count = count
        self.share = np.stack([K[np.ix_(A, A)] / count[np.ix_(A, A)][:, :, None] for A in self.sets])
        for x in self.share:
            x[np.arange(s), np.arange(s)] = 0.0
        self.mu = np.zeros_like(self.share)                  # the split's correction, antisymmetric across sets
        self.w = group_weights(T, self.sets)
        self.wl = np.stack([self.w[j, A] for j, A in enumerate(self.sets)])   # (r, s) local weights
        self.alpha = np.ones(B)
        n = 1 << s
        self._W, self._U = np.empty((n, B + 1)), np.empty((B + 1, n))
        self.bp = np.empty((self.r, s, s), dtype=np.int64)
        self.groups = np.empty((self.r, B, s))
        self.solves = 0

    def group_cost(self, lam: float) -> tuple[np.ndarray, float]:
        """Per-set group charges ``(r, B, s)`` and the constant ``λ·(budget − sum_d f_d (1−α_d)(T − Σw))``."""
        a = self.alpha
        phi = a[None, :, None] / self.r + (1 - a)[None, :, None] * self.wl[:, None, :]
        const = 0.0 if self.budget is None else lam * (
            self.budget - float((self.f * (1 - a)).sum()) * (self.T - float(self.w.sum())))
        return lam * self.f[None, :, None] * phi, const

    def solve(self, lam: float) -> float:
        """The bound for the current split and ``λ`` (``λ`` is ignored without a budget); the maximisers are kept
        in ``bp`` and ``groups``."""
        keys, dp, trace = _kernels()
        lam = 0.0 if self.budget is None else lam
        cw, value = self.group_cost(lam)
        s, B = self.s, self.B
        for j in range(self.r):
            Ks = np.ascontiguousarray(self.share[j] + self.mu[j])
            charge = np.ascontiguousarray(cw[j])
            keys(s, B, Ks, self._W)
            dp(s, B, self._W, charge, self._U)
            value += float(self._U[0, (1 << s) - 1])
            trace(s, B, charge, self._W, self._U, self.bp[j], self.groups[j])
        self.solves += 1
        return value

    def relaxed_groups(self) -> np.ndarray:
        """The cost inequalities' group counts per block at the current maximisers: ``(2, B)`` (mean, repr.)."""
        mean = self.groups.sum(axis=2).sum(axis=0) / self.r
        rep = self.T - float(self.w.sum()) + (self.groups * self.wl[:, None, :]).sum(axis=(0, 2))
        return np.stack([mean, rep])

    def relaxed_cost(self) -> float:
        mean, rep = self.relaxed_groups()
        return float((self.f * (self.alpha * mean + (1 - self.alpha) * rep)).sum())

    def choose_alpha(self, bp: np.ndarray) -> None:
        """Per block, the inequality that is tighter (larger) at the full layout ``bp`` (``(T, T)`` branching
        points), e.g. the best one found: the relaxation is then exact near it."""
        T, B = self.T, self.B
        mean, rep = np.zeros(B), np.full(B, T - float(self.w.sum()))
        for j, A in enumerate(self.sets):
            sub = bp[np.ix_(A, A)]
            for d in range(B):
                lead = [i for i in range(self.s) if not (sub[i, :i] > d).any()]   # smallest task of each group
                mean[d] += len(lead) / self.r
                rep[d] += float(self.wl[j, lead].sum())
        self.alpha = (mean >= rep).astype(np.float64)

    def subgradient(self) -> np.ndarray:
        """Subgradient of the bound in the split: the maximisers' one-hot branching points minus their mean over
        the sets holding each pair."""
        T, B, s = self.T, self.B, self.s
        onehot = np.zeros((self.r, s, s, B + 1))
        np.put_along_axis(onehot, self.bp[..., None], 1.0, axis=3)
        total = np.zeros((T, T, B + 1))
        for j, A in enumerate(self.sets):
            total[np.ix_(A, A)] += onehot[j]
        mean = total / self.count[:, :, None]
        g = np.stack([onehot[j] - mean[np.ix_(A, A)] for j, A in enumerate(self.sets)])
        g[:, np.arange(s), np.arange(s)] = 0.0
        return g

    def bound(self, target: float, deadline: float, bp: np.ndarray | None = None) -> float:
        """The smallest bound found by ``deadline`` (key units): ``λ`` by bisection on the relaxed cost, then
        subgradient steps on the split and ``λ`` together (Polyak steps towards ``target``, a feasible score)."""
        if bp is not None:
            self.choose_alpha(bp)
        F = max(float(self.f.sum()), 1e-300)
        lam = 0.0
        best = value = self.solve(0.0)
        if self.budget is not None and self.relaxed_cost() > self.budget:
            lo, hi = 0.0, None
            guess = float(np.ptp(self.share, axis=3).sum()) / F
            for _ in range(40):
                if time.perf_counter() > deadline:
                    break
                mid = guess if hi is None and lo == 0 else (2 * lo if hi is None else
                                                            (math.sqrt(lo * hi) if lo > 0 else hi / 8))
                v = self.solve(mid)
                if v < best:
                    best, lam = v, mid
                if self.relaxed_cost() > self.budget:
                    lo = mid
                else:
                    hi = mid
                if hi is not None and lo > 0 and hi - lo <= 0.02 * hi:
                    break
            value = self.solve(lam)
        theta, stall = 1.0, 0
        d_mu, d_lam = np.zeros_like(self.mu), 0.0
        while time.perf_counter() < deadline:
            g = self.subgradient()
            g_lam = 0.0 if self.budget is None else (self.budget - self.relaxed_cost()) / F
            if lam == 0.0 and g_lam > 0:
                g_lam = 0.0                                  # projection on λ >= 0
            if float((g * g).sum()) + g_lam * g_lam == 0:
                break                                        # the sets agree and the budget term is slack: tight
            d_mu = g + MOMENTUM * d_mu                       # deflected subgradient (a share of the last step)
            d_lam = g_lam + MOMENTUM * d_lam
            norm = float((d_mu * d_mu).sum()) + d_lam * d_lam
            step = theta * max(value - target, 0.0) / norm
            if step <= 0:
                break
            self.mu -= step * d_mu
            lam = max(0.0, lam - step * d_lam / F)
            value = self.solve(lam)
            if value < best - 1e-12 * abs(best):
                best, stall = value, 0
            else:
                stall += 1
                if stall >= PATIENCE:
                    theta, stall = theta * 0.5, 0
                    if theta < 1e-4:
                        break
        return best
