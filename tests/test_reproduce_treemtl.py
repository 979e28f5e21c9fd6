"""The TreeMTL table notebooks' shared steps (:mod:`mtlkit.reproduce_treemtl`): parameters, the exact ranking rows,
seeds, executors and the Constant predictor rows."""
from __future__ import annotations

import csv
import os

import pytest

from mtlkit import reproduce_treemtl as steps
from mtlkit.constant import METHOD as CONSTANT
from mtlkit.errors import ConfigError


def _begin(tmp_path, table="treemtl_table5", **kw):
    params = dict(scale="smoke", seed=0, device="cpu", out_dir=str(tmp_path / "out"),
                  backbone="mobilenet_v2" if table in ("treemtl_table5", "treemtl_table6") else "deeplab_resnet34")
    return steps.begin(table, **{**params, **kw})


def _csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("kw, match", [
    (dict(executor="cluster"), "unknown executor 'cluster'; valid executors are: sequential, local, ray, slurm"),
    (dict(executor={"workers": 2}), "needs a 'name'"),
    (dict(seeds=[1, 1]), "seeds must be distinct"),
    (dict(seeds="0"), "seeds must be None or a non-empty list"),
    (dict(workers=-1), "workers must be a non-negative int"),
    (dict(limits={"k": (0, 51, "NYUv2 has 51 layouts")}), r"k must be an int in 1\.\.51 \(NYUv2 has 51 layouts\), "
                                                          "got 0"),
    (dict(limits={"top": (True, 20, "")}), r"top must be an int in 1\.\.20, got True"),
    (dict(scale="huge"), "scale must be one of"),
])
def test_bad_parameters_are_refused_before_anything_runs(tmp_path, kw, match):
    with pytest.raises(ConfigError, match=match):
        _begin(tmp_path, **kw)


def test_planted_seeds_default_per_scale_and_cpu_needs_five(tmp_path):
    out = str(tmp_path / "o")
    assert steps.begin_planted(scale="smoke", seed=3, device="cpu", out_dir=out).seeds == (3, 4)
    assert steps.begin_planted(scale="cpu", seed=0, device="cpu", out_dir=out).seeds == (0, 1, 2, 3, 4)
    with pytest.raises(ConfigError, match=r"at least 5 seeds at cpu scale .*got \[0, 1\]"):
        steps.begin_planted(scale="cpu", seed=0, device="cpu", out_dir=out, seeds=[0, 1])


def test_the_ranking_rows_are_exact_and_recorded_once(tmp_path, monkeypatch):
    """Table 1: the paper's five picks are the recommender's top five (in another order); the recorded rows are
    :func:`mtlkit.picks.ranking_records` of them, under the first seed, on the published table."""
    from mtlkit.facts import PUBLISHED_DATASET
    from mtlkit.picks import ranking_records

    monkeypatch.setenv("MTLKIT_RESULTS", str(tmp_path / "results"))
    rep = _begin(tmp_path, "treemtl_table1", seeds=[2, 0])
    picks = steps.rank(rep)
    assert len(rep.ranking) == 51 and sorted(picks["rank"]) == [1, 2, 3, 4, 5]
    assert steps.record_ranking(rep) == len(ranking_records(picks))
    rows = _csv(tmp_path / "results" / "treemtl_table1.csv")
    assert {r["seed"] for r in rows} == {"2"} and {r["dataset"] for r in rows} == {PUBLISHED_DATASET}
    assert [(r["method"], r["metric"], float(r["value"])) for r in rows] == \
        [(r["method"], r["metric"], float(r["value"])) for r in ranking_records(picks)]


def test_budget_rankings_respect_each_budget(tmp_path):
    rep = _begin(tmp_path, "treemtl_table2")
    steps.rank(rep, show=False)
    per_budget = steps.budget_rankings(rep, 3)
    assert list(dict.fromkeys(per_budget.budget)) == ["none", "4 models", "3 models", "2 models", "1 models"]
    sizes = per_budget.groupby("budget", sort=False).size().to_dict()
    assert sizes == {"none": 3, "4 models": 3, "3 models": 3, "2 models": 3, "1 models": 1}  # 1 model: all shared
    for k in (4, 3, 2, 1):
        assert (per_budget[per_budget.budget == f"{k} models"].backbones <= k + 1e-9).all()
    assert list(map(str, per_budget[per_budget.budget == "1 models"].layout)) == ["[01234]x5"]


