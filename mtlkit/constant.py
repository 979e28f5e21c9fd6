"""The constant predictor: the floor every trained model has to beat.

For each task, the best input-independent prediction fitted on the **training** set and scored by the task's own
evaluator on the evaluation set. A trained model that does not beat it on a metric has learned nothing about that
metric from the image, and its Δt there is not a result.

The constant of each task, in prediction space (what a head outputs):

=====================  =====================================================================================
task                   constant
=====================  =====================================================================================
``segment_semantic``   logits = log of the class frequencies over labelled training pixels (weighted by
                       ``class_weights`` when the task has them): the argmax is the majority class (best constant
                       for pixel accuracy and mIoU) and the softmax is the class prior (best constant for
                       cross-entropy, the Taskonomy ``err``).
``depth_zbuffer``      the median of the valid training depths (the constant with the least absolute error).
``normal``             the mean valid training normal, normalised (the constant with the largest mean cosine).
1-channel L1 tasks     the median of the (masked) training targets: 0 for sparse maps such as keypoints and
(keypoints, edges,     edges, whose targets are 0 on most pixels.
planted tasks)
=====================  =====================================================================================

Medians are computed on at most ``max_values`` target values per task (an even subsample of each batch, seeded), so
the fit stays cheap on large datasets; below that bound they are exact.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from mtlkit.errors import ConfigError

__all__ = ["METHOD", "fit_constants", "constant_prediction", "evaluate_constants", "constant_rows"]

METHOD = "Constant predictor"


def _task_dict(tasks: Any) -> dict[str, Any]:
    from mtlkit.models import as_task_dict

    return as_task_dict(tasks)


def _kind(task) -> str:
    from mtlkit.tasks import DepthZbuffer, Normal, SegmentSemantic

    if isinstance(task, SegmentSemantic):
        return "segmentation"
    if isinstance(task, DepthZbuffer):
        return "depth"
    if isinstance(task, Normal):
        return "normal"
    if task.out_channels == 1:
        return "median"
    raise ConfigError(f"constant predictor: no constant is defined for task {task.name!r} "
                      f"({type(task).__name__}, {task.out_channels} channels)")


def _subsample(values: torch.Tensor, limit: int, gen: torch.Generator) -> torch.Tensor:
    if values.numel() <= limit:
        return values
    return values[torch.randperm(values.numel(), generator=gen)[:limit]]


@torch.no_grad()
def fit_constants(tasks: Any, loader, *, max_batches: int | None = None, max_values: int = 4_000_000,
                  seed: int = 0) -> dict[str, torch.Tensor]:
    """Fit the best constant of every task on a training loader.

    Args:
        tasks: dict name -> task or a list of tasks (:func:`mtlkit.tasks.get_task`).
        loader: training batches holding every task's target (and ``mask`` if the dataset has one).
        max_batches: read at most this many batches (``None``: the whole loader).
        max_values: at most this many target values per task are kept for a median (see the module docstring).
        seed: seed of that subsample.

    Returns:
        ``{task: constant}``, each a float tensor of shape ``(out_channels,)`` in prediction space.

    Raises:
        ConfigError: a task without a defined constant, or no valid training pixel for a task.
    """
    from mtlkit.metrics import _dense_valid, get_mask

    tasks = _task_dict(tasks)
    kinds = {t: _kind(task) for t, task in tasks.items()}
    gen = torch.Generator().manual_seed(seed)
    acc: dict[str, Any] = {t: [] for t in tasks}
    n_batches = 0
    for n, batch in enumerate(loader):
        if max_batches is not None and n >= max_batches:
            break
        n_batches += 1
        for t, task in tasks.items():
            if t not in batch:
                raise ConfigError(f"constant predictor: the training batches have no target {t!r} (keys: "
                                  f"{sorted(batch)})")
            target = batch[t]
            if kinds[t] == "segmentation":
                lab = target.long()
                lab = lab[(lab != task.ignore_index) & (lab >= 0) & (lab < task.num_classes)]
                acc[t].append(torch.bincount(lab.reshape(-1), minlength=task.num_classes).double())
                continue
            target = target.float()
            mask = get_mask(f"constant predictor ({t})", batch, target)
            kind = {"depth": "depth", "normal": "normal"}.get(kinds[t], "dense")
            valid = _dense_valid(target, mask, kind)
            if kinds[t] == "normal":
                v = target.movedim(1, -1)[valid[:, 0]].double()  # (N, 3)
                acc[t].append(v.sum(0))
            else:
                acc[t].append(_subsample(target[valid].reshape(-1), max(1, max_values // 64), gen))
    if n_batches == 0:
        raise ConfigError("constant predictor: the training loader yielded no batch")
    out: dict[str, torch.Tensor] = {}
    for t, task in tasks.items():
        kind = kinds[t]
        if kind == "segmentation":
            counts = torch.stack(acc[t]).sum(0)
            if task.class_weights is not None:
                counts = counts * torch.tensor(task.class_weights, dtype=torch.float64)
            if not counts.sum() > 0:
                raise ConfigError(f"constant predictor: no labelled training pixel for task {t!r}")
            out[t] = torch.log(counts / counts.sum()).clamp_min(-30.0).float()
        elif kind == "normal":
            total = torch.stack(acc[t]).sum(0)
            if not total.norm() > 0:
                raise ConfigError(f"constant predictor: no valid training normal for task {t!r}")
            out[t] = (total / total.norm()).float()
        else:
            values = torch.cat(acc[t]) if acc[t] else torch.empty(0)
            values = _subsample(values, max_values, gen)
            if values.numel() == 0:
                raise ConfigError(f"constant predictor: no valid training pixel for task {t!r}")
            out[t] = values.median().reshape(1).float()
    return out


def constant_prediction(constant: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The constant broadcast to a prediction ``(B, C, H, W)`` at the resolution of the target ``like``."""
    B, (H, W) = like.shape[0], like.shape[-2:]
    return constant.to(like.device).view(1, -1, 1, 1).expand(B, -1, H, W).contiguous()


