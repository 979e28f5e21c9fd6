"""One recipe per kind of training: a tree layout trained for a TreeMTL table is the run the oracle study, the
grid and the method comparison find in the cache, and the other way round."""
from __future__ import annotations

import pytest

from mtlkit.errors import ConfigError


@pytest.fixture()
def plan(monkeypatch, tmp_path):
    from mtlkit.recipes import training_plan

    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / "cache"))
    return training_plan("treemtl_table1", "smoke", backbone="deeplab_resnet34")


def _no_training(monkeypatch):
    import mtlkit.treemtl.experiment as experiment

    def refuse(*args, **kw):
        raise AssertionError("trained again: the layout's run was not found in the cache")

    monkeypatch.setattr(experiment, "train", refuse)


def test_a_table_layout_is_a_cache_hit_for_the_oracle_study(plan, monkeypatch, tmp_path):
    from mtlkit.compare import TreeMTLStudy
    from mtlkit.recipes import plan_spec, train_layouts
    from mtlkit.treemtl import Layout

    trained = train_layouts(plan, {("no budget", "Top-1"): "[012]x4 [01,2]"}, seed=0, threads=1)
    spec = plan_spec(plan, seed=0)
    _no_training(monkeypatch)
    study = TreeMTLStudy(spec, tmp_path / "study", progress=False)   # the oracle study's folder layout
    again = study.train("[012]x4 [01,2]")
    assert again["metrics"] == trained.metrics[("no budget", "Top-1")]
    assert "paper_index" in again                                     # recorded as the oracle's entry
    # the table's reference is the oracle study's independent layout
    assert study.train(Layout.independent(3, 5))["metrics"] == trained.reference


def test_an_oracle_layout_is_a_cache_hit_for_a_table(plan, monkeypatch, tmp_path):
    from mtlkit.compare import TreeMTLStudy
    from mtlkit.recipes import plan_spec, train_layouts
    from mtlkit.treemtl import Layout

    spec = plan_spec(plan, seed=0)
    study = TreeMTLStudy(spec, tmp_path / "study", progress=False)
    first = study.train("[01,2]x5")
    reference = study.train(Layout.independent(3, 5))["metrics"]
    _no_training(monkeypatch)
    trained = train_layouts(plan, {("4 models", "Top-1"): "[01,2]x5"}, seed=0, threads=1)
    assert trained.metrics[("4 models", "Top-1")] == first["metrics"]
    assert trained.reference == reference


def test_a_different_seed_is_a_different_run(plan, monkeypatch):
    from mtlkit.recipes import plan_spec
    from mtlkit.treemtl.experiment import layout_run_dir

    a, b = plan_spec(plan, seed=0), plan_spec(plan, seed=1)
    assert layout_run_dir(a, "[012]x5", a.tasks) != layout_run_dir(b, "[012]x5", b.tasks)
    assert layout_run_dir(a, "[012]x5", a.tasks) != layout_run_dir(a, "[01,2]x5", a.tasks)
    with pytest.raises(ConfigError, match="seed"):
        plan_spec(plan, seed=-1)
