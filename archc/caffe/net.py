"""A Caffe network definition as Caffe builds it.

The layers of a parsed prototxt (both formats, the TRAIN phase), linked into a graph by
their bottom and top blobs (in-place layers and Split included), with every blob's shape
and every layer's parameter count computed by Caffe's own formulas — independently of
archc's analysis, so that :mod:`archc.caffe.importer` can check the spec it writes
against them.  Training-only and evaluation layers (Data, SoftmaxWithLoss, Accuracy, ...)
are not in the graph; they are listed, and a weighted loss marks the layer it reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import api
from ..errors import Loc, Source, SpecError
from .prototxt import Message, Value

# The old format's enum names for the layer types archc reads.
V1_TYPES = {
    "CONVOLUTION": "Convolution", "POOLING": "Pooling", "INNER_PRODUCT": "InnerProduct",
    "RELU": "ReLU", "SIGMOID": "Sigmoid", "TANH": "TanH", "LRN": "LRN",
    "DROPOUT": "Dropout", "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "CONCAT": "Concat", "DATA": "Data", "IMAGE_DATA": "ImageData", "ACCURACY": "Accuracy",
    "SPLIT": "Split", "ELTWISE": "Eltwise", "SILENCE": "Silence",
    "MEMORY_DATA": "MemoryData", "HDF5_DATA": "HDF5Data", "DUMMY_DATA": "DummyData",
    "WINDOW_DATA": "WindowData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "HINGE_LOSS": "HingeLoss",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "INFOGAIN_LOSS": "InfogainLoss", "FLATTEN": "Flatten", "POWER": "Power",
    "ABSVAL": "AbsVal", "BNLL": "BNLL", "MVN": "MVN", "ARGMAX": "ArgMax",
    "DECONVOLUTION": "Deconvolution", "IM2COL": "Im2col", "SLICE": "Slice",
    "THRESHOLD": "Threshold", "EXP": "Exp"}
DATA = {"Data", "ImageData", "MemoryData", "HDF5Data", "DummyData", "WindowData", "Input"}
LOSSES = {"SoftmaxWithLoss", "MultinomialLogisticLoss", "EuclideanLoss", "HingeLoss",
          "SigmoidCrossEntropyLoss", "InfogainLoss"}
LEFT_OUT = LOSSES | {"Accuracy", "Silence"}  # read the network's output; not part of it
SUPPORTED = {"Convolution", "Pooling", "InnerProduct", "ReLU", "Sigmoid", "TanH", "LRN",
             "Dropout", "Softmax", "Concat", "Eltwise", "BatchNorm", "Scale", "Split"}


@dataclass
class Layer:
    """One layer of the graph (node 0 is the input)."""

    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    message: Message
    loc: Loc  # the layer's `type` field
    inputs: list[int] = field(default_factory=list)  # graph node ids
    id: int = -1
    label: str = ""  # its archc label, given by the importer
    shape: tuple[int, int, int] | None = None  # Caffe's C×H×W (H, W = 1 for a vector)
    flat: bool = False
    params: int = 0


@dataclass
class Net:
    """The graph of a Caffe definition, with Caffe's shapes and counts."""

    source: Source
    top: Message
    nodes: list[Layer]
    left_out: list[str]  # layers not in the graph, described for a comment
    sides: dict[int, tuple[float, str]]  # node id a loss reads → (its weight, its name)
    consumers: dict[int, list[int]]  # node id → the ids of the nodes that read it


def read(source: Source, top: Message, input: str | None) -> Net:
    """The graph of the definition ``top`` (parsed from ``source``); ``input`` is the
    C×H×W the user gave, for a definition that does not say its input's size."""
    return _Reader(source, top, input).run()


def geometry(node: Layer, param: str) -> dict:
    """A convolution's or pooling's kernel, stride and pad as (h, w) pairs, and its
    parameter message ``p``."""
    p = node.message.message(param) or Message(node.loc)

    def pair(name: str, default: int) -> tuple[int, int]:
        both = p.all(name)
        h, w = p.whole(f"{name}_h"), p.whole(f"{name}_w")
        if h is not None or w is not None:
            return (h if h is not None else default, w if w is not None else default)
        if len(both) > 1:
            return (int(both[0].number()), int(both[1].number()))
        value = p.whole(name)
        return (value, value) if value is not None else (default, default)
    return {"kernel": pair("kernel_size", 1), "stride": pair("stride", 1),
            "pad": pair("pad", 0), "p": p}


def _phase_active(message: Message, phase: str) -> bool:
    includes = message.all("include")
    if includes and not any(_rule_matches(rule, phase) for rule in includes):
        return False
    return not any(_rule_matches(rule, phase) for rule in message.all("exclude"))


