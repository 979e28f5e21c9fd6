"""The table registry: one :class:`TableSpec` per reproduced paper table (torch-free).

A spec says what a table is about (paper, dataset, backbone), which published two-task table and block costs a
TreeMTL table ranks on, which layouts the paper picks, where its printed values are
(``reproductions/paper_values/<values>``) and how its training at paper scale is estimated
(:func:`mtlkit.compute.table_jobs` dispatches on ``jobs``). A new table is one entry here, its values CSV and its
row in ``paper_values/tables.csv``, and its notebook (CONTRIBUTING.md, "Adding a paper table").
"""
from __future__ import annotations

from dataclasses import dataclass

from mtlkit.errors import unknown_name

__all__ = ["TreeMTLSetup", "PaperPick", "TableSpec", "TABLES", "get_table", "JOB_KINDS"]


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


#: How :func:`mtlkit.compute.table_jobs` estimates a table's training (see there).
JOB_KINDS = ("treemtl_picks", "treemtl_oracle", "automtl_comparison", "automtl_lambda_reg", "automtl_backbones",
             "automtl_search_cost")


@dataclass(frozen=True)
class TableSpec:
    """One reproduced table.

    Attributes:
        table: its id, e.g. ``"treemtl_table2"`` (the notebook ``reproductions/<table>.py``).
        paper: ``"TreeMTL"`` or ``"AutoMTL"``.
        datasets: the :func:`mtlkit.data.dataset_facts` names it reports on.
        backbones: the :mod:`mtlkit.backbones` names it trains at paper scale.
        jobs: one of :data:`JOB_KINDS`: how its GPU training is estimated.
        published: for the TreeMTL ranking tables, the published table and block costs.
        picks: the layouts the paper reports (TreeMTL ranking tables).
    """

    table: str
    paper: str
    datasets: tuple[str, ...]
    backbones: tuple[str, ...]
    jobs: str
    published: TreeMTLSetup | None = None
    picks: tuple[PaperPick, ...] = ()

    @property
    def values(self) -> str:
        """The file of its printed values under ``reproductions/paper_values/``."""
        return f"{self.table}.csv"

    @property
    def notebook(self) -> str:
        """Its reproduction notebook under ``reproductions/``."""
        return f"{self.table}.py"


def _pick(table: str, *rows) -> tuple[PaperPick, ...]:
    return tuple(PaperPick(table, setting, method, index) for setting, method, index in rows)


_NYU_R34 = TreeMTLSetup("nyuv2", "resnet34", 321, "deeplab_resnet34")
_TASKONOMY_R34 = TreeMTLSetup("taskonomy", "resnet34", 224, "deeplab_resnet34")
_R34, _MNV2 = ("deeplab_resnet34",), ("mobilenet_v2",)
#: Every reproduced table. Table 4's two Top-1 rows carry the same numbers as Table 2's #353 and #1046; Tables 5
#: and 6 print no index, only the cost.
TABLES: dict[str, TableSpec] = {t.table: t for t in (
    TableSpec("treemtl_table1", "TreeMTL", ("nyuv2",), _R34, "treemtl_picks", _NYU_R34,
              _pick("treemtl_table1", *(("no budget", f"#{i}", i) for i in (0, 45, 50, 37, 49)))),
    TableSpec("treemtl_table2", "TreeMTL", ("taskonomy",), _R34, "treemtl_picks", _TASKONOMY_R34,
              _pick("treemtl_table2", *((s, f"#{i}", i) for s, i in (("no budget", 353), ("4 models", 958),
                                                                       ("3 models", 1046), ("2 models", 817),
                                                                       ("1 model", 0))))),
    TableSpec("treemtl_table3", "TreeMTL", ("nyuv2", "taskonomy"), (*_R34, *_MNV2), "treemtl_oracle"),
    TableSpec("treemtl_table4", "TreeMTL", ("taskonomy",), _R34, "treemtl_picks", _TASKONOMY_R34,
              _pick("treemtl_table4", ("no budget", "Top-1 w/o budget", 353),
                    ("3 models", "Top-1 within 3 models", 1046))),
    TableSpec("treemtl_table5", "TreeMTL", ("nyuv2",), _MNV2, "treemtl_picks",
              TreeMTLSetup("nyuv2", "mobilenetv2", 321, "mobilenet_v2"),
              _pick("treemtl_table5", ("no budget", "Top-1", None))),
    TableSpec("treemtl_table6", "TreeMTL", ("taskonomy",), _MNV2, "treemtl_picks",
              TreeMTLSetup("taskonomy", "mobilenetv2", 224, "mobilenet_v2"),
              _pick("treemtl_table6", ("no budget", "Top-1", None))),
    TableSpec("automtl_cityscapes", "AutoMTL", ("cityscapes",), _R34, "automtl_comparison"),
    TableSpec("automtl_nyuv2", "AutoMTL", ("nyuv2",), _R34, "automtl_comparison"),
    TableSpec("automtl_taskonomy", "AutoMTL", ("taskonomy",), _R34, "automtl_comparison"),
    TableSpec("automtl_lambda_reg", "AutoMTL", ("cityscapes",), _R34, "automtl_lambda_reg"),
    TableSpec("automtl_backbones", "AutoMTL", ("cityscapes",), ("mobilenet_v2", "mnasnet1_0"), "automtl_backbones"),
    TableSpec("automtl_search_cost", "AutoMTL", ("cityscapes", "nyuv2", "taskonomy"), _R34, "automtl_search_cost"),
)}


def get_table(table: str) -> TableSpec:
    """The :class:`TableSpec` of ``table``.

    Raises:
        ConfigError: an unknown table.
    """
    if table not in TABLES:
        raise unknown_name("table", table, TABLES)
    return TABLES[table]
