"""TreeMTL estimator: two-task tables, SVD entropy, task weights, associated-model estimates, score."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtlkit.errors import ConfigError, DataError
from mtlkit.treemtl import (
    PUBLISHED, Layout, PairScores, TwoTaskTable, branch_point_matrix, paper_layout, published_table, ranking_order,
    recommend, svd_entropy, task_weights,
)
from mtlkit.treemtl.estimator import PUBLISHED_DIR

NYU = "NYUv2_2task_metrics_resnet_1129_val_acc__Sheet1.csv"


@pytest.fixture(scope="module")
def nyu():
    return published_table("nyuv2", "resnet34")


def test_published_tables_load_with_names(nyu):
    assert (nyu.T, nyu.B) == (3, 5)
    assert nyu.task_names == ("segment_semantic", "normal", "depth_zbuffer")
    # round-trip float parsing: the exact decimal strings of the workbook
    assert nyu.value(0, 1, 1) == 2.7905982905983 and nyu.value(1, 0, 1) == 2.369395744052871
    assert np.all(nyu.values[~np.eye(3, dtype=bool)][:, 0] == 0)   # row 0 is the reference
    for dataset, backbone in PUBLISHED:
        t = published_table(dataset, backbone)
        assert t.T == (3 if dataset == "nyuv2" else 5) and t.B == 5


def test_svd_entropy_golden(nyu):
    x = nyu.to_frame()["(0, 1)-0"].tolist()[1:]
    assert svd_entropy(x) == pytest.approx(0.986853760122357, abs=1e-15)
    assert svd_entropy(x, normalize=False) == pytest.approx(1.564126, abs=1e-6)
    assert svd_entropy([0, 0, 0, 0, 0]) == 0.0                  # 0 log 0 = 0
    assert svd_entropy([1, 1, 1, 1, 1]) == pytest.approx(0.0, abs=1e-12)   # rank one: perfectly regular
    with pytest.raises(ConfigError, match="too short"):
        svd_entropy([1.0, 2.0])


def test_weights_golden(nyu):
    w = task_weights(nyu)
    assert w == pytest.approx([0.09348507957604825, 0.5780609133891011, 0.3284540070348506], abs=1e-12)
    assert w.sum() == pytest.approx(1.0)
    assert task_weights(nyu, "uniform") == pytest.approx([1 / 3] * 3)
    assert task_weights(nyu, [1, 1, 2]) == pytest.approx([0.25, 0.25, 0.5])
    with pytest.raises(ConfigError, match="expected 3 finite non-negative"):
        task_weights(nyu, [1, -1, 2])


def test_estimates_and_score_of_45(nyu):
    L = paper_layout(3, 5, 45)
    assert nyu.estimate(L) == pytest.approx([2.160184498438647, 2.76725929366901, 6.820699256833274], abs=1e-14)
    assert nyu.score(L) == pytest.approx(4.041875456304786, abs=1e-12)
    with pytest.raises(ConfigError, match="T=5, B=5 but the two-task table has T=3"):
        nyu.estimate(paper_layout(5, 5, 3))


def test_nyuv2_ranking_starts_45_0_50_37_49(nyu):
    assert recommend(nyu, k=5).paper_index.tolist() == [45, 0, 50, 37, 49]


def test_spec_variants_of_the_weights(nyu):
    """docs/treemtl.md §10 items 1-3: the paper's Eq. (1) read literally and other SVDE settings change the picks."""
    top5 = lambda w: recommend(nyu, k=5, weights=w).paper_index.tolist()  # noqa: E731
    with_row0 = task_weights(nyu, include_row0=True)
    assert with_row0 == pytest.approx([0.129, 0.560, 0.312], abs=5e-4)
    assert top5(with_row0) == [45, 0, 50, 37, 49]
    svde = np.array([np.mean([svd_entropy(nyu.values[t, u, 1:]) for u in range(3) if u != t]) for t in range(3)])
    assert svde == pytest.approx([0.888477, 0.310405, 0.608172], abs=1e-6)
    assert top5(svde) == [49, 0, 34, 45, 37]                     # w proportional to SVDE (Eq. 1 literally)
    assert top5(task_weights(nyu, order=2)) == [50, 45, 0, 37, 12]
    assert top5(task_weights(nyu, order=4)) == [0, 45, 49, 37, 50]
    assert top5("uniform") == [0, 45, 49, 37, 34]                # plain mean (docs/treemtl.md §10 item 5)


