"""The AutoMTL reproduction notebooks' shared steps (:mod:`mtlkit.reproduce_automtl`): parameters, executors, seeds,
the Constant predictor rows and what the report makes of them."""
from __future__ import annotations

import csv
import os

import pytest

from mtlkit import reproduce_automtl as steps
from mtlkit.constant import METHOD as CONSTANT
from mtlkit.errors import ConfigError

METHODS = ("Single-Task", "Multi-Task", "AutoMTL")


def _begin(tmp_path, **kw):
    params = dict(scale="smoke", seed=0, device="cpu", out_dir=str(tmp_path / "out"))
    return steps.begin("automtl_cityscapes", "cityscapes", **{**params, **kw})


def _rows(comps, setting="s"):
    return {s: [(r["method"], r["task"], r["metric"], r["value"]) for r in c.rows(setting)] for s, c in comps.items()}


@pytest.mark.parametrize("kw, match", [
    (dict(executor="cluster"), "unknown executor 'cluster'; valid executors are: sequential, local, ray, slurm"),
    (dict(executor={"partition": "gpu"}), "needs a 'name'"),
    (dict(executor={"name": "slurm", "gpus": 1}), r"executor 'slurm' has no option\(s\) \['gpus'\]"),
    (dict(seeds=[0, 0]), "seeds must be distinct"),
    (dict(seeds=[]), "seeds must be None or a non-empty list"),
    (dict(seeds=[0, True]), r"seeds\[\.\.\.\] must be a non-negative int"),
    (dict(scale="huge"), "scale must be one of"),
])
def test_bad_parameters_are_refused_before_anything_runs(tmp_path, kw, match):
    with pytest.raises(ConfigError, match=match):
        _begin(tmp_path, **kw)


def test_an_executor_is_a_name_or_a_name_with_options():
    ex = steps.get_notebook_executor({"name": "slurm", "partition": "gpu", "gpus_per_job": 1})
    assert (ex.name, ex.partition, ex.gpus_per_job) == ("slurm", "gpu", 1)
    assert steps.get_notebook_executor("local").name == "local"


def test_seeds_default_to_the_seed_parameter():
    assert steps.check_seeds(None, 3) == (3,)
    assert steps.check_seeds([2, 0, 1], 9) == (2, 0, 1)


def test_lambdas_and_methods_are_checked(tmp_path):
    rep = _begin(tmp_path)
    with pytest.raises(ConfigError, match="lambdas must be a non-empty list of positive numbers"):
        steps.lambda_sweep(rep, [0.001, -1.0])
    with pytest.raises(ConfigError, match="methods must be None or a list of"):
        steps.compare_seeds(rep, methods=["Random search"])
    with pytest.raises(ConfigError, match="unknown backbone 'resnet9000'"):
        steps.begin_backbones(scale="smoke", seed=0, device="cpu", out_dir=str(tmp_path / "o"),
                              backbones=["resnet9000"])


def test_the_local_executor_gives_the_rows_of_the_sequential_run(tmp_path, monkeypatch):
    """Two seeds, three methods: trained in worker processes (on a fresh cache) the rows are the same as trained in
    this process, and the notebook's step read them from the cache the workers wrote."""
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / "cache_sequential"))
    sequential = steps.compare_seeds(_begin(tmp_path, seeds=[0, 1]), methods=METHODS, show=False)
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / "cache_local"))
    rep = _begin(tmp_path, seeds=[0, 1], executor="local")
    local = steps.compare_seeds(rep, methods=METHODS, show=False)
    assert _rows(local) == _rows(sequential) and set(local) == {0, 1}
    assert len(rep.outcomes) == 6 and all(o.ok for o in rep.outcomes)
    assert {o.worker.split(":")[1] for o in rep.outcomes}.isdisjoint({str(os.getpid())})
    # the workers trained under the keys this process looks up: the same run folders as the sequential run's,
    # none added by this process training again under another key
    runs = {p.name for p in (tmp_path / "cache_local").iterdir()}
    assert runs and runs == {p.name for p in (tmp_path / "cache_sequential").iterdir()}


def test_records_hold_one_row_set_per_seed_and_the_constant_predictor(tmp_path, monkeypatch):
    results = tmp_path / "results"
    monkeypatch.setenv("MTLKIT_RESULTS", str(results))
    rep = _begin(tmp_path, seeds=[0, 1])
    comps = steps.compare_seeds(rep, methods=("Single-Task", "Multi-Task"), show=False)
    steps.record_comparisons(rep, comps)
    with open(results / "automtl_cityscapes.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["seed"] for r in rows} == {"0", "1"}
    trained = {(r["setting"], r["dataset"], r["backbone"], r["task"], r["metric"]) for r in rows
               if r["method"] == "Single-Task" and r["task"] != "all" and r["metric"] != "delta_t"}
    const = {(r["setting"], r["dataset"], r["backbone"], r["task"], r["metric"]) for r in rows
             if r["method"] == CONSTANT}
    assert trained and const == trained  # every task metric of the trained rows, on the same setting and data
    # the constant is the training split's: segmentation predicts the majority class everywhere, so its pixel
    # accuracy (percent) is the share of test pixels of that class: at least 100 / classes, at most 100
    acc = [float(r["value"]) for r in rows if r["method"] == CONSTANT and r["metric"] == "pixel_acc"]
    assert acc and all(100 / 6 <= a <= 100 for a in acc)


def test_a_lambda_row_is_held_to_the_constant_of_its_data(tmp_path, monkeypatch):
    """The λ rows have settings of their own (λ_reg = …); the report compares them with the table's one constant."""
    from mtlkit.report import record, render_report

    monkeypatch.setenv("MTLKIT_RESULTS", str(tmp_path / "results"))
    data = "SynthScenes (stand-in for CityScapes)"
    rows = [dict(setting=s, method=m, task="depth_zbuffer", metric="abs_err", value=v, backbone="tiny_resnet")
            for s, m, v in [("Deeplab-ResNet34", CONSTANT, 1.0), ("λ_reg = 0.01", "AutoMTL", 1.5),
                            ("λ_reg = 0.001", "AutoMTL", 0.5)]]
    record("automtl_lambda_reg", rows, scale="cpu", seed=0, device="cpu", dataset=data)
    text = render_report(gpu_hours=False)
    assert "1.500 ⚠" in text and "0.500 ⚠" not in text
    assert "⚠ 1 cell(s) worse than the `Constant predictor` row" in text
