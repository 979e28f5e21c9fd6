"""The TreeMTL *layout*: which tasks share which block of a backbone (paper Def. 3.1, docs/treemtl.md §1).

A layout for ``T`` tasks and ``B`` blocks (branching points) is a list of ``B`` set partitions of the tasks
``0..T-1``; the groups of block ``c`` are the task sets that share one copy of block ``c``. A tree-structured model
needs each block's partition to refine the previous one (tasks that separated never meet again), so a layout is a
multichain of the partition lattice, or equivalently an ultrametric on tasks: ``branch_point(i, j)`` = number of
leading blocks tasks ``i`` and ``j`` share (``B`` = never separated, ``0`` = independent from the input on).

:class:`Layout` is immutable, hashable and canonical: groups are sorted tuples ordered by their smallest task, so the
same tree always has the same representation, whatever the list order it was built from.
"""
from __future__ import annotations

import itertools
import numbers
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np

from mtlkit.checks import check_int
from mtlkit.errors import ConfigError

Group = tuple[int, ...]
Partition = tuple[Group, ...]


def pairs(T: int) -> list[tuple[int, int]]:
    """The task pairs ``(a, b)``, ``a < b``, in ``itertools.combinations`` order (the order of branch vectors)."""
    return list(itertools.combinations(range(T), 2))


def _canonical_partition(groups: Iterable[Iterable[int]], block: int) -> Partition:
    out = []
    for g in groups:
        members = tuple(sorted(int(t) for t in g))
        if not members:
            raise ConfigError(f"layout block {block}: expected non-empty task groups, got an empty group")
        if len(set(members)) != len(members):
            raise ConfigError(f"layout block {block}: a task appears twice in group {members}")
        out.append(members)
    return tuple(sorted(out))


