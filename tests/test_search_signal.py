"""Whether an AutoMTL search moved: the learned policy's entropy and logit size (mtlkit.automtl.analysis.policy_stats),
recorded with every searched method of a comparison."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from mtlkit.automtl import experiments as ex
from mtlkit.automtl.analysis import POLICY_STATS, policy_stats
from mtlkit.errors import ConfigError


def test_policy_stats_of_a_fixed_policy_equal_the_hand_computed_values():
    f64 = dict(dtype=torch.float64)
    logits = {"a": torch.tensor([[0.0, 0.0, 0.0], [math.log(2), 0.0, 0.0]], **f64),  # uniform; (1/2, 1/4, 1/4)
              "b": torch.tensor([[0.0, 0.0], [math.log(3), 0.0]], **f64)}  # uniform over two; (3/4, 1/4)
    h = [math.log(3), 1.5 * math.log(2), math.log(2), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))]
    got = policy_stats(logits)
    assert got["policy_entropy"] == pytest.approx(sum(h) / 4, abs=1e-12)
    assert got["policy_entropy_max"] == pytest.approx((2 * math.log(3) + 2 * math.log(2)) / 4, abs=1e-12)
    assert got["mean_abs_logit"] == pytest.approx((math.log(2) + math.log(3)) / 10, abs=1e-12)
    assert set(got) == set(POLICY_STATS)
    # a decided policy: entropy near 0, whatever the shift of its logits
    sharp = policy_stats({"a": torch.tensor([[20.0, 0.0, 0.0]]), "b": torch.tensor([[5.0, -15.0]])})
    assert sharp["policy_entropy"] < 1e-6 and sharp["mean_abs_logit"] == pytest.approx(40 / 5)


@pytest.mark.parametrize("bad, match", [({}, "non-empty"), ({"a": torch.zeros(2)}, "tasks, k >= 2"),
                                        ({"a": torch.zeros(2, 1)}, "tasks, k >= 2"), ({"a": [0.0, 1.0]}, "tensor")])
def test_policy_stats_refuse_what_is_not_logits(bad, match):
    with pytest.raises(ConfigError, match=match):
        policy_stats(bad)


def test_every_searched_method_of_a_comparison_records_its_policy_stats():
    setup = ex.experiment_setup("cityscapes", "smoke")
    comp = ex.comparison(setup, 0, methods=("Single-Task", "AutoMTL"))
    rows = pd.DataFrame(comp.rows("SynthScenes / tiny_resnet"))
    stats = rows[rows.metric.isin(POLICY_STATS)]
    assert set(stats.method) == {"AutoMTL"}  # baselines have no logits
    got = stats.set_index("metric").value
    assert got["policy_entropy_max"] == pytest.approx(
        policy_stats({v.name: torch.zeros(2, len(v.choices)) for v in setup.supermodel(0).nodes})["policy_entropy"])
    assert 0 <= got["policy_entropy"] < got["policy_entropy_max"]  # a few policy steps: moved, a little
    assert got["mean_abs_logit"] == pytest.approx(
        policy_stats(comp.runs["AutoMTL"].supermodel.logits_by_node())["mean_abs_logit"])
    assert comp.table().loc["AutoMTL", "policy_entropy"] == pytest.approx(got["policy_entropy"])
