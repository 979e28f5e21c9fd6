"""The papers' numbers as data, and the TreeMTL picks next to the exact rankings of the published two-task tables.

``reproductions/paper_values/`` holds every number of the reproduced tables, typed once from the papers (long
format, one row per table × setting × method × task × metric; see ``reproductions/README.md``):

* ``<table>.csv`` — columns :data:`PAPER_VALUE_COLUMNS`; ``value`` is the number *as printed* (a string, so its
  rounding is kept: ``"0.8070"`` has four decimals), empty where no available text gives it;
* ``tables.csv`` — one row per reproduced table: paper, label, title, dataset, backbone, notebook;
* ``known_errors.csv`` — the cells the papers themselves get wrong, with the reason (checked by
  ``tests/test_paper_values.py``: every listed cell really is inconsistent, and no other cell is).

The TreeMTL part: :data:`TREEMTL_PICKS` names the layouts the paper's Tables 1, 2, 4, 5 and 6 report (by index, or
by their printed cost where the paper gives none) and :func:`pick_ranking` places each of them in the exact ranking
that :func:`mtlkit.treemtl.recommend` computes from the authors' published two-task tables, under the row's budget,
with the recommender's own top-1 next to it. No torch is imported here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from mtlkit.checks import check_positive_int
from mtlkit.errors import ConfigError, unknown_name
from mtlkit.facts import (ARCHITECTURE_FACTS, DATASET_FACTS, EXACT_DATASETS, PUBLISHED_DATASET, PUBLISHED_POLICY,
                          paper_blocks)
from mtlkit.paths import paper_values_dir, reproductions_dir

__all__ = [
    "PAPER_VALUE_COLUMNS", "PUBLISHED_DATASET", "PUBLISHED_POLICY", "ARCHITECTURE_FACTS", "EXACT_DATASETS", "TreeMTLSetup", "PaperPick", "TREEMTL_TABLES", "TREEMTL_PICKS",
    "reproductions_dir", "paper_values_dir", "list_tables", "table_info", "paper_values", "known_errors",
    "budget_of", "treemtl_costs", "identify_by_cost", "pick_ranking", "ranking_records",
    "check_reproduction_params", "plot_ranking", "RECOMMENDER_TOP1", "PAPER_MAPPINGS", "TrainingPlan",
    "training_plan", "TrainedLayouts", "train_layouts", "trained_layouts_of", "delta_table",
]

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


# ------------------------------------------------------------------------------------------------ TreeMTL picks
@dataclass(frozen=True)
class TreeMTLSetup:
    """Which published two-task table and block costs a TreeMTL table uses.

    Attributes:
        dataset: ``"nyuv2"`` or ``"taskonomy"`` (:func:`mtlkit.treemtl.published_table`).
        backbone: ``"resnet34"`` (Deeplab-ResNet34) or ``"mobilenetv2"``.
        input_size: the input the paper's FLOPs are measured at: 321 (NYUv2), 224 (Taskonomy).
        model_backbone: the :mod:`mtlkit.backbones` name of the paper's backbone (for the trained part).
    """

    dataset: str
    backbone: str
    input_size: int
    model_backbone: str


@dataclass(frozen=True)
class PaperPick:
    """A layout a TreeMTL table reports: its row (setting, method) and its paper index, None if only its printed
    FLOPs(%) / #Params(%) identify it."""

    table: str
    setting: str
    method: str
    paper_index: int | None


TREEMTL_TABLES = {
    "treemtl_table1": TreeMTLSetup("nyuv2", "resnet34", 321, "deeplab_resnet34"),
    "treemtl_table2": TreeMTLSetup("taskonomy", "resnet34", 224, "deeplab_resnet34"),
    "treemtl_table4": TreeMTLSetup("taskonomy", "resnet34", 224, "deeplab_resnet34"),
    "treemtl_table5": TreeMTLSetup("nyuv2", "mobilenetv2", 321, "mobilenet_v2"),
    "treemtl_table6": TreeMTLSetup("taskonomy", "mobilenetv2", 224, "mobilenet_v2"),
}

