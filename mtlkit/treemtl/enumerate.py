"""Design-space enumeration (paper §3.2, docs/treemtl.md §2): counting, the paper's cut-based order, a fast enumerator.

* :func:`count_layouts` — exact count without enumerating: multichains of length ``B`` in the lattice of set
  partitions of ``T`` tasks, by a recurrence over "the group that contains the first task".
* :func:`enumerate_layouts` ``(order="paper")`` — the authors' cut-based recursive enumerator, reproduced move for
  move (docs/treemtl.md §2: blocks shallow to deep from the last cut position, the block's task sets in their list order,
  splits in the order of ``itertools.product``, remove + append, first occurrence kept, depth-first pre-order), so
  ``layouts[k]`` is the paper's ``#k``. Duplicates are found with a hash set of branch-point codes instead of the
  authors' linear list scan (O(N) instead of O(N²) comparisons).
* :func:`branch_point_matrix` ``(order="fast")`` — every layout generated directly, once, as a row of pairwise
  branching points, by a memoised numpy recursion over (task subset, block): a group either stays whole at a block
  or splits into parts (the part holding its smallest task first); no cuts, no deduplication. The same set as the
  paper's enumerator, in another (documented, deterministic) order.
* :func:`paper_index` / :func:`paper_layout` — map a layout to its paper index and back.
* :func:`iter_cut_steps` — the authors' DFS step by step, for teaching and inspection: every cut it tries (parent,
  block, task set, split, child, new or duplicate, paper index), written from the spec's pseudo-code with
  :class:`Layout` objects and list states, independently of the hashed enumerator (the two agree, tested).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from math import comb
from typing import Iterator, Literal

import numpy as np

from mtlkit.errors import ConfigError
from mtlkit.treemtl.layout import Layout, _check_tb, pairs

#: Enumerators refuse to materialise more layouts than this (use :func:`mtlkit.treemtl.top_k` beyond it).
MAX_LAYOUTS = 5_000_000


@lru_cache(maxsize=None)
def _count(n: int, r: int) -> int:
    """Completions of one group of ``n`` tasks over ``r`` remaining blocks."""
    if n <= 1 or r == 0:
        return 1
    # the part holding the group's first task has size k at the next block: choose its k-1 other members;
    # it continues with r-1 blocks, the other n-k tasks are partitioned at the same block
    return sum(comb(n - 1, k - 1) * _count(k, r - 1) * _count_rest(n - k, r) for k in range(1, n + 1))


@lru_cache(maxsize=None)
def _count_rest(n: int, r: int) -> int:
    """Ways to partition ``n`` tasks at a block, each part completed over the ``r-1`` following blocks."""
    if n == 0:
        return 1
    return sum(comb(n - 1, k - 1) * _count(k, r - 1) * _count_rest(n - k, r) for k in range(1, n + 1))


def count_layouts(T: int, B: int) -> int:
    """Number of tree-structured layouts for ``T`` tasks and ``B`` branching points, without enumerating.

    Recurrence (multichains of the partition lattice): ``N(n, r) = R(n, r)`` for a group of ``n >= 2`` tasks with
    ``r`` blocks left, where ``R(n, r) = sum_k C(n-1, k-1) N(k, r-1) R(n-k, r)`` partitions the group at the next block
    (``k`` = size of the part holding its first task) and ``N(1, r) = N(n, 0) = R(0, r) = 1``.
    ``B = 1`` gives the Bell numbers, ``T = 2`` gives ``B + 1``, ``T = 3`` gives ``(B + 1)(3B + 2)/2``.

    Args:
        T: number of tasks (>= 2).
        B: number of branching points / blocks (>= 1).

    Returns:
        The exact count (a Python int; T=8, B=17 gives about 1.6e11).
    """
    T, B = _check_tb(T, B)
    return _count(T, B)


# ------------------------------------------------------------------------------------------ branch-point codes
def _encoding(T: int, B: int) -> tuple[int, dict[tuple[int, int], int]]:
    """Base and per-pair place value of the integer code of a branch vector (pair 0 most significant)."""
    P = pairs(T)
    base = B + 1
    return base, {p: base ** (len(P) - 1 - i) for i, p in enumerate(P)}


def _decode(codes: list[int], T: int, B: int) -> np.ndarray:
    """Integer codes -> ``(N, T(T-1)/2)`` uint8 branch-point matrix."""
    npairs = T * (T - 1) // 2
    base = B + 1
    if base ** npairs < 2 ** 62:
        c = np.asarray(codes, dtype=np.int64)
        powers = base ** np.arange(npairs - 1, -1, -1, dtype=np.int64)
        return ((c[:, None] // powers[None, :]) % base).astype(np.uint8)
    out = np.empty((len(codes), npairs), dtype=np.uint8)
    for r, code in enumerate(codes):
        for i in range(npairs - 1, -1, -1):
            code, out[r, i] = divmod(code, base)
    return out


def _code_of(layout: Layout) -> int:
    base, place = _encoding(layout.T, layout.B)
    return sum(b * place[p] for p, b in zip(pairs(layout.T), layout.branch_points))


def _splits(S: int) -> list[tuple[int, int]]:
    """The authors' ``divide_set`` order for a task bitmask ``S`` (docs/treemtl.md §2).

    ``itertools.product([True, False])`` over the set's elements in ascending order, keeping patterns whose first
    bit is False and that are not all False: ``l1`` runs over the non-empty subsets of the elements after the first,
    counted down from "all" with the second element as the most significant bit; ``l2`` is the rest (it holds the
    smallest task).
    """
    elems = [t for t in range(S.bit_length()) if S >> t & 1]
    rest = elems[1:]
    n = len(rest)
    out = []
    for pattern in range((1 << n) - 1, 0, -1):
        l1 = 0
        for k, t in enumerate(rest):
            if pattern >> (n - 1 - k) & 1:
                l1 |= 1 << t
        out.append((l1, S & ~l1))
    return out


def _paper_codes(T: int, B: int) -> list[int]:
    """Branch-point codes of all layouts in the authors' discovery order (``#0``, ``#1``, ...)."""
    base, place = _encoding(T, B)
    full = (1 << T) - 1
    cross: dict[tuple[int, int], int] = {}

    def cross_value(l1: int, l2: int) -> int:
        key = (l1, l2)
        if key not in cross:
            cross[key] = sum(place[(min(x, y), max(x, y))]
                             for x in range(T) if l1 >> x & 1 for y in range(T) if l2 >> y & 1)
        return cross[key]

    split_cache: dict[int, list[tuple[int, int]]] = {}
    start = sum(B * v for v in place.values())
    seen = {start}
    out = [start]

    def visit(state: tuple[tuple[int, ...], ...], num_cut: int, lowest: int, code: int) -> None:
        if num_cut >= T - 1:
            return
        for i in range(lowest, B):
            for S in state[i]:                      # the block's list order (remove + append history)
                if S & (S - 1) == 0:
                    continue                        # singleton
                if S not in split_cache:
                    split_cache[S] = _splits(S)
                for l1, l2 in split_cache[S]:
                    # blocks >= the last cut are identical, so S is a group down to the last block: its pairs had
                    # branching point B; the cut separates l1 from l2 at block i
                    new = code - (B - i) * cross_value(l1, l2)
                    if new in seen:
                        continue
                    seen.add(new)
                    out.append(new)
                    block = tuple(x for x in state[i] if x != S) + (l1, l2)
                    visit(state[:i] + (block,) * (B - i), num_cut + 1, i, new)

    visit(((full,),) * B, 0, 0, start)
    return out


