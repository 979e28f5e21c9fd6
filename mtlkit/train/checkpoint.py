"""Checkpoints (atomic, ``weights_only``), the RNG states they carry, the CSV logs and the :class:`History`."""
from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from mtlkit.errors import ConfigError, TrainingDiverged

__all__ = ["CHECKPOINT_NAME", "TRAIN_LOG", "EVAL_LOG", "save_checkpoint", "load_checkpoint", "History",
           "check_finite"]

CHECKPOINT_NAME = "checkpoint.pt"
TRAIN_LOG = "train_log.csv"
EVAL_LOG = "eval_log.csv"
_CKPT_FORMAT = "mtlkit-checkpoint-v1"


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
    """Write ``payload`` with ``torch.save`` atomically (temp file, fsync, ``os.replace``) with its checksum.

    Stale temp files of killed writers in the same folder are removed (:mod:`mtlkit.integrity`).

    Args:
        path: target file.
        payload: tensors and plain Python containers/scalars.

    Returns:
        The path written.
    """
    from mtlkit.integrity import save_torch

    return save_torch(path, payload)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`run_loop` (``weights_only`` loading, CPU tensors, checksum verified).

    Raises:
        FileNotFoundError: no such file.
        mtlkit.integrity.CorruptFileError: empty, truncated, corrupt or changed since it was written (names the file
            and the remedy).
        ConfigError: a valid file that is not an mtlkit checkpoint.
    """
    from mtlkit.integrity import load_torch

    path = Path(path)
    ckpt = load_torch(path, remedy=f"delete it (or its run folder {str(path.parent)!r}, or resume with "
                                   "resume=False) to train that run afresh")
    if ckpt.get("format") != _CKPT_FORMAT:
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
    stopped_at: int | None = None  # the iteration a ``stop_fn`` (e.g. a plateau) ended the run at

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
