"""Spec text → the same spec, laid out one way: `archc fmt`, like gofmt or black.

The layout it gives (README, "archc fmt"):

* Lines stay lines.  A statement a line, except where the spec writes a `;` list — a row
  of the paper's table (`conv3-64 ×2; maxpool`) reads better on one line, and stays
  there.  Lines are never joined or split; stray `;` at either end of a line go.
* Indentation is four spaces a `{` level.  A `{ ... }` that opens and closes on one line
  stays on one line; one whose contents begin on the line of its `{` (a hanging brace)
  continues them in line with its first statement.
* Tokens are one space apart, except: none inside `( )`, before `,`, `;` or `:`, around
  `=` and `/` in options and layer words (`conv11-96/4 pad=0`); `×N` follows its layer
  or `}` after one space, as `×N` (`x2` becomes `×2`).  `expect` lines keep a space
  around their `=`, `≈` and `~`, whose right-hand side is written as it was.
* A run of lines (consecutive, at one indentation, no blank line between) reads as a
  table: labels that begin its lines are padded so that what they label starts in one
  column, as the bundled specs write `conv1:   conv7-64/2` over `maxpool: maxpool3/2
  pad=1`; and the last statements of its `;` lists (outside braces) start in one column,
  as VGG-C's rows put their `maxpool`s under one another.
* Comments stay where they are: a comment line at its block's indentation — or, where it
  is indented past the block right under a line (a note in the margin), under the
  comment that ends the line above if it was aligned with it, else in its own column; a
  comment at the end of a line in its column, or two spaces after the code where the
  code has grown into it.  At most one blank line in a row, none at either end; one
  newline at the end.

It changes the text, never the spec: the formatted text is parsed again and must give
the same syntax tree as the original (positions aside), or :func:`format_text` raises
instead of returning it.  Formatting formatted text changes nothing.
"""

from __future__ import annotations

import dataclasses
import re

from . import parser
from .errors import ArchcError, Source

INDENT = 4

# A line's code, token by token: strings, repeat counts, symbols, and runs of anything
# else (words, numbers, ranges, `138,357,544`, `≈`, `±1%`).
_TOKEN = re.compile(r'"[^"\n]*"?|[0-9]+[x×][0-9]+[x×][0-9]+(?![0-9A-Za-z_])|×[ \t]*[0-9]+'
                    r'|(?:[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*-?)?\{[0-9]{1,6}\}'  # `layer{1}`, `{0}`
                    r'|[{}();:,=/]|[^\s{}();:,=/"×]+|×')
_REPEAT = re.compile(r"×[ \t]*([0-9]+)|x([0-9]+)")
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*(-?\{[0-9]{1,6}\})?"
                    r"|\{[0-9]{1,6}\}")


class FormatError(ArchcError):
    """The formatter would have changed what the spec means: a bug in archc, reported
    rather than written."""


@dataclasses.dataclass
class _Line:
    """One line of the spec: its tokens (code) and its comment, as written."""

    tokens: list[str]
    comment: str | None
    comment_column: int | None  # where the comment began, in the original line
    depth: int = 0  # braces open at its start, after the ones it begins by closing
    closing: int = 0  # the `}` it begins with
    label: str | None = None  # the label that begins the line, if any


