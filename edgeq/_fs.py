"""Atomic output: a file or folder appears complete or not at all, and an existing one is never clobbered by a
failed run."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from edgeq.errors import EdgeqError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_file(out: str | os.PathLike, *, source: str | os.PathLike | None = None,
                      example: str = "model.tflite") -> Path:
    """Refuse an output file path that cannot be written, is a folder, or is the input ``source`` itself — before
    any work is done."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise EdgeqError("output folder does not exist", where=str(parent), hint="create it first")
    if out.is_dir():
        raise EdgeqError("output path is a folder", where=str(out), hint=f"give a file name, e.g. {example}")
    if source is not None and Path(source).exists() and out.exists() and out.resolve() == Path(source).resolve():
        raise EdgeqError("output would overwrite the input model", where=str(out))
    return out


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise EdgeqError("output folder does not exist", where=str(parent), hint="create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a plain open() would honour the umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder next to ``path``; on success it replaces ``path``.

    Refuses an existing ``path`` unless ``force``. On any error the temporary folder is removed and ``path`` is left
    as it was.
    """
    path = Path(path)
    if path.exists() and not force:
        raise EdgeqError("output folder already exists", where=str(path), hint="pass --force to replace it")
    if path.exists() and not path.is_dir():
        raise EdgeqError("output path exists and is not a folder", where=str(path))
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=parent))
        os.rmdir(old)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
