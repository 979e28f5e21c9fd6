"""Plotting and helper functions of the course notebooks (kept here so notebook cells stay short).

matplotlib is imported inside the functions (``import mtlkit.viz.notebooks`` stays light).
"""
from __future__ import annotations

from typing import Sequence

__all__ = ["SHORT_TASK_NAMES", "short_task_names", "plot_pareto_front", "top1_by_budget", "synthetic_family_table",
           "plot_predictions", "unique_node_labels", "draw_virtual_node", "draw_supermodel", "count_conv_calls",
           "two_task_frame", "plot_two_task_tables", "draw_top_layouts", "plot_regularizer", "plot_policy_train_curves",
           "plot_discretization", "plot_resource_vs_paper", "plot_policies_side_by_side", "ranking_stability",
           "plot_noise_stability"]

#: three-letter labels of the five dense tasks, for crowded axes and tree drawings
SHORT_TASK_NAMES = {"segment_semantic": "seg", "normal": "nrm", "depth_zbuffer": "dep", "keypoints2d": "kpt",
                    "edge_texture": "edg", "edge_occlusion": "occ"}


def short_task_names(names: Sequence[str]) -> list[str]:
    """The short label of each task name (names without one are kept)."""
    return [SHORT_TASK_NAMES.get(n, n) for n in names]


# ------------------------------------------------------------------------------------ notebook 06: budgets, fronts
def plot_pareto_front(ax, full, front, title: str, picks: Sequence[int] = ()):
    """Estimated score against cost of every layout, with the Pareto front and some layouts ringed.

    Args:
        ax: the matplotlib Axes.
        full: a :func:`~mtlkit.treemtl.recommend` frame of every layout (``k=None``, with block costs).
        front: its :func:`~mtlkit.treemtl.pareto_front` on ``cost="backbones"``.
        title: the Axes title.
        picks: paper indices to ring in blue (e.g. the paper's Table 2 picks).
    """
    import numpy as np

    ax.scatter(full.backbones, full.score, s=5, color="0.7", label=f"all {len(full):,} layouts", rasterized=True)
    ax.step(front.backbones, front.score, where="post", color="C3", lw=1.5)
    ax.scatter(front.backbones, front.score, s=25, color="C3", zorder=3, label=f"Pareto front ({len(front)})")
    for k in range(1, full.attrs["T"] + 1):
        ax.axvline(k, color="0.5", ls=":", lw=0.8)
    previous = -np.inf
    for _, row in front.iterrows():                              # label front points that are not crowded
        if row.paper_index not in picks and row.backbones - previous > 0.15:
            ax.annotate(f"#{row.paper_index}", (row.backbones, row.score), xytext=(-4, 6), textcoords="offset points",
                        color="C3", fontsize=8, ha="right")
        previous = row.backbones
    for pick in picks:
        row = full[full.paper_index == pick].iloc[0]
        ax.scatter(row.backbones, row.score, s=70, facecolor="none", edgecolor="C0", lw=1.5, zorder=4)
        ax.annotate(f"#{pick}", (row.backbones, row.score), xytext=(4, -12), textcoords="offset points",
                    color="C0", fontsize=9)
    ax.set(xlabel="backbone cost in MACs (number of backbone models)", ylabel="estimated score S (%)", title=title)
    ax.legend(loc="lower right", fontsize=9)


def top1_by_budget(table, costs, budgets: Sequence[float], budget_on: str = "macs"):
    """The recommender's top-1 under each budget, one row per budget (paper index, layout, score, costs)."""
    import pandas as pd

    from mtlkit.treemtl import recommend

    rows = []
    for b in budgets:
        top = recommend(table, costs, budget=b, k=1, budget_on=budget_on).iloc[0]
        rows.append(dict(budget=b, top1=f"#{top.paper_index}", layout=str(top.layout), score=top.score,
                         backbones=top.backbones, flops_pct=top.macs_pct, params_pct=top.params_pct))
    return pd.DataFrame(rows).set_index("budget")


