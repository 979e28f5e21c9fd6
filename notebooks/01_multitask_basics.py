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
# # 01 · Multi-task basics: tasks, metrics, $\Delta_t$, and when sharing helps
#
# **What you will learn.**
#
# 1. The five dense tasks of both papers — what a head predicts, the training loss, the evaluation metrics and which
#    direction of each metric is better — and what their labels look like on SynthScenes.
# 2. Why mtlkit's evaluators accumulate over the whole dataset, and how the *paper-compatible* evaluators (the
#    original code's conventions) differ from them, on a tiny example you can check by hand.
# 3. The relative performance $\Delta_t$ that both papers report (AutoMTL: docs/automtl.md §4.4; TreeMTL §4.1).
# 4. Hard parameter sharing (one backbone, one head per task) against single-task models: what it saves and why it
#    can help or hurt.
# 5. The **pairwise experiment**: a single-task model per task and a hard-shared model per *pair* of tasks, summarised
#    as a task × partner $\Delta_t$ matrix that shows which pairs help each other and which interfere.
#
# Everything runs on a laptop CPU in a few minutes at `scale="cpu"` (seven small training runs of about 15 s each on
# an idle 2-core machine). The single-task models and the three-task model are exactly the runs of `00_quickstart`
# (same data, same settings, same cache key), so after the quickstart they are loaded, not trained again.

# %% tags=["parameters"]
scale = "cpu"  # "smoke" (tests, seconds) | "cpu" (minutes) | "paper" (bigger, still SynthScenes: not a paper table)
seed = 0
device = "cpu"
out_dir = "../executed/01_multitask_basics"
pair_tasks = ("segment_semantic", "depth_zbuffer", "normal")  # 2-5 SynthScenes tasks, in the quickstart's order

# %%
import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

import mtlkit
from mtlkit.config import check_params
from mtlkit.data import SynthScenes
from mtlkit.data.synthetic import ALL_TASKS
from mtlkit.delta import delta_t
from mtlkit.errors import ConfigError
from mtlkit.tasks import get_task
from mtlkit.train import TrainConfig, evaluate
from mtlkit.viz import basics, savefig, use_style

# %%
out = check_params(scale, seed, device, out_dir)
TASKS = tuple(pair_tasks)
if len(TASKS) < 2 or len(set(TASKS)) != len(TASKS) or any(t not in ALL_TASKS for t in TASKS):
    raise ConfigError(f"pair_tasks must be 2 to 5 distinct names out of {ALL_TASKS}, got {pair_tasks!r}")
use_style()
pd.set_option("display.max_colwidth", None)
SIZES = basics.quickstart_sizes(scale)  # the quickstart's sizes: same data and settings give the same cached runs
print(f"mtlkit {mtlkit.__version__}, torch {torch.__version__}, scale={scale}, sizes={SIZES}, tasks={TASKS}")

# %% [markdown]
# ## 1. Five dense tasks
#
# Both papers' largest benchmark, Taskonomy, has five pixel-wise tasks (NYUv2 and CityScapes use subsets of them):
# **semantic segmentation**, **depth** (z-buffer), **surface normals**, **2-D keypoints** and **texture edges**. In
# mtlkit a task is an object that knows how many channels its head must output, its training loss, and its evaluator
# with the metrics and their directions (↑ higher is better, ↓ lower is better). Losses follow the original code
# (docs/automtl.md §4.2): cross-entropy for segmentation, L1 on valid pixels for depth, $1-\cos$ between normalised vectors for
# normals, L1 for keypoints and edges (mtlkit upsamples the prediction bilinearly to the label size;
# `paper_compat=True` downsamples the label instead, as the original).

# %%
gallery = SynthScenes("test", size=3, resolution=96, seed=seed)  # all five tasks, three scenes, for the figures
all_tasks = {name: get_task(name, **gallery.task_options().get(name, {})) for name in ALL_TASKS}
LOSSES = {"segment_semantic": "cross-entropy (ignores label 255)", "depth_zbuffer": "L1 on pixels with depth > 3e-5",
          "normal": "1 − cos(pred, target), normalised", "keypoints2d": "L1", "edge_texture": "L1"}
