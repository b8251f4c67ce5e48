"""Durable atomic file writes and validated reads, and their errors.

Every write is temp file + fsync + rename + directory fsync, so a reader (or a crash) sees the
old file or the new one, never a torn one. A file that fails validation raises `CorruptFile`
(path + first error) and is never replaced. Used by the OCI store, the ticket boxes, the PC
workspace and the PID files of `krx pc start`.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class StoreError(Exception):
    """Base of store errors; `field` names what is wrong when it is one field."""

    field: str | None = None


class CorruptFile(StoreError):
    def __init__(self, path: Path, error: str) -> None:
        super().__init__(f"{path}: {error} (the file was left as it is; fix or restore it)")
        self.path = path
        self.error = error


class WriteFailed(StoreError):
    """A write failed (disk full, file size limit, read-only filesystem, permissions): the
    file written is left as it was. Whether anything *else* changed is for the caller to say
    (the OCI store answers 503 "accepted, will complete" once its journal is durable)."""

    def __init__(self, path: Path, exc: OSError) -> None:
        name = errno.errorcode.get(exc.errno or 0, "error")
        super().__init__(f"could not write {path.name} ({name}: {exc.strerror or 'error'}); "
                         f"its previous version is intact; {remedy(exc.errno)}")
        self.path = path
        self.errno = exc.errno


def remedy(code: int | None) -> str:
    """What the operator does about a failed write, by its errno."""
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "free disk space, then retry"
    if code == errno.EFBIG:
        return "raise the file size limit (ulimit -f / LimitFSIZE), then retry"
    if code == errno.EROFS:
        return "the filesystem is read-only: remount it read-write, then retry"
    if code in (errno.EACCES, errno.EPERM):
        return ("permission denied: give the service user write access to the data root, "
                "then retry")
    return "check the disk and the data root, then retry"


def fsync_dir(directory: Path) -> None:
    if os.name == "nt":
        # Windows cannot open a directory as a file; NTFS journals the rename itself. (The PC
        # workspace on Windows writes through these helpers too.)
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str, *, sync_file: bool = True,
                      sync_dir: bool = True) -> None:
    """Replace `path` with `text` (UTF-8) atomically and durably (mode 0600, from mkstemp).
    An OSError (ENOSPC, EFBIG, EROFS...) raises `WriteFailed` with `path` left as it was.

    For a file that can be fetched again (e.g. the PC's copy of a pulled snapshot) the caller
    may skip the fsyncs: without `sync_dir` a crash may undo the rename (the old file is back);
    without `sync_file` as well, the new file may also come back empty after a power loss."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise WriteFailed(path, exc) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            if sync_file:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise WriteFailed(path, exc) from exc
        raise
    if sync_dir:
        fsync_dir(path.parent)


def atomic_move(src: Path, dst: Path) -> None:
    """Rename `src` to `dst` (same filesystem) atomically and durably (both directories are
    fsynced). Raises FileNotFoundError when `src` is gone — e.g. another process took it."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)
    fsync_dir(dst.parent)
    if src.parent != dst.parent:
        fsync_dir(src.parent)


def durable_unlink(path: Path) -> bool:
    """Remove `path` and fsync its directory; False when it did not exist."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


def dump_model(model: BaseModel) -> str:
    return model.model_dump_json(indent=2) + "\n"


def atomic_write_model(path: Path, model: BaseModel) -> None:
    atomic_write_text(path, dump_model(model))


def first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(root)"
    return f"{loc}: {err['msg']}"


class UnreadableFile(CorruptFile):
    """A file that exists but cannot be read (permissions, a directory in its place, an I/O
    error): refused like a corrupt one, never replaced."""

    def __init__(self, path: Path, exc: OSError) -> None:
        name = errno.errorcode.get(exc.errno or 0, "error")
        if isinstance(exc, IsADirectoryError):
            what = "is a directory, not a file: move it away"
        elif exc.errno in (errno.EACCES, errno.EPERM):
            what = "permission denied: give the service user read access"
        else:
            what = "check the disk"
        super().__init__(path, f"cannot be read ({name}); {what}")


def read_model(path: Path, model: type[M]) -> M | None:
    """The validated artifact at `path`, None when the file does not exist; `CorruptFile`
    (`UnreadableFile`) when it does not validate or cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnreadableFile(path, exc) from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise CorruptFile(path, first_error(exc)) from None
