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
# # 02 · Compiling a backbone into a multi-task supermodel (AutoMTL)
#
# **What you will learn.** AutoMTL's first idea (AutoMTL §3.1; docs/automtl.md §1) is a *compiler*: it takes an
# ordinary single-task CNN and turns it into a **supermodel** in which every convolution offers each task three
# branches — use the shared conv, use a task-specific copy, or skip the layer. In this notebook, with no training at
# all:
#
# 1. what `torch.fx` tracing gives (the backbone as a graph of ops, with shapes), and the graph of a supermodel;
# 2. what a **virtual computation node** is: its three branches, the kinds of skip (identity / projection / none)
#    and why mtlkit's default `skip="auto"` differs from the paper;
# 3. the policy logits and the five execution modes;
# 4. the equivalences that make the supermodel trustworthy, checked live with assertions: all-shared = the plain
#    backbone, all-specific = independent networks, mean mode = the mean of the branches;
# 5. **tree execution**: how many convolutions actually run for three tasks, counted with forward hooks — and why
#    with task-specific BatchNorm nothing is shared after the first BN;
# 6. parameter accounting in the paper's convention and in full, FLOPs, and the paper's CityScapes architecture
#    (28,854,656 conv parameters, −32.16 %) reproduced on ResNet-34;
# 7. the same key steps on a second backbone of your choice (the `second_backbone` parameter).

# %% tags=["parameters"]
scale = "cpu"  # "smoke" (tests, seconds) | "cpu" (a minute) | "paper" (224-px inputs: FLOPs at the papers' size)
seed = 0
device = "cpu"
out_dir = "../executed/02_supermodel_compilation"
second_backbone = "mobilenet_v2"  # any name of mtlkit.backbones.list_backbones()

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import nn

import mtlkit
from mtlkit.automtl import SuperModel, flops_report, param_report, plot_policy, policy_counts, trace_backbone
from mtlkit.automtl.policy import PAPER_CITYSCAPES_VECTORS, paper_cityscapes_policy
from mtlkit.backbones import backbone_channels, get_backbone, list_backbones
from mtlkit.config import check_params
from mtlkit.data.synthetic import NUM_CLASSES
from mtlkit.errors import ConfigError
from mtlkit.heads import get_head
from mtlkit.tasks import get_task
from mtlkit.viz import savefig, use_style
from mtlkit.viz.notebooks import count_conv_calls, draw_supermodel, draw_virtual_node, unique_node_labels

# %%
out = check_params(scale, seed, device, out_dir)
if second_backbone not in list_backbones():
    raise ConfigError(f"second_backbone must be one of {list_backbones()}, got {second_backbone!r}")
use_style()
SIZES = {"smoke": dict(resolution=32), "cpu": dict(resolution=64), "paper": dict(resolution=224)}[scale]
R = SIZES["resolution"]
torch.manual_seed(seed)
example = torch.zeros(1, 3, R, R, device=device)  # only its shape matters for tracing
x = torch.randn(2, 3, R, R, device=device)  # a batch to run
# three SynthScenes tasks (notebook 01): 6 segmentation classes, 1 depth channel, 3 normal channels
TASKS = {name: get_task(name, **({"num_classes": NUM_CLASSES} if name == "segment_semantic" else {}))
         for name in ("segment_semantic", "depth_zbuffer", "normal")}
print(f"mtlkit {mtlkit.__version__}, torch {torch.__version__}, scale={scale}, inputs {R}x{R}, "
      f"second backbone {second_backbone!r}")

# %% [markdown]
# ## 1. Tracing a backbone with `torch.fx`
#
# The original AutoMTL reads the backbone from a Caffe-style prototxt and supports seven layer types (docs/automtl.md §1.1,
# §1.9). mtlkit instead *traces* any `nn.Module` with `torch.fx`: fx runs `forward` on proxy values and records every
# module call, function and method as a node of a graph; `ShapeProp` then runs the graph once on an example input to
# store each value's shape. The backbone here is `tiny_resnet` (a stem and three torchvision `BasicBlock`s, one with
# a 1×1 projection shortcut), small enough to read whole.

