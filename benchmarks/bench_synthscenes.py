"""SynthScenes generation speed: images per second, single process, one thread.

For each resolution it renders ``--images`` consecutive samples of the ``train`` split (all five tasks unless
``--tasks`` is given) with ``torch.set_num_threads(1)``, ``--repeats`` times, and prints the median, min and max
images/s over the repeats (the machine may be shared, so look at the max as well as the median). The target is
≥ 300 images/s at 64×64 on one core, i.e. fast enough to generate on the fly inside a DataLoader. The last line
times ``cache=True`` at the first resolution: the one-off build in the constructor, then reads from memory.

Run:  .venv/bin/python benchmarks/bench_synthscenes.py [--resolutions 64 32 128] [--images 300] [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from mtlkit.data.synthetic import ALL_TASKS, SynthScenes


def images_per_second(ds: SynthScenes, repeats: int) -> list[float]:
    """Time ``repeats`` passes over the samples of ``ds``; returns images/s of each pass."""
    ds[0]  # warm-up
    n_images = len(ds)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(n_images):
            ds[i]
        rates.append(n_images / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 32, 128])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tasks", nargs="+", default=list(ALL_TASKS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"SynthScenes, 1 thread, {args.images} images x {args.repeats} repeats, tasks={' '.join(args.tasks)}")
    print(f"{'resolution':>10} {'median img/s':>13} {'min':>8} {'max':>8}")
    for res in args.resolutions:
        ds = SynthScenes("train", size=args.images, resolution=res, tasks=tuple(args.tasks), seed=0)
        rates = images_per_second(ds, args.repeats)
        print(f"{res:>10} {statistics.median(rates):>13.0f} {min(rates):>8.0f} {max(rates):>8.0f}")
    res = args.resolutions[0]
    start = time.perf_counter()
    ds = SynthScenes("train", size=args.images, resolution=res, tasks=tuple(args.tasks), seed=0, cache=True)
    build = time.perf_counter() - start
    rates = images_per_second(ds, args.repeats)
    print(f"{res:>10} {statistics.median(rates):>13.0f} {min(rates):>8.0f} {max(rates):>8.0f}   "
          f"cache=True (reads; building it took {build:.2f} s = {args.images / build:.0f} img/s)")


if __name__ == "__main__":
    main()
