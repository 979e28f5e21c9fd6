"""Multi-task models: hard sharing, single-task models, builders from task objects, channel checks."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mtlkit.backbones import get_backbone
from mtlkit.errors import ConfigError
from mtlkit.heads import get_head
from mtlkit.models import MultiTaskModel, build_model, build_single_task_models, single_task_models



class Task:  # the part of the mtlkit.tasks contract a model needs
    def __init__(self, name, out_channels):
        self.name, self.out_channels = name, out_channels


TASKS = [Task("segment_semantic", 5), Task("depth_zbuffer", 1), Task("normal", 3)]


def test_hard_shared_forward_returns_every_task():
    torch.manual_seed(0)
    model = build_model("tiny_cnn", TASKS, head="light")
    out = model(torch.randn(2, 3, 32, 32))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "segment_semantic": (2, 5, 8, 8), "depth_zbuffer": (2, 1, 8, 8), "normal": (2, 3, 8, 8)}
    assert model.task_names == ("segment_semantic", "depth_zbuffer", "normal")
    assert list(model(torch.randn(1, 3, 16, 16), tasks=["normal"])) == ["normal"]
    # one backbone shared by all heads
    n_backbone = sum(p.numel() for p in model.backbone.parameters())
    n_heads = sum(p.numel() for p in model.heads.parameters())
    assert sum(p.numel() for p in model.parameters()) == n_backbone + n_heads


def test_builder_options_and_head_mapping():
    model = build_model("tiny_resnet", {t.name: t for t in TASKS},
                        head={"segment_semantic": "aspp", "depth_zbuffer": "light", "normal": "linear"},
                        head_kw=None, backbone_kw={"width": 8})
    assert model.feature_channels == 16
    assert type(model.heads["segment_semantic"]).__name__ == "ASPPHead"
    with pytest.raises(ConfigError, match=r"no entry for tasks \['normal'\]"):
        build_model("tiny_cnn", TASKS, head={"segment_semantic": "light", "depth_zbuffer": "light"})


def test_head_input_channel_mismatch_names_task_expected_and_got():
    backbone = get_backbone("tiny_cnn")  # 32 channels
    heads = {"depth_zbuffer": get_head("light", 32, 1), "normal": get_head("light", 64, 3)}
    with pytest.raises(ConfigError, match=r"task 'normal' expects 64 input channels.*gives 32"):
        MultiTaskModel(backbone, heads)
    # a head without conv is probed with a dummy forward
    with pytest.raises(ConfigError, match="task 'depth_zbuffer' does not accept"):
        MultiTaskModel(backbone, {"depth_zbuffer": nn.Sequential(nn.Flatten(), nn.Linear(7, 1))})


def test_head_output_must_match_task_out_channels():
    backbone = get_backbone("tiny_cnn")
    with pytest.raises(ConfigError, match=r"task 'segment_semantic' outputs 4 channels.*out_channels=5"):
        MultiTaskModel(backbone, {"segment_semantic": get_head("linear", 32, 4)}, tasks=[TASKS[0]])
    with pytest.raises(ConfigError, match=r"tasks without a head \['depth_zbuffer'\]"):
        MultiTaskModel(backbone, {"segment_semantic": get_head("linear", 32, 5)}, tasks=TASKS[:2])


def test_empty_and_bad_task_dicts():
    backbone = get_backbone("tiny_cnn")
    with pytest.raises(ConfigError, match="non-empty"):
        MultiTaskModel(backbone, {})
    with pytest.raises(ConfigError, match="must not be empty"):
        build_model("tiny_cnn", [])
    with pytest.raises(ConfigError, match="without '.'"):
        MultiTaskModel(backbone, {"a.b": get_head("linear", 32, 1)})
    with pytest.raises(ConfigError, match="out_channels"):
        build_model("tiny_cnn", [Task("depth_zbuffer", 0)])


def test_single_task_models_are_independent():
    torch.manual_seed(0)
    models = build_single_task_models("tiny_cnn", TASKS[:2])
    seg, dep = models["segment_semantic"], models["depth_zbuffer"]
    assert seg.task_names == ("segment_semantic",) and dep.task_names == ("depth_zbuffer",)
    assert seg.backbone is not dep.backbone
    assert not torch.equal(seg.backbone.conv1.weight, dep.backbone.conv1.weight)  # fresh init per task
    # from a module: deep copies with the same initial weights
    shared_init = get_backbone("tiny_cnn")
    copies = single_task_models(shared_init, {"a": get_head("linear", 32, 1), "b": get_head("linear", 32, 2)})
    assert copies["a"].backbone is not copies["b"].backbone
    assert torch.equal(copies["a"].backbone.conv1.weight, copies["b"].backbone.conv1.weight)
    assert copies["b"](torch.randn(1, 3, 16, 16))["b"].shape == (1, 2, 4, 4)
