"""The paper-scale dry run: every reproduction's ``scale="paper"`` path, executed for real on the CPU.

``python -m mtlkit dryrun [TABLE ...|all]`` (``make dryrun``) proves, before anyone books GPU time, that the paper
path of each reproduction notebook runs end to end: on data written in each dataset's real on-disk format at its
stored resolution (:mod:`mtlkit.data.fabricate`: NYUv2 480×640, CityScapes 256×512, Tiny-Taskonomy 512×512), with
the paper's backbones, ASPP heads, optimizers, schedules (stretched to the short run by the code's own
``SearchConfig.scaled``) and paper-compatible evaluation, but

* :attr:`DryRunConfig.iterations` (2) iterations of every stage: AutoMTL's pre-train, both phases of policy-train
  (one policy and one network iteration), post-train; every TreeMTL layout, single-task reference and grid entry;
* a small batch (:attr:`DryRunConfig.batch`, 1 image): a 110 M-parameter supermodel step at batch 16 takes
  minutes on a shared CPU. The memory estimate is scaled to the paper's batch (16); from one image it is an upper
  bound (some saved tensors do not grow with the batch; ``--batch 2`` gives a tighter one, ~25 % slower);
* one kill-and-resume per table: a run is interrupted after its first checkpoint and started again, and must
  continue from iteration 1; no other run writes a checkpoint (:func:`mtlkit.train.checkpoints_off`);
* best-of-N discretisation with N = :data:`DRY_SAMPLES` (2) candidates instead of the paper's 8;
* everything written goes to a scratch folder (results CSVs, run cache, figures, the generated report), never
  into the checkout.

:data:`TABLES` says what each reproduction's paper path runs (the same public functions the notebooks call). For
each table the dry run records the stages run, seconds per iteration on this CPU, the model's parameters, FLOPs per
iteration and the estimated GPU memory at the paper's batch (:mod:`mtlkit.memory`: parameters, gradients,
optimizer state and activations measured on the real forward/backward), next to 48 GB and 80 GB, and the expected
GPU hours with the job count (:func:`mtlkit.compute.gpu_hours`).

What it does not prove: speed on a GPU, and the numerics of long training (2 iterations on random images).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import gc
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mtlkit.errors import ConfigError, DataError, unknown_name
from mtlkit.files import environ

__all__ = ["TablePlan", "TABLES", "DryRunConfig", "TableResult", "check_data_root", "run_table", "dry_run",
           "EXPECTED", "summary_table", "markdown_table", "add_arguments", "main"]

DATASET_FOLDERS = {"nyuv2": "NYUv2", "cityscapes": "CityScapes", "taskonomy": "Taskonomy"}
#: The papers' batch size (every reproduction trains at 16; docs/automtl.md §3.5, docs/treemtl.md §3).
PAPER_BATCH = 16
#: Candidates of the dry run's best-of-N discretisation (the paper's resource-aware variant draws 8): two prove
#: the draw-score-choose path at a quarter of the scoring passes.
DRY_SAMPLES = 2


@dataclass(frozen=True)
class TablePlan:
    """What the paper path of one reproduction notebook runs.

    Attributes:
        table: the reproduction (``reproductions/<table>.py``).
        datasets: the real datasets the path reads.
        stages: the stages, as the notebook runs them.
        runner: the function of this module that runs them.
    """

    table: str
    datasets: tuple[str, ...]
    stages: tuple[str, ...]
    runner: str


_AUTOMTL_STAGES = ("Single-Task post-train", "Multi-Task post-train", "AutoMTL: pre-train, policy-train (policy and "
                   "network phase), sample, post-train", "resource-aware: pre-train, policy-train incl. hard phase, "
                   f"best-of-{DRY_SAMPLES} (paper: 8) on train2, post-train", "evaluation (paper_compat) + Δt", "record + report")
_TREEMTL_STAGES = ("ranking of the published two-task table", "every trained layout (TreeModel, ASPP heads)",
                   "single-task references", "evaluation (paper_compat) + Δt", "record + report")

#: The reproductions' paper paths (one entry per notebook in ``reproductions/``).
TABLES: dict[str, TablePlan] = {
    "automtl_cityscapes": TablePlan("automtl_cityscapes", ("cityscapes",),
                                    ("published policy accounting", *_AUTOMTL_STAGES), "_automtl_comparison"),
    "automtl_nyuv2": TablePlan("automtl_nyuv2", ("nyuv2",), _AUTOMTL_STAGES, "_automtl_comparison"),
    "automtl_taskonomy": TablePlan("automtl_taskonomy", ("taskonomy",), _AUTOMTL_STAGES, "_automtl_comparison"),
    "automtl_lambda_reg": TablePlan("automtl_lambda_reg", ("cityscapes",),
                                    ("Single-Task post-train (reference)", "4 × λ_reg: policy-train, sample, "
                                     "post-train", "evaluation + Δt", "record + report"), "_automtl_lambda"),
    "automtl_backbones": TablePlan("automtl_backbones", ("cityscapes",),
                                   ("compiler facts", "MobileNetV2, MNasNet, Deeplab-ResNet34: Single-Task, AutoMTL, "
                                    "Multi-Task", "evaluation + Δt", "record + report"), "_automtl_backbones"),
    "automtl_search_cost": TablePlan("automtl_search_cost", ("cityscapes", "nyuv2", "taskonomy"),
                                     ("policy-train timing per phase, ours vs original scheme, 3 datasets",
                                      "GPU-hours estimate", "record + report"), "_automtl_search_cost"),
    **{t: TablePlan(t, (d,), _TREEMTL_STAGES, "_treemtl_layouts") for t, d in (
        ("treemtl_table1", "nyuv2"), ("treemtl_table2", "taskonomy"), ("treemtl_table4", "taskonomy"),
        ("treemtl_table5", "nyuv2"), ("treemtl_table6", "taskonomy"))},
    "treemtl_table3": TablePlan("treemtl_table3", ("nyuv2",),
                                ("two-task grid (3 pairs × 6 branching points)", "3-task layouts (the paper's 51; DryRunConfig.max_layouts of them)",
                                 "estimator vs trained correlations", "record + report"), "_treemtl_oracle"),
}


@dataclass(frozen=True)
class DryRunConfig:
    """Sizes of the dry run.

    Attributes:
        batch: images per step (the memory estimate is scaled to :data:`PAPER_BATCH`); >= 1 (batch norm normalises
            over batch × height × width, so one full-resolution image still trains). Default 1: the fastest, and
            its memory estimate an upper bound (see the module docstring).
        iterations: iterations of every stage (2: both policy-train phases, a checkpoint between).
        samples: images of every fabricated dataset (>= 8: ``train1``/``train2`` each need a batch).
        seed: run seed.
        device: ``"cpu"`` here; ``"cuda"`` runs the same path on a GPU.
        max_layouts: TreeMTL Table 3 trains this many of the 51 layouts (always #0 and the independent one;
            None: all). Default 3, the fewest the study takes: its 18 two-task models and 3 layouts prove the path;
            all 51 would make Table 3 alone longer than the other eleven tables (reproductions/README.md).
    """

    batch: int = 1
    iterations: int = 2
    samples: int = 8
    seed: int = 0
    device: str = "cpu"
    max_layouts: int | None = 3

    def __post_init__(self):
        for name, low in (("batch", 1), ("iterations", 2), ("samples", 8)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"DryRunConfig.{name} must be an int >= {low}, got {v!r}")
        if self.max_layouts is not None and (isinstance(self.max_layouts, bool) or not isinstance(
                self.max_layouts, int) or self.max_layouts < 3):
            raise ConfigError(f"DryRunConfig.max_layouts must be None (all 51) or an int >= 3 (Table 3 keeps layout "
                              f"#0 and the independent one), got {self.max_layouts!r}")
        if self.samples < 4 * self.batch:
            raise ConfigError(f"DryRunConfig.samples must be >= 4 × batch = {4 * self.batch} (train1 and train2 "
                              f"each need a full batch), got {self.samples}")


@dataclass
class TableResult:
    """What the dry run of one table measured (see :func:`summary_table`)."""

    table: str
    stages: tuple[str, ...]
    seconds: float
    steps: int
    seconds_per_step: float
    flops_per_step: float
    params: int
    batch: int
    memory: Any  # mtlkit.memory.MemoryEstimate at ``batch``
    resumed_from: int
    rows: int
    notes: list[str] = field(default_factory=list)
    load: float = float("nan")  # the machine's 5-minute load average when the table finished
    peak_rss_gib: float = float("nan")  # peak resident memory of the table's process (GiB)


# ------------------------------------------------------------------------------------------------------- data
def check_data_root(data_root: str | Path, datasets) -> None:
    """Check, before any training, that ``data_root`` holds readable datasets: every split of each dataset is
    indexed (its split file parsed, every listed file present) and its first sample is read and decoded.

    Raises:
        FileNotFoundError: ``data_root`` or a dataset folder is missing (the message names the path).
        DataError: a split file or sample is malformed (the loaders name the file).
    """
    import mtlkit.data as data

    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"data_root={str(data_root)!r} is not a directory")
    for d in datasets:
        folder = root / DATASET_FOLDERS[d]
        if not folder.is_dir():
            raise FileNotFoundError(f"data_root={str(data_root)!r} has no {DATASET_FOLDERS[d]}/ folder (expected "
                                    f"{folder}; its layout is described in mtlkit/data/{d}.py)")
        cls = getattr(data, DATASET_FOLDERS[d])
        for split in ("train", "train1", "train2", "test"):
            try:
                ds = cls(folder, split)
                if len(ds) == 0:
                    raise DataError(f"{DATASET_FOLDERS[d]} split {split!r} under {folder} is empty")
                ds[0]
            except (DataError, FileNotFoundError):
                raise
            except (KeyError, ValueError, OSError) as err:  # a loader that did not name the problem itself
                raise DataError(f"{DATASET_FOLDERS[d]} under {folder}, split {split!r}: {err}") from None


def _fabricate(root: Path, datasets, config: DryRunConfig) -> None:
    from mtlkit.data.fabricate import fabricate

    for d in datasets:
        if not (root / DATASET_FOLDERS[d]).is_dir():
            fabricate(root, d, n=config.samples, seed=config.seed)


# --------------------------------------------------------------------------------------------------- shrinking
def _loader(dl, batch: int, seed: int, train: bool):
    from torch.utils.data import DataLoader
    import torch

    return DataLoader(dl.dataset, batch_size=batch if train else dl.batch_size, shuffle=train, drop_last=train,
                      num_workers=dl.num_workers, generator=torch.Generator().manual_seed(seed))


def _short_automtl(setup, config: DryRunConfig):
    """The paper-scale AutoMTL setup with every stage ``config.iterations`` long and the batch ``config.batch``."""
    c = setup.base_config
    n = config.iterations
    cfg = c.scaled(n, pre_train_iterations=n if c.pre_train_iterations else 0, post_train_iterations=n)
    # no periodic checkpoint (run_table writes none outside the kill-and-resume check, which checkpoints every
    # iteration); best-of-N with N = DRY_SAMPLES candidates, each scored on one batch of train2
    cfg = cfg.replace(checkpoint_every=0, log_every=1, select_batches=1, n_samples=min(DRY_SAMPLES, c.n_samples),
                      device=config.device)
    data = {s: _loader(dl, config.batch, setup.data_seed, s != "test") for s, dl in setup.data.items()}
    key = {**setup.key, "dry_run": dict(batch=config.batch, iterations=n)}
    return _build_once(dataclasses.replace(setup, data=data, base_config=cfg, key=key))


def _build_once(setup):
    """``setup`` whose ``supermodel(seed)`` builds (initialises and traces at full resolution) once per seed and
    then returns copies of that untrained model: the same weights a fresh build gives, without a paper-scale
    forward per method."""
    built = {}
    build = setup.supermodel

    def supermodel(seed: int):
        if seed not in built:
            built[seed] = build(seed)
        return copy.deepcopy(built[seed])

    setup.supermodel = supermodel  # the instance attribute shadows the method
    return setup


class _Killed(Exception):
    """Raised by :func:`_kill_after` to interrupt a run as a killed job would."""


@contextlib.contextmanager
def _kill_after(steps: int):
    """Interrupt the run inside the block at its ``steps``-th optimizer step (before that iteration's checkpoint)."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    count = [0]

    def hook(optimizer, args, kwargs):
        count[0] += 1
        if count[0] == steps:
            raise _Killed(f"dry run: killed at optimizer step {steps}")

    handle = register_optimizer_step_post_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _kill_and_resume(call: Callable[[], Any], checkpoint: Path) -> int:
    """Run ``call`` killed in its second iteration, then again; returns the iteration it resumed from."""
    from mtlkit.train import load_checkpoint

    try:
        with _kill_after(2):
            call()
        raise RuntimeError("dry run: the run finished before it could be interrupted")
    except _Killed:
        pass
    if not checkpoint.is_file():
        raise RuntimeError(f"dry run: no checkpoint at {checkpoint} after the first iteration")
    resumed_from = int(load_checkpoint(checkpoint)["iteration"])
    call()
    done = int(load_checkpoint(checkpoint)["iteration"])
    if (resumed_from, done) != (1, 2):
        raise RuntimeError(f"dry run: expected to resume from iteration 1 and finish at 2, got {resumed_from} -> "
                           f"{done} ({checkpoint})")
    return resumed_from


# ------------------------------------------------------------------------------------------------------ runners
def _automtl_resume(setup, scratch: Path, seed: int) -> int:
    """Kill and resume one post-train of the paper's supermodel (hard sharing: every conv shared)."""
    from mtlkit.automtl.baselines import baseline_policy
    from mtlkit.automtl.search import post_train

    run = scratch / "resume" / setup.dataset / "post-train"
    shutil.rmtree(run, ignore_errors=True)

    def call():
        sm = setup.supermodel(seed)
        post_train(sm, baseline_policy(sm, "hard_sharing"), setup.data,
                   setup.base_config.replace(seed=seed, checkpoint_every=1), tasks=setup.tasks, run_dir=run)

    return _kill_and_resume(call, run / "checkpoint.pt"), None


def _record(table, rows, *, dataset, config, wall):
    from mtlkit.report import record

    record(table, rows, scale="paper", seed=config.seed, device=config.device, dataset=dataset, wall_s=wall)
    return len(rows)


def _automtl_comparison(plan: TablePlan, root: Path, scratch: Path, config: DryRunConfig) -> dict:
    from mtlkit.automtl import experiments as ex

    start = time.perf_counter()
    dataset = plan.datasets[0]
    setup = _short_automtl(ex.experiment_setup(dataset, "paper", device=config.device, data_root=root), config)
    rows = 0
    if dataset == "cityscapes":
        acc = ex.published_policy_accounting("deeplab_resnet34")
        rows += _record(plan.table, ex.published_policy_rows(acc), dataset=ex.PUBLISHED_POLICY, config=config,
                        wall=None)
    comp = ex.comparison(setup, config.seed)
    comp.table()
    comp.metrics_table()
    rows += _record(plan.table, comp.rows(ex.BACKBONE_LABELS[setup.backbone]), dataset=ex.dataset_label(setup),
                    config=config, wall=time.perf_counter() - start)
    return dict(rows=rows, params=sum(p.numel() for p in setup.supermodel(config.seed).parameters()),
                resume=lambda: _automtl_resume(setup, scratch, config.seed))


def _automtl_lambda(plan, root, scratch, config) -> dict:
    from mtlkit.automtl import experiments as ex

    start = time.perf_counter()
    setup = _short_automtl(ex.experiment_setup("cityscapes", "paper", device=config.device, data_root=root), config)
    reference = ex.comparison(setup, config.seed, methods=("Single-Task",))
    sweep = ex.lambda_ablation(setup, ex.LAMBDAS, config.seed, reference=reference)
    rows = []
    for lam, run in sweep["runs"].items():
        d, t = sweep["deltas"][lam], sweep["table"].loc[lam]
        common = dict(setting=f"λ_reg = {lam:g}", method="AutoMTL", backbone=setup.backbone)
        for task, metrics in run.post.metrics.items():
            rows += [dict(common, task=task, metric=m, value=float(v)) for m, v in metrics.items()]
            rows.append(dict(common, task=task, metric="delta_t", value=float(d.per_task[task])))
        rows += [dict(common, task="all", metric=k, value=float(t[c])) for k, c in (
            ("conv_params_paper", "conv_params_paper"), ("conv_params_reduction_pct", "paper_reduction_%"),
            ("params_full", "params_full"), ("backbones", "backbones"),
            ("expected_backbones", "expected_backbones"), ("mean_p_shared", "mean_p_shared"))]
        rows.append(dict(common, task="all", metric="delta_t", value=float(d.overall)))
    n = _record(plan.table, rows, dataset=ex.dataset_label(setup), config=config, wall=time.perf_counter() - start)
    return dict(rows=n, params=sum(p.numel() for p in setup.supermodel(config.seed).parameters()),
                resume=lambda: _automtl_resume(setup, scratch, config.seed))


def _automtl_backbones(plan, root, scratch, config) -> dict:
    from mtlkit.automtl import experiments as ex
    from mtlkit.facts import ARCHITECTURE_FACTS

    start = time.perf_counter()
    names = (*ex.STUDY_BACKBONES, "deeplab_resnet34")
    facts = {b: ex.compiler_facts(b, resolution=32) for b in names}
    rows = _record(plan.table, [dict(setting=ex.BACKBONE_LABELS[b], method="compiler", task="all", metric=k,
                                     value=float(v), backbone=b) for b, f in facts.items() for k, v in f.items()],
                   dataset=ARCHITECTURE_FACTS, config=config, wall=None)
    methods = ["Single-Task", "AutoMTL", "Multi-Task"]  # the notebook's paper-scale methods
    params = 0
    for b in names:
        setup = comp = None  # the previous backbone's models and optimizers go before the next one is built
        gc.collect()  # (both alive at once took the process to 13.3 GiB resident)
        setup = _short_automtl(ex.backbone_setup(b, "paper", device=config.device, data_root=root), config)
        comp = ex.comparison(setup, config.seed, methods=methods)
        rows += _record(plan.table, comp.rows(ex.BACKBONE_LABELS[b]), dataset=ex.dataset_label(setup),
                        config=config, wall=time.perf_counter() - start)
        params = max(params, sum(p.numel() for p in setup.supermodel(config.seed).parameters()))
    comp = None
    gc.collect()
    return dict(rows=rows, params=params, resume=lambda: _automtl_resume(setup, scratch, config.seed))


def _automtl_search_cost(plan, root, scratch, config) -> dict:
    from mtlkit.automtl import experiments as ex

    start = time.perf_counter()
    rows, params = [], 0
    for d in plan.datasets:
        paper = ex.experiment_setup(d, "paper", device=config.device, data_root=root)
        paper_cfg = paper.base_config  # the paper's schedule, for the hours estimate
        setup = _short_automtl(paper, config)
        timing = ex.time_policy_train(setup, 1, config.seed)
        for scheme, t in timing.items():
            method = {"ours": "AutoMTL (ours: tree-executed summed step)",
                      "original": "AutoMTL (original: per-task steps)"}[scheme]
            rows += [dict(setting=ex.DATASET_NAMES[d], method=method, task="all", metric=f"{phase}_ms",
                          value=1000 * t[phase]) for phase in ("policy", "network")]
            rows.append(dict(setting=ex.DATASET_NAMES[d], method=method, task="all", metric="gpu_hours_estimate",
                             value=ex.hours_estimate(t, paper_cfg)))
        params = max(params, sum(p.numel() for p in setup.supermodel(config.seed).parameters()))
    n = _record(plan.table, rows, dataset="dry run (timings on fabricated data)", config=config,
                wall=time.perf_counter() - start)
    return dict(rows=n, params=params, resume=lambda: _automtl_resume(setup, scratch, config.seed))


def _short_spec(spec, config: DryRunConfig):
    return dataclasses.replace(spec, iterations=config.iterations, batch_size=config.batch, eval_every=1,
                               eval_last=2, lr_step=1)


def _treemtl_resume(spec, layout, scratch: Path, device: str) -> tuple[int, int]:
    """Kill and resume one TreeMTL entry (:func:`mtlkit.treemtl.experiment.train_entry`); returns the iteration it
    resumed from and the trained model's parameters (backbone copies + heads)."""
    from mtlkit.treemtl.experiment import read_result, train_entry

    entry = scratch / "resume" / f"treemtl-{spec.dataset}-{spec.backbone}"
    shutil.rmtree(entry, ignore_errors=True)
    data = spec.load_data()
    # a run cache of its own: the table may have trained this layout already, and its shared run
    # (treemtl.experiment.layout_run_dir) would answer at once, leaving nothing to interrupt
    with environ({"MTLKIT_CACHE": str(entry / "cache")}):
        resumed = _kill_and_resume(lambda: train_entry(spec, layout, spec.tasks, entry, data, device=device,
                                                       progress=False, checkpoint_every=1),
                                   entry / "run" / "checkpoint.pt")
    result = read_result(entry)
    return resumed, int(result["params"]) + int(result["head_params"])


def _treemtl_layouts(plan, root, scratch, config) -> dict:
    from mtlkit.facts import PUBLISHED_DATASET
    from mtlkit.picks import TREEMTL_TABLES, pick_ranking, ranking_records
    from mtlkit.recipes import delta_table, train_layouts, trained_layouts_of, training_plan
    from mtlkit.treemtl.oracle import study_spec

    start = time.perf_counter()
    setup = TREEMTL_TABLES[plan.table]
    picks = pick_ranking(plan.table)
    rows = _record(plan.table, ranking_records(picks), dataset=PUBLISHED_DATASET, config=config,
                   wall=time.perf_counter() - start)
    tp = training_plan(plan.table, "paper", backbone=setup.model_backbone, iterations=config.iterations)
    tp = dataclasses.replace(tp, batch=config.batch, lr_step=1)
    to_train = trained_layouts_of(picks)
    trained = train_layouts(tp, to_train, seed=config.seed, device=config.device, data_root=root)
    delta_table(trained)
    rows += _record(plan.table, trained.rows, dataset=tp.dataset, config=config, wall=time.perf_counter() - start)
    spec = _short_spec(study_spec("paper", config.seed, backbone=setup.model_backbone, dataset=setup.dataset,
                                  data_root=str(root)), config)
    first = next(iter(to_train.values()))
    return dict(rows=rows, resume=lambda: _treemtl_resume(spec, first, scratch, config.device))


def _treemtl_oracle(plan, root, scratch, config) -> dict:
    from mtlkit.report import record
    from mtlkit.treemtl import Layout
    from mtlkit.treemtl.oracle import oracle_records, oracle_study, study_spec

    start = time.perf_counter()
    spec = _short_spec(study_spec("paper", config.seed, data_root=str(root)), config)
    result = oracle_study(spec, device=config.device, max_layouts=config.max_layouts, progress=False)
    rows = oracle_records(result)
    record(plan.table, rows, scale="paper", seed=config.seed, device=config.device, dataset="NYUv2",
           wall_s=time.perf_counter() - start)
    largest = Layout.independent(spec.T, spec.B)  # the study's largest model
    return dict(rows=len(rows), resume=lambda: _treemtl_resume(spec, largest, scratch, config.device),
                notes=[f"{len(result.layouts)} of 51 layouts trained"] if len(result.layouts) < 51 else [])


_RUNNERS = {"_automtl_comparison": _automtl_comparison, "_automtl_lambda": _automtl_lambda,
            "_automtl_backbones": _automtl_backbones, "_automtl_search_cost": _automtl_search_cost,
            "_treemtl_layouts": _treemtl_layouts, "_treemtl_oracle": _treemtl_oracle}


# ----------------------------------------------------------------------------------------------------- driver
@contextlib.contextmanager
def _scratch_env(scratch: Path):
    """Point the results, run cache and figures of mtlkit at ``scratch`` (restored after)."""
    names = {"MTLKIT_RESULTS": "results", "MTLKIT_CACHE": "cache", "MTLKIT_FIGURES": "figures"}
    for sub in names.values():
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    with environ({k: str(scratch / sub) for k, sub in names.items()}):
        yield


def _clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def _check_tables(tables) -> list[str]:
    tables = list(TABLES) if tables is None or list(tables) in (["all"], []) else list(tables)
    for t in tables:
        if t not in TABLES:
            raise unknown_name("table", t, [*TABLES, "all"])
    return tables


def run_table(table: str, data_root: Path, scratch: Path, config: DryRunConfig = DryRunConfig()) -> TableResult:
    """Run one table's paper path (see the module docstring) with :class:`mtlkit.memory.TrainingMeter` around it.

    Args:
        table: a :data:`TABLES` name.
        data_root: folder holding the table's datasets (checked with :func:`check_data_root` by :func:`dry_run`).
        scratch: where everything is written (the results, cache and figures variables must point into it).
        config: the sizes.
    """
    from mtlkit.memory import TrainingMeter
    from mtlkit.train import checkpoints_off

    plan = TABLES[_check_tables([table])[0]]
    start = time.perf_counter()
    with TrainingMeter() as meter, checkpoints_off():  # no run of the table is resumed: ~1 GB per write saved
        out = _RUNNERS[plan.runner](plan, Path(data_root), Path(scratch), config)
    resumed, params = out["resume"]()  # the one kill-and-resume, with its checkpoints
    params = out["params"] if params is None else params
    shutil.rmtree(Path(scratch) / "resume", ignore_errors=True)  # a checkpoint of a paper model is ~1 GB
    return TableResult(table, plan.stages, time.perf_counter() - start, meter.steps, meter.seconds_per_step,
                       meter.flops_per_step, int(params), config.batch, meter.estimate(config.batch),
                       resumed, int(out["rows"]), list(out.get("notes", [])),
                       os.getloadavg()[1] if hasattr(os, "getloadavg") else float("nan"))


def dry_run(tables=None, *, data_root: str | Path | None = None, scratch: str | Path | None = None,
            config: DryRunConfig = DryRunConfig(), keep: bool = False, jobs: int = 1,
            echo: Callable[[str], None] = print):
    """Dry-run the paper path of ``tables`` (None or ``["all"]``: every reproduction).

    Args:
        tables: :data:`TABLES` names.
        data_root: real or prepared data (checked before anything trains); None fabricates it in the scratch folder.
        scratch: where results, cache, figures and the report go (None: a temporary folder, deleted unless ``keep``).
        config: batch, iterations, samples, seed, device.
        keep: keep a temporary scratch folder.
        jobs: tables run at the same time, each in its own subprocess with one torch thread, its own scratch
            folder ``<scratch>/tables/<table>`` and run cache, its log in ``<scratch>/logs`` (:func:`mtlkit.schedule.run_jobs`:
            longest first, within a memory cap). 1: one after the other in this process.
        echo: where progress lines go.

    Returns:
        ``(results, summary)``: the :class:`TableResult` list of the tables that finished and
        :func:`summary_table`'s DataFrame, one row per table in the order of ``tables`` (a failed table's row says
        so in ``notes``; its error is echoed, the other tables still run); the summary is also written to
        ``<scratch>/dryrun.csv`` and ``<scratch>/dryrun.md``, the report to ``<scratch>/results/REPORT.md``.
    """
    import resource
    import traceback

    import torch

    tables = _check_tables(tables)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be an int >= 1, got {jobs!r}")
    datasets = sorted({d for t in tables for d in TABLES[t].datasets})
    if data_root is not None:
        check_data_root(data_root, datasets)  # before anything trains
    temporary = scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="mtlkit-dryrun-")) if temporary else Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    try:
        if data_root is None:
            data_root = scratch / "data"
            echo(f"[dryrun] fabricating {', '.join(datasets)} at the stored resolution in {data_root}")
            _fabricate(Path(data_root), datasets, config)
            check_data_root(data_root, datasets)
        results, failed = [], {}
        with _scratch_env(scratch):
            if jobs > 1 and len(tables) > 1:
                results, failed = _parallel(tables, Path(data_root), scratch, config, jobs, echo)
            else:
                if config.device == "cpu":
                    torch.set_num_threads(1)
                for t in tables:
                    echo(f"[dryrun] {t}: {'; '.join(TABLES[t].stages)}")
                    try:
                        r = run_table(t, Path(data_root), scratch, config)
                    except Exception:  # noqa: BLE001 - reported, and the other tables still run
                        failed[t] = traceback.format_exc()
                        echo(f"[dryrun] {t}: FAILED\n{failed[t]}")
                        continue
                    finally:
                        if not (SAME_CACHE.get(t) in tables):  # Table 4's layouts are Table 2's
                            _clear(scratch / "cache")  # ~1 GB per cached paper-scale run
                    # this process's peak so far (the tables before share it): ru_maxrss is in KiB on Linux
                    r.peak_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
                    results.append(r)
                    echo(f"[dryrun] {t}: done in {r.seconds:.0f} s, {r.steps} optimizer steps, "
                         f"{r.seconds_per_step:.2f} s/iteration at batch {r.batch}, resumed from iteration "
                         f"{r.resumed_from}")
            from mtlkit.report import write_report

            report = write_report()
        summary = summary_table(results, failed, order=tables)
        summary.to_csv(scratch / "dryrun.csv", index=False)
        (scratch / "dryrun.md").write_text(markdown_table(summary) + "\n")
        echo(f"[dryrun] report generated from the dry run's results: {report}")
        if failed:
            echo(f"[dryrun] {len(failed)} of {len(tables)} tables FAILED: {', '.join(failed)}")
        return results, summary
    finally:
        torch.set_num_threads(threads)
        if temporary and not keep:
            shutil.rmtree(scratch, ignore_errors=True)


