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
    def figure(self, view: WhatIfView | None = None, fig=None):
        """Draw the Pareto front with the budget and the chosen layout, and the chosen layout's tree.

        Args:
            view: an answer (default: the current one).
            fig: a figure to draw into (cleared; the widget reuses one), else a new one.

        Returns:
            The matplotlib Figure.
        """
        import matplotlib.pyplot as plt

        view = view or self.view
        T = len(view.tasks)
        if fig is None:
            fig = plt.figure(figsize=FIGSIZE)
        fig.clf()
        fig.set_size_inches(FIGSIZE[0], max(FIGSIZE[1], 0.3 * T + 1.5))
        front_ax, tree_ax = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[1, 1.25]))
        fig.subplots_adjust(left=0.06, right=0.99, bottom=0.13, top=0.9, wspace=0.08)  # fixed: no layout pass
        if view.points is not None:  # one Line2D of pixel markers draws thousands of points fast
            front_ax.plot(view.points.backbones, view.points.score, ls="none", marker=".", ms=2, color="0.7",
                          label=f"all {len(view.points):,} layouts")
        front_ax.step(view.front.backbones, view.front.score, where="post", color="C3", lw=1.3)
        front_ax.scatter(view.front.backbones, view.front.score, s=22, color="C3", zorder=3,
                         label="Pareto front" if view.exhaustive else "best layouts of the budgets tried so far")
        if view.budget is not None:
            front_ax.axvline(view.budget, color="C0", ls="--", lw=1.2, label=f"budget {view.budget:g} models")
        chosen = view.chosen
        if chosen is not None:
            row = view.top.iloc[0]
            front_ax.scatter([row.backbones], [row.score], marker="*", s=260, color="C1", edgecolor="k", zorder=5,
                             label=f"chosen: {chosen}")
        front_ax.set(xlabel="cost (number of backbone models, MACs)", ylabel="estimated score (%)",
                     title=f"{len(view.tasks)} tasks, {self.costs.name}: score vs cost")
        front_ax.legend(loc="lower right", fontsize=8)
        if chosen is not None:
            from mtlkit.viz.notebooks import short_task_names

            width = None if T <= 8 else 18
            chosen.draw(ax=tree_ax, task_names=short_task_names(view.tasks), label_width=width,
                        font_size=8 if T <= 12 else 6,
                        title=f"chosen layout (top-1{'' if view.budget is None else f' within {view.budget:g}'}"
                              f" models): {chosen}")
        else:
            tree_ax.axis("off")
            tree_ax.text(0.5, 0.5, "no layout fits this budget", ha="center", va="center")
        return fig

    # ---------------------------------------------------------------------------------------------- the widget
    def widget(self):
        """The ipywidgets controls and outputs (a ``VBox``); each change redraws the table and the figure."""
        import ipywidgets as w
        import matplotlib.pyplot as plt
        from IPython.display import display

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
        status = w.HTML()
        table_out, fig_out = w.Output(), w.Output()
        with plt.ioff():
            fig = plt.figure(figsize=(15, 5))

        def render(view):
            with table_out:
                table_out.clear_output(wait=True)
                display(self.table_frame(view))
            with fig_out:
                fig_out.clear_output(wait=True)
                display(_png(self.figure(view, fig=fig)))
            status.value = (f"<code>{len(view.tasks)} tasks · {len(view.top)} layouts shown · "
                            f"updated in {view.seconds * 1000:.0f} ms</code>")

        def changed(change=None):
            try:
                if change is not None and change["owner"] in (source, path):
                    table = path.value if source.value == "CSV file" else source.value
                    if not table:
                        return
                    view = self.update(table=table)
                    tasks.options = list(self.table.task_names)
                    tasks.value = self.tasks
                    budget.max = float(self.table.T)
                else:
                    view = self.update(tasks=list(tasks.value), budget=budget.value if use_budget.value else None,
                                       k=k.value)
                render(view)
            except (ConfigError, ValueError, KeyError, FileNotFoundError) as exc:
                status.value = f"<b style='color:#b00'>{exc}</b>"

        for control in (source, path, tasks, use_budget, budget, k):
            control.observe(changed, names="value")
        render(self.view)
        controls = w.HBox([w.VBox([source, path, use_budget, budget, k]), tasks])
        box = w.VBox([controls, status, table_out, fig_out])
        box.controls = dict(source=source, path=path, tasks=tasks, use_budget=use_budget, budget=budget, k=k)
        box.outputs = dict(table=table_out, figure=fig_out, status=status)
        return box


def _png(fig):
    """The figure as an IPython PNG image at :data:`DPI` (what the widget shows)."""
    import io

    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return Image(buffer.getvalue())


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
