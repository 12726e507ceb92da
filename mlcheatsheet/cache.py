"""Content keys and an on-disk store for work that a build should do once.

A docs build re-runs an example, or retrains the FID classifier, only when something it
depends on changed. What it depends on is hashed into a *content key*
(:func:`content_key`): the package's source (:func:`package_digest`), the versions of the
libraries that compute, and whatever the caller adds (a script, a recipe, the data). A
result is stored under its key, so a key that is found names exactly the inputs it was
computed from; nothing is ever "updated in place".

Writes are atomic (:func:`write_atomically`: a temporary file, then :func:`os.replace`),
so an interrupted run leaves either the whole entry or none of it, and
:func:`exclusive` serialises two processes that would compute the same entry at once
(the parallel workers of a docs build). The store's root is ``$MLCHEATSHEET_CACHE``
(default ``~/.cache/mlcheatsheet-build``); the docs build points it into the clone.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

from filelock import FileLock

__all__ = ["CACHE_ENV", "cache_root", "content_key", "exclusive", "library_versions", "package_digest", "published_mode",
           "write_atomically"]

#: Environment variable naming the root folder of the store.
CACHE_ENV = "MLCHEATSHEET_CACHE"

_PACKAGE = Path(__file__).resolve().parent


def cache_root() -> Path:
    """The store's root: ``$MLCHEATSHEET_CACHE``, else ``~/.cache/mlcheatsheet-build`` (beside, not inside, the data)."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "mlcheatsheet-build"


@functools.lru_cache(maxsize=None)
def _digest_of_tree(folder: str) -> str:
    digest = hashlib.sha256()
    root = Path(folder)
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def package_digest() -> str:
    """SHA-256 of every ``.py`` file of the package (names and bytes), computed once per process.

    Any edit to the package, even a comment, changes it: a cached run is reused only for
    the very code that produced it.
    """
    return _digest_of_tree(str(_PACKAGE))


def library_versions() -> dict[str, str]:
    """The versions of what computes a result: Python and the numerical libraries."""
    import matplotlib
    import numpy
    import torch
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": numpy.__version__, "matplotlib": matplotlib.__version__}


def content_key(parts: Mapping[str, object]) -> str:
    """A short hex key naming ``parts`` (JSON-serialisable values; key order does not matter)."""
    text = json.dumps(dict(parts), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def write_atomically(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object], *, durable: bool = False) -> Path:
    """Create ``path`` whole or not at all: ``write`` fills a temporary file next to it,
    which then replaces ``path`` in one step (an interrupted write leaves no partial file).

    The file gets the mode any new file would (``mkstemp`` makes it private; what is written
    here is published: pages, records, checkpoints). ``durable=True`` also flushes the data
    and the rename to disk before returning, for files that must survive a power cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, published_mode(0o666))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_directory(path.parent)
    return path


def published_mode(mode: int) -> int:
    """``mode`` less the process's umask: what ``open``/``mkdir`` would give a new file or folder.

    ``tempfile`` makes private (0600/0700) files and folders; what is renamed into place
    from one is published (a site a web server reads, a record, a checkpoint) and gets this.
    """
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mode & ~mask


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path + ".lock"`` (blocking) while the block runs.

    Two processes that would both compute the same entry take turns: the second finds the
    first one's result when it gets the lock. ``filelock`` (which torch installs) locks on
    every platform, and the lock is released when its holder dies.
    """
    lock = Path(f"{os.fspath(path)}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock):
        yield