# %%
backbone = get_backbone("tiny_resnet").to(device)
traced = trace_backbone(backbone, example)
print(f"{len(traced.convs)} convs, {len(traced.bns)} BNs, features {traced.feature_shape}, D = {traced.max_depth}")
print("\n".join(traced.module.code.strip().splitlines()[:14]) + "\n    ...")

# %% [markdown]
# Every line is one fx node: `call_module` (a submodule such as a conv), `call_function` (e.g. the residual
# `operator.add`), `call_method`, and the `placeholder`/`output` ends. The **depth** of a conv is the number of convs
# on the longest path from the input to it (docs/automtl.md §1.2); the largest, $D$, weights AutoMTL's regulariser later.
# The residual block's shortcut runs in parallel, so the 1×1 `downsample` conv has the same depth as the block's
# first 3×3 conv.

# %%
graph_rows = [{"fx node": n.name, "op": n.op, "target": str(getattr(n.target, "__name__", n.target)),
               "shape (per sample)": tuple(n.meta["tensor_meta"].shape[1:]) if "tensor_meta" in n.meta else None,
               "conv depth": traced.depths.get(n.target) if isinstance(n.target, str) else None}
              for n in traced.module.graph.nodes]
pd.DataFrame(graph_rows).set_index("fx node").iloc[:20]

# %% [markdown]
# ## 2. The supermodel and its virtual computation nodes
#
# `SuperModel.from_backbone(backbone, heads, example_input)` makes every `nn.Conv2d` call a **virtual computation
# node** (VCN, docs/automtl.md §1.3), named by its module path, with up to three branches per task $t$:
#
# * **shared** — the backbone's own conv (one module for all tasks);
# * **specific** — a per-task `deepcopy` of that conv (same initial weights, as in the paper);
# * **skip** — the identity where the conv keeps the shape (stride 1, same channels). Where it changes the shape the
#   paper uses a 1×1 conv + BN "projection" instead, which is not free: at a 1×1 conv it is a new layer of the *same*
#   size, at a depthwise conv a dense $C\times C$ conv *larger* than the op (docs/automtl.md §1.3). mtlkit's `skip="auto"`
#   keeps the projection only where it costs at most half the conv (k×k dense convs such as stems and stride-2 3×3
#   convs) and offers no skip elsewhere; `skip="project"` is the paper's rule, `skip="never"` offers no skip where
#   the shape changes.
#
# BatchNorm is task-specific by default (`share_bn=False`, the paper): each task has its own BN copy. Every other op
# (ReLU, add, pooling) is shared.

# %%
fig = draw_virtual_node()
savefig(fig, "02_virtual_node")
plt.show()

# %% [markdown]
# The picture shows one node for one task; every task has its own three logits $\alpha_t$ at every node, so two tasks
# can pick different branches at the same conv, and a branch shared by several tasks is computed once for them
# (section 4).

# %%
heads = {name: get_head("light", backbone_channels(backbone), t.out_channels) for name, t in TASKS.items()}
sm = SuperModel.from_backbone(backbone, heads, example).to(device)  # backbone's modules = the shared branches
print(sm.extra_repr())
pd.DataFrame([{"node": v.name, "kind": v.kind, "choices": "/".join(v.choices) or "(always task-specific)",
               "skip": v.skip, "depth": v.depth, "in → out": f"{v.in_shape} → {v.out_shape}",
               "params shared": v.params["shared"], "params skip": v.params.get("skip")}
              for v in sm.virtual_nodes]).set_index("node")

# %% [markdown]
# `sm.to_networkx()` exports the graph with the VCN attributes. Drawn in topological order (left to right), coloured
# by what each node is:

# %%
fig, ax = plt.subplots(figsize=(16, 4.6))
draw_supermodel(sm, ax, "tiny_resnet compiled: every conv is a virtual node (skip='auto', task-specific BN)")
ax.set_ylim(-2.0, 3.4)
savefig(fig, "02_supermodel_graph")
plt.show()


# %% [markdown]
# In `tiny_resnet`, the stem `conv1` (3→16 channels, stride 2) and `layer2.0.conv1` (16→32, stride 2) change the
# shape but are 3×3 dense convs, so their projection (a 1×1 conv + BN) costs far less than the op and `auto` keeps
# it; the 1×1 `downsample` conv's projection would be as big as the conv itself, so it has no skip. Compare the
# three skip rules:

# %%
def skip_summary(traced_backbone, rules=("auto", "project", "never")):
    """How many conv nodes get each skip kind, and the projection parameters per task, under each skip rule.

    One trace, several compilations: ``SuperModel(traced, heads, skip=...)`` compiles an already traced backbone.
    """
    rows = []
    for rule in rules:
        s = SuperModel(traced_backbone, {"t": nn.Identity()}, skip=rule)
        convs = [v for v in s.nodes if v.kind == "conv"]
        rows.append({"skip=": rule, "conv nodes": len(convs),
                     **{f"skip {k}": sum(v.skip == k for v in convs) for k in ("identity", "project")},
                     "no skip": sum(v.skip is None for v in convs),
                     "projection params per task": sum(v.params.get("skip", 0) for v in convs),
                     "conv params": sum(v.params["shared"] for v in convs)})
    return pd.DataFrame(rows).set_index("skip=")


skip_summary(trace_backbone(get_backbone("tiny_resnet").to(device), example))

# %% [markdown]
# ## 3. Policy logits and the five modes
#
# Per searchable node there is one logit vector per task, initialised to zero: a `(T, K)` tensor, $K=3$ (shared,
# specific, skip) or $K=2$ where the node has no skip. A discrete **policy** maps node → task → choice; with zero
# logits the argmax is "shared" everywhere (ties go to the first choice), i.e. hard sharing.

# %%
print({k: tuple(v.shape) for k, v in sm.logits.items()})
print("argmax policy of zero logits:", {c for row in sm.policy().values() for c in row.values()})

# %% [markdown]
# `forward(x, mode=...)` runs the supermodel in one of five modes (docs/automtl.md §1.4). With $b_k$ the node's branches and
# $\alpha_{t}$ task $t$'s logits:
#
# | mode | a conv node for task $t$ computes | used for |
# |---|---|---|
# | `shared` | the shared conv (and shared BN): the plain backbone | hard-sharing baseline |
# | `specific` | task $t$'s copy (and BN$_t$): $T$ independent networks | single-task baseline |
# | `mean` | $\frac1K\sum_k b_k(x)$; a BN gives $\frac12(\mathrm{BN}+\mathrm{BN}_t)$ | pre-train (stage 1) |
# | `soft` | $\sum_k w_k b_k(x)$, $w=\mathrm{GumbelSoftmax}(\alpha_t,\tau)$ | policy-train (stage 2) |
# | `hard` | the branch the policy chooses | post-train, inference |

# %%
sm.eval()
with torch.no_grad():
    for mode, kw in (("shared", {}), ("specific", {}), ("mean", {}), ("soft", {"tau": 5.0}), ("hard", {})):
        outputs = sm(x, mode=mode, **kw)
        print(f"{mode:9s}", {t: tuple(o.shape) for t, o in outputs.items()})

# %% [markdown]
# ## 4. Equivalences, checked live
#
# A supermodel is only useful if its extreme policies are exactly the models we already know (docs/automtl.md §7.6–7.8). All
# checks in eval mode, to `1e-5`.
#
# **All shared = the backbone + head.** Mode `shared` is the plain backbone. Hard mode with an all-shared policy
# uses the shared convs but each task's own BN copy; right after compilation the copies equal the backbone's BNs, so
# it too equals `head_t(backbone(x))`. To see that the BN really is task $t$'s, change BN$_t$'s statistics: the
# output then matches a plain copy of the backbone whose BN layers are replaced by BN$_t$.

# %%
def max_diff(a, b):
    return float((a - b).abs().max())


all_shared = sm.uniform_policy("shared")
with torch.no_grad():
    feats = backbone.eval()(x)  # the original module: its convs and BNs are the supermodel's shared branches
    for t in TASKS:
        assert max_diff(sm(x, mode="shared")[t], heads[t](feats)) < 1e-5
        assert max_diff(sm(x, mode="hard", policy=all_shared)[t], heads[t](feats)) < 1e-5

# %%
import copy