# ------------------------------------------------------------------------------------------ tables in parallel
#: What each table needed when it ran alone (seconds at load ~1-5, peak resident GiB of its process; measured
#: where reproductions/README.md has the figure, else a guess from the model size), for the
#: schedule of ``--jobs``: longest first, and no two tables together whose peaks exceed the memory cap. A table not
#: listed counts as 300 s, 6 GiB.
EXPECTED: dict[str, tuple[float, float]] = {
    "treemtl_table3": (900, 10), "automtl_backbones": (500, 13.3), "treemtl_table2": (550, 14.6),
    "automtl_nyuv2": (520, 7), "automtl_taskonomy": (480, 8), "automtl_search_cost": (470, 8),
    "treemtl_table4": (410, 8), "treemtl_table1": (300, 6), "automtl_cityscapes": (260, 6.5),
    "automtl_lambda_reg": (210, 6.5), "treemtl_table6": (170, 8), "treemtl_table5": (150, 6.2)}
#: Memory left to the operating system and the rest of the machine when ``--jobs`` pairs tables (GiB).
MEMORY_RESERVE_GIB = 3.0
#: Tables that run right after another one in the same process and run cache (``--jobs``; the sequential dry run
#: keeps its cache between them too): Table 4's layouts are Table 2's.
SAME_CACHE = {"treemtl_table2": "treemtl_table4"}


