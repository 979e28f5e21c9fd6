"""The two-task grid: table format, resumability (kill and restart), shards, CLI, bad input."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from mtlkit.__main__ import main as cli
from mtlkit.delta import delta_t
from mtlkit.errors import ConfigError
from mtlkit.treemtl import TwoTaskTable
from mtlkit.treemtl import experiment
from mtlkit.treemtl.experiment import ExperimentSpec
from mtlkit.treemtl.grid import TwoTaskGrid, parse_shard, train_two_task_grid

SPEC = ExperimentSpec(tasks=("segment_semantic", "depth_zbuffer"), backbone="tiny_resnet",
                      backbone_kw={"width": 4}, blocks=2, head="linear", resolution=32, n_train=8, n_test=4,
                      batch_size=4, iterations=4, eval_every=2, eval_last=2, seed=0)

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted, unsharded run of the grid."""
    return train_two_task_grid(tmp_path_factory.mktemp("grid_ref"), SPEC, progress=False)


def test_table_in_published_format(reference):
    path = reference.directory / "two_task_table.csv"
    header = path.read_text().splitlines()[0]
    assert header == 'branch,"(0, 1)-0","(0, 1)-1"'
    table = TwoTaskTable.from_csv(path, task_names=SPEC.tasks)
    assert (table.T, table.B) == (2, 2)
    assert np.all(table.values[0, 1, 0] == 0) and np.all(table.values[1, 0, 0] == 0)
    # every value is Δt of the task vs the same pair's b=0 model, from the recorded metrics
    for b in range(3):
        res = json.loads((reference.directory / "entries" / f"0-1_b{b}" / "result.json").read_text())
        ref = json.loads((reference.directory / "entries" / "0-1_b0" / "result.json").read_text())
        for i, t in enumerate(SPEC.tasks):
            want = delta_t({t: res["metrics"][t]}, {t: ref["metrics"][t]}, zero_reference="skip").per_task[t]
            assert table.value(i, 1 - i, b) == want
        assert res["layout"] == {0: "[0,1]x2", 1: "[01] [0,1]", 2: "[01]x2"}[b]
        assert len(res["readings"]) == 2 and res["readings"][-1] == 4
    metrics = (reference.directory / "two_task_metrics.csv").read_text()
    assert metrics.splitlines()[0] == "pair,a,c,branch,task,metric,value"


def test_entries_and_shards(reference):
    assert [(e.index, e.pair, e.branch, e.name) for e in reference.entries] == [
        (0, (0, 1), 0, "0-1_b0"), (1, (0, 1), 1, "0-1_b1"), (2, (0, 1), 2, "0-1_b2")]
    assert [e.index for e in reference.shard("0/2")] == [0, 2]
    assert [e.index for e in reference.shard((1, 2))] == [1]
    assert reference.status()["done"].all()


def test_two_shards_merged_equal_one_unsharded_run(reference, tmp_path):
    a, b = tmp_path / "node_a", tmp_path / "node_b"
    train_two_task_grid(a, SPEC, shard="0/2", progress=False)
    grid_b = train_two_task_grid(b, SPEC, shard="1/2", progress=False)
    assert not (a / "two_task_table.csv").exists()       # incomplete shards write no table
    with pytest.raises(ConfigError, match=r"incomplete: 1 of 3 entries are not finished \(0-1_b1\)"):
        TwoTaskGrid(a).table()
    assert [e.name for e in grid_b.missing()] == ["0-1_b0", "0-1_b2"]
    grid = TwoTaskGrid(a)
    assert grid.merge_from([b]) == 1
    np.testing.assert_array_equal(grid.table().values, reference.table().values)
    # both shards into one shared directory give the same table too
    shared = tmp_path / "shared"
    for s in ("1/2", "0/2"):
        g = train_two_task_grid(shared, SPEC, shard=s, progress=False)
    np.testing.assert_array_equal(g.table().values, reference.table().values)
    assert (shared / "two_task_table.csv").read_text() == (reference.directory / "two_task_table.csv").read_text()


