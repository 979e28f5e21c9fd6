"""mtlkit.compare: the matched TreeMTL spec, layouts as AutoMTL policies, the study folder shared with the oracle
study, cost counting, verdicts and figures."""
from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest
import torch
from torch import nn

from mtlkit.automtl import SuperModel, count_params
from mtlkit.automtl.baselines import baseline_policy
from mtlkit.automtl.synth import synth_setup
from mtlkit.compare import (
    TreeMTLStudy, delta_row, layout_policy, log_seconds, matched_spec, model_costs, plot_delta_vs_cost,
    plot_search_cost, policy_train_cost, verdict,
)
from mtlkit.errors import ConfigError
from mtlkit.treemtl import Layout, count_layouts, enumerate_layouts


@pytest.fixture(scope="module")
def setup():
    return synth_setup("smoke")


def test_matched_spec_copies_the_setup(setup):
    spec = matched_spec(setup)
    sizes, cfg = setup.sizes, setup.base_config
    assert spec.tasks == tuple(setup.tasks) and spec.backbone == setup.backbone
    assert dict(spec.backbone_kw) == {"width": sizes["width"]} and spec.head == "light" and spec.head_kw == ()
    assert (spec.resolution, spec.n_train, spec.n_test, spec.batch_size) == (
        sizes["resolution"], sizes["n_train"], sizes["n_test"], sizes["batch"])
    assert (spec.iterations, spec.lr, spec.lr_step, spec.weight_decay) == (
        cfg.post_train_iterations, cfg.post_lr, cfg.post_lr_step, 1e-4)
    assert (spec.eval_every, spec.eval_last, spec.seed, spec.B) == (cfg.post_train_iterations, 1, 0, 3)
    assert matched_spec(synth_setup("smoke", data_seed=3), blocks=2).seed == 3


def test_matched_spec_refuses_bad_input(setup):
    with pytest.raises(ConfigError, match="SynthSetup"):
        matched_spec({"scale": "smoke"})
    weighted = dataclasses.replace(setup, base_config=setup.base_config.replace(post_loss_weights={"normal": 2.0}))
    with pytest.raises(ConfigError, match="weighs the task losses"):
        matched_spec(weighted)
    none = dataclasses.replace(setup, base_config=setup.base_config.replace(post_train_iterations=0))
    with pytest.raises(ConfigError, match="at least 1 iteration"):
        matched_spec(none)


def _conv_params_per_block(blocks):
    out = []
    for b in blocks:
        convs = [m for m in b.module.modules() if isinstance(m, nn.Conv2d)]
        out.append(sum(p.numel() for c in convs for p in c.parameters()))
    return out


def test_layout_policy_counts_like_the_tree(setup):
    """Every 3-task layout over 3 blocks: AutoMTL's paper-convention count of its policy = Σ_c |L_c| × conv
    parameters of block c, counted directly on the blocks (an independent reference)."""
    spec = matched_spec(setup)
    blocks = spec.build_blocks()[1]
    sm = setup.supermodel(0)
    per_block = _conv_params_per_block(blocks)
    layouts = enumerate_layouts(3, 3)
    assert len(layouts) == count_layouts(3, 3) == 22
    for L in layouts:
        policy = layout_policy(sm, blocks, L)
        expected = sum(n * p for n, p in zip(L.num_groups, per_block))
        assert count_params(sm, policy, "paper") == expected, str(L)
    assert layout_policy(sm, blocks, Layout.all_shared(3, 3)) == baseline_policy(sm, "hard_sharing")
    assert layout_policy(sm, blocks, str(Layout.independent(3, 3))) == baseline_policy(sm, "single_task")
    L = Layout.parse("[012] [01,2] [0,1,2]")
    policy = layout_policy(sm, blocks, L)
    tasks = list(sm.tasks)
    assert policy["conv1"] == dict.fromkeys(tasks, "shared")
    assert policy["layer2.0.conv1"] == {tasks[0]: "shared", tasks[1]: "shared", tasks[2]: "specific"}
    assert policy["layer2.1.conv2"] == dict.fromkeys(tasks, "specific")


