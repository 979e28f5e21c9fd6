"""Task registry, losses on hand-computed tensors, resolution conventions, input validation, task -> evaluator."""
from __future__ import annotations

import math

import pytest
import torch

from mtlkit.delta import delta_t
from mtlkit.errors import ConfigError, DataError
from mtlkit.metrics import (
    AbsErrorEvaluator, CosineSimilarityEvaluator, DepthEvaluator, NormalEvaluator, SegmentationEvaluator,
    SegmentationLossEvaluator,
)
from mtlkit.tasks import IGNORE_INDEX, METRIC_SETS, get_task, list_tasks, metric_direction

TASKS = ["segment_semantic", "depth_zbuffer", "normal", "keypoints2d", "edge_texture"]


def row(values, channels: int = 1) -> torch.Tensor:
    """A (1, C, 1, N) tensor from N values (or N C-vectors)."""
    t = torch.tensor(values, dtype=torch.float32)
    return t.reshape(1, 1, 1, -1) if channels == 1 else t.T.reshape(1, channels, 1, -1)


# ---------------------------------------------------------------------------------------------------------- registry
def test_registry_lists_the_five_tasks():
    # the papers' five dense tasks, then the image-level one (SynthScenes' planted tasks register when created)
    assert [t for t in list_tasks() if not t.startswith("planted_")] == TASKS + ["multi_label"]
    assert IGNORE_INDEX == 255


def test_unknown_task_and_option_errors():
    with pytest.raises(ConfigError, match=r"unknown task 'depth'; valid tasks are: depth_zbuffer, edge_texture, "
                                          r"keypoints2d, multi_label, normal, (planted_\w+, )*segment_semantic"):
        get_task("depth")
    with pytest.raises(ConfigError, match=r"task 'normal' has no option\(s\) \['num_classes'\]; valid options"):
        get_task("normal", num_classes=3)
    with pytest.raises(ConfigError, match=r"unknown metric_set 'kitti'"):
        get_task("depth_zbuffer", metric_set="kitti")
    with pytest.raises(ConfigError, match="num_classes must be a positive int, got 0"):
        get_task("segment_semantic", num_classes=0)
    with pytest.raises(ConfigError, match=r"ignore_index must be an int outside 0..9, got 3"):
        get_task("segment_semantic", num_classes=10, ignore_index=3)
    with pytest.raises(ConfigError, match="class_weights must be 3 non-negative numbers"):
        get_task("segment_semantic", num_classes=3, class_weights=[1.0, 2.0])
    with pytest.raises(ConfigError, match="paper_compat must be a bool"):
        get_task("normal", paper_compat="yes")


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("metric_set", METRIC_SETS)
def test_task_interface_and_evaluator_agree(name, metric_set):
    opts = {"num_classes": 5} if name == "segment_semantic" else {}
    task = get_task(name, metric_set=metric_set, **opts)
    assert task.name == name
    ev = task.evaluator()
    assert ev.metrics == task.metrics and list(task.higher_is_better) == list(task.metrics)
    assert task.higher_is_better == {m: metric_direction(m) for m in task.metrics}
    assert not ev.paper_compat and task.evaluator(paper_compat=True).paper_compat
    assert get_task(name, metric_set=metric_set, paper_compat=True, **opts).evaluator().paper_compat
    assert name in repr(task)
    with pytest.raises(Exception):  # frozen dataclass
        task.metric_set = "taskonomy"


