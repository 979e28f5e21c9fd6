"""Training recipes of the TreeMTL tables' trained part: single-task references and tree layouts, cached runs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from mtlkit.checks import check_int, check_positive_int
from mtlkit.errors import ConfigError
from mtlkit.facts import DATASET_FACTS, paper_blocks
from mtlkit.paper import paper_values
from mtlkit.picks import RECOMMENDER_TOP1, _setup
from mtlkit.setups import sizes_of

__all__ = ["PAPER_MAPPINGS", "STAND_IN_OPTIONS", "STAND_IN_SIZES", "DATA_SEED", "PAPER_TRAINING", "TrainingPlan",
           "training_plan", "plan_spec", "TrainedLayouts", "train_layouts", "convergence_columns", "trained_layouts_of",
           "delta_table"]

#: The paper's five coarse blocks per backbone as groups of fine-block indices (:func:`mtlkit.facts.paper_blocks`).
PAPER_MAPPINGS = {name: paper_blocks(name) for name in ("deeplab_resnet34", "mobilenet_v2")}
#: Builder options of the CPU stand-in backbones: tiny_resnet with two residual blocks per stage has exactly the
#: paper's five blocks (stem + four BasicBlocks).
STAND_IN_OPTIONS = {"tiny_resnet": (("blocks", (2, 2)),)}
#: Sizes of the trained part at the CPU scales (SynthScenes stand-in).
STAND_IN_SIZES = {scale: sizes_of("treemtl-tables", "nyuv2", scale) for scale in ("smoke", "cpu")}
#: The data seed of every TreeMTL table's trained part (SynthScenes' images; the real datasets' augmentation): the
#: seeds of a table vary only the training (initialisation and batch order), on the same data.
DATA_SEED = 0
#: The authors' training settings (docs/treemtl.md §3; Adam with betas (0.5, 0.999) and weight decay 1e-4 are
#: :class:`mtlkit.train.TrainConfig`'s defaults); rows of :data:`mtlkit.setups.SIZES`.
PAPER_TRAINING = {name: sizes_of("treemtl-tables", name, "paper") for name in ("nyuv2", "taskonomy")}


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
        plateau: train every layout until its validation loss has plateaued (``iterations`` is then the cap,
            evaluated every ``iterations // 20``; :attr:`mtlkit.treemtl.ExperimentSpec.plateau`).
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
    plateau: bool = False

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

    Every layout is trained by the one tree-layout recipe, :func:`mtlkit.treemtl.experiment.train_entry` on
    :func:`plan_spec` (backbone seeded from ``seed``, each head from ``(seed, task)``), and cached in
    :func:`~mtlkit.treemtl.experiment.layout_run_dir`: a layout two tables report (Table 2's #353 is Table 4's
    Top-1), that two notebooks train, or that the oracle study or grid trains on the same spec is trained once, and
    a killed run resumes from its checkpoint. The reference ("Ind. Models") is the independent layout
    (:func:`~mtlkit.treemtl.experiment.train_reference`).

    Args:
        plan: from :func:`training_plan`.
        layouts: ``(setting, method) -> Layout`` (or its string); equal layouts are trained once.
        seed: the training seed (initialisation and batch order); every seed trains on the same data
            (:data:`DATA_SEED`), so the seeds of a table are repeats of one training on one dataset.
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


def plan_spec(plan: TrainingPlan, *, seed: int, data_root: str | Path | None = None,
              weights: str | Path | None = None):
    """The :class:`~mtlkit.treemtl.ExperimentSpec` that trains the layouts of ``plan``: the plan's data, backbone,
    heads, the paper's five blocks (:func:`_blocks_for`) and schedule, one evaluation at the end.

    A layout trained with it (:func:`mtlkit.treemtl.experiment.train_entry`) is the same cached run whichever study
    trains it: a TreeMTL table, the oracle study or the grid on this spec.
    """
    from mtlkit.backbones import get_backbone
    from mtlkit.treemtl.experiment import ExperimentSpec

    check_int(seed, "seed", minimum=0)
    if plan.dataset == "SynthScenes":
        data = dict(dataset="synthscenes", resolution=plan.resolution, n_train=plan.n_train, n_test=plan.n_test,
                    metric_set=plan.metric_set)
    else:
        if data_root is None:
            raise ConfigError(f"{plan.dataset} needs data_root (the folder holding {plan.dataset}/), got None")
        data = dict(dataset=next(n for n, f in DATASET_FACTS.items() if f.label == plan.dataset),
                    data_root=str(data_root))
    size = plan.resolution if plan.dataset == "SynthScenes" else DATASET_FACTS[data["dataset"]].input_size
    blocks = _blocks_for(get_backbone(plan.backbone, **dict(plan.backbone_options)), plan, size)
    return ExperimentSpec(tasks=plan.tasks, backbone=plan.backbone, backbone_kw=dict(plan.backbone_options),
                          blocks=[list(b.fine) for b in blocks], head=plan.head, batch_size=plan.batch,
                          iterations=plan.iterations, lr=plan.lr, lr_step=plan.lr_step, lr_gamma=plan.lr_gamma,
                          eval_every=max(1, plan.iterations // 20) if plan.plateau else plan.iterations, eval_last=1,
                          seed=seed, data_seed=DATA_SEED, plateau=plan.plateau,
                          weights=None if weights is None else str(weights), **data)


def _train_layouts(plan, layouts, *, seed, device, data_root, weights, workers) -> TrainedLayouts:
    from mtlkit.delta import delta_t
    from mtlkit.treemtl import Layout
    from mtlkit.treemtl.experiment import layout_run_dir, read_result, train_entry

    names = plan.tasks
    spec = plan_spec(plan, seed=seed, data_root=data_root, weights=weights)
    parsed = {key: layout if isinstance(layout, Layout) else Layout.parse(str(layout))
              for key, layout in layouts.items()}
    todo = [Layout.independent(spec.T, spec.B), *parsed.values()]
    need = any(read_result(layout_run_dir(spec, L, names, device)) is None for L in todo)
    data = spec.load_data(workers) if need else None
    # the reference is train_reference's run (the independent layout); its whole result carries the convergence
    ref = train_entry(spec, todo[0], names, None, data, device=device, progress=False)
    results = {key: train_entry(spec, L, names, None, data, device=device, progress=False)
               for key, L in parsed.items()}
    reference = ref["metrics"]
    metrics = {key: r["metrics"] for key, r in results.items()}
    layout_of = {key: str(L) for key, L in parsed.items()}
    deltas = {key: delta_t(m, reference, zero_reference="skip") for key, m in metrics.items()}

    extra = dict(backbone=plan.backbone_label, iterations=plan.iterations)
    rows = [dict(setting="as published", method="Ind. Models", task=t, metric=m, value=float(v), layout="", **extra,
                 **convergence_columns(ref)) for t in names for m, v in reference[t].items()]
    for (setting, method), m in metrics.items():
        common = dict(setting=setting, method=method, layout=layout_of[(setting, method)], **extra,
                      **convergence_columns(results[(setting, method)]))
        rows += [dict(task=t, metric=k, value=float(v), **common) for t in names for k, v in m[t].items()]
        d = deltas[(setting, method)]
        rows += [dict(task=t, metric="delta_t", value=float(v), **common) for t, v in d.per_task.items()]
        rows.append(dict(task="all", metric="delta_t", value=float(d.overall), **common))
    return TrainedLayouts(plan, metrics, reference, deltas, layout_of, rows)


def convergence_columns(result: Mapping) -> dict:
    """The results-row columns saying whether a trained layout's run plateaued: ``plateaued`` (True/False) and
    ``stopped_at`` (the iteration the plateau ended it at; the cap when it never plateaued); both empty for a
    fixed-length run (a result without ``convergence``)."""
    conv = result.get("convergence")
    if conv is None:
        return dict(plateaued="", stopped_at="")
    return dict(plateaued=bool(conv["plateaued"]),
                stopped_at=int(conv["stopped_at"] if conv["stopped_at"] is not None else conv["iterations"]))


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
