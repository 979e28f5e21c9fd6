"""TreeMTL recommender speed: full enumeration + scoring, and exact top-k far beyond enumeration.

1. Full enumeration + scoring + ranking of T=5, B=5 (7,556 layouts, the Taskonomy/ResNet-34 table):
   * ``ours (fast)``: :func:`branch_point_matrix` (direct generation) + vectorised scores + exact ranking;
   * ``ours (paper order)``: the authors' cut-based DFS replayed with a hash set (gives the ``#k`` indices) + the
     same scoring;
   * ``baseline``: a naive re-implementation, written here from the spec's pseudo-code (specs/treemtl.md §2, §6, §8),
     of the authors' enumerator — deep-copied layouts of Python sets, duplicates found by a linear scan of the list
     with per-block set comparisons — followed by per-layout scoring with ``statistics.mean`` and ``np.dot``.
     About a minute; ``--quick`` skips it. Its order is checked against ours.
2. Exact top-5 for T=8 tasks, B=17 branching points (about 1.6e11 layouts) under budgets of 2, 3 and 4 backbones,
   on random two-task tables, with the 17 fine ResNet-34 blocks' MACs (the spec's coarse costs spread evenly over
   the fine blocks of each coarse block).

3. (``--scaling``) many tasks, B=17 fine ResNet-34 blocks, top-5, one seeded table per T
   (:func:`mtlkit.treemtl.synthetic_table`): the exact search for T = 9..16 under no budget and 4 / 3 / 2 backbones
   (median time of ``min(repeats, 3)`` runs, nodes expanded, multipliers); the certified anytime search at ``--limit`` seconds (default 10) for
   T = 18..40 on random and planted-group tables, budget 3 backbones (time, moves, best score, upper bound, gap,
   gap as % of the score range). Every line is printed as soon as it is measured.
   ``--case T [--budget N]``: only the exact search on that table (for timing whole commands, e.g. with
   ``farm-bench``).
4. ``recommend(table, "resnet34", k=None)`` — the full ranked DataFrame of T=5, B=5 (7,556 rows, one
   :class:`Layout` per row) — and the part that used to dominate it: building the layouts one by one with
   ``Layout.from_branch_points`` (what ``recommend`` did before) vs all at once with ``Layout.from_branch_matrix``
   (what it does now), both timed in this run (the lists are checked equal).

Run:  .venv/bin/python benchmarks/bench_treemtl.py [--quick] [--repeats 5] [--scaling [--only-scaling] [--limit 10]
      [--tasks 9,10,...]] [--only-frame] [--case T [--budget N]]
"""
from __future__ import annotations

import argparse
import copy
import itertools
import statistics
import time

import numpy as np

from mtlkit.treemtl import (
    Layout, PairScores, TwoTaskTable, branch_point_matrix, count_layouts, published_table,
    anytime_top_k, fine_resnet34_macs, ranking_order, recommend, search_top_k, synthetic_table, task_weights,
)
from mtlkit.treemtl import enumerate as enum_module


# ----------------------------------------------------------------------------------------- naive baseline
class NaiveLayout:
    """The authors' data structure as the spec describes it: B lists of Python sets."""

    def __init__(self, T, B, state):
        self.T, self.B, self.state = T, B, state
        self.num_cut = 0
        self.lowest_avail_cut = 0
        self.metric_list = None
        self.score = None

    def __eq__(self, other):
        for b in range(self.B):
            if any(s not in other.state[b] for s in self.state[b]):
                return False
            if any(s not in self.state[b] for s in other.state[b]):
                return False
        return True


def naive_divide_set(S):
    for pattern in itertools.product([True, False], repeat=len(S)):
        if pattern[0] is False and sum(pattern) != 0:
            l1 = {x for bit, x in zip(pattern, S) if bit}
            yield l1, S - l1


def naive_apply_cut(L, i, S, l1, l2):
    new = copy.deepcopy(L)
    for j in range(i, L.B):
        new.state[j].remove(S)
        new.state[j] += [l1, l2]
    new.num_cut += 1
    new.lowest_avail_cut = i
    return new


def naive_enumerate(T, B):
    L0 = NaiveLayout(T, B, [[set(range(T))] for _ in range(B)])
    out = [L0]

    def visit(L):
        if L.num_cut >= T - 1:
            return
        for i in range(L.lowest_avail_cut, B):
            for S in L.state[i]:
                if len(S) == 1:
                    continue
                for l1, l2 in naive_divide_set(S):
                    new = naive_apply_cut(L, i, S, l1, l2)
                    if new not in out:          # linear scan: O(N) comparisons per candidate
                        out.append(new)
                        visit(new)

    visit(L0)
    return out


