"""AutoMTL and TreeMTL on the same tasks, backbone, data and training recipe (notebook ``07_automtl_vs_treemtl``).

The two libraries have their own SynthScenes set-ups: :func:`mtlkit.automtl.synth.synth_setup` (the search and its
post-train) and :func:`mtlkit.treemtl.oracle.study_spec` (the two-task grid and the oracle study). They differ in
resolution, width and recipe, so their models cannot be compared as they are. This module puts TreeMTL on AutoMTL's
set-up:

* :func:`matched_spec` — the TreeMTL :class:`~mtlkit.treemtl.ExperimentSpec` with the setup's images (same
  SynthScenes seed, size and resolution), backbone and width, light heads of the same width, batch size, and
  AutoMTL's post-train recipe (iterations, Adam with betas (0.5, 0.999), lr, schedule, weight decay 1e-4, one
  evaluation at the end). The single-task models of the two libraries are then the same architecture trained the
  same way; only the initial weights and the shuffling differ, so the gap between them measures the noise floor.
* :class:`TreeMTLStudy` — the TreeMTL side end to end on that spec: the two-task grid (:class:`TwoTaskGrid`), its
  table, the single-task reference (the pairs' ``b = 0`` models), and any 3-task layout trained once. Its folder is
  the oracle study's (:func:`mtlkit.treemtl.oracle.oracle_study` with the same spec and the default directory reuses
  every model trained here, and vice versa).
* :func:`layout_policy` — a TreeMTL layout written as an AutoMTL policy (for up to three tasks every layout is one),
  so both architectures are counted by the same code (:func:`mtlkit.automtl.count_params`, paper convention).
* costs of trained models (:func:`model_costs`), of searches (:func:`grid_cost`, :func:`policy_train_cost`),
  Δt rows (:func:`delta_row`), the verdicts (:func:`verdict`) and two figures (:func:`plot_delta_vs_cost`,
  :func:`plot_search_cost`).

matplotlib is imported inside the plotting functions only.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from mtlkit.checks import check_int
from mtlkit.errors import ConfigError
from mtlkit.treemtl.oracle import ORACLE_KIND  # the study folder is the oracle study's own

__all__ = ["ORACLE_KIND", "compare", "matched_spec", "layout_policy", "GridSearch", "TreeMTLStudy", "model_costs",
           "log_seconds", "grid_cost", "policy_train_cost", "delta_row", "verdict", "plot_delta_vs_cost",
           "plot_search_cost"]


# ------------------------------------------------------------------------------------------------ the common spec
def matched_spec(setup, blocks: "int | Mapping | Sequence" = 3):
    """The TreeMTL experiment that trains like the AutoMTL setup's post-train, on the same data.

    Args:
        setup: a :class:`mtlkit.automtl.synth.SynthSetup` (``synth_setup(scale, data_seed=...)``).
        blocks: number of FLOP-balanced coarse blocks ``B`` of the backbone (or a mapping, see
            :class:`~mtlkit.treemtl.ExperimentSpec`).

    Returns:
        The :class:`~mtlkit.treemtl.ExperimentSpec`: tasks, backbone (``width``), light heads (hidden width = the
        backbone's output channels, as the setup's), resolution, train/test sizes, batch, ``seed = data_seed`` (the
        spec's seed sets both the images and the initialisation), iterations / lr / schedule of post-train, weight
        decay 1e-4, evaluation once at the end (``eval_every = iterations``, ``eval_last = 1``).

    Raises:
        ConfigError: ``setup`` is not a SynthSetup, or its post-train has no iterations.
    """
    from mtlkit.automtl.synth import SynthSetup
    from mtlkit.treemtl.experiment import ExperimentSpec

    if not isinstance(setup, SynthSetup):
        raise ConfigError(f"setup must be a SynthSetup from mtlkit.automtl.synth.synth_setup, got "
                          f"{type(setup).__name__}")
    cfg, sizes = setup.base_config, setup.sizes
    iterations = int(cfg.post_train_iterations)
    if iterations < 1:
        raise ConfigError(f"the setup's post_train_iterations is {iterations}; the matched TreeMTL spec trains "
                          "every model with the post-train recipe and needs at least 1 iteration")
    if cfg.post_loss_weights is not None or cfg.loss_weights is not None:
        raise ConfigError("matched_spec: the setup weighs the task losses (post_loss_weights/loss_weights); "
                          "ExperimentSpec trains with weights 1, so the recipes would differ")
    return ExperimentSpec(tasks=tuple(setup.tasks), backbone=setup.backbone,
                          backbone_kw={"width": sizes["width"]}, blocks=blocks, head="light",
                          resolution=sizes["resolution"], n_train=sizes["n_train"], n_test=sizes["n_test"],
                          batch_size=sizes["batch"], iterations=iterations, lr=float(cfg.post_lr),
                          lr_step=cfg.post_lr_step, lr_gamma=float(cfg.post_lr_gamma), weight_decay=1e-4,
                          eval_every=iterations, eval_last=1, seed=setup.data_seed)


def layout_policy(supermodel, blocks, layout) -> dict[str, dict[str, str]]:
    """A TreeMTL layout as an AutoMTL policy over the supermodel's conv nodes.

    At block ``c`` the tasks of the layout's group of two or more tasks choose *shared*, the others *specific*
    (AutoMTL's space has one shared op per node, so a block partition with two groups of two or more tasks has no
    policy; with three tasks there is never more than one). Every conv node gets the choice of the block that calls
    it. The architectures then have the same conv weights; they differ in BatchNorm: a TreeMTL group shares its
    block's BNs, AutoMTL (``share_bn=False``, the paper's) keeps one BN per task.

    Args:
        supermodel: a :class:`~mtlkit.automtl.SuperModel` of the same backbone (nodes named by module path).
        blocks: the TreeMTL :class:`~mtlkit.treemtl.BlockSequence` (``spec.build_blocks()[1]``).
        layout: a :class:`~mtlkit.treemtl.Layout` (or its string) over the supermodel's tasks, in their order.

    Returns:
        ``{node: {task: "shared" | "specific"}}``, validated by the supermodel.

    Raises:
        ConfigError: the layout's T or B do not match, a block partition has two groups of >= 2 tasks, or a conv
            node is called by no block.
    """
    from mtlkit.treemtl.layout import Layout

    layout = Layout.parse(layout) if isinstance(layout, str) else layout
    if not isinstance(layout, Layout):
        raise ConfigError(f"layout must be a Layout or its string, got {type(layout).__name__}")
    tasks = tuple(supermodel.tasks)
    if layout.T != len(tasks) or layout.B != len(blocks):
        raise ConfigError(f"layout {layout} is for T={layout.T}, B={layout.B}; the supermodel has {len(tasks)} tasks "
                          f"and the blocks B={len(blocks)}")
    where = {m: c for c in range(len(blocks)) for m in blocks[c].modules}
    choice_per_block = []
    for c in range(layout.B):
        big = [g for g in layout.groups(c) if len(g) >= 2]
        if len(big) > 1:
            raise ConfigError(f"block {c} of layout {layout} has {len(big)} groups of >= 2 tasks "
                              f"({layout.block_str(c)}); an AutoMTL policy has one shared op per node")
        together = set(big[0]) if big else set()
        choice_per_block.append({t: ("shared" if i in together else "specific") for i, t in enumerate(tasks)})
    policy = {}
    for v in supermodel.nodes:
        if v.name not in where:
            raise ConfigError(f"conv node {v.name!r} is called by none of the blocks "
                              f"({[b.name for b in blocks]}); were the blocks detected on another backbone?")
        policy[v.name] = dict(choice_per_block[where[v.name]])
    return supermodel.validate_policy(policy)


# ------------------------------------------------------------------------------------------------ TreeMTL side
@dataclass(frozen=True, eq=False)
class GridSearch:
    """The two-task grid of a :class:`TreeMTLStudy` (TreeMTL's whole search).

    Attributes:
        table: the :class:`~mtlkit.treemtl.TwoTaskTable`.
        results: the recorded result of every entry (entry order).
        models: number of two-task models, ``C(T, 2)·(B + 1)``.
        iterations: optimiser steps of all of them (``models × spec.iterations``).
        seconds: their training time as recorded when each was trained (load may have differed).
        trained_now: entries trained by this call.
        reference: single-task metrics ``{task: {metric: value}}`` from the pairs' ``b = 0`` models.
        reference_gap: largest metric difference between two ``b = 0`` models of the same task (0 when training
            is deterministic, as on the CPU).
    """

    table: Any
    results: list
    models: int
    iterations: int
    seconds: float
    trained_now: int
    reference: dict
    reference_gap: float


class TreeMTLStudy:
    """TreeMTL end to end on one :class:`~mtlkit.treemtl.ExperimentSpec`: the grid, then any layout, trained once.

    Args:
        spec: the experiment (e.g. :func:`matched_spec`).
        directory: study folder; default :func:`mtlkit.treemtl.oracle.study_dir`, the folder
            :func:`~mtlkit.treemtl.oracle.oracle_study` uses for the same spec (grid in ``grid/``, layout ``#i`` in
            ``layouts/0000i/``), so the two share models.
        device: training device.
        progress: progress bars.
        tasks: task objects with the dataset's options (e.g. ``setup.tasks``: SynthScenes' number of classes), used
            by :meth:`model` so that counting costs needs no data; default: the loaded data's.
    """

    def __init__(self, spec, directory: str | Path | None = None, *, device: str = "cpu", progress: bool = True,
                 tasks: Mapping | None = None):
        from mtlkit.treemtl.experiment import ExperimentSpec

        if not isinstance(spec, ExperimentSpec):
            raise ConfigError(f"spec must be an ExperimentSpec (e.g. matched_spec(setup)), got {type(spec).__name__}")
        if tasks is not None and (not isinstance(tasks, Mapping) or set(tasks) != set(spec.tasks)):
            raise ConfigError(f"tasks must map every task of the spec {list(spec.tasks)} to its task object, got "
                              f"{sorted(tasks) if isinstance(tasks, Mapping) else type(tasks).__name__}")
        if directory is None:
            from mtlkit.treemtl.oracle import study_dir

            directory = study_dir(spec, device)
        self.spec, self.directory, self.device, self.progress = spec, Path(directory), device, progress
        self._data, self._tasks = None, dict(tasks) if tasks is not None else None

    @property
    def data(self):
        """The experiment's loaders and tasks, loaded (rendered) on first use only."""
        if self._data is None:
            self._data = self.spec.load_data()
        return self._data

    @property
    def blocks(self):
        """The coarse blocks (``spec.build_blocks()[1]``)."""
        return self.spec.build_blocks()[1]

    def grid(self) -> GridSearch:
        """Train (or load) the two-task grid and return it with its cost and the single-task reference."""
        from mtlkit.treemtl.grid import TwoTaskGrid

        grid = TwoTaskGrid(self.directory / "grid", self.spec)
        missing = len(grid.missing())
        results = grid.run(device=self.device, progress=self.progress, data=self.data if missing else None)
        table = grid.table()
        grid.write_table()
        reference, gap = {}, 0.0
        for e, res in zip(grid.entries, results):
            if e.branch != 0:
                continue
            for t, metrics in res["metrics"].items():
                if t in reference:
                    gap = max(gap, max(abs(metrics[m] - reference[t][m]) for m in metrics))
                else:
                    reference[t] = dict(metrics)
        reference = {t: reference[t] for t in self.spec.tasks}
        return GridSearch(table=table, results=results, models=len(results),
                          iterations=sum(int(r["iterations"]) for r in results),
                          seconds=float(sum(r["seconds"] for r in results)), trained_now=missing,
                          reference=reference, reference_gap=float(gap))

    def layout_dir(self, layout) -> Path:
        """The folder of a T-task layout: ``layouts/<paper index, 5 digits>`` (the oracle study's)."""
        from mtlkit.treemtl.enumerate import paper_index

        return self.directory / "layouts" / f"{paper_index(self._layout(layout)):05d}"

    def train(self, layout) -> dict:
        """Train (or load) one T-task layout; returns :func:`~mtlkit.treemtl.experiment.train_entry`'s result."""
        from mtlkit.treemtl.enumerate import paper_index
        from mtlkit.treemtl.experiment import read_result, train_entry

        layout = self._layout(layout)
        folder = self.layout_dir(layout)
        data = self.data if read_result(folder) is None else None
        return train_entry(self.spec, layout, self.spec.tasks, folder, data, device=self.device,
                           progress=self.progress, extra=dict(paper_index=paper_index(layout)))

    def model(self, layout) -> nn.Module:
        """The (untrained) :class:`~mtlkit.treemtl.TreeModel` of a layout, as trained (heads sized by the dataset's
        task options), for counting parameters and FLOPs."""
        tasks = self._tasks if self._tasks is not None else self.data.tasks
        return self.spec.build_model(self._layout(layout), self.spec.tasks, tasks)

    def _layout(self, layout):
        from mtlkit.treemtl.layout import Layout

        layout = Layout.parse(layout) if isinstance(layout, str) else layout
        if not isinstance(layout, Layout):
            raise ConfigError(f"layout must be a Layout or its string, got {type(layout).__name__}")
        if layout.T != self.spec.T or layout.B != self.spec.B:
            raise ConfigError(f"layout {layout} is for T={layout.T}, B={layout.B}; the study has T={self.spec.T}, "
                              f"B={self.spec.B}")
        return layout


