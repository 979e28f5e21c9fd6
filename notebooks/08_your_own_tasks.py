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
# # 08 · Your own tasks, data and backbones — and deploying what the search found
#
# **What you will learn.** Everything the course did on SynthScenes' built-in tasks, done on *your* set-up:
#
# * **your data on disk**: a folder of PNG images and label files (PNG, `.npy`, JSON) read by
#   `mtlkit.data.FolderDataset`, with AutoMTL's `train`/`train1`/`train2`/`test` splits (`write_splits`);
# * **your tasks**: an image-level multi-label task ("which objects are in the scene", the library's `MultiLabel`
#   under a name of your own) and a task written from scratch (the scene's mean depth, with its own loss and
#   evaluator), registered with `register_task`, beside a dense task (segmentation);
# * **your backbones**: a torchvision network, as a feature map and as a **pooled vector** (a classifier without its
#   last layer, `classifier_trunk`), compiled by AutoMTL and cut by TreeMTL's branching-point detector, with the
#   equivalence checks that prove the compiled models compute what the backbone computes;
# * **both searches on it**: AutoMTL's policy search and TreeMTL's two-task grid and recommendation, each model
#   trained over several seeds and compared with 95% confidence intervals and paired tests;
# * **deploying**: the found models exported with `torch.export` and to ONNX (checked against eager), their
#   measured batch-1 CPU latency next to FLOPs and parameters, and a recommendation under a **latency** budget.
#
# Every trained number here is **SynthScenes written to disk, at the scale of this run** (`cpu`: minutes on a
# laptop; `smoke`: only proves the code path) — a stand-in for your data, comparable with nothing in the papers.

# %% tags=["parameters"]
scale = "cpu"  # "smoke" (tests, seconds) | "cpu" (a few minutes) | "paper" (longer runs, same SynthScenes folder)
seed = 0
device = "cpu"
out_dir = "../executed/08_your_own_tasks"

# %%
import time

import numpy as np
import pandas as pd
import torch

import mtlkit
from mtlkit.config import check_params

# %%
out = check_params(scale, seed, device, out_dir)
pd.set_option("display.width", 180)
torch.set_num_threads(1)  # tiny models on a shared 2-core machine: one thread is far faster than two
T0 = time.perf_counter()
SIZES = {  # images written to the folder, resolution, backbone width, training iterations, seeds
    "smoke": dict(n_images=24, resolution=32, width=4, iterations=2, policy=8, batch=8, seeds=2),  # B = 2 blocks
    "cpu": dict(n_images=192, resolution=32, width=8, iterations=80, policy=80, batch=8, seeds=5),
    "paper": dict(n_images=2048, resolution=64, width=16, iterations=2000, policy=4000, batch=16, seeds=5),
}[scale]
SEEDS = tuple(seed + i for i in range(SIZES["seeds"]))
B = 2  # TreeMTL's coarse blocks: 3 pairs x (B + 1) two-task models per seed
LABEL = f"SynthScenes stand-in written to disk, scale={scale}"
print(f"mtlkit {mtlkit.__version__}, scale={scale}, seeds={SEEDS}, {SIZES}")

# %% [markdown]
# ## 1. Your data: a folder of images and label files
#
# Your data is probably a folder of images and one label file per image and task. We make such a folder from
# SynthScenes first (in your project it already exists): images as 8-bit PNG, segmentation as a PNG of class ids,
# depth as a `.npy` array, and two per-image labels in JSON files — the **object classes in the scene** (of rug,
# sphere, box, cylinder) and the scene's **mean depth**. Nothing below uses SynthScenes again: everything reads the
# folder.

# %%
import json

from mtlkit.data import SynthScenes
from mtlkit.data.folder import iter_ids, write_sample, write_splits
from mtlkit.data.synthetic import CLASS_NAMES, denormalize

