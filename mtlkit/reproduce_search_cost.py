"""The steps of the AutoMTL search-cost notebook (``reproductions/automtl_search_cost``).

The notebook times a policy-train iteration of the two schemes (``original``: the authors' per-task steps,
``ours``: the tree-executed summed step) on each setting, estimates the hours of the paper's schedule from those
medians, times the whole stage of the first setting below paper scale, and records the table. It holds prose,
parameters and one call per step; the steps live here:

* :func:`begin` checks the parameters and builds each setting's setup once;
* :func:`per_iteration` times the iterations (:func:`mtlkit.automtl.experiments.time_policy_train`) and returns
  the milliseconds table and the original / ours ratios;
* :func:`stage_estimates` gives the estimate (and, where timed, the measured whole stage) per setting and scheme;
* :func:`record_search_cost` writes ``reproductions/results/automtl_search_cost.csv``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SearchCostRun", "begin", "per_iteration", "stage_estimates", "record_search_cost", "METHOD", "TABLE"]

TABLE = "automtl_search_cost"
#: the method column of each scheme's rows
METHOD = {"ours": "AutoMTL (ours: tree-executed summed step)", "original": "AutoMTL (original: per-task steps)"}
#: timed iterations per phase and scheme when the notebook leaves ``timed_iterations`` at None
DEFAULT_TIMED = {"smoke": 2, "cpu": 8, "paper": 50}


def _load() -> tuple[float, float, float]:
    """The machine's 1 / 5 / 15-minute load averages (NaN where the platform has none)."""
    return os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3


@dataclass
class SearchCostRun:
    """One execution of the notebook: its parameters, each setting's setup, the start time and the load."""

    scale: str
    seed: int
    device: str
    out: Any
    setups: dict
    timed_iterations: int
    full_stage: bool
    start: float = field(default_factory=time.perf_counter)
    load: tuple = field(default_factory=_load)

    @property
    def where(self) -> str:
        """The figure's subtitle: scale, device and, below paper scale, the stand-in and thread count."""
        return f"scale={self.scale} on {self.device}" + ("" if self.scale == "paper"
                                                          else ", SynthScenes stand-ins, 1 thread")


def begin(*, scale: str, seed: int, device: str, out_dir, data_root, backbone: str, cpu_backbone: str,
          datasets, timed_iterations, full_stage, workers: int = 0) -> SearchCostRun:
    """Check the notebook's parameters, build each setting's setup once and print what will be timed.

    Raises:
        ConfigError: a parameter outside its range (named, with what was expected and what was given).
    """
    import torch

    import mtlkit
    from mtlkit.automtl.experiments import DATASET_NAMES, DATASETS, dataset_label, experiment_setup
    from mtlkit.checks import check_positive_int
    from mtlkit.config import check_reproduction_params
    from mtlkit.errors import ConfigError
    from mtlkit.viz import use_style

    out = check_reproduction_params(scale, seed, device, out_dir, backbone=backbone, data_root=data_root)
    if not isinstance(datasets, (list, tuple)) or not datasets or any(d not in DATASETS for d in datasets):
        raise ConfigError(f"datasets must be a non-empty list of {list(DATASETS)}, got {datasets!r}")
    timed = DEFAULT_TIMED[scale] if timed_iterations is None else check_positive_int(timed_iterations, "timed_iterations")
    full = scale != "paper" if full_stage is None else full_stage
    if not isinstance(full, bool):
        raise ConfigError(f"full_stage must be None, True or False, got {full_stage!r}")
    setups = {d: experiment_setup(d, scale, device=device, backbone=backbone, cpu_backbone=cpu_backbone,
                                  data_root=data_root, workers=workers) for d in datasets}
    if scale != "paper":
        torch.set_num_threads(1)  # tiny models on a shared 2-core machine: one thread is much faster than two
    use_style()
    run = SearchCostRun(scale, seed, device, out, setups, timed, full)
    la = run.load
    print(f"mtlkit {mtlkit.__version__}, scale={scale}, seed={seed}, device={device}, torch threads "
          f"{torch.get_num_threads()}, load average {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f} (1 / 5 / 15 min)")
    for d, s in setups.items():
        print(f"  {DATASET_NAMES[d]}: {dataset_label(s)}, backbone {s.backbone}, tasks {len(s.tasks)}, "
              f"batch {s.sizes['batch']}, {s.sizes['resolution']} px")
    return run


