"""Executors for independent runs: a local process pool, Ray and submitit (Slurm) train the two-task grid exactly as
the sequential loop does, survive a killed worker, report a deterministic failure while the others finish, and
`grid --status` tells done, running, partial, failed and pending entries apart.

Every executor here runs the same 3-entry smoke grid; the Ray instance is local (2 CPUs, no dashboard) and shut down
at the end of the module.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mtlkit.__main__ import main as cli
from mtlkit.errors import ConfigError
from mtlkit.executors import (
    LocalExecutor, RayExecutor, Run, RunsFailed, SequentialExecutor, SlurmExecutor, first_line, get_executor, require,
    run_all,
)
from mtlkit.treemtl import experiment
from mtlkit.treemtl.experiment import ExperimentSpec
from mtlkit.treemtl.grid import TwoTaskGrid, train_two_task_grid

ROOT = Path(__file__).resolve().parents[1]
SPEC = ExperimentSpec(tasks=("segment_semantic", "depth_zbuffer"), backbone="tiny_resnet",
                      backbone_kw={"width": 4}, blocks=2, head="linear", resolution=32, n_train=8, n_test=4,
                      batch_size=4, iterations=10, eval_every=5, eval_last=2, seed=0)
CKPT = 1            # checkpoint every iteration: a killed worker resumes from its last iteration
OPTS = ["--tasks", "segment_semantic,depth_zbuffer", "--backbone-kw", "width=4", "--blocks", "2", "--head", "linear",
        "--resolution", "32", "--n-train", "8", "--n-test", "4", "--batch-size", "4", "--iterations", "10",
        "--eval-every", "5", "--eval-last", "2", "--checkpoint-every", str(CKPT), "--no-progress"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The grid trained sequentially in this process (the table every executor must reproduce)."""
    return train_two_task_grid(tmp_path_factory.mktemp("reference"), SPEC, progress=False, checkpoint_every=CKPT)


@pytest.fixture(autouse=True)
def _workers_import_this_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    # a run cache of each test's own: the shared tree-layout runs of the reference grid (same spec and layouts)
    # would otherwise be found, and the workers these tests kill would have nothing to train
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / "run_cache"))


def _same_table(grid: TwoTaskGrid, reference: TwoTaskGrid) -> None:
    np.testing.assert_array_equal(grid.table().values, reference.table().values)
    for e in reference.entries:
        assert grid.result(e)["metrics"] == reference.result(e)["metrics"], e.name


def _corrupt(grid: TwoTaskGrid, name: str) -> None:
    """A checkpoint that is not mtlkit's: the entry fails deterministically (ConfigError) every time it runs."""
    run = grid.directory / "entries" / name / "run"
    run.mkdir(parents=True, exist_ok=True)
    from mtlkit.integrity import save_torch

    save_torch(run / "checkpoint.pt", {"format": "something else"})  # intact file, not an mtlkit checkpoint


class Killer(threading.Thread):
    """SIGKILLs the worker process training ``entry`` once, after its first checkpoint and before it finishes."""

    def __init__(self, directory: Path, entry: str):
        super().__init__(daemon=True)
        self.dir = Path(directory) / "entries" / entry
        self.killed: int | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                w = json.loads((self.dir / "worker.json").read_text())
            except (OSError, ValueError):
                w = None
            if w and (self.dir / "run" / "checkpoint.pt").is_file() and not (self.dir / "result.json").exists():
                assert w["pid"] != os.getpid()
                os.kill(w["pid"], signal.SIGKILL)
                self.killed = w["pid"]
                return
            time.sleep(0.002)


