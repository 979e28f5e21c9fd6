"""The oracle check of the task-accuracy estimator (TreeMTL §4.3, Table 3): estimated vs trained rankings.

The estimator ranks every layout from the two-task grid alone. The oracle trains every layout and ranks them by their
measured accuracy; Table 3 reports Pearson's γ between the two rankings (NYUv2 / Taskonomy, Deeplab-ResNet34 /
MobileNetV2: 0.504 to 0.836). :func:`oracle_study` runs the whole experiment for an :class:`ExperimentSpec`:

1. the two-task grid (:class:`~mtlkit.treemtl.grid.TwoTaskGrid`, ``C(T,2)·(B+1)`` models) → its table;
2. every ``T``-task layout (``count_layouts(T, B)`` models, paper order), trained with the same recipe;
3. per layout, the **estimated score** ``S(L) = w · est(L)`` (paper Eq. 2, :meth:`TwoTaskTable.score`) and the
   **trained score** ``w · Δ(L)`` with the same weights, where ``Δ_t(L)`` is task ``t``'s relative performance
   (:func:`mtlkit.delta.delta_t`) against the fully independent layout — the single-task models, which is what
   every two-task value is relative to (a pair's ``b = 0`` model is the two single-task models; the study checks
   that they agree, ``reference_gap``);
4. Pearson's r of the scores, Spearman's ρ (= Pearson's r of the two *rankings*, the paper's wording taken
   literally) and Kendall's τ (``scipy.stats``), with their p-values and n.

Weights: ``"auto"`` uses the SVD-entropy weights (the authors') when ``B >= 4`` and uniform weights otherwise: SVDE
of order 3 needs ``B >= 3`` values, and with exactly 3 values the embedding has a single row, so every SVDE is 0 and
the "SVDE weights" are uniform anyway.

Everything is resumable: the study directory (default: a :func:`mtlkit.cache.run_dir` keyed by the spec and the
code) holds the grid and one entry per layout; a finished model is never trained twice.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mtlkit.checks import check_int
from mtlkit.facts import BACKBONE_LABELS, DATASET_FACTS
from mtlkit.facts import PAPER_MAPPINGS as _FACT_MAPPINGS
from mtlkit.errors import ConfigError, unknown_name
from mtlkit.treemtl.experiment import ExperimentData, ExperimentSpec, train_entry
from mtlkit.treemtl.layout import Layout, pairs

__all__ = ["ORACLE_KIND", "study_dir", "OracleResult", "study_spec", "plan", "oracle_study", "correlations",
           "correlations_ci", "NONTRIVIAL", "plot_oracle", "oracle_records",
           "setting_name", "PAPER_MAPPINGS", "STUDY_BACKBONES"]

#: The paper's coarse mappings of the detected blocks (docs/treemtl.md §3; our detector finds the same 17 / 32 fine blocks).
PAPER_MAPPINGS = _FACT_MAPPINGS
#: Backbones the study presets accept, per scale group.
STUDY_BACKBONES = {"small": ("tiny_resnet", "tiny_cnn"), "paper": ("deeplab_resnet34", "mobilenet_v2")}
_SYNTH_TASKS = DATASET_FACTS["synthscenes"].study_tasks


def study_spec(scale: str, seed: int = 0, *, backbone: str = "auto", dataset: str = "auto",
               data_root: str | None = None, data_seed: int | None = None) -> ExperimentSpec:
    """The oracle study's experiment at a scale (validated at once).

    * ``smoke``: SynthScenes 32 px, 3 tasks, ``tiny_resnet`` (width 4) in ``B = 2`` blocks (12 layouts, 5 in which
      all three tasks share a block), linear heads, a few iterations — proves the code path in seconds; its numbers
      mean nothing.
    * ``cpu``: SynthScenes 64 px, 3 tasks (segmentation, depth, normals), ``tiny_resnet`` in ``B = 4``
      FLOP-balanced blocks (so the SVD-entropy weights are not uniform), light heads: 15 two-task models and 35
      three-task layouts, 22 of them nontrivial (>= 3 tasks share a block); a few seconds to twenty a model.
    * ``paper``: the paper's setting (docs/treemtl.md §3): NYUv2 (3 tasks, 20k iterations, lr 1e-3 halved every 4k) or
      Taskonomy (5 tasks, 50k iterations, lr 1e-4 ×0.3 every 10k), batch 16, Adam (0.5, 0.999), weight decay 1e-4,
      ASPP heads, Deeplab-ResNet34 or MobileNetV2 coarsened to 5 blocks with the authors' mappings.

    Args:
        scale: ``"smoke"``, ``"cpu"`` or ``"paper"``.
        seed: the training seed: initialisation and batch order (the paper: 10; 20 for its second MobileNetV2 run).
        data_seed: the data seed (:class:`ExperimentSpec` ``data_seed``; None: ``seed``). The oracle's seeds fix it
            and vary ``seed``, so they repeat the training on the same data.
        backbone: ``"auto"`` (smoke/cpu: ``tiny_resnet``; paper: ``deeplab_resnet34``) or one of
            :data:`STUDY_BACKBONES` for the scale.
        dataset: ``"auto"`` (smoke/cpu: ``synthscenes``; paper: ``nyuv2``), or ``"nyuv2"``/``"taskonomy"`` at paper
            scale.
        data_root: folder holding ``NYUv2/`` / ``Taskonomy/`` (paper scale only; required there).

    Returns:
        The :class:`ExperimentSpec`.

    Raises:
        ConfigError: a bad scale, a backbone or dataset the scale does not support, ``scale="paper"`` without
            ``data_root``.
    """
    from mtlkit.config import check_scale

    check_scale(scale)
    group = "paper" if scale == "paper" else "small"
    backbone = {"small": "tiny_resnet", "paper": "deeplab_resnet34"}[group] if backbone == "auto" else backbone
    if backbone not in STUDY_BACKBONES[group]:
        raise unknown_name(f"backbone at scale={scale!r}", backbone, STUDY_BACKBONES[group])
    if scale != "paper":
        if dataset not in ("auto", "synthscenes"):
            raise ConfigError(f"scale={scale!r} runs on SynthScenes; dataset={dataset!r} needs scale='paper'")
        kw = dict(backbone_kw={"width": 4}) if backbone == "tiny_resnet" and scale == "smoke" else {}
        if scale == "smoke":
            return ExperimentSpec(tasks=_SYNTH_TASKS, backbone=backbone, blocks=2, head="linear", resolution=32,
                                  n_train=16, n_test=8, batch_size=4, iterations=2, eval_every=1, eval_last=2,
                                  seed=seed, data_seed=data_seed, **kw)
        return ExperimentSpec(tasks=_SYNTH_TASKS, backbone=backbone, backbone_kw={"width": 8}, blocks=4,
                              head="light", head_kw={"width": 16}, resolution=64, n_train=512, n_test=64,
                              batch_size=8, iterations=140, lr=2e-3, eval_every=35, eval_last=3, seed=seed,
                              data_seed=data_seed)
    dataset = "nyuv2" if dataset == "auto" else dataset
    if dataset not in ("nyuv2", "taskonomy"):
        raise unknown_name("dataset at scale='paper'", dataset, ["nyuv2", "taskonomy"])
    if not data_root:
        raise ConfigError("scale='paper' trains on the real datasets: set data_root to the folder that holds "
                          f"{DATASET_FACTS[dataset].folder}/; got data_root={data_root!r}")
    common = dict(backbone=backbone, blocks=PAPER_MAPPINGS[backbone], head="aspp", dataset=dataset,
                  data_root=str(data_root), batch_size=16, weight_decay=1e-4, eval_last=3, seed=seed,
                  data_seed=data_seed)
    if dataset == "nyuv2":
        return ExperimentSpec(tasks=DATASET_FACTS["nyuv2"].tasks, iterations=20_000, lr=1e-3, lr_step=4_000, lr_gamma=0.5,
                              eval_every=1_000, **common)
    return ExperimentSpec(tasks=DATASET_FACTS["taskonomy"].tasks, iterations=50_000, lr=1e-4, lr_step=10_000,
                          lr_gamma=0.3, eval_every=2_500, **common)


def setting_name(spec: ExperimentSpec) -> str:
    """``"NYUv2 / Deeplab-ResNet34"`` (the paper's Table 3 column names), ``"SynthScenes / tiny_resnet (B=3)"``."""
    data = DATASET_FACTS[spec.dataset].label if spec.dataset in DATASET_FACTS else spec.dataset
    net = BACKBONE_LABELS.get(spec.backbone, spec.backbone)
    return f"{data} / {net}" if spec.dataset != "synthscenes" else f"{data} / {net} (B={spec.B})"


#: Run-cache kind of an oracle study folder (shared with :class:`mtlkit.compare.TreeMTLStudy`).
ORACLE_KIND = "treemtl-oracle"


def study_dir(spec: ExperimentSpec, device: str = "cpu") -> Path:
    """The run-cache folder of the oracle study of ``spec`` on ``device`` (:func:`mtlkit.cache.run_dir`)."""
    from mtlkit.cache import run_dir

    return run_dir(ORACLE_KIND, spec=spec.to_dict(), depends_on=("mtlkit.treemtl.oracle",), device=device)


def plan(spec: ExperimentSpec, max_layouts: int | None = None) -> dict[str, Any]:
    """What a study costs: numbers of models, training iterations and backbone MAC-iterations (no training).

    Returns:
        ``T``, ``B``, ``two_task_models``, ``layouts`` (trained), ``models``, ``iterations`` (total optimiser
        steps), ``backbone_gmac_steps`` (Σ over models of backbone GMACs per image × iterations × batch size).
    """
    from mtlkit.treemtl.costs import layout_costs
    from mtlkit.treemtl.enumerate import count_layouts

    _, blocks = spec.build_blocks()
    costs = blocks.block_costs()
    B, T = blocks.B, spec.T
    n_pairs = T * (T - 1) // 2
    layouts = _layouts(T, B, max_layouts, spec.seed)
    two_macs = sum(layout_costs(Layout.from_branch_points(2, B, [b]), costs)["macs"] for b in range(B + 1))
    macs = n_pairs * two_macs + sum(layout_costs(L, costs)["macs"] for _, L in layouts)
    models = n_pairs * (B + 1) + len(layouts)
    return dict(T=T, B=B, two_task_models=n_pairs * (B + 1), layouts=len(layouts), all_layouts=count_layouts(T, B),
                models=models, iterations=models * spec.iterations,
                backbone_gmac_steps=macs * spec.iterations * spec.batch_size / 1e9)


def _layouts(T: int, B: int, max_layouts: int | None, seed: int) -> list[tuple[int, Layout]]:
    """``(paper index, layout)`` of the layouts to train: all, or a seeded sample that keeps #0 and the independent
    layout (the reference)."""
    from mtlkit.treemtl.enumerate import enumerate_layouts

    every = list(enumerate(enumerate_layouts(T, B)))
    if max_layouts is None or max_layouts >= len(every):
        return every
    check_int(max_layouts, "max_layouts", minimum=3, none_ok=True)
    indep = Layout.independent(T, B)
    keep = {0, next(i for i, L in every if L == indep)}
    rng = np.random.default_rng(seed)
    rest = [i for i, _ in every if i not in keep]
    keep |= set(int(i) for i in rng.choice(rest, size=max_layouts - len(keep), replace=False))
    return [every[i] for i in sorted(keep)]


@dataclass(frozen=True, eq=False)
class OracleResult:
    """What :func:`oracle_study` measured.

    Attributes:
        spec: the experiment.
        directory: the study folder (grid, layouts).
        table: the trained two-task table.
        weights: task weights used by both scores.
        weights_method: ``"svde"`` or ``"uniform"``.
        layouts: one row per trained layout (index = paper index): ``layout``, ``multi`` (some block shared by
            >= 3 tasks), ``estimated`` (score), ``trained``
            (score at ``spec.seed``), ``trained_seed<s>`` (score at each oracle seed; NaN where not trained),
            ``oracle`` (their mean; NaN unless trained at every seed), ``from_grid`` (read off the grid),
            ``trained_mean`` (plain mean Δ), ``est_<task>`` / ``trained_<task>``, ``estimated_rank`` /
            ``trained_rank`` (1 = best), ``macs``, ``params``, ``seconds``.
        correlations: index ``pearson`` / ``spearman`` / ``kendall``; columns ``statistic``, ``p_value``, ``n``.
        correlations_multi: the same, with bootstrap CIs, over the layouts in which some block is shared by >= 3
            tasks (``multi`` column of ``layouts``; None if fewer than 3), against their ``oracle`` score (the mean
            over ``seeds`` of their trained scores). The other layouts are one or more two-task models next to
            independent tasks: training them reproduces their two-task models exactly, so their trained score is
            ``T - 1`` times the estimate (to float precision on the CPU) — they agree by construction, and only the ``multi`` layouts test
            how two-task results combine.
        reference_gap: largest |metric difference| between the independent layout and the pairs' ``b = 0`` models
            (0.0 when the single-task references agree exactly, as they do on the CPU).
        wall_s: wall time of this call (seconds; small when the models were trained before).
        trained_now: models trained by this call.
        seeds: the oracle's training seeds (the first trained with the grid is ``spec.seed``).
        correlations_seeds: ``{seed: correlations}`` over the ``multi`` layouts, estimate vs that seed's trained
            score, with bootstrap CIs (``ci_low``, ``ci_high``; :func:`correlations_ci`); empty if fewer than 3.
        reliability: split-half reliability of the ``multi`` layouts' trained scores across ``seeds``
            (:func:`mtlkit.stats.split_half_reliability`: the seeds split into two halves, each layout's score
            averaged within a half, Pearson's r between the halves over the layouts, averaged over the splits and
            Spearman–Brown corrected, ``2r / (1 + r)``); NaN with one seed. It bounds what any estimate can reach:
            the correlation with the seed-averaged oracle is at most about ``sqrt(reliability)``.
    """

    spec: ExperimentSpec
    directory: Path
    table: Any
    weights: np.ndarray
    weights_method: str
    layouts: Any
    correlations: Any
    correlations_multi: Any
    reference_gap: float
    wall_s: float
    trained_now: int
    seeds: tuple = ()
    correlations_seeds: Any = None
    reliability: float = math.nan


def correlations(estimated: Sequence[float], trained: Sequence[float]):
    """Pearson's r, Spearman's ρ and Kendall's τ between two score vectors (``scipy.stats``).

    Returns:
        DataFrame indexed ``pearson``, ``spearman``, ``kendall`` with ``statistic``, ``p_value``, ``n``; NaN where
        a vector is constant (the correlation is undefined).
    """
    import pandas as pd
    from scipy import stats

    x, y = np.asarray(estimated, dtype=float), np.asarray(trained, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ConfigError(f"correlations: expected two vectors of the same length, got shapes {x.shape} and {y.shape}")
    if len(x) < 3:
        raise ConfigError(f"correlations: need at least 3 layouts, got {len(x)}")
    rows = {}
    constant = np.ptp(x) == 0 or np.ptp(y) == 0
    for name, fn in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
        if constant:
            rows[name] = dict(statistic=math.nan, p_value=math.nan, n=len(x))
            continue
        res = fn(x, y)
        rows[name] = dict(statistic=float(res.statistic), p_value=float(res.pvalue), n=len(x))
    return pd.DataFrame.from_dict(rows, orient="index")


def oracle_study(spec: ExperimentSpec, directory: str | Path | None = None, *, device: str = "cpu",
                 weights: str | Sequence[float] = "auto", max_layouts: int | None = None, progress: bool = True,
                 data: ExperimentData | None = None, num_threads: int | None = None,
                 num_workers: int = 0, executor: Any = None, seeds: Sequence[int] | None = None,
                 disguised: str = "train") -> OracleResult:
    """Train the two-task grid and every layout, and correlate the estimated with the trained ranking.

    Args:
        spec: the experiment (e.g. :func:`study_spec`).
        directory: study folder (default: ``mtlkit.cache.run_dir("treemtl-oracle", ...)``); resumable.
        device: training device.
        weights: ``"auto"`` (see the module docstring), ``"svde"``, ``"uniform"`` or ``T`` explicit weights.
        max_layouts: train only a seeded sample of this many layouts (always #0 and the independent one); None = all.
        progress: progress bars.
        data: pre-loaded data (default: loaded once here, only if something is left to train).
        num_threads: torch intra-op threads during the study (restored after; None = unchanged). The CPU-scale
            models are tiny: one thread avoids the oversubscription that makes them slow when other processes
            share the cores.
        num_workers: DataLoader workers when the data is loaded here (real datasets on a GPU want several).
        executor: where the independent trainings go (the grid's entries, then the layouts): None or
            ``"sequential"`` trains them here, one after the other; a :mod:`mtlkit.executors` name (``"local"``,
            ``"ray"``, ``"slurm"``) or executor object sends one run per unfinished model, each writing the same
            study folder, so the table is the sequential one. A run that fails is raised as
            :class:`mtlkit.executors.RunsFailed` after the others finished.
        seeds: the oracle's training seeds (None: the spec's seed alone). The two-task grid — the estimator — is
            trained once, at ``spec.seed`` (which ``seeds`` must contain); every seed trains the layouts in which
            >= 3 tasks share a block and the independent layout (that seed's reference), with the spec's data
            (several seeds need ``spec.data_seed`` set, so only the initialisation and the batch order change).
        disguised: the layouts in which no block is shared by >= 3 tasks (two-task models next to independent
            tasks), at the grid's seed: ``"train"`` trains them; ``"grid"`` reads their metrics off the grid's
            models — the same models, so the same numbers on the CPU (``from_grid`` column). At the other seeds
            they are never trained: their score is (T-1) × the estimate by construction, they test nothing.

    Returns:
        An :class:`OracleResult`.
    """
    import torch

    if num_threads is None:
        return _oracle_study(spec, directory, device, weights, max_layouts, progress, data, num_workers, executor,
                             seeds, disguised)
    check_int(num_threads, "num_threads", minimum=1, none_ok=True)
    old = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        return _oracle_study(spec, directory, device, weights, max_layouts, progress, data, num_workers, executor,
                             seeds, disguised)
    finally:
        torch.set_num_threads(old)


def train_layout_entry(spec: ExperimentSpec, layout: str, entry_dir: str, paper_index: int, device: str = "cpu",
                       num_workers: int = 0) -> str:
    """One layout of the oracle study, for an executor's worker: train (or find) it in its study folder.

    Returns:
        ``entry_dir``.
    """
    train_entry(spec, layout, spec.tasks, entry_dir, None, device=device, progress=False,
                extra=dict(paper_index=paper_index))
    return entry_dir


def _remote(executor) -> bool:
    return executor is not None and executor != "sequential" and getattr(executor, "name", None) != "sequential"


def _is_multi(L: Layout) -> bool:
    """Some block of ``L`` is shared by >= 3 tasks (the layouts the estimator really has to predict)."""
    return max(len(g) for part in L.blocks for g in part) >= 3


def _check_seeds(spec: ExperimentSpec, seeds, disguised: str) -> tuple[int, ...]:
    if disguised not in ("train", "grid"):
        raise unknown_name("disguised", disguised, ["train", "grid"])
    if seeds is None:
        return (spec.seed,)
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ConfigError(f"seeds must be a list of distinct non-negative ints, got {seeds!r}")
    out = tuple(seeds)
    for s in out:
        check_int(s, "seeds[i]", minimum=0)
    if not out or len(set(out)) != len(out):
        raise ConfigError(f"seeds must be a non-empty list of distinct non-negative ints, got {list(out)}")
    if spec.seed not in out:
        raise ConfigError(f"seeds must contain the spec's seed {spec.seed} (the two-task grid's training seed), "
                          f"got {list(out)}")
    if len(out) > 1 and spec.data_seed is None:
        raise ConfigError("several oracle seeds need a fixed data seed, so that they repeat the training on the same "
                          "data: set the spec's data_seed (e.g. study_spec(..., data_seed=0)); got data_seed=None")
    return out


def _from_grid(grid, L: Layout, spec: ExperimentSpec, costs) -> dict:
    """The result of a layout in which no block is shared by >= 3 tasks, read off the two-task grid: each task's
    metrics are those of its two-task model with the partner it shares blocks with (``b > 0``), or of a ``b = 0``
    model (its single-task model) if it shares none — the same models, with the grid's seed and data."""
    from mtlkit.treemtl.costs import layout_costs

    metrics = {}
    for i, t in enumerate(spec.tasks):
        b, j = max((L.branch_point(i, j), j) for j in range(spec.T) if j != i)
        metrics[t] = dict(grid.result(grid.entry((i, j), b))["metrics"][t])
    c = layout_costs(L, costs)
    return dict(metrics=metrics, macs=int(c["macs"]), params=int(c["params"]) if math.isfinite(c["params"]) else -1,
                seconds=0.0, from_grid=True)


def _oracle_study(spec, directory, device, weights, max_layouts, progress, data, num_workers,
                  executor=None, seeds=None, disguised="train") -> OracleResult:
    import dataclasses

    import pandas as pd
    from tqdm.auto import tqdm

    from mtlkit.delta import delta_t
    from mtlkit.stats import split_half_reliability
    from mtlkit.treemtl.estimator import task_weights
    from mtlkit.treemtl.experiment import read_result
    from mtlkit.treemtl.grid import TwoTaskGrid

    t0 = time.perf_counter()
    if not isinstance(spec, ExperimentSpec):
        raise ConfigError(f"spec must be an ExperimentSpec (see study_spec), got {type(spec).__name__}")
    seeds = _check_seeds(spec, seeds, disguised)
    directory = Path(study_dir(spec, device) if directory is None else directory)
    T, B = spec.T, spec.B
    layouts = _layouts(T, B, max_layouts, spec.seed)
    indep = next(i for i, L in layouts if L == Layout.independent(T, B))
    grid = TwoTaskGrid(directory / "grid", spec)
    # (entry folder, paper index, layout, seed's spec): every selected layout at the grid's seed (the two-task models
    # in disguise only if disguised="train"), the >= 3-sharing ones and the reference at the other seeds
    entries = []
    for s in seeds:
        spec_s = spec if s == spec.seed else dataclasses.replace(spec, seed=s)
        folder = directory / "layouts" if s == spec.seed else directory / f"layouts_seed{s}"
        for i, L in layouts:
            if _is_multi(L) or i == indep or (s == spec.seed and disguised == "train"):
                entries.append((folder / f"{i:05d}", i, L, spec_s))
    todo = len(grid.missing()) + sum(read_result(d) is None for d, *_ in entries)
    if _remote(executor):
        from mtlkit.executors import Run, RunsFailed, get_executor, run_all

        ex = get_executor(executor)
        grid.run(device=device, progress=progress, num_workers=num_workers, executor=ex)
        runs = [Run(f"layout-s{sp.seed}-{i:05d}", train_layout_entry, (sp, str(L), str(d), i),
                    dict(device=device, num_workers=num_workers)) for d, i, L, sp in entries if read_result(d) is None]
        outcomes = run_all(runs, ex, progress=progress, desc="layouts")
        if not all(o.ok for o in outcomes):
            raise RunsFailed(outcomes)
    left = len(grid.missing()) + sum(read_result(d) is None for d, *_ in entries)
    if data is None and left:
        data = spec.load_data(num_workers)   # the same data for every seed (data_seed is fixed)
    grid.run(device=device, progress=progress, data=data)
    table = grid.table()
    grid.write_table()

    results: dict[int, dict[int, dict]] = {s: {} for s in seeds}
    for d, i, L, sp in tqdm(entries, desc="layouts", disable=not progress):
        results[sp.seed][i] = train_entry(sp, L, spec.tasks, d, data, device=device, progress=progress,
                                          extra=dict(paper_index=i))
    costs = spec.build_blocks()[1].block_costs()
    for i, L in layouts:
        if i not in results[spec.seed]:
            results[spec.seed][i] = _from_grid(grid, L, spec, costs)

    method = ("svde" if B >= 4 else "uniform") if weights == "auto" else weights
    w = task_weights(table, method)
    reference = results[spec.seed][indep]["metrics"]
    gap = 0.0
    for a, c in pairs(T):
        zero = grid.result(next(e for e in grid.entries if e.pair == (a, c) and e.branch == 0))["metrics"]
        for t in (spec.tasks[a], spec.tasks[c]):
            gap = max(gap, max(abs(zero[t][m] - reference[t][m]) for m in reference[t]))

    def score(s: int, i: int) -> np.ndarray:
        rel = delta_t(results[s][i]["metrics"], results[s][indep]["metrics"], zero_reference="skip").per_task
        return np.array([rel[t] for t in spec.tasks])

    rows = []
    for i, L in layouts:
        est, trained = table.estimate(L), score(spec.seed, i)
        res = results[spec.seed][i]
        row = dict(paper_index=i, layout=str(L), multi=_is_multi(L), from_grid=bool(res.get("from_grid", False)),
                   estimated=float(est @ w), trained=float(trained @ w), trained_mean=float(trained.mean()),
                   macs=res["macs"], params=res["params"], seconds=res["seconds"])
        for s in seeds:
            row[f"trained_seed{s}"] = float(score(s, i) @ w) if i in results[s] else math.nan
        measured = [row[f"trained_seed{s}"] for s in seeds]
        row["oracle"] = float(np.mean(measured)) if all(map(math.isfinite, measured)) else math.nan
        row.update({f"est_{t}": float(v) for t, v in zip(spec.tasks, est)})
        row.update({f"trained_{t}": float(v) for t, v in zip(spec.tasks, trained)})
        rows.append(row)
    df = pd.DataFrame(rows).set_index("paper_index")
    df["estimated_rank"] = df["estimated"].rank(ascending=False, method="min").astype(int)
    df["trained_rank"] = df["trained"].rank(ascending=False, method="min").astype(int)
    corr = correlations(df["estimated"], df["trained"])
    multi = df[df["multi"]]
    per_seed, corr_multi, reliability = {}, None, math.nan
    if len(multi) >= 3:
        per_seed = {s: correlations_ci(multi["estimated"], multi[f"trained_seed{s}"]) for s in seeds}
        corr_multi = correlations_ci(multi["estimated"], multi["oracle"])
        if len(seeds) >= 2:
            reliability = split_half_reliability(multi[[f"trained_seed{s}" for s in seeds]].to_numpy())
    trained_now = todo
    return OracleResult(spec, directory, table, w, method if isinstance(method, str) else "explicit", df, corr,
                        corr_multi, float(gap), time.perf_counter() - t0, int(trained_now), seeds, per_seed,
                        float(reliability))


def correlations_ci(estimated: Sequence[float], trained: Sequence[float], *, n_resamples: int = 2000,
                    seed: int = 0):
    """:func:`correlations` with a 95 % bootstrap interval of each coefficient (``ci_low``, ``ci_high``;
    :func:`mtlkit.stats.correlation_ci`: the layouts are resampled, estimated and trained score together; NaN where
    a vector is constant)."""
    from mtlkit.stats import correlation_ci

    out = correlations(estimated, trained)
    out["ci_low"], out["ci_high"] = math.nan, math.nan
    for name in out.index:
        if math.isfinite(out.loc[name, "statistic"]):
            ci = correlation_ci(estimated, trained, name, n_resamples=n_resamples, seed=seed)
            out.loc[name, ["ci_low", "ci_high"]] = [ci.low, ci.high]
    return out


#: Method label of the correlations over the layouts in which >= 3 tasks share a block.
NONTRIVIAL = "Ours, nontrivial layouts (>=3 tasks share a block)"
_METRICS = (("pearson", "pearson_r"), ("spearman", "spearman_rho"), ("kendall", "kendall_tau"))


def _corr_rows(corr, label: str, n: int, common: dict, **extra) -> list[dict]:
    out = []
    for name, metric in _METRICS:
        r = corr.loc[name]
        if math.isfinite(r["statistic"]):
            row = dict(common, method=label, metric=metric, value=float(r["statistic"]),
                       p_value=f"{r['p_value']:.3g}", n_layouts=int(r["n"]), **extra)
            if "ci_low" in corr:
                row.update(ci_low=float(r["ci_low"]), ci_high=float(r["ci_high"]))
            out.append(row)
    out.append(dict(common, method=label, metric="n_layouts", value=n, **extra))
    return out


def oracle_records(result: OracleResult, method: str = "Ours", seed: int | None = None) -> list[dict]:
    """Rows for :func:`mtlkit.report.record` (table ``treemtl_table3``) of one oracle seed (default: the grid's).

    * At the grid's seed: ``"<method>, all layouts"`` — ``pearson_r`` (scores), ``spearman_rho`` (rankings),
      ``kendall_tau``, each with its p-value and the number of layouts, and ``n_layouts``, over every layout
      (the two-task models in disguise included, which agree by construction).
    * At every seed, when >= 3 layouts have a block shared by >= 3 tasks: :data:`NONTRIVIAL` — the same three
      coefficients over those layouts only, estimate (the grid's) vs that seed's trained scores, each with a
      bootstrap 95 % CI (``ci_low``, ``ci_high``) and ``grid_seed``.
    * At the grid's seed, with >= 2 seeds: ``"<nontrivial>, oracle = mean of N seeds"`` — the coefficients against
      the seed-averaged trained scores, and ``oracle_reliability``: the split-half reliability of those trained
      scores across the seeds (:func:`mtlkit.stats.split_half_reliability`, Pearson, Spearman–Brown corrected).
    """
    seed = result.spec.seed if seed is None else seed
    if seed not in result.seeds:
        raise ConfigError(f"oracle_records: seed {seed} was not an oracle seed of the study; seeds are "
                          f"{list(result.seeds)}")
    common = dict(setting=setting_name(result.spec), task="all", backbone=result.spec.backbone,
                  weights=result.weights_method)
    label = NONTRIVIAL if method == "Ours" else f"{method}, nontrivial layouts (>=3 tasks share a block)"
    n_multi = int(result.layouts["multi"].sum())
    out = []
    if seed == result.spec.seed:
        out += _corr_rows(result.correlations, f"{method}, all layouts", len(result.layouts), common)
    if seed in result.correlations_seeds:
        out += _corr_rows(result.correlations_seeds[seed], label, n_multi, common, grid_seed=result.spec.seed)
    if seed == result.spec.seed and len(result.seeds) >= 2 and result.correlations_multi is not None:
        mean_label = f"{label}, oracle = mean of {len(result.seeds)} seeds"
        seeds_text = " ".join(map(str, result.seeds))
        out += _corr_rows(result.correlations_multi, mean_label, n_multi, common, grid_seed=result.spec.seed,
                          seeds=seeds_text)
        if math.isfinite(result.reliability):
            out.append(dict(common, method=mean_label, metric="oracle_reliability", value=result.reliability,
                            n_layouts=n_multi, n_seeds=len(result.seeds), seeds=seeds_text))
    return out


def plot_oracle(result: OracleResult, title: str | None = None):
    """Two panels: estimated vs trained score (each point a layout, labelled #paper index) and rank vs rank.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    df = result.layouts
    c = result.correlations["statistic"]
    n = len(df)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    T, B = result.spec.T, result.spec.B
    special = {0: "all shared", int(df.index[(df["layout"] == str(Layout.independent(T, B)))][0]): "independent"}
    kinds = [("multi", df["multi"], "tab:blue", f">= 3 tasks share a block (n = {int(df['multi'].sum())})"),
             ("pairs", ~df["multi"], "0.6", f"two-task models + independent tasks (n = {int((~df['multi']).sum())})")]
    for ax, xs, ys in ((ax1, "estimated", "trained"), (ax2, "estimated_rank", "trained_rank")):
        for _, mask, color, label in kinds:
            ax.scatter(df.loc[mask, xs], df.loc[mask, ys], c=color, s=36, zorder=3, label=label)
    for i, r in df.iterrows():
        ax1.annotate(f"#{i}" + (f" {special[i]}" if i in special else ""), (r["estimated"], r["trained"]),
                     fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax1.axhline(0, color="0.8", lw=0.8)
    ax1.axvline(0, color="0.8", lw=0.8)
    pair_est = df.loc[~df["multi"], "estimated"]
    lo, hi = pair_est.min(), pair_est.max()
    ax1.plot([lo, hi], [(T - 1) * lo, (T - 1) * hi], color="0.6", lw=0.8, ls=":",
             label=f"trained = {T - 1} × estimated (two-task models in disguise)")
    ax1.set_xlabel("estimated score  $S(L)=w^\\top\\hat{\\Delta t}(L)$  (from two-task models, %)")
    ax1.set_ylabel("trained score  $w^\\top\\Delta t(L)$  vs single-task models (%)")
    sub = ""
    if result.correlations_multi is not None:
        sub = f"; >= 3 sharing: r = {result.correlations_multi.loc['pearson', 'statistic']:.3f}"
    ax1.set_title(f"scores: Pearson r = {c['pearson']:.3f} (n = {n}){sub}", fontsize=11)
    ax2.plot([1, n], [1, n], color="0.6", lw=0.8, ls="--", label="identical rankings")
    ax2.set_xlabel("estimated rank (1 = best)")
    ax2.set_ylabel("oracle rank after training (1 = best)")
    ax2.invert_xaxis()
    ax2.invert_yaxis()
    ax2.set_title(f"rankings: Spearman ρ = {c['spearman']:.3f}, Kendall τ = {c['kendall']:.3f}", fontsize=11)
    fig.suptitle(title or f"TreeMTL estimator vs oracle: {setting_name(result.spec)}, T={T}, seed {result.spec.seed}",
                 fontsize=12)
    handles, labels = ax2.get_legend_handles_labels()
    h1, l1 = ax1.get_legend_handles_labels()
    handles.append(h1[-1])
    labels.append(l1[-1])
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8.5, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig

