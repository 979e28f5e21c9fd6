"""Measured CPU latency: of whole models (derived AutoMTL models, TreeModels) and of a backbone's blocks.

FLOPs are what the papers budget; a deployed model is judged by its latency, and the two rank models differently
(depthwise convolutions are cheap in FLOPs and slow per FLOP; many small ops pay per-call overhead).

* :func:`measure_latency` — the latency of ``model(x)`` at **batch 1**: the median of ``repeats`` timed calls after
  ``warmup`` untimed ones, eval mode, ``no_grad``, with a fixed number of torch threads (recorded in the result,
  with the spread: 10th and 90th percentile).
* :func:`block_latency_table` — the latency of each block of a :class:`~mtlkit.treemtl.BlockSequence` run alone on
  its own input shape, measured once per backbone, block structure, input size, device, thread count and torch
  version and **cached** as JSON under ``$MTLKIT_CACHE/latency/`` (:func:`mtlkit.cache.cache_root`).
* :func:`latency_block_costs` turns the table into :class:`~mtlkit.treemtl.BlockCosts` (per-block cost in µs in
  the ``macs`` slot), so the recommender's own budget mechanism ranks layouts under a latency budget:
  a layout's latency is estimated as ``Σ_c |L_c| · t_c`` (each block copy runs once per forward, one after the other,
  as :class:`~mtlkit.treemtl.TreeModel` does at batch 1), the same additive model as its FLOPs. Heads are left out
  (a constant, as in the FLOP costs). :func:`recommend_within_latency` and ``python -m mtlkit recommend
  --latency-budget-ms`` use it.

Timings depend on the machine and its load; the numbers are for comparisons made on one machine in one session.
"""
from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from mtlkit.errors import ConfigError

__all__ = ["Latency", "LatencyTable", "measure_latency", "block_latency_table", "latency_block_costs",
           "layout_latency", "recommend_within_latency", "paper_blocks"]


@dataclass(frozen=True)
class Latency:
    """One latency measurement.

    Attributes:
        median_ms: median of the timed calls, milliseconds.
        p10_ms, p90_ms: 10th and 90th percentiles (the spread on a shared machine).
        repeats: timed calls; ``warmup``: untimed calls before them.
        threads: ``torch.get_num_threads()`` during the measurement.
        input_shape: the input, e.g. ``(1, 3, 224, 224)`` (batch 1).
        device: where it ran.
    """

    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int
    warmup: int
    threads: int
    input_shape: tuple[int, ...]
    device: str

    def __str__(self) -> str:
        return (f"{self.median_ms:.2f} ms (median of {self.repeats}, p10-p90 {self.p10_ms:.2f}-{self.p90_ms:.2f}; "
                f"{self.threads} thread(s), input {self.input_shape}, {self.device})")


def _positive_int(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _quantile(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@torch.no_grad()
def measure_latency(model: nn.Module, example_input: torch.Tensor | None = None, *,
                    input_shape: Sequence[int] = (1, 3, 224, 224), repeats: int = 20, warmup: int = 3,
                    threads: int = 1, device: str = "cpu") -> Latency:
    """Batch-1 latency of ``model(x)``: median of ``repeats`` timed calls (eval mode, ``no_grad``).

    Args:
        model: the module (moved to ``device``; its train/eval mode is restored afterwards).
        example_input: the input; default ``torch.zeros(input_shape)``.
        input_shape: used when ``example_input`` is None (batch 1 by default).
        repeats: timed calls (>= 1).
        warmup: untimed calls first (>= 0).
        threads: torch intra-op threads during the measurement (restored afterwards).
        device: ``"cpu"`` or a CUDA device (synchronised around every call).

    Returns:
        The :class:`Latency`.
    """
    _positive_int("repeats", repeats)
    _positive_int("warmup", warmup, 0)
    _positive_int("threads", threads)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be an nn.Module, got {type(model).__name__}")
    x = torch.zeros(tuple(input_shape)) if example_input is None else example_input
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"example_input must be a tensor, got {type(x).__name__}")
    dev = torch.device(device)
    x = x.to(dev)
    model = model.to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    was, old_threads = model.training, torch.get_num_threads()
    model.eval()
    torch.set_num_threads(threads)
    try:
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            model(x)
            sync()
            times.append(1000.0 * (time.perf_counter() - t0))
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)
        model.train(was)
    return Latency(statistics.median(times), _quantile(times, 0.1), _quantile(times, 0.9), repeats, warmup, used,
                   tuple(x.shape), str(dev))


