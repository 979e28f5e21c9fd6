"""Results of the reproductions, and the generated report that puts the papers' numbers and ours side by side.

:func:`record` appends one run's rows to ``<results dir>/<table>.csv``; :func:`write_report` (``python -m mtlkit
report``, also run at the end of ``make run``) regenerates ``REPORT.md`` from the paper values
(:mod:`mtlkit.paper`, ``reproductions/paper_values/*.csv``) and every results CSV.

* Results dir: ``$MTLKIT_RESULTS`` if set (the test suite points it at a temporary folder), else
  ``reproductions/results`` of the checkout. The report is written next to the results it summarises:
  ``reproductions/REPORT.md``, or ``$MTLKIT_RESULTS/REPORT.md`` when the results are redirected.
* A results row is ``table, setting, method, task, metric, value`` (plus any extra keys the notebook gives, e.g.
  ``layout`` or ``backbone``) and the run's ``seed, scale, device, dataset, torch, threads, git_commit, wall_s, timestamp`` (``threads``: torch's
  intra-op thread count when the row was recorded, empty if torch was not loaded).
  Rows with the same key (:data:`KEY`) are replaced, so re-running a notebook updates its rows; a run with another
  seed adds rows, and the report shows mean ± sd over seeds.
* Honest labelling: every "ours" cell names its scale and dataset. A difference to the paper is printed only where
  the experiment is the paper's: ``scale == "paper"`` on the paper's dataset, or an exact computation on the
  authors' published data (``dataset == "published two-task table"``, scale-independent). Smoke-scale rows are left
  out unless asked for; CPU-scale rows on SynthScenes are shown as stand-ins, never compared.
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import numbers
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

from mtlkit.config import check_scale
from mtlkit.checks import check_nonnegative_int
from mtlkit.files import atomic_write_text, locked
from mtlkit.paths import checkout as _checkout
from mtlkit.paths import results_dir
from mtlkit.errors import ConfigError

__all__ = ["KEY", "RUN_COLUMNS", "results_dir", "report_path", "record", "load_results", "summarize",
           "render_report", "write_report", "add_arguments", "main"]

ROW_COLUMNS = ("setting", "method", "task", "metric", "value")
RUN_COLUMNS = ("seed", "scale", "device", "dataset", "torch", "threads", "git_commit", "wall_s", "timestamp")
#: Rows with equal values in these columns are the same measurement: the latest run replaces the older one.
#: ``draw`` (empty for most rows) tells apart the random architectures one seed trains; the report averages them.
KEY = ("table", "setting", "method", "task", "metric", "seed", "scale", "device", "dataset", "draw")
_TABLE_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")


# ----------------------------------------------------------------------------------------------- where things go
def report_path() -> Path:
    """Where :func:`write_report` writes by default: ``$MTLKIT_RESULTS/REPORT.md`` if set, else
    ``<checkout>/reproductions/REPORT.md``."""
    if os.environ.get("MTLKIT_RESULTS"):
        return Path(os.environ["MTLKIT_RESULTS"]) / "REPORT.md"
    return _checkout() / "reproductions" / "REPORT.md"


def _git_commit() -> str:
    """Short HEAD commit of the checkout, ``+dirty`` if ``mtlkit/`` has uncommitted changes; ``unknown`` outside git."""
    root = _checkout()
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                "mtlkit"], capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _torch_version() -> str:
    if "torch" in sys.modules:
        return str(sys.modules["torch"].__version__)
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "none"


def _torch_threads() -> str:
    """torch's intra-op thread count, or "" if this process never imported torch (nothing was computed with it)."""
    if "torch" in sys.modules:
        return str(sys.modules["torch"].get_num_threads())
    return ""


def _number(value, where: str):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{where}: value must be a real number, got {value!r} ({type(value).__name__})")
    if isinstance(value, numbers.Integral):
        return int(value)
    x = float(value)
    if not math.isfinite(x):
        raise ConfigError(f"{where}: value must be finite, got {x!r}")
    return x


