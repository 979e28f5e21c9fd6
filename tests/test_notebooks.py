"""Every notebook: structure (parameters cell, no outputs, in sync with its jupytext pair) and a smoke run.

Notebooks are kept as jupytext ``py:percent`` pairs; the ``.py`` is what reviewers read, the ``.ipynb`` (committed
without outputs) is what users open and what papermill runs.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jupytext
import nbformat
import papermill as pm
import pytest

from mtlkit import runner

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")) + sorted((ROOT / "reproductions").glob("*.ipynb"))
REQUIRED = {"scale", "seed", "device", "out_dir"}


def _ids(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_there_are_notebooks():
    assert (ROOT / "notebooks" / "00_quickstart.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=_ids)
def test_parameters_cell(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{nb_path.name}: expected exactly one cell tagged 'parameters', found {len(tagged)}"
    declared = set(pm.inspect_notebook(str(nb_path)))
    assert REQUIRED <= declared, f"{nb_path.name}: parameters cell lacks {sorted(REQUIRED - declared)}"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("# "), "title first"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=_ids)
def test_committed_without_outputs(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{nb_path.name} has outputs: strip them"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=_ids)
def test_in_sync_with_py_pair(nb_path):
    py_path = nb_path.with_suffix(".py")
    assert py_path.exists(), f"{nb_path.name} has no jupytext pair {py_path.name}"
    from_py = jupytext.read(py_path)
    from_nb = nbformat.read(nb_path, as_version=4)
    src_py = [(c.cell_type, c.source.strip()) for c in from_py.cells]
    src_nb = [(c.cell_type, c.source.strip()) for c in from_nb.cells]
    assert src_py == src_nb, f"{nb_path.name} and {py_path.name} differ: run `jupytext --sync {py_path}`"


#: the most code lines a notebook cell may hold (the parameters cell aside): longer code belongs in the library
MAX_CELL_LINES = 15
#: reproductions/ notebooks are held to the same limit (their shared steps live in mtlkit.reproduce_*)
CHECK_REPRODUCTIONS = True
SOURCES = sorted((ROOT / "notebooks").glob("[0-9]*.py")) + sorted((ROOT / "reproductions").glob("[0-9a-z]*.py"))


def code_lines(source: str) -> int:
    """The code lines of a cell: its physical lines that are neither blank nor a comment only.

    Everything else counts, one per physical line: statements, continuation lines of a bracketed expression,
    decorators, docstring lines, imports, IPython magics.
    """
    return sum(1 for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#"))


def long_cells(py_path: Path, limit: int = MAX_CELL_LINES) -> list[str]:
    """``"cell k (n lines): first line"`` for each code cell of a jupytext notebook above ``limit`` code lines."""
    found = []
    for k, cell in enumerate(jupytext.read(py_path).cells):
        if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
            n = code_lines(cell.source)
            if n > limit:
                first = next(line for line in cell.source.splitlines() if line.strip() and not
                             line.lstrip().startswith("#"))
                found.append(f"cell {k} ({n} lines): {first[:60]}")
    return found


def test_code_lines_count_code_not_comments(tmp_path):
    assert code_lines("# a comment\n\nx = 1  # trailing comment\n    # indented comment\ny = (1,\n     2)\n") == 3
    assert code_lines('def f():\n    """Doc."""\n    return 1\n') == 3
    body = "\n".join(f"x{i} = {i}" for i in range(MAX_CELL_LINES + 1))
    nb = tmp_path / "nb.py"
    nb.write_text('# %% [markdown]\n# # t\n\n# %% tags=["parameters"]\n' + body + "\n\n# %%\n" + body
                  + "\n\n# %%\n# only comments\n" + "\n".join(f"y{i} = {i}" for i in range(MAX_CELL_LINES)) + "\n")
    assert long_cells(nb) == [f"cell 2 ({MAX_CELL_LINES + 1} lines): x0 = 0"]  # the parameters cell is exempt


@pytest.mark.parametrize("py_path", SOURCES, ids=_ids)
def test_cells_hold_at_most_15_code_lines(py_path):
    if py_path.parent.name == "reproductions" and not CHECK_REPRODUCTIONS:
        pytest.skip("reproductions/ notebooks are being restructured; set CHECK_REPRODUCTIONS = True after merging")
    too_long = long_cells(py_path)
    assert not too_long, (f"{py_path.name}: cells above {MAX_CELL_LINES} code lines (move helpers to mtlkit.viz, "
                          f"split steps into cells): {too_long}")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=mtlkit-test", "-c", "user.email=test@mtlkit.invalid", *args],
                          cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="session")
def checkout_copy(tmp_path_factory) -> Path:
    """A git repository holding this checkout's tracked files (as they are on disk), committed: a fresh clone."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout (the test compares `git status` before and after)")
    copy = tmp_path_factory.mktemp("checkout") / "mtlkit"
    for name in _git(ROOT, "ls-files", "-z").split("\0"):
        if name and (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    _git(copy, "init", "-q")
    _git(copy, "add", "-A")
    _git(copy, "commit", "-q", "-m", "the checkout's tracked files")
    assert _git(copy, "status", "--porcelain", "--untracked-files=all") == ""
    return copy


@pytest.mark.notebook
@pytest.mark.timeout(300)
@pytest.mark.parametrize("nb_path", runner.discover(ROOT), ids=_ids)
def test_notebook_runs_at_smoke_scale_and_leaves_the_checkout_clean(nb_path, checkout_copy, monkeypatch):
    """Each notebook, run by the main job's runner at smoke scale in a copy of the checkout (its own mtlkit, its
    own kernel, the runner's output folders), succeeds and leaves ``git status`` empty: every file it writes is
    either under an ignored folder or nowhere in the repository."""
    for var in runner.OUTPUT_DIRS:  # the runner picks its own folders, as under `make run`
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PYTHONPATH", str(checkout_copy))  # the kernels import the copy's mtlkit (its __pycache__)
    only, stem = nb_path.parent.name, nb_path.stem
    results = [r for r in runner.run("smoke", only=only, match=stem, root=checkout_copy) if r.path.stem == stem]
    assert len(results) == 1 and results[0].error is None, (results, results and results[0].log.read_text()[-3000:])
    assert results[0].output.is_file() and checkout_copy / "executed" / "smoke" in results[0].output.parents
    status = _git(checkout_copy, "status", "--porcelain", "--untracked-files=all")
    assert status == "", f"{only}/{nb_path.name} changed tracked files or left files git does not ignore:\n{status}"
