"""Training machinery: seeding, devices, a resumable iteration loop, multi-task ``train``/``evaluate``, DDP.

Layers, from generic to specific:

* :func:`seed_everything`, :func:`resolve_device`, :func:`init_distributed` — the environment.
* :class:`DataStream` — an endless, **resumable** iterator over a ``DataLoader``: epoch ``e`` of stream ``k`` is
  shuffled by the loader's generator re-seeded from ``(seed, k, e)``, so the data position is two integers
  (epoch, batches consumed) and resuming replays exactly the batches an uninterrupted run would see.
* :func:`run_loop` — the generic loop every stage reuses (plain training, AutoMTL's pre-/policy-/post-train with
  two optimizers, TreeMTL's two-task grid): it counts iterations, calls ``step_fn(iteration)``, logs to CSV,
  shows a ``tqdm.auto`` bar, evaluates, and writes **atomic checkpoints** (temp file + ``os.replace``) with any
  ``state_dict``-able objects, plain dicts, the data streams and the RNG states (torch, numpy, random).
* :func:`train` / :func:`evaluate` — multi-task training of a model whose ``forward(x)`` returns
  ``{task: prediction}``, from one joint loader or one loader per task.

Under ``torchrun`` (``WORLD_SIZE > 1``) :func:`train` initialises the process group (gloo on CPU, nccl on CUDA),
wraps the model in ``DistributedDataParallel`` and gives each rank a contiguous shard of every global batch (all
ranks draw the same global batch), so the update equals a one-process run on the global batch for batch-independent
layers. BatchNorm normalises each rank's shard (the usual DDP behaviour). Only rank 0 writes checkpoints, CSV files
and the progress bar.
"""
from __future__ import annotations

import contextlib
import csv
import inspect
import math
import os
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from mtlkit.errors import ConfigError, DataError, TrainingDiverged, unknown_name
from mtlkit.files import atomic_write, locked

__all__ = [
    "seed_everything", "resolve_device", "check_device_string", "TrainConfig", "list_optimizers", "build_optimizer",
    "build_scheduler",
    "DistInfo", "init_distributed", "cleanup_distributed", "shard_batch", "to_device", "DataStream",
    "History", "run_loop", "save_checkpoint", "load_checkpoint", "check_finite", "train", "evaluate",
    "CHECKPOINT_NAME", "TRAIN_LOG", "EVAL_LOG",
]

CHECKPOINT_NAME = "checkpoint.pt"
TRAIN_LOG = "train_log.csv"
EVAL_LOG = "eval_log.csv"
_CKPT_FORMAT = "mtlkit-checkpoint-v1"


# ---------------------------------------------------------------------------------------------------- environment
def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed ``random``, ``numpy`` and torch (CPU and all CUDA devices); optionally ask for deterministic kernels.

    Args:
        seed: a non-negative int.
        deterministic: ``torch.use_deterministic_algorithms(True, warn_only=True)`` and no cuDNN benchmarking.

    Returns:
        A fresh ``torch.Generator`` seeded with ``seed`` (pass it to ``DataLoader(generator=...)``).
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA initialises
    _seed_rngs(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic
    return torch.Generator().manual_seed(seed)


def _seed_rngs(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


_DEVICE_RE = re.compile(r"^(cpu|cuda)(:\d+)?$")


def check_device_string(device: Any) -> str:
    """Check the syntax of a device string (``"cpu"``, ``"cuda"`` or ``"cuda:N"``) without touching CUDA."""
    text = str(device)
    if not _DEVICE_RE.match(text) or text.startswith("cpu:"):
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return text


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """Turn ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a ``torch.device``, checking that it exists.

    Args:
        device: the device string (or a ``torch.device``).

    Returns:
        The ``torch.device``.

    Raises:
        ConfigError: malformed string, CUDA asked for but unavailable, or ``N`` out of range.
    """
    dev = torch.device(check_device_string(device))
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={str(device)!r} was asked for but torch.cuda.is_available() is False")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device={str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev


# --------------------------------------------------------------------------------------------------------- config
_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda params, c: torch.optim.Adam(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay),
    "adamw": lambda params, c: torch.optim.AdamW(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay),
    "sgd": lambda params, c: torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay),
}