def _rule_matches(rule: Message, phase: str) -> bool:
    wanted = rule.text("phase")
    return wanted is None or wanted == phase


class _Reader:
    def __init__(self, source: Source, top: Message, input: str | None):
        self.source, self.top, self.input = source, top, input
        self.nodes: list[Layer] = []
        self.left_out: list[str] = []
        self.sides: dict[int, tuple[float, str]] = {}

    def _fail(self, message: str, loc: Loc | None, hint: str | None = None) -> SpecError:
        return SpecError(message, loc or self.top.loc, hint=hint)

    def run(self) -> Net:
        self._graph(self._layers())
        for node in self.nodes[1:]:
            shape = getattr(self, f"_shape_{node.type.lower()}")
            shape(node, [self.nodes[i] for i in node.inputs])
        consumers: dict[int, list[int]] = {n.id: [] for n in self.nodes}
        for node in self.nodes:
            for i in node.inputs:
                consumers[i].append(node.id)
        return Net(self.source, self.top, self.nodes, self.left_out, self.sides, consumers)

    # -- layers and blobs ----------------------------------------------------------------------

    def _layers(self) -> list[Layer]:
        old, new = self.top.all("layers"), self.top.all("layer")
        if old and new:
            raise self._fail("this file mixes the old `layers { }` and the current `layer { }` "
                             "formats", new[0].loc)
        layers = []
        for message in old or new:
            kind = message.first("type")
            if not isinstance(kind, Value):
                raise self._fail("this layer has no type", message.loc)
            type_ = V1_TYPES.get(kind.text, kind.text.title()) if kind.kind == "word" else kind.text
            if not _phase_active(message, "TRAIN"):
                self.left_out.append(f"{message.text('name', '?')} ({type_}, TEST only)")
                continue
            layers.append(Layer(message.text("name", f"layer{len(layers) + 1}"), type_,
                                 [v.text for v in message.all("bottom")],
                                 [v.text for v in message.all("top")], message, kind.loc))
        return layers

    def _input_shape(self, layers: list[Layer]) -> tuple[str, tuple[int, int, int]]:
        """The data blob's name and C×H×W."""
        dims = [v.number() for v in self.top.all("input_dim")]
        shape_message = self.top.message("input_shape")
        if shape_message is not None:
            dims = [v.number() for v in shape_message.all("dim")]
        for layer in layers:
            if layer.type == "Input":
                shape = layer.message.message("input_param")
                shape = shape.message("shape") if shape is not None else None
                dims = [v.number() for v in shape.all("dim")] if shape is not None else []
                return layer.tops[0], self._chw(dims, layer.loc)
        if self.top.text("input") is not None:
            return self.top.text("input"), self._chw(dims, self.top.first("input").loc)
        data = next((layer for layer in layers if layer.type in DATA), None)
        if data is None:
            raise self._fail("this definition has no input: no `input:` line and no data "
                             "layer", self.top.loc)
        if self.input is None:
            transform = data.message.message("transform_param")
            crop = transform.whole("crop_size") if transform is not None else None
            hint = (f"its images are cropped to {crop}×{crop}: e.g. --input 3x{crop}x{crop}"
                    if crop else "give --input CxHxW")
            raise self._fail(f"`{data.name}` ({data.type}) reads a database, so the file does "
                             f"not say the input's size", data.loc, hint=hint)
        return data.tops[0], api.parse_input(self.input)

    def _chw(self, dims: list[float], loc: Loc) -> tuple[int, int, int]:
        if self.input is not None:
            return api.parse_input(self.input)
        if len(dims) != 4 or any(d != int(d) or d < 1 for d in dims):
            raise self._fail("the input's shape is not four whole numbers (N, C, H, W)", loc)
        return int(dims[1]), int(dims[2]), int(dims[3])

    def _graph(self, layers: list[Layer]) -> None:
        """Nodes for the architecture's layers, linked by blob (node 0 is the input)."""
        data_blob, shape = self._input_shape(layers)
        source = Layer("input", "Input", [], [data_blob], self.top, self.top.loc, id=0,
                        shape=shape)
        self.nodes.append(source)
        producer: dict[str, int] = {data_blob: 0}
        for layer in layers:
            if layer.type in DATA:
                continue
            inputs = []
            for bottom in layer.bottoms:
                if bottom not in producer:
                    if layer.type in LEFT_OUT:
                        break  # a loss's label: from a data layer we leave out
                    where = next(v.loc for v in layer.message.all("bottom") if v.text == bottom)
                    raise self._fail(f"`{layer.name}` reads the blob `{bottom}`, which no layer "
                                     f"before it produces", where,
                                     hint="a bottom must be a top of an earlier layer (or "
                                          "the input)")
                inputs.append(producer[bottom])
            if layer.type in LEFT_OUT:
                self._note_loss(layer, inputs)
                continue
            if layer.type not in SUPPORTED:
                raise self._fail(f"archc has no layer like Caffe's `{layer.type}` "
                                 f"(`{layer.name}`)", layer.loc,
                                 hint="archc imports Convolution, Pooling, InnerProduct, "
                                      "ReLU, Sigmoid, TanH, LRN, Dropout, Softmax, Concat, "
                                      "Eltwise, BatchNorm, Scale and Split")
            if layer.type == "Split":
                for top in layer.tops:
                    producer[top] = inputs[0]
                continue
            layer.id, layer.inputs = len(self.nodes), inputs
            self.nodes.append(layer)
            for top in layer.tops:
                producer[top] = layer.id

    def _note_loss(self, layer: Layer, inputs: list[int]) -> None:
        weight = layer.message.number("loss_weight", 1.0)
        self.left_out.append(f"{layer.name} ({layer.type}"
                             + (f", weight {weight:g})" if layer.type in LOSSES else ")"))
        if layer.type in LOSSES and inputs:
            self.sides[inputs[0]] = (weight, layer.name)

    # -- Caffe's shapes and counts ------------------------------------------------------------

    def _spatial(self, node: Layer, source: Layer) -> tuple[int, int, int]:
        if source.flat:
            raise self._fail(f"`{node.name}` ({node.type}) reads a vector", node.loc)
        return source.shape

    def _shape_convolution(self, node, ins):
        g = geometry(node, "convolution_param")
        p = g["p"]
        if any(v.number() != 1 for v in p.all("dilation")):
            raise self._fail(f"`{node.name}`: archc has no dilated convolution", node.loc)
        c, h, w = self._spatial(node, ins[0])
        n, groups = p.whole("num_output"), p.whole("group", 1)
        if n is None:
            raise self._fail(f"`{node.name}` has no num_output", node.loc)
        (kh, kw), (sh, sw), (ph, pw) = g["kernel"], g["stride"], g["pad"]
        out = ((h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
        node.shape = (n, *out)
        bias = p.text("bias_term", "true") == "true"
        node.params = n * (c // groups) * kh * kw + (n if bias else 0)

    def _shape_pooling(self, node, ins):
        g = geometry(node, "pooling_param")
        c, h, w = self._spatial(node, ins[0])
        if g["p"].text("global_pooling", "false") == "true":
            node.shape = (c, 1, 1)
            return
        (kh, kw), (sh, sw), (ph, pw) = g["kernel"], g["stride"], g["pad"]
        out = []
        for size, k, s, pad in ((h, kh, sh, ph), (w, kw, sw, pw)):
            n = math.ceil((size + 2 * pad - k) / s) + 1  # Caffe rounds up ...
            if pad and (n - 1) * s >= size + pad:
                n -= 1  # ... but a window may not start in the padding
            out.append(n)
        node.shape = (c, *out)

    def _shape_innerproduct(self, node, ins):
        p = node.message.message("inner_product_param") or Message(node.loc)
        n = p.whole("num_output")
        c, h, w = ins[0].shape
        bias = p.text("bias_term", "true") == "true"
        node.shape, node.flat = (n, 1, 1), True
        node.params = n * c * h * w + (n if bias else 0)

    def _same(self, node, ins):
        node.shape, node.flat = ins[0].shape, ins[0].flat

    _shape_relu = _shape_sigmoid = _shape_tanh = _shape_lrn = _shape_dropout = _same
    _shape_softmax = _shape_batchnorm = _same

    def _shape_scale(self, node, ins):
        self._same(node, ins)
        p = node.message.message("scale_param") or Message(node.loc)
        node.params = ins[0].shape[0] * (2 if p.text("bias_term", "false") == "true" else 1)

    def _shape_concat(self, node, ins):
        shapes = [i.shape for i in ins]
        if len({s[1:] for s in shapes}) > 1:
            raise self._fail(f"`{node.name}` joins blobs of different sizes: "
                             + ", ".join("×".join(map(str, s)) for s in shapes), node.loc)
        node.shape = (sum(s[0] for s in shapes), *shapes[0][1:])
        node.flat = ins[0].flat

    def _shape_eltwise(self, node, ins):
        if len({i.shape for i in ins}) > 1:
            raise self._fail(f"`{node.name}` adds blobs of different shapes: "
                             + ", ".join("×".join(map(str, i.shape)) for i in ins), node.loc)
        self._same(node, ins)
