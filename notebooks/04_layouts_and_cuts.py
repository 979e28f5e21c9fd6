# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: -all
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 04 · Layouts, the layout cut, and the size of the TreeMTL design space
#
# **What you will learn.** How TreeMTL (Zhang, Liu & Guan, AutoML-Conf 2022, §3.2) writes down every
# *tree-structured* multi-task network as a **layout** (Definition 3.1); how the **layout cut** (Definition 3.2) turns
# one layout into another; how the paper's recursive, cut-based enumerator walks the design space step by step, and
# why it finds every layout exactly once (Theorem 3.1); how fast the number of layouts grows with the number of tasks
# $T$ and of branching points $B$ (a recurrence, closed forms, a plot); and how mtlkit's second, *fast* enumerator
# generates the same set without any cut.
#
# Everything here is exact combinatorics in `mtlkit.treemtl` (numpy only, no training). `scale` only changes the
# sizes of the brute-force check and of the timing comparison.
#
# *docs/treemtl.md §n* below is a section of [`docs/treemtl.md`](../docs/treemtl.md), this project's account of the
# authors' code and data; the facts
# used here are summarised, with their tests, in `mtlkit/treemtl/README.md`.

# %% tags=["parameters"]
scale = "cpu"  # "smoke" (tests, seconds) | "cpu" (a few seconds more) | "paper" (same as cpu: nothing to train here)
seed = 0
device = "cpu"
out_dir = "../executed/04_layouts_and_cuts"
trace_B = 3  # blocks of the step-by-step enumeration of three tasks: 2 or 3 keeps the drawings small

# %%
import itertools

import matplotlib.pyplot as plt
import pandas as pd

import mtlkit
from mtlkit.config import check_params
from mtlkit.errors import ConfigError
from mtlkit.treemtl import (Layout, branch_point_matrix, count_layouts, enumerate_layouts, iter_cut_steps,
                            paper_index, paper_layout, pairs)
from mtlkit.viz import layouts, savefig, use_style

# %%
out = check_params(scale, seed, device, out_dir)
use_style()
SIZES = {  # brute-force check of Theorem 3.1 (T, B) grid; (T, B) sizes timed; repeats of each timing
    "smoke": dict(brute=[(3, 1), (3, 2), (3, 3), (4, 2)], timing=[(4, 6), (5, 3), (5, 4)], repeats=1),
    "cpu": dict(brute=[(3, B) for B in range(1, 6)] + [(4, B) for B in range(1, 6)],
                timing=[(4, 6), (4, 8), (5, 3), (5, 4), (5, 5), (5, 6), (5, 7), (6, 3), (6, 4), (5, 9), (6, 5)],
                repeats=3),
}
SIZES["paper"] = SIZES["cpu"]
SIZES = SIZES[scale]
if trace_B not in (2, 3, 4, 5):
    raise ConfigError(f"trace_B must be 2..5 (the drawings get unreadable beyond), got {trace_B!r}")
print(f"mtlkit {mtlkit.__version__}, scale={scale}, sizes={SIZES}")

# %% [markdown]
# ## 1. A layout (Definition 3.1)
#
# Cut a backbone into $B$ sequential blocks (the *branching points*; the branching-point detector of §3.3
# finds them in any CNN; the paper uses $B=5$ coarse blocks). A multi-task network built on it decides, block by
# block, which tasks share one copy of the block. Definition 3.1 writes this as a **layout**
#
# $$\mathbf L = [L_1, \dots, L_B], \qquad L_i = [L_i^1, L_i^2, \dots],\quad
# \textstyle\bigcup_p L_i^p = \mathcal T,\quad L_i^p \cap L_i^q = \emptyset\ (p \ne q),$$
#
# i.e. one **partition** of the task set $\mathcal T$ per block: each task set $L_i^p$ is one copy of block $i$,
# shared by the tasks in it. The initial layout $\mathbf L_0 = [[\mathcal T], \dots, [\mathcal T]]$ shares everything.
#
# Definition 3.1 does not say it, but a network is a **tree** only if tasks that have separated never meet again:
# each block's partition must *refine* the previous one. mtlkit's `Layout` checks both conditions and stores
# the partitions canonically (groups sorted), so one tree has one representation. Blocks are numbered from 0 (next
# to the input) in code; the notation `"[012]x2 [01,2] [0,1,2]x2"` lists one `[...]` per block, groups separated by
# commas, `xN` repeating a block.
#
# The example below is the paper's Figure 2(a) (tasks numbered from 0): tasks 0 and 1 share the first three blocks,
# task 2 leaves them after the second block.

