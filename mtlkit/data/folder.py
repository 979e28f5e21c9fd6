"""Your own data on disk: a folder of images and label files, read like a torchvision ``VisionDataset``.

Layout (every name can be changed by an argument)::

    ROOT/
      images/<id>.png                 RGB image (8-bit PNG or JPEG, any size the model takes)
      <task>/<id>.png                 a dense label stored as an image, e.g. segmentation class ids (uint8/uint16)
      <task>/<id>.npy                 a dense label as a numpy array, e.g. depth (H, W) or normals (3, H, W)
      <task>.json                     per-image labels in one JSON object {"<id>": value}, e.g. the class ids in
                                      the image for a multi-label task
      splits/train.txt ...            one sample id per line: train, train1, train2, test (see write_splits)
      meta.json (optional)            {"task_options": {"segment_semantic": {"num_classes": 6}}, ...}

:class:`FolderDataset` ``(root, split, tasks, transform=None)`` returns the sample dicts of CONTRIBUTING.md
("Batches"): ``image`` float32 ``(3, H, W)`` normalised with the ImageNet mean/std (the default ``transform``) and one
entry per task, read by that task's **label reader** — :class:`PngLabel`, :class:`NpyLabel`, :class:`JsonLabel`, or
any callable ``reader(root, sample_id) -> tensor`` (with an optional ``path(root, sample_id)`` so that a missing
file is found when the dataset is built). Every file of the split is checked when the dataset is built, so a missing
image or label file is named at once (``FileNotFoundError`` with the path, the sample id and the task); a file that
cannot be read is named when it is read (``DataError``).

:func:`write_splits` makes AutoMTL's four splits from a list of ids: ``test`` (a held-out fraction), ``train`` (the
rest), and ``train1``/``train2``, two disjoint halves of ``train`` (network and policy steps of the search read
different images; AutoMTL §3.3, AdaShare's convention). :func:`write_sample` writes one sample in this layout, e.g.
to turn any mtlkit dataset into a folder (notebook 08 does that with SynthScenes).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from mtlkit.errors import ConfigError, DataError

__all__ = ["FolderDataset", "PngLabel", "NpyLabel", "JsonLabel", "write_splits", "write_sample", "read_split",
           "normalize_image", "iter_ids", "SPLITS"]

SPLITS = ("train", "train1", "train2", "test")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _read_image_file(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB") if img.mode not in ("L", "I;16", "I", "P") else img)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder problem names the file
        raise DataError(f"could not read image file {str(path)!r}: {type(exc).__name__}: {exc}") from None


def normalize_image(rgb: np.ndarray) -> torch.Tensor:
    """An ``(H, W, 3)`` uint8 image → float32 ``(3, H, W)`` in [0, 1], normalised with the ImageNet mean and std."""
    from mtlkit.data.synthetic import IMAGE_MEAN, IMAGE_STD

    x = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1) / 255.0
    mean = torch.tensor(IMAGE_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(3, 1, 1)
    return (x - mean) / std


# ------------------------------------------------------------------------------------------------ label readers
class PngLabel:
    """A dense label stored as one image per sample, ``ROOT/<folder>/<id>.png`` → int64 ``(H, W)`` (class ids).

    Args:
        folder: sub-folder of the root (default: the task name, set by :class:`FolderDataset`).
        dtype: tensor dtype (int64 for class ids; float32 for e.g. an edge map, then ``scale`` divides).
        scale: divide the stored values by this (e.g. 255 for an 8-bit map of values in [0, 1]).
        suffix: file suffix.
    """

    def __init__(self, folder: str | None = None, dtype: torch.dtype = torch.int64, scale: float | None = None,
                 suffix: str = ".png"):
        self.folder, self.dtype, self.scale, self.suffix = folder, dtype, scale, suffix

    def path(self, root: Path, sample_id: str) -> Path:
        return Path(root) / self.folder / f"{sample_id}{self.suffix}"

    def __call__(self, root: Path, sample_id: str) -> torch.Tensor:
        arr = _read_image_file(self.path(root, sample_id))
        if arr.ndim != 2:
            raise DataError(f"label file {str(self.path(root, sample_id))!r} must be a single-channel image "
                            f"(H, W), got shape {arr.shape}")
        t = torch.from_numpy(arr.astype(np.int64 if not self.dtype.is_floating_point else np.float32, copy=True))
        t = t.to(self.dtype)
        if self.scale is not None:
            t = t / self.scale
        return t if not self.dtype.is_floating_point else t[None]  # a float map is (1, H, W), ids stay (H, W)

    def __repr__(self) -> str:
        return f"PngLabel({self.folder!r}, dtype={self.dtype})"


class NpyLabel:
    """A label stored as one ``.npy`` array per sample, ``ROOT/<folder>/<id>.npy`` (e.g. depth, normals).

    Args:
        folder: sub-folder of the root (default: the task name).
        dtype: tensor dtype (float32 by default).
        add_channel: prepend a channel axis to a 2-D array (``(H, W)`` depth → ``(1, H, W)``).
    """

    def __init__(self, folder: str | None = None, dtype: torch.dtype = torch.float32, add_channel: bool = True):
        self.folder, self.dtype, self.add_channel = folder, dtype, add_channel

    def path(self, root: Path, sample_id: str) -> Path:
        return Path(root) / self.folder / f"{sample_id}.npy"

    def __call__(self, root: Path, sample_id: str) -> torch.Tensor:
        path = self.path(root, sample_id)
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"could not read label file {str(path)!r}: {type(exc).__name__}: {exc}") from None
        t = torch.from_numpy(np.ascontiguousarray(arr)).to(self.dtype)
        return t[None] if self.add_channel and t.ndim == 2 else t

    def __repr__(self) -> str:
        return f"NpyLabel({self.folder!r}, dtype={self.dtype})"


class JsonLabel:
    """Per-image labels in one JSON file ``ROOT/<file>`` = ``{"<id>": value, ...}`` (read once, then cached).

    Args:
        file: file name under the root (default: ``<task>.json``).
        num_classes: if given, ``value`` is a list of class ids present in the image and the label is a float32
            multi-hot vector ``(num_classes,)`` (for :class:`mtlkit.tasks.MultiLabel`); otherwise ``value`` (a
            number or a list of numbers) becomes a float32 tensor.
    """

    def __init__(self, file: str | None = None, num_classes: int | None = None):
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise ConfigError(f"JsonLabel: num_classes must be a positive int or None, got {num_classes!r}")
        self.file, self.num_classes = file, num_classes
        self._cache: dict[str, dict] = {}

    def path(self, root: Path, sample_id: str | None = None) -> Path:
        return Path(root) / self.file

    def _table(self, root: Path) -> dict:
        key = str(self.path(root))
        if key not in self._cache:
            path = self.path(root)
            if not path.is_file():
                raise FileNotFoundError(f"label file {key!r} is missing (JsonLabel expects one JSON object "
                                        "{sample id: label})")
            try:
                table = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise DataError(f"could not read label file {key!r} as JSON: {exc}") from None
            if not isinstance(table, dict):
                raise DataError(f"label file {key!r} must hold one JSON object {{sample id: label}}, got "
                                f"{type(table).__name__}")
            self._cache[key] = table
        return self._cache[key]

    def has(self, root: Path, sample_id: str) -> bool:
        return sample_id in self._table(root)

    def __call__(self, root: Path, sample_id: str) -> torch.Tensor:
        table = self._table(root)
        if sample_id not in table:
            raise DataError(f"label file {str(self.path(root))!r} has no entry for sample {sample_id!r}")
        value = table[sample_id]
        if self.num_classes is None:
            return torch.as_tensor(value, dtype=torch.float32)
        ids = value if isinstance(value, list) else [value]
        bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.num_classes]
        if bad:
            raise DataError(f"label file {str(self.path(root))!r}, sample {sample_id!r}: class ids must be ints in "
                            f"0..{self.num_classes - 1}, got {bad}")
        out = torch.zeros(self.num_classes)
        out[list(ids)] = 1.0
        return out

    def __repr__(self) -> str:
        return f"JsonLabel({self.file!r}, num_classes={self.num_classes})"


def _bind(reader: Any, task: str) -> Any:
    """A copy of a built-in reader with its folder/file defaulting to the task name."""
    if isinstance(reader, (PngLabel, NpyLabel)) and reader.folder is None:
        out = type(reader).__new__(type(reader))
        out.__dict__.update(reader.__dict__, folder=task)
        return out
    if isinstance(reader, JsonLabel) and reader.file is None:
        out = JsonLabel(f"{task}.json", reader.num_classes)
        return out
    return reader


# ------------------------------------------------------------------------------------------------ the dataset
def read_split(root: str | Path, split: str, split_dir: str = "splits") -> list[str]:
    """The sample ids of ``ROOT/<split_dir>/<split>.txt`` (one per line; blank lines and ``#`` comments ignored)."""
    path = Path(root) / split_dir / f"{split}.txt"
    if not path.is_file():
        have = sorted(p.stem for p in (Path(root) / split_dir).glob("*.txt")) if (Path(root) / split_dir).is_dir() \
            else []
        raise FileNotFoundError(f"split file {str(path)!r} is missing (split={split!r}; split files found: "
                                f"{have or 'none'}; write them with mtlkit.data.folder.write_splits)")
    ids = [line.strip() for line in path.read_text().splitlines()]
    ids = [i for i in ids if i and not i.startswith("#")]
    if not ids:
        raise DataError(f"split file {str(path)!r} lists no sample ids")
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise DataError(f"split file {str(path)!r} lists sample ids more than once: {dup}")
    return ids


class FolderDataset(Dataset):
    """A folder of images and label files (see the module docstring for the layout).

    Args:
        root: the dataset folder.
        split: a split name (``ROOT/splits/<split>.txt``: ``train``, ``train1``, ``train2``, ``test`` or your own).
        tasks: task name → label reader (:class:`PngLabel`, :class:`NpyLabel`, :class:`JsonLabel` or a callable
            ``reader(root, sample_id) -> tensor``); the dict order is ``.tasks``. A built-in reader without a folder
            or file name reads ``ROOT/<task>/`` (``ROOT/<task>.json``).
        transform: ``transform(sample) -> sample`` applied to the sample dict after reading (augmentation, resizing);
            the image it receives is already a normalised float tensor.
        image_dir: sub-folder of the images.
        split_dir: sub-folder of the split files.
        check_files: check, when the dataset is built, that every image and label file of the split exists.

    Attributes:
        tasks: the task names, ``ids``: the split's sample ids, ``meta``: the contents of ``ROOT/meta.json`` (or
        ``{}``).

    Raises:
        FileNotFoundError: the root, the split file, or an image or label file of the split is missing (named).
        ConfigError: bad ``tasks`` (not a non-empty dict of callables) or ``transform``.
    """

    def __init__(self, root: str | Path, split: str = "train", tasks: Mapping[str, Callable] | None = None, *,
                 transform: Callable[[dict], dict] | None = None, image_dir: str = "images",
                 split_dir: str = "splits", check_files: bool = True):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset root {str(self.root)!r} is not a folder (root= expects the folder "
                                    "that holds images/ and splits/)")
        if not isinstance(tasks, Mapping) or not tasks:
            raise ConfigError(f"tasks must be a non-empty dict task name -> label reader, e.g. "
                              f"{{'segment_semantic': PngLabel()}}, got {tasks!r}")
        bound = {}
        for name, reader in tasks.items():
            if not isinstance(name, str) or not name or name in ("image", "mask"):
                raise ConfigError(f"task names must be non-empty strings other than 'image'/'mask', got {name!r}")
            if not callable(reader):
                raise ConfigError(f"the label reader of task {name!r} must be callable(root, sample_id), got "
                                  f"{type(reader).__name__}")
            bound[name] = _bind(reader, name)
        if transform is not None and not callable(transform):
            raise ConfigError(f"transform must be callable(sample) -> sample or None, got {type(transform).__name__}")
        self.split, self.readers, self.transform = split, bound, transform
        self.tasks = tuple(bound)
        self.image_dir = image_dir
        self.ids = read_split(self.root, split, split_dir)
        meta = self.root / "meta.json"
        try:
            self.meta = json.loads(meta.read_text()) if meta.is_file() else {}
        except ValueError as exc:
            raise DataError(f"{str(meta)!r} is not valid JSON: {exc}") from None
        self._image_suffix: dict[str, str] = {}
        if check_files:
            self._check_files()

    def _image_path(self, sample_id: str) -> Path:
        base = self.root / self.image_dir
        suffix = self._image_suffix.get(sample_id)
        if suffix is None:
            suffix = next((s for s in _IMAGE_SUFFIXES if (base / f"{sample_id}{s}").is_file()), _IMAGE_SUFFIXES[0])
            self._image_suffix[sample_id] = suffix
        return base / f"{sample_id}{suffix}"

    def _check_files(self) -> None:
        for sample_id in self.ids:
            path = self._image_path(sample_id)
            if not path.is_file():
                raise FileNotFoundError(f"image file {str(path)!r} of sample {sample_id!r} (split {self.split!r}) "
                                        f"is missing (looked for {', '.join(_IMAGE_SUFFIXES)})")
            for task, reader in self.readers.items():
                if isinstance(reader, JsonLabel):
                    if not reader.has(self.root, sample_id):
                        raise FileNotFoundError(f"label of task {task!r} for sample {sample_id!r} (split "
                                                f"{self.split!r}) is missing from {str(reader.path(self.root))!r}")
                    continue
                where = getattr(reader, "path", None)
                if callable(where) and not Path(where(self.root, sample_id)).is_file():
                    raise FileNotFoundError(f"label file {str(where(self.root, sample_id))!r} of task {task!r} for "
                                            f"sample {sample_id!r} (split {self.split!r}) is missing")

    def task_options(self) -> dict[str, dict]:
        """Per-task options for :func:`mtlkit.tasks.get_task` from ``meta.json`` (``{}`` without one)."""
        opts = self.meta.get("task_options", {})
        return {t: dict(opts[t]) for t in self.tasks if t in opts}

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for FolderDataset split {self.split!r} of size {len(self)}")
        sample_id = self.ids[int(index)]
        path = self._image_path(sample_id)
        if not path.is_file():
            raise FileNotFoundError(f"image file {str(path)!r} of sample {sample_id!r} is missing")
        rgb = _read_image_file(path)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise DataError(f"image file {str(path)!r} must be an RGB image, got shape {rgb.shape}")
        sample = {"image": normalize_image(rgb)}
        for task, reader in self.readers.items():
            try:
                sample[task] = reader(self.root, sample_id)
            except FileNotFoundError as exc:
                raise FileNotFoundError(f"task {task!r}, sample {sample_id!r}: {exc}") from None
        return self.transform(sample) if self.transform is not None else sample

    def __repr__(self) -> str:
        return (f"FolderDataset(root={str(self.root)!r}, split={self.split!r}, size={len(self)}, "
                f"tasks={dict(self.readers)})")


# ------------------------------------------------------------------------------------------------ writing
def write_splits(root: str | Path, ids: Sequence[str], test_fraction: float = 0.2, seed: int = 0,
                 split_dir: str = "splits") -> dict[str, list[str]]:
    """Write AutoMTL's four split files for ``ids``: ``test``, ``train`` and its disjoint halves ``train1``/``train2``.

    The ids are shuffled with ``seed``; the first ``round(test_fraction * n)`` (at least 1) are ``test``, the rest
    ``train``; ``train1`` = every other ``train`` id from the first, ``train2`` = the others (sizes differ by at most
    1). Files are written atomically.

    Args:
        root: the dataset folder.
        ids: all sample ids (unique).
        test_fraction: share of the ids held out for ``test``, in (0, 1).
        seed: shuffle seed.
        split_dir: sub-folder for the files.

    Returns:
        ``{split: ids}``.
    """
    ids = [str(i) for i in ids]
    if len(ids) < 3:
        raise ConfigError(f"write_splits needs at least 3 sample ids (test, train1, train2), got {len(ids)}")
    if len(set(ids)) != len(ids):
        raise ConfigError("write_splits: ids must be unique")
    if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(len(ids))
    shuffled = [ids[i] for i in order]
    n_test = min(len(ids) - 2, max(1, round(test_fraction * len(ids))))
    train = shuffled[n_test:]
    splits = {"train": train, "train1": train[0::2], "train2": train[1::2], "test": shuffled[:n_test]}
    folder = Path(root) / split_dir
    folder.mkdir(parents=True, exist_ok=True)
    for name, members in splits.items():
        _write_text(folder / f"{name}.txt", "\n".join(members) + "\n")
    return splits


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_sample(root: str | Path, sample_id: str, image: np.ndarray,
                 labels: Mapping[str, tuple[str, Any]] | None = None, image_dir: str = "images") -> None:
    """Write one sample in the folder layout: the image as PNG and each label as PNG or ``.npy``.

    Per-image JSON labels are collected by the caller and written once (``json.dump`` of ``{id: value}``).

    Args:
        root: the dataset folder.
        sample_id: the sample's id (file stem).
        image: ``(H, W, 3)`` uint8 RGB.
        labels: task → ``("png", (H, W) integer array)`` or ``("npy", array)``.
        image_dir: sub-folder of the images.
    """
    from PIL import Image

    root = Path(root)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ConfigError(f"write_sample: image must be an (H, W, 3) uint8 array, got {image.dtype} {image.shape}")
    (root / image_dir).mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(root / image_dir / f"{sample_id}.png")
    for task, (kind, value) in (labels or {}).items():
        (root / task).mkdir(parents=True, exist_ok=True)
        arr = np.asarray(value)
        if kind == "png":
            if arr.ndim != 2 or arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
                raise ConfigError(f"write_sample: the png label of task {task!r} must be a (H, W) array of ints in "
                                  f"0..65535, got shape {arr.shape}")
            Image.fromarray(arr.astype(np.uint8 if arr.max(initial=0) < 256 else np.uint16)).save(
                root / task / f"{sample_id}.png")
        elif kind == "npy":
            np.save(root / task / f"{sample_id}.npy", arr)
        else:
            raise ConfigError(f"write_sample: label kind of task {task!r} must be 'png' or 'npy', got {kind!r}")


def iter_ids(n: int, prefix: str = "") -> Iterable[str]:
    """Zero-padded sample ids ``prefix0000 ...`` for ``n`` samples."""
    width = max(4, len(str(n - 1)))
    return (f"{prefix}{i:0{width}d}" for i in range(n))
