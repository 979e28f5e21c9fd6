"""Recording results, the generated report, the TreeMTL picks vs the golden rankings, and reproduction parameters."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from mtlkit.errors import ConfigError
from mtlkit.config import check_reproduction_params
from mtlkit.paper import PUBLISHED_DATASET
from mtlkit.picks import RECOMMENDER_TOP1, TREEMTL_PICKS, budget_of, pick_ranking, ranking_records
from mtlkit.report import KEY, RUN_COLUMNS, record, render_report, report_path, results_dir, write_report

ROOT = Path(__file__).resolve().parents[1]
GOLDENS = json.loads((ROOT / "tests" / "data" / "treemtl_rankings.json").read_text())
ROW = {"setting": "no budget", "method": "#0", "task": "segment_semantic", "metric": "mIoU", "value": 25.0}


@pytest.fixture
def results(monkeypatch, tmp_path) -> Path:
    folder = tmp_path / "results"
    monkeypatch.setenv("MTLKIT_RESULTS", str(folder))
    return folder


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------------------------- record
def test_record_writes_the_rows_and_the_run_columns(results):
    path = record("treemtl_table1", [ROW], scale="cpu", seed=3, device="cpu", dataset="SynthScenes", wall_s=12.34)
    assert path == results / "treemtl_table1.csv" and results_dir() == results
    (row,) = _read(path)
    assert {k: row[k] for k in ("table", "setting", "method", "task", "metric")} == \
        {"table": "treemtl_table1", "setting": "no budget", "method": "#0", "task": "segment_semantic",
         "metric": "mIoU"}
    assert float(row["value"]) == 25.0
    assert (row["seed"], row["scale"], row["device"], row["dataset"], row["wall_s"]) == \
        ("3", "cpu", "cpu", "SynthScenes", "12.3")
    assert re.fullmatch(r"\d+\.\d+.*", row["torch"])
    import torch

    assert row["threads"] == str(torch.get_num_threads())  # conftest imports torch: the count is always known
    assert re.fullmatch(r"([0-9a-f]{12}(\+dirty)?|unknown)", row["git_commit"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", row["timestamp"])
    assert set(RUN_COLUMNS) <= set(row)
    assert not [p for p in results.iterdir() if p.name.startswith(".") and "tmp" in p.name]


def test_same_key_replaces_and_other_seeds_append(results):
    record("t", [ROW], scale="cpu", seed=0, device="cpu", dataset="SynthScenes")
    record("t", [{**ROW, "value": 26.0}], scale="cpu", seed=0, device="cpu", dataset="SynthScenes")
    rows = _read(results / "t.csv")
    assert [float(r["value"]) for r in rows] == [26.0]
    record("t", [{**ROW, "value": 27.0}], scale="cpu", seed=1, device="cpu", dataset="SynthScenes")
    record("t", [{**ROW, "value": 28.0}], scale="paper", seed=0, device="cuda", dataset="NYUv2")
    record("t", [{**ROW, "metric": "pixel_acc", "value": 50}], scale="cpu", seed=0, device="cpu",
           dataset="SynthScenes")
    rows = _read(results / "t.csv")
    assert [(r["seed"], r["scale"], r["metric"], r["value"]) for r in rows] == [
        ("0", "cpu", "mIoU", "26.0"), ("1", "cpu", "mIoU", "27.0"), ("0", "paper", "mIoU", "28.0"),
        ("0", "cpu", "pixel_acc", "50")]
    assert len({tuple(r.get(k, "") for k in KEY) for r in rows}) == len(rows)


def test_extra_keys_become_columns_and_old_rows_keep_theirs(results):
    record("t", [{**ROW, "layout": "[012]x5"}], scale="cpu", seed=0, device="cpu", dataset=PUBLISHED_DATASET)
    record("t", [{**ROW, "method": "#45", "backbone": "tiny_resnet"}], scale="cpu", seed=0, device="cpu",
           dataset="SynthScenes")
    rows = _read(results / "t.csv")
    assert list(rows[0])[-2:] == ["backbone", "layout"]
    assert (rows[0]["layout"], rows[0]["backbone"]) == ("[012]x5", "")
    assert (rows[1]["layout"], rows[1]["backbone"]) == ("", "tiny_resnet")


@pytest.mark.parametrize("kwargs, rows, match", [
    (dict(table="Table 1"), [ROW], r"table must be a name like"),
    (dict(scale="huge"), [ROW], r"scale must be one of"),
    (dict(seed=-1), [ROW], r"seed must be a non-negative int"),
    (dict(seed=True), [ROW], r"seed must be a non-negative int"),
    (dict(dataset=""), [ROW], r"dataset must be a non-empty string"),
    ({}, [], r"rows is empty"),
    ({}, [{k: v for k, v in ROW.items() if k != "metric"}], r"lacks \['metric'\]"),
    ({}, [{**ROW, "seed": 1}], r"sets \['seed'\], which record\(\) fills in"),
    ({}, [{**ROW, "value": "25.0"}], r"value must be a real number, got '25.0'"),
    ({}, [{**ROW, "value": float("nan")}], r"value must be finite"),
    ({}, [{**ROW, "value": True}], r"value must be a real number"),
    ({}, [{**ROW, "method": ""}], r"method must be a non-empty string"),
    ({}, [ROW, {**ROW, "value": 1.0}], r"two rows with the same key"),
    ({}, ["not a mapping"], r"must be a mapping"),
])
def test_record_rejects_bad_input_with_a_clear_message(results, kwargs, rows, match):
    args = dict(table="t", scale="cpu", seed=0, device="cpu", dataset="SynthScenes") | kwargs
    table = args.pop("table")
    with pytest.raises(ConfigError, match=match):
        record(table, rows, **args)
    assert not (results / "t.csv").exists()


def test_concurrent_records_lose_no_row_and_leave_no_lock_file(results):
    import threading

    def work(seed):
        for i in range(15):
            record("t", [{**ROW, "method": f"m{i}"}], scale="cpu", seed=seed, device="cpu", dataset="SynthScenes")

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_read(results / "t.csv")) == 60
    assert [p.name for p in results.iterdir()] == ["t.csv"]


def test_default_locations_are_in_the_checkout(monkeypatch):
    monkeypatch.delenv("MTLKIT_RESULTS", raising=False)
    assert results_dir() == ROOT / "reproductions" / "results"
    assert report_path() == ROOT / "reproductions" / "REPORT.md"


# ---------------------------------------------------------------------------------------------------- report
def _section(text: str, where: str, header: bool = False) -> list[list[str]]:
    """The rows (with ``header``: the header row first) of the results table headed ``**Results: <where>**``."""
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(f"**Results: {where}**"))
    rows = [[c.strip() for c in lines[i + 2].strip("|").split("|")]] if header else []
    for line in lines[i + 4:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _heading(text: str, where: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"**Results: {where}**"))


def test_report_labels_every_cell_and_compares_only_the_papers_experiment(results):
    kw = dict(device="cpu")
    record("treemtl_table1", [{**ROW, "value": 30.0}], scale="cpu", seed=0, dataset="SynthScenes", **kw)
    for seed, v in enumerate((25.0, 25.5, 26.0)):
        record("treemtl_table1", [ROW], scale="paper", seed=seed, device="cuda", dataset="NYUv2")
        record("treemtl_table1", [{**ROW, "value": v}], scale="paper", seed=seed, device="cuda", dataset="NYUv2")
    record("treemtl_table1", [{**ROW, "value": 99.0}], scale="smoke", seed=0, dataset="SynthScenes", **kw)
    record("treemtl_table1", [{**ROW, "value": 20.0, "backbone": "tiny_resnet"}], scale="paper", seed=0,
           dataset="SynthScenes", **kw)
    text = render_report()
    # paper value 25.23 (2 decimals): ours at paper scale on NYUv2, 3 seeds: mean ± t(0.975, 2)·sd/√3, paper beside
    half = 4.302652729911275 * 0.5 / 3 ** 0.5
    assert _heading(text, "paper · NYUv2 · cuda").startswith("**Results: paper · NYUv2 · cuda** — the paper's "
                                                             "experiment: each cell is ours (paper's value, ours − paper)")
    assert "n = 3" in _heading(text, "paper · NYUv2 · cuda")
    assert _section(text, "paper · NYUv2 · cuda", header=True) == [
        ["setting", "method", "segment_semantic mIoU"], ["no budget", "#0", f"25.50 ± {half:.2f} (paper 25.23, +0.27)"]]
    # CPU scale on SynthScenes, and paper scale on the wrong dataset: shown, never beside the paper's numbers
    assert _heading(text, "cpu · SynthScenes").startswith("**Results: cpu · SynthScenes** — SynthScenes stand-in, "
                                                          "not the paper's experiment: never compared")
    assert _section(text, "cpu · SynthScenes") == [["no budget", "#0", "30.00"]]
    assert "**Results: paper · SynthScenes · tiny_resnet** — not the paper's dataset: shown, not compared" in text
    assert _section(text, "paper · SynthScenes · tiny_resnet") == [["no budget", "#0", "20.00"]]
    assert "99.00" not in text and "smoke · SynthScenes" not in text  # smoke rows are left out by default
    assert "**Results: smoke · SynthScenes**" in render_report(include_smoke=True)
    assert "Smoke-scale rows are left out." in text
    # the paper's values have their own table, pivoted the same way
    paper = text[text.index("**The paper's values** (107 printed cells"):]
    assert "| no budget | #0 | 25.23 | 57.69 |" in paper.split("\n\n")[1]


def _rows(method, values, metric="mIoU", task="segment_semantic", setting="no budget"):
    return {seed: {"setting": setting, "method": method, "task": task, "metric": metric, "value": v}
            for seed, v in enumerate(values)}


def _record_seeds(table, per_method: dict[str, list[float]], metric="mIoU", scale="cpu"):
    by_seed: dict[int, list[dict]] = {}
    for method, values in per_method.items():
        for seed, row in _rows(method, values, metric).items():
            by_seed.setdefault(seed, []).append(row)
    for seed, rows in by_seed.items():
        record(table, rows, scale=scale, seed=seed, device="cpu", dataset="SynthScenes")


def test_report_pivots_a_fixed_results_frame(results):
    """Rows = setting/method, columns = task metric in first-seen order, one cell each; no long format left."""
    rows = [{"setting": s, "method": m, "task": t, "metric": k, "value": v}
            for s, m, t, k, v in [("no budget", "#0", "segment_semantic", "mIoU", 30.0),
                                  ("no budget", "#0", "normal", "mean_angle", 20.5),
                                  ("no budget", "#45", "segment_semantic", "mIoU", 31.25),
                                  ("4 models", "#45", "all", "delta_t", -1.5)]]
    record("treemtl_table1", rows, scale="cpu", seed=0, device="cpu", dataset="SynthScenes")
    assert _section(render_report(gpu_hours=False), "cpu · SynthScenes", header=True) == [
        ["setting", "method", "segment_semantic mIoU", "normal mean_angle", "delta_t"],
        ["no budget", "#0", "30.00", "20.50", "—"],
        ["no budget", "#45", "31.25", "—", "—"],
        ["4 models", "#45", "—", "—", "−1.500"]]  # 4 significant digits; the paper prints 1 decimal


def test_one_seed_says_n_1_and_gives_no_ci_and_no_winner(results):
    _record_seeds("treemtl_table1", {"Ind. Models": [30.0], "#0": [35.0]})
    text = render_report(gpu_hours=False)
    heading = _heading(text, "cpu · SynthScenes")
    assert "n = 1 (one seed): single values, no confidence interval and no winner" in heading
    assert _section(text, "cpu · SynthScenes") == [["no budget", "Ind. Models", "30.00"], ["no budget", "#0", "35.00"]]
    assert "±" not in heading and "Paired verdicts" not in text


def test_several_seeds_give_a_ci_and_a_paired_verdict_against_the_reference(results):
    """Six seeds where #0 beats Ind. Models on every seed: Wilcoxon p = 2/2**6 = 0.031 < 0.05, so a winner."""
    base = [30.0, 31.0, 29.0, 30.5, 29.5, 30.0]
    _record_seeds("treemtl_table1", {"Ind. Models": base, "#0": [v + 1.0 + 0.1 * i for i, v in enumerate(base)]})
    text = render_report(gpu_hours=False)
    assert "mean ± 95 % CI half-width (Student t, `mtlkit.stats.mean_ci`) over seeds, n = 6" in \
        _heading(text, "cpu · SynthScenes")
    from mtlkit.stats import mean_ci

    ci = mean_ci(base)
    assert _section(text, "cpu · SynthScenes")[0] == ["no budget", "Ind. Models", f"{ci.mean:.2f} ± {ci.half_width:.2f}"]
    assert "| no budget | #0 vs Ind. Models | segment_semantic mIoU | #0 > Ind. Models (p = 0.031, n = 6) |" in text
    assert "smallest possible Wilcoxon p" not in text   # 2 / 2^6 = 0.031 < 0.05: six seeds can reject
    # five seeds cannot reject with Wilcoxon: the verdict says so rather than naming a winner
    (results / "treemtl_table1.csv").unlink()
    _record_seeds("treemtl_table1", {"Ind. Models": base[:5], "#0": [v + 1.0 for v in base[:5]]})
    text = render_report(gpu_hours=False)
    assert "| #0 vs Ind. Models | segment_semantic mIoU | not distinguishable (n = 5) |" in text
    assert "smallest possible Wilcoxon p is 2 / 2^5 = 0.0625 ≥ 0.05" in text
    assert "Δt is computed per seed against the same seed's single-task reference" not in text  # no delta_t column


