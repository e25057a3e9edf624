"""Where spec files come from: paths, bundled names (`archc stats vgg_e`), `use` targets.

The bundled specs and templates live in the top-level ``specs/`` and ``templates/``
folders of a checkout; an installed wheel carries copies inside the package
(``archc/specs``, ``archc/templates``, see pyproject.toml).  Both layouts are found here.
"""

from __future__ import annotations

import codecs
import difflib
import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from . import limits
from .errors import Source, UsageError

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name  # a source checkout or an editable install


def specs_dir() -> Path:
    """The folder of bundled specs (`specs/` in a checkout)."""
    return _data_dir("specs")


def templates_dir() -> Path:
    """The folder of code-generation templates (`templates/` in a checkout)."""
    return _data_dir("templates")


def bundled() -> list[str]:
    """Names of the bundled specs, e.g. ``["alexnet", "googlenet", ...]``."""
    return sorted(p.stem for p in specs_dir().glob("*.arch"))


def display_path(path: Path) -> str:
    """``path`` as a user should see it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


def resolve(spec: str | os.PathLike) -> Path:
    """The file a spec argument names: a path, or the name of a bundled spec."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.suffix in ("", ".arch") and path.parent == Path("."):
        candidate = specs_dir() / (path.stem + ".arch")
        if candidate.is_file():
            return candidate
    names = bundled()
    close = difflib.get_close_matches(path.stem.lower(), names, n=1, cutoff=0.6)  # VGG_E too
    if close:
        hint = f"did you mean `{close[0]}`?"
    else:
        hint = "bundled specs: " + ", ".join(names)
    raise UsageError(f"no spec file `{spec}`", hint=hint)


STDIN = "-"
"""The spec argument that means standard input (`cat net.arch | archc stats -`)."""


def load(spec: str | os.PathLike) -> Source:
    """The spec a command-line argument names: a file, a bundled spec, or ``-``."""
    if str(spec) == STDIN:
        return _read(sys.stdin.buffer, "<stdin>", "standard input")
    return read(resolve(spec))


def read(path: Path, limit: int = limits.MAX_BYTES, regular: bool = False) -> Source:
    """A spec file's text: at most ``limit`` bytes of it, and a few more, so that the parser
    can refuse a longer one where it crosses the limit.  ``regular``: refuse anything but
    a regular file (a pipe or a device could block, or never end)."""
    flags = os.O_RDONLY | (getattr(os, "O_NONBLOCK", 0) if regular else 0)
    try:
        fd = os.open(path, flags)
        with open(fd, "rb") as handle:
            if regular and not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise UsageError(f"cannot read `{path}`: it is not a regular file")
            return _read(handle, display_path(path), f"`{path}`", limit)
    except OSError as exc:
        raise UsageError(f"cannot read `{path}`: {exc.strerror or exc}") from None


def _read(stream: BinaryIO, name: str, described: str, limit: int = limits.MAX_BYTES) -> Source:
    """UTF-8 text from ``stream``, shown under ``name``.  Of a spec over the size limit only
    the start is read — enough for the parser to refuse it where it crosses the limit."""
    limit = max(limit, 0)
    try:
        data = stream.read(limit + 4)
        decoder = codecs.getincrementaldecoder("utf-8")()
        text = decoder.decode(data, final=len(data) <= limit)  # a cut character waits
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {described}: {exc}") from None
    # Universal newlines, as Python's text mode reads them.
    return Source(name, text.replace("\r\n", "\n").replace("\r", "\n"))


def find_use(target: str, including: Source) -> Path:
    """The spec file a `use "..."` line names: a `.arch` file in the including spec's folder
    or below it, else in the bundled library (`specs/`), found after following links and
    `..`; a UsageError says why not.  Never a path that leaves those folders: a spec is
    data, and it cannot make archc read (or quote) any other file."""
    if not target:
        raise UsageError("`use` needs a file name", hint='e.g. use "lib/inception.arch"')
    written = Path(target)
    if written.is_absolute() or written.drive or target.startswith(("~", "\\")):
        raise UsageError(f"`use` takes a path relative to the spec's folder, not `{target}`",
                         hint="put the file beside the spec, or in a folder below it")
    if written.suffix != ".arch":
        raise UsageError(f"`use` brings in spec files (.arch), not `{target}`")
    source_file = Path(including.path)
    here = source_file.parent if source_file.is_file() else Path.cwd()
    outside = None
    for base in (here, specs_dir()):
        base = base.resolve()
        candidate = (base / written).resolve()
        if not candidate.is_relative_to(base):
            outside = outside or base
            continue
        if candidate.exists():
            return candidate
    if outside is not None:
        raise UsageError(f"`{target}` lies outside the spec's folder",
                         hint="`use` reads only files in the spec's folder or below it, "
                              "and the bundled specs")
    raise UsageError(f"cannot find `{target}`",
                     hint="a `use` path is relative to the spec's folder or to the bundled specs")


def header(text: str) -> str:
    """A spec's opening comment paragraph, as one line (which names the paper)."""
    words = []
    for line in text.split("\n"):  # lines as the parser counts them (not at \x0b or \x1c)
        if not line.startswith("#") or not line.strip("# "):
            break
        words.append(line.lstrip("#").strip())
    return " ".join(words)
