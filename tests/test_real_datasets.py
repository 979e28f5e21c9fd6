"""Real-dataset loaders (NYUv2, CityScapes, Tiny-Taskonomy) on tiny datasets fabricated in the exact formats."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from fabricate import fabricate_cityscapes, fabricate_nyuv2, fabricate_taskonomy, split_indices
from mtlkit.data import CityScapes, NYUv2, Taskonomy, get_dataset, list_datasets
from mtlkit.data.registry import get_dataset_class, register_dataset
from mtlkit.data.transforms import CAFFE_BGR_MEAN, IMAGENET_MEAN, IMAGENET_STD, Geometry
from mtlkit.errors import ConfigError, DataError

SPLITS = ("train", "train1", "train2", "test")
SMALL = {"crop_size": (16, 16)}
NATIVE = {"base_size": None, "test_size": None}  # test split at the stored 24×32 size


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("datasets")
    return {"nyuv2": fabricate_nyuv2(base / "nyu"), "cityscapes": fabricate_cityscapes(base / "cs"),
            "taskonomy": fabricate_taskonomy(base / "tk")}


CLASSES = {"nyuv2": NYUv2, "cityscapes": CityScapes, "taskonomy": Taskonomy}


def _imagenet(rgb01: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(rgb01, dtype=np.float32)).permute(2, 0, 1)
    return (x - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)


def _caffe(rgb255: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(rgb255[..., ::-1], dtype=np.float32)).permute(2, 0, 1)
    return x - torch.tensor(CAFFE_BGR_MEAN).view(3, 1, 1)


def _png(path) -> np.ndarray:
    return np.array(Image.open(path))


# ---- every split, keys, dtypes, shapes ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CLASSES))
@pytest.mark.parametrize("paper_compat", [False, True])
def test_every_split_matches_the_batch_contract(roots, name, paper_compat):
    for split in SPLITS:
        ds = CLASSES[name](roots[name], split, paper_compat=paper_compat, geometry={**SMALL, **NATIVE})
        assert len(ds) == len(split_indices(4)[split])
        s = ds[0]
        has_mask = name == "taskonomy" or (name == "nyuv2" and paper_compat)
        expected = {"image", *ds.tasks} | ({"mask"} if has_mask else set())
        assert set(s) == expected
        h, w = (16, 16) if split != "test" else (24, 32)
        assert s["image"].shape == (3, h, w) and s["image"].dtype == torch.float32
        assert s["segment_semantic"].shape == (h, w) and s["segment_semantic"].dtype == torch.int64
        assert s["depth_zbuffer"].shape == (1, h, w) and s["depth_zbuffer"].dtype == torch.float32
        if "normal" in ds.tasks:
            assert s["normal"].shape == (3, h, w) and s["normal"].dtype == torch.float32
        if "mask" in s:
            assert s["mask"].shape == (1, h, w) and s["mask"].dtype == torch.bool
        seg = s["segment_semantic"]
        ignore = -1 if (paper_compat and name == "cityscapes") else 255
        assert bool(((seg >= 0) & (seg < ds.NUM_CLASSES) | (seg == ignore)).all())


def test_tasks_subset_and_task_options(roots):
    ds = NYUv2(roots["nyuv2"], "test", tasks=["depth_zbuffer", "segment_semantic"], geometry=NATIVE)
    assert ds.tasks == ("segment_semantic", "depth_zbuffer")  # canonical order
    assert set(ds[0]) == {"image", "segment_semantic", "depth_zbuffer"}
    assert ds.task_options() == {"segment_semantic": {"metric_set": "nyuv2", "num_classes": 40},
                                 "depth_zbuffer": {"metric_set": "nyuv2"}}
    cs = CityScapes(roots["cityscapes"], "test")
    assert cs.task_options()["segment_semantic"] == {"metric_set": "cityscapes", "num_classes": 19}
    assert CityScapes(roots["cityscapes"], "test", paper_compat=True).task_options()["segment_semantic"] == {
        "metric_set": "cityscapes", "num_classes": 19, "ignore_index": -1}
    tk = Taskonomy(roots["taskonomy"], "test", tasks="segment_semantic", geometry=NATIVE)
    assert tk.task_options() == {"segment_semantic": {"metric_set": "taskonomy", "num_classes": 17}}
    assert set(tk[0]) == {"image", "segment_semantic"}
    assert set(Taskonomy(roots["taskonomy"], "test", tasks="keypoints2d")[0]) == {"image", "keypoints2d", "mask"}


def test_task_options_build_tasks_whose_loss_accepts_the_batch(roots, tmp_path):
    from mtlkit.tasks import get_task

    tk_root = fabricate_taskonomy(tmp_path / "tk", prior_factor=True)
    weights = tuple(float(x) for x in np.load(tk_root / "semseg_prior_factor.npy"))
    assert Taskonomy(tk_root, "test").task_options()["segment_semantic"]["class_weights"] == weights
    datasets = [CityScapes(roots["cityscapes"], "train", paper_compat=True, geometry=SMALL),
                NYUv2(roots["nyuv2"], "train", geometry=SMALL), Taskonomy(tk_root, "train", geometry=SMALL)]
    for ds in datasets:
        batch = next(iter(DataLoader(ds, batch_size=2)))
        for name, options in ds.task_options().items():
            task = get_task(name, **options)
            pred = torch.randn(2, task.out_channels, 8, 8)
            assert torch.isfinite(task.loss(pred, batch)), (ds, name)
    np.save(tk_root / "semseg_prior_factor.npy", np.ones(16, np.float32))
    with pytest.raises(DataError, match=r"expected 17 finite non-negative numbers.*\(16,\)"):
        Taskonomy(tk_root, "test")


# ---- label encodings, default vs paper_compat -----------------------------------------------------------------------

def test_nyuv2_encodings(roots):
    ds = NYUv2(roots["nyuv2"], "test", geometry=NATIVE)
    pc = NYUv2(roots["nyuv2"], "test", geometry=NATIVE, paper_compat=True)
    f = ds.files(0)
    rgb, seg, nrm = _png(f["image"]), _png(f["segment_semantic"]), _png(f["normal"])
    depth = np.load(f["depth_zbuffer"])
    s, p = ds[0], pc[0]
    assert torch.allclose(s["image"], _imagenet(rgb / 255.0), atol=1e-5)
    assert torch.allclose(p["image"], _caffe(rgb.astype(np.float32)), atol=1e-4)
    assert torch.equal(s["segment_semantic"], torch.from_numpy(seg.astype(np.int64)))
    assert torch.equal(p["segment_semantic"], s["segment_semantic"]) and s["segment_semantic"][0, 0] == 255
    # default normals: unit vectors (x, y, z) = RGB / 255 * 2 - 1, normalised; planted (0, 0, 0) pixel invalid = 0
    n = s["normal"]
    assert torch.all(n[:, 0, 1] == 0)
    norms = n.norm(dim=0)
    valid = norms > 0
    assert valid.sum() == n.shape[1] * n.shape[2] - 1 and torch.allclose(norms[valid], torch.ones(()), atol=1e-5)
    v = torch.from_numpy(nrm[5, 7].astype(np.float32)) / 255 * 2 - 1
    assert torch.allclose(n[:, 5, 7], v / v.norm(), atol=1e-6)
    # paper_compat normals: raw 8-bit values in BGR order
    assert torch.equal(p["normal"], torch.from_numpy(nrm[..., ::-1].astype(np.float32).copy()).permute(2, 0, 1))
    assert torch.equal(s["depth_zbuffer"][0], torch.from_numpy(depth)) and s["depth_zbuffer"][0, 0, 2] == 0


def test_nyuv2_default_test_resize_is_321(roots):
    for pc in (False, True):
        s = NYUv2(roots["nyuv2"], "test", paper_compat=pc)[0]
        assert s["image"].shape == (3, 321, 321) and s["normal"].shape == (3, 321, 321)
        seg_file = _png(NYUv2(roots["nyuv2"], "test").files(0)["segment_semantic"])
        assert set(s["segment_semantic"].unique().tolist()) <= set(np.unique(seg_file).tolist())  # nearest


def test_cityscapes_encodings(roots):
    ds = CityScapes(roots["cityscapes"], "test")
    pc = CityScapes(roots["cityscapes"], "test", paper_compat=True)
    f = ds.files(0)
    rgb, label, depth = (np.load(f[k]) for k in ("image", "segment_semantic", "depth_zbuffer"))
    s, p = ds[0], pc[0]
    assert s["image"].shape == (3, 24, 32)  # test keeps the stored resolution
    assert torch.allclose(s["image"], _imagenet(rgb), atol=1e-5)
    assert torch.allclose(p["image"], _caffe(rgb * 255.0), atol=1e-3)
    void = torch.from_numpy(label == -1)
    assert void[0, 0] and bool((s["segment_semantic"][void] == 255).all())  # -1 -> 255 by default
    assert bool((p["segment_semantic"][void] == -1).all())                    # kept in paper_compat
    assert torch.equal(s["segment_semantic"][~void], torch.from_numpy(label)[~void])
    assert torch.equal(s["depth_zbuffer"], torch.from_numpy(depth).permute(2, 0, 1))


def test_cityscapes_float_labels_and_folder_layout(tmp_path):
    root = fabricate_cityscapes(tmp_path / "cs", layout="folders")
    for split in SPLITS:
        ds = CityScapes(root, split, geometry=SMALL)
        assert len(ds) == len(split_indices(4)[split]) and ds.split_file is None
    ds = CityScapes(root, "test")  # test -> val/ folder
    label_path = ds.files(0)["segment_semantic"]
    label = np.load(label_path)
    np.save(label_path, label.astype(np.float32))  # MTAN stored labels as float
    assert torch.equal(ds[0]["segment_semantic"], torch.from_numpy(np.where(label < 0, 255, label)))


def test_taskonomy_encodings(roots):
    ds = Taskonomy(roots["taskonomy"], "test", geometry=NATIVE)
    pc = Taskonomy(roots["taskonomy"], "test", geometry=NATIVE, paper_compat=True)
    f = ds.files(0)
    s, p = ds[0], pc[0]
    # depth: raw 1024 = 2 m by default, log(1 + d) / log(2^16) in paper_compat; 65535 invalid
    assert s["depth_zbuffer"][0, 0, 0] == pytest.approx(2.0)
    assert p["depth_zbuffer"][0, 0, 0] == pytest.approx(math.log(1025) / math.log(2**16), rel=1e-6)
    assert s["depth_zbuffer"][0, 0, 1] == 0 and not s["mask"][0, 0, 1] and s["mask"][0, 0, 0]
    raw_depth = _png(f["depth_zbuffer"])
    assert torch.equal(s["mask"][0], torch.from_numpy(raw_depth < 64500)) and torch.equal(p["mask"], s["mask"])
    # segmentation: 1..17 -> 0..16; raw 0 -> 255 (default) or merged into class 0 (paper_compat)
    raw_seg = torch.from_numpy(_png(f["segment_semantic"]).astype(np.int64))
    assert s["segment_semantic"][0, 0] == 255 and p["segment_semantic"][0, 0] == 0
    assert s["segment_semantic"][0, 1] == 16 and p["segment_semantic"][0, 1] == 16
    labelled = raw_seg > 0
    assert torch.equal(s["segment_semantic"][labelled], raw_seg[labelled] - 1)
    # keypoints / edges: raw / 2^16 clipped to [0, c] and rescaled to [-1, 1] (both modes)
    assert s["keypoints2d"][0, 0, 0] == pytest.approx(164 / 2**16 / 0.005 * 2 - 1, abs=1e-6)
    assert s["edge_texture"][0, 0, 0] == 1.0 and torch.equal(p["keypoints2d"], s["keypoints2d"])
    assert float(s["keypoints2d"].min()) >= -1 and float(s["edge_texture"].max()) <= 1
    # normals: paper raw / 255 * 2 - 1; default unit vectors, 0 where depth is invalid
    raw_n = torch.from_numpy(_png(f["normal"]).astype(np.float32)).permute(2, 0, 1)
    assert torch.allclose(p["normal"], raw_n / 255 * 2 - 1)
    norms = s["normal"].norm(dim=0)
    assert torch.all(norms[~s["mask"][0]] == 0)
    assert torch.allclose(norms[s["mask"][0]], torch.ones(()), atol=1e-5)
    # image
    rgb = _png(f["image"])
    assert torch.allclose(s["image"], _imagenet(rgb / 255.0), atol=1e-5)
    assert torch.allclose(p["image"], _caffe(rgb.astype(np.float32)), atol=1e-4)


def test_taskonomy_geometry_base_resize(roots):
    ref = Taskonomy(roots["taskonomy"], "test", geometry=NATIVE, paper_compat=True)[0]
    up = Taskonomy(roots["taskonomy"], "test", geometry={"base_size": (48, 64), "test_size": None},
                   paper_compat=True)[0]
    assert torch.equal(up["image"][:, ::2, ::2], ref["image"])  # paper: first resize is nearest for the image
    default = Taskonomy(roots["taskonomy"], "test", geometry={"base_size": (48, 64), "test_size": None})[0]
    assert not torch.equal(default["image"][:, ::2, ::2], Taskonomy(roots["taskonomy"], "test",
                                                                    geometry=NATIVE)[0]["image"])  # bilinear
    assert torch.equal(default["segment_semantic"][::2, ::2], Taskonomy(
        roots["taskonomy"], "test", geometry=NATIVE)[0]["segment_semantic"])  # labels nearest
    assert Taskonomy(roots["taskonomy"], "test")[0]["image"].shape == (3, 224, 224)


def test_taskonomy_adashare_layout(tmp_path):
    root = fabricate_taskonomy(tmp_path / "tk", adashare_layout=True)
    for split in SPLITS:
        ds = Taskonomy(root, split, geometry={**SMALL, **NATIVE})
        assert ds.files(0)["image"].is_relative_to(root / ("test" if split == "test" else "train"))
        assert ds[0]["image"].shape[-2:] == ((24, 32) if split == "test" else (16, 16))


# ---- augmentation: alignment, padding, determinism ------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CLASSES))
@pytest.mark.parametrize("paper_compat", [False, True])
def test_flip_keeps_labels_aligned(roots, name, paper_compat):
    cls, root = CLASSES[name], roots[name]
    ref = cls(root, "train", augment=False, paper_compat=paper_compat, geometry=NATIVE)[0]
    ds = cls(root, "train", paper_compat=paper_compat, geometry={**NATIVE, "scale_range": None, "crop_size": None})
    seen = set()
    for epoch in range(20):
        ds.set_epoch(epoch)
        s = ds[0]
        flipped = not torch.equal(s["image"], ref["image"])
        seen.add(flipped)
        for key, x in s.items():
            want = ref[key].flip(-1) if flipped else ref[key]
            if key == "normal" and flipped and not (name == "nyuv2" and paper_compat):
                want = want.clone()
                want[0] = -want[0]  # x component negated (NYUv2 paper_compat keeps raw 8-bit values)
            assert torch.equal(x, want), (key, epoch)
    assert seen == {True, False}


@pytest.mark.parametrize("paper_compat", [False, True])
def test_padding_uses_invalid_values(roots, paper_compat):
    geo = {**NATIVE, "scale_range": None, "flip": False, "crop_size": (30, 40)}  # 24x32 padded centred by (3, 4)
    pad_image = (-torch.tensor(CAFFE_BGR_MEAN) if paper_compat
                 else -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD))
    pads = {"nyuv2": {"segment_semantic": 255, "normal": 255 if paper_compat else 0, "depth_zbuffer": 0},
            "cityscapes": {"segment_semantic": -1 if paper_compat else 255, "depth_zbuffer": 0},
            "taskonomy": {t: (255 if paper_compat else 0) for t in Taskonomy.ALL_TASKS}}
    pads["taskonomy"]["segment_semantic"] = 255
    for name, cls in CLASSES.items():
        ref = cls(roots[name], "train", augment=False, paper_compat=paper_compat, geometry=NATIVE)[0]
        s = cls(roots[name], "train", paper_compat=paper_compat, geometry=geo)[0]
        for key, x in s.items():
            assert x.shape[-2:] == (30, 40)
            assert torch.equal(x[..., 3:27, 4:36], ref[key]), (name, key)
        assert torch.allclose(s["image"][:, 0, 0], pad_image, atol=1e-4)
        for task, value in pads[name].items():
            assert bool((s[task][..., :3, :] == value).all()) and bool((s[task][..., :, :4] == value).all()), task
        if "mask" in s:
            assert not s["mask"][..., :3, :].any() and s["mask"][..., 3:27, 4:36].any()


def test_augmentation_is_reproducible(roots):
    ds = NYUv2(roots["nyuv2"], "train", geometry=SMALL, seed=3)
    a, b = ds[1], NYUv2(roots["nyuv2"], "train", geometry=SMALL, seed=3)[1]
    assert all(torch.equal(a[k], b[k]) for k in a)
    other_seed = NYUv2(roots["nyuv2"], "train", geometry=SMALL, seed=4)
    assert any(not torch.equal(other_seed[i]["image"], ds[i]["image"]) for i in range(len(ds)))
    epochs = []
    for epoch in range(3):
        ds.set_epoch(epoch)
        epochs.append(ds[1]["image"])
    assert not torch.equal(epochs[0], epochs[1]) or not torch.equal(epochs[0], epochs[2])
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(ds.load(0, generator=g1)["depth_zbuffer"], ds.load(0, generator=g2)["depth_zbuffer"])


def test_dataloader_batches_do_not_depend_on_workers(roots):
    ds = Taskonomy(roots["taskonomy"], "train", geometry={**SMALL, "base_size": (32, 32)})
    ds.set_epoch(2)
    single = list(DataLoader(ds, batch_size=2, num_workers=0))
    multi = list(DataLoader(ds, batch_size=2, num_workers=2))
    batch = single[0]
    assert batch["image"].shape == (2, 3, 16, 16) and batch["segment_semantic"].shape == (2, 16, 16)
    assert batch["segment_semantic"].dtype == torch.int64 and batch["mask"].dtype == torch.bool
    assert batch["normal"].shape == (2, 3, 16, 16) and batch["keypoints2d"].shape == (2, 1, 16, 16)
    for x, y in zip(single, multi, strict=True):
        assert all(torch.equal(x[k], y[k]) for k in x)


# ---- bad input ------------------------------------------------------------------------------------------------------

def test_missing_root_split_and_files(tmp_path, roots):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        NYUv2(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="nyu_v2_3task.json"):
        NYUv2(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="cityscape.json"):
        CityScapes(tmp_path / "empty")
    with pytest.raises(ConfigError, match="train1"):
        Taskonomy(roots["taskonomy"], "val")
    with pytest.raises(ConfigError, match="keypoints2d"):
        NYUv2(roots["nyuv2"], tasks=("keypoints2d",))
    with pytest.raises(ConfigError, match="crop_size"):
        NYUv2(roots["nyuv2"], geometry={"crop_size": (0, 5)})
    with pytest.raises(ConfigError, match="Geometry field"):
        NYUv2(roots["nyuv2"], geometry={"crop": (5, 5)})
    root = fabricate_nyuv2(tmp_path / "nyu")
    info = json.loads((root / "nyu_v2_3task.json").read_text())
    del info["train2"]
    (root / "nyu_v2_3task.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match=r"no split 'train2'.*train1"):
        NYUv2(root, "train2")
    info["train"][1] = info["train"][1][:3]
    (root / "nyu_v2_3task.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="entry 1 of split 'train'"):
        NYUv2(root, "train")
    (root / "nyu_v2_3task.json").write_text("{not json")
    with pytest.raises(DataError, match="as JSON"):
        NYUv2(root)


def test_missing_listed_files(tmp_path):
    root = fabricate_nyuv2(tmp_path / "nyu")
    (root / "seg" / "0000.png").unlink()
    (root / "depth" / "0001.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"2 of 12 files listed in split 'train'.*seg/0000.png"):
        NYUv2(root, "train")
    assert len(NYUv2(root, "train", tasks="normal")) == 3  # only the selected tasks' files are required
    lazy = NYUv2(root, "train", check_files=False)
    with pytest.raises(FileNotFoundError, match="0000.png"):
        lazy[0]
    tk = fabricate_taskonomy(tmp_path / "tk")
    next((tk / "allensville" / "depth_zbuffer").iterdir()).unlink()
    with pytest.raises(FileNotFoundError, match="depth_zbuffer"):
        Taskonomy(tk, "train", tasks="normal")  # the normal mask needs the depth file


def _rewrite(path, array):
    path.unlink()
    if path.suffix == ".npy":
        np.save(path, array)
    else:
        Image.fromarray(array).save(path)


def test_malformed_files(tmp_path):
    root = fabricate_nyuv2(tmp_path / "nyu")
    ds = NYUv2(root, "test", geometry=NATIVE)
    f = ds.files(0)
    cases = [
        ("image", b"not a png", "cannot read NYUv2 image"),
        ("image", np.zeros((24, 32, 4), np.uint8), r"expected an 8-bit 3-channel RGB PNG; got Pillow mode 'RGBA'"),
        ("segment_semantic", np.zeros((24, 32, 3), np.uint8), "expected an 8-bit single-channel PNG"),
        ("segment_semantic", np.full((24, 32), 41, np.uint8), "expected class ids 0..39 or 255"),
        ("normal", np.zeros((24, 32), np.uint8), "NYUv2 normal map"),
        ("depth_zbuffer", np.ones((24, 32), np.int32), "expected a float array; got dtype int32"),
        ("depth_zbuffer", np.ones((24, 32, 2), np.float32), r"expected shape \(H, W\) or \(H, W, 1\)"),
        ("depth_zbuffer", np.ones((20, 32), np.float32), "expected the same height and width"),
        ("depth_zbuffer", b"garbage", "as a .npy array"),
    ]
    for key, content, message in cases:
        original = f[key].read_bytes()
        if isinstance(content, bytes):
            f[key].write_bytes(content)
        else:
            _rewrite(f[key], content)
        with pytest.raises(DataError, match=message) as err:
            ds[0]
        assert str(f[key]) in str(err.value)
        f[key].write_bytes(original)
    assert ds[0]["image"].shape == (3, 24, 32)


def test_malformed_cityscapes_and_taskonomy_files(tmp_path):
    cs = CityScapes(fabricate_cityscapes(tmp_path / "cs"), "test")
    f = cs.files(0)
    _rewrite(f["image"], np.full((24, 32, 3), 200.0, np.float32))
    with pytest.raises(DataError, match=r"expected finite RGB values in \[0, 1\]"):
        cs[0]
    _rewrite(f["image"], np.zeros((24, 32, 3), np.float32))
    _rewrite(f["segment_semantic"], np.full((24, 32), 0.5, np.float32))
    with pytest.raises(DataError, match="integer class ids 0..18"):
        cs[0]
    tk = Taskonomy(fabricate_taskonomy(tmp_path / "tk"), "test", geometry=NATIVE)
    f = tk.files(0)
    _rewrite(f["depth_zbuffer"], np.zeros((24, 32), np.uint8))
    with pytest.raises(DataError, match="expected a 16-bit single-channel PNG"):
        tk[0]
    _rewrite(f["depth_zbuffer"], np.zeros((24, 32), np.uint16))
    _rewrite(f["segment_semantic"], np.full((24, 32), 20, np.uint8))
    with pytest.raises(DataError, match="raw class ids 0..17"):
        tk[0]


# ---- registry and imports -------------------------------------------------------------------------------------------

def test_registry(roots):
    assert {"synthscenes", "nyuv2", "cityscapes", "taskonomy"} <= set(list_datasets())
    ds = get_dataset("NYUv2", root=roots["nyuv2"], split="test", tasks="depth_zbuffer")
    assert isinstance(ds, NYUv2) and ds.tasks == ("depth_zbuffer",)
    assert get_dataset_class("Taskonomy") is Taskonomy
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'.*cityscapes"):
        get_dataset("imagenet")
    with pytest.raises(ConfigError, match="already registered"):
        register_dataset("nyuv2", NYUv2)
    geo = get_dataset("nyuv2", root=roots["nyuv2"], split="test", geometry=Geometry(test_size=(12, 16)))
    assert geo[0]["normal"].shape == (3, 12, 16) and geo.geometry.crop_size is None


def test_registry_builds_synthscenes():
    pytest.importorskip("mtlkit.data.synthetic", reason="SynthScenes is written by another module")
    ds = get_dataset("synthscenes", split="test", size=2, resolution=32)
    assert len(ds) == 2 and ds[0]["image"].shape == (3, 32, 32)


def test_imports_are_lazy_and_light():
    code = ("import sys, mtlkit.data.registry\n"
            "assert 'mtlkit.data.nyuv2' not in sys.modules and 'mtlkit.data.synthetic' not in sys.modules\n"
            "import mtlkit.data.nyuv2, mtlkit.data.cityscapes, mtlkit.data.taskonomy\n"
            "bad = [m for m in ('matplotlib', 'papermill', 'jupyter', 'cv2') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
