"""The paper-scale GPU-hours estimate: FLOPs counted on meta-device models, jobs per table, bad input."""
from __future__ import annotations

import pytest

from mtlkit.compute import ASSUMED_TFLOPS, TRAIN_FACTOR, Job, forward_gflops, gpu_hours, table_jobs
from mtlkit.errors import ConfigError


def test_forward_flops_of_the_papers_backbone_match_the_spec():
    bb, head = forward_gflops("deeplab_resnet34", 321)
    assert bb == pytest.approx(2 * 37.111698752, rel=0.01)  # docs/treemtl.md §4: 37.11 GMACs at 321 (FLOPs = 2 MACs)
    bb224, _ = forward_gflops("deeplab_resnet34", 224)
    assert bb224 == pytest.approx(2 * 18.555350912, rel=0.01)  # 18.56 GMACs at 224
    assert head > bb  # docs/automtl.md §1.6: one ASPP head costs more than the backbone


def test_a_jobs_compute_and_hours_follow_the_formula():
    job = Job("t", "j", models=2, iterations=1000, batch=16, gflops=100.0)
    assert job.pflop == pytest.approx(2 * 1000 * 16 * TRAIN_FACTOR * 100e9 / 1e15)
    df = gpu_hours(["treemtl_table1"], tflops=10.0)
    assert list(df.job) == ["recommended layouts", "single-task references"]
    assert df.models.tolist() == [5, 3]  # the paper's top-5 (all identified) + 3 single-task models
    row = df.iloc[1]
    assert row["GPU hours"] == pytest.approx(row["train PFLOP"] * 1e15 / 10e12 / 3600)
    twice = gpu_hours(["treemtl_table1"], tflops=20.0)
    assert twice["GPU hours"].sum() == pytest.approx(df["GPU hours"].sum() / 2)
    assert ASSUMED_TFLOPS > 0


def test_every_table_has_jobs_and_bad_input_is_refused():
    df = gpu_hours()
    assert set(df.table) >= {"treemtl_table1", "treemtl_table3", "automtl_cityscapes", "automtl_search_cost"}
    assert (df["GPU hours"] > 0).all() and (df.models > 0).all()
    with pytest.raises(ConfigError, match="unknown table 'table9'"):
        table_jobs("table9")
    with pytest.raises(ConfigError, match="tflops must be a positive number"):
        gpu_hours(tflops=0)


def test_the_report_shows_the_estimate(monkeypatch, tmp_path):
    from mtlkit.report import render_report

    monkeypatch.setenv("MTLKIT_RESULTS", str(tmp_path))
    text = render_report()
    assert "## Expected GPU hours at paper scale (an estimate, not a measurement)" in text
    row = next(line for line in text.splitlines() if line.startswith("| [TreeMTL Table 1]"))
    assert row.rstrip(" |").endswith("8 · 2,136 · 74.2")  # models · training PFLOP · GPU hours, Status table
    assert "Expected GPU hours" not in render_report(gpu_hours=False)
