"""The branching-point detector (TreeMTL paper §3.3, docs/treemtl.md §9): a backbone → a sequence of computation blocks.

A *branching point* is a place where a tree-structured multi-task model may split: between two consecutive
*computation blocks*. The paper finds them in two stages, which this module re-implements on a ``torch.fx`` graph
instead of the original's Caffe prototxt:

1. **Candidate blocks.** A candidate block is a sub-graph with one input and one output tensor. On the value-flow
   graph (a ``networkx.DiGraph``, one node per fx node, an edge per tensor use) the tensors that *every*
   input→output path passes through are exactly the dominators of the output (``nx.immediate_dominators``); they
   cut the graph into a chain of candidates. A residual block stays one candidate (its skip is a second path), a
   plain chain of ops falls apart into single ops — what the original's recursive min-cut gives.
2. **Merge.** Candidates without *weights* (only activations, pooling, element-wise ops, and normalisation layers,
   whose affine parameters do not count, as in the paper) are merged into the preceding computation block; leading
   ones into the first block.

The result is a :class:`BlockSequence`: each :class:`Block` holds an executable ``fx.GraphModule`` (the backbone's
own submodules, not copies), its parameter count and its FLOPs per image at the detection input size (FLOPs =
2 × MACs, ``torch.utils.flop_counter``: convolutions and matrix products; BN, activations, pooling and additions are
not counted). :func:`coarsen` merges adjacent blocks into ``B`` coarse blocks — balanced on FLOPs (how the paper made
MobileNetV2 five points) or by a user mapping in the paper's form (``{0: [0], 1: [1, 2, 3], ...}``).
:meth:`BlockSequence.block_costs` gives the :class:`~mtlkit.treemtl.costs.BlockCosts` the recommender needs, so
``recommend(table, blocks.block_costs(), budget=...)`` works for any traceable backbone.

What comes out (tested):

* torchvision ResNet-34 features (``nn.Sequential`` of its children up to ``layer4``): 17 blocks, the stem
  (conv1+bn1+relu+maxpool) and the 16 BasicBlocks (each with its final ReLU) — the paper's granularity.
* A full ResNet-34 classifier: the same 17 blocks, the global pooling and ``flatten`` merged into the last
  BasicBlock (no weights), and the classifier ``fc`` as an 18th block of its own (it has weights); the last block
  then outputs ``(N, 1000)`` logits, not a feature map — for dense tasks pass the feature extractor instead.
* torchvision MobileNetV2 ``features``: 32 blocks, as the authors' detector found (docs/treemtl.md §9): the stem, the final
  1×1 conv, every inverted residual *with* a skip connection as one block (the skip makes it one candidate), and
  every inverted residual without a skip split at its internal single-tensor cuts into expand / depthwise / project
  blocks (2 for the first one, which has no expansion). ``atomic=(InvertedResidual,)`` keeps every inverted
  residual whole instead (19 blocks: stem, the 17 inverted residuals, final conv) — the paper's §4.1 wording.
* A long skip connection (U-Net-like) is never cut: everything between the skip's source and its merge is one block.

Beyond the paper: weights used in several places (a module called twice, a tied parameter) and modules listed in
``atomic`` force the candidates that use them into one block, so copying a block never unties weights or splits a
module; a ``forward`` that depends on ``self.training`` is traced in both modes and each block switches graph with
``.train()``/``.eval()`` (as :func:`mtlkit.tracing.trace_backbone` does).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

import torch
import torch.fx as fx
from torch import nn

from mtlkit.tracing import remove_inplace, split_leaf_modules, trace_modes
from mtlkit.errors import ConfigError
from mtlkit.flops import count_flops
from mtlkit.treemtl.costs import BlockCosts

__all__ = ["Block", "BlockSequence", "branching_points", "coarsen", "balanced_mapping", "check_mapping",
           "is_weight_module"]

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


# ------------------------------------------------------------------------------------------------------ results
@dataclass(frozen=True, eq=False)
class Block:
    """One computation block: a single-input, single-output piece of the backbone.

    Attributes:
        index: position in its sequence (0 = next to the input).
        name: readable name: the module path all its ops live in (``"layer2.0"``), else ``"first…last"``.
        module: executable ``(N, *in_shape) -> (N, *out_shape)``; holds the backbone's own submodules.
        params: number of parameters (each counted once).
        flops: FLOPs of one image at the detection input size (``FlopCounterMode``: 2 × MACs of convs/matmuls).
        in_shape: input shape of one sample, e.g. ``(64, 56, 56)``.
        out_shape: output shape of one sample.
        modules: module paths the block calls, in execution order.
        fine: indices of the detected (fine) blocks it is made of (``(index,)`` for a detected block).
    """

    index: int
    name: str
    module: nn.Module
    params: int
    flops: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    modules: tuple[str, ...] = ()
    fine: tuple[int, ...] = ()

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one image (``flops // 2``; the paper's "FLOPs")."""
        return self.flops // 2

    def __repr__(self) -> str:
        return (f"Block({self.index}, {self.name!r}, params={self.params:,}, macs={self.macs:,}, "
                f"{self.in_shape}->{self.out_shape})")


