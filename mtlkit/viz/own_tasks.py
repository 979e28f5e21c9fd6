"""Helpers of notebook 08 (your own data, tasks and backbones), kept here so its cells stay short.

* :func:`compile_checks`: compile a backbone with its heads into AutoMTL's supermodel and TreeMTL's tree model and
  measure how far each is from the plain backbone + heads (they must agree to float rounding).
"""
from __future__ import annotations

from typing import Mapping

__all__ = ["compile_checks"]


def compile_checks(trunk, heads: Mapping, x, name: str, blocks: int = 3) -> dict:
    """Max |difference| of the compiled models against the plain backbone + heads (everything in eval mode).

    Three checks: the supermodel with every node shared against backbone + heads; a derived model (from a random
    mixed policy) against the supermodel's hard mode under the same policy; TreeMTL's all-shared tree model over
    ``blocks`` coarse blocks against backbone + heads.

    Args:
        trunk: the backbone (a feature map or a pooled vector out).
        heads: ``{task: head}``.
        x: a batch of inputs (its first image is the tracing example).
        name: the row's label.
        blocks: coarse blocks of the tree model.

    Returns:
        One row: the backbone's name, its feature shape, conv nodes, fine blocks and the three differences.
    """
    import torch

    from mtlkit.automtl import SuperModel
    from mtlkit.treemtl import Layout, TreeModel, branching_points, coarsen

    for module in (trunk, *heads.values()):
        module.eval()
    with torch.no_grad():
        features = trunk(x)
        ref = {t: h(features) for t, h in heads.items()}
        sm = SuperModel.from_backbone(trunk, heads, x[:1]).eval()
        shared = sm(x, policy=sm.uniform_policy("shared"))
        policy = sm.sample_policy(seed=1)  # a random mixed policy
        derived, hard = sm.derive(policy).eval()(x), sm(x, policy=policy)
        coarse = coarsen(branching_points(trunk, x[:1]), blocks)
        tree = TreeModel.from_layout(trunk, coarse, Layout.all_shared(len(heads), blocks), heads).eval()(x)

    def diff(a, b):
        return max(float((a[t] - b[t]).abs().max()) for t in heads)

    return {"backbone": name, "features": tuple(features.shape[1:]), "conv nodes": len(sm.nodes),
            "fine blocks": len(coarse.fine), "all-shared vs backbone+heads": diff(shared, ref),
            "derived vs hard mode": diff(derived, hard), "tree (all shared) vs backbone+heads": diff(tree, ref)}
