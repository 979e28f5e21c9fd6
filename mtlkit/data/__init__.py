"""Datasets: the procedural SynthScenes and loaders for the papers' real datasets.

All datasets return sample dicts in the format of CONTRIBUTING.md ("Batches").
"""
from __future__ import annotations

from mtlkit.lazy import lazy_attributes

__getattr__, __all__ = lazy_attributes(__name__, {
    "mtlkit.data.synthetic": ("SynthScenes", "SynthConfig", "PlantedTask"),
    "mtlkit.data.nyuv2": ("NYUv2",),
    "mtlkit.data.cityscapes": ("CityScapes",),
    "mtlkit.data.taskonomy": ("Taskonomy",),
    "mtlkit.data.folder": ("FolderDataset",),
    "mtlkit.data.registry": ("get_dataset", "list_datasets", "get_dataset_class", "register_dataset", "dataset_facts",
                             "dataset_tasks"),
})
