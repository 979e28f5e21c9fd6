"""The image-level multi-label task: BCE loss, mAP and micro-F1 by hand, a task of one's own, bad input."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from mtlkit.delta import delta_t
from mtlkit.errors import ConfigError, DataError
from mtlkit.tasks import MultiLabel, get_task, list_tasks, metric_direction, register_metric, register_task


def test_loss_is_bce_and_accepts_pooled_maps():
    task = get_task("multi_label", num_classes=3)
    pred = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]], requires_grad=True)
    target = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    loss = task.loss(pred, {"multi_label": target})
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(pred, target))
    loss.backward()
    assert pred.grad is not None
    torch.testing.assert_close(task.loss(pred.detach()[:, :, None, None], {"multi_label": target}), loss.detach())
    weighted = get_task("multi_label", num_classes=3, pos_weight=(1.0, 2.0, 3.0))
    expected = F.binary_cross_entropy_with_logits(pred.detach(), target, pos_weight=torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(weighted.loss(pred.detach(), {"multi_label": target}), expected)


def test_map_and_f1_by_hand():
    task = get_task("multi_label", num_classes=2)
    ev = task.evaluator()
    # class 0 ranking: 0.9 (pos), 0.8 (neg), 0.7 (pos) -> AP = (1/1 + 2/3) / 2; class 1: one positive ranked first
    scores = torch.logit(torch.tensor([[0.9, 0.6], [0.8, 0.1], [0.7, 0.2]]))
    target = torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    ev.update(scores[:2], {"multi_label": target[:2]})
    ev.update(scores[2:], {"multi_label": target[2:]})
    got = ev.compute()
    ap0, ap1 = (1 + 2 / 3) / 2, 1.0
    assert got["mAP"] == pytest.approx(100 * (ap0 + ap1) / 2)
    # predicted at 0.5: (0,0) (0,1) (1,0) (2,0): tp = 3 of 4 predicted, 3 positives -> F1 = 2*3 / (4 + 3)
    assert got["f1"] == pytest.approx(100 * 6 / 7)
    assert task.metrics == ("mAP", "f1") and task.higher_is_better == {"mAP": True, "f1": True}
    assert metric_direction("mAP") and metric_direction("f1")
    better = delta_t({"multi_label": {"mAP": 80.0, "f1": 60.0}}, {"multi_label": {"mAP": 40.0, "f1": 60.0}})
    assert better.per_task["multi_label"] == pytest.approx(50.0)


def test_a_task_of_ones_own_reads_its_own_batch_key():
    from mtlkit import tasks as registry

    @register_task("objects_in_test")
    @dataclass(frozen=True, repr=False)
    class ObjectsInTest(MultiLabel):
        num_classes: int = 4

    try:
        task = get_task("objects_in_test")
        assert "objects_in_test" in list_tasks()
        assert task.name == "objects_in_test" and task.out_channels == 4
        loss = task.loss(torch.zeros(2, 4), {"objects_in_test": torch.ones(2, 4)})
        assert loss.item() == pytest.approx(F.binary_cross_entropy_with_logits(torch.zeros(1), torch.ones(1)).item())
        with pytest.raises(ConfigError, match="already registered"):
            register_task("objects_in_test")(MultiLabel)
    finally:
        registry._REGISTRY.pop("objects_in_test")  # leave the registry as the other tests expect it


def test_bad_input():
    task = get_task("multi_label", num_classes=3)
    with pytest.raises(ConfigError, match=r"needs a \(B, 3\) prediction .*get_head\('fc', C, 3\).*got shape \(2, 3, 4, 4\)"):
        task.loss(torch.zeros(2, 3, 4, 4), {"multi_label": torch.zeros(2, 3)})
    with pytest.raises(DataError, match=r"batch\['multi_label'\] must be a multi-hot tensor of shape \(2, 3\)"):
        task.loss(torch.zeros(2, 3), {"multi_label": torch.zeros(2)})
    with pytest.raises(DataError, match="must hold 0/1 values"):
        task.loss(torch.zeros(1, 3), {"multi_label": torch.tensor([[0.0, 2.0, 1.0]])})
    with pytest.raises(DataError, match="has no 'multi_label' entry"):
        task.loss(torch.zeros(1, 3), {"image": torch.zeros(1, 3, 2, 2)})
    with pytest.raises(ConfigError, match="num_classes must be a positive int"):
        get_task("multi_label", num_classes=0)
    with pytest.raises(ConfigError, match="pos_weight must be 3 positive numbers"):
        get_task("multi_label", num_classes=3, pos_weight=(1.0,))
    with pytest.raises(ConfigError, match="already registered with higher_is_better=True"):
        register_metric("mAP", False)
    with pytest.raises(DataError, match="before any update"):
        task.evaluator().compute()