def per_iteration(run: SearchCostRun):
    """Time both schemes on every setting: ``(timings, table of ms per iteration, original / ours ratios)``."""
    import pandas as pd

    from mtlkit.automtl.experiments import DATASET_NAMES, time_policy_train

    timings = {DATASET_NAMES[d]: time_policy_train(s, run.timed_iterations, run.seed) for d, s in run.setups.items()}
    rows = [{"setting": name, "scheme": scheme, "policy ms": 1000 * t[scheme]["policy"],
             "network ms": 1000 * t[scheme]["network"]} for name, t in timings.items() for scheme in
            ("original", "ours")]
    table = pd.DataFrame(rows).set_index(["setting", "scheme"]).unstack("scheme")
    ratios = pd.DataFrame({name: {"policy": t["original"]["policy"] / t["ours"]["policy"],
                                  "network": t["original"]["network"] / t["ours"]["network"]}
                           for name, t in timings.items()}).T.add_prefix("original / ours, ")
    return timings, table, ratios


def stage_estimates(run: SearchCostRun, timings):
    """Per setting and scheme: the paper schedule's hours and this scale's seconds estimated from the medians,
    and, for the first setting when ``full_stage``, the whole stage timed (nothing cached)."""
    import pandas as pd

    from mtlkit.automtl import SearchConfig
    from mtlkit.automtl.experiments import DATASET_NAMES, hours_estimate, policy_train_wall

    est = []
    first = next(iter(run.setups))
    for d, s in run.setups.items():
        name = DATASET_NAMES[d]
        for scheme in ("original", "ours"):
            row = {"setting": name, "scheme": scheme,
                   "paper schedule: hours (estimate)": hours_estimate(timings[name][scheme], SearchConfig.preset(d)),
                   "this scale's schedule: s (estimate)": 3600 * hours_estimate(timings[name][scheme],
                                                                                 s.base_config)}
            if run.full_stage and d == first:
                row["this scale's schedule: s (measured)"] = policy_train_wall(s, scheme, run.seed)
            est.append(row)
    return pd.DataFrame(est).set_index(["setting", "scheme"])


def record_search_cost(run: SearchCostRun, timings, ratios, estimates) -> int:
    """Write each setting's rows (per-iteration seconds, estimates, measured stage, speed-ups); the row count."""
    import pandas as pd

    from mtlkit.automtl.experiments import DATASET_NAMES, dataset_label
    from mtlkit.report import record

    wall = time.perf_counter() - run.start
    n = 0
    for d, s in run.setups.items():
        name = DATASET_NAMES[d]
        rows = []
        for scheme in ("original", "ours"):
            e = estimates.loc[(name, scheme)]
            values = {"policy_iteration_s": timings[name][scheme]["policy"],
                      "network_iteration_s": timings[name][scheme]["network"],
                      "policy_train_hours_paper_schedule_est": e["paper schedule: hours (estimate)"],
                      "policy_train_s_this_schedule_est": e["this scale's schedule: s (estimate)"]}
            measured = e.get("this scale's schedule: s (measured)")
            if measured is not None and pd.notna(measured):
                values["policy_train_s_this_schedule_measured"] = measured
            rows += [dict(setting=name, method=METHOD[scheme], task="all", backbone=s.backbone, metric=k,
                          value=float(v)) for k, v in values.items()]
        rows += [dict(setting=name, method=METHOD["ours"], task="all", backbone=s.backbone,
                      metric=f"speedup_vs_original_{phase}", value=float(ratios.loc[name, f"original / ours, {phase}"]))
                 for phase in ("policy", "network")]
        record(TABLE, rows, scale=run.scale, seed=run.seed, device=run.device, dataset=dataset_label(s), wall_s=wall)
        n += len(rows)
    print(f"recorded {n} rows; wall time {wall:.0f} s; load average now {_load()[0]:.2f}")
    return n