def _worker(spec: str) -> None:  # pragma: no cover - runs in the child process of dry_run(jobs > 1)
    """The tables of one job of a parallel dry run, in turn, in one scratch folder (one run cache): ``spec``
    (JSON) names the tables, data root, scratch folder, config and the folder each :class:`TableResult` is
    written to (``<table>.json``). A failed table's traceback is printed and the next one still runs."""
    import json
    import sys
    import traceback

    import torch

    s = json.loads(spec)
    config = DryRunConfig(**s["config"])
    if config.device == "cpu":
        torch.set_num_threads(1)
    scratch, failed = Path(s["scratch"]), []
    with _scratch_env(scratch):
        for t in s["tables"]:
            try:
                r = run_table(t, Path(s["data_root"]), scratch, config)
            except Exception:  # noqa: BLE001 - printed into the job's log, read by the parent
                traceback.print_exc()
                failed.append(t)
                continue
            Path(s["results"], f"{t}.json").write_text(json.dumps(dataclasses.asdict(r)))
    sys.exit(1 if failed else 0)


def _read_result(path: Path, peak_rss_gib: float) -> TableResult:
    """A :class:`TableResult` written by :func:`_worker`, with its job's peak resident memory."""
    import json

    from mtlkit.memory import MemoryEstimate

    d = json.loads(path.read_text())
    return TableResult(**{**d, "stages": tuple(d["stages"]), "memory": MemoryEstimate(**d["memory"]),
                          "peak_rss_gib": peak_rss_gib})


