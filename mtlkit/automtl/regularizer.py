"""The policy-train objective's extra terms: AutoMTL's depth regulariser, the τ schedule, a resource-aware penalty.

**Paper regulariser** (docs/automtl.md §2.5, "Reg design3" of the original). For task t, over the searchable nodes i:

.. math::

    L_{reg}(t) = \\sum_i \\frac{D - d_i}{D}\\,\\big[\\mathrm{softplus}(s\\,(p_{i,sp} - p_{i,sh}))
                 + \\mathrm{softplus}(s\\,(p_{i,sk} - p_{i,sh}))\\big]

with :math:`p_i` = ``gumbel_softmax(α_{i,t}, τ)`` drawn afresh (independent of the forward pass's noise), ``d_i`` the
node's conv depth (convs on the longest input→node path, the node included), ``D = max_depth`` (33 on ResNet-34, so
Σw = 17.4242) and the original's effective scale ``s = 6`` (its policy steps use the default 6; docs/automtl.md §2.5).
Nodes without a skip choice (``skip="auto"``/``"never"`` at shape-changing convs, searchable BNs) have only the
first term. Searchable BNs (``share_bn="search"``) enter with the depth of the conv before them (BN adds no depth).

**Temperature** (docs/automtl.md §2.2): ``τ = τ₀ · γ^⌊k / period⌋`` after ``k`` policy iterations, ``τ₀ = 5``, ``γ = 0.965``,
``period = 101`` (the original's counter decays τ when it exceeds 100 policy iterations), never below ``τ_min``.

**Resource-aware penalty** (beyond the paper, docs/automtl.md §6.2 #7, §8). :class:`ResourceCosts` knows, per node, the cost
of each choice in parameters or FLOPs and gives the **exact expected cost** of the policy that the paper's
discretisation (one categorical draw per (node, task) from ``q = softmax(α)``) would produce, in units of one
backbone:

* parameters — a node's shared op exists if at least one task shares it, each specialising task adds a copy, each
  skipping task adds its projection (0 for an identity):
  ``E_i = c_i·(1 − Π_t (1 − q_{t,sh})) + Σ_t (q_{t,sp}·c_i + q_{t,sk}·k_i)``; unit = Σ_i c_i, so the all-shared
  policy costs 1 and T independent networks cost T. Fixed parts (task-specific BNs, heads, ops that are never
  searched) do not depend on the policy and are left out.
* FLOPs — T separate forwards, one per task (tree execution can only lower it):
  ``E_i = Σ_t ((q_{t,sh} + q_{t,sp})·f_i + q_{t,sk}·f^{skip}_i)``; unit = Σ_i f_i (one forward), so all-shared
  costs T.

The penalty is ``cost_weight · E + budget_weight · max(0, E − budget)``. Each choice's gradient is its expected
added cost, so a 3×3 512→512 conv weighs 9·64 times a 1×1 64→128 conv at the same depth, and a zero-cost identity
skip is not penalised at all (the paper penalises skip exactly like specific).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from mtlkit.automtl import policy as pol
from mtlkit.errors import ConfigError, unknown_name

__all__ = [
    "PAPER_SCALE", "RESOURCES", "depth_weights", "tau_at", "policy_tensor", "policy_probs", "paper_regularizer",
    "paper_regularizer_from_probs", "ResourceCosts",
]

PAPER_SCALE = 6.0  # the original's effective s (docs/automtl.md §2.5, "scale quirk")
RESOURCES = ("params", "flops")
_IDX = {pol.SHARED: 0, pol.SPECIFIC: 1, pol.SKIP: 2}


def _supermodel(sm):
    from mtlkit.automtl.supermodel import SuperModel

    if not isinstance(sm, SuperModel):
        raise ConfigError(f"expected a SuperModel, got {type(sm).__name__}")
    if not sm.nodes:
        raise ConfigError("the supermodel has no searchable nodes (no conv to share, specialise or skip)")
    return sm


def depth_weights(supermodel) -> dict[str, float]:
    """The paper's regulariser weights ``w_i = (D − depth_i) / D`` per searchable node (docs/automtl.md §2.5, §7.10).

    Args:
        supermodel: a :class:`~mtlkit.automtl.SuperModel`.

    Returns:
        ``{node name: w}`` in graph order: conv nodes from their own depth, searchable BNs from the depth of the
        conv before them (BN adds no depth). ResNet-34: first conv 32/33, deepest conv 0, Σ over convs 17.4242.
    """
    sm = _supermodel(supermodel)
    D = sm.max_depth
    if D < 1:
        raise ConfigError(f"max_depth must be >= 1 to weigh the regulariser, got {D}")
    return {v.name: (D - v.depth) / D for v in sm.nodes}


def tau_at(policy_iterations: int, tau0: float = 5.0, decay: float = 0.965, period: float = 101.0,
           tau_min: float = 1e-6) -> float:
    """The Gumbel-softmax temperature after ``policy_iterations`` policy iterations (docs/automtl.md §2.2, §7.11).

    Args:
        policy_iterations: completed policy iterations ``k`` (network iterations do not count).
        tau0: initial temperature (5).
        decay: factor per decay (0.965).
        period: policy iterations between decays (101 in the original; a float for rescaled schedules).
        tau_min: lower bound (the original stops decaying at 1e-6).

    Returns:
        ``max(tau_min, tau0 · decay^⌊k / period⌋)``; 20 k iterations at (100, 400) → k = 4000, 39 decays, 1.2460;
        at (50, 50) → k = 10 000, 99 decays, 0.1470.
    """
    if not isinstance(policy_iterations, int) or policy_iterations < 0:
        raise ConfigError(f"policy_iterations must be a non-negative int, got {policy_iterations!r}")
    decays = math.floor(policy_iterations / period + 1e-9)  # tolerance: rescaled periods are not exact floats
    return max(float(tau_min), float(tau0) * float(decay) ** decays)


# ------------------------------------------------------------------------------------------------ policy tensors
def policy_tensor(supermodel, tasks: Sequence[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All logits stacked into one ``(N, T, 3)`` tensor, nodes in graph order, columns (shared, specific, skip).

    Nodes without a skip choice get ``-inf`` in the skip column (probability exactly 0 after a softmax).

    Args:
        supermodel: the supermodel.
        tasks: rows to take (default all tasks, in order).

    Returns:
        ``(logits (N, T, 3), has_skip (N,) bool)``; ``logits`` is differentiable w.r.t. ``supermodel.logits``.
    """
    sm = _supermodel(supermodel)
    rows = None if tasks is None else [sm.tasks.index(t) for t in tasks]
    out = []
    for v in sm.nodes:
        logit = sm.logits[v.key] if rows is None else sm.logits[v.key][rows]  # (T, K)
        if len(v.choices) == 2:
            logit = torch.cat([logit, torch.full_like(logit[:, :1], float("-inf"))], dim=1)  # (T, 3)
        out.append(logit)
    has_skip = torch.tensor([len(v.choices) == 3 for v in sm.nodes], device=out[0].device)
    return torch.stack(out), has_skip  # (N, T, 3), (N,)