@lru_cache(maxsize=8)
def _paper_order(T: int, B: int) -> tuple[tuple[int, ...], dict[int, int]]:
    codes = _paper_codes(T, B)
    return tuple(codes), {c: i for i, c in enumerate(codes)}


def _guard(T: int, B: int, limit: int | None) -> int:
    n = count_layouts(T, B)
    limit = MAX_LAYOUTS if limit is None else limit
    if n > limit:
        raise ConfigError(f"T={T}, B={B} has {n:,} layouts, more than the enumeration limit {limit:,}; "
                          "use mtlkit.treemtl.top_k (exact search without enumeration) or raise max_layouts")
    return n


# ------------------------------------------------------------------------------------------ fast enumerator
def _fast_matrix(T: int, B: int) -> np.ndarray:
    """All layouts as a branch-point matrix, generated directly (see module docstring)."""
    P = pairs(T)
    index = {p: i for i, p in enumerate(P)}
    npairs = len(P)

    def pair_mask(S: int, R: int) -> np.ndarray:
        m = np.zeros(npairs, dtype=bool)
        for x in range(T):
            if S >> x & 1:
                for y in range(T):
                    if R >> y & 1 and x != y:
                        m[index[(min(x, y), max(x, y))]] = True
        return m

    zero = np.zeros((1, npairs), dtype=np.uint8)

    @lru_cache(maxsize=None)
    def F(S: int, d: int) -> np.ndarray:
        # S: tasks together on blocks < d; rows: every way to complete S on blocks >= d (pairs outside S are 0)
        if S & (S - 1) == 0:
            return zero
        if d == B:
            row = zero.copy()
            row[0, pair_mask(S, S)] = B
            return row
        low = S & -S
        rest = S & ~low
        chunks = []
        sub = rest
        while True:                                # subsets of the rest, largest mask first (P = S first)
            part = low | sub
            other = S & ~part
            a = F(part, d + 1)                     # the part holding the smallest task, one group at block d
            if other == 0:
                chunks.append(a)
            else:
                b = F(other, d)                    # the other tasks, partitioned at the same block d
                rows = (a[:, None, :] + b[None, :, :]).reshape(-1, npairs)
                rows[:, pair_mask(part, other)] = d
                chunks.append(rows)
            if sub == 0:
                break
            sub = (sub - 1) & rest
        return np.concatenate(chunks)

    return F((1 << T) - 1, 0)


