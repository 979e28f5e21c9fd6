"""Command line: ``python -m mtlkit <command> ...`` (also installed as ``mtlkit``).

Commands are implemented in the modules listed in ``COMMANDS``; each provides ``add_arguments(parser)`` and
``main(args) -> int``. They are imported only when used, so ``--help`` stays fast. Every command reports bad input
as ``error: <argument>: <what was expected>, got <what>`` with exit status 2 and no traceback (``--debug`` shows
it; :mod:`mtlkit.cli_args`).
"""
from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "run": ("mtlkit.runner", "run the notebooks and reproductions at a scale (the main job)"),
    "publish": ("mtlkit.publish", "copy a finished cpu run's figures, results and REPORT.md to the committed folders"),
    "book": ("mtlkit.book", "build the course as a static HTML site from make run's executed notebooks"),
    "report": ("mtlkit.report", "regenerate reproductions/REPORT.md from the results CSVs"),
    "recommend": ("mtlkit.treemtl.cli", "TreeMTL: recommend the top-k layouts from a two-task table"),
    "grid": ("mtlkit.treemtl.grid_cli", "TreeMTL: train (a shard of) the two-task grid"),
    "export": ("mtlkit.export", "export a finished run's model to ONNX or torch.export (.pt2), checked against eager"),
    "dryrun": ("mtlkit.dryrun", "run every reproduction's paper path for 2 iterations on fabricated data (CPU)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from mtlkit.cli_args import Parser, join_negative_values, run_command

    parser = Parser(prog="python -m mtlkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    name = argv[0]
    if name not in COMMANDS:
        parser.exit(2, f"error: COMMAND: expected one of {', '.join(map(repr, COMMANDS))}, got unknown command "
                       f"{name!r}\n")
    module = importlib.import_module(COMMANDS[name][0])
    cmd_parser = Parser(prog=f"python -m mtlkit {name}", description=COMMANDS[name][1])
    module.add_arguments(cmd_parser)
    cmd_parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    args = cmd_parser.parse_args(join_negative_values(cmd_parser, argv[1:]))
    return run_command(module.main, args, debug=args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