@torch.no_grad()
def evaluate_constants(tasks: Any, train_loader, eval_loader, *, constants: Mapping[str, torch.Tensor] | None = None,
                       max_batches: int | None = None) -> dict[str, dict[str, float]]:
    """Score the constant predictor of every task with the task's own evaluator.

    Args:
        tasks: dict name -> task or a list of tasks.
        train_loader: where the constants are fitted (ignored when ``constants`` is given).
        eval_loader: where they are scored (the split the trained models are scored on).
        constants: pre-fitted constants from :func:`fit_constants`.
        max_batches: read at most this many batches of each loader.

    Returns:
        ``{task: {metric: value}}``, the same shape as :func:`mtlkit.train.evaluate`'s result.
    """
    tasks = _task_dict(tasks)
    if constants is None:
        constants = fit_constants(tasks, train_loader, max_batches=max_batches)
    missing = sorted(set(tasks) - set(constants))
    if missing:
        raise ConfigError(f"constants has no value for tasks {missing}")
    evaluators = {t: task.evaluator() for t, task in tasks.items()}
    for n, batch in enumerate(eval_loader):
        if max_batches is not None and n >= max_batches:
            break
        for t in tasks:
            evaluators[t].update(constant_prediction(constants[t], batch[t]), batch)
    return {t: {k: float(v) for k, v in ev.compute().items()} for t, ev in evaluators.items()}


def constant_rows(metrics: Mapping[str, Mapping[str, float]], setting: str, **extra) -> list[dict]:
    """Results rows (``setting, method, task, metric, value``) of the constant predictor, for
    :func:`mtlkit.report.record`.

    Args:
        metrics: ``{task: {metric: value}}`` from :func:`evaluate_constants`.
        setting: the table's setting, e.g. ``"SynthScenes / tiny_resnet"``.
        **extra: extra columns of every row.
    """
    if not isinstance(setting, str) or not setting:
        raise ConfigError(f"setting must be a non-empty string, got {setting!r}")
    return [dict(setting=setting, method=METHOD, task=t, metric=m, value=float(v), **extra)
            for t, ms in metrics.items() for m, v in ms.items()]
