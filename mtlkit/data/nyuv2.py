"""NYUv2 (3 tasks: 40-class segmentation, surface normals, depth) in the AdaShare/AutoMTL/TreeMTL format.

On-disk layout (AdaShare's; folder names are free, the JSON decides)::

    root/
      nyu_v2_3task.json        {"train": [[image, seg, normal, depth], ...], "train1": [...], "train2": [...],
                                "test": [...]}   paths relative to root (absolute paths also work)
      img/0000.png             8-bit RGB image (PNG mode "RGB")
      seg/0000.png             8-bit single-channel class ids 0..39, 255 = ignore (mode "L" or "P")
      normal_mask/0000.png     8-bit RGB normal map, (R, G, B) = (x, y, z) encoded as (v + 1) / 2 · 255
      depth/0000.npy           float array (H, W) or (H, W, 1), depth in metres, 0 = invalid

All four files of a sample must have the same height and width. The split file may live elsewhere
(``split_file=``; AutoMTL kept it in ``data/utils/``). Extra keys (e.g. ``test_small``) are ignored.

Default pre-processing (``paper_compat=False``) — the batch contract of CONTRIBUTING.md:

* ``image``: RGB / 255, ImageNet mean/std;
* ``segment_semantic``: int64 class ids, 255 = ignore (also on padding);
* ``normal``: unit vectors in [-1, 1] decoded from the PNG (see :func:`mtlkit.data.transforms.decode_normals`),
  invalid and padded pixels 0; a horizontal flip negates x;
* ``depth_zbuffer``: metres, non-finite or negative values and padding → 0 (invalid).

``paper_compat=True`` reproduces the originals' encodings (docs/automtl.md §4.1):

* ``image``: BGR in [0, 255] minus the Caffe mean (104.008, 116.669, 122.679), no std division;
* ``normal``: the raw 8-bit **BGR** values as floats (channel 0 = the PNG's blue), not mapped to [-1, 1] and not
  negated by the flip; padding 255 (the original loss keeps pixels whose max channel is < 255);
* ``depth_zbuffer``: as stored, padding 0; segmentation as in the default;
* ``mask`` (bool, when normal or depth is selected): False on padded pixels only, so that the padded raw
  normals (255, 255, 255) are never scored even by a loss that does not apply the original "max < 255" rule;
* bilinear resizing without antialiasing (OpenCV's behaviour).

Geometry, in both modes (:class:`mtlkit.data.transforms.Geometry`, override with ``geometry=``): training
splits (``train``, ``train1``, ``train2``) get random scale U[0.5, 1.5) → flip → pad → random 321×321 crop;
``test`` is resized to 321×321 (bilinear image, nearest labels), as in AutoMTL's NYUv2 loader.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from torch import Tensor

from mtlkit.data.transforms import (
    IGNORE_INDEX, PNG_8BIT_GRAY, PNG_RGB, SplitFileDataset, Geometry, check_files_exist, check_int_labels,
    check_same_size, decode_normals, hwc_to_tensor, image_to_tensor, read_npy_depth, read_png, read_split_file,
)

_KEYS = ("image", "segment_semantic", "normal", "depth_zbuffer")  # order of an entry in the split file


class NYUv2(SplitFileDataset):
    """NYUv2 with the AdaShare split file (see the module docstring for the layout and pre-processing).

    Args:
        root: dataset folder.
        split: "train", "train1", "train2" or "test".
        tasks: subset of ``("segment_semantic", "normal", "depth_zbuffer")``; None = all.
        paper_compat: reproduce the original pre-processing instead of the kit's default.
        augment: random scale/flip/crop; default True for the training splits, False for "test".
        geometry: a :class:`Geometry` or a dict of overrides of :attr:`DEFAULT_GEOMETRY`.
        seed: seed of the per-sample augmentation generators (with the epoch and the index).
        split_file: JSON split file; default ``root / "nyu_v2_3task.json"``.
        check_files: check at construction that every listed file of the selected tasks exists.
    """

    DATASET = "nyuv2"  # NAME, MODULE, ALL_TASKS, NUM_CLASSES, METRIC_SET from mtlkit.facts
    SPLIT_FILE = "nyu_v2_3task.json"
    DEFAULT_GEOMETRY = Geometry(crop_size=(321, 321), test_size=(321, 321))

    def _index(self) -> list[dict[str, Path]]:
        path = Path(self._split_file_arg) if self._split_file_arg is not None else self.root / self.SPLIT_FILE
        rows = read_split_file(path, self.split, (4,), "[image, seg, normal, depth]")
        entries = [dict(zip(_KEYS, (self.root / p for p in row))) for row in rows]
        if self._check_files:
            check_files_exist(entries, ("image", *self.tasks), f"split {self.split!r} of {path}")
        self.split_file = path
        return entries

    def _read(self, entry: Mapping[str, Path]) -> dict[str, Tensor]:
        rgb = read_png(entry["image"], PNG_RGB, "NYUv2 image")
        arrays = {"image": (entry["image"], rgb)}
        fields = {"image": image_to_tensor(rgb, self.paper_compat)}
        if "segment_semantic" in self.tasks:
            p = entry["segment_semantic"]
            seg = read_png(p, PNG_8BIT_GRAY, "NYUv2 segmentation label")
            check_int_labels(seg, p, "NYUv2 segmentation label", "class ids 0..39 or 255 (ignore)",
                             (seg < self.NUM_CLASSES) | (seg == IGNORE_INDEX))
            arrays["segment_semantic"] = (p, seg)
            fields["segment_semantic"] = hwc_to_tensor(seg)
        if "normal" in self.tasks:
            p = entry["normal"]
            normal = read_png(p, PNG_RGB, "NYUv2 normal map")
            arrays["normal"] = (p, normal)
            fields["normal"] = hwc_to_tensor(normal[:, :, ::-1] if self.paper_compat else decode_normals(normal))
        if "depth_zbuffer" in self.tasks:
            arrays["depth_zbuffer"], fields["depth_zbuffer"] = read_npy_depth(entry["depth_zbuffer"], "NYUv2 depth",
                                                                              self.paper_compat)
        check_same_size(arrays)
        if self.paper_compat and ("normal" in self.tasks or "depth_zbuffer" in self.tasks):
            fields["mask"] = fields["image"].new_ones((1, *fields["image"].shape[-2:]))  # False on padding
        return fields

    def _pad_values(self) -> dict[str, float]:
        return {"segment_semantic": IGNORE_INDEX, "normal": 255.0 if self.paper_compat else 0.0,
                "depth_zbuffer": 0.0}

    def _negate_x_on_flip(self) -> tuple[str, ...]:
        return () if self.paper_compat else ("normal",)
