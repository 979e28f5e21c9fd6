"""Tree execution of a supermodel: the backbone's fx graph interpreted for several tasks at once.

:func:`tree_forward` walks the traced backbone graph once for all active tasks; the value of every node is a
partition of the tasks into groups that share it, and a virtual node (a searchable conv or BN, see
:class:`mtlkit.automtl.supermodel.VirtualNode`) splits a group only where the tasks' branches differ. What each
virtual node does in one call is resolved beforehand into a :class:`Plan`. Both
:class:`~mtlkit.automtl.supermodel.SuperModel` (search and training) and :func:`~mtlkit.automtl.derive.derive`
(which traces this walk into a compact ``fx.GraphModule``) run it, so this module sits below both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.fx as fx
from torch import nn

from mtlkit.automtl import policy as pol

if TYPE_CHECKING:
    from mtlkit.automtl.supermodel import VirtualNode

__all__ = ["IDENTITY", "PROJECT", "Plan", "tree_forward", "fetch_attr"]

#: Skip kinds of a virtual node: the input itself, or a per-task 1×1 projection (conv + BN).
IDENTITY, PROJECT = "identity", "project"


class _Groups:
    """The value of one fx node under tree execution: a partition of the active tasks → one value per group."""

    __slots__ = ("groups", "where")

    def __init__(self, groups: list[tuple[tuple[str, ...], Any]]):
        self.groups = groups
        self.where = {t: i for i, (tasks, _) in enumerate(groups) for t in tasks}


@dataclass
class Plan:
    """What every virtual node does in this forward call (resolved once, before the graph is walked)."""

    mode: str
    choice: dict[str, dict[str, str]] = field(default_factory=dict)  # hard: key -> task -> choice
    weights: dict[str, torch.Tensor] = field(default_factory=dict)  # soft: key -> (T_active, K)
    needed: dict[str, list[list[bool]]] = field(default_factory=dict)  # soft: key -> [task row][choice]
    row: dict[str, int] = field(default_factory=dict)  # soft: task -> row in weights
    tracer: Any = None  # set by derive(): emit the backbone's own ops into this fx tracer


# --------------------------------------------------------------------------------------------------- tree execution
def fetch_attr(module: nn.Module, target: str):
    """The attribute at the dotted path ``target`` of ``module`` (what an fx ``get_attr`` node reads)."""
    obj = module
    for atom in target.split("."):
        obj = getattr(obj, atom)
    return obj


def _run_op(model: nn.Module, node: fx.Node, args, kwargs, plan: Plan):
    """Run one ordinary (shared) op of the backbone graph, or emit it when derive() is tracing."""
    if plan.tracer is not None:  # re-emit the op as it is (keeps fx.wrap'ed functions and leaf modules opaque)
        target = f"backbone.{node.target}" if node.op in ("call_module", "get_attr") else node.target
        return plan.tracer.create_proxy(node.op, target, args, kwargs)
    if node.op == "call_module":
        return model.backbone.get_submodule(node.target)(*args, **kwargs)
    if node.op == "call_function":
        return node.target(*args, **kwargs)
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    if node.op == "get_attr":
        return fetch_attr(model.backbone, node.target)
    raise RuntimeError(f"unexpected fx op {node.op!r}")  # placeholder/output are handled by the caller


def _run_shared(model: nn.Module, node: fx.Node, env: dict, tasks: tuple[str, ...], plan: Plan) -> _Groups:
    inputs = node.all_input_nodes
    if not inputs:
        return _Groups([(tasks, _run_op(model, node, node.args, node.kwargs, plan))])
    parts = [env[n] for n in inputs]
    buckets: dict[tuple[int, ...], list[str]] = {}  # common refinement of the inputs' partitions
    for t in tasks:
        buckets.setdefault(tuple(p.where[t] for p in parts), []).append(t)
    out = []
    for key, group in buckets.items():
        value_of = {n: parts[j].groups[key[j]][1] for j, n in enumerate(inputs)}
        args = fx.node.map_arg(node.args, lambda n: value_of[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: value_of[n])
        out.append((tuple(group), _run_op(model, node, args, kwargs, plan)))
    return _Groups(out)


def _skip_branch(model: nn.Module, v: VirtualNode, task: str, x: torch.Tensor) -> torch.Tensor:
    return x if v.skip == IDENTITY else model.skip[task][v.key](x)


def _run_virtual(model: nn.Module, v: VirtualNode, inp: _Groups, plan: Plan) -> _Groups:
    """Run one virtual node for every input group, splitting groups only where the tasks' branches differ."""
    shared_op = model.backbone.get_submodule(v.name)
    out: list[tuple[tuple[str, ...], torch.Tensor]] = []
    mode = plan.mode
    for tasks, x in inp.groups:
        if mode == "shared":
            out.append((tasks, shared_op(x)))
        elif mode == "specific" or (not v.searchable and mode in ("soft", "hard")):
            out.extend(((t,), model.specific[t][v.key](x)) for t in tasks)
        elif mode == "mean":
            shared = shared_op(x)
            for t in tasks:
                total = shared + model.specific[t][v.key](x)
                if v.skip:
                    total = total + _skip_branch(model, v, t, x)
                out.append(((t,), total / (3 if v.skip else 2)))
        elif mode == "hard":
            by_choice: dict[str, list[str]] = {}
            for t in tasks:
                by_choice.setdefault(plan.choice[v.key][t], []).append(t)
            if pol.SHARED in by_choice:
                out.append((tuple(by_choice[pol.SHARED]), shared_op(x)))
            for t in by_choice.get(pol.SPECIFIC, ()):
                out.append(((t,), model.specific[t][v.key](x)))
            if v.skip == IDENTITY and pol.SKIP in by_choice:
                out.append((tuple(by_choice[pol.SKIP]), x))  # the tasks that skip keep sharing x
            elif pol.SKIP in by_choice:
                out.extend(((t,), model.skip[t][v.key](x)) for t in by_choice[pol.SKIP])
        else:  # soft
            shared = None
            for t in tasks:
                w, need = plan.weights[v.key][plan.row[t]], plan.needed[v.key][plan.row[t]]
                total = None
                for k, choice in enumerate(v.choices):
                    if not need[k]:
                        continue  # exactly zero weight (and no gradient through it): not computed
                    if choice == pol.SHARED:
                        shared = shared_op(x) if shared is None else shared
                        branch = shared
                    elif choice == pol.SPECIFIC:
                        branch = model.specific[t][v.key](x)
                    else:
                        branch = _skip_branch(model, v, t, x)
                    total = w[k] * branch if total is None else total + w[k] * branch
                out.append(((t,), total))
    return _Groups(out)


