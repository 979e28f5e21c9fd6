"""The package installs, imports light, and its command line answers."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("matplotlib", "papermill", "jupyter_client", "nbformat", "seaborn", "IPython")


def _imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_mtlkit_is_light():
    mods = _imported_after("import mtlkit; mtlkit.__version__")
    assert not [m for m in mods if m.split(".")[0] in HEAVY]
    assert "torch" not in mods, "import mtlkit alone should not even import torch"


def test_library_modules_do_not_import_plotting_or_notebook_tools():
    code = "import mtlkit.config, mtlkit.errors, mtlkit.viz, mtlkit.runner, mtlkit.__main__"
    for name in ("tasks", "metrics", "delta", "backbones", "heads", "models", "train", "treemtl", "automtl"):
        if (ROOT / "mtlkit" / f"{name}.py").exists() or (ROOT / "mtlkit" / name / "__init__.py").exists():
            code += f", mtlkit.{name}"
    mods = _imported_after(code)
    assert not [m for m in mods if m.split(".")[0] in HEAVY], sorted(m for m in mods if m.split(".")[0] in HEAVY)


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "mtlkit", "--help"], capture_output=True, text=True, check=True)
    for command in ("run", "report", "recommend", "grid"):
        assert command in out.stdout


def test_cli_rejects_unknown_command():
    proc = subprocess.run([sys.executable, "-m", "mtlkit", "frobnicate"], capture_output=True, text=True)
    assert proc.returncode != 0 and "unknown command 'frobnicate'" in proc.stderr


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in ("notebooks", "book", "test", "search", "export", "distributed"):
        wanted |= set(project["optional-dependencies"][extra])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert set(pip_section) - {"-e ."} == wanted
    assert "python=3.11" in env["dependencies"]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    assert commands[-1].strip() == "make test"
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()[1:]]
    assert commands == ["make run", "make test"], "the README must open with exactly the two commands"


def test_readme_what_if_commands_run():
    """The README's quick what-if commands work as written (the example CSV ships in examples/)."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick what-if analyses")[1].split("```bash")[1].split("```")[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert len(commands) >= 3
    for cmd in commands:
        args = cmd.split()[3:]  # drop ".venv/bin/python -m mtlkit"
        out = subprocess.run([sys.executable, "-m", "mtlkit", *args], capture_output=True, text=True, timeout=120,
                             cwd=ROOT)
        assert out.returncode == 0, f"{cmd!r} failed: {out.stderr[-500:]}"
