"""Source positions and the diagnostics archc reports against them.

Every error a user can cause derives from :class:`ArchcError`.  Errors and warnings
that belong to a place in a spec render like a compiler's::

    specs/vgg_d.arch:4:1: error: unknown layer `cnov3-64`
        cnov3-64 ×2; maxpool
        ^~~~~~~~
    hint: did you mean `conv3-64`?
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True, eq=False)
class Source:
    """The text of one spec file and the path it is shown under."""

    path: str
    text: str

    def line(self, number: int) -> str:
        """Line ``number`` (1-based), counting lines as the parser does: by `\\n` alone
        (``str.splitlines`` would also split at form feeds and Unicode separators)."""
        lines = self.text.split("\n")
        return lines[number - 1].rstrip("\r") if 0 < number <= len(lines) else ""


@dataclass(frozen=True)
class Loc:
    """A span in a source file: 1-based line and column, end column exclusive."""

    source: Source = field(compare=False, repr=False)
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    @property
    def path(self) -> str:
        return self.source.path

    def __str__(self) -> str:
        return f"{self.source.path}:{self.line}:{self.column}"

    def excerpt(self) -> str:
        """The source line and a caret under the span."""
        text = self.source.line(self.line)
        if not text:
            return ""
        start = max(self.column - 1, 0)
        if self.end_line == self.line and self.end_column > self.column:
            width = self.end_column - self.column
        else:
            width = 1
        # A very long line is shown as the part around the caret.
        if len(text) > _EXCERPT:
            first = max(0, min(start - _EXCERPT // 2, len(text) - _EXCERPT))
            text = ("…" if first else "") + text[first:first + _EXCERPT] + (
                "…" if first + _EXCERPT < len(text) else "")
            start = start - first + (1 if first else 0)
            width = max(1, min(width, len(text) - start))
        # Control characters would move the cursor or ring the bell; show them as `?`.
        text = _PRINTABLE.sub("?", text)
        # Keep tabs so the caret lines up under what the terminal shows.
        pad = "".join(c if c == "\t" else " " for c in text[:start])
        return f"    {text}\n    {pad}^{'~' * (width - 1)}"


_EXCERPT = 160  # characters of a source line shown
_NOTES = 8  # notes shown
# Invisible characters that change how the text around them reads: bidirectional
# overrides, embeddings and isolates (which can make a line display as something it is
# not), the marks that steer them, Unicode's line and paragraph separators, and the
# byte-order mark.
_INVISIBLE = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff"
# Control characters but tab and newline, lone surrogates (which no terminal can show),
# and the invisible characters above.
_PRINTABLE = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\ud800-\\udfff{_INVISIBLE}]")
# All of those, tab and newline included.
_CONTROL = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\\ud800-\\udfff{_INVISIBLE}]")


@dataclass(frozen=True)
class Note:
    """A secondary location attached to a diagnostic (`note: defined here`)."""

    message: str
    loc: Loc | None = None


def _render(severity: str, message: str, loc: Loc | None, hint: str | None,
            notes: tuple[Note, ...]) -> str:
    head = f"{loc}: {severity}: {message}" if loc else f"{severity}: {message}"
    parts = [_shown(head)]
    if loc is not None:
        excerpt = loc.excerpt()
        if excerpt:
            parts.append(excerpt)
    if len(notes) > _NOTES:  # a chain of block calls: its ends tell the story
        skipped = len(notes) - _NOTES + 1
        notes = (*notes[:_NOTES // 2], Note(f"... and {skipped} more like these"),
                 *notes[len(notes) - (_NOTES - 1 - _NOTES // 2):])
    for note in notes:
        parts.append(_shown(f"{note.loc}: note: {note.message}" if note.loc
                            else f"note: {note.message}"))
    if hint:
        parts.append(_shown(f"hint: {hint}"))
    return "\n".join(parts)


def _shown(text: str) -> str:
    """A message line as it may reach a terminal: spec text quoted in it (a file name, a
    stray character) cannot move the cursor, clear the screen or start a new line."""
    return _PRINTABLE.sub("?", text.replace("\n", "?"))


def printable(text: str) -> str:
    """Text as it may reach a terminal, keeping its lines: every other control character,
    and every character of :data:`_INVISIBLE`, becomes `?`."""
    return _PRINTABLE.sub("?", text)


def one_line(text: str) -> str:
    """Text from a spec or a file's name made safe for one line of a file archc writes (a
    comment in generated Python or DOT): every control character, newlines included,
    becomes a space."""
    return _CONTROL.sub(" ", text)


def multi_line(text: str) -> str:
    """The same for text that keeps its lines (the spec quoted in a docstring): control
    characters but tabs and newlines become spaces."""
    return _PRINTABLE.sub(" ", text)


class ArchcError(Exception):
    """Base of every error archc reports to a user; ``str()`` is the full message."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return _render("error", self.message, None, self.hint, ())

    def __str__(self) -> str:
        return self.render()


class SpecError(ArchcError):
    """An error at a place in a spec: syntax, meaning or geometry."""

    def __init__(self, message: str, loc: Loc | None, hint: str | None = None,
                 notes: tuple[Note, ...] | list[Note] = ()):
        super().__init__(message, hint)
        self.loc = loc
        self.notes = tuple(notes)

    def with_note(self, note: Note) -> "SpecError":
        """The same error, with one more note (used to say which block instance failed)."""
        err = type(self).__new__(type(self))
        SpecError.__init__(err, self.message, self.loc, self.hint, self.notes + (note,))
        return err

    def render(self) -> str:
        return _render("error", self.message, self.loc, self.hint, self.notes)


class ParseError(SpecError):
    """The text is not in the archc language."""


class SemanticError(SpecError):
    """The text parses but does not describe a network (unknown layer, bad option, ...)."""


class GeometryError(SemanticError):
    """The network's shapes do not work out (a map shrinks below 1×1, branches disagree, ...)."""


class UsageError(ArchcError):
    """A command-line or API argument is wrong (missing spec file, bad --input, ...)."""


@dataclass(frozen=True)
class Diagnostic:
    """A warning: something legal but probably unintended, such as pixels a convolution never reads."""

    message: str
    loc: Loc | None = None
    hint: str | None = None

    def render(self) -> str:
        return _render("warning", self.message, self.loc, self.hint, ())

