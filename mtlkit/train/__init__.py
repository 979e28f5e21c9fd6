"""Training machinery: seeding, devices, a resumable iteration loop, multi-task ``train``/``evaluate``, DDP.

Layers, from generic to specific:

* :func:`seed_everything`, :func:`resolve_device`, :func:`init_distributed` — the environment.
* :class:`DataStream` — an endless, **resumable** iterator over a ``DataLoader``: epoch ``e`` of stream ``k`` is
  shuffled by the loader's generator re-seeded from ``(seed, k, e)``, so the data position is two integers
  (epoch, batches consumed) and resuming replays exactly the batches an uninterrupted run would see.
* :func:`run_loop` — the generic loop every stage reuses (plain training, AutoMTL's pre-/policy-/post-train with
  two optimizers, TreeMTL's two-task grid): it counts iterations, calls ``step_fn(iteration)``, logs to CSV,
  shows a ``tqdm.auto`` bar, evaluates, and writes **atomic checkpoints** (temp file + ``os.replace``) with any
  ``state_dict``-able objects, plain dicts, the data streams and the RNG states (torch, numpy, random);
  none inside :func:`checkpoints_off` (the dry run's runs that are never resumed).
* :func:`train` / :func:`evaluate` — multi-task training of a model whose ``forward(x)`` returns
  ``{task: prediction}``, from one joint loader or one loader per task.

Under ``torchrun`` (``WORLD_SIZE > 1``) :func:`train` initialises the process group (gloo on CPU, nccl on CUDA),
wraps the model in ``DistributedDataParallel`` and gives each rank a contiguous shard of every global batch (all
ranks draw the same global batch), so the update equals a one-process run on the global batch for batch-independent
layers. BatchNorm normalises each rank's shard (the usual DDP behaviour). Only rank 0 writes checkpoints, CSV files
and the progress bar.

The package's modules, one job each: :mod:`~mtlkit.train.config` (seeds, devices, :class:`TrainConfig`),
:mod:`~mtlkit.train.distributed`, :mod:`~mtlkit.train.stream`, :mod:`~mtlkit.train.checkpoint` (checkpoints,
RNG state, CSV logs), :mod:`~mtlkit.train.loop` (:func:`run_loop`) and :mod:`~mtlkit.train.fit` (:func:`train`,
:func:`evaluate`). Everything public is importable from ``mtlkit.train`` itself.
"""
from __future__ import annotations

from mtlkit.train.checkpoint import (CHECKPOINT_NAME, EVAL_LOG, TRAIN_LOG, History, check_finite, load_checkpoint,
                                     save_checkpoint)
from mtlkit.train.config import (TrainConfig, build_optimizer, build_scheduler, check_device_string,
                                 list_optimizers, resolve_device, seed_everything)
from mtlkit.train.distributed import DistInfo, cleanup_distributed, init_distributed, shard_batch, to_device
from mtlkit.train.fit import evaluate, train
from mtlkit.train.loop import checkpoints_off, run_loop
from mtlkit.train.stream import DataStream

__all__ = [
    "seed_everything", "resolve_device", "check_device_string", "TrainConfig", "list_optimizers", "build_optimizer",
    "build_scheduler",
    "DistInfo", "init_distributed", "cleanup_distributed", "shard_batch", "to_device", "DataStream",
    "History", "run_loop", "checkpoints_off", "save_checkpoint", "load_checkpoint", "check_finite", "train",
    "evaluate",
    "CHECKPOINT_NAME", "TRAIN_LOG", "EVAL_LOG",
]
