"""One experiment setup: what a study trains on, at which size, from one table of scales × datasets.

Every study turns a ``scale`` into sizes through :data:`SIZES` — one row per (study, dataset, scale): images
rendered, resolution, batch sizes and stage lengths — and describes its data with one frozen :class:`Setup`.
:func:`load_data` turns a setup into datasets, loaders and task objects, the same way for every study:

* SynthScenes (the smoke/cpu stand-in): rendered once into memory (``cache=True``) from ``setup.seed``;
  ``train1``/``train2`` are the even/odd samples of ``train``;
* a real dataset (``scale="paper"``): the loader of :mod:`mtlkit.data` under ``data_root/<folder>`` (see
  :func:`mtlkit.data.dataset_facts`), with the paper-compatible evaluators when ``paper_compat``.

Each training loader shuffles with its own generator seeded from ``setup.seed``, so the data order is a function of
the setup alone (not of the run's seed, nor of ``workers``).

Studies: ``"automtl"`` (the AutoMTL comparisons, :mod:`mtlkit.automtl.experiments` and
:mod:`mtlkit.automtl.synth`), ``"automtl-backbones"`` (the backbone study), ``"treemtl-tables"`` (the trained part
of the TreeMTL tables, :mod:`mtlkit.recipes`).
"""
from __future__ import annotations

import dataclasses

from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from mtlkit.checks import check_int
from mtlkit.config import check_scale
from mtlkit.errors import ConfigError, unknown_name
from mtlkit.facts import DATASET_FACTS

__all__ = ["SIZES", "STUDIES", "Setup", "Data", "sizes_of", "make_setup", "load_data"]


def _row(**values) -> Mapping[str, Any]:
    return MappingProxyType(values)


_SMALL = dict(n_train=24, n_test=8, resolution=32, batch=8, width=8, pre=0, policy=8, post=4, random=0)
#: (study, dataset, scale) -> sizes: ``n_train``/``n_test`` rendered images (SynthScenes), ``resolution``, ``batch``
#: (and ``test_batch``), the backbone ``width`` of the stand-ins, and the stage lengths in iterations (AutoMTL:
#: ``pre``/``policy``/``post``/``random``; TreeMTL: ``iterations``, ``lr``, ``lr_step``, ``lr_gamma`` and ``plateau``:
#: train until the validation loss plateaus, ``iterations`` the cap). The SynthScenes
#: AutoMTL search of notebook 03 is the ``nyuv2`` stand-in row; ``paper`` rows are the papers' settings (spec
#: automtl.md §3.5; CityScapes' reported model had no pre-train).
SIZES: Mapping[tuple[str, str, str], Mapping[str, Any]] = MappingProxyType({
    ("automtl", "nyuv2", "smoke"): _row(n_train=32, n_test=16, resolution=32, batch=8, width=8, pre=0, policy=8,
                                        post=4, random=1),
    ("automtl", "nyuv2", "cpu"): _row(n_train=512, n_test=128, resolution=32, batch=8, width=16, pre=0, policy=200,
                                      post=200, random=1),
    ("automtl", "synthscenes", "paper"): _row(n_train=4096, n_test=512, resolution=64, batch=16, width=16,
                                              pre=10_000, policy=20_000, post=30_000, random=3),
    ("automtl", "cityscapes", "smoke"): _row(**_SMALL),
    ("automtl", "cityscapes", "cpu"): _row(n_train=512, n_test=128, resolution=32, batch=8, width=16, pre=0,
                                           policy=200, post=200, random=0),
    ("automtl", "taskonomy", "smoke"): _row(**_SMALL),
    ("automtl", "taskonomy", "cpu"): _row(n_train=256, n_test=64, resolution=32, batch=8, width=16, pre=0,
                                          policy=100, post=100, random=0),
    **{("automtl", name, "paper"): _row(resolution=DATASET_FACTS[name].input_size, batch=16, test_batch=8,
                                        pre=0 if name == "cityscapes" else 10_000, policy=20_000, post=30_000,
                                        random=0)
       for name in ("cityscapes", "nyuv2", "taskonomy")},
    ("automtl-backbones", "nyuv2", "smoke"): _row(n_train=16, n_test=8, resolution=32, batch=4, pre=0, policy=4,
                                                  post=2, random=0, head_width=8),
    ("automtl-backbones", "nyuv2", "cpu"): _row(n_train=256, n_test=64, resolution=32, batch=8, pre=0, policy=40,
                                                post=80, random=0, head_width=32),
    **{("treemtl-tables", name, "smoke"): _row(n_train=8, n_test=4, resolution=32, iterations=2, batch=4, lr=1e-3,
                                               lr_step=None, lr_gamma=0.5)
       for name in ("nyuv2", "taskonomy")},
    # cpu: trained until the validation loss plateaus (mtlkit.convergence.Plateau), 1000 iterations the cap; the
    # stand-in's layouts plateaued at 500-650 iterations when measured (150 fixed iterations stopped them early)
    **{("treemtl-tables", name, "cpu"): _row(n_train=512, n_test=128, resolution=32, iterations=1000, batch=16,
                                             lr=1e-3, lr_step=None, lr_gamma=0.5, plateau=True)
       for name in ("nyuv2", "taskonomy")},
    # the authors' TreeMTL training (docs/treemtl.md §3; Adam (0.5, 0.999), weight decay 1e-4: TrainConfig's)
    ("treemtl-tables", "nyuv2", "paper"): _row(iterations=20_000, batch=16, lr=1e-3, lr_step=4_000, lr_gamma=0.5),
    ("treemtl-tables", "taskonomy", "paper"): _row(iterations=50_000, batch=16, lr=1e-4, lr_step=10_000,
                                                   lr_gamma=0.3),
    # the method comparison (mtlkit.compare.compare): every method's layout trained by the tree-layout recipe
    ("methods", "synthscenes", "smoke"): _row(n_train=16, n_test=8, resolution=32, batch=4, test_batch=16,
                                              backbone_kw=_row(width=4), head="linear", blocks=1, iterations=2),
    ("methods", "synthscenes", "cpu"): _row(n_train=512, n_test=64, resolution=64, batch=8, test_batch=16,
                                            backbone_kw=_row(width=8), head="light", head_kw=_row(width=16),
                                            blocks=3, iterations=140, lr=2e-3),
})
STUDIES = tuple(sorted({study for study, _, _ in SIZES}))


