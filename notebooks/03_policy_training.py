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
# # 03 · Policy training: AutoMTL's three stages on SynthScenes
#
# **What you will learn.** How AutoMTL *searches* the supermodel of notebook 02 (AutoMTL §3.3, docs/automtl.md §2–§3):
# Gumbel-softmax mixing and its temperature schedule; the depth-weighted regulariser that pushes lower layers to
# share, and what its weight $\lambda_{reg}$ does; how the policy distribution moves during policy-train (heatmaps
# over time); three ways to turn it into one architecture (the paper's single sample, argmax, best-of-N); how much
# the random seed alone decides the result; and a **resource-aware** variant with an explicit parameter budget and
# a straight-through hard phase, side by side with the paper's regulariser and with baselines trained by the same
# code (single-task, hard sharing, a random policy).
#
# The pipeline: **pre-train** (every node outputs the mean of its branches) → **policy-train** (alternating
# policy iterations, Adam on the logits $\alpha$ reading `train2`, and network iterations, SGD on the weights
# reading `train1`) → **discretise** → **post-train** the derived compact model. All library code is in
# `mtlkit.automtl` (`search`, `regularizer`, `baselines`, `analysis`, `synth`); this notebook calls and explains it.

# %% tags=["parameters"]
scale = "cpu"  # "smoke" (tests, seconds) | "cpu" (about 4 minutes) | "paper" (GPU-sized lengths on SynthScenes)
seed = 0
device = "cpu"
out_dir = "../executed/03_policy_training"

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch

import mtlkit
from mtlkit.automtl import ResourceCosts, SearchConfig, depth_weights, discretize, score_policies, trace_backbone
from mtlkit.automtl.search_viz import plot_depth_profile, plot_gumbel_softmax, plot_policy_over_time, plot_tau_schedules
from mtlkit.automtl.synth import SIZES, compare, run_variant, synth_setup, train_policy
from mtlkit.backbones import get_backbone
from mtlkit.config import check_params
from mtlkit.delta import delta_t
from mtlkit.viz import savefig, use_style
from mtlkit.viz.notebooks import (plot_discretization, plot_policies_side_by_side, plot_policy_train_curves,
                                  plot_regularizer, plot_resource_vs_paper)

# %%
out = check_params(scale, seed, device, out_dir)
use_style()
torch.set_num_threads(1)  # tiny models on a shared 2-core machine: two threads can be many times slower than one
T0 = time.perf_counter()
SEEDS = (seed, seed + 1, seed + 2) if scale != "smoke" else (seed, seed + 1)
LAMBDAS = (0.001, 0.01, 0.1)  # the NYUv2 preset's λ_reg first
setup = synth_setup(scale, device=device)  # SynthScenes rendered once, loaders for train/train1/train2/test
print(f"mtlkit {mtlkit.__version__}, scale={scale}, sizes={SIZES[scale]}, seeds={SEEDS}")
sm = setup.supermodel(seed)
pd.DataFrame([{"node": v.name, "choices": "/".join(c[:2] for c in v.choices), "skip": v.skip, "depth": v.depth,
               "params": v.params["shared"]} for v in sm.nodes])

# %% [markdown]
# ## 1. Gumbel-softmax and the temperature
#
# In policy-train every node $i$ computes, for task $t$, a mixture of its branches (AutoMTL §3.3):
#
# $$y_{i,t} = \sum_{k\in\{sh,sp,sk\}} p_{i,t,k}\,\mathrm{branch}_k(x_{i,t}),\qquad
# p_{i,t} = \mathrm{softmax}\!\big((\alpha_{i,t} + g)/\tau\big),\quad g_k \sim \mathrm{Gumbel}(0, 1).$$
#
# The noise makes $p$ a random *relaxed sample* of the categorical $\mathrm{softmax}(\alpha)$: at large $\tau$ the
# draws sit near the centre of the simplex (every branch mixed), at small $\tau$ near its corners (almost one-hot).
# The paper starts at $\tau_0 = 5$ and multiplies by $0.965$ every 101 policy iterations (docs/automtl.md §2.2): after 20 k
# iterations with (100 policy, 400 network) alternation that is 39 decays, $\tau = 1.246$ — still a soft mixture
# — and with NYUv2's (50, 50) 99 decays, $\tau = 0.147$. `SearchConfig.scaled` shrinks a preset to a few hundred
# iterations and rescales the alternation, the decay period and the lr drop, so $\tau$ ends where the paper's does.