# ------------------------------------------------------------------------------------------ public API
def branch_point_matrix(T: int, B: int, order: Literal["fast", "paper"] = "fast",
                        max_layouts: int | None = None) -> np.ndarray:
    """Every layout as a row of its pairwise branching points (columns in :func:`~mtlkit.treemtl.layout.pairs` order).

    Args:
        T: number of tasks (>= 2).
        B: number of branching points (>= 1).
        order: ``"fast"`` (direct generation; the order of a depth-first recursion over (group, block): at each
            block the group stays whole first, then the part holding its smallest task runs over the subsets in
            decreasing bitmask order) or ``"paper"`` (row ``k`` = the paper's ``#k``).
        max_layouts: refuse if the space is larger (default :data:`MAX_LAYOUTS`).

    Returns:
        ``(count_layouts(T, B), T(T-1)/2)`` uint8 array.
    """
    T, B = _check_tb(T, B)
    _guard(T, B, max_layouts)
    if order == "fast":
        return _fast_matrix(T, B).copy()
    if order == "paper":
        codes, _ = _paper_order(T, B)
        return _decode(list(codes), T, B)
    raise ConfigError(f"order must be 'fast' or 'paper', got {order!r}")


def enumerate_layouts(T: int, B: int, order: Literal["paper", "fast"] = "paper",
                      max_layouts: int | None = 1_000_000) -> list[Layout]:
    """All layouts for ``T`` tasks and ``B`` branching points as :class:`Layout` objects.

    Args:
        T: number of tasks (>= 2).
        B: number of branching points (>= 1).
        order: ``"paper"`` (default; ``result[k]`` is the paper's ``#k``, the authors' cut-based DFS order) or
            ``"fast"`` (see :func:`branch_point_matrix`).
        max_layouts: refuse if the space is larger.

    Returns:
        The list of layouts (complete, no duplicates).
    """
    bp = branch_point_matrix(T, B, order=order, max_layouts=max_layouts)
    return Layout.from_branch_matrix(T, B, bp)


