"""Reliability (issue 13): corrupt and interrupted files, state left by failures, silent wrong answers, unclear errors.

One test (or one parametrized case) per case of the issue; each asserts that the message names the argument or the
file. Kill-and-resume of a checkpoint *save* runs in a subprocess that SIGKILLs itself mid-write.
"""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lock_worker import _Holder
from mtlkit.__main__ import COMMANDS
from mtlkit.__main__ import main as _main
from mtlkit.errors import ConfigError
from mtlkit.train import CHECKPOINT_NAME, load_checkpoint, run_loop

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PUBLISHED_NYU = str(ROOT / "mtlkit" / "data" / "published" / "NYUv2_2task_metrics_resnet_1129_val_acc__Sheet1.csv")

GRID_OPTS = ["--tasks", "segment_semantic,depth_zbuffer", "--backbone-kw", "width=4", "--blocks", "1",
             "--head", "linear", "--resolution", "32", "--n-train", "8", "--n-test", "4", "--batch-size", "4",
             "--iterations", "4", "--eval-last", "1", "--no-progress"]


class _Lazy:
    """``mtlkit.integrity`` imported when a test uses it (so that on a checkout without it each test fails alone)."""

    def __getattr__(self, name):
        import mtlkit.integrity

        return getattr(mtlkit.integrity, name)


integrity = _Lazy()


def cli(argv: list[str]) -> int:
    """``python -m mtlkit ...`` in-process; argparse's own errors exit through ``SystemExit(2)``."""
    try:
        return _main(argv)
    except SystemExit as exc:
        return exc.code


def _err(capsys) -> str:
    out = capsys.readouterr()
    return out.err


# ------------------------------------------------------------------------------------------------ a tiny run_loop
def _loop(run_dir: Path, iterations: int = 6) -> torch.Tensor:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([w], lr=0.1)

    def step(i):
        opt.zero_grad()
        loss = ((w - torch.randn(3)) ** 2).sum()
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach())}

    run_loop(step, iterations=iterations, state={"w": _Holder(w), "opt": opt}, run_dir=run_dir, checkpoint_every=3,
             log_every=0, progress=False)
    return w.detach().clone()


def _bit_flip(path: Path) -> None:
    """Flip one bit inside a stored tensor (the file stays a valid zip: torch does not notice)."""
    ckpt = torch.load(path, weights_only=True)
    raw = bytearray(path.read_bytes())
    needle = ckpt["state"]["w"]["p"].numpy().tobytes()
    at = raw.find(needle)
    assert at > 0
    raw[at + 1] ^= 0x01
    path.write_bytes(bytes(raw))


# ------------------------------------------------------------------------------------------------ corrupt files
@pytest.mark.parametrize("damage, problem", [
    ("truncate", "torch.load failed"),
    ("empty", "the file is empty"),
    ("random", "torch.load failed"),
    ("bitflip", "checksum mismatch"),
])
def test_damaged_checkpoint_names_the_file_and_the_remedy(tmp_path, damage, problem):
    _loop(tmp_path, iterations=3)
    path = tmp_path / CHECKPOINT_NAME
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:700])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).bytes(2000))
    else:
        _bit_flip(path)
    with pytest.raises(integrity.CorruptFileError) as exc:
        _loop(tmp_path)
    msg = str(exc.value)
    assert str(path) in msg and problem in msg and "afresh" in msg
    assert "\n" not in msg   # one line, no trace of torch internals


def test_checkpoint_checksum_covers_every_bit():
    a = {"w": torch.tensor([1.0, 2.0]), "i": 3, "meta": {"x": [1, 2.5, "s"]}}
    b = copy.deepcopy(a)
    assert integrity.checksum(a) == integrity.checksum(b)
    b["w"][1] = torch.nextafter(b["w"][1], torch.tensor(3.0))
    assert integrity.checksum(a) != integrity.checksum(b)