pd.DataFrame([{"task": t.name, "head channels": t.out_channels, "loss": LOSSES[t.name],
               "metrics": ", ".join(f"{m} {'↑' if up else '↓'}" for m, up in t.higher_is_better.items())}
              for t in all_tasks.values()]).set_index("task")

# %% [markdown]
# SynthScenes renders every label exactly (no annotation noise). The tasks are related on purpose, the way
# Taskonomy's are: normals are the local orientation of the surface whose distance depth measures; edges mark depth
# and object boundaries **and** the stripes and checks painted on surfaces (texture that says nothing about
# geometry); keypoints are corners and poles of the objects; segmentation needs both shape and colour (a rug is flat
# floor geometry that only its texture reveals).

# %%
fig = basics.plot_label_gallery(gallery)  # one row per scene: the image and its five labels
savefig(fig, "01_synthscenes_labels")
plt.show()

# %% [markdown]
# ## 2. Metrics: accumulated over the dataset, and the paper-compatible variants
#
# An evaluator sees the test set batch by batch (`update(pred, batch)`) and reports once (`compute()`). mtlkit's
# default evaluators compute the exact **dataset-level** values: mIoU from one confusion matrix summed over all
# pixels of the test set, $\mathrm{mIoU}=\frac{1}{|C|}\sum_{c\in C}\frac{TP_c}{TP_c+FP_c+FN_c}$ over the classes $C$
# present in the ground truth or the prediction, and depth errors as means over all valid pixels. The original code
# (docs/automtl.md §4.3, §7.17) has three quirks, reproduced by `paper_compat=True` to compare with published numbers:
#
# * **mIoU** averages only over classes with $TP_c\neq 0$: a class that is predicted but never right is dropped, which
#   biases mIoU upwards;
# * **void pixels** with a negative label (CityScapes uses $-1$) pass the filter `gt < K`, are left out of the
#   confusion matrix but **count as errors** in pixel accuracy;
# * **abs/rel error** (and pixel accuracy) are per-batch means averaged with batch-size weights, so a batch with few
#   valid pixels weighs as much as a full one.
#
# A 2×4 segmentation map with two void pixels ($-1$) and three classes, of which class 2 is absent from the ground
# truth but predicted once:

# %%
seg_task = get_task("segment_semantic", num_classes=3, ignore_index=-1)  # CityScapes-style void label
gt = torch.tensor([[[0, 0, 1, 1], [-1, -1, 0, 1]]])  # (B=1, H=2, W=4)
pred_labels = torch.tensor([[[0, 0, 1, 2], [0, 1, 0, 1]]])
logits = F.one_hot(pred_labels, 3).permute(0, 3, 1, 2).float()  # (B, K, H, W) scores whose argmax is pred_labels
rows = {}
for compat in (False, True):
    ev = seg_task.evaluator(paper_compat=compat)
    ev.update(logits, {"segment_semantic": gt})
    rows["paper-compatible" if compat else "mtlkit (dataset-level)"] = ev.compute()
pd.DataFrame(rows).T.round(2)

# %% [markdown]
# By hand: six labelled pixels, five right → pixel accuracy $5/6 = 83.3\,\%$; IoU of class 0 is $3/3$, of class 1
# $2/3$, of class 2 $0/1$ → mIoU $= (1 + 0.667 + 0)/3 = 55.6\,\%$. The paper-compatible evaluator counts the two void
# pixels as wrong ($5/8 = 62.5\,\%$) and drops class 2 because it has no true positive ($(1+0.667)/2 = 83.3\,\%$).
#
# The per-batch mean of depth errors: batch A has four valid pixels, each 1 m off; batch B has one valid pixel
# (depth 0 marks the others invalid), 3 m off.