# %%
fig = plot_gumbel_softmax(logits=(1.0, 0.0, -0.5), taus=(5.0, 1.0, 0.2), n=1500, seed=seed)
savefig(fig, "03_gumbel_softmax")
plt.show()
fig = plot_tau_schedules({"CityScapes (paper)": SearchConfig.preset("cityscapes"),
                          "NYUv2 (paper)": SearchConfig.preset("nyuv2"),
                          f"this notebook ({scale})": setup.base_config})
savefig(fig, "03_tau_schedule")
plt.show()

# %% [markdown]
# ## 2. The regulariser
#
# The paper adds to each task's loss a penalty on choosing *specific* or *skip* over *shared*, weighted by depth
# (docs/automtl.md §2.5, the code's "design 3"):
#
# $$L_{reg}(t) = \sum_i \frac{D-d_i}{D}\Big[\mathrm{softplus}\big(s(p_{i,sp}-p_{i,sh})\big)
#   + \mathrm{softplus}\big(s(p_{i,sk}-p_{i,sh})\big)\Big],\qquad L = \lambda_t L_t + \lambda_{reg} L_{reg}(t),$$
#
# with $d_i$ the number of convs on the longest path to node $i$ (itself included), $D$ the largest depth
# (33 on ResNet-34, where $\sum_i w_i = 17.42$), $p$ a *fresh* Gumbel-softmax draw and an effective $s = 6$
# (the original passes its `scale=1` only to network steps, where the term has no effect). Lower layers weigh
# most; the deepest conv weighs 0. Skip is penalised exactly like specific, although it costs nothing.

# %%
traced = trace_backbone(get_backbone("resnet34"), torch.zeros(1, 3, 64, 64))
fig = plot_regularizer(traced, depth_weights(sm), sm.max_depth)
savefig(fig, "03_regularizer")
plt.show()

# %% [markdown]
# ## 3. Policy-train on SynthScenes
#
# Three tasks (segmentation, depth, normals), `tiny_resnet` with light heads, the paper's NYUv2 preset rescaled to
# this scale (see `mtlkit.automtl.synth`: the same three tasks, (50, 50) alternation, λ_reg = 0.001, with task
# weights 1 and, for runs this short, network lr 0.01 and a constant post-train lr). Every stage is checkpointed in
# the run cache: a second execution of this notebook loads the finished runs. `train_log.csv` records the losses,
# τ and the expected parameter cost of the policy; `policy_log.csv` softmax(α) per (iteration, node, task).

# %%
paper_run = run_variant(setup, "paper", seed)
log = paper_run.policy_train.history.train_frame()
fig = plot_policy_train_curves(log)
savefig(fig, "03_policy_train_curves")
plt.show()

# %% [markdown]
# The policy distribution over time: one panel per task and choice, nodes in graph order (rows) and snapshots
# (columns). Grey cells are nodes that have no skip (the 1×1 projection shortcut, `skip="auto"`).

# %%
fig = plot_policy_over_time(paper_run.policy_log, title=f"paper regulariser, seed {seed}: softmax(α) over policy-train")
savefig(fig, "03_policy_over_time")
plt.show()

# %% [markdown]
# As in the paper (docs/automtl.md §2.6), the distributions stay close to uniform: a few hundred policy steps of Adam at
# lr 0.01 (then 0.001) move a logit by well under one unit, and the task-loss signal through a barely trained
# supernet is weak.
#
# ## 4. What $\lambda_{reg}$ does
#
# Policy-train only, the same seed, three regulariser weights. With Adam the size of the gradient matters only
# relative to the task loss's: once $\lambda_{reg}$ dominates, every node with a non-zero weight moves towards
# *shared* at Adam's maximal rate — the depth weighting then no longer orders the layers — while the deepest conv
# (weight 0) is left to the task loss.

# %%
sweep = {lam: (paper_run if lam == paper_run.config.reg_weight else
               run_variant(setup, "paper", seed, post=False, reg_weight=lam)) for lam in LAMBDAS}
