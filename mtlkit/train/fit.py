"""Multi-task :func:`train` / :func:`evaluate` of a model whose ``forward(x)`` returns ``{task: prediction}``."""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from mtlkit.errors import ConfigError
from mtlkit.train.checkpoint import History, check_finite
from mtlkit.train.config import TrainConfig, _seed_rngs, build_optimizer, build_scheduler, resolve_device
from mtlkit.train.distributed import DistInfo, init_distributed, shard_batch, to_device
from mtlkit.train.loop import run_loop
from mtlkit.train.stream import DataStream

__all__ = ["train", "evaluate"]


# -------------------------------------------------------------------------------------------- multi-task training
def _task_dict(tasks: Any) -> dict[str, Any]:
    from mtlkit.models import as_task_dict

    return as_task_dict(tasks)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _takes_tasks(model: nn.Module) -> bool:
    try:
        return "tasks" in inspect.signature(_unwrap(model).forward).parameters
    except (TypeError, ValueError):
        return False


def _predict(model: nn.Module, x: torch.Tensor, names: Sequence[str], takes_tasks: bool,
             forward_kw: Mapping[str, Any] | None = None) -> dict[str, torch.Tensor]:
    kw = dict(forward_kw or {})
    preds = model(x, tasks=tuple(names), **kw) if takes_tasks else model(x, **kw)
    if not isinstance(preds, Mapping):
        raise ConfigError(f"the model must return a dict task -> prediction, got {type(preds).__name__}")
    missing = [t for t in names if t not in preds]
    if missing:
        raise ConfigError(f"the model returned no prediction for tasks {missing}; it gave {sorted(preds)}")
    return preds


def _check_loss(name: str, loss: Any, iteration: int, info: DistInfo) -> float:
    """The loss value averaged over ranks; raises TrainingDiverged (on every rank) if it is not finite."""
    if not torch.is_tensor(loss) or loss.numel() != 1:
        raise ConfigError(f"task {name!r}: loss(pred, batch) must return a scalar tensor, got {loss!r}")
    value = loss.detach().float().reshape(1).clone()
    if info.enabled:
        dist.all_reduce(value)
        value /= info.world_size
    check_finite({name: value}, iteration)
    return float(value)


def _safe_len(obj) -> int | None:
    try:
        return len(obj)
    except TypeError:
        return None


def _check_loaders(loaders: Any, names: Sequence[str]) -> None:
    if isinstance(loaders, DataLoader):
        return
    if not isinstance(loaders, Mapping):
        raise ConfigError(f"loaders must be a DataLoader (joint batches) or a dict task -> DataLoader, "
                          f"got {type(loaders).__name__}")
    missing, extra = sorted(set(names) - set(loaders)), sorted(set(loaders) - set(names))
    if missing or extra:
        raise ConfigError(f"loaders must have one DataLoader per task: missing {missing}, unknown {extra}")