@pytest.fixture(scope="module")
def finished_grid(tmp_path_factory):
    d = tmp_path_factory.mktemp("grid") / "g"
    assert cli(["grid", str(d), *GRID_OPTS]) == 0
    return d


def _copy_grid(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("content, problem", [
    ('{"metrics": {"segment_', "not valid JSON"),
    ("{}", "missing key(s) ['metrics']"),
    ('{"metrics": {"a": {"m": 1.0}}, "sha256": "0"}', "checksum mismatch"),
])
def test_damaged_result_json_names_the_file_and_restart(finished_grid, tmp_path, capsys, content, problem):
    d = _copy_grid(finished_grid, tmp_path / "g")
    path = d / "entries" / "0-1_b0" / "result.json"
    path.write_text(content)
    assert cli(["grid", str(d), "--status"]) == 2
    err = _err(capsys)
    assert str(path) in err and problem in err and f"--restart 0-1_b0" in err
    assert "Traceback" not in err


def test_grid_restart_entry_trains_it_afresh(finished_grid, tmp_path, capsys, monkeypatch):
    # a run cache of its own: the session's holds the finished layout's shared run, which would (rightly) answer
    # for the entry and leave its damaged checkpoint unread
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / "cache"))
    d = _copy_grid(finished_grid, tmp_path / "g")
    before = integrity.read_json(d / "entries" / "0-1_b1" / "result.json")
    (d / "entries" / "0-1_b1" / "run" / CHECKPOINT_NAME).write_bytes(b"garbage")
    (d / "entries" / "0-1_b1" / "result.json").unlink()
    assert cli(["grid", str(d), "--no-progress"]) == 2
    assert "--restart 0-1_b1" in _err(capsys)
    assert cli(["grid", str(d), "--no-progress", "--restart", "0-1_b1"]) == 0
    assert "restarted 0-1_b1" in capsys.readouterr().out
    after = integrity.read_json(d / "entries" / "0-1_b1" / "result.json")
    assert after["metrics"] == before["metrics"] and after["resumed_from"] == 0
    assert cli(["grid", str(d), "--restart", "7"]) == 2
    assert _err(capsys).startswith("error: --restart: expected an entry name such as 0-1_b0")


def test_truncated_grid_json_names_the_file_and_the_remedy(finished_grid, tmp_path, capsys):
    d = _copy_grid(finished_grid, tmp_path / "g")
    (d / "grid.json").write_text((d / "grid.json").read_text()[:40])
    assert cli(["grid", str(d), "--status"]) == 2
    err = _err(capsys)
    assert str(d / "grid.json") in err and "not valid JSON" in err and "run `python -m mtlkit grid" in err


def test_search_stage_checkpoint_corrupt_then_restart(tmp_path):
    from test_search import cfg, make_data, make_sm, make_tasks

    from mtlkit.automtl import search
    from mtlkit.data import SynthScenes

    tasks = ("segment_semantic", "depth_zbuffer", "normal")
    sc = (SynthScenes("train", size=16, resolution=32, tasks=tasks, seed=0, cache=True),
          SynthScenes("test", size=8, resolution=32, tasks=tasks, seed=0, cache=True))
    config = cfg(policy_train_iterations=4, post_train_iterations=0)
    search(make_sm(), make_data(sc), config, tasks=make_tasks(), run_dir=tmp_path, progress=False)
    ckpt = tmp_path / "policy_train" / CHECKPOINT_NAME
    ckpt.write_bytes(ckpt.read_bytes()[:500])
    with pytest.raises(integrity.CorruptFileError) as exc:
        search(make_sm(), make_data(sc), config, tasks=make_tasks(), run_dir=tmp_path, progress=False)
    assert str(ckpt) in str(exc.value) and "restart='policy_train'" in str(exc.value)
    result = search(make_sm(), make_data(sc), config, tasks=make_tasks(), run_dir=tmp_path, progress=False,
                    restart="policy_train")
    assert load_checkpoint(ckpt)["iteration"] == 4 and result.policy
    with pytest.raises(ConfigError, match=r"restart: expected one of the stages \['pre_train', 'policy_train'"):
        search(make_sm(), make_data(sc), config, tasks=make_tasks(), run_dir=tmp_path, progress=False,
               restart="policy")


