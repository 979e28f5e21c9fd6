"""The steps the reproduction notebooks share, so that each notebook holds its prose, parameters and calls only.

* :func:`run_automtl_comparison`, :func:`metrics_vs_paper`, :func:`save_comparison_figures` — the AutoMTL
  comparison tables (CityScapes, NYUv2, Taskonomy): the four post-trained models, every metric next to the paper's,
  the two figures;
* :func:`train_trained_part` — the TreeMTL tables' trained part: the plan of the scale, every pick (and the
  recommender's top-1) trained as a tree model next to single-task models, recorded.
"""
from __future__ import annotations

import time

__all__ = ["run_automtl_comparison", "metrics_vs_paper", "save_comparison_figures", "train_trained_part"]


def run_automtl_comparison(setup, seed: int, *, progress: bool = False):
    """The comparison of a setup (:func:`mtlkit.automtl.experiments.comparison`), with a line on the
    resource-aware search's budget; returns it."""
    from mtlkit.automtl.experiments import comparison

    comp = comparison(setup, seed, progress=progress)
    res = comp.runs["AutoMTL (resource-aware, ours)"]
    budget, chosen = res.config.budget, comp.backbones["AutoMTL (resource-aware, ours)"]
    feasible = sum(c["cost"] <= budget + 1e-12 for c in res.discretization.candidates)
    print(f"trained or loaded in {comp.seconds:.0f} s; resource-aware: {feasible} of "
          f"{len(res.discretization.candidates)} samples within the budget of {budget} backbones, chosen "
          f"{chosen:.3f}" + ("" if feasible else " (none met it: the cheapest sample is kept)"))
    return comp


def metrics_vs_paper(comp, paper, methods=("Single-Task", "AutoMTL")):
    """Every metric of the comparison, with the paper's printed values of ``methods`` ("—" where unknown)."""
    metrics = comp.metrics_table()
    for method in methods:
        metrics[f"paper: {method}"] = [next((r.value for r in paper.itertuples() if r.method == method
                                             and r.task == t and r.metric == m and r.value), "—")
                                       for t, m in metrics.index]
    return metrics


def save_comparison_figures(comp, setup, *, table: str, title: str, dataset: str, seed: int):
    """Save (and return) the comparison's two figures, ``<table>_comparison`` and ``<table>_policies``."""
    from mtlkit.automtl.experiments_viz import plot_comparison, plot_policies
    from mtlkit.viz import savefig

    fig = plot_comparison(comp, title=f"{title}: {dataset}, backbone {setup.backbone}, seed {seed}")
    savefig(fig, f"{table}_comparison")
    searched = {m: comp.models[m].policy for m in comp.runs}
    fig2 = plot_policies({f"{m}: {comp.backbones[m]:.2f} backbones of conv parameters": p
                          for m, p in searched.items()},
                         list(setup.tasks), title=f"the searched architectures ({dataset}, seed {seed})")
    savefig(fig2, f"{table}_policies")
    return fig, fig2


def train_trained_part(table: str, picks, *, scale: str, seed: int, device: str, backbone: str, cpu_backbone: str,
                       iterations=None, data_root=None, weights=None, workers: int = 0, start: float | None = None):
    """Train a TreeMTL table's picks (:func:`mtlkit.recipes.train_layouts`) and record their rows.

    Returns:
        ``(plan, trained)``: the :class:`~mtlkit.recipes.TrainingPlan` and :class:`~mtlkit.recipes.TrainedLayouts`.
    """
    from mtlkit.recipes import train_layouts, trained_layouts_of, training_plan
    from mtlkit.report import record

    start = time.perf_counter() if start is None else start
    plan = training_plan(table, scale, backbone=backbone, cpu_backbone=cpu_backbone, iterations=iterations)
    to_train = trained_layouts_of(picks)
    print(f"{len(set(to_train.values()))} layouts + {len(plan.tasks)} single-task models on {plan.dataset}, "
          f"{plan.backbone_label}, {plan.iterations} iterations at batch {plan.batch}")
    # one torch thread on CPU: on a shared 2-core machine two threads made these small models ~15x slower
    trained = train_layouts(plan, to_train, seed=seed, device=device, data_root=data_root, weights=weights,
                            workers=workers, threads=1 if device == "cpu" else None)
    path = record(table, trained.rows, scale=scale, seed=seed, device=device, dataset=plan.dataset,
                  wall_s=time.perf_counter() - start)
    print(f"recorded {len(trained.rows)} rows in {path}")
    print("ours:", "the paper's experiment" if scale == "paper" else
          f"a {plan.dataset} stand-in at scale={scale!r}, not comparable with the paper's column")
    return plan, trained
