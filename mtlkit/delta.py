"""Relative performance Δt of a multi-task model against single-task references (AutoMTL §4.4, TreeMTL §4.1).

For task t with metrics M_t (values M_tj, reference values M^STL_tj):

    Δ_t = (1/|M_t|) Σ_j (−1)^{l_j} (M_tj − M^STL_tj) / M^STL_tj × 100 %,   l_j = 1 if lower is better,
    Δt (overall) = (1/T) Σ_t Δ_t.

Positive means better than the reference. Δt is scale-free, so results and reference only need the *same* units
(see :func:`mtlkit.metrics.fraction_to_percent` for references stored as fractions).

Papers print rounded values. :func:`delta_t_interval` gives the interval of Δt that the printed (rounded) inputs
allow: a value printed with d decimals stands for [v − h, v + h], h = ½·10^−d; each term of the sum is monotone in
its two inputs, so the extremes of Δ_t are sums of per-term extremes (exact interval). A printed Δt is *consistent*
with its row when its own rounding interval overlaps that interval (:meth:`Interval.admits`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from mtlkit.checks import check_nonnegative_int
from mtlkit.errors import ConfigError

__all__ = ["DeltaResult", "Interval", "DeltaInterval", "delta_t", "delta_t_interval", "printed_interval",
           "as_nested"]


# ------------------------------------------------------------------------------------------------------------ inputs
def as_nested(obj: Any, what: str = "results") -> dict[str, dict[str, Any]]:
    """Normalise ``{task: {metric: value}}``, a pandas Series indexed by (task, metric), or a DataFrame with
    columns ``task``, ``metric``, ``value`` into a nested dict (values are kept as given)."""
    if type(obj).__module__.startswith("pandas"):
        if hasattr(obj, "columns"):  # DataFrame
            cols = set(map(str, obj.columns))
            if not {"task", "metric", "value"} <= cols:
                raise ConfigError(f"{what}: a DataFrame needs columns 'task', 'metric', 'value', got "
                                  f"{sorted(cols)}")
            rows = zip(obj["task"], obj["metric"], obj["value"])
        else:  # Series
            if getattr(obj.index, "nlevels", 1) != 2:
                raise ConfigError(f"{what}: a Series needs a 2-level (task, metric) index, got "
                                  f"{getattr(obj.index, 'nlevels', 1)} level(s)")
            rows = ((t, m, v) for (t, m), v in obj.items())
        out: dict[str, dict[str, Any]] = {}
        for t, m, v in rows:
            if m in out.setdefault(str(t), {}):
                raise ConfigError(f"{what}: duplicate entry for task {t!r}, metric {m!r}")
            out[str(t)][str(m)] = v
        return out
    if not isinstance(obj, Mapping):
        raise ConfigError(f"{what} must be a dict {{task: {{metric: value}}}} or a pandas DataFrame/Series, got "
                          f"{type(obj).__name__}")
    for t, metrics in obj.items():
        if not isinstance(metrics, Mapping):
            raise ConfigError(f"{what}[{t!r}] must be a dict {{metric: value}}, got {type(metrics).__name__}")
    return {str(t): dict(m) for t, m in obj.items()}


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a number (or a numeric string), got {value!r}") from None
    if not math.isfinite(x):
        raise ConfigError(f"{where} must be finite, got {value!r}")
    return x


def _direction(higher_is_better: Mapping | None, task: str, metric: str) -> bool:
    if higher_is_better is not None:
        per_task = higher_is_better.get(task)
        if isinstance(per_task, Mapping) and metric in per_task:
            return bool(per_task[metric])
        if metric in higher_is_better and not isinstance(higher_is_better[metric], Mapping):
            return bool(higher_is_better[metric])
    from mtlkit.tasks import metric_direction  # the registry's metric table

    return metric_direction(metric, task)


def _pairs(results: Any, reference: Any):
    """Yield (task, metric, result value, reference value) for every metric of the reference, task by task."""
    res = as_nested(results, "results")
    ref = as_nested(reference, "reference")
    if not res:
        raise ConfigError("results is empty; expected {task: {metric: value}}")
    for task, metrics in res.items():
        if task not in ref:
            raise ConfigError(f"reference has no task {task!r}; reference tasks are {sorted(ref)}")
        if not ref[task]:
            raise ConfigError(f"reference[{task!r}] has no metrics")
        for metric, ref_value in ref[task].items():
            if metric not in metrics:
                raise ConfigError(f"results[{task!r}] has no metric {metric!r} (the reference has it); results "
                                  f"metrics are {sorted(metrics)}")
            yield task, metric, metrics[metric], ref_value


# ------------------------------------------------------------------------------------------------------------ Δt
@dataclass(frozen=True)
class DeltaResult:
    """Δt in percent.

    Attributes:
        per_task: task -> Δ_t (mean over the task's metrics).
        overall: mean of ``per_task`` over tasks.
        per_metric: task -> metric -> signed relative change in percent.
        skipped: ``(task, metric)`` pairs left out because their reference value is 0
            (only with ``zero_reference="skip"``).
    """

    per_task: dict[str, float]
    overall: float
    per_metric: dict[str, dict[str, float]]
    skipped: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """``{"per_task": {...}, "overall": x}``."""
        return {"per_task": dict(self.per_task), "overall": self.overall}

    def __str__(self) -> str:
        parts = [f"Δ[{t}] = {v:+.2f} %" for t, v in self.per_task.items()]
        return ", ".join(parts) + f"; Δt = {self.overall:+.2f} %"


def delta_t(results: Any, reference: Any, higher_is_better: Mapping | None = None, *,
            zero_reference: str = "raise") -> DeltaResult:
    """Relative performance of ``results`` against ``reference`` (percent; + is better).

    Args:
        results: ``{task: {metric: value}}`` of the multi-task model (or a pandas DataFrame with columns ``task``,
            ``metric``, ``value``, or a Series indexed by (task, metric)). Values may be numbers or numeric strings.
        reference: the single-task values in the same form. The metrics of ``reference[task]`` are the ones used
            (extra metrics in ``results`` are ignored); every task of ``results`` must be in ``reference``.
        higher_is_better: optional directions, flat ``{metric: bool}`` or per task ``{task: {metric: bool}}``;
            otherwise taken from the task registry's metric table (:func:`mtlkit.tasks.metric_direction`).
        zero_reference: what to do with a metric whose reference value is 0 (Δt is undefined there):
            ``"raise"`` (default) or ``"skip"`` (leave it out of its task's mean and list it in
            ``DeltaResult.skipped``; e.g. δ-accuracies of barely trained smoke-scale models).

    Returns:
        A :class:`DeltaResult` with ``per_task``, ``overall`` and ``per_metric``.

    Raises:
        ConfigError: a missing task or metric, a non-numeric value, a zero reference value or an unknown direction.
    """
    if zero_reference not in ("raise", "skip"):
        raise ConfigError(f"zero_reference must be 'raise' or 'skip', got {zero_reference!r}")
    per_metric: dict[str, dict[str, float]] = {}
    skipped: list[tuple[str, str]] = []
    for task, metric, value, ref_value in _pairs(results, reference):
        m = _number(value, f"results[{task!r}][{metric!r}]")
        r = _number(ref_value, f"reference[{task!r}][{metric!r}]")
        if r == 0:
            if zero_reference == "skip":
                skipped.append((task, metric))
                continue
            raise ConfigError(f"reference[{task!r}][{metric!r}] is 0; Δt divides by the reference value "
                              f"(pass zero_reference='skip' to leave such metrics out)")
        sign = 1.0 if _direction(higher_is_better, task, metric) else -1.0
        per_metric.setdefault(task, {})[metric] = sign * (m - r) / r * 100.0
    empty = sorted({t for t, _ in skipped} - set(per_metric))
    if empty:
        raise ConfigError(f"every reference metric of task(s) {empty} is 0; Δt is undefined for them")
    per_task = {t: sum(d.values()) / len(d) for t, d in per_metric.items()}
    return DeltaResult(per_task, sum(per_task.values()) / len(per_task), per_metric, tuple(skipped))


# ------------------------------------------------------------------------------------------------------- intervals
@dataclass(frozen=True)
class Interval:
    """A closed interval [lo, hi]."""

    lo: float
    hi: float

    def __contains__(self, x: float) -> bool:
        return self.lo <= x <= self.hi

    def overlaps(self, other: "Interval") -> bool:
        """True if the two intervals share a point."""
        return self.lo <= other.hi and other.lo <= self.hi

    def admits(self, printed: str | float, decimals: int | None = None) -> bool:
        """True if a value printed as ``printed`` (with its rounding) is consistent with this interval."""
        return self.overlaps(printed_interval(printed, decimals))

    def __str__(self) -> str:
        return f"[{self.lo:.4f}, {self.hi:.4f}]"


@dataclass(frozen=True)
class DeltaInterval:
    """Intervals of Δ_t per task and of the overall Δt allowed by rounded inputs (percent)."""

    per_task: dict[str, Interval]
    overall: Interval


def _decimals_of(printed: str) -> int:
    try:
        d = Decimal(printed.strip())
    except InvalidOperation:
        raise ConfigError(f"cannot read a printed number from {printed!r}") from None
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def printed_interval(printed: str | float, decimals: int | None = None) -> Interval:
    """The interval a printed, rounded number stands for: [v − h, v + h], h = ½·10^−decimals.

    Args:
        printed: the value as printed, preferably a string (``"58.20"`` has 2 decimals; a float loses trailing
            zeros, so give ``decimals`` then).
        decimals: printed decimals; inferred from a string when omitted.

    Returns:
        The :class:`Interval`.
    """
    if decimals is None:
        if not isinstance(printed, str):
            raise ConfigError(f"decimals is required when the printed value is not a string, got {printed!r}")
        decimals = _decimals_of(printed)
    decimals = check_nonnegative_int(decimals, "decimals")
    v = _number(printed, "printed value")
    h = 0.5 * 10.0 ** (-decimals)
    return Interval(v - h, v + h)


def _decimals_for(decimals: Any, task: str, metric: str) -> int | None:
    if decimals is None or isinstance(decimals, int):
        return decimals
    if isinstance(decimals, Mapping):
        d = decimals.get(task, decimals.get(metric))
        if isinstance(d, Mapping):
            d = d.get(metric)
        return d
    raise ConfigError(f"decimals must be None, an int or a dict, got {decimals!r}")


def delta_t_interval(results: Any, reference: Any, decimals: Any = None,
                     higher_is_better: Mapping | None = None) -> DeltaInterval:
    """The exact range of Δ_t and Δt over all true values that round to the printed ones.

    Args:
        results, reference, higher_is_better: as in :func:`delta_t`.
        decimals: printed decimals of the inputs: ``None`` to read them from string values (``"0.5217"`` -> 4), an
            int for every value, or ``{task: {metric: int}}`` / ``{metric: int}``.

    Returns:
        A :class:`DeltaInterval`. The point value :func:`delta_t` lies inside it.

    Raises:
        ConfigError: as :func:`delta_t`, or a reference interval that contains 0.
    """
    lo_terms: dict[str, list[float]] = {}
    hi_terms: dict[str, list[float]] = {}
    for task, metric, value, ref_value in _pairs(results, reference):
        d = _decimals_for(decimals, task, metric)
        m = printed_interval(value, d)
        r = printed_interval(ref_value, d)
        if r.lo <= 0 <= r.hi:
            raise ConfigError(f"reference[{task!r}][{metric!r}] = {ref_value!r} may round from 0; Δt is unbounded")
        sign = 1.0 if _direction(higher_is_better, task, metric) else -1.0
        # the term is linear in m and monotone in r (r ≠ 0), so its extremes are at the corners
        corners = [sign * (mv - rv) / rv * 100.0 for mv in (m.lo, m.hi) for rv in (r.lo, r.hi)]
        lo_terms.setdefault(task, []).append(min(corners))
        hi_terms.setdefault(task, []).append(max(corners))
    per_task = {t: Interval(sum(lo_terms[t]) / len(lo_terms[t]), sum(hi_terms[t]) / len(hi_terms[t]))
                for t in lo_terms}
    n = len(per_task)
    overall = Interval(sum(i.lo for i in per_task.values()) / n, sum(i.hi for i in per_task.values()) / n)
    return DeltaInterval(per_task, overall)
