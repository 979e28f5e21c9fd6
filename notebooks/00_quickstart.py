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
# # 00 · Quickstart: single-task models vs one hard-shared multi-task model
#
# **What you will learn.** In ten minutes on a laptop CPU: how mtlkit represents *tasks* (loss, metrics and their
# directions), how the procedural **SynthScenes** dataset gives exact labels for five dense tasks, how to train
# three single-task networks and one *hard-shared* multi-task network (one backbone, one head per task), and how the
# papers compare them with the relative performance $\Delta_t$.
#
# Both papers (AutoMTL §4, TreeMTL §4.1) measure a multi-task model $M$ against single-task references with
#
# $$\Delta_t = \frac{1}{|\mathcal M_t|}\sum_{j\in\mathcal M_t} (-1)^{l_j}\,\frac{M_{t,j}-M^{\mathrm{STL}}_{t,j}}{M^{\mathrm{STL}}_{t,j}}\times 100\,\%,
# \qquad \Delta_T = \frac1T\sum_t \Delta_t,$$
#
# where $l_j=1$ if lower is better for metric $j$. Positive means the multi-task model is better.

# %% tags=["parameters"]
scale = "cpu"  # "smoke" (tests, seconds) | "cpu" (minutes) | "paper" (not meaningful here: SynthScenes only)
seed = 0
device = "cpu"
out_dir = "../executed/quickstart"

# %%
import matplotlib.pyplot as plt
import torch

import mtlkit
from mtlkit.cache import run_dir
from mtlkit.config import check_params
from mtlkit.data import SynthScenes
from mtlkit.delta import delta_t
from mtlkit.models import build_model
from mtlkit.tasks import get_task
from mtlkit.train import TrainConfig, evaluate, seed_everything, train
from mtlkit.viz import savefig, use_style
from mtlkit.viz.basics import quickstart_sizes
from mtlkit.viz.notebooks import plot_predictions

# %%
out = check_params(scale, seed, device, out_dir)
use_style()
SIZES = quickstart_sizes(scale)  # images rendered, resolution, training iterations, batch size
TASKS = ("segment_semantic", "depth_zbuffer", "normal")
print(f"mtlkit {mtlkit.__version__}, torch {torch.__version__}, scale={scale}, sizes={SIZES}")

# %% [markdown]
# ## 1. The data: SynthScenes
#
# Each image is a small rendered 3-D scene (floor, walls, spheres, boxes, ...) with exact per-pixel labels for all
# five tasks of the papers. The same `(seed, split, index)` always gives the same image, so nothing is downloaded.
# `cache=True` renders the split once and keeps it in memory: rendering (a few hundred images per second) would
# otherwise cost more than training the small models below.

# %%
train_set = SynthScenes("train", size=SIZES["n_train"], resolution=SIZES["resolution"], tasks=TASKS, seed=seed,
                        cache=True)  # render once, keep in memory: rendering would dominate training time
test_set = SynthScenes("test", size=SIZES["n_test"], resolution=SIZES["resolution"], tasks=TASKS, seed=seed, cache=True)
sample = train_set[0]
{k: (tuple(v.shape), str(v.dtype)) for k, v in sample.items()}

# %% [markdown]
# ## 2. Tasks: a loss, metrics, and which direction is better
#
# A task object knows its head's output channels, its loss and its evaluator. The metric directions are what the
# sign $(-1)^{l_j}$ in $\Delta_t$ uses.

# %%
tasks = {name: get_task(name, **train_set.task_options().get(name, {})) for name in TASKS}
for t in tasks.values():
    print(f"{t.name:18s} out_channels={t.out_channels}  metrics: " +
          ", ".join(f"{m} ({'↑' if t.higher_is_better[m] else '↓'})" for m in t.metrics))

# %% [markdown]
# ## 3. Train three single-task models and one hard-shared model
#
# Same backbone (`tiny_resnet`), same light heads, same number of iterations and batch size. The hard-shared model
# has one backbone for all three tasks, so it is about a third of the size of the three single-task models.