def _worker_argv(spec: str) -> tuple[str, ...]:
    """The command of one table's subprocess (the same Python, so the same mtlkit)."""
    import sys

    return sys.executable, "-c", f"from mtlkit.dryrun import _worker; _worker({spec!r})"


def _parallel(tables, data_root: Path, scratch: Path, config: DryRunConfig, jobs: int, echo) -> tuple[list, dict]:
    """Each table in its own subprocess (one torch thread, its own scratch folder and run cache), scheduled by
    :func:`mtlkit.schedule.run_jobs`; their results CSVs are gathered into ``<scratch>/results``. Returns the results (in the
    order of ``tables``) and the failures (table -> error)."""
    import json

    from mtlkit.schedule import Job, run_jobs

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    groups = [[t] for t in tables if t not in SAME_CACHE.values()]
    for first, then in SAME_CACHE.items():  # e.g. Table 4 after Table 2, answered by its cached layout runs
        if then in tables:
            groups = [g + [then] if g == [first] else g for g in groups]
            if [first] not in groups and [first, then] not in groups:
                groups.append([then])
    todo, job_of = [], {}
    for group in groups:
        name = "+".join(group)
        own = scratch / "tables" / name
        own.mkdir(parents=True, exist_ok=True)
        spec = json.dumps(dict(tables=group, data_root=str(data_root), scratch=str(own),
                               config=dataclasses.asdict(config), results=str(scratch / "tables")))
        paths = {"MTLKIT_RESULTS": own / "results", "MTLKIT_CACHE": own / "cache", "MTLKIT_FIGURES": own / "figures"}
        expected = [EXPECTED.get(t, (300.0, 6.0)) for t in group]
        todo.append(Job(name, _worker_argv(spec), sum(e[0] for e in expected), max(e[1] for e in expected),
                        env={**env, **{k: str(v) for k, v in paths.items()}}))
        job_of.update({t: name for t in group})
    from mtlkit.schedule import memory_gib

    outcomes = run_jobs(todo, slots=jobs, memory_cap_gib=memory_gib() - MEMORY_RESERVE_GIB, logs=scratch / "logs",
                        echo=echo, label="dryrun")
    results, failed = [], {}
    for t in tables:
        o, out = outcomes[job_of[t]], scratch / "tables" / f"{t}.json"
        if not out.is_file():
            failed[t] = f"exit code {o.returncode} after {o.seconds:.0f} s ({o.log}):\n{o.error()}"
            echo(f"[dryrun] {t}: FAILED, {failed[t]}")
            continue
        r = _read_result(out, o.peak_rss_gib)
        results.append(r)
        csv = scratch / "tables" / job_of[t] / "results" / f"{t}.csv"
        if csv.is_file():
            shutil.copy2(csv, scratch / "results" / csv.name)
        shutil.rmtree(scratch / "tables" / job_of[t] / "cache", ignore_errors=True)
        echo(f"[dryrun] {t}: done in {o.seconds:.0f} s, peak {o.peak_rss_gib:.1f} GiB resident, {r.steps} optimizer "
             f"steps, {r.seconds_per_step:.2f} s/iteration at batch {r.batch}, resumed from iteration "
             f"{r.resumed_from}")
    return results, failed


