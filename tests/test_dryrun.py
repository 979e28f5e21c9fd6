"""The paper-scale dry run (mtlkit.dryrun) and its measurements (mtlkit.memory)."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from mtlkit import dryrun
from mtlkit.errors import ConfigError, DataError
from mtlkit.memory import GPU_OVERHEAD, MemoryEstimate, TrainingMeter


def _mlp_steps(batch: int, steps: int = 3, optimizer=torch.optim.Adam):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(100, 200), torch.nn.ReLU(), torch.nn.Linear(200, 10))
    opt = optimizer(m.parameters(), lr=0.1)
    with TrainingMeter() as meter:
        for _ in range(steps):
            loss = m(torch.randn(batch, 100)).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return meter


def test_meter_measures_a_known_step_exactly():
    meter = _mlp_steps(32)
    params = (100 * 200 + 200 + 200 * 10 + 10) * 4
    # saved for backward: the input (32x100), ReLU's output (32x200, also the second Linear's input), the output
    # (32x10, for square); the weights and their transposed views are parameters, not activations
    est = meter.estimate(32)
    assert (est.params, est.grads, est.optimizer_state) == (params, params, 2 * params)  # Adam: two moments
    assert est.activations == (32 * 100 + 32 * 200 + 32 * 10) * 4
    assert meter.steps == 3
    # forward 2·32·(100·200 + 200·10); backward: weight gradients of both layers + the input gradient of the second
    assert meter.flops_per_step == 2 * 32 * (100 * 200 + 200 * 10) * 2 + 2 * 32 * 200 * 10
    sgd = _mlp_steps(32, optimizer=lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9)).estimate(32)
    assert sgd.optimizer_state == params  # one momentum buffer


def test_memory_estimate_scales_activations_only():
    est = MemoryEstimate(2, params=100, grads=100, optimizer_state=200, activations=1000)
    big = est.at_batch(16)
    assert (big.params, big.grads, big.optimizer_state, big.activations) == (100, 100, 200, 8000)
    assert big.total == 8400
    assert est.fits(400 + 1000 + GPU_OVERHEAD) and not est.fits(400 + 999 + GPU_OVERHEAD)
    assert est.max_batch(400 + GPU_OVERHEAD + 5 * 500) == 5
    with pytest.raises(ConfigError, match="batch must be a positive int"):
        est.at_batch(0)


def test_every_reproduction_has_a_dry_run_plan(repo_root):
    # planted_structure runs on SynthScenes at every scale: no real-data paper path to rehearse
    notebooks = {p.stem for p in (repo_root / "reproductions").glob("*.py")} - {"planted_structure"}
    assert set(dryrun.TABLES) == notebooks


@pytest.mark.parametrize("kw, match", [(dict(batch=0), "batch must be an int >= 1"),
                                       (dict(iterations=1), "iterations must be an int >= 2"),
                                       (dict(batch=4, samples=8), "samples must be >= 4 × batch"),
                                       (dict(max_layouts=2), "max_layouts must be None \\(all 51\\) or an int >= 3")])
def test_bad_config_is_refused(kw, match):
    with pytest.raises(ConfigError, match=match):
        dryrun.DryRunConfig(**kw)


def test_unknown_table_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown table 'treemtl_table9'"):
        dryrun.dry_run(["treemtl_table9"], scratch=tmp_path)


def _no_training(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("training started although the data is bad")
    monkeypatch.setattr(dryrun, "run_table", fail)


def test_missing_dataset_folder_fails_before_training(tmp_path, monkeypatch):
    _no_training(monkeypatch)
    with pytest.raises(FileNotFoundError, match="has no NYUv2/ folder"):
        dryrun.dry_run(["treemtl_table1"], data_root=tmp_path, scratch=tmp_path / "s")


def test_malformed_dataset_fails_before_training_naming_the_file(tmp_path, monkeypatch):
    from mtlkit.data.fabricate import fabricate

    _no_training(monkeypatch)
    root = tmp_path / "data"
    fabricate(root, "nyuv2", n=8, size=(24, 32))
    dryrun.check_data_root(root, ["nyuv2"])  # intact: every split indexed, its first sample decoded
    (root / "NYUv2" / "depth" / "0003.npy").unlink()
    with pytest.raises(FileNotFoundError, match="0003.npy"):
        dryrun.dry_run(["treemtl_table5"], data_root=root, scratch=tmp_path / "s")
    fabricate(root, "nyuv2", n=8, size=(24, 32))
    (root / "NYUv2" / "nyu_v2_3task.json").write_text("{not json")
    with pytest.raises(DataError, match="nyu_v2_3task.json"):
        dryrun.dry_run(["treemtl_table5"], data_root=root, scratch=tmp_path / "s")
    split = {"train": [["img/0000.png", "seg/0000.png", "normal_mask/0000.png", "depth/0000.npy"]]}
    (root / "NYUv2" / "nyu_v2_3task.json").write_text(json.dumps(split))
    with pytest.raises(DataError, match="train1"):
        dryrun.dry_run(["treemtl_table5"], data_root=root, scratch=tmp_path / "s")


def test_kill_and_resume_continues_from_the_checkpoint(tmp_path):
    from mtlkit.train import run_loop

    run = tmp_path / "run"
    seen = []

    def call():
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)

        def step(i):
            seen.append(i)
            opt.zero_grad()
            model(torch.ones(2, 4)).sum().backward()
            opt.step()
            return {"loss": 0.0}

        return run_loop(step, iterations=2, state={"model": model, "opt": opt}, run_dir=run, checkpoint_every=1,
                        progress=False)

    assert dryrun._kill_and_resume(call, run / "checkpoint.pt") == 1
    assert seen == [0, 1, 1]  # killed in iteration 1 (0-based), which ran again after the resume
    with pytest.raises(RuntimeError, match="finished before it could be interrupted"):
        dryrun._kill_and_resume(lambda: None, run / "checkpoint.pt")


@pytest.mark.dryrun
@pytest.mark.timeout(3600)
def test_dry_run_of_one_automtl_and_one_treemtl_table(tmp_path):
    """The real thing, on paper-scale models (tens of minutes on a shared CPU): not part of `make test`."""
    results, summary = dryrun.dry_run(["automtl_cityscapes", "treemtl_table6"], scratch=tmp_path)
    assert list(summary.table) == ["automtl_cityscapes", "treemtl_table6"]
    assert all(r.resumed_from == 1 for r in results) and all(r.rows > 0 for r in results)
    # the paper's CityScapes supermodel (spec §1.7 minus the 216 unused BN logits the original creates)
    assert results[0].params == 110_786_112 - 3 * 2 * 36
    assert (summary["memory GiB (batch 16)"] > summary["of which activations GiB"]).all()
    assert (tmp_path / "results" / "REPORT.md").is_file() and (tmp_path / "dryrun.md").is_file()
    report = (tmp_path / "results" / "REPORT.md").read_text()
    assert "paper · CityScapes" in report and "paper · Taskonomy" in report  # the dry run's rows, as paper scale


def test_gpu_hours_count_the_stages_the_paper_path_runs():
    """Found by the dry run: the CityScapes path has no pre-train (PAPER_SIZES), but the GPU-hours estimate counted
    two 10k-iteration pre-trains for it (and for the backbone study, also on CityScapes)."""
    from mtlkit.automtl.experiments import PAPER_SIZES
    from mtlkit.compute import table_jobs

    for table, dataset in (("automtl_cityscapes", "cityscapes"), ("automtl_nyuv2", "nyuv2"),
                           ("automtl_taskonomy", "taskonomy"), ("automtl_backbones", "cityscapes")):
        pre = [j for j in table_jobs(table) if j.job.startswith("pre-train")]
        assert bool(pre) == (PAPER_SIZES[dataset]["pre"] > 0), table
        assert all(j.iterations == PAPER_SIZES[dataset]["pre"] for j in pre)


def test_cli_reports_bad_data_in_one_line(tmp_path, capsys):
    from mtlkit.__main__ import main

    assert main(["dryrun", "treemtl_table1", "--data-root", str(tmp_path), "--scratch", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("[mtlkit dryrun] error:") and "has no NYUv2/ folder" in err and "Traceback" not in err


def test_driver_measures_records_and_reports_into_the_scratch_folder(tmp_path, monkeypatch):
    """The driver around a table's runner (the paper-scale runners themselves: the dryrun-marked test above)."""
    import os

    from mtlkit.data.fabricate import fabricate
    from mtlkit.report import record

    def runner(plan, root, scratch, config):
        assert (root / "NYUv2").is_dir() and os.environ["MTLKIT_RESULTS"] == str(scratch / "results")
        model = torch.nn.Linear(100, 10)
        opt = torch.optim.Adam(model.parameters())
        for _ in range(config.iterations):
            opt.zero_grad()
            model(torch.randn(config.batch, 100)).square().mean().backward()
            opt.step()
        record(plan.table, [dict(setting="no budget", method="#0", task="all", metric="delta_t", value=1.0)],
               scale="paper", seed=config.seed, device=config.device, dataset="NYUv2")
        return dict(rows=1, params=1010, resume=lambda: (1, None))

    monkeypatch.setitem(dryrun._RUNNERS, "_treemtl_layouts", runner)
    results_before = os.environ["MTLKIT_RESULTS"]
    root = tmp_path / "data"
    fabricate(root, "nyuv2", n=8, size=(24, 32))
    lines = []
    results, summary = dryrun.dry_run(["treemtl_table5"], data_root=root, scratch=tmp_path / "s", echo=lines.append)
    assert os.environ["MTLKIT_RESULTS"] == results_before  # restored
    r = results[0]
    assert (r.steps, r.params, r.rows, r.resumed_from) == (2, 1010, 1, 1)
    assert r.memory.params == 1010 * 4 and r.memory.optimizer_state == 2 * 1010 * 4
    row = summary.iloc[0]
    assert row["fits 48 GB"] == "yes" and row["jobs"] == 5 and row["GPU hours (est.)"] > 0
    assert (tmp_path / "s" / "results" / "treemtl_table5.csv").is_file()
    assert (tmp_path / "s" / "results" / "REPORT.md").is_file()
    assert "| treemtl_table5 |" in (tmp_path / "s" / "dryrun.md").read_text()
    assert any("treemtl_table5: done in" in line for line in lines)


