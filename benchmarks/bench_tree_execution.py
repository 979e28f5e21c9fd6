"""Tree execution vs one forward per task (the original AutoMTL's way), hard mode, CPU inference.

For ResNet-34 and MobileNetV2 feature extractors (``mtlkit.backbones``: torchvision, random init) with T = 3 and 5 tasks (1×1 conv heads,
8 outputs each), and three policies:

* ``all-shared, shared BN`` — ``share_bn=True``, every conv shared: the whole backbone is computed once;
* ``mixed, shared BN`` — ``share_bn=True``, the bottom half of the conv nodes (graph order) shared by all tasks, the
  top half drawn with ``sample_policy(seed=0)`` from zero logits, i.e. uniform over the node's choices (the paper's
  learned policies stay close to uniform, spec §2.6);
* ``all-shared, task BN`` — the paper's task-specific BN: tasks' tensors differ after the first BN, so only the
  first conv is shared.

It prints the best-of-N wall time (the four calls interleaved in every repeat) of ``supermodel(x)`` (tree, all tasks), of T calls ``supermodel(x, tasks=[t])``
(separate, the original's way), of the derived model's ``forward(x)`` (tree, a static fx graph), of T calls of the
plain eager backbone + head (the floor for separate forwards, no interpretation overhead), the time ratio
separate/tree, and the FLOPs ratio (sum of per-task FLOPs / tree FLOPs, from ``torch.utils.flop_counter``).

Run:  .venv/bin/python benchmarks/bench_tree_execution.py [--size 128] [--batch 1] [--repeats 9] [--threads 1]
"""
from __future__ import annotations

import argparse
import copy
import time

import torch
from torch import nn

from mtlkit.automtl import SuperModel, derive, flops_report
from mtlkit.backbones import backbone_spec, get_backbone


def backbone(name: str) -> tuple[nn.Module, int]:
    return get_backbone(name), backbone_spec(name).out_channels


def policies(sm: SuperModel) -> dict[str, dict]:
    mixed = sm.sample_policy(seed=0)
    for v in sm.nodes[: len(sm.nodes) // 2]:
        mixed[v.name] = dict.fromkeys(sm.tasks, "shared")
    return {"all-shared": sm.uniform_policy("shared"), "mixed": mixed}


def best_ms(fns: dict, repeats: int) -> dict[str, float]:
    """Fastest of ``repeats`` timed calls per function, in ms; the functions are interleaved within each repeat so
    that load from other processes on a shared machine hits all of them alike."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * min(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="input height = width")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, 3, args.size, args.size)
    print(f"torch {torch.__version__}, CPU, {args.threads} thread(s), input {tuple(x.shape)}, "
          f"best of {args.repeats} interleaved runs, hard mode, no_grad, eval")
    header = (f"{'backbone':<13}{'T':>2}  {'policy':<22}{'tree ms':>9}{'separate ms':>13}{'derived ms':>12}"
              f"{'T x plain ms':>14}{'time ratio':>12}{'FLOPs ratio':>13}")
    print(header)
    print("-" * len(header))
    for name in ("resnet34", "mobilenet_v2"):
        for T in (3, 5):
            tasks = [f"task{i}" for i in range(T)]
            for share_bn in (True, False):
                torch.manual_seed(0)
                net, channels = backbone(name)
                net.eval()
                heads = {t: nn.Conv2d(channels, 8, 1) for t in tasks}
                plain_net = copy.deepcopy(net)  # the eager original, with its in-place ReLUs
                sm = SuperModel.from_backbone(net, heads, x[:1], share_bn=share_bn).eval()
                chosen = policies(sm) if share_bn else {"all-shared": sm.uniform_policy("shared")}
                for label, policy in chosen.items():
                    sm.set_policy(policy)
                    model = derive(sm).eval()
                    with torch.no_grad():
                        ms = best_ms({
                            "tree": lambda: sm(x),
                            "separate": lambda: [sm(x, tasks=[t]) for t in tasks],
                            "derived": lambda: model(x),
                            "plain": lambda: [heads[t](plain_net(x)) for t in tasks],
                        }, args.repeats)
                    tree, separate, derived, plain = ms["tree"], ms["separate"], ms["derived"], ms["plain"]
                    flops = flops_report(sm, x)
                    full_label = f"{label}, {'shared' if share_bn else 'task'} BN"
                    print(f"{name:<13}{T:>2}  {full_label:<22}{tree:>9.1f}{separate:>13.1f}{derived:>12.1f}"
                          f"{plain:>14.1f}{separate / tree:>12.2f}{flops['ratio']:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
