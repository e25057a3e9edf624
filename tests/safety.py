"""What the fuzz, injection and limit tests check of every outcome.

* A spec that fails must fail as an :class:`ArchcError` that points into the text:
  ``path:line:col: error: ...``, then the line and a caret.
* A spec that succeeds must generate Python that parses, whose structure is what archc's
  templates produce and nothing else: the imports, classes and methods archc writes, and
  no name read anywhere that the module does not itself define, import or take from a
  short list of harmless builtins.  That is what rules out code smuggled in from a spec.
* Neither may take longer than a generous watchdog allows: a hang is a failure.

:func:`fuzz` gives every fuzzer its settings: ``cases`` examples in CI's default profile,
50 times as many under ``--hypothesis-profile=fuzz`` (the long run).
"""

from __future__ import annotations

import ast
import contextlib
import re
import signal
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

from archc import ir, parser
from archc.errors import ArchcError, SpecError

# Cases per fuzzer = SCALE × the number it asks for: 1 in the default profile, 50 in `fuzz`.
SCALE = max(1, settings.default.max_examples // 100)

IMPORTS = {"__future__", "torch", "torch.nn.functional", "collections", "typing", "archc"}
BUILTINS = {"super", "ValueError", "isinstance", "len", "zip", "range", "tuple", "sum", "float",
            "int", "str", "bool", "dict", "enumerate", "hasattr", "getattr", "None", "True",
            "False"}
HELPERS = {"Concat", "Add", "Subsample2d", "SparseConv2d", "ScaledTanh", "StochasticDepth",
           "Channels", "ChannelShuffle"}
METHODS = {"__init__", "forward", "reset_parameters", "dense", "initialise", "check_arguments",
           "extra_repr"}


def fuzz(cases: int) -> settings:
    """Hypothesis settings for a fuzzer of ``cases`` examples (times SCALE)."""
    # No `explain` phase: on Python < 3.12 it traces every line the failing case runs,
    # which makes a large network take minutes and trips the hang watchdog.
    return settings(max_examples=cases * SCALE, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])


@contextlib.contextmanager
def watchdog(seconds: float, what: str):
    """Fail (rather than wait forever) if the block runs longer than ``seconds``.  Not a
    speed test: the limits are tens of times what any case takes; only a hang trips it."""
    def expired(signum, frame):
        raise AssertionError(f"{what} ran for more than {seconds} s: a hang")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_error(exc: BaseException, text: str, path: str) -> str:
    """``exc`` is a proper archc error about ``text``; returns its rendering."""
    assert isinstance(exc, ArchcError), f"{type(exc).__name__}: {exc}"
    rendered = exc.render()
    if isinstance(exc, SpecError) and exc.loc is not None and exc.loc.path == path:
        head = rendered.split("\n", 1)[0]
        found = re.match(re.escape(path) + r":(\d+):(\d+): error: \S", head)
        assert found, head
        line, column = int(found.group(1)), int(found.group(2))
        lines = text.split("\n")
        assert 1 <= line <= len(lines) + 1 and column >= 1, head
        if line <= len(lines) and lines[line - 1].strip():
            assert "^" in rendered, rendered
        return rendered
    # An error in a file the spec brings in with `use` points there; a limit on the
    # whole text may point nowhere in particular.  Either way: a location.
    assert isinstance(exc, SpecError) and exc.loc is not None, rendered
    return rendered


