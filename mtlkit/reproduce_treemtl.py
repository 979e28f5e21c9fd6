"""The steps TreeMTL's table notebooks (Tables 1, 2, 4, 5, 6) and the planted-structure notebook share, so that each
notebook holds its prose, parameters and calls only.

A table notebook opens with :func:`begin`: it checks the parameters cell and returns a :class:`TreeMTLReproduction`
that every later step takes. The steps:

* :func:`rank` — the published two-task table, its costs, the recommender's full ranking and the paper's picks in it
  (exact, at every scale); :func:`budget_rankings` the top layouts under each budget (Table 2);
* :func:`paper_table`, :func:`paper_figure` — the paper's printed comparison (Tables 4, 5, 6);
* :func:`ranking_figure` — every layout's score against its cost, the picks marked;
* :func:`record_ranking` — the ranking rows (dataset :data:`mtlkit.facts.PUBLISHED_DATASET`);
* :func:`train_picks` — the trained part, one :class:`~mtlkit.recipes.TrainedLayouts` per seed, recorded with the
  ``Constant predictor`` rows of the same data (:func:`constant_predictor`); :func:`deltas` shows Δ_t per seed.

The planted-structure notebook opens with :func:`begin_planted` and runs :func:`planted_run`.

**Independent runs and executors.** The layouts of a table (with the single-task reference) and the seeds do not
depend on each other. With ``executor="sequential"`` (the default) they train in this process. With another executor
of :mod:`mtlkit.executors` (``"local"``, ``"ray"``, ``"slurm"``, or a mapping with the name and its options, see
:func:`mtlkit.reproduce_automtl.get_notebook_executor`) every run is first sent to it: a worker trains it into the
run cache (:mod:`mtlkit.cache`) with the thread count this process trains with, so the cache keys agree, and the step
then reads the finished runs from the cache. The rows are the same either way (a test checks it at smoke scale).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

__all__ = ["TreeMTLReproduction", "begin", "rank", "budget_rankings", "paper_table", "paper_figure",
           "ranking_figure", "record_ranking", "train_picks", "deltas", "constant_predictor", "train_layout_run",
           "PlantedReproduction", "begin_planted", "planted_run", "planted_arm_run", "planted_verdicts",
           "planted_figure", "record_planted", "BUDGETS"]

#: Table 2's budgets (in backbone models; None: no budget), in the paper's row order.
BUDGETS = (None, 4, 3, 2, 1)


@dataclass
class TreeMTLReproduction:
    """What one TreeMTL table notebook runs: its table, parameters, seeds and executor, and (after :func:`rank`)
    the published two-task table, block costs, ranking and picks.

    Attributes:
        table: the results table, e.g. ``"treemtl_table1"``.
        scale, device, backbone, cpu_backbone, iterations, data_root, weights, workers: the parameters cell.
        seeds: the training seeds of the trained part (one row set each).
        executor: where the independent runs go (a :mod:`mtlkit.executors` name, object or mapping).
        start: ``time.perf_counter()`` when the notebook started (for ``wall_s``).
        two_task, costs, ranking, picks: set by :func:`rank`.
        outcomes: the :class:`~mtlkit.executors.Outcome` of every run sent to a (non-sequential) executor.
    """

    table: str
    scale: str
    device: str
    seeds: tuple
    backbone: str
    cpu_backbone: str = "tiny_resnet"
    iterations: int | None = None
    data_root: Any = None
    weights: Any = None
    workers: int = 0
    executor: Any = "sequential"
    start: float = field(default_factory=time.perf_counter)
    two_task: Any = None
    costs: Any = None
    ranking: Any = None
    picks: Any = None
    outcomes: list = field(default_factory=list)

    @property
    def seed(self) -> int:
        """The first seed: the ranking rows (exact, seed-free) are recorded under it."""
        return self.seeds[0]


def _start(scale, seed, device, seeds, executor):
    """The checks and set-up every notebook of this module shares. Returns ``(start, seeds)``."""
    import pandas as pd

    from mtlkit.reproduce_automtl import check_seeds, get_notebook_executor
    from mtlkit.viz import use_style

    start = time.perf_counter()
    seeds = check_seeds(seeds, seed)
    get_notebook_executor(executor)  # an unknown name or option raises ConfigError naming the valid ones
    use_style()
    pd.set_option("display.width", 160)
    return start, seeds


def begin(table: str, *, scale: str, seed: int, device: str, out_dir, backbone: str, data_root=None,
          cpu_backbone: str = "tiny_resnet", iterations=None, backbone_weights=None, workers: int = 0,
          executor="sequential", seeds=None, limits: Mapping[str, tuple] | None = None) -> TreeMTLReproduction:
    """Check a TreeMTL table notebook's parameters and print what it runs.

    Args:
        table: ``"treemtl_table1"``, ``"treemtl_table2"``, ``"treemtl_table4"``, ``"treemtl_table5"`` or
            ``"treemtl_table6"``.
        scale, seed, device, out_dir, backbone, data_root, cpu_backbone, iterations, backbone_weights, workers: the
            parameters cell (:func:`mtlkit.config.check_reproduction_params`, :func:`mtlkit.recipes.training_plan`).
        executor: where the independent runs go (a name, an executor object or a mapping with ``"name"``).
        seeds: the training seeds (None: ``(seed,)``).
        limits: the notebook's own count parameters, ``{name: (value, maximum, why)}``: each must be an int in
            ``1..maximum`` (e.g. ``{"k": (k, 51, "NYUv2 has 51 layouts")}``).

    Raises:
        ConfigError: a bad parameter (the message names it, what was expected and what was given).
    """
    import mtlkit
    from mtlkit.checks import check_nonnegative_int
    from mtlkit.config import check_reproduction_params
    from mtlkit.errors import ConfigError

    check_reproduction_params(scale, seed, device, out_dir, backbone=backbone, data_root=data_root,
                              cpu_backbone=cpu_backbone, weights=backbone_weights)
    check_nonnegative_int(workers, "workers")
    for name, (value, maximum, why) in (limits or {}).items():
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
            raise ConfigError(f"{name} must be an int in 1..{maximum}" + (f" ({why})" if why else "")
                              + f", got {value!r}")
    start, seeds = _start(scale, seed, device, seeds, executor)
    rep = TreeMTLReproduction(table, scale, device, seeds, backbone, cpu_backbone, iterations, data_root,
                              backbone_weights, workers, executor, start)
    print(f"mtlkit {mtlkit.__version__}, scale={scale}, seeds={list(seeds)}, device={device}, backbone={backbone}, "
          f"executor={executor}")
    return rep


# ------------------------------------------------------------------------------------------- the ranking part
def rank(rep: TreeMTLReproduction, *, show: bool = True):
    """The published two-task table, its block costs, the full ranking and the paper's picks (set on ``rep``).

    Returns:
        ``picks`` (:func:`mtlkit.picks.pick_ranking`).
    """
    from mtlkit.picks import pick_ranking, treemtl_costs
    from mtlkit.treemtl import recommend

    rep.two_task, rep.costs = treemtl_costs(rep.table)
    rep.ranking = recommend(rep.two_task, rep.costs, k=None)
    rep.picks = pick_ranking(rep.table)
    if show:
        t = rep.two_task
        print(f"{t.T} tasks {t.task_names}, B = {t.B}, {len(rep.ranking):,} layouts; block costs {rep.costs.name}")
        print("task weights:", {k: round(w, 4) for k, w in rep.ranking.attrs["weights"].items()})
    return rep.picks


def budget_rankings(rep: TreeMTLReproduction, top: int, budgets: Sequence = BUDGETS):
    """The recommender's ``top`` layouts under each budget (in backbone models; None: no budget), one frame."""
    import pandas as pd

    from mtlkit.treemtl import recommend

    parts = []
    for b in budgets:
        df = recommend(rep.two_task, rep.costs, budget=b, k=top)
        df.insert(0, "budget", "none" if b is None else f"{b} models")
        parts.append(df.reset_index())
    return pd.concat(parts, ignore_index=True)


