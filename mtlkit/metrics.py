"""Dataset-accumulating evaluators for the five dense tasks, in a corrected and a paper-compatible variant.

Every evaluator has ``update(pred, batch)`` (raw head output at any resolution plus the batch dict of
CONTRIBUTING.md), ``compute() -> dict[str, float]`` (metric name -> value, in the order of ``.metrics``) and
``reset()``. Predictions are resized to the target size before scoring: **bilinear** by default, **nearest** in the
paper-compatible variant (``paper_compat=True``), which reproduces the quirks of the AutoMTL/AdaShare evaluation code
(docs/automtl.md §4.3 and §7.17).

Units: ``mIoU``, ``pixel_acc``, ``delta1..3`` and ``within_*`` are **percent** (0-100), as TreeMTL's tables print
them. The AutoMTL code keeps seg mIoU/Pixel Acc as fractions; :func:`fraction_to_percent` converts such a reference
(Δt itself is scale-free as long as result and reference use the same unit). Angles are degrees.

=================  ===============================================  ===============================================
quantity           corrected (default)                              paper-compatible (``paper_compat=True``)
=================  ===============================================  ===============================================
resizing           bilinear (``align_corners=False``)               nearest (``F.interpolate`` default)
seg pixels         ``0 <= gt < K`` and ``gt != ignore_index``       ``gt < K``: a negative void label (CityScapes
                                                                    −1) passes and counts as an **error** in Pixel
                                                                    Acc; it is dropped from the confusion matrix
mIoU               confusion matrix over the dataset; mean IoU      same matrix; mean IoU over classes with
                   over classes present in GT **or** prediction     **TP ≠ 0** only (biased upward)
                   (absent from both: undefined, excluded)
pixel_acc          correct / valid pixels over the dataset          per-batch accuracy, batch-size weighted mean
abs_err, rel_err   exact means over all valid pixels of the data    per-batch means, batch-size weighted mean
delta1..3          pooled over the dataset                          pooled over the dataset (same)
normal angles      mean over all valid pixels; median from a        same
                   histogram (bin 0.001°, error ≤ 0.0005°)
err, cos_sim       exact (weighted) means over the dataset          per-batch means, batch-size weighted mean
=================  ===============================================  ===============================================

Validity masks (both variants): depth ``gt > 3e-5``; normals: not all three channels 0; plus ``batch["mask"]`` for
the dense regression tasks when present. Batches without a valid pixel are skipped by the per-batch (paper) means;
the original code would produce NaN for them. Non-positive depth predictions never count as within δ.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F

from mtlkit.checks import check_positive_int
from mtlkit.errors import ConfigError, DataError, unknown_name

__all__ = [
    "IGNORE_INDEX", "DEPTH_VALID_MIN", "HIGHER_IS_BETTER", "PERCENT_METRICS", "DEPTH_METRICS", "NORMAL_METRICS",
    "SEG_METRICS", "Evaluator", "SegmentationEvaluator", "SegmentationLossEvaluator", "DepthEvaluator",
    "NormalEvaluator", "CosineSimilarityEvaluator", "AbsErrorEvaluator", "resize_prediction",
    "fraction_to_percent", "percent_to_fraction",
]

IGNORE_INDEX = 255
"""Label of unlabelled segmentation pixels (NYUv2, Taskonomy, SynthScenes)."""
DEPTH_VALID_MIN = 3e-5
"""A depth pixel is valid when its target is above this value (as in both papers' code)."""

SEG_METRICS = ("mIoU", "pixel_acc")
DEPTH_METRICS = ("abs_err", "rel_err", "delta1", "delta2", "delta3")
NORMAL_METRICS = ("mean_angle", "median_angle", "within_11.25", "within_22.5", "within_30")
NORMAL_THRESHOLDS = {"within_11.25": 11.25, "within_22.5": 22.5, "within_30": 30.0}

HIGHER_IS_BETTER: dict[str, bool] = {
    "mIoU": True, "pixel_acc": True,
    "abs_err": False, "rel_err": False, "delta1": True, "delta2": True, "delta3": True,
    "mean_angle": False, "median_angle": False, "within_11.25": True, "within_22.5": True, "within_30": True,
    "cos_sim": True, "err": False,
}
"""Direction of every metric name mtlkit produces (the sign (−1)^l_j of Δt)."""

PERCENT_METRICS = frozenset({"mIoU", "pixel_acc", "delta1", "delta2", "delta3",
                             "within_11.25", "within_22.5", "within_30"})
"""Metrics that mtlkit reports in percent."""


# ----------------------------------------------------------------------------------------------------------- helpers
def resize_prediction(pred: torch.Tensor, size: Sequence[int], mode: str = "bilinear") -> torch.Tensor:
    """Resize a ``(B, C, h, w)`` prediction to ``size = (H, W)``; a no-op when the size already matches.

    Args:
        pred: head output ``(B, C, h, w)``.
        size: target spatial size ``(H, W)``.
        mode: ``"bilinear"`` (``align_corners=False``) or ``"nearest"`` (the original code's default).

    Returns:
        The prediction at ``(B, C, H, W)``.
    """
    if mode not in ("bilinear", "nearest"):
        raise ConfigError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    size = (int(size[0]), int(size[1]))
    if tuple(pred.shape[-2:]) == size:
        return pred
    if mode == "nearest":
        return F.interpolate(pred, size=size, mode="nearest")
    return F.interpolate(pred, size=size, mode="bilinear", align_corners=False)


def check_prediction(owner: str, pred: object, out_channels: int | None) -> torch.Tensor:
    """Check that ``pred`` is a ``(B, C, h, w)`` tensor with ``C == out_channels`` (when given)."""
    if not isinstance(pred, torch.Tensor):
        raise ConfigError(f"{owner}: the prediction must be a torch.Tensor (B, C, h, w), got {type(pred).__name__}")
    if pred.ndim != 4:
        raise ConfigError(f"{owner}: the prediction must have shape (B, C, h, w), got shape {tuple(pred.shape)}")
    if out_channels is not None and pred.shape[1] != out_channels:
        raise ConfigError(f"{owner}: the prediction has {pred.shape[1]} channels, expected out_channels="
                          f"{out_channels} (prediction shape {tuple(pred.shape)})")
    if not pred.is_floating_point():
        raise ConfigError(f"{owner}: the prediction must be floating point, got dtype {pred.dtype}")
    return pred


def get_target(owner: str, batch: object, key: str, pred: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Fetch ``batch[key]``, check its shape against ``pred`` and move it to ``pred``'s device.

    ``channels=None`` means a label map ``(B, H, W)``; otherwise a dense target ``(B, channels, H, W)``.
    """
    if not isinstance(batch, Mapping):
        raise DataError(f"{owner}: batch must be a dict of tensors, got {type(batch).__name__}")
    if key not in batch:
        raise DataError(f"{owner}: the batch has no {key!r} target; batch keys are {sorted(map(str, batch))}")
    target = batch[key]
    if not isinstance(target, torch.Tensor):
        raise DataError(f"{owner}: batch[{key!r}] must be a torch.Tensor, got {type(target).__name__}")
    want = "(B, H, W)" if channels is None else f"(B, {channels}, H, W)"
    ok = target.ndim == 3 if channels is None else (target.ndim == 4 and target.shape[1] == channels)
    if not ok:
        raise DataError(f"{owner}: batch[{key!r}] must have shape {want}, got {tuple(target.shape)}")
    if target.shape[0] != pred.shape[0]:
        raise DataError(f"{owner}: batch[{key!r}] has batch size {target.shape[0]} but the prediction has "
                        f"{pred.shape[0]}")
    return target.to(pred.device)


def get_mask(owner: str, batch: Mapping, target: torch.Tensor) -> torch.Tensor | None:
    """The optional ``batch["mask"]`` as a bool ``(B, 1, H, W)`` tensor on ``target``'s device, or ``None``."""
    mask = batch.get("mask")
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.ndim != 4 or mask.shape[1] != 1 \
            or mask.shape[0] != target.shape[0] or mask.shape[-2:] != target.shape[-2:]:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise DataError(f"{owner}: batch['mask'] must be a bool tensor of shape "
                        f"({target.shape[0]}, 1, {target.shape[-2]}, {target.shape[-1]}), got {shape}")
    return mask.to(device=target.device, dtype=torch.bool)


def fraction_to_percent(results: Mapping, metrics: Iterable[str] = PERCENT_METRICS) -> dict:
    """Multiply the named metrics by 100 in a ``{task: {metric: value}}`` (or flat ``{metric: value}``) dict.

    Args:
        results: nested or flat dict of metric values.
        metrics: names to convert; e.g. ``("mIoU", "pixel_acc")`` for the AutoMTL code's reference constants, whose
            δ values are already percent.

    Returns:
        A new dict of the same shape.
    """
    return _scale(results, set(metrics), 100.0)


def percent_to_fraction(results: Mapping, metrics: Iterable[str] = PERCENT_METRICS) -> dict:
    """Inverse of :func:`fraction_to_percent` (divide the named metrics by 100)."""
    return _scale(results, set(metrics), 0.01)


def _scale(results: Mapping, names: set, factor: float) -> dict:
    out = {}
    for k, v in results.items():
        if isinstance(v, Mapping):
            out[k] = _scale(v, names, factor)
        else:
            out[k] = v * factor if k in names else v
    return out


def _weighted(total: float, weight: float, what: str, owner: str) -> float:
    if weight <= 0:
        raise DataError(f"{owner}: cannot compute {what}: no valid pixel was seen (update() with valid targets "
                        f"first)")
    return float(total / weight)


# -------------------------------------------------------------------------------------------------------- evaluators
class Evaluator:
    """Base class: holds the target key, the variant and the resize mode.

    Args:
        key: batch key of the target (the task name).
        paper_compat: reproduce the original code's evaluation quirks (see the module table).
        out_channels: expected prediction channels (checked on every update), or ``None``.
    """

    metrics: tuple[str, ...] = ()

    def __init__(self, key: str, paper_compat: bool = False, out_channels: int | None = None):
        if not isinstance(paper_compat, bool):
            raise ConfigError(f"paper_compat must be a bool, got {paper_compat!r}")
        self.key = key
        self.paper_compat = paper_compat
        self.out_channels = out_channels
        self.mode = "nearest" if paper_compat else "bilinear"
        self.reset()

    @property
    def higher_is_better(self) -> dict[str, bool]:
        """Metric name -> True if higher is better."""
        return {m: HIGHER_IS_BETTER[m] for m in self.metrics}

    def reset(self) -> None:  # pragma: no cover - overridden
        """Forget everything accumulated."""
        raise NotImplementedError

    def update(self, pred: torch.Tensor, batch: Mapping) -> None:  # pragma: no cover - overridden
        """Accumulate one batch."""
        raise NotImplementedError

    def compute(self) -> dict[str, float]:  # pragma: no cover - overridden
        """Metric name -> value over everything seen since the last reset."""
        raise NotImplementedError

    def _owner(self) -> str:
        return f"{type(self).__name__}({self.key!r})"

    def _prepare(self, pred: torch.Tensor, batch: Mapping, channels: int | None):
        owner = self._owner()
        pred = check_prediction(owner, pred, self.out_channels)
        target = get_target(owner, batch, self.key, pred, channels)
        pred = resize_prediction(pred.detach(), target.shape[-2:], self.mode)
        return pred, target

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r}, paper_compat={self.paper_compat})"


