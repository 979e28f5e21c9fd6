"""Statistics over training seeds: confidence intervals, paired comparisons, corrections, reliability.

Every trained number the kit presents is a mean over several training seeds (same data, different initialisation
and data order). This module turns the per-seed values into what a table or a verdict says:

* :func:`mean_ci` — mean with a two-sided Student-t confidence interval (``scipy.stats.t``);
* :func:`paired_test` — a paired comparison of two methods over the same seeds: the Wilcoxon signed-rank test
  (``scipy.stats.wilcoxon``) or a paired bootstrap of the mean difference (``scipy.stats.bootstrap``);
* :func:`holm` — Holm's step-down correction of the p-values of one table (``scipy.stats.false_discovery_control``
  has only Benjamini-Hochberg/Yekutieli, so Holm is the few lines below);
* :func:`verdict` — the sentence a report prints: ``"A > B (p = 0.031, n = 6)"`` or ``"not distinguishable (n = 5)"``;
* :func:`compare_methods` — every requested comparison of one table: paired test, Holm within the table, verdict;
* :func:`correlation_ci` — Pearson, Spearman or Kendall correlation with a bootstrap confidence interval over the
  paired observations (``scipy.stats.pearsonr``/``spearmanr``/``kendalltau`` inside ``scipy.stats.bootstrap``);
* :func:`split_half_reliability` — how well one half of the seeds predicts the other half (averaged over random
  splits, Spearman-Brown corrected): the ceiling any estimator correlated with these measurements can reach.

"Higher is better" is the caller's: :func:`verdict` takes it as an argument, so ``A > B`` always means "A is better".

**Five seeds and Wilcoxon.** The exact two-sided signed-rank test over ``n`` pairs cannot give a p-value below
``2 / 2**n``: 0.0625 for ``n = 5``, 0.031 for ``n = 6``. So at α = 0.05 five seeds never reject, however large
the difference; six is the least number of seeds with which the Wilcoxon verdict can be anything but "not
distinguishable" (and then only if every seed agrees and Holm has little to correct). The paired bootstrap has no
such floor, but with five seeds its interval is optimistic; prefer more seeds to a different test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from mtlkit.errors import ConfigError, unknown_name

__all__ = ["MeanCI", "PairedTest", "CorrelationCI", "mean_ci", "paired_test", "holm", "verdict", "compare_methods",
           "correlation_ci", "split_half_reliability", "TESTS", "CORRELATIONS"]

TESTS = ("wilcoxon", "bootstrap")
CORRELATIONS = ("pearson", "spearman", "kendall")


def _values(x, name: str, minimum: int = 1) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a sequence of numbers, got {x!r:.80}") from None
    if a.size < minimum:
        raise ConfigError(f"{name} must hold at least {minimum} value(s), got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ConfigError(f"{name} must be finite numbers, got {a.tolist()!r:.120}")
    return a


def _level(confidence: float) -> float:
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ConfigError(f"confidence must be a number in (0, 1), e.g. 0.95, got {confidence!r}")
    return float(confidence)


@dataclass(frozen=True)
class MeanCI:
    """A mean over ``n`` values with its confidence interval ``[low, high]`` (NaN bounds when ``n == 1``)."""

    mean: float
    low: float
    high: float
    n: int
    sd: float
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        """``(high - low) / 2``."""
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.mean:.4g} (n = 1)"
        return f"{self.mean:.4g} ± {self.half_width:.2g} (n = {self.n})"


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> MeanCI:
    """Mean with a two-sided Student-t confidence interval.

    Args:
        values: one value per seed.
        confidence: coverage of the interval.

    Returns:
        A :class:`MeanCI`; with one value the bounds are NaN (no interval can be formed), with identical values
        the interval has zero width.

    Raises:
        ConfigError: no values, non-finite values or a confidence outside (0, 1).
    """
    from scipy import stats

    a, level = _values(values, "values"), _level(confidence)
    n, mean = a.size, float(a.mean())
    if n < 2:
        return MeanCI(mean, math.nan, math.nan, 1, math.nan, level)
    sd = float(a.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, n, sd, level)


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of ``a`` and ``b``: the mean of ``a - b``, its CI, the p-value and the test used."""

    mean_diff: float
    low: float
    high: float
    p: float
    n: int
    test: str