t = "depth_zbuffer"
with torch.no_grad():
    for v in sm.virtual_nodes:  # perturb depth's BN copies
        if v.kind == "bn":
            bn_t = sm.specific[t][v.key]
            bn_t.running_mean.add_(0.1 * torch.randn_like(bn_t.running_mean))
            bn_t.weight.mul_(1.5)

# %% [markdown]
# Now all-shared no longer equals the plain backbone, but it equals the backbone whose BNs are depth's copies:

# %%
reference = copy.deepcopy(backbone)
for v in sm.virtual_nodes:
    if v.kind == "bn":
        reference.set_submodule(v.name, copy.deepcopy(sm.specific[t][v.key]))
with torch.no_grad():
    hard = sm(x, mode="hard", policy=all_shared)[t]
    print(f"all-shared hard vs head(backbone):              {max_diff(hard, heads[t](feats)):.2e}  (differs now)")
    print(f"all-shared hard vs head(backbone with BN_depth): {max_diff(hard, heads[t](reference(x))):.2e}")
    assert max_diff(hard, heads[t](reference(x))) < 1e-5

# %% [markdown]
# **All specific = independent networks.** With every node task-specific, task $t$ runs a network made only of its
# own copies (convs and BNs). Change task $t$'s copies, build that network by hand, compare; then check that task
# $t$'s loss sends gradient to its own copies and head only — not to the shared convs, not to another task.

# %%
all_specific = sm.uniform_policy("specific")
t = "normal"
with torch.no_grad():
    for v in sm.nodes:
        sm.specific[t][v.key].weight.mul_(1.2)
    independent = copy.deepcopy(backbone)
    for v in sm.virtual_nodes:
        independent.set_submodule(v.name, copy.deepcopy(sm.specific[t][v.key]))
    got = sm(x, mode="hard", policy=all_specific)[t]
    print(f"all-specific hard vs the independent network of {t!r}: {max_diff(got, heads[t](independent(x))):.2e}")
    assert max_diff(got, heads[t](independent(x))) < 1e-5

# %%
sm.zero_grad(set_to_none=True)
sm(x, mode="hard", policy=all_specific)["segment_semantic"].square().mean().backward()
touched = sorted({name.split(".")[0] + ("." + name.split(".")[1] if name.startswith(("specific", "heads")) else "")
                  for name, p in sm.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0})
print("parameter groups that received gradient from the segmentation output:", touched)
assert touched == ["heads.segment_semantic", "specific.segment_semantic"]
sm.zero_grad(set_to_none=True)

# %% [markdown]
# **Mean mode = the mean of the branches** (pre-training, docs/automtl.md §7.8). On a one-conv-one-BN backbone it is easy to
# write out: the conv node gives $m=\frac13\big(\mathrm{conv}(x)+\mathrm{conv}_t(x)+x\big)$ (identity skip) and the
# BN node $\frac12\big(\mathrm{BN}(m)+\mathrm{BN}_t(m)\big)$. With the copies still equal to the originals the conv
# part is $(2\,\mathrm{conv}(x)+x)/3$; we change the copies first so that every branch counts.

# %%
torch.manual_seed(seed)
toy = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)).to(device)
toy_sm = SuperModel.from_backbone(toy, {"a": nn.Identity(), "b": nn.Identity()},
                                  torch.zeros(1, 8, 6, 6, device=device)).eval()
z = torch.randn(2, 8, 6, 6, device=device)
with torch.no_grad():
    conv, bn = toy_sm.backbone.get_submodule("0"), toy_sm.backbone.get_submodule("1")
    conv_a, bn_a = toy_sm.specific["a"]["0"], toy_sm.specific["a"]["1"]
    conv_a.weight.mul_(-0.5)
    bn_a.running_var.fill_(4.0)
    m = (conv(z) + conv_a(z) + z) / 3
    expected = (bn(m) + bn_a(m)) / 2
    print(f"mean mode vs the mean of the branches: {max_diff(toy_sm(z, mode='mean')['a'], expected):.2e}")
    assert max_diff(toy_sm(z, mode="mean")["a"], expected) < 1e-5

