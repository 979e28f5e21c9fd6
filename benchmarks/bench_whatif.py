"""Redraw time of the what-if explorer's widget per change (mtlkit.viz.whatif), against a full redraw.

The widget of ``WhatIf("taskonomy/resnet34")`` is driven as a user would, by setting its controls' values; each
change runs the explorer's update and redraws the table, the front panel and the tree (the PNGs the widget shows).
Timed per change, from setting the value to the widget holding the new images:

* ``budget``: ``--changes`` budget values (the ranking of the task subset is cached, the front is blitted);
* ``k``: k from 1 to 20 and back;
* ``budget on/off``: the budget checkbox toggled;
* ``tasks (first)``: a new task subset, ranked for the first time (every layout of the subset is scored);
* ``tasks (again)``: the same subsets once more (rankings cached, the front panel rebuilt);
* ``full redraw``: for comparison, what one change costs without reuse — ``WhatIf.figure`` (a new pair of axes,
  every artist drawn) and its PNG at the widget's resolution, for the same budget values.

Run from the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_whatif.py [--changes 24]

It prints the median, 90th percentile and maximum per kind of change; the target is a median under 0.3 s.
Nothing is written. Timings depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import statistics
import time

import matplotlib

matplotlib.use("Agg")

from mtlkit.viz.whatif import WhatIf, _png  # noqa: E402


def _time(set_value, values) -> list[float]:
    times = []
    for value in values:
        with contextlib.redirect_stdout(io.StringIO()):
            start = time.perf_counter()
            set_value(value)
            times.append(time.perf_counter() - start)
    return times


def _row(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return (f"{name:16s} {len(times):4d}  {1000 * statistics.median(times):8.1f}  {1000 * p90:8.1f}  "
            f"{1000 * max(times):8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=24, help="budget values timed (at least 20)")
    args = parser.parse_args()
    if args.changes < 20:
        parser.error(f"--changes must be at least 20 (a median over 20 changes), got {args.changes}")
    explorer = WhatIf("taskonomy/resnet34", budget=2, k=5)
    box = explorer.widget()
    c = box.controls
    T = explorer.table.T
    budgets = [round(1.05 + (T - 1.1) * ((7 * i) % args.changes) / args.changes, 2) for i in range(args.changes)]
    results = {"budget": _time(lambda v: setattr(c["budget"], "value", v), budgets)}
    results["k"] = _time(lambda v: setattr(c["k"], "value", v), [*range(1, 21), *range(19, 0, -1)])
    results["budget on/off"] = _time(lambda v: setattr(c["use_budget"], "value", v), [False, True] * 10)
    names = list(explorer.table.task_names)
    subsets = [s for r in (2, 3, 4) for s in itertools.combinations(names, r)][:20]
    results["tasks (first)"] = _time(lambda v: setattr(c["tasks"], "value", v), subsets)
    results["tasks (again)"] = _time(lambda v: setattr(c["tasks"], "value", v), subsets)
    c["tasks"].value = tuple(names)

    def full(budget):
        _png(explorer.figure(explorer.update(budget=budget), fig=fig))

    import matplotlib.pyplot as plt

    fig = plt.figure()
    results["full redraw"] = _time(full, budgets)
    plt.close(fig)
    print(f"what-if explorer, {explorer.source}: {len(explorer.view.points):,} layouts, PNGs at the widget's DPI")
    print(f"{'change':16s} {'n':>4s}  {'median':>8s}  {'p90':>8s}  {'max':>8s}   (ms)")
    for name, times in results.items():
        print(_row(name, times))
    verdict = "under" if statistics.median(results["budget"]) < 0.3 else "NOT under"
    print(f"budget changes: median {verdict} 0.3 s")


if __name__ == "__main__":
    main()
