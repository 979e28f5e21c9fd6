"""Tree layouts trained until a validation plateau: the spec option, the recorded convergence, the results columns
and the report's note."""
import dataclasses

import pandas as pd
import pytest

from mtlkit.errors import ConfigError
from mtlkit.recipes import convergence_columns, plan_spec, training_plan
from mtlkit.report import _convergence_note
from mtlkit.treemtl import Layout
from mtlkit.treemtl.experiment import ExperimentSpec, train_entry

BASE = dict(tasks=("segment_semantic", "depth_zbuffer"), backbone="tiny_resnet", backbone_kw={"width": 4}, blocks=2,
            head="linear", resolution=32, n_train=8, n_test=4, batch_size=4, iterations=20, eval_every=2,
            eval_last=1, seed=0)


def test_plateau_option_is_checked_and_keeps_old_cache_keys():
    with pytest.raises(ConfigError, match="plateau must be a bool"):
        ExperimentSpec(**BASE, plateau=1)
    with pytest.raises(ConfigError, match="at least 5 evaluations"):
        ExperimentSpec(**{**BASE, "eval_every": 5}, plateau=True)   # 4 evaluations
    assert "plateau" not in ExperimentSpec(**BASE).to_dict()       # a fixed-length run's key is unchanged
    spec = ExperimentSpec(**BASE, plateau=True)
    assert spec.to_dict()["plateau"] is True
    assert ExperimentSpec.from_dict(spec.to_dict()) == spec


def test_train_entry_until_plateau_records_convergence(tmp_path):
    spec = ExperimentSpec(**BASE, plateau=True)
    layout = Layout.independent(spec.T, spec.B)
    result = train_entry(spec, layout, spec.tasks, tmp_path / "e", progress=False)
    conv = result["convergence"]
    assert set(conv) == {"plateaued", "improvement", "iterations", "stopped_at"}
    if conv["plateaued"]:
        assert conv["stopped_at"] == conv["iterations"] <= spec.iterations
        assert conv["improvement"] < 0.02
    else:
        assert conv["stopped_at"] is None and conv["iterations"] == spec.iterations
    # the readings are those of the last evaluation, where training stopped
    assert result["readings"] == [conv["iterations"]]
    again = train_entry(spec, layout, spec.tasks, tmp_path / "e", progress=False)
    assert again == result
    # a fixed-length run records none
    fixed = train_entry(ExperimentSpec(**BASE), layout, ("segment_semantic", "depth_zbuffer"), tmp_path / "f",
                        progress=False)
    assert "convergence" not in fixed


def test_convergence_columns():
    assert convergence_columns({"metrics": {}}) == {"plateaued": "", "stopped_at": ""}
    done = {"convergence": {"plateaued": True, "improvement": 0.01, "iterations": 600, "stopped_at": 600}}
    assert convergence_columns(done) == {"plateaued": True, "stopped_at": 600}
    capped = {"convergence": {"plateaued": False, "improvement": 0.05, "iterations": 1000, "stopped_at": None}}
    assert convergence_columns(capped) == {"plateaued": False, "stopped_at": 1000}


def test_cpu_plan_trains_until_plateau_and_smoke_stays_fixed():
    cpu = training_plan("treemtl_table1", "cpu", backbone="deeplab_resnet34")
    assert cpu.plateau and cpu.iterations == 1000
    spec = plan_spec(cpu, seed=0)
    assert spec.plateau and spec.eval_every == 50
    smoke = training_plan("treemtl_table1", "smoke", backbone="deeplab_resnet34")
    assert not smoke.plateau and not plan_spec(smoke, seed=0).plateau
    with pytest.raises(ConfigError, match="at least 5 evaluations"):
        plan_spec(dataclasses.replace(cpu, iterations=4), seed=0)


def test_report_notes_runs_that_did_not_plateau():
    def rows(seed, method, plateaued, stop):
        return [dict(seed=str(seed), setting="s", method=method, task=t, plateaued=plateaued, stopped_at=stop)
                for t in ("a", "b")]
    g = pd.DataFrame(rows(0, "#1", "True", "500") + rows(1, "#1", "False", "1000") + rows(0, "#2", "True", "650")
                     + [dict(seed="0", setting="s", method="Constant predictor", task="a", plateaued="",
                             stopped_at="")])
    (line,) = [x for x in _convergence_note(g) if x]
    assert "2 of 3 runs did" in line and "500–1000" in line
    assert "Not plateaued at the cap: #1 (seed 1)" in line
    assert _convergence_note(g.drop(columns=["plateaued", "stopped_at"])) == []
