"""Fuzzing: whatever text archc is given, it either succeeds or says what is wrong and
where — an ArchcError with file:line:col — never another exception, never a hang.

Three generators:

* the grammar itself: ``hypothesis.extra.lark.from_lark`` over archc's grammar, with layer
  words, numbers and shapes drawn from archc's vocabulary so that most texts get past the
  lexer and reach elaboration and analysis;
* mutations of every bundled spec: tokens deleted, duplicated and swapped, random
  characters, huge numbers, odd Unicode;
* random *valid* networks, written as specs (Csmith-style, from a generator that tracks
  shapes itself): each must analyse, and the module generated from it must import and
  agree with the IR on the parameter count, the output shape, the side outputs' shapes
  and the state_dict's names — checked against the torch module, built on the meta device.

Whatever analyses, from any generator, must then generate Python that passes
tests/safety.py's inspection, import, and build (on the meta device) a model that agrees
with the IR: the round trip.

How many cases: the default hypothesis profile runs 5,000 in all (about 4 minutes);
``pytest tests/test_fuzz.py --hypothesis-profile=fuzz`` runs 50 times as many.
"""

from __future__ import annotations

import re

import torch
from hypothesis import event, given
from hypothesis import strategies as st

import archc
from archc import analysis, limits
from archc.errors import ArchcError, Source
from conftest import SPECS
from safety import check_error, check_generated, fuzz, spec_texts, watchdog

PATH = "<fuzz>"
HANG = 30.0  # seconds; every case here takes milliseconds


def outcome(text: str) -> archc.ir.Network | None:
    """Run the pipeline on ``text``: the network — its generated module imported and
    checked against the IR — or None after a proper error."""
    with watchdog(HANG, "analysing a fuzzed spec"):
        try:
            net = archc.analyze(Source(PATH, text))
        except ArchcError as exc:
            check_error(exc, text, PATH)
            event(f"error: {type(exc).__name__}")
            return None
        except Exception as exc:  # noqa: BLE001 - the property under test
            raise AssertionError(f"{type(exc).__name__} instead of an ArchcError: {exc}") from exc
        event("analysed")
        check_generated(archc.generate(net), net)
        round_trip(net)
    return net


def round_trip(net: archc.ir.Network) -> None:
    """The module generated for ``net`` imports, and the model it builds (on the meta
    device: shapes without memory) agrees with the IR on the parameter count, the
    state_dict's names, the output shape and each side output's."""
    module = archc.load(net)
    with torch.device("meta"):
        model = module.Model()
    assert sum(p.numel() for p in model.parameters()) == analysis.totals(net).params
    state = model.state_dict()
    for node in net.nodes:
        if node.op in ("conv", "linear"):
            assert f"{node.name}.weight" in state
    x = torch.empty(2, *net.input.as_list(), device="meta")
    out = model.eval()(x)
    expected = net.nodes[net.output].info.shape  # N×C logits from a 1×1 map too
    vector = expected.flat or (expected.height, expected.width) == (1, 1)
    assert list(out.shape) == [2, *([expected.channels] if vector else expected.as_list())]
    if net.sides:
        outputs = model.train()(x)
        assert len(outputs) == 1 + len(net.sides)
        for side, got in zip(net.sides, outputs[1:], strict=True):
            assert got.shape[1] == net.nodes[side.node].info.shape.channels


# -- 1. the grammar ------------------------------------------------------------------------------



@fuzz(2000)
@given(text=spec_texts())
def test_grammar_fuzz(text):
    outcome(text)


# -- 2. mutations of the bundled specs ---------------------------------------------------------

BUNDLED = sorted(SPECS.rglob("*.arch"))
_TOKEN = re.compile(r"\s+|[A-Za-z_][\w-]*|\d+|.", re.S)
_ODD = ["×", "≈", "±", "\u2028", "\x0c", "\x00", "\ufeff", "\x1b[2J", "é", "𝟘", "٣", "\r",
        "\t", "\u0085", '"""', "'''", "\\", "{", "}", "(", ")", ";", "\n", ":", "=", "/",
        "#", "x", "-", ".", ",", "%", "network", "block", "side", "concat", "use", "expect"]
_HUGE = ["0", "1", "2147483648", "16777217", "99999999999999999999", "9" * 400, "1e999"]