class SegmentationEvaluator(Evaluator):
    """Semantic segmentation: ``mIoU`` and ``pixel_acc`` (percent) from a confusion matrix accumulated over the data.

    Args:
        num_classes: K; labels ``0..K-1`` are classes.
        ignore_index: label of unlabelled pixels (255 by default); never scored.
        key: batch key of the ``(B, H, W)`` int64 target.
        paper_compat: paper quirks (void labels < 0 count as Pixel Acc errors, mIoU over classes with TP ≠ 0,
            per-batch accuracy weighted by batch size, nearest resizing).
    """

    metrics = SEG_METRICS

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, key: str = "segment_semantic",
                 paper_compat: bool = False):
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.ignore_index = int(ignore_index)
        super().__init__(key, paper_compat, out_channels=num_classes)

    def reset(self) -> None:
        self.confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)  # [gt, pred]
        self._acc_sum = 0.0  # paper: Σ_batches B · accuracy_b
        self._acc_weight = 0.0

    def update(self, pred: torch.Tensor, batch: Mapping) -> None:
        pred, target = self._prepare(pred, batch, channels=None)
        if target.is_floating_point():
            raise DataError(f"{self._owner()}: batch[{self.key!r}] must hold integer class ids, got {target.dtype}")
        labels = pred.argmax(dim=1).reshape(-1).cpu()  # (B*H*W,)
        gt = target.reshape(-1).to(torch.int64).cpu()
        k = self.num_classes
        in_range = (gt >= 0) & (gt < k) & (gt != self.ignore_index)
        self.confusion += torch.bincount(gt[in_range] * k + labels[in_range], minlength=k * k).reshape(k, k)
        if self.paper_compat:
            passes = gt < k  # the original filter: a negative void label passes and can never be right
            n = int(passes.sum())
            if n:
                correct = int((labels[passes] == gt[passes]).sum())
                self._acc_sum += target.shape[0] * correct / n
                self._acc_weight += target.shape[0]

    def iou(self) -> torch.Tensor:
        """Per-class IoU (float64, NaN where TP + FP + FN = 0)."""
        cm = self.confusion.to(torch.float64)
        tp = cm.diag()
        union = cm.sum(0) + cm.sum(1) - tp
        return torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, math.nan))

    def compute(self) -> dict[str, float]:
        owner = self._owner()
        iou = self.iou()
        tp = self.confusion.diag()
        if self.paper_compat:
            keep = tp != 0
            if not bool(keep.any()):
                raise DataError(f"{owner}: cannot compute mIoU: no class has a true positive (paper convention)")
            miou = float(iou[keep].mean()) * 100
            acc = _weighted(self._acc_sum, self._acc_weight, "pixel_acc", owner) * 100
        else:
            present = ~torch.isnan(iou)
            if not bool(present.any()):
                raise DataError(f"{owner}: cannot compute mIoU: no labelled pixel was seen")
            miou = float(iou[present].mean()) * 100
            acc = _weighted(float(tp.sum()), float(self.confusion.sum()), "pixel_acc", owner) * 100
        return {"mIoU": miou, "pixel_acc": acc}


