"""A run cache shared by notebooks and reproductions: train a configuration once, reuse it everywhere.

Several notebooks train the same models (e.g. the single-task references of Δt on SynthScenes at one scale and
seed). Each training run lives in a *run directory* (checkpoint + CSV logs, see :func:`mtlkit.train.train`); a
finished run that is started again returns at once with its final weights, and a killed one resumes from its last
checkpoint. :func:`run_dir` names that directory after everything that determines the result, so the second
notebook that asks for the same run gets the first one's weights, and a different configuration never collides:

* the caller's key (scale, seed, tasks, backbone, sizes, optimiser settings, ... — whatever defines the run);
* the code that computes the result (:func:`code_fingerprint`): the mtlkit modules the run depends on — by
  default :data:`CORE_CODE` (training loop, models, tasks and losses, data and their set-up) plus any the caller names in
  ``depends_on`` — and everything they import from mtlkit, followed statically through their ``import``
  statements and the module names of lazy imports (``"mtlkit.data.synthetic"`` in a package's table). Each module is hashed as its syntax tree with docstrings removed, so editing a docstring, a comment
  or the layout of the code keeps every cached run, while changing what the code does (a loss, a default, an
  operator) gives new run directories; a module no run depends on (the report, the figures) never matters;
* the environment that can change the numbers (:func:`environment`): torch's version, its intra-op thread count,
  whether deterministic algorithms are on, and the device.

The cache root is ``$MTLKIT_CACHE`` if set (``make run`` uses ``executed/<scale>/cache``, the tests a temporary
folder), else ``.mtlkit_cache/`` in the checkout (git-ignored), else ``~/.cache/mtlkit``. Delete it to start over.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Sequence

from mtlkit.files import atomic_write_text
from mtlkit.paths import cache_dir, package_dir

__all__ = ["CORE_CODE", "cache_root", "code_fingerprint", "code_modules", "environment", "run_dir", "key_hash"]

#: The modules every training run depends on (their imports are followed): loop, models, tasks, data, set-ups.
CORE_CODE = ("mtlkit.train", "mtlkit.models", "mtlkit.tasks", "mtlkit.data", "mtlkit.setups")


def cache_root() -> Path:
    """The folder run directories are created in (see the module docstring)."""
    return cache_dir()


# ---------------------------------------------------------------------------------------------- code of a run
def _module_file(package: Path, name: str) -> Path | None:
    """The source file of module ``name`` (``mtlkit.x.y``) inside ``package`` (the ``mtlkit`` folder), or None."""
    parts = name.split(".")[1:]
    base = package.joinpath(*parts)
    if base.with_suffix(".py").is_file() and parts:
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


_LAZY_TARGET = re.compile(r"mtlkit(\.\w+)+(:\w+)?")


def _imports(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """Names of the mtlkit modules that ``tree`` (module ``name``) imports, anywhere in its body."""
    found: set[str] = set()
    here = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "mtlkit")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "mtlkit":
                continue
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # kept if it is a module
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _LAZY_TARGET.fullmatch(node.value):
            found.add(node.value.split(":")[0])  # a lazy import by name ("mtlkit.data.synthetic", "module:attr")
    return found


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=64)
def _closure(modules: tuple[str, ...], package: Path) -> tuple[tuple[str, str], ...]:
    """``(module name, hash of its docstring-free syntax tree)`` for ``modules`` and all they import, sorted."""
    todo, seen, out = list(modules), set(), {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(package, name)
        if path is None:
            continue  # an attribute imported with "from mtlkit.x import y", not a module
        parents = name.split(".")
        todo.extend(".".join(parents[:i]) for i in range(2, len(parents)))  # importing a.b.c runs a.b's __init__
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        todo.extend(_imports(tree, name, path.name == "__init__.py"))
        text = ast.dump(_strip_docstrings(tree), include_attributes=False)
        out[name] = hashlib.sha256(text.encode()).hexdigest()
    return tuple(sorted(out.items()))


def _check_modules(modules: Sequence[str]) -> tuple[str, ...]:
    if isinstance(modules, str) or not all(isinstance(m, str) and m.split(".")[0] == "mtlkit" for m in modules):
        raise ValueError(f"depends_on must be a sequence of mtlkit module names such as 'mtlkit.treemtl.tree_model',"
                         f" got {modules!r}")
    return tuple(sorted(set(modules)))


def code_modules(modules: Sequence[str] = CORE_CODE, *, package: str | Path | None = None) -> list[str]:
    """The mtlkit modules whose code :func:`code_fingerprint` hashes for ``modules`` (they and their imports)."""
    root = Path(package) if package is not None else package_dir()
    return [name for name, _ in _closure(_check_modules(modules), root.resolve())]


def code_fingerprint(modules: Sequence[str] = CORE_CODE, *, package: str | Path | None = None) -> str:
    """A short hash of the code of ``modules`` and every mtlkit module they import (docstrings left out).

    Args:
        modules: module names, e.g. ``("mtlkit.train", "mtlkit.treemtl.tree_model")``.
        package: the ``mtlkit`` source folder to read (default: the imported package; tests point it at a copy).

    Returns:
        12 hex digits; equal for two sources that differ only in docstrings, comments and formatting.
    """
    root = Path(package) if package is not None else package_dir()
    digest = hashlib.sha256()
    for name, h in _closure(_check_modules(modules), root.resolve()):
        digest.update(f"{name}:{h}\n".encode())
    return digest.hexdigest()[:12]


def environment(device: str = "cpu") -> dict[str, Any]:
    """What besides code and configuration changes a run's numbers: torch version, threads, determinism, device."""
    import torch

    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "deterministic": torch.are_deterministic_algorithms_enabled(), "device": str(device)}


