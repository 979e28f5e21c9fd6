"""FolderDataset: a folder of PNG/npy/JSON files read back exactly, AutoMTL's splits, missing or bad files named."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mtlkit.data import FolderDataset, get_dataset
from mtlkit.data.folder import JsonLabel, NpyLabel, PngLabel, normalize_image, read_split, write_sample, write_splits
from mtlkit.errors import ConfigError, DataError


def _make(root, n=10, size=8):
    rng = np.random.default_rng(0)
    ids, objects, arrays = [f"s{i:02d}" for i in range(n)], {}, {}
    for i, sid in enumerate(ids):
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        seg = rng.integers(0, 6, (size, size))
        depth = rng.random((size, size)).astype(np.float32) + 0.5
        write_sample(root, sid, image, {"segment_semantic": ("png", seg), "depth_zbuffer": ("npy", depth)})
        objects[sid] = sorted({int(c) for c in np.unique(seg)} & {3, 4, 5})
        arrays[sid] = (image, seg, depth)
    (root / "objects.json").write_text(json.dumps(objects))
    (root / "meta.json").write_text(json.dumps({"task_options": {"segment_semantic": {"num_classes": 6}}}))
    splits = write_splits(root, ids, test_fraction=0.2, seed=1)
    return splits, objects, arrays


READERS = {"segment_semantic": PngLabel(), "depth_zbuffer": NpyLabel(), "objects": JsonLabel(num_classes=6)}


def test_round_trip_splits_and_batches(tmp_path):
    splits, objects, arrays = _make(tmp_path)
    assert len(splits["test"]) == 2 and len(splits["train"]) == 8
    assert set(splits["train1"]).isdisjoint(splits["train2"])
    assert sorted(splits["train1"] + splits["train2"]) == sorted(splits["train"])
    assert set(splits["test"]).isdisjoint(splits["train"])
    assert read_split(tmp_path, "train1") == splits["train1"]
    ds = FolderDataset(tmp_path, "train", READERS)
    assert ds.tasks == ("segment_semantic", "depth_zbuffer", "objects") and len(ds) == 8
    assert ds.task_options() == {"segment_semantic": {"num_classes": 6}}
    sid = ds.ids[3]
    sample = ds[3]
    image, seg, depth = arrays[sid]
    torch.testing.assert_close(sample["image"], normalize_image(image))
    assert sample["segment_semantic"].dtype == torch.int64 and torch.equal(sample["segment_semantic"],
                                                                           torch.from_numpy(seg))
    assert torch.equal(sample["depth_zbuffer"], torch.from_numpy(depth)[None])
    expected = torch.zeros(6)
    expected[objects[sid]] = 1
    assert torch.equal(sample["objects"], expected)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 3, 8, 8) and batch["segment_semantic"].shape == (4, 8, 8)
    assert batch["depth_zbuffer"].shape == (4, 1, 8, 8) and batch["objects"].shape == (4, 6)
    by_name = get_dataset("folder", root=tmp_path, split="test", tasks=READERS)
    assert by_name.ids == splits["test"]


def test_transform_and_custom_reader(tmp_path):
    _make(tmp_path, n=4)
    flip = lambda s: {k: v.flip(-1) if v.ndim >= 2 else v for k, v in s.items()}  # noqa: E731
    reader = lambda root, sid: torch.tensor(float(sid[1:]))  # noqa: E731 - a callable without a path() is fine
    ds = FolderDataset(tmp_path, "train", {"segment_semantic": PngLabel(), "index": reader}, transform=flip)
    plain = FolderDataset(tmp_path, "train", {"segment_semantic": PngLabel()})
    assert torch.equal(ds[0]["segment_semantic"], plain[0]["segment_semantic"].flip(-1))
    assert ds[0]["index"].item() == float(ds.ids[0][1:])


def test_missing_and_bad_files_are_named(tmp_path):
    splits, _, _ = _make(tmp_path)
    victim = splits["train"][2]
    (tmp_path / "depth_zbuffer" / f"{victim}.npy").unlink()
    with pytest.raises(FileNotFoundError, match=rf"label file .*depth_zbuffer/{victim}\.npy' of task 'depth_zbuffer' "
                                                 rf"for sample '{victim}' \(split 'train'\) is missing"):
        FolderDataset(tmp_path, "train", READERS)
    ds = FolderDataset(tmp_path, "train", READERS, check_files=False)  # found when read
    with pytest.raises(FileNotFoundError, match=f"task 'depth_zbuffer', sample '{victim}'"):
        ds[ds.ids.index(victim)]
    (tmp_path / "images" / f"{victim}.png").unlink()
    with pytest.raises(FileNotFoundError, match=rf"image file .*images/{victim}\.png' of sample '{victim}'"):
        FolderDataset(tmp_path, "train", {"segment_semantic": PngLabel()})
    other = splits["test"][0]
    (tmp_path / "segment_semantic" / f"{other}.png").write_bytes(b"not a png")
    broken = FolderDataset(tmp_path, "test", {"segment_semantic": PngLabel()})
    with pytest.raises(DataError, match=rf"could not read image file .*segment_semantic/{other}\.png"):
        broken[broken.ids.index(other)]
    objects = json.loads((tmp_path / "objects.json").read_text())
    del objects[other]
    (tmp_path / "objects.json").write_text(json.dumps(objects))
    with pytest.raises(FileNotFoundError, match=rf"label of task 'objects' for sample '{other}' .* missing from "
                                                 r".*objects\.json"):
        FolderDataset(tmp_path, "test", {"objects": JsonLabel(num_classes=6)})
    with pytest.raises(FileNotFoundError, match=r"split file .*splits/val\.txt' is missing .*found: \['test', 'train',"):
        FolderDataset(tmp_path, "val", READERS)
    with pytest.raises(FileNotFoundError, match="dataset root .* is not a folder"):
        FolderDataset(tmp_path / "nowhere", "train", READERS)
    with pytest.raises(ConfigError, match="tasks must be a non-empty dict"):
        FolderDataset(tmp_path, "train", {})
    with pytest.raises(ConfigError, match="label reader of task 'x' must be callable"):
        FolderDataset(tmp_path, "train", {"x": "depth/"})
    with pytest.raises(ConfigError, match="at least 3 sample ids"):
        write_splits(tmp_path, ["a", "b"])
