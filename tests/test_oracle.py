"""The oracle study (TreeMTL §4.3, Table 3) at smoke scale, its correlations, presets and the paper-scale path."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mtlkit.delta import delta_t
from mtlkit.errors import ConfigError
from mtlkit.treemtl import Layout, TwoTaskTable, task_weights
from mtlkit.treemtl.oracle import (
    NONTRIVIAL, correlations, oracle_records, oracle_study, plan, plot_oracle, setting_name, study_spec,
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return oracle_study(study_spec("smoke"), tmp_path_factory.mktemp("oracle"), progress=False)


def test_smoke_study_trains_grid_and_every_layout(smoke):
    spec = smoke.spec
    assert (spec.T, spec.B) == (3, 2)
    assert len(smoke.layouts) == 12 and list(smoke.layouts.index) == list(range(12))   # paper order
    assert smoke.trained_now == 3 * 3 + 12 and smoke.seeds == (0,) and not smoke.layouts.from_grid.any()
    assert (smoke.directory / "grid" / "two_task_table.csv").is_file()
    assert smoke.weights_method == "uniform" and np.allclose(smoke.weights, 1 / 3)
    # the b = 0 two-task models and the independent layout are the same single-task models, bit for bit
    assert smoke.reference_gap == 0.0
    indep = smoke.layouts[smoke.layouts.layout == str(Layout.independent(3, 2))].iloc[0]
    assert indep.estimated == 0.0 and indep.trained == 0.0
    # a layout made of one two-task model and an independent task *is* that two-task model: trained = (T-1) x est
    pairs_only = smoke.layouts[~smoke.layouts.multi]
    assert list(smoke.layouts.multi) == [True] + [False] * 7 + [True] * 4
    for _, row in pairs_only.iterrows():
        assert row.trained == pytest.approx(2 * row.estimated, rel=1e-9, abs=1e-12)
    assert list(smoke.correlations_multi.n) == [5, 5, 5] and set(smoke.correlations_seeds) == {0}
    assert math.isnan(smoke.reliability)   # one seed: no split


def test_scores_are_the_estimator_and_delta_t(smoke):
    from mtlkit.treemtl.experiment import read_result

    table, w = smoke.table, smoke.weights
    ref = read_result(smoke.directory / "layouts" / "00002")["metrics"]     # #2 = [0,1,2]x2, independent
    for i, row in smoke.layouts.iterrows():
        L = Layout.parse(row.layout)
        assert row.estimated == pytest.approx(table.score(L, w), abs=1e-12)
        got = read_result(smoke.directory / "layouts" / f"{i:05d}")["metrics"]
        rel = delta_t(got, ref, zero_reference="skip").per_task
        assert row.trained == pytest.approx(sum(w[k] * rel[t] for k, t in enumerate(smoke.spec.tasks)), abs=1e-12)
    c = correlations(smoke.layouts.estimated, smoke.layouts.trained)
    assert c.equals(smoke.correlations) and set(c.n) == {12}


def test_rerun_trains_nothing_and_gives_the_same_result(smoke):
    again = oracle_study(smoke.spec, smoke.directory, progress=False)
    assert again.trained_now == 0
    assert again.layouts.equals(smoke.layouts) and again.correlations.equals(smoke.correlations)


def test_records_and_figure(smoke):
    from mtlkit.report import load_results, record

    rows = oracle_records(smoke)
    assert [r["metric"] for r in rows][-1] == "n_layouts"
    assert {r["setting"] for r in rows} == {"SynthScenes / tiny_resnet (B=2)"}
    record("treemtl_table3", rows, scale="smoke", seed=0, device="cpu", dataset="SynthScenes")   # tmp results dir
    got = load_results("treemtl_table3")
    assert set(got.metric) >= {"n_layouts"}
    import dataclasses

    with_multi = dataclasses.replace(smoke, correlations_multi=smoke.correlations)
    methods = {r["method"] for r in oracle_records(with_multi)}
    assert methods == {"Ours, all layouts", NONTRIVIAL}
    fig = plot_oracle(with_multi)
    axes = fig.axes
    assert len(axes) == 2 and all(ax.get_xlabel() and ax.get_ylabel() for ax in axes)
    import matplotlib.pyplot as plt

    plt.close(fig)


# ------------------------------------------------------------------------------------------------ correlations
def test_correlations_golden():
    c = correlations([1, 2, 3, 4], [1, 3, 2, 4])
    assert c.loc["pearson", "statistic"] == pytest.approx(0.8)
    assert c.loc["spearman", "statistic"] == pytest.approx(0.8)
    assert c.loc["kendall", "statistic"] == pytest.approx(2 / 3)
    assert list(c.n) == [4, 4, 4]
    r = correlations([0.1, 5.0, 2.0, 3.0], [10, 11, 12, 13])     # Pearson on values, Spearman on ranks
    assert r.loc["spearman", "statistic"] == pytest.approx(0.4)
    assert r.loc["pearson", "statistic"] == pytest.approx(np.corrcoef([0.1, 5.0, 2.0, 3.0], [10, 11, 12, 13])[0, 1])
    flat = correlations([1, 1, 1], [1, 2, 3])
    assert all(math.isnan(v) for v in flat.statistic)
    with pytest.raises(ConfigError, match="same length"):
        correlations([1, 2, 3], [1, 2])
    with pytest.raises(ConfigError, match="at least 3"):
        correlations([1, 2], [1, 2])


def test_svde_weights_of_three_values_are_uniform():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 3, 4))
    v[:, :, 0] = 0
    assert np.allclose(task_weights(TwoTaskTable(v), "svde"), 1 / 3)   # one embedding row: every SVDE is 0
    v5 = rng.normal(size=(3, 3, 6))
    assert not np.allclose(task_weights(TwoTaskTable(v5), "svde"), 1 / 3)


# ------------------------------------------------------------------------------------------------ presets
def test_cpu_preset_plan():
    spec = study_spec("cpu", seed=3)
    p = plan(spec)
    assert (p["T"], p["B"], p["two_task_models"], p["layouts"], p["models"]) == (3, 4, 15, 35, 50)
    assert spec.seed == 3 and spec.dataset == "synthscenes" and spec.resolution == 64 and spec.data_seed is None
    assert study_spec("cpu", seed=3, data_seed=0).data_seed == 0
    assert setting_name(spec) == "SynthScenes / tiny_resnet (B=4)"


@pytest.mark.parametrize("kw, match", [
    (dict(scale="large"), "scale must be one of"),
    (dict(scale="cpu", backbone="deeplab_resnet34"), "unknown backbone at scale='cpu'"),
    (dict(scale="paper", backbone="tiny_resnet", data_root="/x"), "unknown backbone at scale='paper'"),
    (dict(scale="paper"), "set data_root"),
    (dict(scale="cpu", dataset="nyuv2"), "needs scale='paper'"),
    (dict(scale="paper", dataset="cityscapes", data_root="/x"), "unknown dataset at scale='paper'"),
])
def test_bad_presets(kw, match):
    with pytest.raises(ConfigError, match=match):
        study_spec(**kw)


def test_max_layouts_sample_keeps_the_reference(tmp_path):
    from mtlkit.treemtl.oracle import _layouts

    got = _layouts(3, 3, 5, seed=0)
    idx = [i for i, _ in got]
    assert len(got) == 5 and 0 in idx and Layout.independent(3, 3) in [L for _, L in got]
    assert _layouts(3, 3, 5, seed=0) == got and len(_layouts(3, 3, None, 0)) == 22
    with pytest.raises(ConfigError, match="max_layouts must be an int >= 3 or None"):
        _layouts(3, 3, 2, 0)


def test_paper_scale_nyuv2_constructs(tmp_path):
    """The paper path cannot be trained here; it builds: data, Deeplab-ResNet34 blocks, a tree model, the plan."""
    from fabricate import fabricate_nyuv2

    fabricate_nyuv2(tmp_path / "NYUv2", n=4)
    spec = study_spec("paper", seed=10, data_root=str(tmp_path))
    assert spec.tasks == ("segment_semantic", "normal", "depth_zbuffer") and spec.iterations == 20_000
    assert setting_name(spec) == "NYUv2 / Deeplab-ResNet34"
    p = plan(spec)
    assert (p["B"], p["two_task_models"], p["layouts"]) == (5, 18, 51)
    _, blocks = spec.build_blocks()
    assert blocks.fine.B == 17 and blocks.input_shape == (3, 321, 321)
    assert blocks.block_costs().params == (9_536, 221_952, 1_116_416, 6_822_400, 13_114_368)   # docs/treemtl.md §4
    data = spec.load_data()
    batch = next(iter(data.train_loader))
    assert batch["image"].shape[1:] == (3, 321, 321) and set(data.tasks) == set(spec.tasks)
    model = spec.build_model("[012]x3 [01,2]x2", spec.tasks, data.tasks)
    assert len(model.copies) == 3 + 2 * 2 and type(model.heads["normal"]).__name__ == "ASPPHead"
    assert model.costs()["params"] == 9_536 + 221_952 + 1_116_416 + 2 * (6_822_400 + 13_114_368)


def test_paper_scale_mobilenet_taskonomy_spec(tmp_path):
    spec = study_spec("paper", backbone="mobilenet_v2", dataset="taskonomy", data_root=str(tmp_path))
    assert spec.T == 5 and spec.iterations == 50_000 and spec.lr_gamma == 0.3
    assert spec.B == 5 and spec.build_blocks()[1].fine.B == 32


def test_local_executor_gives_the_sequential_study(smoke, tmp_path, monkeypatch):
    """Two local workers train the grid and the layouts into the study folder: the same table, bit for bit."""
    from mtlkit.executors import LocalExecutor

    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / "cache"))   # nothing found in the session's cache
    local = oracle_study(smoke.spec, tmp_path / "study", progress=False, executor=LocalExecutor(workers=2))
    assert local.trained_now == smoke.trained_now
    timed = [c for c in smoke.layouts.columns if c == "seconds"]     # wall time of each training, nothing else
    assert local.layouts.drop(columns=timed).equals(smoke.layouts.drop(columns=timed))
    assert local.correlations.equals(smoke.correlations)
    assert local.table.to_frame().equals(smoke.table.to_frame())