def test_metric_sets_and_out_channels():
    expected = {  # name: (out_channels, nyuv2 metrics, taskonomy metrics, nyuv2 evaluator, taskonomy evaluator)
        "segment_semantic": (17, ("mIoU", "pixel_acc"), ("err",), SegmentationEvaluator, SegmentationLossEvaluator),
        "depth_zbuffer": (1, ("abs_err", "rel_err", "delta1", "delta2", "delta3"), ("abs_err",), DepthEvaluator,
                          DepthEvaluator),
        "normal": (3, ("mean_angle", "median_angle", "within_11.25", "within_22.5", "within_30"), ("cos_sim",),
                   NormalEvaluator, CosineSimilarityEvaluator),
        "keypoints2d": (1, ("err",), ("err",), AbsErrorEvaluator, AbsErrorEvaluator),
        "edge_texture": (1, ("err",), ("err",), AbsErrorEvaluator, AbsErrorEvaluator),
    }
    for name, (ch, nyu, tk, ev_nyu, ev_tk) in expected.items():
        opts = {"num_classes": 17} if name == "segment_semantic" else {}
        default = get_task(name, **opts)
        assert default.metric_set == "nyuv2" and default.out_channels == ch and default.metrics == nyu
        assert get_task(name, metric_set="cityscapes", **opts).metrics == nyu
        assert get_task(name, metric_set="taskonomy", **opts).metrics == tk
        assert type(default.evaluator()) is ev_nyu
        assert type(get_task(name, metric_set="taskonomy", **opts).evaluator()) is ev_tk
    assert get_task("segment_semantic").out_channels == 40  # documented default (NYUv2-40)


def test_metric_direction_unknown():
    assert metric_direction("mIoU") and not metric_direction("median_angle")
    with pytest.raises(ConfigError, match="unknown direction for metric 'rmse'"):
        metric_direction("rmse")


# ------------------------------------------------------------------------------------------------------------ losses
def test_segmentation_loss_golden_with_ignore_and_class_weights():
    pred = torch.zeros(1, 2, 1, 3)
    pred[0, 1, 0, 0] = math.log(3.0)  # pixel 0: p(class 1) = 3/4; pixel 1: uniform; pixel 2: ignored
    batch = {"segment_semantic": torch.tensor([[[1, 0, 255]]])}
    task = get_task("segment_semantic", num_classes=2)
    assert float(task.loss(pred, batch)) == pytest.approx((math.log(4 / 3) + math.log(2)) / 2, rel=1e-6)
    weighted = get_task("segment_semantic", num_classes=2, class_weights=(1.0, 3.0))
    assert float(weighted.loss(pred, batch)) == pytest.approx((3 * math.log(4 / 3) + math.log(2)) / 4, rel=1e-6)
    void = get_task("segment_semantic", num_classes=2, ignore_index=-1)
    assert float(void.loss(pred, {"segment_semantic": torch.tensor([[[1, -1, 0]]])})) == \
        pytest.approx((math.log(4 / 3) + math.log(2)) / 2, rel=1e-6)


def test_segmentation_loss_resolution_bilinear_vs_paper_nearest():
    pred = torch.zeros(1, 2, 1, 1)
    pred[0, 1] = math.log(3.0)  # one head pixel for a 2x2 target
    batch = {"segment_semantic": torch.tensor([[[0, 1], [1, 1]]])}
    default = get_task("segment_semantic", num_classes=2)
    paper = get_task("segment_semantic", num_classes=2, paper_compat=True)
    # default: the prediction is upsampled, all four pixels count; paper: the target is nearest-downsampled to 1x1
    assert float(default.loss(pred, batch)) == pytest.approx((3 * math.log(4 / 3) + math.log(4)) / 4, rel=1e-6)
    assert float(paper.loss(pred, batch)) == pytest.approx(math.log(4), rel=1e-6)


def test_segmentation_loss_all_ignored_is_zero_with_gradient_and_bad_labels_are_reported():
    pred = torch.randn(1, 3, 2, 2, requires_grad=True)
    task = get_task("segment_semantic", num_classes=3)
    loss = task.loss(pred, {"segment_semantic": torch.full((1, 2, 2), 255)})
    loss.backward()
    assert float(loss.detach()) == 0.0 and pred.grad is not None and float(pred.grad.abs().sum()) == 0.0
    with pytest.raises(DataError, match=r"labels must be in 0..2 or ignore_index=255; found \[-1, 7\]"):
        task.loss(pred, {"segment_semantic": torch.tensor([[[0, -1], [7, 1]]])})
    with pytest.raises(DataError, match="must hold integer class ids"):
        task.loss(pred, {"segment_semantic": torch.zeros(1, 2, 2)})


