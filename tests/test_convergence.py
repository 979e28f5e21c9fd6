"""The plateau criterion on fixed histories, and training until a plateau (stop, record, resume)."""
from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader

from ddp_worker import ToyScenes, make_tasks
from mtlkit.backbones import get_backbone
from mtlkit.convergence import Plateau, convergence_record, plateau_check, validation_loss
from mtlkit.errors import ConfigError
from mtlkit.heads import get_head
from mtlkit.models import MultiTaskModel
from mtlkit.train import CHECKPOINT_NAME, TrainConfig, load_checkpoint, train


def test_plateau_check_on_fixed_histories():
    it = list(range(10, 110, 10))
    falling = [1.0 / k for k in range(1, 11)]                      # still improving by ~20 % in the last 20 %
    flat = [1.0, 0.5, 0.4, 0.35, 0.33, 0.32, 0.315, 0.314, 0.313, 0.3129]
    check = plateau_check(it, falling)
    assert not check.plateaued and check.improvement == pytest.approx((1 / 8 - 1 / 10) / (1 / 8))
    check = plateau_check(it, flat)
    assert check.plateaued and check.improvement == pytest.approx((0.314 - 0.3129) / 0.314)
    assert check.window_start == pytest.approx(80.0)
    # a noisy spike inside the window does not count: best-so-far values are compared
    assert plateau_check([10, 20, 30, 40, 50], [1.0, 0.5, 0.5, 9.0, 0.499]).plateaued
    # higher is better (e.g. mIoU): rising 40 -> 50 inside the window is a 25 % improvement
    up = Plateau(higher_is_better=True, metric="seg/mIoU")
    assert not plateau_check([10, 20, 30, 40, 50], [10, 20, 30, 40, 50], up).plateaued
    assert plateau_check([10, 20, 30, 40, 50], [10, 20, 30, 40, 40.1], up).plateaued


def test_plateau_undecidable_and_bad_input():
    assert plateau_check([], []).reason == "no evaluation yet"
    assert not plateau_check([100], [1.0]).plateaued                              # nothing before the window
    assert not plateau_check([10, 20, 30, 40, 50], [1] * 5, Plateau(min_iterations=100)).plateaued
    assert math.isnan(plateau_check([100], [1.0]).improvement)
    with pytest.raises(ConfigError, match="increasing"):
        plateau_check([20, 10], [1.0, 1.0])
    with pytest.raises(ConfigError, match="window"):
        Plateau(window=1.5)
    with pytest.raises(ConfigError, match="min_improvement"):
        Plateau(min_improvement=-0.1)


def _setup():
    torch.manual_seed(0)
    model = MultiTaskModel(get_backbone("tiny_cnn", width=8),
                           {"segment_semantic": get_head("light", 16, 3, width=8),
                            "depth_zbuffer": get_head("light", 16, 1, width=8)})
    data = ToyScenes(n=8, size=16)
    return model, DataLoader(data, batch_size=4, shuffle=True), DataLoader(data, batch_size=4)


def test_train_until_plateau_stops_records_and_resumes(tmp_path):
    model, train_loader, val_loader = _setup()
    config = TrainConfig(iterations=400, lr=1e-2, eval_every=5, checkpoint_every=1000, log_every=5, seed=1)
    crit = Plateau(window=0.2, min_improvement=0.05, min_iterations=20)
    hist = train(model, make_tasks(), train_loader, config, run_dir=tmp_path, progress=False, eval_loader=val_loader,
                 until=crit)
    assert hist.stopped_at is not None and 20 <= hist.stopped_at < 400
    rec = convergence_record(hist, crit)
    assert rec["plateaued"] and rec["stopped_at"] == hist.stopped_at and rec["improvement"] < 0.05
    assert hist.eval[-1]["iteration"] == hist.stopped_at
    ckpt = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert ckpt["iteration"] == hist.stopped_at and ckpt["stopped_at"] == hist.stopped_at
    # the validation loss logged is the one validation_loss computes for the final weights
    assert hist.eval[-1]["val_loss"] == pytest.approx(validation_loss(model, make_tasks(), val_loader)["val_loss"],
                                                      rel=1e-5)
    again, _, _ = _setup()
    resumed = train(again, make_tasks(), train_loader, config, run_dir=tmp_path, progress=False,
                    eval_loader=val_loader, until=crit)
    assert resumed.stopped_at == hist.stopped_at and resumed.resumed_from == hist.stopped_at
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_until_needs_an_eval_loader():
    model, train_loader, _ = _setup()
    with pytest.raises(ConfigError, match="eval_loader"):
        train(model, make_tasks(), train_loader, TrainConfig(iterations=5), progress=False, until=Plateau())
    with pytest.raises(ConfigError, match="Plateau"):
        train(model, make_tasks(), train_loader, TrainConfig(iterations=5, eval_every=1), progress=False,
              eval_loader=train_loader, until="plateau")
