"""Backbone → fx graph: tracing, shape propagation, discovery of the searchable layers, conv depth.

Shared by both methods: AutoMTL's supermodel compiler (:mod:`mtlkit.automtl.supermodel`, where it replaces the
original's Caffe prototxt parser, docs/automtl.md §1.1–1.2) and TreeMTL's branching-point detection
(:mod:`mtlkit.treemtl.branching`). Any ``nn.Module`` that ``torch.fx`` can trace is accepted. What it finds:

* every ``nn.Conv2d`` call — a future virtual computation node (VCN), named by its module path
  (``"layer2.0.downsample.0"``), with its input and output shape from :class:`~torch.fx.passes.shape_prop.ShapeProp`;
* every ``nn.BatchNorm2d`` call (task-specific, shared or searchable later);
* the **depth** of each conv: the number of convs on the longest path from the input to it, itself included (the
  original's definition, docs/automtl.md §1.2: ``max(parent depths) + 1`` for convs, ``max(parent depths)`` for other ops).
  ``D`` = the largest depth (33 for ResNet-34, whose three 1×1 shortcuts run in parallel).

In-place ops are made out-of-place (:func:`remove_inplace`) where that does not change the result: under tree
execution one tensor can feed several tasks, or an identity skip can hand a conv's input to an in-place activation,
and an in-place op would then corrupt another task's tensor (or autograd's saved input).

Graphs that depend on ``module.training`` (e.g. torchvision's ``stochastic_depth`` takes ``self.training`` as an
argument, which fx bakes into the graph) are traced twice, in train and in eval mode, and kept as a
:class:`torchvision.models.feature_extraction.DualGraphModule` that switches graph on ``.train()``/``.eval()``.
"""
from __future__ import annotations

import copy
import operator
import os
import traceback
from dataclasses import dataclass
from typing import Iterable, Mapping

import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from mtlkit.errors import ConfigError

__all__ = ["TracedBackbone", "trace_backbone", "trace_modes", "fx_depths", "to_networkx", "remove_inplace",
           "split_leaf_modules"]

_TORCH_DIR = os.path.dirname(torch.__file__)


@dataclass(frozen=True)
class TracedBackbone:
    """The result of :func:`trace_backbone`.

    Attributes:
        module: a ``GraphModule`` (or ``DualGraphModule``) that holds the backbone's own submodules (not copies).
        convs: module paths of the ``nn.Conv2d`` calls, in execution order.
        bns: module paths of the ``nn.BatchNorm2d`` calls, in execution order.
        in_shapes: module path → input shape of one sample, e.g. ``(64, 8, 8)``.
        out_shapes: module path → output shape of one sample.
        depths: module path → depth (convs on the longest input→node path, the node itself included for convs).
        feature_shape: shape ``(C, h, w)`` of the backbone output for one sample of ``example_input``.
    """

    module: fx.GraphModule
    convs: tuple[str, ...]
    bns: tuple[str, ...]
    in_shapes: Mapping[str, tuple[int, ...]]
    out_shapes: Mapping[str, tuple[int, ...]]
    depths: Mapping[str, int]
    feature_shape: tuple[int, ...]

    @property
    def max_depth(self) -> int:
        """``D``: the largest conv depth (0 for a backbone without convs)."""
        return max((self.depths[c] for c in self.convs), default=0)


class _BackboneTracer(fx.Tracer):
    """An fx tracer that honours user leaf modules and remembers which module was being traced on failure."""

    def __init__(self, leaf_types: tuple[type, ...], leaf_names: frozenset[str]):
        super().__init__()
        self.leaf_types = leaf_types
        self.leaf_names = leaf_names
        self.stack: list[tuple[str, str]] = []
        self.failed_in: tuple[str, str] | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if self.leaf_types and isinstance(m, self.leaf_types):
            return True
        if module_qualified_name in self.leaf_names:
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m, forward, args, kwargs):
        try:
            name = self.path_of_module(m)
        except NameError:
            name = "<a module not registered as a submodule>"
        self.stack.append((name, type(m).__qualname__))
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = self.stack[-1]
            raise
        finally:
            self.stack.pop()