#: The paper's picks, row by row. Tables 4's two Top-1 rows carry the same numbers as Table 2's #353 and #1046;
#: Tables 5 and 6 print no index, only the cost.
TREEMTL_PICKS: dict[str, tuple[PaperPick, ...]] = {
    "treemtl_table1": tuple(PaperPick("treemtl_table1", "no budget", f"#{i}", i) for i in (0, 45, 50, 37, 49)),
    "treemtl_table2": tuple(PaperPick("treemtl_table2", s, f"#{i}", i) for s, i in
                            (("no budget", 353), ("4 models", 958), ("3 models", 1046), ("2 models", 817),
                             ("1 model", 0))),
    "treemtl_table4": (PaperPick("treemtl_table4", "no budget", "Top-1 w/o budget", 353),
                       PaperPick("treemtl_table4", "3 models", "Top-1 within 3 models", 1046)),
    "treemtl_table5": (PaperPick("treemtl_table5", "no budget", "Top-1", None),),
    "treemtl_table6": (PaperPick("treemtl_table6", "no budget", "Top-1", None),),
}


def budget_of(setting: str) -> float | None:
    """The budget (number of backbone models) of a TreeMTL setting: ``"no budget"`` -> None, ``"3 models"`` -> 3."""
    if setting == "no budget":
        return None
    m = re.fullmatch(r"(\d+) models?", setting)
    if not m:
        raise ConfigError(f"setting must be 'no budget' or '<k> model(s)', got {setting!r}")
    return float(m.group(1))


def _setup(table: str) -> TreeMTLSetup:
    if table not in TREEMTL_TABLES:
        raise unknown_name("TreeMTL table", table, TREEMTL_TABLES)
    return TREEMTL_TABLES[table]


def treemtl_costs(table: str):
    """``(published two-task table, block costs)`` of a TreeMTL table (the paper's input size)."""
    from mtlkit.treemtl import get_block_costs, published_table

    s = _setup(table)
    return published_table(s.dataset, s.backbone), get_block_costs(s.backbone, s.input_size)


def _paper_cell(values: pd.DataFrame, pick: PaperPick, metric: str) -> str:
    hit = values[(values.setting == pick.setting) & (values.method == pick.method) & (values.task == "all")
                 & (values.metric == metric)]
    if len(hit) != 1:
        raise ConfigError(f"paper_values/{pick.table}.csv must hold exactly one {metric} cell for "
                          f"({pick.setting!r}, {pick.method!r}), found {len(hit)}")
    return hit.value.iloc[0]


def identify_by_cost(ranking: pd.DataFrame, flops_pct: str, params_pct: str, tolerance: float = 0.01) -> list[int]:
    """Paper indices of the layouts whose exact FLOPs(%) and #Params(%) match the printed ones.

    A printed cost matches when it is within ``tolerance`` of the exact value: half a unit of the last printed digit
    for the rounding, plus half a unit for the paper's habit of printing a few cells one unit off (see
    ``known_errors.csv``).

    Args:
        ranking: a full :func:`mtlkit.treemtl.recommend` result with cost columns.
        flops_pct, params_pct: the printed values.
        tolerance: maximum absolute difference (percentage points).
    """
    f, p = float(flops_pct), float(params_pct)
    hit = ranking[((ranking.macs_pct - f).abs() <= tolerance) & ((ranking.params_pct - p).abs() <= tolerance)]
    return [int(i) for i in hit.paper_index]