def test_import_mtlkit_stays_light_and_a_missing_extra_says_what_to_install(monkeypatch):
    probe = ("import sys, mtlkit, mtlkit.executors, mtlkit.treemtl.grid, mtlkit.treemtl.grid_worker; "
             "print(' '.join(m for m in ('ray', 'submitit') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""
    monkeypatch.setitem(sys.modules, "ray", None)          # as if not installed
    with pytest.raises(ConfigError, match=r"executor 'ray' needs the Python package 'ray'.*"
                                          r"pip install \"mtlkit\[distributed\]\""):
        RayExecutor().map([Run("a", len, ("x",))])
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(ConfigError, match=r"'submitit'.*mtlkit\[distributed\]"):
        require("submitit", "slurm")


def test_sequential_executor_reports_failures_per_run():
    outcomes = run_all([Run("ok", divmod, (7, 2)), Run("bad", divmod, (1, 0)), Run("ok2", len, ("abc",))])
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[0].value == (3, 1) and outcomes[2].value == 3
    assert outcomes[1].error == "ZeroDivisionError: integer division or modulo by zero"
    assert "Traceback" in outcomes[1].traceback
    with pytest.raises(ConfigError, match="run keys must be unique"):
        run_all([Run("a", len, ("x",)), Run("a", len, ("y",))])


def test_local_pool_from_the_cli_survives_a_killed_worker_and_equals_sequential(reference, tmp_path, capsys):
    d = tmp_path / "local"
    killer = Killer(d, "0-1_b1")
    killer.start()
    try:
        assert cli(["grid", str(d), *OPTS, "--executor", "local", "--workers", "2"]) == 0
    finally:
        killer.stop.set()
    assert killer.killed is not None, "the worker was never killed mid-run"
    assert "two-task table:" in capsys.readouterr().out
    grid = TwoTaskGrid(d)
    res = grid.result(grid.entries[1])
    assert 1 <= res["resumed_from"] < SPEC.iterations                 # retried from its checkpoint
    _same_table(grid, reference)
    assert (d / "two_task_table.csv").read_text() == (reference.directory / "two_task_table.csv").read_text()
    assert not list(d.glob("entries/*/worker.json")) and not list(d.glob("entries/*/error.json"))


def test_local_pool_gives_up_after_bounded_retries(tmp_path):
    """A worker that dies every time is reported after 1 + retries attempts; the other runs finish."""
    outcomes = LocalExecutor(workers=2, retries=1).map([Run("dies", os._exit, (3,)), Run("fine", divmod, (9, 4))])
    assert outcomes[0].error == "WorkerDied: worker process exited with code 3 on each of 2 attempts"
    assert outcomes[0].attempts == 2 and outcomes[1].ok and outcomes[1].value == (2, 1)


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    from mtlkit.executors import ray_instance

    old = os.environ.get("PYTHONPATH")
    old_cache = os.environ.get("MTLKIT_CACHE")
    os.environ["PYTHONPATH"] = str(ROOT)
    # Ray's workers keep the environment the instance started with: a run cache of their own, so that the shared
    # tree-layout runs of the reference grid (trained in the session's cache) are not found by them
    os.environ["MTLKIT_CACHE"] = str(tmp_path_factory.mktemp("ray_run_cache"))
    try:
        try:
            instance = ray_instance(num_cpus=2, attempts=2)      # no dashboard; shut down at the end of the module
            ray = instance.__enter__()
        except Exception as exc:
            if "timed out during startup" not in str(exc):
                raise
            # Ray's raylet gives its agents a fixed 15 s to start (ray-project/ray#65983); on a machine with a load
            # far above its cores they do not make it, twice: nothing of mtlkit has run yet
            pytest.skip(f"the local Ray instance did not start (load average {os.getloadavg()[0]:.0f} on "
                        f"{os.cpu_count()} cores): {first_line(exc)}")
        try:
            yield ray
        finally:
            instance.__exit__(None, None, None)
    finally:
        for var, value in (("PYTHONPATH", old), ("MTLKIT_CACHE", old_cache)):
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def test_ray_survives_a_killed_worker_reports_a_failure_and_equals_sequential(reference, local_ray, tmp_path):
    grid = TwoTaskGrid(tmp_path / "ray", SPEC)
    _corrupt(grid, "0-1_b2")
    killer = Killer(grid.directory, "0-1_b1")
    killer.start()
    try:
        with pytest.raises(RunsFailed, match=r"1 of 3 runs failed \(0-1_b2: ConfigError: .*not an mtlkit "
                                             r"checkpoint"):
            grid.run(executor=RayExecutor(cpus_per_run=1, retries=2), progress=False, checkpoint_every=CKPT)
    finally:
        killer.stop.set()
    assert killer.killed is not None, "the Ray worker was never killed mid-run"
    assert [e.name for e in grid.missing()] == ["0-1_b2"]            # the others finished despite the failure
    assert 1 <= grid.result(grid.entries[1])["resumed_from"] < SPEC.iterations
    st = grid.states()
    assert st["state"].tolist() == ["done", "done", "failed"]
    assert st["detail"].iloc[2].startswith("ConfigError: ") and "not an mtlkit checkpoint" in st["detail"].iloc[2]
    # fix the entry and run again: only it trains, nothing finished is re-run, the table equals the sequential one
    (grid.entry_dir(grid.entries[2]) / "run" / "checkpoint.pt").unlink()
    before = [grid.result(e) for e in grid.entries[:2]]
    outcomes = grid.run_on("ray", progress=False, checkpoint_every=CKPT)
    assert list(outcomes) == ["0-1_b2"] and outcomes["0-1_b2"].ok
    assert [grid.result(e) for e in grid.entries[:2]] == before
    _same_table(grid, reference)
    assert grid.states()["state"].tolist() == ["done"] * 3


def test_submitit_local_runs_the_slurm_code_path(reference, tmp_path):
    """submitit's local cluster: one job array, pickled callables, logs; a job killed mid-run is resubmitted."""
    logs = tmp_path / "submitit"
    grid = TwoTaskGrid(tmp_path / "slurm", SPEC)
    ex = SlurmExecutor(folder=str(logs), cluster="local", time_min=10, array_parallelism=2, poll_s=0.2,
                       sbatch={"account": "lab"})
    killer = Killer(grid.directory, "0-1_b2")
    killer.start()
    try:
        outcomes = grid.run_on(ex, progress=False, checkpoint_every=CKPT)
    finally:
        killer.stop.set()
    assert all(o.ok for o in outcomes.values())
    assert killer.killed is not None and [o.attempts for o in outcomes.values()] == [1, 1, 2]   # resubmitted once
    assert 1 <= grid.result(grid.entries[2])["resumed_from"] < SPEC.iterations
    assert len({o.worker for o in outcomes.values()}) == 3                      # one process per array task
    _same_table(grid, reference)
    # submitit's own files: the pickled callables, the pickled results and the logs of every job (the array of 3
    # and the resubmitted one; the killed job left no result)
    assert len(list(logs.glob("*/*_submitted.pkl"))) == 4
    assert len(list(logs.glob("*/*_result.pkl"))) == 3
    assert len(list(logs.glob("*/*_log.out"))) == 4 and len(list(logs.glob("*/*_log.err"))) == 4


def test_slurm_parameters_reach_the_sbatch_script(tmp_path, capsys):
    d = tmp_path / "grid"
    assert cli(["grid", str(d), *OPTS, "--executor", "slurm", "--partition", "gpu", "--gpus-per-job", "1",
                "--array-parallelism", "16", "--time", "240", "--cpus-per-job", "4", "--mem-gb", "32",
                "--sbatch", "account=lab,qos=high", "--setup", "module load cuda", "--dry-run"]) == 0
    script = capsys.readouterr().out
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1", "#SBATCH --array=0-2%3",
                 "#SBATCH --time=240", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=32GB", "#SBATCH --account=lab",
                 "#SBATCH --qos=high", "#SBATCH --job-name=mtlkit", "module load cuda"):
        assert line in script, line
    assert "3 array tasks, one per unfinished entry: 0-1_b0, 0-1_b1, 0-1_b2" in script
    assert not list(d.glob("entries/*"))                                          # nothing ran
    big = SlurmExecutor(folder=str(tmp_path), array_parallelism=16).sbatch_script(60)
    assert "#SBATCH --array=0-59%16" in big                                       # at most 16 at once
    params = SlurmExecutor(partition="gpu", gpus_per_job=2, sbatch={"--constraint": "a100"}).sbatch_parameters()
    assert params["partition"] == "gpu" and params["gpus_per_node"] == 2
    assert params["additional_parameters"] == {"constraint": "a100"}


