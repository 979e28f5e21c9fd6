"""Figures of the AutoMTL reproduction notebooks (:mod:`mtlkit.automtl.experiments`); matplotlib imported on call.

* :func:`plot_comparison` — Δt per task and overall per method, and Δ_T against the model's parameters;
* :func:`plot_policies` — the chosen architectures, one heatmap row block per method;
* :func:`plot_lambda` — the λ_reg ablation: parameters, Δt and p(shared) against λ;
* :func:`plot_backbones` — what the compiler makes of each backbone, and each backbone's AutoMTL result;
* :func:`plot_search_cost` — seconds per policy-train iteration, ours vs the original's per-task scheme.
"""
from __future__ import annotations

from typing import Mapping, Sequence

__all__ = ["METHOD_COLORS", "compact_names", "plot_comparison", "plot_policies", "plot_lambda", "plot_backbones",
           "plot_search_cost"]

METHOD_COLORS = {"Single-Task": "0.55", "Multi-Task": "#8172B3", "AutoMTL": "#4C72B0",
                 "AutoMTL (resource-aware, ours)": "#C44E52"}


def _short(task: str) -> str:
    return {"segment_semantic": "seg", "depth_zbuffer": "depth", "normal": "normal", "keypoints2d": "keypoints",
            "edge_texture": "edges"}.get(task, task)


def compact_names(policy: Mapping[str, Mapping]) -> dict:
    """The policy with short, unambiguous ResNet node labels: ``layer2.0.conv1`` -> ``L2.0.c1``, ``conv1`` ->
    ``stem``, ``layer2.0.downsample.0`` -> ``L2.0.ds``; other names (MobileNetV2's ``3.conv.0.0``, ...) unchanged."""
    import re

    def short(name: str) -> str:
        if name == "conv1":
            return "stem"
        m = re.fullmatch(r"layer(\d+)\.(\d+)\.(?:conv(\d+)|(downsample)\.0)", name)
        if m is None:
            return name
        return f"L{m.group(1)}.{m.group(2)}." + (f"c{m.group(3)}" if m.group(3) else "ds")

    return {short(n): row for n, row in policy.items()}


def plot_comparison(comp, *, title: str):
    """Two panels: Δt per task and Δ_T per method (bars); Δ_T against the full parameter count (% of single-task).

    Args:
        comp: a :class:`~mtlkit.automtl.experiments.Comparison`.
        title: the figure title (say the scale and dataset).

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    methods = [m for m in comp.models if m != "Single-Task"]
    tasks = list(comp.setup.tasks)
    groups = [_short(t) for t in tasks] + ["Δ_T (all)"]
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    ax = axes[0]
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(groups))
    for k, m in enumerate(methods):
        d = comp.deltas[m]
        vals = [d.per_task[t] for t in tasks] + [d.overall]
        ax.bar(x + (k - (len(methods) - 1) / 2) * width, vals, width, label=m, color=METHOD_COLORS.get(m))
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(x, groups)
    ax.set_ylabel("Δt vs single-task (%)")
    ax.set_title("relative performance per task (+ = better than single-task)")
    ax.legend(frameon=False, fontsize=8)
    ax = axes[1]
    ref = comp.models["Single-Task"].params["full"]
    for m, post in comp.models.items():
        px = 100 * post.params["full"] / ref
        ax.scatter([px], [comp.deltas[m].overall], s=70, color=METHOD_COLORS.get(m), zorder=3)
        ax.annotate(m.replace(" (resource-aware, ours)", "\n(resource-aware)"), (px, comp.deltas[m].overall),
                    xytext=(6, 4), textcoords="offset points", fontsize=8)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.margins(y=0.18)
    ax.set_xlabel("parameters, full count (% of the single-task models)")
    ax.set_ylabel("Δ_T (%)")
    ax.set_title("accuracy against size")
    lo, hi = ax.get_xlim()
    ax.set_xlim(lo, hi + 0.25 * (hi - lo))  # room for the labels
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_policies(policies: Mapping[str, Mapping], tasks: Sequence[str], *, title: str):
    """The chosen architectures one above the other (rows: tasks; columns: nodes; colour: shared/specific/skip).

    Args:
        policies: name -> policy ``{node: {task: choice}}`` (same nodes).
        tasks: the task rows, in order.
        title: the figure title.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from mtlkit.automtl.viz import POLICY_COLORS, plot_policy

    n_nodes = len(next(iter(policies.values())))
    fig, axes = plt.subplots(len(policies), 1, figsize=(max(6.0, 0.2 * n_nodes + 2.5),
                                                         (0.42 * len(tasks) + 1.3) * len(policies) + 0.6),
                             squeeze=False)
    for ax, (name, policy) in zip(axes[:, 0], policies.items()):
        plot_policy(compact_names(policy), tasks=tasks, ax=ax, title=name, short_names=False)
        ax.get_legend().remove()
        ax.grid(False)
        ax.set_yticks(range(len(tasks)), [_short(t) for t in tasks])
        ax.set_xlabel("")
    axes[-1, 0].set_xlabel("conv node (graph order)")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.legend(handles=[Patch(color=c, label=k) for k, c in POLICY_COLORS.items()], loc="lower center", ncol=3,
               frameon=False, fontsize=9)
    return fig


