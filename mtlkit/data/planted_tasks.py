"""SynthScenes' planted tasks: dense regression targets computed from chosen latent scene factors.

:class:`PlantedTask` (and :data:`PLANTED_FACTORS`) are re-exported by :mod:`mtlkit.data.synthetic`, which renders
the factor maps; a :class:`~mtlkit.data.synthetic.SynthConfig` lists the planted tasks of a scene set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mtlkit.errors import ConfigError, unknown_name

__all__ = ["PLANTED_FACTORS", "PLANTED_PREFIX", "PlantedTask", "register_planted_task"]


#: latent scene factors a planted task can be computed from; every map is in [0, 1] per pixel
PLANTED_FACTORS = {
    "distance": "camera-frame depth / 12 m (clipped): near 0.15, the far wall about 0.7",
    "height": "height of the surface point above the floor / 3 m (clipped): floor and rug 0",
    "lateral": "world x of the surface point, -4.5 m -> 0 to +4.5 m -> 1",
    "upright": "how much the surface faces up: max(0, world normal y); floor, rug and box tops 1, walls 0",
    "albedo": "luminance of the surface colour before lighting (paint, not shading)",
    "texture": "the stripe/checker colour bit of the surface (0 or 1)",
    "sunlit": "direct sunlight: max(0, n . sun), 0 in cast shadows",
}
PLANTED_PREFIX = "planted_"


@dataclass(frozen=True)
class PlantedTask:
    """A dense regression task whose target is computed from chosen latent scene factors.

    The target of a pixel is the weighted mean of the factor maps (:data:`PLANTED_FACTORS`, each in [0, 1]), mapped
    back to [0, 1]: ``(Σ w_i f_i + Σ_{w_i < 0} |w_i|) / Σ |w_i|``. Tasks built from the same factors are related by
    construction; tasks with disjoint factors share only what their factors share. The factors are *not*
    independent over pixels: a room's geometry ties ``distance``, ``height``, ``upright``, ``sunlit`` and ``albedo``
    together (walls are far, high, vertical and brightly painted; pixel correlations |r| of 0.4 to 0.7 over 64
    training images at 32 px, seed 0), while ``lateral`` is nearly uncorrelated with all the others (|r| <= 0.02)
    and ``texture`` weakly (|r| <= 0.28 with distance, height, upright and sunlit, 0.46 with albedo). Disjoint factors from those two groups give
    unrelated tasks. Two tasks that weigh shared factors with opposite signs (``distance + height`` vs
    ``distance − height``) need the same information combined in opposite ways. The task trains and evaluates like keypoints and edges: one
    channel, L1 loss, metric ``err`` (mean absolute error, lower is better).

    Creating a ``PlantedTask`` registers its name with :func:`mtlkit.tasks.get_task` (an L1 task), so the kit's
    models, grids and searches accept it like a built-in task.

    Args:
        name: task name, ``"planted_<something>"`` (letters, digits, ``_``).
        factors: names from :data:`PLANTED_FACTORS`, each at most once.
        weights: one non-zero weight per factor (default: all 1).
    """

    name: str
    factors: tuple
    weights: tuple | None = None

    def __post_init__(self):
        import re

        if not isinstance(self.name, str) or not re.fullmatch(PLANTED_PREFIX + r"[a-z0-9_]+", self.name):
            raise ConfigError(f"PlantedTask.name must look like 'planted_a' ({PLANTED_PREFIX!r} + lower-case "
                              f"letters, digits, _), got {self.name!r}")
        factors = (self.factors,) if isinstance(self.factors, str) else tuple(self.factors)
        if not factors:
            raise ConfigError(f"PlantedTask {self.name!r}: factors must name at least one of "
                              f"{sorted(PLANTED_FACTORS)}, got none")
        for f in factors:
            if f not in PLANTED_FACTORS:
                raise unknown_name("planted factor", f, PLANTED_FACTORS)
        if len(set(factors)) != len(factors):
            raise ConfigError(f"PlantedTask {self.name!r}: factors must not repeat, got {factors}")
        weights = (1.0,) * len(factors) if self.weights is None else tuple(self.weights)
        if len(weights) != len(factors) or not all(isinstance(w, (int, float)) and not isinstance(w, bool)
                                                   and math.isfinite(w) and w != 0 for w in weights):
            raise ConfigError(f"PlantedTask {self.name!r}: weights must be {len(factors)} finite non-zero numbers "
                              f"(one per factor), got {self.weights!r}")
        object.__setattr__(self, "factors", factors)
        object.__setattr__(self, "weights", tuple(float(w) for w in weights))
        register_planted_task(self.name)

    def target(self, maps: dict[str, np.ndarray]) -> np.ndarray:
        """The target from the factor maps ``{factor: (P,) array in [0, 1]}``, as a ``(P,)`` float32 array."""
        total = sum(abs(w) for w in self.weights)
        out = sum(w * maps[f] for f, w in zip(self.factors, self.weights)) + sum(-w for w in self.weights if w < 0)
        return (out / total).astype(np.float32)


def register_planted_task(name: str) -> None:
    """Register ``name`` with :mod:`mtlkit.tasks` as a 1-channel L1 task with metric ``err`` (once per process)."""
    from mtlkit.tasks import _L1Task, list_tasks, register_task

    if name in list_tasks():
        from mtlkit.tasks import get_task

        if not getattr(get_task(name), "planted", False):
            raise ConfigError(f"PlantedTask name {name!r} is already a built-in task; choose another name")
        return

    @register_task(name)
    @dataclass(frozen=True, repr=False)
    class Planted(_L1Task):
        """A SynthScenes planted task: 1 channel, L1 loss, metric ``err``."""

        planted = True

        @property
        def metrics(self) -> tuple[str, ...]:
            return ("err",)

    Planted.__name__ = Planted.__qualname__ = f"Planted[{name}]"