def test_checkpoints_off_writes_no_checkpoint_inside_the_block_only(tmp_path):
    """The dry run's cut: runs that are never resumed skip their ~1 GB checkpoints; the default is unchanged."""
    from mtlkit.train import checkpoints_off, run_loop

    def run(name, **kw):
        model = torch.nn.Linear(2, 1)
        return run_loop(lambda i: {"loss": float(i)}, iterations=3, state={"model": model}, run_dir=tmp_path / name,
                        checkpoint_every=1, log_every=1, progress=False, **kw)

    with checkpoints_off():
        history = run("off")
        with checkpoints_off():
            pass
        run("still-off")  # a nested block does not switch checkpoints back on
    assert not (tmp_path / "off" / "checkpoint.pt").exists()
    assert not (tmp_path / "still-off" / "checkpoint.pt").exists()
    assert [r["iteration"] for r in history.train] == [1, 2, 3]  # the logs are still written
    assert (tmp_path / "off" / "train_log.csv").is_file()
    with pytest.raises(ZeroDivisionError), checkpoints_off():
        1 / 0
    run("on")  # after the blocks (also one left by an exception): checkpoints as before
    from mtlkit.train import load_checkpoint

    assert load_checkpoint(tmp_path / "on" / "checkpoint.pt")["iteration"] == 3