def list_optimizers() -> list[str]:
    """Names accepted by ``TrainConfig.optimizer``."""
    return sorted(_OPTIMIZERS)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run. Defaults follow AutoMTL's post-train optimiser (spec §3.4) without its schedule.

    Attributes:
        iterations: optimizer steps (not epochs).
        lr: learning rate.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        betas: Adam betas ((0.5, 0.999) in AutoMTL).
        momentum: SGD momentum.
        weight_decay: L2 penalty (1e-4 in AutoMTL).
        lr_step: ``StepLR`` step size in iterations (``None``: constant lr); the scheduler steps every iteration.
        lr_gamma: ``StepLR`` factor.
        loss_weights: task -> weight λ_t of its loss (missing tasks weigh 1).
        eval_every: evaluate every N iterations and at the end when an eval loader is given (0: only at the end).
        checkpoint_every: checkpoint every N iterations (0: only at the end); needs a ``run_dir``.
        log_every: write a CSV row / update the bar every N iterations (and at the end).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: seeds the RNGs at the start of training and the data order.
        grad_clip: max global gradient norm (``None``: no clipping).
    """

    iterations: int = 1000
    lr: float = 1e-3
    optimizer: str = "adam"
    betas: tuple[float, float] = (0.5, 0.999)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_step: int | None = None
    lr_gamma: float = 0.5
    loss_weights: Mapping[str, float] | None = None
    eval_every: int = 0
    checkpoint_every: int = 500
    log_every: int = 10
    device: str = "cpu"
    seed: int = 0
    grad_clip: float | None = None

    def __post_init__(self):
        def bad(arg, expected):
            raise ConfigError(f"TrainConfig.{arg} must be {expected}, got {getattr(self, arg)!r}")

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        if not is_int(self.iterations) or self.iterations < 1:
            bad("iterations", "a positive int")
        for arg in ("eval_every", "checkpoint_every", "log_every"):
            if not is_int(getattr(self, arg)) or getattr(self, arg) < 0:
                bad(arg, "a non-negative int")
        if not is_int(self.seed) or self.seed < 0:
            bad("seed", "a non-negative int")
        if not isinstance(self.lr, (int, float)) or not (self.lr > 0 and math.isfinite(self.lr)):
            bad("lr", "a positive finite number")
        if self.optimizer not in _OPTIMIZERS:
            raise unknown_name("optimizer", self.optimizer, _OPTIMIZERS)
        if len(tuple(self.betas)) != 2 or not all(0 <= b < 1 for b in self.betas):
            bad("betas", "two numbers in [0, 1)")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.lr_step is not None and (not is_int(self.lr_step) or self.lr_step < 1):
            bad("lr_step", "None or a positive int")
        if not 0 < self.lr_gamma <= 1:
            bad("lr_gamma", "a number in (0, 1]")
        if self.weight_decay < 0 or self.momentum < 0:
            bad("weight_decay" if self.weight_decay < 0 else "momentum", "non-negative")
        if self.grad_clip is not None and not self.grad_clip > 0:
            bad("grad_clip", "None or a positive number")
        if self.loss_weights is not None:
            if not isinstance(self.loss_weights, Mapping):
                bad("loss_weights", "None or a dict task -> weight")
            for k, w in self.loss_weights.items():
                if not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                    raise ConfigError(f"TrainConfig.loss_weights[{k!r}] must be a finite number >= 0, got {w!r}")
            object.__setattr__(self, "loss_weights", dict(self.loss_weights))
        check_device_string(self.device)

    @classmethod
    def automtl_post_train(cls, **overrides) -> "TrainConfig":
        """AutoMTL's post-train (spec §3.4): 30 k iterations, Adam 1e-3, betas (0.5, 0.999), wd 1e-4, ×0.5 / 4 k."""
        base = dict(iterations=30_000, lr=1e-3, optimizer="adam", betas=(0.5, 0.999), weight_decay=1e-4,
                    lr_step=4000, lr_gamma=0.5)
        return cls(**{**base, **overrides})


