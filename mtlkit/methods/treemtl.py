"""TreeMTL in the method slot: train the two-task grid, recommend the best layout under the budget."""
from __future__ import annotations

from mtlkit.methods import Architecture, spec_of

__all__ = ["TreeMTL"]


class TreeMTL:
    """TreeMTL's search: the two-task grid of :class:`mtlkit.compare.TreeMTLStudy` (cached in the oracle study's
    folder) and :func:`mtlkit.treemtl.recommend` on its table; the FLOPs of the backbone's blocks as costs."""

    name = "treemtl"

    def __init__(self, device: str = "cpu", progress: bool = False):
        self.device, self.progress = device, progress

    def study(self, setup):
        """The :class:`~mtlkit.compare.TreeMTLStudy` of the setup (its folder is the oracle study's)."""
        from mtlkit.compare import TreeMTLStudy

        return TreeMTLStudy(spec_of(setup), device=setup.device, progress=self.progress)

    def search(self, setup, budget: float | None, *, seed: int) -> Architecture:
        """Top-1 of the recommender (``seed`` is the setup's: the grid is one deterministic search)."""
        from mtlkit.treemtl import recommend

        study = self.study(setup)
        grid = study.grid()
        costs = study.blocks.block_costs() if budget is not None else None
        top = recommend(grid.table, costs, budget=budget, k=1)
        return Architecture(self.name, layout=str(top.layout.iloc[0]),
                            search_cost={"models": grid.models, "iterations": grid.iterations})

    def build(self, setup, architecture: Architecture):
        """The :class:`~mtlkit.treemtl.TreeModel` of the recommended layout."""
        return spec_of(setup).build_model(architecture.layout, setup.tasks)
