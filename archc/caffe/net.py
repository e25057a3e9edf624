"""A Caffe network definition as Caffe builds it.

The layers of a parsed prototxt (both formats, the TRAIN phase, every field checked by
:mod:`archc.caffe.schema` first), linked into a graph by their bottom and top blobs
(in-place layers and Split included), with every blob's shape and every layer's parameter
count computed by Caffe's own formulas — independently of archc's analysis, so that
:mod:`archc.caffe.importer` can check the spec it writes against them.  Caffe's own checks
come with them: a convolution needs ``num_output`` and a kernel size, ``kernel_size`` and
``kernel_h``/``kernel_w`` exclude each other, a stride is at least 1, a window fits its
input; each refusal points at the field.  Training-only and evaluation layers (Data,
SoftmaxWithLoss, Accuracy, ...) are not in the graph; they are listed, and a weighted loss
marks the layer it reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import api, limits
from ..errors import Loc, Source, SpecError
from . import schema
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
    "THRESHOLD": "Threshold", "EXP": "Exp", "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "HDF5_OUTPUT": "HDF5Output", "NONE": "None"}
DATA = {"Data", "ImageData", "MemoryData", "HDF5Data", "DummyData", "WindowData", "Input"}
LOSSES = {"SoftmaxWithLoss", "MultinomialLogisticLoss", "EuclideanLoss", "HingeLoss",
          "SigmoidCrossEntropyLoss", "InfogainLoss"}
LEFT_OUT = LOSSES | {"Accuracy", "Silence"}  # read the network's output; not part of it
SUPPORTED = {"Convolution", "Pooling", "InnerProduct", "ReLU", "Sigmoid", "TanH", "LRN",
             "Dropout", "Softmax", "Concat", "Eltwise", "BatchNorm", "Scale", "Split"}
_JOINS = {"Concat": 1, "Eltwise": 2}  # the fewest bottoms each takes; every other layer, one


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


@dataclass(frozen=True)
class Window:
    """A convolution's or pooling's geometry as Caffe reads it, per axis (h, w)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    ceil: bool = False  # pooling rounds up unless round_mode: FLOOR (or the fork's ceil_mode)
    whole: bool = False  # global pooling


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
    schema.check(top)
    return _Reader(source, top, input).run()


def params(node: Layer, name: str) -> Message:
    """A layer's ``..._param`` message, empty where the layer has none."""
    return node.message.message(name) or Message(node.loc)


def _error(message: str, loc: Loc, hint: str | None = None) -> SpecError:
    return SpecError(message, loc, hint=hint)


def _size(p: Message, name: str, value: Value | None = None) -> int:
    """A size field within archc's limit on any one size."""
    value = value if value is not None else p.first(name)
    number = int(value.number())
    if number > limits.MAX_SIZE:
        raise _error(f"`{name}: {value.text}` is more than archc's limit on any one size, "
                    f"{limits.MAX_SIZE:,}", value.loc)
    return number


def _pair(node: Layer, p: Message, name: str, default: int, repeated: bool) -> tuple[int, int]:
    """`name` (once for both axes; a repeated field also twice, h then w) or
    `name_h` and `name_w`, as Caffe reads them — never both ways."""
    stem = "kernel" if name == "kernel_size" else name
    h, w = p.first(f"{stem}_h"), p.first(f"{stem}_w")
    given = p.all(name)
    if h is not None or w is not None:
        if given:
            raise _error(f"`{node.name}` gives both `{name}` and `{stem}_h`/`{stem}_w`",
                        given[0].loc, hint=f"Caffe takes {name} or {stem}_h and {stem}_w, "
                                           f"not both")
        if h is None or w is None:
            loc = (h or w).loc
            raise _error(f"`{node.name}` gives `{stem}_{'h' if h is not None else 'w'}` without "
                        f"`{stem}_{'w' if h is not None else 'h'}`", loc,
                        hint=f"Caffe needs both {stem}_h and {stem}_w")
        return _size(p, f"{stem}_h"), _size(p, f"{stem}_w")
    if not given:
        return default, default
    if len(given) > (2 if repeated else 1):
        raise _error(f"`{node.name}` gives `{name}` {len(given)} times", given[-1].loc,
                    hint="once for both axes, or twice: height then width")
    sizes = [_size(p, name, v) for v in given]
    return sizes[0], sizes[-1]


