"""Deploying what a search found: ``torch.export`` programs and ONNX files, checked against eager outputs.

A finished model — AutoMTL's derived compact model (:func:`mtlkit.automtl.derive`, what ``search(...).model`` is) or
TreeMTL's :class:`~mtlkit.treemtl.TreeModel` — becomes a **deployable run folder** with :func:`save_deployable`::

    RUN_DIR/deploy/model.pt2          the torch.export program (eval mode, fixed input shape), no pickled code
    RUN_DIR/deploy/reference.pt       the example input and the eager outputs on it (tensors only)
    RUN_DIR/deploy/deployable.json    tasks, input shape, kind, what produced it  (written last: "finished")

and then exports to a file anyone can run, from Python or the command line::

    python -m mtlkit export RUN_DIR --format onnx     # RUN_DIR/deploy/model.onnx, checked with onnxruntime
    python -m mtlkit export RUN_DIR --format pt2      # RUN_DIR/deploy/model.pt2 re-loaded and checked

Every export is checked: the exported model's outputs on the example input equal the eager model's within ``atol``
(1e-5) for every task, else :class:`ExportMismatch` names the task and the difference. A folder without
``deployable.json`` (a run that has not finished, or was never saved) is refused naming what the folder holds.

ONNX uses the dynamo-based exporter (``torch.onnx.export(..., dynamo=True)``) and needs the optional ``export``
extra (``pip install mtlkit[export]``: onnx, onnxscript, onnxruntime); ``torch.export`` needs nothing else. Inputs and
outputs are named: ``image`` and one output per task, in the model's task order. The shape is the example input's
(batch 1 by default: the deployment case whose latency :mod:`mtlkit.treemtl.latency` measures).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from mtlkit.errors import ConfigError, MtlkitError

__all__ = ["save_deployable", "load_deployable", "export_model", "export_run", "load_exported", "ExportReport",
           "ExportMismatch", "FORMATS", "DEPLOY_DIR", "add_arguments", "main"]

FORMATS = ("pt2", "onnx")
DEPLOY_DIR = "deploy"
_META, _PROGRAM, _REFERENCE = "deployable.json", "model.pt2", "reference.pt"
_EXTRA_HINT = "pip install 'mtlkit[export]' (onnx, onnxscript, onnxruntime)"


class ExportMismatch(MtlkitError, RuntimeError):
    """An exported model's outputs differ from the eager model's beyond the tolerance."""


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and how closely it matches the eager model.

    Attributes:
        path: the file written.
        format: ``"pt2"`` or ``"onnx"``.
        tasks: the output names, in order.
        max_abs_diff: task → largest absolute difference to the eager outputs on the example input.
        input_shape: the input shape the program was exported for.
        seconds: export time.
    """

    path: Path
    format: str
    tasks: tuple[str, ...]
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    input_shape: tuple[int, ...] = ()
    seconds: float = 0.0

    def __str__(self) -> str:
        diffs = ", ".join(f"{t}: {d:.2e}" for t, d in self.max_abs_diff.items())
        return (f"{self.format} -> {self.path} (input {tuple(self.input_shape)}, {self.seconds:.1f} s); "
                f"max |exported - eager| per task: {diffs}")