@st.composite
def mutated(draw):
    path = draw(st.sampled_from(BUNDLED))
    tokens = _TOKEN.findall(path.read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(tokens) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "number", "char"]))
        if op == "delete":
            del tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[draw(st.integers(0, len(tokens) - 1))])
        elif op == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "insert":
            tokens.insert(i, draw(st.sampled_from(_ODD)))
        elif op == "number":
            numbers = [k for k, t in enumerate(tokens) if t.isdigit()]
            if numbers:
                tokens[draw(st.sampled_from(numbers))] = draw(st.sampled_from(_HUGE))
        else:
            tokens.insert(i, draw(st.characters(codec="utf-8")))
        if not tokens:
            tokens = [""]
    return "".join(tokens)


@fuzz(2000)
@given(text=mutated())
def test_mutated_specs(text):
    outcome(text)


@fuzz(500)
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_random_text(text):
    outcome("network t input 3x8x8\n" + text)
    outcome(text)


@fuzz(100)
@given(text=mutated())
def test_the_command_line_on_mutated_files(text, tmp_path_factory):
    """`archc check`, `stats` and `compile` on the file: exit 0, 1 or 2, and no traceback."""
    from archc import cli

    folder = tmp_path_factory.mktemp("fuzz")
    spec = folder / "fuzzed.arch"
    spec.write_text(text, encoding="utf-8")
    for args in (["check", spec], ["stats", spec], ["compile", spec, "-o", folder / "out.py"]):
        with watchdog(HANG, f"archc {args[0]}"):
            code = cli.main([str(a) for a in args])
        assert code in (0, 1, 2)


# -- 3. random valid networks, round trip --------------------------------------------------------


