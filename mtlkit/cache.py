"""A run cache shared by notebooks and reproductions: train a configuration once, reuse it everywhere.

Several notebooks train the same models (e.g. the single-task references of Δt on SynthScenes at one scale and
seed). Each training run lives in a *run directory* (checkpoint + CSV logs, see :func:`mtlkit.train.train`); a
finished run that is started again returns at once with its final weights, and a killed one resumes from its last
checkpoint. :func:`run_dir` names that directory after everything that determines the result, so the second
notebook that asks for the same run gets the first one's weights, and a different configuration never collides:

* the caller's key (scale, seed, tasks, backbone, sizes, optimiser settings, ... — whatever defines the run),
* the fingerprint of mtlkit's own source code (:func:`code_fingerprint`): any change to the library invalidates
  every cached run, so a cached result is never one that the current code would not produce.

The cache root is ``$MTLKIT_CACHE`` if set (``make run`` uses ``executed/<scale>/cache``, the tests a temporary
folder), else ``.mtlkit_cache/`` in the checkout (git-ignored), else ``~/.cache/mtlkit``. Delete it to start over.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["cache_root", "code_fingerprint", "run_dir", "key_hash"]


def cache_root() -> Path:
    """The folder run directories are created in (see the module docstring)."""
    if os.environ.get("MTLKIT_CACHE"):
        return Path(os.environ["MTLKIT_CACHE"])
    from mtlkit.viz import repo_root

    root = repo_root()
    return root / ".mtlkit_cache" if root is not None else Path.home() / ".cache" / "mtlkit"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A short hash of every ``.py`` file of the installed mtlkit package (names and contents)."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


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


def key_hash(**key: Any) -> str:
    """A 12-character hash of a key (JSON of its plain values, sorted) and the code fingerprint."""
    text = json.dumps({"key": _plain(key), "code": code_fingerprint()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_dir(kind: str, **key: Any) -> Path:
    """The run directory of one training run, ``<cache root>/<kind>-<hash of key and code>``.

    Args:
        kind: a readable prefix, e.g. ``"stl-segment_semantic"`` or ``"treemtl-2task"``.
        **key: everything that determines the run (plain values or dataclasses such as a ``TrainConfig``).

    Returns:
        The path, created, holding a ``key.json`` that describes the run (so a cache folder can be inspected by
        hand); pass it as ``run_dir`` to :func:`mtlkit.train.train` or :func:`mtlkit.train.run_loop`.
    """
    if not kind or "/" in kind or kind.startswith("."):
        raise ValueError(f"kind must be a plain name such as 'stl-depth', got {kind!r}")
    path = cache_root() / f"{kind}-{key_hash(**key)}"
    path.mkdir(parents=True, exist_ok=True)
    info = path / "key.json"
    if not info.exists():
        tmp = path / f".key.json.tmp-{os.getpid()}"
        tmp.write_text(json.dumps({"kind": kind, "key": _plain(key), "code": code_fingerprint()}, indent=1,
                                  sort_keys=True))
        os.replace(tmp, info)
    return path
