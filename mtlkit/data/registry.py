"""Dataset registry: ``get_dataset(name, **kw)`` and ``list_datasets()``.

Built-in names (modules are imported only when the dataset is requested):

=============  ============================================  =========================================
name           class                                         main arguments
=============  ============================================  =========================================
synthscenes    :class:`mtlkit.data.synthetic.SynthScenes`    ``split, size, resolution, tasks, seed``
nyuv2          :class:`mtlkit.data.nyuv2.NYUv2`              ``root, split, tasks, paper_compat, ...``
cityscapes     :class:`mtlkit.data.cityscapes.CityScapes`    ``root, split, tasks, paper_compat, ...``
taskonomy      :class:`mtlkit.data.taskonomy.Taskonomy`      ``root, split, tasks, paper_compat, ...``
folder         :class:`mtlkit.data.folder.FolderDataset`     ``root, split, tasks (label readers)``
=============  ============================================  =========================================

:func:`dataset_facts` gives what is fixed about a dataset (its tasks in the papers' order, classes, input size,
folder, display label; :data:`mtlkit.facts.DATASET_FACTS`): the one place that spells them.

Example::

    from mtlkit.data import get_dataset
    train = get_dataset("nyuv2", root="~/data/nyu_v2", split="train1", tasks=("segment_semantic", "normal"))
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from mtlkit.errors import ConfigError, unknown_name
from mtlkit.facts import DATASET_FACTS, DatasetFacts

__all__ = ["register_dataset", "list_datasets", "get_dataset_class", "get_dataset", "dataset_facts", "dataset_tasks",
           "DatasetFacts"]

# name -> "module:attribute" (imported lazily) or a callable registered at run time
_REGISTRY: dict[str, str | Callable[..., Any]] = {
    "synthscenes": "mtlkit.data.synthetic:SynthScenes",
    "nyuv2": "mtlkit.data.nyuv2:NYUv2",
    "cityscapes": "mtlkit.data.cityscapes:CityScapes",
    "taskonomy": "mtlkit.data.taskonomy:Taskonomy",
    "folder": "mtlkit.data.folder:FolderDataset",
}


def _key(name: object) -> str:
    if not isinstance(name, str):
        raise ConfigError(f"dataset name must be a string; got {name!r}")
    return name.lower().replace("-", "").replace("_", "")


def register_dataset(name: str, factory: Callable[..., Any], *, overwrite: bool = False) -> None:
    """Register a dataset factory (a class or function taking keyword arguments) under ``name``.

    Args:
        name: registry name (case, ``-`` and ``_`` are ignored when looking it up).
        factory: callable returning a dataset.
        overwrite: allow replacing an existing name.
    """
    key = _key(name)
    if key in _REGISTRY and not overwrite:
        raise ConfigError(f"dataset {name!r} is already registered; pass overwrite=True to replace it")
    if not callable(factory):
        raise ConfigError(f"dataset factory for {name!r} must be callable; got {factory!r}")
    _REGISTRY[key] = factory


def list_datasets() -> list[str]:
    """Names accepted by :func:`get_dataset`, sorted.

    Returns:
        The registered dataset names.
    """
    return sorted(_REGISTRY)


def get_dataset_class(name: str) -> Callable[..., Any]:
    """The class (or factory) registered under ``name``, importing its module on first use.

    Args:
        name: a name from :func:`list_datasets` (case-insensitive).

    Returns:
        The dataset class or factory.
    """
    key = _key(name)
    if key not in _REGISTRY:
        raise unknown_name("dataset", name, _REGISTRY)
    target = _REGISTRY[key]
    if callable(target):
        return target
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def get_dataset(name: str, **kwargs: Any) -> Any:
    """Build a dataset by name.

    Args:
        name: a name from :func:`list_datasets` (case-insensitive), e.g. "nyuv2".
        **kwargs: passed to the dataset class (e.g. ``root``, ``split``, ``tasks``, ``paper_compat``).

    Returns:
        The dataset (a ``torch.utils.data.Dataset`` returning sample dicts).
    """
    return get_dataset_class(name)(**kwargs)


def dataset_facts(name: str) -> DatasetFacts:
    """The fixed facts of a built-in dataset (tasks, classes, input size, folder, label, metric set).

    Args:
        name: a built-in dataset name (case, ``-`` and ``_`` are ignored), e.g. ``"NYUv2"`` or ``"nyuv2"``.

    Returns:
        Its :class:`mtlkit.facts.DatasetFacts`.

    Raises:
        ConfigError: not a built-in dataset.
    """
    key = _key(name)
    if key not in DATASET_FACTS:
        raise unknown_name("dataset", name, DATASET_FACTS)
    return DATASET_FACTS[key]


def dataset_tasks(name: str) -> tuple[str, ...]:
    """The tasks a built-in dataset provides, in the papers' order (``dataset_facts(name).tasks``)."""
    return dataset_facts(name).tasks
