"""Executors: where independent runs go — this process, a local process pool, a Ray cluster or Slurm job arrays.

A study of mtlkit is made of independent runs (the entries of TreeMTL's two-task grid, seeds, sweeps, the layouts
of the oracle study). Each run is a :class:`Run`: a module-level function with plain arguments that is resumable
and idempotent by itself (it trains in its own folder, checkpoints atomically and records its result atomically, as
:func:`mtlkit.treemtl.experiment.train_entry` does). An executor only decides *where* the runs execute:

=================================  ==================================================================================
:class:`SequentialExecutor`        one after the other in this process (the default)
:class:`LocalExecutor`             a pool of worker processes on this machine: one per GPU (``CUDA_VISIBLE_DEVICES``)
                                   or one per CPU core with one torch thread each
:class:`RayExecutor`               Ray tasks, on the cluster at ``address`` (``"auto"``: the running one) or on a
                                   local instance; CPUs and GPUs per run are Ray resources (fractional GPUs let
                                   several small runs share one GPU)
:class:`SlurmExecutor`             submitit job arrays on Slurm (partition, time, GPUs per job, array parallelism,
                                   extra ``sbatch`` options); ``cluster="local"`` runs the same code path here
=================================  ==================================================================================

:func:`run_all` runs a list of runs on any of them and returns one :class:`Outcome` per run, in the given order.

Faults:

* an **exception raised by a run** is caught in the worker and returned as a failed :class:`Outcome` (its error's
  first line and the traceback): it is not retried (it would fail again) and it does not stop the other runs;
* a **worker that dies** (killed, out of memory, node lost, Slurm job cancelled) is retried, at most ``retries``
  times: the run starts again in a new worker and resumes from its own checkpoint. The local pool and the Slurm
  executor count the attempts; Ray retries the task itself (``max_retries``) and does not report the count.

Ray and submitit are the optional extra ``distributed`` (``pip install "mtlkit[distributed]"``); they are imported
only when their executor runs. Functions are sent by reference (pickle), so they must be importable module-level
functions; workers started here get this process's ``sys.path`` (``PYTHONPATH``), so they run the same mtlkit.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import socket
import sys
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from mtlkit.cli_args import int_arg
from mtlkit.errors import ConfigError, MtlkitError

__all__ = ["Run", "Outcome", "RunsFailed", "SequentialExecutor", "LocalExecutor", "RayExecutor", "SlurmExecutor",
           "EXECUTORS", "get_executor", "run_all", "require", "ray_instance", "add_executor_arguments",
           "executor_from_args"]

EXTRA_HINT = 'pip install "mtlkit[distributed]"'


def require(module: str, executor: str):
    """Import an optional dependency of an executor, or say how to install it.

    Raises:
        ConfigError: the module is not installed (the message names the extra to install).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"executor {executor!r} needs the Python package {module!r}, which is not installed; "
                          f"install the distributed extra: {EXTRA_HINT}") from None


# ---------------------------------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class Run:
    """One independent run: ``fn(*args, **kwargs)`` under a stable ``key`` (e.g. a grid entry's name)."""

    key: str
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What became of a run.

    Attributes:
        key: the run's key.
        ok: the function returned (``value``); False: it raised (``error``) or its worker died every time.
        value: the function's return value.
        error: ``"ExceptionType: first line of the message"`` (or why the worker died).
        traceback: the full traceback of the exception ("" if none).
        attempts: workers the run was started in (``None``: the engine retried on its own, Ray).
        seconds: wall time of the function in its worker (the last attempt).
        worker: ``host:pid`` of the worker that ran it last.
    """

    key: str
    ok: bool
    value: Any = None
    error: str | None = None
    traceback: str = ""
    attempts: int | None = 1
    seconds: float = 0.0
    worker: str = ""


class RunsFailed(MtlkitError, RuntimeError):
    """Some runs failed (each with its error); the others finished. ``outcomes`` holds every run's outcome."""

    def __init__(self, outcomes: Sequence[Outcome]):
        self.outcomes = list(outcomes)
        failed = [o for o in self.outcomes if not o.ok]
        lines = "; ".join(f"{o.key}: {o.error}" for o in failed[:5]) + (" ..." if len(failed) > 5 else "")
        super().__init__(f"{len(failed)} of {len(self.outcomes)} runs failed ({lines}); the others finished")