@dataclass(frozen=True, eq=False)
class BlockSequence(Sequence):
    """The computation blocks of a backbone, input side first (a read-only sequence of :class:`Block`).

    Attributes:
        blocks: the blocks.
        input_shape: shape of one input sample the costs were measured at, e.g. ``(3, 224, 224)``.
        backbone: class name of the backbone (for labels).
        fine: the detected blocks these were coarsened from (``None`` for detected blocks themselves).
    """

    blocks: tuple[Block, ...]
    input_shape: tuple[int, ...]
    backbone: str = "backbone"
    fine: "BlockSequence | None" = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i):
        return self.blocks[i]

    def __iter__(self) -> Iterator[Block]:
        return iter(self.blocks)

    @property
    def B(self) -> int:
        """Number of blocks (= number of branching points of a layout over them)."""
        return len(self.blocks)

    @property
    def mapping(self) -> dict[int, list[int]]:
        """Coarse block → fine blocks, in the paper's form, with the sentinel ``B: [number of fine blocks]``.

        For detected blocks the mapping is the identity (``{0: [0], ..., B: [B]}``).
        """
        n_fine = len(self.fine) if self.fine is not None else self.B
        out = {b.index: list(b.fine) for b in self.blocks}
        out[self.B] = [n_fine]
        return out

    def parameters(self) -> Iterator[nn.Parameter]:
        """The parameters of all blocks (each once)."""
        seen: set[int] = set()
        for b in self.blocks:
            for p in b.module.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield p

    def block_costs(self, name: str | None = None) -> BlockCosts:
        """Per-block costs for the recommender (:func:`~mtlkit.treemtl.recommend`, ``layout_costs``).

        Args:
            name: label (default ``"<backbone>@<input size>"``).

        Returns:
            :class:`BlockCosts` with MACs (= FLOPs / 2) and parameters per block.
        """
        size = self.input_shape[-1] if len(self.input_shape) >= 2 and self.input_shape[-1] == self.input_shape[-2] \
            else None
        label = name or f"{self.backbone}@{'x'.join(map(str, self.input_shape[1:]))}"
        return BlockCosts(tuple(b.macs for b in self.blocks), tuple(b.params for b in self.blocks), label, size,
                          "mtlkit.treemtl.branching_points (torch FlopCounterMode: convs and matmuls)")

    def as_module(self) -> nn.Sequential:
        """The blocks chained into one module: computes what the backbone computes (same submodules)."""
        return nn.Sequential(*(b.module for b in self.blocks))

    def coarsen(self, B: "int | Mapping[int, Sequence[int]] | Sequence[Sequence[int]]",
                by: str = "flops") -> "BlockSequence":
        """Shortcut for :func:`coarsen`."""
        return coarsen(self, B, by=by)

    def summary(self):
        """One row per block: name, fine blocks, parameters, MACs, FLOPs, input and output shape (DataFrame)."""
        import pandas as pd

        return pd.DataFrame([dict(block=b.index, name=b.name, fine=list(b.fine), params=b.params, macs=b.macs,
                                  flops=b.flops, in_shape=b.in_shape, out_shape=b.out_shape) for b in self.blocks]
                            ).set_index("block")

    def __repr__(self) -> str:
        lines = [f"BlockSequence({self.backbone}, B={self.B}, input {self.input_shape}):"]
        lines += [f"  {b!r}" for b in self.blocks]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------ detection