# %%
depth_task = get_task("depth_zbuffer")
batch_a = {"depth_zbuffer": torch.full((1, 1, 2, 2), 2.0)}
batch_b = {"depth_zbuffer": torch.tensor([[[[2.0, 0.0], [0.0, 0.0]]]])}  # one valid pixel
rows = {}
for compat in (False, True):
    ev = depth_task.evaluator(paper_compat=compat)
    ev.update(torch.full((1, 1, 2, 2), 3.0), batch_a)  # |3 - 2| = 1 at four pixels
    ev.update(torch.full((1, 1, 2, 2), 5.0), batch_b)  # |5 - 2| = 3 at one pixel
    rows["paper-compatible" if compat else "mtlkit (dataset-level)"] = {"abs_err": ev.compute()["abs_err"]}
pd.DataFrame(rows).T

# %% [markdown]
# Dataset-level: $(4\cdot 1 + 3)/5 = 1.4$ m. Per batch: $(1 + 3)/2 = 2.0$ m — the answer depends on how the test set
# happens to be cut into batches. mtlkit reports the dataset-level values; use the paper-compatible ones only to
# compare with numbers printed by the original code. Section 5 shows both on real predictions.
#
# ## 3. Relative performance $\Delta_t$
#
# Tasks have several metrics on different scales, some better when higher, some when lower. Both papers (AutoMTL,
# docs/automtl.md §4.4; TreeMTL §4.1, following Maninis et al. 2019) summarise a multi-task model $M$ by its relative change
# against single-task references, per task and overall:
#
# $$\Delta_t = \frac{1}{|\mathcal M_t|}\sum_{j\in\mathcal M_t} (-1)^{l_j}\,
#   \frac{M_{t,j}-M^{\mathrm{STL}}_{t,j}}{M^{\mathrm{STL}}_{t,j}}\times 100\,\%,
#   \qquad \Delta_T = \frac1T\sum_{t=1}^{T}\Delta_t ,$$
#
# where $\mathcal M_t$ are task $t$'s metrics and $l_j=1$ if lower is better for metric $j$ (so an error that goes
# *down* counts as a gain). Positive means the multi-task model beats the single-task model. The worked
# example (docs/automtl.md §7.16): segmentation mIoU up by 10 % with pixel accuracy unchanged gives $\Delta_{seg}=+5\,\%$; and a
# depth model whose five errors and accuracies all improve by 10 % relative gives $+10\,\%$.

# %%
example = delta_t(
    {"segment_semantic": {"mIoU": 44.0, "pixel_acc": 80.0},
     "depth_zbuffer": {"abs_err": 0.45, "rel_err": 0.18, "delta1": 66.0, "delta2": 88.0, "delta3": 99.0}},
    {"segment_semantic": {"mIoU": 40.0, "pixel_acc": 80.0},
     "depth_zbuffer": {"abs_err": 0.50, "rel_err": 0.20, "delta1": 60.0, "delta2": 80.0, "delta3": 90.0}})
print({t: round(v, 2) for t, v in example.per_task.items()}, f"overall ΔT = {example.overall:+.2f} %")

# %% [markdown]
# ## 4. Hard sharing vs single-task models
#
# A **single-task model** (STL) is a backbone $f_{\theta_t}$ and a head $h_{\phi_t}$ trained on one task. A
# **hard-shared** multi-task model has one backbone for all tasks and one head per task, trained on the sum of the
# task losses:
#
# $$\min_{\theta,\phi_1..\phi_T}\ \sum_{t=1}^{T} \lambda_t\, \mathcal L_t\big(h_{\phi_t}(f_\theta(x)),\,y_t\big),
# \qquad \nabla_\theta = \sum_t \lambda_t \nabla_\theta \mathcal L_t .$$
#
# It costs $b + T h$ parameters instead of $T(b+h)$ (backbone $b$, head $h$) and runs the backbone once instead of $T$
# times. Whether it is also *more accurate* depends on the tasks (TreeMTL §1): the shared backbone's gradient is the
# sum of the tasks' gradients. When the tasks need similar features, each task's data trains features the other can
# use — more signal per parameter, less overfitting. When they need different features, or one loss is much larger
# than the other, the gradients compete for the same weights and one task (or both) ends up worse than alone:
# **task interference** or negative transfer. Finding where to share and where to branch is exactly what AutoMTL and
# TreeMTL automate.
#
# The data: SynthScenes with the quickstart's sizes, rendered once and kept in memory (`cache=True`).