def test_depth_loss_valid_pixels_and_mask():
    task = get_task("depth_zbuffer")
    pred, gt = row([1.0, 2.0, 4.0]), row([1.0, 1.0, 0.0])  # the 0 target is invalid
    assert float(task.loss(pred, {"depth_zbuffer": gt})) == pytest.approx(0.5)
    mask = torch.tensor([True, False, True]).reshape(1, 1, 1, 3)
    assert float(task.loss(pred, {"depth_zbuffer": gt, "mask": mask})) == pytest.approx(0.0)


def test_dense_loss_resolution_bilinear_vs_paper_nearest():
    pred, gt = row([0.0, 1.0]), row([1.0, 2.0, 3.0, 4.0])  # a 1x2 head output for a 1x4 target
    # bilinear: (0, .25, .75, 1) vs (1, 2, 3, 4) -> (1 + 1.75 + 2.25 + 3) / 4; nearest target: (1, 3) -> (1 + 2) / 2
    assert float(get_task("depth_zbuffer").loss(pred, {"depth_zbuffer": gt})) == pytest.approx(2.0)
    assert float(get_task("depth_zbuffer", paper_compat=True).loss(pred, {"depth_zbuffer": gt})) == \
        pytest.approx(1.5)
    mask = torch.tensor([True, True, False, True]).reshape(1, 1, 1, 4)  # downsampled nearest too: (1, 3) -> (T, F)
    assert float(get_task("keypoints2d", paper_compat=True).loss(pred, {"keypoints2d": gt, "mask": mask})) == \
        pytest.approx(1.0)


def test_normal_loss_golden():
    gt = row([[0, 0, 1], [0, 0, 1], [0, 0, 0]], channels=3)  # the third target is invalid
    pred = row([[0, 0, 2], [1, 0, 1], [1, 0, 0]], channels=3)
    loss = get_task("normal").loss(pred, {"normal": gt})
    assert float(loss) == pytest.approx(1 - (1 + math.sqrt(0.5)) / 2, rel=1e-6)
    nothing_valid = get_task("normal").loss(pred, {"normal": torch.zeros_like(gt)})
    assert float(nothing_valid) == 0.0


@pytest.mark.parametrize("name", ["keypoints2d", "edge_texture"])
def test_l1_losses_golden(name):
    task = get_task(name)
    pred, gt = row([0.5, -1.0, 2.0]), row([0.0, 0.0, 2.0])
    assert float(task.loss(pred, {name: gt})) == pytest.approx(0.5)
    mask = torch.tensor([False, True, True]).reshape(1, 1, 1, 3)
    assert float(task.loss(pred, {name: gt, "mask": mask})) == pytest.approx(0.5)


@pytest.mark.parametrize("name", TASKS)
def test_losses_backpropagate_from_a_low_resolution_head(name):
    task = get_task(name, **({"num_classes": 4} if name == "segment_semantic" else {}))
    g = torch.Generator().manual_seed(0)
    if name == "segment_semantic":
        target = torch.randint(0, 4, (2, 8, 8), generator=g)
    elif name == "normal":
        target = torch.nn.functional.normalize(torch.randn(2, 3, 8, 8, generator=g), dim=1)
    else:
        target = torch.rand(2, 1, 8, 8, generator=g) + 0.1
    for compat in (False, True):
        pred = torch.randn(2, task.out_channels, 2, 2, generator=g, requires_grad=True)
        loss = get_task(name, paper_compat=compat, **({"num_classes": 4} if name == "segment_semantic" else {})
                        ).loss(pred, {name: target})
        assert loss.ndim == 0 and torch.isfinite(loss)
        loss.backward()
        assert pred.grad is not None and float(pred.grad.abs().sum()) > 0


