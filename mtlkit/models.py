"""Multi-task models built from a backbone and one head per task.

* :class:`MultiTaskModel` — **hard sharing**: one backbone, one head per task; ``forward(x) -> {task: pred}``.
* :func:`single_task_models` — independent per-task networks (each its own backbone and one head), the
  single-task references of Δt.
* :func:`build_model` / :func:`build_single_task_models` — the same from task objects (:mod:`mtlkit.tasks`):
  heads are sized from ``task.out_channels``.

Construction checks that every head takes the backbone's feature channels and, when tasks are given, that every
head outputs ``task.out_channels``; a mismatch raises a ``ConfigError`` naming the task, expected and got.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from mtlkit.backbones import backbone_channels, get_backbone
from mtlkit.errors import ConfigError
from mtlkit.heads import get_head, head_in_channels

__all__ = [
    "MultiTaskModel", "single_task_models", "build_model", "build_single_task_models", "as_task_dict",
    "head_out_channels", "check_heads_match_tasks", "check_heads_mapping", "input_channels", "check_images",
]


class MultiTaskModel(nn.Module):
    """Hard parameter sharing: ``heads[t](backbone(x))`` for every task ``t``.

    Args:
        backbone: ``(B, 3, H, W) -> (B, C, h, w)``.
        heads: task name -> head ``(B, C, h, w) -> (B, K_t, h, w)``; at least one.
        tasks: optional task objects (mapping or sequence); when given, each head's output channels are checked
            against ``task.out_channels`` and the task names against the head names.

    Raises:
        ConfigError: empty ``heads``, a bad task name, or a channel mismatch (the message names the task).
    """

    def __init__(self, backbone: nn.Module, heads: Mapping[str, nn.Module], tasks: Any = None):
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise ConfigError(f"backbone must be an nn.Module, got {type(backbone).__name__}")
        check_heads_mapping(heads)
        channels = backbone_channels(backbone)
        for name, head in heads.items():
            _check_head_input(name, head, channels)
        self.backbone = backbone
        self.heads = nn.ModuleDict(dict(heads))
        self.feature_channels = channels
        if tasks is not None:
            check_heads_match_tasks(self.heads, as_task_dict(tasks))

    @property
    def task_names(self) -> tuple[str, ...]:
        """The task names, in head order."""
        return tuple(self.heads.keys())

    def forward(self, x: torch.Tensor, tasks: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Predict every task (or only ``tasks``) from one shared feature map.

        Args:
            x: images ``(B, 3, H, W)``.
            tasks: optional subset of task names to compute.

        Returns:
            ``{task: (B, K_t, h, w)}`` at feature resolution.
        """
        names = self.task_names if tasks is None else tuple(tasks)
        if "_in_channels" not in self.__dict__:
            self.__dict__["_in_channels"] = input_channels(self.backbone)
        check_images(x, self.__dict__["_in_channels"])
        feats = self.backbone(x)  # (B, C, h, w)
        return {t: self.heads[t](feats) for t in names}


def as_task_dict(tasks: Any) -> dict[str, Any]:
    """Normalise tasks given as a mapping name -> task or a sequence of task objects to a non-empty dict."""
    if isinstance(tasks, Mapping):
        out = dict(tasks)
    elif isinstance(tasks, Iterable) and not isinstance(tasks, (str, bytes)):
        out = {}
        for t in tasks:
            if not hasattr(t, "name"):
                raise ConfigError(f"tasks must be task objects with a .name (or a dict name -> task), got {t!r}")
            out[t.name] = t
    else:
        raise ConfigError(f"tasks must be a dict name -> task or a list of task objects, got {tasks!r}")
    if not out:
        raise ConfigError("tasks must not be empty: give at least one task")
    for name, t in out.items():
        oc = getattr(t, "out_channels", None)
        if not isinstance(oc, int) or oc < 1:
            raise ConfigError(f"task {name!r} must have a positive int out_channels, got {oc!r}")
    return out


