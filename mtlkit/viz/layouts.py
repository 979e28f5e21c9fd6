"""Helpers of notebook 04 (TreeMTL's layouts and the cut-based enumeration), kept here so its cells stay short.

* :func:`draw_dfs_steps`: the first cuts of the cut-based DFS as tree drawings (duplicates greyed);
* :func:`count_checks`: independent checks of the closed forms of the number of layouts (Bell numbers from the
  Bell triangle, finite differences, the exponential generating function expanded with exact fractions);
* :func:`plot_design_space_size`: the number of layouts against B and against T, with the paper's bound;
* :func:`time_enumerators` and :func:`plot_enumerator_timing`: the two enumerators' wall times.

matplotlib is imported inside the functions.
"""
from __future__ import annotations

import time
from fractions import Fraction
from math import factorial
from typing import Sequence

__all__ = ["draw_dfs_steps", "bell_numbers", "exp_minus_one", "count_checks", "plot_design_space_size",
           "time_enumerators", "plot_enumerator_timing"]


def draw_dfs_steps(log, found: Sequence, title: str, n_show: int = 8):
    """The first ``n_show`` cuts of the DFS, each drawn as the layout it produced (grey: a pruned duplicate).

    Args:
        log: the DFS log, one row per cut (``index``, ``new``, ``depth``, ``parent``, ``block``, ``l1``, ``l2``).
        found: the layouts in the order found (``log.index`` points into it).
        title: the figure title.
        n_show: how many cuts to draw (two rows of ``ceil(n_show / 2)``).

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    cols = max(1, (n_show + 1) // 2)
    fig, axes = plt.subplots(2, cols, figsize=(4.5 * cols, 6.2), squeeze=False)
    for ax in axes.flat[n_show:]:
        ax.axis("off")
    for ax, (step, row) in zip(axes.flat, log.head(n_show).iterrows()):
        L = found[row["index"]]
        kind = f"new → #{row['index']}" if row["new"] else f"duplicate of #{row['index']}"
        L.draw(ax=ax, title=f"step {step} (depth {row['depth']}): cut #{row['parent']} at block {row['block']}, "
                            f"{row['l1']} | {row['l2']}\n{kind}: {L}")
        if not row["new"]:
            ax.set_facecolor("0.93")
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def bell_numbers(n: int) -> list[int]:
    """Bell numbers B_1..B_n from the Bell triangle (independent of the layout-count recurrence)."""
    row, out = [1], []
    for _ in range(n):
        out.append(row[-1])
        nxt = [row[-1]]
        for v in row:
            nxt.append(nxt[-1] + v)
        row = nxt
    return out


def exp_minus_one(g: Sequence[Fraction], n: int) -> list[Fraction]:
    """Power series of exp(g) - 1 up to x^n (``g`` has no constant term), in exact fractions."""
    result, term = [Fraction(0)] * (n + 1), [Fraction(1)] + [Fraction(0)] * n
    for k in range(1, n + 1):  # term = g^k / k!
        prod = [Fraction(0)] * (n + 1)
        for i, a in enumerate(term):
            if a:
                for j in range(1, n + 1 - i):
                    prod[i + j] += a * g[j]
        term = [t / k for t in prod]
        result = [r + t for r, t in zip(result, term)]
    return result


def count_checks(Bmax: int = 17, Tmax: int = 8) -> dict[str, bool]:
    """Check :func:`~mtlkit.treemtl.count_layouts` against closed forms computed independently of it.

    * T = 2: B + 1; T = 3: (B + 1)(3B + 2)/2, for B up to ``Bmax``;
    * B = 1: the Bell numbers (every partition of the tasks);
    * the (T−1)-th finite difference in B is the constant T!(T−1)!/2^(T−1) (a polynomial of degree T−1), T ≤ Tmax;
    * the exponential generating function of B blocks is e^x − 1 composed B + 1 times (T ≤ Tmax, B ≤ 5).

    Returns:
        ``{description: passed}``.
    """
    import numpy as np

    from mtlkit.treemtl import count_layouts

    checks = {
        "T=2: B+1": all(count_layouts(2, B) == B + 1 for B in range(1, Bmax + 1)),
        "T=3: (B+1)(3B+2)/2": all(count_layouts(3, B) == (B + 1) * (3 * B + 2) // 2 for B in range(1, Bmax + 1)),
        "B=1: Bell numbers": [count_layouts(T, 1) for T in range(2, 11)] == bell_numbers(10)[1:],
    }
    for T in range(2, Tmax + 1):
        d = np.array([count_layouts(T, B) for B in range(1, T + 3)], dtype=object)
        for _ in range(T - 1):
            d = d[1:] - d[:-1]
        lead = factorial(T) * factorial(T - 1) // 2 ** (T - 1)
        checks[f"T={T}: Δ^{T - 1} N = T!(T-1)!/2^(T-1) = {lead}"] = set(d) == {lead}
    series = [Fraction(0)] + [Fraction(1, factorial(k)) for k in range(1, Tmax + 1)]  # f(x) = e^x - 1
    egf_ok = True
    for B in range(1, 6):
        series = exp_minus_one(series, Tmax)  # f composed B+1 times
        egf_ok &= all(series[T] * factorial(T) == count_layouts(T, B) for T in range(2, Tmax + 1))
    checks[f"EGF f∘...∘f (B+1 times), T ≤ {Tmax}, B ≤ 5"] = egf_ok
    return checks


def plot_design_space_size(Bmax: int = 17, Tmax: int = 8):
    """The number of layouts against B (T ≤ Tmax) and against T (B = 1, 5, 17), with the paper's bound.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from mtlkit.treemtl import count_layouts

    Bs = np.arange(1, Bmax + 1)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for T in range(2, Tmax + 1):
        axes[0].plot(Bs, [count_layouts(T, int(B)) for B in Bs], marker="o", ms=3, label=f"T = {T}")
    axes[0].set(yscale="log", xlabel="number of branching points B", ylabel="number of layouts",
                title="count_layouts(T, B): polynomial in B of degree T−1")
    axes[0].axvline(5, color="0.6", ls=":")
    axes[0].text(5.2, 2, "B = 5 (the paper)", color="0.4", fontsize=9)
    axes[0].legend(ncol=2, fontsize=9)
    Ts = np.arange(2, 13)
    for B, color in zip([1, 5, 17], ["C0", "C1", "C2"]):
        axes[1].plot(Ts, [count_layouts(int(T), B) for T in Ts], marker="o", ms=3, color=color,
                     label=f"B = {B}: exact")
        axes[1].plot(Ts, [float(((2 ** (int(T) - 1) - 1) * B) ** (int(T) - 1)) for T in Ts], ls="--", color=color,
                     label=f"B = {B}: paper's bound [(2^(T−1)−1)·B]^(T−1)")
    axes[1].axhline(1e6, color="0.6", ls=":")
    axes[1].text(2.1, 1.6e6, "enumeration limit of recommend(method='auto'): 1e6", color="0.4", fontsize=9)
    axes[1].set(yscale="log", ylim=(1, 1e21), xlabel="number of tasks T", ylabel="number of layouts",
                title="growth with T (Bell numbers for B = 1)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def time_enumerators(sizes: Sequence[tuple[int, int]], repeats: int = 1):
    """Wall time of ``branch_point_matrix`` in the paper's order (first call) and the fast order (best of repeats).

    Each size should be one not enumerated before in the process: the paper order is cached by the library.

    Returns:
        A DataFrame (``T``, ``B``, ``layouts``, ``paper_ms``, ``fast_ms``, ``paper/fast``), sorted by layouts.
    """
    import pandas as pd

    from mtlkit.treemtl import branch_point_matrix, count_layouts

    rows = []
    for T, B in sizes:
        t0 = time.perf_counter()
        n_paper = len(branch_point_matrix(T, B, order="paper"))
        t_paper = time.perf_counter() - t0
        t_fast = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            n_fast = len(branch_point_matrix(T, B, order="fast"))
            t_fast.append(time.perf_counter() - t0)
        assert n_paper == n_fast == count_layouts(T, B), (T, B, n_paper, n_fast)
        rows.append(dict(T=T, B=B, layouts=n_paper, paper_ms=1e3 * t_paper, fast_ms=1e3 * min(t_fast)))
    timing = pd.DataFrame(rows).sort_values("layouts", ignore_index=True)
    timing["paper/fast"] = timing.paper_ms / timing.fast_ms
    return timing


def plot_enumerator_timing(timing, title: str):
    """:func:`time_enumerators`' frame: wall time against the number of layouts, both axes logarithmic."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(timing.layouts, timing.paper_ms, "o-", label="paper order (cut-based DFS, hash-set dedup)")
    ax.plot(timing.layouts, timing.fast_ms, "s-", label="fast (direct generation)")
    for _, r in timing.iterrows():
        ax.annotate(f"T{r['T']:.0f},B{r['B']:.0f}", (r.layouts, r.paper_ms), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set(xscale="log", yscale="log", xlabel="number of layouts", ylabel="wall time (ms, this run)", title=title)
    ax.legend()
    return fig
