"""``python -m mtlkit grid``: the command line of the two-task grid (:mod:`mtlkit.treemtl.grid`).

Options build an :class:`~mtlkit.treemtl.experiment.ExperimentSpec` (recorded in ``DIR/grid.json``; a later run of
the same folder reads it), then the grid trains here or on an executor (:mod:`mtlkit.executors`), ``--status``
prints every entry's state, ``--restart`` trains entries afresh. Errors are printed in the kit's one CLI style
(:mod:`mtlkit.cli_args`).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mtlkit.cli_args import int_arg, run_command
from mtlkit.errors import ConfigError
from mtlkit.treemtl.experiment import DATASETS, ExperimentSpec
from mtlkit.treemtl.grid import SPEC_NAME, TwoTaskGrid

# ---------------------------------------------------------------------------------------------------- CLI
def _kv(text: str) -> dict[str, Any]:
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise ConfigError(f"expected key=value pairs separated by commas, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def _names(text: str, option: str) -> tuple[str, ...]:
    items = tuple(t.strip() for t in text.split(","))
    if not all(items):
        raise ConfigError(f"{option}: expected comma-separated non-empty task names, got {text!r}")
    return items


def _blocks_arg(text: str) -> Any:
    text = text.strip()
    if text.lower() == "detected":
        return None
    if text.isdigit():
        return int(text)
    try:   # "0:0;1:1,2,3;2:4-7"
        mapping = {}
        for part in filter(None, text.split(";")):
            key, vals = part.split(":")
            idx: list[int] = []
            for v in vals.split(","):
                if "-" in v:
                    lo, hi = v.split("-")
                    idx += list(range(int(lo), int(hi) + 1))
                else:
                    idx.append(int(v))
            mapping[int(key)] = idx
        return mapping
    except ValueError:
        raise ConfigError(f"--blocks must be a number of coarse blocks, 'detected' or a mapping such as "
                          f"'0:0;1:1-3;2:4-7', got {text!r}") from None


#: spec field -> (parser of its option ``--field-name``, help): the one list of the experiment's options
_SPEC_ARGS = {
    "tasks": (lambda s: _names(s, "--tasks"), "comma-separated task names in index order, e.g. "
                                              "segment_semantic,depth_zbuffer,normal (required for a new grid)"),
    "backbone": (str, "registered backbone (default tiny_resnet)"),
    "backbone_kw": (_kv, "backbone options as key=value,... (e.g. width=8)"),
    "blocks": (_blocks_arg, "coarse blocks: a number B (FLOP-balanced), 'detected' (all detected blocks) or a "
                            "mapping '0:0;1:1-3;2:4-7;...' (default: detected)"),
    "head": (str, "head name: light, aspp or linear (default light)"),
    "head_kw": (_kv, "head options as key=value,... (e.g. width=16)"),
    "dataset": (str, "dataset (default synthscenes)"),
    "data_root": (str, "folder holding NYUv2/ or Taskonomy/ (real datasets)"),
    "resolution": (int, "SynthScenes image size (default 64)"),
    "n_train": (int, "SynthScenes training images (default 512)"),
    "n_test": (int, "SynthScenes test images (default 128)"),
    "batch_size": (int, "training batch size (default 16)"),
    "iterations": (int, "optimiser steps per model (default 300)"),
    "lr": (float, "Adam learning rate (default 1e-3)"),
    "lr_step": (int, "StepLR step in iterations (default: constant lr)"),
    "lr_gamma": (float, "StepLR factor (default 0.5)"),
    "weight_decay": (float, "weight decay (default 1e-4)"),
    "eval_every": (int, "evaluate every N iterations (default iterations // 10)"),
    "eval_last": (int, "metrics = mean of the last N evaluations (default 3)"),
    "seed": (int, "initialisation and data-order seed (default 0)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m mtlkit grid``."""
    parser.description = ("Train (a shard of) the TreeMTL two-task grid: every task pair at every branching point, "
                          "resumable (finished entries are skipped, partial ones resume from their checkpoint); "
                          "writes DIR/two_task_table.csv in the published format once every entry is done. Entry k "
                          "(pair-major, then branching point) belongs to shard k mod n. Experiment options are "
                          "recorded in DIR/grid.json on the first run; later runs may omit them (given ones must "
                          "match).")
    parser.add_argument("directory", help="grid directory (created; holds grid.json, entries/, the table)")
    g = parser.add_argument_group("experiment (recorded in grid.json; defaults in mtlkit.treemtl.ExperimentSpec)")
    for field, (parse, text) in _SPEC_ARGS.items():
        kw = {"type": parse} if parse in (int, float) else {"choices": DATASETS} if field == "dataset" else {}
        g.add_argument("--" + field.replace("_", "-"), help=text, **kw)
    r = parser.add_argument_group("running")
    r.add_argument("--shard", default=None, help="train only shard i/n (0 <= i < n), e.g. "
                                                 "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT (default: all)")
    r.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    r.add_argument("--loader-workers", type=int_arg(0), default=0, help="DataLoader worker processes per run (default 0)")
    r.add_argument("--checkpoint-every", type=int_arg(1), default=None,
                   help="checkpoint interval in iterations (default: 5 checkpoints per model)")
    r.add_argument("--merge", nargs="+", metavar="DIR", default=(),
                   help="first copy finished entries from these directories of the same grid")
    r.add_argument("--reuse", nargs="+", metavar="DIR", default=(),
                   help="first take over the finished entries of these grids, whose experiment may differ in the "
                        "task list only (add a task: only the new pairs are trained); for a new DIR the experiment "
                        "options default to the first one's")
    r.add_argument("--pairs-with", metavar="TASK[,TASK]", default=None,
                   help="train only the pairs that involve one of these tasks (names or indices)")
    r.add_argument("--restart", metavar="ENTRY[,ENTRY]", default=None,
                   help="first delete these entries (names such as 0-1_b2, or indices; see --status) so they are "
                        "trained afresh, e.g. after a corrupt checkpoint or result")
    r.add_argument("--status", action="store_true",
                   help="print every entry's state (done / running / partial / failed with the error's first line "
                        "/ pending) and exit")
    r.add_argument("--table", metavar="CSV", default=None,
                   help="write the table here too (it is always written to DIR/two_task_table.csv when complete)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    from mtlkit.executors import add_executor_arguments

    add_executor_arguments(parser)


def spec_from_args(args: argparse.Namespace, recorded: ExperimentSpec | None) -> ExperimentSpec | None:
    """The spec the options describe: the recorded one with the given options applied, or a new one.

    Raises:
        ConfigError: a bad option value; the message names the command-line option (``--eval-last: ...``).
    """
    try:
        given = {field: parse(getattr(args, field)) for field, (parse, _) in _SPEC_ARGS.items()
                 if getattr(args, field, None) is not None}
        if recorded is not None:
            d = recorded.to_dict()
            d.update(given)
            return ExperimentSpec.from_dict(d)
        if "tasks" not in given:
            return None
        return ExperimentSpec(**given)
    except ConfigError as exc:
        raise ConfigError(_option_names(str(exc))) from None


_BUILD_ERRORS = (("B (number of coarse blocks)", "--blocks"), ("bad option for head", "--head-kw"),
                 ("bad option for backbone", "--backbone-kw"), ("data_root:", "--data-root"))


def _option_names(message: str) -> str:
    """``ExperimentSpec.eval_last must ...`` -> ``--eval-last: must ...`` (the CLI user's names)."""
    for field in _SPEC_ARGS:
        for prefix in (f"ExperimentSpec.{field}: ", f"ExperimentSpec.{field} ", f"{field} must "):
            if message.startswith(prefix):
                rest = message[len(prefix):]
                return f"--{field.replace('_', '-')}: " + (f"must {rest}" if prefix.endswith("must ") else rest)
    return message


def main(args: argparse.Namespace) -> int:
    """Run ``python -m mtlkit grid``; bad input -> ``error: ...`` on stderr, exit status 2."""
    return run_command(_main, args, debug=getattr(args, "debug", False))


def _main(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    recorded = TwoTaskGrid(directory).spec if (directory / SPEC_NAME).is_file() else None
    reuse = list(getattr(args, "reuse", ()) or ())
    if recorded is None and reuse:
        spec = spec_from_args(args, TwoTaskGrid(reuse[0]).spec)     # the reused grid's options, overridden
    else:
        spec = spec_from_args(args, recorded)
    if spec is None:
        raise ConfigError(f"--tasks: expected comma-separated task names for the new grid {str(directory)!r} (it "
                          "holds no grid.json yet; give --tasks and any other experiment options), got none")
    try:
        grid = TwoTaskGrid(directory, spec)
    except (ConfigError, FileNotFoundError) as exc:
        message = str(exc.args[0] if exc.args else exc)
        for start, option in _BUILD_ERRORS:
            if message.startswith(start):
                rest = message[len(start):].lstrip() if start.endswith(":") else message
                raise type(exc)(f"{option}: {rest}") from None
        raise
    if getattr(args, "restart", None):
        names = [x.strip() for x in args.restart.split(",")]
        if not all(names):
            raise ConfigError(f"--restart: expected comma-separated entry names or indices, got {args.restart!r}")
        try:
            restarted = grid.restart(*names)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("entry: ", "--restart: ", 1)) from None
        print(f"restarted {', '.join(e.name for e in restarted)}")
    if args.merge:
        print(f"merged {grid.merge_from(args.merge)} finished entries from {', '.join(map(str, args.merge))}")
    if reuse:
        print(f"reused {grid.reuse(reuse)} finished entries from {', '.join(map(str, reuse))}")
    only = None
    if getattr(args, "pairs_with", None):
        tasks = [int(t) if t.strip().isdigit() else t.strip() for t in args.pairs_with.split(",") if t.strip()]
        only = grid.pairs_with(*tasks)
    if args.status:
        return print_status(grid)
    from mtlkit.executors import executor_from_args

    executor = executor_from_args(args, directory / "slurm_logs")
    if executor is not None:
        return _main_on_executor(grid, executor, args, only)
    grid.run(args.shard, device=args.device, progress=not args.no_progress, checkpoint_every=args.checkpoint_every,
             num_workers=args.loader_workers, pairs=only)
    return _finish(grid, args, only)


def print_status(grid: TwoTaskGrid) -> int:
    """Print :meth:`TwoTaskGrid.states` and the count per state (``grid --status``); returns 0."""
    st = grid.states()
    print(st.to_string())
    counts = st["state"].value_counts()
    print(f"{int(counts.get('done', 0))} of {len(st)} entries done; "
          + ", ".join(f"{int(counts[s])} {s}" for s in ("running", "partial", "failed", "pending") if s in counts))
    return 0


def _main_on_executor(grid: TwoTaskGrid, executor: Any, args: argparse.Namespace, only) -> int:
    """``grid ... --executor NAME``: every unfinished entry of the shard is one run on the executor."""
    todo = [e for e in grid._todo(args.shard, only) if grid.result(e) is None]
    if getattr(args, "dry_run", False):          # (executor_from_args allows it with --executor slurm only)
        print(executor.sbatch_script(len(todo)))
        print(f"# {len(todo)} array tasks, one per unfinished entry: {', '.join(e.name for e in todo)}")
        return 0
    outcomes = grid.run_on(executor, todo, device=args.device, progress=not args.no_progress,
                           checkpoint_every=args.checkpoint_every, num_workers=args.loader_workers)
    failed = [o for o in outcomes.values() if not o.ok]
    for o in failed:
        print(f"entry {o.key} failed: {o.error}")
    code = _finish(grid, args, only)
    return 1 if failed else code


def _finish(grid: TwoTaskGrid, args: argparse.Namespace, only) -> int:
    left = grid.missing()
    if left:
        scope = f"shard {args.shard or '0/1'}" + (f" (pairs with {args.pairs_with})" if only is not None else "")
        print(f"{scope} done; {len(left)} of {len(grid.entries)} entries of the grid are not finished yet (other "
              "shards or pairs); the table is written when all are")
        return 0
    path = grid.write_table()
    print(f"two-task table: {path}")
    if args.table:
        print(f"two-task table: {grid.write_table(args.table)}")
    return 0
