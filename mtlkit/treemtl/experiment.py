"""One TreeMTL experiment: how every tree model of a study is built, trained and evaluated.

The two-task grid (:mod:`mtlkit.treemtl.grid`) and the oracle study (:mod:`mtlkit.treemtl.oracle`) train many tree
models that must differ *only* in their layout. :class:`ExperimentSpec` fixes everything else — tasks, backbone,
blocks, heads, data, optimiser, evaluation — and :func:`train_entry` trains one layout in its own folder, resumably,
recording the result atomically (``result.json``).

Determinism, so that results do not depend on which process or shard trains an entry:

* the backbone is initialised from ``seed`` (the same weights for every entry: each block copy of every model starts
  from them, as the authors' models all started from one checkpoint), each task's head from ``(seed, task name)``, so
  a head does not depend on which other tasks are in the model;
* every entry reads the same batches (one dataset holding all the spec's tasks; :func:`mtlkit.train.train` seeds the
  data order); a task's loss back-propagates only into its own path.

Consequence (checked by the oracle study): the ``b = 0`` two-task model of a pair *is* the two single-task models,
and the fully independent ``T``-task layout reproduces them exactly on the CPU.

Evaluation follows the authors (docs/treemtl.md §5): the metrics of an entry are the mean of its last ``eval_last`` (3)
evaluations on the test split, taken every ``eval_every`` iterations.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from mtlkit.checks import check_int, is_int
from mtlkit.facts import DATASET_FACTS
from mtlkit.setups import Setup, load_data
from mtlkit.errors import ConfigError, unknown_name
from mtlkit.treemtl.layout import Layout

__all__ = ["ExperimentSpec", "ExperimentData", "DATASETS", "train_entry", "train_reference", "layout_run_dir",
           "read_result", "RESULT_NAME", "LAYOUT_KIND"]

DATASETS = ("synthscenes", "nyuv2", "taskonomy")
RESULT_NAME = "result.json"
#: Run-cache kind of a trained tree layout (:func:`layout_run_dir`), whichever study asked for it.
LAYOUT_KIND = "treemtl-layout"


def _plain_kw(name: str, kw: Any) -> tuple[tuple[str, Any], ...]:
    if kw is None or kw == ():
        return ()
    items = kw.items() if isinstance(kw, Mapping) else kw
    try:
        out = tuple(sorted((str(k), tuple(v) if isinstance(v, list) else v) for k, v in items))
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a dict of options, got {kw!r}") from None
    return out


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything but the layout that determines a trained tree model.

    Attributes:
        tasks: task names, in task index order (``T >= 2``).
        backbone: registered backbone name (:func:`mtlkit.backbones.list_backbones`).
        backbone_kw: builder options (e.g. ``{"width": 8}``); stored as sorted pairs.
        blocks: ``None`` (the detected blocks), a number ``B`` of FLOP-balanced coarse blocks, or a mapping
            ``{0: [0], 1: [1, 2, 3], ...}`` / list of groups (stored as a tuple of tuples).
        head: registered head name (``"light"``, ``"aspp"``, ``"linear"``).
        head_kw: head options.
        dataset: ``"synthscenes"``, ``"nyuv2"`` or ``"taskonomy"``.
        data_root: folder holding ``NYUv2/`` or ``Taskonomy/`` (real datasets only).
        resolution: SynthScenes image size (real datasets use their loaders' crops: 321 NYUv2, 224 Taskonomy).
        n_train: SynthScenes training images (real datasets: the whole ``train`` split).
        n_test: SynthScenes test images (real datasets: the whole ``test`` split).
        batch_size: training batch size.
        iterations: optimiser steps per model.
        lr, lr_step, lr_gamma, weight_decay: Adam (betas 0.5, 0.999) with an optional StepLR, as the authors.
        eval_every: evaluate every N iterations (0: ``max(1, iterations // 10)``).
        eval_last: metrics = mean of the last N evaluations (the authors: 3).
        seed: the training seed: initialisation of the backbone and the heads, and the batch order (:func:`
            mtlkit.train.train` re-seeds the loader from it every epoch). With ``data_seed=None`` it is also the
            data seed (the behaviour of specs written before ``data_seed`` existed).
        data_seed: the data seed — SynthScenes' rendered images, the real datasets' augmentation
            (:class:`mtlkit.setups.Setup` ``seed``); None: ``seed``. Fix it and vary ``seed`` to repeat a training
            on the same data (the oracle study's seeds). Left out of :meth:`to_dict` when None, so older specs
            keep their run-cache keys.
        metric_set: the :mod:`mtlkit.tasks` metric set of a SynthScenes stand-in (e.g. ``"nyuv2"``: the paper's
            metrics on stand-in data; None: the tasks' default). Real datasets are always evaluated with the
            papers' conventions (``paper_compat``).
        weights: a local backbone weights file loaded after the seeded initialisation (None: none).
        plateau: train until the validation loss on the test split has plateaued (:class:`mtlkit.convergence.Plateau`
            defaults: the last 20 % of training improved the best value by < 2 %), ``iterations`` being the cap;
            every result records whether it did (``convergence``). Needs at least 5 evaluations (``eval_every``).
    """

    tasks: tuple[str, ...]
    backbone: str = "tiny_resnet"
    backbone_kw: Any = ()
    blocks: Any = None
    head: str = "light"
    head_kw: Any = ()
    dataset: str = "synthscenes"
    data_root: str | None = None
    resolution: int = 64
    n_train: int = 512
    n_test: int = 128
    batch_size: int = 16
    iterations: int = 300
    lr: float = 1e-3
    lr_step: int | None = None
    lr_gamma: float = 0.5
    weight_decay: float = 1e-4
    eval_every: int = 0
    eval_last: int = 3
    seed: int = 0
    data_seed: int | None = None
    metric_set: str | None = None
    weights: str | None = None
    plateau: bool = False

    def __post_init__(self) -> None:
        from mtlkit.backbones import list_backbones
        from mtlkit.heads import list_heads
        from mtlkit.tasks import list_tasks

        tasks = (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks)
        if len(tasks) < 2 or len(set(tasks)) != len(tasks):
            raise ConfigError(f"ExperimentSpec.tasks must name at least 2 distinct tasks, got {list(tasks)}")
        for t in tasks:
            if t not in list_tasks():
                raise unknown_name("task", t, list_tasks())
        object.__setattr__(self, "tasks", tasks)
        if self.backbone not in list_backbones():
            raise unknown_name("backbone", self.backbone, list_backbones())
        if self.head not in list_heads():
            raise unknown_name("head", self.head, list_heads())
        object.__setattr__(self, "backbone_kw", _plain_kw("backbone_kw", self.backbone_kw))
        object.__setattr__(self, "head_kw", _plain_kw("head_kw", self.head_kw))
        if self.weights is not None:
            object.__setattr__(self, "weights", str(self.weights))
        if self.metric_set is not None and not isinstance(self.metric_set, str):
            raise ConfigError(f"ExperimentSpec.metric_set must be None or a metric set name, got {self.metric_set!r}")
        if self.dataset not in DATASETS:
            raise unknown_name("dataset", self.dataset, DATASETS)
        if self.dataset != "synthscenes":
            if not self.data_root:
                raise ConfigError(f"dataset={self.dataset!r} needs data_root (the folder holding "
                                  f"{DATASET_FACTS[self.dataset].folder}/); got data_root={self.data_root!r}")
            object.__setattr__(self, "data_root", str(self.data_root))
        blocks = self.blocks
        if blocks is not None and not is_int(blocks):
            from mtlkit.treemtl.branching import check_mapping

            if isinstance(blocks, Mapping):
                try:
                    groups = [list(blocks[k]) for k in sorted(blocks, key=int)]
                except (TypeError, ValueError):
                    raise ConfigError(f"ExperimentSpec.blocks: mapping keys must be ints, got {list(blocks)}") from None
            else:
                groups = [list(g) for g in blocks]
            # structure only: the sentinel {B: [n_fine]} of the authors is recognised once n_fine is known
            n = 1 + max((int(i) for g in groups for i in g), default=-1)
            blocks = groups
            blocks = tuple(check_mapping(blocks, n))
        elif isinstance(blocks, int) and blocks < 1:
            raise ConfigError(f"ExperimentSpec.blocks must be None, a number of coarse blocks >= 1 or a mapping, "
                              f"got {blocks!r}")
        object.__setattr__(self, "blocks", blocks)
        ints = {"resolution": 32, "n_train": 1, "n_test": 1, "batch_size": 1, "iterations": 1, "eval_every": 0,
                "eval_last": 1, "seed": 0}
        for name, low in ints.items():
            check_int(getattr(self, name), f"ExperimentSpec.{name}", minimum=low)
        check_int(self.data_seed, "ExperimentSpec.data_seed", minimum=0, none_ok=True)
        every = self.eval_every or max(1, self.iterations // 10)
        n_evals = self.iterations // every + (1 if self.iterations % every else 0)
        if self.eval_last > n_evals:
            raise ConfigError(f"ExperimentSpec.eval_last: expected at most the number of evaluations ({n_evals}: "
                              f"iterations={self.iterations}, eval_every={every}), got {self.eval_last}")
        if not isinstance(self.plateau, bool):
            raise ConfigError(f"ExperimentSpec.plateau must be a bool, got {self.plateau!r}")
        if self.plateau and n_evals < 5:
            raise ConfigError(f"ExperimentSpec.plateau needs at least 5 evaluations to judge a plateau; expected "
                              f"eval_every <= iterations // 5 = {self.iterations // 5}, got eval_every={every} "
                              f"({n_evals} evaluations)")
        for name in ("lr", "lr_gamma", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or (name != "weight_decay" and v == 0):
                raise ConfigError(f"ExperimentSpec.{name} must be a finite positive number, got {v!r}")

    # ------------------------------------------------------------------------------------------------ identity
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (``from_dict`` inverts it)."""
        d = dataclasses.asdict(self)
        d["backbone_kw"] = dict(self.backbone_kw)
        d["head_kw"] = dict(self.head_kw)
        d["tasks"] = list(self.tasks)
        if isinstance(self.blocks, tuple):
            d["blocks"] = [list(g) for g in self.blocks]
        if not self.plateau:
            del d["plateau"]  # a fixed-length run keeps the run-cache key it had before the option existed
        if self.data_seed is None:
            del d["data_seed"]   # the key of a spec without a data seed is the one it had before the field existed
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ExperimentSpec":
        """Rebuild a spec from :meth:`to_dict` output."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ConfigError(f"ExperimentSpec: unknown fields {unknown}; known are {sorted(fields)}")
        return cls(**dict(d))

    def differences(self, other: "ExperimentSpec") -> list[str]:
        """``field: mine -> other`` for every field that differs."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if a[k] != b[k]]

    @property
    def T(self) -> int:
        """Number of tasks."""
        return len(self.tasks)

    @property
    def data_rng_seed(self) -> int:
        """The seed of the data (``data_seed``, or ``seed`` when that is None)."""
        return self.seed if self.data_seed is None else self.data_seed

    @property
    def input_size(self) -> int:
        """Side of the square input the costs are measured at."""
        return self.resolution if self.dataset == "synthscenes" else DATASET_FACTS[self.dataset].input_size

    # ------------------------------------------------------------------------------------------------ building
    def build_blocks(self):
        """The backbone (initialised from ``seed``) and its blocks (detected, then coarsened as ``blocks`` says).

        Returns:
            ``(backbone, blocks)``; the blocks hold the backbone's modules (built models copy them).
        """
        key = json.dumps(self.to_dict(), sort_keys=True)
        if _BLOCK_CACHE.get("key") == key:
            return _BLOCK_CACHE["value"]
        import torch

        from mtlkit.treemtl.branching import branching_points, coarsen

        backbone = self.new_backbone()
        blocks = branching_points(backbone, torch.zeros(1, 3, self.input_size, self.input_size))
        if self.blocks is not None:
            blocks = coarsen(blocks, self.blocks if isinstance(self.blocks, int) else [list(g) for g in self.blocks])
        _BLOCK_CACHE.update(key=key, value=(backbone, blocks))
        return backbone, blocks

    def new_backbone(self):
        """A fresh backbone, initialised from ``seed`` (the weights every model of the spec starts from)."""
        import torch

        from mtlkit.backbones import get_backbone

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return get_backbone(self.backbone, weights=self.weights, **dict(self.backbone_kw))

    def build_heads(self, task_names: Sequence[str], tasks: Mapping, channels: int) -> dict:
        """Fresh heads of ``task_names`` on ``channels`` features, each initialised from ``(seed, task name)``
        (so a head does not depend on which other tasks are in the model)."""
        import torch

        from mtlkit.heads import get_head

        heads = {}
        for t in task_names:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(zlib.crc32(f"{self.seed}:{t}".encode()))
                heads[t] = get_head(self.head, channels, tasks[t].out_channels, **dict(self.head_kw))
        return heads

    @property
    def B(self) -> int:
        """Number of blocks (branching points) of the models."""
        if isinstance(self.blocks, int):
            return self.blocks
        return self.build_blocks()[1].B   # a mapping may end with the authors' sentinel: detection tells

    def task_objects(self, task_options: Mapping[str, Mapping] | None = None) -> dict:
        """Task objects of all the spec's tasks (``task_options``: per-task options, e.g. a dataset's)."""
        from mtlkit.tasks import get_task

        opts = dict(task_options or {})
        return {t: get_task(t, **dict(opts.get(t, {}))) for t in self.tasks}

    def build_model(self, layout: "Layout | str", task_names: Sequence[str], tasks: Mapping | None = None):
        """The :class:`~mtlkit.treemtl.tree_model.TreeModel` of ``layout`` over ``task_names`` (a subset of the
        spec's tasks, in their order), with heads seeded per task."""
        from mtlkit.treemtl.tree_model import TreeModel

        tasks = dict(tasks) if tasks is not None else self.task_objects()
        unknown = [t for t in task_names if t not in self.tasks]
        if unknown:
            raise ConfigError(f"tasks {unknown} are not in the experiment's tasks {list(self.tasks)}")
        backbone, blocks = self.build_blocks()
        heads = self.build_heads(task_names, tasks, blocks[-1].out_shape[0])
        return TreeModel.from_layout(backbone, blocks, layout, heads, tasks={t: tasks[t] for t in task_names})

    def load_data(self, num_workers: int = 0) -> "ExperimentData":
        """The train and test datasets, loaders and task objects (SynthScenes is rendered once, in memory).

        Args:
            num_workers: DataLoader worker processes (0: load in the training process; real datasets on a GPU want
                several). The data order does not depend on it.
        """
        check_int(num_workers, "num_workers", minimum=0)
        loaded = load_data(self.setup(num_workers=num_workers))
        return ExperimentData(loaded.train_loader, loaded.test_loader, loaded.tasks)

    def setup(self, device: str = "cpu", num_workers: int = 0) -> Setup:
        """The spec's data as a :class:`mtlkit.setups.Setup` (what :meth:`load_data` loads)."""
        sizes = dict(n_train=self.n_train, n_test=self.n_test, resolution=self.resolution) \
            if self.dataset == "synthscenes" else {}
        return Setup(self.dataset, self.tasks, batch=self.batch_size, test_batch=max(self.batch_size, 16),
                     drop_last=False, halves=False, seed=self.data_rng_seed, device=device, data_root=self.data_root,
                     workers=num_workers, metric_set=self.metric_set, paper_compat=self.dataset != "synthscenes",
                     **sizes)

    def train_config(self, device: str = "cpu", checkpoint_every: int | None = None):
        """The :class:`mtlkit.train.TrainConfig` of every model."""
        from mtlkit.train import TrainConfig

        every = self.eval_every or max(1, self.iterations // 10)
        ckpt = max(1, self.iterations // 5) if checkpoint_every is None else checkpoint_every
        return TrainConfig(iterations=self.iterations, lr=float(self.lr), weight_decay=float(self.weight_decay),
                           lr_step=self.lr_step, lr_gamma=float(self.lr_gamma), eval_every=every,
                           checkpoint_every=ckpt, log_every=max(1, self.iterations // 50), device=device,
                           seed=self.seed)


_BLOCK_CACHE: dict[str, Any] = {}


@dataclass(frozen=True)
class ExperimentData:
    """Loaders and task objects shared by every model of an experiment."""

    train_loader: Any
    test_loader: Any
    tasks: dict


# ---------------------------------------------------------------------------------------------------- entries
def read_result(entry_dir: str | Path, *, remedy: str | None = None) -> dict | None:
    """The recorded result of a finished entry, or None (verified: a corrupt file raises, it is never skipped).

    Raises:
        mtlkit.integrity.CorruptFileError: ``result.json`` is truncated, corrupt or has no ``metrics``; the message
            names the file and the remedy.
    """
    from mtlkit.integrity import CorruptFileError, read_json

    path = Path(entry_dir) / RESULT_NAME
    remedy = remedy or f"delete the entry's folder {str(Path(entry_dir))!r} to train it afresh"
    result = read_json(path, required=("metrics",), remedy=remedy, missing_ok=True)
    if result is not None and not (isinstance(result["metrics"], dict)
                                   and all(isinstance(m, dict) for m in result["metrics"].values())):
        raise CorruptFileError(path, f"'metrics' must map task -> {{metric: value}}, got {result['metrics']!r}",
                               remedy)
    return result


def _write_json(path: Path, payload: Mapping) -> None:
    from mtlkit.integrity import write_json

    write_json(path, payload)   # atomic, with a checksum


def _as_layout(layout) -> Layout:
    return layout if isinstance(layout, Layout) else Layout.parse(str(layout))


def layout_run_dir(spec: ExperimentSpec, layout: "Layout | str", task_names: Sequence[str],
                   device: str = "cpu") -> Path:
    """The run-cache folder of one tree layout of ``spec`` over ``task_names``: the one place its result is known.

    Keyed by the whole spec (data, backbone, heads, blocks, schedule, evaluation, seed), the layout, the model's
    tasks, the code of this recipe and the environment (:func:`mtlkit.cache.run_dir`); nothing about which study
    asked for it, so a layout of a TreeMTL table, of the grid, of the oracle study or of a method comparison is
    the same run.
    """
    from mtlkit.cache import run_dir

    if not isinstance(spec, ExperimentSpec):
        raise ConfigError(f"spec must be an ExperimentSpec, got {type(spec).__name__}")
    return run_dir(LAYOUT_KIND, spec=spec.to_dict(), layout=str(_as_layout(layout)), tasks=list(task_names),
                   depends_on=("mtlkit.treemtl.experiment",), device=device)


def train_entry(spec: ExperimentSpec, layout: "Layout | str", task_names: Sequence[str],
                entry_dir: str | Path | None = None, data: ExperimentData | None = None, *, device: str = "cpu",
                progress: bool = True, checkpoint_every: int | None = None,
                extra: Mapping[str, Any] | None = None) -> dict:
    """The tree-layout recipe: train and evaluate one layout, or return its recorded result.

    Every study trains its tree models here (the TreeMTL tables through :func:`mtlkit.recipes.train_layouts`, the
    two-task grid, the oracle study, :func:`mtlkit.compare.compare`): backbone seeded from ``spec.seed``, heads
    from ``(seed, task)`` (:meth:`ExperimentSpec.build_model`), the data of :meth:`ExperimentSpec.load_data`, the
    schedule of :meth:`ExperimentSpec.train_config`, the mean of the last ``eval_last`` evaluations. Its result
    is kept in :func:`layout_run_dir`, so a layout one study trained is a cache hit for every other.

    A finished entry (``entry_dir/result.json``) returns at once; so does a layout whose shared run is finished
    (its result is copied into ``entry_dir`` with ``extra``); a partial one resumes from the checkpoint in
    ``entry_dir/run`` (:func:`mtlkit.train.train`).

    Args:
        spec: the experiment.
        layout: the layout over ``task_names``.
        task_names: the model's tasks (a subset of ``spec.tasks``), task ``i`` of the layout = ``task_names[i]``.
        entry_dir: the study's folder of the entry (created), e.g. a grid entry; None: train in the shared run
            folder :func:`layout_run_dir` itself.
        data: loaders and tasks from :meth:`ExperimentSpec.load_data` (None: loaded here if the layout must train).
        device: where to train.
        progress: show a progress bar.
        checkpoint_every: checkpoint interval (default: 5 checkpoints per run).
        extra: plain values recorded in the entry's result (e.g. the pair and branching point).

    Returns:
        The result: ``metrics`` (``{task: {metric: mean of the last eval_last evaluations}}``), ``layout``,
        ``tasks``, ``params`` / ``macs`` (backbone, per image), ``head_params``, ``seconds`` (training time when it
        was trained), ``resumed_from``; with ``spec.plateau`` also ``convergence``
        (:func:`mtlkit.convergence.convergence_record`: ``plateaued``, ``improvement``, ``stopped_at``).
    """
    from mtlkit.files import locked

    shared = layout_run_dir(spec, layout, task_names, device)
    entry_dir = shared if entry_dir is None else Path(entry_dir)
    done = read_result(entry_dir)
    if done is not None:
        return done
    entry_dir.mkdir(parents=True, exist_ok=True)
    # a second process on the same entry waits, then reads the first one's result (not under torchrun: the ranks of
    # one run share the entry, as run_loop's lock)
    lock = locked(entry_dir / "run" / ".lock") if int(os.environ.get("WORLD_SIZE", "1")) <= 1 else contextlib.nullcontext()
    with lock:
        done = read_result(entry_dir)
        if done is not None:
            return done
        known = read_result(shared) if entry_dir != shared else None
        if known is not None:              # trained by another study: the same run
            result = {**known, **dict(extra or {})}
            _write_json(entry_dir / RESULT_NAME, result)
            return result
        if data is None:
            data = spec.load_data()
        result = _train_entry(spec, layout, task_names, entry_dir, data, device, progress, checkpoint_every, extra)
        if entry_dir != shared:
            _write_json(shared / RESULT_NAME, {k: v for k, v in result.items() if k not in (extra or {})})
        return result


def train_reference(spec: ExperimentSpec, data: ExperimentData | None = None, *, device: str = "cpu",
                    progress: bool = True) -> dict:
    """The single-task reference recipe: the spec's independent layout (one backbone per task, each task's loss
    reaching its own copy only, so it trains exactly as ``T`` single-task models), trained by :func:`train_entry`.

    Returns:
        ``{task: {metric: value}}`` of the single-task models (the reference of Δt).
    """
    layout = Layout.independent(spec.T, spec.B)
    return train_entry(spec, layout, spec.tasks, None, data, device=device, progress=progress)["metrics"]


def _train_entry(spec, layout, task_names, entry_dir: Path, data, device, progress, checkpoint_every, extra) -> dict:
    names = tuple(task_names)
    model = spec.build_model(layout, names, data.tasks)
    until = None
    if spec.plateau:
        from mtlkit.convergence import Plateau

        until = Plateau()
    t0 = time.perf_counter()
    history = train(model, {t: data.tasks[t] for t in names}, data.train_loader,
                    spec.train_config(device, checkpoint_every), run_dir=entry_dir / "run", progress=progress,
                    eval_loader=data.test_loader, until=until)
    seconds = time.perf_counter() - t0
    rows = history.eval[-spec.eval_last:]
    metrics: dict[str, dict[str, float]] = {}
    for t in names:
        for m in data.tasks[t].metrics:
            key = f"{t}/{m}"
            metrics.setdefault(t, {})[m] = float(sum(r[key] for r in rows) / len(rows))
    costs = model.costs()
    result = dict(extra or {}, layout=str(model.layout), tasks=list(names), metrics=metrics,
                  readings=[int(r["iteration"]) for r in rows], params=int(costs["params"]),
                  macs=int(costs["macs"]), head_params=int(model.head_parameters()), seconds=round(seconds, 3),
                  resumed_from=int(history.resumed_from), iterations=spec.iterations)
    if until is not None:
        from mtlkit.convergence import convergence_record

        result["convergence"] = convergence_record(history, until)
    _write_json(entry_dir / RESULT_NAME, result)
    return result


def train(*args, **kw):
    """:func:`mtlkit.train.train` (a module-level name, so tests can interrupt a run)."""
    from mtlkit.train import train as _train

    return _train(*args, **kw)
