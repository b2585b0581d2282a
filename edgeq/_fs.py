"""Safe file access at the edges: bounded reads of input files, output paths checked before any work starts, and
atomic output (a file or folder appears complete or not at all, and an existing one is never clobbered by a failed
run). Every OSError becomes a one-line :class:`~edgeq.errors.EdgeqError` naming the path."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from edgeq.errors import EdgeqError

#: size caps of input files, by kind (a file above its cap is refused before it is read)
MAX_MODEL_BYTES = 2 * 1024**3
MAX_DATA_BYTES = 4 * 1024**3
MAX_FIRMWARE_BYTES = 64 * 1024**2
MAX_TEXT_BYTES = 256 * 1024**2


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _oserror(exc: OSError, what: str, path) -> EdgeqError:
    reason = exc.strerror or exc.__class__.__name__
    return EdgeqError(f"cannot {what}: {reason}", where=str(path))


# ---- inputs --------------------------------------------------------------------------------------------------------


def check_input_file(path: str | os.PathLike, *, what: str = "file", max_bytes: int = MAX_DATA_BYTES,
                     hint: str | None = None, error: type[EdgeqError] = EdgeqError) -> Path:
    """Refuse a missing path, a folder, a special file (device, FIFO, socket) or a file above ``max_bytes``, without
    opening it (opening a FIFO would block, reading /dev/zero would never end)."""
    p = Path(path).expanduser()
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise error("no such file", where=str(p), hint=hint or f"check the path to the {what}") from None
    except OSError as exc:
        raise error(f"cannot read the {what}: {exc.strerror or exc}", where=str(p)) from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"is a folder, not a {what}", where=str(p), hint=hint)
    if not stat.S_ISREG(st.st_mode):
        raise error(f"is not a regular file (a device, FIFO or socket), not a {what}", where=str(p), hint=hint)
    if st.st_size > max_bytes:
        raise error(f"{what} is {st.st_size:,} bytes, more than the {max_bytes:,} edgeq reads", where=str(p),
                         hint=hint)
    return p


def read_input_bytes(path: str | os.PathLike, *, what: str = "file", max_bytes: int = MAX_DATA_BYTES,
                     hint: str | None = None, error: type[EdgeqError] = EdgeqError) -> bytes:
    """The bytes of a regular input file, at most ``max_bytes`` (checked by :func:`check_input_file`, and again while
    reading, in case the file grows)."""
    p = check_input_file(path, what=what, max_bytes=max_bytes, hint=hint, error=error)
    try:
        with open(p, "rb") as f:
            # read() allocates its whole argument up front: ask for the file's size plus one byte (to notice a file
            # that grew), never for the cap itself (2 GiB does not fit a 32-bit Python's address space)
            size = os.fstat(f.fileno()).st_size
            data = f.read(min(size, max_bytes) + 1)
    except OSError as exc:
        raise error(f"cannot read the {what}: {exc.strerror or exc}", where=str(p)) from None
    if len(data) > max_bytes:
        raise error(f"{what} is larger than the {max_bytes:,} bytes edgeq reads", where=str(p), hint=hint)
    if len(data) > size:
        raise error(f"the {what} grew while edgeq read it", where=str(p), hint="read it again once it is written")
    return data


# ---- outputs -------------------------------------------------------------------------------------------------------


def _probe_writable(folder: Path, what: str = "output") -> None:
    """Create and remove a temporary file in ``folder``: the only check that also holds for root, read-only mounts
    and pseudo file systems such as /proc."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".edgeq-probe.", dir=folder)
    except OSError as exc:
        raise EdgeqError(f"{what} folder is not writable ({exc.strerror or exc})", where=str(folder),
                         hint="choose another output path") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def check_output_file(out: str | os.PathLike, *, source: str | os.PathLike | None = None,
                      example: str = "model.tflite", what: str = "output", force: bool = True) -> Path:
    """Refuse an output file path that cannot be written, is a folder, or is the input ``source`` itself — before
    any work is done. ``force=False`` also refuses an existing file (the CLI's ``--force`` replaces it)."""
    out = Path(out).expanduser()
    parent = out.parent if str(out.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise EdgeqError(f"{what} folder is a file", where=str(parent), hint="give a path inside a folder")
    if not parent.is_dir():
        raise EdgeqError(f"{what} folder does not exist", where=str(parent), hint="create it first")
    if out.is_dir():
        raise EdgeqError(f"{what} path is a folder", where=str(out), hint=f"give a file name, e.g. {example}")
    if out.exists() and not out.is_file():
        raise EdgeqError(f"{what} path is a special file (device, FIFO), not a file", where=str(out),
                         hint=f"give a file name, e.g. {example}")
    if source is not None and Path(source).exists() and out.exists() and out.resolve() == Path(source).resolve():
        raise EdgeqError("output would overwrite the input model", where=str(out))
    if not force and out.exists():
        raise EdgeqError(f"{what} file already exists", where=str(out), hint="pass --force to replace it")
    _probe_writable(parent, what)
    return out


def check_output_dir(path: str | os.PathLike, *, force: bool = False, what: str = "output") -> Path:
    """Refuse an output folder that exists (unless ``force``), is a file, or cannot be created — before any work."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise EdgeqError(f"{what} path exists and is not a folder", where=str(path), hint="give a folder path")
    if path.exists() and not force:
        raise EdgeqError(f"{what} folder already exists", where=str(path), hint="pass --force to replace it")
    ancestor = path.parent if str(path.parent) else Path(".")
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise EdgeqError(f"{what} folder cannot be created: {ancestor} is a file", where=str(path))
    _probe_writable(ancestor, what)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path).expanduser()
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise EdgeqError("output folder does not exist", where=str(parent), hint="create it first")
    if path.is_dir():
        raise EdgeqError("output path is a folder", where=str(path), hint="give a file name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise _oserror(exc, "write the output", path) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a plain open() would honour the umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _oserror(exc, "write the output", path) from None
    except BaseException:
        with contextlib.suppress(OSError):
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
    path = check_output_dir(path, force=force)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
        os.chmod(tmp, 0o777 & ~_umask())
    except OSError as exc:
        raise _oserror(exc, "create the output folder", path) from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    try:
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=parent))
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not path.exists():
            os.replace(old, path)
        raise _oserror(exc, "replace the output folder", path) from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
