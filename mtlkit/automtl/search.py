"""The AutoMTL search: pre-train → policy-train → discretise → post-train (docs/automtl.md §2–§3).

``search(supermodel, data, config)`` runs the three stages; each is also callable alone (:func:`pre_train`,
:func:`policy_train`, :func:`discretize`, :func:`post_train`). ``data`` maps split names to loaders, as the paper
(docs/automtl.md §3.1): ``"train"`` (pre- and post-train), ``"train1"`` (network iterations of policy-train), ``"train2"``
(policy iterations and best-of-N selection), optionally ``"test"`` (evaluation). Each value is one ``DataLoader``
of joint batches (every task's target in each batch: one tree-executed forward for all tasks) or a dict
``{task: DataLoader}`` (each task its own batch, as the original).

* **pre-train** — mode ``"mean"``, Adam on the network weights (not the logits), via :func:`mtlkit.train.train`.
* **policy-train** — :class:`PolicyTrainer`: iteration ``i`` is a policy iteration iff ``i mod (P+N) < P``; policy
  iterations read ``train2`` and step Adam on the logits only, network iterations read ``train1`` and step SGD on
  the weights only (the inactive group is frozen — ``requires_grad=False`` — so its gradients are not even
  computed). Objective ``Σ_t λ_t L_t + λ_reg Σ_t L_reg(t)`` (+ the resource term). τ decays with the count of
  policy iterations. Checkpoints (via :func:`mtlkit.train.run_loop`) hold the supermodel (weights and logits),
  both optimizers, τ and the policy-iteration count, the data positions and the RNG states; ``train_log.csv`` the
  losses, τ and expected cost; ``policy_log.csv`` softmax(α) per (iteration, node, task).
* **discretise** — the paper's τ = 1 sample, the argmax, or the best of N samples on ``train2``.
* **post-train** — the derived compact model (:func:`~mtlkit.automtl.derive.derive`), re-initialised
  (``"scratch"``, the paper scripts) or not (``"finetune"``), trained with Adam 1e-3 × 0.5 every 4 k.
"""
from __future__ import annotations

import csv
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from mtlkit.automtl.accounting import param_report
from mtlkit.automtl.regularizer import ResourceCosts, depth_weights, paper_regularizer_from_probs, policy_tensor
from mtlkit.automtl.search_config import DISCRETIZE, SearchConfig
from mtlkit.errors import ConfigError, DataError, unknown_name
from mtlkit.integrity import restart_stages, with_remedy, write_json
from mtlkit.train import (
    DataStream, History, TrainConfig, check_finite, evaluate, resolve_device, run_loop, to_device, train,
)

__all__ = [
    "SPLITS", "PolicyTrainer", "PolicyTrainResult", "Discretization", "PostTrained", "SearchResult",
    "resolve_tasks", "check_data", "pre_train", "policy_train", "discretize", "score_policies", "post_train",
    "search", "reinitialize", "policy_train_key", "POLICY_LOG", "BudgetNotMetWarning", "STAGES",
]

SPLITS = ("train", "train1", "train2", "test")
POLICY_LOG = "policy_log.csv"
STAGES = ("pre_train", "policy_train", "post_train")   #: the stages of :func:`search` (``restart=``), in order
_SNAP_FIELDS = ("iteration", "node", "task", "p_shared", "p_specific", "p_skip", "tau")


# ---------------------------------------------------------------------------------------------- data and tasks
def _base_dataset(loader: DataLoader):
    ds = loader.dataset
    while isinstance(ds, Subset):
        ds = ds.dataset
    return ds


def _loaders(entry) -> list[DataLoader]:
    return [entry] if isinstance(entry, DataLoader) else list(entry.values())