def head_out_channels(head: nn.Module) -> int | None:
    """Output channels of a head: its ``out_channels`` attribute, else its last ``nn.Conv2d``; ``None`` if unknown."""
    c = getattr(head, "out_channels", None)
    if isinstance(c, int):
        return c
    convs = [m for m in head.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels if convs else None


def check_heads_match_tasks(heads: Mapping[str, nn.Module], tasks: Mapping[str, Any]) -> None:
    """Raise a ``ConfigError`` unless ``heads`` and ``tasks`` have the same names and matching output channels."""
    missing, extra = sorted(set(tasks) - set(heads)), sorted(set(heads) - set(tasks))
    if missing or extra:
        raise ConfigError(f"heads and tasks differ: tasks without a head {missing}, heads without a task {extra}")
    for name, task in tasks.items():
        got = head_out_channels(heads[name])
        if got is not None and got != task.out_channels:
            raise ConfigError(f"head of task {name!r} outputs {got} channels but the task expects "
                              f"task.out_channels={task.out_channels}")


def check_heads_mapping(heads: Any) -> dict[str, nn.Module]:
    """Check the structure every multi-task model needs: a non-empty dict task name -> ``nn.Module``.

    Returns:
        ``dict(heads)``.

    Raises:
        ConfigError: not a dict, empty, a task name that is not a non-empty string without '.', a head that is
            ``None`` or not an ``nn.Module`` — the message names the task.
    """
    if not isinstance(heads, Mapping):
        raise ConfigError(f"heads must be a non-empty dict task name -> nn.Module, got {type(heads).__name__}")
    if not heads:
        raise ConfigError("heads is empty: heads must be a non-empty dict task name -> nn.Module (one per task)")
    for name, head in heads.items():
        if not isinstance(name, str) or not name or "." in name:
            raise ConfigError(f"task names must be non-empty strings without '.', got {name!r}")
        if head is None:
            raise ConfigError(f"task {name!r} has no head (heads[{name!r}] is None); give an nn.Module per task")
        if not isinstance(head, nn.Module):
            raise ConfigError(f"head of task {name!r} must be an nn.Module, got {type(head).__name__}")
    owner: dict[int, str] = {}
    for name, head in heads.items():   # one head object (or parameter) for two tasks would train it for both
        for obj in (head, *head.parameters()):
            other = owner.setdefault(id(obj), name)
            if other != name:
                what = "the same head object" if obj is head or obj is heads[other] else "shared parameters"
                raise ConfigError(f"heads[{other!r}] and heads[{name!r}]: expected a separate head per task, got "
                                  f"{what} (it would be trained by both tasks); build one head per task, e.g. "
                                  "copy.deepcopy(head)")
    return dict(heads)


def input_channels(module: nn.Module) -> int | None:
    """The channels a backbone's first convolution expects (None without a convolution)."""
    conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    return None if conv is None else conv.in_channels


def check_images(x: Any, channels: int | None, what: str = "x") -> None:
    """A clear error instead of a torch trace for an input that is not ``(B, channels, H, W)``."""
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"{what}: expected an image tensor (B, {channels or 'C'}, H, W), got {type(x).__name__}")
    if x.dim() != 4 or (channels is not None and x.shape[1] != channels):
        raise ConfigError(f"{what}: expected images of shape (B, {channels or 'C'}, H, W), got shape "
                          f"{tuple(x.shape)}" + (" (grey images: repeat the channel, x.expand(-1, 3, -1, -1))"
                                                 if x.dim() == 4 and x.shape[1] == 1 and channels == 3 else ""))


def _check_head_input(name: str, head: nn.Module, channels: int) -> None:
    got = head_in_channels(head)
    if got is None:  # no conv and no attribute: try it
        modes = {m: m.training for m in head.modules()}
        try:
            head.eval()
            with torch.no_grad():
                p = next(iter(head.parameters()), None)
                head(torch.zeros(1, channels, 4, 4, device=p.device if p is not None else "cpu"))
            return
        except Exception as exc:  # noqa: BLE001
            hint = (" (an nn.Linear acts on the last dimension: a head maps (B, C, h, w) to (B, K, h, w), e.g. "
                    "nn.Conv2d(C, K, 1) or get_head('linear', C, K))"
                    if any(isinstance(m, nn.Linear) for m in head.modules()) else "")
            raise ConfigError(f"head of task {name!r} does not accept the backbone's {channels}-channel "
                              f"features: {str(exc).splitlines()[0][:200]}{hint}") from None
        finally:
            for m, mode in modes.items():
                m.training = mode
    if got != channels:
        raise ConfigError(f"head of task {name!r} expects {got} input channels but the backbone gives "
                          f"{channels} (expected in_channels={channels}, got {got})")


