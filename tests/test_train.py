"""Training loop: exact resume with a shuffling loader, atomic checkpoints, NaN detection, DDP == one process."""
from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from ddp_worker import StandInTask, ToyScenes, make_tasks, run_reference
from mtlkit.backbones import get_backbone
from mtlkit.errors import ConfigError, DataError, TrainingDiverged
from mtlkit.heads import get_head
from mtlkit.models import MultiTaskModel
from mtlkit.train import (
    CHECKPOINT_NAME, TRAIN_LOG, DataStream, TrainConfig, evaluate, load_checkpoint, resolve_device, run_loop,
    seed_everything, shard_batch, train,
)



HERE = Path(__file__).resolve().parent


def _model(seed: int = 0) -> MultiTaskModel:
    """tiny_cnn (BN buffers) + a tiny ASPP head (dropout: exercises the RNG restore) + a light head."""
    torch.manual_seed(seed)
    return MultiTaskModel(get_backbone("tiny_cnn", width=8),
                          {"segment_semantic": get_head("aspp", 16, 3, width=4, rates=(1, 2)),
                           "depth_zbuffer": get_head("light", 16, 1, width=8)})


def _loaders(mode: str):
    data = ToyScenes(n=10, size=16, augment=True)  # 3 batches of 4 per epoch (last one has 2)
    if mode == "joint":
        return DataLoader(data, batch_size=4, shuffle=True)
    return {t: DataLoader(data, batch_size=4, shuffle=True) for t in ToyScenes.tasks}


CONFIG = TrainConfig(iterations=10, lr=1e-2, checkpoint_every=3, log_every=1, seed=3, lr_step=4, lr_gamma=0.5,
                     loss_weights={"depth_zbuffer": 2.0})


@pytest.mark.parametrize("mode", ["joint", "dict"])
def test_interrupted_run_resumes_to_identical_weights(tmp_path, mode):
    torch.manual_seed(0)
    full = _model()
    hist_full = train(full, make_tasks(), _loaders(mode), CONFIG, run_dir=tmp_path / "full", progress=False)
    rng_full = torch.get_rng_state()

    torch.manual_seed(0)
    crashed = _model()
    with pytest.raises(RuntimeError, match="simulated crash"):  # dies in iteration 8; last checkpoint at 6
        train(crashed, make_tasks(crash_at=8), _loaders(mode), CONFIG, run_dir=tmp_path / "resumed", progress=False)
    assert load_checkpoint(tmp_path / "resumed" / CHECKPOINT_NAME)["iteration"] == 6

    fresh = _model(seed=123)  # different init: everything must come from the checkpoint
    hist = train(fresh, make_tasks(), _loaders(mode), CONFIG, run_dir=tmp_path / "resumed", progress=False)
    assert hist.resumed_from == 6
    for (k, a), b in zip(full.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), k
    assert torch.equal(rng_full, torch.get_rng_state())
    # the CSV holds every iteration exactly once, with the same losses
    cols = ["iteration", "loss", "loss/segment_semantic", "loss/depth_zbuffer", "lr"]
    assert [[r[c] for c in cols] for r in hist.train] == [[r[c] for c in cols] for r in hist_full.train]
    assert hist.train_frame()["iteration"].tolist() == list(range(1, 11))
    # StepLR(4, 0.5) stepped once per iteration; a row logs the lr its iteration used
    assert hist.train_frame()["lr"].tolist() == [1e-2] * 4 + [5e-3] * 4 + [2.5e-3] * 2
    assert not [p for p in (tmp_path / "resumed").iterdir() if ".tmp" in p.name]


