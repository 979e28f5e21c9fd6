"""Convergence: when has a training run's validation curve plateaued, and training until it has.

The criterion (:class:`Plateau`): at an evaluation after ``N`` iterations, look back over the last ``window``
share of training (default 20 %, iterations ``(0.8 N, N]``). The run has **plateaued** when the best validation
value reached in that window improves on the best value reached before it by less than ``min_improvement``
(default 2 %, relative to the earlier best). Using the best-so-far value makes the test monotone in the history and
insensitive to one noisy evaluation.

* :func:`plateau_check` applies it to a recorded history (any sequence of ``(iteration, value)``);
* :func:`validation_loss` is the weighted sum of the tasks' training losses on a held-out loader (the value the
  default criterion watches, ``val_loss``);
* :func:`mtlkit.train.train` with ``until=Plateau(...)`` evaluates every ``config.eval_every`` iterations, stops at
  the first evaluation where the criterion holds (``config.iterations`` is the cap) and records the stop in its
  checkpoint, so a resumed run that had stopped returns at once; :func:`convergence_record` summarises a history
  for a results row (``plateaued``, ``stopped_at``, ``improvement``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import torch

from mtlkit.errors import ConfigError

__all__ = ["Plateau", "PlateauCheck", "plateau_check", "validation_loss", "plateau_hooks", "convergence_record",
           "VAL_LOSS"]

VAL_LOSS = "val_loss"


@dataclass(frozen=True)
class Plateau:
    """The plateau criterion.

    Attributes:
        window: the share of training looked back over (0.2: the last 20 % of the iterations so far).
        min_improvement: the run has plateaued when the window improved the best value by less than this share.
        metric: the evaluated column watched: ``"val_loss"`` (:func:`validation_loss`) or a ``task/metric`` column
            of :func:`mtlkit.train.evaluate`.
        higher_is_better: direction of ``metric`` (False for losses and errors).
        min_iterations: never stop before this many iterations.
    """

    window: float = 0.2
    min_improvement: float = 0.02
    metric: str = VAL_LOSS
    higher_is_better: bool = False
    min_iterations: int = 0

    def __post_init__(self):
        if not isinstance(self.window, (int, float)) or not 0 < self.window < 1:
            raise ConfigError(f"Plateau.window must be a share in (0, 1), e.g. 0.2, got {self.window!r}")
        if not isinstance(self.min_improvement, (int, float)) or not 0 <= self.min_improvement < 1:
            raise ConfigError(f"Plateau.min_improvement must be a share in [0, 1), e.g. 0.02, got "
                              f"{self.min_improvement!r}")
        if not isinstance(self.metric, str) or not self.metric:
            raise ConfigError(f"Plateau.metric must be a column name such as 'val_loss', got {self.metric!r}")
        if not isinstance(self.higher_is_better, bool):
            raise ConfigError(f"Plateau.higher_is_better must be a bool, got {self.higher_is_better!r}")
        if isinstance(self.min_iterations, bool) or not isinstance(self.min_iterations, int) or self.min_iterations < 0:
            raise ConfigError(f"Plateau.min_iterations must be an int >= 0, got {self.min_iterations!r}")


@dataclass(frozen=True)
class PlateauCheck:
    """The criterion at the last recorded evaluation.

    Attributes:
        plateaued: the criterion holds (False when the history cannot decide yet).
        improvement: relative improvement of the best value over the window (NaN when undecidable).
        iteration: iteration of the last evaluation.
        window_start: first iteration of the window (``(1 - window) * iteration``).
        reason: why it is undecidable, or ``""``.
    """

    plateaued: bool
    improvement: float
    iteration: int
    window_start: float
    reason: str = ""


def plateau_check(iterations: Sequence[int], values: Sequence[float], criterion: Plateau | None = None
                  ) -> PlateauCheck:
    """Apply the plateau criterion to a history.

    Args:
        iterations: iteration of each evaluation, increasing.
        values: the watched value at each evaluation.
        criterion: the :class:`Plateau` (default settings when ``None``).

    Returns:
        A :class:`PlateauCheck`. Undecidable (``plateaued=False``) with fewer than ``min_iterations`` iterations, with
        no evaluation at or before the window's start, or with no evaluation inside the window.

    Raises:
        ConfigError: unequal lengths, iterations not increasing, non-finite values.
    """
    c = criterion or Plateau()
    it = [int(i) for i in iterations]
    v = [float(x) for x in values]
    if len(it) != len(v):
        raise ConfigError(f"iterations and values must have the same length, got {len(it)} and {len(v)}")
    if any(b <= a for a, b in zip(it, it[1:])):
        raise ConfigError(f"iterations must be increasing, got {it[:10]}")
    if not all(math.isfinite(x) for x in v):
        raise ConfigError(f"values must be finite, got {v[:10]}")
    if not it:
        return PlateauCheck(False, math.nan, 0, 0.0, "no evaluation yet")
    last = it[-1]
    start = (1 - c.window) * last
    if last < c.min_iterations:
        return PlateauCheck(False, math.nan, last, start, f"fewer than min_iterations={c.min_iterations}")
    before = [x for i, x in zip(it, v) if i <= start]
    inside = [x for i, x in zip(it, v) if i > start]
    if not before or not inside:
        return PlateauCheck(False, math.nan, last, start, "no evaluation before or inside the window")
    sign = -1.0 if c.higher_is_better else 1.0   # minimise sign * value
    best_before = min(sign * x for x in before)
    best_now = min(best_before, min(sign * x for x in inside))
    scale = abs(best_before)
    improvement = (best_before - best_now) / scale if scale > 0 else (0.0 if best_now == best_before else math.inf)
    return PlateauCheck(bool(improvement < c.min_improvement), float(improvement), last, start)


@torch.no_grad()
def validation_loss(model, tasks: Mapping[str, Any], loader, *, weights: Mapping[str, float] | None = None,
                    device=None, forward_kw: Mapping[str, Any] | None = None,
                    max_batches: int | None = None) -> dict[str, float]:
    """Weighted sum of the tasks' training losses over a held-out loader (batch-size weighted mean).

    Args:
        model: ``forward(x) -> {task: pred}``.
        tasks: dict name -> task.
        loader: held-out batches.
        weights: task -> loss weight (missing: 1).
        device: where to run (default: the model's parameters' device).
        forward_kw: extra keyword arguments of the forward.
        max_batches: stop after this many batches.

    Returns:
        ``{"val_loss": Σ_t λ_t L_t, "val_loss/<task>": L_t, ...}``. Modes and the torch RNG are restored.
    """
    from mtlkit.train import to_device
    from mtlkit.train import fit as _fit

    model = _fit._unwrap(model)
    if device is None:
        p = next(iter(model.parameters()), None)
        device = p.device if p is not None else torch.device("cpu")
    names, takes = tuple(tasks), _fit._takes_tasks(model)
    lam = {t: float((weights or {}).get(t, 1.0)) for t in names}
    sums, count = {t: 0.0 for t in names}, 0
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            for n, batch in enumerate(loader):
                if max_batches is not None and n >= max_batches:
                    break
                batch = to_device(batch, device)
                preds = _fit._predict(model, batch["image"], names, takes, forward_kw)
                b = int(batch["image"].shape[0])
                for t in names:
                    sums[t] += b * float(tasks[t].loss(preds[t], batch))
                count += b
    finally:
        for m, mode in modes.items():
            m.training = mode
    if count == 0:
        raise ConfigError("validation_loss: the loader yielded no batch")
    per = {t: s / count for t, s in sums.items()}
    return {VAL_LOSS: sum(lam[t] * per[t] for t in names), **{f"{VAL_LOSS}/{t}": per[t] for t in names}}


def plateau_hooks(criterion: Plateau, eval_fn: Callable[[int], Mapping] | None, loss_fn: Callable[[], Mapping]
                  ) -> tuple[Callable[[int], dict], Callable[[Sequence[Mapping]], bool]]:
    """The ``eval_fn`` and ``stop_fn`` that :func:`mtlkit.train.run_loop` calls to train until a plateau.

    Args:
        criterion: the :class:`Plateau`.
        eval_fn: the run's own evaluation (or ``None``).
        loss_fn: ``loss_fn() -> {"val_loss": ..., ...}`` (e.g. :func:`validation_loss` bound to the run).

    Returns:
        ``(eval_fn, stop_fn)``: the evaluation, plus the validation loss when the criterion watches it; and
        ``stop_fn(eval_rows) -> bool``, the criterion on the rows logged so far.
    """
    if not isinstance(criterion, Plateau):
        raise ConfigError(f"until must be a mtlkit.convergence.Plateau, got {type(criterion).__name__}")

    def evaluate_all(done: int) -> dict:
        out = dict(eval_fn(done)) if eval_fn is not None else {}
        if criterion.metric.split("/")[0] == VAL_LOSS:
            out.update(loss_fn())
        return out

    def stop(rows: Sequence[Mapping]) -> bool:
        rows = [r for r in rows if criterion.metric in r]
        if not rows:
            return False
        return plateau_check([r["iteration"] for r in rows], [r[criterion.metric] for r in rows], criterion).plateaued

    return evaluate_all, stop


def convergence_record(history, criterion: Plateau | None = None) -> dict[str, Any]:
    """Summary of a run's convergence for a results row.

    Args:
        history: a :class:`mtlkit.train.History` whose ``eval`` rows hold ``criterion.metric``.
        criterion: the :class:`Plateau` (default settings when ``None``).

    Returns:
        ``{"plateaued": bool, "improvement": float, "iterations": last evaluated iteration, "stopped_at": the
        iteration training stopped at because of the criterion, or None}``.
    """
    c = criterion or Plateau()
    rows = [r for r in history.eval if c.metric in r]
    if not rows:
        raise ConfigError(f"the history has no evaluated {c.metric!r} column; train with eval_loader and "
                          f"until=Plateau(...) (or evaluate that column)")
    check = plateau_check([r["iteration"] for r in rows], [r[c.metric] for r in rows], c)
    return dict(plateaued=check.plateaued, improvement=check.improvement, iterations=check.iteration,
                stopped_at=getattr(history, "stopped_at", None))
