"""The shared utilities: argument checks, atomic writes, the file lock, the paths."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from mtlkit import checks, files, paths
from mtlkit.errors import ConfigError


def test_int_checks_reject_bools_floats_and_out_of_range():
    assert checks.check_positive_int(np.int64(3), "n") == 3 and type(checks.check_positive_int(3, "n")) is int
    for bad in (True, 0, 1.0, "2", None):
        with pytest.raises(ConfigError, match=f"n must be a positive int, got {bad!r}"):
            checks.check_positive_int(bad, "n")
    assert checks.check_positive_int(None, "n", none_ok=True) is None
    with pytest.raises(ConfigError, match="k must be an int >= 3 or None, got 2"):
        checks.check_int(2, "k", minimum=3, none_ok=True)
    with pytest.raises(ConfigError, match=r"b must be an int in \[0, 4\], got 5"):
        checks.check_int(5, "b", minimum=0, maximum=4)
    with pytest.raises(ConfigError, match="seed must be a non-negative int, got -1"):
        checks.check_nonnegative_int(-1, "seed")
    assert checks.check_real(2, "x", positive=True) == 2.0
    for bad, msg in ((True, "real number"), (float("nan"), "finite"), (0, "> 0")):
        with pytest.raises(ConfigError, match=msg):
            checks.check_real(bad, "x", positive=True)
    with pytest.raises(ConfigError, match="flag must be True or False, got 1"):
        checks.check_bool(1, "flag")


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    files.atomic_write_text(target, "old")

    def broken(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        files.atomic_write(target, broken)
    assert target.read_text() == "old" and sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_the_lock_serialises_threads_and_is_reentrant(tmp_path):
    counter = tmp_path / "n"
    counter.write_text("0")

    def bump():
        for _ in range(20):
            with files.locked(tmp_path):
                with files.locked(tmp_path):  # re-entrant within a thread
                    value = int(counter.read_text())
                    files.atomic_write_text(counter, str(value + 1))

    workers = [threading.Thread(target=bump) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert counter.read_text() == "80"
    with files.locked(tmp_path / "run" / ".lock"):
        assert (tmp_path / "run" / ".lock").is_file()


def test_paths_follow_the_environment(tmp_path, monkeypatch):
    root = paths.repo_root(paths.package_dir())
    assert root is not None and (root / "pyproject.toml").is_file()
    assert paths.repo_root(tmp_path) is None
    monkeypatch.setenv("MTLKIT_RESULTS", str(tmp_path / "r"))
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("MTLKIT_FIGURES", str(tmp_path / "f"))
    assert (paths.results_dir(), paths.cache_dir(), paths.figures_dir()) == (tmp_path / "r", tmp_path / "c",
                                                                           tmp_path / "f")
    assert paths.paper_values_dir() == paths.reproductions_dir() / "paper_values"


def test_one_definition_of_each_datasets_tasks():
    """Only mtlkit/facts.py spells a dataset's task tuple; the loaders and the registry read it from there."""
    import ast

    from mtlkit.data import dataset_facts, get_dataset_class
    from mtlkit.facts import DATASET_FACTS

    sets = {frozenset(f.tasks) for f in DATASET_FACTS.values()} | {frozenset(f.study_tasks)
                                                                   for f in DATASET_FACTS.values()}
    names = set().union(*sets)
    spelled = []
    for path in sorted(paths.package_dir().rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2 and all(
                    isinstance(e, ast.Constant) and e.value in names for e in node.elts):
                if frozenset(e.value for e in node.elts) in sets:
                    spelled.append(f"{path.relative_to(paths.package_dir())}:{node.lineno}")
    assert {s.split(":")[0] for s in spelled} == {"facts.py"}, spelled
    for name in ("nyuv2", "cityscapes", "taskonomy"):
        cls = get_dataset_class(name)
        assert cls.ALL_TASKS == dataset_facts(name).tasks and cls.NUM_CLASSES == dataset_facts(name).classes
        assert dataset_facts(name.upper()).folder == cls.NAME
    assert dataset_facts("SynthScenes").folder is None
    with pytest.raises(ConfigError, match="unknown dataset 'mnist'"):
        dataset_facts("mnist")
