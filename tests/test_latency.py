"""Latency: batch-1 medians with the thread count recorded, cached per-block tables, the additive layout estimate,
and the recommender under a latency budget (Python and ``recommend --latency-budget-ms``)."""
from __future__ import annotations

import pytest
import torch

import mtlkit.treemtl.latency as latency
from mtlkit.backbones import get_backbone
from mtlkit.errors import ConfigError
from mtlkit.treemtl import Layout, branching_points, coarsen, published_table, recommend
from mtlkit.treemtl.cli import add_arguments, main as recommend_main


def _blocks(B=5):
    torch.manual_seed(0)
    net = get_backbone("tiny_resnet", width=8, blocks=(2, 2))
    return coarsen(branching_points(net, torch.zeros(1, 3, 32, 32)), B)


def test_measure_latency_records_threads_and_spread():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()).train()
    before = torch.get_num_threads()
    lat = latency.measure_latency(model, input_shape=(1, 3, 32, 32), repeats=7, warmup=1, threads=1)
    assert lat.threads == 1 and lat.repeats == 7 and lat.input_shape == (1, 3, 32, 32)
    assert 0 < lat.p10_ms <= lat.median_ms <= lat.p90_ms
    assert model.training and torch.get_num_threads() == before
    assert "median of 7" in str(lat) and "1 thread(s)" in str(lat)
    with pytest.raises(ConfigError, match="repeats must be an int >= 1, got 0"):
        latency.measure_latency(model, repeats=0)


def test_block_table_is_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))
    blocks = _blocks(3)
    first = latency.block_latency_table(blocks, repeats=3, warmup=1, name="tiny@32")
    assert not first.cached and first.B == 3 and all(m > 0 for m in first.ms)
    files = list((tmp_path / "latency").glob("tiny_32-32x32-B3-cpu-t1-*.json"))
    assert len(files) == 1
    again = latency.block_latency_table(blocks, repeats=3, warmup=1, name="tiny@32")
    assert again.cached and again.ms == first.ms and again.threads == 1
    other = latency.block_latency_table(_blocks(2), repeats=3, warmup=1, name="tiny@32")
    assert not other.cached and other.B == 2
    shared, split = Layout.all_shared(3, 3), Layout.from_branch_points(3, 3, [0, 0, 0])
    assert latency.layout_latency(shared, first) == pytest.approx(first.total_ms)
    assert latency.layout_latency(split, first) == pytest.approx(3 * first.total_ms)
    assert list(first.frame().columns) == ["block", "ms", "p90_ms", "share"]


def test_recommend_within_a_latency_budget_equals_filtering_every_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))
    table = published_table("nyuv2", "resnet34")  # T = 3, B = 5
    lat = latency.block_latency_table(_blocks(5), repeats=3, warmup=1, name="tiny@32")
    budget = 1.8 * lat.total_ms
    got = latency.recommend_within_latency(table, lat, budget, k=5)
    every = recommend(table, latency.latency_block_costs(lat), k=None)
    every["latency_ms"] = [latency.layout_latency(la, lat) for la in every["layout"]]
    want = every[every["latency_ms"] <= budget * (1 + 1e-9)].head(5)
    assert [str(x) for x in got["layout"]] == [str(x) for x in want["layout"]]
    assert (got["latency_ms"] <= budget * (1 + 1e-9)).all()
    with pytest.raises(ConfigError, match=r"latency budget .* ms is below the cheapest layout .* ms measured for "
                                          r"tiny@32, 1 thread"):
        latency.recommend_within_latency(table, lat, lat.total_ms / 2)


def test_command_line_latency_budget(tmp_path, monkeypatch, capsys):
    import argparse

    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(latency, "paper_blocks", lambda name, size: _blocks(5))  # tiny blocks instead of ResNet-34
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    code = recommend_main(parser.parse_args(["--published", "nyuv2/resnet34", "--latency-budget-ms", "1000",
                                             "--k", "3"]))
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # the header is wrapped to 100 columns
    assert code == 0 and "latency <= 1000 ms" in flat and "latency_ms" in out and "MACs" in out
    for bad, msg in ((["--budget", "2"], "at most one of --budget and --latency-budget-ms"),
                     (["--block-costs", "1,2,3,4,5"], "--latency-budget-ms needs --backbone")):
        args = ["--published", "nyuv2/resnet34", "--latency-budget-ms", "5"] + bad
        assert recommend_main(parser.parse_args(args)) == 2
        assert msg in capsys.readouterr().err
