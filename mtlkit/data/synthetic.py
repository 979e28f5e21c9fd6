"""SynthScenes: a procedural, seeded, download-free multi-task dataset of small rendered 3-D rooms.

Every image is a room (floor, three walls, sometimes a rug) with a few spheres, boxes and cylinders standing on the
floor, lit by a sun (with cast shadows), a weak fill light and ambient light, and covered in procedural textures
(stripes, checkers, smooth albedo noise) plus sensor noise. It is rendered by vectorised numpy ray casting
(analytic ray-plane, ray-sphere, ray-box and ray-cylinder intersections, pinhole camera, Lambertian shading), so
all five tasks of the papers have **exact per-pixel labels**:

* ``segment_semantic`` — ``K = 6`` classes :data:`CLASS_NAMES` = floor, wall, rug, sphere, box, cylinder. Every pixel
  hits a surface (the room is closed in front of the camera), so there is no void and no ``255``.
* ``depth_zbuffer`` — z-buffer depth in metres (the camera-frame ``z`` of the hit point, not the ray length), > 0.
* ``normal`` — unit surface normals in the camera frame (OpenCV axes: ``x`` right, ``y`` down, ``z`` forward),
  oriented towards the camera.
* ``edge_texture`` — ``1.0`` or ``0.0``. Two 4-neighbours that differ in surface (an occlusion or semantic boundary,
  so every depth discontinuity), in face (the crease between two faces of a box, or a cylinder's side and cap) or in
  the colour of a stripe/checker pattern (a texture edge) mark the nearer pixel of the pair: one-pixel edges that
  belong to the occluding side.
* ``keypoints2d`` — a max-of-Gaussians heatmap in ``[0, 1]`` centred on the visible projected corners of boxes and
  rugs, cylinder cap centres and rim points, the camera-facing pole of spheres and the room's floor corners.

The tasks are related the way Taskonomy's are: normals are the derivative of depth's geometry; keypoints come from
the same object geometry; edges follow segmentation and depth discontinuities but also the stripe/checker texture,
which is irrelevant to depth and normals; segmentation depends on shape (the three object classes share one colour
prior) and on appearance (a rug is flat floor geometry that only its colour and texture reveal). Cast shadows and
shading create image edges that no label has. Pixel shares over the first 200 ``train`` images (seed 0, 64 px):
floor 45.9 %, wall 34.6 %, rug 2.0 %, sphere 4.7 %, box 7.0 %, cylinder 5.9 %.

Splits and determinism: sample ``i`` of a split is rendered from a numpy generator seeded by
``SeedSequence([SEED_TAG, seed, stream, j])``, where ``stream`` is 0 for the training stream and 1 for ``test``,
``j = i`` for ``train`` and ``test``, ``j = 2 i`` for ``train1`` and ``j = 2 i + 1`` for ``train2``. So the same
``(seed, split, index)`` gives the same tensors bit for bit, whatever the worker count or access order; ``test`` is
an independent stream (no sample shared with training, up to hash collisions); and ``train1``/``train2`` (the
two halves AutoMTL's network and policy steps draw from) are **disjoint subsets of** ``train``: ``train1`` = even
and ``train2`` = odd ``train`` indices, so for even ``N``, ``train1`` and ``train2`` of size ``N // 2`` partition
``train`` of size ``N``.

Images are RGB in ``[0, 1]`` normalised with the ImageNet mean and std (:data:`IMAGE_MEAN`, :data:`IMAGE_STD`);
:func:`denormalize` undoes it for display.

Speed (``benchmarks/bench_synthscenes.py``, one thread, all five tasks, 64x64): 340-360 images/s when the shared
2-core machine was quiet, 240-250 while other jobs ran; so on-the-fly generation is fine, and ``cache=True`` renders
a split once and then serves it from memory.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from mtlkit.facts import DATASET_FACTS
from mtlkit.data.planted_tasks import (  # noqa: F401  (re-exported: the names' home before the split)
    PLANTED_FACTORS, PLANTED_PREFIX, PlantedTask, register_planted_task,
)
from mtlkit.errors import ConfigError, unknown_name

ALL_TASKS = DATASET_FACTS["synthscenes"].tasks
CLASS_NAMES = ("floor", "wall", "rug", "sphere", "box", "cylinder")
NUM_CLASSES = len(CLASS_NAMES)
SPLITS = ("train", "train1", "train2", "test")
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
MIN_RESOLUTION, MAX_RESOLUTION = 32, 256
SEED_TAG = 0x5C3E5  # separates SynthScenes' seed streams from any other use of the same integer seed
_MEAN, _STD = np.array(IMAGE_MEAN, dtype=np.float32), np.array(IMAGE_STD, dtype=np.float32)

FLOOR, WALL, RUG, SPHERE, BOX, CYLINDER = range(NUM_CLASSES)
_N_ROOM = 5  # instance ids 0..4: floor, back wall, left wall, right wall, rug; objects follow
_EPS = 1e-4
_PLAIN, _STRIPES, _CHECKER = 0, 1, 2


@dataclass(frozen=True)
class SynthConfig:
    """Scene-generation settings of :class:`SynthScenes`.

    Attributes:
        min_objects: fewest objects (spheres, boxes, cylinders) drawn per scene. An object that cannot be placed
            without overlap after 30 tries is dropped: rare with the defaults, frequent when crowded (asking for
            12, 8 to 12 were placed in 20 scenes).
        max_objects: most objects per scene, at most 12.
        fov_deg: horizontal and vertical field of view of the square pinhole camera, degrees.
        rug_probability: probability that a scene has a rug (class ``rug``) on the floor.
        pattern_probability: probability that an object or rug carries a stripe or checker texture (else plain).
        texture_noise: amplitude of the smooth multiplicative albedo noise (0 = none).
        pixel_noise: standard deviation of the Gaussian sensor noise added to RGB in ``[0, 1]``.
        shadows: cast sun shadows from the objects.
        keypoint_sigma: standard deviation of the keypoint Gaussians, in pixels at resolution 64 (scaled with the
            resolution). At 32 px the default (0.75 px) is too narrow for a stride-4 model: trained single-task
            models end above the constant predictor; 2.5 (1.25 px) or more is learnable (``benchmarks/README.md``).
        edge_width: width of the ``edge_texture`` lines in pixels (odd): 1 marks only the nearer pixel of each
            differing pair; 3 or 5 dilate those lines by a square max filter (a coarser target that a stride-4 head
            can localise at small resolutions; the metric stays the L1 ``err``).
        planted: extra tasks with planted relatedness (:class:`PlantedTask`), each a dense target computed from
            chosen latent scene factors; request them by name in ``SynthScenes(tasks=...)``.
    """

    min_objects: int = 2
    max_objects: int = 5
    fov_deg: float = 60.0
    rug_probability: float = 0.5
    pattern_probability: float = 0.6
    texture_noise: float = 0.15
    pixel_noise: float = 0.02
    shadows: bool = True
    keypoint_sigma: float = 1.5
    edge_width: int = 1
    planted: tuple = ()

    def __post_init__(self):
        if not (isinstance(self.min_objects, int) and 0 <= self.min_objects <= self.max_objects <= 12):
            raise ConfigError(f"SynthConfig: expected 0 <= min_objects <= max_objects <= 12 (ints), got "
                              f"min_objects={self.min_objects!r}, max_objects={self.max_objects!r}")
        if not 20.0 <= self.fov_deg <= 100.0:
            raise ConfigError(f"SynthConfig.fov_deg must be in [20, 100] degrees, got {self.fov_deg!r}")
        for name in ("rug_probability", "pattern_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"SynthConfig.{name} must be a probability in [0, 1], got {getattr(self, name)!r}")
        for name in ("texture_noise", "pixel_noise"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"SynthConfig.{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not self.keypoint_sigma > 0:
            raise ConfigError(f"SynthConfig.keypoint_sigma must be > 0 pixels, got {self.keypoint_sigma!r}")
        if isinstance(self.edge_width, bool) or not isinstance(self.edge_width, int) or self.edge_width < 1 \
                or self.edge_width % 2 == 0:
            raise ConfigError(f"SynthConfig.edge_width must be an odd int >= 1 (pixels), got {self.edge_width!r}")
        planted = (self.planted,) if isinstance(self.planted, PlantedTask) else tuple(self.planted)
        for p in planted:
            if not isinstance(p, PlantedTask):
                raise ConfigError(f"SynthConfig.planted must be PlantedTask objects, got {type(p).__name__}")
        names = [p.name for p in planted]
        if len(set(names)) != len(names):
            raise ConfigError(f"SynthConfig.planted: task names must be distinct, got {names}")
        object.__setattr__(self, "planted", planted)


@dataclass
class Scene:
    """One sampled scene, float32 arrays (world frame: ``x`` right, ``y`` up, ``z`` into the room; floor ``y = 0``).

    Attributes:
        origin: camera centre, ``(3,)``.
        rotation: world-from-camera orthogonal matrix ``(3, 3)``; its columns are the camera's right, down and
            forward axes in world coordinates (determinant -1: the world frame is left-handed, the camera frame
            right-handed; only dot products are taken in the world frame, never cross products).
        room: ``(depth, half_width)``: the back wall is ``z = depth``, the side walls ``x = ±half_width``.
        sun: unit direction towards the sun, ``(3,)``; fill: unit direction towards the fill light.
        classes, colors, colors2, pattern, freq, stripe_dir, phase, centre, yaw: per-instance tables (instance ids
            0-3 floor and walls, 4 the rug, then spheres, boxes, cylinders), used for labels and texture.
        spheres: ``(S, 4)`` centre and radius. boxes: ``(B, 7)`` centre, half extents, yaw about ``y``.
        cylinders: ``(C, 6)`` base centre, radius, height, yaw. rug: ``(5,)`` centre x, z, half extents, yaw, or None.
        waves: ``(3, 4)`` wave vectors and phases of the albedo noise.
        keypoints: ``(K, 3)`` world points that are keypoints when visible.
    """

    origin: np.ndarray
    rotation: np.ndarray
    room: tuple[float, float]
    sun: np.ndarray
    fill: np.ndarray
    classes: np.ndarray
    colors: np.ndarray
    colors2: np.ndarray
    pattern: np.ndarray
    freq: np.ndarray
    stripe_dir: np.ndarray
    phase: np.ndarray
    centre: np.ndarray
    yaw: np.ndarray
    spheres: np.ndarray
    boxes: np.ndarray
    cylinders: np.ndarray
    rug: np.ndarray | None
    waves: np.ndarray
    keypoints: np.ndarray


# ---------------------------------------------------------------------------------------------------------- sampling

def _hsv(rng: np.random.Generator, h=(0.0, 1.0), s=(0.0, 1.0), v=(0.0, 1.0)) -> np.ndarray:
    """A random RGB colour with hue, saturation and value drawn uniformly from the given ranges."""
    return np.array(colorsys.hsv_to_rgb(rng.uniform(*h) % 1.0, rng.uniform(*s), rng.uniform(*v)))


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _sample_scene(rng: np.random.Generator, cfg: SynthConfig) -> Scene:
    """Draw a room, a camera, lights, objects and their textures."""
    depth, half_w = rng.uniform(6.0, 9.0), rng.uniform(3.0, 4.5)
    yaw_c, pitch = math.radians(rng.uniform(-20, 20)), math.radians(rng.uniform(12, 30))
    origin = np.array([rng.uniform(-0.6, 0.6), rng.uniform(1.2, 1.8), 0.0])
    fwd = np.array([math.sin(yaw_c) * math.cos(pitch), -math.sin(pitch), math.cos(yaw_c) * math.cos(pitch)])
    right = np.array([math.cos(yaw_c), 0.0, -math.sin(yaw_c)])
    down = np.array([-math.sin(yaw_c) * math.sin(pitch), -math.cos(pitch), -math.cos(yaw_c) * math.sin(pitch)])
    rotation = np.stack([right, down, fwd], axis=1)  # columns: camera axes in world coordinates
    sun_az, sun_el = rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(35, 70))
    sun = np.array([math.cos(sun_el) * math.cos(sun_az), math.sin(sun_el), math.cos(sun_el) * math.sin(sun_az)])
    fill = _unit(-fwd + np.array([0.0, 0.6, 0.0]))

    # Objects: type, size, footprint; placed on the floor inside the view, without overlap.
    tan_half = math.tan(math.radians(cfg.fov_deg) / 2)
    n_obj = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    placed: list[tuple[int, np.ndarray, float]] = []  # (class, params, footprint radius)
    for kind in rng.choice([SPHERE, BOX, CYLINDER], size=n_obj):
        if kind == SPHERE:
            r = rng.uniform(0.3, 0.6)
            size, foot = (r,), r
        elif kind == BOX:
            half = np.array([rng.uniform(0.25, 0.6), rng.uniform(0.2, 0.6), rng.uniform(0.25, 0.6)])
            size, foot = (*half, rng.uniform(0, math.pi)), float(np.hypot(half[0], half[2]))
        else:
            r, h = rng.uniform(0.2, 0.45), rng.uniform(0.5, 1.4)
            size, foot = (r, h, rng.uniform(0, 2 * math.pi)), r
        for _ in range(30):
            s = rng.uniform(1.9, 5.0)
            lateral = rng.uniform(-0.75, 0.75) * s * tan_half
            x = origin[0] + s * math.sin(yaw_c) + lateral * math.cos(yaw_c)
            z = origin[2] + s * math.cos(yaw_c) - lateral * math.sin(yaw_c)
            if abs(x) > half_w - foot - 0.05 or z > depth - foot - 0.05:
                continue
            if all(math.hypot(x - q[0], z - q[1]) > foot + q_foot + 0.05 for _, q, q_foot in placed):
                placed.append((int(kind), np.array([x, z, *size]), foot))
                break

    sph = [p for k, p, _ in placed if k == SPHERE]
    box = [p for k, p, _ in placed if k == BOX]
    cyl = [p for k, p, _ in placed if k == CYLINDER]
    spheres = np.array([[p[0], p[2], p[1], p[2]] for p in sph]).reshape(-1, 4)  # centre (x, r, z), radius
    boxes = np.array([[p[0], p[3], p[1], p[2], p[3], p[4], p[5]] for p in box]).reshape(-1, 7)
    cylinders = np.array([[p[0], 0.0, p[1], p[2], p[3], p[4]] for p in cyl]).reshape(-1, 6)

    rug = None
    if rng.random() < cfg.rug_probability:
        s, lateral = rng.uniform(2.5, 4.5), rng.uniform(-0.4, 0.4)
        rug = np.array([origin[0] + s * math.sin(yaw_c) + lateral * math.cos(yaw_c),
                        s * math.cos(yaw_c) - lateral * math.sin(yaw_c),
                        rng.uniform(0.6, 1.4), rng.uniform(0.4, 1.0), rng.uniform(0, math.pi)])

    # Per-instance tables: floor, back wall, left wall, right wall, rug, spheres, boxes, cylinders.
    n_inst = _N_ROOM + len(sph) + len(box) + len(cyl)
    classes = np.array([FLOOR, WALL, WALL, WALL, RUG] + [SPHERE] * len(sph) + [BOX] * len(box)
                       + [CYLINDER] * len(cyl))
    colors, colors2 = np.zeros((n_inst, 3)), np.zeros((n_inst, 3))
    pattern, freq = np.zeros(n_inst, dtype=np.int64), np.ones(n_inst)
    stripe_dir, phase = np.zeros((n_inst, 3)), rng.uniform(0, 1, (n_inst, 3))
    centre, yaw = np.zeros((n_inst, 3)), np.zeros(n_inst)

    if rng.random() < 0.6:  # wooden floor: planks (stripes) or parquet (checker)
        colors[0] = _hsv(rng, (0.05, 0.11), (0.35, 0.65), (0.35, 0.65))
    else:  # stone floor: grey tiles
        colors[0] = _hsv(rng, (0, 1), (0.0, 0.12), (0.3, 0.6))
    pattern[0] = rng.choice([_STRIPES, _CHECKER])
    freq[0] = rng.uniform(1.0, 2.2)
    stripe_dir[0] = [1.0, 0.0, 0.0] if rng.random() < 0.5 else [0.0, 0.0, 1.0]
    colors2[0] = colors[0] * rng.uniform(0.7, 0.85)
    wall_color = _hsv(rng, (0, 1), (0.05, 0.3), (0.6, 0.9))
    wall_pattern = _STRIPES if rng.random() < 0.4 else _PLAIN
    wall_freq, wall_shade = rng.uniform(1.0, 2.0), rng.uniform(0.8, 0.9)
    for i, tangent in ((1, [1.0, 0.0, 0.0]), (2, [0.0, 0.0, 1.0]), (3, [0.0, 0.0, 1.0])):  # vertical wallpaper stripes
        colors[i], colors2[i], pattern[i], freq[i], stripe_dir[i] = (
            wall_color, wall_color * wall_shade, wall_pattern, wall_freq, tangent)
    if rug is not None:
        centre[4], yaw[4] = (rug[0], 0.0, rug[1]), rug[4]
    objects = [(c[:3], 0.0) for c in spheres] + [(b[:3], b[6]) for b in boxes] + [(c[:3], c[5]) for c in cylinders]
    for i in range(4, n_inst):  # the rug and the objects: saturated colours, optional texture
        colors[i] = _hsv(rng, (0, 1), (0.45, 0.9), (0.45, 0.95))
        colors2[i] = colors[i] * rng.uniform(0.45, 0.7) if rng.random() < 0.5 else _hsv(rng, (0, 1), (0.3, 0.9),
                                                                                          (0.5, 0.95))
        if i == 4 or rng.random() < cfg.pattern_probability:
            pattern[i] = rng.choice([_STRIPES, _CHECKER])
        freq[i] = rng.uniform(1.5, 3.5) if i == 4 else rng.uniform(2.0, 4.0)
        stripe_dir[i] = _unit(rng.normal(size=3)) if i > 4 else [1.0, 0.0, 0.0]
        if i > 4:
            centre[i], yaw[i] = objects[i - _N_ROOM]

    wave_dirs = rng.normal(size=(3, 3))
    wave_dirs *= rng.uniform(1.5, 6.0, (3, 1)) / np.linalg.norm(wave_dirs, axis=1, keepdims=True)
    waves = np.concatenate([wave_dirs, rng.uniform(0, 2 * math.pi, (3, 1))], axis=1)

    kps = [[-half_w, 0.0, depth], [half_w, 0.0, depth]]  # the room's floor corners
    for c in spheres:  # the sphere point nearest to the camera (projects onto the centre)
        kps.append(c[:3] + c[3] * _unit(origin - c[:3]))
    for b in boxes:
        cs, sn = math.cos(b[6]), math.sin(b[6])
        for sx in (-1, 1):
            for sy in (-1, 1):
                for sz in (-1, 1):
                    lx, ly, lz = sx * b[3], sy * b[4], sz * b[5]
                    kps.append([b[0] + cs * lx + sn * lz, b[1] + ly, b[2] - sn * lx + cs * lz])
    for c in cylinders:
        kps.append([c[0], c[4], c[2]])
        for a in c[5] + np.arange(4) * math.pi / 2:
            for y in (0.0, c[4]):
                kps.append([c[0] + c[3] * math.cos(a), y, c[2] + c[3] * math.sin(a)])
    if rug is not None:
        cs, sn = math.cos(rug[4]), math.sin(rug[4])
        for sx in (-1, 1):
            for sz in (-1, 1):
                lx, lz = sx * rug[2], sz * rug[3]
                kps.append([rug[0] + cs * lx + sn * lz, 0.0, rug[1] - sn * lx + cs * lz])

    f32 = lambda a: None if a is None else np.asarray(a, dtype=np.float32)  # noqa: E731
    return Scene(f32(origin), f32(rotation), (float(depth), float(half_w)), f32(sun), f32(fill), classes,
                 f32(colors), f32(colors2), pattern, f32(freq), f32(stripe_dir), f32(phase), f32(centre), f32(yaw),
                 f32(spheres), f32(boxes), f32(cylinders), f32(rug), f32(waves), f32(np.array(kps).reshape(-1, 3)))


# ------------------------------------------------------------------------------------------------------ ray casting
# All arrays are float32 (numpy 2 keeps Python-float scalars weak, so expressions stay float32). Rays are
# ``o + t d`` with ``o`` ``(P|1, 3)`` and ``d`` ``(P, 3)``; a miss is ``t = inf``.

def _hit_spheres(o, d, spheres):
    """Ray parameters ``(P, S)`` of the first hit with each sphere."""
    oc = o[:, None, :] - spheres[None, :, :3]  # (P|1, S, 3)
    a = np.einsum("pk,pk->p", d, d)[:, None]  # (P, 1)
    b = d @ oc[0].T if oc.shape[0] == 1 else np.einsum("pk,psk->ps", d, oc)  # (P, S)
    c = np.einsum("psk,psk->ps", oc, oc) - spheres[None, :, 3] ** 2  # (P|1, S)
    disc = b * b - a * c
    root = np.sqrt(np.maximum(disc, 0))
    t0, t1 = (-b - root) / a, (-b + root) / a
    t = np.where(t0 > _EPS, t0, np.where(t1 > _EPS, t1, np.inf))
    return np.where(disc > 0, t, np.inf)


def _hit_boxes(o, d, boxes):
    """Ray parameters ``(P, B)`` of the first hit with each box (slab method in the box's yawed frame)."""
    cos, sin = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    ox, oy, oz = (o[:, k:k + 1] - boxes[:, k] for k in range(3))  # (P|1, B) each
    dx, dy, dz = d[:, 0:1], d[:, 1:2], d[:, 2:3]  # (P, 1) each
    near, far = None, None
    for lo, ld, half in ((cos * ox - sin * oz, dx * cos - dz * sin, boxes[:, 3]), (oy, dy, boxes[:, 4]),
                         (sin * ox + cos * oz, dx * sin + dz * cos, boxes[:, 5])):
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / ld
            ta, tb = (-half - lo) * inv, (half - lo) * inv
        lo_t, hi_t = np.minimum(ta, tb), np.maximum(ta, tb)
        near = lo_t if near is None else np.maximum(near, lo_t)
        far = hi_t if far is None else np.minimum(far, hi_t)
    with np.errstate(invalid="ignore"):
        hit = (far >= near) & (far > _EPS)  # NaN (ray in a face plane) compares False: a miss
    return np.where(hit, np.where(near > _EPS, near, far), np.inf)


def _hit_cylinders(o, d, cyl):
    """Ray parameters ``(P, C)`` of the first hit with each vertical cylinder (side or top cap)."""
    ox, oy, oz = (o[:, k:k + 1] - cyl[:, k] for k in range(3))  # (P|1, C) each
    dx, dy, dz = d[:, 0:1], d[:, 1:2], d[:, 2:3]
    r2, height = cyl[:, 3] ** 2, cyl[:, 4]
    a = dx * dx + dz * dz
    b = ox * dx + oz * dz
    disc = b * b - a * (ox * ox + oz * oz - r2)
    root = np.sqrt(np.maximum(disc, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t0, t1 = (-b - root) / a, (-b + root) / a
        t_side = np.where(t0 > _EPS, t0, t1)
        y = oy + t_side * dy
        t_side = np.where((disc > 0) & (t_side > _EPS) & (y >= 0) & (y <= height), t_side, np.inf)
        t_cap = (height - oy) / dy
        cx, cz = ox + t_cap * dx, oz + t_cap * dz
        t_cap = np.where((t_cap > _EPS) & (cx * cx + cz * cz <= r2), t_cap, np.inf)
    return np.minimum(t_side, t_cap)


def _hit_objects(o, d, scene):
    """Ray parameters ``(P, N_obj)`` of all objects, in instance order (spheres, boxes, cylinders)."""
    parts = []
    if len(scene.spheres):
        parts.append(_hit_spheres(o, d, scene.spheres))
    if len(scene.boxes):
        parts.append(_hit_boxes(o, d, scene.boxes))
    if len(scene.cylinders):
        parts.append(_hit_cylinders(o, d, scene.cylinders))
    return np.concatenate(parts, axis=1) if parts else np.full((d.shape[0], 0), np.inf, dtype=d.dtype)


def _hit_room(o, d, room):
    """Ray parameters ``(P, 4)`` of the floor, back wall, left wall and right wall planes (camera inside)."""
    depth, half_w = room
    with np.errstate(divide="ignore"):
        t = np.stack([-o[1] / d[:, 1], (depth - o[2]) / d[:, 2], (-half_w - o[0]) / d[:, 0],
                      (half_w - o[0]) / d[:, 0]], axis=1)
    return np.where(t > _EPS, t, np.inf)


_ROOM_NORMALS = np.array([[0, 1, 0], [0, 0, -1], [1, 0, 0], [-1, 0, 0], [0, 1, 0]], dtype=np.float32)
_ROOM_FLAT_AXIS = np.array([1, 2, 0, 0, 1])  # the local axis each room plane (and the rug) is perpendicular to


def _render(scene: Scene, rays_cam: np.ndarray, res: int, cfg: SynthConfig, rng: np.random.Generator,
            want: frozenset) -> dict[str, np.ndarray]:
    """Ray-cast ``scene`` through the camera rays ``rays_cam`` ``(P, 3)`` (z = 1) into image and label arrays."""
    d = rays_cam @ scene.rotation.T  # (P, 3) world directions; t along d is the camera-frame depth
    depth, inst, point, local = _first_hits(scene, d)
    normal, face, flat_axis = _surfaces(scene, d, depth, inst, point, local)
    bit = _texture_bit(scene, inst, local, flat_axis)
    rgb, albedo, lit = _shade(scene, cfg, rng, inst, point, normal, bit)
    out = {"image": np.ascontiguousarray(((rgb - _MEAN) / _STD).T.reshape(3, res, res))}  # (P, 3) -> (3, H, W)
    if "segment_semantic" in want:
        out["segment_semantic"] = scene.classes[inst].reshape(res, res)  # (H, W) int64
    if "depth_zbuffer" in want:
        out["depth_zbuffer"] = depth.reshape(1, res, res)
    if "normal" in want:
        out["normal"] = np.ascontiguousarray((normal @ scene.rotation).T.reshape(3, res, res))  # camera frame
    if "edge_texture" in want:
        key = (inst * 16 + face * 2 + bit).reshape(res, res)
        out["edge_texture"] = _edges(key, depth.reshape(res, res), cfg.edge_width)
    if "keypoints2d" in want:
        out["keypoints2d"] = _keypoint_heatmap(scene, depth.reshape(res, res), res, cfg)
    planted = [p for p in cfg.planted if p.name in want]
    if planted:
        maps = _factor_maps(scene, depth, point, normal, bit, albedo, lit)
        for p in planted:
            out[p.name] = p.target(maps).reshape(1, res, res)
    return out


def _factor_maps(scene: Scene, depth, point, normal, bit, albedo, lit) -> dict[str, np.ndarray]:
    """The latent factor maps of :data:`PLANTED_FACTORS`, each ``(P,)`` float32 in [0, 1]."""
    lum = albedo @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    maps = {
        "distance": depth / 12.0,
        "height": point[:, 1] / 3.0,
        "lateral": point[:, 0] / 9.0 + 0.5,
        "upright": normal[:, 1],
        "albedo": lum,
        "texture": bit.astype(np.float32),
        "sunlit": lit,
    }
    return {k: np.clip(v, 0, 1).astype(np.float32) for k, v in maps.items()}


def _first_hits(scene: Scene, d: np.ndarray):
    """Depth ``(P,)``, instance id ``(P,)``, world hit point ``(P, 3)`` and instance-local hit point ``(P, 3)``."""
    t_all = np.concatenate([_hit_room(scene.origin, d, scene.room), _hit_objects(scene.origin[None], d, scene)],
                           axis=1)  # (P, 4 + N_obj)
    first = t_all.argmin(1)
    depth = np.take_along_axis(t_all, first[:, None], 1)[:, 0]
    inst = np.where(first >= 4, first + 1, first)  # instance 4 is the rug, which no ray "hits"
    point = scene.origin + depth[:, None] * d  # (P, 3)
    cos_i, sin_i = np.cos(scene.yaw)[inst], np.sin(scene.yaw)[inst]
    rel = point - scene.centre[inst]
    local = np.stack([cos_i * rel[:, 0] - sin_i * rel[:, 2], rel[:, 1], sin_i * rel[:, 0] + cos_i * rel[:, 2]], 1)
    if scene.rug is not None:  # floor pixels inside the rug become rug pixels, in the rug's frame
        rx, rz, hx, hz, ryaw = scene.rug
        cr, sr = math.cos(ryaw), math.sin(ryaw)
        floor = np.nonzero(inst == 0)[0]
        lx = cr * (point[floor, 0] - rx) - sr * (point[floor, 2] - rz)
        lz = sr * (point[floor, 0] - rx) + cr * (point[floor, 2] - rz)
        on = (np.abs(lx) <= hx) & (np.abs(lz) <= hz)
        rug = floor[on]
        inst[rug] = 4
        local[rug, 0], local[rug, 2] = lx[on], lz[on]
    return depth, inst, point, local


def _surfaces(scene: Scene, d, depth, inst, point, local):
    """World normals ``(P, 3)``, face ids ``(P,)`` and the local axis of flat faces ``(P,)`` (-1: curved)."""
    P = inst.shape[0]
    normal = _ROOM_NORMALS[np.minimum(inst, 4)]  # (P, 3), overwritten for objects below
    face = np.zeros(P, dtype=np.int64)
    flat_axis = np.where(inst < _N_ROOM, _ROOM_FLAT_AXIS[np.minimum(inst, 4)], -1)
    n_s, n_b = len(scene.spheres), len(scene.boxes)
    k = inst - _N_ROOM
    idx = np.nonzero((k >= 0) & (k < n_s))[0]
    if idx.size:
        n = local[idx]
        normal[idx] = n / np.sqrt((n * n).sum(1, keepdims=True))  # = (p - c) / r, renormalised in float32
    idx = np.nonzero((k >= n_s) & (k < n_s + n_b))[0]
    if idx.size:  # the face is the slab the ray enters last (always one facing the camera, even at an edge)
        c, s = np.cos(scene.yaw[inst[idx]]), np.sin(scene.yaw[inst[idx]])
        rel_o, dd = scene.origin - scene.centre[inst[idx]], d[idx]  # (n, 3) each
        lo = np.stack([c * rel_o[:, 0] - s * rel_o[:, 2], rel_o[:, 1], s * rel_o[:, 0] + c * rel_o[:, 2]], 1)
        ld = np.stack([c * dd[:, 0] - s * dd[:, 2], dd[:, 1], s * dd[:, 0] + c * dd[:, 2]], 1)
        half = scene.boxes[k[idx] - n_s, 3:6]
        with np.errstate(divide="ignore", invalid="ignore"):
            entry = np.minimum((-half - lo) / ld, (half - lo) / ld)  # (n, 3)
        axis = np.nan_to_num(entry, nan=-np.inf).argmax(1)
        sign = -np.sign(ld[np.arange(idx.size), axis])
        n_loc = np.zeros((idx.size, 3), dtype=np.float32)
        n_loc[np.arange(idx.size), axis] = sign
        normal[idx] = np.stack([c * n_loc[:, 0] + s * n_loc[:, 2], n_loc[:, 1], -s * n_loc[:, 0] + c * n_loc[:, 2]],
                               axis=1)
        face[idx] = axis * 2 + (sign > 0)
        flat_axis[idx] = axis
    idx = np.nonzero(k >= n_s + n_b)[0]
    if idx.size:  # the top cap if the ray reaches the cap's disk no later than the hit, else the side
        cyl = scene.cylinders[k[idx] - n_s - n_b]
        dd = d[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            t_cap = (cyl[:, 4] - scene.origin[1]) / dd[:, 1]
        cap_x = scene.origin[0] + t_cap * dd[:, 0] - cyl[:, 0]
        cap_z = scene.origin[2] + t_cap * dd[:, 2] - cyl[:, 2]
        top = ((t_cap > 0) & (t_cap <= depth[idx] * (1 + 1e-5))
               & (cap_x * cap_x + cap_z * cap_z <= (cyl[:, 3] * (1 + 1e-5)) ** 2))
        side = (point[idx] - cyl[:, :3]) * np.array([1, 0, 1], dtype=np.float32)
        side /= np.sqrt((side * side).sum(1, keepdims=True))
        normal[idx] = np.where(top[:, None], np.array([0, 1, 0], dtype=np.float32), side)
        face[idx] = top
        flat_axis[idx] = np.where(top, 1, -1)
    return normal, face, flat_axis


def _texture_bit(scene: Scene, inst, local, flat_axis) -> np.ndarray:
    """Which of its two colours each pixel shows ``(P,)``: stripes or checker in instance-local coordinates.

    Flat faces drop their constant local axis first, so that rounding noise in it cannot flip the checker.
    """
    local = local * np.stack([flat_axis != axis for axis in range(3)], 1)  # (P, 3)
    f, ph, sd = scene.freq[inst], scene.phase[inst], scene.stripe_dir[inst]
    stripes = np.floor(f * (local[:, 0] * sd[:, 0] + local[:, 1] * sd[:, 1] + local[:, 2] * sd[:, 2]) + ph[:, 0])
    checker = (np.floor(f * local[:, 0] + ph[:, 0]) + np.floor(f * local[:, 1] + ph[:, 1])
               + np.floor(f * local[:, 2] + ph[:, 2]))
    pat = scene.pattern[inst]
    return np.where(pat == _STRIPES, stripes, np.where(pat == _CHECKER, checker, 0)).astype(np.int64) & 1


def _shade(scene: Scene, cfg: SynthConfig, rng: np.random.Generator, inst, point, normal, bit):
    """RGB in ``[0, 1]`` ``(P, 3)``: Lambertian sun with cast shadows, fill light, ambient, albedo and sensor noise.

    Also returns the albedo ``(P, 3)`` (without texture noise) and the direct sunlight ``(P,)`` (0 in shadow).
    """
    paint = albedo = np.where(bit[:, None] == 1, scene.colors2[inst], scene.colors[inst])  # (P, 3)
    if cfg.texture_noise:
        w = np.sin(point @ scene.waves[:, :3].T + scene.waves[:, 3])  # (P, 3)
        albedo = albedo * (1 + cfg.texture_noise / 3 * (w[:, 0] + w[:, 1] + w[:, 2]))[:, None]
    lit = np.maximum(normal @ scene.sun, 0)
    if cfg.shadows and len(scene.spheres) + len(scene.boxes) + len(scene.cylinders):
        idx = np.nonzero(lit > 0)[0]
        t_sh = _hit_objects(point[idx] + 1e-3 * normal[idx], np.broadcast_to(scene.sun, (idx.size, 3)), scene)
        lit[idx] *= t_sh.min(1) == np.inf
    rgb = albedo * (0.3 + 0.75 * lit + 0.25 * np.maximum(normal @ scene.fill, 0))[:, None]
    if cfg.pixel_noise:
        rgb += cfg.pixel_noise * rng.standard_normal(rgb.shape, dtype=np.float32)
    return np.clip(rgb, 0, 1), paint, lit


def _edges(key: np.ndarray, depth: np.ndarray, width: int = 1) -> np.ndarray:
    """Edge map ``(1, H, W)``: where 4-neighbours have different surface keys, mark the nearer pixel of the pair
    (then dilate to ``width`` pixels)."""
    edge = np.zeros(key.shape, dtype=bool)
    for axis in (0, 1):
        a = (slice(None), slice(None, -1)) if axis else (slice(None, -1), slice(None))
        b = (slice(None), slice(1, None)) if axis else (slice(1, None), slice(None))
        differ = key[a] != key[b]
        a_nearer = depth[a] <= depth[b]
        edge[a] |= differ & a_nearer
        edge[b] |= differ & ~a_nearer
    r = width // 2
    if r:
        pad = np.pad(edge, r)
        h, w = edge.shape
        edge = np.any([pad[i:i + h, j:j + w] for i in range(2 * r + 1) for j in range(2 * r + 1)], axis=0)
    return edge[None].astype(np.float32)


def _keypoint_heatmap(scene: Scene, depth: np.ndarray, res: int, cfg: SynthConfig) -> np.ndarray:
    """Max-of-Gaussians heatmap ``(1, H, W)`` of the keypoints visible in ``depth`` ``(H, W)``."""
    heat = np.zeros((1, res, res), dtype=np.float32)
    cam = (scene.keypoints - scene.origin) @ scene.rotation  # (K, 3) camera frame
    cam = cam[cam[:, 2] > 1e-3]
    focal = res / 2 / math.tan(math.radians(cfg.fov_deg) / 2)
    z = cam[:, 2]
    u, v = focal * cam[:, 0] / z + res / 2, focal * cam[:, 1] / z + res / 2
    col, row = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    inside = (col >= 0) & (col < res) & (row >= 0) & (row < res)
    u, v, z, col, row = u[inside], v[inside], z[inside], col[inside], row[inside]
    # Visible if a pixel of the 3x3 neighbourhood sees a surface at the keypoint's depth (within 4 %).
    pad = np.pad(depth, 1, mode="edge")
    near = np.stack([pad[row + 1 + di, col + 1 + dj] for di in (-1, 0, 1) for dj in (-1, 0, 1)], axis=1)  # (K, 9)
    vis = (np.abs(near - z[:, None]) < 0.04 * z[:, None]).any(1)
    if not vis.any():
        return heat
    sigma = cfg.keypoint_sigma * res / 64
    grid = np.arange(res, dtype=np.float32) + 0.5
    gx = np.exp(-((grid[None, :] - u[vis, None]) ** 2) / (2 * sigma**2))  # (K, W)
    gy = np.exp(-((grid[None, :] - v[vis, None]) ** 2) / (2 * sigma**2))  # (K, H)
    heat[0] = (gy[:, :, None] * gx[:, None, :]).max(0)  # (K, H, W) -> (H, W)
    return heat


def _camera_rays(res: int, fov_deg: float) -> np.ndarray:
    """Camera-frame ray directions ``(H * W, 3)`` through pixel centres, scaled so that ``z = 1``."""
    focal = res / 2 / math.tan(math.radians(fov_deg) / 2)
    coords = (np.arange(res) + 0.5 - res / 2) / focal
    x, y = np.meshgrid(coords, coords)  # (H, W): x varies along columns, y along rows
    return np.stack([x.ravel(), y.ravel(), np.ones(res * res)], axis=1).astype(np.float32)


# ------------------------------------------------------------------------------------------------------- dataset

def denormalize(image: torch.Tensor) -> torch.Tensor:
    """Undo the image normalisation: ``(..., 3, H, W)`` normalised -> RGB in ``[0, 1]``.

    Args:
        image: a normalised image or batch of images from :class:`SynthScenes`.

    Returns:
        The RGB image(s), clipped to ``[0, 1]``.
    """
    mean = torch.tensor(IMAGE_MEAN, dtype=image.dtype, device=image.device).view(3, 1, 1)
    std = torch.tensor(IMAGE_STD, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return (image * std + mean).clamp(0, 1)


class SynthScenes(Dataset):
    """Procedural rendered rooms with exact labels for the five dense tasks (see the module docstring).

    Args:
        split: ``"train"``, ``"train1"``, ``"train2"`` (even and odd ``train`` samples) or ``"test"``.
        size: number of samples in the split (``len(dataset)``).
        resolution: image height and width in pixels, 32 to 256.
        tasks: task names to return (default: all five, :data:`ALL_TASKS`).
        seed: non-negative integer; with ``split`` and the index it determines each sample bit for bit.
        config: scene-generation settings.
        cache: render all ``size`` samples once, in the constructor, and keep them in memory (identical tensors,
            much faster epochs; 180 kB per sample at 64x64 with all five tasks). DataLoader workers started by
            fork share the cache copy-on-write.

    Example:
        >>> ds = SynthScenes("train", size=8, resolution=32, tasks=("segment_semantic", "depth_zbuffer"))
        >>> sorted(ds[0])
        ['depth_zbuffer', 'image', 'segment_semantic']
    """

    def __init__(self, split: str = "train", size: int = 1024, resolution: int = 64, tasks=None, seed: int = 0,
                 config: SynthConfig | None = None, cache: bool = False):
        if split not in SPLITS:
            raise unknown_name("split", split, SPLITS)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigError(f"size must be a positive int (number of samples), got {size!r}")
        if (not isinstance(resolution, int) or isinstance(resolution, bool)
                or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION):
            raise ConfigError(f"resolution must be an int in [{MIN_RESOLUTION}, {MAX_RESOLUTION}] pixels, "
                              f"got {resolution!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
        if tasks is None:
            tasks = ALL_TASKS
        if isinstance(tasks, str):
            raise ConfigError(f"tasks must be a sequence of task names, got the string {tasks!r}; "
                              f"write tasks=({tasks!r},)")
        tasks = tuple(tasks)
        if not tasks:
            raise ConfigError(f"tasks must name at least one of {ALL_TASKS}, got an empty sequence")
        if config is None:
            config = SynthConfig()
        if not isinstance(config, SynthConfig):
            raise ConfigError(f"config must be a SynthConfig, got {type(config).__name__}")
        known = ALL_TASKS + tuple(p.name for p in config.planted)
        for name in tasks:
            if name not in known:
                if name.startswith(PLANTED_PREFIX):
                    raise ConfigError(f"task {name!r} is not planted in this config: add PlantedTask({name!r}, "
                                      f"factors=...) to SynthConfig(planted=...); planted now: "
                                      f"{[p.name for p in config.planted]}")
                raise unknown_name("task", name, known)
        if len(set(tasks)) != len(tasks):
            raise ConfigError(f"tasks must not repeat a name, got {tasks!r}")
        self.split, self.size, self.resolution, self.seed, self.config = split, size, resolution, seed, config
        self.tasks = tasks
        self.num_classes = NUM_CLASSES
        self.class_names = CLASS_NAMES
        self._want = frozenset(tasks)
        self._rays = _camera_rays(resolution, config.fov_deg)
        if not isinstance(cache, bool):
            raise ConfigError(f"cache must be True or False, got {cache!r}")
        self._cache: dict[str, torch.Tensor] | None = None
        if cache:
            samples = [self._generate(i) for i in range(size)]
            self._cache = {key: torch.stack([s[key] for s in samples]) for key in samples[0]}  # (N, ...) per key

    def __len__(self) -> int:
        return self.size

    @property
    def intrinsics(self) -> np.ndarray:
        """Pinhole matrix ``K`` ``(3, 3)``; pixel ``(row i, column j)`` is centred at ``(u, v) = (j + .5, i + .5)``."""
        focal = self.resolution / 2 / math.tan(math.radians(self.config.fov_deg) / 2)
        c = self.resolution / 2
        return np.array([[focal, 0.0, c], [0.0, focal, c], [0.0, 0.0, 1.0]])

    def task_options(self) -> dict[str, dict]:
        """Per-task options for :func:`mtlkit.tasks.get_task`, e.g. ``{"segment_semantic": {"num_classes": 6}}``."""
        return {"segment_semantic": {"num_classes": NUM_CLASSES}} if "segment_semantic" in self.tasks else {}

    def _rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index``: a hash of (seed, stream, position in the stream)."""
        if self.split == "test":
            stream, j = 1, index
        else:
            stream, j = 0, {"train": index, "train1": 2 * index, "train2": 2 * index + 1}[self.split]
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([SEED_TAG, self.seed, stream, j])))

    def _check_index(self, index) -> int:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        index = int(index)
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for SynthScenes split {self.split!r} of size {self.size}")
        return index

    def scene(self, index: int) -> Scene:
        """The scene description (camera, room, lights, objects, keypoints) behind sample ``index``.

        Args:
            index: sample index in ``[-len, len)``.

        Returns:
            The :class:`Scene` that ``self[index]`` renders.
        """
        return _sample_scene(self._rng(self._check_index(index)), self.config)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = self._check_index(index)
        if self._cache is not None:
            return {key: value[index].clone() for key, value in self._cache.items()}
        return self._generate(index)

    def _generate(self, index: int) -> dict[str, torch.Tensor]:
        """Sample and render scene ``index`` (already checked)."""
        rng = self._rng(index)
        scene = _sample_scene(rng, self.config)
        arrays = _render(scene, self._rays, self.resolution, self.config, rng, self._want)
        return {key: torch.from_numpy(arrays[key]) for key in ("image", *self.tasks)}

    def __repr__(self) -> str:
        return (f"SynthScenes(split={self.split!r}, size={self.size}, resolution={self.resolution}, "
                f"tasks={self.tasks}, seed={self.seed})")
