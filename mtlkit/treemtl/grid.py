"""The two-task grid (TreeMTL §3.1, docs/treemtl.md §5): train every task pair at every branching point, write the table.

The estimator needs, for each pair of tasks ``(a, c)`` and each branching point ``b = 0..B``, the accuracy of the
two-task model that shares the first ``b`` blocks (``b = B``: everything shared; ``b = 0``: two independent
networks). That is ``C(T, 2)·(B + 1)`` models; their results become a two-task table in the authors' published
CSV format (rows ``branch = 0..B``, columns ``"(a, c)-i"``; value = task's relative performance in %, per metric
``±(v − v₀)/v₀·100`` averaged over the task's metrics, against the same pair's ``b = 0`` model —
:func:`mtlkit.delta.delta_t`), loadable with :meth:`TwoTaskTable.from_csv`.

A grid lives in one directory::

    DIR/grid.json                     the ExperimentSpec (a second run must use the same one)
    DIR/entries/0-1_b2/run/           checkpoint.pt, train_log.csv, eval_log.csv of the (0, 1) model at b = 2
    DIR/entries/0-1_b2/result.json    written atomically when that model is finished
    DIR/two_task_table.csv            the table (when every entry is finished)
    DIR/two_task_metrics.csv          the raw metrics, one row per (pair, branch, task, metric)

**Resumable**: finished entries (with ``result.json``) are skipped, a partial one resumes from its checkpoint
(bit-identical to an uninterrupted run on the CPU). Checkpoints and results carry a checksum
(:mod:`mtlkit.integrity`): a corrupt one is an error naming the file, and ``--restart ENTRY``
(:meth:`TwoTaskGrid.restart`) trains that entry afresh. ``grid.json`` is written only once the blocks, the first
model and the data folder are checked, so a bad option leaves nothing behind. **Shardable**: entries are numbered in pair order, then
branching point (``k = pair_index·(B+1) + b``) and entry ``k`` belongs to shard ``k mod n`` of ``--shard i/n``
(``i = 0..n-1``), so ``n`` processes — GPUs, nodes, a Slurm array with
``--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`` — train disjoint entries of the same directory (or of
copies of it, merged afterwards with ``--merge``); every entry's model, data order and initialisation depend only
on the spec, so the merged table equals a single unsharded run.

**Adding a task** trains only the new pairs: a grid whose spec differs from an existing grid's only in its task list
takes over the existing grid's finished entries by task name (:meth:`TwoTaskGrid.reuse`, ``--reuse``) — a two-task
model of ``(a, c)`` does not depend on which other tasks the experiment lists (same backbone and head seeds, same
images and data order; tested bit for bit on SynthScenes) — and :meth:`TwoTaskGrid.run` then trains the missing ``T·(B+1)``
entries of the new task. Without the old grid's folder (only its table), train the new pairs alone
(``run(pairs=grid.pairs_with(new))``, ``--pairs-with``) and combine the tables with
:meth:`TwoTaskTable.merge <mtlkit.treemtl.estimator.TwoTaskTable.merge>` (``grid.table(tasks=...)`` gives the table
of any subset of tasks whose pairs are finished).

**Executors** (:mod:`mtlkit.executors`): ``run(executor=...)`` / :meth:`TwoTaskGrid.run_on` make every unfinished
entry one independent run (:func:`mtlkit.treemtl.grid_worker.run_entry`) on a local process pool, Ray or Slurm job
arrays (submitit). They all use this folder as the contract: any of them (and ``--shard`` processes, and
``--merge``) runs, resumes and merges the same directory; a killed worker's entry is retried from its checkpoint, an
entry that raises is recorded in ``entries/<entry>/error.json`` while the others finish, and
:meth:`TwoTaskGrid.states` (``--status``) tells done / running / partial / failed / pending entries apart.

Command line: ``python -m mtlkit grid DIR --tasks segment_semantic,depth_zbuffer,normal --blocks 3 [--shard 0/4]``;
``--executor local --workers 2``, ``--executor ray [--address auto] [--gpus-per-run 0.5]``, ``--executor slurm
--partition gpu --gpus-per-job 1 --array-parallelism 16 [--dry-run]``;
``python -m mtlkit grid NEW_DIR --reuse OLD_DIR --tasks a,b,c,d`` (the other options default to OLD_DIR's);
``--help`` documents every option. Python: :func:`train_two_task_grid` or :class:`TwoTaskGrid`.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from mtlkit.errors import ConfigError
from mtlkit.facts import DATASET_FACTS
from mtlkit.integrity import read_json, remove_stale_temps, restart_dir, with_remedy
from mtlkit.treemtl.experiment import (
    RESULT_NAME, ExperimentData, ExperimentSpec, _write_json, read_result, train_entry,
)
from mtlkit.treemtl.layout import Layout, pairs

__all__ = ["GridEntry", "TwoTaskGrid", "train_two_task_grid", "parse_shard", "table_from_results"]

SPEC_NAME = "grid.json"
TABLE_NAME = "two_task_table.csv"
METRICS_NAME = "two_task_metrics.csv"
_FORMAT = "mtlkit-two-task-grid-v1"


@dataclass(frozen=True)
class GridEntry:
    """One two-task model of the grid: pair ``(a, c)`` (task indices) at branching point ``branch``."""

    index: int
    pair: tuple[int, int]
    branch: int

    @property
    def name(self) -> str:
        """Folder name, e.g. ``"0-1_b2"``."""
        return f"{self.pair[0]}-{self.pair[1]}_b{self.branch}"


def parse_shard(shard: "str | tuple[int, int] | None") -> tuple[int, int]:
    """``"i/n"`` or ``(i, n)`` → ``(i, n)`` with ``0 <= i < n`` (``None`` → ``(0, 1)``, the whole grid)."""
    if shard is None:
        return 0, 1
    if isinstance(shard, str):
        parts = shard.split("/")
        try:
            i, n = (int(p) for p in parts)
        except ValueError:
            raise ConfigError(f"shard must be 'i/n' with integers 0 <= i < n (e.g. '0/4'), got {shard!r}") from None
    else:
        try:
            i, n = (int(v) for v in shard)
        except (TypeError, ValueError):
            raise ConfigError(f"shard must be 'i/n' or (i, n), got {shard!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"shard must satisfy 0 <= i < n, got i={i}, n={n}")
    return i, n


class TwoTaskGrid:
    """The two-task grid of an experiment in a directory (see the module docstring).

    Args:
        directory: the grid's folder (created).
        spec: the :class:`ExperimentSpec`; ``None`` reads it from ``directory/grid.json``. A spec that differs from
            the recorded one is refused (a grid never mixes models of two configurations).

    Raises:
        ConfigError: the spec differs from the recorded one.
        FileNotFoundError: ``spec=None`` and the directory holds no grid.
    """

    def __init__(self, directory: str | Path, spec: ExperimentSpec | None = None):
        self.directory = Path(directory)
        path = self.directory / SPEC_NAME
        recorded = None
        if path.is_file():
            raw = read_json(path, required=("format", "spec"), remedy=(
                f"delete it and run `python -m mtlkit grid {self.directory}` again with the experiment's options "
                "(finished entries are kept when the options are the same)"))
            if raw.get("format") != _FORMAT:
                raise ConfigError(f"{path} is not a two-task grid file (format {raw.get('format')!r})")
            recorded = ExperimentSpec.from_dict(raw["spec"])
        if spec is None:
            if recorded is None:
                raise FileNotFoundError(f"no two-task grid in {str(self.directory)!r} (no {SPEC_NAME}); give a spec "
                                        "to create one")
            spec = recorded
        elif not isinstance(spec, ExperimentSpec):
            raise ConfigError(f"spec must be an ExperimentSpec, got {type(spec).__name__}")
        elif recorded is not None and recorded != spec:
            raise ConfigError(f"{path} records a different experiment ({'; '.join(recorded.differences(spec))}); "
                              "use another directory or the recorded settings")
        self.spec = spec
        if recorded is None:
            _check_before_recording(spec)   # a grid.json is only written for an experiment that can run
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_json(path, {"format": _FORMAT, "spec": spec.to_dict()})

    # ------------------------------------------------------------------------------------------------ entries
    @property
    def B(self) -> int:
        """Number of branching points of the backbone's blocks."""
        return self.spec.B

    @property
    def entries(self) -> list[GridEntry]:
        """All ``C(T, 2)·(B + 1)`` entries, pair-major (entry ``k`` = pair ``k // (B+1)``, branch ``k % (B+1)``)."""
        B = self.B
        return [GridEntry(p * (B + 1) + b, pair, b) for p, pair in enumerate(pairs(self.spec.T)) for b in range(B + 1)]

    def shard(self, shard: "str | tuple[int, int] | None") -> list[GridEntry]:
        """The entries of shard ``i/n``: those with ``index % n == i``."""
        i, n = parse_shard(shard)
        return [e for e in self.entries if e.index % n == i]

    def entry(self, pair: "Sequence[int | str]", branch: int) -> GridEntry:
        """The entry of a task pair (names or indices, any order) at branching point ``branch``."""
        a, c = self._pair(pair)
        if isinstance(branch, bool) or not isinstance(branch, int) or not 0 <= branch <= self.B:
            raise ConfigError(f"branch must be an int in 0..{self.B}, got {branch!r}")
        return self.entries[pairs(self.spec.T).index((a, c)) * (self.B + 1) + branch]

    def pairs_with(self, *tasks: int | str) -> list[tuple[int, int]]:
        """The task pairs (index pairs) that involve at least one of ``tasks`` (names or indices): the entries a new
        task adds."""
        idx = {self._task(t) for t in tasks}
        if not idx:
            raise ConfigError("pairs_with: expected at least one task name or index")
        return [p for p in pairs(self.spec.T) if idx & set(p)]

    def _task(self, task: int | str) -> int:
        names = self.spec.tasks
        if isinstance(task, str):
            if task not in names:
                raise ConfigError(f"task {task!r} is not one of this grid's tasks {list(names)}")
            return names.index(task)
        if isinstance(task, bool) or not isinstance(task, int) or not 0 <= task < len(names):
            raise ConfigError(f"task index must be an int in 0..{len(names) - 1}, got {task!r}")
        return task

    def _pair(self, pair: "Sequence[int | str]") -> tuple[int, int]:
        try:
            x, y = pair
        except (TypeError, ValueError):
            raise ConfigError(f"a task pair must be two task names or indices, got {pair!r}") from None
        a, c = sorted((self._task(x), self._task(y)))
        if a == c:
            raise ConfigError(f"a task pair needs two different tasks, got {pair!r}")
        return a, c

    def entry_dir(self, entry: GridEntry) -> Path:
        """The folder of one entry."""
        return self.directory / "entries" / entry.name

    def result(self, entry: GridEntry) -> dict | None:
        """The recorded result of an entry (None if not finished).

        Raises:
            CorruptFileError: its ``result.json`` is truncated or corrupt (the message says how to restart it).
        """
        return read_result(self.entry_dir(entry), remedy=self._remedy(entry))

    def _remedy(self, entry: GridEntry) -> str:
        return (f"restart that entry: python -m mtlkit grid {self.directory} --restart {entry.name} "
                f"(Python: TwoTaskGrid({str(self.directory)!r}).restart({entry.name!r}))")

    def find(self, entry: "GridEntry | int | str") -> GridEntry:
        """An entry by its folder name (``"0-1_b2"``), its index, or itself."""
        if isinstance(entry, GridEntry):
            return entry
        by_name = {e.name: e for e in self.entries}
        if isinstance(entry, str) and entry.strip() in by_name:
            return by_name[entry.strip()]
        index = int(entry) if isinstance(entry, str) and entry.strip().isdigit() else entry
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(self.entries):
            return self.entries[index]
        first = ", ".join(list(by_name)[:4])
        raise ConfigError(f"entry: expected an entry name such as {first}, ... or an index in "
                          f"0..{len(self.entries) - 1}, got {entry!r}")

    def restart(self, *entries: "GridEntry | int | str") -> list[GridEntry]:
        """Delete the folders of some entries (checkpoint, logs, result) so that :meth:`run` trains them afresh.

        Args:
            entries: entry names (``"0-1_b2"``), indices or :class:`GridEntry` objects.

        Returns:
            The entries restarted.
        """
        found = [self.find(e) for e in entries]
        if not found:
            raise ConfigError("restart: expected at least one entry name or index, got none")
        for e in found:
            restart_dir(self.entry_dir(e), inside=self.directory)
        return found

    def missing(self) -> list[GridEntry]:
        """Entries without a recorded result."""
        return [e for e in self.entries if self.result(e) is None]

    def status(self):
        """One row per entry: pair, tasks, branch, shard-independent index, ``done``, ``partial`` (a checkpoint)."""
        import pandas as pd

        rows = []
        for e in self.entries:
            res = self.result(e)
            rows.append(dict(entry=e.index, pair=e.pair, tasks=tuple(self.spec.tasks[t] for t in e.pair),
                             branch=e.branch, done=res is not None,
                             partial=res is None and (self.entry_dir(e) / "run" / "checkpoint.pt").is_file(),
                             seconds=res["seconds"] if res else None))
        return pd.DataFrame(rows).set_index("entry")

    def states(self):
        """What every entry is doing: one row per entry with ``tasks``, ``branch``, ``state``, ``detail``.

        ``state`` is one of :data:`~mtlkit.treemtl.grid_worker.ENTRY_STATES`: ``done`` (``result.json``),
        ``running`` (a process holds the entry's run lock on this machine, or ``worker.json`` names a live process
        here or a process on another host), ``partial`` (a checkpoint, nobody training it), ``failed``
        (``error.json``: ``detail`` is the error's first line), ``pending`` (nothing yet). A worker killed on another
        host shows as ``running`` until the entry is run again (its lock cannot be checked from here).
        """
        import pandas as pd

        from mtlkit.treemtl.grid_worker import ERROR_NAME, live_worker, read_json

        rows = []
        for e in self.entries:
            d = self.entry_dir(e)
            res = self.result(e)
            state, detail = "pending", ""
            if res is not None:
                state, detail = "done", f"{res.get('seconds', 0):.1f} s"
            else:
                worker = live_worker(d)
                error = read_json(d / ERROR_NAME)
                if worker is not None:
                    state, detail = "running", worker
                elif error is not None:
                    state, detail = "failed", error.get("error", "")
                elif (d / "run" / "checkpoint.pt").is_file():
                    state, detail = "partial", "checkpoint; resumes on the next run"
            rows.append(dict(entry=e.index, name=e.name, tasks="+".join(self.spec.tasks[t] for t in e.pair),
                             branch=e.branch, state=state, detail=detail))
        return pd.DataFrame(rows).set_index("entry")

    def run_on(self, executor: Any, entries: "Sequence[GridEntry] | None" = None, *, device: str = "cpu",
               progress: bool = True, checkpoint_every: int | None = None, num_workers: int = 0):
        """Train entries on an executor (:mod:`mtlkit.executors`): one independent run per unfinished entry.

        Every run is :func:`run_entry` on this directory, so any executor trains, resumes and merges the same
        folder: finished entries are skipped, partial ones resume from their checkpoint, a killed worker's entry is
        retried from its checkpoint, and an entry that raises is recorded in its ``error.json`` while the others
        go on.

        Args:
            executor: a name (``"sequential"``, ``"local"``, ``"ray"``, ``"slurm"``) or an executor object.
            entries: the entries (default: the whole grid); finished ones are not submitted.
            device: training device inside each worker (``"cuda"``: the GPU the executor gave the worker).
            progress: a progress bar over finished entries (in this process).
            checkpoint_every: checkpoint interval of each model.
            num_workers: DataLoader workers inside each run.

        Returns:
            ``{entry name: Outcome}`` of the submitted entries.
        """
        from mtlkit.executors import Run, run_all
        from mtlkit.treemtl.grid_worker import run_entry

        entries = self.entries if entries is None else list(entries)
        todo = [e for e in entries if self.result(e) is None]
        kw = dict(device=device, checkpoint_every=checkpoint_every, num_workers=num_workers)
        runs = [Run(e.name, run_entry, (str(self.directory), e.index), kw) for e in todo]
        outcomes = run_all(runs, executor, progress=progress, desc="two-task grid")
        return {o.key: o for o in outcomes}

    def _todo(self, shard, pairs) -> list[GridEntry]:
        todo = self.shard(shard)
        if pairs is not None:
            wanted = {self._pair(p) for p in pairs}
            todo = [e for e in todo if e.pair in wanted]
        return todo

    def _results_or_raise(self, entries: Sequence[GridEntry], outcomes: Mapping[str, Any]) -> list[dict]:
        from mtlkit.executors import RunsFailed

        if any(not o.ok for o in outcomes.values()):
            raise RunsFailed(list(outcomes.values()))
        return [self.result(e) for e in entries]

    # ------------------------------------------------------------------------------------------------ training
    def run(self, shard: "str | tuple[int, int] | None" = None, *, device: str = "cpu", progress: bool = True,
            data: ExperimentData | None = None, checkpoint_every: int | None = None,
            num_workers: int = 0, pairs: "Iterable[Sequence[int | str]] | None" = None,
            executor: Any = None) -> list[dict]:
        """Train the unfinished entries of one shard (all by default), one after the other or on an executor.

        Args:
            shard: ``"i/n"`` / ``(i, n)``; None = the whole grid.
            pairs: train only these task pairs (names or indices, e.g. ``grid.pairs_with("normal")``); None = all.
                Shards still split by the entry index, so ``shard`` and ``pairs`` combine.
            device: ``"cpu"`` or ``"cuda[:N]"``.
            progress: progress bars (one over the shard's entries, one per model).
            data: pre-loaded data (default: :meth:`ExperimentSpec.load_data`, only if something is left to train;
                with an executor every worker loads its own).
            checkpoint_every: checkpoint interval of each model (default: 5 per model).
            num_workers: DataLoader workers when the data is loaded here.
            executor: None: train in this process; else an executor name (``"local"``, ``"ray"``, ``"slurm"``) or
                object of :mod:`mtlkit.executors`: every unfinished entry is one run there (:meth:`run_on`).

        Returns:
            The results of the shard's entries (finished before or now), in entry order.

        Raises:
            RunsFailed: (with an executor) some entries failed; all the others were trained first.
        """
        from tqdm.auto import tqdm

        todo = self._todo(shard, pairs)
        if executor is not None:
            return self._results_or_raise(todo, self.run_on(executor, todo, device=device, progress=progress,
                                                            checkpoint_every=checkpoint_every,
                                                            num_workers=num_workers))
        if data is None and any(self.result(e) is None for e in todo):
            data = self.spec.load_data(num_workers)
        out = []
        bar = tqdm(todo, desc=f"two-task grid shard {'/'.join(map(str, parse_shard(shard)))}", disable=not progress)
        for e in bar:
            names = tuple(self.spec.tasks[t] for t in e.pair)
            layout = Layout.from_branch_points(2, self.B, [e.branch])
            bar.set_postfix_str(f"{names[0]}+{names[1]} b={e.branch}", refresh=False)
            for folder in (self.entry_dir(e), self.entry_dir(e) / "run"):
                remove_stale_temps(folder)   # left by a process killed while writing
            with with_remedy(self._remedy(e)):
                out.append(train_entry(self.spec, layout, names, self.entry_dir(e), data, device=device,
                                       progress=progress, checkpoint_every=checkpoint_every,
                                       extra=dict(entry=e.index, pair=list(e.pair), branch=e.branch)))
        bar.close()
        return out

    # ------------------------------------------------------------------------------------------------ results
    def metrics_frame(self):
        """The raw metrics of the finished entries: columns pair, a, c, branch, task, metric, value."""
        import pandas as pd

        rows = []
        for e in self.entries:
            res = self.result(e)
            if res is None:
                continue
            for task, metrics in res["metrics"].items():
                for m, v in metrics.items():
                    rows.append(dict(pair=f"({e.pair[0]}, {e.pair[1]})", a=e.pair[0], c=e.pair[1], branch=e.branch,
                                     task=task, metric=m, value=v))
        return pd.DataFrame(rows, columns=["pair", "a", "c", "branch", "task", "metric", "value"])

    def table(self, tasks: "Iterable[int | str] | None" = None):
        """The two-task table (:class:`~mtlkit.treemtl.TwoTaskTable`, task names = the spec's tasks).

        Args:
            tasks: only these tasks (names or indices, at least 2; kept in the spec's order): needs only their
                pairs' entries, e.g. one pair's table ``grid.table(tasks=("depth_zbuffer", "normal"))`` for
                :meth:`TwoTaskTable.merge <mtlkit.treemtl.estimator.TwoTaskTable.merge>`. None = all tasks.

        Raises:
            ConfigError: some of the entries needed are not finished (listed).
        """
        if tasks is None:
            idx = list(range(self.spec.T))
        else:
            idx = sorted({self._task(t) for t in ([tasks] if isinstance(tasks, str) else tasks)})
            if len(idx) < 2:
                raise ConfigError(f"table: tasks must name at least 2 different tasks, got {tasks!r}")
        keep = set(idx)
        entries = [e for e in self.entries if set(e.pair) <= keep]
        missing = [e for e in entries if self.result(e) is None]
        if missing:
            names = ", ".join(e.name for e in missing[:8]) + (" ..." if len(missing) > 8 else "")
            raise ConfigError(f"the two-task grid in {str(self.directory)!r} is incomplete: {len(missing)} of "
                              f"{len(entries)} entries are not finished ({names}); run the missing shards")
        where = {t: i for i, t in enumerate(idx)}
        results = {((where[e.pair[0]], where[e.pair[1]]), e.branch): self.result(e) for e in entries}
        return table_from_results(results, [self.spec.tasks[t] for t in idx], self.B)

    def write_table(self, path: str | Path | None = None) -> Path:
        """Write the table (published CSV format) and the raw metrics next to it; returns the table's path."""
        table = self.table()
        path = Path(path) if path is not None else self.directory / TABLE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        table.to_csv(tmp)
        os.replace(tmp, path)
        self.metrics_frame().to_csv(path.with_name(METRICS_NAME) if path.name == TABLE_NAME
                                    else path.with_suffix(".metrics.csv"), index=False)
        return path

    def merge_from(self, others: Iterable[str | Path]) -> int:
        """Copy finished entries from other directories of the same grid (e.g. node-local shard copies).

        Returns:
            The number of entries copied.

        Raises:
            ConfigError: another directory records a different experiment, or holds a different result for an entry
                this grid has already finished.
        """
        copied = 0
        for other in others:
            src = TwoTaskGrid(other)   # reads its spec
            if src.spec != self.spec:
                raise ConfigError(f"cannot merge {str(other)!r}: different experiment "
                                  f"({'; '.join(self.spec.differences(src.spec))})")
            for e in self.entries:
                theirs = src.result(e)
                if theirs is None:
                    continue
                mine = self.result(e)
                if mine is None:
                    dst = self.entry_dir(e)
                    dst.mkdir(parents=True, exist_ok=True)
                    tmp = dst / f".{RESULT_NAME}.tmp-{os.getpid()}"
                    shutil.copyfile(src.entry_dir(e) / RESULT_NAME, tmp)
                    os.replace(tmp, dst / RESULT_NAME)
                    copied += 1
                elif mine["metrics"] != theirs["metrics"]:
                    raise ConfigError(f"entry {e.name}: {str(other)!r} holds different metrics than "
                                      f"{str(self.directory)!r}; refusing to merge")
        return copied


    def reuse(self, others: Iterable[str | Path]) -> int:
        """Take over the finished entries of grids that differ from this one at most in their task list.

        An entry of another grid whose two tasks are both among this grid's tasks is the same model here (same
        backbone, blocks, heads seeded by task name, data and optimiser; only the task list may differ), so its
        recorded result is copied under this grid's numbering (with ``reused_from`` = its folder) and
        :meth:`run` trains only the rest — for a grid with one task more, the ``T·(B+1)`` entries of the new task.

        Args:
            others: directories of existing grids.

        Returns:
            The number of entries copied.

        Raises:
            ConfigError: another grid's experiment differs in anything but the tasks, or holds a different result
                for an entry this grid has already finished.
        """
        copied = 0
        where = {name: i for i, name in enumerate(self.spec.tasks)}
        for other in others:
            src = TwoTaskGrid(other)
            differ = [d for d in self.spec.differences(src.spec) if not d.startswith("tasks:")]
            if differ:
                raise ConfigError(f"cannot reuse {str(other)!r}: its experiment differs in more than the task list "
                                  f"({'; '.join(differ)})")
            for e in src.entries:
                names = [src.spec.tasks[t] for t in e.pair]
                if not all(n in where for n in names):
                    continue
                theirs = src.result(e)
                if theirs is None:
                    continue
                mine_entry = self.entry(names, e.branch)
                mine = self.result(mine_entry)
                if mine is None:
                    a, c = mine_entry.pair
                    record = dict(theirs, entry=mine_entry.index, pair=[a, c],
                                  tasks=[self.spec.tasks[a], self.spec.tasks[c]],
                                  reused_from=str(src.entry_dir(e)))
                    dst = self.entry_dir(mine_entry)
                    dst.mkdir(parents=True, exist_ok=True)
                    _write_json(dst / RESULT_NAME, record)
                    copied += 1
                elif mine["metrics"] != theirs["metrics"]:
                    raise ConfigError(f"entry {mine_entry.name} ({names[0]}, {names[1]}, b={e.branch}): "
                                      f"{str(other)!r} holds different metrics than {str(self.directory)!r}; "
                                      "refusing to reuse")
        return copied


