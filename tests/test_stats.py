"""mtlkit.stats against scipy.stats on fixed data."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mtlkit.errors import ConfigError
from mtlkit.stats import (
    compare_methods, correlation_ci, holm, mean_ci, paired_test, split_half_reliability, verdict,
)

A = [0.61, 0.58, 0.66, 0.63, 0.60, 0.65]
B = [0.55, 0.57, 0.59, 0.60, 0.52, 0.58]


def test_mean_ci_matches_scipy_t_interval():
    ci = mean_ci(A)
    low, high = stats.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=stats.sem(A))
    assert ci.mean == pytest.approx(np.mean(A))
    assert (ci.low, ci.high) == pytest.approx((low, high), rel=1e-12)
    assert ci.n == 6 and ci.sd == pytest.approx(np.std(A, ddof=1))
    one = mean_ci([3.0])
    assert one.mean == 3.0 and math.isnan(one.low) and one.n == 1


def test_paired_wilcoxon_matches_scipy():
    res = paired_test(A, B, "wilcoxon")
    assert res.p == pytest.approx(stats.wilcoxon(A, B).pvalue)
    assert res.p == pytest.approx(2 / 2**6)  # every difference positive: the exact two-sided minimum for n = 6
    assert res.mean_diff == pytest.approx(np.mean(np.subtract(A, B)))
    assert res.low < res.mean_diff < res.high


def test_paired_bootstrap_interval_matches_scipy_and_p_reacts():
    d = np.subtract(A, B)
    res = paired_test(A, B, "bootstrap", n_resamples=2000, seed=3)
    ref = stats.bootstrap((d,), np.mean, n_resamples=2000, method="BCa", random_state=np.random.default_rng(3))
    assert (res.low, res.high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert res.p < 0.01  # every difference is positive
    noisy = paired_test([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], "bootstrap", n_resamples=2000)
    assert noisy.p > 0.5 and noisy.low < 0 < noisy.high
    same = paired_test([1, 2, 3], [1, 2, 3])
    assert same.p == 1.0 and same.mean_diff == 0.0


def test_holm_by_hand():
    p = [0.01, 0.04, 0.03, 0.20]
    # sorted 0.01, 0.03, 0.04, 0.20 -> 4*0.01, 3*0.03, max(2*0.04, .09), max(0.2, .09)
    assert holm(p).tolist() == pytest.approx([0.04, 0.09, 0.09, 0.20])
    assert holm([]).size == 0
    with pytest.raises(ConfigError, match="p_values"):
        holm([0.5, 1.5])


def test_verdict_strings():
    assert verdict("AutoMTL", "Hard sharing", 0.2, 0.031, 5) == "AutoMTL > Hard sharing (p = 0.031, n = 5)"
    assert verdict("A", "B", 0.2, 0.031, 5, higher_is_better=False) == "B > A (p = 0.031, n = 5)"
    assert verdict("A", "B", -0.2, 0.3, 5) == "not distinguishable (n = 5)"
    with pytest.raises(ConfigError, match="p must be"):
        verdict("A", "B", 1.0, 2.0, 5)


@pytest.mark.parametrize("method,fn", [("pearson", stats.pearsonr), ("spearman", stats.spearmanr),
                                       ("kendall", stats.kendalltau)])
def test_correlation_ci_point_value_is_scipys(method, fn):
    x = [1.0, 2.0, 3.5, 4.0, 5.5, 6.0, 7.5, 8.0]
    y = [1.2, 1.9, 3.0, 4.8, 5.0, 7.1, 6.9, 8.3]
    res = correlation_ci(x, y, method, n_resamples=500)
    assert res.r == pytest.approx(fn(x, y)[0]) and res.p == pytest.approx(fn(x, y)[1])
    assert res.low <= res.r <= res.high <= 1.0 and res.n == 8
    with pytest.raises(ConfigError, match="constant"):
        correlation_ci(x, [1.0] * 8, method)


def test_split_half_reliability_high_for_signal_low_for_noise():
    rng = np.random.default_rng(0)
    truth = np.linspace(0, 1, 12)
    signal = truth[:, None] + 0.05 * rng.standard_normal((12, 4))
    noise = rng.standard_normal((60, 8))
    assert split_half_reliability(signal) > 0.95
    assert abs(split_half_reliability(noise)) < 0.3
    # two seeds: one split, the Spearman-Brown corrected Pearson r of the two columns
    two = signal[:, :2]
    r = stats.pearsonr(two[:, 0], two[:, 1])[0]
    assert split_half_reliability(two) == pytest.approx(2 * r / (1 + r))
    with pytest.raises(ConfigError, match="items"):
        split_half_reliability(np.ones((2, 4)))


def test_bad_input_named():
    with pytest.raises(ConfigError, match="paired"):
        paired_test([1, 2, 3], [1, 2])
    with pytest.raises(ConfigError, match="test"):
        paired_test([1, 2, 3], [1, 2, 4], "ttest")
    with pytest.raises(ConfigError, match="finite"):
        mean_ci([1.0, float("nan")])


def test_compare_methods_holm_within_the_table_and_the_five_seed_floor():
    values = {"AutoMTL": [5.0, 6.0, 7.0, 8.0, 9.0, 10.0], "Hard sharing": [1.0, 2.0, 3.0, 4.0, 5.0, 6.5],
              "Random": [5.2, 5.9, 7.1, 7.9, 9.1, 9.8]}
    table = compare_methods(values, [("AutoMTL", "Hard sharing"), ("AutoMTL", "Random")])
    raw = [stats.wilcoxon(values["AutoMTL"], values[b]).pvalue for b in ("Hard sharing", "Random")]
    assert table["p"].tolist() == pytest.approx(raw)
    assert table["p_holm"].tolist() == pytest.approx(holm(raw).tolist())
    # all six seeds better: p = 2/64 alone, but doubled by Holm within this two-comparison table
    assert raw[0] == pytest.approx(2 / 64) and table.loc[0, "p_holm"] == pytest.approx(2 * 2 / 64)
    assert table["verdict"].tolist() == ["not distinguishable (n = 6)"] * 2
    alone = compare_methods(values, [("AutoMTL", "Hard sharing")])
    assert alone.loc[0, "verdict"] == "AutoMTL > Hard sharing (p = 0.031, n = 6)"
    lower = compare_methods(values, [("Hard sharing", "AutoMTL")], higher_is_better=False)
    assert lower.loc[0, "verdict"] == "Hard sharing > AutoMTL (p = 0.031, n = 6)"
    # five seeds, every one better: the exact two-sided Wilcoxon p is 2/32, never below 0.05
    five = compare_methods({k: v[:5] for k, v in values.items()}, [("AutoMTL", "Hard sharing")])
    assert five.loc[0, "p"] == pytest.approx(2 / 32) and five.loc[0, "verdict"] == "not distinguishable (n = 5)"
    with pytest.raises(ConfigError, match="no values for method 'Ours'"):
        compare_methods(values, [("Ours", "Random")])
