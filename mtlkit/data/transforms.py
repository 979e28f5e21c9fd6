"""Shared pre-processing for the real-dataset loaders (NYUv2, CityScapes, Tiny-Taskonomy).

Three parts, used by :mod:`mtlkit.data.nyuv2`, :mod:`mtlkit.data.cityscapes` and :mod:`mtlkit.data.taskonomy`:

1. **Geometry** (:class:`Geometry`, :func:`resize_fields`, :func:`augment_fields`): the papers' training
   augmentation (inherited from AdaShare) applied jointly to the image and every label:
   random scale ``s ~ U[0.5, 1.5)`` (bilinear for the image, nearest for labels) → horizontal flip with
   p = 0.5 (the x component of normals is negated where the dataset asks for it) → pad to the crop size,
   centred, with each field's pad value → random crop. Test samples are only resized (if at all).
   All randomness comes from one ``torch.Generator`` per sample (:func:`sample_generator`, seeded from
   ``(seed, epoch, index)``), so the number of DataLoader workers never changes the result.
2. **Image normalisation** (:func:`normalize_image`): ImageNet mean/std on RGB in [0, 1] by default;
   ``paper_compat=True`` gives the originals' BGR in [0, 255] minus the Caffe mean, without std division.
3. **File reading and checking** (:func:`read_png`, :func:`read_npy`, :func:`read_split_file`, ...) and the
   :class:`DenseDataset` base class that ties them together. Every bad file raises
   :class:`~mtlkit.errors.DataError` or ``FileNotFoundError`` naming the path and what was expected.

Fields travel between the steps as ``dict[str, Tensor]`` of float32 ``(C, H, W)`` tensors; nearest
interpolation, flips, pads and crops keep integer class ids exact in float32.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from mtlkit.errors import ConfigError, DataError, unknown_name

SPLITS = ("train", "train1", "train2", "test")
IGNORE_INDEX = 255  # == mtlkit.tasks.IGNORE_INDEX (kept here so the loaders import no model code)

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, for images in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (104.00698793, 116.66876762, 122.67891434)  # BGR, for images in [0, 255] (AdaShare/AutoMTL)

Size = tuple[int, int]


# --------------------------------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------------------------------

def _check_size(name: str, value: Any) -> Size | None:
    """Validate an optional (height, width) pair of positive ints."""
    if value is None:
        return None
    ok = (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in value))
    if not ok:
        raise ConfigError(f"Geometry.{name} must be None or a (height, width) pair of positive ints; got {value!r}")
    return (int(value[0]), int(value[1]))


@dataclass(frozen=True)
class Geometry:
    """Spatial pre-processing of one dataset.

    Attributes:
        base_size: (H, W) every sample is resized to first, in every split (Taskonomy: 256×256); None keeps the
            stored size.
        crop_size: (H, W) of the training crop (after scale and flip; smaller images are padded); None: no crop.
        test_size: (H, W) non-augmented samples are resized to (NYUv2: 321×321, Taskonomy: 224×224); None keeps
            the size.
        scale_range: random scale factor range ``[lo, hi)`` for training; None: no random scaling.
        flip: random horizontal flip (p = 0.5) for training.
    """

    base_size: Size | None = None
    crop_size: Size | None = None
    test_size: Size | None = None
    scale_range: tuple[float, float] | None = (0.5, 1.5)
    flip: bool = True

    def __post_init__(self) -> None:
        for name in ("base_size", "crop_size", "test_size"):
            object.__setattr__(self, name, _check_size(name, getattr(self, name)))
        sr = self.scale_range
        if sr is not None:
            if not (isinstance(sr, (tuple, list)) and len(sr) == 2 and 0 < float(sr[0]) <= float(sr[1])):
                raise ConfigError(f"Geometry.scale_range must be None or (lo, hi) with 0 < lo <= hi; got {sr!r}")
            object.__setattr__(self, "scale_range", (float(sr[0]), float(sr[1])))


def resolve_geometry(default: Geometry, geometry: Geometry | Mapping[str, Any] | None) -> Geometry:
    """Return ``geometry``, or ``default`` updated with a mapping of overrides.

    Args:
        default: the dataset's paper geometry.
        geometry: None (use ``default``), a full :class:`Geometry`, or a dict of field overrides,
            e.g. ``{"crop_size": (64, 64), "test_size": None}``.

    Returns:
        The geometry to use.
    """
    if geometry is None:
        return default
    if isinstance(geometry, Geometry):
        return geometry
    if isinstance(geometry, Mapping):
        fields = {f.name for f in dataclasses.fields(Geometry)}
        for key in geometry:
            if key not in fields:
                raise unknown_name("Geometry field", key, fields)
        return dataclasses.replace(default, **geometry)
    raise ConfigError(f"geometry must be None, a Geometry or a dict of Geometry fields; got {type(geometry).__name__}")


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A torch generator seeded from ``(seed, epoch, index)`` (well mixed by numpy's SeedSequence).

    Args:
        seed: dataset seed (non-negative).
        epoch: epoch number set with ``set_epoch``.
        index: sample index.

    Returns:
        A fresh CPU ``torch.Generator``.
    """
    hi, lo = np.random.SeedSequence([int(seed), int(epoch), int(index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(((int(hi) << 32) | int(lo)) & (2**63 - 1))


def resize_fields(fields: Mapping[str, Tensor], size: Size, interp: Mapping[str, str],
                  antialias: bool = False) -> dict[str, Tensor]:
    """Resize every ``(C, H, W)`` field to ``size``.

    Args:
        fields: name → float tensor ``(C, H, W)``.
        size: target (H, W).
        interp: name → ``"bilinear"`` or ``"nearest"``; fields not listed use nearest (labels).
        antialias: antialias bilinear down-sampling (the originals' OpenCV resize does not).

    Returns:
        A new dict with the resized tensors. Nearest matches OpenCV's ``INTER_NEAREST``.
    """
    out = {}
    for name, t in fields.items():
        if tuple(t.shape[-2:]) == tuple(size):
            out[name] = t
        elif interp.get(name, "nearest") == "bilinear":
            out[name] = F.interpolate(t[None], size=size, mode="bilinear", align_corners=False,
                                      antialias=antialias)[0]
        else:
            out[name] = F.interpolate(t[None], size=size, mode="nearest")[0]
    return out


def pad_fields(fields: Mapping[str, Tensor], size: Size, pad_values: Mapping[str, float]) -> dict[str, Tensor]:
    """Pad fields (centred) to at least ``size`` with per-field values (0 when not listed)."""
    h, w = next(iter(fields.values())).shape[-2:]
    ph, pw = max(h, size[0]), max(w, size[1])
    if (ph, pw) == (h, w):
        return dict(fields)
    top, left = (ph - h) // 2, (pw - w) // 2
    out = {}
    for name, t in fields.items():
        p = t.new_full((t.shape[0], ph, pw), float(pad_values.get(name, 0.0)))
        p[:, top:top + h, left:left + w] = t
        out[name] = p
    return out


def augment_fields(fields: Mapping[str, Tensor], *, generator: torch.Generator, geometry: Geometry,
                   interp: Mapping[str, str], pad_values: Mapping[str, float],
                   negate_x_on_flip: Iterable[str] = (), antialias: bool = False) -> dict[str, Tensor]:
    """The papers' training augmentation: random scale → flip → pad → random crop.

    Args:
        fields: name → float tensor ``(C, H, W)``, all of the same H×W.
        generator: source of all randomness (draws: scale, flip, crop top, crop left).
        geometry: uses ``scale_range``, ``flip`` and ``crop_size``.
        interp: name → interpolation for the random scale (see :func:`resize_fields`).
        pad_values: name → value written in padded pixels (the field's "invalid" value).
        negate_x_on_flip: fields whose channel 0 is an x component to negate when flipping (normals).
        antialias: antialias bilinear down-scaling.

    Returns:
        The augmented fields.
    """
    out = dict(fields)
    h, w = next(iter(out.values())).shape[-2:]
    if geometry.scale_range is not None:
        lo, hi = geometry.scale_range
        s = lo + (hi - lo) * torch.rand((), generator=generator).item()
        out = resize_fields(out, (max(1, int(h * s)), max(1, int(w * s))), interp, antialias)
    if geometry.flip and torch.rand((), generator=generator).item() < 0.5:
        out = {k: t.flip(-1) for k, t in out.items()}
        for name in negate_x_on_flip:
            if name in out:
                out[name] = out[name].clone()
                out[name][0] = -out[name][0]
    if geometry.crop_size is not None:
        ch, cw = geometry.crop_size
        out = pad_fields(out, (ch, cw), pad_values)
        ph, pw = next(iter(out.values())).shape[-2:]
        top = int(torch.randint(0, ph - ch + 1, (), generator=generator))
        left = int(torch.randint(0, pw - cw + 1, (), generator=generator))
        out = {k: t[:, top:top + ch, left:left + cw] for k, t in out.items()}
    return out


# --------------------------------------------------------------------------------------------------------------------
# Image and label encodings
# --------------------------------------------------------------------------------------------------------------------

def image_to_tensor(rgb: np.ndarray, paper_compat: bool, scale: float = 1.0 / 255.0) -> Tensor:
    """``(H, W, 3)`` RGB array → float ``(3, H, W)``: RGB in [0, 1], or BGR in [0, 255] with ``paper_compat``.

    Args:
        rgb: RGB array (uint8 0..255, or float in [0, 1] with ``scale=1``).
        paper_compat: return BGR in [0, 255] (the originals' OpenCV order) instead of RGB in [0, 1].
        scale: factor that maps the stored values to [0, 1].

    Returns:
        float32 tensor ``(3, H, W)``, not yet normalised (see :func:`normalize_image`).
    """
    x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)
    return x.flip(0) * (scale * 255.0) if paper_compat else x * scale


def normalize_image(image: Tensor, paper_compat: bool) -> Tensor:
    """ImageNet mean/std on RGB [0, 1]; or, with ``paper_compat``, BGR [0, 255] minus the Caffe mean (no std)."""
    if paper_compat:
        return image - torch.tensor(CAFFE_BGR_MEAN).view(3, 1, 1)
    return (image - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)


def decode_normals(rgb8: np.ndarray) -> np.ndarray:
    """8-bit normal map ``(H, W, 3)`` (R, G, B ↔ x, y, z) → unit vectors in [-1, 1], invalid pixels = 0.

    A pixel is invalid when its decoded vector ``v = c / 255 * 2 - 1`` has a length outside [0.5, 1.5]
    (a quantised unit normal has length 1 ± 0.01): this catches black (0, 0, 0), white and grey fills.

    Args:
        rgb8: uint8 array ``(H, W, 3)``.

    Returns:
        float32 array ``(H, W, 3)``.
    """
    v = rgb8.astype(np.float32) / 255.0 * 2.0 - 1.0
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    valid = (norm > 0.5) & (norm < 1.5)
    return np.where(valid, v / np.maximum(norm, 1e-6), 0.0).astype(np.float32)


def hwc_to_tensor(a: np.ndarray) -> Tensor:
    """``(H, W)`` or ``(H, W, C)`` array → float32 tensor ``(C, H, W)``."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)


# --------------------------------------------------------------------------------------------------------------------
# Reading and checking files
# --------------------------------------------------------------------------------------------------------------------

PNG_RGB = ("RGB",)
PNG_8BIT_GRAY = ("L", "P")
PNG_16BIT_GRAY = ("I;16", "I;16B", "I;16L", "I")
_MODE_TEXT = {PNG_RGB: "an 8-bit 3-channel RGB PNG", PNG_8BIT_GRAY: "an 8-bit single-channel PNG",
              PNG_16BIT_GRAY: "a 16-bit single-channel PNG",
              PNG_8BIT_GRAY + PNG_16BIT_GRAY: "an 8- or 16-bit single-channel PNG"}


def read_png(path: Path, modes: tuple[str, ...], what: str) -> np.ndarray:
    """Read a PNG and check its Pillow mode (bit depth and channel count).

    Args:
        path: file to read.
        modes: accepted Pillow modes, e.g. :data:`PNG_RGB`, :data:`PNG_16BIT_GRAY`.
        what: what the file is, for messages (e.g. "NYUv2 segmentation label").

    Returns:
        ``(H, W)`` or ``(H, W, 3)`` array (uint8, uint16 or int32 as stored).

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: unreadable, or of another mode (e.g. RGBA, 16-bit where 8-bit is expected).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        with Image.open(path) as im:
            im.load()
            mode, bands = im.mode, len(im.getbands())
            arr = np.array(im)
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(f"cannot read {what} {path} as a PNG image: {err}") from None
    if mode not in modes:
        expected = _MODE_TEXT.get(modes, f"a PNG of mode {' or '.join(modes)}")
        raise DataError(f"{what} {path}: expected {expected}; got Pillow mode {mode!r} with {bands} channel(s)")
    if mode == "I" and arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise DataError(f"{what} {path}: expected 16-bit values 0..65535; got range [{arr.min()}, {arr.max()}]")
    return arr


def load_npy(path: Path, what: str) -> np.ndarray:
    """``np.load`` of a ``.npy`` file (no pickles), with errors that name ``what`` and the file.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: it is not a readable ``.npy`` array.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"cannot read {what} {path} as a .npy array: {err}") from None


def read_npy_depth(path: Path, what: str, paper_compat: bool) -> tuple[tuple[Path, np.ndarray], Tensor]:
    """A float ``.npy`` depth map in metres: ``((path, array as read), (1, H, W) tensor)``; without
    ``paper_compat`` every non-finite or non-positive value becomes 0 (invalid)."""
    depth = read_npy(path, what, channels=1, kinds="f")
    clean = depth if paper_compat else np.where(np.isfinite(depth) & (depth > 0), depth, 0.0)
    return (path, depth), hwc_to_tensor(clean)


def read_npy(path: Path, what: str, channels: int, kinds: str = "f") -> np.ndarray:
    """Read a ``.npy`` array ``(H, W)`` or ``(H, W, channels)`` and check its dtype kind.

    Args:
        path: file to read.
        what: what the file is, for messages.
        channels: expected channel count; ``(H, W)`` is accepted when it is 1.
        kinds: accepted numpy dtype kinds ("f" float, "i" signed, "u" unsigned).

    Returns:
        Array of shape ``(H, W, channels)``.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: unreadable, wrong shape or wrong dtype.
    """
    arr = load_npy(path, what)
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in kinds:
        kind_text = {"f": "float", "i": "signed int", "u": "unsigned int"}
        expected = " or ".join(kind_text.get(k, k) for k in kinds)
        got = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
        raise DataError(f"{what} {path}: expected a {expected} array; got dtype {got}")
    if arr.ndim == 2 and channels == 1:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] != channels or 0 in arr.shape:
        form = "(H, W) or (H, W, 1)" if channels == 1 else f"(H, W, {channels})"
        raise DataError(f"{what} {path}: expected shape {form}; got {arr.shape}")
    return arr


def check_same_size(arrays: Mapping[str, tuple[Path, np.ndarray]]) -> None:
    """Raise DataError unless all arrays (name → (path, array)) share the first one's H×W."""
    items = list(arrays.items())
    ref_name, (ref_path, ref) = items[0]
    for name, (path, arr) in items[1:]:
        if arr.shape[:2] != ref.shape[:2]:
            raise DataError(f"{name} {path} has size {arr.shape[0]}×{arr.shape[1]} but {ref_name} {ref_path} has "
                            f"{ref.shape[0]}×{ref.shape[1]}; expected the same height and width")


def check_int_labels(arr: np.ndarray, path: Path, what: str, allowed: str, ok: np.ndarray) -> None:
    """Raise DataError naming the first offending value unless the boolean array ``ok`` is all True."""
    if not ok.all():
        bad = arr[~ok]
        raise DataError(f"{what} {path}: expected {allowed}; found {bad.size} pixel(s) with other values, "
                        f"e.g. {bad.flat[0]!r}")


def read_split_file(path: Path, split: str, lengths: Sequence[int], form: str) -> list[list[str]]:
    """Read one split of an AdaShare-style JSON split file.

    The file is a JSON object ``{"train": [[path, ...], ...], "train1": ..., "train2": ..., "test": ...}``.

    Args:
        path: the JSON file.
        split: key to read.
        lengths: accepted entry lengths.
        form: human description of one entry, for messages (e.g. "[image, seg, normal, depth]").

    Returns:
        The entries of the split (lists of relative paths).

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: not JSON, no such split, or a malformed entry.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} does not exist; expected a JSON file with keys "
                                f"{', '.join(SPLITS)}, each a list of {form} paths")
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read split file {path} as JSON: {err}") from None
    if not isinstance(info, dict):
        raise DataError(f"split file {path}: expected a JSON object with keys {', '.join(SPLITS)}; "
                        f"got a JSON {type(info).__name__}")
    if split not in info:
        raise DataError(f"split file {path} has no split {split!r}; it has: {', '.join(map(str, info)) or 'nothing'}")
    entries = info[split]
    if not isinstance(entries, list):
        raise DataError(f"split file {path}: split {split!r} must be a list of {form} entries; "
                        f"got a {type(entries).__name__}")
    for i, entry in enumerate(entries):
        if not (isinstance(entry, list) and len(entry) in lengths and all(isinstance(p, str) for p in entry)):
            raise DataError(f"split file {path}: entry {i} of split {split!r} must be a list {form} of "
                            f"{' or '.join(map(str, lengths))} path strings; got {entry!r}")
    return entries


def check_files_exist(entries: Sequence[Mapping[str, Path]], keys: Iterable[str], where: str) -> None:
    """Raise FileNotFoundError naming the first missing files (and how many) among ``entries[*][keys]``.

    Args:
        entries: one mapping name → path per sample.
        keys: names to check.
        where: where the list came from, for the message (e.g. "split 'train' of /data/nyu/nyu_v2_3task.json").
    """
    keys = tuple(keys)
    missing = [str(e[k]) for e in entries for k in keys if not e[k].is_file()]
    if missing:
        total = len(entries) * len(keys)
        first = ", ".join(missing[:3])
        raise FileNotFoundError(f"{len(missing)} of {total} files listed in {where} are missing, first: {first}")


def check_root(root: str | Path, dataset: str, module: str) -> Path:
    """Return ``root`` as a Path or raise FileNotFoundError pointing to the documented layout."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{dataset} root {path} does not exist or is not a folder; expected the layout "
                                f"described in the docstring of {module}")
    return path


# --------------------------------------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------------------------------------

class DenseDataset(Dataset):
    """Common machinery of the real-dataset loaders: splits, task selection, geometry, seeding.

    Subclasses set ``DATASET`` (their :data:`mtlkit.facts.DATASET_FACTS` name, which fills ``NAME``, ``MODULE``,
    ``ALL_TASKS``, ``NUM_CLASSES`` and ``METRIC_SET``) and ``DEFAULT_GEOMETRY``, and implement ``_index`` (list the samples of the split, checking what
    is cheap) and ``_read`` (read one sample's files and encode them into float ``(C, H, W)`` fields).

    Args:
        root: dataset folder (FileNotFoundError if missing).
        split: one of :data:`SPLITS`.
        tasks: a task name or a subset of ``ALL_TASKS``; None = all. ``.tasks`` keeps the canonical order.
        paper_compat: the originals' encodings instead of the kit's defaults (see each loader's docstring).
        augment: training augmentation; default True for train/train1/train2, False for test.
        geometry: a :class:`Geometry`, or a dict of overrides of ``DEFAULT_GEOMETRY``.
        seed: non-negative seed of the per-sample generators, combined with the epoch and the index.
    """

    DATASET: ClassVar[str] = ""
    NAME: ClassVar[str] = ""
    MODULE: ClassVar[str] = ""
    ALL_TASKS: ClassVar[tuple[str, ...]] = ()
    NUM_CLASSES: ClassVar[int] = 0
    METRIC_SET: ClassVar[str] = "nyuv2"  # mtlkit.tasks metric convention of the dataset's tables
    DEFAULT_GEOMETRY: ClassVar[Geometry] = Geometry()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("DATASET"):
            from mtlkit.facts import DATASET_FACTS

            facts = DATASET_FACTS[cls.DATASET]
            cls.NAME, cls.MODULE, cls.ALL_TASKS = facts.label, cls.__module__, facts.tasks
            cls.NUM_CLASSES, cls.METRIC_SET = facts.classes, facts.metric_set

    def __init__(self, root: str | Path, split: str = "train", tasks: str | Sequence[str] | None = None, *,
                 paper_compat: bool = False, augment: bool | None = None,
                 geometry: Geometry | Mapping[str, Any] | None = None, seed: int = 0) -> None:
        if split not in SPLITS:
            raise unknown_name("split", split, SPLITS)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ConfigError(f"seed must be a non-negative int; got {seed!r}")
        self.root = check_root(root, self.NAME, self.MODULE)
        self.split = split
        self.tasks = self._select_tasks(tasks)
        self.paper_compat = bool(paper_compat)
        self.augment = (split != "test") if augment is None else bool(augment)
        self.geometry = resolve_geometry(self.DEFAULT_GEOMETRY, geometry)
        self.seed = int(seed)
        self.epoch = 0
        self._entries: list[dict[str, Path]] = self._index()

    # ---- hooks ------------------------------------------------------------------------------------------------------
    def _index(self) -> list[dict[str, Path]]:
        raise NotImplementedError

    def _read(self, entry: Mapping[str, Path]) -> dict[str, Tensor]:
        raise NotImplementedError

    def _pad_values(self) -> dict[str, float]:
        """Value of padded pixels per field (image and unlisted fields: 0)."""
        return {"segment_semantic": IGNORE_INDEX}

    def _negate_x_on_flip(self) -> tuple[str, ...]:
        return ("normal",)

    def _image_interp(self, stage: str) -> str:
        """Interpolation of the image at ``stage`` ("base", "scale" or "test")."""
        return "bilinear"

    # ---- public API -------------------------------------------------------------------------------------------------
    def _select_tasks(self, tasks: str | Sequence[str] | None) -> tuple[str, ...]:
        if tasks is None:
            return self.ALL_TASKS
        wanted = [tasks] if isinstance(tasks, str) else list(tasks)
        if not wanted:
            raise ConfigError(f"tasks must name at least one of {', '.join(self.ALL_TASKS)}; got an empty list")
        for t in wanted:
            if t not in self.ALL_TASKS:
                raise unknown_name(f"{self.NAME} task", t, self.ALL_TASKS)
        return tuple(t for t in self.ALL_TASKS if t in wanted)

    def task_options(self) -> dict[str, dict[str, Any]]:
        """Options for :func:`mtlkit.tasks.get_task`, per selected task.

        Returns:
            ``{task: options}``: every task gets the dataset's ``metric_set``; segmentation also gets
            ``num_classes`` (and ``ignore_index`` / ``class_weights`` where the dataset defines them). The tasks'
            own ``paper_compat`` is left to the caller. Use as ``get_task(t, **ds.task_options()[t])``.
        """
        return {t: {"metric_set": self.METRIC_SET, **(self._seg_options() if t == "segment_semantic" else {})}
                for t in self.tasks}

    def _seg_options(self) -> dict[str, Any]:
        return {"num_classes": self.NUM_CLASSES}

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draws (call before iterating each epoch; workers copy the dataset then)."""
        self.epoch = int(epoch)

    def files(self, index: int) -> dict[str, Path]:
        """The files of sample ``index`` (name → path), for debugging."""
        return dict(self._entries[index])

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.load(index)

    def load(self, index: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Read, pre-process and return sample ``index`` in the batch format of CONTRIBUTING.md.

        Args:
            index: sample index in ``[0, len(self))``.
            generator: source of the augmentation randomness; by default a generator seeded from
                ``(self.seed, self.epoch, index)``.

        Returns:
            ``{"image": (3, H, W) float32, <task>: label, ["mask": (1, H, W) bool]}``.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.NAME} {self.split!r} has {len(self)} samples; got index {index}")
        index = index % len(self)
        fields = self._read(self._entries[index])
        g = self.geometry
        antialias = not self.paper_compat
        if g.base_size is not None:
            fields = resize_fields(fields, g.base_size, {"image": self._image_interp("base")}, antialias)
        if self.augment:
            gen = generator if generator is not None else sample_generator(self.seed, self.epoch, index)
            fields = augment_fields(fields, generator=gen, geometry=g, interp={"image": self._image_interp("scale")},
                                    pad_values=self._pad_values(), negate_x_on_flip=self._negate_x_on_flip(),
                                    antialias=antialias)
        elif g.test_size is not None:
            fields = resize_fields(fields, g.test_size, {"image": self._image_interp("test")}, antialias)
        return self._finish(fields)

    def _finish(self, fields: dict[str, Tensor]) -> dict[str, Tensor]:
        """Normalise the image and convert labels to the contract's dtypes and shapes."""
        out = {"image": normalize_image(fields["image"], self.paper_compat).contiguous()}
        for t in self.tasks:
            x = fields[t]
            out[t] = x[0].round().long() if t == "segment_semantic" else x.contiguous()
        if "mask" in fields:
            out["mask"] = fields["mask"] > 0.5
        return out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, n={len(self)}, "
                f"tasks={self.tasks}, paper_compat={self.paper_compat}, augment={self.augment})")


class SplitFileDataset(DenseDataset):
    """A :class:`DenseDataset` indexed by a JSON split file (NYUv2, CityScapes): two more constructor arguments.

    Args (besides :class:`DenseDataset`'s):
        split_file: the JSON split file; default ``root / SPLIT_FILE``.
        check_files: check at construction that every listed file of the selected tasks exists.
    """

    SPLIT_FILE: ClassVar[str] = ""

    def __init__(self, root: str | Path, split: str = "train", tasks: str | Sequence[str] | None = None, *,
                 paper_compat: bool = False, augment: bool | None = None,
                 geometry: Geometry | Mapping[str, Any] | None = None, seed: int = 0,
                 split_file: str | Path | None = None, check_files: bool = True) -> None:
        self._split_file_arg = split_file
        self._check_files = check_files
        super().__init__(root, split, tasks, paper_compat=paper_compat, augment=augment, geometry=geometry,
                         seed=seed)
