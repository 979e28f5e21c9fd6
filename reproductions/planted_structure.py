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
# # The known-answer experiment: planted task structure
#
# **What this checks.** Neither paper can tell whether its method finds *real* task relations: on NYUv2 or
# Taskonomy nobody knows the right grouping. SynthScenes can plant one. Four planted tasks (notebook 01, section
# "Planted task structure") form two related pairs:
#
# | task | target (per pixel, in [0, 1]) |
# |---|---|
# | `planted_a` | (1.0 · distance + 0.5 · height) / 1.5 |
# | `planted_b` | (0.5 · distance + 1.0 · height) / 1.5 |
# | `planted_c` | (1.0 · lateral + 0.5 · texture) / 1.5 |
# | `planted_d` | (0.5 · lateral + 1.0 · texture) / 1.5 |
#
# a and b are built from the same two geometric factors, c and d from two others that are nearly uncorrelated with
# them. The right answer is: group a with b, and c with d.
#
# * **(a) TreeMTL, end to end.** Train the two-task grid of the four tasks (every pair at every branching point),
#   build the two-task table, recommend the top-1 layout within 2 backbones. Success for a seed: both planted pairs
#   share more leading blocks than any cross pair. The **random recommender** draws a layout uniformly among those
#   within the budget; its success rate is computed exactly over all of them.
# * **(b) AutoMTL.** Policy-train the four tasks (the paper's regulariser) and read the learned policy. Success for
#   a seed: the two planted pairs co-share (both pick the shared op) more nodes, on average, than the four cross
#   pairs. Shown for the search's τ = 1 sample and for the argmax policy, next to the rate of uniformly **random
#   policies**; plus the same margin under the learned distributions (0 in expectation for a uniform policy).
#
# Each rate is over the training seeds (same images); a one-sided exact binomial test says whether it exceeds the
# random rate. At `smoke` scale the run proves the code path only (2 seeds, a few iterations): its numbers mean
# nothing. `cpu` scale is the SynthScenes experiment itself (≥ 5 seeds).

# %% tags=["parameters"]
scale = "cpu"  # "smoke" (tests: 2 seeds, a few iterations) | "cpu" (make run) | "paper" (GPU-sized)
seed = 0  # first training seed; the seeds are seed .. seed + n_seeds - 1
n_seeds = 5  # training seeds (at least 5 at cpu scale; smoke uses 2)
device = "cpu"
out_dir = "../executed/planted_structure"

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd

import mtlkit
from mtlkit.config import check_params
from mtlkit.errors import ConfigError
from mtlkit.planted import KNOWN_ANSWER_TASKS, SIZES, TABLE, result_rows, run
from mtlkit.report import record
from mtlkit.viz import savefig, use_style

start = time.perf_counter()
out = check_params(scale, seed, device, out_dir)
if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
    raise ConfigError(f"n_seeds must be a positive int, got {n_seeds!r}")
if scale == "cpu" and n_seeds < 5:
    raise ConfigError(f"n_seeds must be >= 5 at cpu scale (rates over fewer seeds carry no signal), got {n_seeds}")
seeds = tuple(range(seed, seed + (min(n_seeds, 2) if scale == "smoke" else n_seeds)))
use_style()
pd.set_option("display.width", 160)
print(f"mtlkit {mtlkit.__version__}, scale={scale}, seeds={seeds}, device={device}")
print("sizes:", SIZES[scale])
for p in KNOWN_ANSWER_TASKS:
    print(f"  {p.name}: factors {p.factors}, weights {p.weights}")

# %% [markdown]
# ## 1. Both arms, every seed
#
# Every model is cached (`mtlkit.cache`): a second run of this notebook reads the results back.

# %%
result = run(scale, seeds, device=device)
tree = pd.DataFrame([{k: r[k] for k in ("seed", "layout", "grouped", "random_rate", "seconds")}
                     for r in result.treemtl])
auto = pd.DataFrame([dict(seed=r["seed"], sampled=r["sampled"][0], sampled_margin=r["sampled"][1],
                          argmax=r["argmax"][0], argmax_margin=r["argmax"][1], expected_margin=r["expected_margin"],
                          p_shared=r["p_shared"], mean_abs_logit=r["mean_abs_logit"], random_rate=r["random_rate"],
                          seconds=r["seconds"]) for r in result.automtl])
print("TreeMTL: top-1 layout within 2 backbones per seed (tasks 0..3 = a, b, c, d)")
print(tree.round(3).to_string(index=False))
print("\nAutoMTL: learned policies per seed")
print(auto.round(3).to_string(index=False))

# %% [markdown]
# ## 2. Rates next to the random baselines
#
# `rate` is the share of seeds where the method found the planted grouping, `random_rate` the random baseline's,
# `p_vs_random` the one-sided exact binomial test of the rate against it. The last row is the mean expected
# co-sharing margin with its 95 % t-interval (`low`, `high`) and the Wilcoxon signed-rank p against 0.

# %%
summary = result.summary()
print(summary.round(4).to_string(index=False))
for row in summary.itertuples():
    if row.method == "expected co-sharing margin":
        verdict = ("above 0" if row.p_vs_random < 0.05 and row.rate > 0 else
                   f"not distinguishable from 0 (n = {row.n})")
    else:
        verdict = ("above the random rate" if row.p_vs_random < 0.05 else
                   f"not distinguishable from random (n = {row.n})")
    print(f"{row.arm} / {row.method}: {verdict}")

# %%
fig, ax = plt.subplots(figsize=(6.4, 2.8))
rates = summary[summary["method"] != "expected co-sharing margin"]
labels = [f"{a}\n{m}" for a, m in zip(rates["arm"], rates["method"])]
y = range(len(rates))
ax.barh([i + 0.2 for i in y], rates["rate"], height=0.4, label="method")
ax.barh([i - 0.2 for i in y], rates["random_rate"], height=0.4, label="random baseline")
ax.set_yticks(list(y), labels, fontsize=7)
ax.set_xlim(0, 1)
ax.set_xlabel(f"share of seeds that recover the planted pairs (n = {len(seeds)})")
ax.legend(fontsize=7, loc="lower right")
ax.set_title(f"Known-answer experiment ({scale} scale, SynthScenes planted tasks)", fontsize=9)
savefig(fig, "planted_structure_rates")
plt.show()

# %% [markdown]
# ## 3. Results rows
#
# One call of `mtlkit.report.record` per seed (table `planted_structure`): the 0/1 outcome per seed, whose mean
# over seeds in the report is the rate, and the random baseline's rate next to it.

# %%
for s, rows in result_rows(result).items():
    record(TABLE, rows, scale=scale, seed=s, device=device, dataset="SynthScenes")
print(f"recorded {sum(len(r) for r in result_rows(result).values())} rows over {len(seeds)} seeds; "
      f"{time.perf_counter() - start:.0f} s")
