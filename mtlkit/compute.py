"""Expected GPU hours of every reproduction at paper scale, estimated from its training compute.

No paper-scale run has been measured here (no GPU), so the hours are an **estimate**, computed, not guessed:

    hours = Σ_jobs  models × iterations × batch × 3 × forward FLOPs per image  /  sustained throughput

* **forward FLOPs per image** are counted with ``torch.utils.flop_counter`` on the paper's models built on the
  ``meta`` device (no memory, no compute): the backbone at the paper's input size and one ASPP head (1024 channels,
  rates 6–24) per task on the backbone's feature map. A TreeMTL layout's backbone costs Σ_c copies_c × block c,
  from the registered per-block costs (:func:`mtlkit.treemtl.get_block_costs`, the paper's FLOP measurements).
  AutoMTL's pre-train ("mean" mode) and policy-train ("soft" mode) run, per task, the shared and the task-specific
  conv on every node (the skip is an identity or a small 1×1 conv), so they are counted as 2 backbones per task;
  a post-trained AutoMTL model with task-specific BN costs one backbone per task (nothing is shared after the
  first BN; see ``mtlkit/automtl/README.md``).
* **× 3**: a training step costs about three forward passes (forward + backward for activations and weights).
* **throughput**: :data:`ASSUMED_TFLOPS` sustained FLOP/s; pass your GPU's to :func:`gpu_hours`. Data loading,
  evaluation and checkpoints are not counted.

Models shared between tables (e.g. TreeMTL Table 4's layouts are Table 2's) are cached at run time
(:mod:`mtlkit.cache`) and trained once; the per-table rows count each table on its own.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from mtlkit.facts import DATASET_FACTS

__all__ = ["ASSUMED_TFLOPS", "TRAIN_FACTOR", "Job", "forward_gflops", "table_jobs", "gpu_hours", "hours_by_table"]

#: Sustained training throughput assumed by default (TFLOP/s): about half the fp32 peak of an NVIDIA RTX 8000
#: (16.3 TFLOP/s), the GPU the AutoMTL paper reports using.
ASSUMED_TFLOPS = 8.0
#: A training step ≈ 3 forward passes.
TRAIN_FACTOR = 3

_SIZES = {name: f.input_size for name, f in DATASET_FACTS.items()}  # training crops (docs/automtl.md §3.5)
_CLASSES = {name: f.classes for name, f in DATASET_FACTS.items()}
_TASKS = {name: len(f.tasks) for name, f in DATASET_FACTS.items()}
_BLOCK_COSTS = {"deeplab_resnet34": "resnet34", "mobilenet_v2": "mobilenetv2"}
#: AutoMTL stage lengths (docs/automtl.md §3.2–3.5; baselines post-trained with AutoMTL's post-train schedule).
_AUTOMTL = dict(pre=10_000, policy=20_000, post=30_000, batch=16)
#: Datasets whose paper-scale setup has no pre-train (CityScapes, as the paper's reported model:
#: ``mtlkit.automtl.experiments.PAPER_SIZES``).
_NO_PRE_TRAIN = ("cityscapes",)


@dataclass(frozen=True)
class Job:
    """One kind of training run of a table: ``models`` runs of ``iterations`` steps at ``batch`` images.

    ``gflops`` is the forward GFLOPs per image of one model (an average when the models differ).
    """

    table: str
    job: str
    models: int
    iterations: int
    batch: int
    gflops: float

    @property
    def pflop(self) -> float:
        """Training compute of the job in PFLOP (10^15)."""
        return self.models * self.iterations * self.batch * TRAIN_FACTOR * self.gflops * 1e9 / 1e15


@functools.lru_cache(maxsize=None)
def forward_gflops(backbone: str, size: int, classes: int = 1) -> tuple[float, float]:
    """Forward GFLOPs per image of ``backbone`` at ``size``×``size`` and of one ASPP head on its features.

    Args:
        backbone: a :mod:`mtlkit.backbones` name.
        size: input height = width.
        classes: the head's output channels (its last 1×1 convs; a small part of the head's cost).

    Returns:
        ``(backbone GFLOPs, head GFLOPs)``, counted on the meta device.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mtlkit.backbones import backbone_channels, get_backbone
    from mtlkit.heads import get_head

    with torch.device("meta"):
        net = get_backbone(backbone)
        head = get_head("aspp", backbone_channels(backbone), classes)
        with FlopCounterMode(display=False) as counter:
            features = net(torch.zeros(1, 3, size, size))
        bb = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter:
            head(features)
    return bb / 1e9, counter.get_total_flops() / 1e9