def test_a_dry_run_setup_builds_its_supermodel_once_per_seed(monkeypatch):
    """The dry run's cut: every method of a setup starts from a copy of one build (a paper-scale build traces the
    supermodel at full resolution), with the weights a fresh build gives; the copies are independent."""
    from mtlkit.automtl import experiments as ex

    setup = ex.experiment_setup("cityscapes", "smoke")
    builds = []
    build = type(setup).supermodel
    monkeypatch.setattr(type(setup), "supermodel", lambda self, seed: builds.append(seed) or build(self, seed))
    short = dryrun._short_automtl(setup, dryrun.DryRunConfig())
    a, b, c = short.supermodel(0), short.supermodel(0), short.supermodel(1)
    assert builds == [0, 1]
    fresh = build(setup, 0)
    for p, q, r in zip(a.parameters(), b.parameters(), fresh.parameters()):
        assert p is not q and torch.equal(p, q) and torch.equal(p, r)
    with torch.no_grad():
        next(a.parameters()).add_(1.0)
    assert torch.equal(next(b.parameters()), next(fresh.parameters()))  # training one copy leaves the others
    assert short.base_config.n_samples == dryrun.DRY_SAMPLES and short.base_config.select_batches == 1
    assert short.base_config.policy_train_iterations == 2


