"""``python -m mtlkit recommend``: the TreeMTL recommender on the command line, for quick what-if analyses.

Examples::

    python -m mtlkit recommend --published taskonomy/resnet34 --budget 3 --k 5
    python -m mtlkit recommend --table my_2task.csv --task-names seg,normal,depth --backbone resnet34 --budget 2
    python -m mtlkit recommend --table my_2task.csv --block-costs 1,3,4,6,3 --budget 2.5 --k 10 --format csv
    python -m mtlkit recommend --published taskonomy/resnet34 --drop-task edge_texture --budget 2   # what if ...
    python -m mtlkit recommend --published taskonomy/resnet34 --tasks 0,1,3 --k 3                   # ... a subset
"""
from __future__ import annotations

import argparse
import math

from mtlkit.cli_args import float_arg, int_arg, names_arg, run_command
from mtlkit.errors import ConfigError

_PAPER_INPUT = {"nyuv2": 321, "taskonomy": 224}
_BACKBONE_ALIASES = {"resnet": "resnet34", "mobilenet": "mobilenetv2"}
#: largest ``--k``: the top-k search keeps k layouts in memory
MAX_K = 10_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``recommend``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Ranking: score descending; exact ties by branch vector descending. Costs are backbone-only (heads are a\n"
        "constant); macs_pct/params_pct are the paper's FLOPs(%)/#Params(%) columns (vs T independent backbones).\n"
        "MACs = multiply-accumulates (the paper's 'FLOPs'); flops = 2 x macs.")
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
    parser.add_argument("--time-limit", type=float, metavar="S",
                        help="certified anytime search (up to 40 tasks): stop after S seconds, print the best "
                             "layouts found and the optimality gap (needed above 16 tasks)")


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


def _header_names(path: str) -> list[str] | None:
    """Task names in order of first appearance if the CSV's '(a, b)-i' columns name their tasks, else None."""
    import csv
    import re

    try:
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return None                                   # from_csv names the missing or unreadable file
    names: list[str] = []
    for col in header[1:]:
        m = re.match(r"^\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)-[01]$", col.strip())
        for tok in (m.group(1, 2) if m else ()):
            if tok not in names:
                names.append(tok)
    return names if names and not all(n.isdigit() for n in names) else None


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
        table = TwoTaskTable.from_csv(args.table, task_names=names if names is not None else _header_names(args.table))
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
        from mtlkit.latency import cli_latency_recommend

        df = cli_latency_recommend(args, table, costs, default_costs, weights)
    else:
        df = recommend(table, costs, budget=args.budget, k=args.k, weights=weights, budget_on=args.budget_on,
                       method=args.method, time_limit=args.time_limit)
    out = df.copy()
    out["layout"] = out["layout"].map(str)
    if args.format == "csv":
        return out.to_csv().rstrip("\n")
    a = df.attrs
    head = [f"two-task table: {table.source or '(in memory)'}  T={a['T']} tasks {list(table.task_names)}, "
            f"B={a['B']} branching points, {a['n_layouts']:,} layouts ({a['method']})",
            "weights: " + ", ".join(f"{k}={v:.4f}" for k, v in a["weights"].items()),
            f"budget: {'none' if args.budget is None else f'{args.budget:g} backbones ({args.budget_on})'}"
            f"{'' if args.latency_budget_ms is None else f', latency <= {args.latency_budget_ms:g} ms'}; "
            f"block costs: {a['block_costs'] or 'none'}"]
    if args.time_limit is not None:
        r = a["anytime"]
        head.append(f"anytime search ({r.method}, {r.seconds:.1f} s of {args.time_limit:g}): best score {r.best:.6f}, "
                    f"upper bound {r.upper_bound:.6f}, gap {r.gap:.6f} ({r.gap_pct:.2f}% of the score range)"
                    + ("; exact top-k" if r.exact else ""))
    for col in ("macs", "flops", "params"):
        if col in out:
            out[col] = out[col].map(lambda v: f"{v / 1e9:.3f}G" if col != "params" else f"{v / 1e6:.3f}M")
    return "\n".join(head) + "\n" + out.to_string(float_format=lambda v: f"{v:.4f}")