def paper_index(layout: Layout, max_layouts: int | None = 200_000) -> int:
    """The paper's index ``#k`` of a layout: its position in the authors' cut-based DFS (docs/treemtl.md §2).

    The first call for a (T, B) runs the DFS once (T=5, B=5: 7,556 layouts, a fraction of a second) and caches it.
    """
    _guard(layout.T, layout.B, max_layouts)
    _, where = _paper_order(layout.T, layout.B)
    return where[_code_of(layout)]


def paper_layout(T: int, B: int, index: int, max_layouts: int | None = 200_000) -> Layout:
    """The layout the paper calls ``#index`` for ``T`` tasks and ``B`` branching points."""
    T, B = _check_tb(T, B)
    n = _guard(T, B, max_layouts)
    if not 0 <= index < n:
        raise ConfigError(f"paper_layout: index must be in 0..{n - 1} for T={T}, B={B}, got {index}")
    codes, _ = _paper_order(T, B)
    return Layout.from_branch_points(T, B, _decode([codes[index]], T, B)[0].tolist())


@lru_cache(maxsize=8)
def _paper_lookup(T: int, B: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted int64 codes of the paper order and the paper index of each (for vectorised look-ups)."""
    codes, _ = _paper_order(T, B)
    arr = np.asarray(codes, dtype=np.int64)
    perm = np.argsort(arr, kind="stable")
    return arr[perm], perm.astype(np.int64)


def paper_indices(bp: np.ndarray, T: int, B: int) -> np.ndarray:
    """Paper indices of the rows of a branch-point matrix (int64 array).

    Raises:
        ConfigError: a row that is not a layout of ``T`` tasks and ``B`` blocks.
    """
    bp = np.asarray(bp)
    npairs = T * (T - 1) // 2
    if bp.ndim != 2 or bp.shape[1] != npairs:
        raise ConfigError(f"paper_indices: expected a (N, {npairs}) branch-point matrix, got shape {bp.shape}")
    if bp.size and (bp.min() < 0 or bp.max() > B):
        r = int(np.argwhere((bp < 0) | (bp > B))[0][0])
        raise ConfigError(f"paper_indices: branching points must lie in 0..{B}; row {r} is {bp[r].tolist()}")
    base, place = _encoding(T, B)
    if base ** npairs < 2 ** 62:                              # vectorised: int64 codes, binary search
        sorted_codes, index = _paper_lookup(T, B)
        powers = np.array([place[p] for p in pairs(T)], dtype=np.int64)
        codes = bp.astype(np.int64) @ powers
        pos = np.minimum(np.searchsorted(sorted_codes, codes), len(sorted_codes) - 1)
        bad = np.flatnonzero(sorted_codes[pos] != codes)
        if len(bad):
            raise ConfigError(f"paper_indices: row {int(bad[0])} {bp[bad[0]].tolist()} is not a layout of T={T} "
                              f"tasks and B={B} blocks")
        return index[pos]
    _, where = _paper_order(T, B)
    weights = [place[p] for p in pairs(T)]
    out = []
    for r, row in enumerate(bp):
        code = sum(int(b) * w for b, w in zip(row, weights))
        if code not in where:
            raise ConfigError(f"paper_indices: row {r} {row.tolist()} is not a layout of T={T} tasks and B={B} "
                              "blocks")
        out.append(where[code])
    return np.array(out, dtype=np.int64)


# ------------------------------------------------------------------------------------------ step-by-step trace
@dataclass(frozen=True)
class CutStep:
    """One cut tried by the authors' cut-based DFS (docs/treemtl.md §2), as :func:`iter_cut_steps` yields it.

    Attributes:
        step: 1-based number of the cut among all cuts tried.
        depth: recursion depth of the parent's expansion (1 = a cut of ``L0``).
        parent: the layout being expanded.
        parent_index: its paper index ``#k``.
        block: the block cut (``lowest_avail_cut <= block < B``; the cut applies to it and every deeper block).
        task_set: the task set (group) of ``block`` that is split, sorted.
        split: ``(l1, l2)``, both sorted: ``l1`` is cut off, ``l2`` keeps the set's smallest task (the order of
            the authors' ``divide_set``).
        block_order: the groups of the parent's ``block`` in the code's list order (remove + append history), the
            order in which the DFS visits them; for ``T >= 4`` it differs from the sorted order of :class:`Layout`.
        child: the layout the cut produces.
        new: True if ``child`` is found for the first time (it gets the next index and is expanded at once);
            False for a duplicate (the code's ``Lp in list``: skipped, not expanded).
        index: the child's paper index (new, or the earlier index the duplicate repeats).
    """

    step: int
    depth: int
    parent: Layout
    parent_index: int
    block: int
    task_set: tuple[int, ...]
    split: tuple[tuple[int, ...], tuple[int, ...]]
    block_order: tuple[tuple[int, ...], ...]
    child: Layout
    new: bool
    index: int

    def row(self) -> dict:
        """Plain values for a table row: ``depth``, ``parent``, ``block``, ``l1``, ``l2``, ``result``, ``index``,
        ``new`` (layouts as strings)."""
        return dict(depth=self.depth, parent=self.parent_index, block=self.block, l1=list(self.split[0]),
                    l2=list(self.split[1]), result=str(self.child), index=self.index, new=self.new)


def _divide_set(S: tuple[int, ...]) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The authors' ``divide_set`` (docs/treemtl.md §2), over the set's members in ascending (Python set) order."""
    for pattern in itertools.product([True, False], repeat=len(S)):
        if pattern[0] is False and sum(pattern) != 0:
            l1 = tuple(x for bit, x in zip(pattern, S) if bit)
            yield l1, tuple(x for x in S if x not in l1)


def iter_cut_steps(T: int, B: int, max_layouts: int | None = 1_000_000) -> Iterator[CutStep]:
    """Replay the authors' cut-based enumerator (docs/treemtl.md §2) one cut at a time.

    The DFS of the paper's §3.2 as the code runs it: from ``L0`` (everything shared), for each block from the last
    cut position on, for each task set of the block in the code's list order, for each split in ``divide_set``
    order, apply the cut to the block and every deeper block (remove the set, append ``l1`` then ``l2``); a child
    not seen before gets the next index and is expanded at once (depth-first, pre-order, at most ``T-1`` cuts); a
    duplicate is skipped. The children with ``new=True``, in order, are ``enumerate_layouts(T, B)[1:]`` for every
    ``T`` and ``B`` (the paper's ``#1, #2, ...``; tested).

    This is a readable trace, not the fast path: it builds a :class:`Layout` per cut (T=5, B=5: 7,556 layouts,
    about twice as many cuts, a fraction of a second to a few seconds). Stop early with ``itertools.islice``.

    Args:
        T: number of tasks (>= 2).
        B: number of branching points (>= 1).
        max_layouts: refuse spaces larger than this (the generator keeps a set of the layouts found).

    Yields:
        :class:`CutStep` records, in the order the DFS tries the cuts.

    Example:
        >>> [s.index for s in iter_cut_steps(3, 2) if s.new]
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    """
    T, B = _check_tb(T, B)
    _guard(T, B, max_layouts)
    full = tuple(range(T))
    root_state = ((full,),) * B                    # B blocks, each a list (tuple) of task sets in list order
    root = Layout(root_state)
    index = {root: 0}
    counter = itertools.count(1)

    def visit(state, layout: Layout, num_cut: int, lowest: int, depth: int) -> Iterator[CutStep]:
        if num_cut >= T - 1:
            return
        for i in range(lowest, B):
            for S in state[i]:
                if len(S) == 1:
                    continue
                for l1, l2 in _divide_set(S):
                    block = tuple(x for x in state[i] if x != S) + (l1, l2)     # remove + append
                    child_state = state[:i] + (block,) * (B - i)
                    child = Layout(child_state)
                    known = index.get(child)
                    new = known is None
                    if new:
                        known = index[child] = len(index)
                    yield CutStep(next(counter), depth, layout, index[layout], i, S, (l1, l2), state[i], child,
                                  new, known)
                    if new:
                        yield from visit(child_state, child, num_cut + 1, i, depth + 1)

    yield from visit(root_state, root, 0, 0, 1)
