"""Settings of the AutoMTL search: :class:`SearchConfig`, the paper's three presets and their rescaling.

Defaults are the paper's CityScapes settings (docs/automtl.md §3.5): pre-train 10 k iterations with Adam 1e-4; policy-train
20 k iterations alternating 100 policy (Adam 0.01, wd 5e-4, lr → 0.001 at 10 k, on ``train2``) and 400 network
iterations (SGD 1e-4, momentum 0.9, wd 1e-4, on ``train1``); τ₀ = 5 × 0.965 every 101 policy iterations;
λ_reg = 0.0005 with s = 6; one τ = 1 categorical sample with seed 10; post-train 30 k iterations, Adam 1e-3,
× 0.5 every 4 k, from scratch. :meth:`SearchConfig.preset` gives ``"cityscapes"``, ``"nyuv2"`` and ``"taskonomy"``;
:meth:`SearchConfig.scaled` shrinks a preset to few iterations keeping the shape of every schedule (the alternation
period, the τ decay period — so τ ends where the paper's ends — the policy lr drop, the post-train lr steps and
the policy-snapshot interval).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping

from mtlkit.automtl.regularizer import RESOURCES, tau_at
from mtlkit.errors import ConfigError, unknown_name

__all__ = ["SearchConfig", "PRESETS", "REGULARIZERS", "STEP_MODES", "DISCRETIZE", "POST_INIT"]

REGULARIZERS = ("paper", "resource", "both", "none")
STEP_MODES = ("summed", "per_task")
DISCRETIZE = ("sample", "argmax", "best_of")
POST_INIT = ("scratch", "finetune")

_NYU_TRAIN = {"segment_semantic": 3.0, "normal": 20.0, "depth_zbuffer": 3.0}
_NYU_POST = {"segment_semantic": 5.0, "normal": 20.0, "depth_zbuffer": 5.0}
_TASKONOMY = {"segment_semantic": 1.0, "normal": 3.0, "depth_zbuffer": 2.0, "keypoints2d": 7.0, "edge_texture": 7.0}

#: The paper's settings per dataset (docs/automtl.md §3.5): overrides of the CityScapes defaults.
PRESETS: dict[str, dict] = {
    "cityscapes": {},
    "nyuv2": dict(pre_train_lr=1e-3, policy_steps=50, network_steps=50, network_lr=1e-3, reg_weight=0.001,
                  loss_weights=_NYU_TRAIN, post_loss_weights=_NYU_POST),
    "taskonomy": dict(pre_train_lr=1e-3, reg_weight=0.0005, loss_weights=_TASKONOMY, post_loss_weights=_TASKONOMY,
                      sample_seed=40),
}


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


@dataclass(frozen=True)
class SearchConfig:
    """Every setting of the three AutoMTL stages (defaults: the paper's CityScapes run, docs/automtl.md §3).

    Attributes:
        pre_train_iterations: stage 1 length (10 k; 0 skips it — the paper's CityScapes model had none).
        pre_train_lr: stage 1 Adam lr (betas (0.5, 0.999), wd 1e-4), 1e-4 CityScapes, 1e-3 NYUv2/Taskonomy.
        policy_train_iterations: stage 2 length in iterations (policy + network), 20 k.
        policy_steps: ``P``, policy iterations per cycle (100; 50 NYUv2).
        network_steps: ``N``, network iterations per cycle (400; 50 NYUv2). Iteration ``i`` is a policy iteration
            iff ``i mod (P + N) < P``.
        policy_lr, policy_weight_decay: Adam on the logits (0.01, 5e-4).
        policy_lr_drop_at: iteration index from which the policy lr is ``policy_lr_after_drop`` (10 k; None: never).
        policy_lr_after_drop: 0.001.
        network_lr, network_momentum, network_weight_decay: SGD on every other parameter (1e-4, 0.9, 1e-4).
        tau0, tau_decay, tau_period, tau_min: ``τ = max(τ_min, τ₀ · γ^⌊k / period⌋)`` after ``k`` policy
            iterations (5, 0.965, 101, 1e-6).
        loss_weights: λ_t of pre- and policy-train (None: 1 for every task).
        regularizer: ``"paper"`` (depth-weighted softplus), ``"resource"`` (expected cost with a budget), ``"both"``
            or ``"none"``.
        reg_weight: λ_reg of the paper regulariser (0.0005 CityScapes/Taskonomy, 0.001 NYUv2).
        reg_scale: ``s`` (the original's effective 6).
        reg_noise: fresh Gumbel noise inside L_reg, as the original (False: softmax(α/τ)).
        resource: what the resource-aware term counts: ``"params"`` or ``"flops"``.
        budget: target cost in backbones (e.g. 1.5 = one and a half backbones of parameters); None: no hinge.
        budget_weight: μ of ``μ · max(0, E[cost] − budget)``.
        cost_weight: weight of ``E[cost]`` itself (an always-on pressure towards cheap policies).
        hard_fraction: the last fraction of policy-train uses straight-through hard Gumbel (one-hot forward, soft
            gradient), so the weights are trained on discrete architectures; 0 = the paper.
        step_mode: ``"summed"`` (one step on Σ_t of the task objectives per iteration, one tree-executed forward
            for joint batches; default) or ``"per_task"`` (the original: zero_grad/forward/backward/step per task).
        snapshot_every: write the policy distribution to ``policy_log.csv`` every N iterations.
        discretize: ``"sample"`` (the paper: one τ = 1 draw), ``"argmax"`` or ``"best_of"`` (N draws, the one with
            the lowest weighted loss on ``train2``, within the budget if there is one).
        sample_seed: numpy seed of the (first) draw (10 CityScapes/NYUv2, 40 Taskonomy).
        n_samples: N of best-of-N (draws with seeds ``sample_seed .. sample_seed + N − 1``).
        select_batches: ``train2`` batches (per task) scoring each best-of-N candidate.
        post_train_iterations: stage 3 length (30 k; 0 keeps the derived model as it is).
        post_lr, post_lr_step, post_lr_gamma: Adam 1e-3 (betas (0.5, 0.999), wd 1e-4) × 0.5 every 4 k.
        post_init: ``"scratch"`` (the paper scripts: fresh random init) or ``"finetune"`` (from the searched weights).
        post_loss_weights: λ_t of post-train (None: ``loss_weights``).
        eval_every: evaluate on ``data["test"]`` every N iterations of policy- and post-train (0: post-train end).
        checkpoint_every, log_every, device, seed: as :class:`mtlkit.train.TrainConfig`.
    """

    pre_train_iterations: int = 10_000
    pre_train_lr: float = 1e-4
    policy_train_iterations: int = 20_000
    policy_steps: int = 100
    network_steps: int = 400
    policy_lr: float = 0.01
    policy_weight_decay: float = 5e-4
    policy_lr_drop_at: int | None = 10_000
    policy_lr_after_drop: float = 0.001
    network_lr: float = 1e-4
    network_momentum: float = 0.9
    network_weight_decay: float = 1e-4
    tau0: float = 5.0
    tau_decay: float = 0.965
    tau_period: float = 101.0
    tau_min: float = 1e-6
    loss_weights: Mapping[str, float] | None = None
    regularizer: str = "paper"
    reg_weight: float = 0.0005
    reg_scale: float = 6.0
    reg_noise: bool = True
    resource: str = "params"
    budget: float | None = None
    budget_weight: float = 1.0
    cost_weight: float = 0.0
    hard_fraction: float = 0.0
    step_mode: str = "summed"
    snapshot_every: int = 100
    discretize: str = "sample"
    sample_seed: int = 10
    n_samples: int = 8
    select_batches: int = 4
    post_train_iterations: int = 30_000
    post_lr: float = 1e-3
    post_lr_step: int | None = 4000
    post_lr_gamma: float = 0.5
    post_init: str = "scratch"
    post_loss_weights: Mapping[str, float] | None = None
    eval_every: int = 0
    checkpoint_every: int = 500
    log_every: int = 10
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self):
        def bad(arg, expected):
            raise ConfigError(f"SearchConfig.{arg} must be {expected}, got {getattr(self, arg)!r}")

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        for arg in ("pre_train_iterations", "post_train_iterations", "network_steps", "eval_every", "seed",
                    "checkpoint_every", "log_every", "sample_seed"):
            if not is_int(getattr(self, arg)) or getattr(self, arg) < 0:
                bad(arg, "a non-negative int")
        for arg in ("policy_train_iterations", "policy_steps", "snapshot_every", "n_samples", "select_batches"):
            if not is_int(getattr(self, arg)) or getattr(self, arg) < 1:
                bad(arg, "a positive int")
        for arg in ("pre_train_lr", "policy_lr", "policy_lr_after_drop", "network_lr", "post_lr", "reg_scale"):
            if not is_num(getattr(self, arg)) or getattr(self, arg) <= 0:
                bad(arg, "a positive finite number")
        for arg in ("policy_weight_decay", "network_momentum", "network_weight_decay", "reg_weight",
                    "budget_weight", "cost_weight"):
            if not is_num(getattr(self, arg)) or getattr(self, arg) < 0:
                bad(arg, "a finite number >= 0")
        if not is_num(self.tau0) or self.tau0 <= 0:
            bad("tau0", "a positive finite temperature")
        if not is_num(self.tau_decay) or not 0 < self.tau_decay <= 1:
            bad("tau_decay", "a factor in (0, 1]")
        if not is_num(self.tau_period) or self.tau_period <= 0:
            bad("tau_period", "a positive number of policy iterations")
        if not is_num(self.tau_min) or not 0 < self.tau_min <= self.tau0:
            raise ConfigError(f"SearchConfig.tau_min must be in (0, tau0={self.tau0!r}], got {self.tau_min!r}")
        if not is_num(self.hard_fraction) or not 0 <= self.hard_fraction <= 1:
            bad("hard_fraction", "a fraction in [0, 1]")
        if not is_num(self.post_lr_gamma) or not 0 < self.post_lr_gamma <= 1:
            bad("post_lr_gamma", "a factor in (0, 1]")
        for arg in ("policy_lr_drop_at", "post_lr_step"):
            value = getattr(self, arg)
            if value is not None and (not is_int(value) or value < 1):
                bad(arg, "None or a positive int")
        if self.budget is not None and (not is_num(self.budget) or self.budget <= 0):
            bad("budget", "None or a positive number of backbones")
        if not isinstance(self.reg_noise, bool):
            bad("reg_noise", "True or False")
        for arg, valid in (("regularizer", REGULARIZERS), ("resource", RESOURCES), ("step_mode", STEP_MODES),
                           ("discretize", DISCRETIZE), ("post_init", POST_INIT)):
            if getattr(self, arg) not in valid:
                raise unknown_name(f"SearchConfig.{arg}", getattr(self, arg), valid)
        if self.regularizer in ("resource", "both") and self.budget is None and self.cost_weight == 0:
            raise ConfigError(f"SearchConfig.regularizer={self.regularizer!r} needs a budget (backbones) or a "
                              f"cost_weight > 0; got budget=None, cost_weight=0")
        for arg in ("loss_weights", "post_loss_weights"):
            weights = getattr(self, arg)
            if weights is None:
                continue
            if not isinstance(weights, Mapping):
                bad(arg, "None or a dict task -> weight")
            for task, w in weights.items():
                if not is_num(w) or w < 0:
                    raise ConfigError(f"SearchConfig.{arg}[{task!r}] must be a finite number >= 0, got {w!r}")
            object.__setattr__(self, arg, {str(k): float(v) for k, v in weights.items()})
        from mtlkit.train import check_device_string

        check_device_string(self.device)
        object.__setattr__(self, "tau_period", float(self.tau_period))

    # ------------------------------------------------------------------------------------------------ presets
    @classmethod
    def preset(cls, name: str, **overrides) -> "SearchConfig":
        """The paper's settings for ``"cityscapes"``, ``"nyuv2"`` or ``"taskonomy"`` (docs/automtl.md §3.5), with overrides.

        NYUv2: (50, 50) alternation, network lr 1e-3, pre-train lr 1e-3, λ_reg 0.001, task weights 3/20/3 (seg,
        normal, depth; post-train 5/20/5). Taskonomy: pre-train lr 1e-3, weights 1/3/2/7/7, sample seed 40.
        """
        if name not in PRESETS:
            raise unknown_name("preset", name, PRESETS)
        return cls(**{**PRESETS[name], **overrides})

    def replace(self, **changes) -> "SearchConfig":
        """``dataclasses.replace`` (validated again)."""
        return dataclasses.replace(self, **changes)

    def scaled(self, policy_train_iterations: int | None = None, *, pre_train_iterations: int | None = None,
               post_train_iterations: int | None = None) -> "SearchConfig":
        """The same schedules, stretched to other stage lengths.

        Policy-train: ``P`` and ``N`` are multiplied by ``f = new / old`` (rounded, at least 1), the policy lr drop
        and the snapshot interval likewise; the τ period is multiplied by ``k_new / k_old`` (policy iterations of
        the two runs), so the number of τ decays — hence the final τ — is the paper's. Post-train: the lr step
        scales with the post-train length.

        Args:
            policy_train_iterations: new stage-2 length (None: unchanged).
            pre_train_iterations: new stage-1 length (None: unchanged).
            post_train_iterations: new stage-3 length (None: unchanged).

        Returns:
            A new :class:`SearchConfig`.
        """
        changes: dict = {}
        for arg, value in (("policy_train_iterations", policy_train_iterations),
                           ("pre_train_iterations", pre_train_iterations),
                           ("post_train_iterations", post_train_iterations)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0
                                      or (arg == "policy_train_iterations" and value < 1)):
                kind = "positive" if arg.startswith("policy") else "non-negative"
                raise ConfigError(f"scaled(): {arg} must be a {kind} int, got {value!r}")
        if policy_train_iterations is not None:
            f = policy_train_iterations / self.policy_train_iterations
            P = max(1, _round(self.policy_steps * f))
            N = max(1, _round(self.network_steps * f)) if self.network_steps else 0
            probe = dataclasses.replace(self, policy_train_iterations=policy_train_iterations, policy_steps=P,
                                        network_steps=N)
            changes.update(policy_train_iterations=policy_train_iterations, policy_steps=P, network_steps=N,
                           tau_period=self.tau_period * probe.n_policy_steps / self.n_policy_steps,
                           snapshot_every=max(1, _round(self.snapshot_every * f)))
            if self.policy_lr_drop_at is not None:
                changes["policy_lr_drop_at"] = max(1, _round(self.policy_lr_drop_at * f))
        if pre_train_iterations is not None:
            changes["pre_train_iterations"] = pre_train_iterations
        if post_train_iterations is not None:
            changes["post_train_iterations"] = post_train_iterations
            if self.post_lr_step is not None and self.post_train_iterations > 0:
                g = post_train_iterations / self.post_train_iterations
                changes["post_lr_step"] = max(1, _round(self.post_lr_step * g))
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------------------------------------ schedules
    def is_policy_step(self, iteration: int) -> bool:
        """Whether policy-train iteration ``iteration`` (0-based) updates the logits (else the weights)."""
        return iteration % (self.policy_steps + self.network_steps) < self.policy_steps

    @property
    def n_policy_steps(self) -> int:
        """Number of policy iterations in policy-train (4000 for the CityScapes defaults)."""
        cycle = self.policy_steps + self.network_steps
        full, rest = divmod(self.policy_train_iterations, cycle)
        return full * self.policy_steps + min(rest, self.policy_steps)

    def tau_after(self, policy_iterations: int) -> float:
        """τ after ``policy_iterations`` completed policy iterations."""
        return tau_at(policy_iterations, self.tau0, self.tau_decay, self.tau_period, self.tau_min)

    @property
    def final_tau(self) -> float:
        """τ at the end of policy-train (1.2460 CityScapes/Taskonomy, 0.1470 NYUv2)."""
        return self.tau_after(self.n_policy_steps)

    def policy_lr_at(self, iteration: int) -> float:
        """The policy learning rate used at policy-train iteration ``iteration``."""
        drop = self.policy_lr_drop_at
        return self.policy_lr_after_drop if drop is not None and iteration >= drop else self.policy_lr

    @property
    def hard_from(self) -> int:
        """First policy-train iteration of the straight-through hard phase (= ``policy_train_iterations`` if none)."""
        return self.policy_train_iterations - _round(self.hard_fraction * self.policy_train_iterations)

    @property
    def uses_paper_reg(self) -> bool:
        """Whether the paper's depth regulariser is part of the objective."""
        return self.regularizer in ("paper", "both")

    @property
    def uses_resource_reg(self) -> bool:
        """Whether the resource-aware term is part of the objective."""
        return self.regularizer in ("resource", "both")