def record(table: str, rows: Iterable[Mapping], *, scale: str, seed: int, device: str, dataset: str,
           wall_s: float | None = None) -> Path:
    """Append (or replace) one run's results in ``<results dir>/<table>.csv``.

    Args:
        table: the paper table, e.g. ``"treemtl_table2"`` (a ``paper_values/tables.csv`` name; lower-case letters,
            digits and ``_``).
        rows: mappings with ``setting, method, task, metric`` (strings) and ``value`` (a finite real number);
            extra keys (e.g. ``layout``, ``backbone``) are kept as extra columns.
        scale: ``"smoke"``, ``"cpu"`` or ``"paper"``.
        seed: the run's seed (results over several seeds are averaged in the report).
        device: e.g. ``"cpu"``, ``"cuda"``.
        dataset: what the numbers were measured on: ``"SynthScenes"``, ``"NYUv2"``, ``"Taskonomy"``,
            ``"CityScapes"`` or :data:`mtlkit.paper.PUBLISHED_DATASET` for exact computations on the authors'
            published two-task tables.
        wall_s: wall time of the run in seconds (optional).

    Returns:
        The path of the CSV file.

    Raises:
        ConfigError: a bad table name, scale, seed, device or dataset, no rows, a row without a required key or with
            a reserved key, a non-numeric value, or two rows of the call with the same key.
    """
    if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table):
        raise ConfigError(f"table must be a name like 'treemtl_table2' (lower-case letters, digits, _), got {table!r}")
    check_scale(scale)
    check_nonnegative_int(seed, "seed")
    for name, value in (("device", device), ("dataset", dataset)):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    if wall_s is not None:
        wall_s = float(_number(wall_s, "wall_s"))
    run = dict(seed=str(int(seed)), scale=scale, device=device, dataset=dataset, torch=_torch_version(),
               threads=_torch_threads(), git_commit=_git_commit(), wall_s="" if wall_s is None else f"{wall_s:.1f}",
               timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    new: list[dict[str, str]] = []
    for i, row in enumerate(rows):
        where = f"record({table!r}) row {i}"
        if not isinstance(row, Mapping):
            raise ConfigError(f"{where} must be a mapping with keys {ROW_COLUMNS}, got {type(row).__name__}")
        missing = [k for k in ROW_COLUMNS if k not in row]
        if missing:
            raise ConfigError(f"{where} lacks {missing}; every row needs {list(ROW_COLUMNS)}, got {sorted(row)}")
        reserved = sorted(set(row) & ({"table"} | set(RUN_COLUMNS)))
        if reserved:
            raise ConfigError(f"{where} sets {reserved}, which record() fills in itself (pass them as arguments)")
        out = {"table": table}
        for k in ROW_COLUMNS[:-1]:
            if not isinstance(row[k], str) or not row[k]:
                raise ConfigError(f"{where}: {k} must be a non-empty string, got {row[k]!r}")
            out[k] = row[k]
        out["value"] = repr(_number(row["value"], f"{where} ({row['method']}, {row['task']}, {row['metric']})"))
        for k, v in row.items():
            if k not in ROW_COLUMNS:
                out[str(k)] = "" if v is None else str(v)
        out.update(run)
        new.append(out)
    if not new:
        raise ConfigError(f"record({table!r}): rows is empty; nothing to record")
    keys = [tuple(r.get(k, "") for k in KEY) for r in new]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ConfigError(f"record({table!r}): two rows with the same key {dict(zip(KEY, dup))}")

    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{table}.csv"
    with locked(folder):
        old: list[dict[str, str]] = []
        if path.exists():
            _check_complete(path)
            with open(path, newline="", encoding="utf-8") as f:
                old = list(csv.DictReader(f))
        replaced = set(keys)
        kept = [r for r in old if tuple(r.get(k, "") for k in KEY) not in replaced]
        base = ("table", *ROW_COLUMNS, *RUN_COLUMNS)
        extras = sorted({k for r in kept + new for k in r} - set(base))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, [*base, *extras], restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept + new)
        atomic_write_text(path, buffer.getvalue())
    return path


def _check_complete(path: Path) -> None:
    """A results file cut off mid-row is an error naming it, never silently fewer rows."""
    from mtlkit.integrity import check_csv_complete

    check_csv_complete(path, remedy=f"restore it (git checkout -- {path.name} in its folder) or re-run the "
                                    f"reproduction that writes it (python -m mtlkit run --match {path.stem})")


def load_results(table: str | None = None, *, include_smoke: bool = True):
    """Every recorded row (of one table, or of all) as a DataFrame; ``value`` as float, the rest as strings."""
    import pandas as pd

    folder = results_dir()
    files = sorted(folder.glob("*.csv")) if table is None else [folder / f"{table}.csv"]
    files = [p for p in files if p.is_file()]
    for p in files:
        _check_complete(p)
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in files]
    if not frames:
        return pd.DataFrame(columns=["table", *ROW_COLUMNS, *RUN_COLUMNS])
    df = pd.concat(frames, ignore_index=True).fillna("")
    df["value"] = df["value"].astype(float)
    if not include_smoke:
        df = df[df.scale != "smoke"].reset_index(drop=True)
    return df


def summarize(results):
    """Mean, sd (ddof 1; NaN for one seed) and n over seeds, per (table, setting, method, task, metric, scale,
    dataset, device) — and per ``backbone`` where the rows have one."""
    import pandas as pd

    if results.empty:
        return pd.DataFrame(columns=["table", "setting", "method", "task", "metric", "scale", "dataset", "device",
                                     "backbone", "mean", "sd", "n", "git_commit"])
    df = results.copy()
    if "backbone" not in df.columns:
        df["backbone"] = ""
    group = ["table", "setting", "method", "task", "metric", "scale", "dataset", "device", "backbone"]
    out = df.groupby(group, sort=False).agg(mean=("value", "mean"), sd=("value", "std"), n=("value", "size"),
                                            git_commit=("git_commit", lambda s: ", ".join(sorted(set(s)))))
    return out.reset_index()