# %%
fig2 = Layout([[{0, 1, 2}], [{0, 1, 2}], [{0, 1}, {2}], [{0}, {1}, {2}], [{0}, {1}, {2}]])
print("layout          :", fig2)
print("copies per block:", fig2.num_groups, "  (|L_c|, the cost driver of notebook 06)")
print("groups of block 2:", fig2.groups(2))
try:                                                    # not a tree: 0 and 1 separate, then meet again
    Layout([[{0, 1, 2}], [{0}, {1, 2}], [{0, 1}, {2}]])
except ConfigError as err:
    print("rejected        :", err)

# %% [markdown]
# **Branching points.** A tree is also described by one number per task pair: the *branching point*
# $b(i,j)$ = the number of leading blocks tasks $i$ and $j$ share ($B$ = never separated, $0$ = separate from the input
# on). These numbers form an *ultrametric*, $b(i,k) \ge \min(b(i,j), b(j,k))$ (if $i$ is with $j$ and $j$ is with $k$
# at some block, so is $i$ with $k$), and they determine the layout. This is the representation both enumerators and
# the estimator (notebook 05) work with.

# %%
print("pairs          :", pairs(3))
print("branch points  :", fig2.branch_points, "  e.g. b(0,1) =", fig2.branch_point(0, 1))
print("round trip     :", Layout.from_branch_points(3, 5, fig2.branch_points) == fig2)
NYU_TASKS = ["segment_semantic", "normal", "depth_zbuffer"]    # the NYUv2 tasks of the paper, in its order
G = fig2.to_networkx(NYU_TASKS)
print(f"as a networkx tree: {G.number_of_nodes()} nodes = input + {sum(fig2.num_groups)} block copies + 3 heads")

fig, axes = plt.subplots(3, 1, figsize=(11, 10))
draw = dict(task_names=NYU_TASKS, label_width=16)     # one task name per line: long names do not overlap
Layout.all_shared(3, 5).draw(ax=axes[0], title="L0: everything shared  [012]x5", **draw)
fig2.draw(ax=axes[1], title=f"paper Fig. 2(a): {fig2}", **draw)
Layout.independent(3, 5).draw(ax=axes[2], title="independent models  [0,1,2]x5", **draw)
fig.suptitle("Three layouts for T = 3 tasks, B = 5 blocks\n(node = one copy of block b_c, shared by the tasks named in it; leaves = task heads)")
fig.tight_layout()
savefig(fig, "04_layouts")
plt.show()

# %% [markdown]
# ## 2. The layout cut (Definition 3.2)
#
# A *layout cut* "selects an available task set and divides it into two task sets". In the authors' code — and in
# `Layout.cut(block, part)` — the cut splits the group containing `part` into `part` and the rest **at that block
# and at every deeper block** (a deeper group that lies inside the cut group is intersected with both halves). The
# paper does not state this propagation (docs/treemtl.md §10.4), but it is what keeps the result a tree: tasks that separate at
# block $i$ cannot share block $i+1$.
#
# Two cuts turn $\mathbf L_0$ into the Figure 2(a) layout:

