"""Publish a finished run: copy its figures, results CSVs and REPORT.md into the committed folders.

``make run`` writes only git-ignored folders under ``executed/<scale>/`` (see :mod:`mtlkit.runner`), so running the
kit never modifies tracked files. ``python -m mtlkit publish`` (``make publish``) is the one step that does, on
purpose, when the maintainers want the committed outputs to show a new run:

========================================  ==========================================
from (the run's folders, ``run.json``)    to (committed)
========================================  ==========================================
``executed/cpu/figures/*.png``            ``figures/``
``executed/cpu/results/*.csv``            ``reproductions/results/``
``executed/cpu/results/REPORT.md``        ``reproductions/REPORT.md``
========================================  ==========================================

It refuses a run that does not exist, a smoke-scale run (its numbers mean nothing) and a run in which a notebook
failed (``--force`` overrides the last), so a failed run never reaches the committed files. Each file is copied
atomically (a temporary file, then a rename).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from mtlkit.errors import ConfigError

__all__ = ["plan", "publish"]


def _status(root: Path, scale: str) -> dict:
    path = root / "executed" / scale / "run.json"
    if not path.is_file():
        raise FileNotFoundError(f"no finished run at scale={scale!r}: {path} is missing; run `make run` "
                                f"(SCALE={scale}) first")
    return json.loads(path.read_text())


def plan(root: str | Path, scale: str = "cpu", *, force: bool = False) -> list[tuple[Path, Path]]:
    """The ``(source, target)`` copies :func:`publish` would make, after checking the run.

    Args:
        root: the checkout.
        scale: the run to publish, ``"cpu"`` (default) or ``"paper"``.
        force: publish even when some notebook of the run failed.

    Raises:
        ConfigError: smoke scale, or a run with failed notebooks (without ``force``).
        FileNotFoundError: no run at that scale.
    """
    root = Path(root).resolve()
    if scale not in ("cpu", "paper"):
        raise ConfigError(f"scale must be 'cpu' or 'paper' to publish (smoke numbers only prove the code path), "
                          f"got {scale!r}")
    status = _status(root, scale)
    failed = sorted(k for k, v in status.get("notebooks", {}).items() if not v.get("ok"))
    if failed and not force:
        raise ConfigError(f"the {scale}-scale run has failed notebooks ({', '.join(failed)}); fix them and re-run, "
                          f"or pass force=True / --force to publish anyway")
    outputs = status.get("outputs", {})
    figures = Path(outputs.get("MTLKIT_FIGURES", root / "executed" / scale / "figures"))
    results = Path(outputs.get("MTLKIT_RESULTS", root / "executed" / scale / "results"))
    copies = [(p, root / "figures" / p.name) for p in sorted(figures.glob("*.png"))]
    copies += [(p, root / "reproductions" / "results" / p.name) for p in sorted(results.glob("*.csv"))]
    if (results / "REPORT.md").is_file():
        copies.append((results / "REPORT.md", root / "reproductions" / "REPORT.md"))
    return copies


def publish(root: str | Path, scale: str = "cpu", *, force: bool = False) -> list[Path]:
    """Copy a run's figures, results and report into the committed folders (see the module docstring).

    Returns:
        The files written.
    """
    written = []
    for source, target in plan(root, scale, force=force):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        written.append(target)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", default="cpu", choices=("cpu", "paper"), help="the run to publish (default cpu)")
    parser.add_argument("--force", action="store_true", help="publish even if some notebook of the run failed")


def main(args: argparse.Namespace) -> int:
    from mtlkit.paths import checkout_root

    root = checkout_root("publish")
    written = publish(root, args.scale, force=args.force)  # bad input: reported by `python -m mtlkit`
    by_folder: dict[str, int] = {}
    for path in written:
        key = str(path.parent.relative_to(root)) if path.name != "REPORT.md" else str(path.relative_to(root))
        by_folder[key] = by_folder.get(key, 0) + 1
    for folder, n in by_folder.items():
        print(f"[mtlkit publish] {n:3d} file(s) -> {folder}")
    print("[mtlkit publish] review with `git status` / `git diff --stat`, then commit")
    return 0