# ------------------------------------------------------------------------------------------------------ report
def _decimals(printed: str) -> int:
    return len(printed.split(".")[1]) if "." in printed else 0


def _fmt(x: float, decimals: int | None = None) -> str:
    """A number for a table: with ``decimals``, else integers as integers and 4 significant digits otherwise."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if decimals is None:
        if float(x).is_integer():
            return f"{int(x):,}" if abs(x) >= 1e4 else str(int(x))
        decimals = max(0, 3 - int(math.floor(math.log10(abs(x))))) if x != 0 else 2
    return f"{x:.{decimals}f}".replace("-", "−")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return lines


_MARKS = {"paper": "", "paper (implied)": " ⁱ", "authors' code": " †", "third-party": " ‡", "unknown": ""}


def _comparable(scale: str, dataset: str, paper_datasets: list[str]) -> bool:
    from mtlkit.facts import EXACT_DATASETS

    if dataset in EXACT_DATASETS:
        return True
    return scale == "paper" and dataset.lower() in paper_datasets


def _ranking_section(table: str, summary, values) -> list[str]:
    """The exact ranking of the published two-task table next to the paper's picks (from the recorded rows)."""
    from mtlkit.facts import PUBLISHED_DATASET
    from mtlkit.picks import RECOMMENDER_TOP1, TREEMTL_PICKS

    rows = summary[(summary.table == table) & (summary.dataset == PUBLISHED_DATASET)]
    if rows.empty:
        return []
    cell = {(r.setting, r.method, r.metric): r for r in rows.itertuples()}
    raw = load_results(table)
    layouts = {(r.setting, r.method): r.layout for r in raw.itertuples()
               if r.dataset == PUBLISHED_DATASET and "layout" in raw.columns}

    def get(setting, method, metric, decimals=None):
        r = cell.get((setting, method, metric))
        if r is None:
            return "—"
        spread = "" if (r.n == 1 or (isinstance(r.sd, float) and (math.isnan(r.sd) or r.sd == 0))) else " (varies!)"
        return _fmt(r.mean, decimals) + spread

    def paper(setting, method, metric):
        hit = values[(values.setting == setting) & (values.method == method) & (values.metric == metric)]
        return hit.value.iloc[0].replace("-", "−") if len(hit) else "—"

    out = ["", "**Exact ranking of the authors' published two-task table** (`mtlkit.treemtl.recommend`, "
           "SVD-entropy weights as in their code; costs are backbone-only MACs relative to T independent backbones, "
           "at the paper's input size; budgets inclusive). Computed from the same data the paper's recommender used, "
           "so these rows are comparable with the paper at every scale.", ""]
    header = ["setting", "paper's pick", "layout (ours)", "paper rank", "our rank (overall)", "paper FLOPs % / Params %",
              "exact FLOPs % / Params %", "score", "our top-1 under that setting"]
    body = []
    settings_done: set[str] = set()
    for pick in TREEMTL_PICKS.get(table, ()):
        s, m = pick.setting, pick.method
        idx = get(s, m, "paper_index")
        label = m if idx in ("—", m.lstrip("#")) else f"{m} (= #{idx})"
        if (s, m, "cost_matches") in cell and idx == "—":
            label = f"{m} (no layout has this cost)"
        top = f"#{get(s, RECOMMENDER_TOP1, 'paper_index')} `{layouts.get((s, RECOMMENDER_TOP1), '')}` " \
              f"({get(s, RECOMMENDER_TOP1, 'flops_pct', 2)} / {get(s, RECOMMENDER_TOP1, 'params_pct', 2)}; " \
              f"score {get(s, RECOMMENDER_TOP1, 'score', 3)})" if s not in settings_done else "(same)"
        settings_done.add(s)
        layout = layouts.get((s, m), "")
        body.append([s, label, f"`{layout}`" if layout else "—", paper(s, m, "rank") + " ⁱ",
                     f"{get(s, m, 'rank')} ({get(s, m, 'rank_overall')})",
                     f"{paper(s, m, 'flops_pct')} / {paper(s, m, 'params_pct')}",
                     f"{get(s, m, 'flops_pct', 2)} / {get(s, m, 'params_pct', 2)}", get(s, m, "score", 3), top])
    return out + _md_table(header, body)


_HIGHER_EXTRA = {"delta_t": True, "pearson_r": True, "spearman_rho": True, "kendall_tau": True}
#: The method whose row is the floor every trained row must beat (flagged when it does not).
CONSTANT = "Constant predictor"
#: Reference methods of the paired verdicts, in order of preference (else the first row of a setting).
_REFERENCES = ("Single-Task", "Ind. Models")


def _label(task: str, metric: str) -> str:
    return metric if task == "all" else f"{task} {metric}"


