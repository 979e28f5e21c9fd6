"""``python -m mtlkit recommend``: the TreeMTL recommender on the command line, for quick what-if analyses.

Examples::

    python -m mtlkit recommend --published taskonomy/resnet34 --budget 3 --k 5
    python -m mtlkit recommend --table my_2task.csv --task-names seg,normal,depth --backbone resnet34 --budget 2
    python -m mtlkit recommend --table my_2task.csv --block-costs 1,3,4,6,3 --budget 2.5 --k 10 --format csv
    python -m mtlkit recommend --published taskonomy/resnet34 --drop-task edge_texture --budget 2   # what if ...
    python -m mtlkit recommend --published taskonomy/resnet34 --tasks 0,1,3 --k 3                   # ... a subset
    python -m mtlkit recommend --table examples/my_2task.csv --backbone resnet34 --budget 3  # names from header

Layout notation (column ``layout``): :data:`LAYOUT_HELP`.
"""
from __future__ import annotations

import argparse
import math
import re
import textwrap
from pathlib import Path

from mtlkit.cli_args import float_arg, int_arg, names_arg, run_command
from mtlkit.errors import ConfigError

_PAPER_INPUT = {"nyuv2": 321, "taskonomy": 224}
_BACKBONE_ALIASES = {"resnet": "resnet34", "mobilenet": "mobilenetv2"}
#: largest ``--k``: the top-k search keeps k layouts in memory
MAX_K = 10_000
WIDTH = 100  # the default output fits this many columns (--wide: every column, full layouts)
LAYOUT_HELP = (
    "Layouts are written block by block from the input to the heads, one [...] per block (branching point): "
    "inside, the groups of tasks that share one copy of that block, tasks as their indices (0-9 as digits; "
    "with more than 10 tasks joined by '.'); 'xN' repeats a block N times. Example: [03,124]x5 = in all five "
    "blocks tasks 0 and 3 share one copy and tasks 1, 2 and 4 another (2 backbones); [01234] [034,12]x4 = one "
    "shared first block, then two branches.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``recommend``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Ranking: score descending; exact ties by branch vector descending. Costs are backbone-only (heads are a\n"
        "constant); macs_pct/params_pct are the paper's FLOPs(%)/#Params(%) columns (vs T independent backbones).\n"
        "MACs = multiply-accumulates (the paper's 'FLOPs'); flops = 2 x macs.\n\n"
        + textwrap.fill(LAYOUT_HELP, 100) + "\n\nThe default table fits 100 columns (layout, paper index, score, "
        "cost); --wide adds the\nper-task estimates, FLOPs and percentages; --format csv gives every column.")
    src = parser.add_argument_group("two-task table (one of)")
    src.add_argument("--table", metavar="FILE.csv",
                     help="two-task CSV in the published format: column 'branch' (0..B), then '(a, b)-i' columns")
    src.add_argument("--published", metavar="DATASET/BACKBONE",
                     help="one of the authors' tables: nyuv2/resnet34, nyuv2/mobilenetv2, taskonomy/resnet34, "
                          "taskonomy/mobilenetv2 (block costs default to that backbone at the paper's input size)")
    src.add_argument("--task-names", metavar="A,B,...", type=names_arg(2),
                     help="comma-separated task names in index order (also maps named '(a, b)-i' columns)")
    what = parser.add_argument_group("what-if: rank layouts for a subset of the table's tasks (at most one of)")
    what.add_argument("--tasks", metavar="A,B,...",
                      help="keep only these tasks (names or indices, at least 2); they keep the table's order and "
                           "the two-task results of their pairs, the weights are recomputed")
    what.add_argument("--drop-task", metavar="A[,B...]",
                      help="leave these tasks (names or indices) out, keep all the others")
    cost = parser.add_argument_group("block costs (one of; needed for --budget)")
    cost.add_argument("--backbone", metavar="NAME",
                      help="registered per-block costs: resnet34, mobilenetv2 (or NAME@SIZE, e.g. resnet34@321)")
    cost.add_argument("--input-size", type=int_arg(), choices=(224, 321),
                      help="input size of the registered costs (default 224, or the paper's size with --published)")
    cost.add_argument("--block-costs", metavar="M0,M1,...",
                      help="comma-separated MACs of one copy of each block (B values)")
    cost.add_argument("--block-params", metavar="P0,P1,...",
                      help="comma-separated parameters of each block (with --block-costs; enables --budget-on params)")
    parser.add_argument("--budget", type=float_arg(), metavar="N",
                        help="maximum cost in number of backbone models (>= 1; inclusive); default: no budget")
    parser.add_argument("--latency-budget-ms", type=float_arg(0, strict=True), metavar="MS",
                        help="instead of --budget: maximum estimated batch-1 CPU latency of the backbone copies, in "
                             "ms, from a per-block latency table of --backbone (measured once, then cached)")
    parser.add_argument("--budget-on", choices=("macs", "params"), default="macs",
                        help="what the budget limits: macs (the paper's FLOPs, default) or params")
    parser.add_argument("--k", type=int_arg(1, MAX_K), default=5,
                        help=f"number of layouts to print (default 5, at most {MAX_K:,})")
    parser.add_argument("--weights", default="svde", metavar="svde|uniform|W0,W1,...",
                        help="task weights: svde (the authors' SVD-entropy weights, default), uniform, or T numbers")
    parser.add_argument("--method", choices=("auto", "enumerate", "search"), default="auto",
                        help="enumerate every layout, exact search without enumeration, or auto (default)")
    parser.add_argument("--format", choices=("table", "csv"), default="table", help="output format (default table)")
    parser.add_argument("--time-limit", type=float_arg(0, strict=True), metavar="S",
                        help="certified anytime search (up to 40 tasks): stop after S seconds, print the best "
                             "layouts found and the optimality gap (needed above 16 tasks)")
    parser.add_argument("--wide", action="store_true",
                        help="table with every column (per-task estimates, FLOPs, percentages) and full layouts")


