"""Backbones: single-task CNN feature extractors ``(B, 3, H, W) -> (B, C, h, w)``, built by name.

Every entry is an ``nn.Module`` without pooling or classifier, randomly initialised (deterministic given the torch
seed) unless a **local** ``weights`` file is given; nothing is ever downloaded. The torchvision entries keep
torchvision's child names, so module paths read like ``layer2.0.downsample.0`` (ResNets); for MobileNetV2,
MNasNet and EfficientNet the ``features``/``layers`` container itself is returned (paths like ``3.conv.0.0``).

Registered backbones (``list_backbones()``):

===================  ========  ======  ==================================================================
name                 channels  stride  what it is
===================  ========  ======  ==================================================================
resnet18/34/50       512/512/  32      torchvision ResNet up to ``layer4`` (no avgpool / fc)
                     2048
deeplab_resnet18/    512/512/  8       AdaShare's DeepLab-ResNet (AutoMTL docs/automtl.md §1.6): ``layer3``/``layer4``
34/50                2048              stride 1, every 3×3 conv of ``layer3`` dilation 2 and of ``layer4``
                                       dilation 4, ceil-mode max-pool (224 px -> 29×29 features)
mobilenet_v2         1280      32      torchvision ``mobilenet_v2().features`` (ReLU6; the AutoMTL prototxt
                                       exported ReLU6 as ReLU, docs/automtl.md §1.6 — a documented difference)
mnasnet1_0           1280      32      torchvision ``mnasnet1_0().layers`` (classifier dropped)
efficientnet_b0      1280      32      torchvision ``efficientnet_b0().features``
tiny_cnn             32        4       conv-BN-ReLU ×3 (6,088 parameters at the default width 16)
tiny_resnet          32        4       stem + 3 BasicBlocks, one with a 1×1 projection shortcut
                                       (38,224 parameters at the default width 16)
===================  ========  ======  ==================================================================

Both tiny networks are ``torch.fx`` traceable and run in milliseconds at 32–64 px on a CPU.

Example::

    >>> from mtlkit.backbones import get_backbone, backbone_channels
    >>> net = get_backbone("tiny_resnet", width=8)
    >>> backbone_channels(net)
    16
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from mtlkit.errors import ConfigError, unknown_name

__all__ = [
    "BackboneSpec", "register_backbone", "get_backbone", "list_backbones", "backbone_spec", "backbone_channels",
    "load_weights", "classifier_trunk",
]


@dataclass(frozen=True)
class BackboneSpec:
    """What the registry knows about a backbone before building it.

    Attributes:
        name: registry name.
        out_channels: feature channels ``C`` at the default options.
        output_stride: input size / feature size (ignoring rounding), e.g. 8 for the DeepLab ResNets.
        builder: ``builder(**kw) -> nn.Module``.
        description: one line for listings.
    """

    name: str
    out_channels: int
    output_stride: int
    builder: Callable[..., nn.Module]
    description: str = ""


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(name: str, out_channels: int, output_stride: int, description: str = ""):
    """Decorator registering ``builder(**kw) -> nn.Module`` under ``name``.

    Args:
        name: registry name (must be new).
        out_channels: feature channels at the builder's default options.
        output_stride: input/feature size ratio.
        description: one line shown by :func:`list_backbones`-based listings.

    Returns:
        The decorator; it returns the builder unchanged.
    """

    def deco(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ConfigError(f"backbone name {name!r} is already registered")
        _REGISTRY[name] = BackboneSpec(name, out_channels, output_stride, builder, description)
        return builder

    return deco


def list_backbones() -> list[str]:
    """Names of the registered backbones, sorted."""
    return sorted(_REGISTRY)


def backbone_spec(name: str) -> BackboneSpec:
    """The :class:`BackboneSpec` of ``name``; unknown names raise a ``ConfigError`` listing the valid ones."""
    if name not in _REGISTRY:
        raise unknown_name("backbone", name, _REGISTRY)
    return _REGISTRY[name]


def get_backbone(name: str, weights: str | Path | None = None, **kw) -> nn.Module:
    """Build a registered backbone.

    Args:
        name: a name from :func:`list_backbones`.
        weights: ``None`` (random init, the default) or the path of a local ``state_dict`` file saved with
            ``torch.save``. A full torchvision checkpoint (with ``fc.*``/``classifier.*`` keys or a ``features.``/
            ``layers.`` prefix) is accepted too. Nothing is downloaded.
        **kw: builder options, e.g. ``width`` for the tiny networks.

    Returns:
        The backbone module, with an ``out_channels`` attribute (int) telling its feature channels.

    Raises:
        ConfigError: unknown name, bad builder option, or weights that do not fit.
        FileNotFoundError: ``weights`` names a missing file.
    """
    spec = backbone_spec(name)
    try:
        net = spec.builder(**kw)
    except TypeError as exc:  # unexpected keyword for this builder
        raise ConfigError(f"bad option for backbone {name!r}: {exc}") from None
    net.out_channels = _probe_channels(net)  # plain int attribute; exact for any option
    if weights is not None:
        load_weights(net, weights)
    return net


def backbone_channels(backbone: str | nn.Module) -> int:
    """Feature channels ``C`` of a backbone given by registry name or as a module.

    Args:
        backbone: a registry name (channels at the default options) or a module. A module built by
            :func:`get_backbone` carries ``out_channels``; any other module is probed with a dummy forward at
            64×64 (eval mode and no grad, its train/eval mode is restored).

    Returns:
        The number of feature channels.
    """
    if isinstance(backbone, str):
        return backbone_spec(backbone).out_channels
    if not isinstance(backbone, nn.Module):
        raise ConfigError(f"backbone must be a registry name or an nn.Module, got {type(backbone).__name__}")
    c = getattr(backbone, "out_channels", None)
    if isinstance(c, int):
        return c
    return _probe_channels(backbone)


def load_weights(net: nn.Module, weights: str | Path) -> nn.Module:
    """Load a local ``state_dict`` file into ``net`` (strict), with a readable error on mismatch.

    Args:
        net: the backbone.
        weights: path of a file written by ``torch.save(state_dict)``.

    Returns:
        ``net`` (loaded in place).
    """
    if isinstance(weights, str) and weights.upper() in ("DEFAULT", "IMAGENET1K_V1", "IMAGENET1K_V2"):
        raise ConfigError(f"weights={weights!r}: mtlkit never downloads weights; pass None or a local file path")
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {str(path)!r} (weights= expects a local state_dict file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem becomes one clear message
        raise ConfigError(f"weights file {str(path)!r} could not be read as a torch state_dict: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConfigError(f"weights file {str(path)!r} must hold a state_dict (dict), got {type(state).__name__}")
    state = _adapt_keys(state, set(net.state_dict()))
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", wrong)):
            if keys:
                parts.append(f"{len(keys)} {label} keys (e.g. {', '.join(keys[:3])})")
        raise ConfigError(f"weights file {str(path)!r} does not fit this backbone: " + "; ".join(parts))
    net.load_state_dict(state)
    return net


def _adapt_keys(state: dict, own_keys: set[str]) -> dict:
    """Map a full torchvision checkpoint onto the feature extractor (drop the classifier, strip a prefix)."""
    if set(state) <= own_keys:
        return state
    for prefix in ("features.", "layers."):
        if any(k.startswith(prefix) for k in state):
            stripped = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if set(stripped) == own_keys:
                return stripped
    kept = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier."))}
    return kept if set(kept) == own_keys else state


@torch.no_grad()
def _probe_channels(net: nn.Module, size: int = 64) -> int:
    """Channels of ``net``'s output on a ``(1, 3, size, size)`` zero input (eval mode, modes restored)."""
    modes = {m: m.training for m in net.modules()}
    try:
        p = next(iter(net.parameters()), None)
        device = p.device if p is not None else torch.device("cpu")
        net.eval()
        out = net(torch.zeros(1, 3, size, size, device=device))
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"could not probe the backbone's output channels with a (1, 3, {size}, {size}) "
                          f"input: {exc}") from None
    finally:
        for m, mode in modes.items():
            m.training = mode
    if not torch.is_tensor(out) or out.dim() not in (2, 4):
        raise ConfigError(f"a backbone must return a (B, C, h, w) feature map or a (B, C) vector, got "
                          f"{tuple(out.shape) if torch.is_tensor(out) else type(out).__name__}")
    return int(out.shape[1])