def pick_ranking(table: str) -> pd.DataFrame:
    """The paper's picks of a TreeMTL table in the exact ranking of the published two-task table.

    For every :data:`TREEMTL_PICKS` row: the layout (identified by cost where the paper prints no index), its rank
    under the row's budget and without budget, its score, the paper's and the exact FLOPs(%) / #Params(%), and the
    recommender's top-1 under the same budget. Costs are backbone-only relative to T independent backbones, on
    MACs (the paper's "FLOPs"), at the paper's input size.

    Args:
        table: ``"treemtl_table1"``, ``"treemtl_table2"``, ``"treemtl_table4"``, ``"treemtl_table5"`` or
            ``"treemtl_table6"``.

    Returns:
        One row per pick with columns ``setting, budget, method, identified_by, paper_index, layout, paper_rank,
        rank, rank_overall, score, paper_flops_pct, paper_params_pct, flops_pct, params_pct, cost_matches,
        closest_index, top1_index, top1_layout, top1_score, top1_flops_pct, top1_params_pct``. A pick that no
        layout's cost matches has <NA> index and ranks, and the closest-cost layout in ``closest_index``.
    """
    from mtlkit.treemtl import recommend

    two_task, costs = treemtl_costs(table)
    values = paper_values(table)
    full = recommend(two_task, costs, k=None)
    by_index = full.reset_index().set_index("paper_index")
    rows = []
    for pick in TREEMTL_PICKS[table]:
        budget = budget_of(pick.setting)
        sub = full if budget is None else recommend(two_task, costs, budget=budget, k=None)
        rank_in_sub = pd.Series(sub.index.to_numpy(), index=sub.paper_index.to_numpy())
        paper_flops, paper_params = _paper_cell(values, pick, "flops_pct"), _paper_cell(values, pick, "params_pct")
        row = dict(setting=pick.setting, budget=budget, method=pick.method, paper_rank=int(_paper_cell(values, pick,
                   "rank")), paper_flops_pct=paper_flops, paper_params_pct=paper_params, cost_matches=pd.NA,
                   closest_index=pd.NA)
        index = pick.paper_index
        if index is None:
            matches = identify_by_cost(full, paper_flops, paper_params)
            row["cost_matches"] = len(matches)
            dist = np.maximum((full.macs_pct - float(paper_flops)).abs(), (full.params_pct - float(paper_params)).abs())
            row["closest_index"] = int(full.paper_index.iloc[int(np.argmin(dist.to_numpy()))])
            if matches:  # several layouts may share a cost: take the one the recommender ranks best
                index = min(matches, key=lambda i: rank_in_sub.get(i, np.inf))
                row["identified_by"] = f"cost ({len(matches)} layout{'s' if len(matches) > 1 else ''} with it)"
            else:
                row["identified_by"] = "no layout has the printed cost"
        else:
            row["identified_by"] = "index"
        if index is not None:
            ours = by_index.loc[index]
            row.update(paper_index=int(index), layout=str(ours.layout), rank=int(rank_in_sub[index]),
                       rank_overall=int(ours["rank"]), score=float(ours.score), flops_pct=float(ours.macs_pct),
                       params_pct=float(ours.params_pct))
        else:
            row.update(paper_index=pd.NA, layout="", rank=pd.NA, rank_overall=pd.NA, score=np.nan,
                       flops_pct=np.nan, params_pct=np.nan)
        top = sub.iloc[0]
        row.update(top1_index=int(top.paper_index), top1_layout=str(top.layout), top1_score=float(top.score),
                   top1_flops_pct=float(top.macs_pct), top1_params_pct=float(top.params_pct))
        rows.append(row)
    cols = ["setting", "budget", "method", "identified_by", "paper_index", "layout", "paper_rank", "rank",
            "rank_overall", "score", "paper_flops_pct", "paper_params_pct", "flops_pct", "params_pct", "cost_matches",
            "closest_index", "top1_index", "top1_layout", "top1_score", "top1_flops_pct", "top1_params_pct"]
    return pd.DataFrame(rows)[cols]


#: The method name under which :func:`ranking_records` stores the recommender's own top-1 of a setting.
RECOMMENDER_TOP1 = "recommender top-1"


def ranking_records(picks: pd.DataFrame) -> list[dict]:
    """Long rows for :func:`mtlkit.report.record` (``dataset=PUBLISHED_DATASET``) from :func:`pick_ranking`.

    Per pick (task ``"all"``): ``rank`` (under the row's budget), ``rank_overall``, ``score``, ``flops_pct``,
    ``params_pct``, ``paper_index`` and, for picks identified by cost, ``cost_matches``; the extra key ``layout``.
    Per setting, the recommender's top-1 as method :data:`RECOMMENDER_TOP1` (``paper_index``, ``score``,
    ``flops_pct``, ``params_pct``).
    """
    out: list[dict] = []

    def add(setting, method, metric, value, layout):
        if value is not None and not pd.isna(value):
            out.append(dict(setting=setting, method=method, task="all", metric=metric, value=value, layout=layout))

    seen = set()
    for r in picks.itertuples(index=False):
        for metric in ("rank", "rank_overall", "score", "flops_pct", "params_pct", "paper_index", "cost_matches"):
            add(r.setting, r.method, metric, getattr(r, metric), r.layout)
        if r.setting not in seen:
            seen.add(r.setting)
            for metric, col in (("paper_index", "top1_index"), ("score", "top1_score"),
                                ("flops_pct", "top1_flops_pct"), ("params_pct", "top1_params_pct")):
                add(r.setting, RECOMMENDER_TOP1, metric, getattr(r, col), r.top1_layout)
    return out


