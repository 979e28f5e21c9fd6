"""Executors on one machine: a 12-entry smoke two-task grid, sequential vs a local pool (2 workers) vs Ray (2 CPUs).

The grid (3 tasks, 3 coarse blocks of ``tiny_resnet(width=4)``: 3 pairs × 4 branching points = 12 entries,
SynthScenes 32 px, ``--iterations`` steps each) is trained three times, each in a fresh directory:

* **sequential** — :meth:`TwoTaskGrid.run` in this process (data loaded once, models one after the other);
* **local** — :class:`mtlkit.executors.LocalExecutor` with 2 spawned worker processes (one torch thread each);
* **ray** — :class:`mtlkit.executors.RayExecutor` on a local Ray instance with 2 CPUs (1 CPU per run); the
  instance is started before the timer and its start-up is reported on its own.

Every table must equal the sequential one (checked). It prints each executor's wall time, the ratio
sequential / executor (> 1: faster) and its overhead, the worker time not spent in :func:`mtlkit.train.train`:
``total s/run = (workers × wall − Σ training seconds) / runs`` (the sequential loop: ``(wall − Σ training) / runs``),
split into

* **start-up s/worker** — a worker's first run costs more (it imports torch and mtlkit, renders the data, detects
  the blocks): the largest in-worker extra of each worker; Ray's ``ray.init`` is timed on its own;
* **in-run s/run** — the in-worker extra of the other runs (grid folder, model building, result files);
* **dispatch s/run** — worker time outside any run (process start, pickling, scheduling, idle at the end).

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
    rows = []

    def record(name: str, workers: int, times, grid, ray_start: float | None = None) -> None:
        wall, outcomes = times
        train = {e.name: grid.result(e)["seconds"] for e in grid.entries}
        rows.append((name, wall, sum(train.values()), breakdown(workers, wall, outcomes, train), ray_start))

    seq = TwoTaskGrid(root / "sequential", s)
    record("sequential", 1, timed(seq, None), seq)
    reference = seq.table().values
    load = [os.getloadavg()[0]]

    local = TwoTaskGrid(root / "local", s)
    record("local (2 workers)", 2, timed(local, LocalExecutor(workers=2)), local)
    np.testing.assert_array_equal(local.table().values, reference)
    load.append(os.getloadavg()[0])

    if not args.no_ray:
        t0 = time.perf_counter()
        with ray_instance(num_cpus=2):
            startup = time.perf_counter() - t0
            ray_grid = TwoTaskGrid(root / "ray", s)
            record("ray (2 CPUs)", 2, timed(ray_grid, RayExecutor(cpus_per_run=1)), ray_grid, startup)
        np.testing.assert_array_equal(ray_grid.table().values, reference)
        load.append(os.getloadavg()[0])

    n = len(seq.entries)
    print(f"two-task smoke grid: {n} entries x {args.iterations} iterations; tables equal the sequential one; "
          f"1-min load average during the runs {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} cores")
    print(f"{'executor':<19}{'wall s':>8}{'seq/exec':>9}{'train s':>9}{'start-up s/worker':>19}"
          f"{'in-run s/run':>14}{'dispatch s/run':>16}{'total s/run':>13}")
    base = rows[0][1]
    for name, wall, train_s, b, ray_start in rows:
        up = "" if b["startup"] is None else f"{b['startup']:.1f}"
        if ray_start is not None:
            up += f" (+{ray_start:.1f} ray.init)"
        print(f"{name:<19}{wall:>8.1f}{base / wall:>9.2f}{train_s:>9.1f}{up:>19}{b['in_run']:>14.2f}"
              f"{b['dispatch']:>16.2f}{b['total']:>13.2f}")
    print("total s/run = (workers x wall - training s) / runs = start-up x workers / runs + in-run + dispatch; "
          "start-up = a worker's first-run extra (imports, data, block detection); in-run = model building and "
          "result files of the other runs; dispatch = worker time outside runs (process start, pickling, "
          "scheduling, idle at the end)")
    print(f"(folders under {root})")


if __name__ == "__main__":
    main()