def split_leaf_modules(backbone: nn.Module, items: Iterable, arg: str = "leaf_modules"
                       ) -> tuple[tuple[type, ...], frozenset[str]]:
    """Validate ``items`` (module classes and/or submodule paths of ``backbone``) and split them into types and
    paths; ``arg`` names the argument in the messages (``leaf_modules`` here, TreeMTL's ``atomic``)."""
    if isinstance(items, (str, type)):
        items = (items,)
    names = dict(backbone.named_modules())
    types, paths = [], []
    for item in items:
        if isinstance(item, type) and issubclass(item, nn.Module):
            types.append(item)
        elif isinstance(item, str) and item in names and item:
            paths.append(item)
        elif isinstance(item, str):
            valid = [n for n in names if n]
            raise ConfigError(f"{arg} names {item!r}, which is not a submodule path of the backbone ({arg} must "
                              f"contain nn.Module subclasses or submodule paths); expected one of e.g. "
                              f"{valid[:8]}{' ...' if len(valid) > 8 else ''}")
        else:
            raise ConfigError(f"{arg} must contain nn.Module subclasses or submodule paths (str), got {item!r}")
    return tuple(types), frozenset(paths)


def _user_frame(exc: BaseException) -> str | None:
    """The innermost traceback frame outside torch: where the user's code broke the trace."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_TORCH_DIR)]
    if not frames:
        return None
    f = frames[-1]
    return f"{f.name}() at {os.path.basename(f.filename)}:{f.lineno}"


def _trace(backbone: nn.Module, types: tuple[type, ...], names: frozenset[str]) -> fx.Graph:
    tracer = _BackboneTracer(types, names)
    try:
        return tracer.trace(backbone)
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError, ... from user code
        where, cls = tracer.failed_in or ("<the backbone itself>", type(backbone).__qualname__)
        frame = _user_frame(exc)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        suggestion = (
            f"leaf_modules=({cls},)" if where.startswith("<") else f"leaf_modules=({cls},) or leaf_modules=({where!r},)"
        )
        raise ConfigError(
            f"torch.fx cannot trace the backbone: {type(exc).__name__}: {first_line}\n"
            f"  failing module: {where} ({cls})" + (f", in {frame}" if frame else "") + "\n"
            f"  fix: pass {suggestion} to treat it as one opaque, shared op (convs inside it are then not "
            f"searchable), or make its forward traceable (no Python control flow on tensor values)."
        ) from exc


def _graph_code(graph: fx.Graph) -> str:
    return graph.python_code("self").src


def _shape(meta) -> tuple[int, ...] | None:
    tm = meta.get("tensor_meta")
    if tm is None or not hasattr(tm, "shape"):
        return None
    return tuple(int(s) for s in tm.shape)


_INPLACE_OPERATORS = {operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
                      operator.itruediv: operator.truediv}


def _modifies_only_its_own_value(node: fx.Node, order: dict[fx.Node, int]) -> bool:
    """True if every later reader of the tensor ``node`` modifies reads it through ``node`` itself.

    Then an out-of-place version gives the same program; otherwise the code relies on the aliasing (e.g.
    ``x.relu_()`` with the result discarded) and is left alone.
    """
    if not node.args or not isinstance(node.args[0], fx.Node):
        return False
    return all(order[user] < order[node] for user in node.args[0].users if user is not node)


def _out_of_place_function(target):
    if target in _INPLACE_OPERATORS:
        return _INPLACE_OPERATORS[target]
    name = getattr(target, "__name__", "")
    if name.endswith("_") and not name.endswith("__") and getattr(torch, name, None) is target:
        return getattr(torch, name[:-1], None)
    return None


def remove_inplace(module: fx.GraphModule, graphs: Iterable[fx.Graph]) -> list[str]:
    """Make the in-place ops of ``graphs`` out-of-place where the result is unchanged.

    Covers modules with an ``inplace`` attribute (``nn.ReLU(inplace=True)``, ``ReLU6``, ``SiLU``, ``Hardswish``, ...;
    set to False only if every call site qualifies), functional calls with ``inplace=True``, ``torch.relu_``-style
    functions and ``Tensor.add_``-style methods.

    Args:
        module: the GraphModule owning the submodules.
        graphs: its graph(s) (train and eval).

    Returns:
        The fx node names / module paths changed.
    """
    changed: list[str] = []
    module_sites: dict[str, list[bool]] = {}
    for graph in graphs:
        order = {n: i for i, n in enumerate(graph.nodes)}
        for node in graph.nodes:
            if node.op == "call_module":
                if getattr(module.get_submodule(node.target), "inplace", None) is True:
                    module_sites.setdefault(node.target, []).append(_modifies_only_its_own_value(node, order))
                continue
            if node.op not in ("call_function", "call_method") or not _modifies_only_its_own_value(node, order):
                continue
            if node.kwargs.get("inplace") is True:
                node.kwargs = {**node.kwargs, "inplace": False}
                changed.append(node.name)
            elif node.op == "call_function" and _out_of_place_function(node.target) is not None:
                node.target = _out_of_place_function(node.target)
                changed.append(node.name)
            elif (node.op == "call_method" and node.target.endswith("_") and not node.target.endswith("__")
                  and hasattr(torch.Tensor, node.target[:-1])):
                node.target = node.target[:-1]
                changed.append(node.name)
    for target, sites in module_sites.items():
        if all(sites):
            module.get_submodule(target).inplace = False
            changed.append(target)
    module.recompile()
    return changed


def trace_modes(backbone: nn.Module, leaf_modules: Iterable = ()) -> tuple[fx.GraphModule, tuple[fx.Graph, ...]]:
    """Trace ``backbone`` with fx in train *and* eval mode (its own mode is restored afterwards).

    The two graphs differ when the forward reads ``self.training`` somewhere fx bakes the value in (e.g.
    torchvision's stochastic depth); the module then keeps one graph per mode and switches with ``.train()`` /
    ``.eval()``.

    Args:
        backbone: the module to trace.
        leaf_modules: module classes or submodule paths fx must not trace into.

    Returns:
        ``(module, graphs)``: an ``fx.GraphModule`` (a torchvision ``DualGraphModule`` when the graphs differ) and its
        distinct graphs, ``(graph,)`` or ``(train_graph, eval_graph)``.

    Raises:
        ConfigError: an untraceable module (named, with the ``leaf_modules`` fix) or bad ``leaf_modules``.
    """
    types, names = split_leaf_modules(backbone, leaf_modules)
    was_training = backbone.training
    try:
        backbone.train()
        train_graph = _trace(backbone, types, names)
        backbone.eval()
        eval_graph = _trace(backbone, types, names)
    finally:
        backbone.train(was_training)
    if _graph_code(train_graph) == _graph_code(eval_graph):
        return fx.GraphModule(backbone, train_graph, class_name=type(backbone).__name__), (train_graph,)
    from torchvision.models.feature_extraction import DualGraphModule

    module = DualGraphModule(backbone, train_graph, eval_graph, class_name=type(backbone).__name__)
    return module, (train_graph, eval_graph)


def fx_depths(graph: fx.Graph, conv_nodes: set[str]) -> dict[str, int]:
    """Depth of every fx node: convs on the longest path from the inputs (docs/automtl.md §1.2).

    Args:
        graph: an fx graph.
        conv_nodes: names of the fx nodes (``node.name``) that count as convs.

    Returns:
        ``{fx node name: depth}``; a conv's depth includes itself.
    """
    depth: dict[str, int] = {}
    for node in graph.nodes:
        parents = [depth[p.name] for p in node.all_input_nodes]
        depth[node.name] = max(parents, default=0) + (1 if node.name in conv_nodes else 0)
    return depth


def trace_backbone(
    backbone: nn.Module, example_input: torch.Tensor, leaf_modules: Iterable = ()
) -> TracedBackbone:
    """Trace ``backbone`` with torch.fx, propagate shapes from ``example_input`` and find convs and BNs.

    Args:
        backbone: a CNN ``(B, 3, H, W) -> (B, C, h, w)``. Its submodules are reused, not copied.
        example_input: a batch ``(B, 3, H, W)`` on the backbone's device; only its shape matters.
        leaf_modules: module classes or submodule paths that fx must not trace into (they become one shared op).

    Returns:
        A :class:`TracedBackbone`.

    Raises:
        ConfigError: untraceable backbone (naming the failing module), a conv/BN called more than once, a
            backbone with more than one input or an output that is not a single 4-D tensor.
    """
    if not isinstance(backbone, nn.Module):
        raise ConfigError(f"backbone must be an nn.Module, got {type(backbone).__name__}")
    if not isinstance(example_input, torch.Tensor) or example_input.dim() != 4:
        got = tuple(example_input.shape) if isinstance(example_input, torch.Tensor) else type(example_input).__name__
        raise ConfigError(f"example_input must be a 4-D tensor (B, C, H, W), got {got}")
    module, graphs = trace_modes(backbone, leaf_modules)
    for graph in graphs:
        _check_structure(module, graph)
    remove_inplace(module, graphs)

    # Shapes come from one eval-mode run (eval so that BN running statistics are not touched by the example).
    module.eval()
    shape_graph = module.graph  # the eval graph; ShapeProp stores the shapes in its nodes' meta
    try:
        with torch.no_grad():
            ShapeProp(module).propagate(example_input)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(
            f"running the traced backbone on example_input of shape {tuple(example_input.shape)} failed: "
            f"{type(exc).__name__}: {message} (is example_input on the backbone's device, with the channel count "
            f"the backbone expects?)"
        ) from exc
    finally:
        module.train(backbone.training)

    in_shapes, out_shapes, convs, bns, conv_fx = {}, {}, [], [], set()
    for node in shape_graph.nodes:
        if node.op != "call_module":
            continue
        sub = module.get_submodule(node.target)
        if isinstance(sub, (nn.Conv2d, nn.BatchNorm2d)):
            (convs if isinstance(sub, nn.Conv2d) else bns).append(node.target)
            if isinstance(sub, nn.Conv2d):
                conv_fx.add(node.name)
            in_shapes[node.target] = _shape(node.args[0].meta)[1:]
            out_shapes[node.target] = _shape(node.meta)[1:]
    fx_depth = fx_depths(shape_graph, conv_fx)
    depths = {n.target: fx_depth[n.name] for n in shape_graph.nodes if n.op == "call_module" and n.target in in_shapes}

    output = next(n for n in shape_graph.nodes if n.op == "output")
    out_arg = output.args[0]
    feature = _shape(out_arg.meta) if isinstance(out_arg, fx.Node) else None
    if feature is None or len(feature) not in (2, 4):
        raise ConfigError(
            f"the backbone must return one (B, C, h, w) or (B, C) tensor; its traced output is {out_arg!r} with "
            f"shape {feature}"
        )
    return TracedBackbone(
        module=module, convs=tuple(convs), bns=tuple(bns), in_shapes=in_shapes, out_shapes=out_shapes,
        depths=depths, feature_shape=feature[1:],
    )


def _check_structure(module: nn.Module, graph: fx.Graph) -> None:
    """One input; every conv/BN module called exactly once with one tensor argument."""
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ConfigError(
            f"the backbone's forward must take exactly one input tensor, got {len(placeholders)} inputs "
            f"({[p.target for p in placeholders]})"
        )
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module" and isinstance(module.get_submodule(node.target), (nn.Conv2d, nn.BatchNorm2d)):
            calls[node.target] = calls.get(node.target, 0) + 1
            if len(node.args) != 1 or node.kwargs or not isinstance(node.args[0], fx.Node):
                raise ConfigError(f"module {node.target!r} must be called with one tensor argument")
    repeated = sorted(t for t, c in calls.items() if c > 1)
    if repeated:
        raise ConfigError(
            f"modules {repeated} are called more than once in the backbone's forward; a searchable conv/BN must be "
            f"called once (its branches are per call). Mark their parent as a leaf module in leaf_modules to keep "
            f"them shared."
        )


def to_networkx(graph: fx.Graph, node_attrs: Mapping[str, Mapping] | None = None):
    """The fx graph as a ``networkx.DiGraph`` (nodes = fx node names, edges = data flow).

    Args:
        graph: an fx graph (e.g. ``supermodel.backbone.graph``).
        node_attrs: optional extra attributes per fx ``node.target`` (e.g. the VCN description).

    Returns:
        A ``DiGraph`` whose nodes carry ``op``, ``target`` (str), ``shape`` (per sample, when known) and any extra
        attributes.
    """
    import networkx as nx

    g = nx.DiGraph()
    for node in graph.nodes:
        shape = _shape(node.meta)
        attrs = dict(op=node.op, target=str(getattr(node.target, "__name__", node.target)),
                     shape=shape[1:] if shape else None)
        if node_attrs and isinstance(node.target, str) and node.target in node_attrs:
            attrs.update(copy.copy(dict(node_attrs[node.target])))
        g.add_node(node.name, **attrs)
        for parent in node.all_input_nodes:
            g.add_edge(parent.name, node.name)
    return g
