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
# # TreeMTL Table 4 · Comparison with state-of-the-art MTL methods on Taskonomy (Deeplab-ResNet34)
#
# **What this reproduces.** Table 4 of TreeMTL (Zhang, Liu & Guan, AutoML-Conf 2022, §4.4) puts the recommender's
# top-1 layouts (without a budget, and within 3 backbone models) next to ten published methods on the five Taskonomy
# tasks: branched MTL (What-to-Share, Task-Grouping, Learn-to-Branch), soft sharing (Cross-Stitch, Sluice, NDDR-CNN,
# MTAN) and NAS (DEN, AdaShare, AutoMTL). Every method is scored by the relative performance against the single-task
# models,
#
# $$\Delta_t = \frac{1}{|\mathcal M_t|}\sum_{j}(-1)^{l_j}\frac{M_{t,j}-M^{\mathrm{STL}}_{t,j}}{M^{\mathrm{STL}}_{t,j}}
# \times 100\,\%,\qquad \Delta t = \frac1T\sum_t\Delta_t .$$
#
# *The ranking part* (exact, every scale): the two "Top-1" rows carry the numbers of Table 2's #353 and #1046; here they
# are placed in the exact ranking of the authors' published two-task table. *The baselines* are paper values only:
# mtlkit does not re-implement Cross-Stitch, Sluice, NDDR-CNN, MTAN or DEN, and the AdaShare/AutoMTL numbers are quoted
# from those papers (AutoMTL has its own reproduction). *The trained part* trains the two Top-1 layouts (and the
# recommender's own top-1s) against single-task models (last section).

# %% tags=["parameters"]
scale = "cpu"  # "smoke" (tests) | "cpu" (make run) | "paper" (GPU, real Taskonomy under data_root)
seed = 0
device = "cpu"
seeds = None  # None: (seed,); or a list of training seeds, one row set each (e.g. [0, 1, 2, 3, 4])
executor = "sequential"  # where the independent runs go: "sequential" | "local" | "ray" | "slurm"
out_dir = "../executed/treemtl_table4"
backbone = "deeplab_resnet34"  # the paper's backbone (used by the trained part)
data_root = None  # folder holding Taskonomy/ (required at paper scale)
workers = 0  # DataLoader worker processes (4 to 8 on a GPU machine)
backbone_weights = None  # optional local weights file of the paper-scale backbone (nothing is downloaded)
iterations = None  # training iterations of every model (None: the scale's default)
cpu_backbone = "tiny_resnet"  # the stand-in trained at smoke and cpu scale (five residual blocks)

# %%
import mtlkit.reproduce_treemtl as steps

rep = steps.begin("treemtl_table4", scale=scale, seed=seed, seeds=seeds, device=device, out_dir=out_dir,
                  backbone=backbone, data_root=data_root, cpu_backbone=cpu_backbone, iterations=iterations,
                  backbone_weights=backbone_weights, workers=workers, executor=executor)

# %% [markdown]
# ## 1. The paper's comparison
#
# FLOPs(%) / #Params(%) relative to five single-task backbones, and $\Delta t$, as printed
# (`paper_values/treemtl_table4.csv`).

# %%
steps.paper_table(rep, by_task=False)

# %%
fig = steps.paper_figure(rep, title="TreeMTL Table 4 (paper values): Taskonomy, Deeplab-ResNet34")

# %% [markdown]
# ## 2. The two Top-1 rows in the exact ranking
#
# Without a budget the estimator's top-1 on the released table is #352 (the paper's #353, which differs from it only
# in block 3, ranks 4th); within 3 models it is #1037 (the paper's #1046 ranks 2nd). The printed FLOPs of the
# unbudgeted row, −11.31 %, is the transcription error already seen in Table 2 (`paper_values/known_errors.csv`).

# %%
picks = steps.rank(rep, show=False)
picks[["setting", "method", "paper_index", "layout", "rank", "rank_overall", "paper_flops_pct", "flops_pct",
       "paper_params_pct", "params_pct", "top1_index", "top1_layout"]].round(3)

# %%
fig = steps.ranking_figure(rep, budgets=(3,),
                     title="TreeMTL Table 4: the Top-1 rows in the ranking of the published Taskonomy table")

# %%
steps.record_ranking(rep)

# %% [markdown]
# ## 3. The trained part: the layouts after training, against single-task models
#
# Every layout of the table (and the recommender's own top-1 where it differs) is built as a tree-structured model
# (`mtlkit.treemtl.TreeModel`: one copy of block $c$ per task group of the layout, each task's head on the last
# block of its group) and trained with the five tasks' losses summed; the single-task models (the paper's
# "Ind. Models") are trained with the same settings, and $\Delta_t$ compares the two. The layouts are Table 2's #353 and #1046 (and the recommender's #352 and #1037): trained once, they come from the run cache here.
#
# Each training seed of `seeds` trains every model again (one row set per seed; the report gives mean and 95 % CI),
# and each seed's rows come with the `Constant predictor` rows of its data (`mtlkit.constant`: the best constant
# fitted on the training split); the report flags a trained number that does not beat them. With
# `executor="local"` (or `"ray"`, `"slurm"`) the (seed, layout) runs train in parallel workers first.
#
# * `scale="paper"`: Taskonomy under `data_root`, Deeplab-ResNet34 cut into the paper's five blocks (stem, layer1, …, layer4), ASPP heads, 50,000 iterations at batch 16, Adam lr $10^{-4}$ times 0.3 every 10,000 (the authors' settings, docs/treemtl.md §3), mtlkit's paper-compatible evaluators.
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
# 1. The paper says the unbudgeted top-1 beats the soft-sharing methods "with computation cost −11.31 % vs
#    0 %/8.38 %/−10.55 %". With the exact cost of #353 (−9.15 %), does the comparison with MTAN (−10.55 %) still hold?
# 2. Which layout would the recommender pick within the cost of AutoMTL's model (FLOPs −3.85 %, i.e. a budget of
#    $5 \times (1 - 0.0385)$ backbones)?
