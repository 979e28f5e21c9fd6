"""TreeMTL design-space enumeration: golden counts, the paper's order and indices, fast == cut-based."""
from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest

from mtlkit.errors import ConfigError
from mtlkit.treemtl import (
    CutStep, Layout, branch_point_matrix, count_layouts, enumerate_layouts, iter_cut_steps, paper_index,
    paper_indices, paper_layout,
)

# docs/treemtl.md §2 (the authors' enumerator, [ran]) for T <= 5; T = 6 from the recurrence, cross-checked below by the fast
# enumerator and, for B = 1 / B = 4, by the Bell number and the authors' DomainNet pickle length (44,590)
GOLDEN_COUNTS = {
    2: [2, 3, 4, 5, 6, 7],
    3: [5, 12, 22, 35, 51, 70],
    4: [15, 60, 154, 315, 561, 910],
    5: [52, 358, 1304, 3455, 7556, 14532],
    6: [203, 2471, 12915, 44590, 120196, 274778],
}

# docs/treemtl.md §2: the full list for T = 3, B = 5 in the authors' printout notation (sets in code list order)
SPEC_T3_B5 = [
    '[012][012][012][012][012]', '[12,0]x5', '[0,2,1]x5', '[12,0][0,2,1]x4', '[12,0]x2 [0,2,1]x3',
    '[12,0]x3 [0,2,1]x2', '[12,0]x4 [0,2,1]', '[1,02]x5', '[1,02][1,2,0]x4', '[1,02]x2 [1,2,0]x3',
    '[1,02]x3 [1,2,0]x2', '[1,02]x4 [1,2,0]', '[2,01]x5', '[2,01][2,1,0]x4', '[2,01]x2 [2,1,0]x3',
    '[2,01]x3 [2,1,0]x2', '[2,01]x4 [2,1,0]', '[012][12,0][12,0][12,0][12,0]', '[012][0,2,1]x4',
    '[012][12,0][0,2,1][0,2,1][0,2,1]', '[012][12,0][12,0][0,2,1][0,2,1]', '[012][12,0][12,0][12,0][0,2,1]',
    '[012][1,02]x4', '[012][1,02][1,2,0]x3', '[012][1,02][1,02][1,2,0][1,2,0]', '[012][1,02]x3 [1,2,0]',
    '[012][2,01]x4', '[012][2,01][2,1,0]x3', '[012][2,01][2,01][2,1,0][2,1,0]', '[012][2,01]x3 [2,1,0]',
    '[012][012][12,0]x3', '[012][012][0,2,1]x3', '[012][012][12,0][0,2,1][0,2,1]', '[012][012][12,0][12,0][0,2,1]',
    '[012][012][1,02][1,02][1,02]', '[012][012][1,02][1,2,0][1,2,0]', '[012][012][1,02][1,02][1,2,0]',
    '[012][012][2,01][2,01][2,01]', '[012][012][2,01][2,1,0][2,1,0]', '[012][012][2,01][2,01][2,1,0]',
    '[012]x3 [12,0][12,0]', '[012]x3 [0,2,1][0,2,1]', '[012]x3 [12,0][0,2,1]', '[012]x3 [1,02][1,02]',
    '[012]x3 [1,02][1,2,0]', '[012]x3 [2,01][2,01]', '[012]x3 [2,01][2,1,0]', '[012]x4 [12,0]', '[012]x4 [0,2,1]',
    '[012]x4 [1,02]', '[012]x4 [2,01]',
]

# docs/treemtl.md §2 / §11.2: key indices of T = 5, B = 5 (Taskonomy)
SPEC_T5_B5 = {
    1: "[1234,0]x5",
    353: "[1234,0][0,34,12][0,12,4,3][0,12,4,3][0,4,3,2,1]",
    958: "[124,03][03,4,12][03,4,12][03,4,2,1][03,4,2,1]",
    1046: "[124,03]x3 [03,2,14]x2",
    817: "[124,03]x5",
    7555: "[01234]x4 [4,0123]",
}


@pytest.mark.parametrize("T", sorted(GOLDEN_COUNTS))
def test_golden_counts(T):
    assert [count_layouts(T, B) for B in range(1, 7)] == GOLDEN_COUNTS[T]


