"""Baselines trained with the search's own post-train code (docs/automtl.md §3.6): single-task, hard sharing, random policies.

Every baseline is a model derived from the same supermodel and trained by :func:`~mtlkit.automtl.search.post_train`
(same optimiser, schedule, initialisation and data), so differences come from the architecture alone:

* ``single_task`` — every task specialises every node: T independent networks (task BN, own head).
* ``hard_sharing`` — every task shares every node (the backbone once; with the paper's task-specific BN,
  ``share_bn=False``, each task keeps its own BN layers, as in the spec's "hard sharing with task BNs").
* ``random`` — each (node, task) choice drawn uniformly (numpy ``RandomState(seed)``), optionally with the first
  ``shared_bottom`` nodes shared by all tasks (the original's ``experiments_random.py`` shares *all* nodes for any
  ``K > 0``, a bug: its counter is never incremented).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from mtlkit.automtl import policy as pol
from mtlkit.automtl.search import PostTrained, post_train
from mtlkit.automtl.search_config import SearchConfig
from mtlkit.errors import ConfigError, unknown_name

__all__ = ["BASELINES", "single_task_policy", "hard_sharing_policy", "random_policy", "baseline_policy",
           "matched_random_policies", "train_baseline"]

BASELINES = ("single_task", "hard_sharing", "random")


def single_task_policy(supermodel) -> pol.Policy:
    """Every task specialises every node (T independent networks)."""
    return supermodel.uniform_policy(pol.SPECIFIC)


def hard_sharing_policy(supermodel) -> pol.Policy:
    """Every task shares every node."""
    return supermodel.uniform_policy(pol.SHARED)


def random_policy(supermodel, seed: int, shared_bottom: int = 0) -> pol.Policy:
    """A uniformly random policy (each node's choices equally likely), first ``shared_bottom`` nodes shared.

    Args:
        supermodel: the supermodel (its nodes and choices; its logits are ignored).
        seed: numpy seed (the draw order of :func:`mtlkit.automtl.policy.sample_policy`).
        shared_bottom: how many nodes, in graph order, every task shares (0 = none).

    Returns:
        ``{node: {task: choice}}``.
    """
    if not isinstance(shared_bottom, int) or isinstance(shared_bottom, bool) or not 0 <= shared_bottom <= len(
            supermodel.nodes):
        raise ConfigError(f"shared_bottom must be an int in [0, {len(supermodel.nodes)}] (the number of nodes), "
                          f"got {shared_bottom!r}")
    zeros = {v.name: torch.zeros(len(supermodel.tasks), len(v.choices)) for v in supermodel.nodes}
    policy = pol.sample_policy(zeros, supermodel.node_choices, supermodel.tasks, seed)
    for v in supermodel.nodes[:shared_bottom]:
        policy[v.name] = dict.fromkeys(supermodel.tasks, pol.SHARED)
    return policy


def matched_random_policies(supermodel, target_params: float, n: int, seed: int = 0, *, tolerance: float = 0.1,
                            max_draws: int = 10_000) -> list[tuple[int, pol.Policy]]:
    """``n`` random policies at the parameter cost of another architecture (the random-architecture control).

    Rejection sampling: :func:`random_policy` draws with numpy seeds ``seed, seed + 1, …`` are kept when their full
    parameter count (:func:`~mtlkit.automtl.accounting.count_params`, ``"full"`` convention: the derived model's
    backbone copies, skips and heads) is within ``± tolerance · target_params``.

    Args:
        supermodel: the supermodel (nodes and choices).
        target_params: the full parameter count to match (e.g. the searched policy's).
        n: how many policies.
        seed: the first numpy seed.
        tolerance: the accepted relative distance (0.1: ±10 %).
        max_draws: give up after this many draws.

    Returns:
        ``[(numpy seed, policy), …]``, ``n`` entries.

    Raises:
        ConfigError: a bad argument, or fewer than ``n`` of ``max_draws`` draws within the tolerance.
    """
    from mtlkit.automtl.accounting import count_params

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"n must be a positive int (how many random policies), got {n!r}")
    if isinstance(target_params, bool) or not isinstance(target_params, (int, float)) or not target_params > 0:
        raise ConfigError(f"target_params must be a positive parameter count, got {target_params!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 < tolerance < 1:
        raise ConfigError(f"tolerance must be a fraction in (0, 1), e.g. 0.1 for ±10 %, got {tolerance!r}")
    out = []
    for k in range(seed, seed + max_draws):
        policy = random_policy(supermodel, k)
        if abs(count_params(supermodel, policy, "full") - target_params) <= tolerance * target_params:
            out.append((k, policy))
            if len(out) == n:
                return out
    raise ConfigError(f"only {len(out)} of {max_draws} random policies have {target_params:,.0f} ± "
                      f"{100 * tolerance:g} % parameters; {n} were asked for (widen tolerance or raise max_draws)")


def baseline_policy(supermodel, kind: str, seed: int = 0, shared_bottom: int = 0) -> pol.Policy:
    """The policy of baseline ``kind`` (``"single_task"``, ``"hard_sharing"`` or ``"random"``)."""
    if kind == "single_task":
        return single_task_policy(supermodel)
    if kind == "hard_sharing":
        return hard_sharing_policy(supermodel)
    if kind == "random":
        return random_policy(supermodel, seed, shared_bottom)
    raise unknown_name("baseline", kind, BASELINES)


def train_baseline(supermodel, kind: str | Mapping, data: Mapping, config: SearchConfig, *, seed: int = 0,
                   shared_bottom: int = 0, tasks: Any = None, run_dir: str | Path | None = None,
                   resume: bool = True, progress: bool = True) -> PostTrained:
    """Derive and post-train a baseline exactly as the searched model is post-trained.

    Args:
        supermodel: the supermodel the baseline is derived from (unchanged).
        kind: ``"single_task"``, ``"hard_sharing"``, ``"random"`` or an explicit policy dict.
        data: splits; reads ``"train"`` and ``"test"`` if present.
        config: the post-train settings (``post_*``, ``seed``, ``device``); ``post_init="scratch"`` gives every
            baseline a fresh random initialisation.
        seed: the random policy's numpy seed.
        shared_bottom: nodes every task shares in a random policy.
        tasks: task objects.
        run_dir: checkpoint/log folder.
        resume: continue from ``run_dir``.
        progress: progress bar.

    Returns:
        A :class:`~mtlkit.automtl.search.PostTrained` (model, policy, history, test metrics, parameter counts).
    """
    policy = kind if isinstance(kind, Mapping) else baseline_policy(supermodel, kind, seed, shared_bottom)
    return post_train(supermodel, policy, data, config, tasks=tasks, run_dir=run_dir, resume=resume,
                      progress=progress)
