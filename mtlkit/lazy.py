"""Lazy package attributes: a package names what it offers and imports each module on first use only.

A package's ``__init__`` lists its names by module and hands the table to :func:`lazy_attributes`, which returns
the module-level ``__getattr__`` (PEP 562) and the sorted names::

    __getattr__, _NAMES = lazy_attributes(__name__, {"mtlkit.data.nyuv2": ("NYUv2",), ...})

The module names stay plain strings in the table, which is also how :mod:`mtlkit.cache` follows lazy imports.
"""
from __future__ import annotations

import importlib
from typing import Callable, Mapping, Sequence

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, table: Mapping[str, Sequence[str]]) -> tuple[Callable[[str], object], list[str]]:
    """The ``__getattr__`` of ``package`` that imports ``name`` from its module in ``table`` (``{module: names}``),
    and the sorted names."""
    where = {name: module for module, names in table.items() for name in names}

    def __getattr__(name: str):
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(where)
