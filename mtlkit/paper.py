"""The papers' numbers as data: every reproduced table's printed values, its description, the papers' own errors.

``reproductions/paper_values/`` holds every number of the reproduced tables, typed once from the papers (long
format, one row per table × setting × method × task × metric; see ``reproductions/README.md``):

* ``<table>.csv`` — columns :data:`PAPER_VALUE_COLUMNS`; ``value`` is the number *as printed* (a string, so its
  rounding is kept: ``"0.8070"`` has four decimals), empty where no available text gives it;
* ``tables.csv`` — one row per reproduced table: paper, label, title, dataset, backbone, notebook;
* ``known_errors.csv`` — the cells the papers themselves get wrong, with the reason (checked by
  ``tests/test_paper_values.py``: every listed cell really is inconsistent, and no other cell is).

No torch is imported here. The TreeMTL picks and rankings live in :mod:`mtlkit.picks` (figure:
:mod:`mtlkit.picks_viz`), the trained part in :mod:`mtlkit.recipes`, the parameter check in :mod:`mtlkit.config`;
their old names here still resolve (lazily) to those modules.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from mtlkit.errors import ConfigError
from mtlkit.facts import ARCHITECTURE_FACTS, EXACT_DATASETS, PUBLISHED_DATASET, PUBLISHED_POLICY
from mtlkit.paths import paper_values_dir, reproductions_dir

__all__ = [
    "PAPER_VALUE_COLUMNS", "SOURCE_KINDS", "PUBLISHED_DATASET", "PUBLISHED_POLICY", "ARCHITECTURE_FACTS",
    "EXACT_DATASETS", "reproductions_dir", "paper_values_dir", "list_tables", "table_info", "paper_values",
    "known_errors",
]

#: Names that moved out of this module -> their home (``from mtlkit.paper import pick_ranking`` keeps working).
_MOVED = {
    **{name: "mtlkit.picks" for name in ("TreeMTLSetup", "PaperPick", "TREEMTL_TABLES", "TREEMTL_PICKS",
                                          "RECOMMENDER_TOP1", "budget_of", "treemtl_costs", "identify_by_cost",
                                          "pick_ranking", "ranking_records", "_setup")},
    "plot_ranking": "mtlkit.picks_viz",
    "check_reproduction_params": "mtlkit.config",
    **{name: "mtlkit.recipes" for name in ("PAPER_MAPPINGS", "STAND_IN_OPTIONS", "STAND_IN_SIZES", "PAPER_TRAINING",
                                            "TrainingPlan", "training_plan", "TrainedLayouts", "train_layouts",
                                            "trained_layouts_of", "delta_table", "_blocks_for")},
}


def __getattr__(name: str):
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'mtlkit.paper' has no attribute {name!r}")


#: Columns of every ``paper_values/<table>.csv``.
PAPER_VALUE_COLUMNS = ("table", "setting", "method", "task", "metric", "value", "higher_is_better", "source_kind",
                       "source", "note")
#: ``source_kind`` values: where a number comes from (the report marks everything that is not ``paper``).
SOURCE_KINDS = ("paper", "paper (implied)", "authors' code", "third-party", "unknown")
KNOWN_ERROR_COLUMNS = ("table", "setting", "method", "task", "metric", "kind", "printed", "recomputed", "reason")
TABLE_COLUMNS = ("table", "paper", "label", "title", "dataset", "backbone", "notebook", "note")


# ------------------------------------------------------------------------------------------------------ locations
def _read_csv(path: Path, columns: Iterable[str]) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(f"{path.name}: missing column(s) {missing}; expected {list(columns)}")
    return df


def list_tables() -> pd.DataFrame:
    """The reproduced tables (``paper_values/tables.csv``): table, paper, label, title, dataset, backbone, notebook."""
    return _read_csv(paper_values_dir() / "tables.csv", TABLE_COLUMNS)


def table_info(table: str) -> dict:
    """One row of :func:`list_tables` as a dict.

    Raises:
        KeyError: an unknown table (the message lists the known ones).
    """
    tables = list_tables()
    hit = tables[tables.table == table]
    if hit.empty:
        raise KeyError(f"unknown table {table!r}; known tables are: {', '.join(tables.table)}")
    return hit.iloc[0].to_dict()


def paper_values(table: str | None = None, *, known_only: bool = False) -> pd.DataFrame:
    """The paper values of one table (or of all), as printed.

    Args:
        table: e.g. ``"treemtl_table2"``; None concatenates every ``paper_values/*.csv`` table file.
        known_only: drop the empty slots (cells no available text gives).

    Returns:
        DataFrame with the string columns :data:`PAPER_VALUE_COLUMNS` (``value`` exactly as printed) plus
        ``number`` (float, NaN for an empty slot) and ``decimals`` (printed decimals, -1 for an empty slot).
    """
    folder = paper_values_dir()
    if table is None:
        files = sorted(p for p in folder.glob("*.csv") if p.stem not in ("tables", "known_errors"))
    else:
        files = [folder / f"{table}.csv"]
        if not files[0].is_file():
            known = sorted(p.stem for p in folder.glob("*.csv") if p.stem not in ("tables", "known_errors"))
            raise KeyError(f"no paper values for table {table!r}; tables with paper values: {', '.join(known)}")
    frames = [_read_csv(p, PAPER_VALUE_COLUMNS) for p in files]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PAPER_VALUE_COLUMNS)
    if known_only:
        df = df[df.value != ""].reset_index(drop=True)
    df["number"] = pd.to_numeric(df.value.replace("", np.nan))
    df["decimals"] = [(len(v.split(".")[1]) if "." in v else 0) if v else -1 for v in df.value]
    return df


def known_errors(table: str | None = None) -> pd.DataFrame:
    """The cells the papers get wrong (``paper_values/known_errors.csv``), optionally of one table."""
    df = _read_csv(paper_values_dir() / "known_errors.csv", KNOWN_ERROR_COLUMNS)
    return df if table is None else df[df.table == table].reset_index(drop=True)
