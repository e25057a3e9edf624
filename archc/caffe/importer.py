"""`archc import`: a Caffe network definition (.prototxt) → an archc spec.

Both formats are read: the old one (``layers { type: CONVOLUTION }``) and the current one
(``layer { type: "Convolution" }``).  The graph is rebuilt from the layers' bottom and
top blobs (in-place layers and Split included), in the TRAIN phase; training-only and
evaluation layers (Data, SoftmaxWithLoss, Accuracy, ...) are left out and listed in a
comment, and a loss with a ``loss_weight`` below 1 marks an auxiliary head, which
becomes a ``side`` output of that weight.  A straight chain becomes a list of layers,
branches that a Concat joins a ``concat { }``, branches an Eltwise SUM joins an
``add { }``.  Every layer is labelled with its Caffe name, made a valid archc label
(``inception_3a/1x1`` → ``inception_3a_1x1``; the renamings are listed in a comment).

The spec is checked before it is returned: every layer's shape as Caffe computes it (its
own formulas, here) must be the shape archc computes from the spec, and the parameter
counts must agree.  What archc cannot express exactly is refused with the layer and the
reason, never approximated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import analysis, api, naming
from ..errors import Loc, Source, SpecError, one_line
from .prototxt import Message, Value, parse

# The old format's enum names for the layer types archc reads.
_V1 = {"CONVOLUTION": "Convolution", "POOLING": "Pooling", "INNER_PRODUCT": "InnerProduct",
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
_DATA = {"Data", "ImageData", "MemoryData", "HDF5Data", "DummyData", "WindowData", "Input"}
_LOSSES = {"SoftmaxWithLoss", "MultinomialLogisticLoss", "EuclideanLoss", "HingeLoss",
           "SigmoidCrossEntropyLoss", "InfogainLoss"}
_LEFT_OUT = _LOSSES | {"Accuracy", "Silence"}
MARK = "# Imported by archc"
"""The first words of every spec `archc import` writes (how it knows it may overwrite one)."""
_SUPPORTED = {"Convolution", "Pooling", "InnerProduct", "ReLU", "Sigmoid", "TanH", "LRN",
              "Dropout", "Softmax", "Concat", "Eltwise", "BatchNorm", "Scale", "Split"}


@dataclass
class _Layer:
    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    message: Message
    loc: Loc  # the layer's `type` field
    inputs: list[int] = field(default_factory=list)  # graph node ids
    id: int = -1
    label: str = ""
    shape: tuple[int, int, int] | None = None  # Caffe's C×H×W (H, W = 1 for a vector)
    flat: bool = False
    params: int = 0


@dataclass(frozen=True)
class Imported:
    """The spec's text, and each Caffe layer's archc label."""

    text: str
    labels: dict[str, str]
    network: str


def import_file(path: Path, input: str | None = None, expect: bool = False) -> Imported:
    from .. import sources

    return import_text(sources.read(Path(path)), input=input, expect=expect)


def import_text(source: Source, input: str | None = None, expect: bool = False) -> Imported:
    """The archc spec for the Caffe definition in ``source``."""
    top = parse(source)
    return _Importer(source, top, input, expect).run()


def _phase_active(message: Message, phase: str) -> bool:
    includes = message.all("include")
    if includes and not any(_rule_matches(rule, phase) for rule in includes):
        return False
    return not any(_rule_matches(rule, phase) for rule in message.all("exclude"))


def _rule_matches(rule: Message, phase: str) -> bool:
    wanted = rule.text("phase")
    return wanted is None or wanted == phase


class _Importer:
    def __init__(self, source: Source, top: Message, input: str | None, expect: bool):
        self.source, self.top, self.input, self.expect = source, top, input, expect
        self.nodes: list[_Layer] = []
        self.left_out: list[str] = []
        self.used_labels: set[str] = set()
        self.sides: dict[int, tuple[float, str]] = {}  # head node id → (loss weight, loss name)
        self.emitted: set[int] = set()  # layers written with their own label

    def _fail(self, message: str, loc: Loc | None, hint: str | None = None) -> SpecError:
        return SpecError(message, loc or self.top.loc, hint=hint)

    # -- layers and blobs ----------------------------------------------------------------------

    def _layers(self) -> list[_Layer]:
        old, new = self.top.all("layers"), self.top.all("layer")
        if old and new:
            raise self._fail("this file mixes the old `layers { }` and the current `layer { }` "
                             "formats", new[0].loc)
        layers = []
        for message in old or new:
            kind = message.first("type")
            if not isinstance(kind, Value):
                raise self._fail("this layer has no type", message.loc)
            type_ = _V1.get(kind.text, kind.text.title()) if kind.kind == "word" else kind.text
            if not _phase_active(message, "TRAIN"):
                self.left_out.append(f"{message.text('name', '?')} ({type_}, TEST only)")
                continue
            layers.append(_Layer(message.text("name", f"layer{len(layers) + 1}"), type_,
                                 [v.text for v in message.all("bottom")],
                                 [v.text for v in message.all("top")], message, kind.loc))
        return layers

    def _input_shape(self, layers: list[_Layer]) -> tuple[str, tuple[int, int, int]]:
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
        data = next((layer for layer in layers if layer.type in _DATA), None)
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

    def _graph(self, layers: list[_Layer]) -> int:
        """Nodes for the architecture's layers, linked by blob; returns the input node."""
        data_blob, shape = self._input_shape(layers)
        source = _Layer("input", "Input", [], [data_blob], self.top, self.top.loc, id=0,
                        shape=shape)
        self.nodes.append(source)
        producer: dict[str, int] = {data_blob: 0}
        for layer in layers:
            if layer.type in _DATA:
                continue
            inputs = []
            for bottom in layer.bottoms:
                if bottom not in producer:
                    if layer.type in _LEFT_OUT:
                        break  # a loss's label: from a data layer we leave out
                    where = next(v.loc for v in layer.message.all("bottom") if v.text == bottom)
                    raise self._fail(f"`{layer.name}` reads the blob `{bottom}`, which no layer "
                                     f"before it produces", where,
                                     hint="a bottom must be a top of an earlier layer (or "
                                          "the input)")
                inputs.append(producer[bottom])
            if layer.type in _LEFT_OUT:
                self._note_loss(layer, inputs)
                continue
            if layer.type not in _SUPPORTED:
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
        return 0

    def _note_loss(self, layer: _Layer, inputs: list[int]) -> None:
        weight = layer.message.number("loss_weight", 1.0)
        self.left_out.append(f"{layer.name} ({layer.type}"
                             + (f", weight {weight:g})" if layer.type in _LOSSES else ")"))
        if layer.type in _LOSSES and inputs:
            self.sides[inputs[0]] = (weight, layer.name)

    # -- Caffe's shapes and counts ------------------------------------------------------------

    def _shapes(self) -> None:
        for node in self.nodes[1:]:
            ins = [self.nodes[i] for i in node.inputs]
            rule = getattr(self, f"_shape_{node.type.lower()}")
            rule(node, ins)

    def _geometry(self, node: _Layer, param: str) -> dict:
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
        kernel = pair("kernel_size", 1)
        return {"kernel": kernel, "stride": pair("stride", 1), "pad": pair("pad", 0), "p": p}

    def _spatial(self, node: _Layer, source: _Layer) -> tuple[int, int, int]:
        if source.flat:
            raise self._fail(f"`{node.name}` ({node.type}) reads a vector", node.loc)
        return source.shape

    def _shape_convolution(self, node, ins):
        g = self._geometry(node, "convolution_param")
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
        g = self._geometry(node, "pooling_param")
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

    # -- names ---------------------------------------------------------------------------------

    def _label(self, name: str) -> str:
        label = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "layer"
        if not label[0].isalpha():
            label = "l" + label
        while True:
            try:
                naming.check_identifier(label, None, "a label")
                if label not in self.used_labels:
                    break
            except SpecError:
                pass
            label += "_"
        self.used_labels.add(label)
        return label

    # -- the spec ------------------------------------------------------------------------------

    def run(self) -> Imported:
        layers = self._layers()
        self._graph(layers)
        self._shapes()
        consumers: dict[int, list[int]] = {n.id: [] for n in self.nodes}
        for node in self.nodes:
            for i in node.inputs:
                consumers[i].append(node.id)
        self.consumers = consumers
        main = self._main_output()
        self.on_main = self._ancestors(main)
        for node in self.nodes:
            node.label = self._label(node.name) if node.id else "input"
        body = _tail(self._chain(0, main, self.on_main, top=True), True)
        name = self._network_name()
        c, h, w = self.nodes[0].shape
        lines = [f"{MARK} from {one_line(Path(self.source.path).name)}, Caffe's definition "
                 f"of \"{one_line(self.top.text('name', name))}\"."]
        if self.left_out:
            lines += _comment("Left out of the architecture: " + ", ".join(self.left_out) + ".")
        renamed = [(n.name, n.label) for n in self.nodes[1:]
                   if n.id in self.emitted and n.name != n.label]
        if renamed:
            lines += _comment("Caffe names → archc labels: " + ", ".join(
                f"{name} → {label}" for name, label in renamed) + ".")
        lines += ["", f"network {name} input {c}x{h}x{w}"]
        if any(n.type == "Pooling" for n in self.nodes):
            lines += ["default maxpool ceil=true    # Caffe rounds pooling up",
                      "default avgpool ceil=true"]
        lines += [""] + body
        if self.expect:
            params = sum(n.params for n in self.nodes if n.id in self.on_main)
            every = sum(n.params for n in self.nodes)
            lines += ["", f"expect inference params {params:,}"]
            if every != params:
                lines.append(f"expect params {every:,}")
            out = self.nodes[main]
            lines.append(f"expect shape = {out.shape[0]}" if out.flat
                         else f"expect shape = {'x'.join(map(str, out.shape))}")
        text = "\n".join(lines) + "\n"
        self._verify(text)
        return Imported(text, {n.name: n.label for n in self.nodes[1:]}, name)

    def _network_name(self) -> str:
        raw = self.top.text("name") or Path(self.source.path).stem.split(".")[0]
        name = re.sub(r"[^A-Za-z0-9_]", "_", raw).strip("_").lower() or "imported"
        if not name[0].isalpha():
            name = "net_" + name
        try:
            naming.check_network_name(_Decl(name, self.top.loc))
        except SpecError:
            name += "_net"
        return name

    def _main_output(self) -> int:
        """The layer whose output is the network's: what the full-weight loss reads, or
        the last layer no other reads."""
        full = [i for i, (weight, _) in self.sides.items() if weight >= 1]
        if full:
            main = full[0]
        else:
            ends = [n.id for n in self.nodes if not self.consumers[n.id]]
            main = ends[-1]
        # The other weighted losses' inputs are auxiliary heads: side outputs.
        for node_id, (weight, _) in list(self.sides.items()):
            if node_id == main or weight >= 1:
                self.sides.pop(node_id)
        return main

    def _ancestors(self, node_id: int) -> set[int]:
        seen, stack = set(), [node_id]
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack += self.nodes[n].inputs
        return seen

    def _chain(self, start: int, end: int, allowed: set[int], top: bool) -> list[str]:
        """Spec lines from the output of ``start`` to that of ``end``, along ``allowed``."""
        lines, cur = [], start
        while cur != end:
            if top:
                for side in (c for c in self.consumers[cur] if c not in allowed):
                    lines.append(self._side(side))
            nexts = [c for c in self.consumers[cur] if c in allowed]
            if not nexts:
                raise self._fail("this definition's graph is not one archc can follow",
                                 self.nodes[cur].loc)
            joins = {j for c in nexts if (j := self._join_after(c, allowed)) is not None}
            if len(nexts) == 1 and self.nodes[nexts[0]].type not in ("Concat", "Eltwise"):
                lines += self._layer(nexts[0], allowed)
                cur = self._after_folds(nexts[0], allowed)
                continue
            if len(joins) != 1:
                raise self._fail(f"the branches after `{self.nodes[cur].name}` do not meet in one "
                                 f"Concat or Eltwise", self.nodes[nexts[0]].loc,
                                 hint="archc imports branches that start together and end "
                                      "in one join")
            join = joins.pop()
            lines += self._join(cur, join, allowed)
            cur = self._after_folds(join, allowed)
        return lines

    def _join_after(self, node_id: int, allowed: set[int]) -> int | None:
        """The first join reached by following single readers from ``node_id``."""
        n = node_id
        while True:
            node = self.nodes[n]
            if node.type in ("Concat", "Eltwise"):
                return n
            readers = [c for c in self.consumers[n] if c in allowed]
            if len(readers) != 1:
                return None
            n = readers[0]

    def _join(self, fork: int, join: int, allowed: set[int]) -> list[str]:
        node = self.nodes[join]
        self.emitted.add(join)
        branches = []
        for i in node.inputs:
            chain = []
            while i != fork:
                chain.append(i)
                if len(self.nodes[i].inputs) != 1:
                    raise self._fail(f"`{self.nodes[i].name}` joins branches inside a branch, "
                                     "which archc's import does not follow", self.nodes[i].loc)
                i = self.nodes[i].inputs[0]
            branches.append(chain[::-1])
        inner = []
        for chain in branches:
            if not chain:
                inner.append("identity")
                continue
            lines = _tail(self._chain(fork, chain[-1], set(chain), top=False),
                          node.type == "Eltwise")
            inner.append("{ " + "; ".join(lines) + " }")
        if node.type == "Concat":
            axis = node.message.message("concat_param")
            if axis is not None and axis.whole("axis", 1) != 1:
                raise self._fail(f"`{node.name}` concatenates along axis "
                                 f"{axis.whole('axis')}; archc joins on channels", node.loc)
            head = f"{node.label}: concat {{"
        else:
            p = node.message.message("eltwise_param") or Message(node.loc)
            op = p.text("operation", "SUM")
            if op != "SUM" or any(v.number() != 1 for v in p.all("coeff")):
                raise self._fail(f"`{node.name}` is an Eltwise {op}"
                                 f"{' with coefficients' if p.all('coeff') else ''}; archc's "
                                 f"join is a plain sum (`add`)", node.loc)
            act = self._folded_activation(join, allowed)
            head = f"{node.label}: add{'' if act == 'relu' else f' act={act}'} {{"
        return [head] + [f"    {line}" for line in inner] + ["}"]

    def _after_folds(self, node_id: int, allowed: set[int]) -> int:
        """The node after ``node_id`` and the layers folded into it (its ReLU, BN's Scale)."""
        n = node_id
        while True:
            readers = [c for c in self.consumers[n] if c in allowed]
            if len(readers) == 1 and self._folds_into(readers[0], n):
                n = readers[0]
                continue
            return n

    def _folds_into(self, reader: int, node_id: int) -> bool:
        node, after = self.nodes[node_id], self.nodes[reader]
        if len(self.consumers[node_id]) != 1:
            return False
        if after.type in ("ReLU", "Sigmoid", "TanH"):
            return node.type in ("Convolution", "InnerProduct", "Eltwise", "Scale")
        return after.type == "Scale" and node.type == "BatchNorm"

    def _folded_activation(self, node_id: int, allowed: set[int]) -> str:
        readers = [c for c in self.consumers[node_id] if c in allowed]
        if len(readers) == 1 and self._folds_into(readers[0], node_id):
            after = self.nodes[readers[0]]
            if after.type == "Scale":  # a batch norm: its activation follows the scale
                return self._folded_activation(after.id, allowed)
            if after.type == "ReLU":
                slope = (after.message.message("relu_param") or Message(after.loc)).number(
                    "negative_slope", 0.0)
                if slope:
                    raise self._fail(f"`{after.name}` is a leaky ReLU; archc has none",
                                     after.loc)
            return {"ReLU": "relu", "Sigmoid": "sigmoid", "TanH": "tanh"}.get(after.type, "none")
        return "none"

    def _layer(self, node_id: int, allowed: set[int]) -> list[str]:
        node = self.nodes[node_id]
        self.emitted.add(node_id)
        word = getattr(self, f"_word_{node.type.lower()}")(node)
        if node.type in ("Convolution", "InnerProduct"):
            act = self._folded_activation(node_id, allowed)
            readers = [c for c in self.consumers[node_id] if c in allowed]
            if len(readers) == 1 and self.nodes[readers[0]].type == "BatchNorm":
                act = "none"  # the activation, if any, comes after the batch norm
            if act != "relu":
                word += f" act={act}"
        if node.type == "BatchNorm":
            act = self._folded_activation(node_id, allowed)
            word += "" if act == "none" else f"; {act}"
        return [f"{node.label}: {word}"]

    # -- one word per layer ----------------------------------------------------------------------

    def _square(self, node, what: str, pair: tuple[int, int]) -> int:
        if pair[0] != pair[1]:
            raise self._fail(f"`{node.name}`'s {what} is {pair[0]}×{pair[1]}; archc's are "
                             f"the same along both axes", node.loc)
        return pair[0]

    def _word_convolution(self, node) -> str:
        g = self._geometry(node, "convolution_param")
        p = g["p"]
        kh, kw = g["kernel"]
        stride = self._square(node, "stride", g["stride"])
        pad = self._square(node, "padding", g["pad"])
        word = f"conv{kh}-{node.shape[0]}" if kh == kw else f"conv{kh}x{kw}-{node.shape[0]}"
        if stride != 1:
            word += f"/{stride}"
        if not (kh == kw and kh % 2 and pad == kh // 2):
            word += f" pad={pad}"
        if p.whole("group", 1) != 1:
            word += f" groups={p.whole('group')}"
        if p.text("bias_term", "true") != "true":
            word += " bias=false"
        return word

    def _word_pooling(self, node) -> str:
        g = self._geometry(node, "pooling_param")
        p = g["p"]
        kind = p.text("pool", "MAX")
        if kind not in ("MAX", "AVE"):
            raise self._fail(f"`{node.name}` is {kind} pooling; archc has max and average",
                             node.loc)
        if p.text("global_pooling", "false") == "true":
            if kind == "MAX":
                raise self._fail(f"`{node.name}` is global max pooling; archc's global "
                                 "pooling averages", node.loc)
            return "gap"
        kh, kw = g["kernel"]
        stride = self._square(node, "stride", g["stride"])
        pad = self._square(node, "padding", g["pad"])
        if min(kh, kw) < stride and not pad:
            raise self._fail(f"`{node.name}`: a window smaller than its stride, rounded up, "
                             "is a last window Caffe keeps and PyTorch drops", node.loc)
        word = ("maxpool" if kind == "MAX" else "avgpool") + (f"{kh}" if kh == kw else f"{kh}x{kw}")
        if stride != kh or kh != kw:
            word += f"/{stride}"
        if pad:
            word += f" pad={pad}"
        return word

    def _word_innerproduct(self, node) -> str:
        p = node.message.message("inner_product_param") or Message(node.loc)
        return f"FC-{node.shape[0]}" + ("" if p.text("bias_term", "true") == "true"
                                        else " bias=false")

    def _word_lrn(self, node) -> str:
        p = node.message.message("lrn_param") or Message(node.loc)
        if p.text("norm_region", "ACROSS_CHANNELS") != "ACROSS_CHANNELS":
            raise self._fail(f"`{node.name}` normalises within each channel; archc's LRN is "
                             "across channels", node.loc)
        return (f"LRN size={p.whole('local_size', 5)} alpha={_number(p.number('alpha', 1.0))} "
                f"beta={_number(p.number('beta', 0.75))} k={_number(p.number('k', 1.0))} "
                f"convention=caffe")

    def _word_dropout(self, node) -> str:
        p = node.message.message("dropout_param") or Message(node.loc)
        ratio = p.number("dropout_ratio", 0.5)
        return "dropout" if ratio == 0.5 else f"dropout({_number(ratio)})"

    def _word_softmax(self, node) -> str:
        return "soft-max"

    def _word_relu(self, node) -> str:
        p = node.message.message("relu_param") or Message(node.loc)
        if p.number("negative_slope", 0.0):
            raise self._fail(f"`{node.name}` is a leaky ReLU; archc has none", node.loc)
        return "relu"

    def _word_sigmoid(self, node) -> str:
        return "sigmoid"

    def _word_tanh(self, node) -> str:
        return "tanh"

    def _word_batchnorm(self, node) -> str:
        readers = self.consumers[node.id]
        after = self.nodes[readers[0]] if len(readers) == 1 else None
        scale = after.message.message("scale_param") if after is not None else None
        if after is None or after.type != "Scale" or scale is None or \
                scale.text("bias_term", "false") != "true":
            raise self._fail(f"`{node.name}`: archc's `bn` scales and shifts; a BatchNorm "
                             "needs a Scale layer with bias_term: true after it", node.loc)
        p = node.message.message("batch_norm_param") or Message(node.loc)
        eps = p.number("eps", 1e-5)
        return "bn" if eps == 1e-5 else f"bn eps={_number(eps)}"

    def _word_scale(self, node) -> str:
        raise self._fail(f"`{node.name}`: a Scale layer archc imports only after a BatchNorm",
                         node.loc)

    def _side(self, head_start: int) -> str:
        """A side output: the layers from ``head_start`` to a weighted loss's input."""
        ends = [n for n in self.sides if head_start in self._ancestors(n)]
        if not ends:
            node = self.nodes[head_start]
            raise self._fail(f"`{node.name}` leads to no loss and is not on the way to the "
                             f"output", node.loc)
        end = ends[0]
        weight, loss = self.sides[end]
        members = self._ancestors(end) - self.on_main
        start = self.nodes[head_start].inputs[0]
        lines = _tail(self._chain(start, end, members, top=False), True)
        label = self._label(loss.split("/")[0] if "/" in loss else loss)
        return f"{label}: side weight={_number(weight)} {{ " + "; ".join(lines) + " }"

    # -- the check ------------------------------------------------------------------------------

    def _verify(self, text: str) -> None:
        """The spec must give every layer Caffe's shape, and the network Caffe's parameters."""
        from .. import elaborate, parser

        try:
            net = analysis.analyze(elaborate.elaborate(parser.parse(text, "<imported>")))
        except SpecError as exc:  # a check of archc's own: the spec it writes must analyse
            raise self._fail(f"archc cannot express this definition: {exc.message}",
                             self.top.loc) from None
        by_label = {}
        for node in net.nodes:
            by_label.setdefault(node.name.rsplit(".", 1)[-1], node)
        for layer in self.nodes[1:]:
            if layer.id not in self.emitted:
                continue  # folded into another layer (a ReLU, a Scale)
            ours = by_label[layer.label]
            shape = ours.info.shape
            got = (shape.channels, shape.height, shape.width)
            if got != tuple(layer.shape):
                raise self._fail(f"`{layer.name}`: Caffe gives {'×'.join(map(str, layer.shape))}, "
                                 f"archc {'×'.join(map(str, got))}", layer.loc)
        caffe = sum(n.params for n in self.nodes)
        archc = analysis.totals(net).params
        if caffe != archc:
            raise self._fail(f"Caffe counts {caffe:,} parameters and archc {archc:,}",
                             self.top.loc)


@dataclass(frozen=True)
class _Decl:
    name: str
    loc: Loc


def _number(value: float) -> str:
    return f"{value:g}"


def _comment(text: str) -> list[str]:
    import textwrap

    return ["# " + line for line in textwrap.wrap(text, 87, break_on_hyphens=False,
                                                   break_long_words=False)]


def _tail(lines: list[str], output: bool) -> list[str]:
    """At the end of a body whose last layer archc gives no activation (the network's or a
    side output's output, an `add` branch), a ReLU that Caffe has there is written out."""
    if not output:
        return lines
    for i in range(len(lines) - 1, -1, -1):
        word = lines[i].split(": ", 1)[-1]
        if word.startswith(("soft-max", "dropout")):
            continue
        if word.startswith(("conv", "FC-")) and " act=" not in word:
            lines[i] += " act=relu"
        elif word.startswith(("conv", "FC-")) and word.endswith(" act=none"):
            lines[i] = lines[i][:-len(" act=none")]
        break
    return lines
