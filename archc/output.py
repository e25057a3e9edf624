"""Writing files safely: atomically, and never over a file archc did not write."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from .errors import UsageError


def write(path: Path, data: str | bytes, *, force: bool = False,
          ours: Callable[[Path], bool]) -> None:
    """Replace ``path`` with ``data`` in one step (a reader sees the old file or the new one,
    never half of either).  An existing file is replaced only if ``ours(path)`` says archc
    wrote it, or ``force`` is given."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"cannot write `{path}`: there is no folder `{path.parent}`")
    if path.is_dir():
        raise UsageError(f"cannot write `{path}`: it is a folder")
    if path.exists() and not force and not ours(path):
        raise UsageError(f"refusing to overwrite `{path}`: archc did not write it",
                         hint="pass --force to replace it, or -o to write somewhere else")
    blob = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def starts_with(marker: bytes) -> Callable[[Path], bool]:
    """An ``ours`` test: the file begins with ``marker``."""
    def check(path: Path) -> bool:
        with open(path, "rb") as handle:
            return handle.read(len(marker)) == marker
    return check