# --------------------------------------------------------------------------------------------------- torchvision
def _resnet_features(arch: str) -> nn.Sequential:
    import torchvision

    net = getattr(torchvision.models, arch)(weights=None)
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
    return nn.Sequential(OrderedDict((n, getattr(net, n)) for n in names))


def _dilate_layer(layer: nn.Sequential, dilation: int) -> None:
    """Stride 1 everywhere in ``layer`` and dilation (= padding) ``dilation`` on every 3×3 conv (AdaShare)."""
    for m in layer.modules():
        if isinstance(m, nn.Conv2d):
            m.stride = (1, 1)
            if m.kernel_size == (3, 3):
                m.dilation = (dilation, dilation)
                m.padding = (dilation, dilation)


def _deeplab_resnet(arch: str) -> nn.Sequential:
    net = _resnet_features(arch)
    net.maxpool.ceil_mode = True  # AdaShare prototxt: round_mode CEIL, 224 -> 112 -> 57
    _dilate_layer(net.layer3, 2)
    _dilate_layer(net.layer4, 4)
    return net


for _arch, _c in (("resnet18", 512), ("resnet34", 512), ("resnet50", 2048)):
    register_backbone(_arch, _c, 32, f"torchvision {_arch} up to layer4")(
        lambda _a=_arch: _resnet_features(_a))
    register_backbone(f"deeplab_{_arch}", _c, 8, f"AdaShare DeepLab-{_arch}: dilated layer3/4 (2/4), OS 8")(
        lambda _a=_arch: _deeplab_resnet(_a))


