"""The task accuracy estimator (paper §3.1, Eq. 1–2; docs/treemtl.md §5–§8).

* :class:`TwoTaskTable` — the measured two-task results: ``value(t, u, b)`` = relative performance (%) of task ``t``
  in the two-task model of ``(t, u)`` that branches at block ``b`` (rows ``b = 0..B``), read from the authors'
  published CSVs or from the project's own two-task grid (same format).
* :func:`svd_entropy` and :func:`task_weights` — SVD-entropy task weights exactly as the authors' code computes them
  (antropy 0.1.4 defaults: embedding order 3, delay 1, log base 2, singular values normalised by their sum, entropy
  divided by ``log2(order)``; input = rows ``1..B`` of each column; ``w_t = 1 - mean_u SVDE_tu``, then ``w / sum(w)``).
* estimates and score: task ``t``'s estimate for a layout = mean over its ``T-1`` partners ``u`` of
  ``value(t, u, b_tu(layout))`` (the *associated* two-task models); score = ``weights · estimates``.
* :class:`PairScores` — the same score written as a sum over task pairs (each pair contributes through its own
  branching point only), with an exact fixed-point copy used for ranking (see :meth:`PairScores.ranking_keys`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from mtlkit.facts import DATASET_FACTS
from mtlkit.errors import ConfigError, DataError, unknown_name
from mtlkit.treemtl.layout import Layout, pairs

_COLUMN = re.compile(r"^\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)-([01])$")

PUBLISHED_DIR = Path(__file__).resolve().parents[1] / "data" / "published"
NYUV2_TASKS = DATASET_FACTS["nyuv2"].tasks
TASKONOMY_TASKS = DATASET_FACTS["taskonomy"].tasks
#: The authors' published tables (``mtlkit/data/published/README.md``): (dataset, backbone) -> (file, task names).
PUBLISHED = {
    ("nyuv2", "resnet34"): ("NYUv2_2task_metrics_resnet_1129_val_acc__Sheet1.csv", NYUV2_TASKS),
    ("nyuv2", "mobilenetv2"): ("NYUv2_2task_metrics_mobilenet_0227_val_acc__Sheet1.csv", NYUV2_TASKS),
    ("taskonomy", "resnet34"): ("Taskonomy_2task_metrics_resnet_0123_val_acc__Sheet1.csv", TASKONOMY_TASKS),
    ("taskonomy", "mobilenetv2"): ("Taskonomy_2task_metrics_mobilenet_0203_val_acc__Sheet1.csv", TASKONOMY_TASKS),
}


@dataclass(frozen=True, eq=False)
class TwoTaskTable:
    """Two-task results for ``T`` tasks and branching points ``0..B``.

    Args:
        values: ``(T, T, B+1)`` array; ``values[t, u, b]`` = task ``t``'s relative performance (%) in the two-task
            model of ``t`` and ``u`` with branching point ``b``. The diagonal is ignored.
        task_names: one name per task (default ``task0, task1, ...``).
        source: where the numbers come from (a path, for messages).
    """

    values: np.ndarray
    task_names: tuple[str, ...] = ()
    source: str = ""
    T: int = field(init=False, repr=False)
    B: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        v = np.array(self.values, dtype=np.float64)
        if v.ndim != 3 or v.shape[0] != v.shape[1] or v.shape[2] < 2:
            raise ConfigError(f"TwoTaskTable: values must have shape (T, T, B+1) with B >= 1, got {v.shape}")
        T = v.shape[0]
        if T < 2:
            raise ConfigError(f"TwoTaskTable: T (number of tasks) must be >= 2, got {T}")
        off = ~np.eye(T, dtype=bool)
        bad = np.argwhere(~np.isfinite(v) & off[:, :, None])
        if len(bad):
            t, u, b = bad[0]
            raise DataError(f"TwoTaskTable{_src(self.source)}: value of task {t} with partner {u} at branching "
                            f"point {b} is {v[t, u, b]}; expected a finite number")
        names = tuple(str(n) for n in self.task_names) if self.task_names else tuple(f"task{t}" for t in range(T))
        if len(names) != T:
            raise ConfigError(f"TwoTaskTable: task_names has {len(names)} names {list(names)} but the table has "
                              f"{T} tasks")
        if len(set(names)) != T:
            raise ConfigError(f"TwoTaskTable: task_names must be distinct, got {list(names)}")
        if not all(n.strip() for n in names):
            raise ConfigError(f"TwoTaskTable: task_names: expected non-empty names, got {list(names)}")
        v.setflags(write=False)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "task_names", names)
        object.__setattr__(self, "T", T)
        object.__setattr__(self, "B", v.shape[2] - 1)

    # ------------------------------------------------------------------------------------------- loading
    @classmethod
    def from_frame(cls, df: pd.DataFrame, task_names: Sequence[str] | None = None,
                   source: str = "") -> "TwoTaskTable":
        """Build a table from a frame in the published format.

        Args:
            df: index = branching point ``0..B``; one column ``"(a, b)-i"`` per task pair ``a < b`` and member
                ``i`` (0 -> task a, 1 -> task b). ``a``/``b`` are task indices, or task names if ``task_names`` is
                given (then a name must be one of them).
            task_names: the tasks' names, in index order; their number fixes T.
            source: a label for error messages.

        Returns:
            The table.

        Raises:
            DataError: unreadable column names, a missing pair/member column or branching-point row, a NaN or
                non-numeric value, a task index outside the names given.
        """
        src = _src(source)
        names = list(task_names) if task_names is not None else None
        entries: dict[tuple[int, int, int], str] = {}
        for col in df.columns:
            m = _COLUMN.match(str(col))
            if not m:
                raise DataError(f"two-task table{src}: column {col!r} is not of the form '(a, b)-i'")
            a, b = (_task_id(x, names, col, src) for x in m.group(1, 2))
            if a >= b:
                raise DataError(f"two-task table{src}: column {col!r} must name its tasks in increasing index order")
            key = (a, b, int(m.group(3)))
            if key in entries:
                raise DataError(f"two-task table{src}: columns {entries[key]!r} and {col!r} hold the same entry")
            entries[key] = col
        if not entries:
            raise DataError(f"two-task table{src}: no '(a, b)-i' columns found")
        T = len(names) if names is not None else max(b for _, b, _ in entries) + 1
        missing = [f"({a}, {b})-{i}" for a, b in pairs(T) for i in (0, 1) if (a, b, i) not in entries]
        if missing:
            label = "" if names is None else f" (tasks: {names})"
            raise DataError(f"two-task table{src}: missing column(s) {missing} for T={T}{label}; every task pair "
                            "needs both members")
        try:
            rows = [int(r) for r in df.index]
        except (TypeError, ValueError):
            raise DataError(f"two-task table{src}: branching-point rows must be integers, got {list(df.index)}") \
                from None
        if len(set(rows)) != len(rows):
            raise DataError(f"two-task table{src}: duplicate branching-point rows {rows}")
        B = max(rows)
        absent = sorted(set(range(B + 1)) - set(rows))
        if absent or min(rows) < 0 or B < 1:
            raise DataError(f"two-task table{src}: expected branching-point rows 0..B with B >= 1, got rows {rows}"
                            + (f" (missing {absent})" if absent else ""))
        order = [rows.index(r) for r in range(B + 1)]
        values = np.full((T, T, B + 1), np.nan)
        for (a, b, i), col in entries.items():
            cells = df[col].tolist()
            raw = np.array([_number(cells[j]) for j in order])
            bad = np.flatnonzero(~np.isfinite(raw))
            if len(bad):
                raise DataError(f"two-task table{src}: column {col!r} row {bad[0]} is {str(cells[order[bad[0]]])!r}; "
                                "expected a finite number")
            t, u = (a, b) if i == 0 else (b, a)
            values[t, u] = raw
        return cls(values, tuple(names) if names is not None else (), source)

    @classmethod
    def from_csv(cls, path: str | Path, task_names: Sequence[str] | None = None) -> "TwoTaskTable":
        """Read a two-task CSV (the published format: first column ``branch``, then ``"(a, b)-i"`` columns).

        Numbers are parsed with a round-trip float parser so they equal the authors' decimal strings exactly.

        Args:
            path: CSV file.
            task_names: optional task names in index order (see :meth:`from_frame`).

        Returns:
            The table.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"two-task table: no such file {str(path)!r}")
        # read cells as text and convert with Python's float (correctly rounded), whatever pandas' parser does
        try:
            df = pd.read_csv(path, index_col=0, dtype=str, keep_default_na=False)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise DataError(f"two-task table {str(path)!r}: expected a CSV file in the published format (column "
                            f"'branch', then '(a, b)-i' columns), got unreadable content ({first})") from None
        return cls.from_frame(df, task_names=task_names, source=str(path))

    @classmethod
    def from_pairs(cls, results: dict[tuple[int, int], Sequence[Sequence[float]]],
                   task_names: Sequence[str] | None = None) -> "TwoTaskTable":
        """Build a table from ``{(a, b): [[acc_a, acc_b] for b in 0..B]}`` (the authors' ``reorg_two_task_results``)."""
        cols = {}
        for (a, b), rows in results.items():
            arr = np.asarray(rows, dtype=np.float64)
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ConfigError(f"from_pairs: pair {(a, b)} must be a (B+1, 2) sequence, got shape {arr.shape}")
            cols[f"({a}, {b})-0"], cols[f"({a}, {b})-1"] = arr[:, 0], arr[:, 1]
        return cls.from_frame(pd.DataFrame(cols), task_names=task_names)

    def to_frame(self) -> pd.DataFrame:
        """The table in the published format (index ``branch`` = 0..B, columns ``"(a, b)-i"``)."""
        cols = {}
        for a, b in pairs(self.T):
            cols[f"({a}, {b})-0"] = self.values[a, b]
            cols[f"({a}, {b})-1"] = self.values[b, a]
        return pd.DataFrame(cols, index=pd.RangeIndex(self.B + 1, name="branch"))

    def to_csv(self, path: str | Path) -> None:
        """Write :meth:`to_frame` (round-trippable floats)."""
        self.to_frame().to_csv(path)

    # ------------------------------------------------------------------------------------------- what-if
    def subset(self, tasks: Iterable[int | str]) -> "TwoTaskTable":
        """The table restricted to some of its tasks: the same measurements, fewer pairs.

        The kept tasks keep their names and their order in this table (the order of ``tasks`` does not matter),
        so layouts restricted with :meth:`Layout.restrict <mtlkit.treemtl.layout.Layout.restrict>` on the same
        indices match: ``table.subset(S).estimate(L.restrict(S))`` is ``L``'s estimate from the pairs inside ``S``.
        Task weights are recomputed by whoever uses the new table (SVDE over the remaining partners).

        Args:
            tasks: at least two task names or indices, no repeats.

        Returns:
            A new table (``source`` says which tasks were kept).
        """
        keep = self._indices(tasks, "subset")
        if len(keep) < 2:
            raise ConfigError("subset: a two-task table needs at least 2 tasks, got "
                              f"{[self.task_names[t] for t in keep]}")
        names = [self.task_names[t] for t in keep]
        return TwoTaskTable(self.values[np.ix_(keep, keep)], names,
                            source=f"{self.source or '(in memory)'} restricted to {names}")

    def without(self, *tasks: int | str) -> "TwoTaskTable":
        """The table without some tasks (names or indices): :meth:`subset` of the others."""
        drop = set(self._indices(tasks, "without"))
        keep = [t for t in range(self.T) if t not in drop]
        if len(keep) < 2:
            raise ConfigError(f"without: removing {[self.task_names[t] for t in sorted(drop)]} leaves "
                              f"{len(keep)} task(s); a two-task table needs at least 2")
        names = [self.task_names[t] for t in keep]
        return TwoTaskTable(self.values[np.ix_(keep, keep)], names,
                            source=f"{self.source or '(in memory)'} without "
                                   f"{', '.join(self.task_names[t] for t in sorted(drop))}")

    def merge(self, *others: "TwoTaskTable", atol: float = 0.0) -> "TwoTaskTable":
        """Combine tables over overlapping task sets into one table over all their tasks (matched by name).

        The workflow it serves is "add a task": the existing table plus the results of the new pairs only — e.g.
        one two-task table per new pair (``TwoTaskGrid.table(tasks=(old, new))``) — give the table over ``T+1``
        tasks. A pair present in several tables must hold the same values (within ``atol``); every pair of the
        union must be in at least one table.

        Args:
            others: tables with the same number of branching points ``B``.
            atol: largest accepted absolute difference between two tables' values of the same pair.

        Returns:
            The merged table: this table's tasks first, then the others' new tasks in order of appearance.

        Raises:
            ConfigError: a table with another ``B``, or not a :class:`TwoTaskTable`.
            DataError: a pair with conflicting values, or pairs that no table covers (listed).
        """
        tables = (self,) + tuple(others)
        for i, tab in enumerate(tables[1:], 1):
            if not isinstance(tab, TwoTaskTable):
                raise ConfigError(f"merge: argument {i} must be a TwoTaskTable, got {type(tab).__name__}")
            if tab.B != self.B:
                raise ConfigError(f"merge: all tables need the same branching points; this table has B={self.B}, "
                                  f"table {i}{_src(tab.source)} has B={tab.B}")
        names: list[str] = []
        for tab in tables:
            names += [n for n in tab.task_names if n not in names]
        T = len(names)
        values = np.zeros((T, T, self.B + 1))
        owner = np.full((T, T), -1)
        for i, tab in enumerate(tables):
            where = [names.index(n) for n in tab.task_names]
            for a, c in pairs(tab.T):
                x, y = where[a], where[c]
                new = np.stack([tab.values[a, c], tab.values[c, a]])
                if owner[x, y] >= 0:
                    old = np.stack([values[x, y], values[y, x]])
                    diff = float(np.abs(new - old).max())
                    if not diff <= atol:
                        first = tables[owner[x, y]]
                        raise DataError(f"merge: pair ({names[x]}, {names[y]}) differs between table "
                                        f"{owner[x, y]}{_src(first.source)} and table {i}{_src(tab.source)} "
                                        f"(largest difference {diff:g} > atol={atol:g})")
                    continue
                values[x, y], values[y, x] = new
                owner[x, y] = owner[y, x] = i
        missing = [(names[a], names[c]) for a, c in pairs(T) if owner[a, c] < 0]
        if missing:
            raise DataError(f"merge: no table holds the pair(s) {missing[:8]}{' ...' if len(missing) > 8 else ''}; "
                            f"the merged tasks {names} need every pair")
        return TwoTaskTable(values, names, source=" + ".join(t.source or "(in memory)" for t in tables))

    def _indices(self, tasks: Iterable[int | str], what: str) -> list[int]:
        if isinstance(tasks, (str, bytes)):
            tasks = [tasks]
        try:
            items = list(tasks)
        except TypeError:
            raise ConfigError(f"{what}: expected task names or indices, got {tasks!r}") from None
        idx = []
        for t in items:
            if not isinstance(t, (str, int, np.integer)) or isinstance(t, bool):
                raise ConfigError(f"{what}: tasks are names or indices, got {t!r}")
            idx.append(self.task_index(t))
        if not idx:
            raise ConfigError(f"{what}: expected at least one task, got none")
        if len(set(idx)) != len(idx):
            raise ConfigError(f"{what}: a task is listed twice in {items}")
        return sorted(idx)

    # ------------------------------------------------------------------------------------------- queries
    def value(self, t: int, u: int, b: int) -> float:
        """Task ``t``'s relative performance in the two-task model with ``u`` branching at ``b``."""
        if t == u or not (0 <= t < self.T and 0 <= u < self.T):
            raise ConfigError(f"value: expected two different tasks in 0..{self.T - 1}, got t={t}, u={u}")
        if not 0 <= b <= self.B:
            raise ConfigError(f"value: branching point must be in 0..{self.B}, got {b}")
        return float(self.values[t, u, b])

    def task_index(self, task: int | str) -> int:
        """Index of a task given by index or name."""
        if isinstance(task, str):
            if task not in self.task_names:
                raise unknown_name("task", task, self.task_names)
            return self.task_names.index(task)
        if not 0 <= int(task) < self.T:
            raise ConfigError(f"task index must be in 0..{self.T - 1}, got {task}")
        return int(task)

    def _check_layout(self, layout: Layout) -> None:
        if (layout.T, layout.B) != (self.T, self.B):
            raise ConfigError(f"layout has T={layout.T}, B={layout.B} but the two-task table has T={self.T}, "
                              f"B={self.B}")

    def estimate(self, layout: Layout) -> np.ndarray:
        """Estimated relative performance of every task in ``layout`` (mean over its associated two-task models)."""
        self._check_layout(layout)
        return self.estimate_matrix(np.asarray([layout.branch_points], dtype=np.int64))[0]

    def estimate_matrix(self, bp: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`estimate` for a ``(N, T(T-1)/2)`` branch-point matrix; returns ``(N, T)``."""
        bp = np.asarray(bp)
        if bp.ndim != 2 or bp.shape[1] != self.T * (self.T - 1) // 2:
            raise ConfigError(f"estimate_matrix: expected a (N, {self.T * (self.T - 1) // 2}) branch-point matrix, "
                              f"got shape {bp.shape}")
        est = np.zeros((bp.shape[0], self.T))
        for p, (a, b) in enumerate(pairs(self.T)):   # partners of each task are added in increasing order
            col = bp[:, p]
            est[:, a] += self.values[a, b, col]
            est[:, b] += self.values[b, a, col]
        return est / (self.T - 1)

    def score(self, layout: Layout, weights: "str | Sequence[float]" = "svde") -> float:
        """The ranking score ``w · estimates`` (paper Eq. 2) of one layout."""
        return float(self.estimate(layout) @ task_weights(self, weights))

    def weights(self, method: str = "svde", **kw) -> np.ndarray:
        """Shortcut for :func:`task_weights`."""
        return task_weights(self, method, **kw)


def _number(cell) -> float:
    """A cell as a float (Python's correctly rounded parser for text); NaN if it is not a number."""
    try:
        return float(cell.strip()) if isinstance(cell, str) else float(cell)
    except (TypeError, ValueError):
        return math.nan


def _src(source: str) -> str:
    return f" {source!r}" if source else ""


def _task_id(token: str, names: list[str] | None, col: str, src: str) -> int:
    if re.fullmatch(r"\d+", token):
        t = int(token)
        if names is not None and t >= len(names):
            raise DataError(f"two-task table{src}: column {col!r} refers to task {t} but only {len(names)} task "
                            f"names were given: {names}")
        return t
    if names is None:
        raise DataError(f"two-task table{src}: column {col!r} names task {token!r}; pass task_names=[...] to map "
                        "names to indices")
    if token not in names:
        raise DataError(f"two-task table{src}: column {col!r} names task {token!r}, which is not one of the "
                        f"task_names {names}")
    return names.index(token)


def published_table(dataset: str, backbone: str) -> TwoTaskTable:
    """One of the authors' four published two-task tables, with its task names.

    Args:
        dataset: ``"nyuv2"`` (T=3) or ``"taskonomy"`` (T=5).
        backbone: ``"resnet34"`` (Deeplab-ResNet34) or ``"mobilenetv2"``.

    Returns:
        The table (B = 5 coarse branching points).
    """
    key = (dataset.lower(), {"resnet": "resnet34", "mobilenet": "mobilenetv2"}.get(backbone.lower(),
                                                                                   backbone.lower()))
    if key[0] not in {d for d, _ in PUBLISHED}:
        raise unknown_name("dataset", dataset, sorted({d for d, _ in PUBLISHED}))
    if key not in PUBLISHED:
        raise unknown_name("backbone", backbone, sorted({b for _, b in PUBLISHED}))
    filename, names = PUBLISHED[key]
    return TwoTaskTable.from_csv(PUBLISHED_DIR / filename, task_names=names)


# ----------------------------------------------------------------------------------------------- weights
def svd_entropy(x: Sequence[float], order: int = 3, delay: int = 1, normalize: bool = True) -> float:
    """Singular value decomposition entropy of a sequence (the definition of antropy 0.1.4).

    Rows of the time-delay embedding are ``[x_i, x_{i+delay}, ..., x_{i+(order-1)delay}]``; with the singular
    values ``s`` of that matrix and ``p = s / sum(s)``, ``H = -sum p log2 p``, divided by ``log2(order)`` if
    ``normalize``. ``0 log 0`` counts as 0 (antropy 0.1.4 returned NaN there; later versions agree with this).

    Args:
        x: the sequence (length >= ``(order-1)*delay + 1``).
        order: embedding dimension.
        delay: embedding delay.
        normalize: divide by ``log2(order)`` so the result lies in [0, 1].

    Returns:
        The entropy (0 for an all-zero sequence).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if order < 2 or delay < 1:
        raise ConfigError(f"svd_entropy: order must be >= 2 and delay >= 1, got order={order}, delay={delay}")
    n = len(x) - (order - 1) * delay
    if n < 1:
        raise ConfigError(f"svd_entropy: a sequence of length {len(x)} is too short for order={order}, "
                          f"delay={delay} (needs >= {(order - 1) * delay + 1} values)")
    Y = np.stack([x[i * delay: i * delay + n] for i in range(order)], axis=1)   # (n, order)
    s = np.linalg.svd(Y, compute_uv=False)
    total = s.sum()
    if total == 0:
        return 0.0
    p = s / total
    p = p[p > 0]
    h = float(-(p * np.log2(p)).sum())
    return h / math.log2(order) if normalize else h


def task_weights(table: TwoTaskTable, method: "str | Sequence[float]" = "svde", *, order: int = 3, delay: int = 1,
                 include_row0: bool = False) -> np.ndarray:
    """Task weights of the ranking score, normalised to sum 1.

    Args:
        table: the two-task table.
        method: ``"svde"`` (the authors' code: ``w_t = 1 - mean_u SVDE(values[t, u, 1:])`` then ``w / sum(w)``),
            ``"uniform"`` (``1/T`` each: the plain mean), or an explicit sequence of ``T`` non-negative weights
            (normalised to sum 1).
        order: SVD-entropy embedding order (the authors: 3).
        delay: SVD-entropy delay (the authors: 1).
        include_row0: feed rows ``0..B`` (the paper's Eq. 1) instead of the code's rows ``1..B``.

    Returns:
        ``(T,)`` float array summing to 1.
    """
    T = table.T
    if isinstance(method, str):
        if method == "uniform":
            return np.full(T, 1.0 / T)
        if method != "svde":
            raise unknown_name("weights method", method, ["svde", "uniform"])
        start = 0 if include_row0 else 1
        need = (order - 1) * delay + 1
        if table.B + 1 - start < need:
            raise ConfigError(f"task_weights: SVD entropy with order={order} needs {need} values per column but the "
                              f"table has B={table.B} branching points; use weights='uniform' or explicit weights")
        fluct = np.array([np.mean([svd_entropy(table.values[t, u, start:], order, delay)
                                   for u in range(T) if u != t]) for t in range(T)])
        w = 1.0 - fluct
    else:
        w = np.asarray(method, dtype=np.float64).ravel()
        if w.shape != (T,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ConfigError(f"weights: expected {T} finite non-negative numbers, got {list(np.ravel(method))}")
    total = w.sum()
    if not total > 0:
        raise DataError(f"task_weights: the weights {w.tolist()} sum to {total}; cannot normalise")
    return w / total


# ----------------------------------------------------------------------------------------------- pair form
@dataclass(frozen=True, eq=False)
class PairScores:
    """The score as a sum over task pairs: ``S(L) = sum_p contrib[p, b_p(L)]``.

    ``contrib[p, b] = (w_a values[a, c, b] + w_c values[c, a, b]) / (T - 1)`` for the pair ``p = (a, c)``.

    ``keys`` is a fixed-point copy: ``round(contrib * 2**shift)`` held in float64 with ``shift`` chosen so that every
    sum over all pairs stays below 2**52 in magnitude. Sums of these keys are therefore exact in any order, so the
    ranking they define is the same for brute force, enumeration and search, ties included. The resolution is
    ``2**-shift`` score units (about 1e-13 for the published tables).
    """

    T: int
    B: int
    weights: np.ndarray
    contrib: np.ndarray
    keys: np.ndarray
    shift: int

    @classmethod
    def from_table(cls, table: TwoTaskTable, weights: "str | Sequence[float]" = "svde") -> "PairScores":
        """Pair contributions of ``table`` under the given weights (see :func:`task_weights`)."""
        w = task_weights(table, weights)
        P = pairs(table.T)
        contrib = np.array([(w[a] * table.values[a, c] + w[c] * table.values[c, a]) / (table.T - 1)
                            for a, c in P])                                   # (P, B+1)
        bound = np.abs(contrib).max(axis=1).sum()
        shift = 52 - (math.ceil(math.log2(bound)) + 1) if bound > 0 else 0
        keys = np.round(np.ldexp(contrib, shift))
        for arr in (w, contrib, keys):
            arr.setflags(write=False)
        return cls(table.T, table.B, w, contrib, keys, shift)

    def ranking_keys(self, bp: np.ndarray) -> np.ndarray:
        """Exact fixed-point scores of the rows of a branch-point matrix (float64 holding integers)."""
        bp = np.asarray(bp)
        return self.keys[np.arange(self.keys.shape[0])[None, :], bp].sum(axis=1)


def ranking_order(keys: np.ndarray, bp: np.ndarray) -> np.ndarray:
    """Indices sorting layouts best first: ranking key descending, ties by branch vector descending.

    The tie-break compares the pairwise branching points in pair order ``(0,1), (0,2), ...``: the layout whose first
    differing pair shares more blocks comes first. Every layout has a distinct branch vector, so the order is total.
    """
    bp = np.asarray(bp, dtype=np.int64)
    cols = [-bp[:, p] for p in range(bp.shape[1] - 1, -1, -1)]
    return np.lexsort(cols + [-np.asarray(keys)])


def tie_key(branch_points: Iterable[int]) -> tuple[int, ...]:
    """Sort key implementing :func:`ranking_order`'s tie-break for one layout."""
    return tuple(-int(b) for b in branch_points)
