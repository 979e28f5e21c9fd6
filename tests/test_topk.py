"""Exact top-k without enumeration == brute force (same layouts, same scores, same order), ties included."""
from __future__ import annotations

import numpy as np
import pytest

from mtlkit.errors import ConfigError
from mtlkit.treemtl import (
    PUBLISHED, Layout, PairScores, TwoTaskTable, branch_point_matrix, count_layouts, get_block_costs,
    layout_cost_matrix, published_table, ranking_order, recommend, search_top_k, top_k,
)


def _random_table(rng, T, B, integers=False):
    if integers:      # few distinct values: many exact ties
        v = rng.integers(-2, 3, size=(T, T, B + 1)).astype(float)
    else:
        v = rng.normal(size=(T, T, B + 1)) * 4 + rng.normal(size=(T, T, 1)) * np.arange(B + 1)
    v[:, :, 0] = 0
    return TwoTaskTable(v)


def _brute_force(scores, bp, cost, budget_abs, k):
    keep = np.ones(len(bp), bool) if budget_abs is None else cost <= budget_abs
    sub = bp[keep]
    return sub[ranking_order(scores.ranking_keys(sub), sub)[:k]]


@pytest.mark.parametrize("integers", [False, True], ids=["continuous", "ties"])
def test_search_equals_brute_force_on_random_tables(integers):
    rng = np.random.default_rng(1234 + integers)
    checked = 0
    for T in range(2, 6):
        for B in range(1, 6):
            bp = branch_point_matrix(T, B)
            for trial in range(3):
                table = _random_table(rng, T, B, integers)
                weights = "uniform" if trial == 0 else rng.random(T) + 0.05
                scores = PairScores.from_table(table, weights)
                f = rng.integers(1, 9, size=B).astype(float) if trial != 2 else rng.uniform(0.1, 5, size=B)
                cost = layout_cost_matrix(bp, T, f)
                k = int(rng.integers(1, 12))
                for budget in (None, float(rng.uniform(1, T)), 1.0, float(T)):
                    budget_abs = None if budget is None else budget * f.sum() * (1 + 1e-9)
                    expected = _brute_force(scores, bp, cost, budget_abs, k)
                    got, _ = search_top_k(scores, f, budget_abs, k)
                    assert np.array_equal(got, expected), (T, B, trial, budget, k)
                    checked += 1
    assert checked == 4 * 5 * 3 * 4


def test_integer_table_really_has_ties():
    rng = np.random.default_rng(1235)
    table = _random_table(rng, 4, 3, integers=True)
    keys = PairScores.from_table(table, "uniform").ranking_keys(branch_point_matrix(4, 3))
    assert len(np.unique(keys)) < len(keys) / 2


def test_recommend_search_equals_enumerate_on_published_tables():
    for dataset, backbone in PUBLISHED:
        table = published_table(dataset, backbone)
        for budget in (None, 4, 3, 2.5, 2, 1):
            a = recommend(table, backbone, budget=budget, k=7, method="enumerate")
            b = recommend(table, backbone, budget=budget, k=7, method="search")
            assert a.paper_index.tolist() == b.paper_index.tolist()
            assert a.score.tolist() == b.score.tolist()


def test_search_equals_brute_force_beyond_the_paper_sizes():
    """T=5, B=17 (725,748 layouts, the fine ResNet34 blocks) and T=6, B=5 (120,196 layouts)."""
    rng = np.random.default_rng(7)
    for T, B in [(5, 17), (6, 5)]:
        bp = branch_point_matrix(T, B)
        table = _random_table(rng, T, B)
        scores = PairScores.from_table(table, "svde")
        f = rng.uniform(1, 10, size=B)
        cost = layout_cost_matrix(bp, T, f)
        for budget in (None, 2.0, 3.5):
            budget_abs = None if budget is None else budget * f.sum()
            got, _ = search_top_k(scores, f, budget_abs, 10)
            assert np.array_equal(got, _brute_force(scores, bp, cost, budget_abs, 10))


def test_t8_b17_with_a_budget_is_consistent():
    """Far beyond enumeration (about 1.6e11 layouts): the result is feasible, sorted, and no feasible layout of a
    random sample (random merge trees) scores higher than the 5th."""
    rng = np.random.default_rng(8)
    T, B = 8, 17
    assert count_layouts(T, B) > 1.5e11
    table = _random_table(rng, T, B)
    coarse = get_block_costs("resnet34")
    f = np.repeat(np.asarray(coarse.macs, float) / [1, 3, 4, 6, 3], [1, 3, 4, 6, 3])  # 17 fine blocks
    layouts = top_k(table, list(f), budget=3, k=5)
    scores = [table.score(L) for L in layouts]
    assert len(layouts) == 5 and scores == sorted(scores, reverse=True)
    costs = [float(np.dot(L.num_groups, f)) for L in layouts]
    assert max(costs) <= 3 * f.sum() * (1 + 1e-9)
    # sample random layouts by random ultrametrics: random merge trees with random heights
    w = PairScores.from_table(table).weights
    for _ in range(300):
        groups = [[t] for t in range(T)]
        bp = {}
        height = B                     # merge closest first: branching points never increase along the merges
        while len(groups) > 1:
            i, j = sorted(rng.choice(len(groups), 2, replace=False))
            height = int(rng.integers(0, height + 1))
            for a in groups[i]:
                for b in groups[j]:
                    bp[(min(a, b), max(a, b))] = height
            groups[i] += groups.pop(j)
        L = Layout.from_branch_points(T, B, bp)
        if np.dot(L.num_groups, f) <= 3 * f.sum():
            assert float(table.estimate(L) @ w) <= scores[-1] + 1e-9


