"""The known-answer experiment: its success criteria by hand, the random baselines, and a smoke run of both arms."""
from __future__ import annotations

import pytest

from mtlkit.errors import ConfigError
from mtlkit.planted import (
    co_sharing, groups_planted_pairs, random_recommender_rate, result_rows, run, shares_within_pairs,
)
from mtlkit.treemtl import Layout
from mtlkit.treemtl.enumerate import branch_point_matrix

TASKS = ("a", "b", "c", "d")


def test_groups_planted_pairs_by_hand():
    assert groups_planted_pairs("[01,23]x3")                 # the planted answer, from block 0 on
    assert groups_planted_pairs("[0123][01,23]x2")          # shared stem, then the planted split
    assert not groups_planted_pairs("[0123]x3")             # everything shared: no pair shares more than another
    assert not groups_planted_pairs("[02,13]x3")            # the wrong grouping
    assert not groups_planted_pairs("[0123][01,2,3]x2")     # c and d split as early as the cross pairs
    assert groups_planted_pairs(Layout.parse("[03,12]x3"), pairs=((0, 3), (1, 2)))
    with pytest.raises(ConfigError, match="pairs"):
        groups_planted_pairs("[01,23]x3", pairs=((0, 4),))


def test_random_recommender_rate_is_the_share_of_feasible_layouts():
    bp = branch_point_matrix(4, 2)
    ok = sum(groups_planted_pairs(Layout.from_branch_points(4, 2, [int(v) for v in row])) for row in bp)
    assert random_recommender_rate(4, 2, [1.0, 1.0], budget=None) == pytest.approx(ok / len(bp))
    # within one backbone only the all-shared layout fits, which never groups the pairs
    assert random_recommender_rate(4, 2, [1.0, 1.0], budget=1.0) == 0.0


def test_co_sharing_and_margin_by_hand():
    policy = {"n1": dict(a="shared", b="shared", c="shared", d="shared"),
              "n2": dict(a="shared", b="shared", c="specific", d="skip"),
              "n3": dict(a="specific", b="skip", c="sh", d="sh")}
    m = co_sharing(policy, TASKS)
    assert m[0, 1] == pytest.approx(2 / 3) and m[2, 3] == pytest.approx(2 / 3) and m[0, 2] == pytest.approx(1 / 3)
    ok, margin = shares_within_pairs(policy, TASKS)
    assert ok and margin == pytest.approx(2 / 3 - 1 / 3)
    ok, margin = shares_within_pairs(policy, TASKS, pairs=((0, 2), (1, 3)))
    assert not ok and margin < 0


@pytest.mark.timeout(240)
def test_smoke_run_of_both_arms_and_rows():
    result = run("smoke", seeds=(0,))
    (t,), (a,) = result.treemtl, result.automtl
    assert isinstance(t["grouped"], bool) and 0 < t["random_rate"] < 1
    assert Layout.parse(t["layout"]).T == 4 and t["B"] == 3
    assert 0 <= a["random_rate"] <= 1 and isinstance(a["sampled"][0], bool)
    summary = result.summary()
    assert set(summary["arm"]) == {"TreeMTL", "AutoMTL"} and (summary["n"] == 1).all()
    rows = result_rows(result)[0]
    assert {r["metric"] for r in rows} == {"grouped", "shares_within", "co_sharing_margin"}
    assert all(r["setting"].startswith("SynthScenes planted") for r in rows)
    with pytest.raises(ConfigError, match="arms"):
        run("smoke", seeds=(0,), arms=("oracle",))