# %% [markdown]
# ## 5. Tree execution: how many convolutions actually run?
#
# The original runs one forward per task, so $T$ tasks cost $T$ backbone passes even when they share everything
# (docs/automtl.md §1.4). mtlkit's forward interprets the fx graph once for all tasks and carries, for every value, a partition
# of the tasks into groups that hold the *same* tensor: an op runs once per group, and a virtual node splits a group
# only where its tasks choose different branches. We count conv calls with forward hooks for $T=3$ tasks in three
# settings:
#
# 1. all shared, with **shared BN** (`share_bn=True`) — every conv should run once;
# 2. the same, but `normal` takes its own copy at `layer2.0.conv1` — the convs downstream of that split run twice
#    (once for {segment_semantic, depth_zbuffer}, once for {normal}); the parallel `downsample` shortcut reads a
#    value from before the split and runs once;
# 3. all shared with **task-specific BN** (the default, the paper's): `conv1` runs once, every later conv three
#    times — each task's BN copy produces its own tensor, and from the first BN on the tasks never hold the same
#    value again. (The copies are equal right after compilation, but they are trained separately, so the executor
#    cannot merge them.) Sharing compute therefore needs shared BN (or `share_bn="search"`).

# %%
def build(name, share_bn, **kw):
    torch.manual_seed(seed)
    net = get_backbone(name).to(device)
    hs = {t: get_head("linear", backbone_channels(net), task.out_channels) for t, task in TASKS.items()}
    return SuperModel.from_backbone(net, hs, example, share_bn=share_bn, **kw).to(device)


shared_bn = build("tiny_resnet", share_bn=True)
split = shared_bn.uniform_policy("shared")
split["layer2.0.conv1"]["normal"] = "specific"
task_bn = build("tiny_resnet", share_bn=False)
settings = {
    "all shared, shared BN": (shared_bn, shared_bn.uniform_policy("shared")),
    "split at layer2.0.conv1, shared BN": (shared_bn, split),
    "all shared, task-specific BN": (task_bn, task_bn.uniform_policy("shared")),
}

# %%
calls = pd.DataFrame({label: count_conv_calls(s, p, x) for label, (s, p) in settings.items()})
assert (calls["all shared, shared BN"] == 1).all()
task_bn_calls = calls["all shared, task-specific BN"]
assert task_bn_calls.iloc[0] == 1 and (task_bn_calls.iloc[1:] == len(TASKS)).all()
calls.loc["total"] = calls.sum()
calls["one forward per task (original)"] = [len(TASKS)] * (len(calls) - 1) + [len(TASKS) * (len(calls) - 1)]
calls

# %%
fig, ax = plt.subplots(figsize=(10, 3.8))
per_node = calls.drop(index="total")
per_node.plot.bar(ax=ax, width=0.8, color=["#4C72B0", "#55A868", "#C44E52", "#BBBBBB"])
ax.set_ylabel(f"conv calls in one forward of {len(TASKS)} tasks")
ax.set_xlabel("conv node (graph order)")
ax.set_xticklabels(per_node.index, rotation=30, ha="right")
ax.set_yticks(range(len(TASKS) + 1))
ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
ax.set_title("Tree execution on tiny_resnet: shared prefixes run once")
savefig(fig, "02_tree_execution_calls")
plt.show()

# %% [markdown]
# And the outputs are the same as one forward per task (the original's way):

# %%
with torch.no_grad():
    tree = shared_bn(x, mode="hard", policy=split)
    for t in TASKS:
        assert max_diff(tree[t], shared_bn(x, tasks=[t], mode="hard", policy=split)[t]) < 1e-5
print("tree execution = one forward per task, for every task")

# %% [markdown]
# ## 6. Parameters in two conventions, and FLOPs
#
# The AutoMTL authors count parameters their own way (docs/automtl.md §5.1, from their `Paper.ipynb`): only the weights of
# conv nodes; a node counts once if any task shares it, plus once per task that specialises it; a skip counts 0
# even when it is a 1×1 conv + BN; BN layers and heads are left out. For a policy $\pi$ over conv nodes $n$ with
# weights $W_n$:
#
# $$P_{\text{paper}}(\pi)=\sum_n |W_n|\Big(\mathbb 1\big[\exists t:\pi_{n,t}=\text{shared}\big]+\#\{t:\pi_{n,t}=
# \text{specific}\}\Big),\qquad \text{reduction}=1-\frac{P_{\text{paper}}}{T\sum_n|W_n|}.$$
#
# mtlkit also reports the **full** count: every parameter of the derived compact model (`sm.derive(policy)`): shared
# ops, task copies of convs *and* BNs, skip projections, heads — against $T$ single-task networks with their heads.
# A random policy (one draw per node and task from the uniform softmax of zero logits, the paper's sampling):

