"""derive(policy): compact, tree-shared, fx-traceable models equal to hard mode (issue item 4)."""
from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.fx as fx
from torch import nn

from mtlkit.automtl import SuperModel, count_params, derive
from mtlkit.backbones import get_backbone
from mtlkit.errors import ConfigError



class Block(nn.Module):
    def __init__(self, c, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c if stride == 1 else c // 2, c, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.short = None if stride == 1 else nn.Conv2d(c // 2, c, 1, stride=stride, bias=False)

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.short is None else self.short(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.layer1 = Block(8)
        self.layer2 = Block(16, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(2)

    def forward(self, x):
        return self.pool(self.layer2(self.layer1(torch.relu(self.bn(self.stem(x))))))


TASKS = ("seg", "depth", "normal")
X = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def build(**kw) -> SuperModel:
    torch.manual_seed(0)
    heads = {t: nn.Sequential(nn.Conv2d(16, 4, 1), nn.ReLU(), nn.Conv2d(4, k, 1)) for t, k in zip(TASKS, (5, 1, 3))}
    sm = SuperModel.from_backbone(Net(), heads, torch.zeros(1, 3, 16, 16), **kw)
    with torch.no_grad():  # make every branch differ, so that a wrong branch would show in the outputs
        for p in sm.network_parameters():
            p.add_(0.05 * torch.randn_like(p))
        for m in sm.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return sm


def mixed_policy(sm: SuperModel, seed: int = 0) -> dict:
    policy = sm.sample_policy(seed)
    policy["stem"] = dict.fromkeys(sm.tasks, "shared")
    return policy


@pytest.mark.parametrize("kw", [{}, {"skip": "project", "share_bn": True}, {"share_bn": "search"}])
def test_derived_model_equals_hard_mode_in_eval_and_train(kw):
    sm = build(**kw)
    for seed in range(3):
        policy = mixed_policy(sm, seed)
        model = derive(sm, policy)
        sm.eval(), model.eval()
        with torch.no_grad():
            expected, got = sm(X, mode="hard", policy=policy), model(X)
        assert list(got) == list(sm.tasks)
        for t in sm.tasks:
            assert torch.equal(got[t], expected[t])
        twin = copy.deepcopy(sm).train()  # train mode: batch statistics, same computation
        model.train()
        with torch.no_grad():
            expected, got = twin(X, mode="hard", policy=policy), model(X)
        assert all(torch.allclose(got[t], expected[t], atol=1e-6) for t in sm.tasks)


def test_derived_model_is_compact_and_counts_the_full_convention():
    sm = build(skip="project")
    policy = mixed_policy(sm)
    policy["layer2.conv1"] = {"seg": "skip", "depth": "specific", "normal": "shared"}  # a projection skip
    model = derive(sm, policy)
    names = dict(model.named_parameters())
    assert not any(n.startswith("logits") for n in names)
    assert set(names) <= set(dict(sm.named_parameters()))  # the supermodel's names, a subset of them
    assert sum(p.numel() for p in model.parameters()) == count_params(sm, policy, "full")
    assert "skip.seg.layer2-conv1.0.weight" in names and "skip.depth.layer2-conv1.0.weight" not in names
    for node, row in policy.items():  # exactly the chosen copies are present
        key = sm.node(node).key
        for t, choice in row.items():
            assert (f"specific.{t}.{key}.weight" in names) == (choice == "specific")
        assert (f"backbone.{node}.weight" in names) == ("shared" in row.values())
    # the parameters are copies: training the derived model leaves the supermodel untouched
    before = sm.backbone.stem.weight.clone()
    with torch.no_grad():
        model.get_parameter("backbone.stem.weight").add_(1.0)
    assert torch.equal(sm.backbone.stem.weight, before)


def test_derived_model_runs_tree_shared():
    sm = build(share_bn=True)
    policy = sm.uniform_policy("shared")
    policy["layer2.conv2"] = {"seg": "specific", "depth": "shared", "normal": "shared"}
    model = derive(sm, policy).eval()
    calls: dict[str, int] = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and not name.startswith("heads"):
            calls[name] = 0
            m.register_forward_hook(lambda *a, name=name: calls.__setitem__(name, calls[name] + 1))
    with torch.no_grad():
        model(X)
    assert calls == {"backbone.stem": 1, "backbone.layer1.conv1": 1, "backbone.layer1.conv2": 1,
                     "backbone.layer2.conv1": 1, "backbone.layer2.conv2": 1, "backbone.layer2.short": 1,
                     "specific.seg.layer2-conv2": 1}
    assert "specific_seg_layer2_conv2" in model.code  # the generated forward shows the branch


def test_derived_model_traces_again_and_round_trips_its_state_dict():
    sm = build()
    policy = mixed_policy(sm, 1)
    model = derive(sm, policy).eval()
    retraced = fx.symbolic_trace(model)
    with torch.no_grad():
        assert all(torch.equal(retraced(X)[t], model(X)[t]) for t in sm.tasks)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.1)  # "train" it
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    fresh = derive(build(), policy).eval()
    fresh.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    with torch.no_grad():
        assert all(torch.equal(fresh(X)[t], model(X)[t]) for t in sm.tasks)
    # and the trained weights load back into a supermodel under the same names
    sm.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        assert all(torch.equal(sm.eval()(X, policy=policy)[t], model(X)[t]) for t in sm.tasks)


def test_derive_uses_the_set_policy_and_rejects_bad_ones():
    sm = build()
    chosen = mixed_policy(sm, 2)
    sm.set_policy(chosen)
    assert derive(sm).policy == chosen
    with pytest.raises(ConfigError, match="unknown policy node"):
        derive(sm, {"layer9.conv1": "shared"})
    with pytest.raises(ConfigError, match="needs a SuperModel"):
        derive(nn.Linear(2, 2), chosen)


def test_derive_with_a_train_dependent_graph_and_a_leaf_module():
    torch.manual_seed(0)
    net = get_backbone("efficientnet_b0")
    heads = {"a": nn.Conv2d(1280, 2, 1), "b": nn.Conv2d(1280, 1, 1)}
    sm = SuperModel.from_backbone(net, heads, torch.zeros(1, 3, 32, 32),
                                  leaf_modules=("1.0.block.1",))  # one squeeze-excitation kept opaque
    assert "1.0.block.1.fc1" not in {v.name for v in sm.nodes}
    policy = sm.sample_policy(0)
    model = derive(sm, policy)
    assert hasattr(model, "train_graph")  # stochastic depth: train and eval graphs
    x = torch.randn(2, 3, 32, 32)
    sm.eval(), model.eval()
    with torch.no_grad():
        assert all(torch.equal(model(x)[t], sm(x, policy=policy)[t]) for t in sm.tasks)
    model.train()
    assert model(x)["a"].shape == (2, 2, 1, 1)