def _higher_is_better(metric: str, values) -> bool | None:
    """Direction of ``metric``: the paper values' column, else :data:`mtlkit.metrics.HIGHER_IS_BETTER`; None if
    the metric has none (counts, parameters, times)."""
    if "higher_is_better" in values.columns:
        hit = set(values.higher_is_better[values.metric == metric])
        if len(hit) == 1 and hit <= {"true", "false"}:
            return hit == {"true"}
    from mtlkit.metrics import HIGHER_IS_BETTER

    return {**HIGHER_IS_BETTER, **_HIGHER_EXTRA}.get(metric)


def _results_section(table: str, raw, values, paper_datasets: list[str]) -> list[str]:
    """Per (scale, device, comparable or not) one table: rows = setting/method (dataset and backbone as columns
    where they vary), columns = task metrics.

    Cells are mean ± 95 % t-CI half-width over seeds (:func:`mtlkit.stats.mean_ci`); one seed prints the value and
    "n = 1", no CI and no verdict. Paper values stand beside ours only where the experiment is the paper's.
    """
    from mtlkit.facts import PUBLISHED_DATASET

    raw = raw[raw.dataset != PUBLISHED_DATASET].copy()
    if raw.empty:
        return []
    if "backbone" not in raw.columns:
        raw["backbone"] = ""
    raw["comparable"] = [_comparable(s, d, paper_datasets) for s, d in zip(raw.scale, raw.dataset)]
    pv = {(r.setting, r.method, r.task, r.metric): r for r in values.itertuples() if r.value}
    out: list[str] = []
    for (_, _, comparable), g in raw.groupby(["scale", "device", "comparable"], sort=False):
        out += _group_table(g, pv, values, bool(comparable))
    return out


def _group_note(g, comparable: bool) -> tuple[str, str]:
    """The heading's "where" (scale · dataset · backbone · device, the varying ones left to the columns) and note."""
    first = g.iloc[0]
    datasets, backbones = list(dict.fromkeys(g.dataset)), list(dict.fromkeys(g.backbone))
    parts = [first.scale] + (datasets if len(datasets) == 1 else []) + \
        ([backbones[0]] if len(backbones) == 1 and backbones[0] else []) + \
        ([first.device] if first.device != "cpu" else [])
    if comparable:
        note = "the paper's experiment: each cell is ours (paper's value, ours − paper)"
    elif first.scale != "paper":
        stand_in = "SynthScenes stand-in" if all("SynthScenes" in d for d in datasets) else "a stand-in"
        note = f"{stand_in}, not the paper's experiment: never compared with the paper's numbers"
    else:
        note = "not the paper's dataset: shown, not compared"
    return " · ".join(parts), note


def _column_decimals(paper_cells, ours) -> int | None:
    """Decimals of one column: 4 significant digits of the column's largest value, and at least the paper's printed
    decimals (at least 2) where it prints any; None (integers as integers) for a column of whole numbers."""
    paper = max([2] + [_decimals(v) for v in paper_cells]) if any("." in v for v in paper_cells) else None
    values = [abs(float(x)) for x in ours]
    if paper is None and all(x.is_integer() for x in values):
        return None
    top = max(values)
    own = 2 if top == 0 else min(6, max(0, 3 - int(math.floor(math.log10(top)))))
    return max(own, paper or 0)


