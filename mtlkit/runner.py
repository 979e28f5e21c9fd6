"""The main job: execute the ordered notebooks and the reproductions with papermill, then write the report.

``python -m mtlkit run --scale cpu`` (what ``make run`` calls) executes every ``notebooks/NN_*.ipynb`` in order and
then every ``reproductions/*.ipynb``, each with the parameters ``scale``, ``seed``, ``device`` and ``out_dir``
(plus ``data_root`` for reproductions when given). Executed copies go to ``executed/<scale>/`` (git-ignored);
figures go to ``figures/`` (see :mod:`mtlkit.viz`). Training runs are cached in ``executed/<scale>/cache``
(:mod:`mtlkit.cache`, unless ``$MTLKIT_CACHE`` is set), so notebooks that need the same model train it once and a
killed main job resumes where it stopped. A failing notebook does not stop the others; the command exits
non-zero if any failed, after printing a summary with wall times.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import time
from dataclasses import dataclass
from pathlib import Path

from mtlkit.config import SCALES, check_scale
from mtlkit.viz import repo_root

GROUPS = ("notebooks", "reproductions")


@dataclass(frozen=True)
class NotebookRun:
    """The outcome of one executed notebook."""

    path: Path
    output: Path
    seconds: float
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


def execute(notebook: Path, output: Path, parameters: dict, cwd: Path, timeout: int | None = None) -> None:
    """Run one notebook through papermill (kernel ``python3`` of this environment)."""
    import papermill as pm

    output.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name="python3",
                        cwd=str(cwd), progress_bar=False, execution_timeout=timeout)


def run(scale: str = "cpu", seed: int = 0, device: str = "cpu", only: str | None = None,
        data_root: str | None = None, match: str | None = None) -> list[NotebookRun]:
    """Execute the notebooks (see module docstring); returns one :class:`NotebookRun` per notebook."""
    check_scale(scale)
    root = repo_root()
    if root is None:
        raise FileNotFoundError("run `python -m mtlkit run` from inside the mtlkit checkout (no pyproject.toml found)")
    os.environ.setdefault("MTLKIT_CACHE", str(root / "executed" / scale / "cache"))  # kernels inherit it
    results = []
    notebooks = [nb for nb in discover(root, only) if match is None or match in nb.stem]
    for nb in notebooks:
        out_dir = root / "executed" / scale / nb.parent.name / nb.stem
        output = root / "executed" / scale / nb.parent.name / nb.name
        params = parameters_for(nb, scale, seed, device, out_dir, data_root)
        print(f"[mtlkit run] {nb.relative_to(root)}  scale={scale} ...", flush=True)
        start = time.perf_counter()
        error = None
        try:
            execute(nb, output, params, cwd=nb.parent)
        except Exception as exc:  # report and go on with the next notebook
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        seconds = time.perf_counter() - start
        results.append(NotebookRun(nb, output, seconds, error))
        status = "ok" if error is None else f"FAILED ({error})"
        print(f"[mtlkit run]   {status} in {seconds:.1f} s -> {output.relative_to(root)}", flush=True)
    if only in (None, "reproductions") and importlib.util.find_spec("mtlkit.report") is not None:
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


def main(args: argparse.Namespace) -> int:
    results = run(args.scale, args.seed, args.device, args.only, args.data_root, args.match)
    total = sum(r.seconds for r in results)
    failed = [r for r in results if r.error]
    print(f"[mtlkit run] {len(results) - len(failed)}/{len(results)} notebooks ok in {total / 60:.1f} min")
    for r in failed:
        print(f"[mtlkit run] FAILED {r.path.name}: {r.error}")
    return 1 if failed or not results else 0
