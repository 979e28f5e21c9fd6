"""The branching-point detector (TreeMTL §3.3, docs/treemtl.md §9) and coarsening."""
from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from mtlkit.backbones import get_backbone
from mtlkit.errors import ConfigError
from mtlkit.flops import conv2d_flops, count_flops
from mtlkit.treemtl import BlockCosts, Layout, TwoTaskTable, layout_costs, recommend
from mtlkit.treemtl.branching import balanced_mapping, branching_points, check_mapping, coarsen

RESNET34_MAPPING = {0: [0], 1: [1, 2, 3], 2: [4, 5, 6, 7], 3: list(range(8, 14)), 4: [14, 15, 16], 5: [17]}
MOBILENET_MAPPING = {0: list(range(7)), 1: list(range(7, 18)), 2: list(range(18, 23)), 3: list(range(23, 31)),
                     4: [31], 5: [32]}

def _x(size=64, n=2, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def resnet34():
    torch.manual_seed(0)
    net = get_backbone("resnet34")
    return net, branching_points(net, torch.zeros(1, 3, 64, 64))


@pytest.fixture(scope="module")
def mobilenet():
    torch.manual_seed(0)
    net = get_backbone("mobilenet_v2")
    return net, branching_points(net, torch.zeros(1, 3, 64, 64))


# ------------------------------------------------------------------------------------------------ ResNet-34
def test_resnet34_features_give_stem_and_16_basic_blocks(resnet34):
    net, blocks = resnet34
    assert blocks.B == 17
    assert blocks[0].name == "conv1…maxpool" and blocks[0].modules == ("conv1", "bn1", "relu", "maxpool")
    expected = [f"layer{s}.{i}" for s, n in zip((1, 2, 3, 4), (3, 4, 6, 3)) for i in range(n)]
    assert [b.name for b in blocks[1:]] == expected
    for b in blocks[1:]:   # every module of the BasicBlock, and nothing else
        inside = {n for n, m in net.named_modules() if n.startswith(b.name + ".") and not list(m.children())}
        assert set(b.modules) == inside
    # costs are additive and complete
    x1 = torch.zeros(1, 3, 64, 64)
    assert sum(b.flops for b in blocks) == count_flops(net, x1)
    assert sum(b.params for b in blocks) == sum(p.numel() for p in net.parameters())
    assert blocks[0].flops == conv2d_flops(net.conv1, (64, 32, 32))   # golden: the stem's only counted op


def test_resnet34_blocks_compute_the_backbone_and_share_its_weights(resnet34):
    net, blocks = resnet34
    net.eval()
    chained = blocks.as_module().eval()
    with torch.no_grad():
        assert torch.equal(chained(_x()), net(_x()))
    own = {id(p) for p in net.parameters()}
    assert all(id(p) in own for p in blocks.parameters())


def test_resnet34_paper_mapping_gives_the_papers_coarse_blocks(resnet34):
    _, blocks = resnet34
    coarse = coarsen(blocks, RESNET34_MAPPING)
    assert coarse.B == 5 and coarse.mapping == RESNET34_MAPPING
    # parameters per coarse block = the spec's measurement of the authors' model (§4), to the unit
    assert coarse.block_costs().params == (9_536, 221_952, 1_116_416, 6_822_400, 13_114_368)
    assert [b.fine for b in coarse] == [tuple(v) for k, v in RESNET34_MAPPING.items() if k < 5]


def test_full_resnet34_classifier_pooling_merged_fc_is_a_block():
    torch.manual_seed(0)
    net = torchvision.models.resnet34(weights=None).eval()
    blocks = branching_points(net, torch.zeros(1, 3, 64, 64))
    assert blocks.B == 18
    assert blocks[-1].modules == ("fc",) and blocks[-1].out_shape == (1000,)
    assert blocks[-2].name == "layer4.2…flatten" and blocks[-2].modules[-1] == "avgpool"
    assert blocks[-2].out_shape == (512,)
    with torch.no_grad():
        assert torch.allclose(blocks.as_module().eval()(_x()), net(_x()), atol=1e-6)


# ------------------------------------------------------------------------------------------------ MobileNetV2
def test_mobilenet_v2_residual_blocks_atomic_others_split_32_blocks(mobilenet):
    net, blocks = mobilenet
    assert blocks.B == 32   # the authors' detector's count (docs/treemtl.md §9)
    owner = {}   # fine block of every leaf module
    for b in blocks:
        for m in b.modules:
            owner[m] = b.index
    for i, child in enumerate(net):
        leaves = [n for n, m in child.named_modules() if not list(m.children())]
        got = sorted({owner[f"{i}.{n}"] for n in leaves})
        assert got == list(range(got[0], got[-1] + 1))    # a child's blocks are consecutive ...
        for j in got:                                      # ... and hold nothing of another child
            assert all(m.split(".")[0] == str(i) for m in blocks[j].modules)
        if getattr(child, "use_res_connect", False):
            assert len(got) == 1, f"residual inverted block {i} must be one block"
        elif i in (0, 18):
            assert len(got) == 1
        else:
            assert len(got) == (2 if i == 1 else 3), f"non-residual inverted block {i}: expand/dw/project"


def test_mobilenet_v2_paper_mapping_params_match_spec(mobilenet):
    _, blocks = mobilenet
    coarse = coarsen(blocks, MOBILENET_MAPPING)
    assert coarse.block_costs().params == (15_792, 223_568, 303_168, 1_269_184, 412_160)


def test_mobilenet_v2_atomic_inverted_residuals(mobilenet):
    from torchvision.models.mobilenetv2 import InvertedResidual

    net, _ = mobilenet
    blocks = branching_points(net, torch.zeros(1, 3, 64, 64), atomic=(InvertedResidual,))
    assert [b.name for b in blocks] == [str(i) for i in range(19)]
    by_path = branching_points(net, torch.zeros(1, 3, 64, 64), atomic=("2", "4"))
    assert by_path.B == 32 - 4 and "2" in [b.name for b in by_path]


# ------------------------------------------------------------------------------------------------ structure
class _UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.down = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.mid = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.up = nn.Upsample(scale_factor=2)
        self.dec = nn.Sequential(nn.Conv2d(24, 8, 3, padding=1), nn.ReLU())
        self.out = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        a = self.enc1(x)
        b = self.up(self.mid(self.down(a)))
        return self.out(self.dec(torch.cat([a, b], 1)))   # long skip a -> cat


def test_long_skip_connection_is_never_cut():
    net = _UNet().eval()
    blocks = branching_points(net, torch.zeros(1, 3, 32, 32))
    assert [b.name for b in blocks] == ["enc1", "down…cat", "dec", "out"]
    inside = blocks[1].modules
    assert {"down.0", "down.1", "down.2", "mid.0", "mid.1", "up"} == set(inside)
    with torch.no_grad():
        assert torch.equal(blocks.as_module().eval()(_x(32)), net(_x(32)))


class _Lead(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = nn.ReLU()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.conv2(self.bn(self.conv(self.act(x * 2.0))))


def test_unparameterised_ops_merge_bn_counts_as_unparameterised():
    blocks = branching_points(_Lead(), torch.zeros(1, 3, 8, 8))
    assert blocks.B == 2   # leading mul+relu join the first conv (the authors dropped them); bn joins it too
    assert blocks[0].modules == ("act", "conv", "bn") and blocks[1].modules == ("conv2",)


class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.shared = nn.Conv2d(4, 4, 1)
        self.b = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.shared(self.b(self.shared(self.a(x))))


def test_weights_used_twice_keep_their_uses_in_one_block():
    blocks = branching_points(_Tied(), torch.zeros(1, 3, 4, 4))
    assert [b.modules for b in blocks] == [("a",), ("shared", "b")]


class _Dropping(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3)
        self.c2 = nn.Conv2d(4, 4, 3)

    def forward(self, x):
        return self.c2(F.dropout(self.c1(x), 0.5, training=self.training))


def test_training_dependent_graph_switches_with_mode():
    net = _Dropping()
    blocks = branching_points(net, torch.zeros(1, 3, 12, 12))
    first = blocks[0].module
    x = _x(12)
    first.eval()
    assert torch.equal(first(x), net.c1(x))
    first.train()
    assert not torch.equal(first(x), net.c1(x))   # dropout active in train mode


def test_tiny_resnet_blocks():
    blocks = branching_points(get_backbone("tiny_resnet"), torch.zeros(1, 3, 64, 64))
    assert [b.name for b in blocks] == ["conv1…relu", "layer1", "layer2.0", "layer2.1"]
    assert [b.out_shape for b in blocks] == [(16, 32, 32), (16, 32, 32), (32, 16, 16), (32, 16, 16)]


# ------------------------------------------------------------------------------------------------ bad input
class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 3, 1)

    def forward(self, x, y):
        return self.c(x) + y


class _TupleOut(_Lead):
    def forward(self, x):
        y = self.conv(x)
        return y, y


class _Untraceable(_Lead):
    def forward(self, x):
        if x.sum() > 0:
            return self.conv(x)
        return self.conv(-x)


@pytest.mark.parametrize("net, inp, match", [
    ("not a module", torch.zeros(1, 3, 8, 8), "backbone must be an nn.Module"),
    (_Lead(), [1, 2], "example_input must be a batch tensor"),
    (_TwoInputs(), torch.zeros(1, 3, 8, 8), "exactly one input tensor, got 2"),
    (_TupleOut(), torch.zeros(1, 3, 8, 8), "must return one tensor"),
    (nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3)), torch.zeros(1, 3, 8, 8), "no weight layer"),
    (_Untraceable(), torch.zeros(1, 3, 8, 8), "torch.fx cannot trace"),
    (_Lead(), torch.zeros(1, 5, 8, 8), "running the backbone on example_input"),
])
def test_bad_backbones(net, inp, match):
    with pytest.raises(ConfigError, match=match):
        branching_points(net, inp)


