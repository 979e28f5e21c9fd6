"""TreeMTL Layout: canonical form, branching points, layout cut, notation, drawing."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from mtlkit.errors import ConfigError
from mtlkit.treemtl import Layout, pairs


def test_canonical_whatever_the_list_order():
    a = Layout([[{2, 0, 1}], [{2}, {1, 0}], [{0}, {2}, {1}]])
    b = Layout([[[0, 1, 2]], [[0, 1], [2]], [[1], [2], [0]]])
    assert a == b and hash(a) == hash(b)
    assert a.blocks == (((0, 1, 2),), ((0, 1), (2,)), ((0,), (1,), (2,)))
    assert (a.T, a.B) == (3, 3)
    assert len({a, b, Layout.all_shared(3, 3)}) == 2


def test_branch_points_and_groups():
    L = Layout.parse("[012]x3 [2,01]x2")          # the paper's NYUv2 #45 in the spec's notation
    assert L.branch_point(0, 1) == 5 and L.branch_point(1, 0) == 5
    assert L.branch_point(0, 2) == L.branch_point(1, 2) == 3
    assert L.branch_points == (5, 3, 3)
    assert L.groups(3) == ((0, 1), (2,))
    assert L.num_groups == (1, 1, 1, 2, 2)
    assert Layout.all_shared(4, 2).branch_points == (2,) * 6
    assert Layout.independent(4, 2).branch_points == (0,) * 6
    with pytest.raises(ConfigError, match="task j must be in 0..2"):
        L.branch_point(0, 3)


def test_from_branch_points_round_trip_and_rejects_non_trees():
    for s in ["[0,1234] [0,12,34] [0,12,3,4]x2 [0,1,2,3,4]", "[03,124] [03,12,4]x2 [03,1,2,4]x2", "[01234]x5"]:
        L = Layout.parse(s)
        assert Layout.from_branch_points(5, 5, L.branch_points) == L
        assert Layout.from_branch_points(5, 5, dict(zip(pairs(5), L.branch_points))) == L
    with pytest.raises(ConfigError, match="not a tree"):
        Layout.from_branch_points(3, 5, [5, 0, 5])     # 0~1 and 1~2 share everything, 0 and 2 nothing
    with pytest.raises(ConfigError, match="expected 3 branching points"):
        Layout.from_branch_points(3, 5, [5, 5])
    with pytest.raises(ConfigError, match=r"0..5"):
        Layout.from_branch_points(3, 5, [6, 5, 5])


def test_invalid_layouts_are_refused():
    with pytest.raises(ConfigError, match="refine"):
        Layout([[[0, 1], [2]], [[0], [1, 2]]])         # 1 and 2 meet again after separating
    with pytest.raises(ConfigError, match="partition of the tasks"):
        Layout([[[0, 1, 2]], [[0, 1]]])
    with pytest.raises(ConfigError, match="twice"):
        Layout([[[0, 0, 1]]])
    with pytest.raises(ConfigError, match="at least one block"):
        Layout([])


def test_cut_propagates_to_deeper_blocks():
    L0 = Layout.all_shared(3, 5)
    L1 = L0.cut(0, {1, 2})                              # the authors' first cut: #1 = [12,0]x5
    assert L1 == Layout.parse("[12,0]x5")
    assert L1.cut(1, {2}) == Layout.parse("[12,0][0,2,1]x4")   # #3
    # a cut at a shallower block splits the deeper groups inside the cut group too
    L = Layout.parse("[0123]x2 [01,23]x2")
    assert L.cut(1, {0, 2}) == Layout.parse("[0123] [02,13] [0,1,2,3]x2")
    with pytest.raises(ConfigError, match="proper subset of one group"):
        L1.cut(0, {0, 1})
    with pytest.raises(ConfigError, match="proper subset of one group"):
        L1.cut(0, {1, 2})
    with pytest.raises(ConfigError, match="block must be in 0..4"):
        L1.cut(5, {1})


def test_every_single_cut_of_every_small_layout_is_a_valid_layout():
    L = Layout.parse("[0123]x2 [01,23] [0,1,23]")
    for block in range(L.B):
        for g in L.groups(block):
            for r in range(1, len(g)):
                for part in itertools.combinations(g, r):
                    new = L.cut(block, part)
                    assert new.branch_point(part[0], next(t for t in g if t not in part)) == block


def test_str_and_parse_round_trip():
    L = Layout.parse("[012]x3 [2,01][2,01]")
    assert str(L) == "[012]x3 [01,2]x2"
    assert eval(repr(L), {"Layout": Layout}) == L
    big = Layout.independent(12, 2)
    assert Layout.parse(str(big)) == big and "10" in str(big)
    with pytest.raises(ConfigError, match="expected blocks like"):
        Layout.parse("012")


def test_networkx_tree_and_drawing(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    L = Layout.parse("[03,124] [03,12,4]x2 [03,1,2,4]x2")
    G = L.to_networkx(task_names=["seg", "normal", "depth", "kp", "edge"])
    assert G.number_of_nodes() == 1 + sum(L.num_groups) + L.T
    import networkx as nx

    assert nx.is_arborescence(G)
    ax = L.draw(task_names=["seg", "normal", "depth", "kp", "edge"])
    ax.figure.savefig(tmp_path / "tree.png")
    assert (tmp_path / "tree.png").stat().st_size > 0
    with pytest.raises(ConfigError, match="expected 5 names"):
        L.to_networkx(task_names=["a"])


# ------------------------------------------------------------------------------------------- many at once, subsets
def test_from_branch_matrix_equals_one_by_one():
    from mtlkit.treemtl import branch_point_matrix

    for T, B in [(2, 3), (3, 5), (4, 4), (5, 3)]:
        bp = branch_point_matrix(T, B, order="paper")
        many = Layout.from_branch_matrix(T, B, bp)
        one = [Layout.from_branch_points(T, B, row.tolist()) for row in bp]
        assert many == one
        assert [hash(L) for L in many] == [hash(L) for L in one]
        assert [L.branch_points for L in many] == [L.branch_points for L in one]
        assert [L.blocks for L in many] == [L.blocks for L in one] and [str(L) for L in many] == [str(L) for L in one]
        assert all((L.T, L.B) == (T, B) for L in many)
        assert Layout.from_branch_matrix(T, B, bp[:3]) == one[:3]        # the few-rows path
    assert Layout.from_branch_matrix(3, 2, np.zeros((0, 3), dtype=np.uint8)) == []


def test_from_branch_matrix_refuses_bad_rows():
    good = np.array([[5, 3, 3]] * 20)
    bad = good.copy()
    bad[17] = [5, 0, 5]                                 # not an ultrametric
    with pytest.raises(ConfigError, match=r"row 17 \[5, 0, 5\] is not a tree"):
        Layout.from_branch_matrix(3, 5, bad)
    with pytest.raises(ConfigError, match=r"row 1 \[5, 0, 5\].*not a tree"):
        Layout.from_branch_matrix(3, 5, bad[16:18])
    with pytest.raises(ConfigError, match=r"0..5; row 0 is \[6, 3, 3\]"):
        Layout.from_branch_matrix(3, 5, good + [1, 0, 0])
    with pytest.raises(ConfigError, match=r"expected a \(N, 3\) branch-point matrix"):
        Layout.from_branch_matrix(3, 5, good[:, :2])
    with pytest.raises(ConfigError, match="must be integers"):
        Layout.from_branch_matrix(3, 5, good + 0.5)


def test_restrict_keeps_the_pairs_branching_points():
    L = Layout.parse("[03,124] [03,12,4]x2 [03,1,2,4]x2")       # Taskonomy #958
    for r in range(1, L.T + 1):
        for keep in itertools.combinations(range(L.T), r):
            sub = L.restrict(list(reversed(keep)))               # the order given does not matter
            assert (sub.T, sub.B) == (r, L.B)
            for (i, a), (j, c) in itertools.combinations(enumerate(keep), 2):
                assert sub.branch_point(i, j) == L.branch_point(a, c)
    assert L.restrict(range(5)) == L
    assert str(L.restrict([1, 2, 4])) == "[012] [01,2]x2 [0,1,2]x2"
    assert L.without(0) == L.restrict([1, 2, 3, 4]) and L.without(0, 3) == L.restrict([1, 2, 4])
    assert L.restrict([3]) == Layout.all_shared(1, 5)
    with pytest.raises(ConfigError, match=r"task indices in 0..4, got 5"):
        L.restrict([0, 5])
    with pytest.raises(ConfigError, match="listed twice"):
        L.restrict([1, 1])
    with pytest.raises(ConfigError, match="at least one task"):
        L.restrict([])
    with pytest.raises(ConfigError, match="the string"):
        L.restrict("01")
    with pytest.raises(ConfigError, match="cannot remove all 5 tasks"):
        L.without(0, 1, 2, 3, 4)


def test_label_width_wraps_long_task_names():
    L = Layout.parse("[012]x2 [01,2]")
    names = ["segment_semantic", "normal", "depth_zbuffer"]
    G = L.to_networkx(names, label_width=14)
    labels = dict(G.nodes(data="label"))
    assert labels[(0, (0, 1, 2))] == "b0\nsegment_seman…\nnormal\ndepth_zbuffer"
    assert labels[(2, (0, 1))] == "b2\nsegment_seman…\nnormal"
    assert labels[("head", 1)] == "normal"
    short = L.to_networkx(["seg", "nrm", "dep"], label_width=8)
    assert dict(short.nodes(data="label"))[(0, (0, 1, 2))] == "b0\nseg,nrm\ndep"
    assert dict(L.to_networkx(names).nodes(data="label"))[(2, (0, 1))] == "b2\nsegment_semantic,normal"   # default
    for node, label in labels.items():
        assert all(len(line) <= 14 for line in label.splitlines()), (node, label)
    with pytest.raises(ConfigError, match="label_width must be None or an integer >= 2"):
        L.to_networkx(names, label_width=1)
