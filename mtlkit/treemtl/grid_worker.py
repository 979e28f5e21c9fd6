"""The worker side of the two-task grid: one entry trained by any executor, and what ``grid --status`` reads.

:func:`run_entry` is the unit of work :meth:`TwoTaskGrid.run_on <mtlkit.treemtl.grid.TwoTaskGrid.run_on>` sends to
an executor (:mod:`mtlkit.executors`): it opens the grid from its folder, trains one entry resumably
(:func:`~mtlkit.treemtl.experiment.train_entry`: checkpoints and ``result.json`` written atomically, the run folder
locked while it trains) and leaves two small files for the status:

* ``DIR/entries/<entry>/worker.json`` — host, pid and start time of the process training it (removed at the end);
* ``DIR/entries/<entry>/error.json`` — the last failure: the error's first line and the traceback (removed when the
  entry finishes).

:func:`live_worker` tells whether an entry is being trained right now: its run lock is held on this machine, or
``worker.json`` names a live process here or a process on another host.
"""
from __future__ import annotations

import json
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from mtlkit.treemtl.experiment import _write_json, train_entry
from mtlkit.treemtl.layout import Layout

__all__ = ["run_entry", "live_worker", "read_json", "ENTRY_STATES", "WORKER_NAME", "ERROR_NAME"]

WORKER_NAME = "worker.json"
ERROR_NAME = "error.json"
#: What ``grid --status`` reports per entry.
ENTRY_STATES = ("done", "running", "partial", "failed", "pending")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def live_worker(entry_dir: Path) -> str | None:
    """``host:pid`` of the process training an entry, or None (the lock is free and no live worker is recorded)."""
    lock = entry_dir / "run" / ".lock"
    if lock.is_file():
        try:
            import fcntl

            with open(lock, "a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(handle, fcntl.LOCK_UN)
                except BlockingIOError:
                    w = read_json(entry_dir / WORKER_NAME) or {}
                    return f"{w.get('host', socket.gethostname())}:{w.get('pid', '?')} (holds the run lock)"
        except ImportError:
            pass
    w = read_json(entry_dir / WORKER_NAME)
    if not w:
        return None
    if w.get("host") != socket.gethostname():
        return f"{w.get('host')}:{w.get('pid')} (another host, since {w.get('started', '?')})"
    try:
        os.kill(int(w["pid"]), 0)
    except ProcessLookupError:
        return None                      # the recorded worker is gone (killed): not running
    except (PermissionError, KeyError, ValueError, TypeError):
        pass
    return f"{w['host']}:{w['pid']}"


_PROCESS_DATA: dict[str, Any] = {}     # a worker keeps the data of the last experiment it trained


def run_entry(directory: str, index: int, *, device: str = "cpu", checkpoint_every: int | None = None,
              num_workers: int = 0) -> dict:
    """Train entry ``index`` of the grid in ``directory``: the unit of work the executors run.

    Reads the spec from ``directory/grid.json``; returns at once for a finished entry, resumes a partial one. It
    holds the entry's run lock from the check to the result, so two workers given the same entry (two executors on
    one folder) train it once: the second waits and returns the first one's result, unchanged. While it trains,
    ``worker.json`` names the process (host, pid); a failure is recorded in ``error.json`` (the error's first line
    and the traceback) and raised; a success removes both files.

    Returns:
        The entry's result (:func:`mtlkit.treemtl.experiment.train_entry`).
    """
    from mtlkit.files import locked
    from mtlkit.treemtl.grid import TwoTaskGrid

    grid = TwoTaskGrid(directory)
    e = grid.entries[index]
    d = grid.entry_dir(e)
    if grid.result(e) is None:
        d.mkdir(parents=True, exist_ok=True)
        with locked(d / "run" / ".lock"):      # the lock training takes (re-entrant): a second worker waits here
            return _train_locked(grid, e, d, device, checkpoint_every, num_workers)
    return grid.result(e)


def _train_locked(grid, e, d: Path, device: str, checkpoint_every: int | None, num_workers: int) -> dict:
    done = grid.result(e)
    if done is not None:                    # finished while this worker waited for the lock: never rewritten
        return done
    _write_json(d / WORKER_NAME, dict(host=socket.gethostname(), pid=os.getpid(),
                                      started=time.strftime("%Y-%m-%d %H:%M:%S")))
    try:
        key = json.dumps([grid.spec.to_dict(), num_workers], sort_keys=True)
        if key not in _PROCESS_DATA:
            _PROCESS_DATA.clear()
            _PROCESS_DATA[key] = grid.spec.load_data(num_workers)
        names = tuple(grid.spec.tasks[t] for t in e.pair)
        layout = Layout.from_branch_points(2, grid.B, [e.branch])
        result = train_entry(grid.spec, layout, names, d, _PROCESS_DATA[key], device=device, progress=False,
                             checkpoint_every=checkpoint_every,
                             extra=dict(entry=e.index, pair=list(e.pair), branch=e.branch))
    except Exception as exc:
        from mtlkit.executors import first_line

        _write_json(d / ERROR_NAME, dict(error=first_line(exc), traceback=traceback.format_exc(),
                                         host=socket.gethostname(), pid=os.getpid()))
        (d / WORKER_NAME).unlink(missing_ok=True)
        raise
    (d / ERROR_NAME).unlink(missing_ok=True)
    (d / WORKER_NAME).unlink(missing_ok=True)
    return result