def naive_score(layouts, table, weights):
    T, B = table.T, table.B
    for L in layouts:
        metric = []
        for t1 in range(T):
            vals = []
            for t2 in range(T):
                if t2 == t1:
                    continue
                branch = B
                for i in range(B):
                    if not any(t1 in s and t2 in s for s in L.state[i]):
                        branch = i
                        break
                vals.append(float(table.values[t1, t2, branch]))
            metric.append(statistics.mean(vals))
        L.metric_list = metric
        L.score = float(np.dot(metric, weights))
    return sorted(range(len(layouts)), key=lambda i: layouts[i].score, reverse=True)


# ----------------------------------------------------------------------------------------- ours
def ours_fast(table, scores):
    bp = branch_point_matrix(table.T, table.B, order="fast")
    est = table.estimate_matrix(bp)
    score = est @ scores.weights
    order = ranking_order(scores.ranking_keys(bp), bp)
    return bp, score, order


def ours_paper(table, scores):
    enum_module._paper_order.cache_clear()
    bp = branch_point_matrix(table.T, table.B, order="paper")
    score = table.estimate_matrix(bp) @ scores.weights
    return bp, score, ranking_order(scores.ranking_keys(bp), bp)


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the naive baseline (about a minute)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scaling", action="store_true", help="also time the searches for T = 9..40 tasks")
    parser.add_argument("--only-scaling", action="store_true", help="run only case 3 (implies --scaling)")
    parser.add_argument("--limit", type=float, default=10.0, help="time limit of the anytime search (s)")
    parser.add_argument("--tasks", default="9,10,11,12,13,14,15,16,18,20,25,30,35,40",
                        help="numbers of tasks of case 3 (<= 16: exact search, above: anytime)")
    parser.add_argument("--only-frame", action="store_true", help="run only case 4 (the full ranked DataFrame)")
    parser.add_argument("--case", type=int, metavar="T", help="only the exact top-5 search on the T-task table")
    parser.add_argument("--budget", type=float, help="budget of --case in backbones (default none)")
    args = parser.parse_args()
    if args.case is not None:
        bench_case(args.case, args.budget)
        return
    if args.only_scaling:
        bench_scaling([int(x) for x in args.tasks.split(",")], args.limit, args.repeats)
        return

    table = published_table("taskonomy", "resnet34")
    if args.only_frame:
        bench_frame(table, args.repeats)
        return
    scores = PairScores.from_table(table)
    n = count_layouts(table.T, table.B)
    print(f"1. full enumeration + scoring + ranking, T={table.T}, B={table.B} ({n:,} layouts), Taskonomy/ResNet-34")
    t_fast, (_, _, order_fast) = timed(lambda: ours_fast(table, scores), args.repeats)
    print(f"   ours (fast enumerator)      {t_fast * 1e3:9.1f} ms   (median of {args.repeats})")
    t_paper, (bp_paper, _, order_paper) = timed(lambda: ours_paper(table, scores), args.repeats)
    print(f"   ours (paper order, hashed)  {t_paper * 1e3:9.1f} ms   (median of {args.repeats})")
    top = order_paper[:5].tolist()
    print(f"   top-5 paper indices: {top}")
    if not args.quick:
        t0 = time.perf_counter()
        layouts = naive_enumerate(table.T, table.B)
        t_enum = time.perf_counter() - t0
        naive_order = naive_score(layouts, table, task_weights(table))
        t_naive = time.perf_counter() - t0
        print(f"   baseline (authors' list-scan enumerator + per-layout scoring)  {t_naive:7.1f} s "
              f"(enumeration {t_enum:.1f} s), 1 run")
        same = [tuple(sorted(map(sorted, L.state[b])) for b in range(table.B)) for L in layouts]
        ours_states = [tuple(sorted(map(sorted, part)) for part in _partitions(row, table.T, table.B))
                       for row in bp_paper]
        print(f"   baseline order == ours (paper order): {same == ours_states}; "
              f"rankings equal: {naive_order == order_paper.tolist()}")
        print(f"   speed-up: {t_naive / t_fast:,.0f}x (fast), {t_naive / t_paper:,.0f}x (paper order)")

    print("\n2. exact top-5, T=8, B=17 (about {:.2e} layouts), random tables, ResNet-34 fine-block MACs"
          .format(count_layouts(8, 17)))
    f = fine_resnet34_macs()
    for seed in range(3):
        rng = np.random.default_rng(seed)
        v = rng.normal(size=(8, 8, 18)) * 3 + rng.normal(size=(8, 8, 1)) * np.linspace(0, 4, 18)
        v[:, :, 0] = 0
        ps = PairScores.from_table(TwoTaskTable(v))
        for budget in (None, 4, 3, 2):
            t0 = time.perf_counter()
            bp, stats = search_top_k(ps, f, None if budget is None else budget * f.sum() * (1 + 1e-9), 5)
            dt = time.perf_counter() - t0
            print(f"   table {seed}, budget {str(budget):>4} backbones: {dt:6.2f} s  "
                  f"(expanded {stats.expanded:,} nodes, {stats.lambdas} multipliers, best score "
                  f"{float(ps.ranking_keys(bp[:1])[0]) / 2 ** ps.shift:.4f})")
    if args.scaling:
        bench_scaling([int(x) for x in args.tasks.split(",")], args.limit, args.repeats)
    bench_frame(table, args.repeats)