def test_delta_t_over_seeds_says_how_its_reference_is_formed(results):
    _record_seeds("treemtl_table1", {"Ind. Models": [0.0, 0.0, 0.0], "#0": [1.0, 2.0, 3.0]}, metric="delta_t")
    assert "Δt is computed per seed against the same seed's single-task reference" in \
        _heading(render_report(gpu_hours=False), "cpu · SynthScenes")


def test_a_trained_metric_worse_than_the_constant_predictor_is_flagged(results):
    """mIoU is higher-is-better, abs_err lower-is-better: each flagged only on its worse side."""
    rows = [{"setting": "s", "method": m, "task": t, "metric": k, "value": v}
            for m, t, k, v in [("Constant predictor", "segment_semantic", "mIoU", 10.0),
                               ("Constant predictor", "depth_zbuffer", "abs_err", 1.0),
                               ("Single-Task", "segment_semantic", "mIoU", 8.0),
                               ("Single-Task", "depth_zbuffer", "abs_err", 0.5),
                               ("AutoMTL", "segment_semantic", "mIoU", 12.0),
                               ("AutoMTL", "depth_zbuffer", "abs_err", 1.25)]]
    record("automtl_cityscapes", rows, scale="cpu", seed=0, device="cpu", dataset="SynthScenes (stand-in for "
                                                                                   "CityScapes)")
    text = render_report(gpu_hours=False)
    body = _section(text, "cpu · SynthScenes (stand-in for CityScapes)")
    assert body == [["s", "Constant predictor", "10.00", "1.000"], ["s", "Single-Task", "8.00 ⚠", "0.500"],
                    ["s", "AutoMTL", "12.00", "1.250 ⚠"]]
    assert "⚠ 2 cell(s) worse than the `Constant predictor` row of the same setting" in text


