"""TreeModel: tree-structured multi-task models from a layout (TreeMTL §3, docs/treemtl.md §3)."""
from __future__ import annotations

import copy
import random

import pytest
import torch
from torch import nn

from mtlkit.backbones import get_backbone
from mtlkit.errors import ConfigError
from mtlkit.flops import count_flops
from mtlkit.heads import get_head
from mtlkit.models import MultiTaskModel
from mtlkit.treemtl import Layout, enumerate_layouts, layout_costs
from mtlkit.treemtl.branching import branching_points, coarsen
from mtlkit.treemtl.tree_model import TreeModel, copy_key

TASKS = ("seg", "depth", "normal")
OUT = {"seg": 6, "depth": 1, "normal": 3}

def _setup(B=3, seed=0):
    torch.manual_seed(seed)
    backbone = get_backbone("tiny_resnet", width=8)
    blocks = branching_points(backbone, torch.zeros(1, 3, 32, 32))
    if B is not None:
        blocks = coarsen(blocks, B)
    heads = {t: get_head("light", 16, OUT[t], width=8) for t in TASKS}
    return backbone, blocks, heads


def _x(n=4, size=32, seed=1):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _perturb(model, seed=3):
    """Give every block copy its own weights, so that a wrong routing would show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.copies.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_all_shared_equals_hard_shared_model(mode):
    backbone, blocks, heads = _setup()
    tree = TreeModel.from_layout(backbone, blocks, Layout.all_shared(3, 3), heads)
    hard = MultiTaskModel(copy.deepcopy(backbone), heads)
    getattr(tree, mode)()
    getattr(hard, mode)()
    x = _x()
    with torch.no_grad():
        a, b = tree(x), hard(x)
    for t in TASKS:
        assert torch.equal(a[t], b[t])
    assert tree.backbone_parameters() == sum(p.numel() for p in backbone.parameters())


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_fully_split_equals_independent_single_task_models(mode):
    backbone, blocks, heads = _setup()
    tree = TreeModel.from_layout(backbone, blocks, Layout.independent(3, 3), heads)
    singles = {t: MultiTaskModel(copy.deepcopy(backbone), {t: heads[t]}) for t in TASKS}
    x = _x()
    getattr(tree, mode)()
    with torch.no_grad():
        out = tree(x)
        for t in TASKS:
            getattr(singles[t], mode)()
            assert torch.equal(out[t], singles[t](x)[t])
    assert tree.backbone_parameters() == 3 * sum(p.numel() for p in backbone.parameters())


def test_routing_follows_the_layout():
    backbone, blocks, heads = _setup()
    layout = Layout.parse("[012] [01,2] [0,1,2]")
    tree = TreeModel.from_layout(backbone, blocks, layout, heads).eval()
    _perturb(tree)
    x = _x()
    with torch.no_grad():
        out = tree(x)
        for i, t in enumerate(TASKS):
            h = x
            for c in range(3):
                h = tree.copy_for(c, i)(h)
            assert torch.equal(out[t], heads[t](h))
        # tasks 0 and 1 share block 1 (same copy object), task 2 has its own
        assert tree.copy_for(1, 0) is tree.copy_for(1, "depth") and tree.copy_for(1, 2) is not tree.copy_for(1, 0)


@pytest.mark.parametrize("index", [0, 5, 11, 17, 21])
def test_every_copy_runs_once_per_forward(index):
    backbone, blocks, heads = _setup()
    layout = enumerate_layouts(3, 3)[index]
    tree = TreeModel.from_layout(backbone, blocks, layout, heads)
    calls = {k: 0 for k in tree.copies}
    for k, m in tree.copies.items():
        m.register_forward_hook(lambda mod, inp, out, k=k: calls.__setitem__(k, calls[k] + 1))
    tree(_x())
    assert len(calls) == sum(layout.num_groups)
    assert set(calls.values()) == {1}
    assert set(tree.copies) == {copy_key(c, g) for c in range(3) for g in layout.groups(c)}
    # asking for one task runs only the copies on its path
    calls.update({k: 0 for k in calls})
    tree(_x(), tasks=("normal",))
    assert sum(calls.values()) == 3
    assert all(calls[copy_key(c, g)] == 1 for c in range(3) for g in layout.groups(c) if 2 in g)


def test_costs_agree_with_the_recommender():
    backbone, blocks, heads = _setup()
    x1 = torch.zeros(1, 3, 32, 32)   # the detection input size
    feat = blocks.as_module().eval()(x1)
    head_flops = sum(count_flops(h, feat) for h in heads.values())
    rng = random.Random(0)
    for layout in rng.sample(enumerate_layouts(3, 3), 6) + [Layout.all_shared(3, 3), Layout.independent(3, 3)]:
        tree = TreeModel.from_layout(backbone, blocks, layout, heads).eval()
        predicted = layout_costs(layout, blocks.block_costs())
        assert tree.costs() == predicted
        assert tree.backbone_parameters() == predicted["params"]
        assert count_flops(tree, x1) == predicted["flops"] + head_flops
        assert tree.head_parameters() == sum(p.numel() for h in heads.values() for p in h.parameters())


def test_two_task_models_share_the_first_b_blocks():
    backbone, blocks, heads = _setup()
    two = {t: heads[t] for t in TASKS[:2]}
    for b in range(4):
        tree = TreeModel.two_task(backbone, blocks, b, two)
        assert tree.layout.branch_point(0, 1) == b
        assert len(tree.copies) == b + 2 * (3 - b)


def test_gradients_reach_shared_and_task_copies():
    backbone, blocks, heads = _setup()
    tree = TreeModel.from_layout(backbone, blocks, "[012] [01,2]x2", heads)
    out = tree(_x())
    sum(v.mean() for v in out.values()).backward()
    assert all(p.grad is not None for p in tree.parameters() if p.requires_grad)
    assert all(p.grad is None for p in backbone.parameters())   # copies are independent of the backbone


def test_detects_and_coarsens_when_given_b():
    backbone, _, heads = _setup()
    tree = TreeModel.from_layout(backbone, 2, "[012] [0,12]", heads, example_input=torch.zeros(1, 3, 32, 32))
    assert tree.layout.B == 2 and len(tree.block_names) == 2
    fine = TreeModel.from_layout(backbone, None, Layout.all_shared(3, 4), heads)
    assert len(fine.copies) == 4


def test_trains_with_the_kit_trainer():
    from mtlkit.tasks import get_task
    from mtlkit.train import TrainConfig, train

    torch.manual_seed(0)
    backbone = get_backbone("tiny_resnet", width=8)
    tasks = {"segment_semantic": get_task("segment_semantic", num_classes=6),
             "depth_zbuffer": get_task("depth_zbuffer")}
    heads = {t: get_head("light", 16, tasks[t].out_channels, width=8) for t in tasks}
    tree = TreeModel.from_layout(backbone, 2, "[01] [0,1]", heads, tasks=tasks,
                                 example_input=torch.zeros(1, 3, 32, 32))
    data = [{"image": torch.randn(3, 32, 32), "segment_semantic": torch.randint(0, 6, (32, 32)),
             "depth_zbuffer": torch.rand(1, 32, 32) + 0.5} for _ in range(8)]
    loader = torch.utils.data.DataLoader(data, batch_size=4, shuffle=True, generator=torch.Generator())
    before = copy.deepcopy(tree.state_dict())
    hist = train(tree, tasks, loader, TrainConfig(iterations=2, log_every=1), progress=False)
    assert len(hist.train) == 2
    assert any(not torch.equal(before[k], v) for k, v in tree.state_dict().items())


# ------------------------------------------------------------------------------------------------ bad input
def test_wrong_number_of_tasks_or_points():
    backbone, blocks, heads = _setup()
    with pytest.raises(ConfigError, match=r"is for T=2 tasks but 3 heads were given"):
        TreeModel.from_layout(backbone, blocks, Layout.all_shared(2, 3), heads)
    with pytest.raises(ConfigError, match=r"has B=5 branching points but the backbone has 3 blocks; coarsen"):
        TreeModel.from_layout(backbone, blocks, Layout.all_shared(3, 5), heads)
    with pytest.raises(ConfigError, match="layout must be a Layout"):
        TreeModel.from_layout(backbone, blocks, [[0, 1, 2]], heads)
    with pytest.raises(ConfigError, match="expected blocks like"):
        TreeModel.from_layout(backbone, blocks, "012", heads)
    with pytest.raises(ConfigError, match=r"branch \(branching point\) must be an int in 0..3, got 4"):
        TreeModel.two_task(backbone, blocks, 4, {t: heads[t] for t in TASKS[:2]})


def test_bad_heads_and_blocks():
    backbone, blocks, heads = _setup()
    bad = dict(heads, seg=get_head("light", 32, 6))
    with pytest.raises(ConfigError, match="head of task 'seg' expects 32 input channels but the last block"):
        TreeModel.from_layout(backbone, blocks, Layout.all_shared(3, 3), bad)
    other = get_backbone("tiny_resnet", width=8)
    with pytest.raises(ConfigError, match="detected on another backbone"):
        TreeModel.from_layout(other, blocks, Layout.all_shared(3, 3), heads)
    with pytest.raises(ConfigError, match="heads must be a non-empty dict"):
        TreeModel.from_layout(backbone, blocks, Layout.all_shared(3, 3), {})
    with pytest.raises(ConfigError, match="blocks must be a BlockSequence"):
        TreeModel(nn.Identity(), Layout.all_shared(3, 3), heads)
    tree = TreeModel.from_layout(backbone, blocks, Layout.all_shared(3, 3), heads)
    with pytest.raises(ConfigError, match=r"unknown task\(s\) \['edges'\]"):
        tree(_x(), tasks=("edges",))


class _Dropping(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3)
        self.c2 = nn.Conv2d(4, 4, 3)

    def forward(self, x):
        return self.c2(nn.functional.dropout(self.c1(x), 0.5, training=self.training))


def test_copies_of_mode_dependent_blocks_switch_with_the_model():
    net = _Dropping()
    blocks = branching_points(net, torch.zeros(1, 3, 12, 12))
    heads = {"a": nn.Conv2d(4, 1, 1), "b": nn.Conv2d(4, 1, 1)}
    tree = TreeModel.from_layout(net, blocks, "[01] [0,1]", heads)
    x = _x(2, 12)
    tree.eval()
    net.eval()
    with torch.no_grad():
        assert torch.allclose(tree(x)["a"], heads["a"](net(x)))
        tree.train()
        assert not torch.equal(tree(x)["a"], tree(x)["a"])   # dropout is active in the copies in train mode
