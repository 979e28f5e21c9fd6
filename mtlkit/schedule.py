"""Subprocesses scheduled on one machine: longest expected first, at most ``slots`` at a time, within a memory cap.

The paper-scale dry run (:mod:`mtlkit.dryrun`, ``--jobs``) runs its tables this way: each table in a process of its
own (one torch thread each is the fastest on a CPU), two tables with large memory peaks never together. Each
job's peak resident memory is read from the kernel when it ends (``ru_maxrss`` of ``os.wait4``), also for a job that
failed or was killed; Linux counts the forking parent's peak in it too, so it is at least this process's peak (a
few hundred MB here), exact for a job that grows beyond that.
"""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mtlkit.errors import ConfigError

__all__ = ["Job", "JobOutcome", "memory_gib", "run_jobs"]


@dataclass(frozen=True)
class Job:
    """One subprocess of :func:`run_jobs`: ``argv``, its expected seconds and peak resident GiB, its environment
    (None: :func:`run_jobs`'s ``env``)."""

    name: str
    argv: tuple[str, ...]
    seconds: float = 300.0
    peak_gib: float = 6.0
    env: dict | None = None


@dataclass(frozen=True)
class JobOutcome:
    """How a :class:`Job` ended: exit code (negative: killed by that signal), wall seconds, peak resident GiB of
    the process (``ru_maxrss`` of the child, from ``os.wait4``), the log file (stdout and stderr)."""

    name: str
    returncode: int
    seconds: float
    peak_rss_gib: float
    log: Path

    def error(self) -> str:
        """The last lines of the log (the error of a failed job)."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.is_file() else []
        return "\n".join(lines[-12:]) or f"exit code {self.returncode}, no output"


def memory_gib() -> float:
    """This machine's physical memory in GiB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3


def run_jobs(jobs, *, slots: int = 2, memory_cap_gib: float | None = None, logs: Path, env=None,
             echo: Callable[[str], None] = print, poll: float = 0.2,
             label: str = "jobs") -> dict[str, JobOutcome]:
    """Run ``jobs`` as subprocesses, at most ``slots`` at a time: longest expected first; a job starts only while
    the expected peaks of the running jobs plus its own stay within ``memory_cap_gib`` (default 75 % of the
    machine's memory), so a job with a large peak runs alone (one that exceeds the cap by itself runs when nothing
    else does). A failed job does not stop the others. Returns the outcomes by name."""
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ConfigError(f"jobs must be an int >= 1, got {slots!r}")
    cap = 0.75 * memory_gib() if memory_cap_gib is None else float(memory_cap_gib)
    pending = sorted(jobs, key=lambda j: -j.seconds)
    logs.mkdir(parents=True, exist_ok=True)
    running, done = {}, {}  # pid -> (job, process, start, log file)
    try:
        while pending or running:
            for job in list(pending):
                used = sum(j.peak_gib for j, *_ in running.values())
                if len(running) < slots and (not running or used + job.peak_gib <= cap):
                    pending.remove(job)
                    log = open(logs / f"{job.name}.log", "w")
                    proc = subprocess.Popen(job.argv, stdout=log, stderr=subprocess.STDOUT,
                                            env=env if job.env is None else job.env)
                    running[proc.pid] = (job, proc, time.perf_counter(), log)
                    echo(f"[{label}] {job.name}: started (expected {job.seconds:.0f} s, {job.peak_gib:g} GiB)")
            time.sleep(poll)
            for pid in list(running):
                got, status, usage = os.wait4(pid, os.WNOHANG)  # this child's own rusage, unlike RUSAGE_CHILDREN
                if got == 0:
                    continue
                job, proc, start, log = running.pop(pid)
                log.close()
                proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
                done[job.name] = JobOutcome(job.name, proc.returncode, time.perf_counter() - start,
                                            usage.ru_maxrss / 1024 ** 2, Path(log.name))  # ru_maxrss: KiB
                o = done[job.name]
                echo(f"[{label}] {job.name}: {'finished' if o.returncode == 0 else 'FAILED'} (exit code "
                     f"{o.returncode}) after {o.seconds:.0f} s, peak {o.peak_rss_gib:.2f} GiB resident")
    finally:  # interrupted (Ctrl-C): the jobs started here do not outlive the scheduler
        for job, proc, _, log in running.values():
            proc.kill()
            proc.wait()
            log.close()
    return done
