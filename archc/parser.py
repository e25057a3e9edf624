"""Text → AST: the lark LALR parser for ``grammar.lark`` and its error messages."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import lark
from lark import Token, Transformer, v_args

from . import ast
from .errors import Loc, ParseError, Source

# What each terminal means to a person reading an error message.
_TERMINALS = {
    "WORD": "a word such as `conv3-64`",
    "PATH": "a layer name such as `conv1` or `features.0`",
    "NUMBER": "a number",
    "SHAPE": "an input shape C×H×W such as `3x224x224`",
    "STRING": 'a quoted path such as "lib/inception.arch"',
    "REPEAT": "a repeat count such as `×2`",
    "ROW": "a table row of `X` and `.`",
    "EXPECTED": "a value such as `138,357,544`, `≈ 133M`, `96x55x55` or `195/32/64`",
    "TOLERANCE": "a tolerance such as `±2%`",
    "_NL": "a new line",
    "SEMICOLON": "`;`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "COMMA": "`,`",
    "COLON": "`:`",
    "EQUAL": "`=`",
    "SLASH": "`/`",
    "TILDE": "`~`",
    "$END": "the end of the file",
}


def _describe(terminal: str) -> str:
    if terminal in _TERMINALS:
        return _TERMINALS[terminal]
    if terminal.isupper() and terminal.isalpha():  # a keyword such as NETWORK
        return f"`{terminal.lower()}`"
    return f"`{terminal.strip(chr(34))}`"


def _expected(terminals) -> str:
    names = sorted({_describe(t) for t in terminals if not t.startswith("__")})
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


@functools.lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=True, cache=True)


def parse(text: str, path: str = "<spec>") -> ast.Spec:
    """Parse one spec file into its AST; raises :class:`ParseError` on bad syntax."""
    source = Source(path, text)
    try:
        tree = _lark().parse(text if text.endswith("\n") else text + "\n")
    except lark.exceptions.UnexpectedInput as exc:
        raise _parse_error(exc, source) from None
    return _ToAst(source).transform(tree)


def _parse_error(exc: lark.exceptions.UnexpectedInput, source: Source) -> ParseError:
    allowed = set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
    expected = _expected(allowed)
    token = getattr(exc, "token", None)
    if isinstance(exc, lark.exceptions.UnexpectedEOF) or (token is not None and token.type == "$END"):
        opened = _unclosed_brace(source.text)
        if opened:
            line, column = opened
            return ParseError("this `{` is never closed", Loc(source, line, column, line, column + 1),
                              hint="add the matching `}`")
        lines = source.text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        return ParseError(f"the file ends too early: expected {expected}",
                          Loc(source, line, column, line, column + 1))

    line, column = max(exc.line, 1), max(exc.column, 1)
    if token is not None and token.type == "_NL":
        what, width = "end of line", 1
    else:
        rest = source.line(line)[column - 1:]
        word = re.match(r"[^\s;{}()]+", rest) or re.match(r"\S", rest)
        what = f"`{word.group(0)}`" if word else "end of line"
        width = len(word.group(0)) if word else 1
    loc = Loc(source, line, column, line, column + width)
    offset = exc.pos_in_stream if token is None else token.start_pos
    if what == "`}`" and not _unclosed_brace(source.text[:offset]):
        return ParseError("this `}` closes nothing", loc)

    hint = None
    nested = re.search(r"[{;]\s*(network|use|default|activation|init|block|table|expect)\b",
                       source.line(line)[:column])
    if nested:
        hint = f"`{nested.group(1)}` statements belong at the top level of a file, not inside `{{ }}`"
    elif "SHAPE" in allowed:
        hint = "the input is channels × height × width, e.g. `input 3x224x224`"
    elif what.startswith(("`×", "`x")) and "REPEAT" in allowed:
        hint = "repeat a layer with a count, e.g. `conv3-64 ×2`"
    elif token is not None and token.type in _KEYWORDS:
        hint = f"`{token}` statements belong at the top level of a file, not inside `{{ }}`"
    elif token is not None and token.type == "_NL" and "RPAR" in allowed:
        hint = "close the argument list with `)`"
    elif token is not None and token.type == "_NL" and "NUMBER" in allowed:
        hint = "give the option a value, e.g. `pad=1`"
    if hint:
        return ParseError(f"unexpected {what}", loc, hint=hint)
    return ParseError(f"unexpected {what}: expected {expected}", loc)


_KEYWORDS = {"NETWORK", "USE", "BLOCK", "TABLE", "EXPECT", "DEFAULT", "ACTIVATION", "INIT"}


def _unclosed_brace(text: str) -> tuple[int, int] | None:
    """Line and column of the innermost `{` left open at the end of ``text``, ignoring comments."""
    stack = []
    for number, line in enumerate(text.splitlines(), 1):
        for column, char in enumerate(line.split("#", 1)[0], 1):
            if char == "{":
                stack.append((number, column))
            elif char == "}" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _number_percent(text: str) -> float:
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


@v_args(meta=True, inline=True)
class _ToAst(Transformer):
    """Parse tree → :mod:`archc.ast`; one method per rule (or `-> alias`) of the grammar."""

    def __init__(self, source: Source):
        super().__init__()
        self.source = source

    def _loc(self, meta) -> Loc:
        return Loc(self.source, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, token: Token) -> Loc:
        return Loc(self.source, token.line, token.column, token.end_line, token.end_column)

    def start(self, meta, *statements):
        return ast.Spec(self.source, tuple(statements))

    def network(self, meta, name, shape):
        dims = tuple(int(d) for d in re.split("[x×]", str(shape)))
        return ast.Network(str(name), dims, self._loc(meta))

    def use(self, meta, path):
        return ast.Use(str(path)[1:-1], self._loc(meta))

    def default(self, meta, kind, *options):
        return ast.Default(str(kind), self._tok(kind), tuple(options), self._loc(meta))

    def activation(self, meta, name):
        return ast.Activation(str(name), self._loc(meta))

    def init(self, meta, scheme, *options):
        return ast.Init(str(scheme), tuple(options), self._loc(meta))

    def block(self, meta, name, *rest):
        *params, body = rest
        return ast.Block(str(name), tuple(p for p in params if p is not None), body, self._loc(meta))

    def param(self, meta, name, default):
        return ast.Param(str(name), default, self._loc(meta))

    def table(self, meta, name, *rows):
        cells = tuple(tuple(cell in "Xx" for cell in row.split()) for row in rows)
        return ast.Table(str(name), cells, tuple(self._tok(r) for r in rows), self._loc(meta))

    def expect(self, meta, inference, metric, target, approx, value, tolerance, disputed):
        tol = None
        if tolerance is not None:
            tol = _number_percent(re.sub(r"^(±|\+-)\s*", "", str(tolerance)))
        return ast.Expect(
            inference=inference is not None, metric=str(metric), metric_loc=self._tok(metric),
            target=str(target) if target is not None else None,
            target_loc=self._tok(target) if target is not None else None,
            approx=bool(approx), value=str(value), value_loc=self._tok(value),
            tolerance=tol, disputed=disputed is not None, loc=self._loc(meta))

    def exact(self, meta):
        return False

    def approx(self, meta):
        return True

    def item(self, meta, label, thing, repeat):
        count = int(re.sub(r"^(×\s*|x)", "", str(repeat))) if repeat is not None else None
        return ast.Item(
            label=str(label) if label is not None else None,
            label_loc=self._tok(label) if label is not None else None,
            thing=thing, repeat=count,
            repeat_loc=self._tok(repeat) if repeat is not None else None,
            loc=self._loc(meta))

    def layer(self, meta, word, args, stride, *options):
        values, keywords = (), ()
        if args is not None:
            values = tuple(a for a in args if isinstance(a, ast.Value))
            keywords = tuple(a for a in args if isinstance(a, ast.Option))
        return ast.Layer(str(word), self._tok(word), values, keywords, stride, tuple(options),
                         self._loc(meta))

    def args(self, meta, *args):
        return [a for a in args if a is not None]

    def keyword(self, meta, key, value):
        return ast.Option(str(key), value, self._loc(meta))

    def flag(self, meta, key):
        return ast.Option(str(key), None, self._loc(meta))

    def group(self, meta, name, body):
        return ast.Group(str(name) if name is not None else None, body, self._loc(meta))

    def concat(self, meta, body):
        return ast.Concat(body, self._loc(meta))

    def side(self, meta, *rest):
        *options, body = rest
        if isinstance(body, tuple):  # a `{ ... }` body
            body = ast.Group(None, body, self._loc(meta))
        return ast.Side(tuple(options), body, self._loc(meta))

    def body(self, meta, *items):
        return tuple(items)

    def value(self, meta, token):
        return ast.Value(str(token), self._tok(token))