def test_finished_run_resumes_as_a_no_op_and_resume_false_restarts(tmp_path):
    model = _model()
    train(model, make_tasks(), _loaders("joint"), CONFIG, run_dir=tmp_path, progress=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hist = train(model, make_tasks(), _loaders("joint"), CONFIG, run_dir=tmp_path, progress=False)
    assert hist.resumed_from == 10 and len(hist.train) == 10
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    hist = train(_model(), make_tasks(), _loaders("joint"), dataclasses.replace(CONFIG, iterations=2),
                 run_dir=tmp_path, resume=False, progress=False)
    assert hist.resumed_from == 0 and (tmp_path / TRAIN_LOG).read_text().count("\n") == 3  # header + 2 rows


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path):
    cfg = TrainConfig(iterations=2, seed=0, checkpoint_every=0)
    train(_model(), make_tasks(), _loaders("joint"), cfg, run_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match=r"different run \(lr: 0.001 -> 0.01\)"):
        train(_model(), make_tasks(), _loaders("joint"), dataclasses.replace(cfg, lr=0.01), run_dir=tmp_path,
              progress=False)
    with pytest.raises(ConfigError, match="loaders: 'joint' -> 'per-task'"):
        train(_model(), make_tasks(), _loaders("dict"), cfg, run_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match=r"data: \{'joint': \[10, 4\]\} -> \{'joint': \[10, 2\]\}"):
        train(_model(), make_tasks(), DataLoader(ToyScenes(n=10, size=16), batch_size=2), cfg, run_dir=tmp_path,
              progress=False)
    other = MultiTaskModel(get_backbone("tiny_cnn", width=4), {t: get_head("linear", 8, k.out_channels)
                                                               for t, k in make_tasks().items()})
    with pytest.raises(ConfigError, match="state 'model' does not fit"):
        train(other, make_tasks(), _loaders("joint"), dataclasses.replace(cfg, iterations=3), run_dir=tmp_path,
              progress=False)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A crash while writing leaves the previous checkpoint intact and no temp file."""
    calls = {"n": 0}
    real_save = torch.save

    def flaky_save(obj, f, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            f.write(b"partial")
            raise OSError("disk full")
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", flaky_save)
    cfg = TrainConfig(iterations=6, checkpoint_every=3, log_every=0, seed=0)
    with pytest.raises(OSError, match="disk full"):
        train(_model(), make_tasks(), _loaders("joint"), cfg, run_dir=tmp_path, progress=False)
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["iteration"] == 3
    # no temp file left behind (".lock" is the run-dir lock of run_loop, empty by design)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", CHECKPOINT_NAME, TRAIN_LOG]


def test_run_loop_restores_plain_dict_state_and_streams(tmp_path):
    """The generic loop (as AutoMTL's stages use it): extra state dicts and data streams come back on resume."""
    def run(stop_at=None):
        sched = {"tau": 5.0}
        stream = DataStream(DataLoader(list(range(7)), batch_size=2, shuffle=True), seed=1, name="toy")
        seen = []

        def step(i):
            if i == stop_at:
                raise KeyboardInterrupt
            sched["tau"] *= 0.5
            seen.append(stream.next().tolist())
            return {"tau": sched["tau"]}

        hist = run_loop(step, iterations=9, state={"sched": sched}, streams={"toy": stream}, run_dir=tmp_path,
                        checkpoint_every=2, progress=False)
        return seen, sched, hist

    full_seen, full_sched, _ = run()
    for p in tmp_path.iterdir():
        p.unlink()
    with pytest.raises(KeyboardInterrupt):
        run(stop_at=5)
    seen, sched, hist = run()
    assert seen == full_seen[4:] and sched == full_sched and hist.resumed_from == 4
    # every epoch is a permutation of the 7 items
    flat = [x for b in full_seen for x in b]
    assert sorted(flat[:7]) == list(range(7)) and flat[:7] != flat[7:14]


def test_nan_loss_raises_training_diverged_naming_task_and_iteration():
    with pytest.raises(TrainingDiverged, match=r"task 'depth_zbuffer' is nan at iteration 3"):
        train(_model(), make_tasks(nan_at=3), _loaders("joint"), TrainConfig(iterations=5, seed=0), progress=False)
    with pytest.raises(TrainingDiverged, match=r"task 'depth_zbuffer' is nan at iteration 2"):
        train(_model(), make_tasks(nan_at=2), _loaders("dict"), TrainConfig(iterations=5, seed=0), progress=False)


def test_evaluate_restores_modes_and_rng():
    model = _model()
    model.train()
    model.heads["depth_zbuffer"].bn.eval()  # a frozen BN stays frozen
    rng = torch.get_rng_state()
    out = evaluate(model, make_tasks(), DataLoader(ToyScenes(n=6, size=16), batch_size=4))
    assert set(out) == {"segment_semantic", "depth_zbuffer"} and all("loss" in m for m in out.values())
    assert model.training and not model.heads["depth_zbuffer"].bn.training
    assert torch.equal(rng, torch.get_rng_state())


def test_train_with_eval_loader_logs_metrics(tmp_path):
    cfg = TrainConfig(iterations=4, eval_every=2, log_every=2, seed=0, checkpoint_every=0)
    hist = train(_model(), make_tasks(), _loaders("joint"), cfg, run_dir=tmp_path, progress=False,
                 eval_loader=DataLoader(ToyScenes(n=4, size=16), batch_size=4))
    assert [r["iteration"] for r in hist.eval] == [2, 4]
    assert "depth_zbuffer/loss" in hist.eval_frame().columns
    assert (tmp_path / "eval_log.csv").read_text().startswith("iteration,")


def test_forward_kw_and_params_are_honoured():
    class Recording(MultiTaskModel):
        def forward(self, x, tasks=None, mode="hard"):
            self.modes.add(mode)
            return super().forward(x, tasks)

    torch.manual_seed(0)
    model = Recording(get_backbone("tiny_cnn", width=8), {t: get_head("linear", 16, k.out_channels)
                                                          for t, k in make_tasks().items()})
    model.modes = set()
    backbone_before = [p.clone() for p in model.backbone.parameters()]
    cfg = TrainConfig(iterations=2, seed=0, checkpoint_every=0, weight_decay=0.0)
    train(model, make_tasks(), _loaders("dict"), cfg, progress=False, forward_kw={"mode": "mean"},
          params=list(model.heads.parameters()))
    assert model.modes == {"mean"}
    assert all(torch.equal(a, b) for a, b in zip(backbone_before, model.backbone.parameters()))
    with pytest.raises(ConfigError, match="no parameters to optimise"):
        train(model, make_tasks(), _loaders("joint"), cfg, progress=False, params=[])


def test_config_and_argument_errors():
    with pytest.raises(ConfigError, match="unknown optimizer 'lamb'.*adam, adamw, sgd"):
        TrainConfig(optimizer="lamb")
    with pytest.raises(ConfigError, match="iterations must be a positive int, got 0"):
        TrainConfig(iterations=0)
    with pytest.raises(ConfigError, match="device must be 'cpu', 'cuda' or 'cuda:N', got 'gpu'"):
        TrainConfig(device="gpu")
    with pytest.raises(ConfigError, match=r"loss_weights\['depth_zbuffer'\]"):
        TrainConfig(loss_weights={"depth_zbuffer": -1})
    with pytest.raises(Exception):
        CONFIG.lr = 3  # frozen
    model, tasks = _model(), make_tasks()
    with pytest.raises(ConfigError, match="not trained"):
        train(model, tasks, _loaders("joint"), TrainConfig(loss_weights={"normal": 1.0}), progress=False)
    with pytest.raises(ConfigError, match=r"missing \['segment_semantic'\]"):
        train(model, tasks, {"depth_zbuffer": _loaders("joint")}, TrainConfig(), progress=False)
    with pytest.raises(ConfigError, match="must not be empty"):
        train(model, {}, _loaders("joint"), TrainConfig(), progress=False)
    wrong = {"segment_semantic": StandInTask("segment_semantic"), "depth_zbuffer": StandInTask("depth_zbuffer")}
    wrong["depth_zbuffer"].out_channels = 3
    with pytest.raises(ConfigError, match="task 'depth_zbuffer' outputs 1 channels"):
        train(model, wrong, _loaders("joint"), TrainConfig(), progress=False)
    empty = DataLoader(ToyScenes(n=3), batch_size=4, drop_last=True)
    with pytest.raises(DataError, match="yields no batches"):
        train(model, tasks, empty, TrainConfig(iterations=1), progress=False)


def test_devices_and_seeding():
    assert resolve_device("cpu") == torch.device("cpu")
    for bad in ("gpu", "cuda:x", "cpu:0", ""):
        with pytest.raises(ConfigError, match="device must be"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="is_available"):
            resolve_device("cuda")
    g = seed_everything(7)
    a = torch.randn(3)
    seed_everything(7)
    assert torch.equal(a, torch.randn(3)) and g.initial_seed() == 7
    with pytest.raises(ConfigError, match="seed"):
        seed_everything(-1)


def test_shard_batch():
    batch = {"image": torch.arange(5), "names": list("abcde")}
    parts = [shard_batch(batch, r, 2) for r in range(2)]
    assert torch.cat([p["image"] for p in parts]).tolist() == list(range(5))
    assert parts[0]["names"] + parts[1]["names"] == list("abcde")
    with pytest.raises(DataError, match="cannot be split over 8"):
        shard_batch(batch, 0, 8)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_ddp_two_cpu_processes_match_one_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE)}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(HERE / "ddp_worker.py"), str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for mode in ("joint", "dict"):
        run_reference(mode, tmp_path / "one" / mode)
        one = load_checkpoint(tmp_path / "one" / mode / CHECKPOINT_NAME)["state"]["model"]
        two = load_checkpoint(tmp_path / "ddp" / mode / CHECKPOINT_NAME)["state"]["model"]
        assert one.keys() == two.keys()
        for k in one:
            torch.testing.assert_close(two[k], one[k], rtol=1e-5, atol=1e-6, msg=f"{mode}: {k}")
        # rank 0 alone wrote the log; its losses are averaged over the ranks, so they match one process too
        logs = [(tmp_path / d / mode / TRAIN_LOG).read_text().splitlines() for d in ("one", "ddp")]
        assert len(logs[1]) == 5 and logs[0][0] == logs[1][0]
        for row_one, row_two in zip(logs[0][1:], logs[1][1:]):
            a, b = (torch.tensor([float(v) for v in r.split(",")[:-1]]) for r in (row_one, row_two))
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_two_processes_sharing_a_run_dir_train_it_once(tmp_path):
    """The run-dir lock: the second process waits, then resumes the finished run (same weights, one log)."""
    import json
    import subprocess
    import sys

    worker = Path(__file__).with_name("lock_worker.py")
    run = tmp_path / "shared_run"
    procs = [subprocess.Popen([sys.executable, str(worker), str(run)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(o["resumed_from"] for o in outs) == [0, 20]  # one trained, the other found it finished
    assert outs[0]["w"] == outs[1]["w"]
    rows = (run / "train_log.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 20  # header + one row per iteration, written by one process only
