"""The optional parts of archc and how to install them.

archc is published as DISTRIBUTION (the name `archc` on the package index belongs to an
unrelated project); the import name and the command stay `archc`.  ``pip install
archc-cnn`` is enough for `archc stats`, `check` and `compile`; the extras add the rest.
"""

from __future__ import annotations

import importlib
import types

from .errors import UsageError

DISTRIBUTION = "archc-cnn"

EXTRAS = {
    "torch": "building and running the generated modules (archc.build, archc.load, bench)",
    "triton": "the fused Triton kernels (backend='triton' or 'auto')",
    "graph": "`archc graph` (with Graphviz's `dot` program) and `archc stats --plot`",
    "train": "`archc train` and `archc eval`: data, the digits, progress bars, curves",
    "lsp": "`archc lsp`, the language server for editors (pygls)",
    "highlight": "the Pygments lexer for .arch files (Sphinx, MkDocs, pygmentize)",
}


def install(extra: str) -> str:
    """The command that installs archc with ``extra``."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def need(module: str, extra: str, what: str) -> types.ModuleType:
    """``module`` imported, or a UsageError saying that ``what`` needs it and which
    extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"{what} needs the Python package `{module}`, which is not installed",
                         hint=install(extra)) from None
