"""AutoMTL reproduction experiments (mtlkit.automtl.experiments): exact counts, setups per scale, shared runs,
the paper-scale path on fabricated data, search-cost timing, bad input, and the notebooks' validation cells."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from mtlkit.automtl import experiments as ex
from mtlkit.automtl.synth import compare, synth_setup
from mtlkit.errors import ConfigError
from mtlkit.paper import paper_values

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT / "reproductions" / f"automtl_{n}.ipynb"
             for n in ("cityscapes", "nyuv2", "taskonomy", "lambda_reg", "backbones", "search_cost")]


def _run_dirs() -> set[Path]:
    from mtlkit.cache import cache_root

    root = cache_root()
    return {p for p in root.rglob("*") if p.is_dir() and (p / "checkpoint.pt").exists()} if root.exists() else set()


# ------------------------------------------------------------------------------------------ exact at every scale
def test_the_published_cityscapes_policy_is_counted_exactly():
    acc = ex.published_policy_accounting()
    r = acc["report"]
    assert r["paper"] == 28_854_656 and r["paper_single"] == 21_267_648  # docs/automtl.md §5.1, §7.14
    assert round(100 * r["paper_reduction"], 2) == 32.16 and round(r["paper_reduction"], 7) == 0.3216303
    assert r["full_skip"] == 173_824 and acc["backbone_params"] == 21_284_672
    # every recorded row that has a printed paper value reproduces it to the printed decimals
    values = paper_values("automtl_cityscapes", known_only=True)
    printed = {(v.method, v.metric): v for v in values.itertuples() if v.task == "all"}
    rows = ex.published_policy_rows(acc)
    compared = 0
    for row in rows:
        p = printed.get((row["method"], row["metric"]))
        if p is not None:
            assert round(row["value"], max(p.decimals, 0)) == p.number, (row, p.value)
            compared += 1
    assert compared == 5  # conv counts (AutoMTL, Single-Task), reduction %, #Params (AutoMTL 28.88, Single 42.569)
    assert {r["setting"] for r in rows} == {"Deeplab-ResNet34"}


@pytest.mark.parametrize("backbone, expected", [
    ("deeplab_resnet34", dict(conv_nodes=36, max_depth=33, identity_skips=29, auto_projection_nodes=4,
                              auto_projection_params=174_144, auto_no_skip_nodes=3, project_projection_nodes=7,
                              project_projection_params=347_968, conv_params=21_267_648,
                              backbone_params=21_284_672)),
    ("mobilenet_v2", dict(conv_nodes=52, max_depth=52, identity_skips=13, auto_projection_nodes=1,
                          auto_projection_params=160, auto_no_skip_nodes=38, project_projection_nodes=39,
                          project_projection_params=2_545_216, conv_params=2_189_760, backbone_params=2_223_872)),
    ("mnasnet1_0", dict(conv_nodes=52, max_depth=52, identity_skips=13, auto_projection_nodes=1,
                        auto_projection_params=160, auto_no_skip_nodes=38, project_projection_nodes=39,
                        project_projection_params=3_323_840, conv_params=3_064_392, backbone_params=3_102_312)),
])
def test_compiler_facts_at_a_small_input_equal_the_224px_values(backbone, expected):
    # the README table (counted at 224 px) and docs/automtl.md §1.6/§7.4; here at 32 px: the facts do not depend on the input
    assert ex.compiler_facts(backbone, resolution=32) == expected


def test_hours_estimate_uses_the_schedule_counts():
    t = {"policy": 1.0, "network": 2.0}
    assert ex.hours_estimate(t, ex.SearchConfig.preset("cityscapes")) == pytest.approx((4000 + 2 * 16000) / 3600)
    assert ex.hours_estimate(t, ex.SearchConfig.preset("nyuv2")) == pytest.approx((10000 + 2 * 10000) / 3600)


# ------------------------------------------------------------------------------------------------- the setups
@pytest.mark.parametrize("dataset, tasks, metric, pn, lam", [
    ("cityscapes", ("segment_semantic", "depth_zbuffer"), "mIoU", (1, 4), 0.0005),
    ("taskonomy", ("segment_semantic", "normal", "depth_zbuffer", "keypoints2d", "edge_texture"), "err", (1, 2),
     0.0005),
])
def test_cpu_stand_ins_follow_the_dataset_presets(dataset, tasks, metric, pn, lam):
    s = ex.experiment_setup(dataset, "cpu")
    assert tuple(s.tasks) == tasks and s.tasks["segment_semantic"].metrics[0] == metric
    cfg = s.base_config
    assert (cfg.policy_steps, cfg.network_steps) == pn and cfg.reg_weight == lam
    assert cfg.final_tau == pytest.approx(ex.SearchConfig.preset(dataset).final_tau)  # scaled keeps the paper's τ
    assert ex.dataset_label(s) == f"SynthScenes (stand-in for {ex.DATASET_NAMES[dataset]})"
    assert s.key["stand_in"] == ex.DATASET_NAMES[dataset] and s.key["tasks"] == list(tasks)


def test_the_nyuv2_stand_in_is_notebook_03s_setup_and_shares_its_runs():
    mine, theirs = ex.experiment_setup("nyuv2", "smoke"), synth_setup("smoke")
    assert mine.key == theirs.key and mine.base_config == theirs.base_config
    compare(theirs, seeds=(0,), variants=("paper",))  # what notebook 03 trains (seed 0)
    before = _run_dirs()
    comp = ex.comparison(mine, 0, methods=("Single-Task", "Multi-Task", "AutoMTL"))
    assert _run_dirs() == before  # nothing trained again
    assert set(comp.models) == {"Single-Task", "Multi-Task", "AutoMTL"}


def test_comparison_rows_and_the_lambda_ablation_reuse_the_comparison_run(tmp_path):
    setup = ex.experiment_setup("cityscapes", "smoke")
    comp = ex.comparison(setup, 0, methods=("Single-Task", "Multi-Task", "AutoMTL"))
    assert comp.deltas["Single-Task"].overall == 0 and comp.backbones["Multi-Task"] == 1.0
    assert comp.backbones["Single-Task"] == 2.0
    rows = pd.DataFrame(comp.rows("Deeplab-ResNet34"))
    for method, post in comp.models.items():
        got = rows[rows.method == method]
        for task, metrics in post.metrics.items():
            assert set(got[got.task == task].metric) == {*metrics, "delta_t"}
        overall = got[got.task == "all"].set_index("metric").value
        assert overall["conv_params_paper"] == post.params["paper"] and overall["params_full"] == post.params["full"]
        assert overall["delta_t"] == pytest.approx(comp.deltas[method].overall)
    assert not rows.duplicated(["setting", "method", "task", "metric"]).any()
    before = _run_dirs()
    sweep = ex.lambda_ablation(setup, [0.0005, 0.01], 0, reference=comp)
    new = sorted(p.name.rsplit("-", 1)[0] for p in _run_dirs() - before)
    # λ = 0.0005 is the comparison's AutoMTL run: only λ = 0.01 is searched, and post-trained unless its sampled
    # policy equals λ = 0.0005's (same sample seed, near-equal logits at smoke scale: then that run is reused too)
    same = sweep["runs"][0.01].post.policy == sweep["runs"][0.0005].post.policy
    assert new == ["automtl-policy"] + ([] if same else ["automtl-post"])
    assert sweep["runs"][0.0005].post.metrics == comp.models["AutoMTL"].metrics
    assert list(sweep["table"].index) == [0.0005, 0.01]
    assert sweep["table"].loc[0.0005, "delta_T"] == pytest.approx(comp.deltas["AutoMTL"].overall)


def test_backbone_setup_runs_a_torchvision_backbone_on_the_stand_in():
    s = ex.backbone_setup("mobilenet_v2", "smoke")
    sm = s.supermodel(0)
    assert len(sm.nodes) == 52 and s.key["backbone"] == "mobilenet_v2" and s.label.endswith("CityScapes)")
    assert ex.backbone_setup("tiny_resnet", "smoke").key == ex.experiment_setup("cityscapes", "smoke").key


def test_policy_train_timing_both_schemes():
    setup = ex.experiment_setup("cityscapes", "smoke")
    t = ex.time_policy_train(setup, 1)
    assert set(t) == {"ours", "original"} and all(t[s]["policy"] > 0 and t[s]["network"] > 0 for s in t)
    assert ex.policy_train_wall(setup, "original") > 0
    per_task = ex.per_task_data(setup)
    assert set(per_task["train1"]) == set(setup.tasks) and per_task["test"] is setup.data["test"]
    a, b = (next(iter(per_task["train"][task]))["image"] for task in setup.tasks)
    assert not torch.equal(a, b)  # each task its own shuffled batches, as the original's per-task loaders


# ------------------------------------------------------------------------------------------- the paper path
def test_paper_scale_builds_on_fabricated_data(tmp_path):
    """Cannot train here (no GPU, no data); it builds the real loaders, the paper's supermodel and configuration."""
    from fabricate import fabricate_cityscapes, fabricate_nyuv2, fabricate_taskonomy

    fabricate_cityscapes(tmp_path / "CityScapes", n=4)
    fabricate_nyuv2(tmp_path / "NYUv2", n=4)
    fabricate_taskonomy(tmp_path / "Taskonomy", n=4)
    for dataset in ex.DATASETS:
        s = ex.experiment_setup(dataset, "paper", data_root=tmp_path)
        assert ex.dataset_label(s) == ex.DATASET_NAMES[dataset] and tuple(s.tasks) == ex.PAPER_TASKS[dataset]
        assert all(t.paper_compat for t in s.tasks.values()) and s.head == "aspp" and s.skip == "project"
        cfg = s.base_config
        assert (cfg.policy_train_iterations, cfg.post_train_iterations) == (20_000, 30_000)
        assert cfg.pre_train_iterations == (0 if dataset == "cityscapes" else 10_000)
        assert s.data["train"].batch_size == 16 and set(s.data) == {"train", "train1", "train2", "test"}
        batch = next(iter(s.data["test"]))
        assert set(ex.PAPER_TASKS[dataset]) <= set(batch)
    cityscapes = ex.experiment_setup("cityscapes", "paper", data_root=tmp_path)
    sm = cityscapes.supermodel(0)
    # docs/automtl.md §1.7/§7.3: 110,786,112 with the original's unused BN logits (3·T·36 = 216 of them), which we do not create
    assert sum(p.numel() for p in sm.parameters()) == 110_786_112 - 3 * 2 * 36
    assert type(sm.heads["segment_semantic"]).__name__ == "ASPPHead" and sm.max_depth == 33


