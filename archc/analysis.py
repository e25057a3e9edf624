"""Analysis: what every node of the IR computes, without running anything.

For each node: its output shape; trainable parameters (weights and biases apart); MACs;
FLOPs; neurons; and its receptive field.  The conventions, which tests check against the
papers and against independent computations:

MACs — multiply-accumulates of convolutions and fully connected layers only, as
    torchvision's model metadata counts them ("GFLOPS" there; VGG-16 = 15,470,264,320).
    A conv: C_out · H_out · W_out · (C_in / groups) · k_h · k_w; sparse (a connection
    table): H_out · W_out · k_h · k_w · Σ_j |inputs of map j|.  FC: in · out.

FLOPs — every arithmetic operation, and each exp/tanh/pow, counted as one:
    conv, FC       2·MACs: a k-term dot product is k multiplies and k−1 adds, and adding
                   the bias makes 2k (no bias: 2·MACs − outputs)
    relu 1, tanh 1 per element; sigmoid 4 (negate, exp, add, divide); scaled-tanh 3;
                   relu6 2 (max, min); hardsigmoid 4 (add, max, min, divide); hardswish
                   5 (hardsigmoid's and a multiply); silu 5 (sigmoid's and a multiply);
                   gelu 5 (divide by √2, erf, add 1, two multiplies)
    max-pool       k_h·k_w − 1 comparisons per output
    avg-pool       k_h·k_w per output (k_h·k_w − 1 adds, one divide); global and adaptive
                   average pooling likewise over their windows
    subsample      k_h·k_w + 1 per output (sum, times the coefficient, plus the bias)
    LRN            2n + 3 per element (n squares, n−1 adds, scale, +k, pow, divide),
                   the window zero-padded at the channel ends, as PyTorch evaluates it
    batch norm     2 per element (inference: folded into one multiply and one add)
    soft-max       3·C − 1 per vector (exp, sum, divide; the max-shift is not counted)
    add            one addition per element for each branch after the first
    dropout, concat, identity, input: 0

Neurons ("activations" in JSON) — output elements of the layers with weights (conv, FC,
    subsample), which is how AlexNet's "650,000 neurons" is counted.

Receptive field — per axis, size r, effective stride j and effective padding P (Araujo,
    Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill
    2019): r ← r + (k−1)·j, P ← P + p·j, j ← j·s.  An FC layer or global pooling over an
    H×W map is a kernel of H×W.  Where branches join, the field is the union of the
    branches' fields (a concat's or an add's), provided their strides agree; branches
    whose fields are not centred alike are reported in ``rf_note``.  Adaptive pooling
    with uneven windows has no receptive field in this sense, and neither does anything
    after it.

Memory — what a network needs to run and to train, and exactly which tensors each kind of
    layer keeps for the backward pass — is counted from this analysis by
    :mod:`archc.memory`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from . import ir
from .errors import Diagnostic, GeometryError, Loc, Note

_ACTIVATION_FLOPS = {"relu": 1, "tanh": 1, "sigmoid": 4, "scaled_tanh": 3, "relu6": 2,
                     "hardsigmoid": 4, "hardswish": 5, "silu": 5, "gelu": 5}


def analyze(net: ir.Network) -> ir.Network:
    """The network with :class:`~archc.ir.Info` on every node and geometry warnings attached."""
    infos: dict[int, ir.Info] = {}
    warnings: list[Diagnostic] = []
    for node in net.nodes:
        rule = _RULES[type(node.layer)]
        try:
            infos[node.id] = rule(node, [infos[i] for i in node.inputs], warnings, net)
        except GeometryError as exc:
            raise _in_context(exc, node, net, warnings) from None
    nodes = tuple(replace(node, info=infos[node.id]) for node in net.nodes)
    return replace(net, nodes=nodes, warnings=net.spec_warnings + tuple(warnings))


def _in_context(exc: GeometryError, node: ir.Node, net: ir.Network,
                warnings: list[Diagnostic]) -> GeometryError:
    """The error with a note at each block call it happened inside (innermost first), and
    the input's own warning, which may be the cause."""
    calls = []

    def walk(scope: ir.Scope, outer: list[ir.Scope]) -> bool:
        inside = outer + [scope] if scope.block is not None else outer
        for child in scope.children:
            if child == node.id if isinstance(child, int) else walk(child, inside):
                calls.extend(reversed(inside))
                return True
        return False

    walk(net.root, [])
    for scope in calls:
        exc = exc.with_note(Note(f"in `{scope.text}`", scope.loc))
    for warning in warnings:
        if warning.loc is not None and warning.loc == net.nodes[0].loc:
            exc = exc.with_note(Note(warning.message, warning.loc))
    return exc