# ------------------------------------------------------------------------------------------------ costs
def model_costs(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Every parameter of a multi-task model and the FLOPs of one forward for all tasks.

    Args:
        model: any ``forward(x) -> {task: prediction}`` model (a derived AutoMTL model, a TreeModel, ...).
        x: an input batch (FLOPs scale with its size; one image gives per-image FLOPs).

    Returns:
        ``{"params_full": n, "flops": F}``: FLOPs = 2 × MACs of convs and matrix products
        (:func:`mtlkit.flops.count_flops`), in eval mode (the mode is restored).
    """
    from mtlkit.flops import count_flops

    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be an nn.Module, got {type(model).__name__}")
    was = model.training
    model.eval()
    try:
        flops = count_flops(model, x)
    finally:
        model.train(was)
    return {"params_full": sum(p.numel() for p in model.parameters()), "flops": flops}


def log_seconds(rows: Sequence[Mapping]) -> float:
    """Training time of a run from its log rows' ``time_s`` (seconds since the start of each call; a resumed run
    restarts the clock, so the last value of every segment is added)."""
    total, last = 0.0, None
    for r in rows:
        t = r.get("time_s")
        if t is None or (isinstance(t, float) and math.isnan(t)):
            continue
        t = float(t)
        if last is not None and t < last:
            total += last
        last = t
    return total + (last or 0.0)


def grid_cost(grid: GridSearch) -> dict[str, float]:
    """TreeMTL's search cost: ``{"models", "iterations", "seconds"}`` of the two-task grid."""
    return {"models": grid.models, "iterations": grid.iterations, "seconds": grid.seconds}


