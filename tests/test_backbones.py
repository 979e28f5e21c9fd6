"""Backbone registry: every entry builds with its documented channels; DeepLab geometry; tiny nets; weights."""
from __future__ import annotations

import pytest
import torch
import torch.fx as fx
from torch import nn

from mtlkit.backbones import backbone_channels, backbone_spec, get_backbone, list_backbones
from mtlkit.errors import ConfigError



# The module docstring's table (channels, output stride).
DOCUMENTED = {
    "resnet18": (512, 32), "resnet34": (512, 32), "resnet50": (2048, 32),
    "deeplab_resnet18": (512, 8), "deeplab_resnet34": (512, 8), "deeplab_resnet50": (2048, 8),
    "mobilenet_v2": (1280, 32), "mnasnet1_0": (1280, 32), "efficientnet_b0": (1280, 32),
    "tiny_cnn": (32, 4), "tiny_resnet": (32, 4),
}


def test_registry_lists_the_documented_backbones():
    assert list_backbones() == sorted(DOCUMENTED)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_every_backbone_builds_with_documented_channels(name):
    channels, stride = DOCUMENTED[name]
    torch.manual_seed(0)
    net = get_backbone(name).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 64, 64))
    assert out.shape[:2] == (2, channels)
    # spatial size is 64/stride, +1 for the ceil-mode max-pool of the DeepLab variants
    assert out.shape[-1] in (64 // stride, 64 // stride + 1)
    assert backbone_channels(name) == backbone_spec(name).out_channels == channels
    assert backbone_channels(net) == channels
    assert backbone_spec(name).output_stride == stride


def test_deeplab_resnet34_matches_adashare_geometry():
    """Spec automtl.md §1.6: 21,284,672 parameters, 29×29 / 41×41 / 33×65 features at 224 / 321 / 256×512."""
    with torch.device("meta"):
        net = get_backbone("deeplab_resnet34")
        sizes = [tuple(net(torch.empty(1, 3, h, w)).shape[-2:]) for h, w in ((224, 224), (321, 321), (256, 512))]
    assert sizes == [(29, 29), (41, 41), (33, 65)]
    assert sum(p.numel() for p in net.parameters()) == 21_284_672
    assert net.maxpool.ceil_mode
    for layer, dilation in ((net.layer3, 2), (net.layer4, 4)):
        for m in layer.modules():
            if isinstance(m, nn.Conv2d):
                assert m.stride == (1, 1)
                if m.kernel_size == (3, 3):
                    assert m.dilation == (dilation, dilation) and m.padding == (dilation, dilation)


def test_torchvision_parameter_counts_match_spec():
    with torch.device("meta"):
        counts = {n: sum(p.numel() for p in get_backbone(n).parameters())
                  for n in ("resnet34", "mobilenet_v2", "mnasnet1_0")}
    assert counts == {"resnet34": 21_284_672, "mobilenet_v2": 2_223_872, "mnasnet1_0": 3_102_312}


def test_torchvision_child_names_are_kept():
    paths = dict(get_backbone("resnet18").named_modules())
    assert "layer2.0.downsample.0" in paths and "fc" not in paths and "avgpool" not in paths
    assert "layer2.0.downsample.0" in dict(get_backbone("tiny_resnet").named_modules())


@pytest.mark.parametrize("name", ["tiny_cnn", "tiny_resnet"])
def test_tiny_networks_are_fx_traceable_small_and_deterministic(name):
    torch.manual_seed(1)
    net = get_backbone(name).eval()
    traced = fx.symbolic_trace(net)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(traced(x), net(x))
    n_params = sum(p.numel() for p in net.parameters())
    assert (n_params < 10_000) if name == "tiny_cnn" else (20_000 <= n_params <= 80_000)
    torch.manual_seed(1)
    again = get_backbone(name)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))


def test_tiny_resnet_has_a_projection_shortcut_and_configurable_width():
    net = get_backbone("tiny_resnet", width=8)
    down = net.layer2[0].downsample[0]
    assert isinstance(down, nn.Conv2d) and down.kernel_size == (1, 1) and down.stride == (2, 2)
    assert backbone_channels(net) == 16
    assert sum(1 for m in net.modules() if type(m).__name__ == "BasicBlock") == 3


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(ConfigError, match="unknown backbone 'resnet1000'.*tiny_cnn"):
        get_backbone("resnet1000")


def test_bad_builder_options_are_config_errors():
    with pytest.raises(ConfigError, match="backbone 'resnet18'"):
        get_backbone("resnet18", width=3)
    with pytest.raises(ConfigError, match="tiny_cnn width"):
        get_backbone("tiny_cnn", width=3)


def test_local_weights_load_and_bad_files_fail(tmp_path):
    torch.manual_seed(0)
    src = get_backbone("tiny_resnet")
    torch.save(src.state_dict(), tmp_path / "w.pt")
    torch.manual_seed(1)
    dst = get_backbone("tiny_resnet", weights=tmp_path / "w.pt")
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values()))

    with pytest.raises(FileNotFoundError, match="missing.pt"):
        get_backbone("tiny_resnet", weights=tmp_path / "missing.pt")
    torch.save(get_backbone("tiny_cnn").state_dict(), tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="does not fit this backbone"):
        get_backbone("tiny_resnet", weights=tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="could not be read"):
        get_backbone("tiny_cnn", weights=tmp_path / "junk.pt")
    with pytest.raises(ConfigError, match="never downloads"):
        get_backbone("resnet18", weights="DEFAULT")


def test_full_torchvision_checkpoint_is_accepted(tmp_path):
    import torchvision

    full = torchvision.models.resnet18(weights=None)
    torch.save(full.state_dict(), tmp_path / "r18.pt")  # has fc.weight / fc.bias
    net = get_backbone("resnet18", weights=tmp_path / "r18.pt")
    assert torch.equal(net.conv1.weight, full.conv1.weight)


def test_channels_of_an_arbitrary_module_are_probed():
    conv = nn.Conv2d(3, 7, 3)
    conv.train()
    assert backbone_channels(conv) == 7 and conv.training
    with pytest.raises(ConfigError):
        backbone_channels(42)