OBJECTS = ("rug", "sphere", "box", "cylinder")  # the image-level classes: which of them appear in the image
DATA = out / f"my_dataset_{scale}_{seed}"
source = SynthScenes("train", size=SIZES["n_images"], resolution=SIZES["resolution"], seed=seed,
                     tasks=("segment_semantic", "depth_zbuffer"))

# %% [markdown]
# Every scene: the image as a PNG, segmentation as a PNG of class ids, depth as `.npy`; the image-level labels are
# collected for the JSON files.

# %%
objects_json, depth_json = {}, {}
for sample_id, i in zip(iter_ids(len(source), "scene"), range(len(source))):
    s = source[i]
    rgb = (denormalize(s["image"]).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    seg, depth = s["segment_semantic"].numpy(), s["depth_zbuffer"][0].numpy()
    write_sample(DATA, sample_id, rgb, {"segment_semantic": ("png", seg), "depth_zbuffer": ("npy", depth)})
    objects_json[sample_id] = [OBJECTS.index(CLASS_NAMES[c]) for c in np.unique(seg) if CLASS_NAMES[c] in OBJECTS]
    depth_json[sample_id] = float(depth.mean())

# %% [markdown]
# The two image-level labels go to one JSON file per task, the class count to `meta.json`, and the ids to the
# split files:

# %%
(DATA / "objects_present.json").write_text(json.dumps(objects_json))
(DATA / "mean_depth.json").write_text(json.dumps(depth_json))
(DATA / "meta.json").write_text(json.dumps({"task_options": {"segment_semantic": {"num_classes": len(CLASS_NAMES)},
                                                             "objects_present": {"num_classes": len(OBJECTS)}}}))
splits = write_splits(DATA, list(objects_json), test_fraction=0.25, seed=seed)
print(f"{DATA}: " + ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in DATA.iterdir())))
pd.DataFrame({k: [len(v)] for k, v in splits.items()}, index=["images"])

# %% [markdown]
# **The splits.** AutoMTL alternates network steps on `train1` with policy steps on `train2` — two *disjoint*
# halves of `train`, so the policy is chosen on images the weights were not just fitted to (AutoMTL §3.3; AdaShare
# made its splits the same way). `write_splits` shuffles the ids with a seed, holds out `test`, and halves `train`
# into `train1`/`train2`; each split is a text file of ids, so you can also write them by hand.
#
# **Reading it back.** `FolderDataset(root, split, tasks)` takes one *label reader* per task — `PngLabel`,
# `NpyLabel`, `JsonLabel(num_classes=...)` (a list of class ids → a multi-hot vector) or any function
# `reader(root, sample_id) -> tensor` — and returns the sample dicts every mtlkit loop understands. It checks every
# file of the split when it is built, so a missing label is named at once:

# %%
from mtlkit.data import FolderDataset
from mtlkit.data.folder import JsonLabel, NpyLabel, PngLabel

READERS = {"segment_semantic": PngLabel(), "objects_present": JsonLabel(num_classes=len(OBJECTS)),
           "mean_depth": JsonLabel()}
TASKS = tuple(READERS)
sample = FolderDataset(DATA, "train", {**READERS, "depth_zbuffer": NpyLabel()})[0]
print({k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in sample.items()})
try:
    FolderDataset(DATA, "train", {**READERS, "normal": NpyLabel()})  # there is no normal/ folder
except FileNotFoundError as exc:
    print("FileNotFoundError:", exc)

# %% [markdown]
# ## 2. Your tasks
#
# A task is a small frozen dataclass: `out_channels`, `loss(pred, batch)`, `evaluator()` and its `metrics` with their
# directions (`higher_is_better`, used by $\Delta_t$). The batch key is the task's registered name.
#
# * **"which objects are in the scene"** is the library's image-level `MultiLabel` task (binary cross-entropy on
#   `(B, K)` logits; mean average precision and micro-F1, both ↑) under a name of your own, so that it reads
#   `batch["objects_present"]`;
# * **the scene's mean depth** is written here from scratch: a `(B, 1)` prediction, an L1 loss, and an evaluator
#   that accumulates the absolute error over the test set (metric `err`, ↓).