def policy_probs(supermodel, tau: float = 1.0, *, noise: bool = False,
                 tasks: Sequence[str] | None = None) -> torch.Tensor:
    """Per-(node, task) probabilities ``(N, T, 3)``: ``softmax(α/τ)``, or ``gumbel_softmax(α, τ)`` with ``noise``."""
    if not (isinstance(tau, (int, float)) and not isinstance(tau, bool) and tau > 0 and math.isfinite(tau)):
        raise ConfigError(f"tau must be a positive finite number, got {tau!r}")
    logits, _ = policy_tensor(supermodel, tasks)
    if noise:
        return F.gumbel_softmax(logits, tau=tau, hard=False, dim=-1)  # fresh noise per (node, task)
    return torch.softmax(logits / tau, dim=-1)


def paper_regularizer_from_probs(probs: torch.Tensor, weights: torch.Tensor, has_skip: torch.Tensor,
                                 scale: float = PAPER_SCALE) -> torch.Tensor:
    """``L_reg(t)`` for given probabilities.

    Args:
        probs: ``(N, T, 3)`` probabilities (shared, specific, skip).
        weights: ``(N,)`` depth weights ``(D − d_i)/D``.
        has_skip: ``(N,)`` bool; nodes without skip drop the skip term.
        scale: ``s`` (6 in the original's policy steps).

    Returns:
        ``(T,)``: the regulariser of every task.
    """
    if probs.dim() != 3 or probs.shape[-1] != 3:
        raise ConfigError(f"probs must have shape (nodes, tasks, 3), got {tuple(probs.shape)}")
    sh, sp, sk = probs.unbind(-1)  # each (N, T)
    term = F.softplus(scale * (sp - sh)) + has_skip[:, None].to(probs.dtype) * F.softplus(scale * (sk - sh))
    return (weights.to(probs)[:, None] * term).sum(0)  # (T,)