# %%
policy = task_bn.sample_policy(seed=seed)
print("choices per task:", policy_counts(policy))
reports = {"all shared": param_report(task_bn, task_bn.uniform_policy("shared")),
           f"sampled (seed={seed})": param_report(task_bn, policy),
           "all specific": param_report(task_bn, task_bn.uniform_policy("specific"))}
derived = task_bn.derive(policy)
assert sum(p.numel() for p in derived.parameters()) == reports[f"sampled (seed={seed})"]["full"]
pd.DataFrame(reports).loc[["paper", "paper_baseline", "paper_reduction", "full", "full_baseline", "full_reduction",
                           "full_shared", "full_specific", "full_skip", "full_heads"]].round(4)

# %% [markdown]
# The paper convention is blind to the skip projections and BN copies a policy pays for; the full count is what the
# derived model (checked above: `sum(p.numel() for p in derived.parameters())`) really holds. The heads, small here,
# dominate at paper scale: one ASPP head has 23 M parameters, more than ResNet-34's backbone (docs/automtl.md §1.5).
#
# **FLOPs** (`flops_report`, with `torch.utils.flop_counter`, FLOPs = 2 × MACs): `tree` is one tree-executed forward
# of all tasks, `separate` the sum of one forward per task; their ratio is what tree execution saves.

# %%
flops = {label: flops_report(s, x[:1], p) for label, (s, p) in settings.items()}  # one image
pd.DataFrame({k: {"tree MFLOPs": v["tree"] / 1e6, "separate MFLOPs": v["separate"] / 1e6, "ratio": v["ratio"]}
              for k, v in flops.items()}).T.round(3)

# %% [markdown]
# ## 7. The paper's CityScapes architecture, on ResNet-34
#
# The AutoMTL notebook prints, for the policy learned on CityScapes (segmentation + depth, Deeplab-ResNet-34),
# mtlParam = 28,854,656 against 2 × 21,267,648 single-task conv parameters: **32.16 % fewer**. The 72 choices
# (`mtlkit.automtl.policy.PAPER_CITYSCAPES_VECTORS`, the test vector of docs/automtl.md §7.14) are in the original's conv order,
# which lists each stage's 1×1 projection shortcut before that stage's 3×3 convs, mapped to torchvision `resnet34`
# module names (the DeepLab variant has the same conv shapes). The policy skips at shape-changing convs, which needs the paper's projection: `skip="project"`.

# %%
print({task: vec[:35] + " …" for task, vec in PAPER_CITYSCAPES_VECTORS.items()})  # 36 choices per task

torch.manual_seed(seed)
resnet34 = get_backbone("resnet34").to(device)
cs_heads = {"segment_semantic": nn.Conv2d(512, 19, 1), "depth_zbuffer": nn.Conv2d(512, 1, 1)}  # 1x1 heads, 19 + 1
cs = SuperModel.from_backbone(resnet34, cs_heads, example, skip="project").to(device)
cs_policy = cs.validate_policy(paper_cityscapes_policy())  # {node: {task: choice}} on resnet34's names
cs_report = param_report(cs, cs_policy)
print("choices per task:", policy_counts(cs_policy))
print(f"paper convention: {cs_report['paper']:,} conv parameters vs 2 × {cs_report['paper_single']:,} "
      f"→ reduction {100 * cs_report['paper_reduction']:.2f} %")
print(f"full convention:  {cs_report['full']:,} = {cs_report['paper']:,} conv + {cs_report['full_skip']:,} skip "
      f"projections + BN copies + heads, vs {cs_report['full_baseline']:,} → reduction "
      f"{100 * cs_report['full_reduction']:.2f} %")