def _layout_backbone_gflops(layouts, backbone: str, size: int) -> list[float]:
    from mtlkit.treemtl import Layout, get_block_costs, layout_costs

    costs = get_block_costs(f"{_BLOCK_COSTS[backbone]}@{size}")
    return [2 * layout_costs(Layout.parse(L) if isinstance(L, str) else L, costs)["macs"] / 1e9 for L in layouts]


def _treemtl_jobs(table: str) -> list[Job]:
    from mtlkit.picks import TREEMTL_TABLES, pick_ranking
    from mtlkit.recipes import PAPER_TRAINING, trained_layouts_of

    setup = TREEMTL_TABLES[table]
    T, size, bb = _TASKS[setup.dataset], setup.input_size, setup.model_backbone
    plan = PAPER_TRAINING[setup.dataset]
    head = forward_gflops(bb, size, _CLASSES[setup.dataset])[1]
    layouts = sorted(set(trained_layouts_of(pick_ranking(table)).values()))
    per_layout = [g + T * head for g in _layout_backbone_gflops(layouts, bb, size)]
    single = forward_gflops(bb, size)[0] + head
    return [Job(table, "recommended layouts", len(layouts), plan["iterations"], plan["batch"],
                sum(per_layout) / len(per_layout)),
            Job(table, "single-task references", T, plan["iterations"], plan["batch"], single)]


def _treemtl_table3_jobs() -> list[Job]:
    """The oracle study on NYUv2 / Deeplab-ResNet34 (the paper's first column): the two-task grid + every layout."""
    from mtlkit.recipes import PAPER_TRAINING
    from mtlkit.treemtl import Layout, enumerate_layouts

    table, bb, size, T, B = "treemtl_table3", "deeplab_resnet34", 321, 3, 5
    plan = PAPER_TRAINING["nyuv2"]
    head = forward_gflops(bb, size, _CLASSES["nyuv2"])[1]
    pairs = [Layout.from_branch_points(2, B, [b]) for b in range(B + 1)]
    two = [g + 2 * head for g in _layout_backbone_gflops(pairs, bb, size)]
    every = [g + T * head for g in _layout_backbone_gflops(enumerate_layouts(T, B), bb, size)]
    return [Job(table, "two-task grid (NYUv2, C(3,2)·6)", T * (T - 1) // 2 * len(two), plan["iterations"],
                plan["batch"], sum(two) / len(two)),
            Job(table, "every 3-task layout (NYUv2, 51)", len(every), plan["iterations"], plan["batch"],
                sum(every) / len(every))]


def _automtl_jobs(table: str, dataset: str, backbone: str = "deeplab_resnet34", label: str = "") -> list[Job]:
    T, size = _TASKS[dataset], _SIZES[dataset]
    bb, head = forward_gflops(backbone, size, _CLASSES[dataset])
    a, tag = _AUTOMTL, f" ({label})" if label else ""
    pre = [] if dataset in _NO_PRE_TRAIN else [
        Job(table, f"pre-train, 2 searches{tag}", 2, a["pre"], a["batch"], T * (2 * bb + head))]
    return [Job(table, f"single-task{tag}", T, a["post"], a["batch"], bb + head),
            Job(table, f"hard sharing{tag}", 1, a["post"], a["batch"], bb + T * head), *pre,
            Job(table, f"policy-train, 2 searches{tag}", 2, a["policy"], a["batch"], T * (2 * bb + head)),
            Job(table, f"post-train, 2 searched models{tag}", 2, a["post"], a["batch"], T * (bb + head))]