def _free_after(graph: fx.Graph) -> dict[fx.Node, list[fx.Node]]:
    """node → the values whose last use it is (so that activations are released as early as possible)."""
    last: dict[fx.Node, fx.Node] = {}
    for node in graph.nodes:
        for inp in node.all_input_nodes:
            last[inp] = node
    free: dict[fx.Node, list[fx.Node]] = {}
    for value, user in last.items():
        free.setdefault(user, []).append(value)
    return free


def tree_forward(model: nn.Module, x: torch.Tensor, tasks: tuple[str, ...], plan: Plan) -> dict[str, torch.Tensor]:
    """Interpret the backbone graph for ``tasks`` with tree sharing, then apply each task's head.

    ``model`` needs ``backbone``, ``specific``, ``skip``, ``heads`` and ``_vnode_by_target`` (a :class:`SuperModel`
    or the root that :func:`~mtlkit.automtl.derive.derive` traces).
    """
    graph = model.backbone.graph  # the train or eval graph, following the module's mode
    vnodes = model._vnode_by_target
    free = _free_after(graph)
    env: dict[fx.Node, _Groups] = {}
    features: _Groups | None = None
    for node in graph.nodes:
        if node.op == "placeholder":
            env[node] = _Groups([(tasks, x)])
        elif node.op == "output":
            features = env[node.args[0]]
        elif node.op == "call_module" and node.target in vnodes:
            env[node] = _run_virtual(model, vnodes[node.target], env[node.args[0]], plan)
        else:
            env[node] = _run_shared(model, node, env, tasks, plan)
        for value in free.get(node, ()):
            env.pop(value, None)
    assert features is not None
    out: dict[str, torch.Tensor] = {}
    for group, feats in features.groups:
        for t in group:
            out[t] = model.heads[t](feats)
    return {t: out[t] for t in tasks}
