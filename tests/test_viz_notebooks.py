"""The notebooks' plotting and helper functions (mtlkit.viz.notebooks): what each figure must show."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from mtlkit.treemtl import published_table, recommend  # noqa: E402
from mtlkit.viz import notebooks as vn  # noqa: E402


def test_unique_node_labels_are_unique_and_short():
    names = ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1", "layer2.0.downsample.0", "fc"]
    labels = vn.unique_node_labels(names)
    assert len(set(labels)) == len(names)
    assert labels == ["conv1", "L1.0.conv1", "L1.0.conv2", "L2.0.conv1", "L2.0.ds.0", "fc"]
    assert vn.unique_node_labels(["layer1", "L1"]) == ["layer1", "L1"]  # would collide: full names


def test_two_task_frame_keeps_the_csv_columns_as_columns():
    table = published_table("taskonomy", "resnet34")
    frame = vn.two_task_frame(table)
    assert frame.shape == (table.B + 1, table.T * (table.T - 1)) and frame.index.name == "b"
    assert frame["seg | nrm"].tolist() == table.values[0, 1].tolist()
    fig = vn.plot_two_task_tables({("taskonomy", "resnet34"): table, ("nyuv2", "resnet34"):
                                   published_table("nyuv2", "resnet34")})
    heat = fig.axes[0]
    assert len(heat.get_xticklabels()) == 20 and len(heat.get_yticklabels()) == 6
    assert "20 columns (a CSV column each)" in heat.get_title()


def test_top_layouts_score_axis_is_zoomed_to_the_scores():
    table = published_table("taskonomy", "resnet34")
    top = recommend(table, "resnet34@224", k=5)
    fig = vn.draw_top_layouts(top, table, "top-5")
    assert "FLOPs" in fig.axes[0].get_title()
    dots = fig.axes[5]
    low, high = dots.get_xlim()
    assert low > 0.5 * top.score.min() and low < top.score.min() and high > top.score.max()
    assert "not from 0" in dots.get_xlabel()


def test_predictions_figure_has_class_legend_and_depth_bar():
    from mtlkit.data.synthetic import CLASS_NAMES

    B, H = 2, 16
    batch = {"image": torch.rand(B, 3, H, H), "segment_semantic": torch.randint(0, 6, (B, H, H)),
             "depth_zbuffer": torch.rand(B, 1, H, H) + 1, "normal": torch.nn.functional.normalize(
                 torch.randn(B, 3, H, H), dim=1)}
    pred = {"segment_semantic": torch.randn(B, 6, 4, 4), "depth_zbuffer": torch.rand(B, 1, 4, 4),
            "normal": torch.randn(B, 3, 4, 4)}
    fig = vn.plot_predictions(batch, pred, n_show=2, title="t")
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_texts == list(CLASS_NAMES)
    assert any(ax.get_xlabel().startswith("depth (m)") for ax in fig.axes)  # the colour bar


def test_virtual_node_picture_names_the_three_branches():
    fig = vn.draw_virtual_node()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert all(word in texts for word in ("shared", "specific", "skip", "p_sh", "p_sp", "p_sk", "Gumbel-softmax"))


def test_ranking_stability_without_noise_keeps_the_ranking():
    table = published_table("nyuv2", "resnet34")
    result = vn.ranking_stability(table, 1e-9, 2, "svde", np.random.default_rng(0))
    assert result == pytest.approx(dict(top1_kept=1.0, top5_overlap=5.0, kendall_tau=1.0))
    noisy = vn.ranking_stability(table, 5.0, 3, "svde", np.random.default_rng(0))
    assert noisy["kendall_tau"] < 1.0


def test_top1_by_budget_and_the_synthetic_table():
    table = published_table("taskonomy", "resnet34")
    frame = vn.top1_by_budget(table, "resnet34@224", [1, 2])
    assert frame.top1.tolist() == ["#0", "#817"]
    synthetic, family = vn.synthetic_family_table(4, 3, np.random.default_rng(0))
    assert synthetic.T == 4 and len(family) == 4 and np.all(synthetic.values[:, :, 0] == 0)


# ------------------------------------------------------------------ mtlkit.viz.basics, .layouts, .own_tasks
def test_quickstart_sizes_and_bad_names():
    from mtlkit.errors import ConfigError
    from mtlkit.viz import basics

    assert basics.quickstart_sizes("smoke") == dict(n_train=16, n_test=8, resolution=32, iterations=3, batch=4)
    with pytest.raises(ConfigError, match="scale"):
        basics.quickstart_sizes("huge")
    with pytest.raises(ConfigError, match=r"names: expected task names out of \['depth_zbuffer'\], got \['normal'\]"):
        basics.train_hard_shared(["normal"], {"depth_zbuffer": None}, None, None, {}, 0)


def test_pairwise_delta_matrix_puts_each_task_in_its_row():
    from types import SimpleNamespace

    from mtlkit.viz import basics

    deltas = {("a", "b"): SimpleNamespace(per_task={"a": 1.0, "b": -2.0}),
              ("a", "c"): SimpleNamespace(per_task={"a": 3.0, "c": 4.0}),
              ("a", "b", "c"): SimpleNamespace(per_task={"a": 9.0, "b": 9.0, "c": 9.0})}  # not a pair: left out
    m = basics.pairwise_delta_matrix(deltas, ("a", "b", "c"))
    assert m.loc["a", "b"] == 1.0 and m.loc["b", "a"] == -2.0 and m.loc["c", "a"] == 4.0
    assert np.isnan(m.loc["b", "c"]) and np.isnan(np.diag(m.values)).all()
    fig = basics.plot_pairwise_delta(m.fillna(0.0), {"a + b": -0.5, "a + c": 3.5}, "t")
    heat, bars = fig.axes[:2]
    assert [t.get_text() for t in heat.texts].count("STL") == 3
    assert [t.get_text() for t in bars.texts] == ["-0.50", "+3.50"]


def test_shared_gradients_are_per_task_and_leave_the_model_alone():
    from mtlkit.data import SynthScenes
    from mtlkit.models import build_model
    from mtlkit.tasks import get_task
    from mtlkit.viz import basics

    data = SynthScenes("train", size=4, resolution=32, tasks=("depth_zbuffer", "normal"), seed=0)
    tasks = {n: get_task(n) for n in ("depth_zbuffer", "normal")}
    torch.manual_seed(0)
    model = build_model("tiny_resnet", tasks, head="light").eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = basics.shared_gradients(model, tasks, ("depth_zbuffer", "normal"), data, batch_size=2, seed=0, n_batches=2)
    n = sum(p.numel() for p in model.backbone.parameters())
    assert g["depth_zbuffer"].shape == g["normal"].shape == (n,) and not torch.equal(g["depth_zbuffer"], g["normal"])
    assert not model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_layout_count_checks_and_enumerator_timing():
    from mtlkit.treemtl import count_layouts
    from mtlkit.viz import layouts

    assert layouts.bell_numbers(6) == [1, 2, 5, 15, 52, 203]  # partitions of 1..6 things
    checks = layouts.count_checks(Bmax=6, Tmax=5)
    assert len(checks) == 3 + 4 + 1 and all(checks.values())
    timing = layouts.time_enumerators([(3, 2), (4, 2)], repeats=1)
    assert timing.layouts.tolist() == [count_layouts(3, 2), count_layouts(4, 2)]
    assert (timing.paper_ms > 0).all() and (timing["paper/fast"] == timing.paper_ms / timing.fast_ms).all()


def test_dfs_drawing_greys_duplicates_and_hides_spare_axes():
    import pandas as pd

    from mtlkit.treemtl import Layout, iter_cut_steps
    from mtlkit.viz import layouts

    steps = list(iter_cut_steps(3, 2))
    log = pd.DataFrame([s.row() for s in steps], index=pd.RangeIndex(1, len(steps) + 1, name="step"))
    found = [Layout.all_shared(3, 2)] + [s.child for s in steps if s.new]
    fig = layouts.draw_dfs_steps(log, found, "t", n_show=5)
    axes = fig.axes
    assert len(axes) == 6 and not axes[5].axison
    for ax, (_, row) in zip(axes, log.head(5).iterrows()):
        assert (ax.get_facecolor()[:3] != (1.0, 1.0, 1.0)) == (not row["new"])


def test_compile_checks_agree_to_rounding():
    from mtlkit.backbones import get_backbone, backbone_channels
    from mtlkit.heads import get_head
    from mtlkit.viz.own_tasks import compile_checks

    torch.manual_seed(0)
    trunk = get_backbone("tiny_resnet")
    C = backbone_channels(trunk)
    row = compile_checks(trunk, {"a": get_head("linear", C, 2), "b": get_head("linear", C, 1)},
                         torch.randn(2, 3, 32, 32), "tiny")
    assert row["backbone"] == "tiny" and row["conv nodes"] > 0
    assert max(row[k] for k in ("all-shared vs backbone+heads", "derived vs hard mode",
                                "tree (all shared) vs backbone+heads")) < 1e-5
