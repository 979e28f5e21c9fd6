"""The main job: execute the ordered notebooks and the reproductions with papermill, then write the report.

``python -m mtlkit run --scale cpu`` (what ``make run`` calls) executes every ``notebooks/NN_*.ipynb`` in order and
then every ``reproductions/*.ipynb``, each with the parameters ``scale``, ``seed``, ``device`` and ``out_dir``
(plus ``data_root`` for reproductions when given). Executed copies go to ``executed/<scale>/`` (git-ignored), with
each notebook's papermill log in ``executed/<scale>/logs/``; figures go to ``figures/`` (see :mod:`mtlkit.viz`).

* **Cached runs.** Training runs are cached in ``executed/<scale>/cache`` (:mod:`mtlkit.cache`, unless
  ``$MTLKIT_CACHE`` is set), so notebooks that need the same model train it once, and a killed main job resumes
  where it stopped.
* **Parallel notebooks.** ``--jobs N`` runs up to N notebooks at a time (each in its own papermill process and
  kernel, in the order above), with ``cpu_count // N`` torch threads each (``OMP_NUM_THREADS``): on a 2-core
  machine two one-thread notebooks finish sooner than one two-thread notebook, and tiny models gain nothing from a
  second thread anyway. Two notebooks that need the same cached run do not train it twice: the run directory is
  locked while it trains (:func:`mtlkit.train.run_loop`), and the second one then loads the finished checkpoint.

A failing notebook does not stop the others; the command exits non-zero if any failed, after printing a summary
with wall times (and where the failing notebook's log is).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mtlkit.config import SCALES, check_scale
from mtlkit.errors import ConfigError
from mtlkit.viz import repo_root

GROUPS = ("notebooks", "reproductions")


@dataclass(frozen=True)
class NotebookRun:
    """The outcome of one executed notebook."""

    path: Path
    output: Path
    seconds: float
    log: Path
    error: str | None = None


def discover(root: Path, only: str | None = None) -> list[Path]:
    """The notebooks the main job runs, in order: ``notebooks/*.ipynb`` then ``reproductions/*.ipynb``."""
    groups = GROUPS if only is None else (only,)
    found: list[Path] = []
    for group in groups:
        found += sorted((root / group).glob("[0-9a-z]*.ipynb"))
    return found


def parameters_for(notebook: Path, scale: str, seed: int, device: str, out_dir: Path,
                   data_root: str | None) -> dict:
    """The papermill parameters passed to one notebook (only those its parameters cell declares)."""
    import papermill as pm

    declared = pm.inspect_notebook(str(notebook))
    wanted = {"scale": scale, "seed": seed, "device": device, "out_dir": str(out_dir)}
    if data_root is not None:
        wanted["data_root"] = data_root
    return {k: v for k, v in wanted.items() if k in declared}


def _last_error_line(log: Path) -> str:
    """The most telling line of a failed papermill log (the exception line of the failing cell, if any)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if ("Error" in line or "Exception" in line) and not line.startswith(("File ", "Traceback")):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def execute(notebook: Path, output: Path, parameters: dict, log: Path, threads: int | None = None,
            env: dict | None = None) -> str | None:
    """Run one notebook through papermill in its own process (kernel ``python3`` of this environment).

    Args:
        notebook: the ``.ipynb`` to run (its folder is the working directory).
        output: where the executed copy goes.
        parameters: papermill parameters (passed as JSON, so types are kept).
        log: file receiving papermill's output.
        threads: torch/OpenMP threads of the kernel (``None``: the library's default).
        env: the environment (default: this process's).

    Returns:
        ``None`` on success, else a one-line description of the failure.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if env is None else env)
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep instead of spinning on shared cores
    cmd = [sys.executable, "-m", "papermill", str(notebook), str(output), "-y", json.dumps(parameters),
           "-k", "python3", "--cwd", str(notebook.parent), "--no-progress-bar", "--log-level", "WARNING"]
    with open(log, "w") as handle:
        code = subprocess.call(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env)
    return None if code == 0 else _last_error_line(log)


def run(scale: str = "cpu", seed: int = 0, device: str = "cpu", only: str | None = None,
        data_root: str | None = None, match: str | None = None, jobs: int = 1) -> list[NotebookRun]:
    """Execute the notebooks (see module docstring); returns one :class:`NotebookRun` per notebook, in order."""
    check_scale(scale)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ConfigError(f"jobs must be a positive int (notebooks run at a time), got {jobs!r}")
    root = repo_root()
    if root is None:
        raise FileNotFoundError("run `python -m mtlkit run` from inside the mtlkit checkout (no pyproject.toml found)")
    env = dict(os.environ)
    env.setdefault("MTLKIT_CACHE", str(root / "executed" / scale / "cache"))
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    notebooks = [nb for nb in discover(root, only) if match is None or match in nb.stem]
    base = root / "executed" / scale

    def one(nb: Path) -> NotebookRun:
        output = base / nb.parent.name / nb.name
        log = base / "logs" / f"{nb.parent.name}__{nb.stem}.log"
        params = parameters_for(nb, scale, seed, device, base / nb.parent.name / nb.stem, data_root)
        print(f"[mtlkit run] start {nb.relative_to(root)}  scale={scale}", flush=True)
        start = time.perf_counter()
        error = execute(nb, output, params, log, threads=threads, env=env)
        seconds = time.perf_counter() - start
        status = "ok" if error is None else f"FAILED ({error})"
        print(f"[mtlkit run]   {nb.relative_to(root)}: {status} in {seconds:.1f} s", flush=True)
        return NotebookRun(nb, output, seconds, log, error)

    with ThreadPoolExecutor(max_workers=jobs) as pool:  # threads only wait on the papermill processes
        results = list(pool.map(one, notebooks))
    if only in (None, "reproductions"):
        from mtlkit import report

        report.write_report()
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", default="cpu", choices=SCALES, help="smoke | cpu (default) | paper")
    parser.add_argument("--seed", type=int, default=0, help="seed passed to every notebook (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--only", choices=GROUPS, default=None, help="run only the tutorials or the reproductions")
    parser.add_argument("--match", default=None, help="run only notebooks whose name contains this text")
    parser.add_argument("--data-root", default=None, help="root of the real datasets (paper scale)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="notebooks run at a time, each with cpu_count/jobs threads (default 1)")


def main(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    results = run(args.scale, args.seed, args.device, args.only, args.data_root, args.match, args.jobs)
    wall = time.perf_counter() - start
    failed = [r for r in results if r.error]
    print(f"[mtlkit run] {len(results) - len(failed)}/{len(results)} notebooks ok; wall time {wall / 60:.1f} min "
          f"(sum of notebook times {sum(r.seconds for r in results) / 60:.1f} min, jobs={args.jobs})")
    for r in sorted(results, key=lambda r: -r.seconds):
        print(f"[mtlkit run]   {r.seconds:7.1f} s  {r.path.parent.name}/{r.path.name}"
              f"{'' if r.error is None else '  FAILED'}")
    for r in failed:
        print(f"[mtlkit run] FAILED {r.path.name}: {r.error}  (log: {r.log})")
    return 1 if failed or not results else 0