class _Writer:
    """Writes a random network that is valid by construction: it tracks the channels and
    the map size itself (PyTorch's formulas, written out again here) so that every layer
    fits its input."""

    def __init__(self, draw):
        self.draw = draw
        self.lines: list[str] = []
        self.header: list[str] = []
        self.labels = 0

    def integer(self, low, high):
        return self.draw(st.integers(low, high))

    def choose(self, options):
        return self.draw(st.sampled_from(options))

    def label(self) -> str:
        if not self.draw(st.booleans()):
            return ""
        self.labels += 1
        return f"{self.choose(['conv', 'layer', 'stage', 'head', 'b'])}{self.labels}: "

    def write(self) -> str:
        self.channels = self.choose([1, 3, 4])
        self.size = self.integer(6, 40)
        first = f"network fuzzed input {self.channels}x{self.size}x{self.size}"
        if self.draw(st.booleans()):
            self.header.append(self.choose(["activation tanh", "activation scaled-tanh",
                                             "init normal std=0.01 bias=0",
                                             "default maxpool ceil"]))
        for _ in range(self.integer(1, 7)):
            self.item()
        if not self.lines:
            self.lines.append(self.keeping())
        self.head()
        return "\n".join([first, *self.header, *self.lines]) + "\n"

    # -- layers that keep the map size -------------------------------------------------------

    def keeping(self) -> str:
        """A layer that keeps the map's size (and says how it changes the channels)."""
        kind = self.choose(["conv", "conv", "lrn", "bn", "dropout", "act"])
        if kind == "conv":
            return self.conv(self.choose(["", "", " bias=false", " bn", " act=tanh", " act=none"]))
        if kind == "lrn":
            return self.lrn()
        if kind == "bn":
            return "bn"
        if kind == "dropout":
            return self.choose(["dropout", "dropout(0.3)", "dropout p=40%"])
        return self.choose(["relu", "tanh", "sigmoid"])

    def conv(self, options: str = "") -> str:
        out = self.integer(1, 12)
        k = self.choose([1, 3, 5])
        groups = self.choose([g for g in (1, 2, 3) if self.channels % g == 0 and out % g == 0])
        self.channels = out
        return f"conv{k}-{out}{f' groups={groups}' if groups > 1 else ''}{options}"

    def lrn(self) -> str:
        return self.choose(["LRN", "LRN size=3", "LRN(5, 1e-4, 0.75, 2)", "LRN convention=caffe"])

    # -- top-level items ----------------------------------------------------------------------

    def item(self):
        kind = self.choose(["layer", "layer", "shrink", "repeat", "group", "concat", "block",
                            "side", "table", "chain", "residual"])
        if kind == "layer":
            self.lines.append(self.label() + self.keeping())
        elif kind == "chain":  # what the Triton backend fuses: conv → act → LRN → max-pool
            parts = [self.conv(self.choose(["", " act=tanh", " act=sigmoid", " bias=false"]))]
            if self.draw(st.booleans()):
                parts.append(self.lrn())
            parts.append(self.shrink("maxpool"))
            self.lines.append(self.label() + "; ".join(parts))
        elif kind == "shrink":
            self.lines.append(self.label() + self.shrink())
        elif kind == "repeat":
            before = self.channels
            layer = self.keeping()
            if self.channels == before or not layer.startswith("conv") or "groups" in layer:
                self.lines.append(f"{self.label()}{layer} ×{self.integer(1, 3)}")
            else:  # a conv that changes the channels can repeat only as the same conv again
                self.lines.append(f"{self.label()}{layer}")
                self.lines.append(f"{re.sub(r'groups=[0-9]+', '', layer)} ×{self.integer(1, 3)}")
        elif kind == "group":
            body = "; ".join(self.keeping() for _ in range(self.integer(1, 3)))
            self.labels += 1
            self.lines.append(f"group{self.labels} {{ {body} }}")
        elif kind == "concat":
            self.concat()
        elif kind == "residual":
            self.residual()
        elif kind == "block":
            self.block()
        elif kind == "side" and self.lines:
            self.labels += 1
            classes = self.integer(2, 7)
            self.lines.append(f"aux{self.labels}: side weight=0.3 "
                              f"{{ {self.choose(['gap', 'adaptive-avgpool1'])}; FC-{classes} }}")
        elif kind == "table" and self.channels <= 6:
            out = self.integer(1, 6)
            rows = []
            for _ in range(self.channels):
                rows.append(" ".join(self.choose(["X", "."]) for _ in range(out)))
            columns = [list(r.split()) for r in rows]
            for j in range(out):  # every output map reads at least one input map
                if all(row[j] == "." for row in columns):
                    columns[self.integer(0, self.channels - 1)][j] = "X"
            self.labels += 1
            name = f"t{self.labels}"
            self.header.append(f"table {name} {{\n" + "\n".join(" ".join(r) for r in columns)
                               + "\n}")
            self.lines.append(f"{self.label()}conv{self.choose([1, 3])}-{out} table={name}")
            self.channels = out

    def shrink(self, kind: str | None = None) -> str:
        """A pooling layer or strided conv that fits the current map."""
        kind = kind or self.choose(["maxpool", "avgpool", "conv"])
        k = self.integer(1, min(3, self.size))
        stride = self.integer(1, 2)
        if kind == "conv":
            out = self.integer(1, 12)
            self.size = (self.size - k) // stride + 1
            self.channels = out
            return f"conv{k}-{out} stride={stride} pad=0"
        ceil = self.draw(st.booleans()) and self.size > k
        if ceil:
            out = -(-(self.size - k) // stride) + 1
            if (out - 1) * stride >= self.size:
                out -= 1
        else:
            out = (self.size - k) // stride + 1
        self.size = out
        return f"{kind}{k} stride={stride}{' ceil' if ceil else ''}"

    def concat(self):
        branches, total = [], 0
        c_in = self.channels
        for _ in range(self.integer(2, 3)):
            out = self.integer(1, 8)
            total += out
            shape = self.choose(["conv1", "pair", "pool"])
            if shape == "conv1":
                branches.append(f"conv1-{out}")
            elif shape == "pair":
                branches.append(f"{{ conv1-{self.integer(1, 8)}; conv3-{out} }}")
            else:
                branches.append(f"{{ maxpool3 stride=1 pad=1; conv1-{out} }}")
        self.channels = total
        named = [f"b{i}: {b}" if self.draw(st.booleans()) else b for i, b in enumerate(branches)]
        self.lines.append(f"{self.label()}concat {{ " + "; ".join(named) + " }")
        assert c_in >= 1

    def residual(self):
        """A residual unit: a body that keeps the shape, or one that changes it with a
        projection shortcut beside it; the activation after the sum, or none."""
        c_in = self.channels
        act = self.choose(["", " act=none", " act=tanh"])
        label = self.label()
        if self.draw(st.booleans()):
            body = "; ".join(self.conv() if self.draw(st.booleans()) else self.keeping()
                             for _ in range(self.integer(1, 3)))
            if self.channels != c_in:  # the body changed the width: project the shortcut
                shortcut = f"proj: conv1-{self.channels} act=none"
            else:
                shortcut = self.choose(["identity", "shortcut: identity", "{ bn }"])
        else:
            out = self.integer(1, 8)
            stride = self.choose([1, 2]) if self.size >= 3 else 1
            self.size = (self.size - 1) // stride + 1
            self.channels = out
            body = f"conv3-{out} stride={stride}; conv3-{out} bn=true"
            shortcut = f"down {{ conv1-{out} stride={stride}; bn }}"
        named = self.choose([f"{{ {body} }}", f"body {{ {body} }}"])
        self.lines.append(f"{label}add{act} {{ {named}; {shortcut} }}")

    def block(self):
        self.labels += 1
        name = f"unit{self.labels}"
        self.header.append(f"block {name}(c, k=3) {{ conv-c kernel=k; relu; conv1-c }}")
        out = self.integer(1, 8)
        self.lines.append(f"{self.label()}{name}({out}{self.choose(['', ', k=1', ', 5'])})")
        self.channels = out

    def head(self):
        kind = self.choose(["fc", "gap", "conv", "none"])
        if kind == "fc":
            for _ in range(self.integer(0, 2)):
                self.lines.append(f"FC-{self.integer(1, 16)}")
                if self.draw(st.booleans()):
                    self.lines.append("dropout")
            self.lines.append(f"FC-{self.integer(1, 10)}")
        elif kind == "gap":
            self.lines.append("gap")
            self.lines.append(f"FC-{self.integer(1, 10)}")
        elif kind == "conv":
            self.lines.append(f"conv1-{self.integer(1, 10)}")
            self.lines.append("gap")
        if self.draw(st.booleans()):
            self.lines.append("soft-max")


@st.composite
def valid_network(draw):
    return _Writer(draw).write()


@fuzz(300)
@given(text=valid_network())
def test_random_valid_networks_round_trip(text):
    assert outcome(text) is not None, "a valid network was refused (see the error above)"


# -- the limits hold whatever the text ---------------------------------------------------------


@fuzz(100)
@given(counts=st.lists(st.integers(1, 10**40), min_size=1, max_size=4))
def test_no_repeat_count_can_make_analysis_hang(counts):
    text = "network t input 3x8x8\n" + "{ " * len(counts) + "relu"
    text += "".join(f" }} ×{count}" for count in counts) + "\nFC-2\n"
    net = outcome(text)
    # What unrolling costs (counts[0] is the innermost): a scope for every pass of every
    # group, a node for every relu, and the input and FC nodes.
    scopes, passes = 0, 1
    for count in reversed(counts):
        passes *= count
        scopes += passes
    relus = passes
    if max(counts) > limits.MAX_REPEAT or 2 + scopes + relus > limits.MAX_LAYERS:
        assert net is None  # refused, by the repeat limit or the limit on what unrolls
    else:
        assert net is not None and len(net.nodes) == 1 + relus + 1


# -- every layer word with every decoration the grammar allows ---------------------------------

_DECORATED_WORDS = ["conv3-8", "conv1x3-8", "conv-8", "maxpool", "maxpool3", "avgpool2", "gap",
                    "global-avgpool", "adaptive-avgpool2", "subsample2", "FC-10", "linear-4",
                    "LRN", "soft-max", "dropout", "bn", "batchnorm", "relu", "tanh", "sigmoid",
                    "scaled-tanh", "unit", "nothing"]
_DECORATIONS = ["", "/2", "/1", "/0", "(1)", "(0.5)", "(5, 1e-4)", "(5, 1e308, 0.75, 2)",
                "(p=0.5)", "(c=4)", "(4, 5)", "()", " stride=2", " pad=1", " pad=same", " ceil",
                " bn=true", " act=tanh", " act=none", " groups=2", " in=10", " p=40%",
                " size=3", " convention=caffe", " kernel=3", " bias=false", " table=t",
                " std=0.01", " bias_init=1", " eps=1e-3", " foo=1", " relu"]


@fuzz(1000)
@given(word=st.sampled_from(_DECORATED_WORDS),
       decorations=st.lists(st.sampled_from(_DECORATIONS), max_size=3),
       repeat=st.sampled_from(["", " ×2", " x3"]), place=st.sampled_from(["top", "group",
                                                                          "branch", "block"]))
def test_every_layer_word_with_every_decoration(word, decorations, repeat, place):
    """`FC-10/2` raised KeyError from elaboration: each word, decorated every way the
    grammar allows, either works or gets a proper error."""
    layer = word + "".join(decorations) + repeat
    body = {"top": layer, "group": f"g {{ {layer} }}",
            "branch": f"concat {{ {layer}; conv1-8 }}", "block": "unit(8)"}[place]
    block = f"block unit(c) {{ {layer if place == 'block' else 'conv3-c'} }}\n"
    diagonal = "".join(" ".join("X" if i == j else "." for j in range(8)) + "\n" for i in range(8))
    head = ("network t input 8x16x16\ntable t {\n" + diagonal + "}\n"
            + block + "block nothing() { relu }\n")
    outcome(head + body + "\nFC-2\n")


@fuzz(100)
@given(name=st.sampled_from(sorted({w.lower() for w in dir(__builtins__) if w[:1].isupper()}
                                   | {w[:1].lower() + w[1:] for w in dir(__builtins__)
                                      if w[:1].isupper()}
                                   | {"true", "false", "none", "bACKENDS", "mAX_CLASSES",
                                      "model", "concat", "f", "torch", "nn"})))
def test_network_names_that_meet_python_names(name):
    """`network true` generated `class True`, `network valueError` hid ValueError."""
    outcome(f"network {name} input 3x8x8\nconv3-4\nFC-2\n")


@fuzz(100)
@given(empty=st.sampled_from(["g { }", "{ }", "g { } ×2", "concat { { }; conv1-2 }",
                              "concat { a { }; b: conv1-2 }", "nothing()", "aux: side { }"]))
def test_empty_groups_blocks_and_branches(empty):
    """An empty group or block crashed compile and load with min() of an empty sequence."""
    outcome(f"network t input 3x8x8\nblock nothing() {{ }}\n{empty}\nFC-2\n"
            if empty == "nothing()" else f"network t input 3x8x8\n{empty}\nFC-2\n")


_VALUES = st.one_of(st.booleans(), st.none(), st.integers(-2, 2 ** 64),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["0.5", "10", "", b"1", [1], (2,), 1j]))


