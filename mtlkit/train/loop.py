"""The generic resumable loop every stage reuses: :func:`run_loop`."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from mtlkit.errors import ConfigError
from mtlkit.files import locked
from mtlkit.train.checkpoint import (_CKPT_FORMAT, CHECKPOINT_NAME, EVAL_LOG, TRAIN_LOG, History, _CsvLog, _flatten,
                                     _rng_state, _set_rng_state, load_checkpoint, save_checkpoint)
from mtlkit.train.distributed import DistInfo, _barrier
from mtlkit.train.stream import DataStream

__all__ = ["run_loop", "checkpoints_off"]

_CHECKPOINTS = [True]  # False inside :func:`checkpoints_off`


@contextlib.contextmanager
def checkpoints_off():
    """Inside the block :func:`run_loop` writes no checkpoint (logs and evaluations as usual), whatever its
    ``checkpoint_every``; outside it checkpoints as always.

    For runs that are never resumed and whose weights are used in memory, such as the paper-scale dry run
    (:mod:`mtlkit.dryrun`), where a checkpoint of a 100–250 M-parameter model costs seconds per write. A run
    trained in the block leaves no ``checkpoint.pt``, so calling it again trains it again instead of resuming.
    """
    before = _CHECKPOINTS[0]
    _CHECKPOINTS[0] = False
    try:
        yield
    finally:
        _CHECKPOINTS[0] = before


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
             match_meta: Sequence[str] = (), stop_fn: Callable[[list], bool] | None = None) -> History:
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
        stop_fn: ``stop_fn(eval_rows) -> bool`` after each evaluation; True ends the run there (checkpointed and
            marked stopped, so a resume returns at once): :mod:`mtlkit.convergence` trains until a plateau with it.

    Returns:
        The :class:`History`; ``iteration`` in every row is the number of completed iterations.

    Outside DDP the run holds an exclusive lock on ``run_dir`` (``fcntl.flock`` on ``run_dir/.lock``, where
    available): a second process asking for the same run (e.g. two notebooks run in parallel that share a cached
    run, :mod:`mtlkit.cache`) waits, then resumes the finished checkpoint instead of training it again.
    Inside :func:`checkpoints_off` no checkpoint is written.
    """
    info = dist_info or DistInfo()
    run_dir = Path(run_dir) if run_dir is not None else None
    with _run_dir_lock(run_dir if not info.enabled else None):
        states = {k: (_PlainDict(v) if isinstance(v, dict) else v) for k, v in (state or {}).items()}
        streams = dict(streams or {})
        ckpt_path = run_dir / CHECKPOINT_NAME if run_dir is not None else None
        write_checkpoints = _CHECKPOINTS[0]
        start, stopped = 0, None
        if stop_fn is not None and info.enabled:
            raise ConfigError("run_loop: stop_fn (training until a plateau) is not supported under DDP")
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
            stopped = ckpt.get("stopped_at")
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

        def save(done: int) -> None:
            if info.is_main:
                save_checkpoint(ckpt_path, {
                    "format": _CKPT_FORMAT, "iteration": done,
                    "state": {k: obj.state_dict() for k, obj in states.items()},
                    "streams": {k: s.state_dict() for k, s in streams.items()},
                    "rng": _rng_state(), "meta": dict(meta or {}), "stopped_at": stopped,
                })
            _barrier(info)

        try:
            for i in range(start, iterations if stopped is None else start):
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
                    if stop_fn is not None and stop_fn(eval_log.rows) and done < iterations:
                        stopped = done
                if ckpt_path is not None and write_checkpoints and (due(checkpoint_every, done)
                                                                    or stopped is not None):
                    save(done)
                if stopped is not None:
                    break
        finally:
            bar.close()
        return History(train=train_log.rows, eval=eval_log.rows, iterations=iterations, resumed_from=start,
                       stopped_at=stopped)