def _many_task_scores(T: int, kind: str = "random") -> PairScores:
    return PairScores.from_table(synthetic_table(T, 17, kind, seed=T))


def bench_case(T: int, budget: float | None) -> None:
    """One exact top-5 search (the table of case 3), for timing whole commands."""
    f = fine_resnet34_macs()
    scores = _many_task_scores(T)
    t0 = time.perf_counter()
    _, stats = search_top_k(scores, f, None if budget is None else budget * f.sum() * (1 + 1e-9), 5)
    print(f"T={T} budget={budget}: {time.perf_counter() - t0:.2f} s in the search, {stats.expanded:,} nodes, "
          f"{stats.lambdas} multipliers", flush=True)


def bench_scaling(tasks: list[int], limit: float, repeats: int) -> None:
    """Case 3: exact search up to 16 tasks (median of ``min(repeats, 3)`` runs), anytime search beyond (one run each,
    line by line)."""
    f = fine_resnet34_macs()
    search_top_k(_many_task_scores(11), f, 2 * f.sum(), 1)     # start numba's kernel (used from 11 tasks on)
    print("\n3. many tasks, B=17 (ResNet-34 fine blocks), top-5, random tables (synthetic_table(T, 17, seed=T))",
          flush=True)
    for T in [t for t in tasks if t <= 16]:
        scores = _many_task_scores(T)
        cells = []
        for budget in (None, 4, 3, 2):
            run = lambda: search_top_k(scores, f, None if budget is None else budget * f.sum() * (1 + 1e-9), 5)  # noqa: E731,B023
            seconds, (_, stats) = timed(run, min(repeats, 3))
            cells.append(f"{str(budget):>4}: {seconds:6.2f} s {stats.expanded:5,} nodes {stats.lambdas} mult.")
        print(f"   exact T={T:2d} ({count_layouts(T, 17):.1e} layouts) | " + " | ".join(cells), flush=True)
    for T in [t for t in tasks if t > 16]:
        for kind in ("random", "groups"):
            r = anytime_top_k(_many_task_scores(T, kind), f, 3 * f.sum() * (1 + 1e-9), 5, time_limit=limit)
            print(f"   anytime T={T:2d} {kind:6s} budget 3, limit {limit:g} s: {r.seconds:5.1f} s, {r.nodes:10,} "
                  f"moves, best {r.best:8.4f}, upper bound {r.upper_bound:8.4f}, gap {r.gap:7.4f} = "
                  f"{r.gap_pct:6.2f} % of the score range {r.score_range:.4f} ({r.method})", flush=True)


def bench_frame(table, repeats: int) -> None:
    """Case 4: the full ranked DataFrame, and building its layout column one by one vs all at once."""
    n = count_layouts(table.T, table.B)
    print(f"\n4. recommend(table, 'resnet34', k=None): the full ranked frame, T={table.T}, B={table.B} ({n:,} rows)")
    recommend(table, "resnet34", k=None)                       # warm the cached paper order
    t_frame, df = timed(lambda: recommend(table, "resnet34", k=None), repeats)
    print(f"   {'recommend(k=None)':47s} {t_frame * 1e3:9.1f} ms   (median of {repeats})")
    bp = branch_point_matrix(table.T, table.B)
    t_one, one = timed(lambda: [Layout.from_branch_points(table.T, table.B, row.tolist()) for row in bp], repeats)
    t_many, many = timed(lambda: Layout.from_branch_matrix(table.T, table.B, bp), repeats)
    assert one == many and [L.branch_points for L in one] == [L.branch_points for L in many]
    print(f"   {'layouts one by one (Layout.from_branch_points)':47s} {t_one * 1e3:9.1f} ms   (median of {repeats})")
    print(f"   {'layouts at once (Layout.from_branch_matrix)':47s} {t_many * 1e3:9.1f} ms   (median of {repeats}); "
          f"equal lists; ratio {t_one / t_many:.0f}x")
    print(f"   top of the frame: {df.paper_index.iloc[:5].tolist()}")


def _partitions(row, T, B):
    """Block partitions of a branch-point row (for comparing orders with the baseline)."""
    from mtlkit.treemtl import Layout

    L = Layout.from_branch_points(T, B, [int(x) for x in row])
    return [[set(g) for g in L.groups(c)] for c in range(B)]


if __name__ == "__main__":
    main()
