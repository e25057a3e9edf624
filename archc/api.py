"""The pipeline, end to end: spec (a path, a bundled name or text) → analysed IR."""

from __future__ import annotations

import os

from . import analysis, ir, sources
from .elaborate import elaborate
from .errors import Source, UsageError
from .parser import parse


def load_source(spec: str | os.PathLike) -> Source:
    """The text of a spec given as a path, a bundled name (`vgg_e`) or the text itself."""
    if isinstance(spec, os.PathLike):
        return sources.read(sources.resolve(spec))
    if not isinstance(spec, str):
        raise UsageError(f"a spec is a path, a bundled name or spec text, not {type(spec).__name__}")
    if "\n" in spec or spec.lstrip().startswith(("network", "#")):
        return Source("<spec>", spec)
    return sources.read(sources.resolve(spec))


def parse_input(text: str) -> tuple[int, int, int]:
    """`3x224x224` → (3, 224, 224), for ``--input`` and ``input=``."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UsageError(f"`{text}` is not an input shape", hint="write C×H×W, e.g. 3x224x224")
    return tuple(int(p) for p in parts)


def analyze(spec: "str | os.PathLike | ir.Network",
            input: "str | tuple[int, int, int] | None" = None) -> ir.Network:
    """Parse, elaborate and analyse a spec; every node of the result carries its ``info``.

    ``input`` overrides the spec's input shape (``"3x256x256"`` or ``(3, 256, 256)``).
    Raises :class:`~archc.errors.ArchcError` for anything wrong with the spec.
    """
    if isinstance(spec, ir.Network):
        return spec if spec.analysed and input is None else analysis.analyze(spec)
    shape = parse_input(input) if isinstance(input, str) else input
    source = load_source(spec)
    return analysis.analyze(elaborate(parse(source.text, source.path), shape))


__all__ = ["analyze", "load_source", "parse_input"]