def format_text(text: str, path: str = "<spec>") -> str:
    """``text`` laid out as `archc fmt` lays out a spec; raises the parse error of a spec
    that does not parse, and :class:`FormatError` if the layout would change its meaning."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    before = parser.parse(text, path)
    # Lines as the parser counts them: by `\n` alone (splitlines would also split at
    # form feeds, U+0085 and Unicode's separators, which a comment may hold).
    lines = [_split(line) for line in text.removeprefix("\ufeff").split("\n")]
    formatted = bom + _layout(lines)
    try:
        after = parser.parse(formatted, path)
    except ArchcError:
        after = None
    if after is None or _meaning(before) != _meaning(after):
        raise FormatError(f"`archc fmt` would change what {path} means, so it leaves it as "
                          f"it is", hint="this is a bug in archc: please report it with "
                                         "the spec")
    return formatted


def _meaning(spec) -> object:
    """The syntax tree without what formatting may change: positions, token counts."""
    if isinstance(spec, Source):
        return None  # the text itself, which is what formatting changes
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        return (type(spec).__name__, tuple(
            (field.name, _meaning(getattr(spec, field.name)))
            for field in dataclasses.fields(spec)
            if not (field.name == "loc" or field.name.endswith("_loc")
                    or field.name.endswith("_locs") or field.name in ("tokens", "size"))))
    if isinstance(spec, (list, tuple)):
        return tuple(_meaning(item) for item in spec)
    if isinstance(spec, dict):
        return tuple(sorted((key, _meaning(value)) for key, value in spec.items()))
    return spec


# -- one line: tokens and comment ---------------------------------------------------------------


def _split(line: str) -> _Line:
    line = line.rstrip("\r")
    code, comment, column = line, None, None
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            code, comment = line[:i], line[i:].rstrip()
            column = len(line[:i].expandtabs(INDENT))
            break
    tokens = _tokens(code)
    while tokens and tokens[0] == ";":
        tokens.pop(0)
    while tokens and tokens[-1] == ";":
        tokens.pop()
    squeezed = []
    for token in tokens:
        if token == ";" and squeezed and squeezed[-1] == ";":
            continue
        squeezed.append(_REPEAT.sub(lambda m: f"×{m.group(1) or m.group(2)}", token)
                        if _REPEAT.fullmatch(token) else token)
    label = None
    if len(squeezed) >= 2 and squeezed[1] == ":" and _LABEL.fullmatch(squeezed[0]):
        label = squeezed[0]
    return _Line(squeezed, comment, column, label=label)


def _tokens(code: str) -> list[str]:
    """The tokens of a line's code; an `expect` statement's figures (`138,357,544`,
    `195/32/64`) are single tokens, as the grammar's EXPECTED is."""
    tokens: list[str] = []
    for statement in re.split(r"(;)", code):
        if statement == ";":
            tokens.append(";")
        elif statement.split()[:1] == ["expect"]:
            tokens += statement.split()
        else:
            tokens += _TOKEN.findall(statement)
    return tokens


def _statements(tokens: list[str]) -> list[list[str]]:
    """A line's tokens, split at its `;`s."""
    out: list[list[str]] = [[]]
    for token in tokens:
        if token == ";":
            out.append([])
        else:
            out[-1].append(token)
    return out


def _join(tokens: list[str], label_width: int = 0, last_column: int = 0) -> str:
    """A line's tokens, spaced as the layout says: its first label padded to
    ``label_width`` (the colon included), and the last statement of a `;` list starting
    at ``last_column``."""
    return _placed(tokens, label_width, last_column)[0]


def _placed(tokens: list[str], label_width: int = 0,
            last_column: int = 0) -> tuple[str, list[int]]:
    """:func:`_join`'s text, and where in it each token ends."""
    statements = _statements(tokens)
    text, ends = "", []
    for k, statement in enumerate(statements):
        cell, cell_ends = _join_statement(statement, label_width if k == 0 else 0)
        if k:
            gap = " " * (max(1, last_column - len(text)) if k == len(statements) - 1 else 1)
            text += gap
        ends += [len(text) + end for end in cell_ends]
        text += cell
        if k < len(statements) - 1:
            text += ";"
            ends.append(len(text))
    return text, ends


def _join_statement(tokens: list[str], label_width: int = 0) -> tuple[str, list[int]]:
    """One statement's tokens spaced, and where each ends."""
    expect = bool(tokens) and tokens[0] == "expect"
    out, ends = "", []
    for i, token in enumerate(tokens):
        before = tokens[i - 1] if i else None
        if i == 0:
            space = ""
        elif token in (",", ")", ":") or before == "(":
            space = ""
        elif token == "(":
            space = "" if before not in ("{", ",") else " "
        elif not expect and (token in ("=", "/") or before in ("=", "/")):
            space = ""
        elif i == 2 and label_width and tokens[1] == ":":
            space = " " * max(1, label_width - len(out) + 1)
        else:
            space = " "
        out += space + token
        ends.append(len(out))
    return out, ends