# ------------------------------------------------------------------------------------------ notebook parameters
def check_reproduction_params(scale: str, seed: int, device: str, out_dir: str | Path, *, backbone: str | None = None,
                              data_root: str | Path | None = None, cpu_backbone: str | None = None,
                              weights: str | Path | None = None) -> Path:
    """Validate a reproduction notebook's parameters cell, before anything runs.

    Args:
        scale, seed, device, out_dir: as :func:`mtlkit.config.check_params`.
        backbone: a :func:`mtlkit.backbones.list_backbones` name (checked when given).
        data_root: folder holding the real datasets; required at ``scale="paper"``, must exist when given.
        cpu_backbone: the stand-in backbone of the smoke/cpu scales (checked like ``backbone``).
        weights: optional local backbone weights file (must exist when given).

    Returns:
        ``out_dir`` as a created Path.

    Raises:
        ConfigError: a bad scale/seed/device, an unknown backbone, ``scale="paper"`` without ``data_root``.
        FileNotFoundError: ``data_root`` or ``weights`` does not exist.
    """
    from mtlkit.config import check_params, check_scale

    check_scale(scale)
    for arg, name in (("backbone", backbone), ("cpu_backbone", cpu_backbone)):
        if name is not None:
            from mtlkit.backbones import list_backbones

            if name not in list_backbones():
                raise ConfigError(f"{arg}: unknown backbone {name!r}; valid backbones are: "
                                  f"{', '.join(list_backbones())}")
    if weights is not None and not Path(weights).is_file():
        raise FileNotFoundError(f"backbone weights file {str(weights)!r} does not exist (nothing is downloaded)")
    if scale == "paper" and data_root is None:
        raise ConfigError("scale='paper' trains on the real datasets: set data_root to the folder that holds "
                          "NYUv2/, Taskonomy/, CityScapes/ (see reproductions/README.md), e.g. "
                          "`papermill ... -p scale paper -p data_root /data/mtl`; got data_root=None")
    if data_root is not None and not Path(data_root).is_dir():
        raise FileNotFoundError(f"data_root={str(data_root)!r} is not a directory")
    return check_params(scale, seed, device, out_dir)



