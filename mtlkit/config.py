"""Shared configuration helpers: scales and the validation of notebooks' and reproductions' parameter cells."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from mtlkit.checks import check_nonnegative_int
from mtlkit.errors import ConfigError

SCALES = ("smoke", "cpu", "paper")
DEVICES = ("cpu", "cuda")


def check_scale(scale: str) -> str:
    """Validate a ``scale`` parameter: "smoke" (tests), "cpu" (the main job) or "paper" (GPU, real data).

    In a notebook executed by papermill it also stops the run on parameters the notebook does not declare
    (:func:`check_injected_parameters`); every notebook's validation cell calls this.
    """
    check_injected_parameters()
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


_INJECTED = "# Parameters"   # papermill's first line of the cell it injects after the ``parameters`` cell


def _assigned(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)]


def check_injected_parameters() -> None:
    """Stop a papermill run given a parameter that the notebook's ``parameters`` cell does not declare.

    papermill only warns about such a parameter (``-p sead 3`` runs the notebook with the default seed), whether it
    is started as ``papermill ...`` or by ``python -m mtlkit run``. Inside an IPython kernel this reads the cells run
    so far: the cell papermill injected (``# Parameters``) and the cell before it (the notebook's parameters cell);
    a name assigned in the first but not in the second is an error. Outside a kernel, or without an injected cell
    (a notebook run by hand), it does nothing.

    Raises:
        ConfigError: names the unknown parameters and the declared ones.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None:
        return
    history = list(shell.user_ns.get("_ih") or [])
    injected = [i for i, src in enumerate(history) if i > 0 and src.lstrip().startswith(_INJECTED)]
    if not injected:
        return
    i = injected[-1]
    declared = _assigned(history[i - 1])
    unknown = [n for n in _assigned(history[i]) if n not in declared]
    if unknown and declared:
        raise ConfigError(f"notebook parameters {unknown}: expected parameters declared in the notebook's "
                          f"parameters cell {declared}, got unknown ones (a typo such as 'sead' for 'seed'?); "
                          "papermill would run the notebook with the defaults, so the run stops here")


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
    if scale == "paper":  # refuse an empty or wrong data root before anything (a results row) is written
        from mtlkit.facts import DATASET_FACTS

        folders = [f.folder for f in DATASET_FACTS.values() if f.real]
        if not any((Path(data_root) / folder).is_dir() for folder in folders):
            raise FileNotFoundError(f"data_root={str(data_root)!r}: expected a folder holding at least one of "
                                    f"{', '.join(f + '/' for f in folders)} (see reproductions/README.md), got none")
    return check_params(scale, seed, device, out_dir)
