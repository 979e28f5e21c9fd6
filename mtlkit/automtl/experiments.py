"""AutoMTL's experiments as the reproduction notebooks run them: comparisons, λ_reg ablation, backbones, search cost.

One setup per (paper dataset, scale), built by :func:`experiment_setup` and trained with the cached runs of
:mod:`mtlkit.automtl.synth` (:func:`~mtlkit.automtl.synth.run_variant`, :func:`~mtlkit.automtl.synth.run_baseline`),
so a model two notebooks need is trained once:

* ``smoke``/``cpu`` — a **SynthScenes stand-in** for the paper's dataset: the dataset's tasks (CityScapes:
  segmentation and depth; NYUv2: segmentation, normals, depth; Taskonomy: all five), a tiny backbone with light
  heads, the dataset's preset (:meth:`SearchConfig.preset`) rescaled to a few hundred iterations with the changes
  :mod:`~mtlkit.automtl.synth` makes for runs that short (``synth.SHORT_RUN``: network lr 0.01, policy lr 0.3,
  constant post-train lr; task weights 1).
  The NYUv2 stand-in *is* :func:`~mtlkit.automtl.synth.synth_setup` (notebook 03's setup: its runs are shared).
  These numbers prove the pipeline and show its behaviour on a small problem; they are never the paper's.
* ``paper`` — the paper's setting (docs/automtl.md §3.5): the real dataset under ``data_root`` (AdaShare's splits ``train``,
  ``train1``, ``train2``, ``test``), ``deeplab_resnet34`` with one ASPP head per task, the paper's 1×1 projection
  skips (``skip="project"``), task-specific BN, batch 16, the preset's iterations (CityScapes without pre-train,
  as the paper's reported model), the paper-compatible evaluators. It needs a GPU and the data; the tests only
  construct it on fabricated files.

On top: :func:`comparison` (single-task, hard sharing, the paper's pipeline, the resource-aware variant; every metric,
Δt, parameters in both conventions), :func:`lambda_ablation`, :func:`backbone_setup` and :func:`compiler_facts`
(backbone generalisation), :func:`time_policy_train` / :func:`policy_train_wall` / :func:`hours_estimate` (search
cost), and :func:`published_policy_accounting` — the paper's CityScapes architecture counted exactly (docs/automtl.md §5.1,
§7.14), the one AutoMTL number this project can reproduce at every scale.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch.utils.data import DataLoader

from mtlkit.automtl.analysis import policy_stats
from mtlkit.automtl.regularizer import ResourceCosts
from mtlkit.automtl.search_config import SearchConfig
from mtlkit.automtl.synth import SHORT_RUN, SynthSetup, run_baseline, run_variant, synth_setup, train_policy
from mtlkit.config import check_scale
from mtlkit.checks import check_int, check_positive_int
from mtlkit.facts import BACKBONE_LABELS, DATASET_FACTS, PUBLISHED_POLICY
from mtlkit.setups import Setup, load_data, sizes_of
from mtlkit.errors import ConfigError, unknown_name

__all__ = [
    "DATASETS", "PAPER_TASKS", "DATASET_NAMES", "STAND_IN_BACKBONES", "STUDY_BACKBONES", "BACKBONE_LABELS",
    "METHODS", "ABLATION", "RANDOM_DRAWS", "RANDOM_TOLERANCE", "LAMBDAS", "SIZES", "BACKBONE_SIZES", "PUBLISHED_POLICY",
    "ExperimentSetup", "experiment_setup", "backbone_setup", "dataset_label", "check_cpu_backbone",
    "published_policy_accounting", "published_policy_rows", "Comparison",
    "comparison", "lambda_ablation", "compiler_facts", "per_task_data", "time_policy_train", "policy_train_wall",
    "hours_estimate", "paper_plan",
]

DATASETS = ("cityscapes", "nyuv2", "taskonomy")
#: The paper's tasks per dataset, in its order (docs/automtl.md §3.5).
PAPER_TASKS = {name: DATASET_FACTS[name].tasks for name in DATASETS}
#: Display labels (and folder names under a data_root) of the datasets.
DATASET_NAMES = {name: DATASET_FACTS[name].label for name in DATASETS}
#: Backbones of the SynthScenes stand-in comparisons (they take ``width=``).
STAND_IN_BACKBONES = ("tiny_resnet", "tiny_cnn")
#: The backbone generalisation study: the paper's other backbones (docs/automtl.md §5.3), ResNet-34 as the reference.
STUDY_BACKBONES = ("mobilenet_v2", "mnasnet1_0")
#: Method names as the paper's tables print them (``paper_values/automtl_*.csv``) -> how we obtain the model.
METHODS = {"Single-Task": ("baseline", "single_task"), "Multi-Task": ("baseline", "hard_sharing"),
           "AutoMTL": ("variant", "paper"), "AutoMTL (resource-aware, ours)": ("variant", "resource"),
           "AutoMTL (paper objective, best-of-8)": ("variant", "paper"),
           "AutoMTL (resource objective, τ=1 sample)": ("variant", "resource"),
           "Random architecture": ("random", "AutoMTL")}
#: The 2×2 ablation (objective × discretisation): the searched methods' :class:`SearchConfig` changes on top of
#: their variant (:func:`~mtlkit.automtl.synth.variant_config`). ``AutoMTL`` is (paper objective, one τ = 1
#: sample), ``AutoMTL (resource-aware, ours)`` (resource objective, best of 8 on ``train2``); the two others swap
#: the discretisation. The resource objective keeps its straight-through last quarter of policy-train (part of how
#: that objective is searched), so a difference along the objective axis is objective + straight-through, one
#: along the discretisation axis is the discretisation alone (same policy-train run, same first sample).
ABLATION = {"AutoMTL (paper objective, best-of-8)": {"discretize": "best_of", "n_samples": 8},
            "AutoMTL (resource objective, τ=1 sample)": {"discretize": "sample"}}
#: The random-architecture control (``METHODS["Random architecture"]``): random policies drawn at the parameter cost
#: of the searched AutoMTL policy of the same seed (±10 %, :func:`~mtlkit.automtl.baselines.matched_random_policies`),
#: each post-trained by the same code, budget and seed as the searched model. ``RANDOM_DRAWS[scale]`` draws per
#: comparison, split over its seeds (at least one per seed; a notebook with 5 seeds trains 4 per seed at cpu scale).
RANDOM_DRAWS = {"smoke": 2, "cpu": 20, "paper": 20}
RANDOM_TOLERANCE = 0.1
#: The λ_reg values of the paper's ablation (docs/automtl.md §5.3; its Table 6).
LAMBDAS = (0.01, 0.001, 0.0005, 0.0001)

#: Stand-in sizes per (dataset, scale): rendered images, resolution, batch, backbone width, stage lengths
#: (rows of :data:`mtlkit.setups.SIZES`). ``nyuv2`` is :data:`mtlkit.automtl.synth.SIZES` (the setup of notebook 03).
SIZES = {name: {scale: sizes_of("automtl", name, scale) for scale in ("smoke", "cpu")}
         for name in ("cityscapes", "taskonomy")}
#: The backbone study's stand-in sizes (full-size torchvision backbones: small inputs, short runs).
BACKBONE_SIZES = {scale: sizes_of("automtl-backbones", "nyuv2", scale) for scale in ("smoke", "cpu")}
#: The paper's settings (docs/automtl.md §3.5): crop size, batch, stage lengths (CityScapes' reported model had no pre-train).
PAPER_SIZES = {name: sizes_of("automtl", name, "paper") for name in DATASETS}


def check_cpu_backbone(cpu_backbone: str) -> str:
    """Validate the stand-in backbone of the smoke/cpu comparisons (``tiny_resnet`` or ``tiny_cnn``)."""
    if cpu_backbone not in STAND_IN_BACKBONES:
        raise ConfigError(f"cpu_backbone must be one of {STAND_IN_BACKBONES} (the SynthScenes stand-ins take "
                          f"width=), got {cpu_backbone!r}")
    return cpu_backbone


def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise unknown_name("dataset", dataset, DATASETS)
    return dataset


def _check_paper_backbone(backbone: str) -> str:
    from mtlkit.backbones import list_backbones

    if backbone not in list_backbones():
        raise ConfigError(f"backbone: unknown backbone {backbone!r}; valid backbones are: {', '.join(list_backbones())}")
    return backbone


# ------------------------------------------------------------------------------------------------------ the setups
@dataclass
class ExperimentSetup(SynthSetup):
    """A :class:`~mtlkit.automtl.synth.SynthSetup` for any backbone, head and dataset (stand-in or real).

    Attributes (besides the parent's):
        dataset: the paper dataset this setup reproduces (``"cityscapes"``, ``"nyuv2"``, ``"taskonomy"``).
        label: the ``dataset`` label of recorded results, e.g. ``"SynthScenes (stand-in for CityScapes)"``.
        backbone_kw: options of :func:`mtlkit.backbones.get_backbone`.
        head: :func:`mtlkit.heads.get_head` name (``"light"`` for stand-ins, ``"aspp"`` at paper scale).
        head_kw: head options.
        skip: :meth:`SuperModel.from_backbone` ``skip`` (``"auto"`` for stand-ins, the paper's ``"project"``).
    """

    dataset: str = "cityscapes"
    label: str = ""
    backbone_kw: dict = field(default_factory=dict)
    head: str = "light"
    head_kw: dict = field(default_factory=dict)
    skip: str = "auto"

    def supermodel(self, seed: int):
        """A fresh supermodel, initialised from ``torch.manual_seed(seed)``."""
        from mtlkit.automtl.supermodel import SuperModel
        from mtlkit.backbones import get_backbone
        from mtlkit.heads import get_head

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = get_backbone(self.backbone, **self.backbone_kw)
            heads = {t: get_head(self.head, net.out_channels, task.out_channels, **self.head_kw)
                     for t, task in self.tasks.items()}
            res = self.sizes["resolution"]
            sm = SuperModel.from_backbone(net, heads, torch.zeros(1, 3, res, res), skip=self.skip)
        return sm.to(self.device)


def dataset_label(setup: SynthSetup) -> str:
    """What the numbers were measured on: ``"CityScapes"`` at paper scale, ``"SynthScenes (stand-in for ...)"``."""
    if isinstance(setup, ExperimentSetup) and setup.label:
        return setup.label
    return "SynthScenes (stand-in for NYUv2)"  # synth_setup: the NYUv2-like setup of notebook 03


def _stand_in_config(dataset: str, sizes: dict, device: str) -> SearchConfig:
    cfg = SearchConfig.preset(dataset, loss_weights=None, post_loss_weights=None, device=device,
                              checkpoint_every=100, log_every=5)
    cfg = cfg.replace(**SHORT_RUN)  # a few hundred iterations: see mtlkit.automtl.synth
    return cfg.scaled(sizes["policy"], pre_train_iterations=sizes["pre"], post_train_iterations=sizes["post"])


def _stand_in(dataset: str, scale: str, sizes: dict, tasks, *, backbone: str, backbone_kw: dict, head_kw: dict,
              device: str, data_seed: int) -> ExperimentSetup:
    metric_set = DATASET_FACTS[dataset].metric_set
    loaded = load_data(Setup("synthscenes", tasks, batch=sizes["batch"], test_batch=64, n_train=sizes["n_train"],
                             n_test=sizes["n_test"], resolution=sizes["resolution"], metric_set=metric_set,
                             seed=data_seed, device=device))
    data, task_objs = loaded.loaders, loaded.tasks
    key = dict(dataset="SynthScenes", stand_in=DATASET_NAMES[dataset], scale=scale, data_seed=data_seed,
               tasks=list(tasks), backbone=backbone, backbone_kw=backbone_kw, head="light", head_kw=head_kw,
               skip="auto", metric_set=metric_set, sizes=sizes)
    return ExperimentSetup(scale=scale, sizes=sizes, tasks=task_objs, data=data,
                           base_config=_stand_in_config(dataset, sizes, device), backbone=backbone, device=device,
                           data_seed=data_seed, key=key, dataset=dataset,
                           label=f"SynthScenes (stand-in for {DATASET_NAMES[dataset]})", backbone_kw=backbone_kw,
                           head="light", head_kw=head_kw, skip="auto")


def _paper_setup(dataset: str, backbone: str, data_root, device: str, workers: int, data_seed: int) -> ExperimentSetup:
    if data_root is None:
        raise ConfigError(f"scale='paper' trains on the real {DATASET_NAMES[dataset]}: set data_root to the folder "
                          f"that holds {DATASET_NAMES[dataset]}/ (see reproductions/README.md); got data_root=None")
    root = Path(data_root) / DATASET_NAMES[dataset]
    if not root.is_dir():
        raise FileNotFoundError(f"data_root={str(data_root)!r} has no {DATASET_NAMES[dataset]}/ folder (expected "
                                f"{root}; its layout is described in mtlkit/data/{dataset}.py)")
    check_int(workers, "workers", minimum=0)
    sizes = dict(PAPER_SIZES[dataset])
    tasks = PAPER_TASKS[dataset]
    # the paper's evaluation conventions (mtlkit's paper-compatible evaluators), for numbers comparable with its tables
    loaded = load_data(Setup(dataset, tasks, batch=sizes["batch"], test_batch=sizes["test_batch"], paper_compat=True,
                             seed=data_seed, device=device, data_root=str(data_root), workers=workers))
    data, task_objs = loaded.loaders, loaded.tasks
    config = SearchConfig.preset(dataset, device=device, pre_train_iterations=sizes["pre"],
                                 policy_train_iterations=sizes["policy"], post_train_iterations=sizes["post"])
    key = dict(dataset=DATASET_NAMES[dataset], root=str(root.resolve()), scale="paper", data_seed=data_seed,
               tasks=list(tasks), backbone=backbone, head="aspp", skip="project", paper_compat=True, sizes=sizes)
    return ExperimentSetup(scale="paper", sizes=sizes, tasks=task_objs, data=data, base_config=config,
                           backbone=backbone, device=device, data_seed=data_seed, key=key, dataset=dataset,
                           label=DATASET_NAMES[dataset], head="aspp", skip="project")


def experiment_setup(dataset: str, scale: str = "cpu", *, device: str = "cpu", data_seed: int = 0,
                     backbone: str = "deeplab_resnet34", cpu_backbone: str = "tiny_resnet",
                     data_root: str | Path | None = None, workers: int = 0) -> SynthSetup:
    """The setup of one of the paper's comparisons at a scale (see the module docstring).

    Args:
        dataset: ``"cityscapes"``, ``"nyuv2"`` or ``"taskonomy"``.
        scale: ``"smoke"``, ``"cpu"`` (SynthScenes stand-in) or ``"paper"`` (the real dataset).
        device: ``"cpu"`` or ``"cuda"``.
        data_seed: SynthScenes seed / the real loaders' shuffling and augmentation seed.
        backbone: the paper-scale backbone (the paper's ``deeplab_resnet34`` by default).
        cpu_backbone: the stand-in backbone at smoke/cpu scale (``tiny_resnet`` or ``tiny_cnn``).
        data_root: folder holding ``CityScapes/``, ``NYUv2/``, ``Taskonomy/`` (paper scale only; required there).
        workers: DataLoader workers of the real datasets.

    Returns:
        A setup usable by :func:`mtlkit.automtl.synth.run_variant` / ``run_baseline`` and :func:`comparison`.

    Raises:
        ConfigError: an unknown dataset, scale or backbone; paper scale without ``data_root``.
        FileNotFoundError: ``data_root`` lacks the dataset's folder.
    """
    _check_dataset(dataset)
    check_scale(scale)
    if scale == "paper":
        return _paper_setup(dataset, _check_paper_backbone(backbone), data_root, device, workers, data_seed)
    check_cpu_backbone(cpu_backbone)
    if dataset == "nyuv2":  # the setup of notebook 03 (the same key: its cached runs are shared)
        return synth_setup(scale, device=device, data_seed=data_seed, backbone=cpu_backbone)
    sizes = dict(SIZES[dataset][scale])
    return _stand_in(dataset, scale, sizes, PAPER_TASKS[dataset], backbone=cpu_backbone,
                     backbone_kw={"width": sizes["width"]}, head_kw={}, device=device, data_seed=data_seed)


def backbone_setup(backbone: str, scale: str = "cpu", *, device: str = "cpu", data_seed: int = 0,
                   data_root: str | Path | None = None, workers: int = 0) -> SynthSetup:
    """The CityScapes setting with another backbone (the backbone generalisation study).

    At paper scale it is :func:`experiment_setup` ``("cityscapes", "paper", backbone=backbone)`` (ASPP heads on the
    backbone's features, 224 px crops). At smoke/cpu scale the full-size backbone runs on a SynthScenes stand-in
    with small inputs (:data:`BACKBONE_SIZES`: 32 px, so a stride-32 backbone sees 1×1 feature maps) and light heads;
    the stand-in backbones (``tiny_resnet``, ``tiny_cnn``) give the CityScapes comparison's own setup.

    Args:
        backbone: a :func:`mtlkit.backbones.list_backbones` name.
        scale, device, data_seed, data_root, workers: as :func:`experiment_setup`.
    """
    check_scale(scale)
    _check_paper_backbone(backbone)
    if scale == "paper":
        return experiment_setup("cityscapes", "paper", device=device, data_seed=data_seed, backbone=backbone,
                                data_root=data_root, workers=workers)
    if backbone in STAND_IN_BACKBONES:
        return experiment_setup("cityscapes", scale, device=device, data_seed=data_seed, cpu_backbone=backbone)
    sizes = dict(BACKBONE_SIZES[scale])
    return _stand_in("cityscapes", scale, sizes, PAPER_TASKS["cityscapes"], backbone=backbone, backbone_kw={},
                     head_kw={"width": sizes["head_width"]}, device=device, data_seed=data_seed)


def paper_plan(dataset: str, backbone: str = "deeplab_resnet34") -> dict[str, Any]:
    """What ``scale="paper"`` runs, without building anything: tasks, sizes, model and the preset's schedule."""
    _check_dataset(dataset)
    sizes = PAPER_SIZES[dataset]
    cfg = SearchConfig.preset(dataset, pre_train_iterations=sizes["pre"])
    return {"dataset": DATASET_NAMES[dataset], "tasks": PAPER_TASKS[dataset], "backbone": backbone,
            "heads": "ASPP (rates 6, 12, 18, 24; 1024 channels) per task", "skip": "project",
            "crop (px)": sizes["resolution"], "batch": sizes["batch"], "pre-train iterations": sizes["pre"],
            "policy-train iterations": sizes["policy"], "post-train iterations": sizes["post"],
            "alternation (P, N)": (cfg.policy_steps, cfg.network_steps), "network lr": cfg.network_lr,
            "lambda_reg": cfg.reg_weight, "loss weights (policy-train)": cfg.loss_weights,
            "loss weights (post-train)": cfg.post_loss_weights, "final tau": round(cfg.final_tau, 4),
            "sample seed": cfg.sample_seed}


# ------------------------------------------------------------------------------------------ the published policy
def published_policy_accounting(backbone: str = "deeplab_resnet34") -> dict[str, Any]:
    """The paper's CityScapes architecture (docs/automtl.md §7.14) counted in both conventions, exactly.

    Builds the supermodel of ``backbone`` (ResNet-34 conv shapes; the paper's ``skip="project"``) with 1×1 heads
    (19 and 1 outputs) at a small input (parameter counts do not depend on the resolution) and counts the policy.

    Returns:
        ``policy``, the :func:`~mtlkit.automtl.param_report` (``report``), ``params_m`` (the authors' #Params
        arithmetic: T × the backbone with BN, in millions, × (1 − paper reduction): 42.569 × 0.678 = 28.88) and
        ``single_params_m`` (42.569).
    """
    from torch import nn

    from mtlkit.automtl.accounting import param_report
    from mtlkit.automtl.policy import paper_cityscapes_policy
    from mtlkit.automtl.supermodel import SuperModel
    from mtlkit.backbones import get_backbone

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = get_backbone(backbone)
        heads = {"segment_semantic": nn.Conv2d(net.out_channels, 19, 1), "depth_zbuffer": nn.Conv2d(net.out_channels, 1, 1)}
        sm = SuperModel.from_backbone(net, heads, torch.zeros(1, 3, 32, 32), skip="project")
    try:
        policy = sm.validate_policy(paper_cityscapes_policy())
    except ConfigError as err:
        raise ConfigError(f"backbone {backbone!r} does not have ResNet-34's conv names, which the paper's CityScapes "
                          f"policy is written for: {err}") from None
    report = param_report(sm, policy)
    backbone_params = sum(p.numel() for p in sm.backbone.parameters())  # convs + BN affine (21,284,672)
    single_m = 2 * backbone_params / 1e6
    return {"policy": policy, "report": report, "backbone_params": backbone_params, "single_params_m": single_m,
            "params_m": single_m * (1 - report["paper_reduction"])}


def published_policy_rows(accounting: Mapping, setting: str = "Deeplab-ResNet34") -> list[dict]:
    """Results rows of :func:`published_policy_accounting`, spelled like ``paper_values/automtl_cityscapes.csv``."""
    r = accounting["report"]
    rows = [("AutoMTL", "conv_params_paper", r["paper"]),
            ("AutoMTL", "conv_params_reduction_pct", 100 * r["paper_reduction"]),
            ("AutoMTL", "params_m", accounting["params_m"]),
            ("AutoMTL", "params_full", r["full"]),
            ("AutoMTL", "skip_params_used", r["full_skip"]),
            ("Single-Task", "conv_params_paper", r["paper_single"]),
            ("Single-Task", "params_m", accounting["single_params_m"])]
    return [dict(setting=setting, method=m, task="all", metric=k, value=float(v), backbone="deeplab_resnet34")
            for m, k, v in rows]


# ------------------------------------------------------------------------------------------------- comparisons
@dataclass
class Comparison:
    """Single-task, hard sharing and the searched models of one setup and seed, post-trained by the same code.

    Attributes:
        setup: the setup.
        seed: the run seed.
        models: method name (:data:`METHODS`) -> :class:`~mtlkit.automtl.search.PostTrained`.
        runs: method name -> :class:`~mtlkit.automtl.synth.VariantRun` (searched methods only).
        deltas: method name -> :class:`~mtlkit.delta.DeltaResult` against the single-task models.
        backbones: method name -> parameter cost of the policy in backbones (all-shared = 1).
        seconds: wall time of the call (near 0 when every run was in the cache).
        policy_stats: searched method -> :func:`~mtlkit.automtl.analysis.policy_stats` of its learned logits
            (entropy, its ceiling, mean |logit|): how far the search left the uniform start.
    """

    setup: Any
    seed: int
    models: dict
    runs: dict
    deltas: dict
    backbones: dict
    seconds: float
    policy_stats: dict = field(default_factory=dict)
    random: dict = field(default_factory=dict)

    def random_rows(self, setting: str) -> list[dict]:
        """Rows of the random-architecture draws: one row set per draw (column ``draw``: its numpy seed) with every
        test metric, Δt per task and overall, parameters and backbones (the report averages the draws of a seed)."""
        out = []
        for method, draws in self.random.items():
            for k, post, d, cost in draws:
                common = dict(setting=setting, method=method, backbone=self.setup.backbone, draw=k)
                for task, metrics in post.metrics.items():
                    out += [dict(common, task=task, metric=m, value=float(v)) for m, v in metrics.items()]
                    out.append(dict(common, task=task, metric="delta_t", value=float(d.per_task[task])))
                out += [dict(common, task="all", metric=m, value=float(v)) for m, v in (
                    ("delta_t", d.overall), ("conv_params_paper", post.params["paper"]),
                    ("params_full", post.params["full"]), ("backbones", cost))]
        return out

    def rows(self, setting: str, methods: Sequence[str] | None = None) -> list[dict]:
        """Results rows: every test metric, Δt per task and overall, parameters (paper convention and full)."""
        out = []
        for method in methods or self.models:
            post, d = self.models[method], self.deltas[method]
            common = dict(setting=setting, method=method, backbone=self.setup.backbone)
            for task, metrics in post.metrics.items():
                out += [dict(common, task=task, metric=m, value=float(v)) for m, v in metrics.items()]
                out.append(dict(common, task=task, metric="delta_t", value=float(d.per_task[task])))
            p = post.params
            out += [dict(common, task="all", metric=k, value=float(v)) for k, v in (
                ("delta_t", d.overall), ("conv_params_paper", p["paper"]),
                ("conv_params_reduction_pct", 100 * p["paper_reduction"]), ("params_full", p["full"]),
                ("params_full_reduction_pct", 100 * p["full_reduction"]), ("backbones", self.backbones[method]))]
            out += [dict(common, task="all", metric=k, value=float(v))
                    for k, v in self.policy_stats.get(method, {}).items()]
        return out + (self.random_rows(setting) if methods is None else [])

    def table(self):
        """One row per method: Δt overall and per task, parameters (paper convention and full), backbones."""
        import pandas as pd

        rows = []
        for method, post in self.models.items():
            d = self.deltas[method]
            rows.append({"method": method, "delta_T": d.overall, **{f"delta/{t}": v for t, v in d.per_task.items()},
                         "conv_params_paper": post.params["paper"],
                         "paper_reduction_%": 100 * post.params["paper_reduction"],
                         "params_full": post.params["full"], "full_reduction_%": 100 * post.params["full_reduction"],
                         "backbones": self.backbones[method],
                         **{k: v for k, v in self.policy_stats.get(method, {}).items() if k != "policy_entropy_max"}})
        for method, draws in self.random.items():  # the mean over the draws
            n = len(draws)
            rows.append({"method": f"{method} (mean of {n})", "delta_T": sum(d.overall for _, _, d, _ in draws) / n,
                         **{f"delta/{t}": sum(d.per_task[t] for _, _, d, _ in draws) / n
                            for t in draws[0][2].per_task},
                         "params_full": sum(p.params["full"] for _, p, _, _ in draws) / n,
                         "backbones": sum(c for *_, c in draws) / n})
        return pd.DataFrame(rows).set_index("method")

    def metrics_table(self):
        """Every test metric of every method: rows (task, metric), one column per method."""
        import pandas as pd

        cols = {m: {(t, k): v for t, ms in post.metrics.items() for k, v in ms.items()}
                for m, post in self.models.items()}
        df = pd.DataFrame(cols)
        df.index.names = ["task", "metric"]
        return df


def comparison(setup, seed: int = 0, *, methods: Sequence[str] = tuple(METHODS), cache: bool = True,
               progress: bool = False, random_draws: int | None = None) -> Comparison:
    """Train (or load from the run cache) the methods of the paper's comparison on one setup.

    Every model is post-trained from scratch by :func:`mtlkit.automtl.search.post_train` with the setup's settings
    (the searched ones after :func:`mtlkit.automtl.synth.run_variant`'s search); Δt is against the single-task models
    of the same seed (``zero_reference="skip"``: a metric whose reference is 0 is left out).

    Args:
        setup: from :func:`experiment_setup` or :func:`backbone_setup`.
        seed: run seed (initialisation, data order, Gumbel noise; sample seed ``10 + 1000 · seed``).
        methods: names from :data:`METHODS` (``"Single-Task"`` is always trained: it is the reference).
        cache: use the run cache (:mod:`mtlkit.cache`).
        progress: progress bars.
        random_draws: the random architectures of ``"Random architecture"`` (None: :data:`RANDOM_DRAWS` of the
            setup's scale); their searched method is trained too.

    Returns:
        A :class:`Comparison`.
    """
    from mtlkit.automtl.baselines import matched_random_policies
    from mtlkit.delta import delta_t

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise unknown_name("method", unknown[0], METHODS)
    start = time.perf_counter()
    names = ["Single-Task"] + [m for m in methods if m != "Single-Task"]
    names += [METHODS[m][1] for m in names if METHODS[m][0] == "random" and METHODS[m][1] not in names]
    models, runs, random = {}, {}, {}
    for name in names:
        kind, what = METHODS[name]
        if kind == "random":
            continue
        if kind == "baseline":
            models[name] = run_baseline(setup, what, seed, cache=cache, progress=progress)
        else:
            runs[name] = run_variant(setup, what, seed, cache=cache, progress=progress, **ABLATION.get(name, {}))
            models[name] = runs[name].post
    reference = models["Single-Task"].metrics
    costs = ResourceCosts.from_supermodel(setup.supermodel(seed), "params")
    deltas = {m: delta_t(p.metrics, reference, zero_reference="skip") for m, p in models.items()}
    backbones = {m: costs.of_policy(p.policy) for m, p in models.items()}
    stats = {m: policy_stats(r.supermodel.logits_by_node()) for m, r in runs.items()}
    n = check_positive_int(RANDOM_DRAWS[setup.scale] if random_draws is None else random_draws, "random_draws")
    for name in (m for m in names if METHODS[m][0] == "random"):
        target = models[METHODS[name][1]]
        draws = matched_random_policies(setup.supermodel(seed), target.params["full"], n, seed=100_000 * (seed + 1),
                                        tolerance=RANDOM_TOLERANCE)
        random[name] = []
        for k, policy in draws:
            post = train_policy(setup, policy, seed, cache=cache, progress=progress)
            random[name].append((k, post, delta_t(post.metrics, reference, zero_reference="skip"),
                                 costs.of_policy(post.policy)))
    return Comparison(setup, seed, models, runs, deltas, backbones, time.perf_counter() - start, stats, random)


def lambda_ablation(setup, lambdas: Sequence[float] = LAMBDAS, seed: int = 0, *, cache: bool = True,
                    progress: bool = False, reference: Comparison | None = None) -> dict[str, Any]:
    """The paper's λ_reg ablation (its pipeline: paper regulariser, one τ = 1 sample) on one setup.

    The run whose λ equals the setup's preset value (0.0005 for CityScapes) is the comparison's own AutoMTL run
    (same cache key). Δt is against the single-task models of :func:`comparison` (trained once).

    Args:
        setup: the CityScapes setup (:func:`experiment_setup`).
        lambdas: the λ_reg values (positive).
        seed: run seed.
        cache, progress: as :func:`comparison`.
        reference: a :class:`Comparison` of the same setup and seed to take the single-task models from.

    Returns:
        ``{"table": DataFrame indexed by λ (Δt, per-task Δt, parameters, backbones, E[backbones] at the end of
        policy-train, mean p(shared), :func:`~mtlkit.automtl.analysis.policy_stats`), "runs": {λ: VariantRun}, "deltas": {λ: DeltaResult}}``.
    """
    import pandas as pd

    from mtlkit.delta import delta_t

    lambdas = [float(x) for x in lambdas]
    if not lambdas or any(not x > 0 for x in lambdas) or len(set(lambdas)) != len(lambdas):
        raise ConfigError(f"lambdas must be distinct positive numbers, got {lambdas!r}")
    if reference is None:
        reference = comparison(setup, seed, methods=("Single-Task",), cache=cache, progress=progress)
    ref = reference.models["Single-Task"].metrics
    costs = ResourceCosts.from_supermodel(setup.supermodel(seed), "params")
    runs, deltas, rows = {}, {}, []
    for lam in lambdas:
        run = run_variant(setup, "paper", seed, cache=cache, progress=progress, reg_weight=lam)
        d = delta_t(run.post.metrics, ref, zero_reference="skip")
        log = run.policy_train.history.train_frame()
        snaps = run.policy_log
        final = snaps[snaps.iteration == snaps.iteration.max()]
        runs[lam], deltas[lam] = run, d
        rows.append({"lambda_reg": lam, "delta_T": d.overall, **{f"delta/{t}": v for t, v in d.per_task.items()},
                     "conv_params_paper": run.post.params["paper"],
                     "paper_reduction_%": 100 * run.post.params["paper_reduction"],
                     "params_full": run.post.params["full"], "backbones": costs.of_policy(run.post.policy),
                     "expected_backbones": float(log["expected_params"].iloc[-1]),
                     "mean_p_shared": float(final["p_shared"].mean()),
                     **policy_stats(run.supermodel.logits_by_node())})
    return {"table": pd.DataFrame(rows).set_index("lambda_reg"), "runs": runs, "deltas": deltas}


# ---------------------------------------------------------------------------------------------------- backbones
def compiler_facts(backbone: str, resolution: int = 64, **backbone_kw) -> dict[str, int]:
    """What the compiler makes of a backbone: conv nodes, depth, skips and parameters (exact, resolution-free).

    Builds ``SuperModel.from_backbone(get_backbone(backbone), 1×1 heads, zeros(1, 3, resolution, resolution))`` with
    ``skip="auto"`` and with the paper's ``skip="project"``.

    Returns:
        ``conv_nodes``, ``max_depth`` (D), ``identity_skips``, ``auto_projection_nodes`` /
        ``auto_projection_params`` / ``auto_no_skip_nodes`` (the kit's default), ``project_projection_nodes`` /
        ``project_projection_params`` (the paper's 1×1 conv + BN, per task), ``conv_params`` (one backbone's convs,
        the paper convention's unit) and ``backbone_params`` (with BN).
    """
    from torch import nn

    from mtlkit.automtl.supermodel import SuperModel
    from mtlkit.backbones import get_backbone

    out: dict[str, int] = {}
    for skip in ("auto", "project"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = get_backbone(backbone, **backbone_kw)
            sm = SuperModel.from_backbone(net, {"a": nn.Conv2d(net.out_channels, 1, 1),
                                                "b": nn.Conv2d(net.out_channels, 1, 1)},
                                          torch.zeros(1, 3, resolution, resolution), skip=skip)
        convs = [v for v in sm.nodes if v.kind == "conv"]
        proj = [v for v in convs if v.skip == "project"]
        if skip == "auto":
            out.update(conv_nodes=len(convs), max_depth=sm.max_depth,
                       identity_skips=sum(v.skip == "identity" for v in convs),
                       auto_projection_nodes=len(proj), auto_projection_params=sum(v.params["skip"] for v in proj),
                       auto_no_skip_nodes=sum(v.skip is None for v in convs),
                       conv_params=sum(v.params["shared"] for v in convs),
                       backbone_params=sum(p.numel() for p in sm.backbone.parameters()))
        else:
            out.update(project_projection_nodes=len(proj),
                       project_projection_params=sum(v.params["skip"] for v in proj))
    return out


# -------------------------------------------------------------------------------------------------- search cost
SCHEMES = {"ours": ("summed", True), "original": ("per_task", False)}


def per_task_data(setup) -> dict:
    """``{split: {task: DataLoader}}``: each task its own loader over the same data (the original's feeding).

    Every task's loader shuffles with its own generator (seeded ``data_seed + k``), so the tasks see different
    batches, as in the original's per-task loaders; ``test`` is shared.
    """
    out = {}
    for split in ("train", "train1", "train2"):
        base = setup.data[split]
        out[split] = {t: DataLoader(base.dataset, batch_size=base.batch_size, shuffle=True, drop_last=True,
                                    num_workers=base.num_workers,
                                    generator=torch.Generator().manual_seed(setup.data_seed + k))
                      for k, t in enumerate(setup.tasks)}
    out["test"] = setup.data["test"]
    return out


def _scheme(setup, scheme: str, seed: int):
    if scheme not in SCHEMES:
        raise unknown_name("scheme", scheme, SCHEMES)
    mode, freeze = SCHEMES[scheme]
    cfg = setup.base_config.replace(step_mode=mode, seed=seed)
    data = setup.data if scheme == "ours" else per_task_data(setup)
    return cfg, data, freeze


def _sync(device: str) -> None:
    if str(device).startswith("cuda") and torch.cuda.is_available():
        torch.cuda.synchronize()


def time_policy_train(setup, iterations: int, seed: int = 0, schemes: Sequence[str] = tuple(SCHEMES),
                      warmup: int = 1) -> dict[str, dict[str, float]]:
    """Seconds per policy-train iteration of each scheme, per phase (policy / network), measured here.

    ``"ours"``: one tree-executed soft forward for all tasks on a joint batch, one summed backward, the inactive
    group frozen. ``"original"``: per task its own batch, forward, backward and optimizer step, every gradient
    computed (``step_mode="per_task"``, ``freeze_inactive=False``). The schemes alternate phase by phase (load from
    other processes hits them alike); each reports the median of ``iterations`` timed iterations per phase, after
    ``warmup`` untimed ones.

    Returns:
        ``{scheme: {"policy": s, "network": s, "n": iterations}}``.
    """
    check_positive_int(iterations, "iterations")
    from mtlkit.automtl.search import PolicyTrainer

    trainers = {}
    for s in schemes:
        cfg, data, freeze = _scheme(setup, s, seed)
        trainers[s] = (PolicyTrainer(setup.supermodel(seed), data, cfg, setup.tasks, freeze_inactive=freeze), cfg)
    counters = dict.fromkeys(trainers, 0)
    times: dict[str, dict[str, list]] = {s: {"policy": [], "network": []} for s in trainers}
    for rep in range(warmup + iterations):
        for phase in ("policy", "network"):
            for s, (trainer, cfg) in trainers.items():
                i = counters[s]
                while cfg.is_policy_step(i) != (phase == "policy"):
                    i += 1
                _sync(cfg.device)
                t0 = time.perf_counter()
                trainer.step(i)
                _sync(cfg.device)
                if rep >= warmup:
                    times[s][phase].append(time.perf_counter() - t0)
                counters[s] = i + 1
    return {s: {ph: statistics.median(v) for ph, v in t.items()} | {"n": iterations} for s, t in times.items()}


def policy_train_wall(setup, scheme: str, seed: int = 0) -> float:
    """Wall time (s) of the whole policy-train stage of ``setup.base_config`` with one scheme (nothing cached)."""
    from mtlkit.automtl.search import policy_train

    cfg, data, freeze = _scheme(setup, scheme, seed)
    sm = setup.supermodel(seed)
    _sync(cfg.device)
    t0 = time.perf_counter()
    policy_train(sm, data, cfg, tasks=setup.tasks, run_dir=None, progress=False, freeze_inactive=freeze)
    _sync(cfg.device)
    return time.perf_counter() - t0


def hours_estimate(per_iteration: Mapping[str, float], config: SearchConfig) -> float:
    """Hours of a policy-train stage of ``config`` (its policy / network iteration counts) at the measured speeds.

    ``(n_policy · t_policy + n_network · t_network) / 3600``; with the paper's preset (e.g. CityScapes: 4,000 policy
    and 16,000 network iterations) and speeds measured on a GPU this is the paper-scale GPU-hours estimate.
    """
    n_policy = config.n_policy_steps
    n_network = config.policy_train_iterations - n_policy
    return (n_policy * per_iteration["policy"] + n_network * per_iteration["network"]) / 3600.0