def convolution_window(node: Layer) -> Window:
    p = params(node, "convolution_param")
    kernel = _pair(node, p, "kernel_size", 0, repeated=True)
    if kernel == (0, 0) and not p.all("kernel_size") and p.first("kernel_h") is None:
        raise _error(f"`{node.name}` has no kernel size", p.loc,
                    hint="give convolution_param a kernel_size (or kernel_h and kernel_w)")
    window = Window(kernel, _pair(node, p, "stride", 1, repeated=True),
                    _pair(node, p, "pad", 0, repeated=True))
    _check_window(node, p, window)
    return window


def pooling_window(node: Layer) -> Window:
    p = params(node, "pooling_param")
    whole = p.flag("global_pooling", False)
    given = any(p.first(f) is not None for f in ("kernel_size", "kernel_h", "kernel_w"))
    if whole and given:
        raise _error(f"`{node.name}` is global pooling and gives a kernel size too",
                    p.loc, hint="global pooling's window is its whole input")
    if not whole and not given:
        raise _error(f"`{node.name}` has no kernel size", p.loc,
                    hint="give pooling_param a kernel_size (or kernel_h and kernel_w), or "
                         "global_pooling: true")
    ceil = p.text("round_mode", "CEIL") == "CEIL" and p.flag("ceil_mode", True)
    window = Window(_pair(node, p, "kernel_size", 1, repeated=False),
                    _pair(node, p, "stride", 1, repeated=False),
                    _pair(node, p, "pad", 0, repeated=False), ceil, whole)
    if whole and (window.stride != (1, 1) or window.pad != (0, 0)):
        raise _error(f"`{node.name}` is global pooling with a stride or padding", p.loc,
                    hint="Caffe's global pooling takes pad 0 and stride 1")
    if not whole:
        _check_window(node, p, window)
    if any(pad >= k for pad, k in zip(window.pad, window.kernel)):
        raise _error(f"`{node.name}`'s padding {window.pad[0]}×{window.pad[1]} is not smaller "
                    f"than its {window.kernel[0]}×{window.kernel[1]} window", p.loc,
                    hint="Caffe needs pad < kernel_size")
    return window


