"""Every notebook: structure (parameters cell, no outputs, in sync with its jupytext pair) and a smoke run.

Notebooks are kept as jupytext ``py:percent`` pairs; the ``.py`` is what reviewers read, the ``.ipynb`` (committed
without outputs) is what users open and what papermill runs.
"""
from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import papermill as pm
import pytest

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


@pytest.mark.notebook
@pytest.mark.timeout(300)
@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=_ids)
def test_notebook_runs_at_smoke_scale(nb_path, tmp_path):
    declared = set(pm.inspect_notebook(str(nb_path)))
    params = {"scale": "smoke", "seed": 0, "device": "cpu", "out_dir": str(tmp_path / "out")}
    params = {k: v for k, v in params.items() if k in declared}
    pm.execute_notebook(str(nb_path), str(tmp_path / nb_path.name), parameters=params, kernel_name="python3",
                        cwd=str(nb_path.parent), progress_bar=False)
