"""The AutoMTL search on SynthScenes at the kit's three scales: setups, cached runs, the regulariser comparison.

Used by ``notebooks/03_policy_training``, the tests and the command line::

    python -m mtlkit.automtl.synth --scale cpu --seeds 0 1 2

which searches with the paper's regulariser and with the resource-aware variant for each seed, trains the
single-task, hard-sharing and random-policy baselines with the same post-train code, and prints Δt (against the
single-task models), parameters and the agreement between the seeds' architectures.

Setup (:func:`synth_setup`): three NYUv2-like tasks (segmentation with 6 classes, depth, normals), ``tiny_resnet``
with light heads (``mtlkit.heads.LightHead``), task-specific BN (the paper), ``skip="auto"``. ``train`` is rendered
once (``cache=True``); ``train1``/``train2`` are its even/odd samples (what SynthScenes' own ``train1``/``train2``
splits are, without rendering them again). The configuration is the paper's NYUv2 preset (the same three tasks,
(50, 50) alternation, λ_reg 0.001, τ ending at 0.147) with task weights 1 (NYUv2's 3/20/3 were tuned for
NYUv2's loss magnitudes). At ``"smoke"`` and ``"cpu"`` scale it is rescaled with :meth:`SearchConfig.scaled` to a
few hundred iterations, with two deliberate changes: network SGD lr 0.01 (the preset's 1e-3 for ~100 network steps
would leave the weights near their random initialisation) and a constant post-train lr (Adam 1e-3), because the
paper's 7 halvings squeezed into 200 iterations starve training (measured, single-task models after 150
iterations: depth abs. error 3.43 m with the halvings, 1.34 m without). A third change (:data:`SHORT_RUN`):
policy Adam lr 0.3 (0.03 after the preset's drop at half of policy-train) instead of 0.01 / 0.001, because 40-100
policy steps at 0.01 leave the policy uniform (measured, CityScapes stand-in, seed 0, 40 policy steps: mean |logit|
0.09; even 400 steps at 0.01, with or without 400 pre-train iterations, reach only 0.31-0.38, entropy 0.98-1.00
of its ceiling 1.048 nats; at 0.3: mean |logit| 1.07, entropy 0.81; NYUv2 stand-in, 100 policy steps: 0.20 ->
1.08, entropy 1.02 -> 0.65). ``"paper"`` keeps the preset's lengths and
schedules (a GPU-sized run on synthetic data, not a reproduction of any table).

Variants (:data:`VARIANTS`): ``"paper"`` — depth-weighted softplus regulariser, one τ = 1 sample (numpy seed
``10 + 1000 · seed``: runs never share a sample seed, which would make near-uniform distributions draw the same
architecture and inflate the agreement between seeds); ``"resource"`` — expected parameters with a budget of 1.5
backbones (μ = 1), the last quarter of policy-train with straight-through hard Gumbel, best of 8 samples on
``train2`` within the budget.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import torch

from mtlkit.automtl.analysis import agreement_matrix, mean_pairwise_agreement
from mtlkit.automtl.baselines import baseline_policy
from mtlkit.automtl.regularizer import ResourceCosts
from mtlkit.automtl.search import (
    Discretization, PolicyTrainResult, PostTrained, discretize, policy_train, policy_train_key, post_train,
    pre_train,
)
from mtlkit.automtl.search_config import SearchConfig
from mtlkit.automtl.supermodel import SuperModel
from mtlkit.config import check_scale
from mtlkit.errors import ConfigError, unknown_name
from mtlkit.facts import DATASET_FACTS
from mtlkit.setups import Setup, load_data, sizes_of

__all__ = ["TASKS", "SIZES", "VARIANTS", "SHORT_RUN", "SynthSetup", "synth_setup", "variant_config", "VariantRun",
           "run_variant", "train_policy", "run_baseline", "compare", "main"]

TASKS = DATASET_FACTS["synthscenes"].study_tasks
#: per scale: rendered images, resolution, batch, tiny_resnet width, stage lengths (iterations)
SIZES = {"smoke": sizes_of("automtl", "nyuv2", "smoke"), "cpu": sizes_of("automtl", "nyuv2", "cpu"),
         "paper": sizes_of("automtl", "synthscenes", "paper")}  # rows of mtlkit.setups.SIZES
VARIANTS = ("paper", "resource")
#: What smoke/cpu scale changes in a preset for runs of a few hundred iterations (see the module docstring); the
#: stand-ins of :mod:`mtlkit.automtl.experiments` apply the same.
SHORT_RUN = {"network_lr": 0.01, "post_lr_step": None, "policy_lr": 0.3, "policy_lr_after_drop": 0.03}


@dataclass
class SynthSetup:
    """Data, tasks and configuration of the SynthScenes search at one scale (see :func:`synth_setup`)."""

    scale: str
    sizes: dict
    tasks: dict
    data: dict
    base_config: SearchConfig
    backbone: str = "tiny_resnet"
    device: str = "cpu"
    data_seed: int = 0
    key: dict = field(default_factory=dict)

    def supermodel(self, seed: int) -> SuperModel:
        """A fresh supermodel, initialised from ``torch.manual_seed(seed)``."""
        from mtlkit.backbones import get_backbone
        from mtlkit.heads import get_head

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = get_backbone(self.backbone, width=self.sizes["width"])
            heads = {t: get_head("light", 2 * self.sizes["width"], task.out_channels) for t, task in self.tasks.items()}
            res = self.sizes["resolution"]
            sm = SuperModel.from_backbone(net, heads, torch.zeros(1, 3, res, res))
        return sm.to(self.device)


def synth_setup(scale: str = "cpu", *, device: str = "cpu", data_seed: int = 0, tasks=TASKS,
                backbone: str = "tiny_resnet", synth_config=None, sizes=None) -> SynthSetup:
    """Build the SynthScenes search setup of ``scale`` (``"smoke"``, ``"cpu"`` or ``"paper"``).

    Args:
        scale: the kit's scale (sizes in :data:`SIZES`).
        device: ``"cpu"`` or ``"cuda"``.
        data_seed: SynthScenes seed (the same images for every run seed).
        tasks: task names (SynthScenes tasks).
        backbone: a registry backbone that takes ``width=`` (``tiny_resnet``, ``tiny_cnn``).
        synth_config: the :class:`~mtlkit.data.synthetic.SynthConfig` of the images (e.g. with planted tasks).
        sizes: entries of :data:`SIZES` to change (e.g. ``{"policy": 600}``).

    Returns:
        A :class:`SynthSetup`.
    """
    check_scale(scale)
    unknown = sorted(set(sizes or {}) - set(SIZES[scale]))
    if unknown:
        raise ConfigError(f"sizes has unknown keys {unknown}; known are {sorted(SIZES[scale])}")
    sizes = {**SIZES[scale], **dict(sizes or {})}
    tasks = tuple(tasks)
    loaded = load_data(Setup("synthscenes", tasks, batch=sizes["batch"], test_batch=64, n_train=sizes["n_train"],
                             n_test=sizes["n_test"], resolution=sizes["resolution"], seed=data_seed, device=device,
                             synth_config=synth_config))
    data, task_objs = loaded.loaders, loaded.tasks
    short = scale != "paper"
    base = SearchConfig.preset("nyuv2", loss_weights=None, post_loss_weights=None, device=device,
                               checkpoint_every=100 if short else 500, log_every=5 if short else 10)
    if short:  # a few hundred iterations: see the module docstring
        base = base.replace(**SHORT_RUN)
        base = base.scaled(sizes["policy"], pre_train_iterations=sizes["pre"], post_train_iterations=sizes["post"])
    key = dict(dataset="SynthScenes", scale=scale, data_seed=data_seed, tasks=list(tasks), backbone=backbone,
               sizes=sizes, **({"synth_config": repr(synth_config)} if synth_config is not None else {}))
    return SynthSetup(scale=scale, sizes=sizes, tasks=task_objs, data=data, base_config=base, backbone=backbone,
                      device=device, data_seed=data_seed, key=key)


def variant_config(setup: SynthSetup, variant: str, seed: int, **overrides) -> SearchConfig:
    """The :class:`SearchConfig` of a variant (``"paper"`` or ``"resource"``) for one run seed."""
    if variant not in VARIANTS:
        raise unknown_name("variant", variant, VARIANTS)
    cfg = setup.base_config.replace(seed=seed, sample_seed=10 + 1000 * seed)  # runs never share a sample seed
    if variant == "resource":
        cfg = cfg.replace(regularizer="resource", budget=1.5, budget_weight=1.0, hard_fraction=0.25,
                          discretize="best_of", n_samples=8)
    return cfg.replace(**overrides) if overrides else cfg


@dataclass
class VariantRun:
    """One searched and post-trained model of the comparison."""

    variant: str
    seed: int
    config: SearchConfig
    supermodel: SuperModel
    policy_train: PolicyTrainResult
    discretization: Discretization | None
    post: PostTrained | None
    seconds: float

    @property
    def policy_log(self):
        """The policy snapshots as a DataFrame (see :meth:`PolicyTrainResult.snapshot_frame`)."""
        return self.policy_train.snapshot_frame()


def _cache_dir(kind: str, **key):
    from mtlkit.cache import run_dir

    return run_dir(kind, depends_on=("mtlkit.automtl.search", "mtlkit.automtl.synth"), **key)


def run_variant(setup: SynthSetup, variant: str, seed: int, *, cache: bool = True, progress: bool = False,
                post: bool = True, **overrides) -> VariantRun:
    """Pre-train (if any), policy-train, discretise and post-train one variant, each stage in the run cache.

    Args:
        setup: the :class:`SynthSetup`.
        variant: ``"paper"`` or ``"resource"``.
        seed: run seed (initialisation, data order, Gumbel noise, sample seeds from ``10 + 1000 · seed``).
        cache: keep every stage in :func:`mtlkit.cache.run_dir` (a second call returns at once).
        progress: progress bars.
        post: discretise and post-train (False: stop after policy-train).
        **overrides: :class:`SearchConfig` fields to change.

    Returns:
        A :class:`VariantRun`.
    """
    start = time.perf_counter()
    cfg = variant_config(setup, variant, seed, **overrides)
    sm = setup.supermodel(seed)
    d = (lambda kind, **k: _cache_dir(kind, setup=setup.key, seed=seed, **k)) if cache else (lambda *a, **k: None)
    pre_train(sm, setup.data, cfg, tasks=setup.tasks, progress=progress,
              run_dir=d("automtl-pre", pre=[cfg.pre_train_iterations, cfg.pre_train_lr]))
    result = policy_train(sm, setup.data, cfg, tasks=setup.tasks, progress=progress,
                          run_dir=d("automtl-policy", config=policy_train_key(cfg)))
    disc = trained = None
    if post:
        disc = discretize(sm, cfg, setup.data, tasks=setup.tasks)
        trained = post_train(sm, disc.policy, setup.data, cfg, tasks=setup.tasks, progress=progress,
                             run_dir=d("automtl-post", policy=disc.policy, post=_post_key(cfg)))
    return VariantRun(variant, seed, cfg, sm, result, disc, trained, time.perf_counter() - start)


def _post_key(cfg: SearchConfig) -> dict:
    return {k: getattr(cfg, k) for k in ("post_train_iterations", "post_lr", "post_lr_step", "post_lr_gamma",
                                         "post_init", "post_loss_weights", "loss_weights", "seed")}


def train_policy(setup: SynthSetup, policy: dict, seed: int = 0, *, cache: bool = True,
                 progress: bool = False) -> PostTrained:
    """Post-train the model derived from an explicit policy with the variants' post-train settings (cached).

    Args:
        setup: the :class:`SynthSetup`.
        policy: ``{node: {task: choice}}`` over the setup's supermodel.
        seed: run seed (initialisation and data order).
        cache: keep the run in the run cache.
        progress: progress bar.
    """
    cfg = setup.base_config.replace(seed=seed)
    sm = setup.supermodel(seed)
    policy = sm.validate_policy(policy)
    run = _cache_dir("automtl-post", setup=setup.key, seed=seed, policy=policy, post=_post_key(cfg)) if cache else None
    return post_train(sm, policy, setup.data, cfg, tasks=setup.tasks, run_dir=run, progress=progress)


def run_baseline(setup: SynthSetup, kind: str, seed: int = 0, *, policy_seed: int = 0, cache: bool = True,
                 progress: bool = False) -> PostTrained:
    """Post-train a baseline (``"single_task"``, ``"hard_sharing"``, ``"random"``) with the variants' settings.

    Args:
        setup: the :class:`SynthSetup`.
        kind: the baseline.
        seed: run seed (initialisation and data order).
        policy_seed: the random policy's numpy seed.
        cache: keep the run in the run cache.
        progress: progress bar.
    """
    policy = baseline_policy(setup.supermodel(seed), kind, seed=policy_seed)
    return train_policy(setup, policy, seed, cache=cache, progress=progress)


def compare(setup: SynthSetup, seeds=(0, 1, 2), variants=VARIANTS, *, cache: bool = True,
            progress: bool = False) -> dict:
    """Searches of every variant and seed, plus the baselines; Δt against the single-task models.

    Returns:
        ``{"table": DataFrame (one row per model: model, seed, delta_T, Δt per task, params, cost, seconds),
        "agreement": {variant: mean pairwise agreement}, "agreement_matrix": {variant: array},
        "runs": {(variant, seed): VariantRun}, "baselines": {name: PostTrained}}``.
    """
    import pandas as pd

    from mtlkit.delta import delta_t

    if len(seeds) < 1:
        raise ConfigError("compare() needs at least one seed")
    t0 = time.perf_counter()
    baselines = {"single_task": run_baseline(setup, "single_task", 0, cache=cache, progress=progress),
                 "hard_sharing": run_baseline(setup, "hard_sharing", 0, cache=cache, progress=progress)}
    for k in range(setup.sizes["random"]):
        baselines[f"random{k}"] = run_baseline(setup, "random", 0, policy_seed=k, cache=cache, progress=progress)
    reference = baselines["single_task"].metrics
    costs = None
    rows = []

    def row(name, seed, post, seconds, variant):
        nonlocal costs
        if costs is None:
            costs = ResourceCosts.from_supermodel(setup.supermodel(0), "params")
        d = delta_t(post.metrics, reference, zero_reference="skip")
        return {"model": name, "variant": variant, "seed": seed, "delta_T": d.overall,
                **{f"delta/{t}": v for t, v in d.per_task.items()}, "params_full": post.params["full"],
                "params_paper": post.params["paper"], "backbones": costs.of_policy(post.policy),
                "seconds": seconds}

    for name, post in baselines.items():
        rows.append(row(name, 0, post, float("nan"), "baseline"))
    runs = {}
    for variant in variants:
        for seed in seeds:
            run = run_variant(setup, variant, seed, cache=cache, progress=progress)
            runs[(variant, seed)] = run
            rows.append(row(f"search:{variant}", seed, run.post, run.seconds, variant))
    agreement, matrices = {}, {}
    for variant in variants:
        policies = [runs[(variant, s)].post.policy for s in seeds]
        matrices[variant] = agreement_matrix(policies)
        agreement[variant] = mean_pairwise_agreement(policies) if len(policies) > 1 else float("nan")
    return {"table": pd.DataFrame(rows), "agreement": agreement, "agreement_matrix": matrices, "runs": runs,
            "baselines": baselines, "seconds": time.perf_counter() - t0}


def main(argv=None) -> None:
    """Command line: ``python -m mtlkit.automtl.synth --scale cpu --seeds 0 1 2``."""
    import pandas as pd

    parser = argparse.ArgumentParser(description="AutoMTL search on SynthScenes: paper vs resource-aware "
                                                 "regulariser, baselines, seed agreement")
    parser.add_argument("--scale", default="cpu", choices=list(SIZES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-cache", action="store_true", help="train everything again (no run cache)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: tiny models on a shared machine; 0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    setup = synth_setup(args.scale, device=args.device)
    out = compare(setup, seeds=tuple(args.seeds), cache=not args.no_cache, progress=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(out["table"].to_string(index=False))
    for variant, value in out["agreement"].items():
        print(f"{variant}: mean pairwise agreement between seeds = {value:.3f}")
    table = out["table"]
    for variant in VARIANTS:
        sub = table[table["variant"] == variant]
        if len(sub):
            print(f"{variant}: delta_T mean {sub['delta_T'].mean():+.2f} % (sd {sub['delta_T'].std():.2f}), "
                  f"backbones mean {sub['backbones'].mean():.3f}, full params mean {sub['params_full'].mean():,.0f}")
    print(f"scale={args.scale} (SynthScenes; not comparable with the paper); total {out['seconds']:.1f} s")


if __name__ == "__main__":
    main()
