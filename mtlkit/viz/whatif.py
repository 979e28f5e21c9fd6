"""An interactive what-if explorer for the TreeMTL recommender (ipywidgets), with a static rendering.

Pick a two-task table (one of the authors' published tables, or a CSV in the same format), the tasks to include,
a budget (in number of backbone models) and k; the explorer shows the top-k layouts within the budget, the Pareto
front of estimated score against cost with the budget and the chosen layout (the top-1) marked, and the chosen
layout's tree. Nothing is trained: every answer comes from the two-task table (:func:`mtlkit.treemtl.recommend`).

* :class:`WhatIf` is the model: :meth:`WhatIf.update` sets any of the choices and returns a :class:`WhatIfView`;
  :meth:`WhatIf.figure` draws it. The full ranking of a task subset is computed once and cached, so a change of the
  budget or of k only filters it (milliseconds); a new task subset costs one ranking (about 0.3 s for the 7,556
  layouts of five tasks on a laptop core).
* Tables whose design space is too large to enumerate (up to :data:`MAX_TASKS` tasks) use the exact top-k search
  (:mod:`mtlkit.treemtl.topk`) for each (tasks, budget, k); the front is then made of the top-1 layouts of the budgets
  tried so far, and the figure says so.
* The widget redraws only what a change changes (:class:`_WidgetCanvas`): the front panel keeps its artists and,
  when the front is exact, a rendered background, so a change of the budget or of k draws the budget line, the star
  and the legend only; each chosen layout's tree is drawn once and its PNG kept. ``benchmarks/bench_whatif.py``
  times a change against a full redraw.
* :func:`explore` displays the ipywidgets controls in a live notebook. With ``static=True`` — the default when
  ``$MTLKIT_STATIC`` is ``1``, which ``make run`` sets for its papermill kernels — it prints the table and shows the
  figure instead, so executed notebooks and the book show the answer without a running kernel.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from mtlkit.errors import ConfigError

__all__ = ["MAX_TASKS", "PUBLISHED_SOURCES", "WhatIf", "WhatIfView", "explore"]

MAX_TASKS = 40
PUBLISHED_SOURCES = ("taskonomy/resnet34", "taskonomy/mobilenetv2", "nyuv2/resnet34", "nyuv2/mobilenetv2")
_PAPER_INPUT = {"nyuv2": 321, "taskonomy": 224}
_COLUMNS = ["layout", "paper_index", "score", "backbones", "macs_pct"]
FIGSIZE = (13.0, 4.6)
DPI = 80  # the widget's PNG resolution (drawing time grows with the pixel count)


@dataclass(frozen=True)
class WhatIfView:
    """One answer of the explorer.

    Attributes:
        top: the top-k layouts within the budget (a :func:`~mtlkit.treemtl.recommend` frame, ranks from 1).
        front: the Pareto front (score against cost in backbones) of the task subset, cost ascending.
        points: ``backbones`` and ``score`` of every layout (None when the space is not enumerated).
        tasks: the task names included.
        budget: the budget in backbone models (None: no budget).
        k: the number of layouts asked for.
        exhaustive: True when every layout was ranked (the front is exact), False for the top-k search.
        seconds: the time the update took.
    """

    top: object
    front: object
    points: object
    tasks: tuple[str, ...]
    budget: float | None
    k: int
    exhaustive: bool
    seconds: float

    @property
    def chosen(self):
        """The top-1 layout within the budget (a :class:`~mtlkit.treemtl.Layout`), or None if nothing fits."""
        return None if len(self.top) == 0 else self.top.layout.iloc[0]


def _load(source):
    """(table, block costs) of a source: a published name, a CSV path, or a TwoTaskTable."""
    from mtlkit.treemtl import TwoTaskTable, get_block_costs, published_table

    if isinstance(source, TwoTaskTable):
        return source, None
    if not isinstance(source, (str, Path)):
        raise ConfigError(f"table must be a published name ({', '.join(PUBLISHED_SOURCES)}), a CSV path or a "
                          f"TwoTaskTable, got {type(source).__name__}")
    text = str(source)
    if text in PUBLISHED_SOURCES:
        dataset, backbone = text.split("/")
        return published_table(dataset, backbone), get_block_costs(backbone, _PAPER_INPUT[dataset])
    if not text.lower().endswith(".csv"):
        raise ConfigError(f"table must be one of {list(PUBLISHED_SOURCES)} or a path to a .csv two-task table, "
                          f"got {text!r}")
    from mtlkit.treemtl.cli import task_names_from_header

    return TwoTaskTable.from_csv(text, task_names=task_names_from_header(text)), None


class WhatIf:
    """The explorer's state and answers (see the module docstring).

    Args:
        table: a published name such as ``"taskonomy/resnet34"``, a CSV path, or a ``TwoTaskTable``.
        block_costs: per-block costs (a registered name such as ``"resnet34@224"``, a ``BlockCosts`` or B numbers).
            Default: the published table's backbone at the paper's input size; for other tables ``resnet34@224``
            when the table has 5 branching points, else equal costs per block.
        tasks: the tasks to include (names or indices; default all).
        budget: the budget in backbone models (>= 1), or None.
        k: how many layouts to list.
    """

    def __init__(self, table="taskonomy/resnet34", block_costs=None, *, tasks: Sequence | None = None,
                 budget: float | None = None, k: int = 5):
        self._rankings: dict = {}
        self._searches: dict = {}
        self._costs_arg = block_costs
        self._table_version = 0  # counts the tables loaded (what the widget's cached drawings belong to)
        self.table = self.costs = None
        self.tasks: tuple[str, ...] = ()
        self.budget, self.k = None, 5
        self.view: WhatIfView | None = None
        self.update(table=table, tasks=tasks, budget=budget, k=k)

    # ------------------------------------------------------------------------------------------------ the model
    def _set_table(self, table) -> None:
        from mtlkit.treemtl.costs import BlockCosts, as_block_costs

        loaded, default_costs = _load(table)
        if not 2 <= loaded.T <= MAX_TASKS:
            raise ConfigError(f"table: the explorer takes 2 to {MAX_TASKS} tasks, got a table with {loaded.T}")
        if self._costs_arg is not None:
            costs = as_block_costs(self._costs_arg, loaded.B)
        elif default_costs is not None:
            costs = default_costs
        elif loaded.B == 5:
            costs = as_block_costs("resnet34@224", 5)
        else:
            costs = BlockCosts(tuple([1.0] * loaded.B), tuple([1.0] * loaded.B), name=f"equal costs x{loaded.B}")
        self.table, self.costs = loaded, costs
        self.source = str(table) if isinstance(table, (str, Path)) else (loaded.source or "(in memory)")
        self._rankings.clear()
        self._searches.clear()
        self._table_version += 1
        self.tasks = tuple(loaded.task_names)

    def _check_tasks(self, tasks) -> tuple[str, ...]:
        names = list(self.table.task_names)
        chosen = []
        for t in tasks:
            if isinstance(t, int) and not isinstance(t, bool) and 0 <= t < len(names):
                chosen.append(names[t])
            elif t in names:
                chosen.append(t)
            else:
                raise ConfigError(f"tasks: {t!r} is not a task of the table; choose from {names} (or indices)")
        if len(set(chosen)) < 2:
            raise ConfigError(f"tasks: choose at least 2 different tasks, got {list(tasks)!r}")
        return tuple(n for n in names if n in chosen)  # the table's order

    def update(self, *, table=None, tasks: Sequence | None = None, budget: float | None | str = "keep",
               k: int | None = None) -> WhatIfView:
        """Change any of the choices (the others are kept) and return the new answer.

        Args:
            table: a new table (resets the tasks to all of its tasks unless ``tasks`` is given).
            tasks: the tasks to include (names or indices, at least 2).
            budget: backbone models (>= 1), None for no budget; omit to keep the current one.
            k: how many layouts to list (>= 1).
        """
        start = time.perf_counter()
        if table is not None:
            self._set_table(table)
        if tasks is not None:
            self.tasks = self._check_tasks(tasks)
        if budget != "keep":
            if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                                       or budget < 1):
                raise ConfigError(f"budget must be a number of backbone models >= 1 or None, got {budget!r}")
            self.budget = None if budget is None else float(budget)
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ConfigError(f"k must be a positive integer, got {k!r}")
            self.k = k
        self.view = self._answer(time.perf_counter() - start)
        return self.view

    def _subtable(self):
        return self.table if len(self.tasks) == self.table.T else self.table.subset(list(self.tasks))

    def _answer(self, spent: float) -> WhatIfView:
        from mtlkit.treemtl import count_layouts, pareto_front, recommend
        from mtlkit.treemtl.recommend import ENUMERATE_LIMIT

        start = time.perf_counter()
        sub = self._subtable()
        if count_layouts(sub.T, sub.B) <= ENUMERATE_LIMIT:
            if self.tasks not in self._rankings:
                full = recommend(sub, self.costs, k=None)
                self._rankings[self.tasks] = (full, pareto_front(full, cost="backbones"))
            full, front = self._rankings[self.tasks]
            fits = full if self.budget is None else full[full.backbones <= self.budget + 1e-9]
            top = fits.head(self.k).copy()
            top.index = range(1, len(top) + 1)
            top.index.name = "rank"
            top.attrs = dict(full.attrs, budget=self.budget)
            points, exhaustive = full[["backbones", "score"]], True
        else:
            key = (self.tasks, self.budget, self.k)
            if key not in self._searches:
                self._searches[key] = recommend(sub, self.costs, budget=self.budget, k=self.k, method="search")
            top = self._searches[key]
            tried = [df.iloc[:1] for (tasks, _, _), df in self._searches.items() if tasks == self.tasks and len(df)]
            import pandas as pd

            found = pd.concat(tried).drop_duplicates(subset=["backbones", "score"])
            front, points, exhaustive = pareto_front(found, cost="backbones"), None, False
        return WhatIfView(top, front, points, self.tasks, self.budget, self.k, exhaustive,
                          spent + time.perf_counter() - start)

    def table_frame(self, view: WhatIfView | None = None):
        """The top-k as a compact DataFrame (layout as text, paper index, score, cost, MACs %)."""
        view = view or self.view
        out = view.top[[c for c in _COLUMNS if c in view.top]].copy()
        out["layout"] = out["layout"].map(str)
        return out.round({"score": 4, "backbones": 3, "macs_pct": 2})

    # ---------------------------------------------------------------------------------------------- the figure
    def _front_key(self) -> tuple:
        """What the front panel's fixed artists depend on: the table and the task subset."""
        return (self._table_version, self.tasks)

    def _tree_title(self, view: WhatIfView) -> str:
        within = "no budget" if view.budget is None else "within the budget"
        return f"chosen layout (top-1, {within}): {view.chosen}"

    def _draw_tree(self, ax, view: WhatIfView) -> None:
        from mtlkit.viz.notebooks import short_task_names

        T = len(view.tasks)
        if view.chosen is None:
            ax.axis("off")
            ax.text(0.5, 0.5, "no layout fits this budget", ha="center", va="center")
            return
        view.chosen.draw(ax=ax, task_names=short_task_names(view.tasks), label_width=None if T <= 8 else 18,
                         font_size=8 if T <= 12 else 6, title=self._tree_title(view))

    def figure(self, view: WhatIfView | None = None, fig=None):
        """Draw the Pareto front with the budget and the chosen layout, and the chosen layout's tree.

        Args:
            view: an answer (default: the current one).
            fig: a figure to draw into (cleared), else a new one.

        Returns:
            The matplotlib Figure (two Axes: the front, the tree).
        """
        import matplotlib.pyplot as plt

        view = view or self.view
        if fig is None:
            fig = plt.figure(figsize=FIGSIZE)
        fig.clf()
        fig.set_size_inches(FIGSIZE[0], _height(len(view.tasks)))
        front_ax, tree_ax = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[1, 1.25]))
        fig.subplots_adjust(left=0.06, right=0.99, bottom=0.13, top=0.9, wspace=0.08)  # fixed: no layout pass
        _FrontPanel(front_ax).show(view, self.costs.name, self._front_key())
        self._draw_tree(tree_ax, view)
        return fig

    # ---------------------------------------------------------------------------------------------- the widget
    def widget(self):
        """The ipywidgets controls and outputs (a ``VBox``); each change redraws the table and the figures.

        A change redraws only what it changes (:class:`_WidgetCanvas`): the front panel's artists are made once per
        task subset and moved afterwards, and each chosen layout's tree is drawn once and its PNG kept.
        """
        import ipywidgets as w

        names = list(self.table.task_names)
        source = w.Dropdown(options=[*PUBLISHED_SOURCES, "CSV file"], description="table",
                            value=self.source if self.source in PUBLISHED_SOURCES else "CSV file")
        path = w.Text(value="" if self.source in PUBLISHED_SOURCES else self.source,
                      placeholder="path/to/two_task_table.csv", description="CSV", continuous_update=False)
        tasks = w.SelectMultiple(options=names, value=self.tasks, rows=min(8, len(names)), description="tasks")
        use_budget = w.Checkbox(value=self.budget is not None, description="budget")
        budget = w.FloatSlider(value=self.budget or 2.0, min=1.0, max=float(len(names)), step=0.05,
                               description="models", continuous_update=False)
        k = w.IntSlider(value=self.k, min=1, max=20, description="k", continuous_update=False)
        status, table_out = w.HTML(), w.HTML()
        front_out, tree_out = w.Image(format="png"), w.Image(format="png")
        canvas = _WidgetCanvas(self)

        def render(view, start):
            table_out.value = self.table_frame(view).to_html()
            front_out.value, tree_out.value = canvas.front_png(view), canvas.tree_png(view)
            status.value = (f"<code>{len(view.tasks)} tasks · {len(view.top)} layouts shown · "
                            f"updated in {(time.perf_counter() - start) * 1000:.0f} ms</code>")

        def changed(change=None):
            start = time.perf_counter()
            if updating[0]:
                return  # a control following a new table: one redraw at the end
            try:
                if change is not None and change["owner"] in (source, path):
                    table = path.value if source.value == "CSV file" else source.value
                    if not table:
                        return
                    self.update(table=table)
                    updating[0] = True
                    try:
                        tasks.options = list(self.table.task_names)
                        tasks.value = self.tasks
                        budget.max = float(self.table.T)
                    finally:
                        updating[0] = False
                view = self.update(tasks=list(tasks.value), budget=budget.value if use_budget.value else None,
                                   k=k.value)
                render(view, start)
            except (ConfigError, ValueError, KeyError, FileNotFoundError) as exc:
                status.value = f"<b style='color:#b00'>{exc}</b>"

        updating = [False]
        for control in (source, path, tasks, use_budget, budget, k):
            control.observe(changed, names="value")
        render(self.view, time.perf_counter())
        controls = w.HBox([w.VBox([source, path, use_budget, budget, k]), tasks])
        box = w.VBox([controls, status, table_out, w.HBox([front_out, tree_out])])
        box.controls = dict(source=source, path=path, tasks=tasks, use_budget=use_budget, budget=budget, k=k)
        box.outputs = dict(table=table_out, front=front_out, tree=tree_out, status=status)
        box.canvas = canvas
        return box