# ----------------------------------------------------------------------------------------------------- the key
def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__dataclass__": type(value).__name__, **_plain(dataclasses.asdict(value))}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"run-cache keys must be plain values (numbers, strings, lists, dicts, dataclasses); "
                    f"got {type(value).__name__}: {value!r}")


def _record(key: dict, depends_on: Sequence[str], device: str) -> dict:
    modules = (*CORE_CODE, *depends_on)
    return {"key": _plain(key), "code": code_fingerprint(modules), "depends_on": list(_check_modules(modules)),
            "environment": environment(device)}


def key_hash(*, depends_on: Sequence[str] = (), device: str = "cpu", **key: Any) -> str:
    """A 12-character hash of a key (JSON of its plain values), the code it depends on and the environment.

    Args:
        depends_on: mtlkit modules the run uses beyond :data:`CORE_CODE` (e.g. ``"mtlkit.treemtl.tree_model"``).
        device: the device the run trains on.
        **key: the semantic configuration of the run.
    """
    text = json.dumps(_record(key, depends_on, device), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_dir(kind: str, *, depends_on: Sequence[str] = (), device: str = "cpu", **key: Any) -> Path:
    """The run directory of one training run, ``<cache root>/<kind>-<hash of key, code and environment>``.

    Args:
        kind: a readable prefix, e.g. ``"stl-segment_semantic"`` or ``"treemtl-2task"``.
        depends_on: mtlkit modules the run uses beyond :data:`CORE_CODE` (their imports are followed).
        device: the device the run trains on (part of the key: GPU and CPU numbers differ).
        **key: everything else that determines the run (plain values or dataclasses such as a ``TrainConfig``).

    Returns:
        The path, created, holding a ``key.json`` that describes the run (so a cache folder can be inspected by
        hand); pass it as ``run_dir`` to :func:`mtlkit.train.train` or :func:`mtlkit.train.run_loop`.
    """
    if not isinstance(kind, str) or not kind or "/" in kind or kind.startswith("."):
        raise ValueError(f"kind must be a plain name such as 'stl-depth', got {kind!r}")
    record = _record(key, depends_on, device)
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_root() / f"{kind}-{digest}"
    path.mkdir(parents=True, exist_ok=True)
    info = path / "key.json"
    if not info.exists():
        atomic_write_text(info, json.dumps({"kind": kind, **record}, indent=1, sort_keys=True))
    return path