# %%
from dataclasses import dataclass

from mtlkit.errors import ConfigError
from mtlkit.metrics import Evaluator
from mtlkit.tasks import MultiLabel, Task, get_task, list_tasks, register_task

if "objects_present" not in list_tasks():  # (re-running the cell keeps the first registration)
    @register_task("objects_present")
    @dataclass(frozen=True, repr=False)
    class ObjectsPresent(MultiLabel):
        """Which of rug / sphere / box / cylinder appear in the image."""

        num_classes: int = len(OBJECTS)

# %% [markdown]
# The mean-depth task from scratch: first its evaluator (accumulate, then report once), then the task.

# %%
class MeanAbsError(Evaluator):
    """Mean absolute error of a (B, 1) image-level prediction over everything seen."""

    metrics = ("err",)

    def reset(self):
        self.total, self.count = 0.0, 0

    def update(self, pred, batch):
        target = batch[self.key].to(pred.device).reshape(-1)
        self.total += float((pred.reshape(-1) - target).abs().sum())
        self.count += target.numel()

    def compute(self):
        return {"err": self.total / max(self.count, 1)}


# %%
if "mean_depth" not in list_tasks():
    @register_task("mean_depth")
    @dataclass(frozen=True, repr=False)
    class MeanDepth(Task):
        """Image-level regression of the scene's mean depth in metres: (B, 1), L1 loss, metric ``err``."""

        out_channels = 1  # plain class attributes are enough where the base class has properties
        metrics = ("err",)

        def loss(self, pred, batch):
            if pred.shape[-1] != 1 or pred.dim() != 2:
                raise ConfigError(f"task 'mean_depth' needs a (B, 1) prediction, got {tuple(pred.shape)}")
            return (pred.reshape(-1) - batch[self.name].to(pred.device).reshape(-1)).abs().mean()

        def evaluator(self, paper_compat=None):
            return MeanAbsError(self.name)

# %% [markdown]
# Both are registered now; `get_task` builds every task with the options the folder's `meta.json` records:

# %%
train_set = FolderDataset(DATA, "train", READERS)
TASK_OBJS = {t: get_task(t, **train_set.task_options().get(t, {})) for t in TASKS}
pd.DataFrame({t: {"out_channels": k.out_channels, "metrics": ", ".join(
    f"{m} {'↑' if k.higher_is_better[m] else '↓'}" for m in k.metrics)} for t, k in TASK_OBJS.items()}).T

# %% [markdown]
# ## 3. Your backbones: feature maps and pooled vectors
#
# Any fx-traceable network is a backbone. A dense task needs a **feature map** `(B, C, h, w)`; an image-level task
# can read a map through a pooled head (`get_head("pool_fc", C, K)`: global average pooling + Linear) or a backbone
# that already ends in global pooling and returns a **vector** `(B, C)`, with Linear heads (`get_head("fc", C, K)`).
# `classifier_trunk` turns any torchvision classifier into such a vector backbone by removing its last Linear.
#
# First a full-size torchvision network, compiled and checked (random initialisation, no training, no download):
# AutoMTL's supermodel with every node *shared* must be the backbone followed by the heads, a derived model must be
# the supermodel's hard mode, and TreeMTL's all-shared tree model must again be backbone + heads.

# %%
from torch import nn

from mtlkit.automtl import SuperModel
from mtlkit.backbones import classifier_trunk
from mtlkit.heads import get_head
from mtlkit.viz.own_tasks import compile_checks as equivalence  # the three differences of one backbone + heads

torch.manual_seed(seed)
x64 = torch.randn(2, 3, 64, 64)
resnet18 = classifier_trunk("resnet18")  # torchvision resnet18 without its fc: (B, 512)
rows = [equivalence(resnet18, {"objects_present": get_head("fc", 512, len(OBJECTS)),
                               "mean_depth": get_head("fc", 512, 1)}, x64, "resnet18 (pooled vector)")]

