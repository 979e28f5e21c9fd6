"""The AutoMTL search: config validation, data checks, alternation, resume, determinism, stages (docs/automtl.md §2–§3, §7.12)."""
from __future__ import annotations

import copy
import csv

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from mtlkit.automtl import (
    PolicyTrainer, SearchConfig, SuperModel, discretize, policy_train, post_train, pre_train, search,
)
from mtlkit.automtl.search import POLICY_LOG, score_policies
from mtlkit.backbones import get_backbone
from mtlkit.data import SynthScenes
from mtlkit.errors import ConfigError
from mtlkit.heads import get_head
from mtlkit.tasks import get_task

TASKS = ("segment_semantic", "depth_zbuffer", "normal")


@pytest.fixture(scope="module")
def scenes():
    train = SynthScenes("train", size=16, resolution=32, tasks=TASKS, seed=0, cache=True)
    test = SynthScenes("test", size=8, resolution=32, tasks=TASKS, seed=0, cache=True)
    return train, test


def make_data(scenes, batch=4, wrap=None):
    train, test = scenes
    halves = {"train1": Subset(train, range(0, 16, 2)), "train2": Subset(train, range(1, 16, 2))}
    if wrap is not None:
        halves = {k: wrap(k, v) for k, v in halves.items()}

    def loader(ds):
        return DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True)

    return {"train": loader(train), **{k: loader(v) for k, v in halves.items()},
            "test": DataLoader(test, batch_size=8)}


def make_tasks():
    return {t: get_task(t, **({"num_classes": 6} if t == "segment_semantic" else {})) for t in TASKS}


def make_sm(seed=0, **kw) -> SuperModel:
    torch.manual_seed(seed)
    tasks = make_tasks()
    heads = {t: get_head("light", 8, task.out_channels, width=8) for t, task in tasks.items()}
    return SuperModel.from_backbone(get_backbone("tiny_resnet", width=4), heads, torch.zeros(1, 3, 32, 32), **kw)


def cfg(**kw) -> SearchConfig:
    base = dict(pre_train_iterations=0, policy_train_iterations=8, policy_steps=2, network_steps=2, network_lr=0.01,
                snapshot_every=2, post_train_iterations=2, post_lr_step=None, checkpoint_every=3, log_every=1,
                reg_weight=0.01)
    return SearchConfig(**{**base, **kw})


def params_of(sm):
    logits = {k: v.detach().clone() for k, v in sm.logits.items()}
    ids = {id(p) for p in sm.logits.values()}
    weights = {k: v.detach().clone() for k, v in sm.named_parameters() if id(v) not in ids}
    return logits, weights


def changed(before, after):
    return {k for k in before if not torch.equal(before[k], after[k])}


# ------------------------------------------------------------------------------------------------ configuration
@pytest.mark.parametrize("kw, match", [
    (dict(reg_weight=-0.1), "reg_weight must be a finite number >= 0"),
    (dict(reg_weight=float("nan")), "reg_weight must be a finite number >= 0"),
    (dict(loss_weights={"normal": -1.0}), r"loss_weights\['normal'\] must be a finite number >= 0"),
    (dict(tau0=0.0), "tau0 must be a positive finite temperature"),
    (dict(tau_decay=1.5), r"tau_decay must be a factor in \(0, 1\]"),
    (dict(tau_min=10.0), r"tau_min must be in \(0, tau0=5.0\]"),
    (dict(tau_period=0), "tau_period must be a positive number"),
    (dict(hard_fraction=1.2), r"hard_fraction must be a fraction in \[0, 1\]"),
    (dict(policy_steps=0), "policy_steps must be a positive int"),
    (dict(regularizer="l1"), "unknown SearchConfig.regularizer 'l1'"),
    (dict(regularizer="resource"), "needs a budget"),
    (dict(budget=-1.0), "budget must be None or a positive number"),
    (dict(step_mode="sequential"), "unknown SearchConfig.step_mode"),
    (dict(discretize="top1"), "unknown SearchConfig.discretize"),
    (dict(post_init="imagenet"), "unknown SearchConfig.post_init"),
    (dict(device="gpu"), "device must be"),
])
def test_bad_config_values_raise_specific_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        SearchConfig(**kw)


def test_unknown_preset_and_bad_scaling():
    with pytest.raises(ConfigError, match="unknown preset 'kitti'"):
        SearchConfig.preset("kitti")
    with pytest.raises(ConfigError, match="policy_train_iterations must be a positive int"):
        SearchConfig().scaled(0)