def synthetic_family_table(T: int, B: int, rng):
    """A SYNTHETIC two-task table with hidden task families (for searches beyond enumeration, notebook 06).

    Each task gets one of three hidden families; a task's two-task result drifts by +0.3 points per shared block
    with a task of its family and by -0.2 with the others, plus Gaussian noise (sigma 1) at every block; row b = 0
    stays 0, as in the published tables.

    Returns:
        ``(table, family)``: the :class:`~mtlkit.treemtl.TwoTaskTable` (tasks ``s0, s1, ...``) and the families.
    """
    import numpy as np

    from mtlkit.treemtl import TwoTaskTable

    family = rng.integers(0, 3, size=T)
    v = np.zeros((T, T, B + 1))
    for t in range(T):
        for u in range(T):
            if t != u:
                drift = 0.3 if family[t] == family[u] else -0.2
                v[t, u, 1:] = np.cumsum(drift + rng.normal(0.0, 1.0, B))
    return TwoTaskTable(v, [f"s{t}" for t in range(T)], source="SYNTHETIC (random, seeded)"), family


# ------------------------------------------------------------------------------------------ notebook 00: predictions
def plot_predictions(batch, pred, *, n_show: int = 3, title: str = "", class_names: Sequence[str] | None = None):
    """Images, segmentation, depth and normals, ground truth next to prediction, with a class legend and a depth bar.

    Args:
        batch: a SynthScenes batch (``image``, ``segment_semantic``, ``depth_zbuffer``, ``normal``), on the CPU.
        pred: the model's ``{task: prediction}`` (head resolution; upsampled bilinearly here), on the CPU.
        n_show: rows (images) to draw.
        title: the figure title.
        class_names: segmentation class names (default SynthScenes' ``CLASS_NAMES``).

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    import torch
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if class_names is None:
        from mtlkit.data.synthetic import CLASS_NAMES as class_names
    K = len(class_names)
    colors = [plt.cm.tab10(i % 10) for i in range(K)]
    seg_style = dict(cmap=ListedColormap(colors), vmin=-0.5, vmax=K - 0.5, interpolation="nearest")
    n_show = min(n_show, batch["image"].shape[0])
    size = batch["image"].shape[-2:]

    def up(x):
        return torch.nn.functional.interpolate(x, size=size, mode="bilinear")

    depth_gt = batch["depth_zbuffer"][:n_show, 0]
    lo, hi = float(depth_gt.min()), float(depth_gt.max())     # one depth scale for every depth panel
    height = 2.2 * n_show + 1.2
    fig, axes = plt.subplots(n_show, 7, figsize=(15, height), squeeze=False)
    depth_image = None
    for i in range(n_show):
        img = batch["image"][i].permute(1, 2, 0).numpy()
        img = (img - img.min()) / (img.max() - img.min() + 1e-8)
        seg_p = up(pred["segment_semantic"][i:i + 1]).argmax(1)[0]
        dep_p = up(pred["depth_zbuffer"][i:i + 1])[0, 0]
        nor_p = torch.nn.functional.normalize(up(pred["normal"][i:i + 1])[0], dim=0)
        panels = [("image", img, {}),
                  ("segmentation (GT)", batch["segment_semantic"][i], seg_style),
                  ("segmentation (pred)", seg_p, seg_style),
                  ("depth (GT)", depth_gt[i], dict(cmap="viridis", vmin=lo, vmax=hi)),
                  ("depth (pred)", dep_p, dict(cmap="viridis", vmin=lo, vmax=hi)),
                  ("normals (GT)", (batch["normal"][i].permute(1, 2, 0) + 1) / 2, {}),
                  ("normals (pred)", (nor_p.permute(1, 2, 0) + 1) / 2, {})]
        for j, (ax, (name, im, kw)) in enumerate(zip(axes[i], panels)):
            shown = ax.imshow(im.numpy() if torch.is_tensor(im) else im, **kw)
            depth_image = shown if j == 3 else depth_image
            ax.set_axis_off()
            if i == 0:
                ax.set_title(name, fontsize=10)
    fig.suptitle(title)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=1.0 / height, top=1 - 0.75 / height, wspace=0.05,
                        hspace=0.06)
    fig.legend(handles=[Patch(color=c, label=n) for c, n in zip(colors, class_names)], loc="lower left",
               bbox_to_anchor=(0.01, 0.0), ncol=3, frameon=False, fontsize=9, title="segmentation classes")
    bar_ax = fig.add_axes([0.40, 0.5 / height, 0.22, 0.18 / height])
    fig.colorbar(depth_image, cax=bar_ax, orientation="horizontal", label="depth (m), GT and prediction")
    fig.text(0.70, 0.5 / height, "normals: unit vector (x, y, z) shown as (R, G, B)", fontsize=9)
    return fig


# ---------------------------------------------------------------------------------------- notebooks 02, 03: graphs
def unique_node_labels(names: Sequence[str]) -> list[str]:
    """Compact, unique tick labels for module paths: the whole path with ``layer`` → ``L`` and ``downsample`` →
    ``ds`` (``layer2.0.downsample.0`` → ``L2.0.ds.0``), so every label keeps its stage and block; the full names
    where the short ones would collide."""
    names = list(names)
    short = [n.replace("layer", "L").replace("downsample", "ds") for n in names]
    return short if len(set(short)) == len(short) else names


def draw_virtual_node(ax=None, skip: str = "identity"):
    """One virtual computation node for one task: the three branches and their Gumbel-softmax mixture.

    Args:
        ax: a matplotlib Axes (default: a new figure).
        skip: ``"identity"`` (shapes agree) or ``"projection"`` (a 1×1 conv + BN where channels or stride change).

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from mtlkit.automtl.viz import POLICY_COLORS

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.2))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.set_axis_off()
    ax.grid(False)

    def box(x, y, w, h, text, color="white", size=10):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.08", facecolor=color,
                                    alpha=0.45 if color != "white" else 1.0, edgecolor="0.25", lw=1.2))
        ax.text(x, y, text, ha="center", va="center", fontsize=size)

    def arrow(x0, y0, x1, y1, text=""):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="-|>", color="0.3", lw=1.2))
        if text:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.22, text, ha="center", fontsize=10)

    skip_text = "skip\nidentity" if skip == "identity" else "skip\n1×1 conv + BN"
    branches = [(4.8, "shared\nthe conv (one copy\nfor all tasks)", POLICY_COLORS["shared"], "p_sh"),
                (3.0, "specific\ntask t's copy\n(same initial weights)", POLICY_COLORS["specific"], "p_sp"),
                (1.2, skip_text, POLICY_COLORS["skip"], "p_sk")]
    box(0.9, 3.0, 1.3, 0.9, "input x\n(task t)")
    for y, text, color, weight in branches:
        box(4.0, y, 2.6, 1.25, text, color=color, size=9)
        arrow(1.6, 3.0, 2.65, y)
        arrow(5.35, y, 7.1, 3.0, weight)
    box(7.8, 3.0, 1.3, 1.0, "Σ", size=16)
    arrow(8.5, 3.0, 9.6, 3.0)
    ax.text(9.65, 3.35, "to task t's\nnext node", fontsize=9)
    ax.text(5.0, 0.05, "(p_sh, p_sp, p_sk) = Gumbel-softmax(α_t, τ) while searching; argmax(α_t) after the search",
            ha="center", fontsize=9)
    ax.set_title("One virtual computation node: three branches per task, mixed by the task's policy")
    return ax.figure


