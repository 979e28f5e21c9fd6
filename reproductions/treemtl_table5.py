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
# # TreeMTL Table 5 · Comparison with branched MTL methods on NYUv2 (MobileNetV2)
#
# **What this reproduces.** Table 5 of TreeMTL (Zhang, Liu & Guan, AutoML-Conf 2022, §4.4): the recommender's top-1
# layout for NYUv2's three tasks on MobileNetV2 (its inverted residual blocks merged into $B = 5$ blocks of similar
# FLOPs, §4.1) against What-to-Share and BMTAS, by FLOPs, #Params and the relative performance
# $\Delta_t = \frac{1}{|\mathcal M_t|}\sum_j(-1)^{l_j}(M_{t,j}-M^{\mathrm{STL}}_{t,j})/M^{\mathrm{STL}}_{t,j}\times 100\,\%$.
#
# *The ranking part* (exact, every scale): the paper prints no index for its "Top-1" row, only its cost, −66.67 % FLOPs
# and −66.67 % #Params — which identifies the all-shared layout #0 (the only layout with that cost). On the released
# MobileNetV2 two-task table the estimator ranks #0 4th; its top-1 is #50. We report, not force (docs/treemtl.md §10.7).
# *The baselines* are paper values only. *The trained part* trains #0 and the recommender's #50 against single-task
# models (last section).

# %% tags=["parameters"]
backbone = "mobilenet_v2"  # the paper's backbone (used by the trained part)
scale = "cpu"  # "smoke" (tests) | "cpu" (make run) | "paper" (GPU, real NYUv2 under data_root)
seed = 0
device = "cpu"
executor = "sequential"  # where the independent runs go: "sequential" | "local" | "ray" | "slurm"
seeds = None  # None: (seed,); or a list of training seeds, one row set each (e.g. [0, 1, 2, 3, 4])
out_dir = "../executed/treemtl_table5"
cpu_backbone = "tiny_resnet"  # the stand-in trained at smoke and cpu scale (five residual blocks)
iterations = None  # training iterations of every model (None: the scale's default)
data_root = None  # folder holding NYUv2/ (required at paper scale)
backbone_weights = None  # optional local weights file of the paper-scale backbone (nothing is downloaded)
workers = 0  # DataLoader worker processes (4 to 8 on a GPU machine)

# %%
import mtlkit.reproduce_treemtl as steps

rep = steps.begin("treemtl_table5", scale=scale, seed=seed, seeds=seeds, device=device, out_dir=out_dir,
                  backbone=backbone, data_root=data_root, cpu_backbone=cpu_backbone, iterations=iterations,
                  backbone_weights=backbone_weights, workers=workers, executor=executor)

# %% [markdown]
# ## 1. The paper's comparison (as printed)

# %%
steps.paper_table(rep)

# %% [markdown]
# ## 2. The Top-1 row in the exact ranking
#
# Costs: MobileNetV2's five coarse blocks at the paper's NYUv2 input, 321 × 321. A printed cost identifies a layout
# when both its FLOPs(%) and #Params(%) are within 0.01 of the exact values (`mtlkit.paper.identify_by_cost`).

# %%
picks = steps.rank(rep)
picks[["method", "identified_by", "paper_index", "layout", "rank", "score", "paper_flops_pct", "flops_pct",
       "paper_params_pct", "params_pct", "top1_index", "top1_layout", "top1_score"]].round(3)

# %%
rep.ranking.head(5)[["paper_index", "layout", "score", "macs_pct", "params_pct"]].round(3)

# %%
fig = steps.ranking_figure(rep, title="TreeMTL Table 5: NYUv2, MobileNetV2 — every layout's score vs its cost")

# %%
steps.record_ranking(rep)

# %% [markdown]
# ## 3. The trained part: the layouts after training, against single-task models
#
# Every layout of the table (and the recommender's own top-1 where it differs) is built as a tree-structured model
# (`mtlkit.treemtl.TreeModel`: one copy of block $c$ per task group of the layout, each task's head on the last
# block of its group) and trained with the three tasks' losses summed; the single-task models (the paper's
# "Ind. Models") are trained with the same settings, and $\Delta_t$ compares the two. At the CPU scales the stand-in is the same as Table 1's, so #0 and #50 come from the run cache.
#
# Each training seed of `seeds` trains every model again (one row set per seed; the report gives mean and 95 % CI),
# and each seed's rows come with the `Constant predictor` rows of its data (`mtlkit.constant`: the best constant
# fitted on the training split); the report flags a trained number that does not beat them. With
# `executor="local"` (or `"ray"`, `"slurm"`) the (seed, layout) runs train in parallel workers first.
#
# * `scale="paper"`: NYUv2 under `data_root`, MobileNetV2 cut into the paper's five blocks (its 32 detected blocks merged as the authors did), ASPP heads, 20,000 iterations at batch 16, Adam lr $10^{-3}$ halved every 4,000 (the authors' settings, docs/treemtl.md §3), mtlkit's paper-compatible evaluators.
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
# 1. BMTAS costs −64.46 % FLOPs. Which layouts of the released table are at least as cheap, and which of them does the
#    recommender rank best?
# 2. How many layouts tie in cost with the recommender's top-1 #50, and where do they rank?