def test_config_errors_that_need_the_model(scenes):
    sm = make_sm()
    data = make_data(scenes)
    with pytest.raises(ConfigError, match="loss_weights names task"):
        PolicyTrainer(sm, data, cfg(loss_weights={"edge_texture": 1.0}))
    with pytest.raises(ConfigError, match=r"below what any policy can reach: the minimum is 0\.\d+"):
        PolicyTrainer(sm, data, cfg(regularizer="resource", budget=0.01))
    with pytest.raises(ConfigError, match="config must be a SearchConfig"):
        policy_train(sm, data, {"iterations": 3})


# --------------------------------------------------------------------------------------------------------- data
def test_missing_splits_and_tasks_raise_specific_errors(scenes):
    sm = make_sm()
    data = make_data(scenes)
    no_train2 = {k: v for k, v in data.items() if k != "train2"}
    with pytest.raises(ConfigError, match="data has no 'train2' split, which the policy iterations"):
        policy_train(sm, no_train2, cfg())
    with pytest.raises(ConfigError, match="data has no 'train' split"):
        pre_train(sm, {k: v for k, v in data.items() if k != "train"}, cfg(pre_train_iterations=2))
    per_task = dict(data, train1={"segment_semantic": data["train1"], "normal": data["train1"]})
    with pytest.raises(ConfigError, match=r"data\['train1'\] has no loader for task\(s\) \['depth_zbuffer'\]"):
        policy_train(sm, per_task, cfg())
    with pytest.raises(ConfigError, match="unknown split 'val'"):
        policy_train(sm, dict(data, val=data["test"]), cfg())
    seg_only = DataLoader(SynthScenes("train2", size=4, resolution=32, tasks=("segment_semantic",)), batch_size=2)
    with pytest.raises(ConfigError, match=r"data\['train2'\] for task 'depth_zbuffer': its dataset provides only"):
        policy_train(sm, dict(data, train2=seg_only), cfg())
    with pytest.raises(ConfigError, match="must be a DataLoader or a dict"):
        policy_train(sm, dict(data, train1=[1, 2]), cfg())


# -------------------------------------------------------------------------------------------------- alternation
@pytest.mark.parametrize("step_mode", ["summed", "per_task"])
@pytest.mark.parametrize("freeze", [True, False])
def test_policy_iterations_touch_only_logits_and_network_iterations_only_weights(scenes, step_mode, freeze):
    sm = make_sm()
    config = cfg(step_mode=step_mode, policy_steps=2, network_steps=3, regularizer="both", budget=1.2)
    trainer = PolicyTrainer(sm, make_data(scenes), config, freeze_inactive=freeze)
    n_logits, n_weights = len(sm.logits), len(dict(sm.named_parameters())) - len(sm.logits)
    for i in range(7):
        before = params_of(sm)
        logs = trainer.step(i)
        after = params_of(sm)
        logits_changed, weights_changed = changed(before[0], after[0]), changed(before[1], after[1])
        if config.is_policy_step(i):  # i = 0, 1, 5, 6
            assert logs["phase"] == 1.0 and not weights_changed
            assert len(logits_changed) == n_logits
        else:
            assert logs["phase"] == 0.0 and not logits_changed
            assert len(weights_changed) > n_weights // 2  # every trained branch moves (some skips are unused)
    assert [config.is_policy_step(i) for i in range(7)] == [True, True, False, False, False, True, True]
    assert all(p.requires_grad for p in sm.parameters())  # unfrozen after each step


def test_tau_and_policy_lr_follow_the_schedule(scenes):
    sm = make_sm()
    config = cfg(policy_train_iterations=12, tau_period=2, policy_lr_drop_at=6)
    trainer = PolicyTrainer(sm, make_data(scenes), config)
    taus = []
    for i in range(12):
        logs = trainer.step(i)
        taus.append(logs["tau"])
        if config.is_policy_step(i):
            assert logs["lr"] == (0.01 if i < 6 else 0.001)
    assert trainer.schedule["policy_iterations"] == config.n_policy_steps == 6
    assert trainer.schedule["tau"] == pytest.approx(config.final_tau) == pytest.approx(5 * 0.965 ** 3)
    assert taus[0] == 5.0 and taus[4] == pytest.approx(5 * 0.965)  # iteration 4 follows 2 policy iterations


