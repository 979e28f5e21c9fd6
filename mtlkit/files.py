"""Writing files safely: one atomic write (temp file + ``os.replace``) and one inter-process lock.

A reader never sees half a file: :func:`atomic_write` writes into a temp file in the target's folder, flushes and
fsyncs it, then renames it over the target (``os.replace`` is atomic on POSIX and Windows); if writing fails the
temp file is removed and the old target is left as it was. :func:`locked` serialises read-modify-write cycles of
several processes (``fcntl.flock``; a no-op where ``fcntl`` does not exist) and is re-entrant within a process.
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import IO, Callable, Iterator

__all__ = ["atomic_write", "atomic_write_text", "locked"]


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object], *, fsync: bool = True) -> Path:
    """Write ``path`` atomically: ``write(f)`` fills a binary temp file that then replaces ``path``.

    Args:
        path: the target file (its folder is created).
        write: called once with the open temp file (binary mode), e.g. ``lambda f: torch.save(obj, f)``.
        fsync: flush the data to disk before the rename (so a crash cannot leave an empty file).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")), fsync=fsync)


_HELD: set[tuple[str, int]] = set()  # (path, thread) pairs holding a lock: re-entrant within a thread


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the ``with`` block.

    A directory is locked itself (no lock file is left in it); any other path is a lock file, created empty if
    missing. Re-entrant: a block inside another block on the same path in the same thread does not wait (other threads
    and processes do). Without
    ``fcntl`` (not POSIX) there is no cross-process lock and the block simply runs.

    Args:
        path: a folder, or the lock file to use.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    path = Path(path)
    key = (str(path.resolve()), threading.get_ident())
    if key in _HELD:
        yield
        return
    if path.is_dir():
        fd = os.open(path, os.O_RDONLY)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the ``with`` block, restoring (or removing) the old values after it."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
