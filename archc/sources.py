"""Where spec files come from: paths, bundled names (`archc stats vgg_e`), `use` targets.

The bundled specs and templates live in the top-level ``specs/`` and ``templates/``
folders of a checkout; an installed wheel carries copies inside the package
(``archc/specs``, ``archc/templates``, see pyproject.toml).  Both layouts are found here.
"""

from __future__ import annotations

import codecs
import difflib
import os
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


def read(path: Path) -> Source:
    """A spec file's text."""
    try:
        with open(path, "rb") as handle:
            return _read(handle, display_path(path), f"`{path}`")
    except OSError as exc:
        raise UsageError(f"cannot read `{path}`: {exc}") from None


def _read(stream: BinaryIO, name: str, described: str) -> Source:
    """UTF-8 text from ``stream``, shown under ``name``.  Of a spec over the size limit only
    the start is read — enough for the parser to refuse it where it crosses the limit."""
    try:
        data = stream.read(limits.MAX_BYTES + 4)
        decoder = codecs.getincrementaldecoder("utf-8")()
        text = decoder.decode(data, final=len(data) <= limits.MAX_BYTES)  # a cut character waits
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {described}: {exc}") from None
    # Universal newlines, as Python's text mode reads them.
    return Source(name, text.replace("\r\n", "\n").replace("\r", "\n"))


def find_use(target: str, including: Source) -> Path | None:
    """The file a `use "..."` line names: next to the including file, else among the bundled specs."""
    here = Path(including.path).parent if Path(including.path).is_file() else Path.cwd()
    for base in (here, specs_dir()):
        candidate = (base / target)
        if candidate.is_file():
            return candidate
    return None
