"""The run cache: same key -> same directory, any difference -> another one; finished runs are reused."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from mtlkit import cache


@dataclass(frozen=True)
class _Cfg:
    lr: float = 1e-3
    steps: int = 3


def test_same_key_same_dir_and_every_difference_changes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))
    a = cache.run_dir("stl-depth", scale="smoke", seed=0, config=_Cfg())
    assert a == cache.run_dir("stl-depth", seed=0, scale="smoke", config=_Cfg())  # keyword order is irrelevant
    assert a.parent == tmp_path and a.name.startswith("stl-depth-") and a.is_dir()
    others = {cache.run_dir("stl-depth", scale="smoke", seed=1, config=_Cfg()),
              cache.run_dir("stl-depth", scale="smoke", seed=0, config=_Cfg(lr=1e-4)),
              cache.run_dir("stl-normal", scale="smoke", seed=0, config=_Cfg())}
    assert a not in others and len(others) == 3
    info = json.loads((a / "key.json").read_text())
    assert info["kind"] == "stl-depth" and info["key"]["config"] == {"__dataclass__": "_Cfg", "lr": 1e-3, "steps": 3}
    assert info["code"] == cache.code_fingerprint()
    assert info["environment"] == cache.environment("cpu") and "mtlkit.train" in info["depends_on"]


def test_code_changes_change_the_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))
    before = cache.key_hash(x=1)
    monkeypatch.setattr(cache, "code_fingerprint", lambda *args, **kwargs: "0" * 12)
    assert cache.key_hash(x=1) != before


def _copy_package(tmp_path):
    import shutil

    from mtlkit.paths import package_dir

    copy = tmp_path / "mtlkit"
    shutil.copytree(package_dir(), copy, ignore=shutil.ignore_patterns("__pycache__", "published"))
    return copy


def test_the_key_follows_code_not_docstrings(tmp_path):
    """A docstring or comment edit keeps every cached run; a changed loss or an edit to a module the run imports
    changes the key; an edit to a module no run depends on (the report) does not."""
    copy = _copy_package(tmp_path)
    before = cache.code_fingerprint(package=copy)
    assert before == cache.code_fingerprint()  # the copy has the same code
    assert {"mtlkit.tasks", "mtlkit.train", "mtlkit.train.loop", "mtlkit.models", "mtlkit.metrics",
            "mtlkit.data.synthetic", "mtlkit.setups"} <= set(cache.code_modules())  # lazy imports by name too
    assert "mtlkit.report" not in cache.code_modules()
    tasks = copy / "tasks.py"
    source = tasks.read_text()
    edited = source.replace('"""Scalar training loss of', '"""The scalar training loss (reworded) of', 1)
    edited = edited.replace("    def loss(", "    # a new comment\n    def loss(", 1)
    assert edited != source
    tasks.write_text(edited)
    cache._closure.cache_clear()
    assert cache.code_fingerprint(package=copy) == before
    old_loss = "return _masked_mean((pred - target).abs(), valid, pred)"
    assert old_loss in edited
    tasks.write_text(edited.replace(old_loss, "return _masked_mean((pred - target) ** 2, valid, pred)"))
    cache._closure.cache_clear()
    changed = cache.code_fingerprint(package=copy)
    assert changed != before
    report = copy / "report.py"
    report.write_text(report.read_text() + "\nUNRELATED = 1\n")
    cache._closure.cache_clear()
    assert cache.code_fingerprint(package=copy) == changed
    assert cache.code_fingerprint(["mtlkit.report"], package=copy) != cache.code_fingerprint(["mtlkit.report"])
    cache._closure.cache_clear()


def test_the_key_covers_threads_device_and_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))
    base = cache.run_dir("x", seed=0)
    assert cache.run_dir("x", seed=0, device="cuda") != base
    assert cache.run_dir("x", seed=0, depends_on=["mtlkit.treemtl.tree_model"]) != base
    before = torch.get_num_threads()
    torch.set_num_threads(before + 1)
    try:
        assert cache.run_dir("x", seed=0) != base
    finally:
        torch.set_num_threads(before)
    assert cache.run_dir("x", seed=0) == base
    monkeypatch.setattr(torch, "__version__", "0.0.0")
    assert cache.run_dir("x", seed=0) != base
    with pytest.raises(ValueError, match="depends_on must be a sequence of mtlkit module names"):
        cache.run_dir("x", seed=0, depends_on="mtlkit.train")


def test_bad_keys_and_kinds(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))
    with pytest.raises(TypeError, match="plain values.*Tensor"):
        cache.run_dir("x", weights=torch.zeros(1))
    with pytest.raises(ValueError, match="plain name"):
        cache.run_dir("a/b", x=1)


def test_a_finished_cached_run_is_reused_with_its_weights(tmp_path, monkeypatch):
    from mtlkit.train import TrainConfig, train

    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))

    class Task:
        name, out_channels = "t", 1

        def loss(self, pred, batch):
            return ((pred - batch["y"]) ** 2).mean()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return {"t": x * self.w}

    data = [{"image": torch.ones(1), "y": torch.full((1,), 2.0)} for _ in range(4)]
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    config = TrainConfig(iterations=5, lr=0.1, optimizer="sgd", momentum=0.0, weight_decay=0.0)
    first = Net()
    train(first, {"t": Task()}, loader, config, run_dir=cache.run_dir("toy", config=config), progress=False)
    again = Net()
    history = train(again, {"t": Task()}, loader, config, run_dir=cache.run_dir("toy", config=config), progress=False)
    assert history.resumed_from == 5 and torch.equal(again.w, first.w) and float(first.w.detach()) != 0.0
