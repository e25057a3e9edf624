"""`archc export --caffe`: an analysed network → a Caffe deploy definition, current format.

Layers keep archc's names (``inception_3a.branch2.1`` → ``inception_3a/branch2/1``);
activations, dropout and batch norm (BatchNorm + Scale) run in place, as Caffe's own
definitions write them.  Training-only side outputs are left out (a deploy file has
none).  What Caffe cannot express exactly is refused with the layer and the reason:
LeNet-5's subsampling, connection tables and scaled tanh, pooling whose rounding down
Caffe's rounding up would change, adaptive pooling with uneven windows.
"""

from __future__ import annotations

from .. import ir
from ..analysis import window_out
from ..errors import SpecError, one_line


MARK = "# Exported by archc"
"""The first words of every definition `archc export --caffe` writes."""


def export(net: ir.Network) -> str:
    """The prototxt text of ``net``'s inference network."""
    return _Exporter(net).run()


class _Exporter:
    def __init__(self, net: ir.Network):
        self.net = net
        self.blob: dict[int, str] = {}
        self.lines: list[str] = []
        self.readers = net.consumers()

    def _refuse(self, node: ir.Node, why: str) -> SpecError:
        return SpecError(f"Caffe cannot express `{node.name}` ({node.text}): {why}", node.loc,
                         hint="archc export --caffe writes what a Caffe deploy file can say "
                              "exactly, or nothing")

    def run(self) -> str:
        net = self.net
        c, h, w = net.input.channels, net.input.height, net.input.width
        self.lines = [f'name: "{net.name}"', "layer {", '  name: "data"', '  type: "Input"',
                      '  top: "data"',
                      f"  input_param {{ shape {{ dim: 1 dim: {c} dim: {h} dim: {w} }} }}", "}"]
        self.blob[0] = "data"
        sides = [s.name for s in net.sides]
        for node in net.nodes[1:]:
            if node.side is not None:
                continue
            self._node(node)
        head = [f"{MARK} from {one_line(net.source.path)}"]
        if sides:
            head.append("# Left out: the training-only side outputs " + ", ".join(sides))
        return "\n".join(head + self.lines) + "\n"

    def _name(self, node: ir.Node) -> str:
        return node.name.replace(".", "/")

    def _layer(self, node: ir.Node, type_: str, params: list[str] = (), in_place=False,
               name: str | None = None, bottoms: list[str] | None = None) -> None:
        name = name or self._name(node)
        bottoms = bottoms if bottoms is not None else [self.blob[i] for i in node.inputs]
        # In place, as Caffe writes it, where nothing else reads the blob.
        in_place = in_place and (bottoms != [self.blob[i] for i in node.inputs]
                                 or len(self.readers[node.inputs[0]]) == 1)
        top = bottoms[0] if in_place else name
        self.lines += ["layer {", f'  name: "{name}"', f'  type: "{type_}"']
        self.lines += [f'  bottom: "{b}"' for b in bottoms]
        self.lines.append(f'  top: "{top}"')
        self.lines += [f"  {p}" for p in params]
        self.lines.append("}")
        self.blob[node.id] = top

    def _node(self, node: ir.Node) -> None:
        layer = node.layer
        source = self.net.nodes[node.inputs[0]].info.shape if node.inputs else None
        if isinstance(layer, ir.Conv):
            if layer.connections is not None:
                raise self._refuse(node, "Caffe has no connection tables")
            fields = [f"num_output: {layer.out_channels}"] + _pair("kernel", layer.kernel) + \
                _pair("stride", layer.stride, 1) + _pair("pad", layer.padding, 0)
            if layer.groups != 1:
                fields.append(f"group: {layer.groups}")
            if not layer.bias:
                fields.append("bias_term: false")
            self._layer(node, "Convolution", [f"convolution_param {{ {' '.join(fields)} }}"])
        elif isinstance(layer, ir.Linear):
            fields = [f"num_output: {layer.out_features}"] + ([] if layer.bias
                                                              else ["bias_term: false"])
            self._layer(node, "InnerProduct", [f"inner_product_param {{ {' '.join(fields)} }}"])
        elif isinstance(layer, ir.Pool):
            sizes = (source.height, source.width)
            for n, k, s, p in zip(sizes, layer.kernel, layer.stride, layer.padding):
                floor, ceil = (window_out(n, k, s, p, False), window_out(n, k, s, p, True))
                if not layer.ceil and floor != ceil:
                    raise self._refuse(node, f"it rounds down to {floor} where Caffe rounds "
                                             f"up to {ceil}")
                if k < s and not p:
                    raise self._refuse(node, "a window smaller than its stride: Caffe keeps "
                                             "a last window PyTorch drops")
            fields = [f"pool: {'MAX' if layer.kind == 'max' else 'AVE'}"] + \
                _pair("kernel", layer.kernel) + _pair("stride", layer.stride, 1) + \
                _pair("pad", layer.padding, 0)
            self._layer(node, "Pooling", [f"pooling_param {{ {' '.join(fields)} }}"])
        elif isinstance(layer, ir.GlobalAvgPool):
            self._layer(node, "Pooling", ["pooling_param { pool: AVE global_pooling: true }"])
        elif isinstance(layer, ir.AdaptiveAvgPool):
            sizes = (source.height, source.width)
            if any(n % o for n, o in zip(sizes, layer.size)):
                raise self._refuse(node, "its windows are of unequal sizes at this input")
            step = tuple(n // o for n, o in zip(sizes, layer.size))
            fields = ["pool: AVE"] + _pair("kernel", step) + _pair("stride", step, 1)
            self._layer(node, "Pooling", [f"pooling_param {{ {' '.join(fields)} }}"])
        elif isinstance(layer, ir.LRN):
            alpha = layer.alpha * layer.size if layer.convention == "paper" else layer.alpha
            self._layer(node, "LRN", [f"lrn_param {{ local_size: {layer.size} alpha: {alpha:g} "
                                      f"beta: {layer.beta:g} k: {layer.k:g} }}"])
        elif isinstance(layer, ir.Activation):
            types = {"relu": "ReLU", "tanh": "TanH", "sigmoid": "Sigmoid"}
            if layer.function not in types:
                name = {"scaled_tanh": "scaled tanh", "relu6": "ReLU6", "gelu": "GELU",
                        "silu": "SiLU", "hardswish": "hard swish",
                        "hardsigmoid": "hard sigmoid"}[layer.function]
                raise self._refuse(node, f"Caffe's layers have no {name}")
            self._layer(node, types[layer.function], in_place=True)
        elif isinstance(layer, ir.BatchNorm):
            fields = [] if layer.eps == 1e-5 else [f"batch_norm_param {{ eps: {layer.eps:g} }}"]
            self._layer(node, "BatchNorm", fields, in_place=True)
            self._layer(node, "Scale", ["scale_param { bias_term: true }"], in_place=True,
                        name=self._name(node) + "/scale", bottoms=[self.blob[node.id]])
        elif isinstance(layer, ir.Dropout):
            self._layer(node, "Dropout", [f"dropout_param {{ dropout_ratio: {layer.p:g} }}"],
                        in_place=True)
        elif isinstance(layer, (ir.ChannelSlice, ir.ChannelShuffle)):
            what = "channel slice" if isinstance(layer, ir.ChannelSlice) else "channel shuffle"
            raise self._refuse(node, f"archc does not write Caffe's layers for a {what} "
                                     f"(Slice; Reshape and Permute)")
        elif isinstance(layer, ir.StochasticDepth):
            if layer.p > 0:
                raise self._refuse(node, "Caffe has no stochastic depth (a residual branch "
                                         "dropped per example in training)")
            self.blob[node.id] = self.blob[node.inputs[0]]  # p = 0: the identity
        elif isinstance(layer, ir.Softmax):
            self._layer(node, "Softmax", name="prob")
        elif isinstance(layer, ir.Concat):
            self._layer(node, "Concat", name=self._name(node) + "/output")
        elif isinstance(layer, ir.Mul):
            shapes = {tuple(self.net.nodes[i].info.shape.as_list()) for i in node.inputs}
            if len(shapes) > 1:
                raise self._refuse(node, "Caffe's Eltwise multiplies blobs of one shape, and "
                                         "this product scales maps by a C×1×1 gate")
            self._layer(node, "Eltwise", ["eltwise_param { operation: PROD }"],
                        name=self._name(node) + "/prod")
        elif isinstance(layer, ir.Add):
            self._layer(node, "Eltwise", ["eltwise_param { operation: SUM }"],
                        name=self._name(node) + "/sum")
        elif isinstance(layer, ir.Identity):
            self.blob[node.id] = self.blob[node.inputs[0]]
        else:
            raise self._refuse(node, f"Caffe has no layer like archc's {layer.op}")


def _pair(name: str, pair: tuple[int, int], default: int | None = None) -> list[str]:
    if pair[0] == pair[1]:
        return [] if pair[0] == default else [f"{name}{'_size' if name == 'kernel' else ''}: {pair[0]}"]
    return [f"{name}_h: {pair[0]}", f"{name}_w: {pair[1]}"]