depths = {v.name: v.depth for v in sm.nodes}
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
plot_depth_profile({f"λ_reg = {lam:g}": r.policy_log for lam, r in sweep.items()}, depths, ax=axes[0],
                   title="final p(shared) by depth")
for lam, r in sweep.items():
    h = r.policy_train.history.train_frame()
    axes[1].plot(h["iteration"], h["expected_params"], label=f"λ_reg = {lam:g}")
axes[1].set(xlabel="iteration", ylabel="backbones", title="E[parameters] of the sampled policy")
axes[1].legend(frameon=False, fontsize=8)
fig.tight_layout()
savefig(fig, "03_lambda_sweep")
plt.show()

# %% [markdown]
# ## 5. From a distribution to one architecture
#
# The paper draws **one** categorical sample per (node, task) from $\mathrm{softmax}(\alpha)$ at $\tau = 1$
# (numpy seed 10 in its scripts). With near-uniform distributions the draw, not the data, decides most choices.
# Two alternatives: the **argmax**, and **best-of-N**: draw N samples and keep the one with the lowest weighted
# task loss on `train2` (the supermodel's weights in hard mode). Each point below is a candidate (the first one is
# the paper's sample); the argmax and the best-of-N pick are then post-trained like every other model.

# %%
cfg = paper_run.config
best = discretize(paper_run.supermodel, cfg, setup.data, method="best_of")
argmax_policy = paper_run.supermodel.argmax_policy()
costs = ResourceCosts.from_supermodel(sm, "params")
reference = train_policy(setup, {v.name: dict.fromkeys(sm.tasks, "specific") for v in sm.nodes}, 0).metrics
picked = {"sample (paper)": paper_run.post, "argmax": train_policy(setup, argmax_policy, seed),
          "best-of-N": train_policy(setup, best.policy, seed)}
rows = [{"method": name, "backbones": costs.of_policy(p.policy),
         "delta_T": delta_t(p.metrics, reference, zero_reference="skip").overall} for name, p in picked.items()]
argmax_score = score_policies(paper_run.supermodel, [argmax_policy], setup.data, cfg)[0]
fig = plot_discretization(best, (costs.of_policy(argmax_policy), argmax_score),
                          title=f"best-of-N candidates (paper regulariser, seed {seed})")
savefig(fig, "03_discretization")
plt.show()
pd.DataFrame(rows).round(3)

# %% [markdown]
# ## 6. Seeds, and a resource-aware search side by side
#
# **Resource-aware objective** (beyond the paper, docs/automtl.md §6.2 #7 and §8). Instead of pushing every node to share,
# the regulariser is the *exact expected parameter cost* of the architecture that sampling from
# $q = \mathrm{softmax}(\alpha)$ would give, in units of one backbone (all-shared = 1, three single-task networks
# = 3): a node's shared op exists if any task shares it, every specialising task adds a copy, every skip its
# projection (0 for an identity),
#
# $$E[C] = \frac{1}{C_{bb}}\sum_i \Big[c_i\big(1-\prod_t (1-q_{i,t,sh})\big)
#   + \sum_t \big(q_{i,t,sp}\,c_i + q_{i,t,sk}\,k_i\big)\Big], \qquad L_{res} = \mu\,\max(0, E[C] - B),$$
#
# with $c_i$ the parameters of node $i$'s conv, $k_i$ those of its skip projection (0 for an identity) and
# $C_{bb} = \sum_i c_i$ one backbone. Each choice is weighed by what it adds (a big 3×3 conv far more than a small
# one; a free identity skip not at all) and only an excess over the budget $B$ (here 1.5 backbones) is penalised.
# The last quarter of policy-train uses straight-through hard Gumbel: the forward pass uses one-hot samples of $q$,
# so the weights are trained on discrete architectures like the one that is kept, which is the best of 8 samples on
# `train2` within the budget.
#
# Every model below is post-trained from scratch by the same code (`mtlkit.automtl.search.post_train`) with the
# same schedule; Δt is against the single-task models (all-specific policy) of seed 0.

# %%
result = compare(setup, seeds=SEEDS)
table = result["table"]
table.round(3)

# %%
fig = plot_resource_vs_paper(table, 1.5, title=f"SynthScenes, scale={scale}, seeds {list(SEEDS)}")
savefig(fig, "03_resource_vs_paper")
plt.show()
summary = table[table["variant"] != "baseline"].groupby("variant")[["delta_T", "backbones", "params_full"]]
summary.agg(["mean", "std"]).round(3)

