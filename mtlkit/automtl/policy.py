"""Sharing policies: ``{node_name: {task: "shared" | "specific" | "skip"}}``.

A *policy* says, for every searchable node of a :class:`~mtlkit.automtl.SuperModel` and every task, which branch
the task takes (docs/automtl.md §2). It is a plain nested ``dict`` so that users can write, save (JSON) and diff it. This module
validates and normalises policies, and turns policy logits into discrete policies:

* :func:`argmax_policy` — the paper's hard mode (ties → the first choice, "shared", as ``argmax`` of zero logits);
* :func:`sample_policy` — the paper's discretisation (docs/automtl.md §2.4, §7.13): one categorical draw per (node, task) from
  ``softmax(logits)`` at τ = 1, no Gumbel noise, drawn from ``numpy.random.RandomState(seed)`` (the stream behind
  the original's ``np.random.seed(seed); np.random.choice``), nodes in graph order, tasks in task order.

Choices may be written in full or with the short forms of the spec's test vectors: ``sh``, ``sp``, ``sk``.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from mtlkit.errors import ConfigError, unknown_name

__all__ = [
    "SHARED", "SPECIFIC", "SKIP", "CHOICES", "ALIASES", "Policy",
    "normalize_choice", "validate_policy", "uniform_policy", "argmax_policy", "sample_policy", "policy_counts",
    "policy_from_vectors", "PAPER_CITYSCAPES_VECTORS", "paper_cityscapes_node_order", "paper_cityscapes_policy",
]

SHARED, SPECIFIC, SKIP = "shared", "specific", "skip"
CHOICES = (SHARED, SPECIFIC, SKIP)
ALIASES = {"sh": SHARED, "sp": SPECIFIC, "sk": SKIP}

Policy = dict[str, dict[str, str]]


def normalize_choice(value: object, node: str, task: str, allowed: Sequence[str]) -> str:
    """The canonical name of a choice (``"sh"`` → ``"shared"``), checked against the node's allowed choices.

    Args:
        value: the choice as written by the user.
        node: node name (for the error message).
        task: task name (for the error message).
        allowed: the node's choices, e.g. ``("shared", "specific", "skip")``.

    Returns:
        One of ``allowed``.

    Raises:
        ConfigError: unknown choice, or a choice this node does not offer (e.g. skip at a conv that changes shape).
    """
    name = ALIASES.get(value, value) if isinstance(value, str) else value
    if name not in CHOICES:
        raise ConfigError(
            f"policy[{node!r}][{task!r}] = {value!r} is not a choice; expected one of {list(CHOICES)} "
            f"(or the short forms {list(ALIASES)})"
        )
    if name not in allowed:
        raise ConfigError(
            f"policy[{node!r}][{task!r}] = {value!r}, but node {node!r} offers only {list(allowed)}"
            + (" (no zero-cost skip where the conv changes shape; build with skip='project' for the paper's 1x1 "
               "projection)" if name == SKIP else "")
        )
    return name


def validate_policy(
    policy: Mapping, nodes: Mapping[str, Sequence[str]], tasks: Sequence[str], *, partial: bool = False
) -> Policy:
    """Check a policy against a supermodel's nodes and tasks and return a normalised copy.

    Args:
        policy: ``{node: {task: choice}}``. A node may also map to a single choice string for all tasks.
        nodes: node name → the node's allowed choices, in graph order.
        tasks: the task names.
        partial: if False (default) every (node, task) must be given.

    Returns:
        A new ``{node: {task: canonical choice}}`` with nodes in graph order and tasks in task order.

    Raises:
        ConfigError: not a mapping, an unknown node, task or choice, or (unless ``partial``) a missing entry.
    """
    if not isinstance(policy, Mapping):
        raise ConfigError(f"policy must be a dict {{node: {{task: choice}}}}, got {type(policy).__name__}")
    for node in policy:
        if node not in nodes:
            raise unknown_name("policy node", node, nodes)
    out: Policy = {}
    missing: list[str] = []
    for node, allowed in nodes.items():
        if node not in policy:
            if not partial:
                missing.append(node)
            continue
        entry = policy[node]
        if isinstance(entry, str):
            entry = {t: entry for t in tasks}
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"policy[{node!r}] must be a dict {{task: choice}} or one choice string, got {type(entry).__name__}"
            )
        for task in entry:
            if task not in tasks:
                raise unknown_name("task", task, tasks)
        row = {t: normalize_choice(entry[t], node, t, allowed) for t in tasks if t in entry}
        if not partial and len(row) != len(tasks):
            missing.extend(f"{node}/{t}" for t in tasks if t not in row)
        if row:
            out[node] = row
    if missing:
        shown = ", ".join(missing[:6]) + (f" ... ({len(missing)} in all)" if len(missing) > 6 else "")
        raise ConfigError(f"policy is incomplete: no choice for {shown}; give every node and task, or partial=True")
    return out


def uniform_policy(nodes: Mapping[str, Sequence[str]], tasks: Sequence[str], choice: str) -> Policy:
    """The policy in which every task takes ``choice`` at every node.

    Args:
        nodes: node name → allowed choices.
        tasks: task names.
        choice: ``"shared"``, ``"specific"`` or ``"skip"`` (or ``sh``/``sp``/``sk``).

    Raises:
        ConfigError: if some node does not offer ``choice``.
    """
    return validate_policy({n: {t: choice for t in tasks} for n in nodes}, nodes, tasks)


def argmax_policy(logits: Mapping[str, torch.Tensor], choices: Mapping[str, Sequence[str]],
                  tasks: Sequence[str]) -> Policy:
    """The argmax policy of per-node logits of shape ``(T, K)`` (ties → the first choice, "shared").

    Args:
        logits: node → tensor ``(T, K)`` with K = ``len(choices[node])``.
        choices: node → the node's choices, in logit order.
        tasks: task names, in the order of the logits' rows.

    Returns:
        ``{node: {task: choice}}``.
    """
    if not logits:
        return {}
    names = list(logits)
    # one device→host copy for all nodes instead of one .item() per (node, task)
    index = [row.tolist() for row in (torch.stack([logits[n].detach().argmax(-1) for n in names]).cpu())]
    return {n: {t: choices[n][k] for t, k in zip(tasks, index[i])} for i, n in enumerate(names)}


def sample_policy(logits: Mapping[str, torch.Tensor], choices: Mapping[str, Sequence[str]],
                  tasks: Sequence[str], seed: int) -> Policy:
    """The paper's discretisation: one draw per (node, task) from ``softmax(logits)`` at τ = 1, without Gumbel noise.

    Args:
        logits: node → tensor ``(T, K)``.
        choices: node → the node's choices, in logit order.
        tasks: task names, in the order of the logits' rows.
        seed: seed of ``numpy.random.RandomState``; the same seed and logits give the same policy.

    Returns:
        ``{node: {task: choice}}``.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
    rng = np.random.RandomState(int(seed))
    out: Policy = {}
    for node, value in logits.items():
        probs = torch.softmax(value.detach().double().cpu(), dim=-1).numpy()  # (T, K)
        row = {}
        for t, task in enumerate(tasks):
            p = probs[t] / probs[t].sum()  # exact normalisation for numpy's check
            row[task] = choices[node][int(rng.choice(len(p), p=p))]
        out[node] = row
    return out


