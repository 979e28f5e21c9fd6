"""The constant predictor on a fixed batch: constants and scores worked out by hand."""
from __future__ import annotations

import math

import pytest
import torch

from mtlkit.constant import METHOD, constant_rows, evaluate_constants, fit_constants
from mtlkit.errors import ConfigError
from mtlkit.tasks import get_task


def _batch():
    seg = torch.tensor([[[0, 0], [0, 1]], [[2, 0], [255, 0]]])                      # (2, 2, 2); 0 is the majority
    depth = torch.tensor([1.0, 2.0, 3.0, 10.0, 0.0, 2.0, 2.0, 4.0]).view(2, 1, 2, 2)  # one invalid pixel (0)
    normal = torch.zeros(2, 3, 2, 2)
    normal[:, 2] = 1.0
    normal[0, :, 0, 0] = torch.tensor([0.0, 1.0, 0.0])
    normal[1, :, 1, 1] = 0.0                                                          # one invalid normal
    kp = torch.zeros(2, 1, 2, 2)
    kp[0, 0, 0, 1] = 1.0
    kp[1, 0, 1, 0] = 0.5
    return {"image": torch.zeros(2, 3, 2, 2), "segment_semantic": seg, "depth_zbuffer": depth, "normal": normal,
            "keypoints2d": kp, "edge_texture": (kp > 0.7).float()}


TASKS = {"segment_semantic": get_task("segment_semantic", num_classes=3), "depth_zbuffer": get_task("depth_zbuffer"),
         "normal": get_task("normal"), "keypoints2d": get_task("keypoints2d"), "edge_texture": get_task("edge_texture")}


def test_constants_by_hand():
    c = fit_constants(TASKS, [_batch()])
    # class frequencies over the 7 labelled pixels: 5, 1, 1 -> log priors
    assert c["segment_semantic"].tolist() == pytest.approx([math.log(5 / 7), math.log(1 / 7), math.log(1 / 7)])
    assert c["depth_zbuffer"].item() == 2.0                  # median of the 7 valid depths 1,2,2,2,3,4,10
    assert c["normal"].tolist() == pytest.approx([0.0, 1 / math.sqrt(37), 6 / math.sqrt(37)])  # (0, 1, 6) normalised
    assert c["keypoints2d"].item() == 0.0 and c["edge_texture"].item() == 0.0


def test_constant_scores_by_hand():
    m = evaluate_constants(TASKS, [_batch()], [_batch()])
    assert m["segment_semantic"]["pixel_acc"] == pytest.approx(100 * 5 / 7)  # percent
    assert m["depth_zbuffer"]["abs_err"] == pytest.approx((1 + 0 + 1 + 8 + 0 + 0 + 2) / 7)
    assert m["keypoints2d"]["err"] == pytest.approx(1.5 / 8)
    assert m["edge_texture"]["err"] == pytest.approx(1 / 8)
    # six normals (0,0,1) at angle acos(6/sqrt(37)) and one (0,1,0) at acos(1/sqrt(37)) from the constant
    angles = [math.degrees(math.acos(6 / math.sqrt(37)))] * 6 + [math.degrees(math.acos(1 / math.sqrt(37)))]
    assert m["normal"]["mean_angle"] == pytest.approx(sum(angles) / 7, rel=1e-4)


def test_rows_and_errors():
    rows = constant_rows({"depth_zbuffer": {"abs_err": 1.5}}, "SynthScenes / tiny_resnet")
    assert rows == [dict(setting="SynthScenes / tiny_resnet", method=METHOD, task="depth_zbuffer",
                         metric="abs_err", value=1.5)]
    with pytest.raises(ConfigError, match="no target 'normal'"):
        fit_constants({"normal": TASKS["normal"]}, [{"image": torch.zeros(1, 3, 2, 2)}])
    with pytest.raises(ConfigError, match="no batch"):
        fit_constants(TASKS, [])
