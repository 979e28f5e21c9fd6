"""Fabricate NYUv2, CityScapes and Tiny-Taskonomy datasets in their exact on-disk formats.

For the tests, smoke runs and the paper-scale dry run (:mod:`mtlkit.dryrun`): a few random images with labels that
contain every special value of the format (ignore/void labels, invalid depth, invalid normals), written exactly
as the loaders in :mod:`mtlkit.data` expect them (see each loader's module docstring for the layout). The default
size is tiny (tests); :data:`STORED_SIZES` are the resolutions the datasets are stored at on disk (what the
dry run writes, so the loaders' random-scale, pad and crop to the papers' inputs run as on the real files).

Each function returns the dataset root. Splits: the last ``max(1, n // 4)`` samples are ``test``, the others
``train``; ``train1`` / ``train2`` split ``train`` in two halves (see :func:`split_indices`).

Planted values (checked by the tests):

* NYUv2: seg pixel (0, 0) = 255 (ignore); normal pixel (0, 1) = (0, 0, 0) (invalid); depth pixel (0, 2) = 0.
* CityScapes: label_19 pixel (0, 0) = -1 (void); depth pixel (0, 1) = 0.
* Taskonomy: seg pixel (0, 0) = 0 (unlabelled), (0, 1) = 17; depth pixel (0, 0) = 1024 (= 2 m),
  pixel (0, 1) = 65535 (invalid); keypoints pixel (0, 0) = 164 (≈ 0.0025 · 2¹⁶), edges pixel (0, 0) = 65535.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from mtlkit.errors import ConfigError

__all__ = ["STORED_SIZES", "split_indices", "fabricate_nyuv2", "fabricate_cityscapes", "fabricate_taskonomy",
           "random_normal_map", "fabricate"]

#: (height, width) of the stored images of each dataset in the papers' pre-processed releases: NYUv2 480×640
#: (AdaShare's PNGs), CityScapes 256×512 (MTAN/AdaShare's ``.npy``), Tiny-Taskonomy 512×512 PNGs (the loader
#: resizes to 256×256 first, then crops 224×224 for training).
STORED_SIZES = {"nyuv2": (480, 640), "cityscapes": (256, 512), "taskonomy": (512, 512)}


def split_indices(n: int) -> dict[str, list[int]]:
    """Sample indices of each split for a fabricated dataset of ``n`` samples.

    Args:
        n: number of samples (at least 3).

    Returns:
        ``{"train": [...], "train1": [...], "train2": [...], "test": [...]}``.
    """
    if not isinstance(n, int) or n < 3:
        raise ConfigError(f"n must be an int >= 3 (train1, train2 and test each need a sample); got {n!r}")
    n_test = max(1, n // 4)
    train = list(range(n - n_test))
    half = (len(train) + 1) // 2
    return {"train": train, "train1": train[:half], "train2": train[half:], "test": list(range(n - n_test, n))}


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if not (len(size) == 2 and all(isinstance(v, int) and v >= 4 for v in size)):
        raise ConfigError(f"size must be (height, width) with both >= 4; got {size!r}")
    return int(size[0]), int(size[1])


def random_normal_map(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Random unit normals facing the camera (z > 0), encoded as 8-bit RGB ``(v + 1) / 2 · 255``."""
    v = rng.normal(size=(*size, 3))
    v[..., 2] = np.abs(v[..., 2]) + 0.5
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    return np.round((v + 1.0) / 2.0 * 255.0).astype(np.uint8)


def _save_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _save_npy(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)
    return path


def _write_json(path: Path, rows: list[list[str]], n: int) -> None:
    splits = {name: [rows[i] for i in idx] for name, idx in split_indices(n).items()}
    path.write_text(json.dumps(splits, indent=1))


def fabricate_nyuv2(root: str | Path, n: int = 4, size: tuple[int, int] = (24, 32), seed: int = 0) -> Path:
    """Write a tiny NYUv2 in AdaShare's layout (``img/``, ``seg/``, ``normal_mask/``, ``depth/``, JSON).

    Args:
        root: folder to create (may exist).
        n: number of samples (>= 3).
        size: (height, width) of every image.
        seed: seed of the random content.

    Returns:
        The dataset root, for ``NYUv2(root, ...)``.
    """
    root, (h, w), rng = Path(root), _check_size(size), np.random.default_rng(seed)
    split_indices(n)
    rows = []
    for i in range(n):
        name = f"{i:04d}"
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        seg = rng.integers(0, 40, (h, w), dtype=np.uint8)
        seg[rng.random((h, w)) < 0.1] = 255
        seg[0, 0] = 255
        normal = random_normal_map(rng, (h, w))
        normal[0, 1] = 0
        depth = rng.uniform(0.5, 10.0, (h, w)).astype(np.float32)
        depth[0, 2] = 0.0
        _save_png(root / "img" / f"{name}.png", rgb)
        _save_png(root / "seg" / f"{name}.png", seg)
        _save_png(root / "normal_mask" / f"{name}.png", normal)
        _save_npy(root / "depth" / f"{name}.npy", depth)
        rows.append([f"img/{name}.png", f"seg/{name}.png", f"normal_mask/{name}.png", f"depth/{name}.npy"])
    _write_json(root / "nyu_v2_3task.json", rows, n)
    return root


