"""The steps the reproduction notebooks share, so that each notebook holds its prose, parameters and calls only.

AutoMTL's notebooks have theirs in :mod:`mtlkit.reproduce_automtl`.

* :func:`train_trained_part` — the TreeMTL tables' trained part: the plan of the scale, every pick (and the
  recommender's top-1) trained as a tree model next to single-task models, recorded.
"""
from __future__ import annotations

import time

__all__ = ["train_trained_part"]


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