@fuzz(200)
@given(num_classes=_VALUES, dropout=_VALUES, backend=st.sampled_from(["torch", "auto", "cuda", 1]))
def test_the_generated_constructor_takes_sane_arguments_or_says_no(num_classes, dropout, backend):
    """`num_classes=True`, `dropout=nan` or `num_classes=2**63` failed later inside torch."""
    model_class = archc.load("network t input 3x8x8\nconv3-4; dropout\nFC-3\n").Model
    with torch.device("meta"):
        try:
            model = model_class(num_classes=num_classes, dropout=dropout, backend=backend)
        except ValueError as exc:
            assert str(exc).split(" ")[0] in ("num_classes", "dropout", "backend")
            return
    assert type(num_classes) is int and 1 <= num_classes <= limits.MAX_SIZE
    assert type(dropout) in (int, float) and 0 <= dropout < 1
    assert sum(p.numel() for p in model.parameters()) > 0


# -- control and invisible characters in names and text, through the command line ------------

_ODD_TEXT = st.lists(st.characters(categories=["Cc", "Cf", "Zl", "Zp"]) | st.sampled_from(
    ["a", "é", "\\", '"', "'", "#", "\u202e", "\u2066", "\ufeff", "\x1b[2J", "\x9b"]),
    max_size=12).map("".join)


