"""Tiny-Taskonomy (5 tasks) in the per-building PNG format used by AdaShare, AutoMTL and TreeMTL.

On-disk layout::

    root/
      taskonomy.json           {"train": [[rgb, seg, normal, depth, keypoints, edge], ...], "train1": [...],
                                "train2": [...], "test": [...]}   paths relative to root
      allensville/rgb/point_0_view_0_domain_rgb.png                       8-bit RGB
      allensville/segment_semantic/point_0_view_0_domain_segmentsemantic.png   8- or 16-bit 1-channel, 0..17
      allensville/normal/point_0_view_0_domain_normal.png                 8-bit RGB normal map
      allensville/depth_zbuffer/point_0_view_0_domain_depth_zbuffer.png   16-bit, units of 1/512 m, >= 64500 invalid
      allensville/keypoints2d/point_0_view_0_domain_keypoints2d.png       16-bit
      allensville/edge_texture/point_0_view_0_domain_edge_texture.png     16-bit
      <other buildings>/...

File names do not matter (the JSON decides). AdaShare kept training buildings under ``root/train/`` and test
buildings under ``root/test/`` with JSON paths relative to those folders: this works unchanged, because when
the first entry of a split is not found under ``root`` it is looked up under ``root/train`` (``root/test`` for
the test split). All files of a sample must have the same height and width.

Optional ``root/semseg_prior_factor.npy`` (AdaShare's 17 segmentation class weights, float array of shape (17,);
another path with ``prior_factor=``): when present, ``task_options()`` passes it to the segmentation task as
``class_weights``, as the originals' loss and ``err`` metric used it.

Label encodings. Both modes:

* ``keypoints2d``: raw / 2¹⁶, clipped to [0, 0.005], rescaled to [-1, 1];
* ``edge_texture``: raw / 2¹⁶, clipped to [0, 0.08], rescaled to [-1, 1];
* ``mask`` (bool, returned when a dense regression task is selected): depth raw < 64500 and not padding. In the
  originals only normal and depth used it; keypoints and edges excluded only padding.

Default (``paper_compat=False``), the batch contract of CONTRIBUTING.md:

* ``image``: RGB, ImageNet mean/std; bilinear (antialiased) resizing;
* ``segment_semantic``: raw 1..17 → 0..16; raw 0 (unlabelled) → **255** (ignore); padding 255;
* ``normal``: unit vectors in [-1, 1] (see :func:`mtlkit.data.transforms.decode_normals`), 0 where the mask is
  False; a flip negates x;
* ``depth_zbuffer``: **metres** = raw / 512, 0 where raw >= 64500 and on padding;
* ``keypoints2d``, ``edge_texture``: padding 0.

``paper_compat=True`` reproduces the originals (docs/automtl.md §4.1):

* ``image``: BGR in [0, 255] minus the Caffe mean (104.008, 116.669, 122.679), no std division; the first resize
  to 256×256 is nearest (as the original), later resizes bilinear without antialiasing;
* ``segment_semantic``: raw 1..17 → 0..16, raw 0 merged into class 0;
* ``normal``: raw / 255 → [-1, 1] (not re-normalised, invalid pixels kept), the flip negates channel 0;
* ``depth_zbuffer``: log(1 + raw) / log(2¹⁶);
* every label is padded with 255 (the originals' "ignore" value for these tasks); the mask is False there.

Geometry in both modes: every sample is first resized to 256×256 (nearest for labels); training splits then get
random scale U[0.5, 1.5) → flip → pad → random 224×224 crop; ``test`` is resized to 224×224.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from torch import Tensor

from mtlkit.data.transforms import (
    IGNORE_INDEX, PNG_8BIT_GRAY, PNG_16BIT_GRAY, PNG_RGB, DenseDataset, Geometry, check_files_exist,
    check_int_labels, check_same_size, decode_normals, hwc_to_tensor, image_to_tensor, load_npy, read_png,
    read_split_file,
)
from mtlkit.errors import DataError

_KEYS = ("image", "segment_semantic", "normal", "depth_zbuffer", "keypoints2d", "edge_texture")
_REGRESSION = ("normal", "depth_zbuffer", "keypoints2d", "edge_texture")
DEPTH_INVALID_FROM = 64500  # raw depth >= this is invalid (sky, far, holes)
DEPTH_UNITS_PER_METRE = 512.0
KEYPOINTS_CLIP = 0.005
EDGES_CLIP = 0.08
PAPER_PAD = 255.0


def _clip_rescale(raw: np.ndarray, clip: float) -> np.ndarray:
    """raw / 2¹⁶, clipped to [0, clip], mapped linearly to [-1, 1]."""
    x = np.clip(raw.astype(np.float32) / 2.0**16, 0.0, clip) / clip
    return x * 2.0 - 1.0


class Taskonomy(DenseDataset):
    """Tiny-Taskonomy with the AdaShare split file (see the module docstring for layout and pre-processing).

    Args:
        root: dataset folder.
        split: "train", "train1", "train2" or "test".
        tasks: subset of ``("segment_semantic", "normal", "depth_zbuffer", "keypoints2d", "edge_texture")``;
            None = all.
        paper_compat: reproduce the original pre-processing instead of the kit's default.
        augment: random scale/flip/crop; default True for the training splits, False for "test".
        geometry: a :class:`Geometry` or a dict of overrides of :attr:`DEFAULT_GEOMETRY`.
        seed: seed of the per-sample augmentation generators (with the epoch and the index).
        split_file: JSON split file; default ``root / "taskonomy.json"``.
        check_files: check at construction that every listed file of the selected tasks exists.
        prior_factor: segmentation class-weight file; default ``root / "semseg_prior_factor.npy"`` if it exists.
    """

    DATASET = "taskonomy"  # NAME, MODULE, ALL_TASKS, NUM_CLASSES, METRIC_SET from mtlkit.facts
    PRIOR_FACTOR_FILE = "semseg_prior_factor.npy"
    SPLIT_FILE = "taskonomy.json"
    DEFAULT_GEOMETRY = Geometry(base_size=(256, 256), crop_size=(224, 224), test_size=(224, 224))

    def __init__(self, root: str | Path, split: str = "train", tasks: str | Sequence[str] | None = None, *,
                 paper_compat: bool = False, augment: bool | None = None,
                 geometry: Geometry | Mapping[str, Any] | None = None, seed: int = 0,
                 split_file: str | Path | None = None, check_files: bool = True,
                 prior_factor: str | Path | None = None) -> None:
        self._split_file_arg = split_file
        self._check_files = check_files
        super().__init__(root, split, tasks, paper_compat=paper_compat, augment=augment, geometry=geometry,
                         seed=seed)
        self.class_weights = self._read_prior_factor(prior_factor)

    def _read_prior_factor(self, path: str | Path | None) -> tuple[float, ...] | None:
        """The 17 class weights of ``semseg_prior_factor.npy``, or None when the default file is absent."""
        if path is None:
            path = self.root / self.PRIOR_FACTOR_FILE
            if not path.is_file():
                return None
        path, what = Path(path), "Taskonomy segmentation prior factor"
        w = load_npy(path, what)
        if w.dtype.kind not in "fiu" or w.shape != (self.NUM_CLASSES,) or not np.isfinite(w).all() or (w < 0).any():
            raise DataError(f"{what} {path}: expected {self.NUM_CLASSES} finite non-negative numbers of shape "
                            f"({self.NUM_CLASSES},); got dtype {w.dtype} and shape {w.shape}")
        return tuple(float(x) for x in w)

    def _seg_options(self) -> dict[str, Any]:
        options = {"num_classes": self.NUM_CLASSES}
        if self.class_weights is not None:
            options["class_weights"] = self.class_weights
        return options

    @property
    def has_mask(self) -> bool:
        """Whether samples carry ``mask`` (a dense regression task is selected; needs the depth files)."""
        return any(t in _REGRESSION for t in self.tasks)

    def _index(self) -> list[dict[str, Path]]:
        path = Path(self._split_file_arg) if self._split_file_arg is not None else self.root / self.SPLIT_FILE
        rows = read_split_file(path, self.split, (6,), "[rgb, seg, normal, depth, keypoints, edge]")
        base = self.root
        legacy = self.root / ("test" if self.split == "test" else "train")
        if rows and not (base / rows[0][0]).is_file() and (legacy / rows[0][0]).is_file():
            base = legacy  # AdaShare layout: paths relative to root/train or root/test
        entries = [dict(zip(_KEYS, (base / p for p in row))) for row in rows]
        if self._check_files:
            needed = ("image", *self.tasks, *(("depth_zbuffer",) if self.has_mask else ()))
            check_files_exist(entries, tuple(dict.fromkeys(needed)), f"split {self.split!r} of {path}")
        self.split_file = path
        return entries

    def _read(self, entry: Mapping[str, Path]) -> dict[str, Tensor]:
        pc = self.paper_compat
        raw = {"image": read_png(entry["image"], PNG_RGB, "Taskonomy rgb image")}
        if "segment_semantic" in self.tasks:
            raw["segment_semantic"] = read_png(entry["segment_semantic"], PNG_8BIT_GRAY + PNG_16BIT_GRAY,
                                               "Taskonomy segment_semantic")
        if "normal" in self.tasks:
            raw["normal"] = read_png(entry["normal"], PNG_RGB, "Taskonomy normal")
        if self.has_mask:
            raw["depth_zbuffer"] = read_png(entry["depth_zbuffer"], PNG_16BIT_GRAY, "Taskonomy depth_zbuffer")
        for task in ("keypoints2d", "edge_texture"):
            if task in self.tasks:
                raw[task] = read_png(entry[task], PNG_16BIT_GRAY, f"Taskonomy {task}")
        check_same_size({name: (entry[name], a) for name, a in raw.items()})

        fields = {"image": image_to_tensor(raw["image"], pc)}
        if self.has_mask:
            valid = raw["depth_zbuffer"] < DEPTH_INVALID_FROM
            fields["mask"] = hwc_to_tensor(valid)
        if "segment_semantic" in self.tasks:
            seg = raw["segment_semantic"]
            check_int_labels(seg, entry["segment_semantic"], "Taskonomy segment_semantic", "raw class ids 0..17",
                             seg <= self.NUM_CLASSES)
            seg = seg.astype(np.int64) - 1  # raw 1..17 -> 0..16; raw 0 -> -1, replaced below
            seg[seg < 0] = 0 if pc else IGNORE_INDEX
            fields["segment_semantic"] = hwc_to_tensor(seg)
        if "normal" in self.tasks:
            if pc:
                fields["normal"] = hwc_to_tensor(raw["normal"].astype(np.float32) / 255.0 * 2.0 - 1.0)
            else:
                fields["normal"] = hwc_to_tensor(decode_normals(raw["normal"]) * valid[:, :, None])
        if "depth_zbuffer" in self.tasks:
            d = raw["depth_zbuffer"].astype(np.float64)
            if pc:
                fields["depth_zbuffer"] = hwc_to_tensor(np.log1p(d) / np.log(2.0**16))
            else:
                fields["depth_zbuffer"] = hwc_to_tensor(np.where(valid, d / DEPTH_UNITS_PER_METRE, 0.0))
        for task, clip in (("keypoints2d", KEYPOINTS_CLIP), ("edge_texture", EDGES_CLIP)):
            if task in self.tasks:
                fields[task] = hwc_to_tensor(_clip_rescale(raw[task], clip))
        return fields

    def _pad_values(self) -> dict[str, float]:
        if self.paper_compat:
            pads = {t: PAPER_PAD for t in self.ALL_TASKS}
        else:
            pads = {t: 0.0 for t in self.ALL_TASKS}
            pads["segment_semantic"] = IGNORE_INDEX
        pads["mask"] = 0.0
        return pads

    def _image_interp(self, stage: str) -> str:
        return "nearest" if (self.paper_compat and stage == "base") else "bilinear"