# %%
train_set = SynthScenes("train", size=SIZES["n_train"], resolution=SIZES["resolution"], tasks=TASKS, seed=seed,
                        cache=True)
test_set = SynthScenes("test", size=SIZES["n_test"], resolution=SIZES["resolution"], tasks=TASKS, seed=seed,
                       cache=True)
tasks = {name: get_task(name, **train_set.task_options().get(name, {})) for name in TASKS}
train_loader = torch.utils.data.DataLoader(train_set, batch_size=SIZES["batch"], shuffle=True,
                                           generator=torch.Generator().manual_seed(seed))
test_loader = torch.utils.data.DataLoader(test_set, batch_size=32)
config = TrainConfig(iterations=SIZES["iterations"], lr=1e-3, device=device, seed=seed)
# the cache key of every run: the quickstart's, so its runs are reused (train() returns at once with their weights)
data_key = dict(dataset="SynthScenes", n_train=SIZES["n_train"], resolution=SIZES["resolution"], tasks=TASKS,
                batch=SIZES["batch"], seed=seed)


def train_hard_shared(names):
    """The seeded tiny_resnet + light heads of ``names``, trained here or loaded from the run cache."""
    return basics.train_hard_shared(names, tasks, train_loader, config, data_key, seed)


# %% [markdown]
# ## 5. Single-task references
#
# One single-task model per task: `tiny_resnet` (38 k parameters) with a light head, 1024 images at 64 px, 600
# iterations of Adam at `scale="cpu"`.

# %%
stl_models, reference = {}, {}
for name in TASKS:
    stl_models[name], _ = train_hard_shared((name,))
    reference[name] = evaluate(stl_models[name], {name: tasks[name]}, test_loader, device=device)[name]

# %% [markdown]
# Their test metrics (column `mtlkit`), next to the same predictions scored by the paper-compatible evaluators.
# SynthScenes has no void pixels, every image has the same size and the test batches are equal (but possibly the
# last), so what can differ here is the resizing of the $h\times w$ head output to the label size (nearest instead of
# bilinear), the per-batch means when the last batch is smaller, and, for mIoU, the $TP\neq0$ rule if some class is
# never predicted correctly. Whatever the size of the differences in the last column, they are differences of
# *evaluation*, not of the model: compare a model only with references scored the same way.

# %%
paper_tasks = {n: get_task(n, paper_compat=True, **train_set.task_options().get(n, {})) for n in TASKS}
paper_scores = {n: evaluate(stl_models[n], {n: paper_tasks[n]}, test_loader, device=device)[n] for n in TASKS}
scores = pd.DataFrame([{"task": t, "metric": m, "mtlkit": reference[t][m], "paper-compatible": paper_scores[t][m]}
                       for t in TASKS for m in tasks[t].metrics]).set_index(["task", "metric"])
scores["relative difference (%)"] = 100 * (scores["paper-compatible"] - scores["mtlkit"]) / scores["mtlkit"]
scores.round(3)

# %% [markdown]
# ## 6. The pairwise experiment
#
# One hard-shared model per pair of tasks — the two-task models from which TreeMTL's estimator predicts every
# larger architecture (TreeMTL §3.1, here with the branch point after the whole backbone) — and, for comparison, one
# model with all the tasks (the quickstart's model). Same backbone, heads, data, initialisation and optimiser as the
# single-task models: only the sharing differs.

# %%
pairs = list(itertools.combinations(TASKS, 2))
multi = {}  # tuple of tasks -> (metrics, DeltaResult, number of parameters, model)
for names in pairs + ([TASKS] if len(TASKS) > 2 else []):
    model, _ = train_hard_shared(names)
    metrics = evaluate(model, {n: tasks[n] for n in names}, test_loader, device=device)
    delta = delta_t(metrics, {n: reference[n] for n in names}, zero_reference="skip")  # smoke models may score 0
    multi[names] = (metrics, delta, basics.n_params(model), model)
    print(f"{' + '.join(names):45s} ΔT = {delta.overall:+6.2f} %   " +
          "  ".join(f"Δ[{n}] = {delta.per_task[n]:+.2f} %" for n in names) +
          f"   params {basics.n_params(model):,} vs {sum(basics.n_params(stl_models[n]) for n in names):,} for STL")

