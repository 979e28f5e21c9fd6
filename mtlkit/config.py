"""Shared configuration helpers: scales and parameter-cell validation for notebooks."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

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
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
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