def build_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optimizer`` over ``params`` with the config's lr/betas/momentum/wd."""
    return _OPTIMIZERS[config.optimizer](params, config)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """``StepLR(lr_step, lr_gamma)`` stepped once per iteration, or ``None`` when ``config.lr_step`` is ``None``."""
    if config.lr_step is None:
        return None
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)


# ---------------------------------------------------------------------------------------------------- distributed
@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size`` and its device (``world_size == 1``: no DDP)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str | torch.device = "cpu") -> DistInfo:
    """Read ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` (set by ``torchrun``) and initialise the process group once.

    Args:
        device: the requested device; under torchrun with CUDA each rank uses ``cuda:LOCAL_RANK``.

    Returns:
        The :class:`DistInfo` (``world_size == 1`` outside torchrun).
    """
    dev = resolve_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=dev)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def cleanup_distributed() -> None:
    """Destroy the default process group if one is initialised (call once at the end of a torchrun script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shard_batch(batch: Mapping[str, Any], rank: int, world_size: int) -> dict[str, Any]:
    """This rank's contiguous slice of a global batch (tensors and lists split along dimension 0).

    Args:
        batch: dict of tensors ``(B, ...)`` (and optionally lists of length ``B``).
        rank: this process's rank.
        world_size: number of processes.

    Returns:
        The shard; shards differ by at most one sample when ``B`` is not a multiple of ``world_size``.
    """
    if world_size == 1:
        return dict(batch)
    sizes = {len(v) for v in batch.values() if torch.is_tensor(v) or isinstance(v, list)}
    if len(sizes) != 1:
        raise DataError(f"cannot shard a batch whose entries have different lengths {sorted(sizes)}")
    b = sizes.pop()
    if b < world_size:
        raise DataError(f"global batch of {b} samples cannot be split over {world_size} processes; "
                        f"use a batch size >= world size")
    bounds = np.linspace(0, b, world_size + 1).round().astype(int)
    lo, hi = int(bounds[rank]), int(bounds[rank + 1])
    return {k: v[lo:hi] if (torch.is_tensor(v) or isinstance(v, list)) else v for k, v in batch.items()}


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Move every tensor of a batch dict to ``device``."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


# --------------------------------------------------------------------------------------------------- data streams
class DataStream:
    """Endless iteration over a ``DataLoader`` whose position is ``(epoch, batches consumed)``.

    Before each epoch the loader's generator is re-seeded from ``(seed, stream_id, epoch)`` (a generator is attached
    if the loader has none; a ``DistributedSampler`` gets ``set_epoch``), so the shuffling of every epoch is a pure
    function of those integers. An exhausted epoch starts the next one (the original AutoMTL code instead skipped
    the task for that iteration). :meth:`load_state_dict` replays the current epoch up to the saved position, which
    loads (and discards) at most one epoch of batches.

    Args:
        loader: the ``DataLoader``. With ``shuffle=True`` its ``RandomSampler`` is driven by the loader's generator.
        seed: base seed of the data order.
        stream_id: distinguishes the streams of one run (e.g. the task index).
        name: used in error messages.
    """

    def __init__(self, loader: DataLoader, seed: int = 0, stream_id: int = 0, name: str = "data"):
        if not isinstance(loader, DataLoader):
            raise ConfigError(f"loader for {name!r} must be a torch DataLoader, got {type(loader).__name__}")
        self.loader, self.seed, self.stream_id, self.name = loader, seed, stream_id, name
        self.epoch, self.position = 0, 0
        self._it = None
        if loader.generator is None:
            loader.generator = torch.Generator()
        if isinstance(loader.sampler, RandomSampler) and loader.sampler.generator is not loader.generator:
            loader.sampler.generator = loader.generator

    @property
    def shards_itself(self) -> bool:
        """True when the loader already gives per-rank batches (a ``DistributedSampler``)."""
        return isinstance(self.loader.sampler, DistributedSampler)

    def _epoch_seed(self, epoch: int) -> int:
        return int(np.random.SeedSequence([self.seed, self.stream_id, epoch]).generate_state(1, np.uint64)[0])

    def _start_epoch(self, epoch: int) -> None:
        self.epoch, self.position = epoch, 0
        self.loader.generator.manual_seed(self._epoch_seed(epoch))
        if isinstance(self.loader.sampler, DistributedSampler):
            self.loader.sampler.set_epoch(epoch)
        self._it = iter(self.loader)

    def next(self) -> Any:
        """The next batch, starting a new epoch when the current one is exhausted."""
        if self._it is None:
            self._start_epoch(self.epoch)
        try:
            batch = next(self._it)
        except StopIteration:
            self._start_epoch(self.epoch + 1)
            try:
                batch = next(self._it)
            except StopIteration:
                raise DataError(f"loader {self.name!r} yields no batches (empty dataset, or drop_last with fewer "
                                f"samples than batch_size)") from None
        self.position += 1
        return batch

    __next__ = next

    def __iter__(self):
        return self

    def state_dict(self) -> dict[str, int]:
        """``{"epoch": e, "position": batches consumed in epoch e}``."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Jump to a saved position: re-create epoch ``e``'s iterator and consume ``position`` batches."""
        epoch, position = int(state["epoch"]), int(state["position"])
        self._start_epoch(epoch)
        for _ in range(position):
            try:
                next(self._it)
            except StopIteration:
                break  # the epoch ended exactly at the checkpoint; next() starts the following one
        self.position = position


