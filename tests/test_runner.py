"""The main-job runner: notebooks run as papermill processes with typed parameters; failures are reported."""
from __future__ import annotations

import json

import nbformat
import pytest

from mtlkit import runner
from mtlkit.errors import ConfigError


def _notebook(path, body: str):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('scale = "cpu"\nseed = 0\nout_dir = "."')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nbformat.write(nb, path)
    return path


def test_execute_passes_typed_parameters_and_threads(tmp_path):
    body = ('import json, os, pathlib\n'
            'pathlib.Path(out_dir, "seen.json").write_text(json.dumps('
            '{"scale": scale, "seed": seed, "threads": os.environ.get("OMP_NUM_THREADS")}))')
    nb = _notebook(tmp_path / "ok.ipynb", body)
    params = runner.parameters_for(nb, "smoke", 3, "cpu", tmp_path, data_root="/data")
    assert params == {"scale": "smoke", "seed": 3, "out_dir": str(tmp_path)}  # only declared names
    error = runner.execute(nb, tmp_path / "out" / "ok.ipynb", params, tmp_path / "ok.log", threads=1)
    assert error is None and (tmp_path / "out" / "ok.ipynb").is_file()
    assert json.loads((tmp_path / "seen.json").read_text()) == {"scale": "smoke", "seed": 3, "threads": "1"}


def test_seeds_go_as_a_list_to_notebooks_that_declare_them(tmp_path):
    assert runner.parse_seeds("0,1,2,3,4") == [0, 1, 2, 3, 4] and runner.parse_seeds("5") == [0, 1, 2, 3, 4]
    assert runner.parse_seeds("1") == [0] and runner.parse_seeds("3,") == [3] and runner.parse_seeds(None) is None
    for bad in ("0", "a,b", "1,1", "-1,2", [0, True]):
        with pytest.raises(ConfigError, match="seeds"):
            runner.parse_seeds(bad)
    body = ('import json, pathlib\n'
            'pathlib.Path(out_dir, "seen.json").write_text(json.dumps({"seed": seed, "seeds": seeds}))')
    with_seeds = _notebook(tmp_path / "with.ipynb", body)
    cell = nbformat.read(with_seeds, as_version=4)
    cell.cells[1].source += "\nseeds = None"
    nbformat.write(cell, with_seeds)
    without = _notebook(tmp_path / "without.ipynb", "pass")
    seeds = runner.parse_seeds("0,2,4")
    params = runner.parameters_for(with_seeds, "smoke", 0, "cpu", tmp_path, None, seeds)
    assert params["seeds"] == [0, 2, 4]
    assert "seeds" not in runner.parameters_for(without, "smoke", 0, "cpu", tmp_path, None, seeds)
    assert "seeds" not in runner.parameters_for(with_seeds, "smoke", 0, "cpu", tmp_path, None, None)
    assert runner.execute(with_seeds, tmp_path / "out.ipynb", params, tmp_path / "w.log") is None
    assert json.loads((tmp_path / "seen.json").read_text()) == {"seed": 0, "seeds": [0, 2, 4]}  # a list, typed


def test_the_command_line_and_make_run_default_to_five_seeds():
    import argparse

    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    assert runner.parse_seeds(parser.parse_args([]).seeds) == [0, 1, 2, 3, 4]
    assert runner.parse_seeds(parser.parse_args(["--seeds", "1"]).seeds) == [0]
    makefile = (runner.Path(runner.__file__).parents[1] / "Makefile").read_text()
    assert "SEEDS  ?= 5" in makefile and "--seeds $(SEEDS)" in makefile.split("\nrun:")[1].split("\n\n")[0]


def test_a_failing_notebook_gives_its_error_line(tmp_path):
    nb = _notebook(tmp_path / "bad.ipynb", 'raise ValueError("scale must be one of the three")')
    error = runner.execute(nb, tmp_path / "bad_out.ipynb", {"scale": "smoke"}, tmp_path / "bad.log")
    assert error is not None and "ValueError" in error and "scale must be one of the three" in error


def test_bad_jobs_and_scale():
    with pytest.raises(ConfigError, match="jobs must be a positive int"):
        runner.run("smoke", jobs=0)
    with pytest.raises(ConfigError, match="scale must be one of"):
        runner.run("huge")


def test_progress_line_counts_and_estimates_time_left():
    now = [0.0]
    progress = runner.Progress(["a", "b", "c", "d"], jobs=2, previous={"c": 300.0}, clock=lambda: now[0])
    for name in ("a", "b"):
        progress.begin(name)
    now[0] = 60.0
    line = progress.finish("a", 60.0, "ok")
    # left: b ran 60 of an expected 60 (mean of finished), c 300 (previous run), d 60 (mean) -> 360 s over 2 jobs
    assert line == "[1/4] a ok in 60 s (elapsed 1:00, about 3 min left)"
    now[0] = 370.0
    progress.finish("b", 370.0, "FAILED")
    progress.begin("c"), progress.begin("d")
    assert progress.finish("c", 1.0, "ok").startswith("[3/4] c ok in 1 s (elapsed 6:10, ")
    assert progress.finish("d", 2.0, "ok") == "[4/4] d ok in 2 s (elapsed 6:10)"
    unknown = runner.Progress(["x", "y"], jobs=1)
    unknown.begin("x")
    assert "time left unknown" not in unknown.finish("x", 5.0, "ok")  # y is estimated from x's time


