"""Where the FLOPs ranking and the latency ranking of TreeMTL layouts disagree (ResNet-34 vs MobileNetV2, 224 px).

For each backbone: the paper's five coarse blocks (``mtlkit.treemtl.latency.paper_blocks``), their MACs
(``FlopCounterMode``) and their batch-1 CPU latency, each block timed alone (``block_latency_table``: median of
``--repeats``, ``--threads`` torch threads, cached under ``$MTLKIT_CACHE/latency``). Every layout of ``--tasks``
tasks over the five blocks is costed both ways (``Σ_c |L_c| · cost_c``); the script prints

* per block: share of the backbone's MACs vs share of its latency, and ms per GMAC;
* per backbone: the rank correlation of MACs and estimated latency over all layouts (Spearman, Kendall), and the
  layout pairs the two order differently (MACs say A is cheaper, latency says B is, by more than ``--margin``);
* across backbones: MobileNetV2 / ResNet-34 as a MACs ratio and as a latency ratio;
* a check of the additive estimate: ``--measure`` layouts built as ``TreeModel`` (identity heads) and timed whole.

Run from the repository root::

    .venv/bin/python benchmarks/bench_latency.py [--repeats 10] [--threads 1] [--tasks 3] [--measure 4]

Nothing is written except the latency cache. Timings depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch
from scipy import stats
from torch import nn

from mtlkit.treemtl.latency import block_latency_table, layout_latency, measure_latency, paper_blocks
from mtlkit.treemtl import TreeModel, enumerate_layouts, layout_costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["resnet34", "mobilenetv2"])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--tasks", type=int, default=3, help="T: layouts of T tasks over the 5 blocks")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--margin", type=float, default=0.05, help="relative latency gap that counts as a disagreement")
    parser.add_argument("--measure", type=int, default=4, help="layouts timed as whole TreeModels (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    layouts = enumerate_layouts(args.tasks, 5)
    totals = {}
    for name in args.backbones:
        t0 = time.perf_counter()
        blocks = paper_blocks(name, args.size)
        table = block_latency_table(blocks, repeats=args.repeats, threads=args.threads, name=f"{name}@{args.size}")
        costs = blocks.block_costs()
        macs_total = sum(costs.macs)
        totals[name] = (macs_total, table.total_ms)
        print(f"\n== {name} @ {args.size}px, batch 1, {table.threads} thread(s), median of {table.repeats} "
              f"({'cached' if table.cached else f'measured in {time.perf_counter() - t0:.0f} s'})")
        print(f"   backbone: {macs_total / 1e9:.3f} GMACs, {table.total_ms:.1f} ms")
        print("   block                         MACs share  latency share  ms/GMAC")
        for b, m, t in zip(table.blocks, costs.macs, table.ms):
            print(f"   {b[:28]:28s}  {m / macs_total:9.3f}  {t / table.total_ms:13.3f}  {t / (m / 1e9):7.1f}")
        macs = np.array([layout_costs(lay, costs)["macs"] for lay in layouts])
        lat = np.array([layout_latency(lay, table) for lay in layouts])
        rho, tau = stats.spearmanr(macs, lat)[0], stats.kendalltau(macs, lat)[0]
        flips = []
        for i, j in itertools.combinations(range(len(layouts)), 2):
            if macs[i] < macs[j] and lat[i] > lat[j] * (1 + args.margin):
                flips.append((i, j))
            elif macs[j] < macs[i] and lat[j] > lat[i] * (1 + args.margin):
                flips.append((j, i))
        print(f"   {len(layouts)} layouts (T={args.tasks}): Spearman rho = {rho:.4f}, Kendall tau = {tau:.4f}; "
              f"{len(flips)} of {len(layouts) * (len(layouts) - 1) // 2} pairs ordered differently "
              f"(latency gap > {100 * args.margin:.0f}%)")
        flips.sort(key=lambda p: lat[p[0]] / lat[p[1]], reverse=True)
        for i, j in flips[:3]:
            print(f"     fewer MACs {layouts[i]!s:26s} {macs[i] / 1e9:6.2f} G {lat[i]:7.1f} ms  vs  "
                  f"{layouts[j]!s:26s} {macs[j] / 1e9:6.2f} G {lat[j]:7.1f} ms")
        if args.measure:
            order = np.argsort(macs)
            picks = [layouts[k] for k in order[np.linspace(0, len(order) - 1, args.measure).round().astype(int)]]
            print("   additive estimate vs the whole TreeModel timed (identity heads):")
            for lay in picks:
                heads = {f"t{i}": nn.Identity() for i in range(args.tasks)}
                model = TreeModel(blocks, lay, heads)
                got = measure_latency(model, torch.zeros(1, 3, args.size, args.size), repeats=max(3, args.repeats // 2),
                                      warmup=1, threads=args.threads)
                print(f"     {lay!s:26s} estimate {layout_latency(lay, table):7.1f} ms   measured {got.median_ms:7.1f} "
                      f"ms (p10-p90 {got.p10_ms:.1f}-{got.p90_ms:.1f})")
    if {"resnet34", "mobilenetv2"} <= set(totals):
        (m_r, t_r), (m_m, t_m) = totals["resnet34"], totals["mobilenetv2"]
        print(f"\nMobileNetV2 / ResNet-34: MACs ratio {m_m / m_r:.3f}, latency ratio {t_m / t_r:.3f} "
              f"(MobileNetV2 is {m_r / m_m:.1f}x cheaper in MACs, {t_r / t_m:.1f}x faster)")


if __name__ == "__main__":
    main()