def is_weight_module(module: nn.Module) -> bool:
    """True if a module counts as a weight layer: it holds parameters and is not a normalisation layer.

    Normalisation layers (BatchNorm, InstanceNorm, GroupNorm, LayerNorm) count as unparameterised, as in the paper
    ("merge candidate blocks that contain only unparameterized layers ... and normalization layers").
    """
    if isinstance(module, _NORM_TYPES):
        return False
    return any(True for _ in module.parameters())


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in itertools.chain(module.parameters(), module.buffers()))


def _module_paths(node: fx.Node) -> list[str]:
    """Module paths (outermost first) whose forward created ``node`` (from fx's ``nn_module_stack``)."""
    stack = node.meta.get("nn_module_stack") or {}
    paths = [v[0] if isinstance(v, tuple) else str(k) for k, v in stack.items()]
    if node.op == "call_module" and (not paths or paths[-1] != node.target):
        paths.append(node.target)
    return paths


def _block_name(ordered: list[fx.Node], members: set[fx.Node], module_ops: Mapping[str, set[fx.Node]]) -> str:
    """``"layer2.0"`` if one module holds all the block's ops, else ``"first…last"`` of the outermost modules whose
    ops all lie in the block (ops outside any module are named by their fx node)."""
    names: list[str] = []
    for n in ordered:
        if n.op not in ("call_module", "call_function", "call_method"):
            continue
        paths = _module_paths(n)
        whole = next((p for p in paths if module_ops[p] <= members), None)
        label = whole or (paths[-1] if paths else n.name)
        if not names or names[-1] != label:
            names.append(label)
    names = list(dict.fromkeys(names))
    if not names:
        return ordered[-1].name
    return names[0] if len(names) == 1 else f"{names[0]}…{names[-1]}"