def sizes_of(study: str, dataset: str, scale: str) -> dict[str, Any]:
    """A copy of the :data:`SIZES` row of ``(study, dataset, scale)``.

    Raises:
        ConfigError: an unknown study or scale, or a dataset the study does not run at that scale.
    """
    check_scale(scale)
    if study not in STUDIES:
        raise unknown_name("study", study, STUDIES)
    if (study, dataset, scale) not in SIZES:
        valid = sorted(d for s, d, sc in SIZES if s == study and sc == scale)
        raise ConfigError(f"study {study!r} has no {scale!r}-scale setup for dataset {dataset!r}; it has: {valid}")
    return dict(SIZES[(study, dataset, scale)])


@dataclass(frozen=True)
class Setup:
    """What a study trains on: data, tasks, their sizes and the device (the model lives in the study's recipe).

    Attributes:
        dataset: a :func:`mtlkit.data.dataset_facts` name: ``"synthscenes"`` or a real dataset.
        tasks: task names, in the order results are reported.
        n_train, n_test, resolution: SynthScenes sizes (ignored for real datasets, which use their splits and crops).
        batch: training batch; ``test_batch`` the evaluation batch.
        drop_last: drop the last incomplete training batch; None drops it only when the dataset is larger than a
            batch.
        halves: also build the ``train1``/``train2`` loaders (AutoMTL's policy stage trains on both halves).
        metric_set: the :mod:`mtlkit.tasks` metric set of a SynthScenes stand-in (None: the tasks' default).
        paper_compat: evaluate with the papers' conventions (real datasets).
        seed: the data seed: SynthScenes' images and every loader's shuffling.
        device: where the models train.
        data_root: the folder that holds the real datasets' folders (``NYUv2/``, ...).
        workers: DataLoader worker processes (the data order does not depend on them).
        augment_seed: seed of the real datasets' augmentation (None: ``seed``).
        backbone, backbone_kw: the :func:`mtlkit.backbones.get_backbone` name and options of the studies' models.
        head, head_kw: the :func:`mtlkit.heads.get_head` name and options.
        blocks: coarse blocks of the backbone for layout-based methods (TreeMTL's ``B``).
        iterations, lr: the training schedule of a model (Adam, :class:`mtlkit.train.TrainConfig`'s defaults
            otherwise).
        synth_config: a :class:`mtlkit.data.synthetic.SynthConfig` for SynthScenes (None: the default scenes); its
            planted tasks (:class:`mtlkit.data.synthetic.PlantedTask`) may then be among ``tasks``.
    """

    dataset: str
    tasks: tuple[str, ...]
    batch: int
    test_batch: int
    n_train: int | None = None
    n_test: int | None = None
    resolution: int | None = None
    drop_last: bool | None = True
    halves: bool = True
    metric_set: str | None = None
    paper_compat: bool = False
    seed: int = 0
    device: str = "cpu"
    data_root: str | None = None
    workers: int = 0
    augment_seed: int | None = None
    backbone: str = "tiny_resnet"
    backbone_kw: Any = ()
    head: str = "light"
    head_kw: Any = ()
    blocks: int = 1
    iterations: int = 100
    lr: float = 1e-3
    synth_config: Any = None

    def __post_init__(self):
        for name in ("backbone_kw", "head_kw"):
            value = getattr(self, name)
            items = value.items() if isinstance(value, Mapping) else value
            try:
                object.__setattr__(self, name, tuple(sorted((str(k), v) for k, v in items)))
            except (TypeError, ValueError):
                raise ConfigError(f"Setup.{name} must be a mapping of options, got {value!r}") from None
        check_int(self.blocks, "Setup.blocks", minimum=1)
        check_int(self.iterations, "Setup.iterations", minimum=1)
        if self.dataset not in DATASET_FACTS:
            raise unknown_name("dataset", self.dataset, DATASET_FACTS)
        facts = DATASET_FACTS[self.dataset]
        object.__setattr__(self, "tasks", tuple(self.tasks))
        known = facts.tasks
        if self.synth_config is not None:
            from mtlkit.data.synthetic import SynthConfig

            if facts.real or not isinstance(self.synth_config, SynthConfig):
                raise ConfigError(f"Setup.synth_config must be a SynthConfig of a SynthScenes setup, got "
                                  f"{type(self.synth_config).__name__} for dataset={self.dataset!r}")
            known = known + tuple(p.name for p in self.synth_config.planted)
        unknown = [t for t in self.tasks if t not in known]
        if not self.tasks or unknown:
            raise ConfigError(f"Setup.tasks must be a non-empty subset of the tasks of {facts.label} {known}, "
                              f"got {self.tasks!r}")
        for name in ("batch", "test_batch"):
            check_int(getattr(self, name), f"Setup.{name}", minimum=1)
        check_int(self.seed, "Setup.seed", minimum=0)
        check_int(self.workers, "Setup.workers", minimum=0)
        if facts.real:
            if not self.data_root:
                raise ConfigError(f"dataset={self.dataset!r} trains on the real {facts.label}: set data_root to the "
                                  f"folder that holds {facts.folder}/ (see reproductions/README.md); got "
                                  f"data_root={self.data_root!r}")
            object.__setattr__(self, "data_root", str(self.data_root))
        else:
            for name in ("n_train", "n_test"):
                check_int(getattr(self, name), f"Setup.{name}", minimum=1)
            check_int(self.resolution, "Setup.resolution", minimum=8)

    def key(self) -> dict[str, Any]:
        """Plain values of every field (for run-cache keys and results rows)."""
        return asdict(self)

    def replace(self, **changes) -> "Setup":
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def facts(self):
        """The dataset's :class:`mtlkit.facts.DatasetFacts`."""
        return DATASET_FACTS[self.dataset]

    @property
    def input_size(self) -> int:
        """Side of the training images: the SynthScenes resolution, or the real dataset's crop."""
        return self.facts.input_size if self.facts.real else int(self.resolution)

    @property
    def root(self) -> Path | None:
        """``data_root/<folder>`` of a real dataset (None for SynthScenes)."""
        return Path(self.data_root) / self.facts.folder if self.facts.real else None