def paired_test(a: Sequence[float], b: Sequence[float], test: str = "wilcoxon", *, confidence: float = 0.95,
                n_resamples: int = 9999, seed: int = 0) -> PairedTest:
    """Compare two methods measured on the same seeds (``a[i]`` and ``b[i]`` share seed ``i``).

    Args:
        a: the first method's values, one per seed.
        b: the second method's values, same seeds in the same order.
        test: ``"wilcoxon"`` — two-sided Wilcoxon signed-rank test of the differences (``scipy.stats.wilcoxon``,
            exact for small n; zero differences dropped, as Wilcoxon's ``zero_method="wilcox"``), with a t-interval
            of the mean difference; ``"bootstrap"`` — a paired bootstrap (``scipy.stats.bootstrap`` of the mean
            difference, BCa interval); its p-value is the two-sided bootstrap p of the mean difference being 0
            (twice the smaller share of resampled means on either side of 0, at least ``1 / (n_resamples + 1)``).
        confidence: coverage of the interval.
        n_resamples: bootstrap resamples.
        seed: bootstrap random seed (the result is reproducible).

    Returns:
        A :class:`PairedTest`; when every difference is zero, ``p = 1``.

    Raises:
        ConfigError: lengths differ, fewer than 2 pairs, non-finite values, unknown test.
    """
    from scipy import stats

    x, y = _values(a, "a", 2), _values(b, "b", 2)
    if x.size != y.size:
        raise ConfigError(f"a and b must be paired (same length, one value per seed each), got {x.size} and {y.size}")
    if test not in TESTS:
        raise unknown_name("test", test, TESTS)
    d = x - y
    n = int(d.size)
    if not np.any(d != 0):
        return PairedTest(0.0, 0.0, 0.0, 1.0, n, test)
    if test == "wilcoxon":
        ci = mean_ci(d, confidence)
        p = float(stats.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided").pvalue)
        return PairedTest(ci.mean, ci.low, ci.high, p, n, test)
    rng = np.random.default_rng(seed)
    res = stats.bootstrap((d,), np.mean, confidence_level=_level(confidence), n_resamples=n_resamples,
                          method="BCa", random_state=rng)
    boot = res.bootstrap_distribution
    share = min(float(np.mean(boot <= 0)), float(np.mean(boot >= 0)))
    p = min(1.0, max(2 * share, 1 / (n_resamples + 1)))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return PairedTest(float(d.mean()), low, high, p, n, test)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control over one table's comparisons).

    Args:
        p_values: the raw p-values of every comparison in the table.

    Returns:
        Adjusted p-values, same order: the k-th smallest is ``max_{j<=k} min(1, (m - j + 1) p_(j))``.

    Raises:
        ConfigError: a value outside [0, 1].
    """
    p = _values(p_values, "p_values", 0)
    if np.any((p < 0) | (p > 1)):
        raise ConfigError(f"p_values must be in [0, 1], got {p.tolist()!r:.120}")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(scaled)
    return out


def verdict(name_a: str, name_b: str, mean_diff: float, p: float, n: int, *, higher_is_better: bool = True,
            alpha: float = 0.05) -> str:
    """The verdict sentence of one comparison.

    Args:
        name_a: the first method's name.
        name_b: the second method's name.
        mean_diff: mean of ``a - b`` over the seeds.
        p: the (Holm-adjusted, within the table) p-value.
        n: number of paired seeds.
        higher_is_better: direction of the metric; ``"A > B"`` always means A is the better one.
        alpha: significance level.

    Returns:
        ``"A > B (p = 0.031, n = 5)"`` (or ``"B > A ..."``) when ``p < alpha``, else ``"not distinguishable (n = 5)"``.
    """
    if not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ConfigError(f"p must be a p-value in [0, 1], got {p!r}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    if p >= alpha or mean_diff == 0:
        return f"not distinguishable (n = {n})"
    a_better = (mean_diff > 0) == bool(higher_is_better)
    first, second = (name_a, name_b) if a_better else (name_b, name_a)
    return f"{first} > {second} (p = {p:.2g}, n = {n})"


def compare_methods(values: Mapping[str, Sequence[float]], pairs: Sequence[tuple[str, str]], *,
                    higher_is_better: bool = True, test: str = "wilcoxon", alpha: float = 0.05,
                    confidence: float = 0.95):
    """All requested comparisons of one table: paired test, Holm correction within the table, verdict.

    Args:
        values: method -> one value per seed (the same seeds, in the same order, for every method).
        pairs: ``(method_a, method_b)`` comparisons to make.
        higher_is_better: direction of the metric.
        test: ``"wilcoxon"`` or ``"bootstrap"`` (:func:`paired_test`).
        alpha: significance level of the verdicts.
        confidence: coverage of the intervals.

    Returns:
        A pandas DataFrame, one row per pair: ``a, b, n, mean_diff, low, high, p, p_holm, verdict``.

    Raises:
        ConfigError: a method of ``pairs`` missing from ``values``, or unpaired lengths.
    """
    import pandas as pd

    rows = []
    for a, b in pairs:
        for name in (a, b):
            if name not in values:
                raise ConfigError(f"compare_methods: no values for method {name!r}; methods are {sorted(values)}")
        r = paired_test(values[a], values[b], test, confidence=confidence)
        rows.append(dict(a=a, b=b, n=r.n, mean_diff=r.mean_diff, low=r.low, high=r.high, p=r.p))
    frame = pd.DataFrame(rows, columns=["a", "b", "n", "mean_diff", "low", "high", "p"])
    frame["p_holm"] = holm(frame["p"].to_numpy()) if len(frame) else []
    frame["verdict"] = [verdict(r.a, r.b, r.mean_diff, r.p_holm, r.n, higher_is_better=higher_is_better, alpha=alpha)
                        for r in frame.itertuples()]
    return frame


@dataclass(frozen=True)
class CorrelationCI:
    """A correlation coefficient, its bootstrap CI, its p-value (scipy's test) and the number of points."""

    method: str
    r: float
    low: float
    high: float
    p: float
    n: int


def _corr(method: str):
    from scipy import stats

    return {"pearson": stats.pearsonr, "spearman": stats.spearmanr, "kendall": stats.kendalltau}[method]


def correlation_ci(x: Sequence[float], y: Sequence[float], method: str = "pearson", *, confidence: float = 0.95,
                   n_resamples: int = 2000, seed: int = 0) -> CorrelationCI:
    """A correlation with a bootstrap confidence interval (the points are resampled in pairs).

    Args:
        x: first variable, one value per point (e.g. per layout).
        y: second variable, same points.
        method: ``"pearson"``, ``"spearman"`` or ``"kendall"``.
        confidence: coverage of the interval.
        n_resamples: bootstrap resamples.
        seed: bootstrap random seed.

    Returns:
        A :class:`CorrelationCI` (percentile interval; NaN when a resample is constant in x or y is skipped by
        using the finite resamples only).

    Raises:
        ConfigError: unequal lengths, fewer than 3 points, unknown method, or a constant variable.
    """
    from scipy import stats

    a, b = _values(x, "x", 3), _values(y, "y", 3)
    if a.size != b.size:
        raise ConfigError(f"x and y must have the same length (paired points), got {a.size} and {b.size}")
    if method not in CORRELATIONS:
        raise unknown_name("method", method, CORRELATIONS)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ConfigError(f"correlation_ci: {'x' if np.ptp(a) == 0 else 'y'} is constant; a correlation is undefined")
    f = _corr(method)
    res = f(a, b)
    r, p = float(res[0]), float(res[1])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_resamples, a.size))
    boot = np.full(n_resamples, np.nan)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        for k, i in enumerate(idx):
            if np.ptp(a[i]) > 0 and np.ptp(b[i]) > 0:
                boot[k] = float(f(a[i], b[i])[0])
    boot = boot[np.isfinite(boot)]
    level = _level(confidence)
    low, high = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2]) if boot.size else (math.nan, math.nan)
    return CorrelationCI(method, r, float(low), float(high), p, int(a.size))