def summary_table(results, failed=None, order=None):
    """One row per table: stages, s/iteration, parameters, FLOPs per iteration and memory at the paper's batch,
    fits 48 / 80 GB, the expected GPU hours with the job count (:func:`mtlkit.compute.gpu_hours`), the dry run's
    seconds and peak resident memory; a table of ``failed`` (table -> error) gets a row saying so. Rows follow
    ``order`` (default: the results', then the failures')."""
    import pandas as pd

    from mtlkit.compute import gpu_hours
    from mtlkit.memory import GPU_OVERHEAD, GPUS

    failed = dict(failed or {})
    rows, by_table = [], {r.table: r for r in results}
    for t in order or [*by_table, *failed]:
        if t in failed:
            rows.append({"table": t, "notes": "FAILED: " + failed[t].strip().splitlines()[-1][:160]})
            continue
        r = by_table[t]
        mem = r.memory.at_batch(PAPER_BATCH)
        jobs = gpu_hours([r.table])
        row = {"table": r.table, "stages": len(r.stages), "optimizer steps": r.steps,
               f"s/iteration (CPU, batch {r.batch})": r.seconds_per_step, "params (M)": r.params / 1e6,
               f"GFLOPs/iteration (batch {PAPER_BATCH})": r.flops_per_step * PAPER_BATCH / r.batch / 1e9,
               f"memory GiB (batch {PAPER_BATCH})": (mem.total + GPU_OVERHEAD) / 1024 ** 3,
               "of which activations GiB": mem.activations / 1024 ** 3}
        for gpu, size in GPUS.items():
            row[f"fits {gpu.split(' (')[0]}"] = "yes" if mem.fits(size) else f"no: batch <= {mem.max_batch(size)}"
        row.update({"jobs": int(jobs.models.sum()), "GPU hours (est.)": float(jobs["GPU hours"].sum()),
                    "resumed from": r.resumed_from, "dry-run s": r.seconds,
                    "peak RSS GiB (CPU)": r.peak_rss_gib, "load (5 min)": r.load,
                    "notes": "; ".join(r.notes)})
        rows.append(row)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return pd.DataFrame(rows, columns=columns)


