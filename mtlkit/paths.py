"""Where things live: the checkout, and its ``reproductions/``, results, figures and run-cache folders.

One definition of each location, used by every module that reads or writes files (torch-free, no imports beyond
the standard library). Environment variables override the defaults, so tests and ``make run`` can point every
output at a temporary or per-scale folder:

* ``$MTLKIT_RESULTS`` — recorded results (default ``<checkout>/reproductions/results``),
* ``$MTLKIT_FIGURES`` — saved figures (default ``<checkout>/figures``, else ``./figures``),
* ``$MTLKIT_CACHE`` — the run cache (default ``<checkout>/.mtlkit_cache``, else ``~/.cache/mtlkit``).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root", "checkout_root", "package_dir", "reproductions_dir", "paper_values_dir", "checkout", "results_dir",
           "figures_dir", "cache_dir"]


def repo_root(start: str | Path | None = None) -> Path | None:
    """The mtlkit checkout containing ``start`` (default: cwd), or None outside one.

    A checkout is a folder whose ``pyproject.toml`` declares ``name = "mtlkit"``.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "mtlkit"' in pyproject.read_text(encoding="utf-8"):
            return folder
    return None


def checkout_root(command: str) -> Path:
    """The checkout above the cwd, for a ``python -m mtlkit <command>`` that works on it.

    Raises:
        FileNotFoundError: the cwd is not inside an mtlkit checkout.
    """
    root = repo_root()
    if root is None:
        raise FileNotFoundError(f"run `python -m mtlkit {command}` from inside the mtlkit checkout (no pyproject.toml "
                                f"naming mtlkit above {Path.cwd()})")
    return root


def package_dir() -> Path:
    """The folder of the imported ``mtlkit`` package."""
    return Path(__file__).resolve().parent


def reproductions_dir() -> Path:
    """The checkout's ``reproductions/`` folder (next to the ``mtlkit`` package, or found from the cwd).

    Raises:
        FileNotFoundError: neither place has one (e.g. an installed wheel run outside the checkout).
    """
    here = package_dir().parent / "reproductions"
    if here.is_dir():
        return here
    root = repo_root()
    if root is not None and (root / "reproductions").is_dir():
        return root / "reproductions"
    raise FileNotFoundError("reproductions/ not found: the paper values live in the mtlkit checkout "
                            f"(looked next to the package, {here}, and above the current directory)")


def paper_values_dir() -> Path:
    """``reproductions/paper_values``: the papers' numbers as CSV files."""
    return reproductions_dir() / "paper_values"


def checkout() -> Path:
    """The checkout that holds ``reproductions/`` (see :func:`reproductions_dir`)."""
    return reproductions_dir().parent


def results_dir() -> Path:
    """``$MTLKIT_RESULTS`` if set, else ``<checkout>/reproductions/results``."""
    if os.environ.get("MTLKIT_RESULTS"):
        return Path(os.environ["MTLKIT_RESULTS"])
    return checkout() / "reproductions" / "results"


def figures_dir() -> Path:
    """``$MTLKIT_FIGURES`` if set, else ``<checkout>/figures`` (the checkout above the cwd), else ``./figures``.

    Not created here; :func:`mtlkit.viz.figure_dir` creates it when a figure is saved.
    """
    if os.environ.get("MTLKIT_FIGURES"):
        return Path(os.environ["MTLKIT_FIGURES"])
    root = repo_root()
    return (root if root is not None else Path.cwd()) / "figures"


def cache_dir() -> Path:
    """The run cache: ``$MTLKIT_CACHE`` if set, else ``<checkout>/.mtlkit_cache``, else ``~/.cache/mtlkit``."""
    if os.environ.get("MTLKIT_CACHE"):
        return Path(os.environ["MTLKIT_CACHE"])
    root = repo_root()
    return root / ".mtlkit_cache" if root is not None else Path.home() / ".cache" / "mtlkit"