def _height(T: int) -> float:
    """The figures' height in inches for ``T`` tasks (the tree needs a row per task)."""
    return max(FIGSIZE[1], 0.3 * T + 1.5)


class _FrontPanel:
    """The score-against-cost panel. Its artists are made once per table and task subset (``key``); a change of
    the budget or of k only moves the budget line and the chosen layout's star (``set_data``) and relabels."""

    def __init__(self, ax):
        self.ax, self.key = ax, None

    def _build(self, view: WhatIfView, key) -> None:
        ax = self.ax
        ax.clear()
        self.key, self.all = key, None
        if view.points is not None:  # one Line2D of pixel markers draws thousands of points fast
            (self.all,) = ax.plot(view.points.backbones, view.points.score, ls="none", marker=".", ms=2,
                                  color="0.7", label=f"all {len(view.points):,} layouts")
        (self.step,) = ax.plot([], [], drawstyle="steps-post", color="C3", lw=1.3)
        (self.front,) = ax.plot([], [], ls="none", marker="o", ms=4.7, color="C3", zorder=3,
                                label="Pareto front" if view.exhaustive else "best layouts of the budgets tried so far")
        self.budget = ax.axvline(1.0, color="C0", ls="--", lw=1.2)
        (self.star,) = ax.plot([], [], ls="none", marker="*", ms=16, color="C1", mec="k", zorder=5)
        ax.set(xlabel="cost (number of backbone models, MACs)", ylabel="estimated score (%)")

    def show(self, view: WhatIfView, costs_name: str, key) -> None:
        """Draw ``view`` (building the fixed artists when ``key`` differs from the last one)."""
        if key != self.key or (self.all is None) != (view.points is None):
            self._build(view, key)
        ax = self.ax
        self.step.set_data(view.front.backbones, view.front.score)
        self.front.set_data(view.front.backbones, view.front.score)
        self.budget.set_visible(view.budget is not None)
        if view.budget is not None:
            self.budget.set_xdata([view.budget, view.budget])
            self.budget.set_label(f"budget {view.budget:g} models")
        chosen = view.chosen
        self.star.set_visible(chosen is not None)
        if chosen is not None:
            row = view.top.iloc[0]
            self.star.set_data([row.backbones], [row.score])
            self.star.set_label(f"chosen: {chosen}")
        handles = [h for h in (self.all, self.front, self.budget, self.star) if h is not None and h.get_visible()]
        ax.legend(handles=handles, loc="lower right", fontsize=8)
        ax.set_title(f"{len(view.tasks)} tasks, {costs_name}: score vs cost")
        if view.points is None:  # the front of the search grows with the budgets tried
            ax.relim(visible_only=True)
            ax.autoscale_view()