# %%
delta_matrix = basics.pairwise_delta_matrix({k: v[1] for k, v in multi.items()}, TASKS)  # row: task scored
overall = {" + ".join(k): v[1].overall for k, v in multi.items()}
delta_matrix.to_csv(out / "pairwise_delta.csv")  # the matrix of the figure, for later notebooks or your own plots
fig = basics.plot_pairwise_delta(delta_matrix, overall,
                                 f"Pairwise hard sharing on SynthScenes, tiny_resnet, scale={scale}, seed={seed}")
savefig(fig, "01_pairwise_delta")
plt.show()

# %% [markdown]
# Which pair helps and which interferes is read off the run, not assumed:

# %%
pair_overall = {p: multi[p][1].overall for p in pairs}
best, worst = max(pair_overall, key=pair_overall.get), min(pair_overall, key=pair_overall.get)
for label, p in (("best pair ", best), ("worst pair", worst)):
    d = multi[p][1]
    print(f"{label}: {' + '.join(p):40s} ΔT = {d.overall:+.2f} %  (" +
          ", ".join(f"{t} {v:+.2f} %" for t, v in d.per_task.items()) + ")")
n_help = sum(v > 0 for v in pair_overall.values())
summary = ("sharing helps every pair" if n_help == len(pairs) else
           "sharing interferes for every pair (no pair has ΔT > 0)" if n_help == 0 else
           f"sharing helps {n_help} of {len(pairs)} pairs (ΔT > 0) and interferes for the others")
print(f"\nAt scale={scale}, seed={seed}: {summary}.")
if scale == "smoke":
    print("(smoke scale: 3 iterations; these numbers prove the code path only)")
pd.DataFrame({" + ".join(p): pd.Series({f"{t}/{m}": v for t, ms in multi[p][1].per_metric.items()
                                        for m, v in ms.items()}) for p in (best, worst)}).round(2)

# %% [markdown]
# The per-metric table shows whether a task's $\Delta_t$ comes from one metric or from all of them.
#
# **Why would a pair help or interfere?** Related tasks should help: normals are derivatives of the depth map, and
# segmentation boundaries coincide with depth discontinuities, so features that encode the scene's geometry serve
# both. Unrelated objectives may interfere: texture edges need high-frequency detail that depth must learn to
# *ignore*. But relatedness is not the only factor. With hard sharing the backbone follows $\sum_t\nabla_\theta
# \mathcal L_t$; if one loss is on a much larger scale (depth L1 in metres vs $1-\cos$ for normals), its gradient
# dominates and the other task gets the leftovers — even for tasks that are closely related. A look at the two
# tasks' gradients on the shared backbone of each trained pair model (a few training batches, final weights):
# their norms and the cosine between them ($<0$: they pull the shared weights in opposite directions).

# %%
rows = []
for p in pairs:  # each task's backbone gradient, summed over 4 training batches (train-mode BN, on a copy)
    g = basics.shared_gradients(multi[p][3], tasks, p, train_set, SIZES["batch"], seed, device=device)
    a, b = p
    rows.append({"pair": " + ".join(p), "‖∇ first‖ / ‖∇ second‖": float(g[a].norm() / g[b].norm()),
                 "cosine(∇ first, ∇ second)": float(F.cosine_similarity(g[a], g[b], dim=0)),
                 "ΔT (%)": multi[p][1].overall})
pd.DataFrame(rows).set_index("pair").round(3)