def policy_train_cost(run) -> dict[str, float]:
    """AutoMTL's search cost of one objective/budget: pre-train + policy-train iterations and the policy-train time.

    Args:
        run: a :class:`mtlkit.automtl.synth.VariantRun`.

    Returns:
        ``{"iterations": pre + policy iterations, "policy_iterations": ..., "pre_iterations": ...,
        "seconds": policy-train time from its log}``. The pre-train time is not in the run (0 iterations at the
        smoke and cpu scales).
    """
    cfg = run.config
    return {"iterations": int(cfg.pre_train_iterations) + int(cfg.policy_train_iterations),
            "policy_iterations": int(cfg.policy_train_iterations), "pre_iterations": int(cfg.pre_train_iterations),
            "seconds": log_seconds(run.policy_train.history.train)}


def delta_row(metrics: Mapping, reference: Mapping) -> dict[str, float]:
    """``{"delta_T": Δ_T, "delta/<task>": Δ_t}`` (%) of a model's metrics against single-task metrics
    (:func:`mtlkit.delta.delta_t`; metrics whose reference is 0 are left out, as at smoke scale)."""
    from mtlkit.delta import delta_t

    d = delta_t(metrics, reference, zero_reference="skip")
    return {"delta_T": float(d.overall), **{f"delta/{t}": float(v) for t, v in d.per_task.items()}}