def markdown_table(summary) -> str:
    """The summary as a Markdown table (numbers rounded for reading)."""
    header = list(summary.columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in summary.itertuples(index=False):
        cells = []
        for v in r:
            missing = v is None or (isinstance(v, float) and v != v)  # a failed table's empty cells
            cells.append("" if missing else f"{v:,.2f}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tables", nargs="*", default=["all"], metavar="TABLE",
                        help=f"reproductions to dry-run, or 'all' (default); one of: {', '.join(TABLES)}")
    parser.add_argument("--data-root", default=None,
                        help="folder with NYUv2/, CityScapes/, Taskonomy/ (checked first); default: fabricated")
    parser.add_argument("--scratch", default=None, help="folder for results, cache and report (default: temporary)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary scratch folder")
    parser.add_argument("--batch", type=int, default=DryRunConfig.batch,
                        help=f"images per step (default {DryRunConfig.batch}, the fastest; its memory estimate an "
                        "upper bound; 2 is ~25%% slower and tighter)")
    parser.add_argument("--max-layouts", type=int, default=DryRunConfig.max_layouts,
                        help=f"TreeMTL Table 3: train this many of the 51 layouts (>= 3; default "
                        f"{DryRunConfig.max_layouts}; 0: all)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1,
                        help="tables at the same time, each in its own subprocess with one torch thread (default 1; "
                        "make dryrun: DRYRUN_JOBS, 1), longest first, a table with a large memory peak alone")


def main(args: argparse.Namespace) -> int:
    import pandas as pd

    import sys

    try:
        config = DryRunConfig(batch=args.batch, device=args.device, max_layouts=args.max_layouts or None)
        tables = _check_tables(args.tables)
        results, summary = dry_run(tables, data_root=args.data_root, scratch=args.scratch, config=config,
                                   keep=args.keep, jobs=args.jobs)
    except (ConfigError, DataError, FileNotFoundError) as err:  # bad arguments or data: the message, no trace
        print(f"[mtlkit dryrun] error: {err}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(markdown_table(summary))
    return 0 if len(results) == len(tables) else 1
