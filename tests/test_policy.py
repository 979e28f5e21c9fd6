"""Policies: validation, set/argmax/sample, persistence, heatmap (docs/automtl.md §2.3, §2.4, §7.13)."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import nn

from mtlkit.automtl import SuperModel, plot_policy, policy_counts
from mtlkit.automtl import policy as pol
from mtlkit.errors import ConfigError



class Net(nn.Module):
    """conv 3->8 (stride 2) · BN · conv 8->8 · BN · conv 8->8 · BN."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn0 = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 1)
        self.bn2 = nn.BatchNorm2d(8)

    def forward(self, x):
        x = torch.relu(self.bn0(self.conv0(x)))
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(x)) + x


def build(**kw) -> SuperModel:
    torch.manual_seed(0)
    heads = {"seg": nn.Conv2d(8, 3, 1), "depth": nn.Conv2d(8, 1, 1), "normal": nn.Conv2d(8, 3, 1)}
    return SuperModel.from_backbone(Net(), heads, torch.zeros(1, 3, 8, 8), **kw)


def test_default_policy_is_argmax_of_zero_logits_all_shared():
    sm = build()
    assert [v.name for v in sm.nodes] == ["conv0", "conv1", "conv2"]
    assert sm.node("conv0").choices == ("shared", "specific", "skip")  # auto: projection is 24 vs 216 params
    assert sm.node("conv1").choices == ("shared", "specific", "skip")  # identity
    assert sm.policy() == sm.uniform_policy("shared") == sm.argmax_policy()
    with torch.no_grad():
        sm.logits["conv1"][1] = torch.tensor([0.0, 2.0, 1.0])
        sm.logits["conv2"][2] = torch.tensor([-1.0, 0.0, 3.0])
    p = sm.policy()
    assert p["conv1"] == {"seg": "shared", "depth": "specific", "normal": "shared"}
    assert p["conv2"]["normal"] == "skip"


def test_set_policy_validates_normalises_and_overrides_the_argmax():
    sm = build(skip="never")
    assert sm.node("conv0").choices == ("shared", "specific")  # shape-changing conv without projection
    with torch.no_grad():
        sm.logits["conv1"].fill_(0).select(1, 2).fill_(5.0)  # argmax: skip everywhere at conv1
    sm.set_policy({"conv0": "sp", "conv1": {"seg": "sh", "depth": "sk", "normal": "specific"}, "conv2": "shared"})
    assert sm.policy()["conv1"] == {"seg": "shared", "depth": "skip", "normal": "specific"}
    assert sm.policy()["conv0"] == dict.fromkeys(sm.tasks, "specific")
    sm.set_policy({"conv2": {"depth": "skip"}}, partial=True)
    assert sm.policy()["conv2"] == {"seg": "shared", "depth": "skip", "normal": "shared"}
    assert sm.policy()["conv0"]["seg"] == "specific"  # unchanged by the partial update
    sm.set_policy(None)
    assert sm.policy()["conv1"] == dict.fromkeys(sm.tasks, "skip")  # back to the argmax


def test_set_policy_survives_a_state_dict_round_trip():
    sm = build()
    chosen = sm.uniform_policy("specific")
    chosen["conv2"]["seg"] = "skip"
    sm.set_policy(chosen)
    buffer = io.BytesIO()
    torch.save(sm.state_dict(), buffer)
    other = build()
    other.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=False))
    assert other.policy() == chosen


@pytest.mark.parametrize("bad, message", [
    ({"conv9": "shared"}, "unknown policy node 'conv9'"),
    ({"conv1": {"seg": "share"}}, r"policy\['conv1'\]\['seg'\] = 'share' is not a choice"),
    ({"conv1": {"sky": "shared"}}, "unknown task 'sky'"),
    ({"conv0": "skip"}, "node 'conv0' offers only"),
    ({"conv1": "shared"}, "policy is incomplete: no choice for conv0, conv2;"),
    ({"conv0": "shared", "conv1": "shared", "conv2": {"seg": "shared"}}, "no choice for conv2/depth, conv2/normal"),
    ({"conv1": 3}, "must be a dict"),
    (["conv1"], "policy must be a dict"),
])
def test_bad_policies_raise_specific_errors(bad, message):
    sm = build(skip="never")
    with pytest.raises(ConfigError, match=message):
        sm.set_policy(bad)
    with pytest.raises(ConfigError):
        sm(torch.zeros(1, 3, 8, 8), policy=bad)


def test_uniform_skip_policy_fails_where_skip_is_not_offered():
    with pytest.raises(ConfigError, match="offers only"):
        build(skip="never").uniform_policy("skip")
    assert build(skip="project").uniform_policy("skip")["conv0"]["seg"] == "skip"


def test_sample_policy_is_seeded_and_follows_softmax_of_the_logits():
    sm = build()
    assert sm.sample_policy(10) == sm.sample_policy(10)
    samples = {str(sm.sample_policy(s)) for s in range(20)}
    assert len(samples) > 10  # zero logits: uniform draws, many different policies
    with torch.no_grad():
        for p in sm.policy_parameters():
            p.copy_(torch.tensor([0.0, 40.0, 0.0]).expand_as(p))
    assert sm.sample_policy(3) == sm.uniform_policy("specific")
    # frequencies: 3000 draws from p = (0.7, 0.2, 0.1) land within 4 standard errors
    probs = np.array([0.7, 0.2, 0.1])
    logits = {f"n{i}": torch.log(torch.tensor(probs)).reshape(1, 3) for i in range(3000)}
    drawn = pol.sample_policy(logits, dict.fromkeys(logits, pol.CHOICES), ["t"], seed=0)
    freq = np.array([sum(row["t"] == c for row in drawn.values()) for c in pol.CHOICES]) / 3000
    assert np.all(np.abs(freq - probs) < 4 * np.sqrt(probs * (1 - probs) / 3000))
    with pytest.raises(ConfigError, match="seed must be a non-negative int"):
        sm.sample_policy(-1)


def test_policy_helpers():
    names = ["a", "b", "c"]
    p = pol.policy_from_vectors(names, {"x": "sh sp sk", "y": ["specific", "sh", "sh"]})
    assert p == {"a": {"x": "shared", "y": "specific"}, "b": {"x": "specific", "y": "shared"},
                 "c": {"x": "skip", "y": "shared"}}
    assert policy_counts(p) == {"x": {"shared": 1, "specific": 1, "skip": 1},
                                "y": {"shared": 2, "specific": 1, "skip": 0}}
    with pytest.raises(ConfigError, match="has 2 choices, expected one per node"):
        pol.policy_from_vectors(names, {"x": "sh sp"})


def test_plot_policy_draws_one_cell_per_node_and_task():
    import matplotlib

    matplotlib.use("Agg")
    sm = build(skip="project")
    chosen = sm.uniform_policy("shared")
    chosen["conv1"]["depth"] = "specific"
    chosen["conv2"]["normal"] = "skip"
    fig = plot_policy(chosen, title="demo")
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (3, 3)  # tasks x nodes
    assert image[1, 1] == 1 and image[2, 2] == 2 and image.sum() == 3
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(sm.tasks)
    with pytest.raises(ConfigError, match="no choice for task 'edge'"):
        plot_policy(chosen, tasks=["edge"])
    import matplotlib.pyplot as plt

    plt.close("all")