def _check_before_recording(spec: ExperimentSpec) -> None:
    """Everything that can fail before training, checked before a new grid records its spec: the blocks, the first
    model (backbone and head options) and the data folder."""
    if spec.dataset != "synthscenes":
        root = Path(spec.data_root) / DATASET_FACTS[spec.dataset].folder
        if not root.is_dir():
            raise FileNotFoundError(f"data_root: expected a folder holding {DATASET_FACTS[spec.dataset].folder}/ (i.e. {root}), "
                                    f"got {spec.data_root!r}")
    B = spec.B
    spec.build_model(Layout.from_branch_points(2, B, [0]), spec.tasks[:2])


def table_from_results(results: dict, task_names: Sequence[str], B: int):
    """Two-task table from ``{((a, c), b): result}`` (each with ``metrics[task][metric]``), relative to ``b = 0``.

    Each value is :func:`mtlkit.delta.delta_t` of the task's metrics in the ``b`` model against the same pair's
    ``b = 0`` model (metrics whose reference is 0 are left out of the task's mean).
    """
    from mtlkit.delta import delta_t
    from mtlkit.treemtl.estimator import TwoTaskTable

    cols: dict[tuple[int, int], list[list[float]]] = {}
    for (a, c) in pairs(len(task_names)):
        ref = results[((a, c), 0)]["metrics"]
        rows = []
        for b in range(B + 1):
            m = results[((a, c), b)]["metrics"]
            rel = [delta_t({t: m[t]}, {t: ref[t]}, zero_reference="skip").per_task[t]
                   for t in (task_names[a], task_names[c])]
            rows.append(rel)
        cols[(a, c)] = rows
    return TwoTaskTable.from_pairs(cols, task_names=list(task_names))