class _MeanEvaluator(Evaluator):
    """An evaluator of one metric, the (weighted) mean of per-pixel values: corrected, the exact mean over the
    dataset; ``paper_compat``, per-batch means weighted by batch size."""

    def reset(self) -> None:
        self._sum = 0.0
        self._weight = 0.0

    def _accumulate(self, values: torch.Tensor, batch_size: int, weights: torch.Tensor | None = None) -> None:
        """Add one batch's per-pixel ``values`` (and their ``weights``, default 1); none: nothing is added."""
        if values.numel() == 0:
            return
        if weights is None:
            total, count = values.sum(), values.numel()
        else:
            total, count = (weights * values).sum(), weights.sum()
        if self.paper_compat:
            self._sum += batch_size * float(values.mean() if weights is None else total / count)
            self._weight += batch_size
        else:
            self._sum += float(total)
            self._weight += float(count)

    def compute(self) -> dict[str, float]:
        name = self.metrics[0]
        return {name: _weighted(self._sum, self._weight, name, self._owner())}


class SegmentationLossEvaluator(_MeanEvaluator):
    """Taskonomy segmentation ``err``: (class-weighted) cross-entropy on labelled pixels, lower is better.

    The corrected variant is the exact weighted mean over all labelled pixels of the dataset,
    Σ w_y·CE / Σ w_y; the paper variant averages per-batch means with batch-size weights.

    Args:
        num_classes: K.
        ignore_index: unlabelled pixels (255).
        class_weights: optional K weights (Taskonomy's prior factors).
        key: batch key of the target.
        paper_compat: per-batch means and nearest resizing.
    """

    metrics = ("err",)

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX,
                 class_weights: Sequence[float] | torch.Tensor | None = None, key: str = "segment_semantic",
                 paper_compat: bool = False):
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.ignore_index = int(ignore_index)
        self.class_weights = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        if self.class_weights is not None and self.class_weights.shape != (num_classes,):
            raise ConfigError(f"class_weights must have {num_classes} entries, got shape "
                              f"{tuple(self.class_weights.shape)}")
        super().__init__(key, paper_compat, out_channels=num_classes)

    def update(self, pred: torch.Tensor, batch: Mapping) -> None:
        pred, target = self._prepare(pred, batch, channels=None)
        gt = target.to(torch.int64)
        valid = (gt >= 0) & (gt < self.num_classes) & (gt != self.ignore_index)  # (B, H, W)
        if not bool(valid.any()):
            return
        logits = pred.permute(0, 2, 3, 1)[valid].double()  # (N, K)
        labels = gt[valid]
        ce = F.cross_entropy(logits, labels, reduction="none")  # (N,)
        w = (torch.ones_like(ce) if self.class_weights is None
             else self.class_weights.to(ce.device, torch.float64)[labels])
        self._accumulate(ce, target.shape[0], w)