# %%
steps = [Layout.all_shared(3, 5)]
steps.append(steps[-1].cut(2, {2}))            # task 2 leaves {0,1,2} at block 2 (and deeper)
steps.append(steps[-1].cut(3, {1}))            # then 1 leaves {0,1} at block 3 (and deeper)
print(" -> ".join(map(str, steps)), "| equals Fig. 2(a):", steps[-1] == fig2)
print("a cut at a shallower block also splits the deeper groups:", steps[1], "-> cut(1, {0}) ->", steps[1].cut(1, {0}))

fig, axes = plt.subplots(3, 1, figsize=(11, 9.5))
titles = ["L0", "cut(block 2, part {2})", "cut(block 3, part {1})"]
for ax, L, title in zip(axes, steps, titles):
    L.draw(ax=ax, title=f"{title}:  {L}")
fig.suptitle("Two layout cuts; each applies to the cut block and every deeper block")
fig.tight_layout()
savefig(fig, "04_cuts")
plt.show()

# %% [markdown]
# ## 3. The paper's recursive enumerator, step by step
#
# The paper's enumerator applies cuts recursively to $\mathbf L_0$ "until no new layout is generated". The code
# (docs/treemtl.md §2) fixes the details that decide the *order*, and so the paper's layout numbers `#k`:
#
# * blocks are tried shallow to deep, but only from the position of the last cut on (`lowest_avail_cut`);
# * in a block, each task set with two or more tasks (in the block's list order, see the end of this section) is
#   split in every way into $(l_1, l_2)$, in the order of
#   `itertools.product([True, False], ...)` over its sorted members, $l_2$ always holding the smallest task;
# * at most $T-1$ cuts (then every task is alone at the last block);
# * a new layout is appended to the list (its index is its position) and explored at once (depth-first, pre-order);
#   a layout already in the list is a **duplicate** and is not explored again.
#
# `enumerate_layouts(T, B)` replays exactly that (with a hash set instead of the code's linear list scan). To *see*
# the steps, `iter_cut_steps(T, B)` runs the same DFS written out with `Layout` objects and the code's list states,
# and yields one record per cut tried: the parent and its index, the block, the task set cut, the split
# $(l_1, l_2)$, the child, whether it is new or a duplicate, and its paper index. Its new children, in order, are
# `enumerate_layouts(T, B)[1:]` for every $T$ and $B$ (tested in `tests/test_enumerate.py`).

# %%
cut_steps = list(iter_cut_steps(3, trace_B))                  # one CutStep per cut tried
log = pd.DataFrame([s.row() for s in cut_steps], index=pd.RangeIndex(1, len(cut_steps) + 1, name="step"))
found = [Layout.all_shared(3, trace_B)] + [s.child for s in cut_steps if s.new]
print(f"T=3, B={trace_B}: {len(log)} cuts tried, {log.new.sum()} new layouts + L0 = {len(found)}, "
      f"{(~log.new).sum()} duplicates (not explored again)")
print("trace == enumerate_layouts(3, B) in the paper's order:", found == enumerate_layouts(3, trace_B))
log.head(14)

# %% [markdown]
# Read the table as a depth-first walk: step 1 cuts $\{0,1,2\}$ at block 0 into $\{1,2\}$ and $\{0\}$ (layout #1);
# the recursion then cuts $\{1,2\}$ at block 0, 1, ... (#2, #3, ...) before it returns and tries the second split of
# $\{0,1,2\}$ at block 0. There the first child, `[0,1,2]x3`, is the layout #2 found before: a **duplicate** — two
# cut sequences ($\{0,1,2\} \to \{1,2\},\{0\} \to \{1\},\{2\},\{0\}$ and $\{0,1,2\}\to\{1\},\{0,2\}\to\dots$) give
# the same tree. The drawing shows the first steps, with the index each result gets (or the earlier index a
# duplicate repeats).

# %%
n_show = 8
fig = layouts.draw_dfs_steps(log, found, f"The cut-based DFS for T = 3, B = {trace_B}: the first {n_show} cuts "
                             "(grey = duplicate, pruned)", n_show=n_show)
savefig(fig, "04_dfs_first_steps")
plt.show()

