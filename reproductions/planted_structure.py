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
seed = 0
device = "cpu"
out_dir = "../executed/planted_structure"
seeds = None  # training seeds, a list (at least 5 at cpu scale); None: seed .. seed + 4 (smoke: seed, seed + 1)
executor = "sequential"  # where the independent runs (arm × seed) go: "sequential" | "local" | "ray" | "slurm"

# %%
import mtlkit.reproduce_treemtl as steps

rep = steps.begin_planted(scale=scale, seed=seed, seeds=seeds, device=device, out_dir=out_dir, executor=executor)

# %% [markdown]
# ## 1. Both arms, every seed
#
# Every model is cached (`mtlkit.cache`): a second run of this notebook reads the results back.

# %%
result, tree, auto = steps.planted_run(rep)

# %% [markdown]
# ## 2. Rates next to the random baselines
#
# `rate` is the share of seeds where the method found the planted grouping, `random_rate` the random baseline's,
# `p_vs_random` the one-sided exact binomial test of the rate against it. The last row is the mean expected
# co-sharing margin with its 95 % t-interval (`low`, `high`) and the Wilcoxon signed-rank p against 0.

# %%
summary = steps.planted_verdicts(result)

# %%
fig = steps.planted_figure(rep, summary)

# %% [markdown]
# ## 3. Results rows
#
# One call of `mtlkit.report.record` per seed (table `planted_structure`): the 0/1 outcome per seed, whose mean
# over seeds in the report is the rate, and the random baseline's rate next to it.

# %%
steps.record_planted(rep, result)
