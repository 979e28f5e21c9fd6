"""Integrity of the files runs leave behind: checksummed checkpoints and JSON records, stale temp files, restarts.

Every long job writes its state atomically (a temp file ``.NAME.tmp-PID`` in the same folder, fsync, ``os.replace``)
and stores a SHA-256 checksum of the content *inside* the file. Reading verifies it, so a truncated, empty, random or
bit-flipped file never resumes silently: it raises one :class:`CorruptFileError` that names the file and the remedy
(usually: restart that run, which deletes its folder). A process killed while writing leaves its temp file behind;
:func:`remove_stale_temps` deletes those of dead processes and is called by every writer here, so the next run
cleans up.

* :func:`save_torch` / :func:`load_torch` — checkpoints (``torch.save`` payload dicts, ``weights_only`` loading);
* :func:`write_json` / :func:`read_json` — small JSON records (``result.json``, ``grid.json``, ``policy.json``);
* :func:`checksum` — the SHA-256 of nested plain values and tensors (what is stored under ``"sha256"``);
* :func:`restart_dir` — delete a run's folder so it starts afresh;
* :func:`check_csv_complete` — refuse a CSV cut off mid-row (results files).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import struct
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from mtlkit.errors import ConfigError, DataError

__all__ = ["CorruptFileError", "CHECKSUM_KEY", "checksum", "save_torch", "load_torch", "write_json", "read_json",
           "remove_stale_temps", "restart_dir", "restart_stages", "with_remedy", "temp_path", "check_csv_complete"]

#: key of the checksum stored in every checkpoint and JSON record
CHECKSUM_KEY = "sha256"
_TMP = re.compile(r"^\..+\.tmp-(\d+)$")


class CorruptFileError(DataError):
    """A file written by mtlkit is truncated, corrupt or not what it should be.

    Attributes:
        path: the file.
        remedy: what the user can do (e.g. restart the run that wrote it).
    """

    def __init__(self, path: str | Path, problem: str, remedy: str | None = None):
        self.path = Path(path)
        self.problem = problem
        self.remedy = remedy or f"delete {str(self.path)!r} (or the run folder holding it) to start that run afresh"
        super().__init__(f"{str(self.path)!r} is corrupt or incomplete ({problem}); {self.remedy}")


# ------------------------------------------------------------------------------------------------------- checksum
def _feed(h, value: Any) -> None:
    """Hash ``value`` canonically (type tags, sorted dict keys, exact float bits, raw tensor bytes)."""
    import torch

    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, Mapping):
        h.update(f"D{len(value)}".encode())
        for k in sorted(value, key=lambda k: (type(k).__name__, str(k))):
            _feed(h, k)
            _feed(h, value[k])
    elif isinstance(value, (list, tuple)):
        h.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)}".encode())
        for v in value:
            _feed(h, v)
    elif isinstance(value, bool) or value is None:
        h.update(f"B{value}".encode())
    elif isinstance(value, int):
        h.update(f"I{value};".encode())
    elif isinstance(value, float):
        h.update(b"F" + struct.pack("<d", value))
    elif isinstance(value, str):
        data = value.encode()
        h.update(f"S{len(data)};".encode() + data)
    elif isinstance(value, bytes):
        h.update(f"Y{len(value)};".encode() + value)
    else:
        h.update(f"O{type(value).__name__}:{value!r}".encode())


def checksum(value: Any) -> str:
    """SHA-256 (hex) of nested dicts/lists/tuples of tensors and plain scalars.

    Two values that compare equal element by element (same tensor dtypes, shapes and bits; same floats to the bit)
    have the same checksum; a single flipped bit changes it.
    """
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------------- temp files
def temp_path(path: str | Path) -> Path:
    """The temp file an atomic write of ``path`` uses: ``.NAME.tmp-PID`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the ``.NAME.tmp-PID`` files in ``folder`` whose process no longer runs (left by a killed write).

    Returns:
        The files removed.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = _TMP.match(p.name)
        if m and p.is_file() and not _alive(int(m.group(1))):
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:   # another process cleaned it first
                pass
    return removed


def _atomic_write(path: Path, write: Callable[[Any], None]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)   # atomic: a reader sees the old file or the whole new one
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# ------------------------------------------------------------------------------------------------------- torch files
def save_torch(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """Write a checkpoint dict atomically with its checksum under ``"sha256"``.

    Args:
        path: target file.
        payload: a dict of tensors and plain containers/scalars (without a ``"sha256"`` key).

    Returns:
        The path written.
    """
    import torch

    body = {k: v for k, v in payload.items() if k != CHECKSUM_KEY}
    record = dict(body, **{CHECKSUM_KEY: checksum(body)})
    return _atomic_write(Path(path), lambda f: torch.save(record, f))


def load_torch(path: str | Path, *, remedy: str | None = None) -> dict[str, Any]:
    """Read and verify a checkpoint written by :func:`save_torch` (CPU tensors, ``weights_only``).

    Args:
        path: the file.
        remedy: the advice in the error (default: delete the file or its run folder).

    Returns:
        The payload (without the checksum).

    Raises:
        FileNotFoundError: no such file.
        CorruptFileError: the file is empty, truncated, not a checkpoint, has no checksum or a wrong one.
    """
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}")
    remove_stale_temps(path.parent)   # a resumed run cleans up after the process that was killed
    if path.stat().st_size == 0:
        raise CorruptFileError(path, "the file is empty", remedy)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
            UnicodeDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0].split(". ")[0][:200]
        raise CorruptFileError(path, f"torch.load failed: {type(exc).__name__}: {first}", remedy) from None
    if not isinstance(raw, dict):
        raise CorruptFileError(path, f"expected a checkpoint dict, found a {type(raw).__name__}", remedy)
    stored = raw.pop(CHECKSUM_KEY, None)
    if stored is None:
        raise CorruptFileError(path, "no checksum (not written by this version of mtlkit)", remedy)
    if stored != checksum(raw):
        raise CorruptFileError(path, "checksum mismatch: the content changed after it was written", remedy)
    return raw


# ------------------------------------------------------------------------------------------------------- JSON files
def write_json(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """Write a JSON record atomically with a checksum of its content under ``"sha256"``."""
    body = json.loads(json.dumps({k: v for k, v in payload.items() if k != CHECKSUM_KEY}))   # as it reads back
    record = dict(body, **{CHECKSUM_KEY: checksum(body)})
    text = json.dumps(record, indent=1, sort_keys=True)
    return _atomic_write(Path(path), lambda f: f.write(text.encode()))


def read_json(path: str | Path, *, required: tuple[str, ...] = (), remedy: str | None = None,
              missing_ok: bool = False) -> dict[str, Any] | None:
    """Read and verify a JSON record of :func:`write_json`.

    Records without a checksum (hand-written or older) are accepted if they parse and hold the ``required`` keys.

    Args:
        path: the file.
        required: keys the record must have.
        remedy: the advice in the error.
        missing_ok: return None for a missing file instead of raising ``FileNotFoundError``.

    Raises:
        CorruptFileError: unreadable, truncated, not a JSON object, a wrong checksum or a missing key.
    """
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return None
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(path, f"not valid JSON: {exc}", remedy) from None
    if not isinstance(raw, dict):
        raise CorruptFileError(path, f"expected a JSON object, found {type(raw).__name__}", remedy)
    stored = raw.pop(CHECKSUM_KEY, None)
    if stored is not None and stored != checksum(raw):
        raise CorruptFileError(path, "checksum mismatch: the content changed after it was written", remedy)
    absent = [k for k in required if k not in raw]
    if absent:
        raise CorruptFileError(path, f"missing key(s) {absent}", remedy)
    return raw


# ------------------------------------------------------------------------------------------------------- restarts
def restart_dir(folder: str | Path, *, inside: str | Path | None = None) -> bool:
    """Delete a run's folder so that the run starts afresh (its checkpoint, logs and result go).

    Args:
        folder: the run's folder.
        inside: refuse to delete anything that is not strictly inside this folder (a guard against a wrong path).

    Returns:
        True if something was deleted.
    """
    folder = Path(folder)
    if inside is not None:
        root = Path(inside).resolve()
        if root == folder.resolve() or root not in folder.resolve().parents:
            raise ValueError(f"restart_dir: {str(folder)!r} is not inside {str(root)!r}; refusing to delete it")
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def restart_stages(root: str | Path | None, stages: Sequence[str], restart: str | None,
                   also: Sequence[str] = ()) -> None:
    """Restart stage ``restart`` of a pipeline and every later one: delete their folders ``root/<stage>``.

    Args:
        root: the pipeline's folder (None: nothing is stored; any ``restart`` is an error).
        stages: the stage names in order.
        restart: the first stage to run afresh, or None (keep everything).
        also: files in ``root`` that depend on the restarted stages (deleted too).
    """
    if restart is None:
        return
    if restart not in stages:
        raise ConfigError(f"restart: expected one of the stages {list(stages)}, got {restart!r}")
    if root is None:
        raise ConfigError(f"restart={restart!r} needs a run folder (without one nothing is stored to restart)")
    for stage in stages[list(stages).index(restart):]:
        restart_dir(Path(root) / stage, inside=root)
    for name in also:
        (Path(root) / name).unlink(missing_ok=True)


@contextlib.contextmanager
def with_remedy(remedy: str) -> Iterator[None]:
    """Re-raise a :class:`CorruptFileError` from the block with ``remedy`` (the caller knows the better advice)."""
    try:
        yield
    except CorruptFileError as exc:
        raise CorruptFileError(exc.path, exc.problem, remedy) from None


# ------------------------------------------------------------------------------------------------------- CSV files
def check_csv_complete(path: str | Path, *, remedy: str | None = None) -> None:
    """Refuse a CSV file cut off mid-row: every row has the header's number of fields and the file ends with a
    newline (mtlkit's writers end every row with one), so a truncated results file is never read as fewer rows.

    Raises:
        CorruptFileError: names the file and the first incomplete line.
    """
    import csv

    path = Path(path)
    data = path.read_bytes()
    if not data:
        return
    if not data.endswith(b"\n"):
        raise CorruptFileError(path, "the last row is cut off (no newline at the end)", remedy)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})", remedy) from None
    rows = csv.reader(text.splitlines())
    header = next(rows)
    for line, row in enumerate(rows, start=2):
        if row and len(row) != len(header):
            raise CorruptFileError(path, f"line {line} has {len(row)} fields, the header has {len(header)}", remedy)
