"""One error style for every command line of mtlkit: ``error: <argument>: <what was expected>, got <what>``, exit 2.

* :class:`Parser` — an ``argparse.ArgumentParser`` whose own errors (unknown option, missing value, bad choice) are
  printed in that style with exit status 2, never as a traceback;
* validators for ``type=``: :func:`int_arg`, :func:`float_arg`, :func:`names_arg` (their messages name the option,
  what was expected and what was given; ``-1``, ``inf`` and ``nan`` reach them, see :func:`join_negative_values`);
* :func:`run_command` — calls a command's ``main(args)`` and turns mtlkit's errors (and ``ValueError``, ``KeyError``,
  ``FileNotFoundError``) into ``error: ...`` on stderr with exit 2; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from typing import Callable

from mtlkit.errors import ConfigError, MtlkitError

__all__ = ["CliError", "Parser", "int_arg", "float_arg", "names_arg", "join_negative_values", "run_command",
           "EXIT_USAGE"]

#: exit status of every bad-input error
EXIT_USAGE = 2


class CliError(ConfigError):
    """A bad command-line value: ``<argument>: <expected>, got <given>``."""

    def __init__(self, argument: str, expected: str, got: object):
        self.argument = argument
        super().__init__(f"{argument}: {expected}, got {got!r}")


# ------------------------------------------------------------------------------------------------------ parser
_ARGPARSE = [  # argparse's messages -> the common style
    (re.compile(r"^argument (?P<arg>[^:]+): invalid (?P<kind>\w+) value: (?P<got>.*)$"),
     lambda m: f"{_first(m['arg'])}: expected {_kind(m['kind'])}, got {m['got']}"),
    (re.compile(r"^argument (?P<arg>[^:]+): invalid choice: (?P<got>'[^']*') \(choose from (?P<ok>.*)\)$"),
     lambda m: f"{_first(m['arg'])}: expected one of {m['ok']}, got {m['got']}"),
    (re.compile(r"^argument (?P<arg>[^:]+): expected (?P<what>(one|at least one|\d+) arguments?)$"),
     lambda m: f"{_first(m['arg'])}: expected {m['what']}, got none"),
    (re.compile(r"^argument (?P<arg>[^:]+): (?P<msg>.*)$"), lambda m: f"{_first(m['arg'])}: {m['msg']}"),
    (re.compile(r"^the following arguments are required: (?P<arg>.*)$"),
     lambda m: f"{m['arg']}: expected a value (required), got none"),
    (re.compile(r"^unrecognized arguments: (?P<got>.*)$"),
     lambda m: f"{m['got'].split()[0]}: expected an option of this command (see --help), got {m['got']!r}"),
]


def _first(arg: str) -> str:
    return arg.split("/")[-1]   # "-k/--k" -> "--k"


def _kind(kind: str) -> str:
    return {"int": "an integer", "float": "a number"}.get(kind, f"a {kind}")


def style(message: str) -> str:
    """An argparse message in the common style (other messages unchanged)."""
    for pattern, fmt in _ARGPARSE:
        m = pattern.match(message)
        if m:
            return fmt(m)
    return message


class Parser(argparse.ArgumentParser):
    """``ArgumentParser`` that reports usage errors as ``error: <argument>: <expected>, got <what>`` (exit 2)."""

    def error(self, message: str):   # noqa: D102 (argparse API)
        self.exit(EXIT_USAGE, f"error: {style(message)}\n(see {self.prog} --help)\n")


# ------------------------------------------------------------------------------------------------------ validators
def _bad(expected: str, text: str) -> argparse.ArgumentTypeError:
    # argparse prefixes "argument --opt: "; Parser.error turns that into "--opt: expected ..., got '...'"
    return argparse.ArgumentTypeError(f"{expected}, got {text!r}")


def int_arg(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """``type=`` for an integer option in ``low..high`` (inclusive; None = unbounded)."""
    if low is not None:
        rng = f" >= {low}" if high is None else f" in {low}..{high}"
    else:
        rng = f" <= {high}" if high is not None else ""

    def parse(text: str) -> int:
        try:
            v = int(text.strip())
        except ValueError:
            raise _bad(f"expected an integer{rng}", text) from None
        if (low is not None and v < low) or (high is not None and v > high):
            raise _bad(f"expected an integer{rng}", text)
        return v

    parse.__name__ = "int"
    return parse


def float_arg(low: float | None = None, *, strict: bool = False) -> Callable[[str], float]:
    """``type=`` for a finite number option (``>= low``, or ``> low`` with ``strict``); ``inf``/``nan`` refused."""
    rng = "" if low is None else f" {'>' if strict else '>='} {low:g}"

    def parse(text: str) -> float:
        try:
            v = float(text.strip())
        except ValueError:
            raise _bad(f"expected a finite number{rng}", text) from None
        if not math.isfinite(v) or (low is not None and (v < low or (strict and v == low))):
            raise _bad(f"expected a finite number{rng}", text)
        return v

    parse.__name__ = "float"
    return parse


def names_arg(min_count: int = 1) -> Callable[[str], tuple[str, ...]]:
    """``type=`` for a comma-separated list of non-empty names (an empty item such as ``a,,b`` is an error)."""

    def parse(text: str) -> tuple[str, ...]:
        items = [x.strip() for x in text.split(",")]
        if any(not x for x in items) or len(items) < min_count:
            raise _bad(f"expected at least {min_count} comma-separated non-empty names", text)
        return tuple(items)

    parse.__name__ = "names"
    return parse


def join_negative_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Write ``--opt -x`` as ``--opt=-x`` for options that take one value, so ``-1``, ``-inf``, ``-1e3`` reach the
    option's validator instead of being taken for an option."""
    one_value = {s for a in parser._actions if a.option_strings and a.nargs is None and a.const is None
                 and not isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction))
                 for s in a.option_strings}
    known = {s for a in parser._actions for s in a.option_strings}
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if (tok in one_value and i + 1 < len(argv) and argv[i + 1].startswith("-") and argv[i + 1] not in known
                and argv[i + 1] != "--"):
            out.append(f"{tok}={argv[i + 1]}")
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


# ------------------------------------------------------------------------------------------------------ running
def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def run_command(main: Callable[[argparse.Namespace], int], args: argparse.Namespace, *, debug: bool = False) -> int:
    """Run a command's ``main``; bad input -> ``error: ...`` on stderr and exit status 2 (``debug``: re-raise)."""
    try:
        return int(main(args) or 0)
    except (MtlkitError, ValueError, KeyError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        if debug:
            raise
        print(f"error: {_message(exc)}", file=sys.stderr)
        print("(run with --debug for the traceback)", file=sys.stderr)
        return EXIT_USAGE
