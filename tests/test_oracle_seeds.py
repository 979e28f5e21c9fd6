"""The oracle's seeds: a data seed apart from the training seed, several oracle seeds over the nontrivial layouts,
their bootstrap CIs and split-half reliability, and Table 3's notebook rows at smoke scale."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mtlkit.errors import ConfigError
from mtlkit.stats import correlation_ci, split_half_reliability
from mtlkit.treemtl.experiment import ExperimentSpec
from mtlkit.treemtl.oracle import NONTRIVIAL, oracle_records, oracle_study, study_spec

ROOT = Path(__file__).resolve().parents[1]


def _images(spec: ExperimentSpec) -> torch.Tensor:
    data = spec.load_data()
    return torch.cat([b["image"] for b in data.test_loader])


def _first_weights(spec: ExperimentSpec) -> torch.Tensor:
    return next(iter(spec.new_backbone().parameters())).detach().clone()


def test_data_seed_fixes_the_data_while_the_seed_changes_the_initialisation():
    base = study_spec("smoke", 0, data_seed=0)
    other = dataclasses.replace(base, seed=1)
    assert torch.equal(_images(base), _images(other))                          # same data
    assert not torch.equal(_first_weights(base), _first_weights(other))        # different init
    h0 = base.build_heads(["depth_zbuffer"], base.task_objects(), 4)["depth_zbuffer"]
    h1 = other.build_heads(["depth_zbuffer"], other.task_objects(), 4)["depth_zbuffer"]
    assert not all(torch.equal(a, b) for a, b in zip(h0.parameters(), h1.parameters()))
    old = study_spec("smoke", 1)                                              # no data seed: seed is both
    assert old.data_rng_seed == 1 and not torch.equal(_images(old), _images(base))
    assert torch.equal(_images(old), _images(study_spec("smoke", 0, data_seed=1)))
    # a spec without a data seed keeps the key it had before the field existed; one with it round-trips
    assert "data_seed" not in old.to_dict() and base.to_dict()["data_seed"] == 0
    assert ExperimentSpec.from_dict(base.to_dict()) == base and ExperimentSpec.from_dict(old.to_dict()) == old
    with pytest.raises(ConfigError, match="data_seed"):
        dataclasses.replace(base, data_seed=-1)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    return oracle_study(study_spec("smoke", 0, data_seed=0), tmp_path_factory.mktemp("seeds"), progress=False,
                        seeds=[0, 1, 2], disguised="grid")


def test_seeds_train_only_the_nontrivial_layouts_and_the_reference(seeded):
    df = seeded.layouts
    indep = df.index[df.layout == "[0,1,2]x2"][0]
    assert seeded.seeds == (0, 1, 2) and int(df.multi.sum()) == 5
    # grid 3 x 3, then per seed the 5 nontrivial layouts and the reference; the 6 others read off the grid
    assert seeded.trained_now == 9 + 3 * 6
    assert list(df.from_grid) == [not m and i != indep for i, m in zip(df.index, df.multi)]
    for s in (1, 2):
        assert df.loc[df.multi, f"trained_seed{s}"].notna().all()
        assert df.loc[~df.multi & (df.index != indep), f"trained_seed{s}"].isna().all()
    # the seeds change the trained scores (a different initialisation), the data stay the same
    assert not np.allclose(df.loc[df.multi, "trained_seed0"], df.loc[df.multi, "trained_seed1"])
    block = df.loc[df.multi, [f"trained_seed{s}" for s in (0, 1, 2)]]
    assert np.allclose(df.loc[df.multi, "oracle"], block.mean(axis=1))
    assert seeded.reliability == pytest.approx(split_half_reliability(block.to_numpy()))
    # per seed and against the mean: the bootstrap CI of stats.correlation_ci
    ci = correlation_ci(df.loc[df.multi, "estimated"], df.loc[df.multi, "oracle"], "kendall")
    got = seeded.correlations_multi.loc["kendall"]
    assert (got.statistic, got.ci_low, got.ci_high) == pytest.approx((ci.r, ci.low, ci.high))
    assert set(seeded.correlations_seeds) == {0, 1, 2}


def test_disguised_layouts_read_off_the_grid_equal_the_trained_ones(seeded, tmp_path):
    trained = oracle_study(seeded.spec, tmp_path, progress=False)           # every layout trained, one seed
    for i, row in seeded.layouts[seeded.layouts.from_grid].iterrows():
        assert row.trained == trained.layouts.loc[i, "trained"]
        assert row.trained == pytest.approx(2 * row.estimated, rel=1e-9, abs=1e-12)
    assert trained.correlations.equals(seeded.correlations)


def test_records_per_seed(seeded):
    first = oracle_records(seeded, seed=0)
    methods = {r["method"] for r in first}
    mean = f"{NONTRIVIAL}, oracle = mean of 3 seeds"
    assert methods == {"Ours, all layouts", NONTRIVIAL, mean}
    rel = [r for r in first if r["metric"] == "oracle_reliability"]
    assert len(rel) == 1 and rel[0]["value"] == seeded.reliability and rel[0]["n_seeds"] == 3
    for s in (1, 2):
        rows = oracle_records(seeded, seed=s)
        assert {r["method"] for r in rows} == {NONTRIVIAL}
        corr = {r["metric"]: r for r in rows if r["metric"] != "n_layouts"}
        assert set(corr) == {"pearson_r", "spearman_rho", "kendall_tau"}
        for r in corr.values():
            assert math.isfinite(r["value"]) and r["ci_low"] <= r["ci_high"] and r["n_layouts"] == 5
    with pytest.raises(ConfigError, match="not an oracle seed"):
        oracle_records(seeded, seed=7)


@pytest.mark.parametrize("kw, match", [
    (dict(seeds=[1, 2, 3]), "must contain the spec's seed 0"),
    (dict(seeds=[0, 0, 1]), "distinct"),
    (dict(seeds=[0, -1]), "seeds"),
    (dict(seeds="012"), "list of distinct"),
    (dict(disguised="skip"), "unknown disguised"),
])
def test_bad_seeds(kw, match, tmp_path):
    with pytest.raises(ConfigError, match=match):
        oracle_study(study_spec("smoke", 0, data_seed=0), tmp_path, progress=False, **kw)


def test_several_seeds_need_a_data_seed(tmp_path):
    with pytest.raises(ConfigError, match="fixed data seed"):
        oracle_study(study_spec("smoke", 0), tmp_path, progress=False, seeds=[0, 1])


@pytest.mark.notebook
@pytest.mark.timeout(300)
def test_table3_notebook_records_nontrivial_rows_for_three_seeds(tmp_path, monkeypatch):
    import pandas as pd

    from mtlkit import runner

    for var, sub in runner.OUTPUT_DIRS.items():
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    runs = [r for r in runner.run("smoke", only="reproductions", match="treemtl_table3", root=ROOT)
            if r.path.stem == "treemtl_table3"]
    assert len(runs) == 1 and runs[0].error is None, runs
    df = pd.read_csv(tmp_path / "results" / "treemtl_table3.csv")
    df = df[df.scale == "smoke"]
    nontrivial = df[df.method.str.contains("nontrivial")]
    for metric in ("pearson_r", "spearman_rho", "kendall_tau"):
        rows = nontrivial[(nontrivial.method == NONTRIVIAL) & (nontrivial.metric == metric)]
        assert sorted(rows.seed) == [0, 1, 2]
        assert np.isfinite(rows[["value", "ci_low", "ci_high"]].to_numpy()).all()
    rel = df[df.metric == "oracle_reliability"]
    assert len(rel) == 1 and np.isfinite(rel.value).all() and rel.n_seeds.iloc[0] == 3
    assert (df[df.method == "Ours, all layouts"].metric == "pearson_r").sum() == 1