def _lambda_reg_jobs(table: str) -> list[Job]:
    """4 λ on CityScapes: policy-train + post-train each (pre-train shared)."""
    T, size = _TASKS["cityscapes"], _SIZES["cityscapes"]
    bb, head = forward_gflops("deeplab_resnet34", size, _CLASSES["cityscapes"])
    a = _AUTOMTL
    return [Job(table, "policy-train, 4 λ", 4, a["policy"], a["batch"], T * (2 * bb + head)),
            Job(table, "post-train, 4 λ", 4, a["post"], a["batch"], T * (bb + head))]


def _search_cost_jobs(table: str, datasets) -> list[Job]:
    """One policy-train per dataset, timed."""
    out = []
    for dataset in datasets:
        bb, head = forward_gflops("deeplab_resnet34", _SIZES[dataset], _CLASSES[dataset])
        out.append(Job(table, f"policy-train ({dataset})", 1, _AUTOMTL["policy"], _AUTOMTL["batch"],
                       _TASKS[dataset] * (2 * bb + head)))
    return out


def table_jobs(table: str) -> list[Job]:
    """The training jobs of one reproduction table at paper scale, by its :attr:`TableSpec.jobs`
    (:mod:`mtlkit.tables`; see the module docstring)."""
    from mtlkit.facts import BACKBONE_LABELS
    from mtlkit.tables import get_table

    spec = get_table(table)
    if spec.jobs == "treemtl_picks":
        return _treemtl_jobs(table)
    if spec.jobs == "treemtl_oracle":
        return _treemtl_table3_jobs()
    if spec.jobs == "automtl_comparison":
        return _automtl_jobs(table, spec.datasets[0])
    if spec.jobs == "automtl_lambda_reg":
        return _lambda_reg_jobs(table)
    if spec.jobs == "automtl_backbones":
        return [job for bb in spec.backbones for job in _automtl_jobs(table, spec.datasets[0], bb,
                                                                      BACKBONE_LABELS[bb])]
    return _search_cost_jobs(table, spec.datasets)  # "automtl_search_cost"


def gpu_hours(tables=None, tflops: float = ASSUMED_TFLOPS):
    """Expected GPU hours per reproduction table at paper scale.

    Args:
        tables: table ids (default: every table with a notebook).
        tflops: sustained training throughput of the GPU in TFLOP/s.

    Returns:
        A pandas DataFrame, one row per job: ``table, job, models, iterations, batch, fwd GFLOPs/image,
        train PFLOP, GPU hours``.
    """
    import pandas as pd

    from mtlkit.errors import ConfigError

    if isinstance(tflops, bool) or not isinstance(tflops, (int, float)) or not tflops > 0:
        raise ConfigError(f"tflops must be a positive number (sustained TFLOP/s of the GPU), got {tflops!r}")
    if tables is None:
        from mtlkit.tables import TABLES

        tables = list(TABLES)
    rows = []
    for table in tables:
        for job in table_jobs(table):
            rows.append({"table": job.table, "job": job.job, "models": job.models, "iterations": job.iterations,
                         "batch": job.batch, "fwd GFLOPs/image": job.gflops, "train PFLOP": job.pflop,
                         "GPU hours": job.pflop * 1e15 / (tflops * 1e12) / 3600})
    return pd.DataFrame(rows)


@functools.lru_cache(maxsize=4)
def hours_by_table(tflops: float = ASSUMED_TFLOPS) -> tuple[tuple[str, int, float, float], ...]:
    """``(table, models, train PFLOP, GPU hours)`` per table, summed over its jobs (cached; used by the report)."""
    df = gpu_hours(tflops=tflops)
    g = df.groupby("table", sort=False).agg(models=("models", "sum"), pflop=("train PFLOP", "sum"),
                                            hours=("GPU hours", "sum"))
    return tuple((t, int(r.models), float(r.pflop), float(r.hours)) for t, r in g.iterrows())
