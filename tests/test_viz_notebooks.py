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