@dataclass(frozen=True)
class Totals:
    params: int
    weights: int
    biases: int
    macs: int
    flops: int
    neurons: int
    weight_layers: int  # conv and FC layers, as VGG counts depth ("16 weight layers")


def totals(net: ir.Network, node_ids=None, inference: bool = False) -> Totals:
    """Sums over ``node_ids`` (default: every node); ``inference`` leaves out side outputs."""
    chosen = [n for n in net.nodes if node_ids is None or n.id in node_ids]
    if inference:
        chosen = [n for n in chosen if n.side is None]
    infos = [n.info for n in chosen]
    return Totals(
        params=sum(i.params for i in infos), weights=sum(i.weights for i in infos),
        biases=sum(i.biases for i in infos), macs=sum(i.macs for i in infos),
        flops=sum(i.flops for i in infos), neurons=sum(i.neurons for i in infos),
        weight_layers=sum(isinstance(n.layer, (ir.Conv, ir.Linear)) for n in chosen))


# -- geometry --------------------------------------------------------------------------------


def _fail(node: ir.Node, message: str, hint: str | None = None) -> GeometryError:
    return GeometryError(f"`{node.name}` ({node.text}): {message}", node.loc, hint=hint)


def _spatial(node: ir.Node, shape: ir.Shape) -> None:
    if shape.flat:
        raise _fail(node, f"needs a feature map, but its input is a vector of {shape.channels}",
                    hint="layers after an FC layer see a vector; move this before the first FC")