def paper_table(rep: TreeMTLReproduction, metrics: Sequence[str] = ("flops_pct", "params_pct", "delta_t"),
                by_task: bool = True):
    """The paper's printed comparison (known values): rows = method, columns = (task, metric), or metric only
    (the ``task == "all"`` values) with ``by_task=False``."""
    from mtlkit.paper import paper_values

    values = paper_values(rep.table, known_only=True)
    if not by_task:
        summary = values[values.task == "all"].pivot_table(index="method", columns="metric", values="number",
                                                           sort=False)
        return summary[list(metrics)]
    return values[values.metric.isin(list(metrics))].pivot_table(index="method", columns=["task", "metric"],
                                                                 values="number", sort=False)


def paper_figure(rep: TreeMTLReproduction, *, title: str, ours: str = "Top-1", n_backbones: int = 5):
    """Every printed method's overall Δt against its FLOPs(%) (rows whose name starts with ``ours`` in red); saved
    as ``<table>_paper``."""
    import matplotlib.pyplot as plt

    from mtlkit.viz import savefig

    summary = paper_table(rep, by_task=False)
    fig, ax = plt.subplots(figsize=(8.5, 5))
    for method, r in summary.iterrows():
        mine = method.startswith(ours)
        ax.scatter(r.flops_pct, r.delta_t, s=60, c="tab:red" if mine else "tab:gray", zorder=3)
        ax.annotate(method, (r.flops_pct, r.delta_t), xytext=(-6, 4) if mine else (5, 4), textcoords="offset points",
                    fontsize=8, ha="right" if mine else "left", color="tab:red" if mine else "0.25")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel(f"FLOPs (%) relative to {n_backbones} single-task networks (as printed)")
    ax.set_ylabel("overall relative performance Δt (%) (as printed)")
    ax.set_title(title)
    savefig(fig, f"{rep.table}_paper")
    return fig


