"""Stand-in tasks/data for the training tests, and the torchrun worker of the DDP test.

Run under torchrun: ``python -m torch.distributed.run --nproc_per_node 2 tests/ddp_worker.py OUT_DIR`` trains the
same tiny model as :func:`run_reference` (joint loader, then one loader per task) and rank 0 writes the
checkpoints under ``OUT_DIR/<mode>``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from mtlkit.backbones import get_backbone
from mtlkit.models import build_model
from mtlkit.train import TrainConfig, cleanup_distributed, seed_everything, train


class ToyScenes(Dataset):
    """Deterministic random images with a 3-class segmentation and a positive depth derived from them.

    With ``augment=True`` each sample is flipped with probability 1/2 drawn from the *global* torch RNG (like a
    real random-flip transform), which a resume must replay.
    """

    tasks = ("segment_semantic", "depth_zbuffer")

    def __init__(self, n: int = 24, size: int = 16, seed: int = 0, augment: bool = False):
        self.n, self.size, self.seed, self.augment = n, size, seed, augment

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + i)
        image = torch.randn(3, self.size, self.size, generator=g)
        seg = image.argmax(0)  # (H, W) in 0..2
        seg[0, :2] = 255  # a few ignored pixels
        depth = image.mean(0, keepdim=True).sigmoid() + 0.5  # (1, H, W) > 0
        if self.augment and torch.rand(()) < 0.5:
            image, seg, depth = image.flip(-1), seg.flip(-1), depth.flip(-1)
        return {"image": image, "segment_semantic": seg, "depth_zbuffer": depth}


class _MeanEval:
    def __init__(self, fn):
        self.fn, self.total, self.count = fn, 0.0, 0

    def update(self, pred, batch):
        self.total += float(self.fn(pred, batch)) * len(batch["image"])
        self.count += len(batch["image"])

    def compute(self):
        return {"loss": self.total / max(self.count, 1)}


class StandInTask:
    """Minimal task: ``name``, ``out_channels``, ``loss(pred, batch)`` (bilinear upsampling), ``evaluator()``.

    Args:
        name: ``"segment_semantic"`` (cross-entropy, ignore 255) or ``"depth_zbuffer"`` (L1).
        nan_at: make the loss NaN on this call (1-based), to test divergence detection.
        crash_at: raise ``RuntimeError`` on this call (1-based), to simulate an interrupted run.
    """

    def __init__(self, name: str, nan_at: int | None = None, crash_at: int | None = None):
        self.name = name
        self.out_channels = 3 if name == "segment_semantic" else 1
        self.nan_at, self.crash_at, self.calls = nan_at, crash_at, 0

    def _loss(self, pred, batch):
        target = batch[self.name]
        pred = F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)
        if self.name == "segment_semantic":
            return F.cross_entropy(pred, target, ignore_index=255)
        return F.l1_loss(pred, target)

    def loss(self, pred, batch):
        self.calls += 1
        if self.crash_at is not None and self.calls == self.crash_at:
            raise RuntimeError(f"simulated crash at call {self.calls}")
        loss = self._loss(pred, batch)
        if self.nan_at is not None and self.calls >= self.nan_at:
            loss = loss * float("nan")
        return loss

    def evaluator(self):
        return _MeanEval(self._loss)


def make_tasks(**kw) -> dict[str, StandInTask]:
    """Both stand-in tasks; ``kw`` go to the depth task (e.g. ``nan_at=3``)."""
    return {"segment_semantic": StandInTask("segment_semantic"), "depth_zbuffer": StandInTask("depth_zbuffer", **kw)}


def run_reference(mode: str, run_dir: Path, iterations: int = 4, batch: int = 8) -> None:
    """Train a batch-independent model (tiny_cnn without BN, linear heads) with SGD; save to ``run_dir``."""
    seed_everything(0)
    tasks = make_tasks()
    model = build_model(get_backbone("tiny_cnn", width=8, norm="none"), tasks, head="linear")
    data = ToyScenes(n=20, size=16)
    if mode == "joint":
        loaders = DataLoader(data, batch_size=batch, shuffle=True)
    else:
        loaders = {t: DataLoader(data, batch_size=batch, shuffle=True) for t in tasks}
    config = TrainConfig(iterations=iterations, lr=0.05, optimizer="sgd", momentum=0.9, weight_decay=0.0,
                         checkpoint_every=0, log_every=1, seed=0, loss_weights={"depth_zbuffer": 2.0})
    train(model, tasks, loaders, config, run_dir=run_dir, resume=False, progress=False)


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    for mode in ("joint", "dict"):
        run_reference(mode, out / mode)
    cleanup_distributed()
