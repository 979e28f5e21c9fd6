"""Command line: ``python -m mtlkit <command> ...`` (also installed as ``mtlkit``).

Commands are implemented in the modules listed in ``COMMANDS``; each provides ``add_arguments(parser)`` and
``main(args) -> int``. They are imported only when used, so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "run": ("mtlkit.runner", "run the notebooks and reproductions at a scale (the main job)"),
    "report": ("mtlkit.report", "regenerate reproductions/REPORT.md from the results CSVs"),
    "recommend": ("mtlkit.treemtl.cli", "TreeMTL: recommend the top-k layouts from a two-task table"),
    "grid": ("mtlkit.treemtl.grid", "TreeMTL: train (a shard of) the two-task grid"),
    "dryrun": ("mtlkit.dryrun", "run every reproduction's paper path for 2 iterations on fabricated data (CPU)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m mtlkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    name = argv[0]
    if name not in COMMANDS:
        parser.error(f"unknown command {name!r}; choose from {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[name][0])
    cmd_parser = argparse.ArgumentParser(prog=f"python -m mtlkit {name}", description=COMMANDS[name][1])
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(argv[1:])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