def test_treemtl_resume_trains_a_layout_the_table_already_trained(tmp_path, monkeypatch):
    """Table 3 trains the independent layout before the kill-and-resume stage; its shared run must not answer."""
    from mtlkit.dryrun import _treemtl_resume
    from mtlkit.treemtl import Layout
    from mtlkit.treemtl.experiment import layout_run_dir, read_result, train_entry
    from mtlkit.treemtl.oracle import study_spec

    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / "cache"))
    spec = study_spec("smoke")
    layout = Layout.independent(spec.T, spec.B)
    train_entry(spec, layout, spec.tasks, None, progress=False)
    assert read_result(layout_run_dir(spec, layout, spec.tasks)) is not None
    resumed, params = _treemtl_resume(spec, layout, tmp_path / "scratch", "cpu")
    assert resumed >= 1 and params > 0


# ------------------------------------------------------------------------------- tables in parallel (--jobs)
def _fake_job(tmp_path, name, seconds, peak_gib, *, sleep=0.6, exit_code=0, allocate_mb=0):
    """A fast fake table: records when it ran, holds ``allocate_mb`` resident, sleeps, exits with ``exit_code``."""
    import sys

    from mtlkit.schedule import Job

    code = (f"import time, sys; t0 = time.time(); b = bytearray({allocate_mb} * 2**20); b[::4096] = b'x' * len(b[::4096]);"
            f"time.sleep({sleep}); open(r'{tmp_path / 'spans'}', 'a').write('{name} %f %f\\n' % (t0, time.time()));"
            f"print('fake error of {name}' if {exit_code} else 'ok', file=sys.stderr); sys.exit({exit_code})")
    return Job(name, (sys.executable, "-c", code), seconds, peak_gib)


def _spans(tmp_path):
    rows = [line.split() for line in (tmp_path / "spans").read_text().splitlines()]
    return {n: (float(a), float(b)) for n, a, b in rows}


@pytest.mark.xfail(reason="open in #17: after other test files, the small job's peak RSS (os.wait4) read 1.16 GiB, the "
                          "forking pytest process's size, not its own; passes alone", strict=False)
