"""Regenerate ``tests/data/treemtl_rankings.json`` — the recommender's rankings on the authors' four published tables.

Run on purpose only (the file is a golden):  .venv/bin/python tests/data/make_treemtl_goldens.py

For each published two-task table it stores the SVD-entropy weights, the top-20 of the unbudgeted ranking (paper
index, layout, score) and the top-5 under every budget of 1..T backbone models (MACs of the backbone's coarse
blocks at the paper's input size: 321 for NYUv2, 224 for Taskonomy). It also prints, as markdown, how the
paper's picks (Tables 1, 2, 5, 6) rank — the README's comparison tables are pasted from this output.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mtlkit.treemtl import (
    PUBLISHED, branch_point_matrix, get_block_costs, layout_cost_matrix, paper_layout, published_table, recommend,
)

OUT = Path(__file__).with_name("treemtl_rankings.json")
INPUT_SIZE = {"nyuv2": 321, "taskonomy": 224}

# The paper's picks: (table, budget in backbones or None, paper index or None if only the cost identifies it,
# the paper's FLOPs(%), #Params(%)).
PAPER_PICKS = {
    ("nyuv2", "resnet34"): [("Table 1 top-5 #1", None, 0, -66.67, -66.66),
                            ("Table 1 top-5 #2", None, 45, -36.56, -35.45),
                            ("Table 1 top-5 #3", None, 50, -46.87, -46.13),
                            ("Table 1 top-5 #4", None, 37, -34.87, -33.70),
                            ("Table 1 top-5 #5", None, 49, -46.87, -46.13)],
    ("taskonomy", "resnet34"): [("Table 2 w/o budget", None, 353, -11.31, -7.90),
                                ("Table 2 4 models", 4, 958, -22.05, -21.27),
                                ("Table 2 3 models", 3, 1046, -41.93, -41.27),
                                ("Table 2 2 models", 2, 817, -60.00, -60.00),
                                ("Table 2 1 model", 1, 0, -80.00, -80.00)],
    ("nyuv2", "mobilenetv2"): [("Table 5 top-1", None, None, -66.67, -66.67)],
    ("taskonomy", "mobilenetv2"): [("Table 6 top-1", None, None, -53.99, -44.86)],
}


def main() -> None:
    goldens = {}
    lines = []
    for (dataset, backbone), (filename, names) in PUBLISHED.items():
        table = published_table(dataset, backbone)
        costs = get_block_costs(backbone, INPUT_SIZE[dataset])
        full = recommend(table, costs, k=None)
        entry = {
            "file": filename, "task_names": list(names), "block_costs": costs.name,
            "weights": [float(w) for w in full.attrs["weights"].values()],
            "top20_paper_index": [int(i) for i in full.paper_index.head(20)],
            "top20_layout": [str(x) for x in full.layout.head(20)],
            "top20_score": [float(x) for x in full.score.head(20)],
            "budget_top5": {},
        }
        for n in ["none", *range(table.T, 0, -1)]:
            df = recommend(table, costs, budget=None if n == "none" else n, k=5)
            entry["budget_top5"][str(n)] = [int(i) for i in df.paper_index]
        goldens[f"{dataset}/{backbone}"] = entry

        # how the paper's picks rank
        rank_of = {int(i): int(r) for r, i in zip(full.index, full.paper_index)}
        bp = branch_point_matrix(table.T, table.B, order="paper")
        macs_pct = 100 * (layout_cost_matrix(bp, table.T, costs.macs) / (table.T * sum(costs.macs)) - 1)
        params_pct = 100 * (layout_cost_matrix(bp, table.T, costs.params) / (table.T * sum(costs.params)) - 1)
        lines.append(f"\n### {dataset} / {backbone} ({costs.name})\n")
        lines.append("| paper row | paper's pick | paper FLOPs% / Params% | ours FLOPs% / Params% | pick's rank "
                     "(under that budget) | our top-1 there |")
        lines.append("|---|---|---|---|---|---|")
        for label, budget, index, pf, pp in PAPER_PICKS[(dataset, backbone)]:
            sub = recommend(table, costs, budget=budget, k=None)
            ours_top = int(sub.paper_index.iloc[0])
            if index is None:   # identify by cost: every layout with the printed cost (to 0.01)
                match = np.flatnonzero((np.abs(macs_pct - pf) < 0.006) & (np.abs(params_pct - pp) < 0.006))
                if len(match) == 0:
                    lines.append(f"| {label} | no layout has {pf} / {pp} | {pf} / {pp} | — | — | #{ours_top} "
                                 f"({macs_pct[ours_top]:.2f} / {params_pct[ours_top]:.2f}) |")
                    continue
                sub_rank = {int(i): int(r) for r, i in zip(sub.index, sub.paper_index)}
                best = min(match, key=lambda i: sub_rank[int(i)])
                index, pick = int(best), f"#{int(best)} (best of {len(match)} layouts with that cost)"
            else:
                pick = f"#{index} `{paper_layout(table.T, table.B, index)}`"
            sub_rank = {int(i): int(r) for r, i in zip(sub.index, sub.paper_index)}
            lines.append(f"| {label} | {pick} | {pf:.2f} / {pp:.2f} | {macs_pct[index]:.2f} / {params_pct[index]:.2f}"
                         f" | {sub_rank[index]} (overall {rank_of[index]}) | #{ours_top} |")
    # one line per field keeps the golden file short and its diffs readable
    body = ",\n".join(f"  {json.dumps(key)}: {{\n" + ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}"
                                                               for k, v in entry.items()) + "\n  }"
                      for key, entry in goldens.items())
    OUT.write_text("{\n" + body + "\n}\n")
    print(f"wrote {OUT}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
