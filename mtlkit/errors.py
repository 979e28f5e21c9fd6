"""Error types. Every message names the argument, what was expected and what was given."""
from __future__ import annotations

from typing import Iterable


class MtlkitError(Exception):
    """Base class of mtlkit's own errors."""


class ConfigError(MtlkitError, ValueError):
    """A bad argument or configuration value."""


class DataError(MtlkitError, ValueError):
    """A dataset on disk is missing or malformed."""


class TrainingDiverged(MtlkitError, RuntimeError):
    """A loss became NaN or infinite."""


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> ConfigError:
    """Build the standard 'unknown X' error listing the valid choices."""
    choices = ", ".join(sorted(map(str, valid)))
    return ConfigError(f"unknown {kind} {name!r}; valid {kind}s are: {choices}")