# -- the whole text ---------------------------------------------------------------------------


def _layout(lines: list[_Line]) -> str:
    _depths(lines)
    widths, columns = _alignment(lines)
    out: list[str] = []
    stack: list[int] = [0]  # the indentation of each open brace's contents
    previous_comment: tuple[int, int] | None = None  # (original column, new column)
    blank = True  # at the start, as after a blank line: no blank lines first
    for i, line in enumerate(lines):
        if not line.tokens and line.comment is None:
            if not blank:
                out.append("")
            blank, previous_comment = True, None
            continue
        blank_before = blank or not out
        blank = False
        closing = line.closing
        for _ in range(min(closing, len(stack) - 1)):
            stack.pop()
        indent = stack[-1]
        if not line.tokens:  # a comment line
            column = line.comment_column or 0
            if previous_comment and column == previous_comment[0] and column > indent:
                at = previous_comment[1]  # under the comment that ends the line above
            elif not blank_before and column > indent:
                at = column  # in the margin beside the code above: where it was
            else:
                at = indent
            out.append(" " * at + line.comment)
            previous_comment = (column, at) if at > indent else None
            continue
        joined, ends = _placed(line.tokens, widths.get(i, 0), columns.get(i, 0))
        code = " " * indent + joined
        # The braces this line opens and (after its leading ones) closes: a hanging one's
        # contents continue where its first statement starts.
        depth_in_line = []
        for k, token in enumerate(line.tokens):
            if k < closing:
                continue
            if token == "{":
                if k == len(line.tokens) - 1:
                    depth_in_line.append(indent + INDENT)
                else:
                    depth_in_line.append(indent + ends[k + 1] - len(line.tokens[k + 1]))
            elif token == "}":
                if depth_in_line:
                    depth_in_line.pop()
                elif len(stack) > 1:
                    stack.pop()
        stack.extend(depth_in_line)
        if line.comment is not None:
            at = max(line.comment_column or 0, len(code) + 2)
            out.append(code + " " * (at - len(code)) + line.comment)
            previous_comment = (line.comment_column, at)
        else:
            out.append(code)
            previous_comment = None
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def _depths(lines: list[_Line]) -> None:
    """Each line's brace depth at its start, and the braces it begins by closing."""
    depth = 0
    for line in lines:
        while line.closing < len(line.tokens) and line.tokens[line.closing] == "}":
            line.closing += 1
        line.depth = max(depth - line.closing, 0)
        depth = max(depth + line.tokens.count("{") - line.tokens.count("}"), 0)


def _runs(lines: list[_Line]):
    """Runs of consecutive lines of code at one depth (comment lines do not end one;
    blank lines and lines at another depth do)."""
    run: list[int] = []
    for i, line in enumerate(lines):
        if not line.tokens:
            if line.comment is None and run:
                yield run
                run = []
            continue
        if run and lines[run[-1]].depth != line.depth:
            yield run
            run = []
        run.append(i)
    if run:
        yield run


def _alignment(lines: list[_Line]) -> tuple[dict[int, int], dict[int, int]]:
    """For the lines of each run: the width labels are padded to (where two or more
    lines are labelled), and the column the last statement of a `;` list starts in
    (where two or more lines are lists, outside braces), so that a run reads as the
    paper's table does: VGG's `conv3-256 ×2; conv1-256; maxpool` over
    `conv3-64 ×2;             maxpool`."""
    widths: dict[int, int] = {}
    columns: dict[int, int] = {}
    for run in _runs(lines):
        labelled = [i for i in run if lines[i].label is not None]
        if len(labelled) >= 2:
            width = max(len(lines[i].label) + 1 for i in labelled)
            widths.update((i, width) for i in labelled)
        lists = [i for i in run if ";" in lines[i].tokens
                 and "{" not in lines[i].tokens and "}" not in lines[i].tokens]
        if len(lists) < 2:
            continue
        heads = [len(_join(lines[i].tokens, widths.get(i, 0))) -
                 len(_join_statement(_statements(lines[i].tokens)[-1])[0]) for i in lists]
        column = max(heads)
        columns.update((i, column) for i in lists)
    return widths, columns