def _dense_valid(target: torch.Tensor, mask: torch.Tensor | None, kind: str) -> torch.Tensor:
    """(B, 1, H, W) bool validity of a dense target: depth > 3e-5, normals not all zero, else everywhere."""
    if kind == "depth":
        valid = target > DEPTH_VALID_MIN
    elif kind == "normal":
        valid = (target != 0).any(dim=1, keepdim=True)
    else:
        valid = torch.ones_like(target[:, :1], dtype=torch.bool)
    return valid if mask is None else valid & mask


class DepthEvaluator(Evaluator):
    """Depth: ``abs_err``, ``rel_err`` (lower is better) and ``delta1..3`` (percent within 1.25^k, higher is better).

    Valid pixels: ``gt > 3e-5`` and ``batch["mask"]`` if present. δ_k is the share of valid pixels with
    ``max(pred/gt, gt/pred) < 1.25^k``, pooled over the dataset (both variants; non-positive predictions never count).

    Args:
        metrics: which of :data:`DEPTH_METRICS` to report (Taskonomy reports ``("abs_err",)`` only).
        key: batch key of the ``(B, 1, H, W)`` target.
        paper_compat: abs/rel error as per-batch means weighted by batch size; nearest resizing.
    """

    def __init__(self, metrics: Sequence[str] = DEPTH_METRICS, key: str = "depth_zbuffer",
                 paper_compat: bool = False):
        metrics = tuple(metrics)
        for m in metrics:
            if m not in DEPTH_METRICS:
                raise unknown_name("depth metric", m, DEPTH_METRICS)
        if not metrics:
            raise ConfigError("metrics must name at least one depth metric, got ()")
        self.metrics = metrics
        super().__init__(key, paper_compat, out_channels=1)

    def reset(self) -> None:
        self._abs = 0.0
        self._rel = 0.0
        self._weight = 0.0  # pixels (corrected) or images (paper)
        self._within = [0, 0, 0]
        self._count = 0

    def update(self, pred: torch.Tensor, batch: Mapping) -> None:
        pred, target = self._prepare(pred, batch, channels=1)
        valid = _dense_valid(target, get_mask(self._owner(), batch, target), "depth")
        p = pred[valid].double()  # (N,)
        g = target[valid].double()
        n = p.numel()
        if n == 0:
            return
        err = (p - g).abs()
        if self.paper_compat:
            b = target.shape[0]
            self._abs += b * float(err.mean())
            self._rel += b * float((err / g).mean())
            self._weight += b
        else:
            self._abs += float(err.sum())
            self._rel += float((err / g).sum())
            self._weight += n
        ratio = torch.maximum(p / g, g / p.clamp_min(1e-300))
        ratio = torch.where(p > 0, ratio, torch.full_like(ratio, math.inf))
        for i in range(3):
            self._within[i] += int((ratio < 1.25 ** (i + 1)).sum())
        self._count += n

    def compute(self) -> dict[str, float]:
        owner = self._owner()
        values = {
            "abs_err": lambda: _weighted(self._abs, self._weight, "abs_err", owner),
            "rel_err": lambda: _weighted(self._rel, self._weight, "rel_err", owner),
            **{f"delta{i + 1}": (lambda i=i: 100 * _weighted(self._within[i], self._count, "delta", owner))
               for i in range(3)},
        }
        return {m: values[m]() for m in self.metrics}