def verdict(criterion: str, treemtl: float, automtl: float, *, higher_is_better: bool, noise: float = 0.0,
            unit: str = "") -> dict[str, Any]:
    """Which method wins one criterion, and whether the margin exceeds the noise.

    Args:
        criterion: label.
        treemtl: TreeMTL's value.
        automtl: AutoMTL's value.
        higher_is_better: direction.
        noise: a margin at or below this is reported as a tie ("within noise").
        unit: appended to the numbers in ``text``.

    Returns:
        ``criterion``, ``treemtl``, ``automtl``, ``winner`` (``"TreeMTL"``, ``"AutoMTL"`` or ``"tie"``), ``margin``
        (absolute difference), ``decided`` (margin > noise) and a one-line ``text``.
    """
    for name, v in (("treemtl", treemtl), ("automtl", automtl), ("noise", noise)):
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or math.isnan(float(v)):
            raise ConfigError(f"verdict({criterion!r}): {name} must be a number, got {v!r}")
    treemtl, automtl, noise = float(treemtl), float(automtl), float(noise)
    if noise < 0:
        raise ConfigError(f"verdict({criterion!r}): noise must be >= 0, got {noise!r}")
    margin = abs(float(treemtl) - float(automtl))
    if margin == 0:
        winner = "tie"
    else:
        tree_better = (treemtl > automtl) == higher_is_better
        winner = "TreeMTL" if tree_better else "AutoMTL"
    decided = winner != "tie" and margin > noise
    fmt = (lambda v: f"{v:,.0f}{unit}") if max(abs(treemtl), abs(automtl)) >= 1000 else (lambda v: f"{v:.3g}{unit}")
    if not decided:
        text = (f"{criterion}: TreeMTL {fmt(treemtl)} vs AutoMTL {fmt(automtl)} — a tie "
                f"(difference {fmt(margin)} <= noise {fmt(noise)})" if winner != "tie" else
                f"{criterion}: both {fmt(treemtl)} — a tie")
    else:
        text = (f"{criterion}: {winner} wins ({fmt(treemtl)} vs AutoMTL {fmt(automtl)})" if winner == "TreeMTL" else
                f"{criterion}: {winner} wins ({fmt(automtl)} vs TreeMTL {fmt(treemtl)})")
    return dict(criterion=criterion, treemtl=float(treemtl), automtl=float(automtl), winner=winner if decided else
                "tie", margin=margin, decided=decided, text=text)