@dataclass(frozen=True)
class Data:
    """What :func:`load_data` returns: the datasets, the loaders by split and the task objects."""

    train_set: Any
    test_set: Any
    loaders: dict
    tasks: dict

    @property
    def train_loader(self):
        """The ``train`` loader."""
        return self.loaders["train"]

    @property
    def test_loader(self):
        """The ``test`` loader."""
        return self.loaders["test"]


def load_data(setup: Setup) -> Data:
    """The datasets, loaders (``train``, ``train1``/``train2`` with ``setup.halves``, ``test``) and task objects.

    Args:
        setup: the :class:`Setup`.

    Returns:
        A :class:`Data`.

    Raises:
        FileNotFoundError: ``data_root`` lacks the real dataset's folder.
    """
    import torch
    from torch.utils.data import DataLoader, Subset

    from mtlkit.data import get_dataset_class
    from mtlkit.tasks import get_task

    if not isinstance(setup, Setup):
        raise ConfigError(f"setup must be a mtlkit.setups.Setup, got {type(setup).__name__}")
    cls = get_dataset_class(setup.dataset)
    if setup.facts.real:
        root = setup.root
        if not root.is_dir():
            raise FileNotFoundError(f"data_root={setup.data_root!r} has no {setup.facts.folder}/ folder (expected "
                                    f"{root}; its layout is described in mtlkit/data/{setup.dataset}.py)")
        seed = setup.seed if setup.augment_seed is None else setup.augment_seed
        splits = ("train", "train1", "train2", "test") if setup.halves else ("train", "test")
        sets = {s: cls(root, s, setup.tasks, seed=seed) for s in splits}
    else:
        kw = dict(resolution=setup.resolution, tasks=setup.tasks, seed=setup.seed, cache=True)
        if setup.synth_config is not None:
            kw["config"] = setup.synth_config
        sets = {"train": cls("train", size=setup.n_train, **kw), "test": cls("test", size=setup.n_test, **kw)}
        if setup.halves:  # SynthScenes' own split definition: the even / odd samples of train
            sets["train1"] = Subset(sets["train"], range(0, setup.n_train, 2))
            sets["train2"] = Subset(sets["train"], range(1, setup.n_train, 2))
    options = sets["train"].task_options()
    tasks = {}
    for t in setup.tasks:
        kw = dict(options.get(t, {}))
        if setup.metric_set is not None:
            kw.setdefault("metric_set", setup.metric_set)
        if setup.paper_compat:
            kw["paper_compat"] = True
        tasks[t] = get_task(t, **kw)

    def train_loader(ds):
        drop = len(ds) > setup.batch if setup.drop_last is None else setup.drop_last
        return DataLoader(ds, batch_size=setup.batch, shuffle=True, drop_last=drop, num_workers=setup.workers,
                          generator=torch.Generator().manual_seed(setup.seed))

    loaders = {s: train_loader(ds) for s, ds in sets.items() if s != "test"}
    loaders["test"] = DataLoader(sets["test"], batch_size=setup.test_batch, num_workers=setup.workers)
    return Data(sets["train"], sets["test"], loaders, tasks)