@dataclass(frozen=True)
class Layout:
    """A tree-structured multi-task architecture: one partition of the tasks per block.

    Args:
        blocks: ``B`` partitions of the tasks ``0..T-1``, block 0 (next to the input) first; each partition is an
            iterable of task groups in any order, e.g. ``[[{0, 1, 2}], [{0, 1}, {2}]]``.

    Raises:
        ConfigError: if a block is not a partition of ``0..T-1`` or a block does not refine the previous one.

    Example:
        >>> L = Layout.parse("[012]x3 [01,2]x2")
        >>> L.branch_point(0, 1), L.branch_point(0, 2)
        (5, 3)
    """

    blocks: tuple[Partition, ...]
    T: int = field(init=False, compare=False, repr=False)
    B: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        blocks = tuple(_canonical_partition(p, c) for c, p in enumerate(self.blocks))
        if not blocks:
            raise ConfigError("Layout: expected at least one block (B >= 1), got 0 blocks")
        T = sum(len(g) for g in blocks[0])
        for c, part in enumerate(blocks):
            tasks = sorted(t for g in part for t in g)
            if tasks != list(range(T)):
                raise ConfigError(f"layout block {c}: expected a partition of the tasks 0..{T - 1}, got {part}")
        for c in range(1, len(blocks)):
            parent = {t: gi for gi, g in enumerate(blocks[c - 1]) for t in g}
            for g in blocks[c]:
                if len({parent[t] for t in g}) != 1:
                    raise ConfigError(
                        f"layout block {c}: group {g} spans several groups of block {c - 1} {blocks[c - 1]}; "
                        "a tree-structured layout needs each block to refine the previous one")
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "T", T)
        object.__setattr__(self, "B", len(blocks))

    # ----------------------------------------------------------------------------------------------- builders
    @classmethod
    def all_shared(cls, T: int, B: int) -> "Layout":
        """The initial layout ``L_0``: every task shares every block."""
        _check_tb(T, B, minimum_t=1)
        return cls([[range(T)]] * B)

    @classmethod
    def independent(cls, T: int, B: int) -> "Layout":
        """Every task has its own copy of every block (T independent models)."""
        _check_tb(T, B, minimum_t=1)
        return cls([[[t] for t in range(T)]] * B)

    @classmethod
    def from_branch_points(cls, T: int, B: int, branch: Sequence[int] | dict) -> "Layout":
        """Build the layout whose task pairs separate at the given blocks.

        Args:
            T: number of tasks.
            B: number of blocks.
            branch: either a sequence of ``T(T-1)/2`` branching points in :func:`pairs` order, or a dict
                ``{(a, b): point}`` over all pairs; each value in ``0..B``.

        Returns:
            The unique layout with these pairwise branching points.

        Raises:
            ConfigError: wrong length, a value outside ``0..B``, or values that are not an ultrametric (no tree has
                them, e.g. b(0,1)=5, b(1,2)=5, b(0,2)=0).
        """
        _check_tb(T, B, minimum_t=1)
        P = pairs(T)
        if isinstance(branch, dict):
            try:
                values = [int(branch[p] if p in branch else branch[p[::-1]]) for p in P]
            except KeyError as exc:
                raise ConfigError(f"from_branch_points: missing the branching point of pair {exc.args[0]}") from None
        else:
            values = [int(v) for v in branch]
        if len(values) != len(P):
            raise ConfigError(f"from_branch_points: expected {len(P)} branching points for T={T}, got {len(values)}")
        bad = [v for v in values if not 0 <= v <= B]
        if bad:
            raise ConfigError(f"from_branch_points: branching points must lie in 0..{B}, got {bad[0]}")
        b = {p: v for p, v in zip(P, values)}
        get = lambda i, j: b[(i, j) if i < j else (j, i)]  # noqa: E731
        for i, j, k in itertools.permutations(range(T), 3):
            if get(i, k) < min(get(i, j), get(j, k)):
                raise ConfigError(
                    f"from_branch_points: not a tree: b({i},{j})={get(i, j)} and b({j},{k})={get(j, k)} "
                    f"but b({i},{k})={get(i, k)} (must be >= their minimum)")
        blocks = []
        for c in range(B):
            groups: list[list[int]] = []
            for t in range(T):
                for g in groups:
                    if get(g[0], t) > c:
                        g.append(t)
                        break
                else:
                    groups.append([t])
            blocks.append(groups)
        return cls(blocks)

    @classmethod
    def parse(cls, text: str) -> "Layout":
        """Parse the notation of :meth:`__str__` and of the spec: ``"[012]x3 [01,2]x2"``, ``"[12,0][0,2,1]"``.

        One ``[...]`` per block, optionally followed by ``xN`` (repeat N times); groups separated by ``,``; a group
        is a run of single-digit task indices, or (when T > 10) indices joined by ``.`` (``10.11``; a task alone
        is written with a trailing dot, ``11.``).
        """
        tokens = re.findall(r"\[([^\]]*)\]\s*(?:x\s*(\d+))?", text)
        rest = re.sub(r"\[([^\]]*)\]\s*(?:x\s*(\d+))?", "", text).strip()
        if not tokens or rest:
            raise ConfigError(f"Layout.parse: expected blocks like '[012]x3 [01,2]x2', got {text!r}")
        blocks = []
        for body, rep in tokens:
            groups = []
            for g in body.split(","):
                g = g.strip()
                if not g:
                    raise ConfigError(f"Layout.parse: empty group in {text!r}")
                groups.append([int(x) for x in (g.split(".") if "." in g else g) if x])
            blocks.extend([groups] * (int(rep) if rep else 1))
        return cls(blocks)

    @classmethod
    def from_branch_matrix(cls, T: int, B: int, bp) -> "list[Layout]":
        """Many layouts at once: one per row of a branch-point matrix (vectorised :meth:`from_branch_points`).

        Every row is checked (values in ``0..B``, an ultrametric) with numpy; each distinct partition of a block is
        built once and shared, so 7,556 layouts take milliseconds instead of a second. The layouts equal
        ``[Layout.from_branch_points(T, B, row) for row in bp]`` (same blocks, hashes and branch points).

        Args:
            T: number of tasks.
            B: number of blocks.
            bp: ``(N, T(T-1)/2)`` integer array, columns in :func:`pairs` order (what the enumerators return).

        Returns:
            The ``N`` layouts, in row order.

        Raises:
            ConfigError: wrong shape, a value outside ``0..B`` or a non-integer, or a row that is not a tree (the
                first such row is named).
        """
        T, B = _check_tb(T, B, minimum_t=1)
        P = pairs(T)
        raw = np.asarray(bp)
        if raw.ndim != 2 or raw.shape[1] != len(P):
            raise ConfigError(f"from_branch_matrix: expected a (N, {len(P)}) branch-point matrix for T={T}, "
                              f"got shape {raw.shape}")
        if raw.size and not np.issubdtype(raw.dtype, np.integer):
            if not np.issubdtype(raw.dtype, np.number) or not np.all(np.mod(raw, 1) == 0):
                raise ConfigError(f"from_branch_matrix: branching points must be integers, got dtype {raw.dtype}")
        m = raw.astype(np.int64)
        if m.shape[0] <= 16:                                       # a few rows: the numpy set-up costs more
            out = []
            for r, row in enumerate(m.tolist()):
                try:
                    out.append(cls.from_branch_points(T, B, row))
                except ConfigError as err:
                    raise ConfigError(f"from_branch_matrix: row {r} {row}: {err}") from None
            return out
        if m.size and (m.min() < 0 or m.max() > B):
            r = int(np.argwhere((m < 0) | (m > B))[0][0])
            raise ConfigError(f"from_branch_matrix: branching points must lie in 0..{B}; row {r} is {m[r].tolist()}")
        col = {p: i for i, p in enumerate(P)}
        get = lambda i, j: m[:, col[(i, j) if i < j else (j, i)]]  # noqa: E731
        for i, j, k in itertools.combinations(range(T), 3):      # b(x,z) >= min(b(x,y), b(y,z)), all orders
            for x, y, z in ((i, j, k), (j, k, i), (k, i, j)):
                bad = np.flatnonzero(get(x, z) < np.minimum(get(x, y), get(y, z)))
                if len(bad):
                    r = int(bad[0])
                    raise ConfigError(f"from_branch_matrix: row {r} {m[r].tolist()} is not a tree: "
                                      f"b({x},{y})={get(x, y)[r]}, b({y},{z})={get(y, z)[r]} but "
                                      f"b({x},{z})={get(x, z)[r]}")
        per_block = []
        for c in range(B):
            together = m > c                                       # (N, P): pair still shares block c
            if len(P) <= 62:                                       # one int64 code per row
                codes = together.astype(np.int64) @ (np.int64(1) << np.arange(len(P), dtype=np.int64))
                first, inverse = np.unique(codes, return_index=True, return_inverse=True)[1:]
            else:
                first, inverse = np.unique(np.packbits(together, axis=1), axis=0, return_index=True,
                                           return_inverse=True)[1:]
            parts = [_partition_of(together[r], T, col) for r in first]
            per_block.append([parts[i] for i in np.asarray(inverse).reshape(-1).tolist()])
        out = []
        new = object.__new__
        for blocks, row in zip(zip(*per_block), m.tolist()):
            obj = new(cls)
            object.__setattr__(obj, "blocks", blocks)
            object.__setattr__(obj, "T", T)
            object.__setattr__(obj, "B", B)
            obj.__dict__["branch_points"] = tuple(row)              # the cached_property, already known
            out.append(obj)
        return out

    # ----------------------------------------------------------------------------------------------- subsets
    def restrict(self, tasks: Iterable[int]) -> "Layout":
        """The layout induced on a subset of the tasks, renumbered ``0..k-1`` in increasing task order.

        Every pair of kept tasks keeps its branching point (what a model with the other tasks' heads removed and
        their private branches pruned computes). Pairs with :meth:`TwoTaskTable.subset
        <mtlkit.treemtl.estimator.TwoTaskTable.subset>`, which keeps the same order.

        Args:
            tasks: task indices to keep (any order, no repeats, at least one).

        Returns:
            The layout for ``len(tasks)`` tasks and the same ``B`` blocks.

        Example:
            >>> Layout.parse("[03,124] [03,12,4]x2 [03,1,2,4]x2").restrict([1, 2, 4])
            Layout.parse('[012] [01,2]x2 [0,1,2]x2')
        """
        keep = _task_subset(tasks, self.T, "restrict")
        new = {t: i for i, t in enumerate(keep)}
        blocks = [[[new[t] for t in g if t in new] for g in part if any(t in new for t in g)] for part in self.blocks]
        return Layout(blocks)

    def without(self, *tasks: int) -> "Layout":
        """The layout with some tasks removed (:meth:`restrict` to the others)."""
        drop = set(_task_subset(tasks, self.T, "without"))
        if len(drop) == self.T:
            raise ConfigError(f"without: cannot remove all {self.T} tasks")
        return self.restrict([t for t in range(self.T) if t not in drop])

    # ----------------------------------------------------------------------------------------------- queries
    def groups(self, block: int) -> Partition:
        """The task groups sharing block ``block`` (each group = one copy of the block)."""
        if not 0 <= block < self.B:
            raise ConfigError(f"groups: block must be in 0..{self.B - 1}, got {block}")
        return self.blocks[block]

    @property
    def num_groups(self) -> tuple[int, ...]:
        """Number of copies of each block (``|L_c|``), block 0 first."""
        return tuple(len(p) for p in self.blocks)

    @cached_property
    def branch_points(self) -> tuple[int, ...]:
        """Branching point of every task pair, in :func:`pairs` order."""
        out = []
        for i, j in pairs(self.T):
            b = self.B
            for c, part in enumerate(self.blocks):
                if not any(i in g and j in g for g in part):
                    b = c
                    break
            out.append(b)
        return tuple(out)

    def branch_point(self, i: int, j: int) -> int:
        """Number of leading blocks tasks ``i`` and ``j`` share (``B`` if never separated, 0 if independent)."""
        for t, name in ((i, "i"), (j, "j")):
            if not 0 <= t < self.T:
                raise ConfigError(f"branch_point: task {name} must be in 0..{self.T - 1}, got {t}")
        if i == j:
            return self.B
        a, b = min(i, j), max(i, j)
        return self.branch_points[pairs(self.T).index((a, b))]

    # ----------------------------------------------------------------------------------------------- layout cut
    def cut(self, block: int, part: Iterable[int]) -> "Layout":
        """Apply a *layout cut* (paper Def. 3.2): split a group at ``block`` into ``part`` and the rest.

        As in the authors' enumerator, the cut applies to ``block`` and every deeper block: each deeper group inside
        the cut group is split by intersecting it with ``part`` and with the rest.

        Args:
            block: block index in ``0..B-1``.
            part: a non-empty proper subset of one group of ``block``.

        Returns:
            The new layout.
        """
        if not 0 <= block < self.B:
            raise ConfigError(f"cut: block must be in 0..{self.B - 1}, got {block}")
        part = frozenset(int(t) for t in part)
        group = next((frozenset(g) for g in self.blocks[block] if part & set(g)), None)
        if not part or group is None or not part < group:
            raise ConfigError(f"cut: part must be a non-empty proper subset of one group of block {block} "
                              f"{self.blocks[block]}, got {sorted(part)}")
        rest = group - part
        new = list(self.blocks[:block])
        for c in range(block, self.B):
            groups = []
            for g in self.blocks[c]:
                s = set(g)
                if s <= group:
                    groups += [x for x in (s & part, s & rest) if x]
                else:
                    groups.append(s)
            new.append(groups)
        return Layout(new)

    # ----------------------------------------------------------------------------------------------- display
    def _fmt_group(self, g: Group) -> str:
        if self.T <= 10:
            return "".join(map(str, g))
        return ".".join(map(str, g)) + ("." if len(g) == 1 else "")   # "10.11", and "11." for task 11 alone

    def block_str(self, block: int) -> str:
        """One block as ``[01,2]``."""
        return "[" + ",".join(self._fmt_group(g) for g in self.blocks[block]) + "]"

    def __str__(self) -> str:
        parts = []
        for key, run in itertools.groupby(range(self.B), key=self.block_str):
            n = len(list(run))
            parts.append(key if n == 1 else f"{key}x{n}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"Layout.parse({str(self)!r})"

    # ----------------------------------------------------------------------------------------------- drawing
    def to_networkx(self, task_names: Sequence[str] | None = None, label_width: int | None = None):
        """The model tree as a ``networkx.DiGraph``.

        Nodes: ``"input"``, one node ``(c, group)`` per copy of block ``c`` and one head node ``("head", t)`` per task.
        Each node has attributes ``block`` (``-1`` input, ``B`` heads) and ``label``.

        Args:
            task_names: labels for the tasks (default ``t0, t1, ...``).
            label_width: wrap each node's task list into lines of at most this many characters (names are kept
                whole and shortened with "…" only if a single name is longer); None = one line.
        """
        import networkx as nx

        names = _names(task_names, self.T)
        width = _check_width(label_width)
        G = nx.DiGraph()
        G.add_node("input", block=-1, label="input")
        for c, part in enumerate(self.blocks):
            for g in part:
                G.add_node((c, g), block=c, label=f"b{c}\n" + _wrap([names[t] for t in g], width))
                parent = "input" if c == 0 else next((c - 1, h) for h in self.blocks[c - 1] if g[0] in h)
                G.add_edge(parent, (c, g))
        for t in range(self.T):
            G.add_node(("head", t), block=self.B, label=_wrap([names[t]], width))
            G.add_edge(next((self.B - 1, g) for g in self.blocks[-1] if t in g), ("head", t))
        return G

    def draw(self, ax=None, task_names: Sequence[str] | None = None, title: str | None = None,
             label_width: int | None = None, font_size: float = 8):
        """Draw the tree, input on the left, one column per block, task heads on the right.

        Args:
            ax: a matplotlib Axes (a new figure is made if None).
            task_names: labels for the tasks (default ``t0, t1, ...``).
            title: Axes title (default: the layout string).
            label_width: wrap each node's task names into lines of at most this many characters, so long names
                (``segment_semantic``) do not run into the neighbouring columns; a single longer name is shortened
                with "…". None (default): one line per node.
            font_size: size of the node labels.

        Returns:
            The matplotlib Axes.
        """
        import matplotlib.pyplot as plt
        import networkx as nx

        G = self.to_networkx(task_names, label_width)
        if ax is None:
            lines = max(str(label).count("\n") + 1 for _, label in G.nodes(data="label"))   # 2 without wrapping
            extra = 0.12 * max(0, lines - 2) * self.T
            _, ax = plt.subplots(figsize=(1.6 * (self.B + 2), 0.8 * self.T + 1.2 + extra))
        # tasks sorted by their group index block after block make every group a contiguous run of rows;
        # a node's height = mean row of the tasks below it, so the tree never crosses itself
        path = {t: tuple(next(i for i, g in enumerate(part) if t in g) for part in self.blocks) for t in range(self.T)}
        row = {t: r for r, t in enumerate(sorted(range(self.T), key=lambda t: path[t]))}
        pos = {}
        for node, data in G.nodes(data=True):
            tasks = ([node[1]] if node[0] == "head" else list(node[1])) if node != "input" else list(range(self.T))
            pos[node] = (data["block"], -sum(row[t] for t in tasks) / len(tasks))
        nx.draw_networkx_edges(G, pos, ax=ax, arrows=False, edge_color="0.5")
        nx.draw_networkx_labels(G, pos, labels=dict(G.nodes(data="label")), ax=ax, font_size=font_size,
                                bbox=dict(boxstyle="round", fc="white", ec="0.3"))
        ax.set_title(str(self) if title is None else title, fontsize=9)
        ax.set_axis_off()
        return ax


def _partition_of(together: np.ndarray, T: int, col: dict) -> Partition:
    """Canonical partition from a boolean "pair shares the block" row (an equivalence relation)."""
    groups: list[list[int]] = []
    for t in range(T):
        for g in groups:
            if together[col[(g[0], t)]]:
                g.append(t)
                break
        else:
            groups.append([t])
    return tuple(tuple(g) for g in groups)       # groups by smallest task, members ascending: canonical


def _check_width(width: int | None) -> int | None:
    if width is None:
        return None
    return check_int(width, "label_width", minimum=2, wording="None or an integer >= 2 (characters per line)")


def _wrap(names: list[str], width: int | None) -> str:
    """Names joined by commas, wrapped into lines of at most ``width`` characters (a line break separates too)."""
    if width is None:
        return ",".join(names)
    names = [n if len(n) <= width else n[:width - 1] + "…" for n in names]
    lines, line = [], ""
    for n in names:
        if not line:
            line = n
        elif len(line) + 1 + len(n) <= width:
            line += "," + n
        else:
            lines.append(line)
            line = n
    lines.append(line)
    return "\n".join(lines)


def _task_subset(tasks: Iterable[int], T: int, what: str) -> list[int]:
    """Validated, sorted task indices (ints in 0..T-1, no repeats, at least one)."""
    if isinstance(tasks, (str, bytes)):
        raise ConfigError(f"{what}: tasks must be task indices, got the string {tasks!r}")
    try:
        items = list(tasks)
    except TypeError:
        raise ConfigError(f"{what}: tasks must be a sequence of task indices, got {tasks!r}") from None
    out = []
    for t in items:
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t < T:
            raise ConfigError(f"{what}: tasks must be task indices in 0..{T - 1}, got {t!r}")
        out.append(int(t))
    if not out:
        raise ConfigError(f"{what}: expected at least one task index, got none")
    if len(set(out)) != len(out):
        raise ConfigError(f"{what}: a task is listed twice in {items}")
    return sorted(out)


def _names(task_names: Sequence[str] | None, T: int) -> list[str]:
    if task_names is None:
        return [f"t{t}" for t in range(T)]
    if len(task_names) != T:
        raise ConfigError(f"task_names: expected {T} names, got {len(task_names)}: {list(task_names)}")
    return [str(n) for n in task_names]


def _check_tb(T: int, B: int, minimum_t: int = 2) -> tuple[int, int]:
    """Validate the numbers of tasks and blocks; returns them as Python ints."""
    return (check_int(T, "T (number of tasks)", minimum=minimum_t, wording=f"an integer >= {minimum_t}"),
            check_int(B, "B (number of branching points / blocks)", minimum=1, wording="an integer >= 1"))