# ------------------------------------------------------------------------------------------------ block tables
@dataclass(frozen=True)
class LatencyTable:
    """Per-block latency of a backbone at one input size, device and thread count.

    Attributes:
        name: label, e.g. ``"resnet34@224"``.
        blocks: block names.
        ms: median latency of each block alone, milliseconds.
        p90_ms: 90th percentile of each block.
        input_shape: the backbone's input, e.g. ``(3, 224, 224)``.
        device, threads, repeats: how it was measured; ``torch``: torch version; ``cached``: read from the cache.
    """

    name: str
    blocks: tuple[str, ...]
    ms: tuple[float, ...]
    p90_ms: tuple[float, ...]
    input_shape: tuple[int, ...]
    device: str
    threads: int
    repeats: int
    torch: str
    cached: bool = False

    @property
    def B(self) -> int:
        """Number of blocks."""
        return len(self.ms)

    @property
    def total_ms(self) -> float:
        """Latency of one backbone (the sum of its blocks)."""
        return float(sum(self.ms))

    def frame(self):
        """One row per block: name, ms, p90 ms, share of the backbone (DataFrame)."""
        import pandas as pd

        return pd.DataFrame({"block": self.blocks, "ms": self.ms, "p90_ms": self.p90_ms,
                             "share": [m / self.total_ms for m in self.ms]})


def _structure_key(blocks) -> str:
    parts = [(b.name, tuple(b.in_shape), tuple(b.out_shape), int(b.params), int(b.flops)) for b in blocks]
    return hashlib.sha256(repr((blocks.backbone, tuple(blocks.input_shape), parts)).encode()).hexdigest()[:16]


def _cache_file(blocks, label: str, device: str, threads: int) -> Path:
    from mtlkit.cache import cache_root

    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in label)
    size = "x".join(map(str, blocks.input_shape[1:]))
    name = f"{safe}-{size}-B{blocks.B}-{device.replace(':', '')}-t{threads}-" \
           f"torch{torch.__version__.split('+')[0]}-{_structure_key(blocks)}.json"
    return cache_root() / "latency" / name


def block_latency_table(blocks, *, repeats: int = 20, warmup: int = 3, threads: int = 1, device: str = "cpu",
                        name: str | None = None, cache: bool = True) -> LatencyTable:
    """Measure every block of a backbone alone (batch 1, its own input shape), or read the cached table.

    Args:
        blocks: a :class:`~mtlkit.treemtl.BlockSequence` (from ``branching_points`` / ``coarsen``).
        repeats, warmup, threads, device: as :func:`measure_latency`.
        name: label (default ``"<backbone>@<input size>"``).
        cache: read/write ``$MTLKIT_CACHE/latency/<key>.json`` (key: backbone, input size, B, device, threads,
            torch version, a hash of the blocks' names, shapes and costs). A table is measured once per key.

    Returns:
        The :class:`LatencyTable`.
    """
    from mtlkit.treemtl.branching import BlockSequence

    if not isinstance(blocks, BlockSequence):
        raise ConfigError(f"blocks must be a BlockSequence from branching_points()/coarsen(), got "
                          f"{type(blocks).__name__}")
    label = name or f"{blocks.backbone}@{'x'.join(map(str, blocks.input_shape[1:]))}"
    path = _cache_file(blocks, label, device, threads)
    if cache and path.is_file():
        try:
            d = json.loads(path.read_text())
            return LatencyTable(label, tuple(d["blocks"]), tuple(d["ms"]), tuple(d["p90_ms"]),
                                tuple(d["input_shape"]), d["device"], int(d["threads"]), int(d["repeats"]),
                                d["torch"], cached=True)
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache file is measured again and replaced
    ms, p90 = [], []
    for b in blocks:
        lat = measure_latency(b.module, torch.zeros(1, *b.in_shape), repeats=repeats, warmup=warmup,
                              threads=threads, device=device)
        ms.append(lat.median_ms)
        p90.append(lat.p90_ms)
    table = LatencyTable(label, tuple(b.name for b in blocks), tuple(ms), tuple(p90), tuple(blocks.input_shape),
                         device, threads, repeats, torch.__version__)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        payload = {k: v for k, v in asdict(table).items() if k not in ("cached", "name")}
        tmp.write_text(json.dumps(payload, indent=1))
        os.replace(tmp, path)
    return table


def latency_block_costs(table: LatencyTable):
    """The table as :class:`~mtlkit.treemtl.BlockCosts` for the recommender's budget: µs per block in ``macs``.

    A budget of ``n`` backbones on these costs is a latency budget of ``n · table.total_ms``.
    """
    from mtlkit.treemtl.costs import BlockCosts

    return BlockCosts(tuple(1000.0 * m for m in table.ms), None, f"{table.name} latency (us)", None,
                      f"measured: median of {table.repeats}, batch 1, {table.threads} thread(s), {table.device}")


def layout_latency(layout, table: LatencyTable) -> float:
    """Estimated latency of a layout, ``Σ_c |L_c| · t_c`` in ms (heads excluded)."""
    if layout.B != table.B:
        raise ConfigError(f"layout {layout} has B={layout.B} blocks but the latency table {table.name} has {table.B}")
    return float(sum(n * t for n, t in zip(layout.num_groups, table.ms)))


