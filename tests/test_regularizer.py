"""Regulariser, τ schedule, resource costs: golden values of docs/automtl.md §2.2, §2.5, §7.10–11 and exact costs."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from mtlkit.automtl import (
    ResourceCosts, SearchConfig, SuperModel, count_params, depth_weights, flops_report, paper_regularizer,
    paper_regularizer_from_probs, tau_at,
)
from mtlkit.automtl.regularizer import policy_probs, policy_tensor
from mtlkit.backbones import get_backbone
from mtlkit.errors import ConfigError



@pytest.fixture(scope="module")
def resnet34():
    """The paper's supermodel geometry: torchvision ResNet-34, every conv with a skip (``skip="project"``)."""
    torch.manual_seed(0)
    heads = {"seg": nn.Conv2d(512, 3, 1), "depth": nn.Conv2d(512, 1, 1)}
    return SuperModel.from_backbone(get_backbone("resnet34"), heads, torch.zeros(1, 3, 64, 64), skip="project")


class Net(nn.Module):
    """stem 3->8 (stride 2) · residual 3x3 block · 1x1 8->16 · BN after every conv."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)

    def forward(self, x):
        x = torch.relu(self.bn0(self.conv0(x)))
        x = torch.relu(x + self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(x)))


def tiny(tasks=("a", "b"), **kw) -> SuperModel:
    torch.manual_seed(0)
    heads = {t: nn.Conv2d(16, 2, 1) for t in tasks}
    return SuperModel.from_backbone(Net(), heads, torch.zeros(1, 3, 16, 16), **kw)


# ----------------------------------------------------------------------------------------------- paper golden values
def test_resnet34_depth_weights_sum_to_17_4242(resnet34):
    w = depth_weights(resnet34)
    assert len(w) == 36 and resnet34.max_depth == 33
    assert sum(w.values()) == pytest.approx(17.4242, abs=1e-4)
    assert w["conv1"] == pytest.approx(32 / 33)
    assert min(w.values()) == 0.0  # the deepest conv is free
    assert w["layer4.2.conv2"] == 0.0


def test_resnet34_regulariser_golden_values(resnet34):
    # zero logits at large tau: p ~ uniform -> 2 ln 2 per unit weight, 24.155 per task (with the paper's noise)
    torch.manual_seed(0)
    noisy = paper_regularizer(resnet34, tau=1e6)
    assert noisy.shape == (2,)
    assert noisy.detach().numpy() == pytest.approx([24.155, 24.155], abs=1e-3)
    exact = paper_regularizer(resnet34, tau=1.0, noise=False)
    assert float(exact[0].detach()) == pytest.approx(2 * math.log(2) * 17.424242, rel=1e-6)
    # one-hot shared: 2 softplus(-s) per unit weight: 0.0863 with s = 6, 10.917 with s = 1
    _, has_skip = policy_tensor(resnet34)
    probs = torch.zeros(36, 2, 3)
    probs[..., 0] = 1.0
    weights = torch.tensor(list(depth_weights(resnet34).values()))
    assert paper_regularizer_from_probs(probs, weights, has_skip, 6.0).numpy() == pytest.approx([0.0863] * 2,
                                                                                              abs=5e-5)
    assert paper_regularizer_from_probs(probs, weights, has_skip, 1.0).numpy() == pytest.approx([10.917] * 2,
                                                                                              abs=5e-4)
    # the same through the logits: a dominant "shared" logit
    with torch.no_grad():
        for p in resnet34.logits.values():
            p.copy_(torch.tensor([60.0, -60.0, -60.0]).expand_as(p))
    try:
        assert paper_regularizer(resnet34, tau=1.0, noise=False).detach().numpy() == pytest.approx([0.0863] * 2,
                                                                                                  abs=5e-5)
    finally:
        with torch.no_grad():
            for p in resnet34.logits.values():
                p.zero_()


def test_regulariser_gives_no_gradient_to_network_weights():
    sm = tiny()
    with torch.no_grad():
        for p in sm.logits.values():
            p.normal_()
    reg = paper_regularizer(sm, tau=2.0).sum()
    params = list(sm.network_parameters())
    grads = torch.autograd.grad(reg, params + list(sm.policy_parameters()), allow_unused=True)
    assert all(g is None for g in grads[:len(params)])
    w = depth_weights(sm)
    for v, g in zip(sm.nodes, grads[len(params):]):  # logits get gradient wherever the weight is not 0
        assert g is not None and (g.abs().sum() > 0) == (w[v.name] > 0)


def test_nodes_without_skip_and_searched_bns_drop_the_skip_term():
    sm = tiny(share_bn="search", skip="never")
    kinds = {v.name: (v.kind, v.choices, v.depth) for v in sm.nodes}
    assert kinds["conv0"] == ("conv", ("shared", "specific"), 1)  # stride 2: no skip with skip="never"
    assert kinds["bn1"] == ("bn", ("shared", "specific"), 2)  # BN: depth of the conv before it
    w = depth_weights(sm)
    D = sm.max_depth
    assert D == 3 and w["bn1"] == w["conv1"] == (D - 2) / D and w["bn2"] == w["conv2"] == 0.0
    reg = paper_regularizer(sm, tau=1.0, noise=False)  # zero logits
    expected = sum(math.log(2) * (2 if len(v.choices) == 3 else 1) * w[v.name] for v in sm.nodes)
    assert reg.detach().numpy() == pytest.approx([expected] * 2, rel=1e-6)


# ------------------------------------------------------------------------------------------------------ temperature
def test_tau_schedule_golden_values():
    assert tau_at(0) == 5.0 and tau_at(100) == 5.0
    assert tau_at(101) == pytest.approx(5 * 0.965)
    assert round(tau_at(4000), 4) == 1.2460  # 39 decays
    assert round(tau_at(10_000), 4) == 0.1470  # 99 decays
    assert tau_at(10**7) == 1e-6  # the floor


@pytest.mark.parametrize("preset, policy_iters, final", [("cityscapes", 4000, 1.2460), ("taskonomy", 4000, 1.2460),
                                                         ("nyuv2", 10_000, 0.1470)])
def test_tau_after_20k_iterations_by_simulating_the_alternation(preset, policy_iters, final):
    cfg = SearchConfig.preset(preset)
    k = sum(cfg.is_policy_step(i) for i in range(cfg.policy_train_iterations))
    assert k == cfg.n_policy_steps == policy_iters
    assert round(cfg.tau_after(k), 4) == final == round(cfg.final_tau, 4)


def test_alternation_pattern_of_the_literal_presets():
    cfg = SearchConfig()
    assert [cfg.is_policy_step(i) for i in (0, 99, 100, 499, 500, 599, 600)] == [1, 1, 0, 0, 1, 1, 0]
    assert cfg.policy_lr_at(9999) == 0.01 and cfg.policy_lr_at(10_000) == 0.001
    nyu = SearchConfig.preset("nyuv2")
    assert (nyu.policy_steps, nyu.network_steps, nyu.network_lr, nyu.reg_weight) == (50, 50, 1e-3, 0.001)


@pytest.mark.parametrize("preset, n", [("cityscapes", 200), ("cityscapes", 777), ("nyuv2", 200), ("nyuv2", 50),
                                       ("taskonomy", 3000)])
def test_scaled_keeps_the_shape_of_the_schedules(preset, n):
    paper = SearchConfig.preset(preset)
    small = paper.scaled(n, post_train_iterations=300)
    assert small.final_tau == pytest.approx(paper.final_tau, rel=1e-12)  # tau ends where the paper's ends
    f = n / paper.policy_train_iterations
    assert small.policy_steps == max(1, math.floor(paper.policy_steps * f + 0.5))
    ratio = small.policy_steps / (small.policy_steps + small.network_steps)
    assert ratio == pytest.approx(paper.policy_steps / (paper.policy_steps + paper.network_steps), abs=0.2)
    assert small.policy_lr_drop_at == max(1, math.floor(10_000 * f + 0.5))
    assert small.post_lr_step == max(1, round(4000 * 300 / 30_000))
    assert paper.policy_steps in (50, 100) and paper.tau_period == 101.0  # the preset itself is untouched


# --------------------------------------------------------------------------------------------- resource awareness
def _random_policies(sm, n, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield {v.name: {t: v.choices[rng.integers(len(v.choices))] for t in sm.tasks} for v in sm.nodes}


def test_param_cost_of_a_policy_is_its_full_parameter_count():
    sm = tiny(tasks=("a", "b", "c"))  # conv0 has a projection skip (24 params + BN) under skip="auto"
    costs = ResourceCosts.from_supermodel(sm, "params")
    assert costs.all_shared == 1.0 and costs.unit == sum(v.params["shared"] for v in sm.nodes)
    fixed = count_params(sm, sm.uniform_policy("shared"), "full") - costs.unit  # task BNs and heads
    for policy in _random_policies(sm, 20):
        assert costs.of_policy(policy) * costs.unit + fixed == pytest.approx(count_params(sm, policy, "full"))
    assert costs.of_policy(sm.uniform_policy("specific")) == pytest.approx(3.0)


def test_flops_cost_of_a_policy_is_its_separate_forward_flops():
    sm = tiny(tasks=("a", "b"))
    costs = ResourceCosts.from_supermodel(sm, "flops")
    x = torch.zeros(1, 3, 16, 16)
    fixed = flops_report(sm, x, sm.uniform_policy("shared"))["separate"] - 2 * costs.unit  # the heads
    assert costs.all_shared == 2.0
    for policy in _random_policies(sm, 10, seed=1):
        assert costs.of_policy(policy) * costs.unit + fixed == pytest.approx(flops_report(sm, x, policy)["separate"])


@pytest.mark.parametrize("resource", ["params", "flops"])
def test_expected_cost_is_the_exact_expectation_over_sampled_policies(resource):
    sm = tiny(tasks=("a", "b"))
    costs = ResourceCosts.from_supermodel(sm, resource)
    torch.manual_seed(3)
    logits = torch.randn(len(sm.nodes), 2, 3)
    logits[[i for i, v in enumerate(sm.nodes) if len(v.choices) == 2], :, 2] = -math.inf
    q = torch.softmax(logits.double(), -1)
    # enumerate every policy: 3 nodes x 2 tasks, each choice with its probability
    options = [[(n, t, k) for k in range(len(v.choices))] for n, v in enumerate(sm.nodes) for t in range(2)]
    total = 0.0
    for combo in itertools.product(*options):
        weight = math.prod(float(q[n, t, k]) for n, t, k in combo)
        policy = {v.name: {} for v in sm.nodes}
        for n, t, k in combo:
            policy[sm.nodes[n].name][sm.tasks[t]] = sm.nodes[n].choices[k]
        total += weight * costs.of_policy(policy)
    assert float(costs.expected(q)) == pytest.approx(total, rel=1e-9)


def test_cost_bounds_and_budget_errors():
    sm = tiny(tasks=("a", "b", "c"))
    costs = ResourceCosts.from_supermodel(sm, "params")
    v0 = sm.node("conv0")
    assert v0.skip == "project"
    skip_all = sm.uniform_policy("shared")
    for v in sm.nodes:
        if "skip" in v.choices:
            skip_all[v.name] = dict.fromkeys(sm.tasks, "skip")
    cheapest = min(costs.of_policy(skip_all), costs.of_policy(sm.uniform_policy("shared")))
    assert costs.minimum == pytest.approx(min(cheapest, costs.of_policy(
        {**skip_all, "conv0": dict.fromkeys(sm.tasks, "shared")})))
    assert costs.minimum < 1.0 and costs.maximum == pytest.approx(3.0)
    with pytest.raises(ConfigError, match=r"below what any policy can reach: the minimum is 0\.\d{4}"):
        costs.check_budget(costs.minimum / 2)
    with pytest.raises(ConfigError, match="positive number of backbones"):
        costs.check_budget(-1.0)
    assert costs.check_budget(1.5) == 1.5
    with pytest.raises(ConfigError, match="unknown resource"):
        ResourceCosts.from_supermodel(sm, "memory")


def test_budget_penalty_is_a_hinge_on_the_expected_cost():
    sm = tiny(tasks=("a", "b"))
    costs = ResourceCosts.from_supermodel(sm, "params")
    logits, _ = policy_tensor(sm)
    q = torch.softmax(logits, -1)
    loss, expected = costs.penalty(q, budget=10.0)
    assert float(loss.detach()) == 0.0 and 1.0 < float(expected.detach()) < 2.0
    loss, expected = costs.penalty(q, budget=1.0, budget_weight=2.0, cost_weight=0.5)
    e = float(expected.detach())
    assert float(loss.detach()) == pytest.approx(2.0 * (e - 1.0) + 0.5 * e)
    loss.backward()
    grad = sm.logits["conv1"].grad  # identity skip costs nothing: the gradient pushes to shared/skip, off specific
    assert grad[:, 1].min() > 0 and (grad[:, 0] < grad[:, 1]).all()


def test_policy_probs_checks_tau():
    sm = tiny()
    with pytest.raises(ConfigError, match="tau must be a positive finite number"):
        policy_probs(sm, tau=0.0)
    with pytest.raises(ConfigError, match="scale must be a positive"):
        paper_regularizer(sm, tau=1.0, scale=-6)