def test_scheduler_runs_longest_first_and_never_two_big_tables_together(tmp_path):
    from mtlkit.schedule import run_jobs

    jobs = [_fake_job(tmp_path, "short", 10, 2), _fake_job(tmp_path, "big_a", 50, 9),
            _fake_job(tmp_path, "big_b", 40, 9), _fake_job(tmp_path, "mid", 30, 2, allocate_mb=900)]
    lines = []
    out = run_jobs(jobs, slots=2, memory_cap_gib=12, logs=tmp_path / "logs", echo=lines.append, poll=0.05)
    assert set(out) == {"short", "big_a", "big_b", "mid"} and all(o.returncode == 0 for o in out.values())
    started = [line.split()[1].rstrip(":") for line in lines if "started" in line]
    # longest first; big_b (40 s) does not fit next to big_a (9 + 9 > 12 GiB), so mid (30 s) takes the slot
    assert started[:2] == ["big_a", "mid"]
    span = _spans(tmp_path)
    assert span["big_b"][0] >= span["big_a"][1] - 0.05 or span["big_a"][0] >= span["big_b"][1] - 0.05
    assert span["mid"][0] < span["big_a"][1]  # two at a time when memory allows
    # the child's own peak (Linux keeps the forking parent's peak in a child's ru_maxrss: a floor, not a sum)
    assert out["mid"].peak_rss_gib > 0.87 and out["short"].peak_rss_gib < 0.85


def test_scheduler_reports_a_failed_job_and_runs_the_others(tmp_path):
    from mtlkit.schedule import run_jobs

    jobs = [_fake_job(tmp_path, "fails", 20, 1, sleep=0.1, exit_code=3), _fake_job(tmp_path, "a", 10, 1),
            _fake_job(tmp_path, "b", 5, 1)]
    out = run_jobs(jobs, slots=1, logs=tmp_path / "logs", echo=lambda s: None, poll=0.05)
    assert out["fails"].returncode == 3 and "fake error of fails" in out["fails"].error()
    assert out["a"].returncode == out["b"].returncode == 0
    span = _spans(tmp_path)
    assert span["fails"][1] <= span["a"][0] <= span["a"][1] <= span["b"][0]  # one slot: strictly in turn
    with pytest.raises(ConfigError, match="jobs must be an int >= 1, got 0"):
        run_jobs(jobs, slots=0, logs=tmp_path / "logs")