class _Killed(Exception):
    pass


def test_kill_and_restart_skips_finished_and_resumes_partial(reference, tmp_path, monkeypatch):
    # a cache of its own: in the session's cache the reference grid's runs are found (the same spec and layouts)
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / "cache"))
    calls: list[str] = []
    real = experiment.train
    kill = {"on": True}

    def flaky(model, tasks, loader, config, run_dir=None, **kw):
        entry = Path(run_dir).parent.name
        calls.append(entry)
        if entry == "0-1_b1" and kill["on"]:
            steps = {"n": 0}

            def die(module, args):
                if module.training:
                    steps["n"] += 1
                    if steps["n"] > 2:       # dies in the 3rd iteration, after the checkpoint of iteration 2
                        raise _Killed
            model.register_forward_pre_hook(die)
        return real(model, tasks, loader, config, run_dir=run_dir, **kw)

    monkeypatch.setattr(experiment, "train", flaky)
    with pytest.raises(_Killed):
        train_two_task_grid(tmp_path, SPEC, progress=False, checkpoint_every=1)
    grid = TwoTaskGrid(tmp_path)
    st = grid.status()
    assert st["done"].tolist() == [True, False, False] and st["partial"].tolist() == [False, True, False]
    kill["on"] = False
    calls.clear()
    train_two_task_grid(tmp_path, progress=False, checkpoint_every=1)   # spec read from grid.json
    assert calls == ["0-1_b1", "0-1_b2"]                                  # the finished entry is skipped
    assert grid.result(grid.entries[1])["resumed_from"] == 2
    assert grid.result(grid.entries[2])["resumed_from"] == 0
    np.testing.assert_array_equal(grid.table().values, reference.table().values)   # resuming changes nothing
    calls.clear()
    train_two_task_grid(tmp_path, progress=False)
    assert calls == []