def test_top_k_errors():
    table = published_table("nyuv2", "resnet34")
    with pytest.raises(ConfigError, match="budget given without block_costs"):
        top_k(table, budget=2)
    with pytest.raises(ConfigError, match="below the cheapest layout"):
        top_k(table, "resnet34", budget=0.9)
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        search_top_k(PairScores.from_table(table), k=0)
    assert [str(L) for L in top_k(table, k=2)] == ["[012]x3 [01,2]x2", "[012]x5"]


def test_top_k_returns_search_statistics_on_request():
    from mtlkit.treemtl import SearchStats, check_budget
    from mtlkit.treemtl.topk import MAX_MULTIPLIERS

    table = published_table("taskonomy", "resnet34")
    costs = get_block_costs("resnet34")
    layouts, stats = top_k(table, costs, budget=3, k=5, return_stats=True)
    assert layouts == top_k(table, costs, budget=3, k=5)
    assert isinstance(stats, SearchStats) and stats.expanded > 0 and stats.collected >= 5
    assert 1 <= stats.lambdas <= MAX_MULTIPLIERS                  # tables of the budget's multipliers
    scores = PairScores.from_table(table)
    bp, direct = search_top_k(scores, costs.per_block("macs"), check_budget(3, table.T, costs), 5)
    assert direct == stats and layouts == [Layout.from_branch_points(5, 5, r.tolist()) for r in bp]
    assert [str(L) for L in layouts] == [str(L) for L in recommend(table, costs, budget=3, k=5).layout]
    _, unbudgeted = top_k(table, k=3, return_stats=True)
    assert unbudgeted.lambdas == 1                     # no budget: lambda = 0 only, the bound is exact
    assert check_budget(None, 5, costs) is None
    assert check_budget(2, 5, costs) == pytest.approx(2 * sum(costs.macs))


# ------------------------------------------------------------------------------- issue 18: the many-task rewrite
def _golden_cases():
    import json
    from pathlib import Path

    return json.loads((Path(__file__).parent / "data" / "topk_goldens.json").read_text())["cases"]


def test_search_equals_the_search_before_the_rewrite():
    """44 random tables (T = 3..12; random, planted groups, integer ties; B = 3/5/9/17; 3 budgets each): the same
    layouts in the same order as the exact search of revision 3fa2374 (tests/data/make_topk_goldens.py)."""
    from mtlkit.treemtl.synthetic import synthetic_table

    cases = _golden_cases()
    assert len(cases) >= 40 and {c["T"] for c in cases} == set(range(3, 13))
    assert {c["kind"] for c in cases} == {"random", "groups", "ties"}
    for case in cases:
        table = synthetic_table(case["T"], case["B"], case["kind"], seed=case["seed"])
        assert float(table.values.sum()) == case["checksum"], "the synthetic generator changed: regenerate on purpose"
        scores = PairScores.from_table(table, case["weights"])
        for budget, expected in zip(case["budgets"], case["results"]):
            budget_abs = None if budget is None else budget * float(np.sum(case["f"])) * (1 + 1e-9)
            got, _ = search_top_k(scores, case["f"], budget_abs, case["k"])
            assert got.astype(int).tolist() == expected, (case["case"], budget)


def test_compiled_tables_equal_the_numpy_tables():
    from mtlkit.treemtl import topk
    from mtlkit.treemtl.synthetic import synthetic_table

    if topk._kernel() is None:
        pytest.skip("numba is not installed: the numpy tables are the only ones")
    scores = PairScores.from_table(synthetic_table(7, 4, seed=3))
    W = topk._subset_sums(7, np.asarray(scores.keys))
    f = np.array([3.0, 1.0, 2.0, 5.0])
    for lam in (0.0, 1e10, 3e12):
        a, b = topk._table(7, 4, W, f, lam, compiled=True), topk._table_numpy(7, 4, W, f, lam)
        assert np.allclose(a, b, rtol=1e-12, atol=64.0)          # keys are ~2**50: a few units of rounding


def test_subset_sums_are_the_sums_of_the_pairs_inside():
    from mtlkit.treemtl import topk
    from mtlkit.treemtl.layout import pairs

    keys = np.random.default_rng(0).integers(-1000, 1000, size=(15, 4)).astype(float)
    W = topk._subset_sums(6, keys)
    for S in range(64):
        inside = [i for i, (a, b) in enumerate(pairs(6)) if S >> a & 1 and S >> b & 1]
        assert np.array_equal(W[S], keys[inside].sum(axis=0))


def test_exact_search_refuses_too_many_tasks():
    from mtlkit.treemtl import topk
    from mtlkit.treemtl.synthetic import synthetic_table

    scores = PairScores.from_table(synthetic_table(topk.EXACT_MAX_T + 1, 2, seed=0), "uniform")
    with pytest.raises(ConfigError, match="at most T=20 tasks.*time limit"):
        search_top_k(scores, k=1)
