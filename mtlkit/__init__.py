"""mtlkit — automated multi-task learning architecture design (AutoMTL, TreeMTL and beyond).

``import mtlkit`` stays light: it imports torch-free helpers only on demand. Sub-packages:

* :mod:`mtlkit.tasks`, :mod:`mtlkit.metrics`, :mod:`mtlkit.delta` — the five dense tasks (and an image-level
  multi-label task), evaluators, Δt
* :mod:`mtlkit.data` — SynthScenes (procedural, download-free), the NYUv2 / CityScapes / Taskonomy loaders and
  ``FolderDataset`` (your own folder of images and label files)
* :mod:`mtlkit.backbones`, :mod:`mtlkit.heads`, :mod:`mtlkit.models`, :mod:`mtlkit.train`
* :mod:`mtlkit.automtl` — supermodel compiler, policies, search (AutoMTL)
* :mod:`mtlkit.treemtl` — layouts, enumeration, estimator, recommender, tree models (TreeMTL)
* :mod:`mtlkit.export`, :mod:`mtlkit.treemtl.latency` — deploying: torch.export / ONNX with checks, measured latency
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "delta_t": ("mtlkit.delta", "delta_t"),
}
_SUBMODULES = {
    "tasks", "metrics", "delta", "data", "backbones", "heads", "models", "train", "flops",
    "automtl", "treemtl", "report", "viz", "config", "cache", "compute", "compare", "paper", "export",
    "facts", "paths", "files", "checks", "tracing", "setups", "methods", "tables", "picks", "picks_viz", "recipes",
    "reproduce_automtl", "reproduce_treemtl", "reproduce_search_cost",
}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"mtlkit.{name}")
    raise AttributeError(f"module 'mtlkit' has no attribute {name!r}")


__all__ = ["__version__", "delta_t", *sorted(_SUBMODULES)]
