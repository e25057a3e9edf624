"""Analysis against independent computations.

* shapes, parameter counts and MACs against real torch modules built here from the layer
  list (hypothesis draws the layers; MACs come from torch's own FLOP counter);
* receptive fields measured by back-propagating through a one-channel copy of each
  bundled network: the input pixels with a non-zero gradient are the field;
* FLOPs per layer kind against the formulas documented in archc/analysis.py, by hand.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archc
from archc import ir
from conftest import SPECS


def net(body: str, input: str = "3x32x32") -> ir.Network:
    return archc.analyze(f"network t input {input}\n{body}\n")


# -- shapes, params and MACs against torch -------------------------------------------------------

LAYER = st.one_of(
    st.tuples(st.just("conv"), st.sampled_from([1, 2, 3, 5, 7, 11]), st.integers(1, 4),
              st.integers(0, 3), st.sampled_from([1, 2]), st.sampled_from([2, 4, 6]),
              st.booleans()),
    st.tuples(st.sampled_from(["maxpool", "avgpool"]), st.integers(1, 3), st.integers(1, 3),
              st.integers(0, 1), st.booleans()),
    st.tuples(st.just("lrn"), st.sampled_from([3, 5])),
    st.tuples(st.just("bn")),
)


def _spec_and_module(layers, channels):
    """The same layer stack as archc text and as torch modules (built independently)."""
    lines, modules = [], []
    for layer in layers:
        if layer[0] == "conv":
            _, k, s, p, g, out, bias = layer
            p = min(p, k // 2)
            lines.append(f"conv{k}-{out}/{s} pad={p} groups={g} bias={str(bias).lower()} act=none")
            modules.append(nn.Conv2d(channels, out, k, s, p, groups=g, bias=bias))
            channels = out
        elif layer[0] in ("maxpool", "avgpool"):
            _, k, s, p, ceil = layer
            p = min(p, k // 2)
            lines.append(f"{layer[0]}{k}/{s} pad={p} ceil={str(ceil).lower()}")
            cls = nn.MaxPool2d if layer[0] == "maxpool" else nn.AvgPool2d
            modules.append(cls(k, s, p, ceil_mode=ceil))
        elif layer[0] == "lrn":
            lines.append(f"LRN size={layer[1]}")
            modules.append(nn.LocalResponseNorm(layer[1]))
        else:
            lines.append("bn")
            modules.append(nn.BatchNorm2d(channels))
    return "; ".join(lines), modules


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=st.lists(LAYER, min_size=1, max_size=5), size=st.integers(8, 40))
def test_shapes_params_and_macs_match_torch(layers, size):
    text, modules = _spec_and_module(layers, 2)
    x = torch.zeros(1, 2, size, size)
    try:
        outputs, flops = [], FlopCounterMode(display=False)
        with flops, torch.no_grad():
            for module in modules:
                x = module.eval()(x)
                outputs.append(list(x.shape[1:]))
        torch_ok = min(min(o) for o in outputs) > 0
    except RuntimeError:
        torch_ok = False
    try:
        analysed = net(text, input=f"2x{size}x{size}")
    except archc.GeometryError:
        assert not torch_ok  # archc refuses exactly what torch cannot run
        return
    except archc.SemanticError as exc:  # groups that do not divide the channels
        assert "groups" in str(exc)
        return
    assert torch_ok
    layers_ir = [n for n in analysed.nodes if n.op != "input"]
    assert [n.info.shape.as_list() for n in layers_ir] == outputs
    assert archc.totals(analysed).params == sum(p.numel() for m in modules for p in m.parameters())
    # torch counts 2 FLOPs per multiply-accumulate of a convolution, and nothing for the rest.
    assert archc.totals(analysed).macs == flops.get_total_flops() // 2


def test_torch_macs_for_the_bundled_feature_stacks():
    """MACs of AlexNet's and VGG-A's features, counted by torch on equivalent modules."""
    a = archc.analyze(SPECS / "alexnet.arch")
    features = nn.Sequential(
        nn.Conv2d(3, 96, 11, 4), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.Conv2d(384, 384, 3, padding=1, groups=2),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(9216, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        features(torch.zeros(1, 3, 227, 227))
    assert archc.totals(a).macs == counter.get_total_flops() // 2
    assert archc.totals(a).params == sum(p.numel() for p in features.parameters())


# -- receptive fields by back-propagation --------------------------------------------------------


def _support_model(network: ir.Network, target: int):
    """A function computing ``target``'s output from a one-channel input through every
    node it depends on, with all-ones weights: the gradient of one output unit is then
    positive exactly on its receptive field."""
    def run(x):
        values = {0: x}
        for node in network.nodes[1:target + 1]:
            if not node.inputs or not all(i in values for i in node.inputs):
                continue
            ins = [values[i] for i in node.inputs]
            layer = node.layer
            if isinstance(layer, ir.Conv):
                weight = torch.ones(1, 1, *layer.kernel, dtype=x.dtype)
                out = F.conv2d(ins[0], weight, stride=layer.stride, padding=layer.padding)
            elif isinstance(layer, ir.Pool):  # average: positive on the whole window
                out = F.avg_pool2d(ins[0], layer.kernel, layer.stride, layer.padding,
                                   ceil_mode=layer.ceil)
            elif isinstance(layer, ir.Subsample):
                out = F.avg_pool2d(ins[0], layer.kernel, layer.stride)
            elif isinstance(layer, ir.Concat):
                h = min(t.shape[-2] for t in ins)
                out = sum(t[..., :h, :h] for t in ins)
            elif isinstance(layer, (ir.Activation, ir.LRN, ir.BatchNorm, ir.Dropout)):
                out = ins[0]
            else:
                return None
            values[node.id] = out
        return values.get(target)
    return run


def _measure(network: ir.Network, node: ir.Node, field: ir.ReceptiveField):
    size, stride, pad = field.size[0], field.stride[0], field.padding[0]
    unit = math.ceil(pad / stride)
    extent = unit * stride - pad + size + 2 * stride + 8
    x = torch.ones(1, 1, extent, extent, dtype=torch.float64, requires_grad=True)
    run = _support_model(network, node.id)
    out = run(x)
    if out is None:
        return None
    measured = []
    for u in (unit, unit + 1):
        x.grad = None
        out[0, 0, u, u].backward(retain_graph=True)
        rows = torch.nonzero(x.grad[0, 0].sum(dim=1) > 0).flatten()
        measured.append((rows.min().item(), rows.max().item()))
    (start, end), (next_start, _) = measured
    return end - start + 1, next_start - start, unit * stride - start


@pytest.mark.parametrize("name", ["alexnet", "vgg_d", "zfnet", "nin", "lenet5", "googlenet"])
def test_receptive_fields_match_back_propagation(name):
    network = archc.analyze(SPECS / f"{name}.arch")
    checked = 0
    for node in network.nodes:
        field = node.info.rf
        if node.side or field is None or node.info.shape.flat or node.op in ("gap", "input"):
            continue
        if node.op not in ("conv", "maxpool", "avgpool", "concat", "subsample"):
            continue
        measured = _measure(network, node, field)
        if measured is None:
            continue
        assert measured == (field.size[0], field.stride[0], field.padding[0]), node.name
        checked += 1
    assert checked >= 3


def test_papers_receptive_fields():
    alexnet = archc.analyze(SPECS / "alexnet.arch").node("pool5").info.rf
    vgg_d = archc.analyze(SPECS / "vgg_d.arch").node("features.30").info.rf
    assert (alexnet.size[0], alexnet.stride[0], alexnet.padding[0]) == (195, 32, 64)
    assert (vgg_d.size[0], vgg_d.stride[0], vgg_d.padding[0]) == (212, 32, 90)


def test_branches_not_centred_alike_are_reported():
    n = net("mix: concat { a: maxpool2/2; b: conv3-3/2 pad=1 act=none }")
    node = n.node("mix")
    assert (node.info.rf.size, node.info.rf.padding) == ((3, 3), (1, 1))  # the union
    assert "not centred alike" in node.info.rf_note
    assert _measure(n, node, node.info.rf) == (3, 2, 1)


def test_branches_with_different_strides_have_no_single_field():
    # 8×8 → 4×4 both ways: a 1×1 conv at stride 2, and an unpadded 5×5 conv at stride 1.
    n = net("mix: concat { conv1-3/2 act=none; conv5-3 pad=0 act=none }", input="3x8x8")
    assert n.node("mix").info.rf is None
    assert "disagree on effective stride" in n.node("mix").info.rf_note


def test_adaptive_pooling_with_uneven_windows_has_no_receptive_field():
    uneven = net("adaptive-avgpool4; FC-10", input="3x14x14")
    assert uneven.nodes[1].info.rf is None and "unequal" in uneven.nodes[1].info.rf_note
    assert uneven.nodes[-1].info.rf is None
    even = net("adaptive-avgpool7", input="3x14x14").nodes[1].info.rf
    assert even == ir.ReceptiveField((2, 2), (2, 2), (0, 0))


def test_fc_and_global_pooling_see_the_whole_map():
    n = net("conv3-8 act=none; gap", input="3x10x10")
    assert n.nodes[-1].info.rf.size == (3 + 9, 3 + 9)
    m = net("conv3-8 act=none; FC-10", input="3x10x10")
    assert m.nodes[-1].info.rf.size == (12, 12)


# -- FLOPs, per the documented conventions -------------------------------------------------------


def _flops(body: str, input: str) -> list[int]:
    return [n.info.flops for n in net(body, input).nodes[1:]]


def test_flops_of_each_layer_kind():
    # conv3-8 on 3×8×8, "same": 8·8·8 outputs, 27 taps each.
    assert _flops("conv3-8 act=none", "3x8x8") == [2 * 512 * 27]
    assert _flops("conv3-8 bias=false act=none", "3x8x8") == [2 * 512 * 27 - 512]
    assert _flops("relu; tanh; sigmoid; scaled-tanh", "8x8x8") == [512, 512, 4 * 512, 3 * 512]
    assert _flops("maxpool; avgpool", "8x8x8") == [128 * 3, 32 * 4]
    assert _flops("LRN size=5", "8x8x8") == [13 * 512]
    assert _flops("bn", "8x8x8") == [2 * 512]
    assert _flops("gap", "8x4x4") == [128]
    assert _flops("soft-max", "8x4x4") == [3 * 128 - 16]
    assert _flops("FC-10 act=none; soft-max", "128x1x1") == [2 * 1280, 3 * 10 - 1]
    assert _flops("subsample2 act=none", "6x28x28") == [6 * 14 * 14 * 5]
    assert _flops("adaptive-avgpool4", "2x14x14") == [2 * 16 * 16]  # windows of 4 per axis
    assert _flops("dropout", "8x8x8") == [0]


def test_neurons_count_outputs_of_layers_with_weights():
    n = net("conv3-8; maxpool; FC-10", input="3x8x8")
    assert archc.totals(n).neurons == 8 * 8 * 8 + 10


# -- warnings ------------------------------------------------------------------------------------


def test_pixels_that_are_never_read_give_a_warning():
    lossy = net("conv3-8/2 pad=0", input="3x32x32")
    assert len(lossy.warnings) == 1 and "last 1 row and 1 column" in lossy.warnings[0].message
    # Padding that covers the remainder loses nothing: GoogLeNet's conv1 at 224.
    assert not net("conv7-64/2", input="3x224x224").warnings


def test_ceil_mode_is_a_choice_and_gives_no_warning():
    """A spec that writes `ceil` (or `default maxpool ceil=true`) chose its rounding: the
    bundled GoogLeNet and ZFNet, which do, printed eleven warnings on every run."""
    n = net("maxpool3/2 ceil", input="3x112x112")
    assert n.nodes[1].info.shape.height == 56 and not n.warnings
    assert not archc.analyze("googlenet").warnings and not archc.analyze("zfnet").warnings


def test_an_input_written_height_width_channels_gives_a_warning():
    (warning,) = net("conv3-8", input="32x32x3").warnings
    assert "looks like height × width × channels" in warning.message
    assert "`input 3x32x32`" in warning.hint
    assert warning.loc.column == len("network t input ") + 1
    for fine in ("3x32x32", "1x28x28", "64x8x8", "4x1x100"):
        assert not net("conv1-8", input=fine).warnings


def test_an_even_kernel_without_padding_says_it_gets_none():
    (warning,) = net("conv4-8", input="3x32x32").warnings
    assert "even kernel, so it gets no padding" in warning.message
    assert net("conv4-8", input="3x32x32").nodes[1].layer.padding == (0, 0)
    for said in ("conv4-8 pad=0", "conv4-8 pad=valid", "conv4-8 pad=1", "conv3-8"):
        assert not net(said, input="3x32x32").warnings
    # Once per place in the spec, however often a block or ×N repeats it.
    assert len(net("conv2-8 ×3", input="3x32x32").warnings) == 1


def test_pytorch_ceil_mode_rule_for_the_last_window():
    # A last window that would start in the right padding is dropped (PyTorch and Caffe).
    n = net("maxpool2/2 pad=1 ceil", input="1x4x4")
    assert n.nodes[1].info.shape.height == F.max_pool2d(
        torch.zeros(1, 1, 4, 4), 2, 2, 1, ceil_mode=True).shape[-1]


# -- residual joins ------------------------------------------------------------------------------


def test_an_add_counts_its_additions_and_keeps_the_shape():
    n = net("conv3-8\nadd act=none { conv3-8; conv1-8; identity }", input="3x16x16")
    add = next(node for node in n.nodes if node.op == "add")
    assert add.info.shape == ir.Shape(8, 16, 16)
    assert add.info.flops == 2 * 8 * 16 * 16  # three branches: two additions an element
    assert add.info.params == add.info.macs == 0


def test_the_receptive_field_of_a_join_is_the_union_of_its_branches():
    """conv3 then a unit whose body is two 3×3s and whose shortcut is the identity: the
    body sees 7×7 (3 + 2 + 2), the shortcut 3×3, both centred — the union is 7×7."""
    n = net("conv3-8\nadd { { conv3-8; conv3-8 }; identity }", input="3x32x32")
    add = next(node for node in n.nodes if node.op == "add")
    assert add.info.rf == ir.ReceptiveField((7, 7), (1, 1), (3, 3)) and add.info.rf_note is None


def test_a_kernel_smaller_than_its_stride_skips_rows_by_design():
    """A 1×1/2 projection shortcut reads every other row: the last row it does not read
    is no more lost than the others.  Only rows past what the stride skips are."""
    assert not net("conv1-8/2", input="3x56x56").warnings
    assert not net("maxpool1/3", input="3x10x10").warnings  # 10 = 3·3 + 1: skips 2, loses 0
    assert not net("maxpool1/3", input="3x12x12").warnings  # rows 10, 11: a gap like others
    # 2×2 windows 3 apart over 13 rows: read 0-1, 3-4, 6-7, 9-10; rows 11 and 12 are more
    # than the one row between windows.
    (lossy,) = net("maxpool2/3", input="3x13x13").warnings
    assert "the last 2 rows and 2 columns are never read" in lossy.message


def test_a_product_scales_maps_by_a_gate():
    """`mul { }`: squeeze-and-excitation — the maps times a sigmoid gate of one value per
    channel — computed as Hu et al. write it, from the module's own weights."""
    spec = ("network t input 8x6x6\nse: mul {\n    identity\n    { gap; fc1: conv1-2 act=relu; "
            "fc2: conv1-8 act=sigmoid }\n}\ngap\nFC-3\n")
    n = archc.analyze(spec)
    join = n.node("se")
    assert join.info.shape.as_list() == [8, 6, 6] and join.info.flops == 8 * 6 * 6
    assert archc.totals(n).params == (8 * 2 + 2) + (2 * 8 + 8) + (8 * 3 + 3)
    model = archc.build(n).eval()
    x = torch.randn(2, 8, 6, 6)
    gate = torch.sigmoid(model.se.fc2(torch.relu(model.se.fc1(x.mean((2, 3), keepdim=True)))))
    with torch.no_grad():
        assert torch.allclose(model.se(x), x * gate)
    with pytest.raises(archc.SpecError, match="the branches of `m` disagree on shape"):
        net("m: mul { conv3-3 act=none; maxpool }")
    with pytest.raises(archc.SpecError, match="the branches of `m` disagree on channels"):
        archc.analyze("network t input 8x6x6\nm: mul { identity; { gap; conv1-4 } }\n")


