"""Text → AST: the lark LALR parser for ``grammar.lark`` and its error messages."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import replace
from pathlib import Path

import lark
from lark import Token, Transformer, v_args

from . import ast, limits, naming, vocabulary
from .errors import ArchcError, Loc, ParseError, Source

# What each terminal means to a person reading an error message.
_TERMINALS = {
    "WORD": "a word such as `conv3-64`",
    "PATH": "a layer name such as `conv1` or `features.0`",
    "BLOCK": "`block`",
    "NUMBERED": "a numbered label such as `denselayer{1}`",
    "NUMBER": "a number",
    "SHAPE": "an input shape C×H×W such as `3x224x224`",
    "STRING": 'a quoted path such as "lib/inception.arch"',
    "REPEAT": "a repeat count such as `×2`",
    "ROW": "a table row of `X` and `.`",
    "EXPECTED": "a value such as `138,357,544`, `≈ 133M`, `96x55x55` or `195/32/64`",
    "RANGE": "a range such as `256..512`",
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
    """The parser: lark's LALR tables for ``grammar.lark``, as shipped in
    :mod:`archc.parse_tables`, or built from the grammar (about 0.1 s) where those tables
    are not for this grammar and this lark.

    Nothing is unpickled and nothing is read from a cache: the tables are Python literals
    in archc's own package, written by ``python -m archc.tables`` (lark's own
    ``cache=True`` keeps a pickle in the shared temporary folder, which another user of
    the machine could plant).
    """
    grammar = _grammar()
    from . import parse_tables

    if (parse_tables.GRAMMAR_SHA256 == _digest(grammar)
            and parse_tables.LARK_VERSION == lark.__version__):
        return lark.Lark.load({"data": parse_tables.DATA, "memo": parse_tables.MEMO})
    return _build(grammar)


def _grammar() -> str:
    return (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")


def _digest(grammar: str) -> str:
    return hashlib.sha256(grammar.encode("utf-8")).hexdigest()


def _build(grammar: str) -> lark.Lark:
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=True)


def parse(text: str, path: str = "<spec>", tokens_before: int = 0,
          bytes_before: int = 0) -> ast.Spec:
    """Parse one spec file into its AST; raises :class:`ParseError` on bad syntax, or on
    text beyond archc's :mod:`~archc.limits` (checked first, so refusing is quick).

    ``tokens_before``, ``bytes_before``: what was already read from the files that `use`
    this one; it counts toward the same limits.
    """
    # A byte-order mark, which Windows editors write at the start of a file, is not part
    # of the text (and no editor shows it, so columns count from after it).
    source = Source(path, text.removeprefix("\ufeff"))
    text = source.text
    tokens = _check_limits(source, tokens_before, bytes_before)
    try:
        tree = _lark().parse(_uncommented(text) + "\n")
    except lark.exceptions.UnexpectedInput as exc:
        raise _parse_error(exc, source) from None
    try:
        spec = _ToAst(source).transform(tree)
    except lark.exceptions.VisitError as exc:  # lark wraps what the transformer raises
        if isinstance(exc.orig_exc, ArchcError):
            raise exc.orig_exc from None
        raise
    return replace(spec, tokens=tokens, size=bytes_before + len(text.encode("utf-8")))


def _uncommented(text: str) -> str:
    """The text without comments and trailing blanks, which the grammar ignores anyway:
    lark then sees a run of comment lines as one newline, not thousands of tokens.  What
    is left keeps its lines and columns, so positions still point into the text."""
    return _COMMENT.sub(lambda m: m.group(1) or "", text)


_COMMENT = re.compile(r'("[^"\n]*")|[ \t\f\r]*#[^\n]*|[ \t\f\r]+$', re.MULTILINE)


# Roughly what the lexer will see: words and numbers (with their inner `-`, `.`, `,`),
# quoted strings, comments (skipped), single symbols, and the end of each line that has
# any of those (blank and comment lines merge into it).
_SCAN = re.compile(r'#[^\n]*|"[^"\n]*"?|[\w.,-]+|[^\s]|\n')
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_limits(source: Source, tokens_before: int, bytes_before: int) -> int:
    """Refuse text too long, too many tokens or nested too deep, before lark sees it;
    returns the tokens counted, ``tokens_before`` included."""
    text = source.text
    surrogate = _SURROGATE.search(text)  # from Python strings only: files are decoded
    if surrogate:
        raise ParseError("this text is not valid Unicode (it holds a lone surrogate)",
                         _position(source, surrogate.start()))
    data = text.encode("utf-8")
    room = limits.MAX_BYTES - bytes_before
    if len(data) > room:
        fits = len(data[:max(room, 0)].decode("utf-8", "ignore"))
        what = "this spec and the files it uses are" if bytes_before else "this spec is"
        raise ParseError(f"{what} longer than {limits.MAX_BYTES // 1024 ** 2} MiB",
                         _position(source, fits),
                         hint="archc reads specs of up to 1 MiB, `use`d files included; "
                              "write repeated layers once, with ×N, or as a block")
    tokens, depth, line_ended = tokens_before, 0, True
    for match in _SCAN.finditer(text):
        token = match.group(0)
        if token[0] == "#" or (token == "\n" and line_ended):
            continue
        line_ended = token == "\n"
        tokens += 1
        if tokens > limits.MAX_TOKENS:
            what = "this spec and the files it uses have" if tokens_before else "this spec has"
            raise ParseError(f"{what} more than {limits.MAX_TOKENS:,} words and symbols",
                             _position(source, match.start(), len(token)),
                             hint="write repeated layers once, with ×N, or as a block")
        if token == "{":
            depth += 1
            if depth > limits.MAX_NESTING:
                raise ParseError(f"`{{ }}` nest more than {limits.MAX_NESTING} deep here",
                                 _position(source, match.start(), 1))
        elif token == "}":
            depth = max(depth - 1, 0)
    return tokens


def _position(source: Source, offset: int, width: int = 1) -> Loc:
    """The Loc of a character offset, counting lines as lark does (by `\\n` only)."""
    line = source.text.count("\n", 0, offset) + 1
    column = offset - (source.text.rfind("\n", 0, offset) + 1) + 1
    return Loc(source, line, column, line, column + width)


def _parse_error(exc: lark.exceptions.UnexpectedInput, source: Source) -> ParseError:
    allowed = set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
    token = getattr(exc, "token", None)
    if isinstance(exc, lark.exceptions.UnexpectedEOF) or (token is not None and token.type == "$END"):
        # Every statement may end at a newline, and parse() ends the text with one: the
        # text can only end too early inside `{ }`.
        end = _position(source, len(source.text))
        line, column = _unclosed_brace(source.text) or (end.line, end.column)
        return ParseError("this `{` is never closed", Loc(source, line, column, line, column + 1),
                          hint="add the matching `}`")

    expected = _expected(allowed)
    line, column = max(exc.line, 1), max(exc.column, 1)
    text = ""  # the unexpected word, if not the end of the line
    if token is None or token.type != "_NL":
        rest = source.line(line)[column - 1:]
        word = re.match(r"[^\s;{}()]+", rest) or re.match(r"\S", rest)
        text = word.group(0) if word else ""
    what, width = (f"`{text}`", len(text)) if text else ("end of line", 1)
    loc = Loc(source, line, column, line, column + width)
    offset = exc.pos_in_stream if token is None else token.start_pos
    if what == "`}`" and not _unclosed_brace(source.text[:offset]):
        return ParseError("this `}` closes nothing", loc)

    hint = None
    keyword_label = re.search(r"(?:^|[;{]|\s)(" + "|".join(sorted(naming.KEYWORDS - {"block"}))
                              + r")\s*$",
                              source.line(line)[:column - 1])
    if what == "`:`" and keyword_label:
        word = keyword_label.group(1)
        start = keyword_label.start(1) + 1
        return ParseError(f"`{word}` is a keyword and cannot be a label",
                          Loc(source, line, start, line, start + len(word)),
                          hint=f"call it something else, e.g. `{word}_1:`")
    nested = re.search(r"[{;]\s*(network|use|default|activation|init|block|table|expect|train|"
                       r"schedule|augment|evaluate)\b",
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
    elif text:
        hint = _misplaced(source.line(line)[:column - 1], text)
    if hint is None and text:
        before = source.line(line)[:column - 1]
        repeat = re.search(r"(\S+)\s+(×[ \t]*[0-9]+|x[0-9]+)\s*$", before)
        if repeat and re.match(r"[A-Za-z_]", text):
            hint = (f"options come before the repeat count: "
                    f"`{repeat.group(1)} {text} {repeat.group(2)}`")
    if hint:
        return ParseError(f"unexpected {what}", loc, hint=hint)
    return ParseError(f"unexpected {what}: expected {expected}", loc)


_KEYWORDS = {"NETWORK", "USE", "BLOCK", "TABLE", "EXPECT", "DEFAULT", "ACTIVATION", "INIT",
             "TRAIN", "SCHEDULE", "AUGMENT", "EVALUATE"}


def _misplaced(before: str, word: str) -> str | None:
    """A hint for numbers written where other notations put them, from the text before
    the unexpected ``word`` on its line: `conv3-64 x 2`, `FC 10`, `stride 2`, `conv3/2-64`."""
    stride = re.search(r"(\S+)/(\w+)$", before)
    if word.startswith("-") and stride:
        return f"the stride comes after the maps: `{stride.group(1)}{word}/{stride.group(2)}`"
    if not word[0].isdigit():
        return None
    statement = re.split(r"[;{]", before)[-1]
    words = re.sub(r"^\s*\w+\s*:", "", statement).split()  # without a label
    if words[-1:] == ["x"] and len(words) > 1:
        return f"write the count next to its x: `{words[-2]} x{word}` or `{words[-2]} ×{word}`"
    if len(words) == 1:
        found = vocabulary.match(words[0])
        if found is not None and found[0].positional:  # dropout(0.5), LRN(5, ...)
            kind = found[0]
            return (f"write `{words[0]}({word})` or `{words[0]} {kind.positional[0]}={word}`")
        return "the numbers belong in the layer word, as the papers write it: " \
               "`conv3-64`, `maxpool2`, `FC-10`"
    if words[:1] != ["activation"] and words and re.fullmatch(r"[A-Za-z_]\w*", words[-1]):
        return f"an option takes its value after `=`: `{words[-1]}={word}`"
    return None


def _unclosed_brace(text: str) -> tuple[int, int] | None:
    """Line and column of the innermost `{` left open at the end of ``text``, ignoring comments."""
    stack = []
    for number, line in enumerate(text.split("\n"), 1):
        line = re.sub(r'"[^"]*"', lambda m: " " * len(m.group(0)), line)  # `use "{"`
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

    def _whole(self, digits: str, token: Token) -> int:
        if len(digits) > limits.MAX_DIGITS:
            raise ParseError(f"a number of more than {limits.MAX_DIGITS} digits", self._tok(token))
        return int(digits)

    def network(self, meta, name, shape):
        dims = tuple(self._whole(d, shape) for d in re.split("[x×]", str(shape)))
        return ast.Network(str(name), dims, self._loc(meta), self._tok(shape))

    def use(self, meta, path):
        return ast.Use(str(path)[1:-1], self._loc(meta))

    def default(self, meta, kind, *options):
        return ast.Default(str(kind), self._tok(kind), tuple(options), self._loc(meta))

    def activation(self, meta, name):
        return ast.Activation(str(name), self._loc(meta))

    def init(self, meta, scheme, *options):
        return ast.Init(str(scheme), tuple(options), self._loc(meta))

    def block(self, meta, _keyword, name, *rest):
        *params, body = rest
        return ast.Block(str(name), tuple(p for p in params if p is not None), body, self._loc(meta))

    def param(self, meta, name, default):
        return ast.Param(str(name), default, self._loc(meta))

    def table(self, meta, name, *rows):
        cells = tuple(tuple(cell in "Xx" for cell in row.split()) for row in rows)
        return ast.Table(str(name), cells, tuple(self._tok(r) for r in rows), self._loc(meta))

    def expect(self, meta, inference, metric, target, approx, value, tolerance, disputed):
        for token in (value, tolerance):
            if token is not None and len(token) > 4 * limits.MAX_DIGITS:
                raise ParseError("this value is too long to be a count, shape, receptive field "
                                 "or tolerance", self._tok(token))
        tol = None
        if tolerance is not None:
            tol = _number_percent(re.sub(r"^(±|\+-)[ \t]*", "", str(tolerance)))
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
        count = None
        if repeat is not None:
            count = self._whole(re.sub(r"^(×[ \t]*|x)", "", str(repeat)), repeat)
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

    def concat(self, meta, *rest):
        *options, body = rest
        return ast.Concat(body, self._loc(meta), tuple(options))

    def add(self, meta, *rest):
        *options, body = rest
        return ast.Add(tuple(options), body, self._loc(meta))

    def mul(self, meta, *rest):
        *options, body = rest
        return ast.Add(tuple(options), body, self._loc(meta), op="mul")

    def side(self, meta, *rest):
        *options, body = rest
        if isinstance(body, tuple):  # a `{ ... }` body
            body = ast.Group(None, body, self._loc(meta))
        return ast.Side(tuple(options), body, self._loc(meta))

    def body(self, meta, *items):
        return tuple(items)

    def value(self, meta, token):
        return ast.Value(str(token), self._tok(token))

    def values(self, meta, *values):
        """`(256, 384, 512)`: one value, written as a list."""
        return ast.Value("(" + ", ".join(v.text for v in values) + ")", self._loc(meta))

    def recipe(self, meta, kind, *options):
        return ast.Recipe(str(kind), tuple(options), self._loc(meta))

