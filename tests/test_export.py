"""Export: derived AutoMTL models and TreeMTL TreeModels to torch.export (.pt2) and ONNX, equal to eager within 1e-5
for every task; deployable run folders, ``python -m mtlkit export``, and the refusal of an unfinished run."""
from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from mtlkit.__main__ import main as cli
from mtlkit.automtl import SuperModel
from mtlkit.backbones import get_backbone
from mtlkit.errors import ConfigError
from mtlkit.export import ExportMismatch, export_model, export_run, load_exported, save_deployable
from mtlkit.heads import get_head
from mtlkit.treemtl import Layout, TreeModel, branching_points, coarsen

HAVE_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="the optional 'export' extra (onnx, onnxscript, onnxruntime) "
                                                      "is not installed: pip install 'mtlkit[export]'")
X = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _heads(c=16):
    return {"seg": get_head("light", c, 6, width=8), "depth": get_head("light", c, 1, width=8)}


def _derived():
    torch.manual_seed(0)
    sm = SuperModel.from_backbone(get_backbone("tiny_resnet", width=8), _heads(), X).eval()
    policy = sm.sample_policy(seed=2)
    assert len({c for row in policy.values() for c in row.values()}) > 1  # a mixed tree, not one backbone
    return sm.derive(policy).eval()


def _tree():
    torch.manual_seed(0)
    net = get_backbone("tiny_resnet", width=8)
    blocks = coarsen(branching_points(net, X), 3)
    model = TreeModel.from_layout(net, blocks, Layout.from_branch_points(2, 3, [1]), _heads()).eval()
    with torch.no_grad():  # own weights per copy, so a wrong routing in the export would show
        for p in model.copies.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _check_file(path, model):
    with torch.no_grad():
        want = model(X)
    got = load_exported(path)(X)
    assert list(got) == list(want)
    for t in want:
        torch.testing.assert_close(got[t], want[t], rtol=0, atol=1e-5)


@pytest.mark.parametrize("build", [_derived, _tree], ids=["derived", "tree"])
def test_torch_export_round_trip(tmp_path, build):
    model = build()
    report = export_model(model, X, tmp_path / "m.pt2", "pt2")
    assert report.tasks == ("seg", "depth") and max(report.max_abs_diff.values()) <= 1e-5
    _check_file(tmp_path / "m.pt2", model)
    assert not model.training  # mode restored


@needs_onnx
@pytest.mark.parametrize("build", [_derived, _tree], ids=["derived", "tree"])
def test_onnx_round_trip(tmp_path, build):
    model = build()
    report = export_model(model, X, tmp_path / "m.onnx", "onnx")
    assert report.format == "onnx" and max(report.max_abs_diff.values()) <= 1e-5
    _check_file(tmp_path / "m.onnx", model)
    assert load_exported(tmp_path / "m.onnx").tasks == ("seg", "depth")


def test_deployable_run_and_the_command_line(tmp_path, capsys):
    model = _derived()
    run = tmp_path / "run"
    save_deployable(model, run, X, info={"scale": "smoke"})
    assert (run / "deploy" / "deployable.json").is_file()
    assert cli(["export", str(run), "--format", "pt2"]) == 0
    assert "max |exported - eager| per task: seg:" in capsys.readouterr().out
    _check_file(run / "deploy" / "model.pt2", model)
    if HAVE_ONNX:
        report = export_run(run, "onnx", tmp_path / "out" / "m.onnx")
        assert report.path.is_file() and max(report.max_abs_diff.values()) <= 1e-5
        _check_file(report.path, model)


def test_an_unfinished_run_is_refused_naming_what_it_holds(tmp_path, capsys):
    run = tmp_path / "search"
    (run / "post_train").mkdir(parents=True)
    (run / "policy.json").write_text("{}")
    torch.save({"iteration": 3}, run / "post_train" / "checkpoint.pt")
    with pytest.raises(ConfigError, match=r"run .*search' is not finished .*deploy/deployable.json' is missing \(the "
                                          r"folder holds: policy.json, post_train/checkpoint.pt \(at iteration 3\)\)"):
        export_run(run, "pt2")
    assert cli(["export", str(run)]) == 2
    assert "is not finished" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="run folder .* not found"):
        export_run(tmp_path / "nowhere")


def test_bad_input_and_a_mismatch_are_named(tmp_path):
    model = _derived()
    with pytest.raises(ConfigError, match="format must be one of pt2, onnx, got 'tflite'"):
        export_model(model, X, tmp_path / "m", "tflite")
    with pytest.raises(ConfigError, match=r"example_input must be a float tensor \(N, 3, H, W\)"):
        export_model(model, torch.zeros(3, 32, 32), tmp_path / "m.pt2")
    with pytest.raises(ConfigError, match="must return a non-empty dict"):
        export_model(nn.Conv2d(3, 2, 1), X, tmp_path / "m.pt2")

    class Noisy(nn.Module):  # eager differs from call to call: the check must catch it
        def forward(self, x):
            return {"a": x + torch.rand(())}

    with pytest.raises(ExportMismatch, match="task 'a' by"):
        export_model(Noisy(), X, tmp_path / "n.pt2")