def _make_backbone(backbone: str | nn.Module | Callable[[], nn.Module], weights=None,
                   backbone_kw: Mapping | None = None, copy_module: bool = False) -> nn.Module:
    if isinstance(backbone, str):
        return get_backbone(backbone, weights=weights, **dict(backbone_kw or {}))
    if weights is not None or backbone_kw:
        raise ConfigError("weights= and backbone_kw= apply only when the backbone is given by name")
    if isinstance(backbone, nn.Module):
        return copy.deepcopy(backbone) if copy_module else backbone
    if callable(backbone):
        net = backbone()
        if not isinstance(net, nn.Module):
            raise ConfigError(f"the backbone factory must return an nn.Module, got {type(net).__name__}")
        return net
    raise ConfigError(f"backbone must be a registry name, an nn.Module or a factory, got {backbone!r}")


def _head_names(head: str | Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    names = list(names)
    if isinstance(head, str):
        return {t: head for t in names}
    if isinstance(head, Mapping):
        missing = sorted(set(names) - set(head))
        if missing:
            raise ConfigError(f"head mapping has no entry for tasks {missing}; got keys {sorted(head)}")
        return {t: head[t] for t in names}
    raise ConfigError(f"head must be a head name or a dict task -> head name, got {head!r}")


def build_model(backbone: str | nn.Module | Callable[[], nn.Module], tasks: Any, head: str | Mapping = "light",
                head_kw: Mapping | None = None, weights=None, backbone_kw: Mapping | None = None) -> MultiTaskModel:
    """A hard-shared :class:`MultiTaskModel` for ``tasks``.

    Args:
        backbone: registry name (see :func:`mtlkit.backbones.list_backbones`), a module, or a factory.
        tasks: dict name -> task or a list of task objects (``.name``, ``.out_channels``).
        head: head name for all tasks (``"light"``, ``"aspp"``, ``"linear"``) or a dict task -> head name.
        head_kw: options passed to every head (e.g. ``{"width": 64}``).
        weights: local weights file for a backbone given by name.
        backbone_kw: builder options for a backbone given by name (e.g. ``{"width": 8}``).

    Returns:
        The model; heads sized ``backbone_channels -> task.out_channels``.
    """
    tasks = as_task_dict(tasks)
    net = _make_backbone(backbone, weights, backbone_kw)
    c = backbone_channels(net)
    heads = {t: get_head(h, c, tasks[t].out_channels, **dict(head_kw or {}))
             for t, h in _head_names(head, tasks).items()}
    return MultiTaskModel(net, heads, tasks=tasks)


def single_task_models(backbone: str | nn.Module | Callable[[], nn.Module],
                       heads: Mapping[str, nn.Module], weights=None,
                       backbone_kw: Mapping | None = None) -> dict[str, MultiTaskModel]:
    """Independent per-task networks: task -> ``MultiTaskModel`` with its own backbone and one head.

    Args:
        backbone: registry name or factory (a fresh, independently initialised backbone per task), or a module
            (deep-copied per task, so all tasks start from the same weights).
        heads: task name -> head; each head is used by its task's model only.
        weights: local weights file for a backbone given by name.
        backbone_kw: builder options for a backbone given by name.

    Returns:
        ``{task: model}``, each model predicting only its task.
    """
    if not isinstance(heads, Mapping) or not heads:
        raise ConfigError(f"heads must be a non-empty dict task name -> nn.Module, got {heads!r}")
    return {t: MultiTaskModel(_make_backbone(backbone, weights, backbone_kw, copy_module=True), {t: h})
            for t, h in heads.items()}


def build_single_task_models(backbone: str | nn.Module | Callable[[], nn.Module], tasks: Any,
                             head: str | Mapping = "light", head_kw: Mapping | None = None, weights=None,
                             backbone_kw: Mapping | None = None) -> dict[str, MultiTaskModel]:
    """One independent single-task model per task (the STL references), built like :func:`build_model`."""
    tasks = as_task_dict(tasks)
    return {t: build_model(backbone if not isinstance(backbone, nn.Module) else copy.deepcopy(backbone),
                           {t: tasks[t]}, head=h, head_kw=head_kw, weights=weights, backbone_kw=backbone_kw)
            for t, h in _head_names(head, tasks).items()}
