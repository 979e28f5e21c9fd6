"""The papers' five dense tasks: output channels, training loss, evaluator and metric directions.

``get_task(name, **options)`` builds one; ``list_tasks()`` lists the names. Every task is a frozen dataclass with

* ``name`` and ``out_channels`` (the head's output channels);
* ``loss(pred, batch)`` — the training loss of a head output ``(B, C, h, w)`` at any resolution against
  ``batch[name]`` (CONTRIBUTING.md "Batches"). By default the prediction is upsampled **bilinearly** to the target
  size; ``paper_compat=True`` instead **nearest**-downsamples the target (and the mask) to the head resolution,
  as the original AutoMTL/AdaShare code does;
* ``evaluator()`` — a fresh dataset-accumulating evaluator of :mod:`mtlkit.metrics` (the paper-compatible variant,
  nearest-upsampled predictions, when ``paper_compat=True``);
* ``metrics`` (ordered names) and ``higher_is_better`` (metric -> bool), used by :func:`mtlkit.delta.delta_t`.

``metric_set`` chooses the dataset convention of the papers' tables:

=================  ===========================================  ============================
task               ``"nyuv2"`` / ``"cityscapes"``               ``"taskonomy"``
=================  ===========================================  ============================
segment_semantic   mIoU ↑, pixel_acc ↑ (percent)                err ↓ (cross-entropy)
depth_zbuffer      abs_err ↓, rel_err ↓, delta1..3 ↑ (percent)  abs_err ↓
normal             mean_angle ↓, median_angle ↓ (degrees),      cos_sim ↑
                   within_11.25/22.5/30 ↑ (percent)
keypoints2d        err ↓ (mean absolute error)                  err ↓
edge_texture       err ↓                                        err ↓
=================  ===========================================  ============================

Beyond the papers, ``multi_label`` (:class:`MultiLabel`) is an **image-level** task: "which of K classes are in the
image", a ``(B, K)`` prediction of a ``Linear`` head on a vector-feature backbone (or of a pooled head), trained
with binary cross-entropy and scored by mean average precision (``mAP``, percent) and micro-F1 at a threshold
(``f1``, percent). It is also the template for a task of your own: subclass :class:`Task` (or :class:`MultiLabel`),
decorate it with :func:`register_task` and give new metric names a direction with :func:`register_metric`.

The default ``metric_set`` is ``"nyuv2"``: it is the richest set, and on synthetic data with exact labels every one
of its metrics is defined (keypoints and edges have only ``err`` in every set).

Losses: segmentation is cross-entropy with ``ignore_index`` (255) and optional ``class_weights``; depth is L1 on
valid pixels (target > 3e-5 and ``mask``); normals are 1 − cosine of the normalised vectors over valid pixels (target
not all zero, and ``mask``); keypoints and edges are L1 (over ``mask`` if given). A batch without any valid pixel
gives a zero loss that still back-propagates (instead of NaN).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, ClassVar, Mapping

import torch
import torch.nn.functional as F

from mtlkit.errors import ConfigError, DataError, unknown_name
from mtlkit.metrics import (
    DEPTH_METRICS, HIGHER_IS_BETTER, IGNORE_INDEX, NORMAL_METRICS, SEG_METRICS, AbsErrorEvaluator,
    CosineSimilarityEvaluator, DepthEvaluator, Evaluator, NormalEvaluator, SegmentationEvaluator,
    SegmentationLossEvaluator, _dense_valid, check_prediction, get_mask, get_target, resize_prediction,
)

__all__ = [
    "IGNORE_INDEX", "METRIC_SETS", "Task", "SegmentSemantic", "DepthZbuffer", "Normal", "Keypoints2d",
    "EdgeTexture", "MultiLabel", "MultiLabelEvaluator", "get_task", "list_tasks", "register_task", "register_metric",
    "metric_direction",
]

METRIC_SETS = ("nyuv2", "cityscapes", "taskonomy")
_METRICS = {  # task -> (NYUv2/CityScapes metrics, Taskonomy metrics); the evaluators report these, in this order
    "segment_semantic": (SEG_METRICS, ("err",)),
    "depth_zbuffer": (DEPTH_METRICS, ("abs_err",)),
    "normal": (NORMAL_METRICS, ("cos_sim",)),
    "keypoints2d": (("err",), ("err",)),
    "edge_texture": (("err",), ("err",)),
}
_REGISTRY: dict[str, type["Task"]] = {}


def register_task(name: str) -> Callable[[type], type]:
    """Class decorator adding a :class:`Task` subclass to the registry under ``name``."""
    def deco(cls: type) -> type:
        if name in _REGISTRY:
            raise ConfigError(f"task {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return deco


def list_tasks() -> list[str]:
    """Names of the registered tasks, in the papers' order."""
    return list(_REGISTRY)