class _WidgetCanvas:
    """The widget's two figures, redrawn in place.

    * The front panel (a :class:`_FrontPanel`): when the front is exact, everything but the budget line, the star
      and the legend is rendered once per task subset and kept as a background; a change of the budget or of k
      restores it and draws those three artists only (blitting). The search's growing front is redrawn in full.
    * The tree: drawn only when the chosen layout changes; its PNG is kept per table, tasks, layout and title.
    """

    def __init__(self, explorer: WhatIf):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.explorer = explorer
        width = FIGSIZE[0] / 2.25
        self.front_fig = Figure(figsize=(width, FIGSIZE[1]), dpi=DPI)
        FigureCanvasAgg(self.front_fig)
        self.front_fig.subplots_adjust(left=0.14, right=0.98, bottom=0.13, top=0.9)  # fixed: no layout pass
        self.panel = _FrontPanel(self.front_fig.add_subplot())
        self.tree_fig = Figure(figsize=(FIGSIZE[0] - width, FIGSIZE[1]), dpi=DPI)
        self._background = None  # (panel key, figure height, pixels without the moving artists)
        self._trees: dict = {}

    def front_png(self, view: WhatIfView) -> bytes:
        fig, panel = self.front_fig, self.panel
        height = _height(len(view.tasks))
        if fig.get_size_inches()[1] != height:
            fig.set_size_inches(fig.get_size_inches()[0], height)
        panel.show(view, self.explorer.costs.name, self.explorer._front_key())
        moving = [panel.budget, panel.star, panel.ax.get_legend()]
        if not view.exhaustive:
            self._background = None
            return _png(fig)
        state = (panel.key, height, id(panel.all))
        canvas = fig.canvas
        if self._background is None or self._background[0] != state:
            for artist in moving:
                artist.set_animated(True)
            canvas.draw()  # everything that is not animated
            self._background = (state, canvas.copy_from_bbox(fig.bbox))
        canvas.restore_region(self._background[1])
        for artist in moving:
            artist.set_animated(True)  # a new legend each change
            if artist.get_visible():
                panel.ax.draw_artist(artist)
        return _rgba_png(canvas)

    def tree_png(self, view: WhatIfView) -> bytes:
        key = (*self.explorer._front_key(), str(view.chosen), view.budget is None)
        if key not in self._trees:
            if len(self._trees) > 256:
                self._trees.clear()
            self.tree_fig.clf()
            self.tree_fig.set_size_inches(self.tree_fig.get_size_inches()[0], _height(len(view.tasks)))
            ax = self.tree_fig.add_axes((0.01, 0.02, 0.98, 0.88))
            self.explorer._draw_tree(ax, view)
            self._trees[key] = _png(self.tree_fig)
        return self._trees[key]