def ranking_figure(rep: TreeMTLReproduction, *, title: str, budgets: Sequence[int] = ()):
    """Every layout's score against its cost, the paper's picks marked (:func:`mtlkit.picks_viz.plot_ranking`);
    saved as ``<table>_ranking``."""
    from mtlkit.picks_viz import plot_ranking
    from mtlkit.viz import savefig

    fig = plot_ranking(rep.ranking, rep.picks, T=rep.two_task.T, title=title,
                       **({"budgets": tuple(budgets)} if budgets else {}))
    savefig(fig, f"{rep.table}_ranking")
    return fig


def record_ranking(rep: TreeMTLReproduction) -> int:
    """Record the picks' ranking rows (an exact computation on the authors' data). Returns the rows recorded."""
    from mtlkit.facts import PUBLISHED_DATASET
    from mtlkit.picks import ranking_records
    from mtlkit.report import record

    rows = ranking_records(rep.picks)
    path = record(rep.table, rows, scale=rep.scale, seed=rep.seed, device=rep.device, dataset=PUBLISHED_DATASET,
                  wall_s=time.perf_counter() - rep.start)
    print(f"recorded {len(rows)} rows in {path}")
    return len(rows)


# ------------------------------------------------------------------------------------------- the trained part
def _threads(device: str) -> int | None:
    # one torch thread on CPU: on a shared 2-core machine two threads made these small models ~15x slower
    return 1 if device == "cpu" else None


_DATA: dict[str, Any] = {}  # a worker keeps the data of the last spec it trained


def _as_notebook(cache: str | None, threads: int | None) -> None:
    """In a worker: the notebook's run cache (``$MTLKIT_CACHE``) and torch thread count, so its runs are cached
    under the keys the notebook looks up."""
    import os

    import torch

    if cache:
        os.environ["MTLKIT_CACHE"] = cache
    if threads:
        torch.set_num_threads(threads)