# -------------------------------------------------------------------------------------------------------- validation
def test_prediction_and_batch_validation_messages():
    task = get_task("normal")
    good = {"normal": torch.zeros(2, 3, 4, 4)}
    with pytest.raises(ConfigError, match=r"task 'normal': the prediction has 1 channels, expected out_channels=3"):
        task.loss(torch.zeros(2, 1, 4, 4), good)
    with pytest.raises(ConfigError, match=r"task 'normal': the prediction must have shape \(B, C, h, w\), got "
                                          r"shape \(3, 4, 4\)"):
        task.loss(torch.zeros(3, 4, 4), good)
    with pytest.raises(ConfigError, match="must be a torch.Tensor"):
        task.loss([[0.0]], good)
    with pytest.raises(DataError, match=r"task 'normal': the batch has no 'normal' target; batch keys are "
                                        r"\['depth_zbuffer', 'image'\]"):
        task.loss(torch.zeros(2, 3, 4, 4), {"image": torch.zeros(2, 3, 4, 4), "depth_zbuffer": torch.zeros(2, 1, 4, 4)})
    with pytest.raises(DataError, match=r"batch\['normal'\] must have shape \(B, 3, H, W\), got \(2, 1, 4, 4\)"):
        task.loss(torch.zeros(2, 3, 4, 4), {"normal": torch.zeros(2, 1, 4, 4)})
    with pytest.raises(DataError, match="batch size 1 but the prediction has 2"):
        task.loss(torch.zeros(2, 3, 4, 4), {"normal": torch.zeros(1, 3, 4, 4)})
    with pytest.raises(DataError, match="batch must be a dict"):
        task.loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4))
    with pytest.raises(ConfigError, match=r"task 'segment_semantic': the prediction has 3 channels, expected "
                                          r"out_channels=40"):
        get_task("segment_semantic").loss(torch.zeros(1, 3, 2, 2), {"segment_semantic": torch.zeros(1, 2, 2)})


# ------------------------------------------------------------------------------------------------------- integration
def test_perfect_predictions_score_perfectly_and_give_zero_delta():
    g = torch.Generator().manual_seed(1)
    seg = torch.randint(0, 3, (2, 6, 6), generator=g)
    depth = torch.rand(2, 1, 6, 6, generator=g) + 0.5
    normal = torch.nn.functional.normalize(torch.randn(2, 3, 6, 6, generator=g), dim=1)
    batch = {"segment_semantic": seg, "depth_zbuffer": depth, "normal": normal}
    preds = {"segment_semantic": torch.nn.functional.one_hot(seg, 3).permute(0, 3, 1, 2).float(),
             "depth_zbuffer": depth.clone(), "normal": normal * 2.0}
    results = {}
    for name in batch:
        ev = get_task(name, **({"num_classes": 3} if name == "segment_semantic" else {})).evaluator()
        ev.update(preds[name], batch)
        results[name] = ev.compute()
    assert results["segment_semantic"] == pytest.approx({"mIoU": 100.0, "pixel_acc": 100.0})
    assert results["depth_zbuffer"] == pytest.approx({"abs_err": 0.0, "rel_err": 0.0, "delta1": 100.0,
                                                      "delta2": 100.0, "delta3": 100.0}, abs=1e-6)
    assert results["normal"]["mean_angle"] == pytest.approx(0.0, abs=1e-4)
    assert results["normal"]["within_11.25"] == pytest.approx(100.0)
    reference = {"segment_semantic": results["segment_semantic"], "depth_zbuffer": {"delta1": 100.0}}
    assert delta_t(results, {**reference, "normal": {"within_30": 100.0}}).overall == pytest.approx(0.0)