def test_bad_atomic():
    with pytest.raises(ConfigError, match="atomic must contain"):
        branching_points(_Lead(), torch.zeros(1, 3, 8, 8), atomic=("nope",))


# ------------------------------------------------------------------------------------------------ coarsening
def _brute_force(costs, B):
    n = len(costs)
    best = None
    for cuts in itertools.combinations(range(1, n), B - 1):
        bounds = (0, *cuts, n)
        v = sum(sum(costs[a:b]) ** 2 for a, b in zip(bounds, bounds[1:]))
        best = v if best is None else min(best, v)
    return best


def test_balanced_mapping_is_optimal_against_brute_force():
    rng = random.Random(0)
    for _ in range(150):
        n = rng.randint(1, 8)
        costs = [rng.choice([0, 1, 2, 5, 10, 100]) * rng.random() for _ in range(n)]
        B = rng.randint(1, n)
        groups = balanced_mapping(costs, B)
        assert len(groups) == B and [i for g in groups for i in g] == list(range(n))
        got = sum(sum(costs[i] for i in g) ** 2 for g in groups)
        assert got == pytest.approx(_brute_force(costs, B), rel=1e-9, abs=1e-12)


def test_balanced_mapping_golden():
    assert balanced_mapping([1, 1, 1, 1, 1, 1], 3) == [(0, 1), (2, 3), (4, 5)]
    assert balanced_mapping([10, 1, 1, 1, 1, 6], 2) == [(0,), (1, 2, 3, 4, 5)]
    assert balanced_mapping([5, 5, 5], 3) == [(0,), (1,), (2,)]


