"""The known-answer experiment: do TreeMTL and AutoMTL find task structure that was planted on purpose?

Four SynthScenes planted tasks (:data:`KNOWN_ANSWER_TASKS`, :class:`mtlkit.data.synthetic.PlantedTask`) form two
related pairs: ``planted_a`` and ``planted_b`` are two mixes of the *geometric* factors ``distance`` and ``height``;
``planted_c`` and ``planted_d`` two mixes of ``lateral`` and ``texture``, factors nearly uncorrelated with the
first two (see :class:`~mtlkit.data.synthetic.PlantedTask`). The right answer is known: group a with b and c with d.

(a) **TreeMTL end to end** (:func:`treemtl_arm`): train the two-task grid of the four tasks
    (:func:`mtlkit.treemtl.train_two_task_grid`), build the two-task table, recommend the top-1 layout within a
    budget of 2 backbones (:func:`mtlkit.treemtl.recommend`). A seed *groups the planted pairs* when in that layout
    both planted pairs share more leading blocks than any cross pair (:func:`groups_planted_pairs`). The random
    recommender picks a layout uniformly among those within the budget; its rate is exact
    (:func:`random_recommender_rate`: the share of feasible layouts that group the pairs).

(b) **AutoMTL** (:func:`automtl_arm`): policy-train the four tasks with the paper's regulariser
    (:func:`mtlkit.automtl.synth.run_variant`) and read the learned policy. Two tasks *co-share* a node when both
    pick its shared op; a policy *shares more within the planted pairs* when the mean co-sharing of the two planted
    pairs exceeds that of the four cross pairs (:func:`shares_within_pairs`). Rates are given for the search's own
    discrete policy (the paper's τ = 1 sample) and the argmax policy, next to the rate of uniformly random policies
    (:func:`mtlkit.automtl.baselines.random_policy`, many draws). The expected co-sharing under the learned
    distributions gives a continuous margin per seed (within minus across; 0 in expectation for a uniform policy),
    tested against 0 with the Wilcoxon signed-rank test.

Each arm's success rate over the seeds is compared with the random rate by an exact binomial test
(``scipy.stats.binomtest``). :func:`run` does both arms for several seeds and :func:`result_rows` turns the
outcome into rows for :func:`mtlkit.report.record` (table ``planted_structure``).

Measured at ``"cpu"`` scale (:data:`SIZES`; seeds 0-4, data seed 0; ``treemtl_arm("cpu", s)`` and
``automtl_arm("cpu", s)`` for each seed, 2026-12-03): TreeMTL's top-1 within 2 backbones was the planted grouping
``[01,23]x3`` for seeds 0, 2 and 3 (rate 3/5) against the random recommender's exact 5/46 = 0.109 (binomial
p = 0.011). AutoMTL did not show the structure: the τ = 1 sample shared more within the pairs for 3/5 seeds against
0.384 for random policies (p = 0.29), the argmax policy for 0/5, and the expected co-sharing margin was
0.00006 (95 % CI −0.0021 to 0.0022; Wilcoxon p = 1.0) — the policies moved towards sharing overall (mean
p_shared 0.54, mean |logit| 0.46 after 600 policy-train iterations) but not by pair.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from mtlkit.config import check_scale
from mtlkit.data.synthetic import PlantedTask, SynthConfig
from mtlkit.errors import ConfigError

__all__ = ["KNOWN_ANSWER_TASKS", "PLANTED_PAIRS", "SIZES", "TABLE", "groups_planted_pairs",
           "random_recommender_rate", "co_sharing", "shares_within_pairs", "expected_co_sharing",
           "random_policy_rate", "treemtl_arm", "automtl_arm", "PlantedResult", "run", "result_rows"]

TABLE = "planted_structure"
KNOWN_ANSWER_TASKS = (
    PlantedTask("planted_a", ("distance", "height"), (1.0, 0.5)),
    PlantedTask("planted_b", ("distance", "height"), (0.5, 1.0)),
    PlantedTask("planted_c", ("lateral", "texture"), (1.0, 0.5)),
    PlantedTask("planted_d", ("lateral", "texture"), (0.5, 1.0)),
)
PLANTED_PAIRS = ((0, 1), (2, 3))
#: per scale: images, resolution, batch, backbone width, coarse blocks, grid iterations per model, AutoMTL stages
SIZES = {
    "smoke": dict(n_train=16, n_test=8, resolution=32, batch=8, width=4, blocks=3, grid_iterations=3,
                  pre=0, policy=6, random_draws=200),
    "cpu": dict(n_train=512, n_test=64, resolution=32, batch=16, width=8, blocks=3, grid_iterations=150,
                pre=100, policy=600, random_draws=5000),
    "paper": dict(n_train=4096, n_test=512, resolution=64, batch=16, width=16, blocks=4, grid_iterations=5000,
                  pre=10_000, policy=20_000, random_draws=5000),
}


def _pairs_sets(T: int, pairs: Sequence[tuple[int, int]]):
    from mtlkit.treemtl.layout import pairs as all_pairs

    within = {tuple(sorted(p)) for p in pairs}
    every = all_pairs(T)
    if not within <= set(every) or len(within) != len(pairs):
        raise ConfigError(f"pairs must be distinct task index pairs of 0..{T - 1}, got {list(pairs)}")
    return every, [k for k, p in enumerate(every) if p in within], [k for k, p in enumerate(every) if p not in within]


# ---------------------------------------------------------------------------------------------------- TreeMTL
def groups_planted_pairs(layout, pairs: Sequence[tuple[int, int]] = PLANTED_PAIRS) -> bool:
    """True when every planted pair shares more leading blocks than every cross pair in ``layout``.

    Args:
        layout: a :class:`mtlkit.treemtl.Layout` (or its string).
        pairs: the planted pairs (task indices).
    """
    from mtlkit.treemtl.layout import Layout

    layout = Layout.parse(layout) if isinstance(layout, str) else layout
    _, w, c = _pairs_sets(layout.T, pairs)
    bp = layout.branch_points
    return min(bp[k] for k in w) > max(bp[k] for k in c)


def random_recommender_rate(T: int, B: int, block_costs, budget: float | None = 2.0,
                            pairs: Sequence[tuple[int, int]] = PLANTED_PAIRS) -> float:
    """The probability that a layout drawn uniformly among those within ``budget`` groups the planted pairs (exact).

    Args:
        T: tasks. B: blocks.
        block_costs: per-block costs (:class:`mtlkit.treemtl.BlockCosts` or MACs per block).
        budget: in backbones (None: every layout).
        pairs: the planted pairs.
    """
    from mtlkit.treemtl.costs import as_block_costs, check_budget, layout_cost_matrix
    from mtlkit.treemtl.enumerate import branch_point_matrix

    _, w, c = _pairs_sets(T, pairs)
    bp = branch_point_matrix(T, B)
    if budget is not None:
        costs = as_block_costs(block_costs, B)
        bp = bp[layout_cost_matrix(bp, T, costs.per_block("macs")) <= check_budget(budget, T, costs, "macs")]
    ok = bp[:, w].min(1) > bp[:, c].max(1)
    return float(ok.mean())


def _setting(sizes: Mapping) -> str:
    return f"SynthScenes planted / tiny_resnet w{sizes['width']} @{sizes['resolution']}px"


def treemtl_arm(scale: str, seed: int, *, data_seed: int = 0, device: str = "cpu", budget: float = 2.0,
                sizes: Mapping | None = None, progress: bool = False) -> dict[str, Any]:
    """TreeMTL end to end on the planted tasks for one training seed (grid cached in :func:`mtlkit.cache.run_dir`).

    Args:
        scale: ``"smoke"``, ``"cpu"`` or ``"paper"`` (sizes in :data:`SIZES`).
        seed: training seed (initialisation and data order; the images come from ``data_seed``).
        data_seed: SynthScenes seed.
        device: training device.
        budget: the recommender's budget in backbones.
        sizes: entries of ``SIZES[scale]`` to change.
        progress: progress bars.

    Returns:
        ``layout`` (top-1 within the budget), ``grouped`` (bool), ``random_rate``, ``table`` (the
        :class:`TwoTaskTable`), ``B``, ``seconds``.
    """
    import torch

    from mtlkit.cache import run_dir
    from mtlkit.data import SynthScenes
    from mtlkit.treemtl import ExperimentSpec, recommend, train_two_task_grid
    from mtlkit.treemtl.experiment import ExperimentData

    sz = _sizes(scale, sizes)
    t0 = time.perf_counter()
    names = tuple(p.name for p in KNOWN_ANSWER_TASKS)
    spec = ExperimentSpec(tasks=names, backbone="tiny_resnet", backbone_kw={"width": sz["width"]},
                          blocks=sz["blocks"], resolution=sz["resolution"], n_train=sz["n_train"],
                          n_test=sz["n_test"], batch_size=sz["batch"], iterations=sz["grid_iterations"], seed=seed)
    cfg = SynthConfig(planted=KNOWN_ANSWER_TASKS)
    sets = {split: SynthScenes(split, size=sz[f"n_{split}"], resolution=sz["resolution"], tasks=names,
                               seed=data_seed, config=cfg, cache=True) for split in ("train", "test")}
    data = ExperimentData(
        torch.utils.data.DataLoader(sets["train"], batch_size=sz["batch"], shuffle=True,
                                    generator=torch.Generator().manual_seed(seed)),
        torch.utils.data.DataLoader(sets["test"], batch_size=max(sz["batch"], 16)), spec.task_objects())
    directory = run_dir("planted-grid", spec=spec.to_dict(), data_seed=data_seed, planted=repr(cfg.planted))
    # models of seconds: one checkpoint at the end of each (an entry's result.json is the unit of resumption)
    every = None if scale == "paper" else spec.iterations
    grid = train_two_task_grid(directory, spec, device=device, progress=progress, data=data, checkpoint_every=every)
    table = grid.table()
    costs = spec.build_blocks()[1].block_costs()
    top = recommend(table, costs, budget=budget, k=1)
    layout = top["layout"].iloc[0]
    return dict(layout=str(layout), grouped=groups_planted_pairs(layout), B=spec.B, table=table,
                random_rate=random_recommender_rate(len(names), spec.B, costs, budget),
                seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------- AutoMTL
def co_sharing(policy: Mapping[str, Mapping[str, str]], tasks: Sequence[str]) -> np.ndarray:
    """``(T, T)`` share of nodes at which both tasks pick the shared op (diagonal: each task's own share)."""
    from mtlkit.automtl.policy import ALIASES

    if not policy:
        raise ConfigError("co_sharing: the policy is empty")
    shared = np.array([[ALIASES.get(row[t], row[t]) == "shared" for t in tasks] for row in policy.values()], float)
    return shared.T @ shared / len(policy)


def _margin(matrix: np.ndarray, pairs: Sequence[tuple[int, int]]) -> float:
    every, w, c = _pairs_sets(matrix.shape[0], pairs)
    vals = [matrix[i, j] for i, j in every]
    return float(np.mean([vals[k] for k in w]) - np.mean([vals[k] for k in c]))


def shares_within_pairs(policy: Mapping, tasks: Sequence[str], pairs: Sequence[tuple[int, int]] = PLANTED_PAIRS
                        ) -> tuple[bool, float]:
    """Whether the planted pairs co-share more nodes on average than the cross pairs, and the margin."""
    m = _margin(co_sharing(policy, tasks), pairs)
    return m > 0, m


def expected_co_sharing(supermodel, pairs: Sequence[tuple[int, int]] = PLANTED_PAIRS) -> float:
    """Margin (planted minus cross pairs) of the expected co-sharing under the learned distributions.

    For tasks ``i, j`` it is the mean over nodes of ``p_i(shared) · p_j(shared)`` (softmax of the logits at τ = 1).
    """
    import torch

    with torch.no_grad():
        p = torch.stack([torch.softmax(lg.detach().float().cpu(), -1)[:, 0] for lg in supermodel.logits.values()])
    p = p.numpy()  # (nodes, T): probability of "shared" (choice 0)
    return _margin(p.T @ p / p.shape[0], pairs)


def random_policy_rate(supermodel, tasks: Sequence[str], n_draws: int, *, seed: int = 0,
                       pairs: Sequence[tuple[int, int]] = PLANTED_PAIRS) -> float:
    """Share of uniformly random policies (:func:`mtlkit.automtl.baselines.random_policy`) that share more within
    the planted pairs."""
    from mtlkit.automtl.baselines import random_policy

    return float(np.mean([shares_within_pairs(random_policy(supermodel, seed + k), tasks, pairs)[0]
                          for k in range(n_draws)]))


def automtl_arm(scale: str, seed: int, *, data_seed: int = 0, device: str = "cpu", sizes: Mapping | None = None,
                progress: bool = False) -> dict[str, Any]:
    """AutoMTL policy-train on the planted tasks for one seed (stages cached in :func:`mtlkit.cache.run_dir`).

    Returns:
        ``sampled`` / ``argmax`` (``(grouped, margin)`` of the search's τ = 1 sample and of the argmax policy),
        ``expected_margin``, ``p_shared`` (mean learned probability of sharing), ``mean_abs_logit``, ``random_rate``,
        ``seconds``.
    """
    from mtlkit.automtl.search import discretize
    from mtlkit.automtl.synth import run_variant, synth_setup

    sz = _sizes(scale, sizes)
    t0 = time.perf_counter()
    names = tuple(p.name for p in KNOWN_ANSWER_TASKS)
    setup = synth_setup(scale, device=device, data_seed=data_seed, tasks=names,
                        synth_config=SynthConfig(planted=KNOWN_ANSWER_TASKS),
                        sizes=dict(n_train=sz["n_train"], n_test=sz["n_test"], resolution=sz["resolution"],
                                   batch=sz["batch"], width=sz["width"], pre=sz["pre"], policy=sz["policy"]))
    run_ = run_variant(setup, "paper", seed, post=False, progress=progress)
    sm = run_.supermodel
    sampled = discretize(sm, run_.config, method="sample").policy
    logits = [lg.detach().float() for lg in sm.logits.values()]
    import torch

    p_shared = float(torch.cat([torch.softmax(lg, -1)[:, 0] for lg in logits]).mean())
    mean_abs = float(torch.cat([lg.abs().reshape(-1) for lg in logits]).mean())
    return dict(sampled=shares_within_pairs(sampled, names), argmax=shares_within_pairs(sm.argmax_policy(), names),
                expected_margin=expected_co_sharing(sm), p_shared=p_shared, mean_abs_logit=mean_abs,
                random_rate=random_policy_rate(sm, names, sz["random_draws"]), seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------- the study
def _sizes(scale: str, sizes: Mapping | None) -> dict:
    check_scale(scale)
    unknown = sorted(set(sizes or {}) - set(SIZES[scale]))
    if unknown:
        raise ConfigError(f"sizes has unknown keys {unknown}; known are {sorted(SIZES[scale])}")
    return {**SIZES[scale], **dict(sizes or {})}


@dataclass
class PlantedResult:
    """Per-seed outcomes of both arms and their summaries (see :func:`run`)."""

    scale: str
    seeds: tuple[int, ...]
    sizes: dict
    treemtl: list[dict] = field(default_factory=list)
    automtl: list[dict] = field(default_factory=list)

    def summary(self):
        """One row per (arm, method): successes, n, rate, the random rate and the binomial p-value, plus the
        expected co-sharing margin with its 95 % CI and Wilcoxon p against 0."""
        import pandas as pd
        from scipy import stats as st

        from mtlkit.stats import mean_ci, paired_test

        rows = []

        def add(arm, method, hits, random_rate):
            n, k = len(hits), int(sum(hits))
            p = float(st.binomtest(k, n, min(max(random_rate, 1e-12), 1 - 1e-12), alternative="greater").pvalue) \
                if n else math.nan
            rows.append(dict(arm=arm, method=method, successes=k, n=n, rate=k / n if n else math.nan,
                             random_rate=random_rate, p_vs_random=p))

        if self.treemtl:
            add("TreeMTL", "recommend top-1 within 2 backbones", [r["grouped"] for r in self.treemtl],
                float(np.mean([r["random_rate"] for r in self.treemtl])))
        if self.automtl:
            rr = float(np.mean([r["random_rate"] for r in self.automtl]))
            add("AutoMTL", "sampled policy (tau = 1)", [r["sampled"][0] for r in self.automtl], rr)
            add("AutoMTL", "argmax policy", [r["argmax"][0] for r in self.automtl], rr)
            margins = [r["expected_margin"] for r in self.automtl]
            ci = mean_ci(margins)
            p = paired_test(margins, [0.0] * len(margins)).p if len(margins) >= 2 else math.nan
            rows.append(dict(arm="AutoMTL", method="expected co-sharing margin", successes=None,
                             n=len(margins), rate=ci.mean, random_rate=0.0, p_vs_random=p, low=ci.low, high=ci.high))
        return pd.DataFrame(rows)


def run(scale: str = "cpu", seeds: Sequence[int] = (0, 1, 2, 3, 4), *, arms: Sequence[str] = ("treemtl", "automtl"),
        data_seed: int = 0, device: str = "cpu", sizes: Mapping | None = None,
        progress: bool = False) -> PlantedResult:
    """Both arms of the known-answer experiment for every seed.

    Args:
        scale: the kit's scale.
        seeds: training seeds (at least 5 for a result worth reading at ``"cpu"`` scale).
        arms: ``"treemtl"`` and/or ``"automtl"``.
        data_seed: the SynthScenes seed shared by every run.
        device: training device.
        sizes: entries of ``SIZES[scale]`` to change.
        progress: progress bars.
    """
    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(f"seeds must be non-negative ints, at least one, got {seeds!r}")
    bad = sorted(set(arms) - {"treemtl", "automtl"})
    if bad or not arms:
        raise ConfigError(f"arms must be a non-empty subset of ('treemtl', 'automtl'), got {tuple(arms)!r}")
    sz = _sizes(scale, sizes)
    out = PlantedResult(scale, seeds, sz)
    for s in seeds:
        if "treemtl" in arms:
            out.treemtl.append(dict(seed=s, **treemtl_arm(scale, s, data_seed=data_seed, device=device, sizes=sizes,
                                                         progress=progress)))
        if "automtl" in arms:
            out.automtl.append(dict(seed=s, **automtl_arm(scale, s, data_seed=data_seed, device=device, sizes=sizes,
                                                         progress=progress)))
    return out


def result_rows(result: PlantedResult) -> dict[int, list[dict]]:
    """Rows for :func:`mtlkit.report.record`, one list per seed: ``{seed: rows}``.

    Each seed records its outcome (metric ``grouped``/``shares_within``: 1 or 0; ``margin``) and the random
    baseline's rate (method ``Random recommender`` / ``Random policy``, metric ``rate``), so the report's mean over
    seeds of the 0/1 outcomes is the success rate.
    """
    setting = _setting(result.sizes)
    rows: dict[int, list[dict]] = {}
    for r in result.treemtl:
        rows.setdefault(r["seed"], []).extend([
            dict(setting=setting, method="TreeMTL recommend (top-1, 2 backbones)", task="planted pairs",
                 metric="grouped", value=float(r["grouped"]), layout=r["layout"]),
            dict(setting=setting, method="Random recommender (2 backbones)", task="planted pairs", metric="grouped",
                 value=float(r["random_rate"]), layout=""),
        ])
    for r in result.automtl:
        rows.setdefault(r["seed"], []).extend([
            dict(setting=setting, method="AutoMTL policy (sampled)", task="planted pairs", metric="shares_within",
                 value=float(r["sampled"][0]), layout=""),
            dict(setting=setting, method="AutoMTL policy (argmax)", task="planted pairs", metric="shares_within",
                 value=float(r["argmax"][0]), layout=""),
            dict(setting=setting, method="AutoMTL policy (expected)", task="planted pairs",
                 metric="co_sharing_margin", value=float(r["expected_margin"]), layout=""),
            dict(setting=setting, method="Random policy", task="planted pairs", metric="shares_within",
                 value=float(r["random_rate"]), layout=""),
        ])
    return rows
