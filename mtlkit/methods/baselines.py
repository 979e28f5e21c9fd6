"""The baselines of the method slot: single-task models, full hard sharing, and a random tree layout."""
from __future__ import annotations

import numpy as np

from mtlkit.methods import Architecture, spec_of

__all__ = ["SingleTask", "HardSharing", "RandomLayout"]


class _LayoutMethod:
    """A method whose architecture is a tree layout, built as :meth:`ExperimentSpec.build_model` builds it."""

    name = ""

    def layout(self, setup, budget, seed):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def search(self, setup, budget: float | None, *, seed: int) -> Architecture:
        """The layout (no training: a baseline's search is free)."""
        return Architecture(self.name, layout=str(self.layout(setup, budget, seed)), search_cost={"models": 0})

    def build(self, setup, architecture: Architecture):
        """The :class:`~mtlkit.treemtl.TreeModel` of the layout."""
        return spec_of(setup).build_model(architecture.layout, setup.tasks)


class SingleTask(_LayoutMethod):
    """One backbone per task (every block independent): the reference of Δt."""

    name = "single_task"

    def layout(self, setup, budget, seed):
        from mtlkit.treemtl.layout import Layout

        return Layout.independent(len(setup.tasks), setup.blocks)


class HardSharing(_LayoutMethod):
    """One backbone for all tasks, a head per task."""

    name = "hard_sharing"

    def layout(self, setup, budget, seed):
        from mtlkit.treemtl.enumerate import enumerate_layouts

        return enumerate_layouts(len(setup.tasks), setup.blocks)[0]  # layout #0 shares every block


class RandomLayout(_LayoutMethod):
    """A tree layout drawn uniformly (seeded) among those within the budget."""

    name = "random"

    def layout(self, setup, budget, seed):
        from mtlkit.treemtl.enumerate import enumerate_layouts

        layouts = enumerate_layouts(len(setup.tasks), setup.blocks)
        if budget is not None:
            layouts = [L for L in layouts if _backbones(L, setup.blocks) <= budget]
        return layouts[int(np.random.default_rng(seed).integers(len(layouts)))]


def _backbones(layout, B: int) -> float:
    """Cost of a layout in backbones, every block counted the same (no costs are measured for a baseline)."""
    return sum(len(layout.groups(b)) for b in range(B)) / B