def train_two_task_grid(directory: str | Path, spec: ExperimentSpec | None = None, *,
                        shard: "str | tuple[int, int] | None" = None, device: str = "cpu", progress: bool = True,
                        data: ExperimentData | None = None, checkpoint_every: int | None = None,
                        write_table: bool = True, num_workers: int = 0, executor: Any = None) -> TwoTaskGrid:
    """Train (one shard of) a two-task grid and, when it is complete, write its table.

    Args:
        directory: the grid's folder.
        spec: the experiment (None: the one recorded in ``directory``).
        shard: ``"i/n"`` or None for all entries.
        device: training device.
        progress: progress bars.
        data: pre-loaded data shared with other studies.
        checkpoint_every: checkpoint interval per model.
        write_table: write ``two_task_table.csv`` once every entry is finished.
        num_workers: DataLoader workers.
        executor: where the entries train (None: this process; see :meth:`TwoTaskGrid.run`).

    Returns:
        The :class:`TwoTaskGrid` (``.table()`` gives the table once complete).
    """
    grid = TwoTaskGrid(directory, spec)
    grid.run(shard, device=device, progress=progress, data=data, checkpoint_every=checkpoint_every,
             num_workers=num_workers, executor=executor)
    if write_table and not grid.missing():
        grid.write_table()
    return grid
