"""Whether an AutoMTL search moved: the learned policy's entropy and logit size (mtlkit.automtl.analysis.policy_stats),
recorded with every searched method of a comparison."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from mtlkit.automtl import experiments as ex
from mtlkit.automtl.analysis import POLICY_STATS, policy_stats
from mtlkit.errors import ConfigError


def test_policy_stats_of_a_fixed_policy_equal_the_hand_computed_values():
    f64 = dict(dtype=torch.float64)
    logits = {"a": torch.tensor([[0.0, 0.0, 0.0], [math.log(2), 0.0, 0.0]], **f64),  # uniform; (1/2, 1/4, 1/4)
              "b": torch.tensor([[0.0, 0.0], [math.log(3), 0.0]], **f64)}  # uniform over two; (3/4, 1/4)
    h = [math.log(3), 1.5 * math.log(2), math.log(2), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))]
    got = policy_stats(logits)
    assert got["policy_entropy"] == pytest.approx(sum(h) / 4, abs=1e-12)
    assert got["policy_entropy_max"] == pytest.approx((2 * math.log(3) + 2 * math.log(2)) / 4, abs=1e-12)
    assert got["mean_abs_logit"] == pytest.approx((math.log(2) + math.log(3)) / 10, abs=1e-12)
    assert set(got) == set(POLICY_STATS)
    # a decided policy: entropy near 0, whatever the shift of its logits
    sharp = policy_stats({"a": torch.tensor([[20.0, 0.0, 0.0]]), "b": torch.tensor([[5.0, -15.0]])})
    assert sharp["policy_entropy"] < 1e-6 and sharp["mean_abs_logit"] == pytest.approx(40 / 5)


@pytest.mark.parametrize("bad, match", [({}, "non-empty"), ({"a": torch.zeros(2)}, "tasks, k >= 2"),
                                        ({"a": torch.zeros(2, 1)}, "tasks, k >= 2"), ({"a": [0.0, 1.0]}, "tensor")])
def test_policy_stats_refuse_what_is_not_logits(bad, match):
    with pytest.raises(ConfigError, match=match):
        policy_stats(bad)


def test_every_searched_method_of_a_comparison_records_its_policy_stats():
    setup = ex.experiment_setup("cityscapes", "smoke")
    comp = ex.comparison(setup, 0, methods=("Single-Task", "AutoMTL"))
    rows = pd.DataFrame(comp.rows("SynthScenes / tiny_resnet"))
    stats = rows[rows.metric.isin(POLICY_STATS)]
    assert set(stats.method) == {"AutoMTL"}  # baselines have no logits
    got = stats.set_index("metric").value
    assert got["policy_entropy_max"] == pytest.approx(
        policy_stats({v.name: torch.zeros(2, len(v.choices)) for v in setup.supermodel(0).nodes})["policy_entropy"])
    assert 0 <= got["policy_entropy"] < got["policy_entropy_max"]  # a few policy steps: moved, a little
    assert got["mean_abs_logit"] == pytest.approx(
        policy_stats(comp.runs["AutoMTL"].supermodel.logits_by_node())["mean_abs_logit"])
    assert comp.table().loc["AutoMTL", "policy_entropy"] == pytest.approx(got["policy_entropy"])


# ------------------------------------------------------------------------------ the random-architecture control
def test_random_policies_are_drawn_at_the_matched_parameter_cost():
    from mtlkit.automtl.accounting import count_params
    from mtlkit.automtl.baselines import matched_random_policies, random_policy

    sm = ex.experiment_setup("cityscapes", "smoke").supermodel(0)
    target = count_params(sm, random_policy(sm, 12345), "full")
    draws = matched_random_policies(sm, target, 5, seed=7, tolerance=0.1)
    assert len(draws) == 5 and len({k for k, _ in draws}) == 5 and all(k >= 7 for k, _ in draws)
    for k, policy in draws:
        assert policy == random_policy(sm, k)  # the draw of its numpy seed, kept
        assert abs(count_params(sm, policy, "full") - target) <= 0.1 * target
    # rejected draws are the ones outside the band: every seed skipped before the last kept one misses it
    kept = {k for k, _ in draws}
    skipped = [k for k in range(7, max(kept)) if k not in kept]
    assert all(abs(count_params(sm, random_policy(sm, k), "full") - target) > 0.1 * target for k in skipped)
    with pytest.raises(ConfigError, match="only 0 of 50 random policies"):
        matched_random_policies(sm, 10 * target, 1, max_draws=50)
    with pytest.raises(ConfigError, match="tolerance"):
        matched_random_policies(sm, target, 1, tolerance=0)


def test_a_smoke_comparison_records_one_row_set_per_random_architecture(tmp_path, monkeypatch):
    from mtlkit.automtl.experiments import RANDOM_TOLERANCE
    from mtlkit.report import load_results, record

    monkeypatch.setenv("MTLKIT_RESULTS", str(tmp_path))
    setup = ex.experiment_setup("cityscapes", "smoke")
    comp = ex.comparison(setup, 0, methods=("Single-Task", "Random architecture"), random_draws=2)
    assert "AutoMTL" in comp.models  # the architecture the draws are matched to
    target = comp.models["AutoMTL"].params["full"]
    draws = comp.random["Random architecture"]
    assert len(draws) == 2
    for _, post, _, _ in draws:
        assert abs(post.params["full"] - target) <= RANDOM_TOLERANCE * target
        assert post.history is not None and post.metrics.keys() == comp.models["AutoMTL"].metrics.keys()
    rows = comp.rows("SynthScenes / tiny_resnet")
    record("automtl_cityscapes", rows, scale="smoke", seed=0, device="cpu", dataset="SynthScenes")
    got = load_results("automtl_cityscapes")
    rand = got[got.method == "Random architecture"]
    assert sorted(set(rand.draw)) == sorted(str(k) for k, *_ in draws)
    dt = rand[(rand.task == "all") & (rand.metric == "delta_t")].value
    assert sorted(dt) == pytest.approx(sorted(d.overall for _, _, d, _ in draws))
    table = comp.table()
    assert table.loc["Random architecture (mean of 2)", "delta_T"] == pytest.approx(dt.mean())
    from mtlkit.report import render_report

    text = render_report(include_smoke=True)
    line = next(x for x in text.splitlines() if "| Random architecture |" in x)
    assert line.count("|") > 3  # one report row for all the draws of the seed (their mean)


# ------------------------------------------------------------------------------ the 2×2 ablation
def test_the_two_by_two_ablation_varies_one_factor_at_a_time():
    cells = {("paper", "sample"): "AutoMTL", ("paper", "best_of"): "AutoMTL (paper objective, best-of-8)",
             ("resource", "sample"): "AutoMTL (resource objective, τ=1 sample)",
             ("resource", "best_of"): "AutoMTL (resource-aware, ours)"}
    setup = ex.experiment_setup("cityscapes", "smoke")
    comp = ex.comparison(setup, 0, methods=("Single-Task", *cells.values()))
    for (objective, disc), name in cells.items():
        cfg = comp.runs[name].config
        assert (cfg.regularizer, cfg.discretize) == (objective, disc) and comp.runs[name].discretization.method == disc
    for objective in ("paper", "resource"):  # along the discretisation axis: the same policy-train run, same logits
        one, best = comp.runs[cells[(objective, "sample")]], comp.runs[cells[(objective, "best_of")]]
        assert comp.policy_stats[cells[(objective, "sample")]] == comp.policy_stats[cells[(objective, "best_of")]]
        assert best.discretization.candidates[0]["seed"] == one.config.sample_seed  # the single sample is candidate 0
        assert len(best.discretization.candidates) == 8
    rows = pd.DataFrame(comp.rows("SynthScenes / tiny_resnet"))
    overall = rows[(rows.task == "all") & (rows.metric == "delta_t")]
    assert set(overall.method) == {"Single-Task", *cells.values()}