def train_layout_run(plan, layout: str, seed: int, device: str = "cpu", data_root=None, weights=None,
                     threads: int | None = None, cache: str | None = None) -> str:
    """One independent run, for an executor's worker: train (or find) one layout of a table's trained part in the
    run cache, exactly as :func:`mtlkit.recipes.train_layouts` trains it (same spec, same cache folder).

    Args:
        plan: the :class:`~mtlkit.recipes.TrainingPlan`.
        layout: the layout string (the independent layout is the single-task reference).
        seed: the training seed.
        device, data_root, weights: as :func:`mtlkit.recipes.train_layouts`.
        threads: torch threads while training (the notebook's, so the cache key is the one it looks up).
        cache: the run cache folder the notebook reads (``$MTLKIT_CACHE`` is set to it; on a cluster it must be on
            a file system the workers share).

    Returns:
        ``layout``.
    """
    from mtlkit.recipes import plan_spec
    from mtlkit.treemtl.experiment import layout_run_dir, read_result, train_entry

    _as_notebook(cache, threads)
    spec = plan_spec(plan, seed=seed, data_root=data_root, weights=weights)
    if read_result(layout_run_dir(spec, layout, spec.tasks, device)) is None:
        key = repr(spec.to_dict())
        if key not in _DATA:
            _DATA.clear()
            _DATA[key] = spec.load_data()
        train_entry(spec, layout, spec.tasks, None, _DATA[key], device=device, progress=False)
    return layout


def _send(rep, runs) -> None:
    """Run ``runs`` (:class:`mtlkit.executors.Run`) on the notebook's executor (nothing to do when sequential)."""
    from mtlkit.executors import RunsFailed, run_all
    from mtlkit.reproduce_automtl import get_notebook_executor

    ex = get_notebook_executor(rep.executor)
    if ex.name == "sequential" or not runs:
        return
    t0 = time.perf_counter()
    outcomes = run_all(runs, ex, progress=rep.scale == "paper", desc=rep.table)
    rep.outcomes.extend(outcomes)
    if not all(o.ok for o in outcomes):
        raise RunsFailed(outcomes)
    print(f"{len(runs)} runs on the {ex.name} executor in {time.perf_counter() - t0:.0f} s")


def constant_predictor(plan, seed: int, *, data_root=None, workers: int = 0) -> dict[str, dict[str, float]]:
    """The ``Constant predictor`` of every task of the trained part (:func:`mtlkit.constant.evaluate_constants`):
    fitted on the training split of the table's data (the same for every seed, :data:`mtlkit.recipes.DATA_SEED`),
    scored on the split the layouts are scored on."""
    from mtlkit.constant import evaluate_constants
    from mtlkit.recipes import plan_spec

    data = plan_spec(plan, seed=seed, data_root=data_root).load_data(workers)
    return evaluate_constants({t: data.tasks[t] for t in plan.tasks}, data.train_loader, data.test_loader)


def train_picks(rep: TreeMTLReproduction) -> dict[int, Any]:
    """The trained part: every pick of the paper (and the recommender's differing top-1) trained as a tree model
    next to the single-task models, per seed, on ``rep.executor``; every seed's rows recorded with the
    ``Constant predictor`` rows of its data (setting ``"as published"``, beside the single-task models).

    Returns:
        ``{seed: TrainedLayouts}`` (:func:`mtlkit.recipes.train_layouts`).
    """
    import torch

    from mtlkit.cache import cache_root
    from mtlkit.constant import constant_rows
    from mtlkit.executors import Run
    from mtlkit.recipes import plan_spec, train_layouts, trained_layouts_of, training_plan
    from mtlkit.report import record
    from mtlkit.treemtl import Layout

    plan = training_plan(rep.table, rep.scale, backbone=rep.backbone, cpu_backbone=rep.cpu_backbone,
                         iterations=rep.iterations)
    to_train = trained_layouts_of(rep.picks)
    spec = plan_spec(plan, seed=rep.seed, data_root=rep.data_root, weights=rep.weights)
    layouts = list(dict.fromkeys([str(Layout.independent(spec.T, spec.B)),
                                  *(str(Layout.parse(str(L))) for L in to_train.values())]))
    print(f"{len(layouts) - 1} layouts + {len(plan.tasks)} single-task models on {plan.dataset}, "
          f"{plan.backbone_label}, " + (f"until the validation loss plateaus (at most {plan.iterations} iterations)"
                                       if plan.plateau else f"{plan.iterations} iterations") +
          f" at batch {plan.batch}, seeds {list(rep.seeds)}")
    where = (rep.device, rep.data_root, rep.weights, _threads(rep.device) or torch.get_num_threads(),
             str(cache_root().resolve()))
    _send(rep, [Run(f"seed{s}/{L}", train_layout_run, (plan, L, s, *where)) for s in rep.seeds for L in layouts])
    out = {}
    for s in rep.seeds:
        out[s] = trained = train_layouts(plan, to_train, seed=s, device=rep.device, data_root=rep.data_root,
                                         weights=rep.weights, workers=rep.workers, threads=_threads(rep.device))
        const = constant_rows(constant_predictor(plan, s, data_root=rep.data_root, workers=rep.workers),
                              "as published", layout="", backbone=plan.backbone_label)
        record(rep.table, trained.rows + const, scale=rep.scale, seed=s, device=rep.device, dataset=plan.dataset,
               wall_s=time.perf_counter() - rep.start)
    n = sum(len(t.rows) for t in out.values())
    print(f"recorded {n} trained rows and the constant-predictor rows of {len(out)} seed(s) in "
          f"reproductions/results/{rep.table}.csv (or $MTLKIT_RESULTS)")
    print("ours:", "the paper's experiment" if rep.scale == "paper" else
          f"a {plan.dataset} stand-in at scale={rep.scale!r}, not comparable with the paper's column")
    return out


