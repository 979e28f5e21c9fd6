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


def test_code_changes_change_the_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLKIT_CACHE", str(tmp_path))
    before = cache.key_hash(x=1)
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "0" * 12)
    assert cache.key_hash(x=1) != before


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