def paper_blocks(backbone: str, input_size: int = 224):
    """The paper's five coarse blocks of a registered torchvision backbone (``resnet34``, ``mobilenet_v2``).

    Returns:
        The :class:`~mtlkit.treemtl.BlockSequence` (random init: latency does not depend on the weights).
    """
    from mtlkit.backbones import get_backbone
    from mtlkit.treemtl.branching import branching_points, coarsen
    from mtlkit.treemtl.oracle import PAPER_MAPPINGS

    name = {"mobilenetv2": "mobilenet_v2"}.get(backbone.lower(), backbone.lower())
    if name not in PAPER_MAPPINGS:
        raise ConfigError(f"no paper block mapping for backbone {backbone!r}; known: resnet34, mobilenetv2 "
                          f"(or time your own blocks with block_latency_table(coarsen(branching_points(...), B)))")
    _positive_int("input_size", input_size, 32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = get_backbone(name)
    fine = branching_points(net, torch.zeros(1, 3, input_size, input_size))
    return coarsen(fine, PAPER_MAPPINGS[name])


def recommend_within_latency(table, latency: LatencyTable, budget_ms: float, flop_costs=None, k: int | None = 5,
                             **kw):
    """TreeMTL's recommendation under a latency budget (milliseconds at batch 1, heads excluded).

    Args:
        table: the :class:`~mtlkit.treemtl.TwoTaskTable`.
        latency: the backbone's :class:`LatencyTable` (same ``B`` as the table).
        budget_ms: the latency budget; must allow the all-shared layout (one backbone, ``latency.total_ms``).
        flop_costs: optional :class:`~mtlkit.treemtl.BlockCosts` for the FLOP/parameter columns of the result.
        k: number of layouts (None: all).
        **kw: ``weights``, ``method`` of :func:`~mtlkit.treemtl.recommend`.

    Returns:
        :func:`~mtlkit.treemtl.recommend`'s DataFrame with ``latency_ms`` (the estimate) and, with ``flop_costs``,
        the usual ``macs``/``flops``/``params``/``%`` columns of those costs.
    """
    from mtlkit.treemtl.costs import layout_costs
    from mtlkit.treemtl.recommend import recommend

    if isinstance(budget_ms, bool) or not isinstance(budget_ms, (int, float)) or not budget_ms > 0:
        raise ConfigError(f"latency budget must be a positive number of milliseconds, got {budget_ms!r}")
    if budget_ms < latency.total_ms * (1 - 1e-9):
        raise ConfigError(f"latency budget {budget_ms:g} ms is below the cheapest layout (everything shared: one "
                          f"backbone, {latency.total_ms:.2f} ms measured for {latency.name}, {latency.threads} "
                          f"thread(s)); give at least that")
    df = recommend(table, latency_block_costs(latency), budget=budget_ms / latency.total_ms, k=k,
                   budget_on="macs", **kw)
    out = df.drop(columns=[c for c in ("macs", "flops", "params", "macs_pct", "params_pct", "backbones")
                           if c in df])
    out["latency_ms"] = [layout_latency(lay, latency) for lay in df["layout"]]
    if flop_costs is not None:
        rows = [layout_costs(lay, flop_costs) for lay in df["layout"]]
        for col in ("macs", "flops", "params", "macs_pct", "params_pct"):
            out[col] = [r[col] for r in rows]
    out.attrs = dict(df.attrs, latency_budget_ms=float(budget_ms), latency_table=latency.name,
                     block_costs=(flop_costs.name if flop_costs is not None else latency.name))
    return out


def cli_latency_recommend(args, table, flop_costs, default_costs, weights):
    """``recommend --latency-budget-ms``: time the paper's blocks of ``--backbone`` (cached) and rank within budget."""
    if args.budget is not None:
        raise ConfigError("give at most one of --budget and --latency-budget-ms")
    if args.block_costs:
        raise ConfigError("--latency-budget-ms needs --backbone (a registered backbone whose blocks can be timed), "
                          "not --block-costs")
    name = args.backbone or (default_costs[0] if default_costs else None)
    if not name:
        raise ConfigError("--latency-budget-ms needs --backbone resnet34|mobilenetv2 (the blocks to time)")
    base, _, size = name.partition("@")
    size = int(size) if size else (args.input_size or (default_costs[1] if default_costs else None) or 224)
    blocks = paper_blocks(base, size)
    if blocks.B != table.B:
        raise ConfigError(f"the two-task table has B={table.B} branching points but {base}'s paper blocks are "
                          f"{blocks.B}")
    latency = block_latency_table(blocks, name=f"{base}@{size}")
    return recommend_within_latency(table, latency, args.latency_budget_ms, flop_costs, k=args.k, weights=weights,
                                    method=args.method)