def check_generated(source: str, net: ir.Network) -> ast.Module:
    """The generated module parses and holds only what archc's templates write."""
    tree = ast.parse(source)
    cls = net.class_name
    classes = {cls, f"{cls}Dense", f"{cls}Outputs"} | HELPERS
    defined, loaded = set(IMPORTS) | BUILTINS, set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module]
            else:
                modules = [a.name for a in node.names]
            assert set(modules) <= IMPORTS, ast.dump(node)
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ClassDef):
            assert node.name in classes, node.name
            defined.add(node.name)
        elif isinstance(node, ast.FunctionDef):
            assert node.name in METHODS, node.name
            defined.add(node.name)
            defined |= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
        elif isinstance(node, (ast.Lambda, ast.Global, ast.Nonlocal, ast.Delete, ast.Await)):
            raise AssertionError(f"unexpected {type(node).__name__} in generated code")
        elif isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, ast.comprehension):
            defined |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    stray = loaded - defined
    assert not stray, f"generated code reads names it never defines: {sorted(stray)}"
    # Every module-level statement is a docstring, an import, a name bound to a value, or
    # one of the classes and functions above.
    for statement in tree.body:
        assert isinstance(statement, (ast.Expr, ast.Import, ast.ImportFrom, ast.Assign,
                                      ast.AnnAssign, ast.ClassDef, ast.FunctionDef)), \
            ast.dump(statement)[:200]
        if isinstance(statement, ast.Expr):
            assert isinstance(statement.value, ast.Constant)
            assert isinstance(statement.value.value, str)
    return tree


def code_outside_strings(source: str) -> str:
    """The generated file's tokens with every comment and string literal left out: what
    Python would run.  Text from a spec must never appear in it."""
    import io
    import tokenize

    kept = [token.string for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type not in (tokenize.COMMENT, tokenize.STRING, tokenize.NL,
                                  tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)]
    return " ".join(kept)


# -- spec texts from the grammar ---------------------------------------------------------------

_WORDS = ["conv3-64", "conv1-8", "conv5-16", "conv11-96", "conv-c", "conv3-n", "maxpool",
          "maxpool3", "avgpool5", "gap", "adaptive-avgpool2", "subsample2", "FC-10",
          "FC-4096", "fc-n", "LRN", "soft-max", "dropout", "bn", "relu", "tanh",
          "scaled-tanh", "sigmoid", "inception", "b", "blk", "c", "n", "t", "features",
          "aux", "pad", "stride", "groups", "ceil", "bias", "act", "table", "kernel", "size",
          "p", "weight", "normal", "std", "same", "valid", "true", "params", "macs", "shape",
          "rf", "neurons", "x", "torch", "self", "_private", "class", "network"]


def _spaced(strategy):
    return strategy.map(lambda token: token + " ")


def spec_texts():
    """Spec texts drawn from archc's grammar (hypothesis.extra.lark), with layer words,
    numbers and shapes drawn from archc's vocabulary so that most get past the lexer."""
    import lark

    text = (Path(parser.__file__).parent / "grammar.lark").read_text(encoding="utf-8")
    grammar = lark.Lark(text, parser="lalr", lexer="contextual", maybe_placeholders=True)
    explicit = {t.name: _spaced(st.just(t.pattern.value)) for t in grammar.terminals
                if t.pattern.type == "str"}
    explicit.update({
        "WORD": _spaced(st.sampled_from(_WORDS)),
        "PATH": _spaced(st.sampled_from(["conv1", "features.0", "aux.1", "pool5", "x"])),
        "NUMBER": _spaced(st.sampled_from(["0", "1", "2", "3", "4", "64", "0.5", "1e-4",
                                           "40%", "1e999", "99999999999"])),
        "SHAPE": _spaced(st.sampled_from(["3x32x32", "1x8x8", "3×224×224", "3x0x4",
                                          "1x99999999x1"])),
        "REPEAT": _spaced(st.sampled_from(["×2", "x3", "× 1", "×0", "x1001"])),
        "EXPECTED": _spaced(st.sampled_from(["10", "1,000", "133M", "96x55x55",
                                             "195/32/64", "3x3", "1.5G", "1e5"])),
        "TOLERANCE": _spaced(st.sampled_from(["±2%", "+-1%"])),
        "ROW": st.sampled_from(["X X", "X .", ". X", "x - x", "X"]),
        "STRING": _spaced(st.sampled_from(['"lib/inception.arch"', '"nowhere.arch"',
                                           '"lib/torchvision.arch"', '""'])),
        "_NL": st.just("\n"),
    })
    return from_lark(grammar, start="start", explicit=explicit)