def _group_table(g, pv, values, comparable: bool) -> list[str]:
    """The pivoted table of one group of results, its notes and its paired verdicts."""
    from mtlkit.stats import mean_ci

    where, note = _group_note(g, comparable)
    extra = [c for c in ("dataset", "backbone") if g[c].nunique() > 1]
    rows = list(dict.fromkeys(zip(g.setting, g.method, g.dataset, g.backbone)))
    cols = list(dict.fromkeys(zip(g.task, g.metric)))
    layout = {}
    if "layout" in g.columns:
        layout = {(r.setting, r.method, r.dataset, r.backbone): r.layout for r in g.itertuples() if r.layout}
    seeds: dict[tuple, dict[str, float]] = {}
    for r in g.itertuples():
        seeds.setdefault((r.setting, r.method, r.dataset, r.backbone, r.task, r.metric), {}).setdefault(
            r.seed, []).append(r.value)
    seeds = {k: {s: sum(v) / len(v) for s, v in per.items()} for k, per in seeds.items()}  # draws: their mean
    stats = {k: mean_ci(list(v.values())) for k, v in seeds.items()}
    ns = {s.n for s in stats.values()}
    printed = values[values.value != ""]
    col_dec = {(t, k): _column_decimals(printed.value[(printed.task == t) & (printed.metric == k)],
                                        g.value[(g.task == t) & (g.metric == k)]) for t, k in cols}
    const = {(s, d, b, t, k): st.mean for (s, m, d, b, t, k), st in stats.items() if m == CONSTANT}
    alone = {}  # a setting without a constant of its own (e.g. λ_reg = …) is held to the one constant of its data
    for (s, d, b, t, k), v in const.items():
        alone[(d, b, t, k)] = v if (d, b, t, k) not in alone else None
    flagged = 0
    body = []
    for row in rows:
        s, m, d, b = row
        cells = []
        for t, k in cols:
            st = stats.get((*row, t, k))
            if st is None:
                cells.append("—")
                continue
            p, dec = pv.get((s, m, t, k)), col_dec.get((t, k))
            cell = _fmt(st.mean, dec) + (f" ± {_fmt(st.half_width, dec)}" if st.n > 1 else "")
            if len(ns) > 1:
                cell += f" (n={st.n})"
            if comparable and p is not None:
                diff = _fmt(st.mean - p.number, dec)
                cell += f" (paper {p.value.replace('-', '−')}{_MARKS.get(p.source_kind, '')}, " \
                        f"{diff if diff.startswith('−') else '+' + diff})"
            up, c = _higher_is_better(k, values), const.get((s, d, b, t, k), alone.get((d, b, t, k)))
            if m != CONSTANT and c is not None and up is not None and (st.mean < c if up else st.mean > c):
                cell += " ⚠"
                flagged += 1
            cells.append(cell)
        lead = [s, m] + [d for c in extra if c == "dataset"] + [b for c in extra if c == "backbone"]
        if layout:
            lead.append(f"`{layout[row]}`" if layout.get(row) else "—")
        body.append(lead + cells)
    single = max(s.n for s in stats.values()) < 2
    seeds_note = ("n = 1 (one seed): single values, no confidence interval and no winner" if single else
                  "mean ± 95 % CI half-width (Student t, `mtlkit.stats.mean_ci`) over seeds, "
                  + (f"n = {min(ns)}" if len(ns) == 1 else "n per cell"))
    if not single and any(k == "delta_t" for _, k in cols):
        seeds_note += ("; Δt is computed per seed against the same seed's single-task reference, and its mean and CI "
                       "are over those per-seed Δt")
    out = ["", f"**Results: {where}** — {note}; {seeds_note}:", ""]
    header = ["setting", "method", *extra] + (["layout"] if layout else []) + [_label(t, k) for t, k in cols]
    out += _md_table(header, body)
    if not single:
        out += _verdicts(rows, cols, seeds, values)
    if flagged:
        out += ["", f"⚠ {flagged} cell(s) worse than the `{CONSTANT}` row of the same setting: those numbers are "
                    "below what predicting a constant gives."]
    return out + _convergence_note(g)


def _convergence_note(g) -> list[str]:
    """How many runs of a group plateaued (columns of :func:`mtlkit.recipes.convergence_columns`), if recorded."""
    runs = g[g.plateaued.astype(str).isin(["True", "False"])] if "plateaued" in g.columns else g.iloc[:0]
    if runs.empty:
        return []
    runs = runs.drop_duplicates(["seed", "setting", "method"])
    left, stops = runs[runs.plateaued.astype(str) != "True"], runs.stopped_at.astype(float)
    line = (f"Trained until the validation loss plateaued (`mtlkit.convergence.Plateau`: the last 20 % of training "
            f"improved it by < 2 %): {len(runs) - len(left)} of {len(runs)} runs did, stopping at iterations "
            f"{int(stops.min())}–{int(stops.max())}.")
    if len(left):
        line += " ⚠ Not plateaued at the cap: " + ", ".join(f"{r.method} (seed {r.seed})" for r in left.itertuples())
    return ["", line]


def _verdicts(rows, cols, seeds, values) -> list[str]:
    """Paired Wilcoxon verdicts of every method against its setting's reference, Holm within the table."""
    from mtlkit.stats import holm, paired_test, verdict

    tests = []
    for s, d, b in dict.fromkeys((s, d, b) for s, _, d, b in rows):
        methods = [m for s2, m, d2, b2 in rows if (s2, d2, b2) == (s, d, b)]
        ref = next((r for r in _REFERENCES if r in methods), methods[0])
        for m in methods:
            for t, k in cols if m != ref else ():
                up = _higher_is_better(k, values)
                a, r = seeds.get((s, m, d, b, t, k), {}), seeds.get((s, ref, d, b, t, k), {})
                common = sorted(set(a) & set(r), key=int)
                if up is not None and len(common) >= 2:
                    test = paired_test([a[x] for x in common], [r[x] for x in common])
                    tests.append((s, m, ref, _label(t, k), up, test))
    if not tests:
        return []
    p_holm = holm([t.p for *_, t in tests])
    body = [[s, f"{m} vs {ref}", label, verdict(m, ref, t.mean_diff, float(p), t.n, higher_is_better=up)]
            for (s, m, ref, label, up, t), p in zip(tests, p_holm)]
    head = ("Paired verdicts (Wilcoxon signed-rank over shared seeds, Holm within this table; `A > B` means A is "
            "better)")
    small = min(t.n for *_, t in tests)  # 2 / 2^n: the exact two-sided test's smallest p-value
    if 2 / 2 ** small >= 0.05:
        head += (f"; with n = {small} paired seeds the smallest possible Wilcoxon p is 2 / 2^{small} = "
                 f"{2 / 2 ** small:.4f} ≥ 0.05, so such a comparison cannot reject: 'not distinguishable' there says "
                 "the seeds are too few to tell, not that the methods are equal")
    return ["", head + ":", ""] + _md_table(["setting", "comparison", "metric", "verdict"], body)