_SETUP_FIELDS = {f.name for f in dataclasses.fields(Setup)}


def make_setup(study: str, dataset: str, scale: str, *, tasks=None, seed: int = 0, device: str = "cpu",
               data_root: str | Path | None = None, **overrides) -> Setup:
    """The :class:`Setup` of a study's ``(dataset, scale)`` row of :data:`SIZES`.

    Args:
        study: a study of :data:`STUDIES`, e.g. ``"methods"``.
        dataset: the row's dataset (``"synthscenes"`` or a real dataset at ``scale="paper"``).
        scale: ``"smoke"``, ``"cpu"`` or ``"paper"``.
        tasks: task names (default: the dataset's ``study_tasks``).
        seed, device, data_root: as in :class:`Setup`.
        **overrides: any other :class:`Setup` field.

    Returns:
        The validated :class:`Setup`; the row's keys that are not :class:`Setup` fields (stage lengths of other
        studies) are left out.
    """
    row = sizes_of(study, dataset, scale)
    unknown = sorted(set(overrides) - _SETUP_FIELDS)
    if unknown:
        raise ConfigError(f"make_setup: {unknown} are not Setup fields; valid: {sorted(_SETUP_FIELDS)}")
    values = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in row.items() if k in _SETUP_FIELDS}
    values.setdefault("test_batch", max(values.get("batch", 16), 16))
    tasks = DATASET_FACTS[dataset].study_tasks if tasks is None else tasks
    return Setup(dataset, tuple(tasks), **{**values, "seed": seed, "device": device,
                                           "data_root": None if data_root is None else str(data_root), **overrides})