def _floats(text: str, what: str) -> list[float]:
    items = [x.strip() for x in text.split(",")]
    try:
        values = [float(x) for x in items]
    except ValueError:
        values = None
    if values is None or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{what}: expected comma-separated numbers (finite), got {text!r}")
    return values


def _task_list(text: str, what: str) -> list:
    """Comma-separated task names or indices (digits are indices)."""
    items = [x.strip() for x in text.split(",")]
    if not all(items):
        raise ConfigError(f"{what}: expected comma-separated task names or indices (none empty), got {text!r}")
    return [int(x) if x.isdigit() else x for x in items]


def main(args: argparse.Namespace) -> int:
    """Run ``recommend``; print the table; return 0, or 2 with ``error: ...`` on stderr for bad input."""
    return run_command(lambda a: print(_run(a)) or 0, args, debug=getattr(args, "debug", False))


def _run(args: argparse.Namespace) -> str:
    from mtlkit.treemtl.costs import BlockCosts, get_block_costs
    from mtlkit.treemtl.estimator import TwoTaskTable, published_table
    from mtlkit.treemtl.recommend import recommend

    names = list(args.task_names) if args.task_names else None
    if (args.table is None) == (args.published is None):
        raise ConfigError("give exactly one of --table FILE.csv or --published DATASET/BACKBONE")
    default_costs = None
    if args.table is not None:
        if names is None:
            names = task_names_from_header(args.table)
        table = TwoTaskTable.from_csv(args.table, task_names=names)
    else:
        dataset, _, backbone = args.published.partition("/")
        if not backbone:
            raise ConfigError("--published: expected DATASET/BACKBONE such as taskonomy/resnet34, "
                              f"got {args.published!r}")
        table = published_table(dataset, backbone)
        if names is not None:
            table = TwoTaskTable(table.values, tuple(names), table.source)
        default_costs = (_BACKBONE_ALIASES.get(backbone.lower(), backbone), _PAPER_INPUT.get(dataset.lower()))
    if args.tasks and args.drop_task:
        raise ConfigError("give at most one of --tasks and --drop-task")
    if args.tasks:
        table = table.subset(_task_list(args.tasks, "--tasks"))
    elif args.drop_task:
        table = table.without(*_task_list(args.drop_task, "--drop-task"))
    if args.backbone and args.block_costs:
        raise ConfigError("give at most one of --backbone and --block-costs")
    if args.block_params and not args.block_costs:
        raise ConfigError("--block-params needs --block-costs")
    costs = None
    if args.backbone:
        costs = get_block_costs(args.backbone, args.input_size)
    elif args.block_costs:
        params = _floats(args.block_params, "--block-params") if args.block_params else None
        costs = BlockCosts(tuple(_floats(args.block_costs, "--block-costs")), params and tuple(params))
    elif default_costs is not None:
        costs = get_block_costs(default_costs[0], args.input_size or default_costs[1])
    weights = args.weights if args.weights in ("svde", "uniform") else _floats(args.weights, "--weights")
    if args.latency_budget_ms is not None:
        from mtlkit.treemtl.latency import cli_latency_recommend

        df = cli_latency_recommend(args, table, costs, default_costs, weights)
    else:
        df = recommend(table, costs, budget=args.budget, k=args.k, weights=weights, budget_on=args.budget_on,
                       method=args.method, time_limit=args.time_limit)
    out = df.copy()
    out["layout"] = out["layout"].map(str)
    if args.format == "csv":
        return out.to_csv().rstrip("\n")
    return _text_table(df, out, table, args)