# %% [markdown]
# The whole walk as an indented tree (each line: the cut, and the layout it produced):

# %%
for _, row in log.iterrows():
    mark = f"#{row['index']:<3d}" if row["new"] else f"(dup #{row['index']})"
    print("    " * (row["depth"] - 1) + f"cut b{row['block']} {row['l1']}|{row['l2']}  -> {mark} {row['result']}")

# %% [markdown]
# For $T \ge 4$ one detail becomes visible: a block can hold two splittable task sets, and the code visits them in
# its **list order**, which records how the block was built (the cut set is removed, $l_1$ and $l_2$ are appended
# at the end), not in sorted order. `CutStep.block_order` shows that list. The first place where it matters for
# $T = 4$, $B = 3$:

# %%
first = next(s for s in iter_cut_steps(4, 3)
             if [g for g in s.block_order if len(g) > 1] != [g for g in sorted(s.block_order) if len(g) > 1])
print(f"step {first.step}: expanding #{first.parent_index} = {first.parent}; block {first.block} in the code's list "
      f"order: {[set(g) for g in first.block_order]} (sorted: {[set(g) for g in sorted(first.block_order)]})")
print(f"  the code cuts {set(first.task_set)} first -> #{first.index} = {first.child}")
for T, B in [(3, 5), (4, 3), (4, 5)]:
    st = list(iter_cut_steps(T, B))
    f = [Layout.all_shared(T, B)] + [s.child for s in st if s.new]
    print(f"T={T}, B={B}: {len(f)} layouts ({sum(not s.new for s in st)} duplicate cuts of {len(st)}); "
          f"same order as enumerate_layouts: {f == enumerate_layouts(T, B)}")
print("paper #45 for T=3, B=5:", paper_layout(3, 5, 45), "  paper_index(Fig. 2(a)) =", paper_index(fig2))

# %% [markdown]
# A trace that visits the sets in sorted order would cut $\{0,3\}$ first and give the layouts found from here on
# other numbers (the same set, another order), which is why paper indices must come from `enumerate_layouts` /
# `paper_index` (or this trace), never from a re-implementation that ignores the list order.
#
# ## 4. Why the enumeration is complete (Theorem 3.1)
#
# Theorem 3.1 claims the cut-based enumeration explores the design space completely. With the refinement property
# the design space is easy to name: a layout is a **multichain** $P_1 \ge P_2 \ge \dots \ge P_B$ in the lattice
# $\Pi_T$ of set partitions of the $T$ tasks ordered by refinement (equal neighbours allowed). A proof sketch:
#
# 1. *Every multichain is reachable with cuts at non-decreasing positions.* Split $P_1$'s groups off $\mathbf L_0$
#    at block 0 (each cut splits one group in two; it propagates, so all blocks equal $P_1$); then refine block 1 to
#    $P_2$ with cuts at block 1, and so on. That uses $|P_B| - 1 \le T-1$ cuts, each at a position $\ge$ the last.
# 2. *The DFS tries every such sequence*, except below duplicates. Pruning a duplicate loses nothing: the state the
#    DFS keeps besides the layout — the last cut position and the number of cuts — is a function of the layout
#    (the last cut position is where the final run of identical blocks starts, and the number of cuts is
#    $|P_B| - 1$), so a duplicate would explore exactly the subtree already explored.
# 3. Every cut result is a multichain (the cut propagates), so nothing outside the space appears.
#
# A numerical check that needs neither enumerator: try **every** vector of pairwise branching points in
# $\{0,\dots,B\}^{T(T-1)/2}$; `Layout.from_branch_points` accepts exactly the ultrametrics, i.e. the trees.