def test_count_closed_forms_and_spec_values():
    bell = [1, 1, 2, 5, 15, 52, 203, 877, 4140]
    assert [count_layouts(T, 1) for T in range(2, 9)] == bell[2:]
    assert all(count_layouts(2, B) == B + 1 for B in range(1, 30))
    assert all(count_layouts(3, B) == (B + 1) * (3 * B + 2) // 2 for B in range(1, 30))
    assert count_layouts(3, 17) == 477 and count_layouts(5, 9) == 64_660 and count_layouts(5, 17) == 725_748
    assert count_layouts(6, 4) == 44_590
    assert 1.5e11 < count_layouts(8, 17) < 1.7e11      # "about 1.6e11"


def _set_partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for p in _set_partitions(rest):
        yield [[first]] + p
        for i in range(len(p)):
            yield p[:i] + [[first] + p[i]] + p[i + 1:]


def test_counts_equal_brute_force_multichains_of_the_partition_lattice():
    """Independent of the enumerators: count chains P1 >= P2 >= ... >= PB of set partitions directly."""
    for T in (2, 3, 4):
        parts = [frozenset(frozenset(g) for g in p) for p in _set_partitions(list(range(T)))]
        refines = {(a, b): all(any(g <= h for h in a) for g in b) for a in parts for b in parts}  # b refines a
        for B in (1, 2, 3):
            n = sum(all(refines[c[i], c[i + 1]] for i in range(B - 1)) for c in itertools.product(parts, repeat=B))
            assert n == count_layouts(T, B)


@pytest.mark.parametrize("T", [2, 3, 4, 5, 6])
def test_fast_enumerator_counts_and_no_duplicates(T):
    for B in range(1, 7):
        bp = branch_point_matrix(T, B)
        assert bp.shape == (count_layouts(T, B), comb(T, 2))
        assert len(np.unique(bp, axis=0)) == len(bp)


def test_fast_and_cut_based_give_identical_sets():
    for T in range(2, 6):
        for B in range(1, 6):
            fast = branch_point_matrix(T, B, order="fast")
            paper = branch_point_matrix(T, B, order="paper")
            assert len(paper) == count_layouts(T, B)
            assert set(map(tuple, fast)) == set(map(tuple, paper))


def test_every_enumerated_row_is_a_tree():
    for row in branch_point_matrix(4, 3):
        Layout.from_branch_points(4, 3, row.tolist())   # raises if not an ultrametric


def test_paper_order_t3_b5_matches_the_spec_list():
    layouts = enumerate_layouts(3, 5)
    assert [Layout.parse(s) for s in SPEC_T3_B5] == layouts
    assert str(layouts[45]) == "[012]x3 [01,2]x2" and str(layouts[50]) == "[012]x4 [01,2]"


def test_paper_indices_t5_b5():
    layouts = enumerate_layouts(5, 5)
    assert len(layouts) == 7556 and layouts[0] == Layout.all_shared(5, 5)
    for i, s in SPEC_T5_B5.items():
        assert layouts[i] == Layout.parse(s), i
        assert paper_index(Layout.parse(s)) == i
        assert paper_layout(5, 5, i) == layouts[i]
    bp = branch_point_matrix(5, 5, order="fast")
    idx = paper_indices(bp, 5, 5)
    assert sorted(idx.tolist()) == list(range(7556))


def test_spec_pairwise_branching_points_of_353_and_958():
    L353, L958 = paper_layout(5, 5, 353), paper_layout(5, 5, 958)
    assert all(L353.branch_point(0, x) == 0 for x in range(1, 5))
    assert L353.branch_point(1, 2) == 4 and L353.branch_point(3, 4) == 2
    assert {L353.branch_point(*p) for p in [(1, 3), (1, 4), (2, 3), (2, 4)]} == {1}
    expected = {(0, 3): 5, (1, 2): 3, (1, 4): 1, (2, 4): 1}
    for a, b in itertools.combinations(range(5), 2):
        assert L958.branch_point(a, b) == expected.get((a, b), 0)


def test_paper_order_agrees_with_dfs_with_duplicates_then_first_occurrence():
    """docs/treemtl.md §2: the dedup order = naive DFS with duplicates, keeping first occurrences ((3,5): 61 -> 51)."""
    from mtlkit.treemtl.enumerate import _splits

    def naive(T, B):
        out = []

        def visit(state, num_cut, lowest):
            if num_cut >= T - 1:
                return
            for i in range(lowest, B):
                for S in state[i]:
                    if S & (S - 1) == 0:
                        continue
                    for l1, l2 in _splits(S):
                        blk = tuple(x for x in state[i] if x != S) + (l1, l2)
                        new = state[:i] + (blk,) * (B - i)
                        out.append(new)
                        visit(new, num_cut + 1, i)

        start = (((1 << T) - 1,),) * B
        out.insert(0, start)
        visit(start, 0, 0)
        return out

    for T, B, n_dup in [(3, 5, 61), (4, 5, 936)]:
        states = naive(T, B)
        assert len(states) == n_dup
        seen, firsts = set(), []
        for st in states:
            L = Layout([[[t for t in range(T) if m >> t & 1] for m in blk] for blk in st])
            if L not in seen:
                seen.add(L)
                firsts.append(L)
        assert firsts == enumerate_layouts(T, B)


# ------------------------------------------------------------------------------------------ step-by-step trace
@pytest.mark.parametrize("T", [2, 3, 4])
def test_cut_steps_replay_the_paper_order(T):
    for B in range(1, 5):
        layouts = enumerate_layouts(T, B)
        steps = list(iter_cut_steps(T, B))
        assert [s.child for s in steps if s.new] == layouts[1:]          # the paper's #1, #2, ...
        assert [s.index for s in steps if s.new] == list(range(1, len(layouts)))
        assert [s.step for s in steps] == list(range(1, len(steps) + 1))
        seen = 1
        for s in steps:
            assert s.parent == layouts[s.parent_index] and s.child == layouts[s.index]
            assert s.child == s.parent.cut(s.block, s.split[0])         # the cut, as Layout.cut applies it
            l1, l2 = s.split
            assert sorted(l1 + l2) == list(s.task_set) and min(s.task_set) in l2 and l1
            assert sorted(s.block_order) == sorted(s.parent.groups(s.block)) and s.task_set in s.block_order
            assert s.depth == s.parent.num_groups[-1]                   # cuts so far + 1
            if s.new:
                seen += 1
            else:
                assert s.index < seen                                   # a duplicate repeats an earlier index
            # cuts only at or after the parent's last cut: blocks from s.block on are identical in the parent
            assert len(set(s.parent.blocks[s.block:])) == 1


def test_cut_steps_golden_t3_and_list_order_t5():
    steps = list(iter_cut_steps(3, 5))
    # the totals of notebook 04's "Try it" 3: 60 cuts tried (61 layouts visited with L0, docs/treemtl.md §2), 10 duplicates
    assert len(steps) == 60 and sum(not s.new for s in steps) == 10
    first = steps[0]
    assert isinstance(first, CutStep)
    assert (first.parent_index, first.block, first.task_set, first.split, first.index, first.new) == (
        0, 0, (0, 1, 2), ((1, 2), (0,)), 1, True)
    assert first.row() == dict(depth=1, parent=0, block=0, l1=[1, 2], l2=[0], result="[0,12]x5", index=1, new=True)
    dup = next(s for s in steps if not s.new)
    assert (dup.parent_index, dup.block, dup.split, dup.index) == (7, 0, ((2,), (0,)), 2)   # {0,2} -> {2},{0} = #2
    # docs/treemtl.md §2: T=5 #2 is [0,234,1] in every block (list order); cutting {2,3,4} of #2 gives #3 [0,1,34,2]
    import itertools as it

    s3 = next(s for s in it.islice(iter_cut_steps(5, 5), 10) if s.index == 3 and s.new)
    assert s3.parent_index == 2 and s3.block_order == ((0,), (2, 3, 4), (1,)) and s3.task_set == (2, 3, 4)
    assert s3.child == Layout.parse("[0,1,34,2]x5") and s3.split == ((3, 4), (2,))


def test_cut_steps_t5_small_b_and_bad_input():
    assert [s.child for s in iter_cut_steps(5, 2) if s.new] == enumerate_layouts(5, 2)[1:]
    with pytest.raises(ConfigError, match="enumeration limit"):
        next(iter_cut_steps(5, 5, max_layouts=100))
    with pytest.raises(ConfigError, match=r"T \(number of tasks\)"):
        next(iter_cut_steps(1, 3))


def test_paper_indices_refuse_rows_that_are_not_layouts():
    bp = branch_point_matrix(3, 5)
    assert sorted(paper_indices(bp, 3, 5).tolist()) == list(range(51))
    with pytest.raises(ConfigError, match=r"row 0 \[5, 0, 5\] is not a layout"):
        paper_indices(np.array([[5, 0, 5]]), 3, 5)
    with pytest.raises(ConfigError, match=r"0..5; row 1 is \[6, 5, 5\]"):
        paper_indices(np.array([[5, 5, 5], [6, 5, 5]]), 3, 5)
    with pytest.raises(ConfigError, match=r"expected a \(N, 3\)"):
        paper_indices(np.array([5, 5, 5]), 3, 5)


def test_bad_sizes():
    with pytest.raises(ConfigError, match=r"T \(number of tasks\) must be an integer >= 2, got 1"):
        count_layouts(1, 5)
    with pytest.raises(ConfigError, match=r"B \(number of branching points / blocks\) must be an integer >= 1, got 0"):
        count_layouts(3, 0)
    with pytest.raises(ConfigError, match="integer"):
        count_layouts(3.5, 2)
    with pytest.raises(ConfigError, match="enumeration limit"):
        branch_point_matrix(8, 17)
    with pytest.raises(ConfigError, match="index must be in 0..50"):
        paper_layout(3, 5, 51)
    with pytest.raises(ConfigError, match="order must be"):
        branch_point_matrix(3, 2, order="dfs")