def task_names_from_header(path: str) -> list[str] | None:
    """Task names for a CSV given without ``--task-names``: named ``(a, b)-i`` columns, or a published table's.

    A header such as ``(seg, depth)-0`` names the tasks; their index order is the order of the pairs (``a`` before
    ``b``), i.e. tasks sorted by how often they come first. A copy of one of the authors' published files (same file
    name, numeric header) gets the published names. Otherwise ``None`` (tasks shown as ``task0``, ...).
    """
    from mtlkit.treemtl.estimator import PUBLISHED

    try:
        header = Path(path).read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None  # from_csv raises the specific error
    found = re.findall(r"\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)-[01]", header)
    members = {x for pair in found for x in pair}
    if members and not all(x.isdigit() for x in members):
        first = {x: sum(a == x for a, _ in found) for x in members}
        return sorted(members, key=lambda x: -first[x])
    for file_name, task_names in PUBLISHED.values():
        if Path(path).name == file_name:
            return list(task_names)
    return None


def _text_table(df, out, table, args) -> str:
    """The human-readable output: a header that explains the columns, then the top-k table (100 columns wide)."""
    a = df.attrs
    tasks = "  ".join(f"{i}={n}" for i, n in enumerate(table.task_names))
    weights = "  ".join(f"{i}={v:.3f}" for i, v in enumerate(a["weights"].values()))
    budget = "none" if args.budget is None else f"{args.budget:g} backbones ({args.budget_on})"
    latency = "" if args.latency_budget_ms is None else f", latency <= {args.latency_budget_ms:g} ms"
    source = table.source or "(in memory)"
    if Path(source).is_absolute() and Path(source).resolve().is_relative_to(Path.cwd().resolve()):
        source = str(Path(source).resolve().relative_to(Path.cwd().resolve()))
    head = [f"two-task table: {source}",
            f"{a['T']} tasks, {a['B']} branching points, {a['n_layouts']:,} layouts ({a['method']}); "
            f"budget: {budget}{latency}; block costs: {a['block_costs'] or 'none'}",
            f"tasks: {tasks}", f"weights ({args.weights}): {weights}",
            "layout: one [...] per block, input first: the task groups sharing it; xN = N such blocks (--help)",
            "score: weighted estimated gain over single-task models, higher is better"
            + ("; backbones: cost, 1 = one" if "backbones" in out else "")]
    if args.time_limit is not None:
        r = a["anytime"]
        head.append(f"anytime search ({r.method}, {r.seconds:.1f} s of {args.time_limit:g}): best score {r.best:.6f}, "
                    f"upper bound {r.upper_bound:.6f}, gap {r.gap:.6f} ({r.gap_pct:.2f}% of the score range)"
                    + ("; exact top-k" if r.exact else ""))
    width = None if args.wide else WIDTH
    if width:
        head = [piece for line in head for piece in textwrap.wrap(line, width, subsequent_indent="  ")]
    for col in ("macs", "flops", "params"):
        if col in out:
            out[col] = out[col].map(lambda v: f"{v / 1e9:.3f}G" if col != "params" else f"{v / 1e6:.3f}M")
    if not args.wide:
        keep = [c for c in ("layout", "paper_index", "score", "macs", "params", "latency_ms", "backbones") if c in out]
        out = out[keep].rename(columns={"paper_index": "paper#", "macs": "MACs", "params": "params"})
        others = len(out.drop(columns="layout").to_string(float_format=lambda v: f"{v:.4f}").splitlines()[0])
        room = max(12, WIDTH - others - 2)
        if out["layout"].str.len().max() > room:
            out["layout"] = out["layout"].map(lambda s: s if len(s) <= room else s[:room - 1] + "…")
            head.append("(long layouts shortened; --wide or --format csv for the full strings)")
    return "\n".join(head) + "\n" + out.to_string(float_format=lambda v: f"{v:.4f}")
