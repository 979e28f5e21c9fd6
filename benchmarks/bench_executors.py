"""Executors on one machine: a 12-entry smoke two-task grid, sequential vs a local pool (2 workers) vs Ray (2 CPUs).

The grid (3 tasks, 3 coarse blocks of ``tiny_resnet(width=4)``: 3 pairs × 4 branching points = 12 entries,
SynthScenes 32 px, ``--iterations`` steps each) is trained three times, each in a fresh directory:

* **sequential** — :meth:`TwoTaskGrid.run` in this process (data loaded once, models one after the other);
* **local** — :class:`mtlkit.executors.LocalExecutor` with 2 spawned worker processes (one torch thread each);
* **ray** — :class:`mtlkit.executors.RayExecutor` on a local Ray instance with 2 CPUs (1 CPU per run); the
  instance is started before the timer and its start-up is reported on its own.

Every table must equal the sequential one (checked). It prints each executor's wall time, the ratio
sequential / executor (> 1: faster) and its overhead, the worker time not spent in :func:`mtlkit.train.train`:
``total s/run = (workers × wall − Σ training seconds) / runs`` (the sequential loop:
``(wall − Σ training) / runs``), split into

* **start-up s/worker** — a worker's first run costs more (it imports torch and mtlkit, renders the data, detects
  the blocks): the largest in-worker extra of each worker; Ray's ``ray.init`` is timed on its own;
* **in-run s/run** — the in-worker extra of the other runs (grid folder, model building, result files);
* **dispatch s/run** — worker time outside any run (process start, pickling, scheduling, idle at the end); the
  first local pool of a process also starts the fork server, which imports torch and the kit once: the row
  ``local, 2nd pool`` (a second grid in the same process) shows the pool without that.

On a shared machine the two workers may not get two cores (every number then grows): the 1-minute load average is
printed next to the figures; read the spread of a few runs, not one.

Run:  .venv/bin/python benchmarks/bench_executors.py [--iterations 20] [--no-ray]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def spec(iterations: int):
    from mtlkit.treemtl.experiment import ExperimentSpec

    return ExperimentSpec(tasks=("segment_semantic", "depth_zbuffer", "normal"), backbone="tiny_resnet",
                          backbone_kw={"width": 4}, blocks=3, head="linear", resolution=32, n_train=32, n_test=16,
                          batch_size=8, iterations=iterations, eval_every=max(1, iterations // 2), eval_last=1,
                          seed=0)


def timed(grid, executor):
    """Wall time of training the whole grid, and the outcomes of the runs (None: in this process)."""
    t0 = time.perf_counter()
    if executor is None:
        grid.run(progress=False)
        return time.perf_counter() - t0, None
    outcomes = grid.run_on(executor, progress=False)
    wall = time.perf_counter() - t0
    bad = [o for o in outcomes.values() if not o.ok]
    if bad:
        raise SystemExit(f"{len(bad)} runs failed: {bad[0].key}: {bad[0].error}")
    return wall, list(outcomes.values())


def breakdown(workers: int, wall: float, outcomes, train: dict) -> dict:
    """Split ``workers × wall − training`` into start-up per worker, in-run overhead and dispatch + idle per run.

    A run's in-worker extra is ``outcome.seconds − training seconds``; each worker's largest extra is its first
    run (imports, data loading, block detection), counted as that worker's start-up.
    """
    n = len(train)
    if outcomes is None:
        return dict(startup=None, in_run=(wall - sum(train.values())) / n, dispatch=0.0,
                    total=(wall - sum(train.values())) / n)
    extra: dict[str, list[float]] = {}
    for o in outcomes:
        extra.setdefault(o.worker, []).append(o.seconds - train[o.key])
    startup = sum(max(v) for v in extra.values())
    in_run = sum(sum(v) - max(v) for v in extra.values()) / n
    dispatch = (workers * wall - sum(o.seconds for o in outcomes)) / n
    return dict(startup=startup / len(extra), in_run=in_run, dispatch=dispatch,
                total=(workers * wall - sum(train.values())) / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20, help="training steps per entry (default 20)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray executor")
    args = parser.parse_args()

    import numpy as np
    import torch

    from mtlkit.executors import LocalExecutor, RayExecutor, ray_instance
    from mtlkit.treemtl.grid import TwoTaskGrid

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench_executors_"))
    s = spec(args.iterations)
    print(f"two-task smoke grid: {12} entries x {args.iterations} iterations, 1 torch thread per worker, "
          f"{os.cpu_count()} cores")
    print(f"{'executor':<19}{'wall s':>8}{'seq/exec':>9}{'train s':>9}{'start-up s/worker':>26}"
          f"{'in-run s/run':>14}{'dispatch s/run':>16}{'total s/run':>13}{'load':>6}", flush=True)
    base: list[float] = []

    def report(name: str, workers: int, times, grid, ray_start: float | None = None) -> None:
        wall, outcomes = times
        train = {e.name: grid.result(e)["seconds"] for e in grid.entries}
        b = breakdown(workers, wall, outcomes, train)
        base.append(base[0] if base else wall)
        up = "" if b["startup"] is None else f"{b['startup']:.1f}"
        if ray_start is not None:
            up += f" (+{ray_start:.1f} ray.init)"
        print(f"{name:<19}{wall:>8.1f}{base[0] / wall:>9.2f}{sum(train.values()):>9.1f}{up:>26}{b['in_run']:>14.2f}"
              f"{b['dispatch']:>16.2f}{b['total']:>13.2f}{os.getloadavg()[0]:>6.1f}", flush=True)

    seq = TwoTaskGrid(root / "sequential", s)
    report("sequential", 1, timed(seq, None), seq)
    reference = seq.table().values

    local = TwoTaskGrid(root / "local", s)
    report("local (2 workers)", 2, timed(local, LocalExecutor(workers=2)), local)
    np.testing.assert_array_equal(local.table().values, reference)
    warm = TwoTaskGrid(root / "local_warm", s)      # the fork server (imports done once) is already running
    report("local, 2nd pool", 2, timed(warm, LocalExecutor(workers=2)), warm)
    np.testing.assert_array_equal(warm.table().values, reference)

    if not args.no_ray:
        t0 = time.perf_counter()
        try:
            with ray_instance(num_cpus=2):
                startup = time.perf_counter() - t0
                ray_grid = TwoTaskGrid(root / "ray", s)
                report("ray (2 CPUs)", 2, timed(ray_grid, RayExecutor(cpus_per_run=1)), ray_grid, startup)
            np.testing.assert_array_equal(ray_grid.table().values, reference)
        except Exception as exc:
            if "timed out during startup" not in str(exc):
                raise
            print(f"ray (2 CPUs): the local instance did not start in {time.perf_counter() - t0:.0f} s (3 tries; "
                  "Ray's agents need to start within 15 s, too slow at this load); run again later")
    print("tables equal the sequential one. total s/run = (workers x wall - training s) / runs = start-up x workers "
          "/ runs + in-run + dispatch; start-up = a worker's first-run extra (imports, data, block detection); "
          "in-run = model building and result files of the other runs; dispatch = worker time outside runs "
          "(process start, pickling, scheduling, idle at the end); load = 1-minute load average after the row")
    print(f"(folders under {root})")


if __name__ == "__main__":
    main()
