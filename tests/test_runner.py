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


def test_a_failing_notebook_gives_its_error_line(tmp_path):
    nb = _notebook(tmp_path / "bad.ipynb", 'raise ValueError("scale must be one of the three")')
    error = runner.execute(nb, tmp_path / "bad_out.ipynb", {"scale": "smoke"}, tmp_path / "bad.log")
    assert error is not None and "ValueError" in error and "scale must be one of the three" in error


def test_bad_jobs_and_scale():
    with pytest.raises(ConfigError, match="jobs must be a positive int"):
        runner.run("smoke", jobs=0)
    with pytest.raises(ConfigError, match="scale must be one of"):
        runner.run("huge")