@pytest.mark.parametrize("key", list(PUBLISHED))
def test_ranking_equals_the_authors_stable_sort(key):
    """Our exact-key ranking == the authors' `sorted(range(N), key=score, reverse=True)` over the paper order."""
    t = published_table(*key)
    bp = branch_point_matrix(t.T, t.B, order="paper")
    scores = t.estimate_matrix(bp) @ task_weights(t)
    authors = sorted(range(len(bp)), key=lambda i: scores[i], reverse=True)
    keys = PairScores.from_table(t).ranking_keys(bp)
    assert ranking_order(keys, bp).tolist() == authors
    assert len(np.unique(keys)) == len(keys)                    # no exact ties in the published tables


def test_pair_form_equals_per_task_form():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, 4, 4)) * 3
    t = TwoTaskTable(v)
    ps = PairScores.from_table(t, "svde")
    bp = branch_point_matrix(4, 3)
    direct = t.estimate_matrix(bp) @ ps.weights
    assert ps.contrib[np.arange(6)[None, :], bp].sum(axis=1) == pytest.approx(direct, abs=1e-12)
    assert ps.ranking_keys(bp) / 2.0 ** ps.shift == pytest.approx(direct, abs=1e-11)
    assert np.abs(ps.ranking_keys(bp)).max() < 2 ** 52


def test_csv_round_trip_and_named_columns(tmp_path, nyu):
    path = tmp_path / "t.csv"
    nyu.to_csv(path)
    back = TwoTaskTable.from_csv(path, task_names=nyu.task_names)
    assert np.array_equal(back.values, nyu.values, equal_nan=True)
    df = nyu.to_frame().rename(columns=lambda c: c.replace("(0, 1)", "(seg, normal)"))
    named = TwoTaskTable.from_frame(df, task_names=["seg", "normal", "depth"])
    assert np.array_equal(named.values, nyu.values, equal_nan=True)
    pairs = {(0, 1): nyu.values[[0, 1], [1, 0]].T, (0, 2): nyu.values[[0, 2], [2, 0]].T,
             (1, 2): nyu.values[[1, 2], [2, 1]].T}
    assert np.array_equal(TwoTaskTable.from_pairs(pairs).values, nyu.values, equal_nan=True)


def _frame():
    return pd.read_csv(PUBLISHED_DIR / NYU, index_col=0, dtype=str)