# %%
loader_gen = torch.Generator().manual_seed(seed)
train_loader = torch.utils.data.DataLoader(train_set, batch_size=SIZES["batch"], shuffle=True, generator=loader_gen)
test_loader = torch.utils.data.DataLoader(test_set, batch_size=32)
config = TrainConfig(iterations=SIZES["iterations"], lr=1e-3, device=device, seed=seed)
# every run is cached (mtlkit.cache): a later notebook that trains the same model on the same data reuses it
data_key = dict(dataset="SynthScenes", n_train=SIZES["n_train"], resolution=SIZES["resolution"], tasks=TASKS,
                batch=SIZES["batch"], seed=seed)

# %% [markdown]
# One single-task model per task, each from the same seed (so from the same initial weights of the backbone):

# %%
results, n_params = {}, {}
for name in TASKS:
    seed_everything(seed)
    model = build_model("tiny_resnet", {name: tasks[name]}, head="light")
    run = run_dir(f"stl-{name}", model="tiny_resnet+light", trained=[name], data=data_key, config=config)
    train(model, {name: tasks[name]}, train_loader, config, run_dir=run)
    results[f"single:{name}"] = evaluate(model, {name: tasks[name]}, test_loader, device=device)[name]
    n_params[f"single:{name}"] = sum(p.numel() for p in model.parameters())

# %% [markdown]
# And the hard-shared model: one backbone, three heads, trained on the sum of the three losses.

# %%
seed_everything(seed)
shared = build_model("tiny_resnet", tasks, head="light")
train(shared, tasks, train_loader, config,
      run_dir=run_dir("hard-shared", model="tiny_resnet+light", trained=list(TASKS), data=data_key, config=config))
shared_metrics = evaluate(shared, tasks, test_loader, device=device)
n_params["hard-shared"] = sum(p.numel() for p in shared.parameters())

# %% [markdown]
# ## 4. Metrics and $\Delta_t$

# %%
reference = {name: results[f"single:{name}"] for name in TASKS}
delta = delta_t(shared_metrics, reference, zero_reference="skip")  # smoke-scale models may score 0
print(f"parameters: 3 single-task models {sum(v for k, v in n_params.items() if k.startswith('single')):,} "
      f"vs hard-shared {n_params['hard-shared']:,}")
for name in TASKS:
    print(f"{name:18s} single {reference[name]}\n{'':18s} shared {shared_metrics[name]}  Δt = {delta.per_task[name]:+.2f} %")
if delta.skipped:
    print(f"left out of Δt (reference value 0): {delta.skipped}")
print(f"overall ΔT = {delta.overall:+.2f} %   (scale={scale}: "
      f"{'numbers prove the code path only' if scale == 'smoke' else 'SynthScenes, CPU scale'})")

# %% [markdown]
# ## 5. Predictions next to the ground truth

# %%
shared.eval()
batch = next(iter(test_loader))
with torch.no_grad():
    pred = shared(batch["image"].to(device))
fig = plot_predictions(batch, {t: v.cpu() for t, v in pred.items()}, n_show=3,
                       title=f"Hard-shared tiny_resnet on SynthScenes test images (scale={scale})")
savefig(fig, "00_quickstart_predictions")
plt.show()

# %% [markdown]
# ## Try it
#
# 1. Swap `"normal"` for `"edge_texture"` in `TASKS`. Does sharing help or hurt the edge task? Why might texture
#    edges compete with depth for the shared features?
# 2. Train the hard-shared model with `loss_weights` in `TrainConfig` that favour depth (e.g. `{"depth_zbuffer": 3}`).
#    How do $\Delta_t$ of the three tasks move?
# 3. Replace `tiny_resnet` by `tiny_cnn`. What happens to the parameter ratio and to $\Delta_T$?
#
# Answers: `notebooks/solutions/00_quickstart.md`.
