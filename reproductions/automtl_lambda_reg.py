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
# # AutoMTL · the λ_reg ablation on CityScapes
#
# **What this reproduces.** AutoMTL's ablation of the regulariser weight (its Table 6 by a third-party summary; the
# authors' `ablation.py`, docs/automtl.md §5.3): the paper's pipeline on CityScapes with
# $\lambda_{reg} \in \{0.01, 0.001, 0.0005, 0.0001\}$, reporting the searched model's parameters and its relative
# performance. Policy-train minimises, per policy iteration,
#
# $$\sum_t \lambda_t L_t + \lambda_{reg}\sum_t L_{reg}(t),\qquad
#   L_{reg}(t) = \sum_i \frac{D-d_i}{D}\Big[\mathrm{softplus}\big(s(p_{i,sp}-p_{i,sh})\big)
#   + \mathrm{softplus}\big(s(p_{i,sk}-p_{i,sh})\big)\Big]$$
#
# (docs/automtl.md §2.5: depth weights $w_i = (D-d_i)/D$, $s = 6$, $p$ a fresh Gumbel-softmax draw): a larger $\lambda_{reg}$
# pushes the lower layers harder towards *shared*, so the searched model should get smaller, at some cost in
# accuracy. Then one $\tau = 1$ sample is post-trained from scratch and compared with the single-task models by
# $\Delta_t$ (notebook `automtl_cityscapes`). The paper's values of this table are not in the material available
# to this project: the report shows our rows only.
#
# **Runs shared.** $\lambda = 0.0005$ is the CityScapes preset's value: that run *is* the `automtl_cityscapes`
# notebook's AutoMTL model, and the single-task reference is the same too (`mtlkit.cache`: trained once).
#
# **Scales.** `smoke` proves the code path. `cpu` is the **SynthScenes stand-in for CityScapes** of
# `automtl_cityscapes` (tiny_resnet, 200 + 200 iterations, 40 of them policy iterations): each new λ costs one
# policy-train, plus a post-train unless its sampled architecture is one already trained. `paper` runs the paper's setting on the real CityScapes under `data_root` (GPU; not run
# here). The authors' ablation also pairs λ with bottom-K forced sharing (0.01/30 … 0.0001/10); that variant is not run.

# %% tags=["parameters"]
scale = "cpu"  # "smoke" (tests) | "cpu" (make run, SynthScenes stand-in) | "paper" (GPU, CityScapes under data_root)
seed = 0
device = "cpu"
out_dir = "../executed/automtl_lambda_reg"
data_root = None  # folder holding CityScapes/ (required at paper scale)
lambdas = [0.01, 0.001, 0.0005, 0.0001]  # the paper's λ_reg values
backbone = "deeplab_resnet34"  # the paper's backbone (paper scale)
cpu_backbone = "tiny_resnet"  # the stand-in at smoke/cpu scale ("tiny_resnet" or "tiny_cnn")
workers = 0  # DataLoader workers for the real dataset
seeds = None  # None: (seed,); or a list of run seeds, one row set each (e.g. [0, 1, 2, 3, 4])
executor = "sequential"  # where the independent runs (λ values, seeds) go: "sequential" | "local" | "ray" | "slurm"

# %%
from mtlkit import reproduce_automtl as steps

rep = steps.begin("automtl_lambda_reg", "cityscapes", scale=scale, seed=seed, seeds=seeds, device=device,
                  out_dir=out_dir, data_root=data_root, backbone=backbone, cpu_backbone=cpu_backbone,
                  workers=workers, executor=executor)

# %% [markdown]
# ## 1. The sweep
#
# One search and post-train per λ (same seed, same data, same initialisation); the single-task models of the
# CityScapes comparison are the reference of Δt. Columns: `backbones` is the sampled architecture's searchable conv
# parameters in units of one backbone (all-shared = 1, two single-task networks = 2); `expected_backbones` the
# expectation of that cost under the final distribution $\mathrm{softmax}(\alpha)$ — what the τ = 1 sample is a
# single draw of; `mean_p_shared` the final probability of *shared*, averaged over nodes and tasks.

# %%
sweeps = steps.lambda_sweep(rep, lambdas)

# %% [markdown]
# Where the regulariser acts: the final $p(\text{shared})$ per node against its depth (mean over tasks). The
# depth weight $(D-d_i)/D$ is largest at the first conv and 0 at the deepest one, so a strong $\lambda_{reg}$ should
# lift the left of the curve first.

# %%
steps.save_lambda_figures(rep, sweeps);

# %% [markdown]
# **Reading it.** In the paper's pipeline the architecture is one τ = 1 draw from $\mathrm{softmax}(\alpha)$, here
# with the same sample seed for every λ (common random numbers: two λ values draw different choices only where their
# distributions differ enough to move a draw across a category boundary; the count of distinct architectures is
# printed above). At the paper's policy lr (0.01) a few dozen Adam steps move a logit by well under one unit and the
# draw, not λ, decides the choices; `cpu` scale therefore steps the logits with lr 0.3 (`mtlkit.automtl.synth.
# SHORT_RUN`). Measured on seed 0 (policy-train only): policy entropy 0.37 / 0.80 / 0.84 / 0.83 nats (uniform: 1.05)
# and mean |logit| 1.58 / 1.06 / 0.98 / 0.95 for λ = 0.01 / 0.001 / 0.0005 / 0.0001, and 3 distinct sampled
# architectures of 4 (the two smallest λ draw the same one). `policy_entropy` and `mean_abs_logit` are in the
# table; compare `backbones` (one draw) with `expected_backbones` (its mean). With Adam, what matters is the
# regulariser's gradient *relative to* the task loss's, so `mean_p_shared` follows λ more than the draw does.

# %% [markdown]
# ## 2. Record
#
# Per seed and λ (setting `λ_reg = …`): every test metric, Δt per task and overall, parameters in both conventions,
# the sampled and the expected size, to `reproductions/results/automtl_lambda_reg.csv`, labelled with scale and
# dataset; with them the `Constant predictor` rows of the same data (per task the best constant of the training
# split, scored on the test split), which the report holds every λ row to.

# %%
steps.record_lambda_sweep(rep, sweeps)

# %% [markdown]
# ## 3. At paper scale
#
# `-p scale paper -p device cuda -p data_root /data/mtl` runs the four λ values with the settings below on the real
# CityScapes: four searches (20 k policy-train iterations each) and their post-trains (30 k), plus the single-task
# reference — all shared with `automtl_cityscapes` where they coincide (its λ = 0.0005 AutoMTL model and the
# single-task models).

# %%
steps.paper_plan_table(rep)

# %% [markdown]
# ## Try it
#
# 1. Add $\lambda_{reg} = 0.1$ and $1.0$ (`-p lambdas "[0.1, 1.0, 0.0005]"`). Where does the expected size stop
#    falling, and which node keeps its task-specific choice whatever λ is? (Hint: its depth weight.)
# 2. Replace the single sample by the argmax (`mtlkit.automtl.discretize(run.supermodel, run.config,
#    method="argmax")`) for each λ: is the size ordered by λ then?
#
# There are no fixed answers: each question is answered by what your run measures.
