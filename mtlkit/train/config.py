"""Training settings: seeding, devices and :class:`TrainConfig` (optimiser, schedule, clipping)."""
from __future__ import annotations

import math
import os
import random
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch

from mtlkit.errors import ConfigError, unknown_name

__all__ = ["seed_everything", "resolve_device", "check_device_string", "TrainConfig", "list_optimizers",
           "build_optimizer", "build_scheduler"]


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
    """Settings of one training run. Defaults follow AutoMTL's post-train optimiser (docs/automtl.md §3.4) without its schedule.

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
        """AutoMTL's post-train (docs/automtl.md §3.4): 30 k iterations, Adam 1e-3, betas (0.5, 0.999), wd 1e-4, ×0.5 / 4 k."""
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