# ---------------------------------------------------------------------------------------------------- helpers
def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def _eager_outputs(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """``model(x)`` in eval mode under ``no_grad`` (the model's mode is restored), checked to be ``{task: tensor}``."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        model.train(was)
    if not isinstance(out, Mapping) or not out or not all(isinstance(v, torch.Tensor) for v in out.values()):
        raise ConfigError(f"the model must return a non-empty dict {{task: tensor}} (a multi-task model), got "
                          f"{type(out).__name__}")
    return {str(k): v.detach().clone() for k, v in out.items()}


def _check_input(example_input: Any) -> torch.Tensor:
    if not isinstance(example_input, torch.Tensor) or example_input.dim() != 4 or not example_input.is_floating_point():
        got = tuple(example_input.shape) if isinstance(example_input, torch.Tensor) else type(example_input).__name__
        raise ConfigError(f"example_input must be a float tensor (N, 3, H, W), e.g. torch.zeros(1, 3, 64, 64); "
                          f"got {got}")
    return example_input


def _compare(got: Mapping[str, torch.Tensor], want: Mapping[str, torch.Tensor], atol: float, what: str
             ) -> dict[str, float]:
    if list(got) != list(want):
        raise ExportMismatch(f"{what} returns outputs {list(got)}, the eager model {list(want)}")
    diffs = {}
    for task, ref in want.items():
        out = got[task]
        if tuple(out.shape) != tuple(ref.shape):
            raise ExportMismatch(f"{what}: output {task!r} has shape {tuple(out.shape)}, eager {tuple(ref.shape)}")
        diffs[task] = float((out.float() - ref.float()).abs().max()) if ref.numel() else 0.0
    bad = {t: d for t, d in diffs.items() if not d <= atol}
    if bad:
        raise ExportMismatch(f"{what} differs from the eager model beyond atol={atol:g}: "
                             + ", ".join(f"task {t!r} by {d:.3g}" for t, d in bad.items()))
    return diffs


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_json(path: Path, payload: Mapping) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _kind(model: nn.Module) -> str:
    from mtlkit.treemtl.tree_model import TreeModel

    if isinstance(model, TreeModel):
        return "treemtl.TreeModel"
    if type(model).__name__ == "DerivedMultiTaskModel":
        return "automtl.DerivedMultiTaskModel"
    return type(model).__name__


def _program(model: nn.Module, x: torch.Tensor):
    """``torch.export`` of ``model`` in eval mode (its mode is restored)."""
    was = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.export(model, (x,))
    except Exception as exc:  # noqa: BLE001 - the exporter's failure, named
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"torch.export could not export {type(model).__name__}: {type(exc).__name__}: {msg}"
                          ) from exc
    finally:
        model.train(was)


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"ONNX export needs the optional 'export' extra ({exc.name} is missing): "
                          f"{_EXTRA_HINT}") from None
    return onnxruntime


def _onnx_file(program_or_model: Any, x: torch.Tensor, tasks: tuple[str, ...], path: Path) -> None:
    _require_onnx()
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    args = () if isinstance(program_or_model, torch.export.ExportedProgram) else (x,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(program_or_model, args, str(tmp), dynamo=True, input_names=["image"],
                          output_names=list(tasks), verbose=False, external_data=False)
    os.replace(tmp, path)


def load_exported(path: str | Path):
    """Load an exported model as a callable ``f(x) -> {task: tensor}``.

    Args:
        path: a ``.pt2`` (torch.export program) or ``.onnx`` file (run with onnxruntime on the CPU).

    Returns:
        The callable; ``.tasks`` lists the output names.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exported model {str(path)!r} not found (expected a .pt2 or .onnx file)")
    if path.suffix == ".pt2":
        module = torch.export.load(str(path)).module()

        def run(x: torch.Tensor) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                return dict(module(x))
        run.tasks = None
        return run
    if path.suffix == ".onnx":
        ort = _require_onnx()
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = tuple(o.name for o in session.get_outputs())
        input_name = session.get_inputs()[0].name

        def run_onnx(x: torch.Tensor) -> dict[str, torch.Tensor]:
            outs = session.run(None, {input_name: x.detach().cpu().numpy()})
            return {n: torch.from_numpy(o) for n, o in zip(names, outs)}
        run_onnx.tasks = names
        return run_onnx
    raise ConfigError(f"exported model {str(path)!r}: expected a .pt2 or .onnx file, got suffix {path.suffix!r}")


# ---------------------------------------------------------------------------------------------------- public API
def export_model(model: nn.Module, example_input: torch.Tensor, path: str | Path, format: str = "pt2", *,
                 atol: float = 1e-5) -> ExportReport:
    """Export a multi-task model and check the file against the eager model.

    Args:
        model: ``forward(x) -> {task: tensor}`` (a derived model, a TreeModel, any multi-task model); exported in
            eval mode (its mode is restored), on the CPU or the model's device.
        example_input: the input the program is exported for (its shape is fixed), e.g. ``torch.zeros(1, 3, H, W)``.
        path: the file to write (``.pt2`` or ``.onnx``; written atomically).
        format: ``"pt2"`` (``torch.export``) or ``"onnx"`` (dynamo exporter, checked with onnxruntime).
        atol: largest accepted absolute difference per output element.

    Returns:
        The :class:`ExportReport`.

    Raises:
        ConfigError: bad format/input, a model that does not return a dict of tensors, a missing ``export`` extra
            for ONNX, or a model ``torch.export`` cannot export.
        ExportMismatch: the exported outputs differ from eager beyond ``atol``.
    """
    _check_format(format)
    x = _check_input(example_input)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be an nn.Module, got {type(model).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    want = _eager_outputs(model, x)
    tasks = tuple(want)
    program = _program(model, x)
    if format == "pt2":
        tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
        torch.export.save(program, str(tmp))
        os.replace(tmp, path)
        got = load_exported(path)(x)
    else:
        _onnx_file(program, x, tasks, path)
        got = load_exported(path)(x.cpu())
        want = {t: v.cpu() for t, v in want.items()}
    diffs = _compare(got, want, atol, f"the exported {format} file {str(path)!r}")
    return ExportReport(path, format, tasks, diffs, tuple(x.shape), time.perf_counter() - t0)


def save_deployable(model: nn.Module, run_dir: str | Path, example_input: torch.Tensor, *,
                    info: Mapping[str, Any] | None = None, atol: float = 1e-5) -> Path:
    """Make ``run_dir`` a deployable run: the ``torch.export`` program, reference outputs and ``deployable.json``.

    Call it when a run has finished (after ``search`` or after training a TreeModel); ``python -m mtlkit export
    RUN_DIR`` then works on the folder. Files go to ``run_dir/deploy/``; ``deployable.json`` is written last and
    atomically, so a killed call leaves a folder that is still "unfinished", never a half-written one.

    Args:
        model: the finished multi-task model.
        run_dir: the run's folder.
        example_input: the deployment input (shape fixed), e.g. ``torch.zeros(1, 3, H, W)``.
        info: plain JSON values to record (e.g. the policy's or layout's cost, the scale, the seed).
        atol: tolerance of the check of the program against eager.

    Returns:
        The ``deploy`` folder.
    """
    x = _check_input(example_input)
    folder = Path(run_dir) / DEPLOY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    report = export_model(model, x, folder / _PROGRAM, "pt2", atol=atol)
    reference = _eager_outputs(model, x)
    _atomic_save({"input": x.detach().cpu(), "outputs": {t: v.cpu() for t, v in reference.items()}},
                 folder / _REFERENCE)
    meta = {"format": 1, "kind": _kind(model), "tasks": list(report.tasks), "input_shape": list(x.shape),
            "params": int(sum(p.numel() for p in model.parameters())), "torch": torch.__version__,
            "info": json.loads(json.dumps(dict(info or {}), default=str))}
    _write_json(folder / _META, meta)
    return folder


def _describe(run_dir: Path) -> str:
    """What an unfinished run folder holds (for the error message)."""
    found = []
    for name in ("policy.json", "result.json", "grid.json"):
        if (run_dir / name).is_file():
            found.append(name)
    for ckpt in sorted(run_dir.rglob("checkpoint.pt"))[:4]:
        rel = ckpt.relative_to(run_dir)
        try:
            it = torch.load(ckpt, map_location="cpu", weights_only=True).get("iteration")
            found.append(f"{rel} (at iteration {it})")
        except Exception:  # noqa: BLE001 - only for the message
            found.append(str(rel))
    return ", ".join(found) if found else "no mtlkit run files"


def load_deployable(run_dir: str | Path) -> tuple[Any, dict, dict]:
    """Read a deployable run: ``(program, meta, reference)``.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder.
        ConfigError: the run is not finished (no ``deploy/deployable.json``; the message says what the folder holds)
            or its files are damaged.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {str(run_dir)!r} not found")
    folder = run_dir / DEPLOY_DIR
    meta_path = folder / _META
    if not meta_path.is_file():
        raise ConfigError(
            f"run {str(run_dir)!r} is not finished or was not saved for deployment: {str(meta_path)!r} is missing "
            f"(the folder holds: {_describe(run_dir)}). Finish the run, then call "
            f"mtlkit.export.save_deployable(model, {str(run_dir)!r}, example_input)")
    try:
        meta = json.loads(meta_path.read_text())
        program = torch.export.load(str(folder / _PROGRAM))
        reference = torch.load(folder / _REFERENCE, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged bundle, named
        raise ConfigError(f"deployable run {str(run_dir)!r} is damaged: {type(exc).__name__}: {exc}") from None
    return program, meta, reference


def export_run(run_dir: str | Path, format: str = "onnx", out: str | Path | None = None, *,
               atol: float = 1e-5) -> ExportReport:
    """Export a deployable run (see :func:`save_deployable`) to ``format`` and check it against the eager outputs.

    Args:
        run_dir: the run folder.
        format: ``"onnx"`` or ``"pt2"``.
        out: output file (default ``run_dir/deploy/model.<format>``).
        atol: tolerance.

    Returns:
        The :class:`ExportReport`.
    """
    _check_format(format)
    program, meta, reference = load_deployable(run_dir)
    x, want = reference["input"], reference["outputs"]
    folder = Path(run_dir) / DEPLOY_DIR
    path = Path(out) if out is not None else folder / f"model.{format}"
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if format == "pt2":
        if path.resolve() != (folder / _PROGRAM).resolve():
            shutil.copyfile(folder / _PROGRAM, path)
    else:
        _onnx_file(program, x, tuple(meta["tasks"]), path)
    got = load_exported(path)(x)
    diffs = _compare(got, want, atol, f"the exported {format} file {str(path)!r}")
    return ExportReport(path, format, tuple(meta["tasks"]), diffs, tuple(x.shape), time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m mtlkit export``."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder saved with mtlkit.export.save_deployable")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (default) or pt2 (torch.export)")
    parser.add_argument("--out", metavar="FILE", help="output file (default RUN_DIR/deploy/model.FORMAT)")
    parser.add_argument("--atol", type=float, default=1e-5, help="largest accepted |exported - eager| (1e-5)")


def main(args: argparse.Namespace) -> int:
    """Run ``export``: print the report, or a message on stderr and return 2."""
    try:
        print(export_run(args.run_dir, args.format, args.out, atol=args.atol))
        return 0
    except (MtlkitError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
