"""Figures of the search: Gumbel-softmax draws, τ schedules, the policy distribution over time, depth profiles.

matplotlib is imported inside the functions, never at module import. Every function returns the ``Figure``.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from mtlkit.errors import ConfigError

__all__ = ["plot_gumbel_softmax", "plot_tau_schedules", "plot_policy_over_time", "plot_depth_profile"]

_CHOICE_COLUMNS = {"shared": "p_shared", "specific": "p_specific", "skip": "p_skip"}


def _ternary(p):
    """(n, 3) probabilities → (n, 2) points of an equilateral triangle (shared bottom-left, specific
    bottom-right, skip top)."""
    import numpy as np

    p = np.asarray(p)
    return np.stack([p[:, 1] + 0.5 * p[:, 2], p[:, 2] * math.sqrt(3) / 2], axis=1)


def plot_gumbel_softmax(logits: Sequence[float] = (1.0, 0.0, -0.5), taus: Sequence[float] = (5.0, 1.0, 0.2),
                        n: int = 1500, seed: int = 0):
    """Draws of ``gumbel_softmax(logits, τ)`` on the probability simplex, one panel per τ.

    Args:
        logits: three logits (shared, specific, skip).
        taus: temperatures, one panel each.
        n: draws per panel.
        seed: torch seed of the draws.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    import torch.nn.functional as F

    if len(logits) != 3:
        raise ConfigError(f"logits must be three numbers (shared, specific, skip), got {list(logits)}")
    alpha = torch.tensor([float(v) for v in logits]).expand(n, 3)
    gen = torch.Generator().manual_seed(seed)
    fig, axes = plt.subplots(1, len(taus), figsize=(3.3 * len(taus), 3.2), squeeze=False)
    corners = np.array([[0, 0], [1, 0], [0.5, math.sqrt(3) / 2]])
    mean = torch.softmax(alpha[0], -1).numpy()[None]
    for ax, tau in zip(axes[0], taus):
        g = -torch.log(torch.empty(n, 3).exponential_(generator=gen))  # Gumbel(0, 1)
        p = F.softmax((alpha + g) / tau, dim=-1).numpy()  # = F.gumbel_softmax(alpha, tau) with this noise
        xy = _ternary(p)
        ax.fill(*corners.T, color="#f4f4f4", zorder=0)
        ax.plot(*np.vstack([corners, corners[:1]]).T, color="0.4", lw=0.8)
        ax.scatter(xy[:, 0], xy[:, 1], s=3, alpha=0.35, color="#4C72B0", lw=0)
        m = _ternary(mean)
        ax.scatter(m[:, 0], m[:, 1], s=60, marker="*", color="#C44E52", zorder=3, label="softmax(α)")
        for (x, y), name, dy in zip(corners, ("shared", "specific", "skip"), (-0.08, -0.08, 0.04)):
            ax.text(x, y + dy, name, ha="center", fontsize=9)
        ax.set_title(f"τ = {tau:g}: mean max weight {p.max(1).mean():.2f}", fontsize=10)
        ax.set_xlim(-0.1, 1.1), ax.set_ylim(-0.15, 1.0)
        ax.set_aspect("equal"), ax.set_axis_off()
    axes[0][0].legend(loc="upper left", fontsize=8, frameon=False)
    fig.suptitle(f"Gumbel-softmax mixing weights of one node, logits {tuple(logits)}, {n} draws per τ", fontsize=11)
    fig.tight_layout()
    return fig