def _check_window(node: Layer, p: Message, window: Window) -> None:
    if min(window.kernel) < 1:
        raise _error(f"`{node.name}`'s kernel size is {window.kernel[0]}×{window.kernel[1]}: "
                    f"Caffe's must be at least 1", p.loc)
    if min(window.stride) < 1:
        stride = p.field("stride") or p.field("stride_h") or p.field("stride_w")
        raise _error(f"`{node.name}`'s stride is {window.stride[0]}×{window.stride[1]}: a "
                    f"stride is at least 1", stride.value.loc if stride else p.loc)


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
            raise _error("this file mixes the old `layers { }` and the current `layer { }` "
                        "formats", new[0].loc)
        messages = old or new
        if len(messages) > limits.MAX_LAYERS:
            raise _error(f"this definition has more than {limits.MAX_LAYERS:,} layers",
                        messages[limits.MAX_LAYERS].loc,
                        hint="archc's limit on a network (archc.limits.MAX_LAYERS)")
        layers = []
        for message in messages:
            kind = message.first("type")
            if not isinstance(kind, Value):
                raise _error("this layer has no type", message.loc)
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
        dims = self.top.all("input_dim")
        shape_message = self.top.message("input_shape")
        if shape_message is not None:
            dims = shape_message.all("dim")
        for layer in layers:
            if layer.type == "Input":
                shape = layer.message.message("input_param")
                shape = shape.message("shape") if shape is not None else None
                dims = shape.all("dim") if shape is not None else []
                if not layer.tops:
                    raise _error(f"`{layer.name}` (Input) has no `top`", layer.loc)
                return layer.tops[0], self._chw(dims, layer.loc)
        if self.top.text("input") is not None:
            return self.top.text("input"), self._chw(dims, self.top.first("input").loc)
        data = next((layer for layer in layers if layer.type in DATA), None)
        if data is None:
            raise _error("this definition has no input: no `input:` line and no data layer",
                        self.top.loc)
        if not data.tops:
            raise _error(f"`{data.name}` ({data.type}) has no `top`", data.loc)
        if self.input is None:
            transform = data.message.message("transform_param")
            crop = transform.whole("crop_size") if transform is not None else None
            hint = (f"its images are cropped to {crop}×{crop}: e.g. --input 3x{crop}x{crop}"
                    if crop else "give --input CxHxW")
            raise _error(f"`{data.name}` ({data.type}) reads a database, so the file does not "
                        f"say the input's size", data.loc, hint=hint)
        return data.tops[0], api.parse_input(self.input)

    def _chw(self, dims: list[Value], loc: Loc) -> tuple[int, int, int]:
        if self.input is not None:
            return api.parse_input(self.input)
        if len(dims) != 4 or any(d.number() < 1 for d in dims):
            raise _error("the input's shape is not four whole numbers (N, C, H, W)", loc)
        for dim in dims[1:]:
            _size(self.top, "dim", dim)
        return tuple(int(d.number()) for d in dims[1:])

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
                    raise _error(f"`{layer.name}` reads the blob `{bottom}`, which no layer "
                                f"before it produces", where,
                                hint="a bottom must be a top of an earlier layer (or the "
                                     "input)")
                inputs.append(producer[bottom])
            if layer.type in LEFT_OUT:
                self._note_loss(layer, inputs)
                continue
            if layer.type not in SUPPORTED:
                raise _error(f"archc has no layer like Caffe's `{layer.type}` (`{layer.name}`)",
                            layer.loc,
                            hint="archc imports Convolution, Pooling, InnerProduct, ReLU, "
                                 "Sigmoid, TanH, LRN, Dropout, Softmax, Concat, Eltwise, "
                                 "BatchNorm, Scale and Split")
            self._check_blobs(layer)
            if layer.type == "Split":
                for top in layer.tops:
                    producer[top] = inputs[0]
                continue
            layer.id, layer.inputs = len(self.nodes), inputs
            self.nodes.append(layer)
            producer[layer.tops[0]] = layer.id

    def _check_blobs(self, layer: Layer) -> None:
        """The bottoms and tops a layer archc imports must have, as Caffe counts them."""
        fewest = _JOINS.get(layer.type, 1)
        if len(layer.bottoms) < fewest:
            wanted = "a `bottom`" if fewest == 1 else f"{fewest} or more bottoms"
            raise _error(f"`{layer.name}` ({layer.type}) reads {len(layer.bottoms) or 'no'} "
                        f"blob{'s' if len(layer.bottoms) != 1 else ''}: it needs {wanted}",
                        layer.loc)
        if layer.type not in _JOINS and len(layer.bottoms) > 1:
            raise _error(f"`{layer.name}` ({layer.type}) reads {len(layer.bottoms)} blobs; "
                        f"archc imports a {layer.type} of one", layer.message.all("bottom")[1].loc)
        if not layer.tops:
            raise _error(f"`{layer.name}` ({layer.type}) has no `top`: nothing could read what "
                        f"it computes", layer.loc)
        if layer.type != "Split" and len(layer.tops) > 1:
            raise _error(f"`{layer.name}` ({layer.type}) writes {len(layer.tops)} blobs; archc "
                        f"imports a {layer.type} that writes one",
                        layer.message.all("top")[1].loc)

    def _note_loss(self, layer: Layer, inputs: list[int]) -> None:
        weight = layer.message.number("loss_weight", 1.0)
        self.left_out.append(f"{layer.name} ({layer.type}"
                             + (f", weight {weight:g})" if layer.type in LOSSES else ")"))
        if layer.type in LOSSES and inputs:
            self.sides[inputs[0]] = (weight, layer.name)

    # -- Caffe's shapes and counts ------------------------------------------------------------

    def _spatial(self, node: Layer, source: Layer) -> tuple[int, int, int]:
        if source.flat:
            raise _error(f"`{node.name}` ({node.type}) reads a vector", node.loc)
        return source.shape

    def _fits(self, node: Layer, size: tuple[int, int], window: Window) -> None:
        padded = tuple(n + 2 * p for n, p in zip(size, window.pad))
        if any(k > n for k, n in zip(window.kernel, padded)):
            raise _error(f"`{node.name}`'s {window.kernel[0]}×{window.kernel[1]} window does not "
                        f"fit its {padded[0]}×{padded[1]} input (padding included)", node.loc)

    def _shape_convolution(self, node, ins):
        window = convolution_window(node)
        p = params(node, "convolution_param")
        if any(v.number() != 1 for v in p.all("dilation")):
            raise _error(f"`{node.name}`: archc has no dilated convolution", node.loc)
        if p.whole("axis", 1) != 1:
            raise _error(f"`{node.name}` convolves along axis {p.whole('axis')}; archc's "
                        f"convolutions take channels on axis 1", p.first("axis").loc)
        c, h, w = self._spatial(node, ins[0])
        if p.first("num_output") is None or p.whole("num_output") == 0:
            raise _error(f"`{node.name}` has no num_output", p.loc,
                        hint="give convolution_param the number of output maps, e.g. "
                             "num_output: 64")
        n = _size(p, "num_output")
        groups = _size(p, "group") if p.first("group") is not None else 1
        if groups < 1 or c % groups or n % groups:
            raise _error(f"`{node.name}`: {c} input and {n} output maps cannot both be split "
                        f"into {groups} groups", (p.first("group") or p.first("num_output")).loc)
        self._fits(node, (h, w), window)
        (kh, kw), (sh, sw), (ph, pw) = window.kernel, window.stride, window.pad
        node.shape = (n, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
        node.params = n * (c // groups) * kh * kw + (n if p.flag("bias_term", True) else 0)

    def _shape_pooling(self, node, ins):
        window = pooling_window(node)
        c, h, w = self._spatial(node, ins[0])
        if window.whole:
            node.shape = (c, 1, 1)
            return
        self._fits(node, (h, w), window)
        out = []
        for size, k, s, pad in zip((h, w), window.kernel, window.stride, window.pad):
            rounded = math.ceil if window.ceil else math.floor
            n = rounded((size + 2 * pad - k) / s) + 1
            if pad and (n - 1) * s >= size + pad:
                n -= 1  # a window may not start in the padding
            out.append(n)
        node.shape = (c, *out)

    def _shape_innerproduct(self, node, ins):
        p = params(node, "inner_product_param")
        if p.first("num_output") is None or p.whole("num_output") == 0:
            raise _error(f"`{node.name}` has no num_output", p.loc,
                        hint="give inner_product_param the number of outputs, e.g. "
                             "num_output: 4096")
        if p.whole("axis", 1) != 1:
            raise _error(f"`{node.name}` flattens from axis {p.whole('axis')}; archc's FC "
                        f"layers from axis 1", p.first("axis").loc)
        n = _size(p, "num_output")
        c, h, w = ins[0].shape
        node.shape, node.flat = (n, 1, 1), True
        node.params = n * c * h * w + (n if p.flag("bias_term", True) else 0)

    def _same(self, node, ins):
        node.shape, node.flat = ins[0].shape, ins[0].flat

    _shape_relu = _shape_sigmoid = _shape_tanh = _shape_dropout = _same
    _shape_softmax = _shape_batchnorm = _same

    def _shape_lrn(self, node, ins):
        p = params(node, "lrn_param")
        size = p.whole("local_size", 5)
        if size < 1 or size % 2 == 0 or size > limits.MAX_SIZE:
            raise _error(f"`{node.name}`'s local_size is {size}: Caffe's LRN takes an odd size",
                        (p.first("local_size") or p).loc)
        self._same(node, ins)

    def _shape_scale(self, node, ins):
        self._same(node, ins)
        p = params(node, "scale_param")
        node.params = ins[0].shape[0] * (2 if p.flag("bias_term", False) else 1)

    def _shape_concat(self, node, ins):
        shapes = [i.shape for i in ins]
        if len({s[1:] for s in shapes}) > 1:
            raise _error(f"`{node.name}` joins blobs of different sizes: "
                        + ", ".join("×".join(map(str, s)) for s in shapes), node.loc)
        node.shape = (sum(s[0] for s in shapes), *shapes[0][1:])
        node.flat = ins[0].flat

    def _shape_eltwise(self, node, ins):
        if len({i.shape for i in ins}) > 1:
            raise _error(f"`{node.name}` joins blobs of different shapes: "
                        + ", ".join("×".join(map(str, i.shape)) for i in ins), node.loc)
        self._same(node, ins)
