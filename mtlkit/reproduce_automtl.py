"""The steps AutoMTL's reproduction notebooks share, so that each notebook holds its prose, parameters and calls only.

A notebook opens with :func:`begin` (or :func:`begin_backbones`): it checks the parameters cell, builds the setups
and returns an :class:`AutoMTLReproduction` that every later step takes. The steps:

* :func:`compare_seeds` / :func:`compare_backbones` — the post-trained models of :func:`~mtlkit.automtl.experiments.
  comparison`, one :class:`~mtlkit.automtl.experiments.Comparison` per seed (and backbone);
* :func:`lambda_sweep` — the λ_reg ablation per seed (:func:`~mtlkit.automtl.experiments.lambda_ablation`);
* :func:`metrics_vs_paper`, :func:`published_policy`, :func:`paper_values_known` — ours next to the paper's numbers;
* :func:`save_comparison_figures`, :func:`save_lambda_figures`, :func:`save_backbone_figures` — the figures;
* :func:`record_comparisons`, :func:`record_lambda_sweep` — the rows of ``reproductions/results/<table>.csv``, one
  row set per seed, with the ``Constant predictor`` rows (:func:`constant_predictor`: the best constant fitted on
  the setup's training split, scored on the split the trained models are scored on).

**Independent runs and executors.** The runs of a notebook (its seeds, λ values, backbones and methods) do not
depend on each other. With ``executor="sequential"`` (the default) they train in this process as the steps ask for
them. With another executor of :mod:`mtlkit.executors` (``"local"``, ``"ray"``, ``"slurm"``) the step first sends
every run to it: a worker rebuilds the setup from the notebook's parameters and trains the run into the run cache
(:mod:`mtlkit.cache`), with this process's torch thread count so the cache keys agree; the step then reads the
finished runs from the cache. The rows are the same either way (a test checks it at smoke scale).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

__all__ = ["AutoMTLReproduction", "begin", "begin_backbones", "check_seeds", "compare_seeds", "compare_backbones",
           "lambda_sweep", "comparison_table", "metrics_vs_paper", "paper_plan_table", "published_policy", "paper_values_known",
           "compiler_facts_table", "constant_predictor", "save_comparison_figures", "save_lambda_figures", "save_backbone_figures",
           "record_comparisons", "record_lambda_sweep", "lambda_rows", "train_run", "get_notebook_executor"]


@dataclass
class AutoMTLReproduction:
    """What one AutoMTL reproduction notebook runs: its table, setups, seeds and executor.

    Attributes:
        table: the results table, e.g. ``"automtl_cityscapes"``.
        setups: name -> setup (the comparison notebooks: one, named after its backbone; the backbone study: the
            reference first, then each backbone).
        recipes: name -> ``(kind, kwargs)`` that rebuild the setup in a worker (see :func:`train_run`).
        setting: the paper table's setting the rows stand for (e.g. ``"Deeplab-ResNet34"``).
        seeds: the run seeds (one row set each).
        scale, device: the notebook's parameters.
        executor: where the independent runs go (a :mod:`mtlkit.executors` name or executor object).
        start: ``time.perf_counter()`` when the notebook started (for ``wall_s``).
        backbone: the paper-scale backbone (the parameters cell's ``backbone``).
        dataset: the paper dataset the notebook reproduces (``"cityscapes"``, ``"nyuv2"``, ``"taskonomy"``).
        methods: the methods every setup trains (empty: all of :data:`~mtlkit.automtl.experiments.METHODS`).
        outcomes: the :class:`~mtlkit.executors.Outcome` of every run sent to a (non-sequential) executor.
    """

    table: str
    setups: dict
    recipes: dict
    setting: str
    seeds: tuple
    scale: str
    device: str
    executor: Any = "sequential"
    start: float = field(default_factory=time.perf_counter)
    backbone: str = "deeplab_resnet34"
    dataset: str = "cityscapes"
    methods: tuple = ()
    outcomes: list = field(default_factory=list)

    @property
    def setup(self):
        """The first (reference) setup."""
        return next(iter(self.setups.values()))

    @property
    def label(self) -> str:
        """What the reference setup's numbers are measured on (``dataset`` of the recorded rows)."""
        from mtlkit.automtl.experiments import dataset_label

        return dataset_label(self.setup)

    @property
    def progress(self) -> bool:
        return self.scale == "paper"


def check_seeds(seeds, seed: int) -> tuple[int, ...]:
    """The run seeds: ``(seed,)`` when ``seeds`` is None, else distinct non-negative ints (a non-empty list/tuple)."""
    from mtlkit.checks import check_nonnegative_int
    from mtlkit.errors import ConfigError

    if seeds is None:
        return (check_nonnegative_int(seed, "seed"),)
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise ConfigError(f"seeds must be None or a non-empty list of non-negative ints, got {seeds!r}")
    out = tuple(check_nonnegative_int(s, "seeds[...]") for s in seeds)
    if len(set(out)) != len(out):
        raise ConfigError(f"seeds must be distinct, got {seeds!r}")
    return out


def get_notebook_executor(executor):
    """The executor of a notebook's ``executor`` parameter: a :mod:`mtlkit.executors` name (``"sequential"``,
    ``"local"``, ``"ray"``, ``"slurm"``), an executor object, or a mapping with ``"name"`` and the executor's options
    (e.g. ``{"name": "slurm", "partition": "gpu", "gpus_per_job": 1}``: papermill passes JSON).

    Raises:
        ConfigError: an unknown name or option (the message lists the valid ones), a mapping without ``"name"``.
    """
    from mtlkit.errors import ConfigError
    from mtlkit.executors import get_executor

    if isinstance(executor, Mapping):
        if "name" not in executor:
            raise ConfigError(f"executor given as a mapping needs a 'name' (sequential, local, ray, slurm) next to "
                              f"its options, got {dict(executor)!r}")
        options = {k: v for k, v in executor.items() if k != "name"}
        return get_executor(executor["name"], **options)
    return get_executor(executor)


def _check_executor(executor):
    get_notebook_executor(executor)  # an unknown name or option raises ConfigError naming the valid ones
    return executor


def _start(scale: str, seed: int, device: str, out_dir, *, backbone: str, data_root, seeds, executor):
    """Validate the common parameters; one torch thread below paper scale; the notebooks' style."""
    import pandas as pd
    import torch

    from mtlkit.config import check_reproduction_params
    from mtlkit.viz import use_style

    start = time.perf_counter()
    check_reproduction_params(scale, seed, device, out_dir, backbone=backbone, data_root=data_root)
    seeds = check_seeds(seeds, seed)
    _check_executor(executor)
    if scale != "paper":
        torch.set_num_threads(1)  # tiny models on a shared 2-core machine: one thread is much faster than two
    use_style()
    pd.set_option("display.width", 160)
    return start, seeds


def begin(table: str, dataset: str, *, scale: str, seed: int, device: str, out_dir, data_root=None,
          backbone: str = "deeplab_resnet34", cpu_backbone: str = "tiny_resnet", workers: int = 0,
          executor="sequential", seeds=None) -> AutoMTLReproduction:
    """Check a comparison notebook's parameters, build its setup and print what it trains.

    Args:
        table: the results table (``"automtl_cityscapes"``, ``"automtl_nyuv2"``, ``"automtl_taskonomy"``,
            ``"automtl_lambda_reg"``).
        dataset: the paper dataset (``"cityscapes"``, ``"nyuv2"``, ``"taskonomy"``).
        scale, seed, device, out_dir, data_root, backbone, cpu_backbone, workers: the parameters cell
            (:func:`mtlkit.automtl.experiments.experiment_setup`).
        executor: where the independent runs go (:func:`get_notebook_executor`: a name, or a mapping with the
            name and the executor's options).
        seeds: the run seeds (None: ``(seed,)``).

    Raises:
        ConfigError: a bad parameter (scale, seed(s), device, backbone, executor, paper scale without data_root).
    """
    import mtlkit
    from mtlkit.automtl.experiments import BACKBONE_LABELS, experiment_setup

    start, seeds = _start(scale, seed, device, out_dir, backbone=backbone, data_root=data_root, seeds=seeds,
                          executor=executor)
    recipe = ("experiment", dict(dataset=dataset, scale=scale, device=device, backbone=backbone,
                                 cpu_backbone=cpu_backbone, data_root=data_root, workers=workers))
    setup = _setup_from(recipe)
    rep = AutoMTLReproduction(table, {setup.backbone: setup}, {setup.backbone: recipe}, BACKBONE_LABELS[backbone],
                              seeds, scale, device, executor, start, backbone, dataset)
    cfg = setup.base_config
    print(f"mtlkit {mtlkit.__version__}, scale={scale}, seeds={list(seeds)}, device={device}, executor={executor}; "
          f"trains on: {rep.label}, backbone {setup.backbone}, tasks {list(setup.tasks)}")
    print(f"policy-train {cfg.policy_train_iterations} iterations, (P, N) = ({cfg.policy_steps}, "
          f"{cfg.network_steps}), tau 5 -> {cfg.final_tau:.4f}, lambda_reg = {cfg.reg_weight}; "
          f"post-train {cfg.post_train_iterations}")
    return rep


def begin_backbones(*, scale: str, seed: int, device: str, out_dir, backbones, methods=None, data_root=None,
                    backbone: str = "deeplab_resnet34", cpu_backbone: str = "tiny_resnet", workers: int = 0,
                    executor="sequential", seeds=None, table: str = "automtl_backbones") -> AutoMTLReproduction:
    """The backbone study's :func:`begin`: the CityScapes reference setup, then one setup per backbone.

    Args:
        backbones: the backbones to generalise to (:func:`mtlkit.backbones.list_backbones` names).
        methods: None (Single-Task and AutoMTL, plus Multi-Task at paper scale) or a list of method names.
        the others: as :func:`begin`.

    Raises:
        ConfigError: as :func:`begin`, ``backbones`` not a non-empty list of registry backbone names, or an unknown
            method.
    """
    import mtlkit
    from mtlkit.automtl.experiments import BACKBONE_LABELS
    from mtlkit.backbones import list_backbones
    from mtlkit.errors import ConfigError

    if not isinstance(backbones, (list, tuple)) or not backbones:
        raise ConfigError(f"backbones must be a non-empty list of backbone names, got {backbones!r}")
    for name in backbones:
        if name not in list_backbones():
            raise ConfigError(f"backbones: unknown backbone {name!r}; valid backbones are: "
                              f"{', '.join(list_backbones())}")
    if methods is None:
        methods = ["Single-Task", "AutoMTL"] + (["Multi-Task"] if scale == "paper" else [])
    methods = _methods(methods)
    start, seeds = _start(scale, seed, device, out_dir, backbone=backbone, data_root=data_root, seeds=seeds,
                          executor=executor)
    reference = ("experiment", dict(dataset="cityscapes", scale=scale, device=device, backbone=backbone,
                                    cpu_backbone=cpu_backbone, data_root=data_root, workers=workers))
    ref = _setup_from(reference)
    recipes = {ref.backbone: reference}
    recipes.update({b: ("backbone", dict(backbone=b, scale=scale, device=device, data_root=data_root,
                                         workers=workers)) for b in backbones if b != ref.backbone})
    setups = {name: _setup_from(r) for name, r in recipes.items()}
    rep = AutoMTLReproduction(table, setups, recipes, BACKBONE_LABELS[backbone], seeds, scale, device, executor,
                              start, backbone, "cityscapes", methods)
    print(f"mtlkit {mtlkit.__version__}, scale={scale}, seeds={list(seeds)}, executor={executor}; reference "
          f"{ref.backbone} on {rep.label}; backbones {list(backbones)}; methods {list(methods)}")
    return rep


def _display(obj) -> None:
    """Show ``obj`` as a notebook output (printed outside IPython)."""
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is there wherever a notebook runs
        print(obj)
    else:
        display(obj)


# ------------------------------------------------------------------------------------------- independent runs
_SETUPS: dict[str, Any] = {}


def _setup_from(recipe):
    """The setup of ``(kind, kwargs)``, built once per process."""
    from mtlkit.automtl.experiments import backbone_setup, experiment_setup

    kind, kw = recipe
    key = repr((kind, sorted(kw.items())))
    if key not in _SETUPS:
        _SETUPS[key] = (experiment_setup if kind == "experiment" else backbone_setup)(**kw)
    return _SETUPS[key]


def train_run(recipe, method: str, seed: int, threads: int | None = None, reg_weight: float | None = None,
              cache: str | None = None) -> str:
    """One independent run, for an executor's worker: train (or find) one model of a comparison in the run cache.

    Args:
        recipe: ``(kind, kwargs)``: ``"experiment"`` (:func:`~mtlkit.automtl.experiments.experiment_setup`) or
            ``"backbone"`` (:func:`~mtlkit.automtl.experiments.backbone_setup`) and its keyword arguments.
        method: a :data:`mtlkit.automtl.experiments.METHODS` name.
        seed: the run seed.
        threads: torch threads (the notebook's, so the run's cache key is the one the notebook looks up).
        reg_weight: λ_reg of a searched method (None: the setup's preset).
        cache: the run cache folder the notebook reads (``$MTLKIT_CACHE`` is set to it; on a cluster it must be on
            a file system the workers share).

    Returns:
        ``method``.
    """
    import os

    import torch

    from mtlkit.automtl.experiments import ABLATION, METHODS
    from mtlkit.automtl.synth import run_baseline, run_variant

    if cache:
        os.environ["MTLKIT_CACHE"] = cache
    if threads:
        torch.set_num_threads(threads)
    setup = _setup_from(recipe)
    kind, what = METHODS[method]
    if kind == "baseline":
        run_baseline(setup, what, seed)
    else:
        run_variant(setup, what, seed, **ABLATION.get(method, {}),
                    **({} if reg_weight is None else {"reg_weight": reg_weight}))
    return method


def _send(rep: AutoMTLReproduction, jobs: Sequence[tuple]) -> None:
    """Train ``(setup name, method, seed, reg_weight)`` jobs on the executor (nothing to do when sequential)."""
    import torch

    from mtlkit.cache import cache_root
    from mtlkit.executors import Run, RunsFailed, run_all

    from mtlkit.automtl.experiments import METHODS

    ex = get_notebook_executor(rep.executor)
    jobs = [j for j in jobs if METHODS[j[1]][0] != "random"]  # random architectures: trained in this process
    if ex.name == "sequential":
        return
    args = (torch.get_num_threads(), str(cache_root().resolve()))
    runs = [Run(f"{name}/{method}/seed{seed}" + ("" if lam is None else f"/lambda{lam:g}"), train_run,
                (rep.recipes[name], method, seed, args[0], lam, args[1])) for name, method, seed, lam in
            dict.fromkeys(jobs)]
    t0 = time.perf_counter()
    outcomes = run_all(runs, ex, progress=rep.progress, desc=rep.table)
    rep.outcomes.extend(outcomes)
    if not all(o.ok for o in outcomes):
        raise RunsFailed(outcomes)
    print(f"{len(runs)} runs on the {ex.name} executor in {time.perf_counter() - t0:.0f} s")


def _methods(methods) -> tuple[str, ...]:
    from mtlkit.automtl.experiments import METHODS
    from mtlkit.errors import ConfigError

    methods = tuple(METHODS) if methods is None else methods
    if not isinstance(methods, (list, tuple)) or any(m not in METHODS for m in methods):
        raise ConfigError(f"methods must be None or a list of {list(METHODS)}, got {methods!r}")
    return ("Single-Task",) + tuple(m for m in methods if m != "Single-Task")


def _budget_line(comp) -> None:
    name = "AutoMTL (resource-aware, ours)"
    if name not in comp.runs:
        return
    res, chosen = comp.runs[name], comp.backbones[name]
    budget = res.config.budget
    feasible = sum(c["cost"] <= budget + 1e-12 for c in res.discretization.candidates)
    print(f"seed {comp.seed}: resource-aware: {feasible} of {len(res.discretization.candidates)} samples within "
          f"the budget of {budget} backbones, chosen {chosen:.3f}"
          + ("" if feasible else " (none met it: the cheapest sample is kept)"))


def compare_backbones(rep: AutoMTLReproduction, methods=None, *, show: bool = True) -> dict[str, dict[int, Any]]:
    """Every setup's comparison per seed: ``{setup name: {seed: Comparison}}`` (runs on ``rep.executor``).

    Args:
        rep: from :func:`begin` or :func:`begin_backbones`.
        methods: method names (None: ``rep.methods``, else every method).
        show: display the summary (one row per backbone, seed and method).
    """
    import pandas as pd

    from mtlkit.automtl.experiments import BACKBONE_LABELS, METHODS, RANDOM_DRAWS, comparison

    methods = _methods(methods or rep.methods or None)
    searched = [METHODS[m][1] for m in methods if METHODS[m][0] == "random"]  # what the random draws match
    _send(rep, [(name, m, s, None) for name in rep.setups for s in rep.seeds for m in (*methods, *searched)])
    draws = -(-RANDOM_DRAWS[rep.scale] // len(rep.seeds))  # the comparison's draws, split over its seeds
    out = {name: {s: comparison(setup, s, methods=methods, progress=rep.progress, random_draws=draws)
                  for s in rep.seeds} for name, setup in rep.setups.items()}
    seconds = sum(c.seconds for per_seed in out.values() for c in per_seed.values())
    print(f"trained or loaded in {seconds:.0f} s")
    for per_seed in out.values():
        for comp in per_seed.values():
            _budget_line(comp)
    if show and len(out) > 1:
        _display(pd.concat({(BACKBONE_LABELS.get(b, b), s): c.table() for b, per_seed in out.items()
                            for s, c in per_seed.items()}, names=["backbone", "seed", "method"]).round(3))
    return out


def compiler_facts_table(rep: AutoMTLReproduction, resolution: int = 32):
    """What the compiler makes of the paper's backbone, every studied backbone and (below paper scale) the
    stand-in (:func:`mtlkit.automtl.experiments.compiler_facts`). Returns ``(facts, table)``."""
    import pandas as pd

    from mtlkit.automtl.experiments import BACKBONE_LABELS, compiler_facts

    names = list(dict.fromkeys([rep.backbone, *list(rep.setups)[1:]]
                               + ([rep.setup.backbone] if rep.scale != "paper" else [])))
    facts = {b: compiler_facts(b, resolution=resolution) for b in names}
    return facts, pd.DataFrame(facts).rename(columns=BACKBONE_LABELS)


def compare_seeds(rep: AutoMTLReproduction, methods=None, *, show: bool = True) -> dict[int, Any]:
    """The reference setup's comparison per seed: ``{seed: Comparison}`` (runs on ``rep.executor``); ``show``
    displays :func:`comparison_table`."""
    from dataclasses import replace

    name = next(iter(rep.setups))
    comps = compare_backbones(replace(rep, setups={name: rep.setup}, recipes={name: rep.recipes[name]}),
                              methods, show=False)[name]
    if show:
        _display(comparison_table(comps))
    return comps


def comparison_table(comps: Mapping[int, Any], decimals: int = 3):
    """One row per (seed, method): Δt overall and per task, parameters (:meth:`Comparison.table`), rounded."""
    import pandas as pd

    return pd.concat({s: c.table() for s, c in comps.items()}, names=["seed", "method"]).round(decimals)


def lambda_sweep(rep: AutoMTLReproduction, lambdas, *, show: bool = True) -> dict[int, dict]:
    """The λ_reg ablation per seed: ``{seed: lambda_ablation(...)}``, the single-task models as the reference;
    ``show`` displays every seed's table (one row per λ).

    Raises:
        ConfigError: ``lambdas`` not a non-empty list of distinct positive numbers.
    """
    from mtlkit.automtl.experiments import comparison, lambda_ablation
    from mtlkit.errors import ConfigError

    if not isinstance(lambdas, (list, tuple)) or not lambdas or any(
            isinstance(x, bool) or not isinstance(x, (int, float)) or not x > 0 for x in lambdas):
        raise ConfigError(f"lambdas must be a non-empty list of positive numbers, got {lambdas!r}")
    name = next(iter(rep.setups))
    _send(rep, [(name, "Single-Task", s, None) for s in rep.seeds]
          + [(name, "AutoMTL", s, float(lam)) for s in rep.seeds for lam in lambdas])
    out = {}
    for s in rep.seeds:
        reference = comparison(rep.setup, s, methods=("Single-Task",), progress=rep.progress)
        out[s] = sweep = lambda_ablation(rep.setup, lambdas, s, reference=reference, progress=rep.progress)
        distinct = {str(sorted((n, sorted(row.items())) for n, row in r.post.policy.items()))
                    for r in sweep["runs"].values()}
        print(f"seed {s}: {len(distinct)} distinct sampled architecture(s) for {len(lambdas)} values of λ_reg (one "
              f"sample seed, {sweep['runs'][float(lambdas[0])].config.sample_seed}, for all)")
    if show:
        import pandas as pd

        _display(pd.concat({s: sw["table"] for s, sw in out.items()}, names=["seed", "lambda_reg"]).round(4))
    return out


# ------------------------------------------------------------------------------------------- the paper's numbers
def metrics_vs_paper(rep: AutoMTLReproduction, comps, methods=("Single-Task", "AutoMTL"), decimals: int = 3):
    """Every test metric of the comparison (the mean over seeds of ``{seed: Comparison}``), rounded, with the
    paper's printed values of ``methods`` ("—" where unknown)."""
    from mtlkit.paper import paper_values

    paper = paper_values(rep.table)
    tables = [c.metrics_table() for c in comps.values()]
    metrics = (sum(tables[1:], tables[0]) / len(tables)).round(decimals)
    for method in methods:
        metrics[f"paper: {method}"] = [next((r.value for r in paper.itertuples() if r.method == method
                                             and r.task == t and r.metric == m and r.value), "—")
                                       for t, m in metrics.index]
    return metrics


def paper_plan_table(rep: AutoMTLReproduction):
    """What ``scale="paper"`` runs for this notebook's dataset (:func:`mtlkit.automtl.experiments.paper_plan`)."""
    import pandas as pd

    from mtlkit.automtl.experiments import paper_plan

    return pd.Series(paper_plan(rep.dataset, rep.backbone), dtype=object).to_frame("paper scale")


def paper_values_known(table: str, quoted: Mapping[str, Sequence[str]] | None = None):
    """The paper's known values of ``table`` (and, from ``quoted`` ``{other table: [methods]}``, the values another
    paper table quotes), with their source kind."""
    import pandas as pd

    from mtlkit.paper import paper_values

    parts = [paper_values(table, known_only=True).assign(source_table=table)]
    for other, methods in (quoted or {}).items():
        q = paper_values(other, known_only=True)
        parts.append(q[q.method.isin(list(methods))].assign(source_table=other))
    return pd.concat(parts)[["source_table", "method", "task", "metric", "value", "source_kind"]]


def published_policy(rep: AutoMTLReproduction):
    """The paper's published CityScapes architecture counted exactly, next to the paper's printed numbers; saves
    its figure. Returns ``(accounting, table)``."""
    import pandas as pd

    from mtlkit.automtl.experiments import published_policy_accounting, published_policy_rows
    from mtlkit.automtl.experiments_viz import plot_policies
    from mtlkit.paper import paper_values
    from mtlkit.viz import savefig

    acc = published_policy_accounting("deeplab_resnet34")
    published = pd.DataFrame(published_policy_rows(acc, rep.setting))
    printed = {(r.method, r.metric): r.value for r in paper_values(rep.table).itertuples()
               if r.task == "all" and r.value}
    published["paper"] = [printed.get((m, k), "—") for m, k in zip(published.method, published.metric)]
    published["ours"] = [f"{v:,.0f}" if v >= 1000 else f"{v:.4f}" for v in published.value]
    fig = plot_policies({"AutoMTL's published CityScapes policy (docs/automtl.md §7.14)": acc["policy"]},
                        list(rep.setup.tasks), title="Deeplab-ResNet34, 36 conv nodes")
    savefig(fig, f"{rep.table}_published_policy")
    return acc, published[["method", "metric", "ours", "paper"]]


# ------------------------------------------------------------------------------------------- figures
def save_comparison_figures(rep: AutoMTLReproduction, comps: Mapping[int, Any], *, title: str):
    """Save (and return) the first seed's two figures, ``<table>_comparison`` and ``<table>_policies``."""
    from mtlkit.automtl.experiments_viz import plot_comparison, plot_policies
    from mtlkit.viz import savefig

    seed, comp = next(iter(comps.items()))
    fig = plot_comparison(comp, title=f"{title}: {rep.label}, backbone {rep.setup.backbone}, seed {seed}")
    savefig(fig, f"{rep.table}_comparison")
    fig2 = plot_policies({f"{m}: {comp.backbones[m]:.2f} backbones of conv parameters": comp.models[m].policy
                          for m in comp.runs},
                         list(rep.setup.tasks), title=f"the searched architectures ({rep.label}, seed {seed})")
    savefig(fig2, f"{rep.table}_policies")
    return fig, fig2


def save_lambda_figures(rep: AutoMTLReproduction, sweeps: Mapping[int, dict]):
    """The first seed's λ_reg figures: the sweep, final p(shared) by depth, the sampled architectures."""
    import matplotlib.pyplot as plt

    from mtlkit.automtl.experiments_viz import plot_lambda, plot_policies
    from mtlkit.automtl.search_viz import plot_depth_profile
    from mtlkit.viz import savefig

    seed, sweep = next(iter(sweeps.items()))
    table, where = sweep["table"], f"{rep.label}, backbone {rep.setup.backbone}, seed {seed}"
    fig = plot_lambda(table, title=f"λ_reg ablation at scale={rep.scale}: {where}")
    savefig(fig, f"{rep.table}_sweep")
    depths = {v.name: v.depth for v in rep.setup.supermodel(seed).nodes}
    fig2, ax = plt.subplots(figsize=(7, 3.8))
    plot_depth_profile({f"λ_reg = {lam:g}": r.policy_log for lam, r in sweep["runs"].items()}, depths, ax=ax,
                       title=f"final p(shared) by depth ({rep.label})")
    fig2.tight_layout()
    savefig(fig2, f"{rep.table}_depth_profile")
    fig3 = plot_policies({f"λ_reg = {lam:g}: {table.loc[lam, 'backbones']:.2f} backbones": r.post.policy
                          for lam, r in sweep["runs"].items()}, list(rep.setup.tasks),
                         title=f"the sampled architectures per λ_reg ({rep.label}, seed {seed})")
    savefig(fig3, f"{rep.table}_policies")
    return fig, fig2, fig3


def save_backbone_figures(rep: AutoMTLReproduction, facts, comps: Mapping[str, Mapping[int, Any]]):
    """The backbone study's two figures (first seed): compiler facts with AutoMTL's results, sampled policies."""
    import pandas as pd

    from mtlkit.automtl.experiments import BACKBONE_LABELS
    from mtlkit.automtl.experiments_viz import plot_backbones, plot_policies
    from mtlkit.viz import savefig

    seed = rep.seeds[0]
    first = {b: per_seed[seed] for b, per_seed in comps.items()}
    auto = pd.DataFrame({b: c.table().loc["AutoMTL"] for b, c in first.items()}).T
    study = [b for b in rep.setups if b != rep.setup.backbone]
    where = "paper scale, CityScapes" if rep.scale == "paper" else \
        f"scale={rep.scale}, SynthScenes stand-in at {rep.setups[study[0]].sizes['resolution']} px"
    fig = plot_backbones(facts, auto, title=f"backbone generalisation ({where}, seed {seed})", labels=BACKBONE_LABELS)
    savefig(fig, f"{rep.table}_summary")
    fig2 = plot_policies({f"{BACKBONE_LABELS.get(b, b)}: AutoMTL, {c.backbones['AutoMTL']:.2f} backbones":
                          c.models["AutoMTL"].policy for b, c in first.items() if b in study},
                         list(rep.setup.tasks), title=f"the sampled architectures ({where}, seed {seed})")
    savefig(fig2, f"{rep.table}_policies")
    return fig, fig2


# ------------------------------------------------------------------------------------------- records
def constant_predictor(setup) -> dict[str, dict[str, float]]:
    """The ``Constant predictor`` of every task of a setup (:func:`mtlkit.constant.evaluate_constants`): fitted on
    the setup's ``"train"`` split (what post-train reads), scored on ``"test"`` (where the models are scored)."""
    from mtlkit.constant import evaluate_constants

    train, test = setup.data["train"], setup.data["test"]
    if not isinstance(train, Mapping) and not isinstance(test, Mapping):
        return evaluate_constants(setup.tasks, train, test)
    out = {}
    for t, task in setup.tasks.items():  # per-task loaders
        out.update(evaluate_constants({t: task}, train[t] if isinstance(train, Mapping) else train,
                                      test[t] if isinstance(test, Mapping) else test))
    return out


def _record(rep: AutoMTLReproduction, rows_per_seed: Mapping[int, list], setup, *, wall: float) -> int:
    from mtlkit.automtl.experiments import dataset_label
    from mtlkit.report import record

    for s, rows in rows_per_seed.items():
        record(rep.table, rows, scale=rep.scale, seed=s, device=rep.device, dataset=dataset_label(setup), wall_s=wall)
    return sum(len(r) for r in rows_per_seed.values())


def record_comparisons(rep: AutoMTLReproduction, comps, *, published=None, facts=None) -> int:
    """Record every seed's trained rows and the ``Constant predictor`` rows of the same setting and data.

    Args:
        rep: from :func:`begin` / :func:`begin_backbones`.
        comps: ``{seed: Comparison}`` (:func:`compare_seeds`) or ``{setup name: {seed: Comparison}}``
            (:func:`compare_backbones`).
        published: the accounting of :func:`published_policy`: its exact rows are recorded too, with dataset
            :data:`mtlkit.facts.PUBLISHED_POLICY`.
        facts: ``{backbone: compiler facts}``: recorded with dataset :data:`mtlkit.facts.ARCHITECTURE_FACTS`.

    Returns:
        The number of rows recorded.
    """
    from mtlkit.automtl.experiments import BACKBONE_LABELS, published_policy_rows
    from mtlkit.constant import constant_rows
    from mtlkit.facts import ARCHITECTURE_FACTS, PUBLISHED_POLICY
    from mtlkit.report import record

    first = rep.seeds[0]
    n = 0
    if published is not None:
        exact = published_policy_rows(published, rep.setting)
        record(rep.table, exact, scale=rep.scale, seed=first, device=rep.device, dataset=PUBLISHED_POLICY)
        n += len(exact)
    if facts is not None:
        exact = [dict(setting=BACKBONE_LABELS.get(b, b), method="compiler", task="all", metric=k, value=float(v),
                      backbone=b) for b, f in facts.items() for k, v in f.items()]
        record(rep.table, exact, scale=rep.scale, seed=first, device=rep.device, dataset=ARCHITECTURE_FACTS)
        n += len(exact)
    by_backbone = isinstance(next(iter(comps.values())), Mapping)  # compare_backbones: settings named per backbone
    nested = comps if by_backbone else {next(iter(rep.setups)): comps}
    wall = time.perf_counter() - rep.start
    trained = 0
    for name, per_seed in nested.items():
        setup = rep.setups[name]
        setting = BACKBONE_LABELS.get(name, name) if by_backbone else rep.setting
        const = constant_rows(constant_predictor(setup), setting, backbone=setup.backbone)
        trained += _record(rep, {s: c.rows(setting) + const for s, c in per_seed.items()}, setup, wall=wall)
    print(f"recorded {trained} trained and constant-predictor rows" + (f" and {n} exact rows" if n else "")
          + f" in reproductions/results/{rep.table}.csv (or $MTLKIT_RESULTS); wall time {wall:.0f} s")
    return n + trained


def lambda_rows(sweep: Mapping, backbone: str) -> list[dict]:
    """Results rows of one seed's λ sweep (setting ``λ_reg = …``): every test metric, Δt per task and overall,
    parameters in both conventions, the sampled and the expected size, mean p(shared), the policy's entropy
    (nats; ``policy_entropy_max`` its uniform ceiling) and mean |logit|."""
    from mtlkit.automtl.analysis import POLICY_STATS

    table, rows = sweep["table"], []
    for lam, run in sweep["runs"].items():
        d = sweep["deltas"][lam]
        common = dict(setting=f"λ_reg = {lam:g}", method="AutoMTL", backbone=backbone)
        for task, metrics in run.post.metrics.items():
            rows += [dict(common, task=task, metric=m, value=float(v)) for m, v in metrics.items()]
            rows.append(dict(common, task=task, metric="delta_t", value=float(d.per_task[task])))
        t = table.loc[lam]
        rows += [dict(common, task="all", metric=k, value=float(v)) for k, v in (
            ("delta_t", d.overall), ("conv_params_paper", t["conv_params_paper"]),
            ("conv_params_reduction_pct", t["paper_reduction_%"]), ("params_full", t["params_full"]),
            ("backbones", t["backbones"]), ("expected_backbones", t["expected_backbones"]),
            ("mean_p_shared", t["mean_p_shared"]), *((k, t[k]) for k in POLICY_STATS))]
    return rows


def record_lambda_sweep(rep: AutoMTLReproduction, sweeps: Mapping[int, dict]) -> int:
    """Record every seed's λ rows, with the ``Constant predictor`` rows of the same data (setting ``rep.setting``:
    the report compares every λ row of the same dataset and backbone with them). Returns the rows recorded."""
    from mtlkit.constant import constant_rows

    const = constant_rows(constant_predictor(rep.setup), rep.setting, backbone=rep.setup.backbone)
    wall = time.perf_counter() - rep.start
    n = _record(rep, {s: lambda_rows(sw, rep.setup.backbone) + const for s, sw in sweeps.items()}, rep.setup,
                wall=wall)
    print(f"recorded {n} rows in reproductions/results/{rep.table}.csv (or $MTLKIT_RESULTS); wall time {wall:.0f} s")
    return n