def split_half_reliability(values: np.ndarray, method: str = "pearson", *, n_splits: int = 200, seed: int = 0,
                           spearman_brown: bool = True) -> float:
    """Split-half reliability of measurements repeated over seeds.

    ``values[i, s]`` is item ``i`` (e.g. a layout's score) measured with seed ``s``. The seeds are split at random
    into two halves, each item is averaged within each half, and the two half-means are correlated over the items;
    the mean correlation over ``n_splits`` splits is returned, Spearman-Brown corrected to the full number of seeds
    (``2 r / (1 + r)``, for ``r > 0``; a non-positive mean is returned as it is) unless
    ``spearman_brown=False``.

    Args:
        values: ``(items, seeds)`` array, at least 3 items and 2 seeds.
        method: ``"pearson"``, ``"spearman"`` or ``"kendall"``.
        n_splits: random splits averaged (all distinct splits when there are fewer).
        seed: random seed of the splits.
        spearman_brown: apply the Spearman-Brown correction.

    Returns:
        The reliability (NaN if every split had a constant half).

    Raises:
        ConfigError: wrong shape, non-finite values, unknown method.
    """
    from itertools import combinations

    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[0] < 3 or v.shape[1] < 2:
        raise ConfigError(f"values must be an (items, seeds) array with >= 3 items and >= 2 seeds, got shape "
                          f"{v.shape}")
    if not np.all(np.isfinite(v)):
        raise ConfigError("values must be finite numbers")
    if method not in CORRELATIONS:
        raise unknown_name("method", method, CORRELATIONS)
    s = v.shape[1]
    half = s // 2
    every = [c for c in combinations(range(s), half) if s % 2 or 0 in c]  # each split once (for even s)
    rng = np.random.default_rng(seed)
    if len(every) > n_splits:
        every = [every[i] for i in rng.choice(len(every), size=n_splits, replace=False)]
    f, rs = _corr(method), []
    for first in every:
        second = [j for j in range(s) if j not in first]
        m1, m2 = v[:, list(first)].mean(1), v[:, second].mean(1)
        if np.ptp(m1) > 0 and np.ptp(m2) > 0:
            rs.append(float(f(m1, m2)[0]))
    if not rs:
        return math.nan
    r = float(np.mean(rs))
    return 2 * r / (1 + r) if spearman_brown and r > 0 else r