def paper_regularizer(supermodel, tau: float, *, scale: float = PAPER_SCALE, noise: bool = True,
                      tasks: Sequence[str] | None = None) -> torch.Tensor:
    """AutoMTL's regulariser ``L_reg(t)`` for every task (docs/automtl.md §2.5), differentiable w.r.t. the logits only.

    Args:
        supermodel: the supermodel.
        tau: the current temperature.
        scale: ``s``; the original's effective value is 6 (``PAPER_SCALE``).
        noise: draw fresh Gumbel noise as the original (``False``: ``softmax(α/τ)``, its expectation-free form).
        tasks: tasks to compute (default all).

    Returns:
        ``(T,)`` tensor in task order (ResNet-34: ≈ 24.155 per task at zero logits and large τ, 0.0863 when every
        node is shared with certainty).
    """
    if not (isinstance(scale, (int, float)) and scale > 0 and math.isfinite(scale)):
        raise ConfigError(f"scale must be a positive finite number, got {scale!r}")
    sm = _supermodel(supermodel)
    _, has_skip = policy_tensor(sm, tasks)
    weights = torch.tensor(list(depth_weights(sm).values()))
    return paper_regularizer_from_probs(policy_probs(sm, tau, noise=noise, tasks=tasks), weights, has_skip, scale)