# ------------------------------------------------------------------------------- notebook 05: tables and rankings
def two_task_frame(table):
    """A two-task table as published: one column per ``task | partner`` (the CSV's ``(a, b)-i``), rows b = 0..B."""
    import pandas as pd

    from mtlkit.treemtl import pairs

    names = short_task_names(table.task_names)
    cols = {f"{names[t]} | {names[u]}": table.values[t, u] for a, c in pairs(table.T) for t, u in ((a, c), (c, a))}
    return pd.DataFrame(cols, index=pd.RangeIndex(table.B + 1, name="b"))


def plot_two_task_tables(tables, clip: float = 20.0):
    """Heatmaps of two-task tables drawn as they are stored: columns ``task | partner``, rows b = 0..B.

    Args:
        tables: ``{(dataset, backbone): TwoTaskTable}``, laid out two per row.
        clip: colour scale limit in % (larger values keep their number, in the darkest colour).

    Returns:
        The matplotlib Figure.
    """
    import math

    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    frames = {key: two_task_frame(t) for key, t in tables.items()}
    widths = [frame.shape[1] for frame in list(frames.values())[:2]]
    rows = math.ceil(len(frames) / 2)
    fig, axes = plt.subplots(rows, 2, figsize=(22, 4.6 * rows), squeeze=False,
                             gridspec_kw=dict(width_ratios=widths or [1, 1]))
    for ax, ((dataset, backbone), frame) in zip(axes.flat, frames.items()):
        lim = min(float(np.abs(frame.values).max()), clip)
        sns.heatmap(frame, ax=ax, cmap="RdBu", center=0, vmin=-lim, vmax=lim, annot=True, fmt=".1f",
                    annot_kws=dict(fontsize=7), cbar_kws=dict(label="relative performance (%)", shrink=0.9))
        ax.set_title(f"{dataset} / {backbone}: {tables[(dataset, backbone)].T} tasks, {frame.shape[1]} columns "
                     "(a CSV column each)")
        ax.set_xlabel("column: task | partner (the task's result in the pair's two-task model)")
        ax.set_ylabel("row: branching point b\n(shared leading blocks)")
        ax.tick_params(axis="x", labelsize=8, labelrotation=60)
        ax.tick_params(axis="y", labelrotation=0)
        ax.grid(False)
    for ax in axes.flat[len(frames):]:
        ax.set_axis_off()
    fig.suptitle(f"The authors' published two-task tables: relative performance vs the pair's b = 0 model "
                 f"(colour clipped at ±{clip:g} %)")
    fig.tight_layout()
    return fig


