"""Parameter accounting (paper and full conventions) and FLOPs (docs/automtl.md §5.1, §7.14)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mtlkit.automtl import SuperModel, count_params, derive, flops_report, param_report, policy_counts
from mtlkit.automtl.policy import paper_cityscapes_policy
from mtlkit.backbones import get_backbone
from mtlkit.errors import ConfigError
from mtlkit.flops import conv2d_flops, count_flops, count_macs, flops_by_module



@pytest.fixture(scope="module")
def resnet34_cityscapes():
    torch.manual_seed(0)
    net = get_backbone("resnet34")  # torchvision resnet34 up to layer4, torchvision's module names
    heads = {"segment_semantic": nn.Conv2d(512, 19, 1), "depth_zbuffer": nn.Conv2d(512, 1, 1)}
    # skip="project": the paper's policy skips at shape-changing convs, which needs the paper's 1x1 projection
    sm = SuperModel.from_backbone(net, heads, torch.zeros(1, 3, 32, 32), skip="project")
    policy = paper_cityscapes_policy()  # docs/automtl.md §7.14, in the original's conv order
    return sm, sm.validate_policy(policy)


def test_paper_accounting_of_the_cityscapes_policy(resnet34_cityscapes):
    sm, policy = resnet34_cityscapes
    assert policy_counts(policy) == {  # docs/automtl.md §2.6: 16/12/8 and 7/19/10
        "segment_semantic": {"shared": 12, "specific": 16, "skip": 8},
        "depth_zbuffer": {"shared": 19, "specific": 7, "skip": 10},
    }
    assert count_params(sm, policy, "paper") == 28_854_656
    report = param_report(sm, policy)
    assert report["paper_single"] == 21_267_648
    assert round(report["paper_reduction"], 7) == 0.3216303
    # what the paper leaves out: the skip projections actually used, and the task-specific BNs (docs/automtl.md §5.1)
    assert report["full_skip"] == 173_824
    heads = sum(p.numel() for p in sm.heads.parameters())
    assert report["full"] == 28_854_656 + 173_824 + 34_048 + heads == count_params(sm, policy, "full")
    assert report["full_baseline"] == 2 * 21_284_672 + heads


def test_full_count_equals_the_derived_model(resnet34_cityscapes):
    sm, policy = resnet34_cityscapes
    model = derive(sm, policy)
    assert sum(p.numel() for p in model.parameters()) == count_params(sm, policy, "full") == 29_072_788


def test_extreme_policies_give_the_baselines(resnet34_cityscapes):
    sm, _ = resnet34_cityscapes
    single = 21_267_648
    assert count_params(sm, sm.uniform_policy("shared"), "paper") == single
    specific = param_report(sm, sm.uniform_policy("specific"))
    assert specific["paper"] == 2 * single and specific["paper_reduction"] == 0
    assert specific["full"] == specific["full_baseline"] and specific["full_reduction"] == 0
    skip = param_report(sm, sm.uniform_policy("skip"))
    assert skip["paper"] == 0  # the paper counts every skip as free ...
    assert skip["full_skip"] == 2 * 347_968  # ... although 7 of them are 1x1 conv + BN per task
    with pytest.raises(ConfigError, match="unknown convention 'exact'"):
        count_params(sm, None, "exact")


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.conv3(torch.relu(self.bn2(self.conv2(x))))


def test_flop_helpers_follow_torch_flop_counter():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    x = torch.zeros(2, 3, 5, 5)
    assert count_flops(conv, x) == conv2d_flops(conv, (2, 8, 5, 5)) == 2 * 2 * 25 * 8 * 3 * 9
    assert count_macs(conv, x) == 2 * 25 * 8 * 3 * 9
    grouped = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    assert count_flops(grouped, torch.zeros(1, 8, 5, 5)) == conv2d_flops(grouped, (8, 5, 5))
    by_module = flops_by_module(nn.Sequential(conv, nn.ReLU()), x)
    assert by_module["Global"] == by_module["Sequential.0"] == count_flops(conv, x)
    with pytest.raises(ValueError, match="out_shape has 4 channels"):
        conv2d_flops(conv, (4, 5, 5))


def test_flops_of_tree_execution_and_per_task():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    heads = {t: nn.Conv2d(16, 2, 1) for t in ("a", "b", "c")}
    net = Small()
    backbone = count_flops(net, x)
    head = count_flops(heads["a"], torch.zeros(2, 16, 4, 4))
    conv1 = count_flops(net.conv1, x)
    shared_bn = SuperModel.from_backbone(Small(), heads, x[:1], share_bn=True)
    assert sum(v.flops["shared"] for v in shared_bn.nodes) * 2 == backbone  # node FLOPs are per sample
    report = flops_report(shared_bn, x, shared_bn.uniform_policy("shared"))
    assert report["tree"] == backbone + 3 * head  # the backbone once for three tasks
    assert report["per_task"] == dict.fromkeys("abc", backbone + head)
    assert report["separate"] == 3 * (backbone + head)
    specific_bn = SuperModel.from_backbone(Small(), heads, x[:1])  # task-specific BN: split after bn1
    report = flops_report(specific_bn, x, specific_bn.uniform_policy("shared"))
    assert report["tree"] == 3 * (backbone + head) - 2 * conv1
    assert report["ratio"] == pytest.approx(3 * (backbone + head) / report["tree"])
