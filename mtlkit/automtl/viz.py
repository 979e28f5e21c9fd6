"""Figure helper: a policy drawn as a task × node heatmap (shared / specific / skip).

matplotlib is imported inside the function, never at module import.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from mtlkit.automtl.policy import ALIASES, CHOICES
from mtlkit.errors import ConfigError

__all__ = ["plot_policy", "POLICY_COLORS"]

POLICY_COLORS = {"shared": "#4C72B0", "specific": "#DD8452", "skip": "#D9D9D9"}


def plot_policy(policy: Mapping[str, Mapping[str, str]], *, tasks: Sequence[str] | None = None, ax=None,
                title: str | None = None, short_names: bool = True):
    """Draw a policy as a heatmap: one row per task, one column per node (graph order), colour = choice.

    Args:
        policy: ``{node: {task: choice}}`` (e.g. ``supermodel.policy()``).
        tasks: rows to draw, in order (default: the tasks of the first node).
        ax: a matplotlib ``Axes`` to draw into (default: a new figure sized to the policy).
        title: optional title.
        short_names: label columns with the node's last two path components (``"0.conv1"``) to keep them short.

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if not isinstance(policy, Mapping) or not policy:
        raise ConfigError(f"policy must be a non-empty dict {{node: {{task: choice}}}}, got {policy!r:.80}")
    nodes = list(policy)
    tasks = list(tasks) if tasks is not None else list(next(iter(policy.values())))
    grid = np.zeros((len(tasks), len(nodes)), dtype=int)
    for j, node in enumerate(nodes):
        for i, task in enumerate(tasks):
            if task not in policy[node]:
                raise ConfigError(f"policy[{node!r}] has no choice for task {task!r}")
            choice = ALIASES.get(policy[node][task], policy[node][task])
            if choice not in CHOICES:
                raise ConfigError(f"policy[{node!r}][{task!r}] = {choice!r} is not one of {list(CHOICES)}")
            grid[i, j] = CHOICES.index(choice)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.0, 0.22 * len(nodes) + 1.5), 0.45 * len(tasks) + 1.6))
    else:
        fig = ax.figure
    ax.imshow(grid, cmap=ListedColormap([POLICY_COLORS[c] for c in CHOICES]), vmin=0, vmax=len(CHOICES) - 1,
              aspect="auto", interpolation="nearest")
    labels = [".".join(n.split(".")[-2:]) if short_names else n for n in nodes]
    # node names as large as the column width allows (6-9 pt): a fixed small size was unreadable on wide figures
    column_pt = ax.get_position().width * fig.get_figwidth() * 72 / max(1, len(nodes))
    ax.set_xticks(range(len(nodes)), labels, rotation=90, fontsize=max(6.0, min(9.0, 0.75 * column_pt)))
    ax.set_yticks(range(len(tasks)), tasks)
    ax.set_xlabel("node (graph order)")
    ax.grid(False)  # a style's axes grid would be drawn over the cells
    # to the right of the heatmap: below it, the legend would collide with long (rotated) node names
    ax.legend(handles=[Patch(color=POLICY_COLORS[c], label=c) for c in CHOICES], loc="center left",
              bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
