"""Evaluators on hand-computed tiny tensors: golden values, corrected vs paper-compatible variants, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mtlkit.errors import ConfigError, DataError
from mtlkit.metrics import (
    HIGHER_IS_BETTER, PERCENT_METRICS, AbsErrorEvaluator, CosineSimilarityEvaluator, DepthEvaluator,
    NormalEvaluator, SegmentationEvaluator, SegmentationLossEvaluator, fraction_to_percent, percent_to_fraction,
    resize_prediction,
)


def one_hot_logits(labels: list[list[int]], k: int) -> torch.Tensor:
    """(1, K, H, W) logits whose argmax is ``labels``."""
    lab = torch.tensor(labels)
    return F.one_hot(lab, k).permute(2, 0, 1)[None].float() * 5.0


def dense(values, channels: int = 1) -> torch.Tensor:
    """A (1, C, 1, N) tensor from a list of N values (or N C-vectors)."""
    t = torch.tensor(values, dtype=torch.float32)
    if channels == 1:
        return t.reshape(1, 1, 1, -1)
    return t.T.reshape(1, channels, 1, -1)


# ------------------------------------------------------------------------------------------------------ segmentation
# K = 4. Labels: 255 = unlabelled, −1 = CityScapes-style void. Class 3 is absent from the labelled GT and predicted
# only on the unlabelled pixel; class 2 is in the GT but never predicted right (TP = 0).
SEG_GT = [[0, 0, 1, 1], [2, 255, -1, 1]]
SEG_PRED = [[0, 1, 1, 1], [1, 3, 0, 2]]


def _seg_batch():
    return {"segment_semantic": torch.tensor([SEG_GT])}


def test_segmentation_corrected_golden():
    ev = SegmentationEvaluator(num_classes=4)
    ev.update(one_hot_logits(SEG_PRED, 4), _seg_batch())
    # labelled pixels (gt in 0..3): g0p0 g0p1 g1p1 g1p1 g2p1 g1p2 -> IoU0 = 1/2, IoU1 = 2/5, IoU2 = 0, class 3 excluded
    assert ev.confusion.tolist() == [[1, 1, 0, 0], [0, 2, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    out = ev.compute()
    assert list(out) == ["mIoU", "pixel_acc"]
    assert out["mIoU"] == pytest.approx(100 * (0.5 + 0.4 + 0.0) / 3)
    assert out["pixel_acc"] == pytest.approx(100 * 3 / 6)


def test_segmentation_paper_variant_differs_on_void_pixels_and_absent_classes():
    ev = SegmentationEvaluator(num_classes=4, paper_compat=True)
    ev.update(one_hot_logits(SEG_PRED, 4), _seg_batch())
    out = ev.compute()
    # mIoU only over classes with TP != 0 (classes 0 and 1); the void pixel (−1 < 4) counts as an error: 3 / 7
    assert out["mIoU"] == pytest.approx(100 * (0.5 + 0.4) / 2)
    assert out["pixel_acc"] == pytest.approx(100 * 3 / 7)


def test_segmentation_variants_agree_without_void_or_absent_class():
    gt = [[0, 0, 1, 1], [2, 255, 2, 1]]
    pred = [[0, 1, 1, 1], [2, 3, 2, 0]]
    outs = []
    for compat in (False, True):
        ev = SegmentationEvaluator(num_classes=4, paper_compat=compat)
        ev.update(one_hot_logits(pred, 4), {"segment_semantic": torch.tensor([gt])})
        outs.append(ev.compute())
    assert outs[0] == pytest.approx(outs[1])
    # IoU0 = 1/(2+2-1), IoU1 = 2/(3+3-2), IoU2 = 2/2; accuracy 5/7
    assert outs[0]["mIoU"] == pytest.approx(100 * (1 / 3 + 2 / 4 + 1) / 3)
    assert outs[0]["pixel_acc"] == pytest.approx(100 * 5 / 7)


def test_segmentation_pixel_acc_pooled_vs_batch_weighted():
    good = {"segment_semantic": torch.tensor([[[0, 1, 0, 1]]])}
    one_wrong = {"segment_semantic": torch.tensor([[[0, 255, 255, 255]]])}
    pred_good = one_hot_logits([[0, 1, 0, 1]], 2)
    pred_wrong = one_hot_logits([[1, 1, 1, 1]], 2)
    res = {}
    for compat in (False, True):
        ev = SegmentationEvaluator(2, paper_compat=compat)
        ev.update(pred_good, good)
        ev.update(pred_wrong, one_wrong)
        res[compat] = ev.compute()["pixel_acc"]
    assert res[False] == pytest.approx(100 * 4 / 5)  # pooled over pixels
    assert res[True] == pytest.approx(100 * (1.0 + 0.0) / 2)  # per batch, batch-size weighted


def test_segmentation_resizes_bilinear_or_nearest():
    # logits at 1x2 for classes (0, 1): left column favours 0, right favours 1; GT at 1x4
    logits = torch.tensor([[[[2.0, -1.0]], [[-2.0, 1.0]]]])  # (1, 2, 1, 2)
    gt = {"segment_semantic": torch.tensor([[[0, 0, 1, 1]]])}
    # bilinear on the class-0 margin (4, -2) -> (4, 2.5, -0.5, -2): argmax 0, 0, 1, 1 -> all correct
    ev = SegmentationEvaluator(2)
    ev.update(logits, gt)
    assert ev.compute()["pixel_acc"] == pytest.approx(100.0)
    ev = SegmentationEvaluator(2, paper_compat=True)
    ev.update(logits, gt)
    assert ev.compute()["pixel_acc"] == pytest.approx(100.0)  # nearest: 0, 0, 1, 1 as well
    up = resize_prediction(torch.tensor([[[[0.0, 1.0]]]]), (1, 4), "bilinear")
    assert up.flatten().tolist() == pytest.approx([0.0, 0.25, 0.75, 1.0])
    assert resize_prediction(torch.tensor([[[[0.0, 1.0]]]]), (1, 4), "nearest").flatten().tolist() == [0, 0, 1, 1]


def test_segmentation_reset_and_errors():
    ev = SegmentationEvaluator(4)
    with pytest.raises(DataError, match="no labelled pixel"):
        ev.compute()
    ev.update(one_hot_logits(SEG_PRED, 4), _seg_batch())
    ev.reset()
    assert int(ev.confusion.sum()) == 0
    with pytest.raises(ConfigError, match=r"3 channels, expected out_channels=4"):
        ev.update(torch.zeros(1, 3, 2, 4), _seg_batch())
    with pytest.raises(DataError, match=r"no 'segment_semantic' target; batch keys are \['image'\]"):
        ev.update(torch.zeros(1, 4, 2, 4), {"image": torch.zeros(1, 3, 2, 4)})
    with pytest.raises(DataError, match=r"must have shape \(B, H, W\), got \(1, 1, 2, 4\)"):
        ev.update(torch.zeros(1, 4, 2, 4), {"segment_semantic": torch.zeros(1, 1, 2, 4, dtype=torch.long)})
    with pytest.raises(DataError, match="batch size 2 but the prediction has 1"):
        ev.update(torch.zeros(1, 4, 2, 4), {"segment_semantic": torch.zeros(2, 2, 4, dtype=torch.long)})
    with pytest.raises(ConfigError, match="num_classes must be a positive int"):
        SegmentationEvaluator(0)


def test_segmentation_cross_entropy_err():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 2, 3)
    gt = torch.tensor([[[0, 1, 2], [255, 0, 1]], [[2, 2, 255], [1, 0, 0]]])
    w = torch.tensor([1.0, 2.0, 0.5])
    labelled = gt != 255
    ce = F.cross_entropy(logits, gt, weight=w, ignore_index=255, reduction="none")[labelled]  # = w_y * CE
    wy = w[gt[labelled]]
    ev = SegmentationLossEvaluator(3, class_weights=w)
    ev.update(logits[:1], {"segment_semantic": gt[:1]})
    ev.update(logits[1:], {"segment_semantic": gt[1:]})
    assert ev.compute()["err"] == pytest.approx(float(ce.sum() / wy.sum()), rel=1e-6)
    paper = SegmentationLossEvaluator(3, class_weights=w, paper_compat=True)
    per_batch = []
    for b in range(2):
        paper.update(logits[b:b + 1], {"segment_semantic": gt[b:b + 1]})
        per_batch.append(float(F.cross_entropy(logits[b:b + 1], gt[b:b + 1], weight=w, ignore_index=255)))
    assert paper.compute()["err"] == pytest.approx(sum(per_batch) / 2, rel=1e-6)
    assert paper.higher_is_better == {"err": False}


# ------------------------------------------------------------------------------------------------------------- depth
def test_depth_golden():
    # gt 0 is invalid; ratios at valid pixels 1, 1.9, 1.5, 3
    pred = dense([1.0, 1.9, 4.0, 1.5, 3.0])
    gt = dense([1.0, 1.0, 0.0, 1.0, 1.0])
    ev = DepthEvaluator()
    ev.update(pred, {"depth_zbuffer": gt})
    out = ev.compute()
    assert list(out) == ["abs_err", "rel_err", "delta1", "delta2", "delta3"]
    assert out["abs_err"] == pytest.approx((0 + 0.9 + 0.5 + 2.0) / 4)
    assert out["rel_err"] == pytest.approx((0 + 0.9 + 0.5 + 2.0) / 4)
    assert [out["delta1"], out["delta2"], out["delta3"]] == pytest.approx([25.0, 50.0, 75.0])


def test_depth_rel_err_mask_and_nonpositive_predictions():
    pred = dense([3.0, 1.0, -2.0, 2.0])
    gt = dense([2.0, 4.0, 2.0, 2.0])
    mask = torch.tensor([True, True, True, False]).reshape(1, 1, 1, 4)
    ev = DepthEvaluator()
    ev.update(pred, {"depth_zbuffer": gt, "mask": mask})
    out = ev.compute()
    assert out["abs_err"] == pytest.approx((1 + 3 + 4) / 3)
    assert out["rel_err"] == pytest.approx((0.5 + 0.75 + 2.0) / 3)
    # ratios 1.5, 4, (negative prediction: never within) -> delta2 (< 1.5625) counts only the first
    assert [out["delta1"], out["delta2"], out["delta3"]] == pytest.approx([0.0, 100 / 3, 100 / 3])


def test_depth_paper_variant_averages_per_batch():
    a = ({"depth_zbuffer": dense([1.0])}, dense([2.0]))  # 1 valid pixel, error 1
    b = ({"depth_zbuffer": dense([1.0, 1.0, 1.0])}, dense([1.0, 1.0, 1.0]))  # 3 valid pixels, error 0
    res = {}
    for compat in (False, True):
        ev = DepthEvaluator(paper_compat=compat)
        for batch, pred in (a, b):
            ev.update(pred, batch)
        res[compat] = ev.compute()
    assert res[False]["abs_err"] == pytest.approx(1 / 4)
    assert res[True]["abs_err"] == pytest.approx((1 + 0) / 2)
    assert res[False]["delta3"] == res[True]["delta3"] == pytest.approx(75.0)  # δ is pooled in both


def test_depth_taskonomy_subset_and_errors():
    ev = DepthEvaluator(metrics=("abs_err",))
    ev.update(dense([1.0, 2.0]), {"depth_zbuffer": dense([1.5, 2.0])})
    assert ev.compute() == pytest.approx({"abs_err": 0.25})
    with pytest.raises(ConfigError, match="unknown depth metric 'rmse'"):
        DepthEvaluator(metrics=("rmse",))
    with pytest.raises(DataError, match="no valid pixel"):
        DepthEvaluator().compute()
    with pytest.raises(DataError, match=r"batch\['mask'\] must be a bool tensor of shape \(1, 1, 1, 2\)"):
        ev.update(dense([1.0, 2.0]), {"depth_zbuffer": dense([1.5, 2.0]), "mask": torch.ones(1, 2)})


# ----------------------------------------------------------------------------------------------------------- normals
def _rot(deg: float) -> list[float]:
    r = math.radians(deg)
    return [math.sin(r), 0.0, math.cos(r)]


def test_normal_golden():
    # angles 0, 20, 45, 90 at valid pixels; the 5th target is all zero (invalid)
    gt = dense([[0, 0, 1], [0, 0, 1], [0, 0, 1], [1, 0, 0], [0, 0, 0]], channels=3)
    pred = dense([[0, 0, 2], _rot(20), [1, 0, 1], [0, 1, 0], [1, 1, 1]], channels=3)
    ev = NormalEvaluator()
    ev.update(pred, {"normal": gt})
    out = ev.compute()
    assert list(out) == ["mean_angle", "median_angle", "within_11.25", "within_22.5", "within_30"]
    assert out["mean_angle"] == pytest.approx((0 + 20 + 45 + 90) / 4)
    assert out["median_angle"] == pytest.approx((20 + 45) / 2, abs=ev.bin_width / 2 + 1e-9)
    assert [out["within_11.25"], out["within_22.5"], out["within_30"]] == pytest.approx([25.0, 50.0, 50.0])


def test_normal_small_angles_and_zero_prediction():
    gt = dense([[0, 0, 1], [0, 0, 1]], channels=3)
    pred = dense([_rot(0.01), [0, 0, 0]], channels=3)
    ev = NormalEvaluator()
    ev.update(pred, {"normal": gt})
    # a 0.01° error is resolved (arccos in float32 would not); a zero prediction counts as 90° off
    assert ev.compute()["mean_angle"] == pytest.approx((0.01 + 90) / 2, abs=1e-5)


def test_normal_histogram_median_matches_exact_median():
    g = torch.Generator().manual_seed(0)
    ev = NormalEvaluator()
    angles = []
    for _ in range(3):  # several batches of different content
        pred = torch.randn(2, 3, 8, 9, generator=g)
        gt = F.normalize(torch.randn(2, 3, 8, 9, generator=g) + torch.tensor([0, 0, 2.0]).view(1, 3, 1, 1), dim=1)
        ev.update(pred, {"normal": gt})
        cos = (F.normalize(pred.double(), dim=1) * gt.double()).sum(1).clamp(-1, 1)
        angles.append(torch.rad2deg(torch.arccos(cos)).flatten())
    exact = torch.cat(angles).numpy()
    out = ev.compute()
    assert out["median_angle"] == pytest.approx(float(np.median(exact)), abs=ev.bin_width / 2 + 1e-6)
    assert out["mean_angle"] == pytest.approx(float(exact.mean()), abs=1e-6)
    assert out["within_30"] == pytest.approx(100 * float((exact < 30).mean()))
    assert len(exact) % 2 == 0  # the even case: average of the two middle values


def test_normal_mask_and_nearest_resize():
    gt = dense([[0, 0, 1], [0, 0, 1], [1, 0, 0], [1, 0, 0]], channels=3)
    pred = dense([[0, 0, 1], [1, 0, 0]], channels=3)  # 1x2 prediction for a 1x4 target
    mask = torch.tensor([True, True, True, False]).reshape(1, 1, 1, 4)
    ev = NormalEvaluator(paper_compat=True)
    ev.update(pred, {"normal": gt, "mask": mask})
    # nearest: (z, z, x, x) vs (z, z, x, x), the 4th pixel masked -> all 0°
    assert ev.compute()["mean_angle"] == pytest.approx(0.0, abs=1e-6)
    ev = NormalEvaluator()
    ev.update(pred, {"normal": gt, "mask": mask})
    assert ev.compute()["mean_angle"] > 1.0  # bilinear blends z and x in the middle


def test_cosine_similarity_golden_and_variants():
    gt = dense([[0, 0, 1], [0, 0, 1], [0, 0, 0]], channels=3)
    pred = dense([[0, 0, 3], [1, 0, 1], [1, 0, 0]], channels=3)
    ev = CosineSimilarityEvaluator()
    ev.update(pred, {"normal": gt})
    assert ev.compute() == pytest.approx({"cos_sim": (1 + math.sqrt(0.5)) / 2})
    paper = CosineSimilarityEvaluator(paper_compat=True)
    paper.update(pred, {"normal": gt})
    paper.update(dense([[0, 0, -1]], 3), {"normal": dense([[0, 0, 1]], 3)})
    assert paper.compute()["cos_sim"] == pytest.approx(((1 + math.sqrt(0.5)) / 2 - 1) / 2)


# ------------------------------------------------------------------------------------------------ keypoints / edges
def test_abs_error_golden_mask_and_paper_variant():
    ev = AbsErrorEvaluator("edge_texture")
    mask = torch.tensor([True, True, False]).reshape(1, 1, 1, 3)
    ev.update(dense([0.5, -1.0, 9.0]), {"edge_texture": dense([0.0, 0.0, 0.0]), "mask": mask})
    ev.update(dense([1.0]), {"edge_texture": dense([1.0])})
    assert ev.compute() == pytest.approx({"err": (0.5 + 1.0 + 0.0) / 3})
    paper = AbsErrorEvaluator("edge_texture", paper_compat=True)
    paper.update(dense([0.5, -1.0, 9.0]), {"edge_texture": dense([0.0, 0.0, 0.0]), "mask": mask})
    paper.update(dense([1.0]), {"edge_texture": dense([1.0])})
    assert paper.compute() == pytest.approx({"err": (0.75 + 0.0) / 2})
    with pytest.raises(DataError, match=r"no 'edge_texture' target"):
        paper.update(dense([1.0]), {"keypoints2d": dense([1.0])})


# -------------------------------------------------------------------------------------------------- units, directions
def test_units_and_directions():
    ref = {"segment_semantic": {"mIoU": 0.365, "pixel_acc": 0.738}, "depth_zbuffer": {"delta1": 57.5}}
    pct = fraction_to_percent(ref, metrics=("mIoU", "pixel_acc"))
    assert pct == {"segment_semantic": {"mIoU": pytest.approx(36.5), "pixel_acc": pytest.approx(73.8)},
                   "depth_zbuffer": {"delta1": 57.5}}
    assert percent_to_fraction(pct, metrics=("mIoU", "pixel_acc"))["segment_semantic"]["mIoU"] == \
        pytest.approx(0.365)
    assert PERCENT_METRICS <= set(HIGHER_IS_BETTER)
    assert all(HIGHER_IS_BETTER[m] for m in PERCENT_METRICS)
    assert not any(HIGHER_IS_BETTER[m] for m in ("abs_err", "rel_err", "mean_angle", "median_angle", "err"))
