"""The facts about datasets and backbones that several modules need, written once (torch-free).

:data:`DATASET_FACTS` is the one place that spells a dataset's tasks (in the papers' order), its number of
semantic classes, its training input size, the folder it lives in under a ``data_root``, its display label and
metric set. The loaders (:mod:`mtlkit.data`), the published TreeMTL tables, the studies and the compute estimates
read them from here, through :func:`mtlkit.data.registry.dataset_facts`. :data:`BACKBONE_LABELS` and
:data:`PAPER_MAPPINGS` are the backbones' display names and TreeMTL's coarse block mappings.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

__all__ = ["PUBLISHED_DATASET", "PUBLISHED_POLICY", "ARCHITECTURE_FACTS", "EXACT_DATASETS", "DatasetFacts", "DATASET_FACTS", "BACKBONE_LABELS", "PAPER_MAPPINGS", "paper_blocks"]

#: The ``dataset`` of results computed exactly from the authors' published two-task tables (scale-independent,
#: hence comparable with the paper at every scale).
PUBLISHED_DATASET = "published two-task table"
#: The ``dataset`` of results computed exactly from a published AutoMTL architecture (the authors' sampled policy).
PUBLISHED_POLICY = "published policy"
#: The ``dataset`` of exact facts about an architecture (node counts, parameters), independent of any data.
ARCHITECTURE_FACTS = "architecture (exact)"
#: Exact computations: the same numbers at every scale, so they are compared with the paper at every scale.
EXACT_DATASETS = (PUBLISHED_DATASET, PUBLISHED_POLICY, ARCHITECTURE_FACTS)


@dataclass(frozen=True)
class DatasetFacts:
    """What is fixed about one dataset.

    Attributes:
        name: registry name (:func:`mtlkit.data.get_dataset`), e.g. ``"nyuv2"``.
        label: how tables, figures and messages print it, e.g. ``"NYUv2"``; also the folder name under a
            ``data_root`` for the real datasets.
        tasks: every task the dataset provides, in the papers' order (the loaders' ``ALL_TASKS``).
        study_tasks: the tasks a study uses by default (the papers' tasks; SynthScenes: the three of the stand-ins).
        classes: number of semantic-segmentation classes.
        input_size: side of the training crop (the papers' input size; SynthScenes: the default resolution).
        metric_set: the :mod:`mtlkit.tasks` metric set of its evaluation.
        real: True for a dataset on disk (it needs a ``data_root``), False for the procedural SynthScenes.
    """

    name: str
    label: str
    tasks: tuple[str, ...]
    study_tasks: tuple[str, ...]
    classes: int
    input_size: int
    metric_set: str
    real: bool = True

    @property
    def folder(self) -> str | None:
        """The dataset's folder under a ``data_root`` (None for SynthScenes)."""
        return self.label if self.real else None


_SEG, _DEPTH, _NORMAL, _KEYPOINTS, _EDGES = ("segment_semantic", "depth_zbuffer", "normal", "keypoints2d",
                                             "edge_texture")

#: name -> :class:`DatasetFacts`. The papers' input sizes: 321 (NYUv2), 224 (CityScapes, Taskonomy).
DATASET_FACTS: Mapping[str, DatasetFacts] = MappingProxyType({
    "synthscenes": DatasetFacts("synthscenes", "SynthScenes", (_SEG, _DEPTH, _NORMAL, _KEYPOINTS, _EDGES),
                                (_SEG, _DEPTH, _NORMAL), 6, 32, "nyuv2", real=False),
    "nyuv2": DatasetFacts("nyuv2", "NYUv2", (_SEG, _NORMAL, _DEPTH), (_SEG, _NORMAL, _DEPTH), 40, 321, "nyuv2"),
    "cityscapes": DatasetFacts("cityscapes", "CityScapes", (_SEG, _DEPTH), (_SEG, _DEPTH), 19, 224, "cityscapes"),
    "taskonomy": DatasetFacts("taskonomy", "Taskonomy", (_SEG, _NORMAL, _DEPTH, _KEYPOINTS, _EDGES),
                              (_SEG, _NORMAL, _DEPTH, _KEYPOINTS, _EDGES), 17, 224, "taskonomy"),
})

#: Backbone name -> how tables and figures print it.
BACKBONE_LABELS: Mapping[str, str] = MappingProxyType({
    "deeplab_resnet34": "Deeplab-ResNet34", "resnet34": "ResNet-34", "mobilenet_v2": "MobileNetV2",
    "mnasnet1_0": "MNasNet", "tiny_resnet": "tiny_resnet", "tiny_cnn": "tiny_cnn",
})

_RESNET34 = {0: (0,), 1: (1, 2, 3), 2: (4, 5, 6, 7), 3: tuple(range(8, 14)), 4: (14, 15, 16), 5: (17,)}
#: TreeMTL's coarse blocks as fine-block indices of :func:`mtlkit.treemtl.branching_points`, in the authors' form
#: (docs/treemtl.md §3; the last key is their "all shared" sentinel): Deeplab-ResNet34 stem | layer1 | layer2 |
#: layer3 | layer4; MobileNetV2 merged into five blocks of similar FLOPs.
PAPER_MAPPINGS: Mapping[str, Mapping[int, tuple[int, ...]]] = MappingProxyType({
    "deeplab_resnet34": MappingProxyType(_RESNET34),
    "resnet34": MappingProxyType(_RESNET34),
    "mobilenet_v2": MappingProxyType({0: tuple(range(7)), 1: tuple(range(7, 18)), 2: tuple(range(18, 23)),
                                      3: tuple(range(23, 31)), 4: (31,), 5: (32,)}),
})


def paper_blocks(backbone: str) -> tuple[tuple[int, ...], ...]:
    """The paper's five coarse blocks of ``backbone`` as groups of fine-block indices (the sentinel left out)."""
    mapping = PAPER_MAPPINGS[backbone]
    return tuple(mapping[k] for k in sorted(mapping)[:-1])