@pytest.mark.parametrize("call, error, match", [
    (lambda d: ex.experiment_setup("kitti", "cpu"), ConfigError, "unknown dataset 'kitti'"),
    (lambda d: ex.experiment_setup("cityscapes", "huge"), ConfigError, "scale must be one of"),
    (lambda d: ex.experiment_setup("cityscapes", "cpu", cpu_backbone="resnet34"), ConfigError,
     "cpu_backbone must be one of"),
    (lambda d: ex.experiment_setup("cityscapes", "paper"), ConfigError, "set data_root"),
    (lambda d: ex.experiment_setup("cityscapes", "paper", data_root=d), FileNotFoundError, "has no CityScapes/"),
    (lambda d: ex.experiment_setup("cityscapes", "paper", backbone="resnet9000", data_root=d), ConfigError,
     "unknown backbone 'resnet9000'"),
    (lambda d: ex.backbone_setup("resnet9000", "cpu"), ConfigError, "unknown backbone 'resnet9000'"),
    (lambda d: ex.comparison(ex.experiment_setup("cityscapes", "smoke"), methods=("MTAN",)), ConfigError,
     "unknown method 'MTAN'"),
    (lambda d: ex.lambda_ablation(ex.experiment_setup("cityscapes", "smoke"), [0.001, -1.0]), ConfigError,
     "lambdas must be distinct positive numbers"),
    (lambda d: ex.time_policy_train(ex.experiment_setup("cityscapes", "smoke"), 0), ConfigError,
     "iterations must be a positive int"),
    (lambda d: ex.time_policy_train(ex.experiment_setup("cityscapes", "smoke"), 1, schemes=("fast",)), ConfigError,
     "unknown scheme 'fast'"),
    (lambda d: ex.published_policy_accounting("mobilenet_v2"), ConfigError, "does not have ResNet-34's conv names"),
])
def test_bad_input_is_refused_clearly(tmp_path, call, error, match):
    with pytest.raises(error, match=match):
        call(tmp_path)


