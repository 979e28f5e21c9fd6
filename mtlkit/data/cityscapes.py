"""CityScapes (2 tasks: 19-class segmentation, depth) in the pre-processed ``.npy`` format of AdaShare/AutoMTL.

Two on-disk layouts are supported.

**A. AdaShare split file** (used when ``root/cityscape.json`` or ``split_file=`` exists)::

    root/
      cityscape.json           {"train": [[image, depth, label_2, label_7, label_19], ...], "train1": [...],
                                "train2": [...], "test": [...]}   paths relative to root
                               (3-path entries [image, depth, label_19] are accepted too; label_2 and label_7
                               are never read and need not exist)
      train/image/0.npy        float (H, W, 3) **RGB in [0, 1]**
      train/depth/0.npy        float (H, W) or (H, W, 1) depth as pre-processed by MTAN/AdaShare; <= 0 = invalid
      train/label_19/0.npy     int or integral float (H, W) or (H, W, 1): class ids 0..18, -1 = void
      ...

**B. Split folders** (MTAN's layout, used when there is no split file)::

    root/<split>/image/*.npy, root/<split>/depth/*.npy, root/<split>/label_19/*.npy   (matched by file name)

``<split>`` is the split name; for ``test`` a ``val`` folder is used when ``test`` does not exist.
``train1``/``train2`` need their own folders in this layout.

The stored resolution in the papers is 256×512 (128×256 in MTAN's small version).

Default pre-processing (``paper_compat=False``), the batch contract of CONTRIBUTING.md:

* ``image``: RGB, ImageNet mean/std;
* ``segment_semantic``: int64 class ids, void −1 (and 255) → **255** (ignore), padding 255;
* ``depth_zbuffer``: as stored, non-finite or negative values and padding → 0 (invalid).

``paper_compat=True`` reproduces the originals (docs/automtl.md §4.1):

* ``image``: RGB ×255 flipped to BGR, minus the Caffe mean (104.008, 116.669, 122.679), no std division;
* ``segment_semantic``: void stays **−1** (the originals' ignore index; padding −1 too), so a paper-compatible
  loss/evaluator must treat −1 as ignore (``task_options()`` then gives ``ignore_index=-1``);
* ``depth_zbuffer``: as stored, padding 0; bilinear resizing without antialiasing.

Geometry in both modes: training splits get random scale U[0.5, 1.5) → flip → pad → random 224×224 crop
(AutoMTL's CityScapes setting); ``test`` keeps the stored resolution.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
from torch import Tensor

from mtlkit.data.transforms import (
    IGNORE_INDEX, SplitFileDataset, Geometry, check_files_exist, check_int_labels, check_same_size, hwc_to_tensor,
    image_to_tensor, read_npy, read_npy_depth, read_split_file,
)
from mtlkit.errors import DataError

VOID = -1  # CityScapes void label in the AdaShare/MTAN files


class CityScapes(SplitFileDataset):
    """CityScapes from AdaShare/MTAN ``.npy`` files (see the module docstring for layouts and pre-processing).

    Args:
        root: dataset folder.
        split: "train", "train1", "train2" or "test".
        tasks: subset of ``("segment_semantic", "depth_zbuffer")``; None = both.
        paper_compat: reproduce the original pre-processing instead of the kit's default.
        augment: random scale/flip/crop; default True for the training splits, False for "test".
        geometry: a :class:`Geometry` or a dict of overrides of :attr:`DEFAULT_GEOMETRY`.
        seed: seed of the per-sample augmentation generators (with the epoch and the index).
        split_file: JSON split file; default ``root / "cityscape.json"`` if it exists, else split folders.
        check_files: check at construction that every listed file of the selected tasks exists.
    """

    DATASET = "cityscapes"  # NAME, MODULE, ALL_TASKS, NUM_CLASSES, METRIC_SET from mtlkit.facts
    SPLIT_FILE = "cityscape.json"
    DEFAULT_GEOMETRY = Geometry(crop_size=(224, 224))

    def _index(self) -> list[dict[str, Path]]:
        path = Path(self._split_file_arg) if self._split_file_arg is not None else self.root / self.SPLIT_FILE
        if self._split_file_arg is not None or path.is_file():
            rows = read_split_file(path, self.split, (5, 3), "[image, depth, label_2, label_7, label_19]")
            entries = [{"image": self.root / r[0], "depth_zbuffer": self.root / r[1],
                        "segment_semantic": self.root / r[-1]} for r in rows]
            where = f"split {self.split!r} of {path}"
            self.split_file = path
        else:
            entries, where = self._index_folders(path)
            self.split_file = None
        if self._check_files:
            check_files_exist(entries, ("image", *self.tasks), where)
        return entries

    def _index_folders(self, json_path: Path) -> tuple[list[dict[str, Path]], str]:
        """List ``root/<split>/image/*.npy`` (layout B)."""
        folder = self.root / self.split
        if self.split == "test" and not folder.is_dir() and (self.root / "val").is_dir():
            folder = self.root / "val"
        images = folder / "image"
        if not images.is_dir():
            raise FileNotFoundError(f"CityScapes split {self.split!r}: found neither the split file {json_path} nor "
                                    f"the split folder {images}; expected one of the layouts described in "
                                    f"{self.MODULE}")
        names = sorted(p.name for p in images.glob("*.npy"))
        if not names:
            raise DataError(f"CityScapes split folder {images} contains no .npy images")
        entries = [{"image": images / n, "depth_zbuffer": folder / "depth" / n,
                    "segment_semantic": folder / "label_19" / n} for n in names]
        return entries, f"split folder {folder}"

    def _read(self, entry: Mapping[str, Path]) -> dict[str, Tensor]:
        p = entry["image"]
        rgb = read_npy(p, "CityScapes image", channels=3, kinds="f")
        lo, hi = float(np.nanmin(rgb)), float(np.nanmax(rgb))
        if not (np.isfinite(rgb).all() and lo >= -1e-3 and hi <= 1 + 1e-3):
            raise DataError(f"CityScapes image {p}: expected finite RGB values in [0, 1] (AdaShare's .npy format); "
                            f"got range [{lo:g}, {hi:g}]")
        arrays = {"image": (p, rgb)}
        fields = {"image": image_to_tensor(rgb, self.paper_compat, scale=1.0)}
        if "segment_semantic" in self.tasks:
            p = entry["segment_semantic"]
            seg = read_npy(p, "CityScapes label_19", channels=1, kinds="fiu")
            integral = np.isfinite(seg) & (np.round(seg) == seg) if seg.dtype.kind == "f" else np.ones_like(seg, bool)
            check_int_labels(seg, p, "CityScapes label_19", "integer class ids 0..18, -1 (void) or 255",
                             integral & (((seg >= VOID) & (seg < self.NUM_CLASSES)) | (seg == IGNORE_INDEX)))
            seg = seg.astype(np.int64)
            void = (seg == VOID) | (seg == IGNORE_INDEX)
            seg[void] = VOID if self.paper_compat else IGNORE_INDEX
            arrays["segment_semantic"] = (p, seg)
            fields["segment_semantic"] = hwc_to_tensor(seg)
        if "depth_zbuffer" in self.tasks:
            arrays["depth_zbuffer"], fields["depth_zbuffer"] = read_npy_depth(
                entry["depth_zbuffer"], "CityScapes depth", self.paper_compat)
        check_same_size(arrays)
        return fields

    def _seg_options(self) -> dict[str, Any]:
        return {"num_classes": self.NUM_CLASSES, **({"ignore_index": VOID} if self.paper_compat else {})}

    def _pad_values(self) -> dict[str, float]:
        return {"segment_semantic": VOID if self.paper_compat else IGNORE_INDEX, "depth_zbuffer": 0.0}