def test_stale_temp_files_are_removed_on_the_next_run(tmp_path):
    _loop(tmp_path, iterations=3)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".{CHECKPOINT_NAME}.tmp-{int(dead.stdout)}"
    stale.write_bytes(b"half a checkpoint")
    mine = tmp_path / f".{CHECKPOINT_NAME}.tmp-{os.getpid()}"   # a live process's temp file is left alone
    assert integrity.remove_stale_temps(tmp_path) == [stale] or not stale.exists()
    stale.write_bytes(b"half a checkpoint")
    _loop(tmp_path)                                              # the resumed run cleans up
    assert not stale.exists() and not mine.exists()


def test_kill_during_checkpoint_save_then_resume_is_bit_identical(tmp_path):
    """SIGKILL while the second checkpoint is half written: the first checkpoint stays valid, the temp file is left
    behind; the next run resumes from it, removes the temp file and ends with the uninterrupted run's weights."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    worker = [sys.executable, str(HERE / "kill_save_worker.py")]
    killed = subprocess.run([*worker, str(tmp_path / "run"), "2"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    temps = list((tmp_path / "run").glob(f".{CHECKPOINT_NAME}.tmp-*"))
    assert len(temps) == 1 and temps[0].stat().st_size > 0
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)["iteration"] == 3
    resumed = subprocess.run([*worker, str(tmp_path / "run"), "0"], env=env, capture_output=True, text=True,
                             timeout=120, check=True)
    whole = subprocess.run([*worker, str(tmp_path / "whole"), "0"], env=env, capture_output=True, text=True,
                           timeout=120, check=True)
    a, b = json.loads(resumed.stdout), json.loads(whole.stdout)
    assert a["resumed_from"] == 3 and b["resumed_from"] == 0
    assert a["w"] == b["w"]                                       # bit-identical (floats compared exactly)
    assert not temps[0].exists()


# ------------------------------------------------------------------------------------------------ state left behind
@pytest.mark.parametrize("bad, option", [
    (["--blocks", "99"], "--blocks"),
    (["--head-kw", "foo=1"], "--head-kw"),
    (["--backbone-kw", "foo=1"], "--backbone-kw"),
    (["--dataset", "nyuv2", "--data-root", "EMPTY"], "--data-root"),
])
def test_a_failing_grid_records_nothing(tmp_path, capsys, bad, option):
    d = tmp_path / "g"
    opts = [o for o in GRID_OPTS]
    if bad[0] in opts:
        i = opts.index(bad[0])
        del opts[i:i + 2]
    bad = [str(tmp_path / b) if b == "EMPTY" else b for b in bad]
    (tmp_path / "EMPTY").mkdir()
    assert cli(["grid", str(d), *opts, *bad]) == 2
    assert _err(capsys).startswith(f"error: {option}: ")
    assert not (d / "grid.json").exists()
    assert cli(["grid", str(d), *GRID_OPTS, "--shard", "0/4"]) == 0   # the folder is not poisoned


def test_second_process_on_an_entry_keeps_the_first_result(tmp_path, monkeypatch):
    """The second process waits on the entry's lock; when it gets it, the first one's result is there: it returns
    that result and writes nothing (before: it overwrote result.json with its resumed_from and lock wait)."""
    from mtlkit.treemtl import experiment
    from mtlkit.treemtl.experiment import ExperimentSpec, train_entry
    from mtlkit.treemtl.layout import Layout

    spec = ExperimentSpec(tasks=("segment_semantic", "depth_zbuffer"), backbone_kw={"width": 4}, blocks=1,
                          head="linear", resolution=32, n_train=8, n_test=4, batch_size=4, iterations=2,
                          eval_last=1)
    data = spec.load_data()
    layout = Layout.from_branch_points(2, 1, [1])
    first = train_entry(spec, layout, spec.tasks, tmp_path, data, progress=False)
    stamp = (tmp_path / "result.json").stat().st_mtime_ns
    real, calls = experiment.read_result, {"n": 0}

    def late(entry_dir, **kw):    # the first check misses the result (it was written while this process waited)
        calls["n"] += 1
        return None if calls["n"] == 1 else real(entry_dir, **kw)

    monkeypatch.setattr(experiment, "read_result", late)
    second = train_entry(spec, layout, spec.tasks, tmp_path, data, progress=False)
    assert second == first and calls["n"] == 2
    assert (tmp_path / "result.json").stat().st_mtime_ns == stamp


# ------------------------------------------------------------------------------------------------ silent cases
def test_search_that_misses_its_budget_says_so(tmp_path):
    from test_search import cfg, make_data, make_sm, make_tasks

    from mtlkit.automtl import search
    from mtlkit.automtl.regularizer import ResourceCosts
    from mtlkit.automtl.search import BudgetNotMetWarning
    from mtlkit.data import SynthScenes

    tasks = ("segment_semantic", "depth_zbuffer", "normal")
    sc = (SynthScenes("train", size=16, resolution=32, tasks=tasks, seed=0, cache=True),
          SynthScenes("test", size=8, resolution=32, tasks=tasks, seed=0, cache=True))
    sm = make_sm()
    low = ResourceCosts.from_supermodel(sm, "params").minimum
    config = cfg(policy_train_iterations=2, post_train_iterations=0, regularizer="resource", budget=low + 0.01,
                 budget_weight=1e-6, discretize="argmax")
    with pytest.warns(BudgetNotMetWarning, match="above the budget"):
        result = search(sm, make_data(sc), config, tasks=make_tasks(), run_dir=tmp_path, progress=False)
    assert result.budget_met is False and result.cost > config.budget and "budget" in result.warnings[0]
    recorded = integrity.read_json(tmp_path / "policy.json")
    assert recorded["budget_met"] is False and recorded["warnings"] == result.warnings


def test_search_within_budget_is_recorded_as_met(tmp_path):
    from test_search import cfg, make_data, make_sm, make_tasks

    from mtlkit.automtl import search
    from mtlkit.data import SynthScenes

    tasks = ("segment_semantic", "depth_zbuffer", "normal")
    sc = (SynthScenes("train", size=16, resolution=32, tasks=tasks, seed=0, cache=True),
          SynthScenes("test", size=8, resolution=32, tasks=tasks, seed=0, cache=True))
    config = cfg(policy_train_iterations=2, post_train_iterations=0, regularizer="resource", budget=50.0,
                 discretize="argmax")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = search(make_sm(), make_data(sc), config, tasks=make_tasks(), progress=False)
    assert result.budget_met is True and result.warnings == []


@pytest.mark.parametrize("build", ["multitask", "tree", "supermodel"])
def test_one_head_object_for_two_tasks_is_refused(build):
    from mtlkit.backbones import get_backbone
    from mtlkit.heads import get_head

    head = get_head("light", 8, 3, width=4)
    heads = {"normal": head, "depth_zbuffer": get_head("light", 8, 1, width=4), "other": head}
    with pytest.raises(ConfigError, match=r"heads\['normal'\] and heads\['other'\]: expected a separate head"):
        if build == "multitask":
            from mtlkit.models import MultiTaskModel

            MultiTaskModel(get_backbone("tiny_cnn", width=4), heads)
        elif build == "tree":
            from mtlkit.treemtl import TreeModel

            TreeModel.from_layout(get_backbone("tiny_cnn", width=4), 1, "[012]", heads,
                                  example_input=torch.zeros(1, 3, 32, 32))
        else:
            from mtlkit.automtl import SuperModel

            SuperModel.from_backbone(get_backbone("tiny_cnn", width=4), heads, torch.zeros(1, 3, 32, 32))


def test_heads_sharing_a_parameter_are_refused():
    from mtlkit.backbones import get_backbone
    from mtlkit.models import MultiTaskModel

    a = nn.Conv2d(8, 3, 1)
    b = nn.Conv2d(8, 3, 1)
    b.weight = a.weight
    with pytest.raises(ConfigError, match="shared parameters"):
        MultiTaskModel(get_backbone("tiny_cnn", width=4), {"normal": a, "edge_texture": b})


@pytest.mark.parametrize("argv, option", [
    (["recommend", "--table", PUBLISHED_NYU, "--task-names", "a,,b"], "--task-names"),
    (["recommend", "--published", "nyuv2/resnet34", "--tasks", "0,,1"], "--tasks"),
    (["grid", "DIR", "--tasks", "segment_semantic,,depth_zbuffer"], "--tasks"),
])
def test_empty_task_names_are_refused(tmp_path, capsys, argv, option):
    argv = [str(tmp_path / "g") if a == "DIR" else a for a in argv]
    assert cli(argv) == 2
    assert _err(capsys).startswith(f"error: {option}: expected")
    assert not (tmp_path / "g").exists()


def test_empty_task_name_in_a_table_is_refused():
    from mtlkit.treemtl import TwoTaskTable

    with pytest.raises(ConfigError, match=r"task_names: expected non-empty names, got \['seg', '', 'depth'\]"):
        TwoTaskTable.from_csv(PUBLISHED_NYU, task_names=["seg", "", "depth"])


def test_table_whose_scores_overflow_is_refused(tmp_path, capsys):
    from mtlkit.treemtl import TwoTaskTable, recommend

    big = TwoTaskTable.from_csv(PUBLISHED_NYU).to_frame() * 0 + 1e308
    path = tmp_path / "big.csv"
    big.to_csv(path)
    assert cli(["recommend", "--table", str(path)]) == 2
    err = _err(capsys)
    assert err.startswith(f"error: two-task table {str(path)!r}") and "overflow" in err
    with pytest.raises(ConfigError, match="scores would overflow"):
        recommend(TwoTaskTable.from_csv(path), k=3, weights="uniform")


def test_eval_last_beyond_the_evaluations_is_refused(tmp_path, capsys):
    assert cli(["grid", str(tmp_path / "g"), *GRID_OPTS, "--iterations", "10", "--eval-every", "1",
                "--eval-last", "99"]) == 2
    err = _err(capsys)
    assert err.startswith("error: --eval-last: expected at most the number of evaluations (10") and "got 99" in err
    assert not (tmp_path / "g").exists()


def test_truncated_results_csv_is_refused(tmp_path, monkeypatch):
    from mtlkit.report import load_results, record

    monkeypatch.setenv("MTLKIT_RESULTS", str(tmp_path))
    rows = [dict(setting="s", method="m", task="t", metric=f"x{i}", value=float(i)) for i in range(20)]
    record("demo", rows, scale="smoke", seed=0, device="cpu", dataset="SynthScenes (stand-in)")
    assert len(load_results("demo")) == 20
    path = tmp_path / "demo.csv"
    text = path.read_text()
    path.write_text(text[: text.index("x7") + 1])                  # cut mid-row
    with pytest.raises(integrity.CorruptFileError, match=r"demo\.csv.*cut off"):
        load_results("demo")
    with pytest.raises(integrity.CorruptFileError, match=r"demo\.csv"):
        record("demo", rows[:1], scale="smoke", seed=0, device="cpu", dataset="SynthScenes (stand-in)")
    lines = text.splitlines()
    path.write_text("\n".join(lines[:5] + [lines[5].rsplit(",", 3)[0]] + lines[6:]) + "\n")   # a short row
    with pytest.raises(integrity.CorruptFileError, match=r"demo\.csv.*line 6 has"):
        load_results("demo")


@pytest.mark.timeout(180)
def test_unknown_notebook_parameter_stops_the_run(tmp_path, monkeypatch):
    import nbformat
    import papermill as pm

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('scale = "smoke"\nseed = 0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("from mtlkit.config import check_params\n"
                                                  f"check_params(scale, seed, 'cpu', {str(tmp_path / 'out')!r})\n"
                                                  "print('seed', seed)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "nb.ipynb")
    ran = pm.execute_notebook(str(tmp_path / "nb.ipynb"), str(tmp_path / "ok.ipynb"), parameters={"seed": 3},
                              progress_bar=False, kernel_name="python3")
    assert "seed 3" in ran.cells[-1].outputs[0]["text"]
    with pytest.raises(pm.PapermillExecutionError, match=r"notebook parameters \['sead'\]"):
        pm.execute_notebook(str(tmp_path / "nb.ipynb"), str(tmp_path / "bad.ipynb"), parameters={"sead": 3},
                            progress_bar=False, kernel_name="python3")


# ------------------------------------------------------------------------------------------------ unclear errors
def test_grid_errors_are_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    d = str(tmp_path / "g")
    assert cli(["grid", d, "--tasks", "segment_semantic,depth_zbuffer", "--blocks", "99"]) == 2
    err = _err(capsys)
    assert err.startswith("error: --blocks: ") and "Traceback" not in err and "--debug" in err
    with pytest.raises(ConfigError, match="coarse blocks"):
        cli(["grid", d, "--tasks", "segment_semantic,depth_zbuffer", "--blocks", "99", "--debug"])


@pytest.mark.parametrize("content, problem", [
    (b"", "unreadable content (No columns to parse from file)"),
    (bytes(range(256)) * 4, "unreadable content"),
    (b"branch,\"(0, 1)-0\",\"(0, 1)-1\"\n0,1,2\n1,\"3\n", "unreadable content"),
    (b"branch,\"(0, 1)-0\",\"(0, 1)-1\"\n0,1,2\n1,3,x\n", "row 1 is 'x'"),
])
def test_bad_table_csv_names_the_file(tmp_path, capsys, content, problem):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    assert cli(["recommend", "--table", str(path)]) == 2
    err = _err(capsys)
    assert err.startswith(f"error: two-task table {str(path)!r}") and problem in err, err


_REC = ["recommend", "--published", "nyuv2/resnet34"]
_GRID = ["grid", "DIR", "--tasks", "segment_semantic,depth_zbuffer"]


@pytest.mark.parametrize("argv, message", [
    ([*_REC, "--budget", "inf"], "--budget: expected a finite number, got 'inf'"),
    ([*_REC, "--budget", "nan"], "--budget: expected a finite number, got 'nan'"),
    ([*_REC, "--budget", "-inf"], "--budget: expected a finite number, got '-inf'"),
    ([*_REC, "--budget", "-1e3"], "budget=-1000.0 backbones is below the cheapest layout"),
    ([*_REC, "--k", "-1"], "--k: expected an integer in 1..10000, got '-1'"),
    ([*_REC, "--k", "2000000"], "--k: expected an integer in 1..10000, got '2000000'"),
    ([*_REC, "--block-costs", "1,inf,1,1,1"], "--block-costs: expected comma-separated numbers (finite), got '1,inf"),
    ([*_REC, "--format", "xml"], "--format: expected one of 'table', 'csv', got 'xml'"),
    ([*_REC, "--bogus"], "--bogus: expected an option of this command"),
    ([*_GRID, "--n-train", "-1"], "--n-train: must be an int >= 1, got -1"),
    ([*_GRID, "--lr", "-inf"], "--lr: must be a finite positive"),
    ([*_GRID, "--workers", "-1"], "--workers: expected an integer >= 1, got '-1'"),
    ([*_GRID, "--loader-workers", "-1"], "--loader-workers: expected an integer >= 0, got '-1'"),
    ([*_GRID, "--iterations", "x"], "--iterations: expected an integer, got 'x'"),
    (["grid", "DIR"], "--tasks: expected comma-separated task names"),
    (["nosuch"], f"COMMAND: expected one of {', '.join(map(repr, COMMANDS))}, got unknown command 'nosuch'"),
])
def test_cli_errors_have_one_style(tmp_path, capsys, argv, message):
    argv = [str(tmp_path / "g") if a == "DIR" else a for a in argv]
    rc = cli(argv)
    err = _err(capsys)
    assert rc == 2 and err.startswith("error: ") and message in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "g").exists()


def test_published_alias_gets_its_block_costs(capsys):
    assert cli(["recommend", "--published", "nyuv2/resnet", "--budget", "2", "--k", "1"]) == 0
    assert "resnet34@321" in capsys.readouterr().out


def test_recommend_search_k_is_capped():
    from mtlkit.treemtl import TwoTaskTable, recommend
    from mtlkit.treemtl.recommend import MAX_SEARCH_K

    table = TwoTaskTable.from_csv(PUBLISHED_NYU)
    with pytest.raises(ConfigError, match=f"k: expected at most {MAX_SEARCH_K:,}"):
        recommend(table, k=MAX_SEARCH_K + 1, method="search")


def test_linear_head_and_grey_images_are_explained():
    from mtlkit.backbones import get_backbone
    from mtlkit.heads import get_head
    from mtlkit.models import MultiTaskModel

    with pytest.raises(ConfigError, match=r"head of task 'normal' does not accept.*nn\.Linear acts on the last"):
        MultiTaskModel(get_backbone("tiny_cnn", width=4), {"normal": nn.Linear(8, 3)})
    model = MultiTaskModel(get_backbone("tiny_cnn", width=4), {"normal": get_head("light", 8, 3, width=4)})
    with pytest.raises(ConfigError, match=r"x: expected images of shape \(B, 3, H, W\), got shape \(2, 1, 32, 32\)"):
        model(torch.zeros(2, 1, 32, 32))


def test_tree_model_refuses_grey_images():
    from mtlkit.backbones import get_backbone
    from mtlkit.heads import get_head
    from mtlkit.treemtl import TreeModel

    heads = {"normal": get_head("light", 8, 3, width=4), "depth_zbuffer": get_head("light", 8, 1, width=4)}
    model = TreeModel.from_layout(get_backbone("tiny_cnn", width=4), 1, "[01]", heads,
                                  example_input=torch.zeros(1, 3, 32, 32))
    with pytest.raises(ConfigError, match=r"x: expected images of shape \(B, 3, H, W\)"):
        model(torch.zeros(2, 1, 32, 32))


def test_backbone_without_convolutions_is_refused():
    from mtlkit.automtl import SuperModel
    from mtlkit.heads import get_head

    no_convs = nn.Sequential(nn.Identity())
    with pytest.raises(ConfigError, match=r"backbone: expected at least one nn\.Conv2d"):
        SuperModel.from_backbone(no_convs, {"normal": get_head("light", 3, 3, width=4)}, torch.zeros(1, 3, 16, 16))


def test_json_records_carry_a_checksum(tmp_path):
    path = integrity.write_json(tmp_path / "r.json", {"metrics": {"a": {"m": 0.5}}})
    assert integrity.read_json(path) == {"metrics": {"a": {"m": 0.5}}}
    raw = json.loads(path.read_text())
    raw["metrics"]["a"]["m"] = 0.6
    path.write_text(json.dumps(raw))
    with pytest.raises(integrity.CorruptFileError, match="checksum mismatch"):
        integrity.read_json(path)