# ------------------------------------------------------------------------------------------------ notebooks
@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_declare_and_validate_their_parameters_first(nb_path):
    import nbformat
    import papermill as pm

    declared = pm.inspect_notebook(str(nb_path))
    assert {"scale", "seed", "device", "out_dir", "data_root", "backbone", "cpu_backbone"} <= set(declared)
    assert declared["data_root"]["default"] == "None" and declared["backbone"]["default"] == '"deeplab_resnet34"'
    nb = nbformat.read(nb_path, as_version=4)
    i = next(k for k, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    validation = nb.cells[i + 1].source
    if "steps.begin" in validation:  # mtlkit.reproduce_automtl.begin(_backbones) checks them, then builds the setups
        assert all(f"{p}={p}" in validation for p in ("scale", "seed", "device", "out_dir", "backbone", "data_root",
                                                      "cpu_backbone", "executor", "seeds"))
        return
    # automtl_search_cost: mtlkit.reproduce_search_cost.begin checks them and builds each setting's setup
    assert "sc.begin(" in validation
    assert all(f"{p}={p}" in validation for p in ("scale", "seed", "device", "out_dir", "backbone", "data_root",
                                                  "cpu_backbone", "datasets", "timed_iterations", "full_stage"))


@pytest.mark.notebook
@pytest.mark.parametrize("params, match", [
    ({"scale": "huge"}, "scale must be one of"),
    ({"backbone": "resnet9000"}, "unknown backbone 'resnet9000'"),
    ({"scale": "paper"}, "set data_root"),
])
def test_a_bad_parameter_stops_the_notebook_in_its_validation_cell(tmp_path, params, match):
    import nbformat
    import papermill as pm

    nb_path = NOTEBOOKS[0]
    out = tmp_path / "out.ipynb"
    with pytest.raises(pm.PapermillExecutionError, match=match):
        pm.execute_notebook(str(nb_path), str(out), parameters={"out_dir": str(tmp_path / "o"), **params},
                            kernel_name="python3", cwd=str(nb_path.parent), progress_bar=False)
    code = [c for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"]
    injected = next(k for k, c in enumerate(code) if "injected-parameters" in c.metadata.get("tags", []))
    ran = [k for k, c in enumerate(code) if c.get("execution_count")]
    assert ran[-1] == injected + 1 and any(o.get("ename") for o in code[injected + 1].outputs)
