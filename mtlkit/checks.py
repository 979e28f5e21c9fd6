"""Argument validators shared by the whole package: one definition of "an int, not a bool" and its friends.

Each check returns the value (converted to a plain Python type) or raises :class:`mtlkit.errors.ConfigError` with
a message that names the argument, what was expected and what was given.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

from mtlkit.errors import ConfigError

__all__ = ["is_int", "check_int", "check_positive_int", "check_nonnegative_int", "check_real", "check_bool"]


def is_int(value: Any) -> bool:
    """True for Python and numpy integers, False for bools (``True`` is an ``int`` in Python) and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None,
              none_ok: bool = False, wording: str | None = None) -> int | None:
    """``value`` as an ``int`` if it is an integer (not a bool) in ``[minimum, maximum]``.

    Args:
        value: the argument to check.
        name: its name, for the error message.
        minimum: smallest allowed value (None: no bound).
        maximum: largest allowed value (None: no bound).
        none_ok: also accept None (returned as is).
        wording: what the message says is expected (default: "an int >= minimum", "an int in [a, b]", ...).

    Raises:
        ConfigError: not an integer, a bool, or out of range.
    """
    if value is None and none_ok:
        return None
    if is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        return int(value)
    if wording is None:
        if minimum is not None and maximum is not None:
            wording = f"an int in [{minimum}, {maximum}]"
        elif minimum is not None:
            wording = f"an int >= {minimum}"
        elif maximum is not None:
            wording = f"an int <= {maximum}"
        else:
            wording = "an int"
    raise ConfigError(f"{name} must be {wording}{' or None' if none_ok else ''}, got {value!r}")


def check_positive_int(value: Any, name: str, *, none_ok: bool = False) -> int | None:
    """``value`` as an ``int`` >= 1 (not a bool); the message says "a positive int". See :func:`check_int`."""
    return check_int(value, name, minimum=1, none_ok=none_ok, wording="a positive int")


def check_nonnegative_int(value: Any, name: str) -> int:
    """``value`` as an ``int`` >= 0 (not a bool); the message says "a non-negative int". See :func:`check_int`."""
    return check_int(value, name, minimum=0, wording="a non-negative int")


def check_real(value: Any, name: str, *, positive: bool = False, finite: bool = True) -> float:
    """``value`` as a ``float`` if it is a real number (not a bool), finite and (optionally) > 0.

    Raises:
        ConfigError: not a real number, a bool, NaN/infinite (with ``finite``) or not > 0 (with ``positive``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    x = float(value)
    if finite and not math.isfinite(x):
        raise ConfigError(f"{name} must be finite, got {x!r}")
    if positive and not x > 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    return x


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is ``True`` or ``False``.

    Raises:
        ConfigError: anything else (including 0 and 1).
    """
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value