def train(model: nn.Module, tasks: Any, loaders: DataLoader | Mapping[str, DataLoader], config: TrainConfig,
          run_dir: str | Path | None = None, resume: bool = True, progress: bool = True,
          eval_loader: DataLoader | None = None, forward_kw: Mapping[str, Any] | None = None,
          params: Sequence[nn.Parameter] | None = None, desc: str = "train", *, until: Any = None) -> History:
    """Train a multi-task model for ``config.iterations`` optimizer steps.

    Each iteration: with one joint loader, one batch holding every task's targets, one forward, the weighted sum
    ``Σ λ_t L_t`` backpropagated; with a dict task -> loader, each task draws its own batch and runs its own
    forward (only its head when the model's ``forward`` takes ``tasks=``), the weighted losses' gradients are summed
    and one optimizer step follows (the original AutoMTL stepped once per task instead, docs/automtl.md §3.1).

    ``train`` owns the data order: it re-seeds each loader's generator per epoch (see :class:`DataStream`) and seeds
    the RNGs with ``config.seed`` at the start (the model's initialisation is the caller's).

    Args:
        model: ``forward(x) -> {task: pred}`` (e.g. :class:`mtlkit.models.MultiTaskModel`); moved to the device.
        tasks: dict name -> task or a list of tasks (``loss(pred, batch)``, ``evaluator()``).
        loaders: a ``DataLoader`` of joint batches or a dict task -> ``DataLoader``.
        config: the :class:`TrainConfig`.
        run_dir: folder for ``checkpoint.pt``, ``train_log.csv``, ``eval_log.csv`` (``None``: nothing written,
            no resume).
        resume: continue from ``run_dir/checkpoint.pt`` if present (a finished run returns at once).
        progress: show a progress bar.
        eval_loader: optional loader evaluated every ``config.eval_every`` iterations and at the end.
        forward_kw: extra keyword arguments of every forward, e.g. ``{"mode": "mean"}`` for an AutoMTL
            :class:`~mtlkit.automtl.supermodel.SuperModel`.
        params: the parameters to optimise (default: every parameter with ``requires_grad``).
        desc: the progress bar's label (e.g. ``"pre-train"``).
        until: a :class:`mtlkit.convergence.Plateau`: also evaluate the validation loss on ``eval_loader`` every
            ``config.eval_every`` iterations and stop once the criterion holds (``config.iterations`` is the cap);
            ``History.stopped_at`` tells where.

    Returns:
        The :class:`History` (rows: ``iteration``, ``loss``, ``loss/<task>``, ``lr``, ``time_s``).

    Raises:
        TrainingDiverged: a task's loss is NaN/inf (the message names the task and the iteration).
        ConfigError: inconsistent tasks, loaders, loss weights or device.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}")
    tasks = _task_dict(tasks)
    names = tuple(tasks)
    _check_loaders(loaders, names)
    weights = dict(config.loss_weights or {})
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ConfigError(f"TrainConfig.loss_weights names tasks {unknown} that are not trained; "
                          f"tasks are {list(names)}")
    lam = {t: float(weights.get(t, 1.0)) for t in names}
    if isinstance(getattr(model, "heads", None), (Mapping, nn.ModuleDict)):
        from mtlkit.models import check_heads_match_tasks

        check_heads_match_tasks({t: h for t, h in model.heads.items() if t in tasks}, tasks)

    info = init_distributed(config.device)
    device = info.device
    model.to(device)
    _seed_rngs(config.seed)
    params = [p for p in model.parameters() if p.requires_grad] if params is None else list(params)
    if not params:
        raise ConfigError("train(): there are no parameters to optimise (params is empty or all are frozen)")
    optimizer = build_optimizer(params, config)
    scheduler = build_scheduler(optimizer, config)
    joint = isinstance(loaders, DataLoader)
    streams = ({"joint": DataStream(loaders, config.seed, 0, "joint")} if joint else
               {t: DataStream(loaders[t], config.seed, k, t) for k, t in enumerate(names)})
    net = model
    if info.enabled:
        from mtlkit.models import MultiTaskModel

        # every parameter is known to be used only for a hard-shared model fed joint batches
        all_used = (joint and isinstance(model, MultiTaskModel) and set(model.task_names) == set(names)
                    and not forward_kw)
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=not all_used)
    takes_tasks = _takes_tasks(model)

    def fetch(stream: DataStream) -> dict[str, Any]:
        batch = stream.next()
        if info.enabled and not stream.shards_itself:
            batch = shard_batch(batch, info.rank, info.world_size)
        return to_device(batch, device)

    def step(i: int) -> dict[str, float]:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        logged: dict[str, float] = {}
        if joint:
            batch = fetch(streams["joint"])
            preds = _predict(net, batch["image"], names, takes_tasks, forward_kw)
            losses = {t: tasks[t].loss(preds[t], batch) for t in names}
            logged = {t: _check_loss(t, losses[t], i + 1, info) for t in names}
            sum(lam[t] * losses[t] for t in names).backward()
        else:
            for k, t in enumerate(names):
                sync = not info.enabled or k == len(names) - 1
                with (contextlib.nullcontext() if sync else net.no_sync()):
                    batch = fetch(streams[t])
                    loss = tasks[t].loss(_predict(net, batch["image"], (t,), takes_tasks, forward_kw)[t], batch)
                    logged[t] = _check_loss(t, loss, i + 1, info)
                    (lam[t] * loss).backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, config.grad_clip)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return {"loss": sum(lam[t] * v for t, v in logged.items()),
                **{f"loss/{t}": v for t, v in logged.items()}, "lr": lr}

    eval_fn = None
    if eval_loader is not None:
        def eval_fn(done: int):
            return evaluate(model, tasks, eval_loader, device=device, forward_kw=forward_kw)

    stop_fn = None
    if until is not None:
        from mtlkit.convergence import plateau_hooks, validation_loss

        if eval_loader is None or config.eval_every < 1:
            raise ConfigError("train(until=Plateau(...)) needs an eval_loader and TrainConfig.eval_every >= 1, got "
                              f"eval_loader={'None' if eval_loader is None else 'a loader'}, "
                              f"eval_every={config.eval_every}")
        eval_fn, stop_fn = plateau_hooks(until, eval_fn, lambda: validation_loss(
            model, tasks, eval_loader, weights=lam, device=device, forward_kw=forward_kw))
    state = {"model": model, "optimizer": optimizer}
    if scheduler is not None:
        state["scheduler"] = scheduler
    meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}
    meta.update(tasks=list(names), loaders="joint" if joint else "per-task", world_size=info.world_size,
                **({"until": repr(until)} if until is not None else {}),
                data={k: [_safe_len(s.loader.dataset), s.loader.batch_size] for k, s in streams.items()})
    free = {"iterations", "eval_every", "checkpoint_every", "log_every", "device"}  # may change between sessions
    return run_loop(step, iterations=config.iterations, state=state, streams=streams, run_dir=run_dir,
                    checkpoint_every=config.checkpoint_every, log_every=config.log_every, eval_fn=eval_fn,
                    eval_every=config.eval_every, resume=resume, progress=progress, desc=desc, dist_info=info,
                    meta=meta, match_meta=[k for k in meta if k not in free], stop_fn=stop_fn)


@torch.no_grad()
def evaluate(model: nn.Module, tasks: Any, loader: DataLoader, device: str | torch.device | None = None,
             max_batches: int | None = None, forward_kw: Mapping[str, Any] | None = None
             ) -> dict[str, dict[str, float]]:
    """Evaluate every task over a loader (eval mode, no grad; modes and the torch RNG are restored).

    Args:
        model: ``forward(x) -> {task: pred}``.
        tasks: dict name -> task or a list of tasks; each task's ``evaluator()`` accumulates over the loader.
        loader: batches with ``image`` and the tasks' targets.
        device: where to run; default the device of the model's parameters.
        max_batches: stop after this many batches (``None``: the whole loader).
        forward_kw: extra keyword arguments of every forward (e.g. ``{"mode": "hard"}``).

    Returns:
        ``{task: {metric: value}}`` from each evaluator's ``compute()``.
    """
    tasks = _task_dict(tasks)
    model = _unwrap(model)
    if device is None:
        p = next(iter(model.parameters()), None)
        device = p.device if p is not None else torch.device("cpu")
    else:
        device = resolve_device(device)
    model.to(device)
    names, takes_tasks = tuple(tasks), _takes_tasks(model)
    evaluators = {t: tasks[t].evaluator() for t in names}
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):  # evaluation must not move the training RNG
            for n, batch in enumerate(loader):
                if max_batches is not None and n >= max_batches:
                    break
                batch = to_device(batch, device)
                preds = _predict(model, batch["image"], names, takes_tasks, forward_kw)
                for t in names:
                    evaluators[t].update(preds[t], batch)
    finally:
        for m, mode in modes.items():
            m.training = mode
    return {t: {k: float(v) for k, v in evaluators[t].compute().items()} for t in names}