assert cs_report["paper"] == 28_854_656 and round(cs_report["paper_reduction"], 4) == 0.3216
pd.Series(cs_report).to_csv(out / "cityscapes_param_report.csv")  # both conventions, for the record

# %%
fig, ax = plt.subplots(figsize=(14, 4.4))
plot_policy(cs_policy, ax=ax, short_names=False,
            title="AutoMTL's CityScapes policy on ResNet-34 (docs/automtl.md §7.14)")
ax.set_xticks(range(len(cs_policy)), unique_node_labels(cs_policy), rotation=90, fontsize=9)
savefig(fig, "02_cityscapes_policy")
plt.show()

# %% [markdown]
# Read it with the accounting in mind: every column where at least one task is blue costs one conv, every orange
# cell one more; grey cells are free in the paper's count — yet seven of the 36 nodes change shape, and a task that
# skips one of those pays for a 1×1 conv + BN projection (173,824 parameters here, counted only by "full").
# In compute, tree execution saves nothing for this model: the tasks already disagree at the first conv.

# %%
print("conv1:", cs_policy["conv1"], "→ the two tasks hold different tensors from the first layer on")

# %% [markdown]
# ## 8. The same on a second backbone: `second_backbone`
#
# Any traceable CNN compiles the same way. The default is MobileNetV2, whose inverted residual blocks are mostly
# 1×1 and depthwise convs — exactly where the paper's projection skip is a poor deal (docs/automtl.md §1.3): compare the skip
# rules, then rerun the equivalence check, the conv-call count and the accounting.

# %%
torch.manual_seed(seed)
traced2 = trace_backbone(get_backbone(second_backbone).to(device), example)  # trace once, compile several times
skip_summary(traced2)

# %%
def linear_heads(channels):
    return {t: get_head("linear", channels, task.out_channels) for t, task in TASKS.items()}


second = SuperModel(traced2, linear_heads(traced2.feature_shape[0])).to(device).eval()  # task-specific BN
second_shared_bn = SuperModel(traced2, linear_heads(traced2.feature_shape[0]), share_bn=True).to(device).eval()
print(f"{second_backbone}: {len(second.nodes)} searchable conv nodes, D = {second.max_depth}, "
      f"features {second.feature_shape}")
with torch.no_grad():
    feats = second.backbone(x)
    out_hard = second(x, mode="hard", policy=second.uniform_policy("shared"))
    worst = max(max_diff(out_hard[t], second.heads[t](feats)) for t in TASKS)
print(f"all-shared hard vs head(backbone): max |diff| = {worst:.2e}")
assert worst < 1e-5

# %%
second_calls = pd.DataFrame({
    "all shared, shared BN": count_conv_calls(second_shared_bn, second_shared_bn.uniform_policy("shared"), x),
    "all shared, task-specific BN": count_conv_calls(second, second.uniform_policy("shared"), x)})
assert (second_calls["all shared, shared BN"] == 1).all()
print(f"conv calls in one forward of {len(TASKS)} tasks:", second_calls.sum().to_dict(),
      f"(one forward per task: {len(TASKS) * len(second_calls)})")
second_report = param_report(second, second.sample_policy(seed=seed))
print(f"a sampled policy: paper {second_report['paper']:,} ({100 * second_report['paper_reduction']:.1f} % fewer "
      f"than {len(TASKS)} backbones), full {second_report['full']:,} ({100 * second_report['full_reduction']:.1f} % "
      f"fewer), of which {second_report['full_skip']:,} in skip projections")

# %% [markdown]
# ## Try it
#
# 1. In section 5, move the split to `"layer1.0.conv1"` (still `normal` specific there). Before you run it: how many
#    conv calls will each node get, and what is the total?
# 2. Compile `tiny_resnet` with `share_bn="search"`. How many searchable nodes are there now, what are the BN nodes'
#    choices, and how many conv calls does the all-shared policy make?
# 3. Set `second_backbone = "resnet50"` and read the skip table. Why does `auto` give so few projections on
#    ResNet-50 and so many nodes without skip?
# 4. For the CityScapes policy, what do the two conventions say for the policy that skips everywhere
#    (`cs.uniform_policy("skip")`)?
#
# Answers: `notebooks/solutions/02_supermodel_compilation.md`.