def fabricate_cityscapes(root: str | Path, n: int = 4, size: tuple[int, int] = (24, 32), seed: int = 0,
                         layout: str = "json") -> Path:
    """Write a tiny CityScapes in AdaShare's ``.npy`` format.

    Args:
        root: folder to create (may exist).
        n: number of samples (>= 3).
        size: (height, width) of every image.
        seed: seed of the random content.
        layout: "json" (``cityscape.json`` with 5-path entries, files under ``train/`` and ``test/``) or
            "folders" (MTAN's ``train/`` and ``val/`` folders, no JSON; ``train1``/``train2`` folders too).

    Returns:
        The dataset root, for ``CityScapes(root, ...)``.
    """
    if layout not in ("json", "folders"):
        raise ConfigError(f"layout must be 'json' or 'folders'; got {layout!r}")
    root, (h, w), rng = Path(root), _check_size(size), np.random.default_rng(seed)
    splits = split_indices(n)
    rows = []
    for i in range(n):
        rgb = rng.random((h, w, 3), dtype=np.float32)
        label19 = rng.integers(-1, 19, (h, w)).astype(np.int64)
        label19[0, 0] = -1
        label7 = np.clip(label19 // 3, -1, 6)
        label2 = np.where(label19 < 0, -1, (label19 > 10).astype(np.int64))
        depth = rng.uniform(0.0, 1.0, (h, w, 1)).astype(np.float32)
        depth[0, 1] = 0.0
        arrays = {"image": rgb, "depth": depth, "label_2": label2, "label_7": label7, "label_19": label19}
        if layout == "json":
            folder = "test" if i in splits["test"] else "train"
            for kind, a in arrays.items():
                _save_npy(root / folder / kind / f"{i}.npy", a)
            rows.append([f"{folder}/{k}/{i}.npy" for k in ("image", "depth", "label_2", "label_7", "label_19")])
        else:
            for split, idx in splits.items():
                if i in idx:
                    folder = "val" if split == "test" else split
                    for kind in ("image", "depth", "label_19"):
                        _save_npy(root / folder / kind / f"{i}.npy", arrays[kind])
    if layout == "json":
        _write_json(root / "cityscape.json", rows, n)
    return root


def fabricate_taskonomy(root: str | Path, n: int = 4, size: tuple[int, int] = (24, 32), seed: int = 0,
                        buildings: tuple[str, ...] = ("allensville", "beechwood"),
                        adashare_layout: bool = False, prior_factor: bool = False) -> Path:
    """Write a tiny Tiny-Taskonomy: per-building task folders of PNGs and ``taskonomy.json``.

    Args:
        root: folder to create (may exist).
        n: number of samples (>= 3), spread round-robin over ``buildings``.
        size: (height, width) of every image.
        seed: seed of the random content.
        buildings: building folder names.
        adashare_layout: put the buildings under ``root/train`` and ``root/test`` with JSON paths relative to
            those folders, as AdaShare did.
        prior_factor: also write ``semseg_prior_factor.npy`` (17 positive float32 class weights).

    Returns:
        The dataset root, for ``Taskonomy(root, ...)``.
    """
    root, (h, w), rng = Path(root), _check_size(size), np.random.default_rng(seed)
    splits = split_indices(n)
    rows = []
    for i in range(n):
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        seg = rng.integers(0, 18, (h, w), dtype=np.uint8)
        seg[0, 0], seg[0, 1] = 0, 17
        normal = random_normal_map(rng, (h, w))
        depth = rng.integers(200, 20000, (h, w), dtype=np.uint16)
        depth[rng.random((h, w)) < 0.1] = 65535
        depth[0, 0], depth[0, 1] = 1024, 65535
        keypoints = rng.integers(0, 600, (h, w), dtype=np.uint16)
        keypoints[0, 0] = 164
        edges = rng.integers(0, 8000, (h, w), dtype=np.uint16)
        edges[0, 0] = 65535
        stem = f"point_{i}_view_0_domain"
        rel = {
            "rgb": (f"rgb/{stem}_rgb.png", rgb),
            "seg": (f"segment_semantic/{stem}_segmentsemantic.png", seg),
            "normal": (f"normal/{stem}_normal.png", normal),
            "depth": (f"depth_zbuffer/{stem}_depth_zbuffer.png", depth),
            "keypoints": (f"keypoints2d/{stem}_keypoints2d.png", keypoints),
            "edge": (f"edge_texture/{stem}_edge_texture.png", edges),
        }
        building = buildings[i % len(buildings)]
        base = root
        if adashare_layout:
            base = root / ("test" if i in splits["test"] else "train")
        for path, a in rel.values():
            _save_png(base / building / path, a)
        rows.append([f"{building}/{path}" for path, _ in rel.values()])
    _write_json(root / "taskonomy.json", rows, n)
    if prior_factor:
        np.save(root / "semseg_prior_factor.npy", rng.uniform(0.5, 2.0, 17).astype(np.float32))
    return root


_WRITERS = {"nyuv2": (fabricate_nyuv2, "NYUv2"), "cityscapes": (fabricate_cityscapes, "CityScapes"),
            "taskonomy": (fabricate_taskonomy, "Taskonomy")}


def fabricate(data_root: str | Path, dataset: str, n: int = 8, size: tuple[int, int] | None = None,
              seed: int = 0) -> Path:
    """Write ``data_root/<Dataset>/`` (the folder name the experiments expect) at the stored resolution.

    Args:
        data_root: the folder that will hold ``NYUv2/``, ``CityScapes/`` or ``Taskonomy/``.
        dataset: ``"nyuv2"``, ``"cityscapes"`` or ``"taskonomy"``.
        n: number of samples (>= 3; see :func:`split_indices`).
        size: (height, width); None: :data:`STORED_SIZES` of the dataset.
        seed: seed of the random content.

    Returns:
        The dataset folder.
    """
    if dataset not in _WRITERS:
        from mtlkit.errors import unknown_name

        raise unknown_name("dataset", dataset, _WRITERS)
    writer, folder = _WRITERS[dataset]
    return writer(Path(data_root) / folder, n=n, size=STORED_SIZES[dataset] if size is None else tuple(size),
                  seed=seed)