def deltas(trained: Mapping[int, Any], decimals: int = 2):
    """Δ_t per task and overall of every trained layout, ours next to the paper's printed value
    (:func:`mtlkit.recipes.delta_table`), one block of rows per seed."""
    import pandas as pd

    from mtlkit.recipes import delta_table

    return pd.concat({s: delta_table(t) for s, t in trained.items()}, names=["seed"]).round(decimals)


# ------------------------------------------------------------------------------------------- planted structure
@dataclass
class PlantedReproduction:
    """What the planted-structure notebook runs: scale, seeds, device, executor."""

    scale: str
    seeds: tuple
    device: str
    executor: Any = "sequential"
    start: float = field(default_factory=time.perf_counter)
    outcomes: list = field(default_factory=list)
    table: str = "planted_structure"


def begin_planted(*, scale: str, seed: int, device: str, out_dir, seeds=None,
                  executor="sequential") -> PlantedReproduction:
    """Check the planted-structure notebook's parameters and print the planted tasks.

    Args:
        seeds: the training seeds (None: ``seed .. seed + 4``, or ``seed, seed + 1`` at smoke scale); at least 5 at
            cpu scale (rates over fewer seeds carry no signal).

    Raises:
        ConfigError: a bad parameter, fewer than 5 seeds at cpu scale.
    """
    import mtlkit
    from mtlkit.config import check_params
    from mtlkit.errors import ConfigError
    from mtlkit.planted import KNOWN_ANSWER_TASKS, SIZES

    check_params(scale, seed, device, out_dir)
    if seeds is None:
        seeds = list(range(seed, seed + (2 if scale == "smoke" else 5)))
    start, seeds = _start(scale, seed, device, seeds, executor)
    if scale == "cpu" and len(seeds) < 5:
        raise ConfigError(f"seeds must hold at least 5 seeds at cpu scale (rates over fewer seeds carry no signal), "
                          f"got {list(seeds)}")
    print(f"mtlkit {mtlkit.__version__}, scale={scale}, seeds={seeds}, device={device}, executor={executor}")
    print("sizes:", SIZES[scale])
    for p in KNOWN_ANSWER_TASKS:
        print(f"  {p.name}: factors {p.factors}, weights {p.weights}")
    return PlantedReproduction(scale, seeds, device, executor, start)


def planted_arm_run(arm: str, scale: str, seed: int, device: str = "cpu", threads: int | None = None,
                    cache: str | None = None) -> str:
    """One arm of the known-answer experiment for one seed, for an executor's worker: trained into the run cache
    (:func:`mtlkit.planted.treemtl_arm` / :func:`~mtlkit.planted.automtl_arm`). Returns ``arm``."""
    from mtlkit import planted

    _as_notebook(cache, threads)
    (planted.treemtl_arm if arm == "treemtl" else planted.automtl_arm)(scale, seed, device=device)
    return arm