def test_status_prints_done_running_partial_failed_and_pending(reference, tmp_path, capsys, monkeypatch):
    grid = TwoTaskGrid(tmp_path / "st", SPEC)
    assert grid.states()["state"].tolist() == ["pending"] * 3
    from mtlkit.treemtl.grid_worker import run_entry

    run_entry(str(grid.directory), 0)                                             # done

    class Killed(BaseException):                                                  # what a SIGKILL leaves behind
        pass

    real = experiment.train

    def dies_after_two(model, tasks, loader, config, run_dir=None, **kw):
        steps = {"n": 0}

        def hook(module, args):
            if module.training:
                steps["n"] += 1
                if steps["n"] > 2:
                    raise Killed
        model.register_forward_pre_hook(hook)
        return real(model, tasks, loader, config, run_dir=run_dir, **kw)

    monkeypatch.setattr(experiment, "train", dies_after_two)
    with pytest.raises(Killed):
        run_entry(str(grid.directory), 1, checkpoint_every=1)                     # partial: a checkpoint ...
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    marker = grid.entry_dir(grid.entries[1]) / "worker.json"
    marker.write_text(json.dumps(dict(json.loads(marker.read_text()), pid=gone.pid)))   # ... its worker is gone
    monkeypatch.setattr(experiment, "train", real)
    _corrupt(grid, "0-1_b2")
    with pytest.raises(ConfigError):
        run_entry(str(grid.directory), 2)                                         # failed
    assert cli(["grid", str(grid.directory), "--status"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[1]: line for line in out if line.split() and line.split()[0] in "012"}
    assert rows["0-1_b0"].split()[4] == "done"
    assert rows["0-1_b1"].split()[4] == "partial" and "resumes on the next run" in rows["0-1_b1"]
    assert rows["0-1_b2"].split()[4] == "failed" and "ConfigError: " in rows["0-1_b2"]
    assert "not an mtlkit checkpoint" in rows["0-1_b2"]
    assert out[-1] == "1 of 3 entries done; 1 partial, 1 failed"
    # an entry whose run lock is held by a live process is running
    import fcntl

    with open(grid.entry_dir(grid.entries[1]) / "run" / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert grid.states()["state"].tolist() == ["done", "running", "failed"]
    assert grid.states()["state"].tolist() == ["done", "partial", "failed"]
    marker.write_text(json.dumps(dict(host="node042", pid=1234, started="2026-01-01 00:00:00")))
    assert grid.states().loc[1, "detail"].startswith("node042:1234 (another host")


@pytest.mark.parametrize("make, match", [
    (lambda: get_executor("dask"), "unknown executor 'dask'; valid executors are: sequential, local, ray, slurm"),
    (lambda: get_executor("ray", workers=2), r"executor 'ray' has no option\(s\) \['workers'\]"),
    (lambda: LocalExecutor(workers=0), "LocalExecutor.workers must be an int >= 1 or None, got 0"),
    (lambda: LocalExecutor(gpus="x,y"), "LocalExecutor.gpus must be None, 'auto' or GPU ids"),
    (lambda: RayExecutor(gpus_per_run=-0.5), "RayExecutor.gpus_per_run must be a number >= 0, got -0.5"),
    (lambda: RayExecutor(gpus_per_run=1.5), "gpus_per_run above 1 must be a whole number"),
    (lambda: SlurmExecutor(array_parallelism=0), "SlurmExecutor.array_parallelism must be an int >= 1, got 0"),
    (lambda: SlurmExecutor(cluster="pbs"), "SlurmExecutor.cluster must be 'slurm', 'local', 'debug' or None"),
    (lambda: get_executor(SequentialExecutor(), workers=1), "options are given with an executor name"),
])
def test_bad_executor_settings(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_bad_executor_options_on_the_cli(tmp_path, capsys):
    d = str(tmp_path / "g")
    assert cli(["grid", d, *OPTS, "--executor", "ray", "--workers", "2"]) == 2
    assert re.search("--workers is an option of --executor local, not of --executor ray", capsys.readouterr().err)
    assert cli(["grid", d, *OPTS, "--executor", "local", "--dry-run"]) == 2
    assert re.search("--dry-run prints the sbatch script of --executor slurm; got --executor "
                                          "local", capsys.readouterr().err)
    assert cli(["grid", d, *OPTS, "--dry-run"]) == 2
    assert re.search("--dry-run prints the sbatch script of --executor slurm; got no --executor", capsys.readouterr().err)
    assert cli(["grid", d, *OPTS, "--executor", "slurm", "--sbatch", "qos", "--dry-run"]) == 2
    assert re.search(r"--sbatch: expected key=value options.*got 'qos'", capsys.readouterr().err)
    if __import__("shutil").which("srun") is None:
        assert cli(["grid", d, *OPTS, "--executor", "slurm"]) == 2
        assert re.search(r"SlurmExecutor\(cluster='slurm'\): RuntimeError: Could not detect \"srun\".*--cluster local",
                         capsys.readouterr().err)
    assert cli(["grid", d, *OPTS, "--workers", "2", "--gpus", "a"]) == 2
    assert re.search("--gpus: expected comma-separated GPU ids or 'auto'", capsys.readouterr().err)


def test_two_workers_on_one_entry_train_it_once(reference, tmp_path):
    """Two executors on one folder: the same entry given to two workers at once is trained once, its files are
    written by one worker only, and the second returns the first one's result unchanged."""
    from mtlkit.treemtl.grid_worker import run_entry

    grid = TwoTaskGrid(tmp_path / "twice", SPEC)
    runs = [Run(k, run_entry, (str(grid.directory), 1), dict(checkpoint_every=CKPT)) for k in ("first", "second")]
    a, b = LocalExecutor(workers=2).map(runs)
    assert a.ok and b.ok and a.worker != b.worker
    assert a.value == b.value == grid.result(grid.entries[1])           # one record, returned to both
    assert a.value["resumed_from"] == 0 and a.value["metrics"] == reference.result(reference.entries[1])["metrics"]
    log = (grid.entry_dir(grid.entries[1]) / "run" / "train_log.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in log[1:]] == list(range(1, SPEC.iterations + 1))   # no row twice
