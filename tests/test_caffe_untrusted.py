"""Caffe definitions from a stranger: every field read as caffe.proto defines it, every
refusal an error at its place, every file within the limits imported or refused quickly.

Counts here are written out from Caffe's formulas (output = (in + 2·pad − k) / stride + 1,
rounded down for a convolution and up for pooling unless round_mode: FLOOR); the fuzzers
draw definitions from caffe.proto's own fields (archc.caffe.schema) and mutate the released
files, and hold every outcome to "imported, or an ArchcError that points into the file".
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import archc
from archc import limits
from archc.caffe import importer, schema
from archc.errors import ArchcError, Source, SpecError
from safety import fuzz, watchdog

CAFFE = Path(__file__).resolve().parent / "data" / "caffe"
HEAD = 'name: "t"\ninput: "data"\ninput_dim: 1 input_dim: 3 input_dim: 32 input_dim: 32\n'


def imported(text: str, name: str = "t.prototxt") -> archc.ir.Network:
    result = importer.import_text(Source(name, text))
    return archc.analyze(archc.Source("t.arch", result.text))


def conv(params: str, name: str = "c", bottom: str = "data") -> str:
    return (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" '
            f'convolution_param {{ {params} }} }}\n')


def fc(n: int, name: str = "fc", bottom: str = "c") -> str:
    return (f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{name}" '
            f'inner_product_param {{ num_output: {n} }} }}\n')


# -- what Caffe's fields mean ---------------------------------------------------------------------


def test_kernel_h_and_kernel_w_are_the_kernel():
    """A 3×5 convolution with padding 1 on 32×32: 16 × 32 × 30 maps."""
    net = imported(HEAD + conv("num_output: 16 kernel_h: 3 kernel_w: 5 pad: 1") + fc(10))
    out_h, out_w = (32 + 2 - 3) // 1 + 1, (32 + 2 - 5) // 1 + 1
    assert net.node("c").info.shape.as_list() == [16, out_h, out_w]
    assert archc.totals(net).params == (16 * 3 * 3 * 5 + 16) + (16 * out_h * out_w * 10 + 10)


def test_repeated_kernel_size_is_height_then_width():
    net = imported(HEAD + conv("num_output: 4 kernel_size: 1 kernel_size: 3 pad: 0") + fc(2))
    assert net.node("c").info.shape.as_list() == [4, 32, 30]


def test_stride_h_pad_h_and_their_w_are_read():
    net = imported(HEAD + conv("num_output: 4 kernel_size: 3 stride_h: 2 stride_w: 2 pad_h: 1 "
                               "pad_w: 1") + fc(2))
    side = (32 + 2 * 1 - 3) // 2 + 1
    assert net.node("c").info.shape.as_list() == [4, side, side]


@pytest.mark.parametrize("pads, written, shape", [
    ("pad_h: 0 pad_w: 3", "conv1x7-8", [8, 32, 32]),       # Inception-v3's: "same" per axis
    ("pad_h: 3 pad_w: 0", "conv1x7-8 pad=(3, 0)", [8, 38, 26]),
    ("pad_h: 2 pad_w: 2", "conv1x7-8 pad=2", [8, 36, 30]),
])
def test_padding_that_differs_between_the_axes(pads, written, shape):
    """Caffe's pad_h and pad_w: the spec says `pad=(H, W)` where they are not "same"
    (this was refused: "archc's are the same along both axes")."""
    text = HEAD + conv(f"num_output: 8 kernel_h: 1 kernel_w: 7 {pads}") + fc(2)
    spec = importer.import_text(Source("t.prototxt", text)).text
    assert f"c: {written}" in spec
    net = imported(text)
    assert net.node("c").info.shape.as_list() == shape
    assert archc.totals(net).params == 8 * 3 * 7 + 8 + 8 * shape[1] * shape[2] * 2 + 2
    from archc.caffe import exporter

    again = imported(exporter.export(net))  # and back: pad_h and pad_w as they were
    assert again.node("c").info.shape.as_list() == shape
    assert again.node("c").text == net.node("c").text


@pytest.mark.parametrize("rounding, expected", [
    ("", -(-(32 - 3) // 2) + 1),                      # Caffe rounds up: 16
    ("round_mode: CEIL", -(-(32 - 3) // 2) + 1),
    ("round_mode: FLOOR", (32 - 3) // 2 + 1),          # since 2018: 15
    ("ceil_mode: false", (32 - 3) // 2 + 1),           # DenseNet-Caffe's fork
    ("ceil_mode: true", -(-(32 - 3) // 2) + 1),
])
def test_pooling_rounds_as_the_file_says(rounding, expected):
    text = HEAD + ('layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" '
                   f'pooling_param {{ pool: MAX kernel_size: 3 stride: 2 {rounding} }} }}\n')
    net = imported(text + fc(2, bottom="pool"))
    assert net.node("pool").info.shape.as_list() == [3, expected, expected]


def test_booleans_as_the_text_format_writes_them():
    for written in ("false", "False", "f", "0"):
        net = imported(HEAD + conv(f"num_output: 4 kernel_size: 3 bias_term: {written}") + fc(2))
        assert net.node("c").layer.bias is False


def test_an_auxiliary_head_of_one_inner_product():
    text = (HEAD + conv("num_output: 4 kernel_size: 3") + fc(10, "main") + fc(10, "aux")
            + 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "main" bottom: "label" '
              'top: "loss" }\n'
            + 'layer { name: "aux_loss" type: "SoftmaxWithLoss" bottom: "aux" bottom: "label" '
              'top: "aux_loss" loss_weight: 0.3 }\n')
    result = importer.import_text(Source("t.prototxt", text))
    net = archc.analyze(archc.Source("t.arch", result.text))
    assert [s.weight for s in net.sides] == [0.3]
    assert net.node(result.labels["aux"]).info.shape.as_list() == [10]


def test_layers_named_like_archc_keywords_are_renamed():
    text = HEAD + conv("num_output: 4 kernel_size: 3", "init") + \
        conv("num_output: 4 kernel_size: 3", "concat", bottom="init") + fc(2, "network", "concat")
    result = importer.import_text(Source("t.prototxt", text))
    assert [result.labels[n] for n in ("init", "concat", "network")] == \
        ["init_", "concat_", "network_"]
    archc.analyze(archc.Source("t.arch", result.text))


def test_a_byte_order_mark_is_not_part_of_the_text():
    net = imported("\ufeff" + HEAD + conv("num_output: 4 kernel_size: 3") + fc(2))
    assert archc.totals(net).params == 4 * 3 * 9 + 4 + 4 * 30 * 30 * 2 + 2


def test_an_eltwise_product_is_a_mul_both_ways():
    text = (HEAD + conv("num_output: 3 kernel_size: 1", name="c1") +
            'layer { name: "prod" type: "Eltwise" bottom: "c1" bottom: "data" top: "prod" '
            'eltwise_param { operation: PROD } }\n' + fc(2, bottom="prod"))
    written = importer.import_text(Source("t.prototxt", text)).text
    assert "prod: mul {" in written
    net = imported(text)
    assert net.node("prod").op == "mul" and net.node("prod").info.shape.as_list() == [3, 32, 32]
    from archc.caffe import exporter

    assert "operation: PROD" in exporter.export(net)
    gated = archc.analyze("network g input 8x4x4\nmul { identity; { gap; conv1-8 act=sigmoid } }\n"
                          "gap\nFC-2\n")
    with pytest.raises(archc.SpecError, match="Eltwise multiplies blobs of one shape"):
        exporter.export(gated)


def test_a_branch_of_one_layer_keeps_its_caffe_name():
    """The long fuzzing run's find: a Concat of a convolution and its own input writes the
    branch `{ l0: conv1-1 act=none }`, whose one layer lost its label (a group of one
    child was that child, under the group's name), and the check of the written spec
    raised KeyError: 'l0'.  (Since a concat's unlabelled branches lie in the join, the
    layer is `l1.l0`, beside the identity.)"""
    net = imported(HEAD + conv("num_output: 1 kernel_size: 1", name="l0") +
                   'layer { name: "l1" type: "Concat" bottom: "l0" bottom: "data" top: "l1" }\n')
    assert [n.name for n in net.nodes][1:] == ["l1.l0", "l1.identity", "l1"]


def test_names_given_twice_are_numbered():
    text = HEAD + "".join('layer { name: "r" type: "ReLU" bottom: "data" top: "data" }\n'
                          for _ in range(3)) + conv("num_output: 2 kernel_size: 1") + fc(2)
    result = importer.import_text(Source("t.prototxt", text))
    assert re.findall(r"^(r\w*): relu", result.text, re.M) == ["r", "r_2", "r_3"]


def test_every_field_of_the_released_files_is_one_caffe_proto_defines():
    """The schema is caffe.proto's: the released definitions hold nothing it lacks."""
    from archc.caffe import prototxt

    for path in sorted(CAFFE.glob("*.prototxt")):
        schema.check(prototxt.parse(Source(path.name, path.read_text())))


# -- files at the limits: refused or imported, never a wait -----------------------------------------


def _chain(layers: int, name=lambda i: f"r{i}") -> str:
    return HEAD + "".join(f'layer {{ name: "{name(i)}" type: "ReLU" bottom: "data" top: "data" }}\n'
                          for i in range(layers))


@pytest.mark.parametrize("text", [
    _chain(limits.MAX_LAYERS + 1),
    _chain(limits.MAX_LAYERS),
    _chain(limits.MAX_LAYERS, name=lambda i: "same"),
    'name: "t"\n' + "input_dim: 1\n" * 80_000,
    'name: "t"\n' + "state { " * 1000 + "}" * 1000,
    HEAD + conv("num_output: 8 kernel_size: 1") + "".join(
        fc(2, f"a{i}") + f'layer {{ name: "l{i}" type: "SoftmaxWithLoss" bottom: "a{i}" '
                         f'bottom: "label" top: "l{i}" loss_weight: 0.3 }}\n' for i in range(800)),
], ids=["over the layer limit", "at the layer limit", "one name 5,000 times",
        "1 MiB of fields", "1,000 nested messages", "800 auxiliary heads"])
def test_files_at_the_limits_are_refused_or_imported_without_a_wait(text):
    """Not a speed test (benchmarks/bench_limits.py times these): a watchdog for hangs and
    quadratic work, which took 24-42 s on such files."""
    with watchdog(20, "importing a file at the limits"):
        try:
            importer.import_text(Source("t.prototxt", text))
        except ArchcError as exc:
            assert isinstance(exc, SpecError) and exc.loc is not None


# -- fuzzing ----------------------------------------------------------------------------------------

def outcome(text: str) -> None:
    """Import ``text``: a spec that analyses, or an ArchcError that points into the file."""
    with watchdog(30, "importing a fuzzed definition"):
        try:
            result = importer.import_text(Source("fuzz.prototxt", text))
        except ArchcError as exc:
            assert isinstance(exc, SpecError), f"{type(exc).__name__}: {exc}"
            assert exc.loc is not None and exc.loc.path == "fuzz.prototxt", exc.render()
            assert exc.render().startswith(f"fuzz.prototxt:{exc.loc.line}:{exc.loc.column}: ")
            return
        except Exception as exc:  # noqa: BLE001 - the property under test
            raise AssertionError(f"{type(exc).__name__} instead of an ArchcError: {exc}") from exc
        archc.analyze(archc.Source("t.arch", result.text))


# Values of each type: right ones mostly, and near misses (a wrong type, out of range).
_VALID = {
    schema.STRING: ['"data"', '"c"', '"x y"', '"a\\"b"'],
    schema.BOOL: ["true", "false", "True", "f"],
    schema.FLOAT: ["0", "0.5", "1e-4", "0.75", "2"],
}
_NEAR_MISSES = {
    schema.STRING: ["data", "1"], schema.BOOL: ["2", '"true"', "maybe"],
    schema.FLOAT: ["1e999", "nan", '"1"', "-1"],
}
_WHOLE = ["1", "2", "3", "5", "7", "64"]
_WHOLE_MISSES = ["0", "-1", "4294967296", "1.5", "1e999", "0x10", '"3"', "x", "99999999"]


def _value(kind) -> st.SearchStrategy:
    if isinstance(kind, schema.Enum):
        return st.sampled_from([*kind] * 6 + ["NOPE", "\"MAX\""])
    valid, misses = _VALID.get(kind, _WHOLE), _NEAR_MISSES.get(kind, _WHOLE_MISSES)
    return st.sampled_from(valid * 12 + misses)


@st.composite
def _message(draw, kind: str, depth: int) -> str:
    """A message of caffe.proto's type ``kind``: its own fields with values of the right
    type or a near miss, now and then a misspelt field."""
    fields = schema.MESSAGES[kind]
    names = draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True))
    if kind in ("ConvolutionParameter", "InnerProductParameter") and draw(st.integers(0, 4)) < 4:
        names = ["num_output", *(n for n in names if n != "num_output")]  # as Caffe needs
    if kind in ("ConvolutionParameter", "PoolingParameter") and draw(st.integers(0, 4)) < 4:
        names = ["kernel_size", *(n for n in names if n not in ("kernel_size", "kernel_h",
                                                               "kernel_w", "global_pooling"))]
    parts = []
    for name in names:
        declared = fields[name]
        declared = declared[0] if isinstance(declared, schema.Repeated) else declared
        if isinstance(declared, str) and declared in schema.MESSAGES and depth < 3:
            parts.append(f"{name} {{ {draw(_message(declared, depth + 1))} }}")
        elif isinstance(declared, str) and (declared in schema.MESSAGES or declared == schema.OPAQUE):
            parts.append(f"{name} {{ }}")
        else:
            parts.append(f"{name}: {draw(_value(declared))}")
    if draw(st.integers(0, 49)) == 49:  # rarely (hypothesis favours small numbers)
        parts.append(f"{draw(st.sampled_from(sorted(fields)))}x: 1")
    return " ".join(parts)