def get_task(name: str, **options) -> "Task":
    """Build a task by name.

    Args:
        name: one of :func:`list_tasks` (``segment_semantic``, ``depth_zbuffer``, ``normal``, ``keypoints2d``,
            ``edge_texture``).
        **options: the task's dataclass fields, e.g. ``num_classes``, ``ignore_index``, ``class_weights`` for
            segmentation; ``metric_set`` and ``paper_compat`` for every task.

    Returns:
        The task object.

    Raises:
        ConfigError: unknown name (the message lists the valid ones), unknown option or bad option value.
    """
    if name not in _REGISTRY:
        raise unknown_name("task", name, _REGISTRY)
    cls = _REGISTRY[name]
    valid = [f.name for f in dataclasses.fields(cls)]
    bad = sorted(set(options) - set(valid))
    if bad:
        raise ConfigError(f"task {name!r} has no option(s) {bad}; valid options are {valid}")
    return cls(**options)


def register_metric(metric: str, higher_is_better: bool) -> None:
    """Give a new metric name its direction (used by :func:`metric_direction` and so by Δt).

    Args:
        metric: the metric name an evaluator reports, e.g. ``"mAP"``.
        higher_is_better: True if a larger value is better.

    Raises:
        ConfigError: a non-bool direction, or a name already known with the other direction.
    """
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"metric must be a non-empty string, got {metric!r}")
    if not isinstance(higher_is_better, bool):
        raise ConfigError(f"register_metric({metric!r}): higher_is_better must be a bool, got {higher_is_better!r}")
    if HIGHER_IS_BETTER.get(metric, higher_is_better) != higher_is_better:
        raise ConfigError(f"metric {metric!r} is already registered with higher_is_better="
                          f"{HIGHER_IS_BETTER[metric]}")
    HIGHER_IS_BETTER[metric] = higher_is_better


def metric_direction(metric: str, task: str | None = None) -> bool:
    """True if higher is better for ``metric`` (a name mtlkit's evaluators produce).

    Args:
        metric: e.g. ``"mIoU"``, ``"abs_err"``, ``"within_30"``, ``"cos_sim"``, ``"err"``.
        task: the task the metric belongs to, used only in the error message.

    Raises:
        ConfigError: the direction of ``metric`` is unknown.
    """
    if metric not in HIGHER_IS_BETTER:
        where = f" of task {task!r}" if task else ""
        raise ConfigError(f"unknown direction for metric {metric!r}{where}; known metrics are "
                          f"{sorted(HIGHER_IS_BETTER)} (pass higher_is_better={{...}} for others)")
    return HIGHER_IS_BETTER[metric]


