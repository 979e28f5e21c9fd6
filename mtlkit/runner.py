"""The main job: execute the ordered notebooks and the reproductions with papermill, then write the report.

``python -m mtlkit run --scale cpu`` (what ``make run`` calls) executes every ``notebooks/NN_*.ipynb`` in order and
then every ``reproductions/*.ipynb``, each with the parameters ``scale``, ``seed``, ``device`` and ``out_dir``
(plus ``data_root`` for reproductions when given, and ``seeds`` where the parameters cell declares it).

* **Seeds.** ``--seeds 0,1,2,3,4`` (or ``--seeds 5``, the first five seeds; ``make run SEEDS=…``, default 5) is
  passed as the list ``seeds`` to every notebook whose parameters cell declares ``seeds`` (one row set per seed);
  the others get ``seed`` only. ``--seeds 1`` is the quick run (seed 0 alone), ``--seeds 3,`` runs seed 3 alone;
  :func:`parse_seeds` reads the text.

* **Everything it writes is git-ignored**, under ``executed/<scale>/`` (:func:`output_env`): the executed copies
  (``notebooks/``, ``reproductions/``), each notebook's papermill log (``logs/``), the figures (``figures/``,
  ``$MTLKIT_FIGURES``), the results CSVs and ``REPORT.md`` (``results/``, ``$MTLKIT_RESULTS``), the run cache
  (``cache/``, ``$MTLKIT_CACHE``) and ``run.json`` (status and wall time per notebook). A variable that is already
  set wins. The results folder starts as a copy of the committed ``reproductions/results/`` (first run only), so
  results accumulate as before and a partial run's report covers every table. The kernels also get
  ``MTLKIT_STATIC=1``, so widgets (:mod:`mtlkit.viz.whatif`) render a static version into the executed notebooks.
  The committed ``figures/``, ``reproductions/results/`` and ``reproductions/REPORT.md`` change only
  through ``python -m mtlkit publish`` (``make publish``, :mod:`mtlkit.publish`), after a cpu-scale run succeeded.
* **Cached runs.** Notebooks that need the same model train it once, and a killed main job resumes where it
  stopped (:mod:`mtlkit.cache`); ``make lab`` points JupyterLab's kernels at the same cache.
* **Parallel notebooks.** ``--jobs N`` runs up to N notebooks at a time (each in its own papermill process and
  kernel, in the order above), with ``cpu_count // N`` torch threads each (``OMP_NUM_THREADS``): on a 2-core
  machine two one-thread notebooks finish sooner than one two-thread notebook, and tiny models gain nothing from a
  second thread anyway. Two notebooks that need the same cached run do not train it twice: the run directory is
  locked while it trains (:func:`mtlkit.train.run_loop`), and the second one then loads the finished checkpoint.
* **Progress.** One line per finished notebook, ``[k/N] notebooks/02_….ipynb ok in 52 s (elapsed 6:10, about
  9 min left)``; the estimate uses the wall times of the previous run (``run.json``) where known.

A failing notebook does not stop the others; the command exits non-zero if any failed, after printing where every
output went and which notebooks failed (with their logs).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mtlkit.config import SCALES, check_scale
from mtlkit.errors import ConfigError
from mtlkit.files import environ
from mtlkit.viz import repo_root

GROUPS = ("notebooks", "reproductions")
# the output locations of a run, relative to executed/<scale>/ (see output_env; make lab uses the same ones)
OUTPUT_DIRS = {"MTLKIT_CACHE": "cache", "MTLKIT_FIGURES": "figures", "MTLKIT_RESULTS": "results"}


@dataclass(frozen=True)
class NotebookRun:
    """The outcome of one executed notebook."""

    path: Path
    output: Path
    seconds: float
    log: Path
    error: str | None = None


def output_env(root: Path, scale: str, environ: dict | None = None) -> dict[str, str]:
    """The output variables of a run at ``scale``: ``executed/<scale>/{cache,figures,results}`` under ``root``.

    Args:
        root: the checkout.
        scale: the run's scale.
        environ: the current environment (default ``os.environ``); a variable already set there is kept.

    Returns:
        ``{"MTLKIT_CACHE": ..., "MTLKIT_FIGURES": ..., "MTLKIT_RESULTS": ...}`` as absolute paths.
    """
    environ = os.environ if environ is None else environ
    base = Path(root).resolve() / "executed" / scale
    return {var: environ.get(var) or str(base / sub) for var, sub in OUTPUT_DIRS.items()}


def _clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a duration."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _left(seconds: float) -> str:
    """A rough remaining time: ``under a minute`` / ``about 9 min`` / ``about 1.5 h``."""
    if seconds < 60:
        return "under a minute"
    if seconds < 5400:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


class Progress:
    """Thread-safe progress of a run: ``[k/N] name ok in 52 s (elapsed 6:10, about 9 min left)`` lines.

    The time left is the expected time of the notebooks not finished yet (the previous run's wall time where known,
    else the mean of this run's finished notebooks), less what the running ones have already spent, divided by the
    number of notebooks running at a time.
    """

    def __init__(self, names: list[str], jobs: int, previous: dict[str, float] | None = None, clock=time.perf_counter):
        self.names, self.jobs, self.previous, self.clock = list(names), jobs, dict(previous or {}), clock
        self.start = clock()
        self.started: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.lock = threading.Lock()

    def begin(self, name: str) -> None:
        with self.lock:
            self.started[name] = self.clock()

    def finish(self, name: str, seconds: float, status: str) -> str:
        """Record a finished notebook and return its progress line."""
        with self.lock:
            self.done[name] = seconds
            now = self.clock()
            line = (f"[{len(self.done)}/{len(self.names)}] {name} {status} in {seconds:.0f} s "
                    f"(elapsed {_clock(now - self.start)}")
            left = self.seconds_left(now)
            if len(self.done) < len(self.names):
                line += ", time left unknown" if left is None else f", {_left(left)} left"
            return line + ")"

    def seconds_left(self, now: float) -> float | None:
        todo = [n for n in self.names if n not in self.done]
        if not todo:
            return 0.0
        mean = sum(self.done.values()) / len(self.done) if self.done else None
        work = 0.0
        for name in todo:
            expected = self.previous.get(name, mean)
            if expected is None:
                return None
            work += max(0.0, expected - (now - self.started[name] if name in self.started else 0.0))
        return work / min(self.jobs, len(todo))


def _read_status(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_status(path: Path, status: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(status, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _seed_results(root: Path, results: Path) -> None:
    """Start a run's results folder from a copy of the committed ``reproductions/results/`` (first run only).

    Results accumulate as they always did (a new row replaces the one with the same key), so a notebook that reads an
    earlier result (notebook 07 reads Table 3's) finds it, and the report of a partial run still covers every table;
    ``make publish`` then copies back files that differ only where this run recorded something.
    """
    committed = root / "reproductions" / "results"
    if results.exists() or not committed.is_dir() or results.resolve() == committed.resolve():
        return
    results.parent.mkdir(parents=True, exist_ok=True)
    tmp = results.with_name(f".{results.name}.tmp-{os.getpid()}")
    shutil.copytree(committed, tmp, ignore=shutil.ignore_patterns(".*"))
    os.replace(tmp, results)


def discover(root: Path, only: str | None = None) -> list[Path]:
    """The notebooks the main job runs, in order: ``notebooks/*.ipynb`` then ``reproductions/*.ipynb``."""
    groups = GROUPS if only is None else (only,)
    found: list[Path] = []
    for group in groups:
        found += sorted((root / group).glob("[0-9a-z]*.ipynb"))
    return found


def parse_seeds(text) -> list[int] | None:
    """The run seeds of ``--seeds``: ``"0,1,2,3,4"`` (those seeds), ``"5"`` (a count: seeds 0 to 4), a list of ints
    (kept), or None / ``""`` (None: every notebook keeps its own default).

    Raises:
        ConfigError: not a positive count nor a comma list of distinct non-negative ints.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, (list, tuple)):
        parts = list(text)
    else:
        items = [p.strip() for p in str(text).split(",")]
        if not all(p.isdigit() for p in items if p) or not any(items):
            raise ConfigError(f"seeds must be a count (e.g. 5: seeds 0-4) or a comma list of non-negative ints "
                              f"(e.g. 0,1,2), got {text!r}")
        parts = [int(p) for p in items if p]
        if len(items) == 1:  # a bare number is a count
            if parts[0] < 1:
                raise ConfigError(f"seeds given as a count must be at least 1, got {text!r}")
            return list(range(parts[0]))
    if not parts or any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in parts) \
            or len(set(parts)) != len(parts):
        raise ConfigError(f"seeds must be distinct non-negative ints, got {text!r}")
    return parts


def parameters_for(notebook: Path, scale: str, seed: int, device: str, out_dir: Path,
                   data_root: str | None, seeds: list[int] | None = None) -> dict:
    """The papermill parameters passed to one notebook (only those its parameters cell declares); ``seeds`` (a
    list, or None to leave the notebook's default) goes to notebooks that declare ``seeds``."""
    import papermill as pm

    declared = pm.inspect_notebook(str(notebook))
    wanted = {"scale": scale, "seed": seed, "device": device, "out_dir": str(out_dir)}
    if data_root is not None:
        wanted["data_root"] = data_root
    if seeds is not None:
        wanted["seeds"] = list(seeds)
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
        data_root: str | None = None, match: str | None = None, jobs: int = 1,
        root: Path | None = None, seeds=None) -> list[NotebookRun]:
    """Execute the notebooks (see module docstring); returns one :class:`NotebookRun` per notebook, in order.

    Args:
        scale, seed, device, data_root: the notebooks' parameters.
        only: ``"notebooks"`` or ``"reproductions"`` to run one group.
        match: run only notebooks whose name contains this text.
        jobs: notebooks run at a time.
        root: the checkout (default: the one containing the working directory).
        seeds: the run seeds for notebooks that declare ``seeds`` (:func:`parse_seeds`: a list, a count or comma
            text; None: each notebook's own default).
    """
    check_scale(scale)
    seeds = parse_seeds(seeds)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ConfigError(f"jobs must be a positive int (notebooks run at a time), got {jobs!r}")
    root = repo_root() if root is None else Path(root).resolve()
    if root is None:
        raise FileNotFoundError("run `python -m mtlkit run` from inside the mtlkit checkout (no pyproject.toml found)")
    outputs = output_env(root, scale)
    _seed_results(root, Path(outputs["MTLKIT_RESULTS"]))
    # notebooks executed here have no live frontend: interactive widgets render their static version
    env = {**os.environ, **outputs, "MTLKIT_STATIC": os.environ.get("MTLKIT_STATIC", "1")}
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    notebooks = [nb for nb in discover(root, only) if match is None or match in nb.stem]
    base = root / "executed" / scale
    status_path = base / "run.json"
    status = _read_status(status_path)
    names = {nb: str(nb.relative_to(root)) for nb in notebooks}
    previous = {k: v["seconds"] for k, v in status.get("notebooks", {}).items() if "seconds" in v}
    progress = Progress(list(names.values()), jobs, previous)
    print(f"[mtlkit run] {len(notebooks)} notebooks at scale={scale}, {jobs} at a time, seeds "
          f"{seeds if seeds is not None else 'per notebook'}; outputs in "
          f"{_shown(base, root)}/", flush=True)

    def one(nb: Path) -> NotebookRun:
        output = base / nb.parent.name / nb.name
        log = base / "logs" / f"{nb.parent.name}__{nb.stem}.log"
        params = parameters_for(nb, scale, seed, device, base / nb.parent.name / nb.stem, data_root, seeds)
        progress.begin(names[nb])
        print(f"[mtlkit run]       start {names[nb]}", flush=True)
        start = time.perf_counter()
        error = execute(nb, output, params, log, threads=threads, env=env)
        seconds = time.perf_counter() - start
        print("[mtlkit run] " + progress.finish(names[nb], seconds, "ok" if error is None else "FAILED"), flush=True)
        return NotebookRun(nb, output, seconds, log, error)

    with ThreadPoolExecutor(max_workers=jobs) as pool:  # threads only wait on the papermill processes
        results = list(pool.map(one, notebooks))
    status.setdefault("notebooks", {}).update({
        names[r.path]: {"seconds": round(r.seconds, 1), "ok": r.error is None, "error": r.error, "seed": seed,
                        "seeds": seeds,
                        "finished": time.strftime("%Y-%m-%dT%H:%M:%S")} for r in results})
    status.update(scale=scale, outputs=outputs)
    _write_status(status_path, status)
    if only in (None, "reproductions"):
        from mtlkit import report

        with environ(outputs):
            report.write_report()
    return results


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to the checkout when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(root.resolve()))
    except ValueError:
        return str(path)


def summary(results: list[NotebookRun], root: Path, scale: str, wall: float, jobs: int) -> str:
    """The closing text of a run: counts and times, where every output went, what failed."""
    failed = [r for r in results if r.error]
    outputs = output_env(root, scale)
    base = root / "executed" / scale
    lines = [f"[mtlkit run] {len(results) - len(failed)}/{len(results)} notebooks ok in {_clock(wall)} "
             f"(sum of notebook times {sum(r.seconds for r in results) / 60:.1f} min, jobs={jobs})"]
    for r in sorted(results, key=lambda r: -r.seconds)[:5]:
        lines.append(f"    {r.seconds:7.1f} s  {r.path.parent.name}/{r.path.name}")
    figures = Path(outputs["MTLKIT_FIGURES"])
    n_fig = len(list(figures.glob("*.png"))) if figures.is_dir() else 0
    groups = sorted({r.path.parent.name for r in results})
    lines += ["Outputs (git-ignored):",
              f"    executed notebooks  {', '.join(_shown(base / g, root) + '/' for g in groups) or '-'}",
              f"    figures             {_shown(figures, root)}/  ({n_fig} PNG files)",
              f"    results, REPORT.md  {_shown(Path(outputs['MTLKIT_RESULTS']), root)}/",
              f"    papermill logs      {_shown(base / 'logs', root)}/",
              f"    run cache           {_shown(Path(outputs['MTLKIT_CACHE']), root)}/",
              f"    status, wall times  {_shown(base / 'run.json', root)}"]
    for r in failed:
        lines.append(f"FAILED {r.path.parent.name}/{r.path.name}: {r.error}")
        lines.append(f"    log: {_shown(r.log, root)}")
    if not failed and scale == "cpu":
        lines.append("To refresh the committed figures/, reproductions/results/ and reproductions/REPORT.md from this "
                     "run: make publish")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", default="cpu", choices=SCALES, help="smoke | cpu (default) | paper")
    parser.add_argument("--seed", type=int, default=0, help="seed passed to every notebook (default 0)")
    parser.add_argument("--seeds", default="5",
                        help="run seeds of the notebooks that declare `seeds`: a count (5: seeds 0-4, the default; "
                             "1: a quick run) or a comma list (0,1,2)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--only", choices=GROUPS, default=None, help="run only the tutorials or the reproductions")
    parser.add_argument("--match", default=None, help="run only notebooks whose name contains this text")
    parser.add_argument("--data-root", default=None, help="root of the real datasets (paper scale)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="notebooks run at a time, each with cpu_count/jobs threads (default 1)")


def main(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    results = run(args.scale, args.seed, args.device, args.only, args.data_root, args.match, args.jobs,
                  seeds=args.seeds)
    print(summary(results, repo_root(), args.scale, time.perf_counter() - start, args.jobs), flush=True)
    return 1 if any(r.error for r in results) or not results else 0