def test_table3_shows_the_papers_gamma_beside_ours_labelled(results):
    rows = [{"setting": "SynthScenes / tiny_resnet (B=3)", "method": "Ours", "task": "all", "metric": k, "value": v}
            for k, v in (("pearson_r", 0.25), ("spearman_rho", 0.2), ("n_layouts", 22))]
    record("treemtl_table3", rows, scale="cpu", seed=0, device="cpu", dataset="SynthScenes")
    text = render_report(gpu_hours=False)
    section = text[text.index("## TreeMTL Table 3"):text.index("## TreeMTL Table 4")]
    assert "| NYUv2 / Deeplab-ResNet34 | paper | −0.478 | 0.699 |" in section
    assert "| SynthScenes / tiny_resnet (B=3) | ours: cpu-scale SynthScenes stand-in, not comparable | — | " \
           "0.250 (ρ 0.200; layouts 22; n = 1) |" in section
    assert "**Results:" not in section  # γ, ρ, τ and the layouts are all in the γ table


def test_the_committed_report_is_short_and_pivoted():
    text = (ROOT / "reproductions" / "REPORT.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 420  # Table 3's per-seed and nontrivial rows, the verdicts' notes
    for section in ("## Status", "## Expected GPU hours at paper scale", "## Differences to the papers",
                    "**Cells the paper gets wrong**", "**Pearson's γ, the paper's and ours**"):
        assert section in text, section
    table1 = text[text.index("## TreeMTL Table 1"):text.index("## TreeMTL Table 2")]
    assert sum(line.startswith("| ") for line in table1.splitlines()) < 30  # was ≈ 85 long-format rows


def test_report_shows_the_exact_ranking_next_to_the_papers_picks(results):
    for table in ("treemtl_table2", "treemtl_table6"):
        record(table, ranking_records(pick_ranking(table)), scale="cpu", seed=0, device="cpu",
               dataset=PUBLISHED_DATASET)
    text = render_report()
    assert "| 3 models | #1046 | `[03,124]x3 [03,14,2]x2` | 1 ⁱ | 2 (43) | −41.93 / −41.27 | −41.92 / −41.27 | " \
           "1.657 | #1037 `[03,124]x3 [03,1,24]x2` (−41.92 / −41.27; score 1.955) |" in text
    assert "| no budget | #353 | `[0,1234] [0,12,34] [0,12,3,4]x2 [0,1,2,3,4]` | 1 ⁱ | 4 (4) | −11.31 / −7.90 | " \
           "−9.15 / −7.90 |" in text
    assert "| no budget | Top-1 (no layout has this cost) | — | 1 ⁱ | — (—) | −53.99 / −44.86 | — / — | — | #3221" \
        in text
    # the known errors of the tables are listed under them
    assert "*cost* — transcription error" in text and "*reference* — the printed 'Ind. Models' row" in text


def test_report_is_deterministic_written_atomically_and_by_the_cli(results, tmp_path):
    from mtlkit.__main__ import main

    record("treemtl_table1", [ROW], scale="cpu", seed=0, device="cpu", dataset="SynthScenes")
    first = write_report()
    assert first == results / "REPORT.md"
    text = first.read_text()
    assert write_report().read_text() == text
    out = tmp_path / "elsewhere" / "R.md"
    assert main(["report", "--output", str(out)]) == 0
    assert out.read_text() == text
    assert not [p for p in out.parent.iterdir() if p.name != "R.md"]
    assert text.startswith("# Reproductions: the papers' numbers and ours\n")
    assert "do not edit by hand" in text


def test_report_collects_the_differences_to_the_papers():
    text = render_report()
    diff = text[text.index("## Differences to the papers"):]
    for heading, phrase in [("### the kit (README.md)", "Loss and evaluation resolution"),
                            ("### TreeMTL recommender (mtlkit/treemtl/README.md)", "SVDE input"),
                            ("### AutoMTL compiler (mtlkit/automtl/README.md)", "fx-traceable"),
                            ("### the reproductions (reproductions/README.md)", "Rankings from the authors'")]:
        assert heading in diff and phrase in diff[diff.index(heading):], heading


def test_report_lists_every_table_and_the_status_counts(results):
    text = render_report()
    for name in ("treemtl_table1", "treemtl_table6", "automtl_cityscapes", "automtl_search_cost"):
        assert f"(`{name}`)" in text
    assert "| [TreeMTL Table 1](#treemtl-table-1-treemtl_table1) | `treemtl_table1.ipynb` | 107 / 107 | none yet |" \
        in text


# ---------------------------------------------------------------------------- picks vs the golden rankings
@pytest.mark.parametrize("table, key", [("treemtl_table1", "nyuv2/resnet34"), ("treemtl_table2", "taskonomy/resnet34"),
                                        ("treemtl_table4", "taskonomy/resnet34"),
                                        ("treemtl_table5", "nyuv2/mobilenetv2"),
                                        ("treemtl_table6", "taskonomy/mobilenetv2")])
def test_pick_ranking_agrees_with_the_golden_rankings(table, key):
    """Ranks and top-1s of :func:`pick_ranking` equal the recommender's golden top-5s under each budget."""
    gold = GOLDENS[key]
    picks = pick_ranking(table)
    assert len(picks) == len(TREEMTL_PICKS[table])
    for r in picks.itertuples():
        b = budget_of(r.setting)
        top5 = gold["budget_top5"]["none" if b is None else str(int(b))]
        assert r.top1_index == top5[0]
        if pd.isna(r.paper_index):  # Table 6: no layout has the printed cost
            continue
        if r.paper_index in top5:
            assert r.rank == top5.index(r.paper_index) + 1
        if r.paper_index in gold["top20_paper_index"]:
            assert r.rank_overall == gold["top20_paper_index"].index(r.paper_index) + 1


def test_pick_ranking_values_the_readme_states():
    t2 = pick_ranking("treemtl_table2").set_index("method")
    assert t2.loc["#353", ["rank", "rank_overall", "top1_index"]].tolist() == [4, 4, 352]
    assert t2.loc["#1046", ["rank", "rank_overall", "top1_index"]].tolist() == [2, 43, 1037]
    assert t2.loc["#0", "rank_overall"] == 5217
    t5 = pick_ranking("treemtl_table5").iloc[0]
    assert (t5["paper_index"], t5["rank"], t5["top1_index"], t5["cost_matches"]) == (0, 4, 50, 1)
    t6 = pick_ranking("treemtl_table6").iloc[0]
    assert t6.cost_matches == 0 and t6.closest_index == t6.top1_index == 3221


def test_ranking_records_hold_each_pick_and_each_settings_top1():
    rows = ranking_records(pick_ranking("treemtl_table2"))
    methods = {(r["setting"], r["method"]) for r in rows}
    assert {(s, RECOMMENDER_TOP1) for s in ("no budget", "4 models", "3 models", "2 models", "1 model")} <= methods
    top = {r["setting"]: r["value"] for r in rows if r["method"] == RECOMMENDER_TOP1 and r["metric"] == "paper_index"}
    assert top == {"no budget": 352, "4 models": 958, "3 models": 1037, "2 models": 817, "1 model": 0}
    assert all(r["task"] == "all" and r["layout"] for r in rows)


@pytest.mark.parametrize("setting, budget", [("no budget", None), ("3 models", 3.0), ("1 model", 1.0)])
def test_budget_of(setting, budget):
    assert budget_of(setting) == budget


def test_budget_of_rejects_other_text():
    with pytest.raises(ConfigError, match="'no budget' or '<k> model"):
        budget_of("three models")


# --------------------------------------------------------------------------------- reproduction parameters
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(scale="huge"), ConfigError, r"scale must be one of"),
    (dict(backbone="resnet9000"), ConfigError, r"backbone: unknown backbone .resnet9000.; valid backbones are: .*resnet34"),
    (dict(cpu_backbone="tiny9"), ConfigError, r"cpu_backbone: unknown backbone .tiny9."),
    (dict(weights="/nonexistent/w.pt"), FileNotFoundError, r"weights file ./nonexistent/w.pt. does not exist"),
    (dict(scale="paper"), ConfigError, r"scale='paper' trains on the real datasets: set data_root"),
    (dict(data_root="/nonexistent/mtl"), FileNotFoundError, r"data_root='/nonexistent/mtl' is not a directory"),
    (dict(device="tpu"), ConfigError, r"device must be"),
])
def test_check_reproduction_params(tmp_path, kwargs, error, match):
    args = dict(scale="smoke", seed=0, device="cpu", out_dir=tmp_path / "out", backbone="deeplab_resnet34") | kwargs
    with pytest.raises(error, match=match):
        check_reproduction_params(args.pop("scale"), args.pop("seed"), args.pop("device"), args.pop("out_dir"), **args)
    assert not (tmp_path / "out").exists()  # nothing is created before the parameters are valid