def test_parallel_dry_run_assembles_the_summary_in_table_order_and_fails_for_a_failed_table(tmp_path, monkeypatch,
                                                                                            capsys):
    """``dryrun --jobs 2`` with fake tables (no training): each subprocess writes a TableResult and its results
    CSV in its own scratch folder, one fails; the summary keeps the given order, the CLI exits 1."""
    import os
    import sys
    from pathlib import Path

    from mtlkit.data.fabricate import fabricate

    fake = tmp_path / "fake_worker.py"
    fake.write_text('''
import json, sys, time
from pathlib import Path
from mtlkit.report import record
s = json.loads(sys.argv[1])
for t in s["tables"]:
    print("table", t, "cache", __import__("os").environ["MTLKIT_CACHE"])
    if t == "treemtl_table6":
        raise SystemExit("treemtl_table6 broke: planted failure")
    record(t, [dict(setting="x", method="#0", task="all", metric="delta_t", value=1.0)], scale="paper",
           seed=0, device="cpu", dataset="NYUv2")
    time.sleep(0.3)
    mem = dict(batch=1, params=400, grads=400, optimizer_state=800, activations=1000)
    Path(s["results"], t + ".json").write_text(json.dumps(dict(table=t, stages=["a", "b"], seconds=0.3, steps=4,
        seconds_per_step=0.1, flops_per_step=1e6, params=100, batch=1, memory=mem, resumed_from=1, rows=1,
        notes=[], load=0.5)))
''')
    monkeypatch.setattr(dryrun, "_worker_argv", lambda spec: (sys.executable, str(fake), spec))
    import mtlkit.report

    # the report of the gathered results (rendered for real in the driver test above; ~20 s each)
    monkeypatch.setattr(mtlkit.report, "write_report", lambda: Path(os.environ["MTLKIT_RESULTS"]) / "REPORT.md")
    root = tmp_path / "data"
    for d in ("nyuv2", "taskonomy"):
        fabricate(root, d, n=8, size=(24, 32))
    tables = ["treemtl_table5", "treemtl_table6", "treemtl_table4", "treemtl_table1", "treemtl_table2"]
    results, summary = dryrun.dry_run(tables, data_root=root, scratch=tmp_path / "s", jobs=2, echo=lambda s: None)
    ok = ["treemtl_table5", "treemtl_table4", "treemtl_table1", "treemtl_table2"]
    assert list(summary.table) == tables and [r.table for r in results] == ok
    assert summary.notes[1].startswith("FAILED") and "planted failure" in summary.notes[1]
    assert (summary["peak RSS GiB (CPU)"][[0, 2, 3, 4]] > 0).all() and summary["jobs"][[0, 2, 3, 4]].notna().all()
    for t in ok:  # each table's results gathered for the one report
        assert (tmp_path / "s" / "results" / f"{t}.csv").is_file()
        job = "treemtl_table2+treemtl_table4" if t in ("treemtl_table2", "treemtl_table4") else t
        assert (tmp_path / "s" / "tables" / job / "results" / f"{t}.csv").is_file()  # written in its own folder
    # Table 4 ran after Table 2 in the same process and run cache (its layouts are Table 2's)
    log = (tmp_path / "s" / "logs" / "treemtl_table2+treemtl_table4.log").read_text().split()
    assert log[1::4] == ["treemtl_table2", "treemtl_table4"] and log[3] == log[7]
    assert "FAILED" in (tmp_path / "s" / "dryrun.md").read_text()
    from mtlkit.__main__ import main

    code = main(["dryrun", *tables, "--data-root", str(root), "--scratch", str(tmp_path / "s2"), "--jobs", "2"])
    assert code == 1 and "| treemtl_table6 |" in capsys.readouterr().out
    assert main(["dryrun", "treemtl_table5", "treemtl_table1", "--data-root", str(root), "--scratch",
                 str(tmp_path / "s3"), "--jobs", "2"]) == 0


def test_parallel_worker_writes_a_result_the_parent_reads_back(tmp_path, monkeypatch):
    """The child side of ``--jobs`` (in this process, with a fake runner): each table of its job in turn, one
    scratch folder, a TableResult JSON per table; a failing table is printed and the job exits 1."""
    import json

    from mtlkit.data.fabricate import fabricate

    def runner(plan, root, scratch, config):
        if plan.table == "treemtl_table6":
            raise RuntimeError("planted")
        model = torch.nn.Linear(10, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            model(torch.randn(1, 10)).sum().backward()
            opt.step()
        return dict(rows=3, params=22, resume=lambda: (1, None))

    monkeypatch.setitem(dryrun._RUNNERS, "_treemtl_layouts", runner)
    root = tmp_path / "data"
    fabricate(root, "nyuv2", n=8, size=(24, 32))
    spec = json.dumps(dict(tables=["treemtl_table6", "treemtl_table5"], data_root=str(root),
                           scratch=str(tmp_path / "job"), config=dataclasses.asdict(dryrun.DryRunConfig()),
                           results=str(tmp_path)))
    with pytest.raises(SystemExit) as exit_:
        dryrun._worker(spec)
    assert exit_.value.code == 1 and not (tmp_path / "treemtl_table6.json").exists()
    r = dryrun._read_result(tmp_path / "treemtl_table5.json", 1.5)
    assert (r.table, r.steps, r.params, r.rows, r.resumed_from, r.peak_rss_gib) == ("treemtl_table5", 2, 22, 3, 1, 1.5)
    assert r.memory.params == 22 * 4 and r.stages == dryrun.TABLES["treemtl_table5"].stages
    assert dryrun.summary_table([r]).loc[0, "jobs"] == 5
