"""Figure helpers shared by the notebooks: where figures go, and how they are saved.

Figures are saved with stable names so that a re-run overwrites them. The target folder is, in order:
``$MTLKIT_FIGURES`` if set (the tests point it at a temporary folder), else the ``figures/`` folder of the
repository that contains the current working directory (found by walking up to mtlkit's ``pyproject.toml``),
else ``./figures``. matplotlib is imported inside the functions, never at module import.

Submodules (imported on use) hold the course notebooks' plotting and helper functions, so their cells stay short:
:mod:`mtlkit.viz.basics` (notebooks 00, 01), :mod:`mtlkit.viz.notebooks` (02, 03, 05, 06, 07),
:mod:`mtlkit.viz.layouts` (04), :mod:`mtlkit.viz.own_tasks` (08), and :mod:`mtlkit.viz.whatif`, the interactive
what-if explorer of the TreeMTL recommender (06).
"""
from __future__ import annotations

import os
from pathlib import Path

from mtlkit.paths import repo_root  # noqa: F401  (also mtlkit.viz.repo_root, as before)



def figure_dir() -> Path:
    """The folder figures are written to (created if needed); see the module docstring."""
    if os.environ.get("MTLKIT_FIGURES"):
        out = Path(os.environ["MTLKIT_FIGURES"])
    else:
        root = repo_root()
        out = (root if root is not None else Path.cwd()) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    return out


def savefig(fig, name: str, *, formats: tuple[str, ...] = ("png",), dpi: int = 120) -> list[Path]:
    """Save a matplotlib figure as ``figure_dir()/name.<fmt>`` for each format; returns the paths.

    Args:
        fig: a ``matplotlib.figure.Figure``.
        name: stable file stem, e.g. ``"00_quickstart_predictions"``.
        formats: file formats; PNG by default (SVG metadata is made reproducible when asked for).
        dpi: resolution of raster formats.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"figure name must be a plain file stem, got {name!r}")
    paths = []
    for fmt in formats:
        path = figure_dir() / f"{name}.{fmt}"
        metadata = {"Date": None} if fmt == "svg" else ({"Software": None} if fmt == "png" else None)
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    return paths


def use_style() -> None:
    """A legible default style for notebook figures (larger fonts, light grid, fixed SVG hash salt)."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.dpi": 100,
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "svg.hashsalt": "mtlkit",
    })