def test_a_group_named_like_a_join_gives_a_warning():
    """`multiply { }` was silently a plain group (its layers in sequence), found only by
    a failing expect line; now archc says so, and says how to write the join."""
    (warning,) = net("multiply { identity; conv1-3 }").warnings
    assert "`multiply { }` is a group called `multiply`" in warning.message
    assert "`mul { ... }`" in warning.hint and "`multiply: { ... }`" in warning.hint
    assert "`concat { ... }`" in net("chunk { identity; conv1-3 }").warnings[0].hint
    assert not net("multiply: { identity; conv1-3 }").warnings  # a label says it is meant
    assert not net("features { identity; conv1-3 }").warnings


def test_padding_per_axis_is_pytorchs():
    """`pad=(H, W)`: H rows above and below, W columns each side, as nn.Conv2d's
    padding=(H, W) — shapes, counts and the module itself."""
    n = net("conv3x5-8 pad=(2, 0); FC-4")
    conv = n.nodes[1]
    assert conv.layer.padding == (2, 0) and conv.info.shape.as_list() == [8, 34, 28]
    module = archc.build(n)
    assert module.conv.padding == (2, 0)
    assert module(torch.randn(1, 3, 32, 32)).shape == (1, 4)
    reference = torch.nn.Conv2d(3, 8, (3, 5), padding=(2, 0))
    assert tuple(reference(torch.randn(1, 3, 32, 32)).shape[1:]) == (8, 34, 28)


def test_an_activation_written_after_the_implicit_one_gives_a_warning():
    """`conv3-8; relu` applies relu twice (the network's activation, then the line's);
    harmless for relu, wrong for `conv3-8; tanh`, and silent until now."""
    (warning,) = net("conv3-8; tanh").warnings
    assert "`tanh` follows the `relu` archc adds after `conv3-8`" in warning.message
    assert "act=none" in warning.hint and warning.loc.column == len("conv3-8; ") + 1
    for fine in ("conv3-8 act=none; tanh", "conv3-8; bn; relu", "conv3-8; maxpool"):
        assert not net(fine).warnings, fine
    assert not [w for s in ("resnet50", "vgg16_bn", "lenet5", "googlenet")
                for w in archc.analyze(s).warnings]
