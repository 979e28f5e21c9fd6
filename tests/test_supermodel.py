"""SuperModel: compilation from many backbones, modes, tree execution, errors (docs/automtl.md §1, §7)."""
from __future__ import annotations

import copy

import networkx as nx
import pytest
import torch
from torch import nn

from mtlkit.automtl import SuperModel
from mtlkit.backbones import backbone_spec, get_backbone, list_backbones
from mtlkit.heads import get_head
from mtlkit.errors import ConfigError



# ------------------------------------------------------------------------------------------------ backbones
class TinyNet(nn.Module):
    """stem (3->8) · residual block (8) · stride-2 conv (8->16) · residual block (16)."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(c)
        self.b1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b1_bn = nn.BatchNorm2d(c)
        self.b2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b2_bn = nn.BatchNorm2d(c)
        self.down = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False)
        self.down_bn = nn.BatchNorm2d(2 * c)
        self.c1 = nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.c1_bn = nn.BatchNorm2d(2 * c)

    def forward(self, x):
        x = torch.relu(self.stem_bn(self.stem(x)))
        x = torch.relu(x + self.b2_bn(self.b2(torch.relu(self.b1_bn(self.b1(x))))))
        x = torch.relu(self.down_bn(self.down(x)))
        return torch.relu(x + self.c1_bn(self.c1(x)))


def build_backbone(name: str) -> tuple[nn.Module, int]:
    """(backbone, feature channels) from the registry (random init, nothing downloaded), or the local TinyNet."""
    if name == "tiny":
        return TinyNet(), 16
    return get_backbone(name), backbone_spec(name).out_channels


def heads_for(channels: int, tasks=("a", "b")) -> dict[str, nn.Module]:
    return {t: nn.Conv2d(channels, k, 1) for t, k in zip(tasks, (3, 1, 2, 4, 5))}


def tiny(tasks=("a", "b"), **kw) -> tuple[SuperModel, nn.Module]:
    torch.manual_seed(0)
    net, c = build_backbone("tiny")
    reference = copy.deepcopy(net)
    return SuperModel.from_backbone(net, heads_for(c, tasks), torch.zeros(1, 3, 8, 8), **kw), reference


X = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))

ALL_BACKBONES = ["tiny", *list_backbones()]  # tiny_cnn, tiny_resnet, resnet18/34/50, deeplab_*, mobilenet_v2, ...


# ------------------------------------------------------------------------------------------------ equivalences
@pytest.mark.parametrize("name", ALL_BACKBONES)
def test_all_shared_equals_backbone_then_head(name):
    torch.manual_seed(0)
    net, c = build_backbone(name)
    heads = {"segment_semantic": get_head("linear", c, 19), "depth_zbuffer": get_head("light", c, 1, width=8)}
    x = torch.randn(2, 3, 32, 32)
    sm = SuperModel.from_backbone(net, heads, torch.zeros(1, 3, 32, 32)).eval()
    assert len(sm.nodes) == sum(isinstance(m, nn.Conv2d) for m in net.modules())
    with torch.no_grad():
        feats = net.eval()(x)
        hard = sm(x, mode="hard", policy=sm.uniform_policy("shared"))  # task-specific BN copies (default)
        shared = sm(x, mode="shared")
    for t, head in heads.items():
        expected = head(feats)
        assert (hard[t] - expected).abs().max() < 1e-5
        assert (shared[t] - expected).abs().max() < 1e-5


def test_all_specific_equals_independent_networks_and_isolates_gradients():
    sm, reference = tiny(("a", "b", "c"))
    sm.eval()
    # an independent network per task built from that task's copies (docs/automtl.md §7.7)
    with torch.no_grad():
        for v in sm.nodes:
            sm.specific["b"][v.key].weight.mul_(1.5)
        independent = copy.deepcopy(reference).eval()
        for v in sm.virtual_nodes:
            parent, _, attr = v.name.rpartition(".")
            setattr(independent.get_submodule(parent) if parent else independent, attr,
                    copy.deepcopy(sm.specific["b"][v.key]))
        out = sm(X, mode="hard", policy=sm.uniform_policy("specific"))
        assert torch.allclose(out["b"], sm.heads["b"](independent(X)), atol=1e-6)

    for mode_kw in ({"mode": "specific"}, {"mode": "hard", "policy": sm.uniform_policy("specific")}):
        sm.zero_grad(set_to_none=True)
        sm(X, **mode_kw)["a"].square().mean().backward()
        for name, p in sm.named_parameters():
            own = name.startswith(("specific.a.", "heads.a."))
            if own:
                assert p.grad is not None and p.grad.abs().sum() > 0, name
            else:  # other tasks' copies, the shared ops, skips and logits get nothing
                assert p.grad is None or p.grad.abs().sum() == 0, name


def test_copies_start_equal_to_the_shared_op_and_logits_are_zero():
    sm, _ = tiny()
    for v in sm.virtual_nodes:
        shared = sm.backbone.get_submodule(v.name)
        for t in sm.tasks:
            for a, b in zip(shared.parameters(), sm.specific[t][v.key].parameters()):
                assert torch.equal(a, b) and a is not b
    assert all(torch.equal(p, torch.zeros_like(p)) for p in sm.policy_parameters())
    assert all(p.shape == (2, len(v.choices)) for p, v in zip(sm.policy_parameters(), sm.nodes))


class OneConv(nn.Module):
    def __init__(self, cin=4, cout=4, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)

    def forward(self, x):
        return self.conv(x)


def one_conv(cin=4, cout=4, stride=1, tasks=("a", "b"), **kw):
    torch.manual_seed(0)
    heads = {t: nn.Identity() for t in tasks}
    return SuperModel.from_backbone(OneConv(cin, cout, stride), heads, torch.zeros(1, cin, 6, 6), **kw)


def test_mean_mode_is_the_mean_of_the_branches():
    x = torch.randn(2, 4, 6, 6)
    sm = one_conv()
    conv = sm.backbone.conv
    with torch.no_grad():
        assert torch.allclose(sm(x, mode="mean")["a"], (2 * conv(x) + x) / 3, atol=1e-6)  # docs/automtl.md §7.8 example
        sm.specific["a"]["conv"].weight.mul_(-2.0)
        expected = (conv(x) + sm.specific["a"]["conv"](x) + x) / 3
        assert torch.allclose(sm(x, mode="mean")["a"], expected, atol=1e-6)
    proj = one_conv(4, 8, 2, skip="project")  # shape change: the projection is the third branch
    with torch.no_grad():
        expected = (proj.backbone.conv(x) + proj.specific["b"]["conv"](x) + proj.skip["b"]["conv"](x)) / 3
        assert torch.allclose(proj(x, mode="mean")["b"], expected, atol=1e-6)
    never = one_conv(4, 8, 2, skip="never")  # no skip: mean of two
    with torch.no_grad():
        assert torch.allclose(never(x, mode="mean")["a"], never.backbone.conv(x), atol=1e-6)


def test_soft_mode_with_a_dominant_logit_equals_hard_mode():
    sm, _ = tiny()
    sm.eval()
    torch.manual_seed(3)
    with torch.no_grad():
        for p in sm.policy_parameters():
            k = torch.randint(p.shape[1], (p.shape[0],))
            p.fill_(-30.0)
            p[torch.arange(p.shape[0]), k] = 30.0
        soft = sm(X, mode="soft", tau=1.0)
        hard = sm(X, mode="hard")
        straight = sm(X, mode="soft", tau=1.0, hard=True)
    assert {c for row in sm.policy().values() for c in row.values()} == {"shared", "specific", "skip"}
    for t in sm.tasks:
        assert torch.allclose(soft[t], hard[t], atol=1e-5)
        assert torch.allclose(straight[t], hard[t], atol=1e-5)


def test_soft_mixing_weights_sum_to_one_and_are_shared_by_the_batch():
    sm = one_conv()
    with torch.no_grad():  # make every branch the identity: the output is (sum of weights) * x
        for conv in [sm.backbone.conv] + [sm.specific[t]["conv"] for t in sm.tasks]:
            conv.weight.zero_()
            conv.weight[range(4), range(4), 1, 1] = 1.0
            conv.bias.zero_()
        sm.logits["conv"].copy_(torch.tensor([[0.3, -1.0, 2.0], [0.0, 0.0, 0.0]]))
        x = torch.randn(1, 4, 6, 6)
        out = sm(x, mode="soft", tau=0.7)["a"]
        assert torch.allclose(out, x, atol=1e-5)
        for conv in [sm.backbone.conv] + [sm.specific[t]["conv"] for t in sm.tasks]:
            conv.weight.mul_(torch.rand(4, 1, 1, 1) + 1)  # branches now differ: output depends on the weights
        twice = sm(torch.cat([x, x]), mode="soft", tau=0.7)["a"]
    assert torch.equal(twice[0], twice[1])  # one Gumbel draw per (node, task), not per sample


def test_straight_through_soft_mode_is_one_branch_forward_with_soft_gradients():
    sm = one_conv()
    x = torch.randn(1, 4, 6, 6)
    with torch.no_grad():
        sm.specific["a"]["conv"].weight.mul_(-1.0)
        branches = [sm.backbone.conv(x), sm.specific["a"]["conv"](x), x]
    torch.manual_seed(0)
    seen = set()
    for _ in range(30):
        sm.zero_grad(set_to_none=True)
        out = sm(x, tasks="a", mode="soft", tau=1.0, hard=True)["a"]
        match = [k for k, b in enumerate(branches) if torch.allclose(out, b, atol=1e-6)]
        assert len(match) == 1  # forward: exactly one branch
        seen.add(match[0])
        out.square().sum().backward()
        assert sm.logits["conv"].grad[0].abs().sum() > 0  # backward: through the soft weights
        assert sm.logits["conv"].grad[1].abs().sum() == 0  # task "b" was not run
    assert seen == {0, 1, 2}  # zero logits: every branch gets drawn


def test_searchable_bn_nodes():
    sm, _ = tiny(share_bn="search")
    bn = sm.node("b1_bn")
    assert bn.kind == "bn" and bn.choices == ("shared", "specific") and bn.skip is None
    assert bn.depth == sm.node("b1").depth  # BN adds no depth
    assert [v.name for v in sm.nodes if v.kind == "conv"] == ["stem", "b1", "b2", "down", "c1"]
    assert len(sm.nodes) == 10 and sm.logits["b1_bn"].shape == (2, 2)
    shared_bn = sm.uniform_policy("shared")
    with torch.no_grad():
        sm.specific["a"]["b1_bn"].weight.mul_(3.0)
        out = sm.eval()(X, policy=shared_bn)
        shared_bn["b1_bn"]["a"] = "specific"
        changed = sm(X, policy=shared_bn)
    assert torch.equal(out["b"], changed["b"]) and not torch.allclose(out["a"], changed["a"])
    plain, _ = tiny(share_bn=True)
    assert [v.kind for v in plain.virtual_nodes] == ["conv"] * 5 and "b1_bn" not in plain.specific["a"]


def test_soft_mode_does_not_compute_branches_with_zero_weight():
    sm = one_conv()
    calls = {"shared": 0, "specific": 0}
    sm.backbone.conv.register_forward_hook(lambda *a: calls.__setitem__("shared", calls["shared"] + 1))
    for t in sm.tasks:
        sm.specific[t]["conv"].register_forward_hook(lambda *a: calls.__setitem__("specific", calls["specific"] + 1))
    with torch.no_grad():
        sm.logits["conv"].copy_(torch.tensor([[0.0, -1e4, 0.0], [0.0, -1e4, 0.0]]))
    out = sm(torch.randn(1, 4, 6, 6), mode="soft", tau=1.0)
    out["a"].sum().backward()
    assert calls == {"shared": 1, "specific": 0}  # shared once for both tasks, specific never
    assert sm.logits["conv"].grad is not None


# ------------------------------------------------------------------------------------------------ tree execution
def _count_conv_calls(sm: SuperModel) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, m in sm.named_modules():
        if isinstance(m, nn.Conv2d) and not name.startswith("heads."):
            counts[name] = 0
            m.register_forward_hook(lambda *a, name=name: counts.__setitem__(name, counts[name] + 1))
    return counts


@pytest.mark.parametrize("name", ["tiny", "resnet18"])
def test_tree_execution_runs_each_shared_conv_once(name):
    net, c = build_backbone(name)
    tasks = ("a", "b", "c")
    sm = SuperModel.from_backbone(net, heads_for(c, tasks), torch.zeros(1, 3, 32, 32), share_bn=True).eval()
    counts = _count_conv_calls(sm)
    backbone_convs = [f"backbone.{v.name}" for v in sm.nodes]
    x = torch.randn(1, 3, 32, 32)
    for kwargs in ({"mode": "shared"}, {"mode": "hard", "policy": sm.uniform_policy("shared")}):
        counts.update(dict.fromkeys(counts, 0))
        with torch.no_grad():
            sm(x, **kwargs)
        assert all(counts[n] == 1 for n in backbone_convs)
        assert sum(counts.values()) == len(backbone_convs)

    # tasks split at node k: "a" takes its own copy there, "b" and "c" stay together
    k = sm.nodes[len(sm.nodes) // 2]
    graph = sm.to_networkx()
    fx_name = {d["target"]: n for n, d in graph.nodes(data=True)}
    downstream = {graph.nodes[n]["target"] for n in nx.descendants(graph, fx_name[k.name])
                  if graph.nodes[n].get("vnode")}
    assert downstream and len(downstream) < len(sm.nodes) - 1  # some later convs are parallel (shortcuts)
    policy = sm.uniform_policy("shared")
    policy[k.name]["a"] = "specific"
    counts.update(dict.fromkeys(counts, 0))
    with torch.no_grad():
        out = sm(x, mode="hard", policy=policy)
    for v in sm.nodes:
        expected = 2 if v.name in downstream else 1  # after the split: once per group ({a}, {b, c})
        assert counts[f"backbone.{v.name}"] == expected, (v.name, counts[f"backbone.{v.name}"])
    assert counts[f"specific.a.{k.key}"] == 1
    with torch.no_grad():  # and the tree gives what one forward per task gives
        for t in tasks:
            assert torch.allclose(out[t], sm(x, tasks=[t], mode="hard", policy=policy)[t], atol=1e-6)


def test_task_specific_bn_splits_the_tasks_after_the_first_bn():
    sm, _ = tiny(("a", "b", "c"))  # share_bn=False (default, the paper)
    counts = _count_conv_calls(sm)
    with torch.no_grad():
        sm.eval()(X, mode="hard", policy=sm.uniform_policy("shared"))
    assert counts["backbone.stem"] == 1  # before the first BN: shared
    assert all(counts[f"backbone.{v.name}"] == 3 for v in sm.nodes[1:])  # after it: once per task


def test_modes_and_soft_mode_train_end_to_end_on_a_subset_of_tasks():
    sm, _ = tiny(("a", "b", "c"), skip="project", share_bn="search")
    sm.train()
    used = set()
    for mode in ("shared", "specific", "mean", "soft", "hard"):
        sm.zero_grad(set_to_none=True)
        out = sm(X, mode=mode, tau=2.0)
        assert list(out) == ["a", "b", "c"]
        sum(o.square().mean() for o in out.values()).backward()
        used |= {n for n, p in sm.named_parameters() if p.grad is not None}
    # no parameter that no mode uses (skip projections, shared and task BNs, logits all reached)
    assert used == {n for n, _ in sm.named_parameters()}
    out = sm(X, tasks=["c", "a"], mode="soft", tau=1.0, hard=True)
    assert list(out) == ["c", "a"]


def test_policy_and_network_parameters_partition_the_parameters():
    sm, _ = tiny(skip="project")
    policy_ids = {id(p) for p in sm.policy_parameters()}
    network_ids = {id(p) for p in sm.network_parameters()}
    assert policy_ids and not policy_ids & network_ids
    assert policy_ids | network_ids == {id(p) for p in sm.parameters()}
    assert len(policy_ids) == len(sm.nodes)


# ------------------------------------------------------------------------------------------------ nodes
def test_depth_and_skip_branches_match_the_original_for_resnet34_and_mobilenet_v2():
    net, c = build_backbone("resnet34")
    sm = SuperModel.from_backbone(net, heads_for(c), torch.zeros(1, 3, 32, 32), skip="project")
    assert len(sm.nodes) == 36 and sm.max_depth == 33  # docs/automtl.md §1.2
    depth = {v.name: v.depth for v in sm.nodes}
    assert depth["conv1"] == 1 and depth["layer2.0.downsample.0"] == depth["layer2.0.conv1"] == 8
    weights = [(sm.max_depth - v.depth) / sm.max_depth for v in sm.nodes]
    assert sum(weights) == pytest.approx(17.4242, abs=1e-4)  # docs/automtl.md §7.10
    projections = [v for v in sm.nodes if v.skip == "project"]
    assert len(projections) == 7 and sum(v.params["skip"] for v in projections) == 347_968  # docs/automtl.md §7.4
    assert sum(v.params["shared"] for v in sm.nodes) == 21_267_648
    # skip="auto": the projection stays only where it is at most half the conv (stem, stride-2 3x3 convs)
    auto = SuperModel.from_backbone(net, heads_for(c), torch.zeros(1, 3, 32, 32))
    kinds = {v.name: v.skip for v in auto.nodes}
    assert [n for n, k in kinds.items() if k == "project"] == ["conv1", "layer2.0.conv1", "layer3.0.conv1",
                                                                "layer4.0.conv1"]
    assert [n for n, k in kinds.items() if k is None] == [f"layer{i}.0.downsample.0" for i in (2, 3, 4)]
    assert auto.node("layer2.0.downsample.0").choices == ("shared", "specific")

    net, c = build_backbone("mobilenet_v2")
    sm = SuperModel.from_backbone(net, heads_for(c), torch.zeros(1, 3, 32, 32), skip="project")
    assert len(sm.nodes) == 52 and sm.max_depth == 52
    assert sum((52 - v.depth) / 52 for v in sm.nodes) == pytest.approx(25.5)
    projections = [v for v in sm.nodes if v.skip == "project"]
    assert len(projections) == 39 and sum(v.params["skip"] for v in projections) == 2_545_216
    auto = SuperModel.from_backbone(net, heads_for(c), torch.zeros(1, 3, 32, 32))
    assert [v.name for v in auto.nodes if v.skip == "project"] == ["0.0"]  # only the 3x3 stem
    assert sum(v.skip == "identity" for v in auto.nodes) == 13


def test_nodes_carry_costs_and_the_graph_exports_to_networkx():
    import networkx as nx

    sm, _ = tiny(skip="project")
    down = sm.node("down")
    assert down.in_shape == (8, 8, 8) and down.out_shape == (16, 4, 4)
    assert down.params == {"shared": 8 * 16 * 9, "specific": 8 * 16 * 9, "skip": 8 * 16 + 2 * 16}
    assert down.flops == {"shared": 2 * 16 * 16 * 8 * 9, "specific": 2 * 16 * 16 * 8 * 9, "skip": 2 * 16 * 16 * 8}
    assert sm.node("b1").params["skip"] == 0 and sm.node("b1").skip == "identity"
    g = sm.to_networkx()
    assert nx.is_directed_acyclic_graph(g)
    vnodes = [n for n, d in g.nodes(data=True) if d.get("vnode")]
    assert len(vnodes) == len(sm.virtual_nodes) == 10
    assert g.nodes["down"]["depth"] == 4 and g.nodes["down"]["shape"] == (16, 4, 4)
    with pytest.raises(ConfigError, match="unknown node 'nope'"):
        sm.node("nope")


def test_train_dependent_graphs_are_kept_per_mode():
    net, c = build_backbone("efficientnet_b0")  # stochastic depth bakes self.training into the graph
    sm = SuperModel.from_backbone(net, heads_for(c), torch.zeros(1, 3, 32, 32))
    assert hasattr(sm.backbone, "train_graph") and hasattr(sm.backbone, "eval_graph")
    sm.eval()
    assert sm.backbone.graph is sm.backbone.eval_graph
    sm.train()
    assert sm.backbone.graph is sm.backbone.train_graph
    out = sm(torch.randn(2, 3, 32, 32), mode="soft")
    assert out["a"].shape == (2, 3, 1, 1)


# ------------------------------------------------------------------------------------------------ errors
class Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace this
            return self.conv(x)
        return x


class NetWithUntraceableBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = Untraceable()

    def forward(self, x):
        return self.block(self.stem(x))


def test_bad_input_gives_specific_errors():
    net, _ = build_backbone("tiny")
    ex = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ConfigError, match="heads is empty"):
        SuperModel.from_backbone(net, {}, ex)
    with pytest.raises(ConfigError, match="task 'b' has no head"):
        SuperModel.from_backbone(net, {"a": nn.Conv2d(16, 1, 1), "b": None}, ex)
    with pytest.raises(ConfigError, match="task 'b' expects 32 input channels.*16 channels"):
        SuperModel.from_backbone(net, {"a": nn.Conv2d(16, 1, 1), "b": nn.Conv2d(32, 1, 1)}, ex)
    with pytest.raises(ConfigError, match="unknown skip mode 'sometimes'"):
        SuperModel.from_backbone(net, heads_for(16), ex, skip="sometimes")
    with pytest.raises(ConfigError, match="share_bn must be"):
        SuperModel.from_backbone(net, heads_for(16), ex, share_bn="yes")
    with pytest.raises(ConfigError, match="example_input must be a 4-D tensor"):
        SuperModel.from_backbone(net, heads_for(16), torch.zeros(3, 8, 8))
    with pytest.raises(ConfigError, match="leaf_modules names 'nope'"):
        SuperModel.from_backbone(net, heads_for(16), ex, leaf_modules=("nope",))

    sm = SuperModel.from_backbone(net, heads_for(16), ex)
    with pytest.raises(ConfigError, match="unknown task 'z'"):
        sm(X, tasks=["z"])
    with pytest.raises(ConfigError, match="tasks is empty"):
        sm(X, tasks=[])
    with pytest.raises(ConfigError, match="unknown mode 'fuzzy'"):
        sm(X, mode="fuzzy")
    with pytest.raises(ConfigError, match="tau must be a positive number"):
        sm(X, mode="soft", tau=0)
    with pytest.raises(ConfigError, match="only used in mode='hard'"):
        sm(X, mode="soft", policy=sm.policy())


def test_untraceable_backbone_names_the_module_and_suggests_leaf_modules():
    heads = {"a": nn.Conv2d(8, 1, 1), "b": nn.Conv2d(8, 1, 1)}
    ex = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ConfigError) as info:
        SuperModel.from_backbone(NetWithUntraceableBlock(), heads, ex)
    message = str(info.value)
    assert "failing module: block (Untraceable), in forward() at test_supermodel.py:" in message  # module + line
    assert "leaf_modules=(Untraceable,)" in message and "leaf_modules=('block',)" in message
    # the suggested fix works: the block becomes one opaque shared op, its conv is not searchable
    sm = SuperModel.from_backbone(NetWithUntraceableBlock(), heads, ex, leaf_modules=(Untraceable,))
    assert [v.name for v in sm.nodes] == ["stem"]
    assert sm(torch.randn(1, 3, 8, 8))["a"].shape == (1, 1, 8, 8)


class NoBN(nn.Module):
    """VGG-like, in-place ReLUs directly after convs (no BN in between)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        x = self.relu1(self.conv1(x))
        y = self.relu2(self.conv2(x))
        return torch.nn.functional.relu(self.conv3(y) + x, inplace=True)