# %% [markdown]
# The same network cut before its pooling gives feature maps, for a dense head and a pooled one:

# %%
resnet18_maps = nn.Sequential(*list(resnet18.children())[:-2])  # the same network up to layer4: (B, 512, 2, 2)
rows.append(equivalence(resnet18_maps, {"segment_semantic": get_head("linear", 512, 6),
                                        "objects_present": get_head("pool_fc", 512, len(OBJECTS))}, x64,
                        "resnet18 (feature map)"))
pd.DataFrame(rows).set_index("backbone")

# %% [markdown]
# The differences are exactly 0 or at float rounding: the compiled models are the backbone. Two mistakes are
# refused with a message naming the task, not with a shape error deep inside torch:

# %%
for what, trunk, heads in [
        ("a Linear head on a feature map", resnet18_maps, {"objects_present": get_head("fc", 512, 4)}),
        ("a conv head on a pooled vector", resnet18, {"segment_semantic": get_head("light", 512, 6)})]:
    try:
        SuperModel.from_backbone(trunk, heads, x64[:1])
    except ConfigError as exc:
        print(f"{what}:\n  ConfigError: {exc}\n")

# %% [markdown]
# ResNet-18 is too slow to train many times on a laptop CPU. The searches below use **a backbone of our own built
# from torchvision's residual block** (`torchvision.models.resnet.BasicBlock`): a stride-2 stem and three blocks,
# output stride 4 — the same code path as any torchvision trunk, at a size that trains in seconds. The pooled
# variant (`nn.Sequential(trunk, AdaptiveAvgPool2d(1), Flatten())`) passes the same checks.

# %%
from collections import OrderedDict

from torchvision.models.resnet import BasicBlock


def my_trunk(width: int) -> nn.Sequential:
    """Stem (3x3 conv, stride 2) + three torchvision BasicBlocks (the second one strided): (B, 2·width, H/4, W/4)."""
    down = nn.Sequential(nn.Conv2d(width, 2 * width, 1, 2, bias=False), nn.BatchNorm2d(2 * width))
    return nn.Sequential(OrderedDict([
        ("stem", nn.Conv2d(3, width, 3, 2, 1, bias=False)), ("bn", nn.BatchNorm2d(width)), ("relu", nn.ReLU()),
        ("block1", BasicBlock(width, width)), ("block2", BasicBlock(width, 2 * width, 2, down)),
        ("block3", BasicBlock(2 * width, 2 * width))]))


# %%
W, C = SIZES["width"], 2 * SIZES["width"]
x_small = torch.randn(2, 3, SIZES["resolution"], SIZES["resolution"])
pooled = nn.Sequential(my_trunk(W), nn.AdaptiveAvgPool2d(1), nn.Flatten())
pd.DataFrame([equivalence(my_trunk(W), {"segment_semantic": get_head("light", C, 6, width=C),
                                        "objects_present": get_head("pool_fc", C, 4)}, x_small, "my_trunk (map)"),
              equivalence(pooled, {"objects_present": get_head("fc", C, 4), "mean_depth": get_head("fc", C, 1)},
                          x_small, "my_trunk + pooling (vector)")]).set_index("backbone")

# %% [markdown]
# ## 4. Loaders and one training recipe for every model
#
# The three tasks — segmentation (dense, a light conv head), which objects (image-level, pooled head) and mean depth
# (image-level, pooled head) — share `my_trunk`. Every final model of both searches is trained with the same recipe
# (Adam, the same iterations, batches and seeds) and cached under `$MTLKIT_CACHE`, so a re-run or a killed run
# resumes instead of training again.

# %%
from dataclasses import replace

from torch.utils.data import DataLoader

from mtlkit.train import TrainConfig


def loader(split, shuffle=False):
    ds = FolderDataset(DATA, split, READERS)
    return DataLoader(ds, batch_size=SIZES["batch"], shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed) if shuffle else None)


