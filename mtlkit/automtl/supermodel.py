"""The AutoMTL supermodel: any CNN backbone turned into a multi-task search space, executed as a tree.

:meth:`SuperModel.from_backbone` traces a backbone with torch.fx (:mod:`mtlkit.tracing`) and turns every
``nn.Conv2d`` into a **virtual computation node** (VCN, docs/automtl.md §1.3) with, per task, up to three branches:

* ``shared`` — the backbone's own conv (one module for all tasks);
* ``specific`` — a per-task ``deepcopy`` of that conv (same initial weights, as in the paper);
* ``skip`` — the identity where the conv preserves the shape; where it does not, see ``skip=`` below.

BatchNorm layers are task-specific by default (``share_bn=False``, the paper), shared (``True``) or searchable
between shared and specific (``"search"``). Every other op is shared. Each searchable node has one logit vector per
task (``(T, K)``, K = its number of choices), initialised to zero.

**Tree execution.** The forward interprets the fx graph node by node, carrying for every fx value a partition of the
active tasks into groups that hold the same tensor. An ordinary op runs once per group (of the common refinement of
its inputs' partitions); a VCN runs its shared op once per input group and splits the group only where tasks choose
different branches. So tasks that have taken the same path so far share one computation. With task-specific BN
(the default) the tasks' tensors differ after the first BN, so in ``"hard"`` mode nothing is shared after it; in
``"soft"``/``"mean"`` modes every task gets its own mixture after the first VCN.

Modes of :meth:`SuperModel.forward` (docs/automtl.md §1.4): ``"shared"`` (hard sharing: the plain backbone, shared BN),
``"specific"`` (independent per-task networks), ``"mean"`` (pre-train: mean of the node's branches; a task-specific
BN gives the mean of the shared and the task's BN, as the original), ``"soft"`` (Gumbel-softmax mixture at
temperature ``tau``, optional straight-through ``hard=True``; one Gumbel draw per (node, task) per call, shared by the
batch; a branch whose weight is exactly zero is not computed), ``"hard"`` (a discrete policy).
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mtlkit.automtl import policy as pol
from mtlkit.automtl.execution import IDENTITY, PROJECT, tree_forward
from mtlkit.automtl.execution import Plan as _Plan
from mtlkit.errors import ConfigError, unknown_name
from mtlkit.flops import conv2d_flops
from mtlkit.tracing import TracedBackbone, to_networkx, trace_backbone

__all__ = ["SuperModel", "VirtualNode", "MODES", "SKIP_MODES"]

MODES = ("shared", "specific", "mean", "soft", "hard")
SKIP_MODES = ("auto", "project", "never")


@dataclass(frozen=True)
class VirtualNode:
    """One conv (or BN) of the backbone seen as a node with per-task branches.

    Attributes:
        name: the module path in the backbone, e.g. ``"layer2.0.downsample.0"`` (the key used in policies).
        key: ``name`` with dots replaced by dashes (the key of its modules in ``specific``/``skip``/``logits``).
        kind: ``"conv"`` or ``"bn"``.
        choices: the choices offered per task, in logit order, e.g. ``("shared", "specific", "skip")``; empty for a
            BN that is always task-specific (``share_bn=False``).
        skip: ``"identity"``, ``"project"`` (1×1 conv + BN, per task) or ``None`` (no skip branch).
        depth: convs on the longest path from the input to this node, itself included if it is a conv (docs/automtl.md §1.2).
        in_shape: input shape of one sample of the example input, ``(C, H, W)``.
        out_shape: output shape of one sample, ``(C, H, W)``.
        params: parameters of one copy of each branch, e.g. ``{"shared": 36864, "specific": 36864, "skip": 0}``.
        flops: FLOPs (2×MACs) of each branch for one sample at the example input's resolution (BN counts 0, as in
            ``FlopCounterMode``).
    """

    name: str
    key: str
    kind: str
    choices: tuple[str, ...]
    skip: str | None
    depth: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    params: Mapping[str, int] = field(default_factory=dict)
    flops: Mapping[str, int] = field(default_factory=dict)

    @property
    def searchable(self) -> bool:
        """Whether the node has a policy (logits)."""
        return bool(self.choices)


def _check_heads(heads: Mapping[str, nn.Module], feature_shape: Sequence[int] | None) -> dict[str, nn.Module]:
    from mtlkit.heads import check_head_fits
    from mtlkit.models import check_heads_mapping

    for task, head in check_heads_mapping(heads).items():
        if feature_shape is not None:  # spatial (C, h, w) or vector (C,) features
            check_head_fits(task, head, feature_shape)
    return dict(heads)


def _skip_kind(conv: nn.Conv2d, in_shape: tuple, out_shape: tuple, skip: str) -> str | None:
    """Which skip a conv gets (see the README, "skip"): identity if legal, else per ``skip``."""
    if in_shape == out_shape and all(s == 1 for s in conv.stride):
        return IDENTITY
    if skip == "never":
        return None
    # the paper's projection: 1x1 conv with the conv's stride (+ BN); legal only if it lands on the same shape
    proj_hw = tuple((h - 1) // s + 1 for h, s in zip(in_shape[1:], conv.stride))
    if proj_hw != tuple(out_shape[1:]):
        return None
    if skip == "project":
        return PROJECT
    # "auto": keep the projection only where it is a genuinely cheaper path, i.e. at most half the op's parameters
    # (and FLOPs: same output size). That keeps it at k x k dense convs (ResNet's stem and stride-2 3x3 convs) and
    # drops it at 1x1 convs (where it costs as much as the op) and depthwise convs (where it costs more).
    op_params = conv.weight.numel()
    proj_params = conv.in_channels * conv.out_channels
    return PROJECT if 2 * proj_params <= op_params else None


def _projection(conv: nn.Conv2d) -> nn.Sequential:
    """The paper's skip at a shape-changing conv: 1x1 conv (same stride, no bias) + BN, freshly initialised."""
    w = conv.weight
    return nn.Sequential(
        nn.Conv2d(conv.in_channels, conv.out_channels, 1, stride=conv.stride, bias=False, device=w.device,
                  dtype=w.dtype),
        nn.BatchNorm2d(conv.out_channels, device=w.device, dtype=w.dtype),
    )


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class SuperModel(nn.Module):
    """A multi-task supermodel compiled from a backbone (build it with :meth:`from_backbone`).

    Attributes:
        tasks: task names, in the order of ``heads``.
        nodes: the searchable :class:`VirtualNode` s in graph order (the keys of a policy).
        virtual_nodes: all virtual nodes, including task-specific BNs that have no policy.
        max_depth: ``D``, the largest conv depth (regulariser weights are ``(D - depth) / D``).
        backbone: the traced backbone (its convs/BNs are the shared branches).
        specific: ``specific[task][node.key]`` = the task's copy of a conv or BN.
        skip: ``skip[task][node.key]`` = the task's 1×1 projection skip, where there is one.
        heads: ``heads[task]``.
        logits: ``logits[node.key]`` = policy logits ``(T, K)``.

    ``SuperModel(traced, heads, skip=..., share_bn=...)`` takes a :class:`~mtlkit.tracing.TracedBackbone`;
    the arguments are those of :meth:`from_backbone`.
    """

    def __init__(self, traced: TracedBackbone, heads: Mapping[str, nn.Module], *, skip: str = "auto",
                 share_bn: bool | str = False):
        super().__init__()
        if skip not in SKIP_MODES:
            raise unknown_name("skip mode", skip, SKIP_MODES)
        if share_bn not in (False, True, "search"):
            raise ConfigError(f"share_bn must be False (task-specific, the paper), True or 'search', got {share_bn!r}")
        heads = _check_heads(heads, traced.feature_shape)
        for head in heads.values():  # tasks on one path hand the same feature tensor to their heads
            for m in head.modules():
                if getattr(m, "inplace", None) is True:
                    m.inplace = False
        self.tasks: tuple[str, ...] = tuple(heads)
        self.skip_mode, self.share_bn = skip, share_bn
        self.feature_shape = traced.feature_shape
        self.backbone = traced.module
        self.heads = nn.ModuleDict(heads)
        self.specific = nn.ModuleDict({t: nn.ModuleDict() for t in self.tasks})
        self.skip = nn.ModuleDict({t: nn.ModuleDict() for t in self.tasks})
        self.logits = nn.ParameterDict()

        vnodes = []
        layers = [(n, "conv") for n in traced.convs] + ([(n, "bn") for n in traced.bns] if share_bn is not True else [])
        order = {name: i for i, name in enumerate(traced.depths)}  # graph order
        for name, kind in sorted(layers, key=lambda item: order[item[0]]):
            vnodes.append(self._build_node(traced, name, kind))
        keys = [v.key for v in vnodes]
        if len(set(keys)) != len(keys):
            raise ConfigError("two searchable modules map to the same key after replacing '.' by '-' in their paths")
        self.virtual_nodes: tuple[VirtualNode, ...] = tuple(vnodes)
        self.nodes: tuple[VirtualNode, ...] = tuple(v for v in vnodes if v.searchable)
        if not self.nodes:
            raise ConfigError("backbone: expected at least one nn.Conv2d (AutoMTL searches over the backbone's "
                              f"convolutions), got none among {len(list(self.backbone.modules()))} modules")
        self._vnode_by_target = {v.name: v for v in vnodes}
        self.max_depth: int = traced.max_depth
        self._fixed_policy: pol.Policy | None = None

    def _build_node(self, traced: TracedBackbone, name: str, kind: str) -> VirtualNode:
        op = self.backbone.get_submodule(name)
        key = name.replace(".", "-")
        in_shape, out_shape = traced.in_shapes[name], traced.out_shapes[name]
        for t in self.tasks:
            self.specific[t][key] = copy.deepcopy(op)  # same initial weights as the shared op (paper)
        params = {pol.SHARED: _numel(op), pol.SPECIFIC: _numel(op)}
        flops = {pol.SHARED: 0, pol.SPECIFIC: 0}
        skip = None
        if kind == "conv":
            flops = dict.fromkeys(flops, conv2d_flops(op, out_shape))
            skip = _skip_kind(op, in_shape, out_shape, self.skip_mode)
            if skip == PROJECT:
                for t in self.tasks:
                    self.skip[t][key] = _projection(op)
                params[pol.SKIP] = _numel(self.skip[self.tasks[0]][key])
                flops[pol.SKIP] = conv2d_flops(self.skip[self.tasks[0]][key][0], out_shape)
            elif skip == IDENTITY:
                params[pol.SKIP] = flops[pol.SKIP] = 0
            choices = (pol.SHARED, pol.SPECIFIC) + ((pol.SKIP,) if skip else ())
        else:
            choices = (pol.SHARED, pol.SPECIFIC) if self.share_bn == "search" else ()
        if choices:
            device = next(itertools.chain(op.parameters(), op.buffers()), torch.empty(0)).device
            self.logits[key] = nn.Parameter(torch.zeros(len(self.tasks), len(choices), device=device))
        return VirtualNode(name=name, key=key, kind=kind, choices=choices, skip=skip, depth=traced.depths[name],
                           in_shape=in_shape, out_shape=out_shape, params=params, flops=flops)

    @classmethod
    def from_backbone(cls, backbone: nn.Module, heads: Mapping[str, nn.Module], example_input: torch.Tensor, *,
                      leaf_modules: Iterable = (), skip: str = "auto", share_bn: bool | str = False) -> "SuperModel":
        """Compile a backbone and per-task heads into a supermodel.

        Args:
            backbone: a CNN ``(B, 3, H, W) -> (B, C, h, w)``, or one that ends in global pooling ``-> (B, C)``
                (a vector-feature backbone, e.g. :func:`mtlkit.backbones.classifier_trunk`); its modules become the
                shared branches (not copied).
            heads: task name → head ``(B, C, h, w) -> (B, K_t, h, w)`` (``(B, C) -> (B, K_t)``, e.g. an
                ``nn.Linear``, on a vector-feature backbone); the dict order is the task order.
            example_input: a batch on the backbone's device, used to trace shapes (BN statistics are not touched).
            leaf_modules: module classes or submodule paths that fx must not trace into (they become shared ops).
            skip: where a conv changes shape: ``"project"`` (the paper's 1×1 conv + BN), ``"never"`` (no skip
                there) or ``"auto"`` (the projection only where it costs at most half the conv; see the README).
            share_bn: ``False`` (task-specific BN, the paper), ``True`` (shared BN) or ``"search"``.

        Returns:
            A :class:`SuperModel` in the backbone's train/eval mode.

        Raises:
            ConfigError: bad heads (none, ``None``, wrong input channels, a Linear head on spatial features or a
                conv head on vector features), an untraceable backbone (naming the module), a bad
                ``skip``/``share_bn``.
        """
        if not isinstance(heads, Mapping) or not heads:
            _check_heads(heads, None)
        traced = trace_backbone(backbone, example_input, leaf_modules)
        model = cls(traced, heads, skip=skip, share_bn=share_bn)
        model.train(backbone.training)
        return model

    # ----------------------------------------------------------------------------------------------- parameters
    def policy_parameters(self) -> Iterator[nn.Parameter]:
        """The policy logits only (for the policy optimiser)."""
        yield from self.logits.values()

    def network_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter except the policy logits (backbone, task copies, skips, heads)."""
        logit_ids = {id(p) for p in self.logits.values()}
        yield from (p for p in self.parameters() if id(p) not in logit_ids)

    def node(self, name: str) -> VirtualNode:
        """The virtual node of a module path (raises ConfigError naming the valid nodes)."""
        if name not in self._vnode_by_target:
            raise unknown_name("node", name, self._vnode_by_target)
        return self._vnode_by_target[name]

    @property
    def node_choices(self) -> dict[str, tuple[str, ...]]:
        """``{node name: choices}`` of the searchable nodes, in graph order."""
        return {v.name: v.choices for v in self.nodes}

    # ----------------------------------------------------------------------------------------------- policies
    def logits_by_node(self) -> dict[str, nn.Parameter]:
        """``{node name: logits (T, K)}`` of the searchable nodes, rows in task order, columns in ``choices`` order."""
        return {v.name: self.logits[v.key] for v in self.nodes}

    def argmax_policy(self) -> pol.Policy:
        """The argmax of the logits per (node, task) (ties → "shared")."""
        return pol.argmax_policy(self.logits_by_node(), self.node_choices, self.tasks)

    def sample_policy(self, seed: int) -> pol.Policy:
        """The paper's discretisation: one draw per (node, task) from softmax(logits) at τ = 1 (docs/automtl.md §2.4)."""
        return pol.sample_policy(self.logits_by_node(), self.node_choices, self.tasks, seed)

    def uniform_policy(self, choice: str) -> pol.Policy:
        """Every task takes ``choice`` at every node (ConfigError if a node does not offer it)."""
        return pol.uniform_policy(self.node_choices, self.tasks, choice)

    def validate_policy(self, policy: Mapping, *, partial: bool = False) -> pol.Policy:
        """A normalised copy of ``policy`` checked against this model's nodes and tasks."""
        return pol.validate_policy(policy, self.node_choices, self.tasks, partial=partial)

    def set_policy(self, policy: Mapping | None, *, partial: bool = False) -> None:
        """Fix the discrete policy used by hard mode (``None`` clears it: hard mode uses the argmax again).

        Args:
            policy: ``{node: {task: choice}}``; saved in ``state_dict`` (extra state).
            partial: if True, entries not given keep their current choice (``self.policy()``).
        """
        if policy is None:
            self._fixed_policy = None
            return
        checked = self.validate_policy(policy, partial=partial)
        if partial:
            merged = self.policy()
            for node, row in checked.items():
                merged[node].update(row)
            checked = merged
        self._fixed_policy = checked

    def policy(self) -> pol.Policy:
        """The discrete policy hard mode uses: the one set with :meth:`set_policy`, else the argmax."""
        if self._fixed_policy is not None:
            return copy.deepcopy(self._fixed_policy)
        return self.argmax_policy()

    def get_extra_state(self) -> dict:
        """The policy fixed with :meth:`set_policy` travels in ``state_dict`` (key ``_extra_state``)."""
        return {"policy": copy.deepcopy(self._fixed_policy)}

    def set_extra_state(self, state: dict) -> None:
        """Restore the fixed policy from ``state_dict``."""
        self._fixed_policy = copy.deepcopy(state.get("policy")) if isinstance(state, dict) else None

    # ----------------------------------------------------------------------------------------------- forward
    def _active_tasks(self, tasks) -> tuple[str, ...]:
        if tasks is None:
            return self.tasks
        if isinstance(tasks, str):
            tasks = (tasks,)
        tasks = tuple(tasks)
        if not tasks:
            raise ConfigError(f"tasks is empty; give None (all tasks) or some of {list(self.tasks)}")
        for t in tasks:
            if t not in self.tasks:
                raise unknown_name("task", t, self.tasks)
        if len(set(tasks)) != len(tasks):
            raise ConfigError(f"tasks lists a task twice: {list(tasks)}")
        return tasks

    def _plan(self, mode: str, tasks: tuple[str, ...], tau: float, hard: bool, policy: Mapping | None) -> _Plan:
        if mode not in MODES:
            raise unknown_name("mode", mode, MODES)
        if policy is not None and mode != "hard":
            raise ConfigError(f"policy= is only used in mode='hard', got mode={mode!r}")
        plan = _Plan(mode)
        if mode == "hard":
            if policy is not None:
                chosen = self.validate_policy(policy)
            else:  # the set policy (already validated) or the argmax
                chosen = self._fixed_policy if self._fixed_policy is not None else self.argmax_policy()
            plan.choice = {self._vnode_by_target[n].key: row for n, row in chosen.items()}
        elif mode == "soft":
            if not (isinstance(tau, (int, float)) and tau > 0) or isinstance(tau, bool):
                raise ConfigError(f"tau must be a positive number, got {tau!r}")
            rows = [self.tasks.index(t) for t in tasks]
            plan.row = {t: i for i, t in enumerate(tasks)}
            by_k: dict[int, list[VirtualNode]] = {}
            for v in self.nodes:
                by_k.setdefault(len(v.choices), []).append(v)
            needed_all = {}
            for k, vs in by_k.items():
                logits = torch.stack([self.logits[v.key][rows] for v in vs])  # (N, T_active, K)
                soft = F.gumbel_softmax(logits, tau=tau, hard=False, dim=-1)  # one draw per (node, task)
                if hard:  # straight-through: forward one-hot, gradient of the soft weights
                    one_hot = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
                    weights = one_hot - soft.detach() + soft
                    # a branch with zero forward weight still carries gradient unless its soft weight is 0
                    needed = (one_hot != 0) | (soft != 0) if torch.is_grad_enabled() else one_hot != 0
                else:
                    weights, needed = soft, soft != 0
                needed_list = needed.tolist()  # one device sync for all nodes
                for i, v in enumerate(vs):
                    plan.weights[v.key] = weights[i]
                    needed_all[v.key] = needed_list[i]
            plan.needed = needed_all
        return plan

    def forward(self, x: torch.Tensor, tasks: str | Sequence[str] | None = None, mode: str = "hard", *,
                tau: float = 1.0, hard: bool = False, policy: Mapping | None = None) -> dict[str, torch.Tensor]:
        """Run the supermodel for some or all tasks, sharing computation between tasks on the same path.

        Args:
            x: input batch ``(B, 3, H, W)``.
            tasks: ``None`` for all tasks, a task name, or a list of task names.
            mode: ``"shared"``, ``"specific"``, ``"mean"``, ``"soft"`` or ``"hard"`` (see the module docstring).
            tau: Gumbel-softmax temperature (``"soft"`` mode).
            hard: straight-through Gumbel (``"soft"`` mode): one-hot forward, soft gradient.
            policy: a discrete policy to use instead of the set/argmax one (``"hard"`` mode).

        Returns:
            ``{task: head output (B, K_t, h, w)}`` in the order of ``tasks``.
        """
        active = self._active_tasks(tasks)
        return tree_forward(self, x, active, self._plan(mode, active, tau, hard, policy))

    # ----------------------------------------------------------------------------------------------- derived views
    def derive(self, policy: Mapping | None = None) -> nn.Module:
        """A compact multi-task model holding only the branches of ``policy`` (default: :meth:`policy`).

        See :func:`mtlkit.automtl.derive.derive`.
        """
        from mtlkit.automtl.derive import derive

        return derive(self, policy)

    def count_params(self, policy: Mapping | None = None, convention: str = "paper") -> int:
        """Parameters of ``policy`` (default :meth:`policy`) counted the paper's way or fully.

        See :func:`mtlkit.automtl.accounting.count_params`.
        """
        from mtlkit.automtl.accounting import count_params

        return count_params(self, policy, convention)

    def to_networkx(self):
        """The backbone graph as a ``networkx.DiGraph``; virtual nodes carry ``kind``, ``choices``, ``skip``,
        ``depth``, ``params`` and ``flops`` (see :class:`VirtualNode`)."""
        graph = getattr(self.backbone, "eval_graph", self.backbone.graph)  # the graph that carries the shapes
        attrs = {v.name: dict(vnode=True, kind=v.kind, choices=v.choices, skip=v.skip, depth=v.depth,
                              params=dict(v.params), flops=dict(v.flops)) for v in self.virtual_nodes}
        return to_networkx(graph, attrs)

    def extra_repr(self) -> str:
        n_skip = sum(1 for v in self.nodes if v.skip)
        return (f"tasks={list(self.tasks)}, searchable_nodes={len(self.nodes)} (with skip: {n_skip}), "
                f"D={self.max_depth}, skip={self.skip_mode!r}, share_bn={self.share_bn!r}")
