"""Datasets: the procedural SynthScenes and loaders for the papers' real datasets.

All datasets return sample dicts in the format of CONTRIBUTING.md ("Batches").
"""
from __future__ import annotations

import importlib

_LAZY = {
    "SynthScenes": "mtlkit.data.synthetic",
    "SynthConfig": "mtlkit.data.synthetic",
    "PlantedTask": "mtlkit.data.synthetic",
    "NYUv2": "mtlkit.data.nyuv2",
    "CityScapes": "mtlkit.data.cityscapes",
    "Taskonomy": "mtlkit.data.taskonomy",
    "FolderDataset": "mtlkit.data.folder",
    "get_dataset": "mtlkit.data.registry",
    "list_datasets": "mtlkit.data.registry",
    "get_dataset_class": "mtlkit.data.registry",
    "register_dataset": "mtlkit.data.registry",
    "dataset_facts": "mtlkit.data.registry",
    "dataset_tasks": "mtlkit.data.registry",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mtlkit.data' has no attribute {name!r}")


__all__ = sorted(_LAZY)