def test_layout_policy_refuses_what_automtl_cannot_express(setup):
    from mtlkit.backbones import get_backbone
    from mtlkit.treemtl import branching_points, coarsen

    net = get_backbone("tiny_resnet", width=4)
    heads = {f"t{i}": nn.Conv2d(8, 1, 1) for i in range(4)}
    sm4 = SuperModel.from_backbone(net, heads, torch.zeros(1, 3, 32, 32))
    blocks = coarsen(branching_points(get_backbone("tiny_resnet", width=4), torch.zeros(1, 3, 32, 32)), 2)
    with pytest.raises(ConfigError, match="2 groups of >= 2 tasks"):
        layout_policy(sm4, blocks, "[0123] [01,23]")
    assert len(layout_policy(sm4, blocks, "[0123] [01,2,3]")) == len(sm4.nodes)
    with pytest.raises(ConfigError, match="T=3"):
        layout_policy(sm4, blocks, "[012] [01,2]")
    with pytest.raises(ConfigError, match="B=3"):
        layout_policy(setup.supermodel(0), blocks, "[012]x3")


def test_tree_and_automtl_single_task_models_cost_the_same(setup):
    spec = matched_spec(setup)
    study = TreeMTLStudy(spec, directory="unused", tasks=setup.tasks)
    sm = setup.supermodel(0)
    x = torch.zeros(1, 3, 32, 32)
    tree = model_costs(study.model(Layout.independent(3, 3)), x)
    auto = model_costs(sm.derive(baseline_policy(sm, "single_task")), x)
    assert tree == auto
    shared = model_costs(study.model(Layout.all_shared(3, 3)), x)
    assert shared["flops"] < tree["flops"] and shared["params_full"] < tree["params_full"]
    with pytest.raises(ConfigError, match="nn.Module"):
        model_costs(lambda z: z, x)
    with pytest.raises(ConfigError, match="every task of the spec"):
        TreeMTLStudy(spec, directory="unused", tasks={"normal": setup.tasks["normal"]})
    with pytest.raises(ConfigError, match="ExperimentSpec"):
        TreeMTLStudy(setup)
    with pytest.raises(ConfigError, match="B=3"):
        study.model("[012]x2")


def test_study_shares_its_models_with_the_oracle_study(setup, tmp_path):
    from mtlkit.treemtl import oracle_study

    spec = matched_spec(setup, blocks=1)
    study = TreeMTLStudy(spec, tmp_path / "study", tasks=setup.tasks, progress=False)
    grid = study.grid()
    assert (grid.models, grid.trained_now, grid.iterations) == (6, 6, 6 * spec.iterations)
    assert grid.seconds > 0 and grid.reference_gap == 0.0 and list(grid.reference) == list(spec.tasks)
    again = study.grid()
    assert again.trained_now == 0 and again.seconds == grid.seconds
    result = study.train("[01,2]")
    assert study.train(Layout.parse("[01,2]")) == result   # recorded: returned, not retrained
    assert study.layout_dir("[01,2]").parent.name == "layouts"
    oracle = oracle_study(spec, study.directory, progress=False)
    assert oracle.trained_now == count_layouts(3, 1) - 1        # the grid and the layout trained above are reused
    assert oracle.reference_gap == 0.0
    indep = oracle.layouts.loc[oracle.layouts.layout == str(Layout.independent(3, 1))]
    assert len(indep) == 1


def test_policy_train_cost_reads_the_log(setup):
    from mtlkit.automtl.synth import run_variant

    run = run_variant(setup, "paper", 0, cache=False, post=False)
    cost = policy_train_cost(run)
    assert cost["iterations"] == cost["policy_iterations"] == setup.sizes["policy"]
    assert cost["pre_iterations"] == 0 and cost["seconds"] > 0