def check_data(data: Mapping, tasks: Sequence[str], needed: Sequence[str]) -> dict[str, Any]:
    """Validate ``data`` = ``{split: DataLoader | {task: DataLoader}}`` for the splits a stage reads.

    Args:
        data: the splits (see the module docstring).
        tasks: the task names every split must serve.
        needed: splits that must be present.

    Returns:
        ``data`` as a plain dict.

    Raises:
        ConfigError: not a dict, an unknown split, a missing split, a per-task dict without some task, a loader
            whose dataset (``.tasks``) does not provide a task.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"data must be a dict {{split: DataLoader or {{task: DataLoader}}}} with splits {SPLITS}, "
                          f"got {type(data).__name__}")
    for split in data:
        if split not in SPLITS:
            raise ConfigError(f"data has an unknown split {split!r}; splits are {list(SPLITS)}")
    use = {"train": "pre- and post-train", "train1": "the network iterations of policy-train",
           "train2": "the policy iterations of policy-train and best-of-N selection", "test": "evaluation"}
    for split in needed:
        if split not in data:
            raise ConfigError(f"data has no {split!r} split, which {use[split]} read(s); give data[{split!r}] = a "
                              f"DataLoader of joint batches or {{task: DataLoader}} (got splits {sorted(data)})")
    for split, entry in data.items():
        if isinstance(entry, DataLoader):
            per_task = {t: entry for t in tasks}
        elif isinstance(entry, Mapping):
            missing = [t for t in tasks if t not in entry]
            if missing:
                raise ConfigError(f"data[{split!r}] has no loader for task(s) {missing}; it has {sorted(entry)}")
            extra = sorted(set(entry) - set(tasks))
            if extra:
                raise ConfigError(f"data[{split!r}] has loaders for unknown task(s) {extra}; tasks are {list(tasks)}")
            per_task = dict(entry)
        else:
            raise ConfigError(f"data[{split!r}] must be a DataLoader or a dict {{task: DataLoader}}, got "
                              f"{type(entry).__name__}")
        for t, loader in per_task.items():
            if not isinstance(loader, DataLoader):
                raise ConfigError(f"data[{split!r}][{t!r}] must be a DataLoader, got {type(loader).__name__}")
            provided = getattr(_base_dataset(loader), "tasks", None)
            if provided is not None and t not in provided:
                raise ConfigError(f"data[{split!r}] for task {t!r}: its dataset provides only {tuple(provided)}")
    return dict(data)


def resolve_tasks(supermodel, data: Mapping | None = None, tasks: Any = None) -> dict[str, Any]:
    """The task objects (losses, evaluators) of the supermodel's tasks.

    Args:
        supermodel: the supermodel (its ``tasks`` and heads).
        data: optional; datasets with ``task_options()`` (e.g. SynthScenes' 6 classes) configure default tasks.
        tasks: dict name → task or a list of tasks; ``None`` builds ``mtlkit.tasks.get_task(name, **options)``.

    Returns:
        ``{task name: task}`` in the supermodel's task order.
    """
    from mtlkit.models import as_task_dict, check_heads_match_tasks
    from mtlkit.tasks import get_task

    if tasks is None:
        options: dict[str, dict] = {}
        for entry in (data or {}).values():
            if isinstance(entry, (DataLoader, Mapping)):
                for loader in _loaders(entry):
                    if isinstance(loader, DataLoader) and hasattr(_base_dataset(loader), "task_options"):
                        options.update(_base_dataset(loader).task_options())
        tasks = {t: get_task(t, **options.get(t, {})) for t in supermodel.tasks}
    tasks = as_task_dict(tasks)
    if set(tasks) != set(supermodel.tasks):
        raise ConfigError(f"tasks {sorted(tasks)} differ from the supermodel's tasks {list(supermodel.tasks)}")
    check_heads_match_tasks(supermodel.heads, tasks)
    return {t: tasks[t] for t in supermodel.tasks}


def _loss_weights(weights: Mapping[str, float] | None, names: Sequence[str], arg: str) -> dict[str, float]:
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ConfigError(f"SearchConfig.{arg} names task(s) {unknown} that the supermodel does not have; "
                          f"tasks are {list(names)}")
    return {t: float(weights.get(t, 1.0)) for t in names}


def _streams(entry, names: Sequence[str], seed: int, split: str, base: int) -> dict[str, DataStream]:
    if isinstance(entry, DataLoader):
        return {split: DataStream(entry, seed, base, split)}
    return {f"{split}/{t}": DataStream(entry[t], seed, base + k, f"{split}/{t}") for k, t in enumerate(names)}


def _draw(streams: Mapping[str, DataStream], split: str, names: Sequence[str], device) -> dict[str, dict]:
    """One batch per task: ``{task: batch}`` (the same dict for every task with a joint loader)."""
    if split in streams:
        batch = streams[split].next()
        missing = [t for t in names if t not in batch]
        if missing:
            raise DataError(f"data[{split!r}] yields batches without target(s) {missing}; keys are {sorted(batch)}")
        batch = to_device(batch, device)
        return {t: batch for t in names}
    return {t: to_device(streams[f"{split}/{t}"].next(), device) for t in names}


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _check(supermodel, config) -> None:
    from mtlkit.automtl.supermodel import SuperModel

    if not isinstance(supermodel, SuperModel):
        raise ConfigError(f"expected a SuperModel, got {type(supermodel).__name__}")
    if not isinstance(config, SearchConfig):
        raise ConfigError(f"config must be a SearchConfig, got {type(config).__name__}")
    if len(supermodel.tasks) < 2:
        raise ConfigError(f"the search needs at least two tasks, the supermodel has {list(supermodel.tasks)}")


def _say(progress: bool, text: str) -> None:
    if progress:
        from tqdm.auto import tqdm

        tqdm.write(text)


# ---------------------------------------------------------------------------------------------------- pre-train
def pre_train(supermodel, data: Mapping, config: SearchConfig, *, tasks: Any = None,
              run_dir: str | Path | None = None, resume: bool = True, progress: bool = True) -> History | None:
    """Stage 1 (docs/automtl.md §3.2): every node outputs the mean of its branches; Adam on the network weights.

    Args:
        supermodel: the supermodel (trained in place).
        data: splits; reads ``"train"``.
        config: ``pre_train_iterations`` (0: skipped, returns ``None``), ``pre_train_lr``, ``loss_weights``.
        tasks: task objects (default: from the supermodel's task names).
        run_dir: checkpoint/log folder (``None``: nothing written).
        resume: continue from ``run_dir``.
        progress: progress bar.

    Returns:
        The :class:`~mtlkit.train.History`, or ``None`` when the stage is skipped.
    """
    _check(supermodel, config)
    if config.pre_train_iterations == 0:
        return None
    tasks = resolve_tasks(supermodel, data, tasks)
    data = check_data(data, tuple(tasks), ("train",))
    weights = _loss_weights(config.loss_weights, tuple(tasks), "loss_weights")
    tc = TrainConfig(iterations=config.pre_train_iterations, lr=config.pre_train_lr, optimizer="adam",
                     betas=(0.5, 0.999), weight_decay=1e-4, loss_weights=weights, eval_every=0,
                     checkpoint_every=config.checkpoint_every, log_every=config.log_every, device=config.device,
                     seed=config.seed)
    _say(progress, f"[automtl] pre-train: {config.pre_train_iterations} iterations, mode='mean'")
    return train(supermodel, tasks, data["train"], tc, run_dir=run_dir, resume=resume, progress=progress,
                 forward_kw={"mode": "mean"}, params=list(supermodel.network_parameters()), desc="pre-train")


# ------------------------------------------------------------------------------------------------- policy-train
class PolicyTrainer:
    """One policy-train run's state and its iteration (used by :func:`policy_train` and the benchmark).

    Args:
        supermodel: the supermodel (moved to ``config.device``, trained in place).
        data: splits; reads ``"train1"`` and ``"train2"``.
        config: the :class:`SearchConfig`.
        tasks: task objects (default: from the supermodel's task names).
        freeze_inactive: set ``requires_grad=False`` on the group that does not step (weights on policy iterations,
            logits on network iterations) so autograd skips its gradients; ``False`` computes every gradient, as
            the original does (same updates, more work).

    Attributes:
        schedule: ``{"tau": current τ, "policy_iterations": completed policy iterations}`` (checkpointed).
        streams: the data streams (checkpointed positions).
    """

    def __init__(self, supermodel, data: Mapping, config: SearchConfig, tasks: Any = None, *,
                 freeze_inactive: bool = True):
        _check(supermodel, config)
        self.sm, self.config, self.freeze_inactive = supermodel, config, bool(freeze_inactive)
        self.tasks = resolve_tasks(supermodel, data, tasks)
        self.names = tuple(self.tasks)
        self.data = check_data(data, self.names, ("train1", "train2"))
        self.lam = _loss_weights(config.loss_weights, self.names, "loss_weights")
        self.device = resolve_device(config.device)
        supermodel.to(self.device)
        self.policy_params = list(supermodel.policy_parameters())
        self.network_params = list(supermodel.network_parameters())
        self.policy_opt = torch.optim.Adam(self.policy_params, lr=config.policy_lr,
                                           weight_decay=config.policy_weight_decay)
        self.network_opt = torch.optim.SGD(self.network_params, lr=config.network_lr,
                                           momentum=config.network_momentum, weight_decay=config.network_weight_decay)
        self.schedule: dict[str, float] = {"tau": float(config.tau0), "policy_iterations": 0}
        self.streams = {**_streams(self.data["train1"], self.names, config.seed, "train1", 0),
                        **_streams(self.data["train2"], self.names, config.seed, "train2", 1000)}
        _, self.has_skip = policy_tensor(supermodel)
        self.weights = torch.tensor(list(depth_weights(supermodel).values()), device=self.device)
        self.costs = ResourceCosts.from_supermodel(supermodel, config.resource)
        self.param_costs = (self.costs if config.resource == "params"
                            else ResourceCosts.from_supermodel(supermodel, "params"))
        if config.uses_resource_reg and config.budget is not None:
            self.costs.check_budget(config.budget)

    def state(self) -> dict[str, Any]:
        """What a checkpoint must hold besides data positions and RNG states."""
        return {"supermodel": self.sm, "policy_optimizer": self.policy_opt, "network_optimizer": self.network_opt,
                "schedule": self.schedule}

    def _freeze(self, policy_phase: bool | None) -> None:
        for p in self.policy_params:
            p.requires_grad_(policy_phase is not False)
        for p in self.network_params:
            p.requires_grad_(policy_phase is not True)

    def _regularizer(self, tau: float, task: str | None) -> tuple[torch.Tensor, float]:
        """The extra objective of a policy iteration: for all tasks, or for ``task`` alone (per-task steps)."""
        cfg, total, value = self.config, None, 0.0
        logits, _ = policy_tensor(self.sm)  # (N, T, 3)
        rows = slice(None) if task is None else [self.names.index(task)]
        if cfg.uses_paper_reg:
            sub = logits[:, rows]
            probs = (torch.nn.functional.gumbel_softmax(sub, tau=tau, hard=False, dim=-1) if cfg.reg_noise
                     else torch.softmax(sub / tau, dim=-1))  # fresh noise, independent of the forward's
            reg = paper_regularizer_from_probs(probs, self.weights, self.has_skip, cfg.reg_scale).sum()
            total, value = cfg.reg_weight * reg, float(reg.detach())
        if cfg.uses_resource_reg:
            q = torch.softmax(logits, dim=-1)  # the distribution the paper's discretisation samples
            if task is not None:  # only this task's rows carry gradient in its own step
                keep = torch.zeros(len(self.names), dtype=torch.bool, device=q.device)
                keep[rows] = True
                q = torch.where(keep[None, :, None], q, q.detach())
            pen, _ = self.costs.penalty(q, cfg.budget, cfg.budget_weight, cfg.cost_weight)
            total = pen if total is None else total + pen
        return total, value

    def _losses(self, batches: Mapping[str, dict], names: Sequence[str], tau: float, hard: bool):
        first = batches[names[0]]
        if all(batches[t] is first for t in names):  # joint batch: one tree-executed forward
            preds = self.sm(first["image"], tasks=tuple(names), mode="soft", tau=tau, hard=hard)
        else:
            preds = {t: self.sm(batches[t]["image"], tasks=(t,), mode="soft", tau=tau, hard=hard)[t] for t in names}
        return {t: self.tasks[t].loss(preds[t], batches[t]) for t in names}

    def step(self, i: int) -> dict[str, float]:
        """Run policy-train iteration ``i`` (0-based) and return the values to log."""
        cfg = self.config
        policy = cfg.is_policy_step(i)
        hard = i >= cfg.hard_from
        tau = float(self.schedule["tau"])
        opt = self.policy_opt if policy else self.network_opt
        if policy:
            for group in opt.param_groups:
                group["lr"] = cfg.policy_lr_at(i)
        self.sm.train()
        if self.freeze_inactive:
            self._freeze(policy)
        try:
            batches = _draw(self.streams, "train2" if policy else "train1", self.names, self.device)
            logged, reg_value = {}, float("nan")
            if cfg.step_mode == "summed":
                opt.zero_grad(set_to_none=True)
                losses = self._losses(batches, self.names, tau, hard)
                check_finite(losses, i + 1)
                total = sum(self.lam[t] * losses[t] for t in self.names)
                if policy and cfg.regularizer != "none":
                    extra, reg_value = self._regularizer(tau, None)
                    total = total + extra
                total.backward()
                opt.step()
                logged = {t: float(v.detach()) for t, v in losses.items()}
            else:  # the original: one zero_grad/forward/backward/step per task (torch 1.8 zero_grad keeps zeros)
                reg_value = 0.0
                for t in self.names:
                    opt.zero_grad(set_to_none=False)
                    loss = self._losses(batches, (t,), tau, hard)[t]
                    check_finite({t: loss}, i + 1)
                    total = self.lam[t] * loss
                    if policy and cfg.regularizer != "none":
                        extra, value = self._regularizer(tau, t)
                        total, reg_value = total + extra, reg_value + value
                    total.backward()
                    opt.step()
                    logged[t] = float(loss.detach())
                reg_value = reg_value if policy else float("nan")
        finally:
            if self.freeze_inactive:
                self._freeze(None)
        if policy:
            k = int(self.schedule["policy_iterations"]) + 1
            self.schedule["policy_iterations"] = k
            self.schedule["tau"] = cfg.tau_after(k)
        with torch.no_grad():
            cost = float(self.param_costs.expected(torch.softmax(policy_tensor(self.sm)[0], dim=-1)))
        return {"phase": float(policy), "tau": tau, "hard": float(hard),
                "loss": sum(self.lam[t] * v for t, v in logged.items()),
                **{f"loss/{t}": v for t, v in logged.items()}, "reg": reg_value, "expected_params": cost,
                "lr": opt.param_groups[0]["lr"]}

    def snapshot(self, iteration: int) -> list[dict]:
        """softmax(α) of every (node, task) as rows ``iteration, node, task, p_shared, p_specific, p_skip, tau``."""
        with torch.no_grad():
            probs = torch.softmax(policy_tensor(self.sm)[0], dim=-1).cpu().tolist()  # (N, T, 3)
        rows = []
        for n, v in enumerate(self.sm.nodes):
            for t, task in enumerate(self.names):
                p = probs[n][t]
                rows.append({"iteration": iteration, "node": v.name, "task": task, "p_shared": p[0],
                             "p_specific": p[1], "p_skip": p[2] if len(v.choices) == 3 else float("nan"),
                             "tau": float(self.schedule["tau"])})
        return rows


class _SnapshotLog:
    """``policy_log.csv``: appended every ``snapshot_every`` iterations; on resume rows after the start are dropped."""

    def __init__(self, path: Path | None):
        self.path, self.rows = path, []

    def restart(self, start: int) -> None:
        if self.path is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(float(r["iteration"])) <= start]
        self.rows = [{k: (r[k] if k in ("node", "task") else float(r[k]) if r[k] != "" else float("nan"))
                      for k in _SNAP_FIELDS} for r in self.rows]
        for r in self.rows:
            r["iteration"] = int(r["iteration"])
        self._write(self.rows, "w")

    def append(self, rows: list[dict]) -> None:
        self.rows.extend(rows)
        self._write(rows, "a")

    def _write(self, rows, mode: str) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = mode == "w" or not self.path.is_file()
        with open(self.path, "w" if new else "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=_SNAP_FIELDS)
            if new:
                w.writeheader()
            w.writerows(rows)


@dataclass
class PolicyTrainResult:
    """What policy-train logged: the loop's :class:`~mtlkit.train.History` and the policy snapshots."""

    history: History
    snapshots: list[dict]

    def snapshot_frame(self):
        """The snapshots as a pandas DataFrame (columns ``iteration, node, task, p_shared, p_specific, p_skip,
        tau``)."""
        import pandas as pd

        return pd.DataFrame(self.snapshots, columns=list(_SNAP_FIELDS))


_FREE = {"checkpoint_every", "log_every", "eval_every", "device", "snapshot_every", "discretize", "sample_seed",
         "n_samples", "select_batches", "pre_train_iterations", "pre_train_lr", "post_train_iterations", "post_lr",
         "post_lr_step", "post_lr_gamma", "post_init", "post_loss_weights"}


def policy_train_key(config: SearchConfig) -> dict:
    """The settings that determine a policy-train run (what a resume must match; a run-cache key)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.__dict__.items() if k not in _FREE}


def _meta(config: SearchConfig, names, data) -> dict:
    meta = policy_train_key(config)
    meta["tasks"] = list(names)
    meta["loaders"] = {s: ("joint" if isinstance(e, DataLoader) else "per-task") for s, e in data.items()}
    return meta


def policy_train(supermodel, data: Mapping, config: SearchConfig, *, tasks: Any = None,
                 run_dir: str | Path | None = None, resume: bool = True, progress: bool = True,
                 freeze_inactive: bool = True) -> PolicyTrainResult:
    """Stage 2 (docs/automtl.md §3.3): alternate policy and network iterations with Gumbel-softmax mixing.

    Args:
        supermodel: the supermodel (weights and logits trained in place).
        data: splits; reads ``"train1"``, ``"train2"`` and, if ``config.eval_every > 0``, ``"test"`` (hard mode,
            argmax policy, as the original's validation).
        config: the :class:`SearchConfig`.
        tasks: task objects (default: from the supermodel's task names).
        run_dir: folder for ``checkpoint.pt``, ``train_log.csv``, ``eval_log.csv``, ``policy_log.csv``.
        resume: continue from ``run_dir/checkpoint.pt`` (same logits, weights, τ, data positions and RNG as an
            uninterrupted run).
        progress: progress bar (stage, iteration, phase, loss, regulariser, τ).
        freeze_inactive: see :class:`PolicyTrainer`.

    Returns:
        A :class:`PolicyTrainResult`.

    Raises:
        ConfigError: bad data, tasks or config, or a budget below what any policy reaches.
    """
    trainer = PolicyTrainer(supermodel, data, config, tasks, freeze_inactive=freeze_inactive)
    cfg = config
    _seed_all(cfg.seed)  # a resumed run restores the checkpoint's RNG states instead
    run_dir = Path(run_dir) if run_dir is not None else None
    log = _SnapshotLog(run_dir / POLICY_LOG if run_dir is not None else None)
    state = {"bar": None}
    _say(progress, f"[automtl] policy-train: {cfg.policy_train_iterations} iterations, (P, N) = "
                   f"({cfg.policy_steps}, {cfg.network_steps}), tau {cfg.tau0:g} -> {cfg.final_tau:.4g}, "
                   f"regularizer={cfg.regularizer!r}, step_mode={cfg.step_mode!r}")

    def step(i: int) -> dict[str, float]:
        if state["bar"] is None:  # first call of this session: i is where the run (re)starts
            from tqdm.auto import tqdm

            log.restart(i)
            if i == 0:
                log.append(trainer.snapshot(0))
            state["bar"] = tqdm(total=cfg.policy_train_iterations, initial=i, desc="policy-train",
                                disable=not progress, dynamic_ncols=True)
        logs = trainer.step(i)
        done = i + 1
        if done % cfg.snapshot_every == 0 or done == cfg.policy_train_iterations:
            log.append(trainer.snapshot(done))
        bar = state["bar"]
        bar.update(1)
        if done % max(1, cfg.log_every) == 0 or done == cfg.policy_train_iterations:
            bar.set_postfix({"phase": "policy" if logs["phase"] else "network", "loss": f"{logs['loss']:.4g}",
                             "reg": f"{logs['reg']:.4g}", "tau": f"{logs['tau']:.4g}"}, refresh=False)
        return logs

    eval_fn = None
    if cfg.eval_every > 0:
        check_data(data, trainer.names, ("test",))

        def eval_fn(done: int):
            return evaluate(supermodel, trainer.tasks, data["test"], device=trainer.device,
                            forward_kw={"mode": "hard", "policy": supermodel.argmax_policy()})

    try:
        history = run_loop(step, iterations=cfg.policy_train_iterations, state=trainer.state(),
                           streams=trainer.streams, run_dir=run_dir, checkpoint_every=cfg.checkpoint_every,
                           log_every=cfg.log_every, eval_fn=eval_fn, eval_every=cfg.eval_every, resume=resume,
                           progress=False, desc="policy-train", meta=_meta(cfg, trainer.names, trainer.data),
                           match_meta=list(_meta(cfg, trainer.names, trainer.data)))
    finally:
        if state["bar"] is not None:
            state["bar"].close()
    if state["bar"] is None:  # the run was already complete: read its snapshots
        log.restart(cfg.policy_train_iterations)
    return PolicyTrainResult(history=history, snapshots=log.rows)


# --------------------------------------------------------------------------------------------------- discretise
@dataclass
class Discretization:
    """The chosen discrete policy and, for best-of-N, every candidate (seed, train2 score, cost in backbones)."""

    policy: dict[str, dict[str, str]]
    method: str
    candidates: list[dict] = field(default_factory=list)


class _BNBuffers:
    """Saves and restores every buffer (BN running statistics) around train-mode scoring."""

    def __init__(self, module: nn.Module):
        self.module = module

    def __enter__(self):
        self.saved = {k: v.clone() for k, v in self.module.named_buffers()}
        self.modes = {m: m.training for m in self.module.modules()}
        return self

    def __exit__(self, *exc):
        with torch.no_grad():
            for k, v in self.module.named_buffers():
                v.copy_(self.saved[k])
        for m, mode in self.modes.items():
            m.training = mode


def score_policies(supermodel, policies: Sequence[Mapping], data: Mapping, config: SearchConfig, *,
                   tasks: Any = None, split: str = "train2") -> list[float]:
    """The weighted task loss ``Σ_t λ_t L_t`` of each discrete policy on the same ``config.select_batches`` batches.

    The supermodel runs in hard mode with its current (policy-trained) weights, BN in train mode (batch statistics:
    the running statistics were gathered under soft mixtures); buffers and the RNG are restored afterwards.

    Args:
        supermodel: the supermodel.
        policies: candidate policies.
        data: splits; reads ``split``.
        config: ``select_batches``, ``loss_weights``, ``seed``, ``device``.
        tasks: task objects.
        split: the split to score on (``"train2"``, as the policy iterations).

    Returns:
        One score per policy (lower is better).
    """
    _check(supermodel, config)
    tasks = resolve_tasks(supermodel, data, tasks)
    names = tuple(tasks)
    data = check_data(data, names, (split,))
    lam = _loss_weights(config.loss_weights, names, "loss_weights")
    device = resolve_device(config.device)
    supermodel.to(device)
    checked = [supermodel.validate_policy(p) for p in policies]
    with torch.random.fork_rng(devices=[]), _BNBuffers(supermodel), torch.no_grad():
        streams = _streams(data[split], names, config.seed, split, 9000)
        batches = [_draw(streams, split, names, device) for _ in range(config.select_batches)]
        supermodel.train()
        scores = []
        for p in checked:
            total = 0.0
            for b in batches:
                first = b[names[0]]
                if all(b[t] is first for t in names):
                    preds = supermodel(first["image"], mode="hard", policy=p)
                else:
                    preds = {t: supermodel(b[t]["image"], tasks=(t,), mode="hard", policy=p)[t] for t in names}
                total += float(sum(lam[t] * tasks[t].loss(preds[t], b[t]) for t in names))
            scores.append(total / len(batches))
    return scores


def discretize(supermodel, config: SearchConfig, data: Mapping | None = None, *, tasks: Any = None,
               method: str | None = None) -> Discretization:
    """Turn the learned logits into a discrete policy (docs/automtl.md §2.4; best-of-N beyond the paper).

    Args:
        supermodel: the policy-trained supermodel.
        config: ``discretize`` (default method), ``sample_seed``, ``n_samples``, ``select_batches``, ``budget``.
        data: splits; best-of-N reads ``"train2"``.
        tasks: task objects (best-of-N).
        method: overrides ``config.discretize``: ``"sample"`` (one τ = 1 draw, numpy seed ``sample_seed``),
            ``"argmax"``, or ``"best_of"`` (``n_samples`` draws; the lowest ``train2`` loss among those within the
            budget, when the resource term has one, else the cheapest).

    Returns:
        A :class:`Discretization`.
    """
    _check(supermodel, config)
    method = config.discretize if method is None else method
    if method not in DISCRETIZE:
        raise unknown_name("discretization method", method, DISCRETIZE)
    costs = ResourceCosts.from_supermodel(supermodel, config.resource)
    if method == "argmax":
        policy = supermodel.argmax_policy()
        return Discretization(policy, method, [{"seed": None, "cost": costs.of_policy(policy), "policy": policy}])
    if method == "sample":
        policy = supermodel.sample_policy(config.sample_seed)
        return Discretization(policy, method, [{"seed": config.sample_seed, "cost": costs.of_policy(policy),
                                                "policy": policy}])
    if data is None:
        raise ConfigError("discretize(method='best_of') needs data (it scores the candidates on data['train2'])")
    seeds = [config.sample_seed + k for k in range(config.n_samples)]
    policies = [supermodel.sample_policy(s) for s in seeds]
    scores = score_policies(supermodel, policies, data, config, tasks=tasks)
    cands = [{"seed": s, "score": sc, "cost": costs.of_policy(p), "policy": p}
             for s, sc, p in zip(seeds, scores, policies)]
    budget = config.budget if config.uses_resource_reg else None
    feasible = [c for c in cands if budget is None or c["cost"] <= budget + 1e-12]
    best = (min(feasible, key=lambda c: c["score"]) if feasible else min(cands, key=lambda c: c["cost"]))
    return Discretization(best["policy"], method, cands)


# --------------------------------------------------------------------------------------------------- post-train
@dataclass
class PostTrained:
    """A post-trained derived model, its policy, training history, test metrics and parameter counts."""

    model: nn.Module
    policy: dict[str, dict[str, str]]
    history: History | None
    metrics: dict[str, dict[str, float]] | None
    params: dict[str, float]


def reinitialize(model: nn.Module, seed: int) -> nn.Module:
    """Fresh default initialisation of every submodule that has ``reset_parameters`` (seeded; RNG restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in model.modules():
            if m is not model and hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return model


def _post_config(config: SearchConfig, names) -> TrainConfig:
    weights = config.post_loss_weights if config.post_loss_weights is not None else config.loss_weights
    return TrainConfig(iterations=max(1, config.post_train_iterations), lr=config.post_lr, optimizer="adam",
                       betas=(0.5, 0.999), weight_decay=1e-4, lr_step=config.post_lr_step,
                       lr_gamma=config.post_lr_gamma, loss_weights=_loss_weights(weights, names, "post_loss_weights"),
                       eval_every=config.eval_every, checkpoint_every=config.checkpoint_every,
                       log_every=config.log_every, device=config.device, seed=config.seed)


def post_train(supermodel, policy: Mapping, data: Mapping, config: SearchConfig, *, tasks: Any = None,
               run_dir: str | Path | None = None, resume: bool = True, progress: bool = True) -> PostTrained:
    """Stage 3 (docs/automtl.md §3.4): train the compact model derived from ``policy``.

    Args:
        supermodel: the supermodel (unchanged: the derived model owns copies of the weights).
        policy: the discrete policy.
        data: splits; reads ``"train"`` and, if present, ``"test"`` (final metrics).
        config: ``post_train_iterations`` (0: no training), ``post_lr``, ``post_lr_step``, ``post_lr_gamma``,
            ``post_init`` (``"scratch"``: every layer re-initialised with seed ``config.seed``; ``"finetune"``: the
            searched weights), ``post_loss_weights``.
        tasks: task objects.
        run_dir: checkpoint/log folder.
        resume: continue from ``run_dir``.
        progress: progress bar.

    Returns:
        A :class:`PostTrained`.
    """
    _check(supermodel, config)
    tasks = resolve_tasks(supermodel, data, tasks)
    names = tuple(tasks)
    data = check_data(data, names, ("train",) if config.post_train_iterations else ())
    policy = supermodel.validate_policy(policy)
    model = supermodel.derive(policy)
    if config.post_init == "scratch":
        reinitialize(model, config.seed)
    history = None
    if config.post_train_iterations:
        _say(progress, f"[automtl] post-train ({config.post_init}): {config.post_train_iterations} iterations")
        history = train(model, tasks, data["train"], _post_config(config, names), run_dir=run_dir, resume=resume,
                        progress=progress, eval_loader=data.get("test") if config.eval_every else None,
                        desc="post-train")
    metrics = evaluate(model, tasks, data["test"], device=config.device) if "test" in data else None
    return PostTrained(model=model, policy=policy, history=history, metrics=metrics,
                       params=param_report(supermodel, policy))


# ------------------------------------------------------------------------------------------------------ pipeline
@dataclass
class SearchResult:
    """Everything :func:`search` produced.

    Attributes:
        policy: the discrete policy.
        model: the post-trained derived model (``forward(x) -> {task: pred}``).
        supermodel: the searched supermodel (weights and logits after policy-train).
        metrics: test metrics of ``model`` (``None`` without ``data["test"]``).
        params: :func:`~mtlkit.automtl.accounting.param_report` of the policy (paper and full conventions).
        cost: the policy's cost in backbones of ``config.resource`` (all-shared = 1 for parameters).
        discretization: the :class:`Discretization` (best-of-N candidates).
        history: ``{"pre_train": History | None, "policy_train": PolicyTrainResult, "post_train": History | None}``.
        config: the :class:`SearchConfig`.
        budget_met: ``cost <= config.budget`` (None without a budget); a miss also warns (:class:`BudgetNotMetWarning`).
        warnings: what went wrong without stopping the search (e.g. the budget miss); also in ``policy.json``.
    """

    policy: dict[str, dict[str, str]]
    model: nn.Module
    supermodel: Any
    metrics: dict | None
    params: dict[str, float]
    cost: float
    discretization: Discretization
    history: dict[str, Any]
    config: SearchConfig
    budget_met: bool | None = None
    warnings: list[str] = field(default_factory=list)


class BudgetNotMetWarning(UserWarning):
    """The searched policy costs more than the budget of the resource term (recorded as ``budget_met=False``)."""


def _staged(stage: str, run, *args, **kw):
    with with_remedy(f"restart that stage: search(..., restart={stage!r}) (it and the later stages run afresh)"):
        return run(*args, **kw)


def search(supermodel, data: Mapping, config: SearchConfig, *, tasks: Any = None,
           run_dir: str | Path | None = None, resume: bool = True, progress: bool = True,
           restart: str | None = None) -> SearchResult:
    """The whole AutoMTL pipeline: pre-train, policy-train, discretise, post-train.

    Args:
        supermodel: a :class:`~mtlkit.automtl.SuperModel` (searched in place).
        data: ``{split: DataLoader | {task: DataLoader}}`` with ``"train"``, ``"train1"``, ``"train2"`` and
            optionally ``"test"``.
        config: the :class:`SearchConfig` (e.g. ``SearchConfig.preset("nyuv2").scaled(2000, ...)``).
        tasks: task objects (default: ``get_task`` of the supermodel's task names with the datasets' options).
        run_dir: folder with one sub-folder per stage and ``policy.json``; a finished stage returns at once on a
            second call, a killed one resumes from its last checkpoint.
        resume: resume from ``run_dir``.
        progress: progress bars.
        restart: a stage of ``STAGES``: it and the later ones run afresh (their folders are deleted first).

    Returns:
        A :class:`SearchResult` (``budget_met=False`` and a :class:`BudgetNotMetWarning` for a missed budget).
    """
    _check(supermodel, config)
    tasks = resolve_tasks(supermodel, data, tasks)
    needed = ["train1", "train2"]
    if config.pre_train_iterations or config.post_train_iterations:
        needed.append("train")
    data = check_data(data, tuple(tasks), needed)
    if config.uses_resource_reg and config.budget is not None:
        ResourceCosts.from_supermodel(supermodel, config.resource).check_budget(config.budget)
    root = Path(run_dir) if run_dir is not None else None
    restart_stages(root, STAGES, restart, also=("policy.json",))
    sub = (lambda name: root / name) if root is not None else (lambda name: None)
    kw = dict(tasks=tasks, resume=resume, progress=progress)
    hist_pre = _staged("pre_train", pre_train, supermodel, data, config, run_dir=sub("pre_train"), **kw)
    hist_policy = _staged("policy_train", policy_train, supermodel, data, config, run_dir=sub("policy_train"), **kw)
    disc = discretize(supermodel, config, data, tasks=tasks)
    cost = ResourceCosts.from_supermodel(supermodel, config.resource).of_policy(disc.policy)
    budget = config.budget if config.uses_resource_reg else None
    budget_met = None if budget is None else bool(cost <= budget + 1e-12)
    notes = [] if budget_met is not False else [
        f"the searched policy costs {cost:.4f} backbones of {config.resource}, above the budget {budget:g}: the "
        "resource term did not bring it under (raise budget_weight or policy_train_iterations; discretize='best_of')"]
    for note in notes:
        warnings.warn(note, BudgetNotMetWarning, stacklevel=2)
    if root is not None:
        candidates = [{k: v for k, v in c.items() if k != "policy"} for c in disc.candidates]
        write_json(root / "policy.json", {"method": disc.method, "policy": disc.policy, "cost": cost, "budget": budget,
                                          "budget_met": budget_met, "warnings": notes, "candidates": candidates})
    post = _staged("post_train", post_train, supermodel, disc.policy, data, config, run_dir=sub("post_train"), **kw)
    return SearchResult(policy=disc.policy, model=post.model, supermodel=supermodel, metrics=post.metrics,
                        params=post.params, cost=cost, discretization=disc,
                        history={"pre_train": hist_pre, "policy_train": hist_policy, "post_train": post.history},
                        config=config, budget_met=budget_met, warnings=notes)