def first_line(exc: BaseException) -> str:
    """``"Type: first line"`` of an exception (the message's first line only)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _call(key: str, fn: Callable, args: tuple, kwargs: Mapping, threads: int | None = None) -> Outcome:
    """Run one function in a worker; an exception becomes a failed :class:`Outcome` (never raised)."""
    if threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    t0 = time.perf_counter()
    try:
        value = fn(*args, **dict(kwargs))
    except Exception as exc:  # a run's own failure: reported, not retried
        return Outcome(key, False, error=first_line(exc), traceback=traceback.format_exc(),
                       seconds=time.perf_counter() - t0, worker=worker)
    return Outcome(key, True, value=value, seconds=time.perf_counter() - t0, worker=worker)


def _died(run: Run, why: str, attempts: int | None) -> Outcome:
    return Outcome(run.key, False, error=f"WorkerDied: {why}", attempts=attempts)


@contextlib.contextmanager
def _same_code_env():
    """While starting workers: ``PYTHONPATH`` = this process's ``sys.path`` entries first, so workers import the
    same mtlkit (a checkout, not another installed copy)."""
    old = os.environ.get("PYTHONPATH")
    root = str(Path(__file__).resolve().parents[1])
    parts = [root] + [p for p in (old or "").split(os.pathsep) if p and p != root]
    os.environ["PYTHONPATH"] = os.pathsep.join(parts)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def _check_int(name: str, value: Any, low: int, allow_none: bool = False) -> None:
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an int >= {low}{' or None' if allow_none else ''}, got {value!r}")


def _check_number(name: str, value: Any, low: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
        raise ConfigError(f"{name} must be a number >= {low}, got {value!r}")


# ---------------------------------------------------------------------------------------------------- executors
@dataclass(frozen=True)
class SequentialExecutor:
    """Every run in this process, one after the other (an exception is still reported per run)."""

    name = "sequential"

    def map(self, runs: Sequence[Run], on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Run ``runs``; ``on_done`` is called with each outcome as it arrives. Returns outcomes in run order."""
        out = []
        for r in runs:
            o = _call(r.key, r.fn, r.args, r.kwargs)
            out.append(o)
            if on_done:
                on_done(o)
        return out


def _pool_worker(conn, env: Mapping[str, str]) -> None:  # pragma: no cover - runs in the child process
    os.environ.update(env)
    threads = int(env.get("OMP_NUM_THREADS", 0)) or None
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        conn.send(_call(*msg, threads=threads))