def plot_tau_schedules(configs: Mapping[str, object]):
    """τ over policy-train (x: fraction of the stage's iterations) for several :class:`SearchConfig` s."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    styles = ["-", "--", ":", "-."]
    for k, (label, cfg) in enumerate(configs.items()):
        n = cfg.policy_train_iterations
        its = np.unique(np.linspace(0, n, min(n, 2000) + 1).astype(int))
        cycle = cfg.policy_steps + cfg.network_steps
        counts = [int(i // cycle) * cfg.policy_steps + min(int(i % cycle), cfg.policy_steps) for i in its]
        taus = [cfg.tau_after(c) for c in counts]
        ax.step(its / n, taus, where="post", ls=styles[k % len(styles)], lw=1.6,
                label=f"{label}: {n:,} it., (P, N) = ({cfg.policy_steps}, {cfg.network_steps}), "
                      f"final τ {cfg.final_tau:.3f}")
    ax.set_xlabel("fraction of policy-train")
    ax.set_ylabel("temperature τ")
    ax.set_yscale("log")
    ticks = [0.1, 0.2, 0.5, 1, 2, 5]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.legend(fontsize=7.5, frameon=False)
    ax.set_title("τ = 5 · 0.965^⌊policy iterations / period⌋", fontsize=10)
    fig.tight_layout()
    return fig


def plot_policy_over_time(frame, *, tasks: Sequence[str] | None = None,
                          choices: Sequence[str] = ("shared", "specific", "skip"), title: str | None = None):
    """Heatmaps of the policy distribution over policy-train: rows = nodes (graph order), columns = iterations.

    Grey cells: nodes that do not offer the choice (no skip).

    Args:
        frame: the policy log (``PolicyTrainResult.snapshot_frame()`` or :func:`read_policy_log`).
        tasks: tasks to draw (default: all in the log), one row of panels each.
        choices: which probabilities to draw, one column of panels each.
        title: figure title.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    need = {"iteration", "node", "task", *(_CHOICE_COLUMNS[c] for c in choices)}
    if not need <= set(frame.columns):
        raise ConfigError(f"the policy log lacks columns {sorted(need - set(frame.columns))}")
    tasks = list(tasks) if tasks is not None else list(dict.fromkeys(frame["task"]))
    nodes = list(dict.fromkeys(frame["node"]))
    iterations = sorted(frame["iteration"].unique())
    fig, axes = plt.subplots(len(tasks), len(choices), figsize=(3.6 * len(choices) + 1.2, 0.3 * len(nodes) * len(tasks)
                                                                + 1.6), squeeze=False, sharex=True, sharey=True)
    image = None
    for r, task in enumerate(tasks):
        sub = frame[frame["task"] == task]
        for c, choice in enumerate(choices):
            grid = sub.pivot(index="node", columns="iteration", values=_CHOICE_COLUMNS[choice])
            grid = grid.reindex(index=nodes, columns=iterations).to_numpy(dtype=float)
            ax = axes[r][c]
            image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", vmin=0, vmax=1, cmap="viridis",
                              interpolation="nearest", extent=(iterations[0], iterations[-1], len(nodes) - 0.5, -0.5))
            ax.set_facecolor("#dddddd")  # nodes without the choice
            ax.grid(False)
            if r == 0:
                ax.set_title(f"p({choice})", fontsize=10)
            if c == 0:
                ax.set_ylabel(task, fontsize=9)
                ax.set_yticks(range(len(nodes)), nodes, fontsize=7)
            if r == len(tasks) - 1:
                ax.set_xlabel("policy-train iteration")
    fig.colorbar(image, ax=axes, shrink=0.8, label="softmax(α) (τ = 1)")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_depth_profile(frames: Mapping[str, object], depths: Mapping[str, int], *, choice: str = "shared",
                       ax=None, title: str | None = None):
    """Final ``p(choice)`` per node (mean over tasks) against the node's depth, one line per run.

    Lines join the three-choice nodes (dotted: uniform 1/3); hollow squares are nodes without a skip (uniform 1/2).

    Args:
        frames: label → policy log.
        depths: node name → depth (``{v.name: v.depth for v in supermodel.nodes}``).
        choice: ``"shared"``, ``"specific"`` or ``"skip"``.
        ax: an Axes to draw into.
        title: axes title.
    """
    import matplotlib.pyplot as plt

    column = _CHOICE_COLUMNS[choice]
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
    else:
        fig = ax.figure
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, frame) in enumerate(frames.items()):
        last = frame[frame["iteration"] == frame["iteration"].max()]
        mean = last.groupby("node", sort=False)[[column, "p_skip"]].mean()
        three = mean["p_skip"].notna()  # nodes with three choices (uniform = 1/3)
        color = colors[k % len(colors)]
        pts = sorted((depths[n], v) for n, v in mean.loc[three, column].items())
        ax.plot([d for d, _ in pts], [v for _, v in pts], marker="o", ms=4, color=color, label=label)
        two = [(depths[n], v) for n, v in mean.loc[~three, column].items()]
        if two:
            ax.scatter([d for d, _ in two], [v for _, v in two], marker="s", s=30, facecolor="none",
                       edgecolor=color, label=f"{label}, 2-choice node" if k == 0 else None)
    ax.axhline(1 / 3, color="0.6", ls=":", lw=1)
    ax.set_xlabel("node depth (convs on the longest path from the input)")
    ax.set_ylabel(f"final p({choice}), mean over tasks")
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
