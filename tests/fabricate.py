"""The tests' fabricated datasets: the package's writers (:mod:`mtlkit.data.fabricate`), importable as ``fabricate``."""
from mtlkit.data.fabricate import (  # noqa: F401
    STORED_SIZES, fabricate, fabricate_cityscapes, fabricate_nyuv2, fabricate_taskonomy, random_normal_map,
    split_indices,
)