def _paper_section(table: str, values) -> list[str]:
    """The paper's printed values, pivoted like ours (rows = setting/method, columns = task metrics)."""
    known = values[values.value != ""]
    if known.empty:
        return []
    rows = list(dict.fromkeys(zip(known.setting, known.method)))
    cols = list(dict.fromkeys(zip(known.task, known.metric)))
    cell = {(r.setting, r.method, r.task, r.metric): r.value.replace("-", "−") + _MARKS.get(r.source_kind, "")
            for r in known.itertuples()}
    body = [[s, m] + [cell.get((s, m, t, k), "—") for t, k in cols] for s, m in rows]
    return ["", f"**The paper's values** ({len(known)} printed cells of `paper_values/{table}.csv`; sources and "
                "notes are in the file):", ""] + _md_table(["setting", "method"] + [_label(t, k) for t, k in cols],
                                                           body)


#: TreeMTL Table 3's metrics: shown in its γ table (the generic table leaves them out).
_GAMMA = ("pearson_r", "spearman_rho", "kendall_tau", "n_layouts")


def _gamma_section(raw, values) -> list[str]:
    """TreeMTL Table 3 as the paper prints it (γ per setting and method), our rows labelled beneath: γ with its CI
    over seeds, Spearman ρ, Kendall τ and the number of layouts ranked."""
    from mtlkit.stats import mean_ci

    known = values[(values.value != "") & (values.metric == "pearson_r")]
    ours = raw[raw.metric.isin(_GAMMA)]
    if known.empty and ours.empty:
        return []
    methods = list(dict.fromkeys([*known.method, *ours.method[ours.metric == "pearson_r"]]))
    body = []
    for s in dict.fromkeys(known.setting):
        hit = {r.method: r.value.replace("-", "−") + _MARKS.get(r.source_kind, "")
               for r in known[known.setting == s].itertuples()}
        body.append([s, "paper"] + [hit.get(m, "—") for m in methods])

    def cell(g, metric, digits=3):
        v = g.value[g.metric == metric].tolist()
        if not v:
            return None
        st = mean_ci(v)
        return _fmt(st.mean, digits if metric != "n_layouts" else None) + (
            f" ± {_fmt(st.half_width, digits)}" if st.n > 1 else "")

    for (s, scale, dataset), g in ours.groupby(["setting", "scale", "dataset"], sort=False):
        cells = []
        for m in methods:
            gm = g[g.method == m]
            gamma = cell(gm, "pearson_r")
            extra = [f"{name} {c}" for name, metric in (("ρ", "spearman_rho"), ("τ", "kendall_tau"),
                                                         ("layouts", "n_layouts")) if (c := cell(gm, metric))]
            n = int((gm.metric == "pearson_r").sum())
            cells.append("—" if gamma is None else f"{gamma} ({'; '.join(extra + [f'n = {n}'])})")
        label = "ours" if _comparable(scale, dataset, ["nyuv2", "taskonomy"]) else \
            f"ours: {scale}-scale {dataset} stand-in, not comparable"
        body.append([s, label] + cells)
    return ["", "**Pearson's γ, the paper's and ours** (paper rows as printed; our rows are measured on the setting "
                "they name, never differenced with the paper's; n = 1 means one seed: no CI, no winner):", ""] + \
        _md_table(["setting", "source"] + [f"{m} γ" for m in methods], body)


def _known_errors_section(table: str) -> list[str]:
    from mtlkit.paper import known_errors

    errs = known_errors(table)
    if errs.empty:
        return []
    out = ["", f"**Cells the paper gets wrong** ({len(errs)} in `paper_values/known_errors.csv`, each checked by "
               "`tests/test_paper_values.py`):", ""]
    groups: dict[tuple[str, str], list] = {}
    for r in errs.itertuples():
        groups.setdefault((r.kind, r.reason), []).append(r)
    for (kind, reason), rs in groups.items():
        if len(rs) > 8:  # long lists: per method, how many cells (the file has every one)
            per_method: dict[str, list[str]] = {}
            for r in rs:
                per_method.setdefault(r.method, []).append(f"{r.task}/{r.metric}")
            summary = "; ".join(f"{m} ({len(c)} cells: {', '.join(c)})" for m, c in per_method.items())
            out.append(f"- *{kind}* — {reason}: {summary}; printed and recomputed values in the file.")
            continue
        cells = "; ".join(f"{r.method} {r.task}/{r.metric} {r.printed.replace('-', '−')}"
                          + (f" (recomputed {r.recomputed.replace('-', '−')})" if r.recomputed else "") for r in rs)
        out.append(f"- *{kind}* — {reason}: {cells}.")
    return out