def policy_counts(policy: Mapping[str, Mapping[str, str]], tasks: Iterable[str] | None = None) -> dict[str, dict]:
    """How many nodes each task shares, specialises and skips: ``{task: {"shared": n, "specific": n, "skip": n}}``."""
    tasks = list(tasks) if tasks is not None else list(dict.fromkeys(t for row in policy.values() for t in row))
    counts = {t: dict.fromkeys(CHOICES, 0) for t in tasks}
    for row in policy.values():
        for t in tasks:
            if t in row:
                counts[t][ALIASES.get(row[t], row[t])] += 1
    return counts


def policy_from_vectors(node_names: Sequence[str], vectors: Mapping[str, Sequence[str] | str]) -> Policy:
    """Build a policy from one choice sequence per task, aligned with ``node_names``.

    Args:
        node_names: node names in the order of the vectors.
        vectors: task → choices, a sequence or one whitespace-separated string such as ``"sp sh sk ..."``.

    Returns:
        ``{node: {task: choice}}`` (not yet validated against a supermodel).
    """
    out: Policy = {n: {} for n in node_names}
    for task, vec in vectors.items():
        items = vec.split() if isinstance(vec, str) else list(vec)
        if len(items) != len(node_names):
            raise ConfigError(
                f"the vector of task {task!r} has {len(items)} choices, expected one per node ({len(node_names)})"
            )
        for node, choice in zip(node_names, items):
            out[node][task] = ALIASES.get(choice, choice)
    return out


# ------------------------------------------------------------------------------------ the paper's CityScapes policy
#: The architecture AutoMTL reports for CityScapes (docs/automtl.md §7.14; run "no_pre", seed 10, λ = 0.0005): one choice per
#: conv node and task, in the original's conv order (:func:`paper_cityscapes_node_order`). Counted the paper's way it
#: has 28,854,656 conv parameters, 32.16 % fewer than two single-task ResNet-34s.
PAPER_CITYSCAPES_VECTORS = {
    "segment_semantic": "sp sh sp sk sp sh sh sp sh sh sp sk sh sp sk sp sp sh sk sk sp sh sh sk sp sp sp sp sp sp sk "
                        "sp sk sh sh sh",
    "depth_zbuffer": "sh sk sh sp sp sk sh sk sh sk sh sk sh sh sh sh sk sh sh sk sk sp sk sh sp sk sp sp sh sh sh sh "
                     "sh sp sh sh",
}


def paper_cityscapes_node_order() -> list[str]:
    """The 36 ResNet-34 conv names (torchvision's; the DeepLab variant has the same) in the vectors' order.

    The original's prototxt lists each stage's 1×1 projection shortcut before that stage's 3×3 convs.
    """
    names = ["conv1"] + [f"layer1.{b}.conv{i}" for b in range(3) for i in (1, 2)]
    for stage, blocks in ((2, 4), (3, 6), (4, 3)):
        names.append(f"layer{stage}.0.downsample.0")
        names += [f"layer{stage}.{b}.conv{i}" for b in range(blocks) for i in (1, 2)]
    return names


def paper_cityscapes_policy() -> Policy:
    """The paper's CityScapes policy as ``{node: {task: choice}}`` on ResNet-34 node names (tasks segment_semantic,
    depth_zbuffer); it needs a supermodel with ``skip="project"`` (it skips at shape-changing convs)."""
    return policy_from_vectors(paper_cityscapes_node_order(), PAPER_CITYSCAPES_VECTORS)