@dataclass(frozen=True)
class LocalExecutor:
    """A pool of worker processes on this machine.

    Attributes:
        workers: number of processes (default: one per GPU in ``gpus``, else one per CPU core).
        gpus: GPU ids to spread the workers over (worker ``i`` sees only ``gpus[i % len(gpus)]`` through
            ``CUDA_VISIBLE_DEVICES``, so it trains on ``"cuda"``); ``"auto"``: every visible GPU; None: CPU only.
        threads: torch threads per worker (``OMP_NUM_THREADS``); default 1 on the CPU.
        retries: restarts of a run whose worker process died.
        start_method: ``"forkserver"`` (default): workers are forked from a server process that imported
            ``preload`` and the runs' modules once, so a worker does not import torch again (seconds each);
            ``"spawn"``: every worker is a fresh interpreter. Both are safe with CUDA (nothing is inherited from this
            process but ``sys.path``).
        preload: modules the fork server imports (the kit's heavy imports; a module that fails to import is
            skipped). The server is started once per process, with the preload of the first pool.
    """

    workers: int | None = None
    gpus: Any = None
    threads: int | None = None
    retries: int = 2
    start_method: str = "forkserver"
    preload: tuple[str, ...] = ("torch", "torchvision", "mtlkit.train", "mtlkit.data", "mtlkit.treemtl.branching",
                                "mtlkit.treemtl.tree_model")
    name = "local"

    def __post_init__(self) -> None:
        _check_int("LocalExecutor.workers", self.workers, 1, allow_none=True)
        _check_int("LocalExecutor.threads", self.threads, 1, allow_none=True)
        _check_int("LocalExecutor.retries", self.retries, 0)
        if self.start_method not in ("forkserver", "spawn"):
            raise ConfigError(f"LocalExecutor.start_method must be 'forkserver' or 'spawn', got {self.start_method!r}")
        gpus = self.gpus
        if gpus is not None and gpus != "auto":
            if isinstance(gpus, (int, str)):
                gpus = (gpus,)
            try:
                gpus = tuple(int(g) for g in gpus)
            except (TypeError, ValueError):
                raise ConfigError(f"LocalExecutor.gpus must be None, 'auto' or GPU ids, got {self.gpus!r}") from None
            object.__setattr__(self, "gpus", gpus)

    def worker_envs(self) -> list[dict[str, str]]:
        """The environment of each worker (GPU binding, threads, and this process's run-cache folder: a fork
        server keeps the environment it started with, so a later ``MTLKIT_CACHE`` would not reach its workers)."""
        gpus = self.gpus
        if gpus == "auto":
            import torch

            gpus = tuple(range(torch.cuda.device_count()))
            if not gpus:
                raise ConfigError("LocalExecutor(gpus='auto'): no CUDA device is visible; use gpus=None for CPU "
                                  "workers")
        n = self.workers or (len(gpus) if gpus else os.cpu_count() or 1)
        threads = str(self.threads or (4 if gpus else 1))
        envs = []
        for i in range(n):
            env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
            if "MTLKIT_CACHE" in os.environ:
                env["MTLKIT_CACHE"] = os.environ["MTLKIT_CACHE"]
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = str(gpus[i % len(gpus)])
            envs.append(env)
        return envs

    def map(self, runs: Sequence[Run], on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Run ``runs`` on the pool; returns outcomes in run order (see the module docstring for faults)."""
        import multiprocessing as mp
        from multiprocessing.connection import wait

        runs = list(runs)
        if not runs:
            return []
        ctx = mp.get_context(self.start_method)
        if self.start_method == "forkserver":   # used when this process starts its fork server (once)
            modules = {getattr(r.fn, "__module__", None) or __name__ for r in runs}
            ctx.set_forkserver_preload([*self.preload, __name__, *sorted(modules - set(self.preload))])
        envs = self.worker_envs()[:len(runs)]
        results: list[Outcome | None] = [None] * len(runs)
        attempts = [0] * len(runs)
        queue = deque(range(len(runs)))
        slots: list[dict] = []

        def start(slot: int) -> dict:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_pool_worker, args=(child, envs[slot]), daemon=True,
                               name=f"mtlkit-worker-{slot}")
            proc.start()
            child.close()
            return {"proc": proc, "conn": parent, "run": None}

        def finish(i: int, o: Outcome) -> None:
            results[i] = o
            if on_done:
                on_done(o)

        with _same_code_env():
            slots = [start(s) for s in range(len(envs))]
        try:
            while queue or any(s["run"] is not None for s in slots):
                for s in slots:
                    if s["run"] is None and queue:
                        i = queue.popleft()
                        attempts[i] += 1
                        r = runs[i]
                        s["run"] = i
                        s["conn"].send((r.key, r.fn, r.args, dict(r.kwargs)))
                busy = [s for s in slots if s["run"] is not None]
                ready = set(wait([s["conn"] for s in busy] + [s["proc"].sentinel for s in busy]))
                for k, s in enumerate(slots):
                    i = s["run"]
                    if i is None:
                        continue
                    got = None
                    if s["conn"] in ready or s["proc"].sentinel in ready:
                        try:
                            if s["conn"].poll():
                                got = s["conn"].recv()
                        except (EOFError, OSError):
                            got = None
                    if got is not None:
                        finish(i, dataclasses.replace(got, attempts=attempts[i]))
                        s["run"] = None
                        if not s["proc"].is_alive():           # it answered, then died: replace it
                            with _same_code_env():
                                slots[k] = start(k)
                    elif s["proc"].sentinel in ready:     # the worker died holding run i
                        s["proc"].join()
                        code = s["proc"].exitcode
                        if attempts[i] > self.retries:
                            finish(i, _died(runs[i], f"worker process exited with code {code} on each of "
                                                     f"{attempts[i]} attempts", attempts[i]))
                        else:
                            queue.appendleft(i)
                        with _same_code_env():
                            slots[k] = start(k)
        finally:
            for s in slots:
                with contextlib.suppress(Exception):
                    s["conn"].send(None)
            for s in slots:
                s["proc"].join(timeout=5)
                if s["proc"].is_alive():
                    s["proc"].terminate()
                    s["proc"].join()
        return results  # type: ignore[return-value]


@dataclass(frozen=True)
class RayExecutor:
    """Ray tasks: each run is one task with ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs.

    Attributes:
        address: an existing cluster (``"auto"``: the one ``ray start`` runs here, or ``"ray://host:10001"``);
            None: use the Ray instance this process already initialised, else start a local one (shut down after).
        num_cpus: CPUs of a local instance (default: all cores); ignored with ``address``.
        num_gpus: GPUs of a local instance (default: Ray's detection).
        cpus_per_run: Ray CPUs per run (torch uses that many threads).
        gpus_per_run: GPUs per run; fractions share a GPU (0.25: four small runs per GPU).
        retries: Ray's ``max_retries`` for a task whose worker died (exceptions are never retried).
    """

    address: str | None = None
    num_cpus: int | None = None
    num_gpus: int | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    retries: int = 2
    name = "ray"

    def __post_init__(self) -> None:
        _check_int("RayExecutor.num_cpus", self.num_cpus, 1, allow_none=True)
        _check_int("RayExecutor.num_gpus", self.num_gpus, 0, allow_none=True)
        _check_number("RayExecutor.cpus_per_run", self.cpus_per_run, 0)
        _check_number("RayExecutor.gpus_per_run", self.gpus_per_run, 0)
        _check_int("RayExecutor.retries", self.retries, 0)
        if self.gpus_per_run > 1 and self.gpus_per_run != int(self.gpus_per_run):
            raise ConfigError(f"RayExecutor.gpus_per_run above 1 must be a whole number, got {self.gpus_per_run!r}")

    def map(self, runs: Sequence[Run], on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Submit every run as a Ray task and collect the outcomes in run order."""
        ray = require("ray", "ray")
        runs = list(runs)
        started = False
        if not ray.is_initialized():
            if self.address is None:
                _start_local_ray(ray, self.num_cpus, self.num_gpus)
            else:
                with _same_code_env():
                    ray.init(address=self.address, log_to_driver=False)
            started = True
        try:
            task = ray.remote(_call).options(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run,
                                             max_retries=self.retries, retry_exceptions=False)
            threads = max(1, int(self.cpus_per_run))
            refs = {task.remote(r.key, r.fn, r.args, dict(r.kwargs), threads): i for i, r in enumerate(runs)}
            results: list[Outcome | None] = [None] * len(runs)
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    i = refs[ref]
                    try:
                        o = dataclasses.replace(ray.get(ref), attempts=None)
                    except Exception as exc:   # the worker died more than `retries` times (or Ray failed)
                        o = _died(runs[i], f"{first_line(exc)} (Ray retried {self.retries} times)", None)
                    results[i] = o
                    if on_done:
                        on_done(o)
            return results  # type: ignore[return-value]
        finally:
            if started:
                ray.shutdown()


def _start_local_ray(ray, num_cpus: int | None, num_gpus: int | None, attempts: int = 3) -> None:
    """``ray.init`` of a local instance; on a busy machine Ray's fixed 30 s wait for its raylet can expire, so the
    start is tried up to ``attempts`` times."""
    for attempt in range(1, attempts + 1):
        try:
            with _same_code_env():
                ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, log_to_driver=False)
            return
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == attempts:
                raise
            ray.shutdown()


@contextlib.contextmanager
def ray_instance(num_cpus: int | None = None, num_gpus: int | None = None, attempts: int = 3):
    """A local Ray instance for several :class:`RayExecutor` runs (``RayExecutor()`` uses it), shut down at exit.

    Args:
        num_cpus: CPUs Ray may schedule (default: all cores).
        num_gpus: GPUs (default: Ray's detection).
        attempts: tries to start it (Ray gives its agents a fixed time to start, which a busy machine can exceed).
    """
    ray = require("ray", "ray")
    if ray.is_initialized():
        raise ConfigError("ray_instance: Ray is already initialised in this process; use RayExecutor() directly")
    _start_local_ray(ray, num_cpus, num_gpus, attempts)
    try:
        yield ray
    finally:
        ray.shutdown()


def _kv_pairs(name: str, value: Any) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    try:
        return tuple((str(k).lstrip("-"), str(v)) for k, v in items)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a dict of sbatch options such as {{'account': 'lab'}}, got {value!r}") \
            from None


@dataclass(frozen=True)
class SlurmExecutor:
    """submitit job arrays: one array task per run (one node, one task, ``gpus_per_job`` GPUs).

    Attributes:
        folder: submitit's folder (pickled functions, results, logs ``%j_0_log.out/err``); on a shared file system.
        partition: ``--partition``.
        time_min: ``--time`` in minutes.
        gpus_per_job: ``--gpus-per-node`` of each array task.
        cpus_per_job: ``--cpus-per-task``.
        mem_gb: ``--mem`` in GB (None: the partition's default).
        array_parallelism: at most this many array tasks at once (``--array=0-N%P``).
        sbatch: extra ``sbatch`` options, e.g. ``{"account": "lab", "qos": "high", "constraint": "a100"}``.
        setup: shell lines run before the job (``module load cuda``, ``source venv/bin/activate``).
        job_name: ``--job-name``.
        cluster: ``"slurm"``; ``"local"`` runs the same submitit path (arrays, pickles, logs) on this machine
            without a scheduler; None: submitit detects.
        retries: resubmissions of a run whose job died without a result (cancelled, node failure, time limit).
        poll_s: seconds between status polls.
    """

    folder: str = "slurm_logs"
    partition: str | None = None
    time_min: int = 60
    gpus_per_job: int = 0
    cpus_per_job: int = 1
    mem_gb: float | None = None
    array_parallelism: int = 16
    sbatch: Any = ()
    setup: tuple[str, ...] = ()
    job_name: str = "mtlkit"
    cluster: str | None = "slurm"
    retries: int = 2
    poll_s: float = 1.0
    name = "slurm"

    def __post_init__(self) -> None:
        _check_int("SlurmExecutor.time_min", self.time_min, 1)
        _check_int("SlurmExecutor.gpus_per_job", self.gpus_per_job, 0)
        _check_int("SlurmExecutor.cpus_per_job", self.cpus_per_job, 1)
        _check_int("SlurmExecutor.array_parallelism", self.array_parallelism, 1)
        _check_int("SlurmExecutor.retries", self.retries, 0)
        if self.mem_gb is not None:
            _check_number("SlurmExecutor.mem_gb", self.mem_gb, 0)
        _check_number("SlurmExecutor.poll_s", self.poll_s, 0)
        if self.cluster not in (None, "slurm", "local", "debug"):
            raise ConfigError(f"SlurmExecutor.cluster must be 'slurm', 'local', 'debug' or None, got {self.cluster!r}")
        object.__setattr__(self, "sbatch", _kv_pairs("SlurmExecutor.sbatch", self.sbatch))
        object.__setattr__(self, "setup", (self.setup,) if isinstance(self.setup, str) else tuple(self.setup))
        object.__setattr__(self, "folder", str(self.folder))

    def sbatch_parameters(self) -> dict[str, Any]:
        """The Slurm parameters (submitit's names for ``sbatch`` options)."""
        p: dict[str, Any] = dict(job_name=self.job_name, time=self.time_min, nodes=1, ntasks_per_node=1,
                                 cpus_per_task=self.cpus_per_job, array_parallelism=self.array_parallelism)
        if self.partition:
            p["partition"] = self.partition
        if self.gpus_per_job:
            p["gpus_per_node"] = self.gpus_per_job
        if self.mem_gb is not None:
            p["mem"] = f"{self.mem_gb:g}GB"
        if self.sbatch:
            p["additional_parameters"] = dict(self.sbatch)
        if self.setup:
            p["setup"] = list(self.setup)
        return p

    def sbatch_script(self, n_runs: int) -> str:
        """The ``sbatch`` script of an array of ``n_runs`` runs (what :meth:`map` submits; needs no cluster)."""
        require("submitit", "slurm")
        from submitit.slurm.slurm import _make_sbatch_string

        command = " ".join([sys.executable, "-u -m submitit.core._submit", str(Path(self.folder) / "%j")])
        return _make_sbatch_string(command=command, folder=str(Path(self.folder) / "%j"), map_count=n_runs,
                                   **self.sbatch_parameters())

    def _executor(self):
        submitit = require("submitit", "slurm")
        try:
            ex = submitit.AutoExecutor(folder=str(Path(self.folder) / "%j"), cluster=self.cluster)
        except RuntimeError as exc:   # submitit: no srun on this machine
            raise ConfigError(f"SlurmExecutor(cluster={self.cluster!r}): {first_line(exc)}; submit from a Slurm "
                              "login node, use cluster='local' (--cluster local) to run the same code path here, or "
                              "print the job array's script with sbatch_script() (--dry-run)") from None
        generic = dict(name=self.job_name, timeout_min=self.time_min, cpus_per_task=self.cpus_per_job,
                       nodes=1, tasks_per_node=1)
        if self.gpus_per_job:
            generic["gpus_per_node"] = self.gpus_per_job
        if self.mem_gb is not None:
            generic["mem_gb"] = self.mem_gb
        slurm_only = {k: v for k, v in self.sbatch_parameters().items()
                      if k in ("partition", "array_parallelism", "additional_parameters", "setup")}
        ex.update_parameters(**generic, **{f"slurm_{k}": v for k, v in slurm_only.items()})
        return ex

    def map(self, runs: Sequence[Run], on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Submit the runs as one job array, wait, resubmit runs whose job died; outcomes in run order."""
        runs = list(runs)
        if not runs:
            return []
        ex = self._executor()
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        attempts = [1] * len(runs)
        with _same_code_env():
            with ex.batch():
                jobs = [ex.submit(_call, r.key, r.fn, r.args, dict(r.kwargs), self.cpus_per_job) for r in runs]
        results: list[Outcome | None] = [None] * len(runs)
        pending = dict(enumerate(jobs))
        while pending:
            for i, job in list(pending.items()):
                if not job.done():
                    continue
                try:
                    o = dataclasses.replace(job.result(), attempts=attempts[i])
                except Exception as exc:
                    died = type(exc).__name__ == "UncompletedJobError"   # no result: killed, timed out, lost
                    if died and attempts[i] <= self.retries:
                        attempts[i] += 1
                        with _same_code_env():
                            pending[i] = ex.submit(_call, runs[i].key, runs[i].fn, runs[i].args,
                                                   dict(runs[i].kwargs), self.cpus_per_job)
                        continue
                    why = f"job {job.job_id}: {first_line(exc)} (logs: {job.paths.stderr})"
                    o = (_died(runs[i], why, attempts[i]) if died
                         else Outcome(runs[i].key, False, error=why, attempts=attempts[i]))
                results[i] = o
                del pending[i]
                if on_done:
                    on_done(o)
            if pending:
                time.sleep(self.poll_s)
        return results  # type: ignore[return-value]


EXECUTORS = {"sequential": SequentialExecutor, "local": LocalExecutor, "ray": RayExecutor, "slurm": SlurmExecutor}
Executor = SequentialExecutor | LocalExecutor | RayExecutor | SlurmExecutor


def get_executor(executor: "str | Executor | None" = None, **options) -> Executor:
    """An executor from a name (``"sequential"``, ``"local"``, ``"ray"``, ``"slurm"``) and options, or the given one.

    Raises:
        ConfigError: unknown name or option (the message lists the valid ones).
    """
    if executor is None:
        executor = "sequential"
    if not isinstance(executor, str):
        if not isinstance(executor, tuple(EXECUTORS.values())):
            raise ConfigError(f"executor must be one of {list(EXECUTORS)} or an executor object, got "
                              f"{type(executor).__name__}")
        if options:
            raise ConfigError("executor options are given with an executor name, not with an executor object")
        return executor
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; valid executors are: {', '.join(EXECUTORS)}")
    fields = [f.name for f in dataclasses.fields(EXECUTORS[executor])]
    if not set(options) <= set(fields):
        raise ConfigError(f"executor {executor!r} has no option(s) {sorted(set(options) - set(fields))}; "
                          f"its options are {fields}")
    return EXECUTORS[executor](**options)


def run_all(runs: Iterable[Run], executor: "str | Executor | None" = None, *, progress: bool = False,
            desc: str = "runs") -> list[Outcome]:
    """Run independent runs on an executor; failures are returned, not raised (see :class:`RunsFailed`).

    Args:
        runs: the runs (keys must be unique).
        executor: a name or an executor object (None: sequential).
        progress: a progress bar over the finished runs.
        desc: its label.

    Returns:
        One :class:`Outcome` per run, in the order of ``runs``.
    """
    runs = list(runs)
    keys = [r.key for r in runs]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"run keys must be unique, got duplicates {sorted({k for k in keys if keys.count(k) > 1})}")
    ex = get_executor(executor)
    if not runs:
        return []
    from tqdm.auto import tqdm

    with tqdm(total=len(runs), desc=f"{desc} ({ex.name})", disable=not progress) as bar:
        def done(o: Outcome) -> None:
            bar.update(1)
            if not o.ok:
                bar.write(f"failed: {o.key}: {o.error}")
        return ex.map(runs, on_done=done)


# ---------------------------------------------------------------------------------------------------- CLI
def add_executor_arguments(parser) -> None:
    """The executor options of a command (``--executor`` and each executor's settings)."""
    g = parser.add_argument_group("executor (where the independent runs go; Ray/Slurm need "
                                  f"{EXTRA_HINT})")
    g.add_argument("--executor", choices=list(EXECUTORS), default=None,
                   help="sequential (this process, the default), local (a process pool), ray, or slurm "
                        "(submitit job arrays)")
    g.add_argument("--workers", type=int_arg(1), default=None,
                   help="local: worker processes (default: one per GPU of --gpus, else one per CPU core); "
                        "implies --executor local")
    g.add_argument("--gpus", default=None, metavar="IDS|auto",
                   help="local: GPU ids for the workers, e.g. 0,1,2,3 or auto (one worker per GPU)")
    g.add_argument("--retries", type=int, default=2,
                   help="restarts of a run whose worker died (default 2); a run that raises is not retried")
    g.add_argument("--address", default=None,
                   help="ray: cluster address ('auto' = the cluster started with `ray start`); default: a local "
                        "instance")
    g.add_argument("--num-cpus", type=int, default=None, help="ray: CPUs of the local instance (default: all)")
    g.add_argument("--cpus-per-run", type=float, default=1.0, help="ray: CPUs per run (default 1)")
    g.add_argument("--gpus-per-run", type=float, default=0.0,
                   help="ray: GPUs per run, fractions share a GPU, e.g. 0.5 (default 0)")
    g.add_argument("--partition", default=None, help="slurm: partition")
    g.add_argument("--time", type=int, default=60, metavar="MIN", help="slurm: time limit per job in minutes "
                                                                       "(default 60)")
    g.add_argument("--gpus-per-job", type=int, default=0, help="slurm: GPUs per array task (default 0)")
    g.add_argument("--cpus-per-job", type=int, default=1, help="slurm: CPUs per array task (default 1)")
    g.add_argument("--mem-gb", type=float, default=None, help="slurm: memory per array task in GB")
    g.add_argument("--array-parallelism", type=int, default=16,
                   help="slurm: at most this many array tasks at once (default 16)")
    g.add_argument("--sbatch", default=None, metavar="KEY=VALUE,...",
                   help="slurm: extra sbatch options, e.g. account=lab,qos=high,constraint=a100")
    g.add_argument("--setup", action="append", default=None, metavar="CMD",
                   help="slurm: shell line run before each job (repeatable), e.g. 'module load cuda'")
    g.add_argument("--slurm-folder", default=None, metavar="DIR",
                   help="slurm: submitit's folder for pickles and logs (default: DIR/slurm_logs)")
    g.add_argument("--cluster", choices=("slurm", "local"), default="slurm",
                   help="slurm: 'local' runs the submitit code path on this machine, without a scheduler")
    g.add_argument("--dry-run", action="store_true",
                   help="slurm: print the sbatch script of the job array and exit without submitting")


def _sbatch_arg(text: str | None) -> tuple[tuple[str, str], ...]:
    if not text:
        return ()
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise ConfigError(f"--sbatch: expected key=value options separated by commas, got {item!r}")
        k, v = item.split("=", 1)
        out.append((k.strip().lstrip("-"), v.strip()))
    return tuple(out)


def executor_from_args(args, default_folder: str | Path) -> Executor | None:
    """The executor the options describe (None when no executor option was given: the command's own loop)."""
    name = args.executor or ("local" if args.workers is not None else None)
    if getattr(args, "dry_run", False) and name != "slurm":
        given = f"--executor {name}" if name else "no --executor"
        raise ConfigError(f"--dry-run prints the sbatch script of --executor slurm; got {given}")
    if name is None:
        return None
    if name == "local":
        gpus = args.gpus
        if gpus not in (None, "auto"):
            try:
                gpus = tuple(int(g) for g in gpus.split(",") if g.strip())
            except ValueError:
                raise ConfigError(f"--gpus: expected comma-separated GPU ids or 'auto', got {args.gpus!r}") from None
        return LocalExecutor(workers=args.workers, gpus=gpus, retries=args.retries)
    if args.workers is not None:
        raise ConfigError(f"--workers is an option of --executor local, not of --executor {name}")
    if name == "ray":
        return RayExecutor(address=args.address, num_cpus=args.num_cpus, cpus_per_run=args.cpus_per_run,
                           gpus_per_run=args.gpus_per_run, retries=args.retries)
    if name == "slurm":
        return SlurmExecutor(folder=str(args.slurm_folder or default_folder), partition=args.partition,
                             time_min=args.time, gpus_per_job=args.gpus_per_job, cpus_per_job=args.cpus_per_job,
                             mem_gb=args.mem_gb, array_parallelism=args.array_parallelism,
                             sbatch=_sbatch_arg(args.sbatch), setup=tuple(args.setup or ()), cluster=args.cluster,
                             retries=args.retries, poll_s=1.0 if args.cluster == "local" else 15.0)
    return SequentialExecutor()
