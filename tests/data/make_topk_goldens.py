"""Regenerate ``tests/data/topk_goldens.json``: today's exact top-k search on 44 random tables (T = 3..12).

The goldens pin the results of the exact search as it was before the many-task rewrite (issue 18), so the rewrite is
checked against it: same layouts, same order, ties included. The reference search is read from a git revision
(default ``3fa2374``, the main branch when the rewrite started) and imported as a module of its own; the tables come
from :func:`mtlkit.treemtl.synthetic.synthetic_table` (seeded, a checksum of each is stored). Run only on purpose:

    .venv/bin/python tests/data/make_topk_goldens.py [--rev 3fa2374]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mtlkit.treemtl import PairScores
from mtlkit.treemtl.synthetic import fine_resnet34_macs, synthetic_table

OUT = Path(__file__).with_name("topk_goldens.json")
KINDS = ("random", "groups", "random", "ties")
BLOCKS = (5, 17, 3, 9)


def cases():
    """The 44 cases: T cycles 3..12, four kinds of table, four block counts, weights, costs, k and 3 budgets each."""
    for i in range(44):
        T = 3 + i % 10
        kind = KINDS[i % 4] if not (KINDS[i % 4] == "ties" and T > 8) else "random"
        B = BLOCKS[(i // 4) % 4]
        rng = np.random.default_rng(1000 + i)
        weights = "svde" if B >= 3 and i % 3 else [float(x) for x in rng.random(T) + 0.05]
        f = fine_resnet34_macs() / 1e9 if B == 17 and i % 2 else rng.uniform(0.1, 5.0, size=B)
        k = int(rng.integers(1, 11))
        budgets = [None, 1.0, float(rng.uniform(1.2, max(1.5, T / 2)))]
        yield dict(case=i, T=T, B=B, kind=kind, seed=i, weights=weights, f=[float(x) for x in f], k=k,
                   budgets=budgets)


def table_of(case):
    return synthetic_table(case["T"], case["B"], case["kind"], seed=case["seed"])


def budget_abs(case, budget):
    return None if budget is None else budget * float(np.sum(case["f"])) * (1 + 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="3fa2374", help="git revision holding the reference topk.py")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[2]
    source = subprocess.run(["git", "-C", str(root), "show", f"{args.rev}:mtlkit/treemtl/topk.py"],
                            capture_output=True, text=True, check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference_topk.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("reference_topk", path)
        ref = importlib.util.module_from_spec(spec)
        sys.modules["reference_topk"] = ref
        spec.loader.exec_module(ref)
    out = []
    for case in cases():
        table = table_of(case)
        scores = PairScores.from_table(table, case["weights"])
        results = []
        t0 = time.perf_counter()
        for budget in case["budgets"]:
            bp, _ = ref.search_top_k(scores, case["f"], budget_abs(case, budget), case["k"])
            results.append(bp.astype(int).tolist())
        case.update(checksum=float(table.values.sum()), results=results)
        out.append(case)
        print(f"case {case['case']:2d}: T={case['T']:2d} B={case['B']:2d} {case['kind']:6s} k={case['k']:2d} "
              f"{time.perf_counter() - t0:6.2f} s", file=sys.stderr, flush=True)
    OUT.write_text(json.dumps({"reference": f"mtlkit/treemtl/topk.py at {args.rev}", "cases": out}) + "\n")
    print(f"wrote {OUT} ({len(out)} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