def draw_top_layouts(df, table, title: str):
    """The layouts of a recommend() frame as trees, with their scores as a dot plot (axis around the scores).

    Args:
        df: a :func:`~mtlkit.treemtl.recommend` frame (ranks as index).
        table: the two-task table it ranks (for the task names).
        title: the figure title.

    Returns:
        The matplotlib Figure.
    """
    import math

    import matplotlib.pyplot as plt

    names = short_task_names(table.task_names)
    n = len(df) + 1
    rows = math.ceil(n / 2)
    fig, axes = plt.subplots(rows, 2, figsize=(20, (0.8 * table.T + 1.6) * rows), squeeze=False)
    for ax, (rank, row) in zip(axes.flat, df.iterrows()):
        flops = f"   FLOPs {row.macs_pct:+.2f} %" if "macs_pct" in row else ""
        row.layout.draw(ax=ax, task_names=names,
                        title=f"rank {rank}: paper #{row.paper_index}   score {row.score:.4f}{flops}\n{row.layout}")
    dots = axes.flat[len(df)]
    labels = [f"rank {r}: #{i}" for r, i in zip(df.index, df.paper_index)][::-1]
    scores = df.score.to_numpy()[::-1]
    span = max(float(scores.max() - scores.min()), 1e-6)
    dots.hlines(labels, scores.min() - 0.1 * span, scores, color="0.75", lw=2)
    dots.scatter(scores, labels, s=60, color="C0", zorder=3)
    for s, label in zip(scores, labels):
        dots.annotate(f"{s:.3f}", (s, label), xytext=(7, -3), textcoords="offset points", fontsize=9)
    dots.set_xlim(scores.min() - 0.1 * span, scores.max() + 0.25 * span)
    dots.set(xlabel="score S (weighted estimated Δt, %) — axis zoomed to the scores, not from 0",
             title="scores of the recommended layouts")
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_supermodel(supermodel, ax, title: str):
    """Draw ``supermodel.to_networkx()``: x = topological generation, the longest path on one row, side paths above.

    Nodes are coloured by kind: conv with an identity skip, with a projection skip, without a skip, task-specific BN,
    shared op.
    """
    import networkx as nx

    g = supermodel.to_networkx()
    main = set(nx.dag_longest_path(g))
    pos = {}
    for level, nodes in enumerate(nx.topological_generations(g)):
        side = sorted(n for n in nodes if n not in main)
        pos.update({n: (level, 0.0) for n in nodes if n in main})
        pos.update({n: (level, 1.0 + k) for k, n in enumerate(side)})
    colours = {"conv, skip = identity": "#4C72B0", "conv, skip = projection": "#DD8452", "conv, no skip": "#C44E52",
               "BN (task-specific)": "#8C8C8C", "shared op": "#D9D9D9"}

    def kind(d):
        if d.get("kind") == "conv":
            return {"identity": "conv, skip = identity", "project": "conv, skip = projection"}.get(d["skip"],
                                                                                                "conv, no skip")
        return "BN (task-specific)" if d.get("kind") == "bn" else "shared op"

    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=8, edge_color="#999999", node_size=260,
                           connectionstyle="arc3,rad=-0.25")
    for label, colour in colours.items():
        nodes = [n for n, d in g.nodes(data=True) if kind(d) == label]
        nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=colour, node_size=260, ax=ax, label=label)
    for n, (px, py) in pos.items():
        d = g.nodes[n]
        text = d["target"] if d["op"] == "call_module" else n
        if py == 0:
            ax.text(px, py - 0.25, text, rotation=60, ha="right", va="top", fontsize=7)
        else:
            ax.text(px, py + 0.25, text, rotation=60, ha="left", va="bottom", fontsize=7)
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=8, ncol=len(colours), frameon=False)
    ax.set_axis_off()