def test_hard_phase_uses_straight_through_samples(scenes):
    sm = make_sm()
    config = cfg(hard_fraction=0.5)
    trainer = PolicyTrainer(sm, make_data(scenes), config)
    flags = [trainer.step(i)["hard"] for i in range(8)]
    assert flags == [0.0] * 4 + [1.0] * 4 and config.hard_from == 4


# ------------------------------------------------------------------------------------------- resume, determinism
class Bomb(Dataset):
    """Raises after ``fuse`` items: a crash in the middle of policy-train."""

    def __init__(self, base, fuse):
        self.base, self.fuse = base, fuse

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        self.fuse -= 1
        if self.fuse < 0:
            raise RuntimeError("killed")
        return self.base[i]


def test_resume_after_a_crash_equals_an_uninterrupted_run(scenes, tmp_path):
    config = cfg(policy_train_iterations=9, checkpoint_every=3)
    ref_sm = make_sm()
    ref = policy_train(ref_sm, make_data(scenes), config, run_dir=tmp_path / "ref", progress=False)

    # crash during iteration 6 or so (train1 and train2 each draw 4 items per iteration; a checkpoint exists at 3)
    crashed_sm = make_sm()
    bombed = make_data(scenes, wrap=lambda split, ds: Bomb(ds, fuse=4 * 3 + 1) if split == "train1" else ds)
    with pytest.raises(RuntimeError, match="killed"):
        policy_train(crashed_sm, bombed, config, run_dir=tmp_path / "run", progress=False)
    ckpt_iter = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["iteration"]
    assert ckpt_iter in (3, 6)
    resumed_sm = make_sm(seed=123)  # a fresh process: other weights until the checkpoint is loaded
    resumed = policy_train(resumed_sm, make_data(scenes), config, run_dir=tmp_path / "run", progress=False)
    assert resumed.history.resumed_from == ckpt_iter
    for (a, b) in zip(params_of(ref_sm), params_of(resumed_sm)):
        assert not changed(a, b)
    assert [r["tau"] for r in ref.snapshots] == [r["tau"] for r in resumed.snapshots]
    with open(tmp_path / "run" / POLICY_LOG) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(ref.snapshots) == (1 + 9 // 2 + 1) * len(ref_sm.nodes) * 3
    assert [float(r["p_shared"]) for r in rows] == pytest.approx([r["p_shared"] for r in ref.snapshots], abs=1e-12)
    # a finished run returns at once with its final state
    again_sm = make_sm(seed=5)
    again = policy_train(again_sm, make_data(scenes), config, run_dir=tmp_path / "run", progress=False)
    assert again.history.resumed_from == 9 and not changed(params_of(ref_sm)[0], params_of(again_sm)[0])


def test_resume_refuses_a_changed_configuration(scenes, tmp_path):
    policy_train(make_sm(), make_data(scenes), cfg(), run_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="holds a checkpoint of a different run"):
        policy_train(make_sm(), make_data(scenes), cfg(reg_weight=0.5), run_dir=tmp_path, progress=False)


def test_the_same_seed_gives_the_same_policy_twice(scenes):
    results = []
    for _ in range(2):
        sm = make_sm()
        policy_train(sm, make_data(scenes), cfg(), progress=False)
        results.append((sm.sample_policy(10), {k: v.detach().clone() for k, v in sm.logits.items()}))
    assert results[0][0] == results[1][0]
    assert not changed(results[0][1], results[1][1])
    sm = make_sm()
    policy_train(sm, make_data(scenes), cfg(seed=1), progress=False)
    assert changed(results[0][1], {k: v.detach() for k, v in sm.logits.items()})  # another seed: other logits


# ------------------------------------------------------------------------------------------------------ stages
def test_pre_train_trains_weights_in_mean_mode_and_leaves_the_logits(scenes):
    sm = make_sm()
    before = params_of(sm)
    assert pre_train(sm, make_data(scenes), cfg(pre_train_iterations=0)) is None
    history = pre_train(sm, make_data(scenes), cfg(pre_train_iterations=2), progress=False)
    after = params_of(sm)
    assert history.iterations == 2
    assert not changed(before[0], after[0]) and changed(before[1], after[1])


def test_policy_log_has_one_row_per_snapshot_node_and_task(scenes):
    sm = make_sm()
    result = policy_train(sm, make_data(scenes), cfg(), progress=False)
    frame = result.snapshot_frame()
    assert list(frame.columns) == ["iteration", "node", "task", "p_shared", "p_specific", "p_skip", "tau"]
    assert sorted(frame["iteration"].unique()) == [0, 2, 4, 6, 8]
    assert len(frame) == 5 * len(sm.nodes) * 3
    two_way = [v.name for v in sm.nodes if len(v.choices) == 2]
    assert frame[frame["node"].isin(two_way)]["p_skip"].isna().all()
    sums = frame[["p_shared", "p_specific", "p_skip"]].fillna(0).sum(axis=1)
    assert sums.to_numpy() == pytest.approx(1.0)
    assert frame[frame["iteration"] == 0]["p_shared"].to_numpy() == pytest.approx(
        [0.5 if n in two_way else 1 / 3 for n in frame[frame["iteration"] == 0]["node"]])


def test_discretize_sample_argmax_and_best_of(scenes):
    sm = make_sm()
    data = make_data(scenes)
    with torch.no_grad():
        for p in sm.logits.values():
            p.normal_()
    config = cfg(n_samples=4, select_batches=2)
    assert discretize(sm, config, method="sample").policy == sm.sample_policy(10)
    assert discretize(sm, config, method="argmax").policy == sm.argmax_policy()
    with pytest.raises(ConfigError, match="needs data"):
        discretize(sm, config, method="best_of")
    with pytest.raises(ConfigError, match="unknown discretization method"):
        discretize(sm, config, method="topk")
    state = copy.deepcopy(sm.state_dict())
    best = discretize(sm, config, data, method="best_of")
    assert [c["seed"] for c in best.candidates] == [10, 11, 12, 13]
    assert best.policy == min(best.candidates, key=lambda c: c["score"])["policy"]
    scores = score_policies(sm, [c["policy"] for c in best.candidates], data, config)
    assert scores == pytest.approx([c["score"] for c in best.candidates])  # same batches every time
    for k, v in sm.state_dict().items():  # BN running statistics restored
        if torch.is_tensor(v):
            assert torch.equal(v, state[k]), k
    budget = sorted(c["cost"] for c in best.candidates)[0]
    within = discretize(sm, config.replace(regularizer="resource", budget=budget), data, method="best_of")
    assert within.candidates and min(within.candidates, key=lambda c: c["cost"])["policy"] == within.policy


def test_post_train_from_scratch_or_fine_tuned(scenes):
    sm = make_sm()
    data = make_data(scenes)
    policy = sm.uniform_policy("shared")
    policy["layer2.0.conv2"] = dict.fromkeys(sm.tasks, "specific")
    fine = post_train(sm, policy, data, cfg(post_init="finetune", post_train_iterations=0))
    x = scenes[1][0]["image"][None]
    sm.eval(), fine.model.eval()
    with torch.no_grad():
        ref = sm(x, mode="hard", policy=policy)
        assert all(torch.equal(fine.model(x)[t], ref[t]) for t in sm.tasks)
    scratch = post_train(sm, policy, data, cfg(post_train_iterations=3), progress=False)
    assert scratch.history.iterations == 3 and set(scratch.metrics) == set(TASKS)
    assert scratch.params["full"] == sum(p.numel() for p in scratch.model.parameters())
    assert scratch.params["full"] < scratch.params["full_baseline"]


def test_search_runs_every_stage_and_resumes_from_its_run_dir(scenes, tmp_path):
    config = cfg(pre_train_iterations=2, discretize="best_of", n_samples=3, select_batches=1)
    result = search(make_sm(), make_data(scenes), config, run_dir=tmp_path, progress=False)
    assert result.history["pre_train"].iterations == 2
    assert result.history["policy_train"].history.iterations == 8
    assert result.history["post_train"].iterations == 2
    assert result.policy == result.discretization.policy and len(result.discretization.candidates) == 3
    assert (tmp_path / "policy.json").is_file() and (tmp_path / "policy_train" / POLICY_LOG).is_file()
    assert set(result.metrics) == set(TASKS) and 1.0 <= result.cost <= 3.0
    again = search(make_sm(seed=7), make_data(scenes), config, run_dir=tmp_path, progress=False)
    assert again.policy == result.policy
    assert again.history["policy_train"].history.resumed_from == 8
    assert again.history["post_train"].resumed_from == 2
