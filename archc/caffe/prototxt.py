"""Caffe's network definitions: protocol buffers' text format read into plain messages —
no Caffe, no protobuf compiler.

The text format is fields ``name: value`` and messages ``name { ... }`` (or ``name: { ... }``,
``name < ... >``), in any order, a field repeated as often as it is given; ``#`` starts a
comment; ``,`` or ``;`` may follow a field; adjacent strings join.  That is LL(1) over four
kinds of token, so a regular expression tokenizes it and one loop reads it, with an
explicit stack (no recursion) and in time linear in the file: lark's LALR parser took
35–43 µs a token here, 10 s for a 1 MiB file within archc's limits; this takes about 2.

A :class:`Message` keeps its fields in the order written, each with the place its name and
its value were written, so that every later error can point into the file.  What the
fields mean — which exist, of what type — is :mod:`archc.caffe.schema`'s business.
"""

from __future__ import annotations

import bisect
import re
from typing import NamedTuple, Union

from .. import limits
from ..errors import Loc, ParseError, Source


class _Lines:
    """Where each line of a source begins, to turn an offset into a Loc when one is asked
    for: a definition has hundreds of thousands of tokens, and few ever need a place."""

    __slots__ = ("source", "starts")

    def __init__(self, source: Source):
        self.source = source
        self.starts = [0] + [m.end() for m in re.finditer("\n", source.text)]

    def loc(self, start: int, end: int) -> Loc:
        line = bisect.bisect_right(self.starts, start)
        column = start - self.starts[line - 1] + 1
        return Loc(self.source, line, column, line, column + max(end - start, 1))


class Value:
    """A scalar as written: a string (``"Convolution"``), a number, or a word (an enum
    such as ``MAX`` or ``CONVOLUTION``, or ``true``)."""

    __slots__ = ("kind", "text", "_lines", "_span")

    def __init__(self, kind: str, text: str, lines: _Lines, span: tuple[int, int]):
        self.kind = kind  # string | number | word
        self.text = text  # the string's contents, or the number or word as written
        self._lines, self._span = lines, span

    @property
    def loc(self) -> Loc:
        return self._lines.loc(*self._span)

    def number(self) -> float:
        if _HEX.fullmatch(self.text):
            return float(int(self.text, 16))
        return float(self.text.rstrip("fF"))

    def __repr__(self) -> str:
        return f"Value({self.kind}, {self.text!r})"


class Field(NamedTuple):
    name: str
    value: Union[Value, "Message"]
    lines: _Lines
    start: int  # where the name is written

    @property
    def loc(self) -> Loc:
        """Where the name is written."""
        return self.lines.loc(self.start, self.start + len(self.name))


class Message:
    """A message: its fields in order, scalars (:class:`Value`) and messages alike."""

    __slots__ = ("fields", "type", "_loc", "_lines", "_span")

    def __init__(self, loc: Loc | None = None, fields: list[Field] | None = None, *,
                 lines: _Lines | None = None, span: tuple[int, int] = (0, 0)):
        self.fields = fields if fields is not None else []
        self.type = ""  # its protobuf type, once the schema has checked it (LayerParameter)
        self._loc, self._lines, self._span = loc, lines, span

    @property
    def loc(self) -> Loc:
        """Where the message begins: its name."""
        return self._loc or self._lines.loc(*self._span)

    def all(self, name: str) -> list[Union[Value, "Message"]]:
        return [f.value for f in self.fields if f.name == name]

    def first(self, name: str):
        for f in self.fields:
            if f.name == name:
                return f.value
        return None

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.first(name)
        return value.text if isinstance(value, Value) else default

    def flag(self, name: str, default: bool) -> bool:
        """A bool field (the schema has made it `true` or `false`)."""
        value = self.first(name)
        return value.text == "true" if isinstance(value, Value) else default

    def number(self, name: str, default: float | None = None) -> float | None:
        value = self.first(name)
        return value.number() if isinstance(value, Value) else default

    def whole(self, name: str, default: int | None = None) -> int | None:
        number = self.number(name)
        return default if number is None else int(number)

    def message(self, name: str) -> "Message | None":
        value = self.first(name)
        return value if isinstance(value, Message) else None

    def __repr__(self) -> str:
        return f"Message({self.type or '?'}, {len(self.fields)} fields)"


# Blanks and comments, then one token: a string, a number, a name, a symbol, or anything else.
_TOKEN = re.compile(r"""(?:\s|\#[^\n]*)*(?:
      ("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | ([-+]?0[xX][0-9a-fA-F]+|[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?[fF]?)
    | ([A-Za-z_][A-Za-z0-9_]*)
    | ([{}<>:;,])
    | (.)
    | $)""", re.VERBOSE)
_KINDS = (None, "string", "number", "name", "symbol", "other")