def _angles_deg(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Angles in degrees (float64) between prediction and target normals at the valid pixels."""
    v = valid[:, 0]  # (B, H, W)
    p = pred.permute(0, 2, 3, 1)[v].double()  # (N, 3)
    g = target.permute(0, 2, 3, 1)[v].double()
    p_norm = p.norm(dim=1, keepdim=True)
    pn = p / p_norm.clamp_min(1e-12)
    gn = g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
    # atan2(|p×g|, p·g) is accurate for small angles, where arccos(cos) loses digits
    ang = torch.rad2deg(torch.atan2(torch.linalg.cross(pn, gn).norm(dim=1), (pn * gn).sum(dim=1)))
    return torch.where(p_norm[:, 0] > 0, ang, torch.full_like(ang, 90.0))  # a zero prediction is 90° off


class NormalEvaluator(Evaluator):
    """Surface normals (NYUv2 convention): mean and median angle (degrees, lower is better) and the percent of
    valid pixels within 11.25°, 22.5° and 30° (higher is better).

    Valid pixels: the target is not all zero (and ``batch["mask"]``). Predictions and targets are normalised.
    The **median** over all valid pixels of the dataset is read from a histogram of the angles with bins of
    ``bin_width`` degrees (180,000 int64 counters = 1.4 MB at the default 0.001°): it is the centre of the bin holding
    the middle order statistic(s), so it is within ``bin_width / 2`` of the exact median (tested). The mean is exact.

    Args:
        key: batch key of the ``(B, 3, H, W)`` target.
        paper_compat: nearest resizing (the original also pools all angles; otherwise identical).
        bin_width: histogram bin width in degrees for the median.
    """

    metrics = NORMAL_METRICS

    def __init__(self, key: str = "normal", paper_compat: bool = False, bin_width: float = 1e-3):
        if not (isinstance(bin_width, (int, float)) and 0 < bin_width <= 1):
            raise ConfigError(f"bin_width must be in (0, 1] degrees, got {bin_width!r}")
        self.bin_width = float(bin_width)
        self.n_bins = int(math.ceil(180.0 / self.bin_width))
        super().__init__(key, paper_compat, out_channels=3)

    def reset(self) -> None:
        self.histogram = torch.zeros(self.n_bins, dtype=torch.int64)
        self._sum = 0.0
        self._count = 0
        self._within = {m: 0 for m in NORMAL_THRESHOLDS}

    def update(self, pred: torch.Tensor, batch: Mapping) -> None:
        pred, target = self._prepare(pred, batch, channels=3)
        valid = _dense_valid(target, get_mask(self._owner(), batch, target), "normal")
        ang = _angles_deg(pred, target, valid).cpu()  # (N,)
        if ang.numel() == 0:
            return
        self._sum += float(ang.sum())
        self._count += ang.numel()
        for m, t in NORMAL_THRESHOLDS.items():
            self._within[m] += int((ang < t).sum())
        idx = (ang / self.bin_width).floor().long().clamp_(0, self.n_bins - 1)
        self.histogram += torch.bincount(idx, minlength=self.n_bins)

    def _order_statistic(self, cum: torch.Tensor, k: int) -> float:
        b = int(torch.searchsorted(cum, torch.tensor([k + 1]), right=False)[0])  # first bin with cum >= k+1
        return (b + 0.5) * self.bin_width

    def compute(self) -> dict[str, float]:
        owner = self._owner()
        mean = _weighted(self._sum, self._count, "mean_angle", owner)
        n = self._count
        cum = self.histogram.cumsum(0)
        lo, hi = (n - 1) // 2, n // 2  # numpy's median: average of the two middle order statistics
        median = 0.5 * (self._order_statistic(cum, lo) + self._order_statistic(cum, hi))
        out = {"mean_angle": mean, "median_angle": median}
        out.update({m: 100 * c / n for m, c in self._within.items()})
        return out


class CosineSimilarityEvaluator(_MeanEvaluator):
    """Taskonomy normals ``cos_sim``: mean cosine similarity of normalised vectors over valid pixels (higher is
    better). Corrected: exact mean over the dataset; paper: per-batch means weighted by batch size.

    Args:
        key: batch key of the ``(B, 3, H, W)`` target.
        paper_compat: per-batch means and nearest resizing.
    """

    metrics = ("cos_sim",)

    def __init__(self, key: str = "normal", paper_compat: bool = False):
        super().__init__(key, paper_compat, out_channels=3)

    def update(self, pred: torch.Tensor, batch: Mapping) -> None:
        pred, target = self._prepare(pred, batch, channels=3)
        valid = _dense_valid(target, get_mask(self._owner(), batch, target), "normal")[:, 0]  # (B, H, W)
        p = F.normalize(pred.permute(0, 2, 3, 1)[valid].double(), dim=1)  # (N, 3)
        g = F.normalize(target.permute(0, 2, 3, 1)[valid].double(), dim=1)
        self._accumulate((p * g).sum(dim=1), target.shape[0])


class AbsErrorEvaluator(_MeanEvaluator):
    """Keypoints / edges ``err``: mean absolute error over (masked) pixels, lower is better.

    Args:
        key: batch key of the ``(B, 1, H, W)`` target (``"keypoints2d"`` or ``"edge_texture"``).
        paper_compat: per-batch means weighted by batch size; nearest resizing.
    """

    metrics = ("err",)

    def __init__(self, key: str, paper_compat: bool = False):
        super().__init__(key, paper_compat, out_channels=1)

    def update(self, pred: torch.Tensor, batch: Mapping) -> None:
        pred, target = self._prepare(pred, batch, channels=1)
        valid = _dense_valid(target, get_mask(self._owner(), batch, target), "dense")
        self._accumulate((pred[valid].double() - target[valid].double()).abs(), target.shape[0])
