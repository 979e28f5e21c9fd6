"""The method slot: every architecture-design method behind one small interface, and a registry of them.

A method turns a :class:`~mtlkit.setups.Setup` into an architecture and the architecture into a model::

    class Method(Protocol):
        name: str
        def search(self, setup, budget, *, seed) -> Architecture: ...
        def build(self, setup, architecture) -> torch.nn.Module: ...

``budget`` is the largest cost in number of backbone models (TreeMTL's unit; None: no budget). An
:class:`Architecture` is a tree layout (``layout``, trained with the one tree-layout recipe of
:func:`mtlkit.compare.compare`, so that the same layout is the same cached run whichever method found it) or any
other description the method's ``build`` understands (``spec``, with ``layout=None``). A method whose
architectures are not tree layouts also trains them, with the setup's schedule::

        def train(self, setup, architecture, *, progress) -> dict: ...   # {"metrics": {task: {metric: value}}}

Built in (imported on first use): ``single_task``, ``hard_sharing``, ``random`` (:mod:`mtlkit.methods.baselines`),
``treemtl`` (:mod:`mtlkit.methods.treemtl`) and ``automtl`` (:mod:`mtlkit.methods.automtl`: its architecture is a
policy, trained by its own ``train``). A new method is one module with a class like those and one call
of :func:`register_method` (see CONTRIBUTING.md, "Adding a method"). :func:`mtlkit.compare.compare` runs every
registered method on one setup.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from mtlkit.errors import ConfigError, unknown_name

__all__ = ["Architecture", "Method", "register_method", "get_method", "list_methods", "spec_of"]


@dataclass(frozen=True)
class Architecture:
    """What a method's search found.

    Attributes:
        method: the method's registered name.
        layout: a TreeMTL layout string (e.g. ``"0-0-0|0-1-1"``), or None for an architecture that is not a tree.
        spec: method-specific description (plain values) for ``build``.
        search_cost: what the search spent, e.g. ``{"models": 6, "iterations": 12}`` (plain numbers).
    """

    method: str
    layout: str | None = None
    spec: Any = None
    search_cost: dict = field(default_factory=dict)


@runtime_checkable
class Method(Protocol):
    """The interface of a method (see the module docstring; ``train`` is needed only for architectures that are
    not tree layouts)."""

    name: str

    def search(self, setup, budget: float | None, *, seed: int) -> Architecture:
        ...

    def build(self, setup, architecture: Architecture):
        ...


_BUILTIN = {
    "single_task": "mtlkit.methods.baselines:SingleTask",
    "hard_sharing": "mtlkit.methods.baselines:HardSharing",
    "random": "mtlkit.methods.baselines:RandomLayout",
    "treemtl": "mtlkit.methods.treemtl:TreeMTL",
    "automtl": "mtlkit.methods.automtl:AutoMTL",
}
_REGISTRY: dict[str, Any] = {}


def register_method(method: Method, *, overwrite: bool = False) -> Method:
    """Register ``method`` under ``method.name`` (returns it, so it can decorate an instance's creation).

    Raises:
        ConfigError: the object lacks ``name``/``search``/``build``, or the name is taken (without ``overwrite``).
    """
    if not isinstance(method, Method) or not isinstance(getattr(method, "name", None), str) or not method.name:
        raise ConfigError(f"a method needs a non-empty str name and search(setup, budget, *, seed) and "
                          f"build(setup, architecture) methods, got {method!r}")
    if (method.name in _REGISTRY or method.name in _BUILTIN) and not overwrite:
        raise ConfigError(f"method {method.name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[method.name] = method
    return method


def list_methods() -> list[str]:
    """Registered method names, sorted."""
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def get_method(name: str) -> Method:
    """The method registered under ``name`` (built-ins are imported on first use)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name not in _BUILTIN:
        raise unknown_name("method", name, list_methods())
    module, attr = _BUILTIN[name].split(":")
    method = getattr(importlib.import_module(module), attr)()
    _REGISTRY[name] = method
    return method


def spec_of(setup):
    """The TreeMTL :class:`~mtlkit.treemtl.ExperimentSpec` that trains tree layouts of ``setup`` (same data, backbone,
    heads, blocks and schedule): the one recipe of every layout-based method."""
    from mtlkit.treemtl.experiment import ExperimentSpec

    sizes = {} if setup.facts.real else dict(resolution=setup.resolution, n_train=setup.n_train,
                                             n_test=setup.n_test)
    return ExperimentSpec(tasks=setup.tasks, backbone=setup.backbone, backbone_kw=dict(setup.backbone_kw),
                          blocks=setup.blocks, head=setup.head, head_kw=dict(setup.head_kw), dataset=setup.dataset,
                          data_root=setup.data_root, batch_size=setup.batch, iterations=setup.iterations,
                          lr=setup.lr, eval_last=1, seed=setup.seed, **sizes)