def window_out(size: int, kernel: int, stride: int, pad: int, ceil: bool) -> int:
    """Output length of a sliding window: PyTorch's (and Caffe's) rule, rounding down, or up
    in ceil mode — where the last window may hang over the edge but must start inside."""
    out = (size + 2 * pad - kernel + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _sliding(node: ir.Node, shape: ir.Shape, kernel: ir.Pair, stride: ir.Pair, pad: ir.Pair,
             ceil: bool, warnings: list[Diagnostic]) -> tuple[int, int]:
    """Output height and width of a sliding window; errors if it vanishes, warns if it
    leaves input pixels unread or if ceil and floor rounding disagree."""
    sizes = (shape.height, shape.width)
    out = tuple(window_out(n, k, s, p, ceil) for n, k, s, p in zip(sizes, kernel, stride, pad))
    if min(out) < 1:
        raise _fail(node, f"its {shape.height}×{shape.width} input"
                    + (f" (padded by {pad[0]}×{pad[1]})" if any(pad) else "")
                    + f" is smaller than its {kernel[0]}×{kernel[1]} window",
                    hint="the feature map has shrunk away: use a larger input, or fewer "
                         "strided or pooling layers before this one")
    if ceil:  # the spec asked for ceil mode: the last window may hang over, by design
        return out
    # Rows past the last window that the input really has; a window smaller than its
    # stride skips s − k rows between windows by design (a 1×1/2 projection shortcut), so
    # only more than that at the end is a loss.
    unread = tuple((n + 2 * p - k) % s - p for n, k, s, p in zip(sizes, kernel, stride, pad))
    skipped = tuple(max(s - k, 0) for k, s in zip(kernel, stride))
    if any(u > gap for u, gap in zip(unread, skipped)):
        rows, cols = max(unread[0], 0), max(unread[1], 0)
        lost = " and ".join(part for part in (
            f"{rows} row{'s' if rows != 1 else ''}" if rows else "",
            f"{cols} column{'s' if cols != 1 else ''}" if cols else "") if part)
        hint = None
        if node.inputs == (0,):
            fit = tuple(n + (s - (n + 2 * p - k) % s) % s
                        for n, k, s, p in zip(sizes, kernel, stride, pad))
            hint = f"an input of {shape.channels}×{fit[0]}×{fit[1]} would be covered exactly"
        warnings.append(Diagnostic(
            f"`{node.name}` ({node.text}) does not fit its {shape.height}×{shape.width} input: "
            f"the last {lost} are never read", node.loc, hint=hint))
    return out


def _grow(rf: ir.ReceptiveField | None, kernel: ir.Pair, stride: ir.Pair, pad: ir.Pair):
    if rf is None:
        return None
    return ir.ReceptiveField(
        size=tuple(r + (k - 1) * j for r, k, j in zip(rf.size, kernel, rf.stride)),
        stride=tuple(j * s for j, s in zip(rf.stride, stride)),
        padding=tuple(P + p * j for P, p, j in zip(rf.padding, pad, rf.stride)))


def _same(info: ir.Info, shape: ir.Shape | None = None, **counts) -> ir.Info:
    """An Info that keeps its input's receptive field."""
    return ir.Info(shape=shape or info.shape, rf=info.rf, rf_note=info.rf_note, **counts)


# -- one rule per layer kind: (node, input infos, warnings, network) → Info ----------------


def _input(node, ins, warnings, net):
    shape = node.layer.shape
    if shape.width < shape.height and shape.width <= 4 < shape.channels:
        warnings.append(Diagnostic(
            f"input {shape} looks like height × width × channels, but archc reads channels "
            f"× height × width", node.loc,
            hint=f"for {shape.width}-channel {shape.channels}×{shape.height} images, write "
                 f"`input {shape.width}x{shape.channels}x{shape.height}`"))
    unit = ir.ReceptiveField((1, 1), (1, 1), (0, 0))
    return ir.Info(shape=shape, rf=unit)


def _conv(node, ins, warnings, net):
    layer: ir.Conv = node.layer
    (src,) = ins
    shape = src.shape
    _spatial(node, shape)
    c_in = shape.channels
    if layer.connections is not None:
        rows = layer.table_rows
        if rows != c_in:
            raise _fail(node, f"its connection table has {rows} rows but its input has {c_in} maps")
        fan_in = sum(len(reads) for reads in layer.connections)
    else:
        if c_in % layer.groups or layer.out_channels % layer.groups:
            raise _fail(node, f"{c_in} input and {layer.out_channels} output maps cannot both be "
                        f"split into {layer.groups} groups")
        fan_in = layer.out_channels * (c_in // layer.groups)
    h, w = _sliding(node, shape, layer.kernel, layer.stride, layer.padding, False, warnings)
    taps = layer.kernel[0] * layer.kernel[1]
    outputs = layer.out_channels * h * w
    macs = h * w * taps * fan_in
    biases = layer.out_channels if layer.bias else 0
    return ir.Info(
        shape=ir.Shape(layer.out_channels, h, w), weights=fan_in * taps, biases=biases,
        macs=macs, flops=2 * macs - (0 if layer.bias else outputs), neurons=outputs,
        rf=_grow(src.rf, layer.kernel, layer.stride, layer.padding), rf_note=src.rf_note)


def _pool(node, ins, warnings, net):
    layer: ir.Pool = node.layer
    (src,) = ins
    _spatial(node, src.shape)
    if any(2 * p > k for p, k in zip(layer.padding, layer.kernel)):
        raise _fail(node, f"padding {layer.padding[0]} is more than half its "
                    f"{layer.kernel[0]}×{layer.kernel[1]} window",
                    hint="a pooling window must not lie mostly in padding (PyTorch refuses it)")
    h, w = _sliding(node, src.shape, layer.kernel, layer.stride, layer.padding, layer.ceil,
                    warnings)
    taps = layer.kernel[0] * layer.kernel[1]
    per_output = taps - 1 if layer.kind == "max" else taps
    shape = ir.Shape(src.shape.channels, h, w)
    return ir.Info(shape=shape, flops=per_output * shape.size,
                   rf=_grow(src.rf, layer.kernel, layer.stride, layer.padding), rf_note=src.rf_note)


def _subsample(node, ins, warnings, net):
    layer: ir.Subsample = node.layer
    (src,) = ins
    _spatial(node, src.shape)
    h, w = _sliding(node, src.shape, layer.kernel, layer.stride, (0, 0), False, warnings)
    shape = ir.Shape(src.shape.channels, h, w)
    taps = layer.kernel[0] * layer.kernel[1]
    return ir.Info(shape=shape, weights=shape.channels, biases=shape.channels,
                   flops=(taps + 1) * shape.size, neurons=shape.size,
                   rf=_grow(src.rf, layer.kernel, layer.stride, (0, 0)), rf_note=src.rf_note)


def _gap(node, ins, warnings, net):
    (src,) = ins
    _spatial(node, src.shape)
    whole = (src.shape.height, src.shape.width)
    return ir.Info(shape=ir.Shape(src.shape.channels, 1, 1), flops=src.shape.size,
                   rf=_grow(src.rf, whole, (1, 1), (0, 0)), rf_note=src.rf_note)


def _adaptive_cells(size: int, out: int) -> int:
    """How many input cells PyTorch's adaptive pooling from ``size`` to ``out`` cells reads
    in all: the sum over windows i of ⌈(i+1)·size/out⌉ − ⌊i·size/out⌋, which is
    size + out − gcd(size, out) (a window gains one cell whenever its end is fractional)."""
    return size + out - math.gcd(size, out)


def _adaptive(node, ins, warnings, net):
    layer: ir.AdaptiveAvgPool = node.layer
    (src,) = ins
    _spatial(node, src.shape)
    sizes = (src.shape.height, src.shape.width)
    flops = src.shape.channels * math.prod(_adaptive_cells(n, o) for n, o in zip(sizes, layer.size))
    shape = ir.Shape(src.shape.channels, *layer.size)
    if all(n % o == 0 for n, o in zip(sizes, layer.size)):
        step = tuple(n // o for n, o in zip(sizes, layer.size))
        return ir.Info(shape=shape, flops=flops, rf=_grow(src.rf, step, step, (0, 0)),
                       rf_note=src.rf_note)
    note = (f"undefined after `{node.name}`: adaptive pooling from {sizes[0]}×{sizes[1]} to "
            f"{layer.size[0]}×{layer.size[1]} uses windows of unequal size and spacing")
    return ir.Info(shape=shape, flops=flops, rf=None, rf_note=src.rf_note or note)


def _linear(node, ins, warnings, net):
    layer: ir.Linear = node.layer
    (src,) = ins
    shape = src.shape
    if layer.in_features is not None and layer.in_features != shape.size:
        seen = str(shape.size) if shape.flat else f"{shape} = {shape.size:,}"
        raise _fail(node, f"expects {layer.in_features:,} inputs (in={layer.in_features}) "
                    f"but receives {seen}",
                    hint="check the layers before it, or the input size")
    macs = shape.size * layer.out_features
    biases = layer.out_features if layer.bias else 0
    rf = src.rf if shape.flat else _grow(src.rf, (shape.height, shape.width), (1, 1), (0, 0))
    return ir.Info(
        shape=ir.Shape(layer.out_features, 1, 1, flat=True), weights=macs, biases=biases,
        macs=macs, flops=2 * macs - (0 if layer.bias else layer.out_features),
        neurons=layer.out_features, rf=rf, rf_note=src.rf_note)


def _lrn(node, ins, warnings, net):
    (src,) = ins
    _spatial(node, src.shape)
    return _same(src, flops=(2 * node.layer.size + 3) * src.shape.size)


def _activation(node, ins, warnings, net):
    (src,) = ins
    before = net.nodes[node.inputs[0]]
    if not node.implicit and before.implicit and isinstance(before.layer, ir.Activation):
        layer = net.nodes[before.inputs[0]]
        warnings.append(Diagnostic(
            f"`{node.text}` follows the `{before.layer.function}` archc adds after "
            f"`{layer.text}` (the network's activation): the layer is activated twice",
            node.loc, hint=f"leave this line out, or give `{layer.text}` act=none to keep it"))
    return _same(src, flops=_ACTIVATION_FLOPS[node.layer.function] * src.shape.size)


def _batchnorm(node, ins, warnings, net):
    (src,) = ins
    c = src.shape.channels
    return _same(src, weights=c, biases=c, flops=2 * src.shape.size)


def _dropout(node, ins, warnings, net):
    (src,) = ins
    return _same(src)


def _channels(node, ins, warnings, net):
    (src,) = ins
    layer = node.layer
    if layer.stop > src.shape.channels:
        raise _fail(node, f"takes maps {layer.start} to {layer.stop - 1}, but its input has "
                          f"{src.shape.channels}",
                    hint=f"its input's maps are 0 … {src.shape.channels - 1}: "
                         f"`channels({layer.start}, {src.shape.channels})` takes the rest")
    shape = src.shape
    return _same(src, shape=ir.Shape(layer.stop - layer.start, shape.height, shape.width,
                                     shape.flat))


def _shuffle(node, ins, warnings, net):
    (src,) = ins
    _spatial(node, src.shape)
    if src.shape.channels % node.layer.groups:
        raise _fail(node, f"cannot deal {src.shape.channels} maps out of "
                          f"{node.layer.groups} groups of the same size",
                    hint="the maps must divide evenly into the groups")
    return _same(src)


def _softmax(node, ins, warnings, net):
    (src,) = ins
    positions = src.shape.height * src.shape.width
    return _same(src, flops=3 * src.shape.size - positions)


def _concat(node, ins, warnings, net):
    _same_size(node, ins, net, "spatial size", lambda s: (s.height, s.width, s.flat),
               "branches are concatenated on channels, so their maps must be the same size; "
               "check their strides, padding and pooling")
    first = ins[0].shape
    shape = ir.Shape(sum(i.shape.channels for i in ins), first.height, first.width, first.flat)
    rf, note = _union(node, ins, net)
    return ir.Info(shape=shape, rf=rf, rf_note=note)


def _same_size(node: ir.Node, ins: list[ir.Info], net: ir.Network, what: str, key,
               hint: str) -> None:
    """Raise, at the branch that differs from the others, unless every branch joined at
    ``node`` has the same ``key(shape)``."""
    keys = [key(i.shape) for i in ins]
    if len(set(keys)) == 1:
        return
    usual = max(keys, key=keys.count)  # the most branches' (the first's, on a tie)
    odd = next(i for i, k in enumerate(keys) if k != usual)
    branches = _branches(node, net)
    listing = ", ".join(f"{name} {i.shape}" for (name, _), i in zip(branches, ins))
    raise GeometryError(f"the branches of `{node.name}` disagree on {what}: {listing}",
                        branches[odd][1], hint=hint,
                        notes=[Note(f"`{node.name}` is written here", node.loc)])


def _branches(node: ir.Node, net: ir.Network) -> list[tuple[str, Loc]]:
    """How each branch joined at ``node`` is called in messages — its label, or `branch N
    (line L)` — and where it is written."""
    branches = []
    for number, chain in enumerate(net.branches(node), 1):
        if not chain:  # it reads the join's input directly
            branches.append((f"branch {number}", net.nodes[node.inputs[number - 1]].loc))
            continue
        first = chain[0]
        if isinstance(first, ir.Scope):
            loc, local, labelled = first.loc, first.name, not first.name.isdigit()
        else:
            loc, local = net.nodes[first].loc, net.nodes[first].name.rsplit(".", 1)[-1]
            labelled = net.nodes[first].labelled
        if labelled and len(chain) == 1:
            branches.append((f"`{local}`", loc))
        else:  # numbered as a person counts, with its line
            branches.append((f"branch {number} (line {loc.line})", loc))
    return branches


def _union(node: ir.Node, ins: list[ir.Info], net: ir.Network):
    """The receptive field of joined branches: the union of theirs (Araujo et al. §3)."""
    if any(i.rf is None for i in ins):
        return None, next(i.rf_note for i in ins if i.rf is None)
    fields = [i.rf for i in ins]
    names = [name for name, _ in _branches(node, net)]
    if len({f.stride for f in fields}) > 1:
        listing = ", ".join(f"{n} {f.stride[0]}" for n, f in zip(names, fields))
        return None, f"branches of `{node.name}` disagree on effective stride ({listing})"
    size, padding = [], []
    for axis in (0, 1):
        left = max(f.padding[axis] for f in fields)
        right = max(f.size[axis] - f.padding[axis] for f in fields)
        padding.append(left)
        size.append(left + right)
    note = None
    centres = {tuple((f.size[a] - 1) / 2 - f.padding[a] for a in (0, 1)) for f in fields}
    if len(centres) > 1:
        listing = ", ".join(f"{n} {f.size[0]}/{f.stride[0]}/{f.padding[0]}"
                            for n, f in zip(names, fields))
        note = f"branches of `{node.name}` are not centred alike ({listing}); the union is shown"
    rf = ir.ReceptiveField(tuple(size), fields[0].stride, tuple(padding))
    return rf, note


def _add(node, ins, warnings, net):
    _same_size(node, ins, net, "shape", lambda s: (s.channels, s.height, s.width, s.flat),
               "a residual join adds its branches element by element, so they must have "
               "the same shape; a shortcut that changes it needs a projection, e.g. "
               "`downsample { conv1-256/2; bn }`")
    shape = ins[0].shape
    rf, note = _union(node, ins, net)
    return ir.Info(shape=shape, flops=(len(ins) - 1) * shape.size, rf=rf, rf_note=note)


def _mul(node, ins, warnings, net):
    """The branches multiplied: each has the shape of the largest, or is C×1×1 with its
    C channels — a gate that scales every position (squeeze-and-excitation)."""
    full = max((i.shape for i in ins), key=lambda s: s.size)
    _same_size(node, ins, net, "channels", lambda s: (s.channels, s.flat),
               "a product multiplies its branches element by element: each has the "
               "other's shape, or is a gate of one value per channel (C×1×1)")
    _same_size(node, ins, net, "shape",
               lambda s: (full.height, full.width) if (s.height, s.width) == (1, 1) and not
               s.flat else (s.height, s.width),
               "a product multiplies its branches element by element: each has the "
               "other's shape, or is a gate of one value per channel (C×1×1)")
    rf, note = _union(node, ins, net)
    # Multiplied in turn, each multiply making a tensor the size of its larger factor.
    sizes = [i.shape.size for i in ins]
    flops = sum(max(sizes[:k + 1]) for k in range(1, len(sizes)))
    return ir.Info(shape=full, flops=flops, rf=rf, rf_note=note)


def _identity(node, ins, warnings, net):
    (src,) = ins
    return _same(src)


def _fused(node, ins, warnings, net):
    """A fused chain: its stages' rules in turn, their counts added up."""
    layer: ir.Fused = node.layer
    stages = [layer.conv]
    if layer.activation:
        stages.append(ir.Activation(layer.activation))
    stages += [stage for stage in (layer.lrn, layer.pool) if stage is not None]
    info, total = ins, None
    for stage in stages:
        step = _RULES[type(stage)](replace(node, layer=stage), info, [], net)
        info = [step]
        total = step if total is None else replace(
            step, weights=total.weights + step.weights, biases=total.biases + step.biases,
            macs=total.macs + step.macs, flops=total.flops + step.flops,
            neurons=total.neurons + step.neurons)
    return total


_RULES = {
    ir.Input: _input, ir.Conv: _conv, ir.Pool: _pool, ir.Subsample: _subsample,
    ir.GlobalAvgPool: _gap, ir.AdaptiveAvgPool: _adaptive, ir.Linear: _linear,
    ir.LRN: _lrn, ir.Activation: _activation, ir.BatchNorm: _batchnorm,
    ir.Dropout: _dropout, ir.StochasticDepth: _dropout, ir.ChannelSlice: _channels,
    ir.ChannelShuffle: _shuffle, ir.Softmax: _softmax, ir.Concat: _concat, ir.Add: _add, ir.Mul: _mul,
    ir.Identity: _identity, ir.Fused: _fused,
}