# ------------------------------------------------------------------------------------------------ RNG, checkpoints
def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(_py, np_state[2:])),
        "random": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _py(v):
    return v.item() if hasattr(v, "item") else v


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(_tuplify(state["random"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` with ``torch.save`` atomically: a temp file in the same directory, fsync, ``os.replace``.

    Args:
        path: target file.
        payload: tensors and plain Python containers/scalars.

    Returns:
        The path written.
    """
    return atomic_write(path, lambda f: torch.save(dict(payload), f))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`run_loop` (``weights_only`` loading, CPU tensors)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != _CKPT_FORMAT:
        raise ConfigError(f"{str(path)!r} is not an mtlkit checkpoint (format {_CKPT_FORMAT!r})")
    return ckpt


# --------------------------------------------------------------------------------------------------------- logging
@dataclass(frozen=True)
class History:
    """What a run logged: one dict per logged iteration (``train``) and per evaluation (``eval``).

    Rows restored from ``run_dir`` on resume come first. :meth:`train_frame`/:meth:`eval_frame` give DataFrames.
    """

    train: list[dict[str, float]]
    eval: list[dict[str, float]]
    iterations: int
    resumed_from: int = 0

    def train_frame(self):
        """``train`` as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.train)

    def eval_frame(self):
        """``eval`` as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.eval)


class _CsvLog:
    """Append-only CSV of dict rows; on resume keeps the rows with ``iteration <= start``."""

    def __init__(self, path: Path | None, start: int, keep: bool):
        self.path, self.rows, self.fields = path, [], None
        if path is None:
            return
        if keep and start > 0 and path.is_file():
            with open(path, newline="") as f:
                self.rows = [{k: _num(v) for k, v in r.items()} for r in csv.DictReader(f)
                             if int(float(r["iteration"])) <= start]
        self._rewrite()

    def _rewrite(self) -> None:
        self.fields = list(dict.fromkeys(k for r in self.rows for k in r)) or None
        with open(self.path, "w", newline="") as f:
            if self.fields:
                w = csv.DictWriter(f, fieldnames=self.fields)
                w.writeheader()
                w.writerows(self.rows)

    def append(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        if self.path is None:
            return
        if self.fields is None or set(row) - set(self.fields):
            self._rewrite()  # new columns: rewrite with the widened header
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields).writerow(row)


def _num(v: str):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return v
    return int(x) if x.is_integer() and "." not in v and "e" not in v.lower() else x


def _flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = float(v)
    return out


def check_finite(losses: Mapping[str, torch.Tensor | float], iteration: int) -> None:
    """Raise :class:`TrainingDiverged` naming the first task whose loss is NaN or infinite.

    Args:
        losses: task -> loss value.
        iteration: 1-based iteration number, for the message.
    """
    for name, value in losses.items():
        v = float(value.detach()) if torch.is_tensor(value) else float(value)
        if not math.isfinite(v):
            raise TrainingDiverged(f"loss of task {name!r} is {v} at iteration {iteration}; lower the learning "
                                   f"rate, clip gradients (TrainConfig.grad_clip) or check the targets")


# ------------------------------------------------------------------------------------------------------ the loop
def _run_dir_lock(run_dir: Path | None):
    """An exclusive lock on ``run_dir/.lock`` (:func:`mtlkit.files.locked`; a no-op without a run dir)."""
    if run_dir is None:
        return contextlib.nullcontext()
    run_dir.mkdir(parents=True, exist_ok=True)
    return locked(run_dir / ".lock")


class _PlainDict:
    """Checkpoints a plain dict in place (so loops can keep e.g. ``{"tau": 5.0}`` next to the modules)."""

    def __init__(self, d: dict):
        self.d = d

    def state_dict(self):
        return dict(self.d)

    def load_state_dict(self, s):
        self.d.clear()
        self.d.update(s)


def run_loop(step_fn: Callable[[int], Mapping[str, float]], *, iterations: int,
             state: Mapping[str, Any] | None = None, streams: Mapping[str, DataStream] | None = None,
             run_dir: str | Path | None = None, checkpoint_every: int = 0, log_every: int = 10,
             eval_fn: Callable[[int], Mapping[str, Any]] | None = None, eval_every: int = 0,
             resume: bool = True, progress: bool = True, desc: str = "train",
             dist_info: DistInfo | None = None, meta: Mapping[str, Any] | None = None,
             match_meta: Sequence[str] = ()) -> History:
    """Run ``step_fn`` for iterations ``start .. iterations-1``, with logging, evaluation and checkpoints.

    Args:
        step_fn: ``step_fn(i)`` runs iteration ``i`` (0-based) and returns scalars to log (losses, lr, ...).
        iterations: total number of iterations of the run (a resumed run continues up to it).
        state: name -> object with ``state_dict``/``load_state_dict`` (models, optimizers, schedulers) or a plain
            ``dict`` (restored in place) — everything a resume must restore besides data and RNG.
        streams: name -> :class:`DataStream`; their positions are checkpointed.
        run_dir: where ``checkpoint.pt``, ``train_log.csv`` and ``eval_log.csv`` go (``None``: nothing written).
        checkpoint_every: checkpoint every N completed iterations (0: only at the end); always at the end.
        log_every: log a row every N iterations (and at the last one); 0 logs only the last one.
        eval_fn: ``eval_fn(done)`` -> metrics (nested dicts are flattened to ``task/metric`` columns).
        eval_every: evaluate every N iterations (0: only at the end, if ``eval_fn`` is given).
        resume: continue from ``run_dir/checkpoint.pt`` when it exists.
        progress: show a ``tqdm.auto`` bar (rank 0 only).
        desc: bar label.
        dist_info: the process's :class:`DistInfo`; only rank 0 writes files.
        meta: plain values stored in the checkpoint for the record (e.g. the config).
        match_meta: keys of ``meta`` that must equal the checkpoint's to resume (else a ``ConfigError``), so a
            changed configuration never silently continues an old run.

    Returns:
        The :class:`History`; ``iteration`` in every row is the number of completed iterations.

    Outside DDP the run holds an exclusive lock on ``run_dir`` (``fcntl.flock`` on ``run_dir/.lock``, where
    available): a second process asking for the same run (e.g. two notebooks run in parallel that share a cached
    run, :mod:`mtlkit.cache`) waits, then resumes the finished checkpoint instead of training it again.
    """
    info = dist_info or DistInfo()
    run_dir = Path(run_dir) if run_dir is not None else None
    with _run_dir_lock(run_dir if not info.enabled else None):
        states = {k: (_PlainDict(v) if isinstance(v, dict) else v) for k, v in (state or {}).items()}
        streams = dict(streams or {})
        ckpt_path = run_dir / CHECKPOINT_NAME if run_dir is not None else None
        start = 0
        if resume and ckpt_path is not None and ckpt_path.is_file():
            ckpt = load_checkpoint(ckpt_path)
            old = ckpt.get("meta", {})
            new = dict(meta or {})
            changed = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in match_meta if old.get(k) != new.get(k)]
            if changed:
                raise ConfigError(f"run_dir {str(run_dir)!r} holds a checkpoint of a different run "
                                  f"({'; '.join(changed)}); use resume=False to start over or another run_dir")
            missing = sorted((set(states) - set(ckpt["state"])) | (set(streams) - set(ckpt["streams"])))
            if missing:
                raise ConfigError(f"checkpoint {str(ckpt_path)!r} has no state for {missing}; "
                                  f"use another run_dir or resume=False")
            for k, obj in states.items():
                try:
                    obj.load_state_dict(ckpt["state"][k])
                except (RuntimeError, ValueError, KeyError) as exc:
                    first_line = str(exc).splitlines()[0][:300]
                    raise ConfigError(f"checkpoint {str(ckpt_path)!r}: state {k!r} does not fit the current object "
                                      f"({first_line}); use resume=False or another run_dir") from None
            for k, s in streams.items():
                s.load_state_dict(ckpt["streams"][k])  # may consume RNG (dataset transforms): restore RNG after
            _set_rng_state(ckpt["rng"])
            start = int(ckpt["iteration"])
        writer = info.is_main and run_dir is not None
        if writer:
            run_dir.mkdir(parents=True, exist_ok=True)
        train_log = _CsvLog(run_dir / TRAIN_LOG if writer else None, start, keep=start > 0)
        eval_log = _CsvLog(run_dir / EVAL_LOG if writer and eval_fn is not None else None, start, keep=start > 0)

        from tqdm.auto import tqdm

        bar = tqdm(total=iterations, initial=start, desc=desc, disable=not (progress and info.is_main),
                   dynamic_ncols=True)
        t0 = time.perf_counter()

        def due(every: int, done: int) -> bool:
            return done == iterations or (every > 0 and done % every == 0)

        try:
            for i in range(start, iterations):
                logs = dict(step_fn(i))
                done = i + 1
                bar.update(1)
                if due(log_every, done):
                    row = {"iteration": done, **{k: float(v) for k, v in logs.items()},
                           "time_s": round(time.perf_counter() - t0, 3)}
                    train_log.append(row)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k.startswith("loss")}, refresh=False)
                if eval_fn is not None and due(eval_every, done):
                    if info.is_main:
                        eval_log.append({"iteration": done, **_flatten(eval_fn(done))})
                    _barrier(info)
                if ckpt_path is not None and due(checkpoint_every, done):
                    if info.is_main:
                        save_checkpoint(ckpt_path, {
                            "format": _CKPT_FORMAT, "iteration": done,
                            "state": {k: obj.state_dict() for k, obj in states.items()},
                            "streams": {k: s.state_dict() for k, s in streams.items()},
                            "rng": _rng_state(), "meta": dict(meta or {}),
                        })
                    _barrier(info)
        finally:
            bar.close()
        return History(train=train_log.rows, eval=eval_log.rows, iterations=iterations, resumed_from=start)


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
          params: Sequence[nn.Parameter] | None = None, desc: str = "train") -> History:
    """Train a multi-task model for ``config.iterations`` optimizer steps.

    Each iteration: with one joint loader, one batch holding every task's targets, one forward, the weighted sum
    ``Σ λ_t L_t`` backpropagated; with a dict task -> loader, each task draws its own batch and runs its own
    forward (only its head when the model's ``forward`` takes ``tasks=``), the weighted losses' gradients are summed
    and one optimizer step follows (the original AutoMTL stepped once per task instead, spec §3.1).

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

    state = {"model": model, "optimizer": optimizer}
    if scheduler is not None:
        state["scheduler"] = scheduler
    meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}
    meta.update(tasks=list(names), loaders="joint" if joint else "per-task", world_size=info.world_size,
                data={k: [_safe_len(s.loader.dataset), s.loader.batch_size] for k, s in streams.items()})
    free = {"iterations", "eval_every", "checkpoint_every", "log_every", "device"}  # may change between sessions
    return run_loop(step, iterations=config.iterations, state=state, streams=streams, run_dir=run_dir,
                    checkpoint_every=config.checkpoint_every, log_every=config.log_every, eval_fn=eval_fn,
                    eval_every=config.eval_every, resume=resume, progress=progress, desc=desc, dist_info=info,
                    meta=meta, match_meta=[k for k in meta if k not in free])


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
