"""The whole AutoMTL pipeline on SynthScenes (3 tasks, tiny_resnet): smoke scale always, cpu scale as a slow test."""
from __future__ import annotations

import time

import pytest

from mtlkit.automtl.synth import SIZES, compare, run_baseline, run_variant, synth_setup
from mtlkit.delta import delta_t



def test_smoke_comparison_runs_every_model_and_reports_agreement():
    setup = synth_setup("smoke")
    out = compare(setup, seeds=(0, 1), cache=True)
    table = out["table"]
    assert list(table["model"]) == ["single_task", "hard_sharing", "random0"] + ["search:paper"] * 2 + [
        "search:resource"] * 2
    assert table.loc[table["model"] == "single_task", "delta_T"].item() == 0.0
    assert table.loc[table["model"] == "single_task", "backbones"].item() == pytest.approx(3.0)
    assert table.loc[table["model"] == "hard_sharing", "backbones"].item() == pytest.approx(1.0)
    resource = table[table["variant"] == "resource"]
    assert (resource["backbones"] <= 1.5 + 1e-9).all()  # best-of-N keeps the budget when a sample meets it
    for variant in ("paper", "resource"):
        assert 0.0 <= out["agreement"][variant] <= 1.0
        assert out["agreement_matrix"][variant].shape == (2, 2)
    again = compare(setup, seeds=(0, 1), cache=True)  # the run cache returns the same models at once
    assert again["table"]["delta_T"].tolist() == pytest.approx(table["delta_T"].tolist())


@pytest.mark.slow
def test_cpu_scale_pipeline_is_smaller_than_three_single_task_models_and_reports_delta_t(capsys):
    start = time.perf_counter()
    setup = synth_setup("cpu")
    run = run_variant(setup, "paper", seed=0, cache=False)
    single = run_baseline(setup, "single_task", cache=False)
    seconds = time.perf_counter() - start
    assert seconds < 600, f"the cpu-scale pipeline took {seconds:.0f} s"
    assert run.post.history.iterations == SIZES["cpu"]["post"]
    assert run.post.params["full"] < single.params["full"]  # fewer parameters than three single-task models
    d = delta_t(run.post.metrics, single.metrics, zero_reference="skip")
    with capsys.disabled():
        print(f"\ncpu-scale pipeline: {seconds:.0f} s (search {run.seconds:.0f} s); parameters "
              f"{run.post.params['full']:,} vs {single.params['full']:,} (3 single-task models); "
              f"delta_T = {d.overall:+.2f} %, per task {', '.join(f'{t} {v:+.2f}' for t, v in d.per_task.items())}")