def test_coarsen_balanced_blocks(resnet34):
    net, blocks = resnet34
    for B in (1, 3, 5, 17):
        coarse = coarsen(blocks, B)
        assert coarse.B == B and coarse.fine is blocks
        assert [i for b in coarse for i in b.fine] == list(range(17))
        assert sum(b.flops for b in coarse) == sum(b.flops for b in blocks)
        assert coarsen(blocks, coarse.mapping).mapping == coarse.mapping   # the mapping round-trips
    coarse = coarsen(blocks, 5)
    net.eval()
    with torch.no_grad():
        assert torch.equal(coarse.as_module().eval()(_x()), net(_x()))
    flops = [b.flops for b in coarse]
    assert max(flops) / min(flops) < 2.5   # balanced (the stem alone is ~1/14 of the network)
    twice = coarsen(coarse, 2)   # coarse blocks can be merged further; fine indices stay fine
    assert twice.B == 2 and [i for b in twice for i in b.fine] == list(range(17)) and twice.fine is blocks


@pytest.mark.parametrize("mapping, match", [
    ({0: [0], 1: [1, 2, 3], 2: [4, 5, 6, 7], 3: list(range(8, 14)), 4: [14, 15]}, r"does not cover fine blocks \[16\]"),
    ({0: [0], 1: [1, 2, 3], 2: [4, 5], 3: [7, 8]}, r"does not cover fine blocks \[6\]"),
    ({0: [0], 1: [4, 5, 6, 7], 2: [1, 2, 3]}, "out of order"),
    ({0: [0, 1], 1: [1, 2]}, "fine block 1 is in coarse blocks 0 and 1"),
    ({0: [0, 2], 1: [1]}, "not a run of consecutive"),
    ({0: [0], 2: [1]}, "keys must be 0..1"),
    ({0: [0], 1: []}, "coarse block 1 is empty"),
    ({0: [0], 1: [1, 17]}, "names fine block 17, but there are 17 fine blocks"),
    ("0:1", "mapping must be a dict"),
])
def test_bad_mappings(resnet34, mapping, match):
    _, blocks = resnet34
    with pytest.raises(ConfigError, match=match):
        coarsen(blocks, mapping)


def test_mapping_forms():
    assert check_mapping({0: [0], 1: [1, 2], 2: [3]}, 3) == [(0,), (1, 2)]          # sentinel dropped
    assert check_mapping([[0], [1, 2]], 3) == [(0,), (1, 2)]
    assert check_mapping({"0": [0, 1], "1": [2]}, 3) == [(0, 1), (2,)]


@pytest.mark.parametrize("B", [0, 18, 2.5, True])
def test_bad_number_of_coarse_blocks(resnet34, B):
    _, blocks = resnet34
    with pytest.raises(ConfigError):
        coarsen(blocks, B)


# ------------------------------------------------------------------------------------------------ recommender
def test_block_costs_drive_the_recommender(resnet34):
    _, blocks = resnet34
    coarse = coarsen(blocks, 3)
    costs = coarse.block_costs()
    assert isinstance(costs, BlockCosts) and costs.B == 3
    assert costs.macs == tuple(b.flops // 2 for b in coarse) and costs.input_size == 64
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 3, 4))
    values[:, :, 0] = 0
    table = TwoTaskTable(values)
    df = recommend(table, costs, budget=2, k=3, weights="uniform")
    assert len(df) == 3
    for _, row in df.iterrows():
        assert row["macs"] == layout_costs(row["layout"], costs)["macs"] <= 2 * sum(costs.macs) * (1 + 1e-9)
    assert layout_costs(Layout.all_shared(3, 3), costs)["macs"] == sum(costs.macs)