def count_conv_calls(supermodel, policy, inputs) -> dict[str, int]:
    """Conv calls per node in one hard-mode forward of all tasks (shared op + task copies + skip projections)."""
    import torch
    from torch import nn

    calls = {v.name: 0 for v in supermodel.nodes if v.kind == "conv"}
    hooks = []
    for v in supermodel.nodes:
        if v.kind != "conv":
            continue
        modules = [supermodel.backbone.get_submodule(v.name)]
        modules += [supermodel.specific[t][v.key] for t in supermodel.tasks]
        modules += [m for t in supermodel.tasks if v.key in supermodel.skip[t] for m in supermodel.skip[t][v.key]
                    if isinstance(m, nn.Conv2d)]
        for module in modules:
            hooks.append(module.register_forward_hook(lambda *_, n=v.name: calls.__setitem__(n, calls[n] + 1)))
    try:
        with torch.no_grad():
            supermodel.eval()(inputs, mode="hard", policy=policy)
    finally:
        for h in hooks:
            h.remove()
    return calls


# ------------------------------------------------------------------------------------------ notebook 03: the search
def plot_regularizer(traced_resnet34, tiny_weights: dict, tiny_depth: int):
    """The paper regulariser's depth weights on ResNet-34 and on the notebook's backbone, and one node's penalty.

    Args:
        traced_resnet34: :func:`~mtlkit.automtl.trace_backbone` of ResNet-34 (depths, convs, max depth).
        tiny_weights: ``depth_weights(supermodel)`` of the notebook's supermodel, ``{node: weight}``.
        tiny_depth: that supermodel's largest depth D.
    """
    import matplotlib.pyplot as plt
    import torch

    from mtlkit.automtl import paper_regularizer_from_probs

    t = traced_resnet34
    w34 = [(t.max_depth - t.depths[n]) / t.max_depth for n in t.convs]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    axes[0].bar(range(len(w34)), sorted(w34, reverse=True), color="#4C72B0")
    axes[0].set(title=f"ResNet-34: D = {t.max_depth}, Σw = {sum(w34):.4f}", xlabel="conv (by weight)",
                ylabel="weight (D − d)/D")
    axes[1].bar(range(len(tiny_weights)), list(tiny_weights.values()), color="#DD8452")
    axes[1].set_xticks(range(len(tiny_weights)), unique_node_labels(tiny_weights), rotation=60, ha="right",
                       fontsize=8)
    axes[1].set(title=f"tiny_resnet (this notebook): D = {tiny_depth}", ylabel="weight (D − d)/D")
    p_sh = torch.linspace(0, 1, 101)
    probs = torch.stack([p_sh, (1 - p_sh) / 2, (1 - p_sh) / 2], -1)[:, None, None, :]  # (101, 1 node, 1 task, 3)
    for s_value, ls in ((6.0, "-"), (1.0, "--")):
        one_node = (torch.ones(1), torch.ones(1, dtype=torch.bool))  # weight 1, has a skip
        reg = [float(paper_regularizer_from_probs(p, *one_node, s_value)) for p in probs]
        axes[2].plot(p_sh, reg, ls=ls, label=f"s = {s_value:g}")
    axes[2].set(title="one node, unit weight; p_sp = p_sk = (1 − p_sh)/2", xlabel="p_shared", ylabel="penalty")
    axes[2].legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_policy_train_curves(log):
    """Task loss (policy vs network iterations), temperature and expected parameters over policy-train.

    Args:
        log: ``run.policy_train.history.train_frame()`` (columns iteration, phase, loss, tau, expected_params).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.4))
    for phase, name, ls in ((1.0, "policy iterations (train2)", "-"), (0.0, "network iterations (train1)", ":")):
        rows = log[log["phase"] == phase]
        axes[0].plot(rows["iteration"], rows["loss"], ls=ls, label=name)
    axes[0].set(xlabel="iteration", ylabel="Σ_t λ_t L_t", title="task loss under soft mixing")
    axes[0].legend(frameon=False, fontsize=8)
    axes[1].plot(log["iteration"], log["tau"], color="#C44E52")
    axes[1].set(xlabel="iteration", ylabel="τ", title="temperature", yscale="log")
    axes[1].set_yticks([0.2, 0.5, 1, 2, 5], ["0.2", "0.5", "1", "2", "5"])
    axes[1].minorticks_off()
    axes[2].plot(log["iteration"], log["expected_params"], color="#55A868")
    axes[2].axhline(1.0, color="0.5", ls="--", lw=1)
    axes[2].axhline(3.0, color="0.5", ls=":", lw=1)
    axes[2].text(2, 1.05, "all shared", fontsize=8, color="0.4")
    axes[2].text(2, 2.9, "3 single-task networks", fontsize=8, color="0.4", va="top")
    axes[2].set(xlabel="iteration", ylabel="backbones", title="E[parameters] of the sampled policy", ylim=(0.8, 3.2))
    fig.tight_layout()
    return fig


def plot_discretization(best, argmax_point: tuple[float, float], title: str):
    """The best-of-N candidates (cost vs train2 loss), the pick, the paper's single sample and the argmax.

    Args:
        best: :func:`~mtlkit.automtl.discretize` result with ``method="best_of"`` (its ``candidates``).
        argmax_point: ``(cost, train2 loss)`` of the argmax policy.
        title: the Axes title.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.scatter([c["cost"] for c in best.candidates], [c["score"] for c in best.candidates], color="#4C72B0",
               label=f"{len(best.candidates)} τ = 1 samples (seeds {best.candidates[0]['seed']}…)")
    chosen = min(best.candidates, key=lambda c: c["score"])
    ax.scatter([chosen["cost"]], [chosen["score"]], s=160, facecolor="none", edgecolor="#C44E52", lw=2,
               label="best-of-N pick")
    first = best.candidates[0]  # seed sample_seed: the paper's single sample
    ax.scatter([first["cost"]], [first["score"]], s=90, marker="x", color="k", label="the paper's sample (first seed)")
    ax.scatter([argmax_point[0]], [argmax_point[1]], s=80, marker="D", color="#55A868", label="argmax")
    ax.set(xlabel="parameters (backbones)", ylabel="train2 loss of the candidate", title=title)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_resource_vs_paper(table, budget: float, title: str):
    """Δ_T against parameters: baselines, the paper regulariser's models and the resource-aware ones (per seed).

    Args:
        table: rows with ``variant`` (baseline / paper / resource), ``model``, ``backbones``, ``delta_T``.
        budget: the resource-aware budget in backbones (a dotted line).
        title: the Axes title.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    marks = {"baseline": ("s", "0.3"), "paper": ("o", "#4C72B0"), "resource": ("^", "#C44E52")}
    names = {"baseline": "baselines", "paper": "paper regulariser + one sample",
             "resource": f"resource-aware (B = {budget:g}) + ST + best-of-8"}
    for variant, (marker, color) in marks.items():
        rows = table[table["variant"] == variant]
        ax.scatter(rows["backbones"], rows["delta_T"], marker=marker, color=color, s=55, label=names[variant])
    for _, r in table[table["variant"] == "baseline"].iterrows():
        ax.annotate(r["model"].replace("_", " "), (r["backbones"], r["delta_T"]), xytext=(5, 4),
                    textcoords="offset points", fontsize=8)
    ax.axvline(budget, color="#C44E52", ls=":", lw=1)
    ax.text(budget + 0.02, ax.get_ylim()[0], f"budget B = {budget:g}", color="#C44E52", fontsize=8, va="bottom")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set(xlabel="parameters of the derived model's searchable convs (backbones)", ylabel="Δ_T vs single-task (%)",
           title=title)
    ax.legend(frameon=False, fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_policies_side_by_side(policies: dict, tasks: Sequence[str], *, task_labels: Sequence[str] | None = None,
                               bounds: Sequence[float] = (), compact: bool = False):
    """Policies one above the other (``{title: policy}``) with one shared legend below.

    Args:
        policies: ``{title: policy}``.
        tasks: the task rows, in order.
        task_labels: labels of the task rows (default the names).
        bounds: x positions of dotted vertical lines (e.g. between coarse blocks).
        compact: short rows, smaller titles and tick labels, one shared x axis (for four or more policies).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from mtlkit.automtl import plot_policy
    from mtlkit.automtl.viz import POLICY_COLORS

    height = 1.55 * len(policies) + 1.2 if compact else 2.8 * len(policies)
    fig, axes = plt.subplots(len(policies), 1, figsize=(9, height), squeeze=False, sharex=compact)
    for ax, (title, policy) in zip(axes[:, 0], policies.items()):
        plot_policy(policy, tasks=tasks, ax=ax, short_names=False, title=title)
        ax.get_legend().remove()
        ax.grid(False)
        ax.set_xlabel("")
        if task_labels is not None:
            ax.set_yticks(range(len(tasks)), list(task_labels))
        if compact:
            ax.title.set_fontsize(10)
            ax.tick_params(axis="x", labelsize=8)
        for x in bounds:
            ax.axvline(x, color="k", ls=":", lw=1.2)
    fig.tight_layout(rect=(0, 0.05 if compact else 0.06, 1, 1))
    fig.legend(handles=[Patch(color=c, label=k) for k, c in POLICY_COLORS.items()], loc="lower center", ncol=3,
               frameon=False)
    return fig