def test_log_seconds_adds_resumed_segments():
    rows = [{"iteration": 1, "time_s": 0.5}, {"iteration": 2, "time_s": 1.0}, {"iteration": 3, "time_s": 0.25},
            {"iteration": 4, "time_s": 0.75}]
    assert log_seconds(rows) == 1.75
    assert log_seconds([]) == 0.0
    assert log_seconds([{"iteration": 1, "time_s": float("nan")}, {"iteration": 2, "time_s": 2.0}]) == 2.0


def test_delta_row():
    ref = {"depth_zbuffer": {"abs_err": 2.0}, "normal": {"mean_angle": 10.0}}
    assert delta_row(ref, ref) == {"delta_T": 0.0, "delta/depth_zbuffer": 0.0, "delta/normal": 0.0}
    out = delta_row({"depth_zbuffer": {"abs_err": 1.0}, "normal": {"mean_angle": 10.0}}, ref)
    assert out["delta/depth_zbuffer"] == pytest.approx(50.0) and out["delta_T"] == pytest.approx(25.0)


def test_verdict():
    v = verdict("Δ_T", 2.0, 1.0, higher_is_better=True)
    assert (v["winner"], v["decided"], v["margin"]) == ("TreeMTL", True, 1.0) and "TreeMTL wins" in v["text"]
    v = verdict("params", 2.0, 1.0, higher_is_better=False)
    assert v["winner"] == "AutoMTL" and "AutoMTL wins (1 vs TreeMTL 2)" in v["text"]
    v = verdict("Δ_T", 2.0, 1.5, higher_is_better=True, noise=0.5)
    assert (v["winner"], v["decided"]) == ("tie", False) and "within" not in v["text"] and "a tie" in v["text"]
    assert verdict("x", 3, 3, higher_is_better=True)["winner"] == "tie"
    import numpy as np

    assert verdict("np", np.int64(5), np.float32(4.0), higher_is_better=True)["winner"] == "TreeMTL"
    for bad in (float("nan"), "1", None, True):
        with pytest.raises(ConfigError, match="must be a number"):
            verdict("x", bad, 1.0, higher_is_better=True)
    with pytest.raises(ConfigError, match="noise must be >= 0"):
        verdict("x", 1.0, 2.0, higher_is_better=True, noise=-1)


def test_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pd.DataFrame(dict(method=["AutoMTL", "TreeMTL", "baseline"], delta_T=[1.0, 2.0, 0.0],
                              params_full=[10, 20, 30], flops=[100, 50, 300], label=["a", "", "c"]))
    fig = plot_delta_vs_cost(table, title="t")
    assert len(fig.axes) == 2
    plt.close(fig)
    with pytest.raises(ConfigError, match="lacks columns"):
        plot_delta_vs_cost(table.drop(columns="flops"))
    costs = pd.DataFrame(dict(method=["TreeMTL", "TreeMTL", "AutoMTL", "AutoMTL"], search=["grid", "rec", "policy",
                                                                                          "post"],
                              seconds=[10.0, 0.001, 4.0, 1.0], iterations=[100, 0, 20, 20],
                              per_budget=[False, True, True, True]))
    fig = plot_search_cost(costs, n_budgets=3)
    tree_line = [ln for ln in fig.axes[2].get_lines() if ln.get_label() == "TreeMTL"][0]
    auto_line = [ln for ln in fig.axes[2].get_lines() if ln.get_label() == "AutoMTL"][0]
    assert list(tree_line.get_ydata()) == pytest.approx([10.001, 10.002, 10.003])
    assert list(auto_line.get_ydata()) == pytest.approx([5.0, 10.0, 15.0])
    plt.close(fig)
    with pytest.raises(ConfigError, match="n_budgets"):
        plot_search_cost(costs, n_budgets=0)
    assert math.isfinite(float(costs.seconds.sum()))
