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
# # TreeMTL Table 2 · Top-1 layout per computation budget on Taskonomy (Deeplab-ResNet34)
#
# **What this reproduces.** Table 2 of TreeMTL (Zhang, Liu & Guan, AutoML-Conf 2022, §4.2): for the five Taskonomy
# tasks (segmentation, normals, depth, keypoints, edges) on Deeplab-ResNet34 ($B = 5$, 7,556 layouts), the layout
# recommended under a budget of 4, 3, 2 and 1 backbone models and without a budget, with its cost and its accuracy
# after training. A budget of $k$ models admits the layouts whose backbone cost is at most $k$ backbones,
#
# $$\sum_{c=1}^{B} |L_c|\, f_c \;\le\; k \sum_{c=1}^{B} f_c
# \quad\Longleftrightarrow\quad \text{FLOPs}(\%) \le 100\,(k/T - 1),$$
#
# with $|L_c|$ the number of task groups at block $c$ and $f_c$ one copy's MACs (the paper's "FLOPs"); the comparison
# is inclusive: #817, five blocks × 2 copies, sits exactly on the 2-model budget.
#
# *The ranking part* is computed **exactly** from the authors' published two-task table at every scale. The paper
# calls each row "top-1", but on the released table the estimator's top-1 is the paper's pick for 4, 2 and 1 models
# only; without a budget it prefers #352 and within 3 models #1037 (the paper's #353 and #1046 rank 4th and 2nd).
# The authors' notebooks suggest each row is the best *after training* among the recommender's top-5 under the
# budget (docs/treemtl.md §10.6) — every pick is in our budgeted top-5. We report, not force.
#
# *The trained part* trains the five picks, the recommender's two differing top-1s and five single-task models, and
# reports $\Delta_t$: on the real Taskonomy with Deeplab-ResNet34 at `scale="paper"`, on a small SynthScenes stand-in
# at the CPU scales (last section).

# %% tags=["parameters"]
scale = "cpu"  # "smoke" (tests) | "cpu" (make run) | "paper" (GPU, real Taskonomy under data_root)
seeds = None  # None: (seed,); or a list of training seeds, one row set each (e.g. [0, 1, 2, 3, 4])
seed = 0
device = "cpu"
out_dir = "../executed/treemtl_table2"
top = 5  # how many layouts to list under each budget
data_root = None  # folder holding Taskonomy/ (required at paper scale)
backbone = "deeplab_resnet34"  # the paper's backbone (used by the trained part)
backbone_weights = None  # optional local weights file of the paper-scale backbone (nothing is downloaded)
cpu_backbone = "tiny_resnet"  # the stand-in trained at smoke and cpu scale (five residual blocks)
workers = 0  # DataLoader worker processes (4 to 8 on a GPU machine)
executor = "sequential"  # where the independent runs go: "sequential" | "local" | "ray" | "slurm"
iterations = None  # training iterations of every model (None: the scale's default)

# %%
import mtlkit.reproduce_treemtl as steps

rep = steps.begin("treemtl_table2", scale=scale, seed=seed, seeds=seeds, device=device, out_dir=out_dir,
                  backbone=backbone, data_root=data_root, cpu_backbone=cpu_backbone, iterations=iterations,
                  backbone_weights=backbone_weights, workers=workers, executor=executor,
                  limits={"top": (top, 20, "")})

# %% [markdown]
# ## 1. The published two-task table and the recommender under each budget
#
# Costs: MACs and parameters of the five coarse blocks of Deeplab-ResNet34 at the paper's Taskonomy input,
# 224 × 224.

# %%
picks = steps.rank(rep)
per_budget = steps.budget_rankings(rep, top)
per_budget[["budget", "rank", "paper_index", "layout", "score", "macs_pct", "params_pct"]].round(3)

# %% [markdown]
# ## 2. The paper's picks next to the exact ranking
#
# `rank` is the pick's rank under its row's budget, `rank_overall` without a budget; `top1_*` is the recommender's own
# top-1 under that budget. #353's printed FLOPs (−11.31 %) is a transcription error of the paper: its measured
# backbone cost is 84.288 GMac, −9.15 % (`paper_values/known_errors.csv`).

# %%
picks[["setting", "method", "layout", "rank", "rank_overall", "score", "paper_flops_pct", "flops_pct",
       "paper_params_pct", "params_pct", "top1_index", "top1_layout", "top1_score"]].round(3)

# %%
fig = steps.ranking_figure(rep, budgets=(4, 3, 2, 1),
                     title="TreeMTL Table 2: Taskonomy, Deeplab-ResNet34 — score vs cost, budgets of k backbones")

# %% [markdown]
# ## 3. Record the ranking
#
# `dataset = "published two-task table"`: an exact computation on the authors' data, compared with the paper in the
# report at every scale.

# %%
steps.record_ranking(rep)

# %% [markdown]
# ## 4. The trained part: the layouts after training, against single-task models
#
# Every layout of the table (and the recommender's own top-1 where it differs) is built as a tree-structured model
# (`mtlkit.treemtl.TreeModel`: one copy of block $c$ per task group of the layout, each task's head on the last
# block of its group) and trained with the five tasks' losses summed; the single-task models (the paper's
# "Ind. Models") are trained with the same settings, and $\Delta_t$ compares the two.
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
# 1. Put the budget on parameters instead of MACs (`recommend(..., budget=3, budget_on="params")`). Does the top-1
#    within 3 models change?
# 2. What is the smallest budget (in backbones, to 0.01) under which #352, the unbudgeted top-1, is feasible?
# 3. Compare the 3-model top-5 with uniform task weights (`weights="uniform"`): is the paper's #1046 still in it?