def test_in_place_ops_cannot_corrupt_tensors_shared_between_tasks():
    torch.manual_seed(0)
    heads = {t: nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(8, 2, 1)) for t in ("a", "b", "c")}
    sm = SuperModel.from_backbone(NoBN(), heads, torch.zeros(1, 3, 8, 8))
    policy = sm.uniform_policy("shared")
    policy["conv2"]["b"] = "skip"  # b's relu2 would run in place on x, which conv3's residual still needs
    x = torch.randn(2, 3, 8, 8) - 0.5
    out = sm(x, policy=policy)  # the heads' leading in-place ReLU gets one feature tensor shared by a and c
    sum(o.sum() for o in out.values()).backward()  # no "modified by an inplace operation" error
    with torch.no_grad():
        for t in sm.tasks:
            assert torch.allclose(out[t], sm(x, tasks=[t], policy=policy)[t], atol=1e-6)
    assert "inplace = True" not in sm.backbone.code and not sm.backbone.relu1.inplace
    assert not sm.heads["a"][0].inplace


def test_in_place_ops_that_rely_on_aliasing_are_kept():
    class Aliasing(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            y.relu_()  # result discarded: the next line reads the modified y
            return y * 2

    torch.manual_seed(0)
    net = Aliasing()
    sm = SuperModel.from_backbone(net, {"a": nn.Identity()}, torch.zeros(1, 3, 6, 6))
    assert "relu_" in sm.backbone.code
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(sm(x, mode="shared")["a"], net(x))