def test_check_reproduction_params_accepts_paper_scale_with_a_data_root(tmp_path):
    (tmp_path / "NYUv2").mkdir()
    out = check_reproduction_params("paper", 1, "cpu", tmp_path / "o", backbone="mobilenet_v2", data_root=tmp_path)
    assert out == tmp_path / "o" and out.is_dir()


def test_check_reproduction_params_refuses_an_empty_data_root_at_paper_scale(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"data_root='.*empty': expected a folder holding at least one of"):
        check_reproduction_params("paper", 1, "cpu", tmp_path / "o", backbone="mobilenet_v2", data_root=empty)
    assert not (tmp_path / "o").exists()  # nothing written before the check


MY_NOTEBOOKS = [ROOT / "reproductions" / f"treemtl_table{i}.ipynb" for i in (1, 2, 4, 5, 6)]


@pytest.mark.parametrize("nb_path", MY_NOTEBOOKS, ids=lambda p: p.stem)
def test_reproduction_notebooks_declare_and_validate_their_parameters_first(nb_path):
    import nbformat
    import papermill as pm

    declared = pm.inspect_notebook(str(nb_path))
    assert {"scale", "seed", "device", "out_dir", "data_root", "backbone", "cpu_backbone", "iterations",
            "backbone_weights", "workers"} <= set(declared)
    assert declared["data_root"]["default"] == "None"
    nb = nbformat.read(nb_path, as_version=4)
    i = next(k for k, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    validation = nb.cells[i + 1].source
    # mtlkit.reproduce_treemtl.begin checks every parameter (check_reproduction_params, the training plan) first
    assert "steps.begin(" in validation
    assert all(f"{p}={p}" in validation for p in ("scale", "seed", "seeds", "device", "out_dir", "backbone",
                                                  "data_root", "cpu_backbone", "iterations", "backbone_weights",
                                                  "workers", "executor"))


@pytest.mark.notebook
@pytest.mark.parametrize("params, match", [
    ({"scale": "huge"}, "scale must be one of"),
    ({"backbone": "resnet9000"}, "unknown backbone 'resnet9000'"),
    ({"scale": "paper"}, "set data_root"),
])
def test_a_bad_parameter_stops_the_notebook_in_its_validation_cell(tmp_path, params, match):
    import nbformat
    import papermill as pm

    nb_path = MY_NOTEBOOKS[0]
    out = tmp_path / "out.ipynb"
    with pytest.raises(pm.PapermillExecutionError, match=match):
        pm.execute_notebook(str(nb_path), str(out), parameters={"out_dir": str(tmp_path / "o"), **params},
                            kernel_name="python3", cwd=str(nb_path.parent), progress_bar=False)
    executed = nbformat.read(out, as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    injected = next(k for k, c in enumerate(code) if "injected-parameters" in c.metadata.get("tags", []))
    ran = [k for k, c in enumerate(code) if c.get("execution_count")]
    assert ran[-1] == injected + 1  # the first code cell after the parameters failed; nothing after it ran
    assert any(o.get("ename") for o in code[injected + 1].outputs)


# ------------------------------------------------------------------------------------------------ trained part
def test_training_plan_by_scale():
    from mtlkit.recipes import training_plan

    cpu = training_plan("treemtl_table2", "cpu", backbone="deeplab_resnet34")
    assert (cpu.dataset, cpu.backbone_label, cpu.head, cpu.metric_set) == \
        ("SynthScenes", "tiny_resnet(blocks=(2, 2))", "light", "taskonomy")
    assert cpu.tasks == ("segment_semantic", "normal", "depth_zbuffer", "keypoints2d", "edge_texture")
    paper = training_plan("treemtl_table2", "paper", backbone="deeplab_resnet34")
    assert (paper.dataset, paper.backbone, paper.head, paper.iterations, paper.batch, paper.lr, paper.lr_step,
            paper.lr_gamma) == ("Taskonomy", "deeplab_resnet34", "aspp", 50_000, 16, 1e-4, 10_000, 0.3)
    nyu = training_plan("treemtl_table5", "paper", backbone="mobilenet_v2", iterations=10)
    assert (nyu.dataset, nyu.iterations, nyu.lr, nyu.lr_step, nyu.lr_gamma) == ("NYUv2", 10, 1e-3, 4_000, 0.5)
    with pytest.raises(ConfigError, match="iterations must be a positive int"):
        training_plan("treemtl_table1", "cpu", backbone="deeplab_resnet34", iterations=0)
    with pytest.raises(ConfigError, match="unknown TreeMTL table"):
        training_plan("treemtl_table3", "cpu", backbone="deeplab_resnet34")


def test_trained_layouts_are_the_picks_plus_differing_top1s():
    from mtlkit.recipes import trained_layouts_of

    t2 = trained_layouts_of(pick_ranking("treemtl_table2"))
    assert t2[("no budget", "#353")] == "[0,1234] [0,12,34] [0,12,3,4]x2 [0,1,2,3,4]"
    assert t2[("3 models", RECOMMENDER_TOP1)] == "[03,124]x3 [03,1,24]x2"
    assert len(t2) == 7 and ("4 models", RECOMMENDER_TOP1) not in t2  # #958 is its own top-1
    assert len(trained_layouts_of(pick_ranking("treemtl_table1"))) == 5  # the top-1 #45 is a pick
    assert list(trained_layouts_of(pick_ranking("treemtl_table6"))) == [("no budget", RECOMMENDER_TOP1)]


@pytest.mark.parametrize("backbone, names", [
    ("deeplab_resnet34", ["conv1…maxpool", "layer1.0…layer1.2", "layer2.0…layer2.3", "layer3.0…layer3.5",
                          "layer4.0…layer4.2"]),
    ("mobilenet_v2", None),
])
def test_paper_backbones_are_cut_into_the_papers_five_blocks(backbone, names):
    from mtlkit.backbones import get_backbone
    from mtlkit.recipes import PAPER_MAPPINGS, _blocks_for, training_plan

    plan = training_plan("treemtl_table1", "paper", backbone=backbone)
    blocks = _blocks_for(get_backbone(backbone), plan, 64)
    assert blocks.B == 5
    assert [b.fine for b in blocks] == [tuple(g) for g in PAPER_MAPPINGS[backbone]]
    if names:
        assert [b.name for b in blocks] == names


def test_a_backbone_with_too_few_blocks_is_refused():
    from mtlkit.backbones import get_backbone
    from mtlkit.recipes import _blocks_for, training_plan

    plan = training_plan("treemtl_table1", "cpu", backbone="deeplab_resnet34", cpu_backbone="tiny_cnn")
    with pytest.raises(ConfigError, match="tiny_cnn has 3 branching points; the paper's layouts need 5"):
        _blocks_for(get_backbone("tiny_cnn"), plan, 32)


def test_train_layouts_at_smoke_scale_records_metrics_and_deltas(monkeypatch, tmp_path, results):
    from mtlkit.delta import delta_t
    from mtlkit.recipes import delta_table, train_layouts, training_plan

    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / "cache"))
    plan = training_plan("treemtl_table5", "smoke", backbone="mobilenet_v2")
    layouts = {("no budget", "Top-1"): "[012]x5", ("no budget", RECOMMENDER_TOP1): "[012]x4 [01,2]",
               ("no budget", "again"): "[012]x5"}
    out = train_layouts(plan, layouts, seed=0, threads=1)
    # equal layouts are trained once; the third run is the reference (the independent layout)
    assert len(list((tmp_path / "cache").glob("treemtl-layout-*"))) == 3
    assert out.metrics[("no budget", "Top-1")] == out.metrics[("no budget", "again")]
    assert set(out.reference) == set(plan.tasks)
    d = delta_t(out.metrics[("no budget", "Top-1")], out.reference, zero_reference="skip")
    assert out.deltas[("no budget", "Top-1")].overall == pytest.approx(d.overall)
    path = record("treemtl_table5", out.rows, scale="smoke", seed=0, device="cpu", dataset=plan.dataset)
    rows = _read(path)
    assert {r["backbone"] for r in rows} == {"tiny_resnet(blocks=(2, 2))"}
    assert {(r["method"], r["task"]) for r in rows if r["metric"] == "delta_t"} >= {("Top-1", "all"),
                                                                                 ("Top-1", "normal")}
    table = delta_table(out)
    assert table.loc[("no budget", "Top-1", "[012]x5"), ("all", "paper")] == 5.2
    assert table.loc[("no budget", "Top-1", "[012]x5"), ("all", "ours")] == pytest.approx(d.overall)
    # a second call is served by the run cache: same numbers
    again = train_layouts(plan, layouts, seed=0, threads=1)
    assert again.metrics == out.metrics


