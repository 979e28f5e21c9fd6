"""Certified anytime top-k (issue 18): exact where the exact search finishes, valid bounds and feasible layouts
beyond, clear errors; the synthetic many-task tables."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from mtlkit.errors import ConfigError
from mtlkit.treemtl import (
    Layout, PairScores, TwoTaskTable, anytime_top_k, branch_point_matrix, layout_cost_matrix, ranking_order,
    recommend, search_top_k, synthetic_table,
)
from mtlkit.treemtl import anytime, bounds


def _budget(f, b):
    return None if b is None else b * float(np.sum(f)) * (1 + 1e-9)


def test_anytime_equals_brute_force_up_to_six_tasks():
    rng = np.random.default_rng(5)
    for T in range(2, 7):
        B = 3 if T == 6 else 4
        bp = branch_point_matrix(T, B)
        for kind in ("random", "groups", "ties"):
            scores = PairScores.from_table(synthetic_table(T, B, kind, seed=T), "uniform")
            f = rng.uniform(0.5, 4, size=B)
            cost = layout_cost_matrix(bp, T, f)
            for b in (None, 1.0, T / 2):
                keep = bp if b is None else bp[cost <= _budget(f, b)]
                expected = keep[ranking_order(scores.ranking_keys(keep), keep)[:4]]
                r = anytime_top_k(scores, f, _budget(f, b), 4, time_limit=30)
                assert r.exact and r.gap == 0 and r.gap_pct == 0 and r.method == "exact"
                assert np.array_equal(r.branch_points, expected), (T, kind, b)
                assert np.array_equal(r.keys, scores.ranking_keys(expected))


def test_anytime_closes_the_gap_and_agrees_with_the_exact_search_up_to_twelve_tasks():
    f = np.arange(1.0, 10.0)
    for T in (8, 10, 12):
        for kind in ("random", "groups"):
            scores = PairScores.from_table(synthetic_table(T, 9, kind, seed=T))
            for b in (None, 3.0):
                r = anytime_top_k(scores, f, _budget(f, b), 5, time_limit=60)
                exact, _ = search_top_k(scores, f, _budget(f, b), 5)
                assert r.exact and r.gap == 0 and np.array_equal(r.branch_points, exact)
                assert r.best == pytest.approx(float(r.keys[0]) * 2.0 ** -scores.shift)


def test_decomposition_bound_is_above_the_optimum():
    """The bound of the many-task path (dual decomposition over covering task sets, both cost inequalities) >= the
    exact optimum, with and without a budget, for several set sizes, before and after subgradient steps."""
    rng = np.random.default_rng(11)
    for T, kind in [(6, "random"), (7, "random"), (8, "groups"), (9, "ties"), (10, "random")]:
        B = 5
        scores = PairScores.from_table(synthetic_table(T, B, kind, seed=T), "uniform")
        K = np.zeros((T, T, B + 1))
        for p, (a, c) in enumerate(anytime.pairs(T)):
            K[a, c] = K[c, a] = scores.keys[p]
        f = rng.uniform(0.5, 3, size=B)
        for b in (None, 1.5, 3.0):
            found = search_top_k(scores, f, _budget(f, b), 1)[0]
            best = float(scores.ranking_keys(found)[0])
            full = np.full((T, T), B)
            full[np.triu_indices(T, 1)] = found[0]
            full = np.minimum(full, full.T)
            for size in (3, 5):
                dec = bounds.Decomposition(K, f, _budget(f, b), size, seed=size)
                assert dec.solve(0.0) >= best - 2.0 ** 22
                for alpha in (np.zeros(B), rng.uniform(0, 1, B)):   # any mix of the two cost inequalities
                    dec.alpha = alpha
                    for lam in (0.0, 1e12, 1e15):
                        assert dec.solve(lam) >= best - 2.0 ** 22, (T, kind, b, size, lam)
                bound = dec.bound(best - 1e12, time.perf_counter() + 0.3, full)
                assert bound >= best - 2.0 ** 22, (T, kind, b, size)


def test_decomposition_bound_is_exact_for_one_set():
    """A single set holding every task is the exact DP: its value at λ = 0 is the unbudgeted optimum."""
    for T in (4, 6):
        scores = PairScores.from_table(synthetic_table(T, 4, seed=T), "uniform")
        K = np.zeros((T, T, 5))
        for p, (a, c) in enumerate(anytime.pairs(T)):
            K[a, c] = K[c, a] = scores.keys[p]
        best = float(scores.ranking_keys(search_top_k(scores, None, None, 1)[0])[0])
        dec = bounds.Decomposition(K, np.ones(4), None, T)
        assert dec.r == 1 and dec.solve(0.0) == pytest.approx(best, rel=1e-12)


def test_cover_holds_every_pair():
    rng = np.random.default_rng(0)
    for T, size in [(5, 3), (12, 5), (40, 10)]:
        sets = bounds.cover(T, size, rng)
        assert all(len(A) == size == len(set(A)) for A in sets)
        held = {(a, c) for A in sets for a in A for c in A if a < c}
        assert held == set(anytime.pairs(T))
        w = bounds.group_weights(T, sets)                 # every earlier task covered by a weighted set
        for t in range(T):
            for u in range(t):
                assert sum(w[j, t] for j, A in enumerate(sets) if t in A and u in A) >= 1


def _check_result(scores, f, budget_abs, r, k):
    T, B = scores.T, scores.B
    assert 1 <= len(r.branch_points) <= k
    layouts = Layout.from_branch_matrix(T, B, r.branch_points)          # every row is a tree
    assert len(set(layouts)) == len(layouts)
    assert np.array_equal(r.keys, scores.ranking_keys(r.branch_points))
    assert list(ranking_order(r.keys, r.branch_points)) == list(range(len(r.keys)))
    if budget_abs is not None:
        assert (layout_cost_matrix(r.branch_points, T, f) <= budget_abs).all()
    assert r.upper_bound >= r.best and r.gap == pytest.approx(r.upper_bound - r.best) and r.score_range > 0


def test_many_task_path_returns_feasible_ranked_layouts_and_a_valid_bound(monkeypatch):
    """Force the local search + relaxation path on 9 tasks, where the exact optimum is known."""
    monkeypatch.setattr(anytime, "EXACT_TASKS", 0)
    f = np.array([1.0, 3, 4, 6, 3])
    for kind in ("random", "groups"):
        scores = PairScores.from_table(synthetic_table(9, 5, kind, seed=2))
        for b in (None, 2.5):
            r = anytime_top_k(scores, f, _budget(f, b), 5, time_limit=1.0)
            assert r.method == "local search + relaxation" and not r.exact
            _check_result(scores, f, _budget(f, b), r, 5)
            exact_best = float(scores.ranking_keys(search_top_k(scores, f, _budget(f, b), 1)[0])[0])
            assert r.upper_bound >= exact_best * 2.0 ** -scores.shift - 1e-9 >= r.best - 2e-9


def test_forty_tasks_within_the_time_limit():
    from mtlkit.treemtl.synthetic import fine_resnet34_macs

    f = fine_resnet34_macs()
    scores = PairScores.from_table(synthetic_table(40, 17, "groups", seed=0))
    r = anytime_top_k(scores, f, _budget(f, 3), 3, time_limit=2.0)
    _check_result(scores, f, _budget(f, 3), r, 3)
    assert r.seconds < 2.0 + 1.5                      # the limit is checked between steps


def test_a_stopped_exact_search_still_bounds_the_optimum():
    scores = PairScores.from_table(synthetic_table(12, 9, seed=4))
    f = np.arange(1.0, 10.0)
    r = anytime_top_k(scores, f, _budget(f, 3), 5, time_limit=1e-6)
    assert r.method == "exact, stopped" and not r.exact
    _check_result(scores, f, _budget(f, 3), r, 5)
    best = float(scores.ranking_keys(search_top_k(scores, f, _budget(f, 3), 1)[0])[0]) * 2.0 ** -scores.shift
    assert r.upper_bound >= best - 1e-9 and r.best <= best + 1e-9


def test_recommend_with_a_time_limit():
    table = synthetic_table(20, 5, "groups", seed=1, task_names=[f"attr{i}" for i in range(20)])
    df = recommend(table, [1.0, 3, 4, 6, 3], budget=3, k=4, time_limit=1.0)
    assert len(df) == 4 and df.attrs["method"] == "anytime" and df.attrs["gap"] >= 0
    assert df.attrs["upper_bound"] >= df.score.iloc[0] - 1e-9 and (df.backbones <= 3 + 1e-9).all()
    small = synthetic_table(6, 4, seed=0)
    a = recommend(small, [1.0, 2, 3, 4], budget=2, k=5, time_limit=5)
    b = recommend(small, [1.0, 2, 3, 4], budget=2, k=5, method="enumerate")
    assert a.attrs["exact"] and a.attrs["gap"] == 0 and [str(x) for x in a.layout] == [str(x) for x in b.layout]


@pytest.mark.parametrize("limit", [0, -1.0, float("nan"), float("inf"), "soon", True])
def test_bad_time_limits_are_refused(limit):
    scores = PairScores.from_table(synthetic_table(4, 3, seed=0))
    with pytest.raises(ConfigError, match="time_limit must be a number of seconds > 0"):
        anytime_top_k(scores, time_limit=limit)
    with pytest.raises(ConfigError, match="time_limit must be a number of seconds > 0"):
        recommend(synthetic_table(4, 3, seed=0), k=2, time_limit=limit)


def test_more_than_forty_tasks_are_refused():
    table = synthetic_table(41, 2, seed=0)
    with pytest.raises(ConfigError, match="at most 40 tasks.*T=41"):
        recommend(table, k=1, weights="uniform", time_limit=1)
    with pytest.raises(ConfigError, match="at most 40 tasks.*T=41"):
        anytime_top_k(PairScores.from_table(table, "uniform"), time_limit=1)
    with pytest.raises(ConfigError, match="T=17 tasks.*time_limit"):
        recommend(synthetic_table(17, 3, seed=0), k=1)


def test_synthetic_tables():
    a, b = synthetic_table(6, 4, seed=3), synthetic_table(6, 4, seed=3)
    assert np.array_equal(a.values, b.values) and not np.array_equal(a.values, synthetic_table(6, 4, seed=4).values)
    assert a.values.shape == (6, 6, 5) and (a.values[:, :, 0] == 0).all()
    ties = synthetic_table(5, 3, "ties", seed=0)
    assert set(np.unique(ties.values)) <= {-2.0, -1.0, 0.0, 1.0, 2.0}
    # planted groups without noise: the best layout shares everything inside a group and nothing across
    planted = synthetic_table(6, 4, "groups", groups=[0, 1, 0, 2, 1, 0], noise=0.0, seed=1)
    best = recommend(planted, k=1, weights="uniform").layout.iloc[0]
    assert [best.groups(c) for c in range(4)] == [((0, 2, 5), (1, 4), (3,))] * 4
    for bad in (dict(kind="other"), dict(noise=-1.0), dict(kind="groups", groups=0),
                dict(kind="groups", groups=[0, 1])):
        with pytest.raises(ConfigError, match="synthetic_table"):
            synthetic_table(6, 4, **bad)
    assert isinstance(a, TwoTaskTable) and "seed=3" in a.source