def _rgba_png(canvas) -> bytes:
    """The pixels of an Agg canvas as PNG bytes (no new drawing pass)."""
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buffer, format="png")
    return buffer.getvalue()


def _png(fig) -> bytes:
    """The figure as PNG bytes at :data:`DPI` (what the widget shows)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def explore(table="taskonomy/resnet34", block_costs=None, *, tasks=None, budget=None, k=5,
            static: bool | None = None) -> WhatIf:
    """Show the what-if explorer: widgets in a live notebook, a printed table and a figure when static.

    Args:
        table, block_costs, tasks, budget, k: the starting choices (see :class:`WhatIf`).
        static: render without widgets; default True when ``$MTLKIT_STATIC`` is ``"1"`` (set by ``make run`` for
            the notebooks it executes with papermill) or ipywidgets is not installed.

    Returns:
        The :class:`WhatIf` (its ``view`` holds the current answer).
    """
    from IPython.display import display

    explorer = WhatIf(table, block_costs, tasks=tasks, budget=budget, k=k)
    if static is None:
        try:
            import ipywidgets  # noqa: F401
            static = os.environ.get("MTLKIT_STATIC") == "1"
        except ImportError:
            static = True
    if static:
        import matplotlib.pyplot as plt

        display(explorer.table_frame())
        fig = explorer.figure()
        display(fig)
        plt.close(fig)
    else:
        display(explorer.widget())
    return explorer