# -------------------------------------------------------------------------------------------------------- figure
def plot_ranking(ranking: pd.DataFrame, picks: pd.DataFrame, *, title: str, T: int,
                 budgets: Iterable[float] = (), ax=None):
    """Every layout's estimated score against its FLOPs(%), with the paper's picks and the recommender's top-1s.

    Args:
        ranking: the full :func:`mtlkit.treemtl.recommend` result (with cost columns).
        picks: :func:`pick_ranking` of the table.
        title: the axes title.
        T: number of tasks (places the budget lines: ``k`` backbones = ``100·(k/T − 1)`` %).
        budgets: budgets (in backbones) to draw as dashed vertical lines.
        ax: a matplotlib Axes to draw on (a new figure when None).

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(8.5, 5.2))
    else:
        fig = ax.figure
    n = len(ranking)
    ax.scatter(ranking.macs_pct, ranking.score, s=6 if n > 1000 else 22, c="0.72", lw=0,
               label=f"all {n:,} layouts (published two-task table)")
    for b in budgets:
        x = 100 * (b / T - 1)
        ax.axvline(x, color="0.45", ls="--", lw=0.8)
        ax.text(x, 1.0, f" ≤{b:g} model{'' if b == 1 else 's'}", transform=ax.get_xaxis_transform(), va="top", ha="left", fontsize=8, color="0.3")
    shown_pick = shown_top = False
    for i, r in enumerate(picks.itertuples(index=False)):
        if not pd.isna(r.paper_index):
            ax.scatter([r.flops_pct], [r.score], s=70, facecolors="none", edgecolors="tab:red", lw=1.6,
                       label=None if shown_pick else "the paper's pick (paper rank → our rank under its budget)",
                       zorder=3)
            shown_pick = True
            ax.annotate(f"#{r.paper_index}: {r.paper_rank} → {r.rank}", (r.flops_pct, r.score),
                        xytext=(8, 5 if i % 2 == 0 else -13), textcoords="offset points", fontsize=8,
                        color="tab:red")
        else:
            ax.axvline(float(r.paper_flops_pct), color="tab:red", ls=":", lw=1.2,
                       label=f"the paper's {r.method} cost ({r.paper_flops_pct} %): no layout has it")
        top = ranking[ranking.paper_index == r.top1_index].iloc[0]
        ax.scatter([top.macs_pct], [top.score], marker="*", s=130, c="tab:blue", zorder=4,
                   label=None if shown_top else "recommender's top-1 under the row's budget")
        shown_top = True
    ax.set_xlabel("FLOPs (%) relative to T independent backbones (backbone MACs)")
    ax.set_ylabel("estimated score $S = \\hat w^\\top \\hat{\\Delta t}$ (Eq. 2)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return fig


# ------------------------------------------------------------------------------------------------- trained part
#: The paper's five coarse blocks per backbone as groups of fine-block indices (:func:`mtlkit.facts.paper_blocks`).
PAPER_MAPPINGS = {name: paper_blocks(name) for name in ("deeplab_resnet34", "mobilenet_v2")}
#: Builder options of the CPU stand-in backbones: tiny_resnet with two residual blocks per stage has exactly the
#: paper's five blocks (stem + four BasicBlocks).
STAND_IN_OPTIONS = {"tiny_resnet": (("blocks", (2, 2)),)}
#: Sizes of the trained part at the CPU scales (SynthScenes stand-in).
STAND_IN_SIZES = {
    "smoke": dict(n_train=8, n_test=4, resolution=32, iterations=2, batch=4, lr=1e-3, lr_step=None, lr_gamma=0.5),
    "cpu": dict(n_train=512, n_test=128, resolution=32, iterations=150, batch=16, lr=1e-3, lr_step=None,
                lr_gamma=0.5),
}
#: The authors' training settings (spec treemtl.md §3; Adam with betas (0.5, 0.999) and weight decay 1e-4 are
#: :class:`mtlkit.train.TrainConfig`'s defaults).
PAPER_TRAINING = {
    "nyuv2": dict(iterations=20_000, batch=16, lr=1e-3, lr_step=4_000, lr_gamma=0.5),
    "taskonomy": dict(iterations=50_000, batch=16, lr=1e-4, lr_step=10_000, lr_gamma=0.3),
}


@dataclass(frozen=True)
class TrainingPlan:
    """What the trained part of a TreeMTL reproduction trains at one scale.

    Attributes:
        table: the TreeMTL table.
        scale: ``"smoke"``, ``"cpu"`` or ``"paper"``.
        dataset: ``"SynthScenes"`` (smoke/cpu stand-in) or the paper's ``"NYUv2"`` / ``"Taskonomy"``.
        tasks: the paper's tasks of the table, in the published table's order.
        metric_set: ``"nyuv2"`` or ``"taskonomy"`` (:mod:`mtlkit.tasks`), the paper's metrics.
        backbone: :mod:`mtlkit.backbones` name; ``backbone_options`` its builder options.
        head: ``"aspp"`` (paper) or ``"light"`` (stand-in).
        n_train, n_test, resolution: SynthScenes sizes (None: the real dataset's splits and geometry).
        iterations, batch, lr, lr_step, lr_gamma: the optimisation (see :class:`mtlkit.train.TrainConfig`).
    """

    table: str
    scale: str
    dataset: str
    tasks: tuple[str, ...]
    metric_set: str
    backbone: str
    backbone_options: tuple = ()
    head: str = "light"
    n_train: int | None = None
    n_test: int | None = None
    resolution: int | None = None
    iterations: int = 1
    batch: int = 16
    lr: float = 1e-3
    lr_step: int | None = None
    lr_gamma: float = 0.5

    @property
    def backbone_label(self) -> str:
        """The backbone as shown in results rows, e.g. ``"tiny_resnet(blocks=(2, 2))"``."""
        opts = ", ".join(f"{k}={v!r}" for k, v in self.backbone_options)
        return f"{self.backbone}({opts})" if opts else self.backbone


def training_plan(table: str, scale: str, *, backbone: str, cpu_backbone: str = "tiny_resnet",
                  iterations: int | None = None) -> TrainingPlan:
    """The trained part's plan: the paper's settings at ``scale="paper"``, a SynthScenes stand-in otherwise.

    Args:
        table: a TreeMTL table of :data:`TREEMTL_TABLES`.
        scale: ``"smoke"`` | ``"cpu"`` | ``"paper"``.
        backbone: the backbone trained at paper scale (the paper's: ``TREEMTL_TABLES[table].model_backbone``).
        cpu_backbone: the stand-in trained at smoke/cpu scale.
        iterations: override the scale's number of training iterations.
    """
    from mtlkit.config import check_scale

    check_scale(scale)
    s = _setup(table)
    tasks = DATASET_FACTS[s.dataset].tasks
    check_positive_int(iterations, "iterations", none_ok=True)
    if scale == "paper":
        opt = dict(PAPER_TRAINING[s.dataset])
        plan = TrainingPlan(table, scale, DATASET_FACTS[s.dataset].label, tasks, s.dataset, backbone, (), "aspp", **opt)
    else:
        opt = dict(STAND_IN_SIZES[scale])
        plan = TrainingPlan(table, scale, "SynthScenes", tasks, s.dataset, cpu_backbone,
                            STAND_IN_OPTIONS.get(cpu_backbone, ()), "light", **opt)
    if iterations is not None:
        from dataclasses import replace

        plan = replace(plan, iterations=iterations)
    return plan


@dataclass
class TrainedLayouts:
    """Results of :func:`train_layouts`.

    Attributes:
        plan: the :class:`TrainingPlan`.
        metrics: ``(setting, method) -> {task: {metric: value}}`` of each trained layout.
        reference: ``{task: {metric: value}}`` of the single-task models (the paper's "Ind. Models").
        deltas: ``(setting, method) -> DeltaResult`` (Δ_t per task and overall, percent).
        layouts: ``(setting, method) -> layout string``.
        rows: the rows for :func:`mtlkit.report.record` (``dataset=plan.dataset``).
    """

    plan: TrainingPlan
    metrics: dict
    reference: dict
    deltas: dict
    layouts: dict
    rows: list


def _blocks_for(backbone_module, plan: TrainingPlan, size: int):
    import torch

    from mtlkit.treemtl import branching_points, coarsen

    fine = branching_points(backbone_module, torch.zeros(1, 3, size, size))
    if plan.backbone in PAPER_MAPPINGS and fine.B == sum(map(len, PAPER_MAPPINGS[plan.backbone])):
        return coarsen(fine, PAPER_MAPPINGS[plan.backbone])
    if fine.B > 5:
        return coarsen(fine, 5)  # balanced on FLOPs, as the paper made MobileNetV2's five blocks
    if fine.B < 5:
        raise ConfigError(f"backbone {plan.backbone_label} has {fine.B} branching points; the paper's layouts need "
                          "5 (choose a deeper backbone)")
    return fine


def train_layouts(plan: TrainingPlan, layouts: Mapping[tuple[str, str], object], *, seed: int, device: str = "cpu",
                  data_root: str | Path | None = None, weights: str | Path | None = None, workers: int = 0,
                  threads: int | None = None) -> TrainedLayouts:
    """Train the layouts of a TreeMTL table and the single-task references, evaluate them, compute Δt.

    Every run is cached (:func:`mtlkit.cache.run_dir`, keyed by the layout, data, model and optimisation), so a
    layout two tables report (Table 2's #353 is Table 4's Top-1) or that two notebooks train is trained once, and a
    killed run resumes from its checkpoint. Each model is initialised after ``seed_everything(seed)``.

    Args:
        plan: from :func:`training_plan`.
        layouts: ``(setting, method) -> Layout`` (or its string); equal layouts are trained once.
        seed: seed of initialisation, data order and (SynthScenes) data.
        device: ``"cpu"`` or ``"cuda"``.
        data_root: folder with ``NYUv2/`` or ``Taskonomy/`` (paper scale).
        weights: optional local backbone weights file (the paper started from a pretrained checkpoint).
        workers: DataLoader worker processes.
        threads: torch intra-op threads while training (restored after); None leaves torch's setting. On a shared
            2-core machine one thread trained the stand-in ~15× faster than two (0.047 vs 0.76 s per iteration of a
            3-task tiny_resnet tree at 32 px, measured under load), so the notebooks pass 1 on CPU.

    Returns:
        :class:`TrainedLayouts`.
    """
    import torch

    if threads is None:
        return _train_layouts(plan, layouts, seed=seed, device=device, data_root=data_root, weights=weights,
                              workers=workers)
    check_positive_int(threads, "threads")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _train_layouts(plan, layouts, seed=seed, device=device, data_root=data_root, weights=weights,
                              workers=workers)
    finally:
        torch.set_num_threads(before)


def _train_layouts(plan, layouts, *, seed, device, data_root, weights, workers) -> TrainedLayouts:
    import torch

    from mtlkit.backbones import get_backbone
    from mtlkit.cache import run_dir
    from mtlkit.delta import delta_t
    from mtlkit.heads import get_head
    from mtlkit.models import build_model
    from mtlkit.tasks import get_task
    from mtlkit.train import TrainConfig, evaluate, seed_everything, train
    from mtlkit.treemtl import Layout, TreeModel

    names = plan.tasks
    if plan.dataset == "SynthScenes":
        from mtlkit.data import SynthScenes

        train_set = SynthScenes("train", size=plan.n_train, resolution=plan.resolution, tasks=names, seed=seed,
                                cache=True)
        test_set = SynthScenes("test", size=plan.n_test, resolution=plan.resolution, tasks=names, seed=seed,
                               cache=True)
        options = {t: {"metric_set": plan.metric_set, **train_set.task_options().get(t, {})} for t in names}
        size = plan.resolution
        data_key = dict(dataset="SynthScenes", n_train=plan.n_train, resolution=plan.resolution, seed=seed)
    else:
        if data_root is None:
            raise ConfigError(f"{plan.dataset} needs data_root (the folder holding {plan.dataset}/), got None")
        import mtlkit.data as data

        root = Path(data_root) / plan.dataset
        cls = getattr(data, plan.dataset)
        train_set, test_set = cls(root, "train", names), cls(root, "test", names)
        # the paper's evaluation conventions (mtlkit's paper-compatible evaluators) for comparable numbers
        options = {t: {**train_set.task_options().get(t, {}), "paper_compat": True} for t in names}
        size = 321 if plan.dataset == "NYUv2" else 224
        data_key = dict(dataset=plan.dataset, root=str(Path(data_root).resolve()), seed=seed)
    tasks = {t: get_task(t, **options[t]) for t in names}
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(train_set, batch_size=plan.batch, shuffle=True, generator=gen,
                                         num_workers=workers, drop_last=len(train_set) > plan.batch)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=max(plan.batch, 16), num_workers=workers)
    config = TrainConfig(iterations=plan.iterations, lr=plan.lr, lr_step=plan.lr_step, lr_gamma=plan.lr_gamma,
                         device=device, seed=seed, checkpoint_every=max(1, min(500, plan.iterations)))
    data_key.update(tasks=names, batch=plan.batch)
    model_key = dict(backbone=plan.backbone, options=[list(kv) for kv in plan.backbone_options], head=plan.head,
                     weights=None if weights is None else str(weights), metric_set=plan.metric_set,
                     paper_compat=plan.dataset != "SynthScenes")

    def backbone():
        seed_everything(seed)
        return get_backbone(plan.backbone, weights=weights, **dict(plan.backbone_options))

    reference = {}
    for t in names:
        model = build_model(backbone(), {t: tasks[t]}, head=plan.head)
        # a single-task run depends on its own task only (same images, same order): tables share it
        stl_model = {k: v for k, v in model_key.items() if k != "metric_set"}
        stl_data = {**data_key, "tasks": [t]}
        run = run_dir(f"treemtl-stl-{t}", model=stl_model, data=stl_data, config=config, device=device)
        train(model, {t: tasks[t]}, loader, config, run_dir=run)
        reference[t] = evaluate(model, {t: tasks[t]}, test_loader, device=device)[t]

    by_layout: dict[str, dict] = {}
    metrics, layout_of = {}, {}
    for key, layout in layouts.items():
        layout = layout if isinstance(layout, Layout) else Layout.parse(str(layout))
        text = str(layout)
        layout_of[key] = text
        if text not in by_layout:
            bb = backbone()
            heads = {t: get_head(plan.head, bb.out_channels, tasks[t].out_channels) for t in names}
            model = TreeModel(_blocks_for(bb, plan, size), layout, heads, tasks=tasks)
            run = run_dir("treemtl-layout", layout=text, model=model_key, data=data_key, config=config,
                          depends_on=("mtlkit.treemtl.tree_model",), device=device)
            train(model, tasks, loader, config, run_dir=run)
            by_layout[text] = evaluate(model, tasks, test_loader, device=device)
        metrics[key] = by_layout[text]
    deltas = {key: delta_t(m, reference, zero_reference="skip") for key, m in metrics.items()}

    extra = dict(backbone=plan.backbone_label, iterations=plan.iterations)
    rows = [dict(setting="as published", method="Ind. Models", task=t, metric=m, value=float(v), layout="", **extra)
            for t in names for m, v in reference[t].items()]
    for (setting, method), m in metrics.items():
        common = dict(setting=setting, method=method, layout=layout_of[(setting, method)], **extra)
        rows += [dict(task=t, metric=k, value=float(v), **common) for t in names for k, v in m[t].items()]
        d = deltas[(setting, method)]
        rows += [dict(task=t, metric="delta_t", value=float(v), **common) for t, v in d.per_task.items()]
        rows.append(dict(task="all", metric="delta_t", value=float(d.overall), **common))
    return TrainedLayouts(plan, metrics, reference, deltas, layout_of, rows)


def trained_layouts_of(picks: pd.DataFrame) -> dict[tuple[str, str], str]:
    """What the trained part trains, from :func:`pick_ranking`: every identified pick of the paper and, where it
    differs, the recommender's own top-1 under the same setting (method :data:`RECOMMENDER_TOP1`)."""
    out: dict[tuple[str, str], str] = {}
    for r in picks.itertuples(index=False):
        if r.layout:
            out[(r.setting, r.method)] = r.layout
    for setting, rows in picks.groupby("setting", sort=False):
        top = rows.top1_layout.iloc[0]
        if top not in set(rows.layout):
            out[(setting, RECOMMENDER_TOP1)] = top
    return out


def delta_table(trained: TrainedLayouts) -> pd.DataFrame:
    """Δ_t per task and overall of every trained layout, ours next to the paper's printed value.

    The two columns are the same experiment only at ``scale="paper"`` on the paper's dataset; at the CPU scales
    ours is a SynthScenes stand-in and the paper's value is shown for orientation only.

    Returns:
        DataFrame indexed by (setting, method, layout) with columns (task, "paper" | "ours"), tasks then ``all``.
    """
    values = paper_values(trained.plan.table, known_only=True)
    paper = {(r.setting, r.method, r.task): r.number for r in values[values.metric == "delta_t"].itertuples()}
    rows = []
    for (setting, method), d in trained.deltas.items():
        row = {"setting": setting, "method": method, "layout": trained.layouts[(setting, method)]}
        for task in (*trained.plan.tasks, "all"):
            row[(task, "paper")] = paper.get((setting, method, task), np.nan)
            row[(task, "ours")] = d.overall if task == "all" else d.per_task.get(task, np.nan)
        rows.append(row)
    df = pd.DataFrame(rows).set_index(["setting", "method", "layout"])
    df.columns = pd.MultiIndex.from_tuples(df.columns, names=["task", ""])
    return df