@register_backbone("mobilenet_v2", 1280, 32, "torchvision mobilenet_v2 features")
def _mobilenet_v2() -> nn.Module:
    import torchvision

    return torchvision.models.mobilenet_v2(weights=None).features


@register_backbone("mnasnet1_0", 1280, 32, "torchvision mnasnet1_0 layers (no classifier)")
def _mnasnet1_0() -> nn.Module:
    import torchvision

    return torchvision.models.mnasnet1_0(weights=None).layers


@register_backbone("efficientnet_b0", 1280, 32, "torchvision efficientnet_b0 features")
def _efficientnet_b0() -> nn.Module:
    import torchvision

    return torchvision.models.efficientnet_b0(weights=None).features


def classifier_trunk(model: "str | nn.Module") -> nn.Module:
    """A classifier without its final layer: a **vector-feature backbone** ``(B, 3, H, W) -> (B, C)``.

    The last ``nn.Linear`` of the classifier — ``model.fc`` (ResNet, RegNet, ShuffleNet, GoogLeNet) or the last
    Linear of ``model.classifier`` (MobileNet, MNASNet, EfficientNet, ConvNeXt), together with a ``Dropout`` right
    before it — is replaced by ``nn.Identity``, so the network ends in its global pooling (and flatten). Use
    :func:`mtlkit.heads.get_head` ``("fc", C, K)`` heads on it.

    Args:
        model: a torchvision classification model name (built with ``weights=None``: random init, nothing is
            downloaded), e.g. ``"resnet18"``, ``"mobilenet_v2"``, ``"regnet_x_400mf"``, or a classifier module
            (modified in place).

    Returns:
        The trunk, with an ``out_channels`` attribute (``C``).

    Raises:
        ConfigError: unknown torchvision model name, or a module with no ``fc``/``classifier`` Linear layer.
    """
    if isinstance(model, str):
        import torchvision

        try:
            net = torchvision.models.get_model(model, weights=None)
        except (ValueError, KeyError):
            raise unknown_name("torchvision classifier", model, torchvision.models.list_models(torchvision.models)
                               ) from None
    elif isinstance(model, nn.Module):
        net = model
    else:
        raise ConfigError(f"classifier_trunk needs a torchvision model name or an nn.Module, got "
                          f"{type(model).__name__}")
    fc = getattr(net, "fc", None)
    classifier = getattr(net, "classifier", None)
    if isinstance(fc, nn.Linear):
        net.fc = nn.Identity()
    elif isinstance(classifier, nn.Linear):
        net.classifier = nn.Identity()
    elif isinstance(classifier, nn.Sequential) and any(isinstance(m, nn.Linear) for m in classifier):
        layers = list(classifier)
        last = max(i for i, m in enumerate(layers) if isinstance(m, nn.Linear))
        cut = last - 1 if last > 0 and isinstance(layers[last - 1], nn.Dropout) else last
        kept = layers[:cut] + layers[last + 1:]
        net.classifier = nn.Sequential(*kept) if kept else nn.Identity()
    else:
        raise ConfigError(f"classifier_trunk: {type(net).__name__} has no final nn.Linear in .fc or .classifier "
                          "to remove; pass a torchvision classifier (e.g. 'resnet18', 'mobilenet_v2')")
    net.out_channels = _probe_channels(net)
    return net