_TYPES = ["Convolution", "ReLU", "Pooling", "InnerProduct", "LRN", "Dropout", "Concat",
          "Eltwise", "BatchNorm", "Scale", "Softmax", "Split", "SoftmaxWithLoss", "Crop"]
_PARAMS = {"Convolution": "convolution_param", "Pooling": "pooling_param",
           "InnerProduct": "inner_product_param", "LRN": "lrn_param",
           "Dropout": "dropout_param", "Concat": "concat_param", "Eltwise": "eltwise_param",
           "BatchNorm": "batch_norm_param", "Scale": "scale_param", "Softmax": "softmax_param"}


@st.composite
def definitions(draw) -> str:
    """A definition drawn from caffe.proto: a chain of layers, each reading one or two of
    the blobs before it, with parameter messages drawn from the schema."""
    blobs, lines = ["data"], [HEAD]
    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(_TYPES))
        bottoms = draw(st.sampled_from([[blobs[-1]], [blobs[-1], blobs[-2 if i else 0]], [],
                                        ["nowhere"]])
                       | st.lists(st.sampled_from(blobs), min_size=1, max_size=2))
        top = draw(st.sampled_from([f"b{i}", blobs[-1]]))
        body = [f'name: "l{i}"', f'type: "{kind}"', *(f'bottom: "{b}"' for b in bottoms),
                f'top: "{top}"']
        if kind in _PARAMS:
            param = _PARAMS[kind]
            body.append(f"{param} {{ {draw(_message(schema.MESSAGES['LayerParameter'][param], 1))} }}")
        if draw(st.integers(0, 9)) == 9:
            body.append(draw(_message("LayerParameter", 1)))
        lines.append("layer { " + " ".join(body) + " }\n")
        blobs.append(top)
    return "".join(lines)


