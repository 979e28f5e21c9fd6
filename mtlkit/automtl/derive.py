"""Derived models: a discrete policy compiled into a plain, compact, tree-shared multi-task ``nn.Module``.

:func:`derive` runs the supermodel's hard-mode tree execution *symbolically* (torch.fx tracing) with the policy fixed,
so the result is an ``fx.GraphModule`` whose generated ``forward(x) -> {task: output}`` is exactly the computation
hard mode performs — each shared prefix once, then one branch per group of tasks — with no logits, no policy lookups
and no unused copies (a GraphModule keeps only the modules its graph calls). Because it is a GraphModule:

* ``print(model.code)`` shows the tree as Python;
* it can be traced again with ``torch.fx.symbolic_trace`` (heads are plain submodules; a backbone whose custom
  modules needed ``leaf_modules`` needs the same leaves again);
* ``state_dict``/``load_state_dict`` and ``torch.save`` work as for any module; parameter names are the supermodel's
  (``backbone.layer1.0.conv1.weight``, ``specific.seg.layer2-0-conv1.weight``, ``skip.depth.conv1.0.weight``,
  ``heads.seg....``), so ``supermodel.load_state_dict(derived.state_dict(), strict=False)`` copies trained
  weights back.

If the backbone's graph depends on train/eval mode (e.g. stochastic depth), both versions are derived and kept in a
``DualGraphModule`` that switches on ``.train()``/``.eval()``.
"""
from __future__ import annotations

import copy
from typing import Mapping

import torch.fx as fx
from torch import nn

from mtlkit.automtl.execution import Plan, tree_forward
from mtlkit.automtl.supermodel import SuperModel
from mtlkit.errors import ConfigError

__all__ = ["derive"]


class _DeriveTracer(fx.Tracer):
    """Traces the tree executor; heads stay opaque calls (``heads.<task>``)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if module_qualified_name.startswith("heads.") and module_qualified_name.count(".") == 1:
            return True
        return super().is_leaf_module(m, module_qualified_name)


class _DeriveRoot(nn.Module):
    """The supermodel's branch containers without the logits; its forward is the hard-mode tree execution."""

    def __init__(self, supermodel: SuperModel, plan: Plan):
        super().__init__()
        self.backbone = supermodel.backbone
        self.specific = supermodel.specific
        self.skip = supermodel.skip
        self.heads = supermodel.heads
        self._vnode_by_target = supermodel._vnode_by_target
        self._tasks = supermodel.tasks
        self._plan = plan

    def forward(self, x):
        return tree_forward(self, x, self._tasks, self._plan)


def derive(supermodel: SuperModel, policy: Mapping | None = None) -> fx.GraphModule:
    """Compile a discrete policy into a compact multi-task model.

    Args:
        supermodel: the :class:`~mtlkit.automtl.SuperModel`.
        policy: ``{node: {task: choice}}``, complete; default: ``supermodel.policy()`` (the set or argmax policy).

    Returns:
        A ``torch.fx.GraphModule`` (class name ``DerivedMultiTaskModel``) with ``forward(x) -> {task: output}`` equal
        to ``supermodel(x, mode="hard", policy=policy)``. Its parameters are copies (training it does not change
        the supermodel). Attributes ``tasks`` and ``policy`` describe it. It starts in the supermodel's train/eval
        mode.
    """
    if not isinstance(supermodel, SuperModel):
        raise ConfigError(f"derive() needs a SuperModel, got {type(supermodel).__name__}")
    chosen = supermodel.validate_policy(policy) if policy is not None else supermodel.policy()
    plan = Plan("hard", choice={supermodel.node(n).key: row for n, row in chosen.items()})
    root = _DeriveRoot(supermodel, plan)

    was_training = supermodel.training
    graphs = {}
    try:
        for mode in (True, False):
            supermodel.train(mode)  # the backbone's (Dual)GraphModule follows: train or eval graph
            tracer = _DeriveTracer()
            plan.tracer = tracer
            graphs[mode] = tracer.trace(root)
    finally:
        plan.tracer = None
        supermodel.train(was_training)

    name = "DerivedMultiTaskModel"
    if graphs[True].python_code("self").src == graphs[False].python_code("self").src:
        model = fx.GraphModule(root, graphs[True], class_name=name)
    else:
        from torchvision.models.feature_extraction import DualGraphModule

        model = DualGraphModule(root, graphs[True], graphs[False], class_name=name)
    model = copy.deepcopy(model)  # own parameters: only the modules the graph calls are copied
    model.train(was_training)
    model.tasks = supermodel.tasks
    model.policy = copy.deepcopy(chosen)
    return model