# -------------------------------------------------------------------------------------------- resource awareness
@dataclass(frozen=True)
class ResourceCosts:
    """Per-node choice costs of a supermodel and the expected cost of its policy (see the module docstring).

    Attributes:
        resource: ``"params"`` or ``"flops"``.
        tasks: task names (T = ``len(tasks)``).
        nodes: node names in graph order.
        shared: ``(N,)`` cost of the node's op (c_i or f_i).
        specific: ``(N,)`` cost of one task copy.
        skip: ``(N,)`` cost of one task's skip (0 for identity; 0 and never chosen where there is no skip).
        has_skip: ``(N,)`` bool.
        unit: one backbone: Σ of ``shared`` (parameters of the searchable nodes, or FLOPs of one forward).
    """

    resource: str
    tasks: tuple[str, ...]
    nodes: tuple[str, ...]
    shared: torch.Tensor
    specific: torch.Tensor
    skip: torch.Tensor
    has_skip: torch.Tensor
    unit: float

    @classmethod
    def from_supermodel(cls, supermodel, resource: str = "params") -> "ResourceCosts":
        """Read the costs from ``supermodel.nodes`` (``node.params`` / ``node.flops``, one sample for FLOPs).

        Args:
            supermodel: the supermodel.
            resource: ``"params"`` or ``"flops"``.
        """
        if resource not in RESOURCES:
            raise unknown_name("resource", resource, RESOURCES)
        sm = _supermodel(supermodel)
        table = [v.params if resource == "params" else v.flops for v in sm.nodes]
        f64 = torch.float64
        shared = torch.tensor([float(c[pol.SHARED]) for c in table], dtype=f64)
        unit = float(shared.sum())
        if unit <= 0:
            raise ConfigError(f"the searchable nodes cost 0 {resource}; a {resource} budget is meaningless here")
        return cls(resource=resource, tasks=tuple(sm.tasks), nodes=tuple(v.name for v in sm.nodes), shared=shared,
                   specific=torch.tensor([float(c[pol.SPECIFIC]) for c in table], dtype=f64),
                   skip=torch.tensor([float(c.get(pol.SKIP, 0)) for c in table], dtype=f64),
                   has_skip=torch.tensor([pol.SKIP in v.choices for v in sm.nodes]), unit=unit)

    @property
    def all_shared(self) -> float:
        """Cost of the all-shared policy in backbones (1 for parameters, T for FLOPs)."""
        return 1.0 if self.resource == "params" else float(len(self.tasks))

    @property
    def minimum(self) -> float:
        """The smallest cost any policy reaches, in backbones (only skips can go below all-shared)."""
        T = len(self.tasks)
        skip = torch.where(self.has_skip, self.skip, torch.full_like(self.skip, math.inf))
        if self.resource == "params":  # per node: shared by all, or skipped by all (a mix costs more)
            per_node = torch.minimum(self.shared, T * skip)
        else:  # per node and task: the op or the skip
            per_node = T * torch.minimum(self.shared, skip)
        return float(per_node.sum()) / self.unit

    @property
    def maximum(self) -> float:
        """The largest cost any policy reaches, in backbones."""
        T = len(self.tasks)
        skip = torch.where(self.has_skip, self.skip, torch.zeros_like(self.skip))
        if self.resource == "params":  # a shared op plus T−1 copies, or T copies, or T skip projections
            best = torch.maximum(torch.maximum(self.shared + (T - 1) * torch.maximum(self.specific, skip),
                                               T * self.specific), T * skip)
        else:
            best = T * torch.maximum(self.shared, skip)
        return float(best.sum()) / self.unit

    def expected(self, probs: torch.Tensor) -> torch.Tensor:
        """The expected cost (backbones) of the policy drawn from ``probs``, differentiable.

        Args:
            probs: ``(N, T, 3)`` per-(node, task) probabilities of (shared, specific, skip), e.g.
                ``policy_probs(sm)`` = softmax(α), the distribution of the paper's discretisation.

        Returns:
            A scalar tensor; one-hot ``probs`` give the exact cost of that discrete policy.
        """
        if probs.dim() != 3 or probs.shape[0] != len(self.nodes) or probs.shape[-1] != 3:
            raise ConfigError(f"probs must have shape ({len(self.nodes)}, T, 3), got {tuple(probs.shape)}")
        p = probs.to(torch.float64)
        sh, sp, sk = p.unbind(-1)  # (N, T)
        dev = p.device
        c_sh, c_sp, c_sk = self.shared.to(dev), self.specific.to(dev), self.skip.to(dev)
        if self.resource == "params":
            any_shared = 1 - torch.prod(1 - sh, dim=1)  # (N,) P(at least one task shares)
            total = c_sh * any_shared + c_sp * sp.sum(1) + c_sk * sk.sum(1)
        else:
            total = c_sh * (sh + sp).sum(1) + c_sk * sk.sum(1)
        return (total.sum() / self.unit).to(probs.dtype)

    def of_policy(self, policy: Mapping[str, Mapping[str, str]]) -> float:
        """The exact cost (backbones) of a discrete policy ``{node: {task: choice}}``."""
        onehot = torch.zeros(len(self.nodes), len(self.tasks), 3, dtype=torch.float64)
        for n, node in enumerate(self.nodes):
            if node not in policy:
                raise ConfigError(f"policy has no entry for node {node!r}")
            for t, task in enumerate(self.tasks):
                choice = pol.ALIASES.get(policy[node][task], policy[node][task])
                onehot[n, t, _IDX[choice]] = 1.0
        return float(self.expected(onehot))

    def check_budget(self, budget: float) -> float:
        """Validate a budget in backbones: a :class:`ConfigError` naming the minimum if no policy reaches it."""
        if not (isinstance(budget, (int, float)) and not isinstance(budget, bool) and math.isfinite(budget)
                and budget > 0):
            raise ConfigError(f"budget must be a positive number of backbones, got {budget!r}")
        low = self.minimum
        if budget < low - 1e-12:
            raise ConfigError(
                f"budget={budget} backbones of {self.resource} is below what any policy can reach: the minimum is "
                f"{low:.4f} (every skippable node skipped by every task; the all-shared policy costs "
                f"{self.all_shared:g}); raise the budget to at least {low:.4f}")
        return float(budget)

    def penalty(self, probs: torch.Tensor, budget: float | None, budget_weight: float = 1.0,
                cost_weight: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """``cost_weight · E + budget_weight · max(0, E − budget)`` and ``E`` (both scalars, backbones)."""
        expected = self.expected(probs)
        loss = cost_weight * expected
        if budget is not None:
            loss = loss + budget_weight * torch.relu(expected - budget)
        return loss, expected