def _segments(graph: fx.Graph) -> tuple[list[fx.Node], dict[fx.Node, int], set[fx.Node]]:
    """Cut tensors and the candidate segment of every node reachable from the input.

    Returns:
        ``cuts`` (``cuts[0]`` = the input placeholder, ``cuts[-1]`` = the output tensor), ``segment`` (node →
        k >= 1: the node lies after ``cuts[k-1]`` and up to ``cuts[k]``) and the set of nodes not reachable from
        the input (constants: get_attr and what is computed from them only).
    """
    import networkx as nx

    nodes = list(graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ConfigError(f"the backbone's forward must take exactly one input tensor, got {len(placeholders)} "
                          f"inputs ({[p.target for p in placeholders]})")
    source = placeholders[0]
    output = next(n for n in nodes if n.op == "output")
    result = output.args[0]
    if not isinstance(result, fx.Node):
        raise ConfigError(f"the backbone must return one tensor; its traced output is {result!r}")
    G = nx.DiGraph()
    G.add_nodes_from(nodes)
    for n in nodes:
        for p in n.all_input_nodes:
            G.add_edge(p, n)
    reachable = nx.descendants(G, source) | {source}
    if result not in reachable:
        raise ConfigError("the backbone's output does not depend on its input")
    idom = nx.immediate_dominators(G.subgraph(reachable), source)
    chain = [result]
    while chain[-1] is not source:
        chain.append(idom[chain[-1]])
    cuts = chain[::-1]
    cut_index = {c: k for k, c in enumerate(cuts)}
    segment: dict[fx.Node, int] = {}

    def seg_of(n: fx.Node) -> int:
        path = []
        while n not in segment and n not in cut_index:
            path.append(n)
            n = idom[n]
        k = cut_index[n] + 1 if n in cut_index else segment[n]   # a node strictly after cut j lies in segment j+1
        for m in path:
            segment[m] = k
        return k

    for n in nodes:
        if n in reachable and n is not source and n.op != "output":
            if n in cut_index:
                segment[n] = cut_index[n]
            else:
                seg_of(n)
    constants = {n for n in nodes if n not in reachable and n.op != "output"}
    return cuts, segment, constants


def _link_ranges(n: int, groups: Iterable[Iterable[int]]) -> list[tuple[int, int]]:
    """Runs of segments 1..n such that the span [min, max] of every group lies inside one run."""
    joined = [False] * (n + 2)   # joined[k]: segment k belongs to the run of k-1
    for g in groups:
        g = sorted(set(g))
        for k in range(g[0] + 1, g[-1] + 1):
            joined[k] = True
    runs, start = [], 1
    for k in range(2, n + 2):
        if k == n + 1 or not joined[k]:
            runs.append((start, k - 1))
            start = k
    return runs


def _weight_keys(node: fx.Node, root: nn.Module) -> list[str]:
    """Names of the stateful objects a node uses (module paths of stateful modules, get_attr targets)."""
    if node.op == "call_module":
        return [f"module:{node.target}"] if _has_state(root.get_submodule(node.target)) else []
    if node.op == "get_attr":
        obj = _get_attr(root, node.target)
        if isinstance(obj, nn.Parameter) or (isinstance(obj, nn.Module) and _has_state(obj)):
            return [f"attr:{node.target}"]
    return []   # plain tensor constants are duplicated into every block that uses them


def _node_has_weights(node: fx.Node, root: nn.Module) -> bool:
    if node.op == "call_module":
        return is_weight_module(root.get_submodule(node.target))
    if node.op == "get_attr":
        obj = _get_attr(root, node.target)
        return isinstance(obj, nn.Parameter) or (isinstance(obj, nn.Module) and is_weight_module(obj))
    return False


def _get_attr(root: nn.Module, target: str):
    obj: Any = root
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _extract(graph: fx.Graph, members: set[fx.Node], inp: fx.Node, out: fx.Node) -> fx.Graph:
    """A graph computing ``out`` from ``inp`` with the nodes ``members`` (in the original order)."""
    g = fx.Graph()
    env: dict[fx.Node, fx.Node] = {inp: g.placeholder("x")}
    for n in graph.nodes:
        if n in members:
            env[n] = g.node_copy(n, lambda a: env[a])
    g.output(env[out])
    g.lint()
    return g


def _eliminate_dead_code(graph: fx.Graph, root: nn.Module) -> None:
    """Remove unused, side-effect-free nodes (fx's own pass needs the graph to own a module, which an eval graph of
    a DualGraphModule does not)."""
    for n in reversed(list(graph.nodes)):
        if n.users or n.op in ("placeholder", "output"):
            continue
        if n.op == "call_module":
            impure = getattr(root.get_submodule(n.target), "_is_impure", False)
        elif n.op == "get_attr":
            impure = False
        else:
            impure = n.is_impure()
        if not impure:
            graph.erase_node(n)


def _by_name(graph: fx.Graph) -> dict[str, fx.Node]:
    return {n.name: n for n in graph.nodes}


def branching_points(backbone: nn.Module, example_input: torch.Tensor, *, leaf_modules: Iterable = (),
                     atomic: Iterable = ()) -> BlockSequence:
    """Detect the computation blocks (branching points) of a backbone (paper §3.3).

    Args:
        backbone: any ``torch.fx``-traceable ``nn.Module`` with one input tensor and one output tensor. Its
            submodules are reused by the blocks (not copied); in-place activations are made out-of-place where
            that gives the same result (a block's input may feed several task copies).
        example_input: a batch on the backbone's device, e.g. ``torch.zeros(1, 3, 224, 224)``; the costs are per
            image at this size.
        leaf_modules: module classes or submodule paths fx must not trace into (each becomes one op).
        atomic: module classes or submodule paths that must not be cut inside: every candidate holding one of
            their ops is merged into one block (e.g. ``atomic=(InvertedResidual,)`` for MobileNetV2).

    Returns:
        The :class:`BlockSequence` (detected blocks; see the module docstring for what backbones give).

    Raises:
        ConfigError: untraceable backbone (naming the failing module), not one input/one output tensor, no weight
            layer at all, or an ``example_input`` the backbone cannot run.
    """
    if not isinstance(backbone, nn.Module):
        raise ConfigError(f"backbone must be an nn.Module, got {type(backbone).__name__}")
    if not isinstance(example_input, torch.Tensor) or example_input.dim() < 2 or example_input.shape[0] < 1:
        got = tuple(example_input.shape) if isinstance(example_input, torch.Tensor) else type(example_input).__name__
        raise ConfigError(f"example_input must be a batch tensor (N, C, H, W) with N >= 1, got {got}")
    atomic_types, atomic_paths = split_leaf_modules(backbone, atomic, "atomic")
    root, graphs = trace_modes(backbone, leaf_modules)
    dual = len(graphs) > 1
    train_graph, eval_graph = graphs[0], graphs[-1]
    remove_inplace(root, graphs)
    for g in graphs:
        _eliminate_dead_code(g, root)
    root.recompile()
    if dual and set(_by_name(train_graph)) != set(_by_name(eval_graph)):
        raise ConfigError("the backbone's train-mode and eval-mode graphs have different ops; the detector needs "
                          "the same ops in both (mark the module whose forward branches on self.training as a "
                          "leaf module)")

    cuts, segment, constants = _segments(train_graph)
    n_seg = len(cuts) - 1

    # constants (unreachable from the input) go with every segment that uses them (transitively)
    const_segs: dict[fx.Node, set[int]] = {}
    for n in reversed(list(train_graph.nodes)):
        if n in constants:
            s: set[int] = set()
            for u in n.users:
                s |= {segment[u]} if u in segment else const_segs.get(u, set())
            const_segs[n] = s

    # stateful objects used by several segments, and atomic modules, force their segments into one block
    users: dict[str, set[int]] = {}
    for n in train_graph.nodes:
        segs = {segment[n]} if n in segment else const_segs.get(n, set())
        for key in _weight_keys(n, root):
            users.setdefault(key, set()).update(segs)
        for path in _module_paths(n):
            if path in atomic_paths or (atomic_types and isinstance(backbone.get_submodule(path), atomic_types)):
                users.setdefault(f"atomic:{path}", set()).update(segs)
    runs = _link_ranges(n_seg, [s for s in users.values() if s])

    # merge stage: runs without weight layers join the preceding computation block (leading ones the first)
    weighted = [any(_node_has_weights(n, root) for n in train_graph.nodes
                    if (segment.get(n) in range(a, b + 1)) or (const_segs.get(n, set()) & set(range(a, b + 1))))
                for a, b in runs]
    if not any(weighted):
        raise ConfigError(f"the backbone {type(backbone).__name__} has no weight layer (conv, linear, ...) outside "
                          "normalisation layers; it has no computation block to share or split")
    spans: list[list[int]] = []
    lead: int | None = None                      # first segment of leading runs without weights
    for (a, b), w in zip(runs, weighted):
        if w:
            spans.append([a if lead is None else lead, b])
            lead = None
        elif spans:
            spans[-1][1] = b
        elif lead is None:
            lead = a

    eval_nodes = _by_name(eval_graph) if dual else None
    module_ops: dict[str, set[fx.Node]] = {}
    for n in train_graph.nodes:
        for path in _module_paths(n):
            module_ops.setdefault(path, set()).add(n)
    modules: list[nn.Module] = []
    infos: list[tuple[str, tuple[str, ...]]] = []
    for a, b in spans:
        members = {n for n in train_graph.nodes if a <= segment.get(n, -1) <= b}
        members |= {n for n, s in const_segs.items() if s & set(range(a, b + 1))}
        inp, out = cuts[a - 1], cuts[b]
        sub = _extract(train_graph, members, inp, out)
        if dual:
            from torchvision.models.feature_extraction import DualGraphModule

            ev = _extract(eval_graph, {eval_nodes[n.name] for n in members}, eval_nodes[inp.name],
                          eval_nodes[out.name])
            gm = DualGraphModule(root, sub, ev, class_name="Block")
        else:
            gm = fx.GraphModule(root, sub, class_name="Block")
        ordered = [n for n in train_graph.nodes if n in members]
        called = tuple(dict.fromkeys(n.target for n in ordered if n.op == "call_module"))
        name = _block_name(ordered, members, module_ops)
        modules.append(gm)
        infos.append((name, called))

    return _measure(modules, infos, example_input, root, type(backbone).__name__, backbone.training)


def _set_mode(m: nn.Module, mode: bool) -> None:
    """Set one module's training flag (not its children's); a DualGraphModule also gets the matching graph."""
    if hasattr(m, "train_graph") and hasattr(m, "eval_graph"):
        want = m.train_graph if mode else m.eval_graph
        if m.graph is not want:
            m.graph = want
    m.training = mode


def _measure(modules: list[nn.Module], infos, example_input: torch.Tensor, root: nn.Module, label: str,
             was_training: bool) -> BlockSequence:
    """Run the blocks in eval mode on ``example_input``: shapes, per-image FLOPs, and a check against the backbone."""
    modes = {m: m.training for m in itertools.chain(root.modules(), *(g.modules() for g in modules))}
    blocks = []
    try:
        for g in [root, *modules]:
            g.eval()
        with torch.no_grad():
            try:
                expected = root(example_input)
            except Exception as exc:
                msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ConfigError(f"running the backbone on example_input of shape {tuple(example_input.shape)} "
                                  f"failed: {type(exc).__name__}: {msg} (is it on the backbone's device, with the "
                                  f"channel count the backbone expects?)") from exc
            x = example_input
            for i, (gm, (name, called)) in enumerate(zip(modules, infos)):
                y = gm(x)
                if not isinstance(y, torch.Tensor):
                    raise ConfigError(f"block {i} ({name}) returns {type(y).__name__}, expected a tensor")
                flops = count_flops(gm, x[:1])
                params = sum(p.numel() for p in gm.parameters())
                blocks.append(Block(i, name, gm, int(params), int(flops), tuple(x.shape[1:]), tuple(y.shape[1:]),
                                    called, (i,)))
                x = y
            if x.shape != expected.shape or not torch.allclose(x, expected, rtol=1e-4, atol=1e-5):
                raise ConfigError("internal error: the detected blocks chained do not compute the backbone's "
                                  "output; please report this backbone")
    finally:
        for m, mode in modes.items():
            _set_mode(m, mode)
    return BlockSequence(tuple(blocks), tuple(example_input.shape[1:]), label)


# ------------------------------------------------------------------------------------------------------ coarsening
def check_mapping(mapping: "Mapping[int, Sequence[int]] | Sequence[Sequence[int]]", n_fine: int
                  ) -> list[tuple[int, ...]]:
    """Validate a coarse → fine block mapping and return its groups.

    Args:
        mapping: ``{0: [0], 1: [1, 2, 3], ...}`` (the paper's form; keys ``0..B-1``, optionally the sentinel
            ``B: [n_fine]`` of the authors' two-task code, which is dropped) or a list of groups ``[[0], [1, 2, 3]]``.
        n_fine: number of fine blocks.

    Returns:
        ``B`` tuples of fine block indices, consecutive and covering ``0..n_fine-1`` in order.

    Raises:
        ConfigError: keys not ``0..B``, an empty group, an index outside ``0..n_fine-1``, a block in two groups,
            groups out of order or not consecutive, or blocks left uncovered (each named in the message).
    """
    if isinstance(mapping, Mapping):
        try:
            keys = sorted(int(k) for k in mapping)
        except (TypeError, ValueError):
            raise ConfigError(f"mapping keys must be coarse block indices 0..B, got {list(mapping)}") from None
        if keys != list(range(len(keys))):
            raise ConfigError(f"mapping keys must be 0..{len(keys) - 1} (one per coarse block), got {list(mapping)}")
        groups = [mapping[k] if k in mapping else mapping[str(k)] for k in keys]
    elif isinstance(mapping, Sequence) and not isinstance(mapping, (str, bytes)):
        groups = list(mapping)
    else:
        raise ConfigError(f"mapping must be a dict coarse block -> list of fine blocks or a list of groups, got "
                          f"{mapping!r}")
    try:
        groups = [tuple(int(i) for i in g) for g in groups]
    except (TypeError, ValueError):
        raise ConfigError(f"mapping groups must be lists of fine block indices, got {mapping!r}") from None
    if len(groups) > 1 and groups[-1] == (n_fine,):   # the authors' "all shared" sentinel
        groups = groups[:-1]
    if not groups:
        raise ConfigError("mapping must have at least one coarse block")
    seen: dict[int, int] = {}
    for c, g in enumerate(groups):
        if not g:
            raise ConfigError(f"mapping: coarse block {c} is empty; every coarse block needs >= 1 fine block")
        for i in g:
            if not 0 <= i < n_fine:
                raise ConfigError(f"mapping: coarse block {c} names fine block {i}, but there are {n_fine} fine "
                                  f"blocks (0..{n_fine - 1})")
            if i in seen:
                raise ConfigError(f"mapping: fine block {i} is in coarse blocks {seen[i]} and {c}; each fine block "
                                  "belongs to exactly one coarse block")
            seen[i] = c
        if list(g) != list(range(g[0], g[0] + len(g))):
            raise ConfigError(f"mapping: coarse block {c} = {list(g)} is not a run of consecutive fine blocks in "
                              "increasing order")
    for c in range(1, len(groups)):
        if groups[c][0] < groups[c - 1][-1]:
            raise ConfigError(f"mapping is out of order: coarse block {c} starts at fine block {groups[c][0]} but "
                              f"coarse block {c - 1} ends at {groups[c - 1][-1]}; coarse blocks must follow the fine "
                              "blocks from the input on")
    for c in range(1, len(groups)):
        if groups[c][0] != groups[c - 1][-1] + 1:
            gap = list(range(groups[c - 1][-1] + 1, groups[c][0]))
            raise ConfigError(f"mapping does not cover fine blocks {gap} (between coarse blocks {c - 1} and {c})")
    missing = sorted(set(range(n_fine)) - set(seen))
    if missing:
        raise ConfigError(f"mapping does not cover fine blocks {missing}; the {n_fine} fine blocks must all be "
                          f"assigned (got {len(seen)})")
    return groups


def balanced_mapping(costs: Sequence[float], B: int) -> list[tuple[int, ...]]:
    """Split ``costs`` (one per fine block) into ``B`` consecutive groups with the most similar total costs.

    Minimises the sum of squared group totals (equivalently their variance; the total is fixed) by dynamic
    programming over split positions, exactly; ties go to the earliest split.

    Args:
        costs: non-negative cost per fine block.
        B: number of groups, ``1 <= B <= len(costs)``.

    Returns:
        ``B`` tuples of consecutive fine block indices.
    """
    n = len(costs)
    if isinstance(B, bool) or not isinstance(B, int) or not 1 <= B <= n:
        raise ConfigError(f"B (number of coarse blocks) must be an int in 1..{n} (the number of fine blocks), "
                          f"got {B!r}")
    c = [float(x) for x in costs]
    if any(not math.isfinite(x) or x < 0 for x in c):
        raise ConfigError(f"costs must be finite and >= 0, got {c}")
    pre = [0.0, *itertools.accumulate(c)]
    # best[k][j]: minimal sum of squares splitting blocks 0..j-1 into k groups; cut[k][j]: start of the last group
    inf = math.inf
    best = [[inf] * (n + 1) for _ in range(B + 1)]
    cut = [[0] * (n + 1) for _ in range(B + 1)]
    best[0][0] = 0.0
    for k in range(1, B + 1):
        for j in range(k, n - (B - k) + 1):
            for i in range(k - 1, j):
                v = best[k - 1][i] + (pre[j] - pre[i]) ** 2
                if v < best[k][j] * (1 - 1e-12) - 1e-300:
                    best[k][j], cut[k][j] = v, i
    groups, j = [], n
    for k in range(B, 0, -1):
        i = cut[k][j]
        groups.append(tuple(range(i, j)))
        j = i
    return groups[::-1]


def coarsen(blocks: BlockSequence, B: "int | Mapping[int, Sequence[int]] | Sequence[Sequence[int]]",
            by: str = "flops") -> BlockSequence:
    """Merge adjacent blocks into coarse blocks: ``B`` of similar cost, or as a user mapping says.

    Args:
        blocks: detected blocks (from :func:`branching_points`).
        B: the number of coarse blocks (balanced on ``by`` with :func:`balanced_mapping`), or a mapping in the
            paper's form, e.g. ResNet-34's ``{0: [0], 1: [1, 2, 3], 2: [4, 5, 6, 7], 3: [8, ..., 13],
            4: [14, 15, 16], 5: [17]}`` (the last key is the authors' "all shared" sentinel and may be left out).
        by: ``"flops"`` or ``"params"``: what the balanced split equalises.

    Returns:
        A :class:`BlockSequence` of ``B`` coarse blocks (each an ``nn.Sequential`` of its fine blocks' modules) whose
        ``fine`` attribute is ``blocks`` and whose ``mapping`` reproduces the paper's form.
    """
    if not isinstance(blocks, BlockSequence):
        raise ConfigError(f"blocks must be a BlockSequence from branching_points(), got {type(blocks).__name__}")
    fine = blocks.fine if blocks.fine is not None else blocks   # coarsening coarse blocks merges them further
    base = blocks
    if isinstance(B, int) and not isinstance(B, bool):
        if by not in ("flops", "params"):
            raise ConfigError(f"by must be 'flops' or 'params', got {by!r}")
        groups = balanced_mapping([getattr(b, by) for b in base], B)
    else:
        groups = check_mapping(B, len(base))
    out = []
    for c, g in enumerate(groups):
        parts = [base[i] for i in g]
        module = nn.Sequential(*(p.module for p in parts))
        name = parts[0].name if len(parts) == 1 else f"{parts[0].name}…{parts[-1].name}"
        fine_idx = tuple(i for p in parts for i in p.fine)
        out.append(Block(c, name, module, sum(p.params for p in parts), sum(p.flops for p in parts),
                         parts[0].in_shape, parts[-1].out_shape, tuple(m for p in parts for m in p.modules),
                         fine_idx))
    return BlockSequence(tuple(out), blocks.input_shape, blocks.backbone, fine)