@dataclass(frozen=True)
class Task:
    """Common part of the five tasks. Subclasses set ``name`` (by :func:`register_task`) and ``out_channels``.

    Args:
        metric_set: ``"nyuv2"`` (default), ``"cityscapes"`` or ``"taskonomy"`` (see the module table).
        paper_compat: the original code's conventions (nearest-downsampled targets in the loss, the paper-compatible
            evaluator).
    """

    name: ClassVar[str] = "task"
    metric_set: str = "nyuv2"
    paper_compat: bool = False

    def __post_init__(self):
        if self.metric_set not in METRIC_SETS:
            raise unknown_name("metric_set", self.metric_set, METRIC_SETS)
        if not isinstance(self.paper_compat, bool):
            raise ConfigError(f"task {self.name!r}: paper_compat must be a bool, got {self.paper_compat!r}")

    # --- interface -------------------------------------------------------------------------------------------------
    @property
    def out_channels(self) -> int:
        """Channels the head must output."""
        raise NotImplementedError

    @property
    def metrics(self) -> tuple[str, ...]:
        """Ordered metric names reported by :meth:`evaluator` (and used by Δt)."""
        return _METRICS[self.name][self.metric_set == "taskonomy"]

    @property
    def higher_is_better(self) -> dict[str, bool]:
        """Metric name -> True if higher is better."""
        return {m: HIGHER_IS_BETTER[m] for m in self.metrics}

    def evaluator(self, paper_compat: bool | None = None) -> Evaluator:
        """A fresh evaluator; ``paper_compat`` overrides the task's setting."""
        raise NotImplementedError

    def loss(self, pred: torch.Tensor, batch: Mapping) -> torch.Tensor:
        """Scalar training loss of ``pred`` ``(B, out_channels, h, w)`` against ``batch[self.name]``."""
        raise NotImplementedError

    # --- helpers ---------------------------------------------------------------------------------------------------
    @property
    def _owner(self) -> str:
        return f"task {self.name!r}"

    def _compat(self, paper_compat: bool | None) -> bool:
        return self.paper_compat if paper_compat is None else paper_compat

    def _align(self, pred: torch.Tensor, batch: Mapping, channels: int | None):
        """Check inputs and bring prediction, target and mask to one resolution (see the module docstring)."""
        pred = check_prediction(self._owner, pred, self.out_channels)
        target = get_target(self._owner, batch, self.name, pred, channels)
        mask = get_mask(self._owner, batch, target) if channels is not None else None
        size = pred.shape[-2:]
        if not self.paper_compat:
            return resize_prediction(pred, target.shape[-2:], "bilinear"), target, mask
        if tuple(target.shape[-2:]) != tuple(size):  # the original: nearest-downsample the GT to the head output
            if channels is None:
                target = F.interpolate(target[:, None].float(), size=size, mode="nearest")[:, 0].to(target.dtype)
            else:
                target = F.interpolate(target.float(), size=size, mode="nearest")
            if mask is not None:
                mask = F.interpolate(mask.float(), size=size, mode="nearest") > 0.5
        return pred, target, mask

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self))
        return f"{type(self).__name__}(name={self.name!r}, {fields})"