def test_bad_tables_give_specific_errors(tmp_path):
    df = _frame()
    with pytest.raises(DataError, match=r"missing column\(s\) \['\(0, 2\)-0', '\(0, 2\)-1'\]"):
        TwoTaskTable.from_frame(df.drop(columns=["(0, 2)-0", "(0, 2)-1"]))
    with pytest.raises(DataError, match=r"missing column\(s\) \['\(1, 2\)-1'\]"):
        TwoTaskTable.from_frame(df.drop(columns=["(1, 2)-1"]))
    nan = df.copy()
    nan.loc[nan.index[3], "(0, 1)-1"] = "nan"
    with pytest.raises(DataError, match=r"column '\(0, 1\)-1' row 3 is 'nan'"):
        TwoTaskTable.from_frame(nan)
    text = df.copy()
    text.loc[text.index[2], "(0, 2)-0"] = "n/a"
    with pytest.raises(DataError, match=r"column '\(0, 2\)-0' row 2 is 'n/a'"):
        TwoTaskTable.from_frame(text)
    with pytest.raises(DataError, match=r"missing \[3\]"):
        TwoTaskTable.from_frame(df.drop(index=df.index[3]))
    with pytest.raises(DataError, match="is not of the form"):
        TwoTaskTable.from_frame(df.rename(columns={"(0, 1)-0": "seg-normal"}))
    # task names: too few for the indices, a name not in the list, a count that does not match the table
    with pytest.raises(DataError, match="refers to task 2 but only 2 task names"):
        TwoTaskTable.from_frame(df, task_names=["seg", "normal"])
    with pytest.raises(DataError, match=r"missing column\(s\).*T=4"):
        TwoTaskTable.from_frame(df, task_names=["a", "b", "c", "d"])
    renamed = df.rename(columns=lambda c: c.replace("(0, 1)", "(seg, normal)"))
    with pytest.raises(DataError, match="names task 'seg', which is not one of the task_names"):
        TwoTaskTable.from_frame(renamed, task_names=["segmentation", "normal", "depth"])
    with pytest.raises(DataError, match="pass task_names"):
        TwoTaskTable.from_frame(renamed)
    with pytest.raises(ConfigError, match="task_names has 2 names"):
        TwoTaskTable(np.zeros((3, 3, 6)), ("a", "b"))
    with pytest.raises(ConfigError, match="must be distinct"):
        TwoTaskTable(np.zeros((3, 3, 6)), ("a", "a", "b"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        TwoTaskTable.from_csv(tmp_path / "absent.csv")
    with pytest.raises(ConfigError, match="unknown dataset 'cityscapes'"):
        published_table("cityscapes", "resnet34")


def test_short_tables_need_explicit_weights():
    t = TwoTaskTable(np.ones((3, 3, 3)))               # B = 2: too short for SVDE with order 3
    with pytest.raises(ConfigError, match="needs 3 values per column"):
        task_weights(t)
    assert task_weights(t, "uniform") == pytest.approx([1 / 3] * 3)
    assert isinstance(Layout.all_shared(3, 2), Layout)


# ------------------------------------------------------------------------------------------- what-if: subsets, merge
def test_subset_estimates_equal_the_full_tables_pairs():
    import itertools

    tko = published_table("taskonomy", "resnet34")
    layouts = [paper_layout(5, 5, i) for i in (0, 352, 353, 817, 958, 1046, 7555)]
    for keep in [(0, 1), (1, 3, 4), (0, 2, 3, 4), (0, 1, 2, 3, 4)]:
        sub = tko.subset([tko.task_names[t] for t in reversed(keep)])       # names, any order
        assert sub.task_names == tuple(tko.task_names[t] for t in keep)     # the table's order
        assert sub.subset(range(len(keep))).task_names == sub.task_names and sub.B == tko.B
        for L in layouts:
            want = [np.mean([tko.value(t, u, L.branch_point(t, u)) for u in keep if u != t]) for t in keep]
            np.testing.assert_allclose(sub.estimate(L.restrict(keep)), want, rtol=0, atol=1e-14)
    for drop in range(5):
        keep = [t for t in range(5) if t != drop]
        np.testing.assert_array_equal(tko.without(tko.task_names[drop]).values, tko.subset(keep).values)
        np.testing.assert_array_equal(tko.without(drop).values, tko.values[np.ix_(keep, keep)])
    assert "without edge_texture" in tko.without("edge_texture").source
    assert tko.without(0, "normal").task_names == ("depth_zbuffer", "keypoints2d", "edge_texture")
    assert list(itertools.chain(tko.subset([2, 4]).values[0, 1])) == list(tko.values[2, 4])


def test_subset_bad_input(nyu):
    with pytest.raises(ConfigError, match="unknown task 'colour'"):
        nyu.subset(["segment_semantic", "colour"])
    with pytest.raises(ConfigError, match="at least 2 tasks"):
        nyu.subset(["normal"])
    with pytest.raises(ConfigError, match="listed twice"):
        nyu.subset([0, "segment_semantic"])
    with pytest.raises(ConfigError, match=r"task index must be in 0..2, got 3"):
        nyu.subset([0, 3])
    with pytest.raises(ConfigError, match="leaves 1 task"):
        nyu.without(0, 1)
    with pytest.raises(ConfigError, match="names or indices"):
        nyu.subset([0, 1.5])


def test_merge_rebuilds_a_table_from_overlapping_pieces():
    tko = published_table("taskonomy", "resnet34")
    old = tko.without("edge_texture")                                      # the table before a task was added
    new_pairs = [tko.subset([t, "edge_texture"]) for t in old.task_names]  # one two-task table per new pair
    merged = old.merge(*new_pairs)
    assert merged.task_names == tko.task_names
    np.testing.assert_array_equal(merged.values[~np.eye(5, dtype=bool)], tko.values[~np.eye(5, dtype=bool)])
    assert merged.source.count(" + ") == 4
    # overlapping pieces must agree; names decide, not positions
    swapped = tko.subset(["normal", "keypoints2d", "edge_texture"])
    assert old.merge(swapped, *new_pairs).task_names == tko.task_names
    order = [3, 4, 0]                                                      # order of first appearance
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_array_equal(tko.subset([3, 4]).merge(tko.subset([0, 3]), tko.subset([0, 4])).values[off],
                                  tko.values[np.ix_(order, order)][off])


def test_merge_bad_input():
    tko = published_table("taskonomy", "resnet34")
    old = tko.without("edge_texture")
    with pytest.raises(DataError, match=r"no table holds the pair\(s\) \[\('segment_semantic', 'edge_texture'\)\]"):
        old.merge(*[tko.subset([t, "edge_texture"]) for t in old.task_names[1:]])
    values = tko.values.copy()
    values[1, 2, 3] += 1e-3
    other = TwoTaskTable(values, tko.task_names, source="perturbed")
    with pytest.raises(DataError, match=r"pair \(normal, depth_zbuffer\) differs .*'perturbed' \(largest difference"):
        tko.merge(other)
    off = ~np.eye(5, dtype=bool)
    assert np.array_equal(tko.merge(other, atol=1e-2).values[off], tko.values[off])   # within atol: the first's
    with pytest.raises(ConfigError, match="same branching points"):
        tko.merge(TwoTaskTable(np.zeros((2, 2, 3)), ["normal", "x"]))
    with pytest.raises(ConfigError, match="must be a TwoTaskTable"):
        tko.merge(tko.values)