# ------------------------------------------------------------------------------------------------------ tiny nets
def _conv_bn_relu(cin: int, cout: int, stride: int, norm: str) -> list[nn.Module]:
    if norm == "bn":
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=True), nn.ReLU(inplace=True)]


@register_backbone("tiny_cnn", 32, 4, "conv-BN-ReLU x3 (stride 2, 2, 1), a few thousand parameters")
def tiny_cnn(width: int = 16, norm: str = "bn") -> nn.Sequential:
    """Plain conv stack: ``3 -> width/2 (s2) -> width (s2) -> 2·width``, each conv 3×3 + BN + ReLU.

    Args:
        width: channel width (even, >= 2); the output has ``2·width`` channels.
        norm: ``"bn"`` (BatchNorm, default) or ``"none"`` (conv with bias; batch-independent, e.g. to compare
            DDP with one process exactly).

    Returns:
        ``nn.Sequential`` with children ``conv1, bn1, relu1, conv2, ...`` (no ``bnK`` when ``norm="none"``).
    """
    if not isinstance(width, int) or width < 2 or width % 2:
        raise ConfigError(f"tiny_cnn width must be an even int >= 2, got {width!r}")
    if norm not in ("bn", "none"):
        raise ConfigError(f"tiny_cnn norm must be 'bn' or 'none', got {norm!r}")
    chans = [3, width // 2, width, 2 * width]
    layers: list[tuple[str, nn.Module]] = []
    for i, stride in enumerate((2, 2, 1), start=1):
        mods = _conv_bn_relu(chans[i - 1], chans[i], stride, norm)
        names = ["conv", "bn", "relu"] if norm == "bn" else ["conv", "relu"]
        layers += [(f"{n}{i}", m) for n, m in zip(names, mods)]
    return nn.Sequential(OrderedDict(layers))


@register_backbone("tiny_resnet", 32, 4, "stem + 3 residual blocks (one 1x1-projection downsample), OS 4")
def tiny_resnet(width: int = 16, blocks: tuple[int, int] = (1, 2)) -> nn.Sequential:
    """A small ResNet with torchvision ``BasicBlock``\\ s and ResNet child names.

    ``conv1`` (3×3, stride 2) + ``bn1`` + ``relu``, then ``layer1`` (``blocks[0]`` blocks at ``width``) and
    ``layer2`` (``blocks[1]`` blocks at ``2·width``; its first block has stride 2 and a ``downsample`` =
    1×1 conv + BN projection shortcut). Output stride 4, ``2·width`` channels.

    Args:
        width: base channel width (>= 1).
        blocks: residual blocks in ``layer1`` and ``layer2`` (each >= 1).

    Returns:
        ``nn.Sequential`` with children ``conv1, bn1, relu, layer1, layer2``.
    """
    from torchvision.models.resnet import BasicBlock

    if not isinstance(width, int) or width < 1:
        raise ConfigError(f"tiny_resnet width must be an int >= 1, got {width!r}")
    if len(tuple(blocks)) != 2 or any(not isinstance(b, int) or b < 1 for b in blocks):
        raise ConfigError(f"tiny_resnet blocks must be two ints >= 1, got {blocks!r}")
    w2 = 2 * width
    layer1 = [BasicBlock(width, width) for _ in range(blocks[0])]
    down = nn.Sequential(nn.Conv2d(width, w2, 1, 2, bias=False), nn.BatchNorm2d(w2))
    layer2 = [BasicBlock(width, w2, stride=2, downsample=down)] + [BasicBlock(w2, w2) for _ in range(blocks[1] - 1)]
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, width, 3, 2, 1, bias=False)),
        ("bn1", nn.BatchNorm2d(width)),
        ("relu", nn.ReLU(inplace=True)),
        ("layer1", nn.Sequential(*layer1)),
        ("layer2", nn.Sequential(*layer2)),
    ]))
