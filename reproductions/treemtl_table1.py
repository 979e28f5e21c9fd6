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
# # TreeMTL Table 1 · Top-5 recommended layouts on NYUv2 (Deeplab-ResNet34)
#
# **What this reproduces.** Table 1 of TreeMTL (Zhang, Liu & Guan, AutoML-Conf 2022, §4.2): the five layouts the
# recommender ranks highest for NYUv2's three tasks (semantic segmentation, surface normals, depth) on
# Deeplab-ResNet34 with $B = 5$ branching points, their cost (FLOPs and #Params relative to three independent
# backbones) and their accuracy after training.
#
# *The ranking part* is computed **exactly** from the authors' published two-task table
# (`mtlkit/data/published/NYUv2_2task_metrics_resnet_1129_val_acc__Sheet1.csv`), at every scale: the estimator of §3.1
# averages, for every task, its relative performance in the $T-1$ associated two-task models, and weights the tasks by
# SVD entropy,
#
# $$w_i \propto 1 - \frac{1}{T-1}\sum_{j\ne i}\mathrm{SVDE}\big(\Delta t_i^{(1)},\dots,\Delta t_i^{(B)}\mid t_i,t_j\big),
# \qquad S(L) = \hat w^\top\big[\hat{\Delta t}_1(L),\dots,\hat{\Delta t}_T(L)\big]\quad\text{(Eq. 1–2, as in the
# authors' code)}.$$
#
# The paper's five picks are placed in that ranking next to the recommender's own order, and recorded for
# `reproductions/REPORT.md`.
#
# *The trained part* trains the five layouts and three single-task models and reports $\Delta_t$: on the real NYUv2
# with Deeplab-ResNet34 at `scale="paper"`, on a small SynthScenes stand-in at the CPU scales (last section).

# %% tags=["parameters"]
scale = "cpu"  # "smoke" (tests) | "cpu" (make run) | "paper" (GPU, real NYUv2 under data_root)
seed = 0
seeds = None  # None: (seed,); or a list of training seeds, one row set each (e.g. [0, 1, 2, 3, 4])
device = "cpu"
out_dir = "../executed/treemtl_table1"
k = 5  # how many of the recommender's top layouts to list
backbone = "deeplab_resnet34"  # the paper's backbone (used by the trained part)
data_root = None  # folder holding NYUv2/ (required at paper scale)
backbone_weights = None  # optional local weights file of the paper-scale backbone (nothing is downloaded)
workers = 0  # DataLoader worker processes (4 to 8 on a GPU machine)
cpu_backbone = "tiny_resnet"  # the stand-in trained at smoke and cpu scale (five residual blocks)
iterations = None  # training iterations of every model (None: the scale's default)
executor = "sequential"  # where the independent runs go: "sequential" | "local" | "ray" | "slurm"

# %%
import mtlkit.reproduce_treemtl as steps

rep = steps.begin("treemtl_table1", scale=scale, seed=seed, seeds=seeds, device=device, out_dir=out_dir,
                  backbone=backbone, data_root=data_root, cpu_backbone=cpu_backbone, iterations=iterations,
                  backbone_weights=backbone_weights, workers=workers, executor=executor,
                  limits={"k": (k, 51, "NYUv2 has 51 layouts")})

# %% [markdown]
# ## 1. The published two-task table and the full ranking
#
# $T = 3$ tasks and $B = 5$ blocks give 51 layouts. Costs are the backbone's MACs (what the paper calls FLOPs) and
# parameters of the five coarse blocks at the paper's NYUv2 input, 321 × 321 (`mtlkit.treemtl.get_block_costs`);
# `macs_pct` and `params_pct` are the paper's FLOPs(%) and #Params(%) columns: the layout's backbone cost relative to
# three independent backbones.

# %%
picks = steps.rank(rep)
ranking = rep.ranking
ranking.head(k)[["paper_index", "layout", "score", "est_segment_semantic", "est_normal", "est_depth_zbuffer",
                 "macs_pct", "params_pct"]].round(3)

# %% [markdown]
# ## 2. The paper's top-5 next to the exact ranking
#
# The paper lists #0, #45, #50, #37, #49 in that order. On the released table the same five layouts come out on top,
# but #45 scores above #0 (the authors' own notebook comment lists 45 first, too). The cost columns agree to the
# printed digit except for a few cells the paper rounds one unit differently (`paper_values/known_errors.csv`).

# %%
picks[["method", "layout", "paper_rank", "rank", "score", "paper_flops_pct", "flops_pct", "paper_params_pct",
       "params_pct"]].round(3)

# %%
fig = steps.ranking_figure(rep, title="TreeMTL Table 1: NYUv2, Deeplab-ResNet34 — every layout's score vs its cost")

# %% [markdown]
# Same set, one swap: our top-5 is the paper's top-5 with #0 and #45 exchanged.

# %%
ours_top = [int(i) for i in ranking.paper_index.head(5)]
paper_top = [int(m.lstrip("#")) for m in picks.method]
print(f"paper's top-5: {paper_top}\nour top-5:     {ours_top}\nsame set: {set(ours_top) == set(paper_top)}")

# %% [markdown]
# ## 3. Record the ranking
#
# The rows go to `reproductions/results/treemtl_table1.csv` with `dataset = "published two-task table"`: an exact
# computation on the authors' data, so the report compares it with the paper at every scale.

# %%
steps.record_ranking(rep)

# %% [markdown]
# ## 4. The trained part: the layouts after training, against single-task models
#
# Every layout of the table (and the recommender's own top-1 where it differs) is built as a tree-structured model
# (`mtlkit.treemtl.TreeModel`: one copy of block $c$ per task group of the layout, each task's head on the last
# block of its group) and trained with the three tasks' losses summed; the single-task models (the paper's
# "Ind. Models") are trained with the same settings, and $\Delta_t$ compares the two.
#
# Each training seed of `seeds` trains every model again (one row set per seed; the report gives mean and 95 % CI),
# and each seed's rows come with the `Constant predictor` rows of its data (`mtlkit.constant`: the best constant
# fitted on the training split); the report flags a trained number that does not beat them. With
# `executor="local"` (or `"ray"`, `"slurm"`) the (seed, layout) runs train in parallel workers first.
#
# * `scale="paper"`: NYUv2 under `data_root`, Deeplab-ResNet34 cut into the paper's five blocks (stem, layer1, …, layer4), ASPP heads, 20,000 iterations at batch 16, Adam lr $10^{-3}$ halved every 4,000 (the authors' settings, docs/treemtl.md §3), mtlkit's paper-compatible evaluators.
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
# 1. Rank with uniform task weights (`mtlkit.treemtl.recommend(rep.two_task, rep.costs, k=None, weights="uniform")`).
#    Which of the paper's five stays in the top-5?
# 2. Put a budget of two backbones on the recommendation (`budget=2`). Which layouts survive, and what do they cost?
# 3. Include row 0 in the SVD entropy, as Eq. (1) literally says
#    (`mtlkit.treemtl.task_weights(rep.two_task, include_row0=True)`, then `weights=` those values). Does the top-5
#    change?
