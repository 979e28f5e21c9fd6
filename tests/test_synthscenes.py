"""SynthScenes: determinism, splits, batch format, label consistency, bad input, DataLoader workers."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from mtlkit.data import SynthConfig, SynthScenes
from mtlkit.data.synthetic import ALL_TASKS, CLASS_NAMES, NUM_CLASSES, denormalize
from mtlkit.errors import ConfigError

RES = 48


@pytest.fixture(scope="module")
def train():
    return SynthScenes("train", size=12, resolution=RES, seed=3)


@pytest.fixture(scope="module")
def samples(train):
    return [train[i] for i in range(len(train))]


def _backproject(depth: torch.Tensor, intrinsics: np.ndarray) -> np.ndarray:
    """Camera-frame points (H, W, 3) of a depth map (1, H, W)."""
    z = depth[0].double().numpy()
    res = z.shape[0]
    f, c = intrinsics[0, 0], intrinsics[0, 2]
    coords = (np.arange(res) + 0.5 - c) / f
    x, y = np.meshgrid(coords, coords)
    return np.stack([x * z, y * z, z], axis=-1)


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_split_index_gives_identical_tensors(train, samples):
    again = SynthScenes("train", size=12, resolution=RES, seed=3)
    for i in (5, 0, 11):  # a different access order
        assert _equal(again[i], samples[i])
    assert _equal(train[-1], samples[11])


def test_seeds_splits_and_indices_differ(samples):
    other_seed = SynthScenes("train", size=12, resolution=RES, seed=4)[0]
    test = SynthScenes("test", size=12, resolution=RES, seed=3)
    assert not torch.equal(other_seed["image"], samples[0]["image"])
    assert not torch.equal(samples[1]["image"], samples[0]["image"])
    for i in range(4):
        assert not torch.equal(test[i]["image"], samples[i]["image"])


def test_train1_and_train2_partition_train(samples):
    train1 = SynthScenes("train1", size=6, resolution=RES, seed=3)
    train2 = SynthScenes("train2", size=6, resolution=RES, seed=3)
    for i in range(6):
        assert _equal(train1[i], samples[2 * i])
        assert _equal(train2[i], samples[2 * i + 1])


def test_format_shapes_dtypes_ranges(train, samples):
    assert train.tasks == ALL_TASKS and len(train) == 12 and train.num_classes == NUM_CLASSES == len(CLASS_NAMES)
    for s in samples:
        assert set(s) == {"image", *ALL_TASKS}
        assert s["image"].dtype == torch.float32 and s["image"].shape == (3, RES, RES)
        rgb = denormalize(s["image"])
        assert rgb.min() >= 0 and rgb.max() <= 1 and rgb.std() > 0.05
        seg = s["segment_semantic"]
        assert seg.dtype == torch.int64 and seg.shape == (RES, RES)
        assert seg.min() >= 0 and seg.max() < NUM_CLASSES
        assert s["depth_zbuffer"].dtype == torch.float32 and s["depth_zbuffer"].shape == (1, RES, RES)
        assert s["depth_zbuffer"].min() > 3e-5 and torch.isfinite(s["depth_zbuffer"]).all()
        assert s["normal"].dtype == torch.float32 and s["normal"].shape == (3, RES, RES)
        assert torch.allclose(s["normal"].norm(dim=0), torch.ones(RES, RES), atol=1e-5)
        for key in ("keypoints2d", "edge_texture"):
            assert s[key].dtype == torch.float32 and s[key].shape == (1, RES, RES)
            assert s[key].min() >= 0 and s[key].max() <= 1
        assert set(s["edge_texture"].unique().tolist()) <= {0.0, 1.0}
    batch = torch.utils.data.default_collate(samples[:4])
    assert batch["segment_semantic"].shape == (4, RES, RES) and batch["normal"].shape == (4, 3, RES, RES)
    classes = torch.cat([s["segment_semantic"].flatten() for s in samples]).unique().tolist()
    assert {0, 1} <= set(classes) and len(classes) >= 5  # floor, wall, and most object classes appear


def test_cache_returns_the_same_samples(samples):
    cached = SynthScenes("train", size=4, resolution=RES, seed=3, cache=True)
    for i in range(4):
        assert _equal(cached[i], samples[i])
    cached[0]["image"].zero_()  # callers get copies, the cache is untouched
    assert _equal(cached[0], samples[0])


def test_task_subset_and_options():
    ds = SynthScenes("test", size=2, resolution=32, tasks=("depth_zbuffer", "edge_texture"))
    assert set(ds[0]) == {"image", "depth_zbuffer", "edge_texture"}
    assert ds.task_options() == {}
    full = SynthScenes("test", size=2, resolution=32)
    assert full.task_options() == {"segment_semantic": {"num_classes": NUM_CLASSES}}
    assert torch.equal(ds[1]["depth_zbuffer"], full[1]["depth_zbuffer"])  # the subset is the same render


@pytest.mark.parametrize("resolution", [32, 96])
def test_normals_face_the_camera_and_match_floor_geometry(resolution):
    ds = SynthScenes("test", size=3, resolution=resolution, seed=1)
    for i in range(len(ds)):
        s = ds[i]
        pts = _backproject(s["depth_zbuffer"], ds.intrinsics)  # (H, W, 3)
        n = s["normal"].permute(1, 2, 0).double().numpy()  # (H, W, 3)
        assert ((n * pts).sum(-1) < 0).all()  # every normal faces the camera
        # On the floor plane (floor or rug), the normal of the back-projected depth equals the label.
        seg = s["segment_semantic"].numpy()
        plane = np.isin(seg, (CLASS_NAMES.index("floor"), CLASS_NAMES.index("rug")))
        ok = plane[:-1, :-1] & plane[1:, :-1] & plane[:-1, 1:]
        geo = np.cross(pts[:-1, 1:] - pts[:-1, :-1], pts[1:, :-1] - pts[:-1, :-1])
        geo /= np.linalg.norm(geo, axis=-1, keepdims=True)
        geo *= -np.sign((geo * pts[:-1, :-1]).sum(-1, keepdims=True))
        cos = (geo * n[:-1, :-1]).sum(-1)[ok]
        assert ok.sum() > 50 and cos.min() > 0.999
        # The floor normal is one vector in the camera frame, pointing up (negative image y).
        floor_n = n[seg == 0]
        assert np.allclose(floor_n, floor_n[0], atol=1e-5) and floor_n[0, 1] < -0.5


def test_normals_face_the_camera_at_box_edges():
    """Regression: a box-edge pixel once got the normal of a hidden face (float32 rounding of the hit point)."""
    crowded = SynthConfig(min_objects=8, max_objects=12, fov_deg=90)
    ds = SynthScenes("train2", size=63, resolution=64, seed=11, config=crowded)
    for i in (62, 0, 1):
        s = ds[i]
        pts = _backproject(s["depth_zbuffer"], ds.intrinsics)
        assert ((s["normal"].permute(1, 2, 0).double().numpy() * pts).sum(-1) < 0).all()


def test_sphere_normals_match_depth_geometry():
    ds = SynthScenes("test", size=6, resolution=96, seed=2, config=SynthConfig(min_objects=4, max_objects=4))
    checked = 0
    for i in range(len(ds)):
        scene, s = ds.scene(i), ds[i]
        pts = _backproject(s["depth_zbuffer"], ds.intrinsics)
        n = s["normal"].permute(1, 2, 0).double().numpy()
        for centre_radius in scene.spheres:  # a sphere's normal is (p - c) / r in the camera frame
            c_cam = (centre_radius[:3].astype(np.float64) - scene.origin) @ scene.rotation.astype(np.float64)
            on = np.abs(np.linalg.norm(pts - c_cam, axis=-1) - centre_radius[3]) < 1e-3
            if on.sum():
                expected = (pts[on] - c_cam) / centre_radius[3]
                assert np.abs(expected - n[on]).max() < 5e-3
                checked += on.sum()
    assert checked > 100


def test_edges_at_depth_discontinuities_and_texture(samples):
    n_jumps = 0
    for s in samples:
        z, e = s["depth_zbuffer"][0].double().numpy(), s["edge_texture"][0].numpy()
        for zz, ee in ((z, e), (z.T, e.T)):  # along rows, then along columns
            step = np.diff(zz, axis=1)  # (H, W - 1): step[:, j] = z[:, j + 1] - z[:, j]
            # A discontinuity: a step of > 5 % that is 3x larger than the steps on both sides (a smooth surface,
            # even at a grazing angle, changes its step slowly).
            big = np.abs(step[:, 1:-1])
            jump = (big > 0.05 * zz[:, 1:-2]) & (big > 3 * np.abs(step[:, :-2])) & (big > 3 * np.abs(step[:, 2:]))
            a, b = zz[:, 1:-2], zz[:, 2:-1]
            nearer_edge = np.where(a <= b, ee[:, 1:-2], ee[:, 2:-1])
            assert (nearer_edge[jump] == 1).all()
            n_jumps += jump.sum()
        seg = s["segment_semantic"].numpy()
        boundary = seg[:, :-1] != seg[:, 1:]
        assert (np.maximum(e[:, :-1], e[:, 1:])[boundary] == 1).all()  # semantic boundaries are edges
    assert n_jumps > 100
    # Texture edges: some edges lie inside one semantic region where depth is smooth (the floor tiles).
    inside = [s["edge_texture"][0, 2:-2, 2:-2][(s["segment_semantic"][2:-2, 2:-2] == 0)].mean() for s in samples]
    assert max(inside) > 0.02


def test_keypoints_come_from_visible_scene_geometry(train, samples):
    n_hidden = 0
    for i, s in enumerate(samples):
        heat, depth = s["keypoints2d"][0].numpy(), s["depth_zbuffer"][0].numpy()
        scene = train.scene(i)
        cam = (scene.keypoints - scene.origin) @ scene.rotation  # (K, 3)
        uv = (cam @ train.intrinsics.T)[:, :2] / cam[:, 2:3]  # (K, 2) pixel coordinates (u, v)
        col, row = np.floor(uv).astype(int).T
        inside = (cam[:, 2] > 0) & (col >= 1) & (col < RES - 1) & (row >= 1) & (row < RES - 1)
        # Occluded keypoints: every pixel around them sees a surface much nearer than the keypoint.
        around = np.stack([depth[np.clip(row + a, 0, RES - 1), np.clip(col + b, 0, RES - 1)]
                           for a in (-1, 0, 1) for b in (-1, 0, 1)], axis=1)  # (K, 9)
        hidden = inside & (around < 0.9 * cam[:, 2:3]).all(1)
        n_hidden += hidden.sum()
        shown = uv[~hidden]
        rows, cols = np.nonzero(heat > 0.9)
        assert rows.size > 0
        dist = np.hypot(cols[:, None] + 0.5 - shown[None, :, 0], rows[:, None] + 0.5 - shown[None, :, 1]).min(1)
        assert dist.max() < 1.0  # every peak sits on a projected, unoccluded scene keypoint
    assert n_hidden > 0


def test_no_objects_config_and_config_validation():
    ds = SynthScenes("train", size=1, resolution=32, config=SynthConfig(min_objects=0, max_objects=0,
                                                                         rug_probability=0.0))
    assert set(ds[0]["segment_semantic"].unique().tolist()) <= {0, 1}
    with pytest.raises(ConfigError, match="min_objects"):
        SynthConfig(min_objects=3, max_objects=2)
    with pytest.raises(ConfigError, match="fov_deg"):
        SynthConfig(fov_deg=150.0)
    with pytest.raises(ConfigError, match="rug_probability"):
        SynthConfig(rug_probability=1.5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(resolution=31), r"resolution must be an int in \[32, 256\].*got 31"),
    (dict(resolution=257), r"got 257"),
    (dict(resolution=64.0), r"got 64.0"),
    (dict(split="val"), r"unknown split 'val'; valid splits are: test, train, train1, train2"),
    (dict(tasks=("depth_zbuffer", "depth")), r"unknown task 'depth'; valid tasks are: depth_zbuffer, edge_texture"),
    (dict(tasks="normal"), r"tasks must be a sequence"),
    (dict(tasks=()), r"at least one"),
    (dict(size=0), r"size must be a positive int"),
    (dict(seed=-1), r"seed must be a non-negative int"),
    (dict(config={"min_objects": 1}), r"config must be a SynthConfig"),
    (dict(cache="yes"), r"cache must be True or False"),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SynthScenes(**kwargs)


def test_bad_index():
    ds = SynthScenes("train", size=3, resolution=32)
    with pytest.raises(IndexError, match="out of range.*size 3"):
        ds[3]
    with pytest.raises(TypeError, match="index must be an int"):
        ds["0"]


def test_dataloader_two_workers_match_zero_workers():
    ds = SynthScenes("train", size=8, resolution=32, seed=7)
    batches = [list(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=w)) for w in (0, 2)]
    assert len(batches[0]) == len(batches[1]) == 2
    for b0, b2 in zip(*batches):
        assert _equal(b0, b2)


def test_import_does_not_pull_plotting_libraries():
    code = ("import sys, mtlkit.data.synthetic; "
            "bad = [m for m in ('matplotlib', 'papermill', 'jupyter') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