def plot_lambda(table, *, title: str):
    """The λ_reg ablation: parameters, Δt and the final p(shared) against λ_reg (log axis).

    Args:
        table: :func:`~mtlkit.automtl.experiments.lambda_ablation`'s ``"table"`` (indexed by λ).
        title: the figure title.
    """
    import matplotlib.pyplot as plt

    lam = table.index.to_numpy()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
    ax = axes[0]
    ax.plot(lam, table["backbones"], "o-", color="#4C72B0", label="the sampled architecture")
    ax.plot(lam, table["expected_backbones"], "s--", color="#55A868", label="E[·] of the final distribution")
    ax.set_ylabel("searchable conv parameters (backbones)")
    ax.set_title("size of the searched model")
    ax.legend(frameon=False, fontsize=8)
    ax = axes[1]
    for c in [c for c in table.columns if c.startswith("delta/")]:
        ax.plot(lam, table[c], "o:", lw=1, label=_short(c.split("/", 1)[1]))
    ax.plot(lam, table["delta_T"], "o-", color="k", lw=2, label="Δ_T")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_ylabel("Δt vs single-task (%)")
    ax.set_title("relative performance")
    ax.legend(frameon=False, fontsize=8)
    ax = axes[2]
    ax.plot(lam, table["mean_p_shared"], "o-", color="#8172B3")
    ax.axhline(1 / 3, color="0.6", ls=":", lw=1)
    ax.text(lam.min(), 1 / 3, " uniform (1/3)", va="bottom", fontsize=8, color="0.4")
    ax.set_ylabel("mean p(shared) after policy-train")
    ax.set_title("how far the policy moved")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("λ_reg")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_backbones(facts: Mapping[str, Mapping[str, int]], results, *, title: str, labels: Mapping[str, str]):
    """Left: each backbone's conv nodes by skip kind (the compiler's exact facts); right: AutoMTL per backbone.

    Args:
        facts: backbone -> :func:`~mtlkit.automtl.experiments.compiler_facts`.
        results: DataFrame indexed by backbone with ``delta_T`` and ``paper_reduction_%`` (the AutoMTL models).
        title: the figure title.
        labels: backbone -> display name.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(facts)
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.0))
    ax = axes[0]
    x = np.arange(len(names))
    parts = (("identity_skips", "identity skip", "#D9D9D9"),
             ("auto_projection_nodes", "1×1 projection skip (auto)", "#937860"),
             ("auto_no_skip_nodes", "no skip (auto)", "#4C72B0"))
    bottom = np.zeros(len(names))
    for key, label, color in parts:
        vals = np.array([facts[n][key] for n in names], dtype=float)
        ax.bar(x, vals, 0.6, bottom=bottom, label=label, color=color)
        bottom += vals
    for i, n in enumerate(names):
        ax.text(i, bottom[i] + 0.5, f"D = {facts[n]['max_depth']}\n{facts[n]['conv_params'] / 1e6:.2f} M conv",
                ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [labels.get(n, n) for n in names])
    ax.set_ylabel("conv nodes")
    ax.set_ylim(0, bottom.max() * 1.25)
    ax.set_title("the compiled supermodel (exact at every scale)")
    ax.legend(frameon=False, fontsize=8, loc="upper center", ncol=3, bbox_to_anchor=(0.5, -0.1))
    ax = axes[1]
    rows = results.index.tolist()
    xr = np.arange(len(rows))
    ax.bar(xr - 0.2, results["delta_T"], 0.4, color="#4C72B0", label="Δ_T vs single-task (%)")
    ax.bar(xr + 0.2, results["paper_reduction_%"], 0.4, color="#55A868",
           label="conv parameters saved (%, paper convention)")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(xr, [labels.get(n, n) for n in rows])
    ax.set_title("AutoMTL (paper pipeline) per backbone, trained")
    ax.legend(frameon=False, fontsize=8, loc="upper center", ncol=2, bbox_to_anchor=(0.5, -0.1))
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_search_cost(timings: Mapping[str, Mapping[str, Mapping[str, float]]], *, title: str):
    """Seconds per policy-train iteration, per setting, phase and scheme, with the original/ours ratio.

    Args:
        timings: setting -> :func:`~mtlkit.automtl.experiments.time_policy_train` result.
        title: the figure title.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    settings = list(timings)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.9), sharey=False)
    colors = {"original": "#DD8452", "ours": "#4C72B0"}
    labels = {"original": "original: per-task steps, every gradient", "ours": "ours: tree-executed summed step"}
    for ax, phase in zip(axes, ("policy", "network")):
        x = np.arange(len(settings))
        for k, scheme in enumerate(("original", "ours")):
            vals = [1000 * timings[s][scheme][phase] for s in settings]
            ax.bar(x + (k - 0.5) * 0.38, vals, 0.38, color=colors[scheme], label=labels[scheme])
        for i, s in enumerate(settings):
            r = timings[s]["original"][phase] / timings[s]["ours"][phase]
            top = 1000 * max(timings[s]["original"][phase], timings[s]["ours"][phase])
            ax.text(i, top * 1.03, f"×{r:.2f}", ha="center", va="bottom", fontsize=9)
        ax.set_xticks(x, settings)
        ax.set_ylabel("ms per iteration (median)")
        ax.set_title(f"{phase} iterations")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
    axes[0].legend(frameon=False, fontsize=8, loc="upper left")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