# %% [markdown]
# Read the table against the matrix above: a ratio far from 1 says one task's loss drives the shared backbone; a
# cosine near 0 or below says the two tasks want different things from it. These are hints, not proof — one seed,
# one small backbone, 600 iterations; differences of a percent or two in $\Delta_t$ can change sign with the seed
# (try it below). TreeMTL's answer to interference is to share only the first blocks and branch afterwards
# (notebooks 04–06); AutoMTL's is to learn, per layer and task, whether to share at all (from notebook 02 on).
#
# ## Try it
#
# 1. Run the notebook with `seed=1` (and more seeds if you have the time). Which entries of the $\Delta_t$ matrix keep
#    their sign? Is the best pair still the best, and does it still help?
# 2. Add `"edge_texture"` to `pair_tasks`. What is the edge model's `err`, and what would a model that predicts 0
#    everywhere score? What does that say about the edge column and row of the matrix?
# 3. Give the pair with the most negative $\Delta_T$ loss weights that balance its two gradients (hint: the ratio in
#    the last table) with `TrainConfig(..., loss_weights={...})`, train it once more and compare $\Delta_t$ (the
#    solution shows the few lines it takes).
#
# Answers: `notebooks/solutions/01_multitask_basics.md`.

# %% [markdown]
# ## Planted task structure: tasks whose relatedness you choose
#
# The five tasks above are related the way real scenes make them related, and nobody can say exactly how much.
# SynthScenes can also **plant** the structure: a `PlantedTask` is a dense target (one channel, L1 loss, metric
# `err`) computed per pixel from latent scene factors that you pick — `distance` (depth), `height` above the floor,
# `lateral` position across the room, how `upright` the surface faces, its paint `albedo` (before lighting), its
# stripe/checker `texture` bit, and direct `sunlit` light. The target is the weighted mean of the chosen factor maps,
# mapped back to [0, 1]:
#
# $$y = \frac{\sum_i w_i f_i + \sum_{w_i<0}|w_i|}{\sum_i |w_i|}.$$
#
# * Two tasks built from the **same factors** are related by construction: features that encode those factors serve
#   both.
# * Tasks built from **disjoint factors** share only what the factors themselves share — and the factors are not all
#   independent (walls are far, high, vertical and brightly painted), so measure before you call two tasks unrelated:
#   the correlation table below does that.
# * A pair that weighs shared factors with **opposite signs** (`distance + height` against `distance − height`)
#   needs the same information combined in opposite ways: a candidate *conflicting* pair. Whether it actually
#   conflicts in a shared network is an empirical question.
#
# `reproductions/planted_structure` uses four planted tasks in two related pairs as a known-answer test of TreeMTL's
# recommender and AutoMTL's search.

# %%
from mtlkit.data.synthetic import PLANTED_FACTORS, PlantedTask, SynthConfig

planted = (
    PlantedTask("planted_geo1", ("distance", "height"), (1.0, 0.5)),   # related to geo2: same factors
    PlantedTask("planted_geo2", ("distance", "height"), (0.5, 1.0)),
    PlantedTask("planted_flip", ("distance", "height"), (1.0, -1.0)),  # same factors, opposite sign on height
    PlantedTask("planted_side", ("lateral", "texture"), (1.0, 0.5)),   # disjoint factors
)
print("factors:", *(f"  {k}: {v}" for k, v in PLANTED_FACTORS.items()), sep="\n")
planted_set = SynthScenes("train", size=3 if scale == "smoke" else 48, resolution=32, seed=seed,
                          tasks=[p.name for p in planted], config=SynthConfig(planted=planted))
samples = [planted_set[i] for i in range(len(planted_set))]
fig = basics.plot_planted_tasks(samples[0], planted)
savefig(fig, "01_planted_tasks")
plt.show()

# %% [markdown]
# How alike are the planted targets? Their pixel correlation over the rendered scenes:

# %%
targets = np.stack([np.concatenate([s[p.name].numpy().ravel() for s in samples]) for p in planted])
pd.DataFrame(np.corrcoef(targets), index=[p.name for p in planted], columns=[p.name for p in planted]).round(2)

# %% [markdown]
# The table is the pixel correlation of the planted targets over the rendered images (three scenes at smoke scale,
# 48 at the other scales). Read it for: a high correlation of `geo1` and `geo2` (built from the same factors); a
# weak one between the disjoint task `side` and the geometric tasks (its `texture` factor is slightly tied to the
# room's geometry, `lateral` hardly at all); and where `flip` lands, having `geo1`'s factors with height weighed the
# other way. Correlation is a property of the labels only; whether a shared network benefits is what the known-answer
# experiment measures.
