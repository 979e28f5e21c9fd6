"""Are keypoints and edges learnable at cpu scale? Trained single-task models against the constant predictor.

For each target setting (``--settings``, see :data:`SETTINGS`) it renders SynthScenes ``train``/``test`` (data seed 0),
fits the constant predictor (:mod:`mtlkit.constant`: the median, 0 for these sparse maps) and trains a single-task
``tiny_resnet`` + light head per training seed; it prints, per task and setting, the constant's ``err``, the trained
models' mean ``err`` with a 95 % t-interval, the mean of ``trained - constant`` with its interval, and whether every
seed beat the constant. The metric is the papers' L1 ``err`` in every setting; only the targets' width changes.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sparse_tasks.py [--settings ...] [--tasks ...]
      [--seeds 0 1 2 3 4] [--iterations 300]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

from mtlkit.constant import evaluate_constants
from mtlkit.data.synthetic import SynthConfig, SynthScenes
from mtlkit.models import build_model
from mtlkit.stats import mean_ci
from mtlkit.tasks import get_task
from mtlkit.train import TrainConfig, evaluate, train

#: name -> (resolution, SynthConfig options)
SETTINGS = {
    "32px default": (32, {}),
    "32px wide": (32, dict(keypoint_sigma=4.0, edge_width=3)),   # sigma 2 px, edges 3 px
    "32px sigma 1.25px": (32, dict(keypoint_sigma=2.5)),          # keypoints only: sigma 1.25 px
    "64px default": (64, {}),
    "64px wide": (64, dict(keypoint_sigma=3.0, edge_width=3)),   # sigma 3 px, edges 3 px
}
TASKS = ("keypoints2d", "edge_texture")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--n-train", type=int, default=512)
    parser.add_argument("--n-test", type=int, default=128)
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for name in args.settings:
        res, options = SETTINGS[name]
        cfg = SynthConfig(**options)
        for task_name in args.tasks:
            t0 = time.perf_counter()
            task = get_task(task_name)
            sets = {s: SynthScenes(s, size=n, resolution=res, tasks=(task_name,), config=cfg, cache=True)
                    for s, n in (("train", args.n_train), ("test", args.n_test))}
            test_loader = DataLoader(sets["test"], batch_size=64)
            const = evaluate_constants({task_name: task}, DataLoader(sets["train"], batch_size=64),
                                       test_loader)[task_name]["err"]
            errs = []
            for seed in args.seeds:
                torch.manual_seed(seed)
                model = build_model("tiny_resnet", {task_name: task}, backbone_kw={"width": args.width})
                loader = DataLoader(sets["train"], batch_size=16, shuffle=True,
                                    generator=torch.Generator().manual_seed(seed))
                train(model, {task_name: task}, loader, TrainConfig(iterations=args.iterations, seed=seed,
                                                                    checkpoint_every=0), progress=False)
                errs.append(evaluate(model, {task_name: task}, test_loader)[task_name]["err"])
            ci, diff = mean_ci(errs), mean_ci([e - const for e in errs])
            print(f"{name:13s} {task_name:12s} constant {const:.4f}  trained {ci.mean:.4f} "
                  f"[{ci.low:.4f}, {ci.high:.4f}]  trained-constant {diff.mean:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]"
                  f"  all seeds beat it: {all(e < const for e in errs)}  (n = {len(errs)}, "
                  f"{time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