def test_the_paper_scale_path_runs_on_a_fabricated_taskonomy(monkeypatch, tmp_path):
    """The real-data branch of train_layouts (dataset under data_root, its task options, paper-compatible
    evaluators), with a small backbone and one iteration instead of the paper's model and schedule."""
    import dataclasses

    from fabricate import fabricate_taskonomy
    from mtlkit.recipes import train_layouts, training_plan

    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / "cache"))
    fabricate_taskonomy(tmp_path / "data" / "Taskonomy", n=4)
    plan = training_plan("treemtl_table6", "paper", backbone="mobilenet_v2")
    assert plan.dataset == "Taskonomy" and plan.head == "aspp"
    small = dataclasses.replace(plan, backbone="tiny_resnet", backbone_options=(("blocks", (2, 2)),), head="light",
                                iterations=1, batch=2)
    out = train_layouts(small, {("no budget", RECOMMENDER_TOP1): "[0134,2]x3 [03,14,2]x2"}, seed=0,
                        data_root=tmp_path / "data", threads=1)
    assert {(r["task"], r["metric"]) for r in out.rows if r["method"] == "Ind. Models"} == {
        ("segment_semantic", "err"), ("normal", "cos_sim"), ("depth_zbuffer", "abs_err"), ("keypoints2d", "err"),
        ("edge_texture", "err")}
    assert set(out.deltas[("no budget", RECOMMENDER_TOP1)].per_task) == set(plan.tasks)
    with pytest.raises(ConfigError, match="Taskonomy needs data_root"):
        train_layouts(small, {("no budget", "x"): "[01234]x5"}, seed=0)


def test_exact_results_are_compared_with_the_paper_at_every_scale(results):
    """A published architecture counted exactly (dataset PUBLISHED_POLICY) is the paper's number at cpu scale too."""
    from mtlkit.paper import PUBLISHED_POLICY

    row = {"setting": "Deeplab-ResNet34", "method": "AutoMTL", "task": "all", "metric": "conv_params_paper",
           "value": 28854656.0}
    record("automtl_cityscapes", [row], scale="cpu", seed=0, device="cpu", dataset=PUBLISHED_POLICY)
    text = render_report()
    assert f"**Results: cpu · {PUBLISHED_POLICY}** — the paper's experiment: each cell is ours" in text
    assert _section(text, f"cpu · {PUBLISHED_POLICY}", header=True) == [
        ["setting", "method", "conv_params_paper"],
        ["Deeplab-ResNet34", "AutoMTL", "28,854,656 (paper 28854656 †, +0)"]]
