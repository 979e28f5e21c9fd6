"""Shared configuration helpers: scales and parameter-cell validation for notebooks."""
from __future__ import annotations

from pathlib import Path

from mtlkit.checks import check_nonnegative_int
from mtlkit.errors import ConfigError

SCALES = ("smoke", "cpu", "paper")
DEVICES = ("cpu", "cuda")


def check_scale(scale: str) -> str:
    """Validate a ``scale`` parameter: "smoke" (tests), "cpu" (the main job) or "paper" (GPU, real data)."""
    if scale not in SCALES:
        raise ConfigError(f"scale must be one of {SCALES}, got {scale!r}")
    return scale


def check_params(scale: str, seed: int, device: str, out_dir: str | Path) -> Path:
    """Validate the four parameters every notebook has; returns ``out_dir`` as a created Path."""
    check_scale(scale)
    check_nonnegative_int(seed, "seed")
    if not (device in DEVICES or str(device).startswith("cuda:")):
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device != "cpu":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"device={device!r} was asked for but torch.cuda.is_available() is False")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out
