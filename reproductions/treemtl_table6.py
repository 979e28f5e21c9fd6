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
# # TreeMTL Table 6 · Comparison with branched MTL methods on Taskonomy (MobileNetV2)
#
# **What this reproduces.** Table 6 of TreeMTL (Zhang, Liu & Guan, AutoML-Conf 2022, §4.4): the recommender's top-1
# layout for the five Taskonomy tasks on MobileNetV2 ($B = 5$) against What-to-Share, BMTAS and Task-Grouping, by
# FLOPs, #Params and $\Delta_t$.
#
# Two problems of the printed table, both listed in `paper_values/known_errors.csv` and checked by
# `tests/test_paper_values.py`:
#
# * its "Ind. Models" row is Table 4's Deeplab-ResNet34 row, digit for digit, and none of the table's $\Delta$ columns
#   can be recomputed from it; they are all consistent with one *unprinted* MobileNetV2 reference, which the test
#   recovers from the printed rows;
# * no layout of the design space has the printed cost of the "Top-1" row (−53.99 % FLOPs, −44.86 % #Params) at the
#   paper's input, so the row cannot be identified. The recommender's top-1 on the released MobileNetV2 two-task table,
#   #3221, is also the layout with the closest cost. We report, not force (docs/treemtl.md §10.7).
#
# *The baselines* are paper values only. *The trained part* trains the recommender's top-1 against single-task
# models (last section).

# %% tags=["parameters"]
backbone = "mobilenet_v2"  # the paper's backbone (used by the trained part)
scale = "cpu"  # "smoke" (tests) | "cpu" (make run) | "paper" (GPU, real Taskonomy under data_root)
device = "cpu"
seed = 0
out_dir = "../executed/treemtl_table6"
seeds = None  # None: (seed,); or a list of training seeds, one row set each (e.g. [0, 1, 2, 3, 4])
data_root = None  # folder holding Taskonomy/ (required at paper scale)
executor = "sequential"  # where the independent runs go: "sequential" | "local" | "ray" | "slurm"
iterations = None  # training iterations of every model (None: the scale's default)
workers = 0  # DataLoader worker processes (4 to 8 on a GPU machine)
cpu_backbone = "tiny_resnet"  # the stand-in trained at smoke and cpu scale (five residual blocks)
backbone_weights = None  # optional local weights file of the paper-scale backbone (nothing is downloaded)

# %%
import mtlkit.reproduce_treemtl as steps

rep = steps.begin("treemtl_table6", scale=scale, seed=seed, seeds=seeds, device=device, out_dir=out_dir,
                  backbone=backbone, data_root=data_root, cpu_backbone=cpu_backbone, iterations=iterations,
                  backbone_weights=backbone_weights, workers=workers, executor=executor)

# %% [markdown]
# ## 1. The paper's comparison (as printed) and its known errors

# %%
steps.paper_table(rep)

# %%
from mtlkit.paper import known_errors

known_errors(rep.table)[["method", "task", "metric", "kind", "printed", "recomputed"]]

# %% [markdown]
# ## 2. The Top-1 row and the exact ranking
#
# Costs: MobileNetV2's five coarse blocks at the paper's Taskonomy input, 224 × 224.

# %%
picks = steps.rank(rep)
picks[["method", "identified_by", "paper_flops_pct", "paper_params_pct", "closest_index", "top1_index",
       "top1_layout", "top1_score", "top1_flops_pct", "top1_params_pct"]].round(3)

# %%
rep.ranking.head(5)[["paper_index", "layout", "score", "macs_pct", "params_pct"]].round(3)

# %%
fig = steps.ranking_figure(rep, title="TreeMTL Table 6: Taskonomy, MobileNetV2 — every layout's score vs its cost")

# %%
steps.record_ranking(rep)

# %% [markdown]
# ## 3. The trained part: the layouts after training, against single-task models
#
# Every layout of the table (and the recommender's own top-1 where it differs) is built as a tree-structured model
# (`mtlkit.treemtl.TreeModel`: one copy of block $c$ per task group of the layout, each task's head on the last
# block of its group) and trained with the five tasks' losses summed; the single-task models (the paper's
# "Ind. Models") are trained with the same settings, and $\Delta_t$ compares the two. The paper's Top-1 cannot be identified, so only the recommender's top-1 #3221 is trained.
#
# Each training seed of `seeds` trains every model again (one row set per seed; the report gives mean and 95 % CI),
# and each seed's rows come with the `Constant predictor` rows of its data (`mtlkit.constant`: the best constant
# fitted on the training split); the report flags a trained number that does not beat them. With
# `executor="local"` (or `"ray"`, `"slurm"`) the (seed, layout) runs train in parallel workers first.
#
# * `scale="paper"`: Taskonomy under `data_root`, MobileNetV2 cut into the paper's five blocks (its 32 detected blocks merged as the authors did), ASPP heads, 50,000 iterations at batch 16, Adam lr $10^{-4}$ times 0.3 every 10,000 (the authors' settings, docs/treemtl.md §3), mtlkit's paper-compatible evaluators.
# * `scale="cpu"` and `"smoke"`: a **stand-in** — SynthScenes images with the same tasks and metrics, `tiny_resnet`
#   with five blocks, light heads, a few hundred iterations from scratch. It proves the pipeline; its numbers are not
#   the paper's experiment, and the report never compares them with the paper's.

# %%
trained = steps.train_picks(rep)

# %% [markdown]
# $\Delta_t$ per task and overall (%), ours next to the paper's printed values. They are the same experiment only at
# `scale="paper"`; at the CPU scales the paper's column is there for orientation.

# %%
steps.deltas(trained)

# %% [markdown]
# ## Try it
#
# 1. Which layouts cost within 0.5 percentage points of the printed −53.99 % FLOPs? Do any of them also match the
#    printed #Params?
# 2. Recompute the What-to-Share row's $\Delta_t$ against the printed reference with `mtlkit.delta.delta_t`. How far
#    from the printed −1.9 % is the segmentation term?