def test_output_env_is_under_executed_scale_and_keeps_set_variables(tmp_path):
    env = runner.output_env(tmp_path, "cpu", environ={"MTLKIT_CACHE": "/elsewhere"})
    assert env == {"MTLKIT_CACHE": "/elsewhere", "MTLKIT_FIGURES": str(tmp_path / "executed" / "cpu" / "figures"),
                   "MTLKIT_RESULTS": str(tmp_path / "executed" / "cpu" / "results")}


def _checkout(tmp_path):
    """A minimal mtlkit checkout whose one notebook writes a figure, a result file and reads the cache variable."""
    root = tmp_path / "clone"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "mtlkit"\n')
    body = ('import os, pathlib\n'
            'import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as plt\n'
            'from mtlkit.viz import savefig\n'
            'fig, ax = plt.subplots(); ax.plot([0, 1]); savefig(fig, "00_fake")\n'
            'pathlib.Path(os.environ["MTLKIT_RESULTS"]).mkdir(parents=True, exist_ok=True)\n'
            'pathlib.Path(os.environ["MTLKIT_RESULTS"], "t.csv").write_text("x\\n1\\n")\n'
            'pathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)\n'
            'pathlib.Path(out_dir, "cache.txt").write_text(os.environ["MTLKIT_CACHE"])')
    _notebook(root / "notebooks" / "00_fake.ipynb", body)
    return root


@pytest.mark.timeout(120)
def test_a_run_writes_only_under_executed_and_publish_copies(tmp_path, monkeypatch):
    from mtlkit import publish

    for var in runner.OUTPUT_DIRS:
        monkeypatch.delenv(var, raising=False)
    root = _checkout(tmp_path)
    (root / "reproductions" / "results").mkdir(parents=True)
    (root / "reproductions" / "results" / "old.csv").write_text("x\n0\n")  # a committed result
    before = {p for p in root.rglob("*")}
    results = runner.run("cpu", only="notebooks", root=root)
    assert [r.error for r in results] == [None]
    new = {p.relative_to(root) for p in set(root.rglob("*")) - before}
    assert new and all(p.parts[0] == "executed" for p in new), sorted(map(str, new))
    base = root / "executed" / "cpu"
    assert (base / "figures" / "00_fake.png").is_file() and (base / "results" / "t.csv").is_file()
    assert (base / "results" / "old.csv").read_text() == "x\n0\n"  # the run starts from the committed results
    assert (base / "notebooks" / "00_fake" / "cache.txt").read_text() == str(base / "cache")
    status = json.loads((base / "run.json").read_text())
    assert status["notebooks"]["notebooks/00_fake.ipynb"]["ok"] is True
    text = runner.summary(results, root, "cpu", 12.0, 1)
    assert "1/1 notebooks ok" in text and "executed/cpu/figures/  (1 PNG files)" in text and "make publish" in text
    written = publish.publish(root, "cpu")
    assert sorted(str(p.relative_to(root)) for p in written) == ["figures/00_fake.png", "reproductions/results/old.csv",
                                                                 "reproductions/results/t.csv"]
    assert (root / "figures" / "00_fake.png").read_bytes() == (base / "figures" / "00_fake.png").read_bytes()


def test_publish_refuses_smoke_missing_and_failed_runs(tmp_path):
    from mtlkit import publish

    with pytest.raises(ConfigError, match="scale must be 'cpu' or 'paper'"):
        publish.plan(tmp_path, "smoke")
    with pytest.raises(FileNotFoundError, match="no finished run at scale='cpu'"):
        publish.plan(tmp_path, "cpu")
    (tmp_path / "executed" / "cpu").mkdir(parents=True)
    (tmp_path / "executed" / "cpu" / "run.json").write_text(json.dumps(
        {"notebooks": {"notebooks/01.ipynb": {"ok": False}}, "outputs": {}}))
    with pytest.raises(ConfigError, match=r"failed notebooks \(notebooks/01.ipynb\)"):
        publish.plan(tmp_path, "cpu")
    assert publish.plan(tmp_path, "cpu", force=True) == []


def test_publish_command_reports_a_missing_run_without_a_traceback(tmp_path):
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mtlkit"\n')
    proc = subprocess.run([sys.executable, "-m", "mtlkit", "publish"], cwd=tmp_path, capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(runner.Path(runner.__file__).parents[1])})
    assert proc.returncode == 2 and proc.stderr.startswith("error: no finished run at scale='cpu'")
    assert "Traceback" not in proc.stderr


@pytest.mark.timeout(120)
def test_a_run_leaves_git_status_empty(tmp_path, monkeypatch):
    """The runner alone (one small notebook, the repository's .gitignore): nothing tracked changes, nothing
    unignored appears. Every real notebook is run the same way by tests/test_notebooks.py (smoke scale)."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("needs git")
    for var in runner.OUTPUT_DIRS:
        monkeypatch.delenv(var, raising=False)
    root = _checkout(tmp_path)
    shutil.copy2(runner.Path(runner.__file__).parents[1] / ".gitignore", root / ".gitignore")

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args], cwd=root,
                              capture_output=True, text=True, check=True).stdout

    git("init", "-q"), git("add", "-A"), git("commit", "-q", "-m", "checkout")
    results = runner.run("smoke", only="notebooks", root=root)
    assert [r.error for r in results] == [None] and (root / "executed" / "smoke" / "run.json").is_file()
    assert git("status", "--porcelain", "--untracked-files=all") == ""
    (root / "notebooks" / "stray.txt").write_text("x")  # the check itself sees an unignored file
    assert git("status", "--porcelain", "--untracked-files=all").strip() == "?? notebooks/stray.txt"