def test_the_local_executor_gives_the_rows_of_the_sequential_run(tmp_path, monkeypatch):
    """Table 5 at smoke scale, two seeds: trained by two worker processes (on a fresh cache) the recorded rows are
    the sequential run's, bit for bit, the workers trained under the run folders this process reads, and every seed
    has its trained rows and its Constant predictor rows."""
    found = {}
    for name, executor in (("sequential", "sequential"), ("local", {"name": "local", "workers": 2})):
        monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / f"cache_{name}"))
        monkeypatch.setenv("MTLKIT_RESULTS", str(tmp_path / f"results_{name}"))
        rep = _begin(tmp_path, seeds=[0, 1], executor=executor)
        steps.rank(rep, show=False)
        trained = steps.train_picks(rep)
        assert set(trained) == {0, 1}
        rows = _csv(tmp_path / f"results_{name}" / "treemtl_table5.csv")
        found[name] = (rep, sorted((r["seed"], r["setting"], r["method"], r["task"], r["metric"], r["value"],
                                    r["layout"]) for r in rows))  # rows read from a run's result file come key-sorted
    (seq, rows_seq), (local, rows_local) = found["sequential"], found["local"]
    assert rows_local == rows_seq and len({r[:5] for r in rows_seq}) == len(rows_seq)
    assert not seq.outcomes and len(local.outcomes) == 6 and all(o.ok for o in local.outcomes)  # 2 seeds x 3
    assert {o.worker.split(":")[1] for o in local.outcomes}.isdisjoint({str(os.getpid())})
    runs = {p.name for p in (tmp_path / "cache_local").iterdir()}
    assert runs and runs == {p.name for p in (tmp_path / "cache_sequential").iterdir()}
    for seed in ("0", "1"):
        mine = [r for r in rows_seq if r[0] == seed]
        reference = {(r[3], r[4]) for r in mine if r[2] == "Ind. Models"}
        const = {(r[3], r[4]) for r in mine if r[2] == CONSTANT}
        assert reference and const == reference  # every task metric of the single-task models, per seed
    assert {r[1] for r in rows_seq if r[2] == CONSTANT} == {"as published"}


def test_the_constant_predictor_is_the_training_sets_constant(tmp_path):
    """On the stand-in's data the segmentation constant predicts one class everywhere: its pixel accuracy is the
    share of that class among the test pixels, so at least 100 / classes; the trained part's tasks are all there."""
    from mtlkit.facts import DATASET_FACTS
    from mtlkit.recipes import training_plan

    plan = training_plan("treemtl_table1", "smoke", backbone="deeplab_resnet34")
    const = steps.constant_predictor(plan, 0)
    assert set(const) == set(plan.tasks)
    assert 100 / DATASET_FACTS["nyuv2"].classes <= const["segment_semantic"]["pixel_acc"] <= 100
    assert const == steps.constant_predictor(plan, 0)  # deterministic


def test_the_planted_experiment_on_the_local_executor_gives_the_sequential_rows(tmp_path, monkeypatch):
    """Both arms for two seeds (smoke scale): sent as (arm, seed) runs to two workers, the result rows and the run
    folders are the sequential run's."""
    from mtlkit.planted import result_rows

    found = {}
    for name, executor in (("sequential", "sequential"), ("local", {"name": "local", "workers": 2})):
        monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / f"cache_{name}"))
        rep = steps.begin_planted(scale="smoke", seed=0, device="cpu", out_dir=str(tmp_path / "o"), executor=executor)
        result, _, _ = steps.planted_run(rep)
        found[name] = (rep, result_rows(result))
    (seq, rows_seq), (local, rows_local) = found["sequential"], found["local"]
    assert rows_local == rows_seq and set(rows_seq) == {0, 1}
    assert not seq.outcomes and len(local.outcomes) == 4 and all(o.ok for o in local.outcomes)
    runs = {p.name for p in (tmp_path / "cache_local").iterdir()}
    assert runs and runs == {p.name for p in (tmp_path / "cache_sequential").iterdir()}
