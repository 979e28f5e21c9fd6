"""SynthScenes planted tasks: targets from the latent factor maps, registration as tasks, bad input."""
from __future__ import annotations

import pytest
import torch

from mtlkit.data.synthetic import PLANTED_FACTORS, PlantedTask, SynthConfig, SynthScenes
from mtlkit.errors import ConfigError
from mtlkit.tasks import get_task


def _ds(planted, tasks=None, **kw):
    cfg = SynthConfig(planted=planted)
    return SynthScenes("train", size=3, resolution=32, tasks=tasks or [p.name for p in planted], seed=4, config=cfg,
                       **kw)


def test_single_factor_targets_follow_the_labels():
    planted = (PlantedTask("planted_dist", ("distance",)), PlantedTask("planted_up", ("upright",)),
               PlantedTask("planted_far", ("distance",), (-1.0,)))
    ds = _ds(planted, [p.name for p in planted] + ["depth_zbuffer", "segment_semantic"])
    s = ds[1]
    assert torch.allclose(s["planted_dist"], (s["depth_zbuffer"] / 12).clamp(0, 1), atol=1e-6)
    assert torch.allclose(s["planted_far"], 1 - s["planted_dist"], atol=1e-6)    # negative weight: 1 - f
    floor = s["segment_semantic"] == 0
    assert torch.allclose(s["planted_up"][0][floor], torch.ones(()), atol=1e-5)   # the floor faces up
    wall = s["segment_semantic"] == 1
    assert s["planted_up"][0][wall].abs().max() < 1e-5                           # walls are vertical


def test_weighted_mix_and_range():
    a, b = PlantedTask("planted_x", ("distance",)), PlantedTask("planted_y", ("height",))
    mix = PlantedTask("planted_mix", ("distance", "height"), (2.0, -1.0))
    s = _ds((a, b, mix))[0]
    expected = (2 * s["planted_x"] - s["planted_y"] + 1) / 3
    assert torch.allclose(s["planted_mix"], expected, atol=1e-6)
    for name in ("planted_x", "planted_y", "planted_mix"):
        assert s[name].dtype == torch.float32 and s[name].shape == (1, 32, 32)
        assert 0 <= float(s[name].min()) and float(s[name].max()) <= 1


def test_planted_tasks_leave_the_built_in_tasks_unchanged_and_are_deterministic():
    planted = tuple(PlantedTask(f"planted_{f}", (f,)) for f in PLANTED_FACTORS)
    plain = SynthScenes("test", size=2, resolution=32, seed=1)
    with_planted = SynthScenes("test", size=2, resolution=32, seed=1, config=SynthConfig(planted=planted),
                               tasks=("segment_semantic", "depth_zbuffer", "normal", "keypoints2d", "edge_texture",
                                      *(p.name for p in planted)))
    x, y = plain[1], with_planted[1]
    for key in x:
        assert torch.equal(x[key], y[key]), key
    z = with_planted[1]
    assert all(torch.equal(y[k], z[k]) for k in y)


def test_registered_as_an_l1_task():
    PlantedTask("planted_reg", ("lateral", "texture"))
    task = get_task("planted_reg")
    assert task.out_channels == 1 and task.metrics == ("err",) and task.higher_is_better == {"err": False}
    s = _ds((PlantedTask("planted_reg", ("lateral", "texture")),))[0]
    batch = {k: v[None] for k, v in s.items()}
    assert float(task.loss(batch["planted_reg"], batch)) == 0.0
    ev = task.evaluator()
    ev.update(torch.zeros(1, 1, 32, 32), batch)
    assert ev.compute()["err"] == pytest.approx(float(s["planted_reg"].mean()), rel=1e-6)


def test_bad_input_named():
    with pytest.raises(ConfigError, match="planted_"):
        PlantedTask("depth2", ("distance",))
    with pytest.raises(ConfigError, match="planted factor"):
        PlantedTask("planted_q", ("colour",))
    with pytest.raises(ConfigError, match="weights"):
        PlantedTask("planted_q", ("distance", "height"), (1.0,))
    with pytest.raises(ConfigError, match="weights"):
        PlantedTask("planted_q", ("distance",), (0.0,))
    with pytest.raises(ConfigError, match="distinct"):
        SynthConfig(planted=(PlantedTask("planted_q", ("distance",)), PlantedTask("planted_q", ("height",))))
    with pytest.raises(ConfigError, match="not planted in this config"):
        SynthScenes("train", size=2, resolution=32, tasks=("planted_nowhere",))
    with pytest.raises(ConfigError, match="PlantedTask objects"):
        SynthConfig(planted=("planted_a",))


def test_edge_width_dilates_the_one_pixel_edges():
    thin = SynthScenes("train", size=1, resolution=32, tasks=("edge_texture",), seed=3)[0]["edge_texture"][0]
    wide = SynthScenes("train", size=1, resolution=32, tasks=("edge_texture",), seed=3,
                       config=SynthConfig(edge_width=3))[0]["edge_texture"][0]
    expected = torch.nn.functional.max_pool2d(thin[None, None], 3, stride=1, padding=1)[0, 0]
    assert torch.equal(wide, expected) and wide.sum() > thin.sum()
    with pytest.raises(ConfigError, match="edge_width"):
        SynthConfig(edge_width=2)