LOADERS = {s: loader(s, shuffle=s != "test") for s in ("train", "train1", "train2", "test")}
RECIPE = TrainConfig(iterations=SIZES["iterations"], lr=2e-3, eval_every=0, checkpoint_every=0,
                     log_every=max(1, SIZES["iterations"] // 10), device=device)
DATA_KEY = dict(folder=DATA.name, n_images=SIZES["n_images"], resolution=SIZES["resolution"], tasks=list(TASKS),
                width=W)

# %% [markdown]
# Every model of a seed starts from the same trunk and the same heads:

# %%
import zlib


def make_heads(tasks, s):
    heads = {}
    for t in tasks:  # each head seeded by (seed, task): the same head whatever the other tasks are
        torch.manual_seed(zlib.crc32(f"{s}:{t}".encode()))
        k = TASK_OBJS[t].out_channels
        heads[t] = get_head("light", C, k, width=C) if t == "segment_semantic" else get_head("pool_fc", C, k)
    return heads


def make_trunk(s):
    torch.manual_seed(s)
    return my_trunk(W)

# %% [markdown]
# Two more helpers: the mean over seeds with its confidence interval, and the common recipe with its run cache.

# %%
from scipy import stats


def mean_ci(values, axis=0):
    """Mean over seeds and the half-width of its 95% t confidence interval."""
    v = np.asarray(values, dtype=float)
    n = v.shape[axis]
    half = stats.t.ppf(0.975, n - 1) * v.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.nan * v.mean(axis)
    return v.mean(axis=axis), half


# %%
from mtlkit.cache import run_dir
from mtlkit.train import evaluate, train


def fit(model, tasks, kind, s, **key):
    """Train ``model`` with the common recipe (cached run) and return its test metrics."""
    run = run_dir(f"nb08-{kind}", data=DATA_KEY, recipe=RECIPE, seed=s, tasks=list(tasks), **key)
    train(model, {t: TASK_OBJS[t] for t in tasks}, LOADERS["train"], replace(RECIPE, seed=s), run_dir=run,
          progress=False)
    return evaluate(model, {t: TASK_OBJS[t] for t in tasks}, LOADERS["test"], device=device)


# %% [markdown]
# ## 5. TreeMTL on your set-up: branching points, the two-task grid, the recommendation
#
# The detector cuts `my_trunk` where every input→output path passes (§3.3); we merge the pieces into $B = 2$
# blocks of similar FLOPs (a few seconds per two-task model on a CPU; try $B = 3$ with more time). The grid trains, for every pair of tasks and every branching point $b = 0..B$, the
# two-task model that shares the first $b$ blocks; each entry of the two-task table is the task's $\Delta$ against
# the pair's $b = 0$ model (the two single-task networks). We train the grid for every seed and average the tables.

# %%
from mtlkit.treemtl import Layout, TreeModel, TwoTaskTable, branching_points, coarsen, count_layouts, recommend
from mtlkit.treemtl.grid import table_from_results

blocks = coarsen(branching_points(make_trunk(seed), x_small[:1]), B)
print(blocks)

# %% [markdown]
# One seed's grid: for every pair and every branching point $b$, the two-task model sharing the first $b$ blocks.

# %%
def grid_of_seed(s):
    """Every two-task model of seed ``s`` (pairs x branching points), trained; the table and the STL metrics."""
    results, stl_s = {}, {}
    for a in range(len(TASKS)):
        for c in range(a + 1, len(TASKS)):
            pair = (TASKS[a], TASKS[c])
            for b in range(blocks.B + 1):
                trunk = make_trunk(s)
                model = TreeModel.two_task(trunk, coarsen(branching_points(trunk, x_small[:1]), B), b,
                                           make_heads(pair, s))
                results[((a, c), b)] = {"metrics": fit(model, pair, "grid", s, pair=list(pair), branch=b)}
                for t in pair if b == 0 else ():  # the pair's b = 0 model: the single-task references
                    stl_s.setdefault(t, results[((a, c), 0)]["metrics"][t])
    return table_from_results(results, TASKS, blocks.B), stl_s

# %% [markdown]
# The grid for every seed, and its table: the mean over the seeds with the half-width of the 95% interval.

# %%
t_grid = time.perf_counter()
grid_results, stl = {}, {}
for s in SEEDS:
    grid_results[s], stl[s] = grid_of_seed(s)
grid_seconds = time.perf_counter() - t_grid
mean_values, half = mean_ci([grid_results[s].values for s in SEEDS])
table = TwoTaskTable(mean_values, TASKS, f"my_dataset, mean of {len(SEEDS)} seeds")
ci = TwoTaskTable(np.nan_to_num(half), TASKS).to_frame()
print(f"grid: {len(TASKS) * (len(TASKS) - 1) // 2 * (blocks.B + 1)} models x {len(SEEDS)} seeds in "
      f"{grid_seconds:.0f} s; two-task table, mean ± 95% CI over the seeds (% vs the pair's b = 0 model; {LABEL}):")
table.to_frame().round(2).astype(str) + " ± " + ci.round(2).astype(str)

# %% [markdown]
# The recommender weights the tasks by the SVD entropy of their two-task rows (TreeMTL §3.2); with order 3 it needs
# at least 4 branching points to be informative (with $B \le 3$ it is 0 for every task, the authors' weights would be
# uniform), so a short grid like this one uses uniform weights.

# %%
budget = 2.0  # backbones (MACs): at most the cost of two trunks
WEIGHTS = "svde" if blocks.B >= 4 else "uniform"
top = recommend(table, blocks.block_costs(), budget=budget, k=5, weights=WEIGHTS)
print(f"{count_layouts(len(TASKS), blocks.B)} layouts over {blocks.B} blocks; top 5 within {budget} backbones:")
top[["layout", "score", "macs", "params", "backbones"]]

# %% [markdown]
# ## 6. AutoMTL on your set-up: the policy search
#
# The same trunk and heads compiled into a supermodel; the search alternates network steps on `train1` and policy
# steps on `train2` (the paper's NYUv2 preset, shortened), then discretises the policy. The derived model is
# trained with **the common recipe** (not the search's own post-train), so it is compared with TreeMTL's pick on
# equal terms.

# %%
from mtlkit.automtl import SearchConfig, search

config = SearchConfig.preset("nyuv2", loss_weights=None, post_loss_weights=None, device=device,
                             checkpoint_every=max(1, SIZES["policy"]), log_every=max(1, SIZES["policy"] // 10))
config = config.replace(network_lr=0.01, post_lr_step=None).scaled(SIZES["policy"], pre_train_iterations=0,
                                                                   post_train_iterations=0)

# %%
policies, t_search = {}, time.perf_counter()
for s in SEEDS:
    sm = SuperModel.from_backbone(make_trunk(s), make_heads(TASKS, s), x_small[:1])
    cfg = config.replace(seed=s, sample_seed=10 + 1000 * s)
    result = search(sm, {k: LOADERS[k] for k in ("train1", "train2", "test")}, cfg, tasks=TASK_OBJS,
                    run_dir=run_dir("nb08-search", data=DATA_KEY, config=cfg), progress=False)
    policies[s] = result.policy
search_seconds = time.perf_counter() - t_search
share, share_ci = mean_ci([np.mean([c == "shared" for row in p.values() for c in row.values()])
                           for p in policies.values()])
print(f"policy search: {len(SEEDS)} seeds in {search_seconds:.0f} s; share of (node, task) choices that are "
      f"'shared': {share:.2f} ± {share_ci:.2f} (mean ± 95% CI over the seeds)")

# %% [markdown]
# ## 7. Three models on your data, over the seeds
#
# For every seed: the **all-shared** model (hard sharing, one trunk), **TreeMTL's pick** (the top layout within the
# budget; when the top layout *is* the all-shared one, the best-ranked layout that branches, so that the comparison
# says something) and **AutoMTL's derived model** (that seed's policy), each trained with the common recipe. $\Delta_T$ is
# against the seed's single-task networks (the grid's $b = 0$ models). The table gives the mean over seeds with a
# 95% *t* confidence interval (each task's first metric as mean ± CI), and a paired *t*-test of $\Delta_T$ against
# all-shared (same seed, same images).

# %%
ALL_SHARED = Layout.all_shared(len(TASKS), blocks.B)
pick_rank, pick = next((r, lay) for r, lay in top["layout"].items() if lay != ALL_SHARED)
print(f"TreeMTL's top-1 within the budget: {top['layout'].iloc[0]}; trained as 'TreeMTL pick': rank {pick_rank}, "
      f"{pick}")

# %%
finals = {s: {} for s in SEEDS}
models = {}  # the last seed's models (exported and timed in section 8)
for s in SEEDS:
    for name, layout in (("all-shared", ALL_SHARED), ("TreeMTL pick", pick)):
        trunk = make_trunk(s)
        model = TreeModel.from_layout(trunk, coarsen(branching_points(trunk, x_small[:1]), B), layout,
                                      make_heads(TASKS, s))
        finals[s][name] = fit(model, TASKS, "layout", s, layout=str(layout))
        models[name] = model
    sm = SuperModel.from_backbone(make_trunk(s), make_heads(TASKS, s), x_small[:1])
    derived = sm.derive(policies[s])
    finals[s]["AutoMTL derived"] = fit(derived, TASKS, "derived", s, policy=policies[s])
    models["AutoMTL derived"] = derived

# %% [markdown]
# $\Delta_T$ of every model and seed against that seed's single-task networks, and the summary over the seeds:

# %%
from mtlkit.delta import delta_t

rows = []
delta = {name: [delta_t(finals[s][name], stl[s], zero_reference="skip").overall for s in SEEDS]
         for name in finals[SEEDS[0]]}
for name, values in delta.items():
    m, h = mean_ci(values)
    p = stats.ttest_rel(values, delta["all-shared"]).pvalue if name != "all-shared" else float("nan")
    per_task = {}
    for t in TASKS:
        k = TASK_OBJS[t].metrics[0]
        mt, ht = mean_ci([finals[s][name][t][k] for s in SEEDS])
        per_task[f"{t} {k}"] = f"{mt:.3f} ± {ht:.3f}"
    rows.append({"model": name, "ΔT % (mean)": m, "95% CI ±": h, "paired t-test p vs all-shared": p, **per_task})

# %%
summary = pd.DataFrame(rows).set_index("model")
print(f"{LABEL}; {len(SEEDS)} seeds; TreeMTL pick: {pick} (rank {pick_rank})")
summary.round(3)

# %% [markdown]
# Read the CI before the means: with a few hundred images and a hundred iterations the seeds disagree by several
# points of $\Delta_T$, and a p-value above 0.05 means the paired differences are within that noise.
#
# ## 8. Deploying: export, latency, and a latency budget
#
# `save_deployable(model, run_dir, example_input)` makes a run folder deployable: the `torch.export` program, the
# eager outputs on the example input, and `deploy/deployable.json` (written last: a run without it is "unfinished"
# and `python -m mtlkit export` refuses it by name). `export_run` then writes `.pt2` or ONNX and checks the file
# against the eager outputs (within 1e-5, every task). The command line does the same:
# `python -m mtlkit export RUN_DIR --format onnx`.

# %%
from mtlkit.export import export_run, save_deployable

x1 = torch.zeros(1, 3, SIZES["resolution"], SIZES["resolution"])
formats = ("pt2",) if scale == "smoke" else ("pt2", "onnx")  # ONNX needs the optional 'export' extra
to_export = {"AutoMTL derived": models["AutoMTL derived"]} if scale == "smoke" else models  # smoke: seconds

# %%
exports = []
for name, model in to_export.items():  # the last seed's models
    folder = out / "deploy" / name.replace(" ", "_")
    save_deployable(model, folder, x1, info={"scale": scale, "seed": SEEDS[-1]})
    for fmt in formats:
        try:
            rep = export_run(folder, fmt)
            exports.append({"model": name, "format": fmt, "file": rep.path.name,
                            "max |exported - eager|": max(rep.max_abs_diff.values())})
        except ConfigError as exc:  # e.g. the 'export' extra is not installed
            exports.append({"model": name, "format": fmt, "file": f"skipped: {exc}"})
pd.DataFrame(exports).set_index(["model", "format"])

# %% [markdown]
# **Latency is not FLOPs.** Batch-1 CPU latency (median of repeats, one thread) of the three models, next to their
# FLOPs and parameters. Python-level overhead per block copy and per op makes many small ops cost more than their
# FLOPs say — the ranking by latency need not be the ranking by FLOPs (`benchmarks/bench_latency.py` shows it for
# ResNet-34 and MobileNetV2 at 224 px).

# %%
from mtlkit.flops import count_flops
from mtlkit.treemtl.latency import block_latency_table, measure_latency, recommend_within_latency

repeats = 5 if scale == "smoke" else 30
lat_rows = []
for name, model in models.items():
    lat = measure_latency(model, x1, repeats=repeats, warmup=2, threads=1)
    lat_rows.append({"model": name, "latency ms (median)": lat.median_ms, "p10": lat.p10_ms, "p90": lat.p90_ms,
                     "threads": lat.threads, "MFLOPs": count_flops(model.eval(), x1) / 1e6,
                     "params": sum(p.numel() for p in model.parameters())})
pd.DataFrame(lat_rows).set_index("model").round(3)

# %% [markdown]
# **A latency budget for the recommender.** Each block of the trunk is timed alone once (batch 1, one thread) and
# cached per backbone, resolution, device and thread count; a layout's latency is estimated as
# $\sum_c |L_c|\, t_c$, the same additive model as its FLOPs, and the recommender ranks the layouts that fit
# (`python -m mtlkit recommend --latency-budget-ms` does this for ResNet-34 and MobileNetV2).

# %%
lat_table = block_latency_table(blocks, repeats=repeats, name=f"my_trunk@{SIZES['resolution']}")
print(f"per-block latency ({'cached' if lat_table.cached else 'measured'}):")
print(lat_table.frame().round(4).to_string(index=False))
budget_ms = 1.75 * lat_table.total_ms
by_latency = recommend_within_latency(table, lat_table, budget_ms, blocks.block_costs(), k=5, weights=WEIGHTS)
print(f"top 5 within {budget_ms:.3f} ms (the latency of 1.75 trunks):")
by_latency[["layout", "score", "latency_ms", "macs", "params"]]

# %%
print(f"notebook 08 done in {time.perf_counter() - T0:.0f} s ({LABEL})")

# %% [markdown]
# ## Try it
#
# 1. **Your own folder.** Point `FolderDataset` at a folder of your own images with one label folder per task. What
#    has to change in `READERS` if your segmentation labels are JPEGs or your depth maps are 16-bit PNGs in
#    millimetres?
# 2. **Another image-level task.** Register a task "number of objects" (a count regression, or a multi-class
#    classification over 0..12 objects) and add it to `TASKS`. Which head does it need on `my_trunk`, and which on the
#    pooled vector backbone?
# 3. **Splits.** Rewrite the splits with `test_fraction=0.5`. Why must `train1` and `train2` stay disjoint for the
#    policy search, and what would happen to the policy if they were the same images?
# 4. **A pooled backbone in the searches.** Run sections 5–7 with `nn.Sequential(my_trunk(W), AdaptiveAvgPool2d(1),
#    Flatten())` and only the two image-level tasks. What does the branching-point detector do with the pooling?
# 5. **Latency vs FLOPs.** Time the all-shared model with 2 threads instead of 1, and at batch 8. Does the ranking of
#    the three models change?
#
# Answers: `notebooks/solutions/08_your_own_tasks.md`.