# %% [markdown]
# **How much does the seed alone decide?** The fraction of (node, task) decisions on which two seeds' final
# architectures agree (`mtlkit.automtl.policy_agreement`). Three equally likely choices agree by chance about a
# third of the time.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
for k, (ax, variant) in enumerate(zip(axes, ("paper", "resource"))):
    m = result["agreement_matrix"][variant]
    im = ax.imshow(m, vmin=0, vmax=1, cmap="magma")
    for i in range(len(SEEDS)):
        for j in range(len(SEEDS)):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", color="w" if m[i, j] < 0.6 else "k")
    ax.set_xticks(range(len(SEEDS)), [f"seed {s}" for s in SEEDS])
    ax.set_yticks(range(len(SEEDS)), [f"seed {s}" for s in SEEDS] if k == 0 else [])
    ax.set_title(f"{variant}: mean agreement {result['agreement'][variant]:.2f}", fontsize=10)
    ax.grid(False)
fig.colorbar(im, ax=axes, shrink=0.8, label="fraction of equal decisions")
savefig(fig, "03_seed_agreement")
plt.show()

# %%
fig = plot_policies_side_by_side(
    {f"{v}, seed {seed}: {costs.of_policy(result['runs'][(v, seed)].post.policy):.2f} backbones":
     result["runs"][(v, seed)].post.policy for v in ("paper", "resource")}, sm.tasks)
savefig(fig, "03_policies_side_by_side")
plt.show()
paper_rows, res_rows = (table[table["variant"] == v] for v in ("paper", "resource"))
print(f"paper regulariser: Δ_T {paper_rows['delta_T'].mean():+.2f} % ± {paper_rows['delta_T'].std():.2f} at "
      f"{paper_rows['backbones'].mean():.2f} backbones, seed agreement {result['agreement']['paper']:.2f}\n"
      f"resource-aware:    Δ_T {res_rows['delta_T'].mean():+.2f} % ± {res_rows['delta_T'].std():.2f} at "
      f"{res_rows['backbones'].mean():.2f} backbones (budget 1.5), "
      f"seed agreement {result['agreement']['resource']:.2f}")
print(f"notebook wall time: {time.perf_counter() - T0:.0f} s (scale={scale}; SynthScenes numbers, "
      f"{'meaningless at smoke scale' if scale == 'smoke' else 'not comparable with the paper'})")

# %% [markdown]
# **Reading the results.** At this scale every number is noisy — one single-task reference, three seeds, a few
# hundred iterations — so read the spread (± one standard deviation over seeds) before any ranking of Δ_T. Three
# things are robust by construction and worth checking in the printout:
#
# * the *size* of the paper pipeline's model is whatever the τ = 1 sample gives: with near-uniform distributions
#   every (node, task) draws *specific* about a third of the time, so it lands near 2 backbones whatever the data;
# * the resource-aware search keeps every model within its budget (the best-of-N pick is taken among the samples
#   that meet it) — the budget, not luck, sets the size;
# * neither objective makes the *choices* reproducible: two seeds agree on little more than the ⅓ of chance. The
#   budget constrains the cost, and many architectures cost the same (an identity skip adds nothing, nor does sharing
#   an op that another task already shares), so the seed still picks among them. Reproducible architectures need a
#   stronger search signal — longer policy-train on a trained supernet (pre-train), or several seeds and a vote.

# %% [markdown]
# ## Try it
#
# 1. Lower the budget to 1.1 backbones with `run_variant(setup, "resource", seed, budget=1.1)`. Where does the
#    search still afford task-specific layers, and what does the policy heatmap look like?
# 2. Switch the paper variant to the original's per-task optimizer steps (`step_mode="per_task"`). Which
#    parameters move differently, and why is one iteration slower? (Hint: `benchmarks/bench_policy_train.py`.)
# 3. Run the resource variant without the straight-through phase (`hard_fraction=0.0`). How do the train2 scores
#    of the best-of-N candidates change, and why?
# 4. Use `resource="flops"` with `budget=2.5`: what kind of choice does a FLOPs budget favour that a parameter
#    budget does not?
#
# Answers: `notebooks/solutions/03_policy_training.md`.
