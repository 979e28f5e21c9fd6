"""Tree-structured multi-task models built from a layout (TreeMTL paper §3, docs/treemtl.md §3).

:class:`TreeModel` turns a backbone split into ``B`` blocks (:func:`~mtlkit.treemtl.branching_points`, optionally
:func:`~mtlkit.treemtl.coarsen`-ed) and a :class:`~mtlkit.treemtl.Layout` into one network: at block ``c`` each task
group of the layout owns one copy of block ``c`` (a deep copy of the backbone's block, so every copy starts from the
backbone's weights), fed by the copy of block ``c-1`` of the group containing it. One forward computes every copy
once — a block shared by a group runs once for all its tasks — and each task's head reads the output of the last
block of its group.

Its backbone cost is ``sum_c |L_c| f_c`` exactly, the recommender's cost model: :meth:`TreeModel.costs` returns
:func:`~mtlkit.treemtl.layout_costs` of its layout, and the model's measured parameter and FLOP counts agree with it
(tested). The all-shared layout is a hard-shared model, the fully split one is ``T`` independent single-task models
(same outputs for the same weights, tested); a two-task model at branching point ``b`` is
``TreeModel.two_task(...)``, the layout ``Layout.from_branch_points(2, B, [b])``.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from mtlkit.errors import ConfigError
from mtlkit.heads import check_head_fits, head_in_channels
from mtlkit.models import check_heads_mapping, check_images, input_channels
from mtlkit.treemtl.branching import BlockSequence, branching_points, coarsen
from mtlkit.treemtl.costs import layout_costs
from mtlkit.treemtl.layout import Layout

__all__ = ["TreeModel", "copy_key"]


def copy_key(block: int, group: Sequence[int]) -> str:
    """Name of the copy of block ``block`` owned by task group ``group`` in :attr:`TreeModel.copies`: ``"b2_t0-1"``."""
    return f"b{block}_t{'-'.join(str(t) for t in group)}"


class TreeModel(nn.Module):
    """A tree-structured multi-task model: one copy of each block per task group of a layout.

    Args:
        blocks: the backbone's ``B`` blocks (a :class:`~mtlkit.treemtl.branching.BlockSequence`); each copy is a
            deep copy of a block's module.
        layout: a :class:`Layout` (or its string form, ``"[012]x2 [01,2]"``) for ``T = len(heads)`` tasks and ``B``
            blocks; task ``i`` is the ``i``-th entry of ``heads``.
        heads: task name -> head module, in task index order; used as given (not copied).
        tasks: optional task objects; when given, the heads' output channels are checked against them.

    Raises:
        ConfigError: a layout for another number of tasks or blocks, empty or badly named heads, or a head whose
            input channels differ from the last block's output channels.
    """

    def __init__(self, blocks: BlockSequence, layout: "Layout | str", heads: Mapping[str, nn.Module],
                 tasks: Any = None):
        super().__init__()
        if not isinstance(blocks, BlockSequence):
            raise ConfigError(f"blocks must be a BlockSequence from branching_points()/coarsen(), got "
                              f"{type(blocks).__name__}")
        check_heads_mapping(heads)
        layout = _as_layout(layout)
        names = tuple(heads)
        if layout.T != len(names):
            raise ConfigError(f"layout {layout} is for T={layout.T} tasks but {len(names)} heads were given "
                              f"({list(names)}); give one head per task of the layout")
        if layout.B != blocks.B:
            raise ConfigError(f"layout {layout} has B={layout.B} branching points but the backbone has {blocks.B} "
                              f"blocks; coarsen(blocks, {layout.B}) or pass a layout over {blocks.B} blocks")
        out_shape = tuple(blocks[-1].out_shape)
        for name, head in heads.items():
            got = head_in_channels(head)
            if got is not None and out_shape and got != out_shape[0]:
                raise ConfigError(f"head of task {name!r} expects {got} input channels but the last block "
                                  f"({blocks[-1].name}) outputs {out_shape[0]} (expected in_channels={out_shape[0]}, "
                                  f"got {got})")
            if len(out_shape) in (1, 3):  # (C, h, w) maps or (C,) vectors: the head must take that kind
                try:
                    check_head_fits(name, head, out_shape)
                except ConfigError as exc:
                    raise ConfigError(f"{exc} (the last block is {blocks[-1].name!r})") from None
        self.layout = layout
        self.task_names = names
        self.block_costs = blocks.block_costs()
        self.block_names = tuple(b.name for b in blocks)
        self.copies = nn.ModuleDict()
        self._parent: dict[str, str | None] = {}
        for c in range(layout.B):
            for g in layout.groups(c):
                key = copy_key(c, g)
                self.copies[key] = copy.deepcopy(blocks[c].module)
                self._parent[key] = None if c == 0 else copy_key(c - 1, _group_of(layout, c - 1, g[0]))
        self._leaf = {t: copy_key(layout.B - 1, _group_of(layout, layout.B - 1, i)) for i, t in enumerate(names)}
        self.heads = nn.ModuleDict(dict(heads))
        if tasks is not None:
            from mtlkit.models import as_task_dict, check_heads_match_tasks

            check_heads_match_tasks(self.heads, as_task_dict(tasks))

    # ------------------------------------------------------------------------------------------------ builders
    @classmethod
    def from_layout(cls, backbone: nn.Module, blocks: "BlockSequence | int | Mapping | None",
                    layout: "Layout | str", heads: Mapping[str, nn.Module], *, tasks: Any = None,
                    example_input: torch.Tensor | None = None) -> "TreeModel":
        """Build the tree model of ``layout`` on ``backbone``.

        Args:
            backbone: the backbone whose blocks are copied.
            blocks: its blocks from :func:`branching_points` / :func:`coarsen` (they must hold this backbone's
                parameters), or ``None`` (detect them), or a number of coarse blocks / a mapping (detect, then
                :func:`coarsen`).
            layout: the layout (``T = len(heads)`` tasks, ``B`` = number of blocks).
            heads: task name -> head, in task index order.
            tasks: optional task objects (channel checks).
            example_input: input used for detection when ``blocks`` is not a BlockSequence (default
                ``torch.zeros(1, 3, 64, 64)`` on the backbone's device; the costs are measured at its size).

        Returns:
            The :class:`TreeModel`.
        """
        if not isinstance(backbone, nn.Module):
            raise ConfigError(f"backbone must be an nn.Module, got {type(backbone).__name__}")
        if not isinstance(blocks, BlockSequence):
            if example_input is None:
                p = next(iter(backbone.parameters()), None)
                example_input = torch.zeros(1, 3, 64, 64, device=p.device if p is not None else "cpu")
            detected = branching_points(backbone, example_input)
            blocks = detected if blocks is None else coarsen(detected, blocks)
        else:
            own = {id(p) for p in backbone.parameters()}
            foreign = [p for p in blocks.parameters() if id(p) not in own]
            if foreign:
                raise ConfigError(f"blocks hold {len(foreign)} parameter tensors that are not the backbone's; they "
                                  "were detected on another backbone (call branching_points(backbone, ...) on this "
                                  "one)")
        return cls(blocks, layout, heads, tasks=tasks)

    @classmethod
    def two_task(cls, backbone: nn.Module, blocks: BlockSequence, branch: int, heads: Mapping[str, nn.Module],
                 **kw) -> "TreeModel":
        """The two-task model that shares the first ``branch`` blocks (``branch`` in ``0..B``; docs/treemtl.md §3)."""
        if len(heads) != 2:
            raise ConfigError(f"two_task needs exactly 2 heads, got {len(heads)}: {list(heads)}")
        B = blocks.B if isinstance(blocks, BlockSequence) else None
        if B is None:
            raise ConfigError("two_task needs the blocks as a BlockSequence (to know B)")
        if isinstance(branch, bool) or not isinstance(branch, int) or not 0 <= branch <= B:
            raise ConfigError(f"branch (branching point) must be an int in 0..{B}, got {branch!r}")
        return cls.from_layout(backbone, blocks, Layout.from_branch_points(2, B, [branch]), heads, **kw)

    # ------------------------------------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, tasks: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Predict every task (or only ``tasks``); each needed block copy runs once.

        Args:
            x: input batch ``(N, 3, H, W)``.
            tasks: optional subset of task names (only the copies on their paths run).

        Returns:
            ``{task: head output}``.
        """
        names = self.task_names if tasks is None else tuple(tasks)
        if "_in_channels" not in self.__dict__:
            self.__dict__["_in_channels"] = input_channels(self)
        check_images(x, self.__dict__["_in_channels"])
        unknown = [t for t in names if t not in self._leaf]
        if unknown:
            raise ConfigError(f"unknown task(s) {unknown}; the model predicts {list(self.task_names)}")
        needed: set[str] = set()
        for t in names:
            key: str | None = self._leaf[t]
            while key is not None and key not in needed:
                needed.add(key)
                key = self._parent[key]
        outputs: dict[str, torch.Tensor] = {}
        for key, block in self.copies.items():   # creation order: block 0's copies first
            if key in needed:
                parent = self._parent[key]
                outputs[key] = block(x if parent is None else outputs[parent])
        return {t: self.heads[t](outputs[self._leaf[t]]) for t in names}

    # ------------------------------------------------------------------------------------------------ queries
    def copy_for(self, block: int, task: int | str) -> nn.Module:
        """The copy of block ``block`` that task ``task`` (index or name) runs through."""
        t = self.task_names.index(task) if isinstance(task, str) else int(task)
        if not 0 <= t < self.layout.T:
            raise ConfigError(f"task must be one of {list(self.task_names)} or an index 0..{self.layout.T - 1}, "
                              f"got {task!r}")
        if not 0 <= block < self.layout.B:
            raise ConfigError(f"block must be in 0..{self.layout.B - 1}, got {block}")
        return self.copies[copy_key(block, _group_of(self.layout, block, t))]

    def backbone_parameters(self) -> int:
        """Parameters of all block copies (heads excluded)."""
        return sum(p.numel() for p in self.copies.parameters())

    def head_parameters(self) -> int:
        """Parameters of the heads."""
        return sum(p.numel() for p in self.heads.parameters())

    def costs(self) -> dict[str, float]:
        """The recommender's backbone cost of this layout (:func:`~mtlkit.treemtl.layout_costs`): MACs per image at
        the detection input size, parameters, and the paper's % columns."""
        return layout_costs(self.layout, self.block_costs)

    def extra_repr(self) -> str:
        return f"layout={self.layout}, tasks={list(self.task_names)}"


def _as_layout(layout: "Layout | str") -> Layout:
    if isinstance(layout, Layout):
        return layout
    if isinstance(layout, str):
        return Layout.parse(layout)
    raise ConfigError(f"layout must be a Layout or its string form such as '[01]x2 [0,1]', got {layout!r}")


def _group_of(layout: Layout, block: int, task: int) -> tuple[int, ...]:
    return next(g for g in layout.groups(block) if task in g)