@fuzz(100)
@given(name=_ODD_TEXT, comment=_ODD_TEXT)
def test_odd_characters_never_reach_the_terminal_or_the_files(name, comment, tmp_path_factory):
    from archc import cli

    folder = tmp_path_factory.mktemp("odd")
    clean = "".join(c for c in name if c not in "/\x00") or "x"
    spec = folder / f"{clean}.arch"
    try:
        spec.write_text(f"# {comment}\nnetwork t input 3x8x8  # {comment}\nconv4-4\nFC-2\n",
                        encoding="utf-8", errors="surrogatepass")
    except (OSError, UnicodeError):
        return  # not a name this file system takes
    invisible = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f"
                           "\u202a-\u202e\u2066-\u2069\ufeff]")
    import contextlib
    import io

    for args in (["stats", spec], ["check", spec, spec], ["compile", spec, "-o", folder / "t.py"],
                 ["graph", spec, "-o", folder / "t.dot"]):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([str(a) for a in args])
        assert code in (0, 1, 2)
        assert not invisible.search(out.getvalue() + err.getvalue()), args[0]
    for made in (folder / "t.py", folder / "t.dot"):  # where the spec was valid
        if made.exists():
            text = made.read_text(encoding="utf-8").replace("\n", "").replace("\t", "")
            assert not invisible.search(text)