def planted_run(rep: PlantedReproduction):
    """Both arms for every seed (:func:`mtlkit.planted.run`), sent to ``rep.executor`` first. Returns
    ``(result, treemtl frame, automtl frame)``, printed."""
    import pandas as pd
    import torch

    from mtlkit.cache import cache_root
    from mtlkit.executors import Run
    from mtlkit.planted import run

    args = (rep.scale,)
    tail = (rep.device, torch.get_num_threads(), str(cache_root().resolve()))
    _send(rep, [Run(f"{arm}/seed{s}", planted_arm_run, (arm, *args, s, *tail)) for s in rep.seeds
                for arm in ("treemtl", "automtl")])
    result = run(rep.scale, rep.seeds, device=rep.device)
    tree = pd.DataFrame([{k: r[k] for k in ("seed", "layout", "grouped", "random_rate", "seconds")}
                         for r in result.treemtl])
    auto = pd.DataFrame([dict(seed=r["seed"], sampled=r["sampled"][0], sampled_margin=r["sampled"][1],
                              argmax=r["argmax"][0], argmax_margin=r["argmax"][1],
                              expected_margin=r["expected_margin"], p_shared=r["p_shared"],
                              mean_abs_logit=r["mean_abs_logit"], random_rate=r["random_rate"],
                              seconds=r["seconds"]) for r in result.automtl])
    print("TreeMTL: top-1 layout within 2 backbones per seed (tasks 0..3 = a, b, c, d)")
    print(tree.round(3).to_string(index=False))
    print("\nAutoMTL: learned policies per seed")
    print(auto.round(3).to_string(index=False))
    return result, tree, auto


def planted_verdicts(result) -> Any:
    """The rates next to the random baselines (:meth:`mtlkit.planted.PlantedResult.summary`), printed with one
    verdict per arm and method. Returns the summary frame."""
    summary = result.summary()
    print(summary.round(4).to_string(index=False))
    for row in summary.itertuples():
        if row.method == "expected co-sharing margin":
            verdict = ("above 0" if row.p_vs_random < 0.05 and row.rate > 0 else
                       f"not distinguishable from 0 (n = {row.n})")
        else:
            verdict = ("above the random rate" if row.p_vs_random < 0.05 else
                       f"not distinguishable from random (n = {row.n})")
        print(f"{row.arm} / {row.method}: {verdict}")
    return summary


def planted_figure(rep: PlantedReproduction, summary):
    """The rates next to the random baselines as bars; saved as ``planted_structure_rates``."""
    import matplotlib.pyplot as plt

    from mtlkit.viz import savefig

    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    rates = summary[summary["method"] != "expected co-sharing margin"]
    labels = [f"{a}\n{m}" for a, m in zip(rates["arm"], rates["method"])]
    y = range(len(rates))
    ax.barh([i + 0.2 for i in y], rates["rate"], height=0.4, label="method")
    ax.barh([i - 0.2 for i in y], rates["random_rate"], height=0.4, label="random baseline")
    ax.set_yticks(list(y), labels, fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of seeds that recover the planted pairs (n = {len(rep.seeds)})")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Known-answer experiment ({rep.scale} scale, SynthScenes planted tasks)", fontsize=9)
    savefig(fig, "planted_structure_rates")
    return fig


def record_planted(rep: PlantedReproduction, result) -> int:
    """One :func:`mtlkit.report.record` call per seed (table ``planted_structure``). Returns the rows recorded."""
    from mtlkit.planted import TABLE, result_rows
    from mtlkit.report import record

    per_seed = result_rows(result)
    for s, rows in per_seed.items():
        record(TABLE, rows, scale=rep.scale, seed=s, device=rep.device, dataset="SynthScenes")
    n = sum(len(r) for r in per_seed.values())
    print(f"recorded {n} rows over {len(rep.seeds)} seeds; {time.perf_counter() - rep.start:.0f} s")
    return n