_CLOSE = {"{": "}", "<": ">"}
_HEX = re.compile(r"[-+]?0[xX][0-9a-fA-F]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_ESCAPE = re.compile(r"""\\(?:([abfnrtv\\'"?])|([0-7]{1,3})|x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{4})"""
                     r"""|U([0-9a-fA-F]{8})|(.))""")
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
           "\\": "\\", "'": "'", '"': '"', "?": "?"}


def parse(source: Source) -> Message:
    """The file's top-level message; ParseError at the place where it stops being
    protocol buffers' text format, or crosses archc's limits."""
    # A byte-order mark, which Windows editors write, is not part of the text (as in specs).
    source = Source(source.path, source.text.removeprefix("\ufeff"))
    text = source.text
    if len(text.encode("utf-8")) > limits.MAX_BYTES:
        raise ParseError(f"this file is longer than {limits.MAX_BYTES // 1024 ** 2} MiB",
                         Loc(source, 1, 1, 1, 2),
                         hint="archc reads network definitions of up to 1 MiB")
    reader = _Reader(source)
    control = _CONTROL.search(text)
    if control:
        raise ParseError(f"a control character (U+{ord(control.group()):04X}) where protocol "
                         f"buffers' text format has none",
                         reader.lines.loc(control.start(), control.end()))
    return reader.read()


class _Reader:
    """One pass over the tokens: fields, values and a stack of open messages."""

    def __init__(self, source: Source):
        self.source = source
        self.lines = _Lines(source)
        self.tokens = self._tokens()

    def _tokens(self):
        """(kind, text, start, end) of every token, then ("end", "", offset, offset)."""
        for match in _TOKEN.finditer(self.source.text):
            kind = match.lastindex
            if kind is None:  # only blanks and comments were left
                break
            yield _KINDS[kind], match.group(kind), match.start(kind), match.end(kind)
        end = len(self.source.text.rstrip())  # just after the last thing written
        while True:
            yield "end", "", end, end + 1

    def _unexpected(self, text: str, start: int, end: int) -> ParseError:
        what = f"`{text}`" if text else "the end of the file"
        return ParseError(f"unexpected {what}: this is not a Caffe network definition "
                          f"(protocol buffers' text format)", self.lines.loc(start, end),
                          hint="fields are `name: value` and `name { ... }`")

    def read(self) -> Message:
        lines, tokens = self.lines, self.tokens
        top = Message(Loc(self.source, 1, 1, 1, 2))
        stack: list[tuple[Message, str]] = []  # open messages and the symbol that closes each
        current, closer = top, ""
        pending = None  # a token read ahead
        while True:
            kind, text, start, end = pending or next(tokens)
            pending = None
            if kind == "end":
                if stack:
                    raise ParseError("the file ends inside a message: a `{` is never closed",
                                     lines.loc(start, end), hint="add the missing `}`")
                return top
            if kind == "symbol" and text == closer:
                current, closer = stack.pop()
                pending = self._separator()
                continue
            if kind != "name":
                raise self._unexpected(text, start, end)
            name, name_at = text, start
            kind, text, start, end = next(tokens)
            colon = kind == "symbol" and text == ":"
            if colon:
                kind, text, start, end = next(tokens)
            if kind == "symbol" and text in _CLOSE:
                if len(stack) >= limits.MAX_NESTING:
                    raise ParseError(f"messages nest more than {limits.MAX_NESTING} deep here",
                                     lines.loc(start, end))
                inner = Message(lines=lines, span=(name_at, name_at + len(name)))
                current.fields.append(Field(name, inner, lines, name_at))
                stack.append((current, closer))
                current, closer = inner, _CLOSE[text]
                continue
            if not colon:
                raise self._unexpected(text, start, end)
            if kind == "string":
                parts, first = [self._unescape(text, start)], (start, end)
                kind, text, start, end = next(tokens)
                while kind == "string":  # "abc" "def" is "abcdef"
                    parts.append(self._unescape(text, start))
                    kind, text, start, end = next(tokens)
                pending = (kind, text, start, end)
                value = Value("string", "".join(parts), lines, first)
            elif kind in ("number", "name"):
                value = Value("number" if kind == "number" else "word", text, lines, (start, end))
            else:
                raise self._unexpected(text, start, end)
            current.fields.append(Field(name, value, lines, name_at))
            pending = self._separator(pending)

    def _separator(self, token=None):
        """The token after a field, unless it is the `,` or `;` that may follow one."""
        token = token or next(self.tokens)
        return None if token[0] == "symbol" and token[1] in ",;" else token

    def _unescape(self, quoted: str, start: int) -> str:
        if "\\" not in quoted:
            return quoted[1:-1]

        def one(match: re.Match) -> str:
            simple, octal, hexa, short, long, bad = match.groups()
            if bad is not None:
                at = start + 1 + match.start()
                raise ParseError(f"`\\{bad}` is not an escape of protocol buffers' text format",
                                 self.lines.loc(at, at + 2),
                                 hint='write `\\\\` for a backslash, `\\"` for a quote')
            if simple is not None:
                return _SIMPLE[simple]
            code = int(octal, 8) if octal else int(hexa or short or long, 16)
            return chr(code) if code < 0x110000 else "\ufffd"
        return _ESCAPE.sub(one, quoted[1:-1])
