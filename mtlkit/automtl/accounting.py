"""Parameter and FLOP accounting of a policy, in the paper's convention and in full.

Two parameter conventions, always reported side by side:

* ``"paper"`` — exactly what the AutoMTL authors count (docs/automtl.md §5.1, their ``Paper.ipynb``): conv weights (+ bias) of
  the conv nodes only; a node counts **once** if at least one task shares it, plus once per task that specialises
  it; "skip" counts **0**, even when it is a 1×1 conv + BN; BN layers and heads are excluded. The reduction is
  ``1 - count / (T * single)``, ``single`` = the backbone's conv parameters.
* ``"full"`` — every parameter of the derived model (:func:`~mtlkit.automtl.derive.derive`): shared ops, task
  copies (convs and BNs), skip projections and heads; compared with T separate single-task networks
  (``T * backbone + sum(heads)``).

FLOPs follow :mod:`mtlkit.flops` (2 × MACs, ``torch.utils.flop_counter``).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from mtlkit.automtl import policy as pol
from mtlkit.automtl.execution import PROJECT, fetch_attr
from mtlkit.automtl.supermodel import SuperModel
from mtlkit.errors import ConfigError, unknown_name
from mtlkit.flops import count_flops

__all__ = ["CONVENTIONS", "count_params", "full_param_breakdown", "param_report", "flops_report"]

CONVENTIONS = ("paper", "full")


def _policy(supermodel: SuperModel, policy: Mapping | None) -> pol.Policy:
    if not isinstance(supermodel, SuperModel):
        raise ConfigError(f"expected a SuperModel, got {type(supermodel).__name__}")
    return supermodel.validate_policy(policy) if policy is not None else supermodel.policy()


def _graphs(backbone: nn.Module):
    if hasattr(backbone, "train_graph"):
        return (backbone.train_graph, backbone.eval_graph)
    return (backbone.graph,)


def _unique_numel(objs) -> int:
    seen: dict[int, int] = {}
    for obj in objs:
        params = [obj] if isinstance(obj, nn.Parameter) else (obj.parameters() if isinstance(obj, nn.Module) else [])
        for p in params:
            seen[id(p)] = p.numel()
    return sum(seen.values())


def full_param_breakdown(supermodel: SuperModel, policy: Mapping | None = None) -> dict[str, int]:
    """Parameters of the model derived from ``policy``, by part.

    Args:
        supermodel: the supermodel.
        policy: a complete policy (default ``supermodel.policy()``).

    Returns:
        ``{"shared": n, "specific": n, "skip": n, "heads": n, "total": n}``: ``shared`` = the backbone ops used by
        the derived model once (ops that are never searched, and the shared branch of nodes some task shares);
        ``specific`` = task copies of convs and BNs; ``skip`` = 1×1 projection skips; ``total`` counts each
        parameter once.
    """
    chosen = _policy(supermodel, policy)
    backbone = supermodel.backbone
    vnodes = supermodel._vnode_by_target
    parts: dict[str, list] = {"shared": [], "specific": [], "skip": [], "heads": list(supermodel.heads.values())}
    for graph in _graphs(backbone):
        for node in graph.nodes:
            if node.op == "call_module" and node.target not in vnodes:
                parts["shared"].append(backbone.get_submodule(node.target))
            elif node.op == "get_attr":
                parts["shared"].append(fetch_attr(backbone, node.target))
    for v in supermodel.virtual_nodes:
        if not v.searchable:  # task-specific BN: hard mode uses every task's copy
            parts["specific"].extend(supermodel.specific[t][v.key] for t in supermodel.tasks)
            continue
        row = chosen[v.name]
        if pol.SHARED in row.values():
            parts["shared"].append(backbone.get_submodule(v.name))
        parts["specific"].extend(supermodel.specific[t][v.key] for t, c in row.items() if c == pol.SPECIFIC)
        if v.skip == PROJECT:
            parts["skip"].extend(supermodel.skip[t][v.key] for t, c in row.items() if c == pol.SKIP)
    out = {name: _unique_numel(objs) for name, objs in parts.items()}
    out["total"] = _unique_numel(obj for objs in parts.values() for obj in objs)
    return out


def count_params(supermodel: SuperModel, policy: Mapping | None = None, convention: str = "paper") -> int:
    """Parameters of a discrete policy.

    Args:
        supermodel: the supermodel.
        policy: a complete policy (default ``supermodel.policy()``).
        convention: ``"paper"`` (conv weights of conv nodes; once if shared by any task, plus once per task that
            specialises; skip, BN and heads excluded) or ``"full"`` (every parameter of the derived model).

    Returns:
        The count (``int``).
    """
    if convention not in CONVENTIONS:
        raise unknown_name("convention", convention, CONVENTIONS)
    chosen = _policy(supermodel, policy)
    if convention == "full":
        return full_param_breakdown(supermodel, chosen)["total"]
    total = 0
    for v in supermodel.nodes:
        if v.kind != "conv":
            continue
        row = chosen[v.name]
        copies = (pol.SHARED in row.values()) + sum(c == pol.SPECIFIC for c in row.values())
        total += copies * v.params[pol.SHARED]
    return total


def param_report(supermodel: SuperModel, policy: Mapping | None = None) -> dict[str, float]:
    """Both parameter conventions for one policy, with their single-task baselines and reductions.

    Returns:
        ``paper``, ``paper_single`` (one backbone's conv parameters), ``paper_baseline`` (T × single),
        ``paper_reduction``; ``full``, ``full_baseline`` (T × backbone + all heads), ``full_reduction``; and the
        ``full_*`` parts of :func:`full_param_breakdown`.
    """
    chosen = _policy(supermodel, policy)
    T = len(supermodel.tasks)
    single = sum(v.params[pol.SHARED] for v in supermodel.nodes if v.kind == "conv")
    paper = count_params(supermodel, chosen, "paper")
    parts = full_param_breakdown(supermodel, chosen)
    backbone = _unique_numel([supermodel.backbone])
    full_baseline = T * backbone + _unique_numel(supermodel.heads.values())
    report = {
        "paper": paper, "paper_single": single, "paper_baseline": T * single,
        "paper_reduction": 1 - paper / (T * single) if single else 0.0,
        "full": parts["total"], "full_baseline": full_baseline,
        "full_reduction": 1 - parts["total"] / full_baseline if full_baseline else 0.0,
    }
    report.update({f"full_{k}": v for k, v in parts.items() if k != "total"})
    return report


def flops_report(supermodel: SuperModel, x: torch.Tensor, policy: Mapping | None = None) -> dict:
    """FLOPs of the hard-mode model: tree-executed for all tasks, and one task at a time.

    Runs in eval mode (BN statistics untouched) under ``no_grad``, then restores the mode.

    Args:
        supermodel: the supermodel.
        x: an input batch ``(B, 3, H, W)``; FLOPs scale with B and the resolution.
        policy: a complete policy (default ``supermodel.policy()``).

    Returns:
        ``{"tree": F, "per_task": {task: F_t}, "separate": sum of F_t, "ratio": separate / tree}`` — ``separate``
        is what the original pays (one full forward per task), ``tree`` what ``forward(x)`` pays.
    """
    chosen = _policy(supermodel, policy)
    was_training = supermodel.training
    supermodel.eval()
    try:
        tree = count_flops(supermodel, x, mode="hard", policy=chosen)
        per_task = {t: count_flops(supermodel, x, tasks=[t], mode="hard", policy=chosen) for t in supermodel.tasks}
    finally:
        supermodel.train(was_training)
    separate = sum(per_task.values())
    return {"tree": tree, "per_task": per_task, "separate": separate, "ratio": separate / tree if tree else 1.0}