@fuzz(1000)
@given(text=definitions())
def test_definitions_drawn_from_caffe_proto(text):
    outcome(text)


_RELEASED = [p.read_text() for p in sorted(CAFFE.glob("*.prototxt"))]
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|[\w.+-]+|\S')


@st.composite
def mutated(draw) -> str:
    """A released definition with tokens deleted, duplicated, swapped or replaced."""
    tokens = _TOKENS.findall(draw(st.sampled_from(_RELEASED)))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(tokens) - 1))
        action = draw(st.integers(0, 5))
        if action == 0:
            del tokens[i]
        elif action == 1:
            tokens.insert(i, tokens[i])
        elif action == 2:
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif action == 3:
            tokens[i] = draw(st.sampled_from(["0", "-1", "1e999", "99999999999", '"x"', "{", "}",
                                              ":", "\\", "\x00", "\ufeff", "kernel_h", "é"]))
        elif action == 4:
            tokens[i] = draw(st.text(min_size=1, max_size=3))
        elif re.fullmatch(r"[0-9]+", tokens[i]):  # a number: another one
            tokens[i] = draw(st.sampled_from(_WHOLE + _WHOLE_MISSES))
    return " ".join(tokens)


@fuzz(1000)
@given(text=mutated())
def test_mutated_released_definitions(text):
    outcome(text)
