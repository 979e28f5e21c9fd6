"""The search-cost notebook's steps: parameter checks and the rows it records (smoke scale)."""

import pytest

from mtlkit import reproduce_search_cost as sc
from mtlkit.errors import ConfigError

BASE = dict(scale="smoke", seed=0, device="cpu", data_root=None, backbone="deeplab_resnet34",
            cpu_backbone="tiny_resnet", datasets=["cityscapes"], timed_iterations=None, full_stage=None)


@pytest.mark.parametrize("change, message", [
    ({"datasets": ["kitti"]}, "datasets must be a non-empty list of"),
    ({"datasets": []}, "datasets must be a non-empty list of"),
    ({"timed_iterations": 0}, "timed_iterations must be a positive int, got 0"),
    ({"timed_iterations": True}, "timed_iterations must be a positive int, got True"),
    ({"full_stage": "yes"}, "full_stage must be None, True or False, got 'yes'"),
])
def test_bad_parameters_are_named(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        sc.begin(**{**BASE, **change}, out_dir=tmp_path / "out")


def test_defaults_follow_the_scale(tmp_path):
    run = sc.begin(**BASE, out_dir=tmp_path / "out")
    assert run.timed_iterations == sc.DEFAULT_TIMED["smoke"] == 2 and run.full_stage is True
    assert list(run.setups) == ["cityscapes"] and "SynthScenes stand-ins" in run.where


def test_records_every_metric_per_scheme(tmp_path, monkeypatch):
    import pandas as pd

    recorded = []
    monkeypatch.setattr("mtlkit.report.record", lambda table, rows, **kw: recorded.append((table, rows, kw)))
    run = sc.begin(**{**BASE, "full_stage": False}, out_dir=tmp_path / "out")
    timings = {"CityScapes": {s: {"policy": p, "network": n} for s, p, n in (("original", 0.3, 0.2),
                                                                            ("ours", 0.1, 0.1))}}
    ratios = pd.DataFrame({"original / ours, policy": [3.0], "original / ours, network": [2.0]},
                          index=["CityScapes"])
    estimates = sc.stage_estimates(run, timings)
    assert "this scale's schedule: s (measured)" not in estimates.columns
    assert sc.record_search_cost(run, timings, ratios, estimates) == 10
    (table, rows, kw), = recorded
    assert table == sc.TABLE and kw["scale"] == "smoke"
    by = {(r["method"], r["metric"]): r["value"] for r in rows}
    assert by[(sc.METHOD["original"], "policy_iteration_s")] == 0.3
    assert by[(sc.METHOD["ours"], "speedup_vs_original_policy")] == 3.0
