"""Heads: ASPP parameter counts golden against docs/automtl.md §1.5, structure, light/linear heads, errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mtlkit.errors import ConfigError
from mtlkit.heads import ASPPHead, get_head, head_in_channels, list_heads



# Spec automtl.md §1.5 table: head parameters for C_feat in {512, 1280} and K in {1, 3, 17, 19, 40}.
ASPP_PARAMS = {
    512: {1: 23_080_964, 3: 23_089_164, 17: 23_146_564, 19: 23_154_764, 40: 23_240_864},
    1280: {1: 51_392_516, 3: 51_400_716, 17: 51_458_116, 19: 51_466_316, 40: 51_552_416},
}


def test_registry():
    assert list_heads() == ["aspp", "fc", "light", "linear", "pool_fc"]


@pytest.mark.parametrize("c_feat", sorted(ASPP_PARAMS))
def test_aspp_parameter_counts_match_spec(c_feat):
    with torch.device("meta"):  # no 50M-parameter initialisation
        got = {k: sum(p.numel() for p in get_head("aspp", c_feat, k).parameters()) for k in ASPP_PARAMS[c_feat]}
    assert got == ASPP_PARAMS[c_feat]


def test_aspp_structure_is_a_sum_of_dilated_branches():
    torch.manual_seed(0)
    head = get_head("aspp", 8, 5, width=6)
    assert isinstance(head, ASPPHead) and len(head.branches) == 4
    convs = [b[0] for b in head.branches]
    assert [c.dilation[0] for c in convs] == [6, 12, 18, 24] == [c.padding[0] for c in convs]
    assert all(c.bias is not None for c in convs)
    assert [type(m).__name__ for m in head.branches[0]] == ["Conv2d", "ReLU", "Dropout", "Conv2d", "ReLU",
                                                             "Dropout", "Conv2d"]
    assert head.branches[0][2].p == 0.5
    head.eval()
    x = torch.randn(2, 8, 9, 11)
    out = head(x)
    assert out.shape == (2, 5, 9, 11)  # no upsampling
    torch.testing.assert_close(out, sum(b(x) for b in head.branches))


def test_light_and_linear_heads():
    light = get_head("light", 32, 3)
    assert light(torch.randn(2, 32, 4, 4)).shape == (2, 3, 4, 4)
    assert light.conv.out_channels == 32 and isinstance(light.bn, nn.BatchNorm2d)
    assert get_head("light", 512, 1).conv.out_channels == 256  # width defaults to min(C, 256)
    assert get_head("light", 32, 3, width=8).conv.out_channels == 8
    lin = get_head("linear", 16, 40)
    assert lin(torch.randn(1, 16, 3, 3)).shape == (1, 40, 3, 3)
    assert head_in_channels(lin) == 16 and head_in_channels(light) == 32
    assert head_in_channels(nn.Sequential(nn.ReLU(), nn.Conv2d(9, 2, 1))) == 9
    assert head_in_channels(nn.Identity()) is None


def test_head_errors():
    with pytest.raises(ConfigError, match="unknown head 'fpn'.*aspp, fc, light, linear, pool_fc"):
        get_head("fpn", 8, 1)
    with pytest.raises(ConfigError, match="out_channels must be a positive int, got 0"):
        get_head("light", 8, 0)
    with pytest.raises(ConfigError, match="width"):
        get_head("aspp", 8, 1, width=0)
    with pytest.raises(ConfigError, match="rates"):
        get_head("aspp", 8, 1, rates=())
    with pytest.raises(ConfigError, match="bad option for head 'linear'"):
        get_head("linear", 8, 1, width=3)