def ranking_stability(table, sigma: float, replicas: int, weights, rng) -> dict:
    """How stable the estimator's ranking is when every cell of a two-task table gets Gaussian noise.

    Args:
        table: the two-task table.
        sigma: noise standard deviation per cell (percentage points; row b = 0 stays 0).
        replicas: noisy copies to rank.
        weights: ``"svde"``, ``"uniform"`` or T numbers (as :func:`~mtlkit.treemtl.recommend`).
        rng: a numpy Generator.

    Returns:
        ``top1_kept`` (share of replicas with the same top-1), ``top5_overlap`` (mean size of the intersection with
        the original top-5) and ``kendall_tau`` (mean Kendall τ of the whole ranking against the original).
    """
    import numpy as np
    from scipy.stats import kendalltau

    from mtlkit.treemtl import PairScores, TwoTaskTable, branch_point_matrix, ranking_order

    def ranking(t, bp):   # paper indices of all layouts, best first, without building Layout objects
        scores = PairScores.from_table(t, weights)
        return ranking_order(scores.ranking_keys(bp), bp)

    bp = branch_point_matrix(table.T, table.B, order="paper")
    base_order = ranking(table, bp)
    top1, overlap, tau = 0, [], []
    for _ in range(replicas):
        values = table.values.copy()
        values[:, :, 1:] += rng.normal(0.0, sigma, size=values[:, :, 1:].shape)
        order = ranking(TwoTaskTable(values, table.task_names), bp)
        top1 += order[0] == base_order[0]
        overlap.append(len(set(order[:5]) & set(base_order[:5])))
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order))                  # position[#k] = rank of layout #k
        tau.append(kendalltau(np.arange(len(base_order)), position[base_order]).statistic)
    return dict(top1_kept=top1 / replicas, top5_overlap=float(np.mean(overlap)), kendall_tau=float(np.mean(tau)))


def plot_noise_stability(stab, sigmas: Sequence[float], title: str):
    """The three stability measures of :func:`ranking_stability` against σ, one line per table and weighting."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for ax, col, label in zip(axes, ["top1_kept", "top5_overlap", "kendall_tau"],
                              ["P(same top-1)", "mean |top-5 ∩ original top-5|", "mean Kendall τ vs original"]):
        for (tname, w), grp in stab.groupby(["table", "weights"]):
            ax.plot(grp.sigma, grp[col], marker="o", ls="-" if w == "svde" else "--", label=f"{tname}, {w}")
        ax.set(xscale="log", xlabel="hypothetical noise σ per cell (percentage points)", ylabel=label)
        ax.set_xticks(list(sigmas), [f"{s:g}" for s in sigmas])
        ax.minorticks_off()
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