_DIFFERENCE_SOURCES = (
    ("README.md", "the kit (README.md)"),
    ("mtlkit/treemtl/README.md", "TreeMTL recommender (mtlkit/treemtl/README.md)"),
    ("mtlkit/automtl/README.md", "AutoMTL compiler (mtlkit/automtl/README.md)"),
    ("reproductions/README.md", "the reproductions (reproductions/README.md)"),
)


def _differences(root: Path) -> list[str]:
    """The "Differences to the paper(s)" sections of the READMEs, verbatim (headings demoted)."""
    out = ["", "## Differences to the papers (every deliberate departure, collected from the READMEs)"]
    for rel, title in _DIFFERENCE_SOURCES:
        path = root / rel
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        match = re.search(r"^## Differences to the paper.*?$\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
        out += ["", f"### {title}", ""]
        if match is None:
            out.append(f"(no section starting '## Differences to the paper' in {rel})")
            continue
        body = match.group(1).strip("\n")
        out += [re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", line) for line in body.splitlines()]
    return out


_BLOCK_START = re.compile(r"^\s*([-*+] |\d+[.)] |#+ |\||```|>|<!--)")


def _unwrap(lines: list[str]) -> list[str]:
    """Markdown with each paragraph or list item on one line (a wrapped continuation joins the line before it);
    code fences are left as they are. The rendered text is the same, in fewer lines."""
    out: list[str] = []
    fenced = False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append(line)
        elif fenced or not line.strip() or _BLOCK_START.match(line) or not out or not out[-1].strip() \
                or _BLOCK_START.match(out[-1]) and not re.match(r"^\s*([-*+]|\d+[.)]) ", out[-1]):
            out.append(line)
        else:
            out[-1] = out[-1].rstrip() + " " + line.strip()
    return out


def render_report(*, include_smoke: bool = False, gpu_hours: bool = True) -> str:
    """The report as markdown (see the module docstring); deterministic for given paper values and results.

    ``gpu_hours=False`` leaves out the paper-scale GPU-hours estimate (:mod:`mtlkit.compute`; it builds the paper's
    models on the meta device, a few seconds the first time).
    """
    from mtlkit.paper import list_tables, paper_values, reproductions_dir

    repro = reproductions_dir()
    tables = list_tables()
    results = load_results(include_smoke=include_smoke)
    summary = summarize(results)
    lines = ["# Reproductions: the papers' numbers and ours", "",
             "<!-- generated by `python -m mtlkit report`; do not edit by hand -->", "",
             "Generated by `python -m mtlkit report` (also the last step of `make run`) from "
             "`reproductions/paper_values/*.csv` (typed from the papers) and `reproductions/results/*.csv` (written "
             "by the notebooks). Do not edit it: delete it and run `make run` (or `python -m mtlkit report`) to "
             "recreate it. Every recorded row, in long format, stays in `reproductions/results/*.csv`. "
             "**How to read it.** Per experiment: the paper's values in their own table, then ours, one table per "
             "scale with rows = setting/method and columns = task metrics. Every \"ours\" table names its scale and "
             "dataset. Paper values stand beside ours (with ours − paper) only where the experiment is the paper's: "
             "`scale=\"paper\"` on the paper's dataset, or an exact computation (the ranking of the authors' "
             "published two-task tables, architecture counts, the published policy), which is compared at every scale. "
             "CPU-scale rows are SynthScenes stand-ins (tiny backbones, minutes of training) that prove the pipeline; "
             "they are never compared with the papers' numbers. Trained cells are mean ± 95 % CI half-width over "
             "seeds with n, and paired verdicts (Wilcoxon, Holm) where several seeds allow them; a table with n = 1 "
             "shows single values, no CI and no winner. ⚠ marks a trained cell worse than its table's "
             f"`{CONSTANT}` row. Smoke-scale rows are " + ("included (as asked)." if include_smoke else
                                                            "left out.") + " Marks on paper values: "
             "ⁱ implied by the table (e.g. a row's position), not printed; † from the authors' code or notebooks, "
             "not the paper's text; ‡ third-party extraction, unreliable. Unknown paper cells are empty (—).", ""]
    status = []
    estimate = {}
    if gpu_hours:
        from mtlkit.compute import hours_by_table

        estimate = {t: f"{models} · {pflop:,.0f} · {hours:,.1f}" for t, models, pflop, hours in hours_by_table()}
    for t in tables.itertuples():
        values = paper_values(t.table) if (repro / "paper_values" / f"{t.table}.csv").is_file() else None
        n_known = 0 if values is None else int((values.value != "").sum())
        n_all = 0 if values is None else len(values)
        rs = results[results.table == t.table]
        scales = ", ".join(f"{s} ({int((rs.scale == s).sum())})" for s in ("smoke", "cpu", "paper")
                           if (rs.scale == s).any()) or "none yet"
        notebook = f"`{t.notebook}`" if t.notebook and (repro / t.notebook).is_file() else "not written yet"
        known = f"{n_known} / {n_all}" if n_all else "none in the available texts"
        status.append([f"[{t.paper} {t.label}](#{_anchor(t)})", notebook, known, scales]
                      + ([estimate.get(t.table, "—")] if gpu_hours else []))
    lines += ["## Status", ""]
    lines += _md_table(["table", "notebook", "paper values known / cells", "our result rows by scale"]
                       + (["paper scale: models · training PFLOP · GPU hours (estimate)"] if gpu_hours else []), status)

    for t in tables.itertuples():
        values_file = repro / "paper_values" / f"{t.table}.csv"
        values = paper_values(t.table) if values_file.is_file() else _no_values()
        rs = summary[summary.table == t.table]
        lines += ["", f"## {_heading(t)}", "", f"*{t.title}* — dataset {t.dataset}, backbone {t.backbone}."]
        if t.note:
            lines.append(f"Note: {t.note}.")
        raw = results[results.table == t.table]
        if not raw.empty:
            commits = ", ".join(sorted(set(raw.git_commit)))
            torches = ", ".join(sorted(set(raw.torch)))
            walls = []
            for scale in ("smoke", "cpu", "paper"):
                w = [float(x) for x in raw.wall_s[(raw.scale == scale) & (raw.wall_s != "")]]
                if w:
                    walls.append(f"{scale} {_duration(max(w))}")
            lines.append(f"Results: {len(raw)} rows, seeds {', '.join(sorted(set(raw.seed), key=int))}, commit(s) "
                         f"{commits}, torch {torches}, last recorded {max(raw.timestamp)}"
                         + (f"; longest recorded run wall time: {', '.join(walls)}." if walls else "."))
        else:
            lines.append("No results recorded yet" + (" (the notebook has not been run)." if t.notebook else "."))
        datasets = [d.strip().lower() for d in t.dataset.split(";")]
        lines += _ranking_section(t.table, rs, values)
        lines += _gamma_section(raw, values) if t.table == "treemtl_table3" else _paper_section(t.table, values)
        lines += _results_section(t.table, raw[~raw.metric.isin(_GAMMA)] if t.table == "treemtl_table3" else raw, values, datasets)
        lines += _known_errors_section(t.table)

    other = sorted(set(results.table) - set(tables.table))
    if other:
        lines += ["", "## Other results (tables not in paper_values/tables.csv)", ""]
        for name in other:
            lines += ["", f"### {name}"]
            lines += _results_section(name, results[results.table == name], _no_values(), [])
    if gpu_hours:
        lines += _gpu_hours_section()
    lines += _differences(repro.parent)
    return "\n".join(_unwrap("\n".join(lines).splitlines())).rstrip() + "\n"


def _gpu_hours_section() -> list[str]:
    """How the Status table's expected GPU hours at paper scale are estimated (:mod:`mtlkit.compute`)."""
    from mtlkit.compute import ASSUMED_TFLOPS, TRAIN_FACTOR

    return ["", "## Expected GPU hours at paper scale (an estimate, not a measurement)", "",
            "The last column of the [Status](#status) table: models trained, training PFLOP and expected GPU hours "
            "per table at paper scale. Computed by `mtlkit.compute.gpu_hours()`: Σ over the table's training runs of "
            f"iterations × batch × {TRAIN_FACTOR} × forward FLOPs per image (counted with `torch.utils.flop_counter` "
            f"on the paper's models, ASPP heads included), at an assumed sustained {ASSUMED_TFLOPS:g} TFLOP/s (about "
            "half an RTX 8000's fp32 peak; pass your GPU's figure to `gpu_hours(tflops=...)`). Data loading and "
            "evaluation are not counted; models that two tables share are trained once at run time (run cache) but "
            "counted in both rows. Once a table runs at `scale=\"paper\"`, its measured wall time appears in its "
            "section above."]


def _no_values():
    import pandas as pd

    from mtlkit.paper import PAPER_VALUE_COLUMNS

    return pd.DataFrame(columns=[*PAPER_VALUE_COLUMNS, "number", "decimals"], dtype=str)


def _heading(t) -> str:
    return f"{t.paper} {t.label} (`{t.table}`)"


def _anchor(t) -> str:
    """GitHub's anchor of :func:`_heading`: lower-case, punctuation dropped, spaces to hyphens."""
    text = _heading(t).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def write_report(path: str | Path | None = None, *, include_smoke: bool = False) -> Path:
    """Regenerate the report (atomically).

    Args:
        path: target file; default :func:`report_path` (``reproductions/REPORT.md``).
        include_smoke: also show smoke-scale rows (normally left out: they only prove the code path).

    Returns:
        The path written.
    """
    target = Path(path) if path is not None else report_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(include_smoke=include_smoke)
    atomic_write_text(target, text)
    return target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default=None, help="file to write (default reproductions/REPORT.md, or "
                                                       "$MTLKIT_RESULTS/REPORT.md when MTLKIT_RESULTS is set)")
    parser.add_argument("--include-smoke", action="store_true", help="also show smoke-scale rows")


def main(args: argparse.Namespace) -> int:
    path = write_report(args.output, include_smoke=args.include_smoke)
    print(f"[mtlkit report] wrote {path}")
    return 0