# ------------------------------------------------------------------------------------------------ figures
_STYLE = {"AutoMTL": ("o", "#4C72B0"), "TreeMTL": ("s", "#DD8452"), "baseline": ("D", "0.45")}


def plot_delta_vs_cost(table, *, x_columns=("params_full", "flops"), labels: str = "label", noise: float | None = None,
                       title: str = ""):
    """Δ_T against parameters and FLOPs, one point per trained model, coloured by method.

    Args:
        table: DataFrame with ``method`` (``"AutoMTL"``, ``"TreeMTL"`` or ``"baseline"``), ``delta_T``, the
            ``x_columns`` and a text column ``labels`` (shown next to each point; empty = none).
        x_columns: one panel per column (``params_full``/``params_paper`` shown in thousands, ``flops`` in millions).
        noise: if given, a grey band ``|Δ_T| <= noise`` (e.g. the gap between two single-task references).
        title: figure title.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    missing = [c for c in ("method", "delta_T", labels, *x_columns) if c not in table.columns]
    if missing:
        raise ConfigError(f"plot_delta_vs_cost: the table lacks columns {missing}")
    if noise is not None and (not isinstance(noise, numbers.Real) or not noise >= 0):
        raise ConfigError(f"plot_delta_vs_cost: noise must be a number >= 0 or None, got {noise!r}")
    names = {"params_full": ("parameters, every one counted (thousands)", 1e3),
             "params_paper": ("conv parameters, AutoMTL paper convention (thousands)", 1e3),
             "flops": ("FLOPs per image, one forward for all tasks (millions)", 1e6)}
    fig, axes = plt.subplots(1, len(x_columns), figsize=(6.6 * len(x_columns), 4.8), squeeze=False)
    for ax, col in zip(axes[0], x_columns):
        if noise:
            ax.axhspan(-noise, noise, color="0.9", zorder=0, label=f"|Δ_T| ≤ {noise:.2g} (noise floor)")
        for method, (marker, color) in _STYLE.items():
            rows = table[table["method"] == method]
            if len(rows):
                ax.scatter(rows[col], rows["delta_T"], marker=marker, color=color, s=55, zorder=3, label=method,
                           edgecolor="white", linewidth=0.6)
        ax.axhline(0.0, color="0.6", lw=0.8)
        _place_labels(ax, [(r[col], r["delta_T"], r[labels]) for _, r in table.iterrows() if r[labels]])
        label, scale = names.get(col, (col, 1.0))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _, s=scale: f"{v / s:g}"))
        ax.set(xlabel=label, ylabel="Δ_T vs the single-task models (%)")
    handles, labs = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labs, loc="lower center", ncol=len(labs), frameon=False, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def _place_labels(ax, points, fontsize: float = 7.5) -> None:
    """Annotate points, each label right of its point, else left, else below, avoiding the labels placed before."""
    ax.figure.canvas.draw()   # final limits, so data -> pixel positions are those of the saved figure
    px_per_pt = ax.figure.dpi / 72
    char_w, line_h = 0.6 * fontsize, 1.2 * fontsize          # label size in points
    placed: list[tuple[float, float, float, float]] = []    # label boxes in points
    for x, y, text in sorted(points, key=lambda p: -p[1]):
        px, py = ax.transData.transform((x, y)) / px_per_pt
        w = char_w * len(str(text))
        options = [((4, 3), "left", px + 4), ((-4, 3), "right", px - 4 - w),
                   ((4, -3 - line_h), "left", px + 4), ((-4, -3 - line_h), "right", px - 4 - w)]
        for (dx, dy), ha, x0 in options:
            box = (x0, py + dy, x0 + w, py + dy + line_h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        ax.annotate(str(text), (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va="bottom",
                    fontsize=fontsize, color="0.25")


def plot_search_cost(costs, n_budgets: int = 5, title: str = ""):
    """Search cost: per step (bars: wall time and iterations) and accumulated over several budgets (lines).

    Args:
        costs: DataFrame with one row per step: ``method`` (``"TreeMTL"``/``"AutoMTL"``), ``search`` (label),
            ``seconds``, ``iterations`` and ``per_budget`` (True: paid again for every new budget, as AutoMTL's
            policy-train or training the final model; False: paid once, as TreeMTL's grid). The accumulated cost
            of ``k`` budgets is the sum of a method's once-rows plus ``k`` times the sum of its per-budget rows.
        n_budgets: how many budgets the accumulated panel goes up to.
        title: figure title.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    missing = [c for c in ("method", "search", "seconds", "iterations", "per_budget") if c not in costs.columns]
    if missing:
        raise ConfigError(f"plot_search_cost: the table lacks columns {missing}")
    check_int(n_budgets, "n_budgets", minimum=1)
    fig, axes = plt.subplots(1, 3, figsize=(16, 0.5 * len(costs) + 2.6), gridspec_kw={"width_ratios": (1, 1, 1.2)})
    colors = [_STYLE.get(m, ("o", "0.5"))[1] for m in costs["method"]]
    y = np.arange(len(costs))
    for ax, col, label in ((axes[0], "seconds", "wall time (s, as recorded when trained)"),
                           (axes[1], "iterations", "training iterations")):
        ax.barh(y, costs[col], color=colors)
        ax.set_yticks(y, costs["search"] if ax is axes[0] else [""] * len(y), fontsize=9)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        for yi, v in zip(y, costs[col]):
            ax.text(v, yi, f" {v:,.0f}" if v >= 10 or v == 0 else f" {v:.2g}", va="center", fontsize=8)
        ax.margins(x=0.18)
    k = np.arange(1, n_budgets + 1)
    for method in ("TreeMTL", "AutoMTL"):
        rows = costs[costs["method"] == method]
        if not len(rows):
            continue
        once = float(rows.loc[~rows["per_budget"].astype(bool), "seconds"].sum())
        each = float(rows.loc[rows["per_budget"].astype(bool), "seconds"].sum())
        marker, color = _STYLE[method]
        axes[2].plot(k, once + each * k, marker=marker, color=color, label=method)
    axes[2].set(xlabel="number of budgets asked", ylabel="accumulated time (s): searches + final models",
                title="the cost as the budget changes", ylim=(0, None))
    axes[2].set_xticks(k)
    axes[2].legend(frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------- every method at once
def compare(setup, methods: Sequence[str] | None = None, *, budget: float | None = None, seeds: Sequence[int] = (0,),
            progress: bool = False):
    """Run every registered method (:mod:`mtlkit.methods`) on one setup and tabulate what it found.

    For each seed the setup's seed is replaced (new images, initialisation and order), each method searches an
    architecture under ``budget`` and builds it; tree layouts are trained by the one tree-layout recipe (the setup's
    :class:`TreeMTLStudy`, i.e. the oracle study's folder: a layout two methods find is trained once), any other
    architecture (AutoMTL's policy) by its method's ``train`` with the same schedule. Δt is taken against the
    ``single_task`` method of the same seed.

    Args:
        setup: a :class:`mtlkit.setups.Setup`.
        methods: registered method names (default: all); ``single_task`` is added as the reference.
        budget: the largest cost in backbone models (None: no budget).
        seeds: setup seeds.
        progress: progress bars.

    Returns:
        DataFrame: one row per (method, seed) with ``layout`` (None for a policy), ``delta_T``, ``delta/<task>``, ``params_full``,
        ``flops`` (one image) and ``search_models`` (models the search trained).
    """
    import pandas as pd

    from mtlkit.delta import delta_t
    from mtlkit.methods import get_method, list_methods, spec_of
    from mtlkit.setups import Setup

    if not isinstance(setup, Setup):
        raise ConfigError(f"setup must be a mtlkit.setups.Setup, got {type(setup).__name__}")
    names = list_methods() if methods is None else list(methods)
    names = ["single_task", *[n for n in names if n != "single_task"]]
    for n in names:
        get_method(n)  # fail on an unknown name before anything trains
    if isinstance(seeds, (str, bytes)) or not seeds:
        raise ConfigError(f"seeds must be a non-empty sequence of ints, got {seeds!r}")
    rows = []
    for seed in seeds:
        run_setup = setup.replace(seed=check_int(seed, "seeds[i]", minimum=0))
        study = TreeMTLStudy(spec_of(run_setup), device=run_setup.device, progress=progress)
        x = torch.zeros(1, 3, run_setup.input_size, run_setup.input_size)
        reference = None
        for name in names:
            method = get_method(name)
            arch = method.search(run_setup, budget, seed=seed)
            if arch.layout is not None:
                metrics = study.train(arch.layout)["metrics"]
            elif callable(getattr(method, "train", None)):
                metrics = method.train(run_setup, arch, progress=progress)["metrics"]
            else:
                raise ConfigError(f"method {name!r} returned an architecture without a layout and has no "
                                  "train(setup, architecture, *, progress); compare() trains tree layouts itself "
                                  "and any other architecture by its method's train")
            reference = metrics if name == "single_task" else reference
            d = delta_t(metrics, reference, zero_reference="skip")
            costs = model_costs(method.build(run_setup, arch), x)
            rows.append({"method": name, "seed": seed, "layout": arch.layout, "delta_T": d.overall,
                         **{f"delta/{t}": v for t, v in d.per_task.items()}, **costs,
                         "search_models": arch.search_cost.get("models", 0)})
    return pd.DataFrame(rows)