def _masked_mean(values: torch.Tensor, valid: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ``valid``; a zero that keeps the graph when nothing is valid."""
    if not bool(valid.any()):
        return like.sum() * 0.0
    return values[valid].mean()


@register_task("segment_semantic")
@dataclass(frozen=True, repr=False)
class SegmentSemantic(Task):
    """Semantic segmentation: K-class logits, cross-entropy.

    Args:
        num_classes: K (default 40, the NYUv2 setting of AutoMTL; CityScapes 19, Taskonomy 17, TreeMTL's NYUv2 13).
        ignore_index: label never scored (255 = :data:`IGNORE_INDEX`; CityScapes in the original uses −1).
        class_weights: optional K cross-entropy weights (Taskonomy's prior factors), used by the loss and by the
            Taskonomy ``err`` metric.
        metric_set, paper_compat: see :class:`Task`.
    """

    num_classes: int = 40
    ignore_index: int = IGNORE_INDEX
    class_weights: tuple[float, ...] | None = None

    def __post_init__(self):
        super().__post_init__()
        k = self.num_classes
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"task 'segment_semantic': num_classes must be a positive int, got {k!r}")
        if not isinstance(self.ignore_index, int) or 0 <= self.ignore_index < k:
            raise ConfigError(f"task 'segment_semantic': ignore_index must be an int outside 0..{k - 1}, got "
                              f"{self.ignore_index!r}")
        if self.class_weights is not None:
            try:
                w = tuple(float(x) for x in torch.as_tensor(self.class_weights, dtype=torch.float64).reshape(-1))
            except (TypeError, ValueError, RuntimeError) as e:
                raise ConfigError(f"task 'segment_semantic': class_weights must be {k} numbers, got "
                                  f"{self.class_weights!r}") from e
            if len(w) != k or any(x < 0 for x in w) or not any(x > 0 for x in w):
                raise ConfigError(f"task 'segment_semantic': class_weights must be {k} non-negative numbers, not all"
                                  f" 0, got {len(w)} values")
            object.__setattr__(self, "class_weights", w)

    @property
    def out_channels(self) -> int:
        return self.num_classes

    def evaluator(self, paper_compat: bool | None = None) -> Evaluator:
        compat = self._compat(paper_compat)
        if self.metric_set == "taskonomy":
            return SegmentationLossEvaluator(self.num_classes, self.ignore_index, self.class_weights, self.name,
                                             compat)
        return SegmentationEvaluator(self.num_classes, self.ignore_index, self.name, compat)

    def loss(self, pred: torch.Tensor, batch: Mapping) -> torch.Tensor:
        pred, target, _ = self._align(pred, batch, channels=None)
        if target.is_floating_point():
            raise DataError(f"{self._owner}: batch['segment_semantic'] must hold integer class ids, got "
                            f"{target.dtype}")
        target = target.long()
        labelled = target != self.ignore_index
        bad = labelled & ((target < 0) | (target >= self.num_classes))
        if bool(bad.any()):
            raise DataError(f"{self._owner}: labels must be in 0..{self.num_classes - 1} or ignore_index="
                            f"{self.ignore_index}; found {sorted(set(target[bad].unique().tolist()))[:10]}")
        weight = None if self.class_weights is None else torch.tensor(self.class_weights, dtype=pred.dtype,
                                                                     device=pred.device)
        ce = F.cross_entropy(pred, target, weight=weight, ignore_index=self.ignore_index, reduction="sum")
        denom = labelled.sum() if weight is None else weight[target[labelled]].sum()
        if not bool(denom > 0):
            return pred.sum() * 0.0
        return ce / denom  # = the 'mean' reduction, without its NaN on a batch with no labelled pixel


@register_task("depth_zbuffer")
@dataclass(frozen=True, repr=False)
class DepthZbuffer(Task):
    """Depth: 1 channel, L1 on valid pixels (target > 3e-5 and ``mask``)."""

    @property
    def out_channels(self) -> int:
        return 1

    def evaluator(self, paper_compat: bool | None = None) -> Evaluator:
        return DepthEvaluator(self.metrics, self.name, self._compat(paper_compat))

    def loss(self, pred: torch.Tensor, batch: Mapping) -> torch.Tensor:
        pred, target, mask = self._align(pred, batch, channels=1)
        valid = _dense_valid(target, mask, "depth")  # (B, 1, H, W)
        return _masked_mean((pred - target).abs(), valid, pred)


@register_task("normal")
@dataclass(frozen=True, repr=False)
class Normal(Task):
    """Surface normals: 3 channels, loss 1 − mean cosine of normalised vectors over valid pixels."""

    @property
    def out_channels(self) -> int:
        return 3

    def evaluator(self, paper_compat: bool | None = None) -> Evaluator:
        if self.metric_set == "taskonomy":
            return CosineSimilarityEvaluator(self.name, self._compat(paper_compat))
        return NormalEvaluator(self.name, self._compat(paper_compat))

    def loss(self, pred: torch.Tensor, batch: Mapping) -> torch.Tensor:
        pred, target, mask = self._align(pred, batch, channels=3)
        valid = _dense_valid(target, mask, "normal")[:, 0]  # (B, H, W)
        cos = (F.normalize(pred, dim=1) * F.normalize(target, dim=1)).sum(dim=1)  # (B, H, W)
        if not bool(valid.any()):
            return pred.sum() * 0.0
        return 1.0 - cos[valid].mean()


@dataclass(frozen=True, repr=False)
class _L1Task(Task):
    """A 1-channel regression task with an L1 loss over all (masked) pixels and the ``err`` metric."""

    @property
    def out_channels(self) -> int:
        return 1

    def evaluator(self, paper_compat: bool | None = None) -> Evaluator:
        return AbsErrorEvaluator(self.name, self._compat(paper_compat))

    def loss(self, pred: torch.Tensor, batch: Mapping) -> torch.Tensor:
        pred, target, mask = self._align(pred, batch, channels=1)
        valid = _dense_valid(target, mask, "dense")
        return _masked_mean((pred - target).abs(), valid, pred)


@register_task("keypoints2d")
@dataclass(frozen=True, repr=False)
class Keypoints2d(_L1Task):
    """2-D keypoint heat-map regression: 1 channel, L1."""


@register_task("edge_texture")
@dataclass(frozen=True, repr=False)
class EdgeTexture(_L1Task):
    """Texture edge regression: 1 channel, L1."""


# ------------------------------------------------------------------------------------------------ image-level
register_metric("mAP", True)
register_metric("f1", True)


class MultiLabelEvaluator(Evaluator):
    """Image-level multi-label scores over a dataset: mean average precision and micro-F1, in percent.

    ``mAP``: per class, the average precision of the images ranked by predicted score (the mean of the precision at
    the rank of every positive image), averaged over the classes that have at least one positive image. ``f1``:
    micro-averaged F1 of ``sigmoid(logit) >= threshold`` over all (image, class) pairs (100 when there is no positive
    and no predicted positive).

    Args:
        key: batch key of the ``(B, K)`` multi-hot target.
        num_classes: K.
        threshold: probability above which a class counts as predicted.
    """

    metrics = ("mAP", "f1")

    def __init__(self, key: str, num_classes: int, threshold: float = 0.5):
        self.num_classes, self.threshold = num_classes, threshold
        super().__init__(key, False, num_classes)

    def reset(self) -> None:
        self._scores: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def update(self, pred: torch.Tensor, batch: Mapping) -> None:
        pred, target = _vector_pair(self._owner(), pred, batch, self.key, self.num_classes)
        self._scores.append(pred.detach().float().cpu())
        self._targets.append(target.detach().cpu() > 0.5)

    def compute(self) -> dict[str, float]:
        if not self._scores:
            raise DataError(f"{self._owner()}: compute() before any update(); nothing was evaluated")
        scores, targets = torch.cat(self._scores), torch.cat(self._targets)
        aps = []
        for k in range(self.num_classes):
            pos = targets[:, k]
            if not bool(pos.any()):
                continue  # AP is undefined for a class with no positive image
            order = torch.argsort(scores[:, k], descending=True, stable=True)
            hits = pos[order].double()
            precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1, dtype=torch.float64)
            aps.append(float((precision * hits).sum() / hits.sum()))
        predicted = torch.sigmoid(scores) >= self.threshold
        tp = int((predicted & targets).sum())
        denom = int(predicted.sum()) + int(targets.sum())
        f1 = 1.0 if denom == 0 else 2 * tp / denom
        return {"mAP": 100.0 * sum(aps) / len(aps) if aps else float("nan"), "f1": 100.0 * f1}


def _vector_pair(owner: str, pred, batch: Mapping, key: str, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Check an image-level prediction ``(B, K)`` and its multi-hot target ``batch[key]`` ``(B, K)``."""
    if not isinstance(pred, torch.Tensor) or not pred.is_floating_point():
        raise ConfigError(f"{owner}: the prediction must be a floating-point torch.Tensor (B, {k}), got "
                          f"{type(pred).__name__ if not isinstance(pred, torch.Tensor) else pred.dtype}")
    if pred.ndim == 4 and pred.shape[-2:] == (1, 1):
        pred = pred.flatten(1)  # a 1x1 map from a pooled conv head
    if pred.ndim != 2 or pred.shape[1] != k:
        raise ConfigError(f"{owner}: an image-level task needs a (B, {k}) prediction (a Linear head on (B, C) "
                          f"features, e.g. get_head('fc', C, {k})), got shape {tuple(pred.shape)}")
    if key not in batch:
        raise DataError(f"{owner}: the batch has no {key!r} entry (keys: {sorted(batch)})")
    target = batch[key]
    if not isinstance(target, torch.Tensor) or tuple(target.shape) != tuple(pred.shape):
        got = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
        raise DataError(f"{owner}: batch[{key!r}] must be a multi-hot tensor of shape {tuple(pred.shape)} (B, K), "
                        f"got {got}")
    target = target.to(pred.device, torch.float32)
    if bool(((target != 0) & (target != 1)).any()):
        raise DataError(f"{owner}: batch[{key!r}] must hold 0/1 values (multi-hot), found "
                        f"{sorted(set(target.unique().tolist()))[:10]}")
    return pred, target


@register_task("multi_label")
@dataclass(frozen=True, repr=False)
class MultiLabel(Task):
    """Image-level multi-label classification: ``(B, K)`` logits, binary cross-entropy; ``mAP`` and ``f1``.

    The target ``batch[name]`` is a ``(B, K)`` multi-hot float tensor (1 = class present). A ``(B, K, 1, 1)``
    prediction (a conv head after global pooling) is accepted too.

    Args:
        num_classes: K.
        pos_weight: optional K positive-class weights of the BCE (rare classes weigh more).
        threshold: probability above which a class counts as predicted for ``f1``.
        metric_set, paper_compat: accepted for a uniform interface; they change nothing for this task.

    Example (a task of your own with the same loss: a new name is a new batch key)::

        @register_task("objects_present")
        @dataclass(frozen=True, repr=False)
        class ObjectsPresent(MultiLabel):
            num_classes: int = 4
    """

    num_classes: int = 2
    pos_weight: tuple[float, ...] | None = None
    threshold: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        k = self.num_classes
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"task {self.name!r}: num_classes must be a positive int, got {k!r}")
        if not isinstance(self.threshold, (int, float)) or not 0 < self.threshold < 1:
            raise ConfigError(f"task {self.name!r}: threshold must be a probability in (0, 1), got {self.threshold!r}")
        if self.pos_weight is not None:
            w = tuple(float(x) for x in self.pos_weight)
            if len(w) != k or any(not x > 0 for x in w):
                raise ConfigError(f"task {self.name!r}: pos_weight must be {k} positive numbers, got "
                                  f"{self.pos_weight!r}")
            object.__setattr__(self, "pos_weight", w)

    @property
    def out_channels(self) -> int:
        return self.num_classes

    @property
    def metrics(self) -> tuple[str, ...]:
        return MultiLabelEvaluator.metrics

    def evaluator(self, paper_compat: bool | None = None) -> Evaluator:
        return MultiLabelEvaluator(self.name, self.num_classes, float(self.threshold))

    def loss(self, pred: torch.Tensor, batch: Mapping) -> torch.Tensor:
        pred, target = _vector_pair(self._owner, pred, batch, self.name, self.num_classes)
        weight = None if self.pos_weight is None else torch.tensor(self.pos_weight, dtype=pred.dtype,
                                                                   device=pred.device)
        return F.binary_cross_entropy_with_logits(pred, target, pos_weight=weight)
