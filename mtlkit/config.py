"""Shared configuration helpers: scales and the validation of notebooks' and reproductions' parameter cells."""
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


def check_reproduction_params(scale: str, seed: int, device: str, out_dir: str | Path, *, backbone: str | None = None,
                              data_root: str | Path | None = None, cpu_backbone: str | None = None,
                              weights: str | Path | None = None) -> Path:
    """Validate a reproduction notebook's parameters cell, before anything runs.

    Args:
        scale, seed, device, out_dir: as :func:`mtlkit.config.check_params`.
        backbone: a :func:`mtlkit.backbones.list_backbones` name (checked when given).
        data_root: folder holding the real datasets; required at ``scale="paper"``, must exist when given.
        cpu_backbone: the stand-in backbone of the smoke/cpu scales (checked like ``backbone``).
        weights: optional local backbone weights file (must exist when given).

    Returns:
        ``out_dir`` as a created Path.

    Raises:
        ConfigError: a bad scale/seed/device, an unknown backbone, ``scale="paper"`` without ``data_root``.
        FileNotFoundError: ``data_root`` or ``weights`` does not exist.
    """
    check_scale(scale)
    for arg, name in (("backbone", backbone), ("cpu_backbone", cpu_backbone)):
        if name is not None:
            from mtlkit.backbones import list_backbones

            if name not in list_backbones():
                raise ConfigError(f"{arg}: unknown backbone {name!r}; valid backbones are: "
                                  f"{', '.join(list_backbones())}")
    if weights is not None and not Path(weights).is_file():
        raise FileNotFoundError(f"backbone weights file {str(weights)!r} does not exist (nothing is downloaded)")
    if scale == "paper" and data_root is None:
        raise ConfigError("scale='paper' trains on the real datasets: set data_root to the folder that holds "
                          "NYUv2/, Taskonomy/, CityScapes/ (see reproductions/README.md), e.g. "
                          "`papermill ... -p scale paper -p data_root /data/mtl`; got data_root=None")
    if data_root is not None and not Path(data_root).is_dir():
        raise FileNotFoundError(f"data_root={str(data_root)!r} is not a directory")
    return check_params(scale, seed, device, out_dir)