def test_cli_runs_a_grid_and_reports_status(tmp_path, capsys):
    d = tmp_path / "cli"
    opts = ["--tasks", "segment_semantic,depth_zbuffer", "--backbone-kw", "width=4", "--blocks", "1",
            "--head", "linear", "--resolution", "32", "--n-train", "8", "--n-test", "4", "--batch-size", "4",
            "--iterations", "2", "--eval-last", "1", "--no-progress"]
    assert cli(["grid", str(d), *opts, "--shard", "1/2"]) == 0
    assert "1 of 2 entries of the grid are not finished" in capsys.readouterr().out
    assert cli(["grid", str(d), "--no-progress", "--table", str(tmp_path / "copy.csv")]) == 0   # spec from grid.json
    out = capsys.readouterr().out
    assert "two-task table:" in out and (tmp_path / "copy.csv").is_file()
    table = TwoTaskTable.from_csv(d / "two_task_table.csv")
    assert (table.T, table.B) == (2, 1)
    assert cli(["grid", str(d), "--status"]) == 0
    assert "2 of 2 entries done" in capsys.readouterr().out
    assert cli(["grid", str(d), "--iterations", "3"]) == 2            # errors: one line, exit 2, no traceback
    assert re.search(r"different experiment \(iterations: 2 -> 3\)", capsys.readouterr().err)
    assert cli(["grid", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.startswith("error: --tasks: expected comma-separated task names")


def test_cli_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        cli(["grid", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--tasks", "--backbone", "--backbone-kw", "--blocks", "--head", "--head-kw", "--dataset",
                "--data-root", "--resolution", "--n-train", "--n-test", "--batch-size", "--iterations", "--lr",
                "--lr-step", "--lr-gamma", "--weight-decay", "--eval-every", "--eval-last", "--seed", "--shard",
                "--device", "--workers", "--checkpoint-every", "--merge", "--status", "--table", "--no-progress",
                "mod n", "--reuse", "--pairs-with"):
        assert opt in text, opt


# ------------------------------------------------------------------------------------------------ add a task
SPEC3 = dataclasses.replace(SPEC, tasks=("segment_semantic", "normal", "depth_zbuffer"))   # new task in the middle


def _spy(monkeypatch) -> list[str]:
    """Record the entries trained; with a cache of their own (the session's finds runs of earlier tests)."""
    import tempfile

    monkeypatch.setenv("MTLKIT_CACHE", tempfile.mkdtemp(prefix="grid_cache_"))
    calls: list[str] = []
    real = experiment.train

    def spy(model, tasks, loader, config, run_dir=None, **kw):
        calls.append(Path(run_dir).parent.name)
        return real(model, tasks, loader, config, run_dir=run_dir, **kw)

    monkeypatch.setattr(experiment, "train", spy)
    return calls


def test_add_a_task_trains_only_the_new_pairs(reference, tmp_path, monkeypatch):
    calls = _spy(monkeypatch)
    grid = TwoTaskGrid(tmp_path / "ext", SPEC3)
    assert grid.pairs_with("normal") == [(0, 1), (1, 2)]
    assert grid.reuse([reference.directory]) == 3           # (segment_semantic, depth_zbuffer) is now pair (0, 2)
    assert [e.name for e in grid.missing()] == [f"{p}_b{b}" for p in ("0-1", "1-2") for b in range(3)]
    assert grid.result(grid.entry(("depth_zbuffer", "segment_semantic"), 1))["reused_from"].endswith("0-1_b1")
    grid.run(progress=False)
    assert calls == [f"{p}_b{b}" for p in ("0-1", "1-2") for b in range(3)]   # nothing old is retrained
    table = grid.table()
    assert table.task_names == SPEC3.tasks and (table.T, table.B) == (3, 2)
    old = reference.table()
    np.testing.assert_array_equal(table.subset(["segment_semantic", "depth_zbuffer"]).values, old.values)
    # the published format over T+1 tasks, loadable as usual
    path = grid.write_table()
    assert path.read_text().splitlines()[0] == ('branch,"(0, 1)-0","(0, 1)-1","(0, 2)-0","(0, 2)-1",'
                                                '"(1, 2)-0","(1, 2)-1"')
    np.testing.assert_array_equal(TwoTaskTable.from_csv(path, task_names=SPEC3.tasks).values, table.values)

    # reusing is exact: the old pair trained afresh inside the 3-task experiment gives the same models
    calls.clear()
    fresh = TwoTaskGrid(tmp_path / "fresh", SPEC3)
    fresh.run(progress=False, pairs=[("depth_zbuffer", "segment_semantic")])
    assert calls == ["0-2_b0", "0-2_b1", "0-2_b2"]
    for b in range(3):
        assert fresh.result(fresh.entry((0, 2), b))["metrics"] == grid.result(grid.entry((0, 2), b))["metrics"]
    np.testing.assert_array_equal(fresh.table(tasks=("segment_semantic", "depth_zbuffer")).values, old.values)

    # only the old table at hand: the new pairs' tables merged into it give the same T+1 table
    merged = old.merge(grid.table(tasks=("segment_semantic", "normal")), grid.table(tasks=("normal", "depth_zbuffer")))
    assert merged.task_names == ("segment_semantic", "depth_zbuffer", "normal")
    for x in SPEC3.tasks:
        for y in SPEC3.tasks:
            if x != y:
                np.testing.assert_array_equal(merged.values[merged.task_index(x), merged.task_index(y)],
                                              table.values[table.task_index(x), table.task_index(y)])


def test_reuse_refuses_other_experiments_and_conflicts(reference, tmp_path):
    other = TwoTaskGrid(tmp_path / "other", dataclasses.replace(SPEC3, iterations=5))
    with pytest.raises(ConfigError, match=r"differs in more than the task list \(iterations: 5 -> 4\)"):
        other.reuse([reference.directory])
    grid = TwoTaskGrid(tmp_path / "ext", SPEC3)
    entry = grid.entry((0, 2), 0)
    grid.entry_dir(entry).mkdir(parents=True)
    (grid.entry_dir(entry) / "result.json").write_text(json.dumps({"metrics": {}}))
    with pytest.raises(ConfigError, match=r"entry 0-2_b0 \(segment_semantic, depth_zbuffer, b=0\).*different metrics"):
        grid.reuse([reference.directory])
    with pytest.raises(ConfigError, match="not one of this grid's tasks"):
        grid.pairs_with("edge_texture")
    with pytest.raises(ConfigError, match="two different tasks"):
        grid.run(pairs=[("normal", "normal")])
    with pytest.raises(ConfigError, match="incomplete: 3 of 3 entries"):
        grid.table(tasks=("segment_semantic", "normal"))
    with pytest.raises(ConfigError, match="at least 2 different tasks"):
        grid.table(tasks=("normal",))


def test_cli_reuse_and_pairs_with(reference, tmp_path, capsys, monkeypatch):
    calls = _spy(monkeypatch)
    d = tmp_path / "cli_ext"
    assert cli(["grid", str(d), "--reuse", str(reference.directory), "--tasks", "segment_semantic,normal,depth_zbuffer",
                "--pairs-with", "normal", "--shard", "0/4", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "reused 3 finished entries" in out and "4 of 9 entries of the grid are not finished" in out
    assert calls == ["0-1_b0", "1-2_b2"]                      # entries 0 and 8: the new pairs of shard 0/4
    assert TwoTaskGrid(d).spec == SPEC3                        # every other option came from the reused grid


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("shard, match", [
    ("2/2", "0 <= i < n"), ("a/b", "shard must be 'i/n'"), ("1", "shard must be 'i/n'"), ((0, 0), "0 <= i < n"),
])
def test_bad_shards(shard, match):
    with pytest.raises(ConfigError, match=match):
        parse_shard(shard)


def test_grid_refuses_a_different_spec_and_a_missing_grid(reference, tmp_path):
    import dataclasses

    with pytest.raises(ConfigError, match=r"records a different experiment \(seed: 0 -> 1\)"):
        TwoTaskGrid(reference.directory, dataclasses.replace(SPEC, seed=1))
    with pytest.raises(FileNotFoundError, match="no two-task grid"):
        TwoTaskGrid(tmp_path / "nothing")
    other = TwoTaskGrid(tmp_path / "other", dataclasses.replace(SPEC, seed=1))
    with pytest.raises(ConfigError, match="cannot merge"):
        other.merge_from([reference.directory])


@pytest.mark.parametrize("kw, match", [
    (dict(tasks=("segment_semantic",)), "at least 2 distinct tasks"),
    (dict(tasks=("segment_semantic", "colour")), "unknown task 'colour'"),
    (dict(backbone="resnet9"), "unknown backbone 'resnet9'"),
    (dict(dataset="nyuv2"), "needs data_root"),
    (dict(blocks=0), "blocks must be None, a number"),
    (dict(blocks={0: [0], 1: [2]}), r"does not cover fine blocks \[1\]"),
    (dict(iterations=0), "iterations must be an int >= 1"),
    (dict(lr=-1.0), "lr must be a finite positive number"),
])
def test_bad_specs(kw, match):
    base = dict(tasks=("segment_semantic", "depth_zbuffer"))
    with pytest.raises(ConfigError, match=match):
        ExperimentSpec(**{**base, **kw})


def test_spec_round_trips_and_mapping_sentinel():
    spec = ExperimentSpec(tasks=("normal", "depth_zbuffer"), blocks={0: [0], 1: [1, 2, 3], 2: [4]},
                          backbone_kw={"width": 8})
    assert spec.blocks == ((0,), (1, 2, 3), (4,))
    assert spec.B == 2   # tiny_resnet has 4 fine blocks: {2: [4]} is the authors' "all shared" sentinel
    assert ExperimentSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
