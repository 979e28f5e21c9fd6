"""Vector-feature backbones: torchvision classifiers without their last layer, (B, C) features, Linear heads.

Equivalence on four torchvision classifiers (random init, 64 px, eval mode): the all-shared supermodel is the trunk
followed by the heads, a derived model equals hard mode for a sampled mixed policy, the branching-point detector's
blocks chain to the trunk and the all-shared TreeModel equals trunk + heads, the fully split one equals one trunk
copy per task.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from mtlkit.automtl import SuperModel
from mtlkit.backbones import backbone_channels, classifier_trunk, get_backbone
from mtlkit.errors import ConfigError
from mtlkit.heads import check_head_fits, get_head, head_feature_kind
from mtlkit.treemtl import Layout, TreeModel, branching_points, coarsen

CLASSIFIERS = ("resnet18", "mobilenet_v2", "regnet_x_400mf", "mnasnet0_5")
OUT = {"cls": 5, "multi": 3, "score": 1}


def _x(n=2, size=64, seed=1):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _trunk_and_heads(name, seed=0):
    torch.manual_seed(seed)
    trunk = classifier_trunk(name).eval()
    heads = {t: get_head("fc", trunk.out_channels, k) for t, k in OUT.items()}
    return trunk, heads


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_supermodel_and_derived_model_on_a_classifier_trunk(name):
    trunk, heads = _trunk_and_heads(name)
    x = _x()
    with torch.no_grad():
        feats = trunk(x)
        reference = {t: h(feats) for t, h in heads.items()}
    assert feats.shape == (2, trunk.out_channels) and backbone_channels(trunk) == trunk.out_channels
    sm = SuperModel.from_backbone(trunk, heads, x[:1]).eval()
    assert sm.feature_shape == (trunk.out_channels,)
    with torch.no_grad():
        shared = sm(x, policy=sm.uniform_policy("shared"))
    for t in OUT:
        assert shared[t].shape == (2, OUT[t])
        torch.testing.assert_close(shared[t], reference[t], rtol=0, atol=1e-5)
    policy = sm.sample_policy(seed=3)  # zero logits: a uniformly drawn mix of shared / specific / skip
    assert len({c for row in policy.values() for c in row.values()}) > 1
    derived = sm.derive(policy).eval()
    with torch.no_grad():
        hard, got = sm(x, policy=policy), derived(x)
    for t in OUT:
        torch.testing.assert_close(got[t], hard[t], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_branching_points_and_tree_model_on_a_classifier_trunk(name):
    trunk, heads = _trunk_and_heads(name)
    x = _x()
    blocks = branching_points(trunk, x[:1])
    assert blocks[-1].out_shape == (trunk.out_channels,)
    coarse = coarsen(blocks, 3)
    with torch.no_grad():
        feats = trunk(x)
        reference = {t: h(feats) for t, h in heads.items()}
        torch.testing.assert_close(coarse.as_module()(x), feats, rtol=0, atol=1e-5)
    shared = TreeModel.from_layout(trunk, coarse, Layout.all_shared(3, 3), heads).eval()
    with torch.no_grad():
        out = shared(x)
    for t in OUT:
        torch.testing.assert_close(out[t], reference[t], rtol=0, atol=1e-5)
    split = TreeModel.from_layout(trunk, coarse, Layout.from_branch_points(3, 3, [0, 0, 0]), heads).eval()
    with torch.no_grad():
        for p in split.copies.parameters():  # own weights per copy: a wrong routing would show
            p.add_(0.01 * torch.randn_like(p))
        out = split(x)
        for t in OUT:
            copies = nn.Sequential(*(split.copy_for(c, t) for c in range(3)))
            torch.testing.assert_close(out[t], heads[t](copies(x)), rtol=0, atol=1e-5)


def test_classifier_trunk_removes_the_last_linear_only():
    net = classifier_trunk("mobilenet_v2")
    assert not any(isinstance(m, nn.Linear) for m in net.modules())
    assert net.out_channels == 1280
    import torchvision

    own = torchvision.models.resnet18(weights=None)
    trunk = classifier_trunk(own)
    assert trunk is own and isinstance(trunk.fc, nn.Identity) and trunk.out_channels == 512
    with pytest.raises(ConfigError, match="unknown torchvision classifier 'resnet_999'"):
        classifier_trunk("resnet_999")
    with pytest.raises(ConfigError, match=r"no final nn.Linear in .fc or .classifier"):
        classifier_trunk(get_backbone("tiny_cnn"))


def test_head_kinds_and_fit_checks():
    assert head_feature_kind(get_head("fc", 8, 2)) == "vector"
    assert head_feature_kind(get_head("light", 8, 2)) == "spatial"
    assert head_feature_kind(nn.Identity()) is None
    pooled = get_head("pool_fc", 8, 2)  # pooling before the Linear: takes maps
    assert head_feature_kind(pooled) == "spatial" and pooled(torch.zeros(3, 8, 4, 5)).shape == (3, 2)
    check_head_fits("a", pooled, (8, 4, 4))
    check_head_fits("a", get_head("fc", 8, 2), (8,))
    check_head_fits("a", get_head("linear", 8, 2), (8, 4, 4))
    with pytest.raises(ConfigError, match=r"task 'a' .* takes \(B, C\) vectors, but the backbone returns spatial"):
        check_head_fits("a", get_head("fc", 8, 2), (8, 4, 4))
    with pytest.raises(ConfigError, match=r"task 'a' .* takes \(B, C, h, w\) maps, but the backbone returns \(B, C\)"):
        check_head_fits("a", get_head("light", 8, 2), (8,))
    with pytest.raises(ConfigError, match="expects 6 input channels .* features have 8 channels"):
        check_head_fits("a", get_head("fc", 6, 2), (8,))


def test_a_linear_head_on_a_spatial_backbone_is_refused_by_name():
    torch.manual_seed(0)
    net = get_backbone("tiny_cnn", width=4)  # (B, 8, h, w)
    x = torch.zeros(1, 3, 32, 32)
    heads = {"seg": get_head("linear", 8, 3), "objects": get_head("fc", 8, 6)}
    with pytest.raises(ConfigError, match=r"head of task 'objects' starts with an nn.Linear.*spatial features"):
        SuperModel.from_backbone(net, heads, x)
    blocks = branching_points(net, x)
    with pytest.raises(ConfigError, match=r"head of task 'objects' starts with an nn.Linear.*the last block is"):
        TreeModel.from_layout(net, blocks, Layout.all_shared(2, blocks.B), heads)
    trunk = classifier_trunk("resnet18")
    with pytest.raises(ConfigError, match=r"head of task 'seg' .* \(B, C\) vectors with C = 512"):
        SuperModel.from_backbone(trunk, {"seg": get_head("linear", 512, 3)}, x)


def test_a_vector_backbone_trains_end_to_end_in_soft_mode():
    trunk, heads = _trunk_and_heads("mnasnet0_5")
    sm = SuperModel.from_backbone(trunk, copy.deepcopy(heads), _x(1)).train()
    out = sm(_x(2, 32), mode="soft", tau=5.0)
    sum(o.square().mean() for o in out.values()).backward()
    assert all(p.grad is not None for p in sm.policy_parameters())


def test_hard_shared_model_on_a_vector_backbone():
    from mtlkit.models import MultiTaskModel

    trunk, heads = _trunk_and_heads("mnasnet0_5")
    model = MultiTaskModel(trunk, heads).eval()
    x = _x()
    with torch.no_grad():
        out, feats = model(x), trunk(x)
    assert model.feature_channels == trunk.out_channels
    for t in OUT:
        torch.testing.assert_close(out[t], heads[t](feats), rtol=0, atol=0)