# %%
rows = []
for T, B in SIZES["brute"]:
    accepted = set()
    for vec in itertools.product(range(B + 1), repeat=T * (T - 1) // 2):
        try:
            accepted.add(Layout.from_branch_points(T, B, vec))
        except ConfigError:
            pass                                   # not an ultrametric: no tree has these branching points
    paper, fast = enumerate_layouts(T, B, order="paper"), enumerate_layouts(T, B, order="fast")
    rows.append(dict(T=T, B=B, candidates=(B + 1) ** (T * (T - 1) // 2), trees=len(accepted),
                     count_layouts=count_layouts(T, B), paper_enumerator=len(paper), paper_unique=len(set(paper)),
                     fast_enumerator=len(fast), same_sets=accepted == set(paper) == set(fast)))
pd.DataFrame(rows)

# %% [markdown]
# ## 5. How big is the design space?
#
# `count_layouts(T, B)` counts without enumerating. Let $N(n, r)$ be the number of ways to finish a group of $n$
# tasks that are still together with $r$ blocks to go. At the next block the group is partitioned; call $k$ the size
# of the part that holds its first task (choose its $k-1$ other members); that part continues as one group with
# $r-1$ blocks to go, and the other $n-k$ tasks are partitioned *at the same block* in the same way:
#
# $$R(n, r) = \sum_{k=1}^{n} \binom{n-1}{k-1}\, N(k, r-1)\, R(n-k, r), \qquad R(0, r) = 1,$$
# $$N(n, 0) = 1, \qquad N(n, r) = R(n, r)\ \ (r \ge 1), \qquad \text{count\_layouts}(T, B) = N(T, B).$$
#
# ($k = n$ is "the group stays whole at this block".) With memoisation this is $O(T^2 B)$ integer operations: T=8,
# B=17 takes microseconds. Closed forms we can check live:
#
# * $T = 2$: $B + 1$ (the pair separates at one of the blocks $0..B-1$, or never);
# * $T = 3$: $\tfrac{(B+1)(3B+2)}{2}$; $\ T = 4$: see *Try it*;
# * $B = 1$: the **Bell numbers** (the partitions of $T$ tasks), here from the Bell triangle;
# * for fixed $T$, a **polynomial in $B$ of degree $T-1$**: the count is the zeta polynomial $Z(\Pi_T, B+1)$ of the
#   partition lattice, whose longest chain has $T-1$ steps. Its $(T-1)$-th difference in $B$ is constant and equals
#   the number of maximal chains of $\Pi_T$, $T!\,(T-1)!/2^{T-1}$, so $N(T,B) \approx \tfrac{T!}{2^{T-1}} B^{T-1}$;
# * the exponential generating function: with $f(x) = e^x - 1$,
#   $\sum_{T \ge 1} N(T, B)\, \tfrac{x^T}{T!} = f^{\circ (B+1)}(x)$ ($f$ composed $B+1$ times), because a layout of
#   a group over $r$ blocks is a set partition (exponential formula: $\exp(\cdot) - 1$) whose parts are layouts over
#   $r-1$ blocks, and over 0 blocks every non-empty set has one ($e^x - 1$). We expand it with exact fractions
#   (`mtlkit.viz.layouts.count_checks` computes every closed form without the recurrence of `count_layouts`).

# %%
Bmax, Tmax = 17, 8
checks = layouts.count_checks(Bmax, Tmax)  # closed forms computed without count_layouts' recurrence
for name, ok in checks.items():
    print(f"{'✓' if ok else '✗ FAILED'}  {name}")
assert all(checks.values())

# %% [markdown]
# The paper (§3.1) gives the number of layouts as $O\big([(2^{T-1}-1)\,B]^{T-1}\big)$. As an order of growth that
# is an upper bound, and a loose one: the exact count grows like $B^{T-1}$ with the constant $T!/2^{T-1}$ instead of
# $(2^{T-1}-1)^{T-1}$. The plot shows both on a log scale (the dashed lines are the bound without a constant).

# %%
fig = layouts.plot_design_space_size(Bmax, Tmax)
savefig(fig, "04_design_space_size")
plt.show()
pd.DataFrame({f"B={B}": [count_layouts(T, B) for T in range(2, 9)] for B in (1, 2, 3, 4, 5, 9, 17)},
             index=pd.Index(range(2, 9), name="T"))

# %% [markdown]
# The paper's setting, T = 5 tasks and B = 5 blocks, has **7,556** layouts; T = 8 tasks on B = 17 fine blocks has
# about $1.6\cdot10^{11}$ — too many to enumerate, which is why notebook 06 ranks such spaces with an exact search.
#
# ## 6. The fast enumerator
#
# The cut-based DFS pays for its order: it tries many more cuts than it finds layouts and needs a lookup for every
# duplicate. `branch_point_matrix(T, B, order="fast")` (and `enumerate_layouts(..., order="fast")`) generates every
# layout **once, directly as a row of pairwise branching points**, following the recurrence of section 5: a group
# $S$ still together at block $d$ either stays whole, or the part holding its smallest task continues to block $d+1$
# while the rest is partitioned at block $d$, and every pair across the two sides gets branching point $d$. The rows
# of each (group, block) sub-problem are computed once (memoised) and combined with numpy Cartesian products — no
# cuts, no deduplication. Same set, different order; `paper_index` maps any layout back to the paper's `#k`.

# %% [markdown]
# **Timing (this run, this machine).** Both enumerators return the branch-point matrix; the paper order is computed
# once per (T, B) and cached by the library (that makes `paper_index` cheap afterwards), so each (T, B) below is
# timed on its first call: none of these sizes is enumerated earlier in this notebook (the T = 5, B = 5 demo comes
# right after). The fast one is timed as the best of
# a few repeats. For reference, the README's benchmark of a naive re-implementation of the authors' list-scan
# enumerator takes tens of seconds for T = 5, B = 5 (O(N²) comparisons) — not re-measured here.

# %%
timing = layouts.time_enumerators(SIZES["timing"], SIZES["repeats"])  # paper order: first call; fast: best of
fig = layouts.plot_enumerator_timing(timing, f"Enumerating the design space (scale={scale}, 2-core CPU shared)")
savefig(fig, "04_enumerator_timing")
plt.show()
timing.round(2)

# %%
fast = enumerate_layouts(5, 5, order="fast")
paper = enumerate_layouts(5, 5, order="paper")
print(f"T=5, B=5: {len(fast):,} (fast) and {len(paper):,} (paper order); same set: {set(fast) == set(paper)}")
print("first layouts, fast order :", [str(L) for L in fast[:4]])
print("first layouts, paper order:", [str(L) for L in paper[:4]])
print("paper indices of the first fast ones:", [paper_index(L) for L in fast[:4]])
bp = branch_point_matrix(5, 5)
print("branch-point matrix:", bp.shape, bp.dtype, "columns = pairs", pairs(5)[:3], "...")

# %% [markdown]
# Both are fast enough for every size the paper uses; the difference matters when one enumerates many (T, B)
# combinations or spaces of $10^5$–$10^6$ layouts. Beyond that, nothing should be enumerated at all: notebook 06
# finds the exact top-k of $10^{11}$ layouts with a search.
#
# ## Try it
#
# 1. **T = 4 in closed form.** Find the cubic in $B$ that `count_layouts(4, B)` follows (fit it on four values,
#    check it on thirty). Does its leading coefficient agree with $T!/2^{T-1}$?
# 2. **Cut your way to a paper layout.** Starting from `Layout.all_shared(5, 5)`, reach the paper's #958
#    (`paper_layout(5, 5, 958)`, the Taskonomy 4-model pick of Table 2) with three cuts. Is there a sequence whose
#    cut positions decrease? Does it still give #958?
# 3. **Count the duplicates.** How many cuts does the DFS try for T = 3, B = 5, and how many are duplicates? How does
#    the share of wasted cuts grow for T = 4 (use `iter_cut_steps`)?
# 4. **Where enumeration stops.** For B = 5 and for B = 17, what is the largest T with at most $10^6$ layouts (the
#    limit of `recommend(method="auto")`)?
#
# Answers: `notebooks/solutions/04_layouts_and_cuts.md`.
