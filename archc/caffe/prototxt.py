"""Caffe's network definitions: protocol buffers' text format read into plain messages,
with a small lark grammar of its own (prototxt.lark) — no Caffe, no protobuf compiler.

A :class:`Message` keeps its fields in the order written, each with the place it was
written, so that every later error can point into the file.
"""

from __future__ import annotations

import ast as python_ast
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import lark

from .. import limits
from ..errors import Loc, ParseError, Source


@dataclass(frozen=True)
class Value:
    """A scalar as written: a string (``"Convolution"``), a number, or a word (an enum
    such as ``MAX`` or ``CONVOLUTION``, or ``true``)."""

    kind: str  # string | number | word
    text: str  # the string's contents, or the number or word as written
    loc: Loc

    def number(self) -> float:
        return float(self.text.rstrip("fF"))


@dataclass
class Message:
    """A message: its fields in order, scalars (:class:`Value`) and messages alike."""

    loc: Loc
    fields: list[tuple[str, Union[Value, "Message"]]] = field(default_factory=list)

    def all(self, name: str) -> list[Union[Value, "Message"]]:
        return [value for key, value in self.fields if key == name]

    def first(self, name: str):
        found = self.all(name)
        return found[0] if found else None

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.first(name)
        return value.text if isinstance(value, Value) else default

    def number(self, name: str, default: float | None = None) -> float | None:
        value = self.first(name)
        if value is None:
            return default
        if not isinstance(value, Value) or value.kind != "number":
            raise ParseError(f"`{name}` must be a number", value.loc)
        return value.number()

    def whole(self, name: str, default: int | None = None) -> int | None:
        number = self.number(name)
        if number is None:
            return default
        if number != int(number) or number < 0:
            raise ParseError(f"`{name}` must be a whole number", self.first(name).loc)
        return int(number)

    def message(self, name: str) -> "Message | None":
        value = self.first(name)
        return value if isinstance(value, Message) else None


@functools.lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = (Path(__file__).parent / "prototxt.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", propagate_positions=True)


def parse(source: Source) -> Message:
    """The file's top-level message; ParseError at the place where it stops being
    protocol buffers' text format."""
    if len(source.text.encode("utf-8")) > limits.MAX_BYTES:
        raise ParseError(f"this file is longer than {limits.MAX_BYTES // 1024 ** 2} MiB",
                         Loc(source, 1, 1, 1, 2),
                         hint="archc reads network definitions of up to 1 MiB")
    try:
        tree = _parser().parse(source.text)
    except lark.exceptions.UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        if isinstance(exc, lark.exceptions.UnexpectedEOF) or (token is not None
                                                              and token.type == "$END"):
            lines = source.text.rstrip().split("\n")  # just after the last thing written
            end = Loc(source, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
            raise ParseError("the file ends inside a message: a `{` is never closed", end,
                             hint="add the missing `}`") from None
        line, column = max(exc.line, 1), max(exc.column, 1)
        text = source.line(line)[column - 1:column + 19].split()
        what = f"`{text[0]}`" if text else "the end of the file"
        raise ParseError(f"unexpected {what}: this is not a Caffe network definition "
                         f"(protocol buffers' text format)", Loc(source, line, column, line,
                                                                 column + 1),
                         hint="fields are `name: value` and `name { ... }`") from None
    top = Message(Loc(source, 1, 1, 1, 2))
    _fill(top, tree.children, source)
    return top


def _loc(source: Source, meta) -> Loc:
    return Loc(source, meta.line, meta.column, meta.end_line, meta.end_column)


def _fill(message: Message, children, source: Source) -> None:
    for child in children:
        name = str(child.children[0])
        if child.data == "scalar":
            value = child.children[1]
            kind = value.data
            if kind == "strings":
                text = "".join(python_ast.literal_eval(str(t)) for t in value.children)
                message.fields.append((name, Value("string", text, _loc(source, value.meta))))
            else:
                token = value.children[0]
                loc = Loc(source, token.line, token.column, token.end_line, token.end_column)
                message.fields.append((name, Value(kind, str(token), loc)))
        else:
            inner = Message(_loc(source, child.meta))
            _fill(inner, child.children[1:], source)
            message.fields.append((name, inner))
