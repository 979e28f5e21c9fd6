"""One policy-train iteration, all tasks: ours vs the original AutoMTL scheme, ResNet-34, T = 3, 64×64, CPU.

Both sides run the library's own :class:`mtlkit.automtl.PolicyTrainer` on one ResNet-34 supermodel
(``mtlkit.backbones.get_backbone("resnet34")``, random init, the paper's ``skip="project"`` and task-specific BN,
1×1 conv heads for segmentation (19 classes), depth and normals; one copy per variant), with batches of random
images and targets:

* **original** — ``step_mode="per_task"``, ``freeze_inactive=False``, one loader per task: for each task its own
  batch, a full soft (Gumbel-softmax) forward of that task alone, backward through every parameter,
  ``zero_grad`` (zeros kept, as torch 1.8) and one optimizer step — nothing is shared between tasks;
* **ours** — ``step_mode="summed"``, ``freeze_inactive=True``, one joint loader: one tree-executed soft forward
  for all tasks, one backward that skips the gradients of the group that does not step (the weights on policy
  iterations, the logits on network iterations), one optimizer step;
* two intermediate rows (per-task with freezing, summed without) attribute the gain.

It prints the fastest of ``--repeats`` timed iterations (the variants interleaved in every repeat, so load from
other processes hits them alike) for a policy iteration (Adam on the logits, reads ``train2``) and a network
iteration (SGD on the weights, reads ``train1``), the iteration mean under the paper's alternations (CityScapes /
Taskonomy 100:400, NYUv2 50:50), and the ratios original / ours.

Run:  .venv/bin/python benchmarks/bench_policy_train.py [--batch 8] [--size 64] [--repeats 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import copy
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mtlkit.automtl import PolicyTrainer, SearchConfig, SuperModel
from mtlkit.backbones import get_backbone
from mtlkit.tasks import get_task

TASKS = {"segment_semantic": 19, "depth_zbuffer": 1, "normal": 3}


class RandomScenes(Dataset):
    """Random images and valid targets for the three tasks (fixed per index)."""

    def __init__(self, n: int, size: int):
        g = torch.Generator().manual_seed(0)
        self.image = torch.randn(n, 3, size, size, generator=g)
        self.seg = torch.randint(0, 19, (n, size, size), generator=g)
        self.depth = torch.rand(n, 1, size, size, generator=g) + 0.5
        self.normal = nn.functional.normalize(torch.randn(n, 3, size, size, generator=g), dim=1)
        self.tasks = tuple(TASKS)

    def __len__(self):
        return len(self.image)

    def __getitem__(self, i):
        return {"image": self.image[i], "segment_semantic": self.seg[i], "depth_zbuffer": self.depth[i],
                "normal": self.normal[i]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="images per task per iteration")
    parser.add_argument("--size", type=int, default=64, help="input height = width")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tasks = {t: get_task(t, **({"num_classes": k} if t == "segment_semantic" else {})) for t, k in TASKS.items()}
    heads = {t: nn.Conv2d(512, k, 1) for t, k in TASKS.items()}
    sm = SuperModel.from_backbone(get_backbone("resnet34"), heads, torch.zeros(1, 3, args.size, args.size),
                                  skip="project")
    n_params = sum(p.numel() for p in sm.parameters())
    ds = RandomScenes(4 * args.batch, args.size)

    def loader():
        return DataLoader(ds, batch_size=args.batch, shuffle=True, drop_last=True)

    joint = {"train1": loader(), "train2": loader()}
    per_task = {s: {t: loader() for t in TASKS} for s in ("train1", "train2")}
    config = SearchConfig(policy_steps=1, network_steps=1, pre_train_iterations=0)  # even i: policy, odd: network
    variants = {
        "original (per-task steps, all grads)": (per_task, "per_task", False),
        "per-task steps, frozen inactive group": (per_task, "per_task", True),
        "summed step, all grads": (joint, "summed", False),
        "ours (summed step, frozen inactive group)": (joint, "summed", True),
    }
    # one supermodel copy per variant: the original's zero-filled gradients must not be reset by another variant
    trainers = {name: PolicyTrainer(copy.deepcopy(sm), data, config.replace(step_mode=mode), tasks,
                                    freeze_inactive=freeze)
                for name, (data, mode, freeze) in variants.items()}
    times = {name: {"policy": [], "network": []} for name in trainers}
    counters = dict.fromkeys(trainers, 0)
    for rep in range(args.repeats + 1):  # the first round is a warm-up
        for phase in ("policy", "network"):
            for name, trainer in trainers.items():
                i = counters[name]
                if config.is_policy_step(i) != (phase == "policy"):
                    i += 1
                start = time.perf_counter()
                trainer.step(i)
                elapsed = time.perf_counter() - start
                counters[name] = i + 1
                if rep:
                    times[name][phase].append(elapsed)
    best = {name: {ph: 1000 * min(v) for ph, v in t.items()} for name, t in times.items()}
    print(f"resnet34 supermodel, T = {len(TASKS)}, {args.size}x{args.size}, batch {args.batch} per task, "
          f"{n_params:,} parameters, {args.threads} thread(s), best of {args.repeats}")
    print(f"{'variant':44s} {'policy ms':>10s} {'network ms':>11s} {'100:400 ms':>11s} {'50:50 ms':>9s}")
    mix = {name: (0.2 * b["policy"] + 0.8 * b["network"], 0.5 * b["policy"] + 0.5 * b["network"])
           for name, b in best.items()}
    for name, b in best.items():
        print(f"{name:44s} {b['policy']:10.1f} {b['network']:11.1f} {mix[name][0]:11.1f} {mix[name][1]:9.1f}")
    orig, ours = "original (per-task steps, all grads)", "ours (summed step, frozen inactive group)"
    print(f"ratio original / ours: policy iteration {best[orig]['policy'] / best[ours]['policy']:.2f}, "
          f"network iteration {best[orig]['network'] / best[ours]['network']:.2f}, "
          f"100:400 alternation {mix[orig][0] / mix[ours][0]:.2f}, 50:50 alternation {mix[orig][1] / mix[ours][1]:.2f}")


if __name__ == "__main__":
    main()
