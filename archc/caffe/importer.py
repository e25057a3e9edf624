"""`archc import`: a Caffe network definition (.prototxt) → an archc spec.

Both formats are read: the old one (``layers { type: CONVOLUTION }``) and the current one
(``layer { type: "Convolution" }``).  :mod:`archc.caffe.net` rebuilds the graph from the
layers' bottom and top blobs, in the TRAIN phase; training-only and evaluation layers
(Data, SoftmaxWithLoss, Accuracy, ...) are left out and listed in a comment, and a loss with a ``loss_weight`` below 1 marks an auxiliary head, which
becomes a ``side`` output of that weight.  A straight chain becomes a list of layers,
branches that a Concat joins a ``concat { }``, branches an Eltwise SUM joins an
``add { }``.  Every layer is labelled with its Caffe name, made a valid archc label
(``inception_3a/1x1`` → ``inception_3a_1x1``; the renamings are listed in a comment).

The spec is checked before it is returned: every layer's shape as Caffe computes it (its
own formulas, in :mod:`archc.caffe.net`) must be the shape archc computes from the spec, and the parameter
counts must agree.  What archc cannot express exactly is refused with the layer and the
reason, never approximated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import analysis, naming
from ..errors import Loc, Source, SpecError, one_line
from .net import Net, convolution_window, params, pooling_window, read
from .prototxt import parse

MARK = "# Imported by archc"
"""The first words of every spec `archc import` writes (how it knows it may overwrite one)."""


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
    return _Importer(read(source, top, input), expect).run()


class _Importer:
    def __init__(self, net: Net, expect: bool):
        self.source, self.top, self.expect = net.source, net.top, expect
        self.nodes, self.consumers, self.left_out = net.nodes, net.consumers, net.left_out
        self.sides = dict(net.sides)  # head node id → (loss weight, loss name)
        self.used_labels: set[str] = set()
        self.label_counts: dict[str, int] = {}  # how often each label has been wanted
        self.emitted: set[int] = set()  # layers written with their own label

    def _fail(self, message: str, loc: Loc | None, hint: str | None = None) -> SpecError:
        return SpecError(message, loc or self.top.loc, hint=hint)

    # -- names ---------------------------------------------------------------------------------

    def _label(self, name: str) -> str:
        """A valid, unused archc label for a Caffe name: other characters become `_`, and
        a name archc reserves (a keyword such as `init`, a Python one) or one already
        taken gets a number (`conv`, `conv_2`, `conv_3`, ...)."""
        base = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "layer"
        if not base[0].isalpha():
            base = "l" + base
        try:
            naming.check_identifier(base, None, "a label")
        except SpecError:
            base += "_"
        count = self.label_counts.get(base, 0)
        label = base if count == 0 else f"{base}_{count + 1}"
        while label in self.used_labels:
            count += 1
            label = f"{base}_{count + 1}"
        self.label_counts[base] = count + 1
        self.used_labels.add(label)
        return label

    # -- the spec ------------------------------------------------------------------------------

    def run(self) -> Imported:
        main = self._main_output()
        self.on_main = self._ancestors(main)
        self.side_of = self._side_heads()
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

    def _ancestors(self, node_id: int, stop: set[int] = frozenset()) -> set[int]:
        """``node_id`` and every node it reads from, short of the nodes in ``stop``."""
        seen, stack = set(), [node_id]
        while stack:
            n = stack.pop()
            if n not in seen and n not in stop:
                seen.add(n)
                stack += self.nodes[n].inputs
        return seen

    def _side_heads(self) -> dict[int, tuple[int, set[int]]]:
        """For each side output, found once: its first layer (one that reads the main
        path) → the layer its loss reads, and the layers between them."""
        heads = {}
        for end in self.sides:
            members = self._ancestors(end, stop=self.on_main)
            for node_id in members:
                if any(i in self.on_main for i in self.nodes[node_id].inputs):
                    heads.setdefault(node_id, (end, members))
        return heads

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
            if len(nexts) == 1 and self.nodes[nexts[0]].type not in ("Concat", "Eltwise"):
                lines += self._layer(nexts[0], allowed)
                cur = self._after_folds(nexts[0], allowed)
                continue
            joins = {j for c in nexts if (j := self._join_after(c, allowed)) is not None}
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
            p = params(node, "concat_param")
            axis = p.whole("axis", p.whole("concat_dim", 1))
            if axis != 1:
                raise self._fail(f"`{node.name}` concatenates along axis {axis}; archc joins "
                                 f"on channels", node.loc)
            head = f"{node.label}: concat {{"
        else:
            p = params(node, "eltwise_param")
            op = p.text("operation", "SUM")
            if op not in ("SUM", "PROD") or any(v.number() != 1 for v in p.all("coeff")):
                raise self._fail(f"`{node.name}` is an Eltwise {op}"
                                 f"{' with coefficients' if p.all('coeff') else ''}; archc's "
                                 f"joins are a plain sum (`add`) and a product (`mul`)",
                                 node.loc)
            act = self._folded_activation(join, allowed)
            if op == "SUM":
                head = f"{node.label}: add{'' if act == 'relu' else f' act={act}'} {{"
            else:  # a product has no activation after it unless it says so
                head = f"{node.label}: mul{'' if act == 'none' else f' act={act}'} {{"
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
                slope = (params(after, "relu_param")).number(
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
        window = convolution_window(node)
        p = params(node, "convolution_param")
        kh, kw = window.kernel
        stride = self._square(node, "stride", window.stride)
        word = f"conv{kh}-{node.shape[0]}" if kh == kw else f"conv{kh}x{kw}-{node.shape[0]}"
        if stride != 1:
            word += f"/{stride}"
        ph, pw = window.pad
        if not (kh % 2 and kw % 2 and (ph, pw) == (kh // 2, kw // 2)):  # else: "same"
            word += f" pad={ph}" if ph == pw else f" pad=({ph}, {pw})"
        if p.whole("group", 1) != 1:
            word += f" groups={p.whole('group')}"
        if not p.flag("bias_term", True):
            word += " bias=false"
        return word

    def _word_pooling(self, node) -> str:
        window = pooling_window(node)
        p = params(node, "pooling_param")
        kind = p.text("pool", "MAX")
        if kind not in ("MAX", "AVE"):
            raise self._fail(f"`{node.name}` is {kind} pooling; archc has max and average",
                             node.loc)
        if window.whole:
            if kind == "MAX":
                raise self._fail(f"`{node.name}` is global max pooling; archc's global "
                                 "pooling averages", node.loc)
            return "gap"
        kh, kw = window.kernel
        stride = self._square(node, "stride", window.stride)
        pad = self._square(node, "padding", window.pad)
        if window.ceil and min(kh, kw) < stride and not pad:
            raise self._fail(f"`{node.name}`: a window smaller than its stride, rounded up, "
                             "is a last window Caffe keeps and PyTorch drops", node.loc)
        word = ("maxpool" if kind == "MAX" else "avgpool") + (f"{kh}" if kh == kw else f"{kh}x{kw}")
        if stride != kh or kh != kw:
            word += f"/{stride}"
        if pad:
            word += f" pad={pad}"
        if not window.ceil:  # the spec's default is Caffe's: rounding up
            word += " ceil=false"
        return word

    def _word_innerproduct(self, node) -> str:
        p = params(node, "inner_product_param")
        return f"FC-{node.shape[0]}" + ("" if p.flag("bias_term", True) else " bias=false")

    def _word_lrn(self, node) -> str:
        p = params(node, "lrn_param")
        if p.text("norm_region", "ACROSS_CHANNELS") != "ACROSS_CHANNELS":
            raise self._fail(f"`{node.name}` normalises within each channel; archc's LRN is "
                             "across channels", node.loc)
        return (f"LRN size={p.whole('local_size', 5)} alpha={_number(p.number('alpha', 1.0))} "
                f"beta={_number(p.number('beta', 0.75))} k={_number(p.number('k', 1.0))} "
                f"convention=caffe")

    def _word_dropout(self, node) -> str:
        p = params(node, "dropout_param")
        ratio = p.number("dropout_ratio", 0.5)
        if not 0 <= ratio < 1:
            raise self._fail(f"`{node.name}` drops a share of {_number(ratio)}: a dropout ratio "
                             f"is at least 0 and below 1", p.first("dropout_ratio").loc)
        return "dropout" if ratio == 0.5 else f"dropout({_number(ratio)})"

    def _word_softmax(self, node) -> str:
        axis = params(node, "softmax_param").whole("axis", 1)
        if axis != 1:
            raise self._fail(f"`{node.name}` is a soft-max over axis {axis}; archc's is over "
                             f"channels", node.loc)
        return "soft-max"

    def _word_relu(self, node) -> str:
        p = params(node, "relu_param")
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
                not scale.flag("bias_term", False):
            raise self._fail(f"`{node.name}`: archc's `bn` scales and shifts; a BatchNorm "
                             "needs a Scale layer with bias_term: true after it", node.loc)
        p = params(node, "batch_norm_param")
        eps = p.number("eps", 1e-5)
        return "bn" if eps == 1e-5 else f"bn eps={_number(eps)}"

    def _word_scale(self, node) -> str:
        raise self._fail(f"`{node.name}`: a Scale layer archc imports only after a BatchNorm",
                         node.loc)

    def _side(self, head_start: int) -> str:
        """A side output: the layers from ``head_start`` to a weighted loss's input."""
        if head_start not in self.side_of:
            node = self.nodes[head_start]
            raise self._fail(f"`{node.name}` leads to no loss and is not on the way to the "
                             f"output", node.loc)
        end, members = self.side_of[head_start]
        weight, loss = self.sides[end]
        start = self.nodes[head_start].inputs[0]
        lines = _tail(self._chain(start, end, members, top=False), True)
        head = f"{self.nodes[head_start].label}: "
        if len(lines) == 1 and lines[0].startswith(head):
            # A head of one layer is that layer (a scope of one child is its child): the
            # side is called by the layer's label, which its Caffe name maps to.
            return f"{head}side weight={_number(weight)} {{ {lines[0][len(head):]} }}"
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
