"""The import graph points downward: core < method packages < experiment layer; sizes of the modules.

* **core** — data, tasks, metrics, Δt, backbones, heads, models, training, tracing, the run cache, facts, utilities;
* **method packages** — :mod:`mtlkit.automtl` and :mod:`mtlkit.treemtl`: they import the core and themselves only;
* **experiment layer** — everything else (setups, recipes, methods, tables, comparison, paper values, report).

Imports are read from the source (every ``import`` statement, also those inside functions; not those under
``if TYPE_CHECKING:``, which never run).
"""
from __future__ import annotations

import ast
import subprocess
import sys

import networkx as nx
import pytest

from mtlkit.paths import package_dir

CORE = ("mtlkit.errors", "mtlkit.checks", "mtlkit.files", "mtlkit.paths", "mtlkit.facts", "mtlkit.config",
        "mtlkit.flops", "mtlkit.tasks", "mtlkit.metrics", "mtlkit.delta", "mtlkit.backbones", "mtlkit.heads",
        "mtlkit.models", "mtlkit.tracing", "mtlkit.cache", "mtlkit.viz", "mtlkit.data", "mtlkit.train",
        "mtlkit.setups", "mtlkit.integrity", "mtlkit.cli_args", "mtlkit.convergence", "mtlkit.stats",
        "mtlkit.constant", "mtlkit.executors", "mtlkit.lazy")
#: Notebook helpers inside ``mtlkit.viz`` that draw the methods' results (the experiment layer's, not the core's).
VIZ_OF_METHODS = ("mtlkit.viz.notebooks", "mtlkit.viz.whatif", "mtlkit.viz.layouts", "mtlkit.viz.own_tasks")
METHODS = ("mtlkit.automtl", "mtlkit.treemtl")
#: The modules that may read the papers' values or write results.
READS_PAPER = ("mtlkit.paper", "mtlkit.picks", "mtlkit.recipes", "mtlkit.report", "mtlkit.reproduce_treemtl", "mtlkit.reproduce_automtl", "mtlkit.reproduce_search_cost",
               "mtlkit.compute",
               "mtlkit.tables", "mtlkit.runner", "mtlkit.__main__", "mtlkit.picks_viz", "mtlkit.dryrun")


def _in(module: str, group) -> bool:
    return any(module == g or module.startswith(g + ".") for g in group)


def _modules() -> dict[str, set[str]]:
    root = package_dir()
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = ["mtlkit", *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        deps = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                       for stmt in block.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue  # annotations only, never imported at run time
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.split(".")[0] == "mtlkit"}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "mtlkit":
                deps.add(node.module)
        out[name] = deps - {name}
    return out


MODULES = _modules()


def test_the_core_imports_only_the_core():
    bad = {m: sorted(d for d in deps if not _in(d, CORE) and d != "mtlkit")
           for m, deps in MODULES.items() if _in(m, CORE) and not _in(m, VIZ_OF_METHODS)}
    assert not {m: d for m, d in bad.items() if d}


def test_no_method_package_imports_another_or_the_experiment_layer():
    for package in METHODS:
        for m, deps in MODULES.items():
            if _in(m, (package,)):
                bad = sorted(d for d in deps if not (_in(d, CORE) or _in(d, (package,))))
                assert not bad, f"{m} imports {bad}"


def test_nothing_below_reads_the_paper_or_the_report():
    for m, deps in MODULES.items():
        if not _in(m, READS_PAPER):
            assert not {"mtlkit.paper", "mtlkit.report"} & deps, f"{m} imports {deps & {'mtlkit.paper', 'mtlkit.report'}}"


def test_no_import_cycle_between_modules():
    """Besides a package's ``__init__`` (which re-exports its modules), no module reaches itself through imports;
    the one kept back-edge is :class:`~mtlkit.automtl.SuperModel`'s convenience methods ``derive``/
    ``count_params``, which import their implementations lazily."""
    graph = nx.DiGraph()
    for m, deps in MODULES.items():
        for d in deps:
            if d in MODULES and not (d == m.rsplit(".", 1)[0]) and d not in ("mtlkit.automtl", "mtlkit.treemtl",
                                                                            "mtlkit.data", "mtlkit.train"):
                graph.add_edge(m, d)
    allowed = {("mtlkit.automtl.supermodel", "mtlkit.automtl.derive"),
               ("mtlkit.automtl.supermodel", "mtlkit.automtl.accounting"),
               # TwoTaskGrid's executor methods import the worker lazily; the worker opens the grid it runs
               ("mtlkit.treemtl.grid", "mtlkit.treemtl.grid_worker")}
    graph.remove_edges_from(allowed)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, cycles[:5]


def test_module_sizes():
    root = package_dir()
    sizes = {p.relative_to(root).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in root.rglob("*.py")}
    assert max(sizes.values()) <= 800, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    assert sizes["paper.py"] <= 300
    assert all(n <= 500 for p, n in sizes.items() if p.startswith("train/")), sizes


@pytest.mark.parametrize("module", ["mtlkit.paper", "mtlkit.picks", "mtlkit.facts", "mtlkit.paths"])
def test_torch_free_modules(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
