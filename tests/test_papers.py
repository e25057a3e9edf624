"""The bundled specs reproduce the papers' own numbers.

Expected figures are copied from the papers (via ../shared/REFERENCE.md) or computed here
from the papers' layer tables by a formula independent of archc — never taken from what
archc printed.
"""

from __future__ import annotations

import math

import pytest

import archc
from archc import ir
from conftest import SPECS


def analyze(name: str, **kw) -> ir.Network:
    return archc.analyze(SPECS / f"{name}.arch", **kw)


def info(net: ir.Network, name: str) -> ir.Info:
    node = net.node(name)
    assert node is not None, f"{net.name} has no node {name}"
    return node.info


def shape(net, name) -> tuple[int, int, int]:
    s = info(net, name).shape
    return (s.channels, s.height, s.width)


def rf(net, name) -> tuple[int, int, int]:
    field = info(net, name).rf
    assert field.size[0] == field.size[1]
    return field.size[0], field.stride[0], field.padding[0]


def test_every_bundled_spec_checks():
    for path in sorted(SPECS.glob("*.arch")):
        net = archc.analyze(path)
        failed = [o.message for o in archc.check(net) if o.failed]
        assert not failed, path


# -- VGG ---------------------------------------------------------------------------------------

# Table 1's columns as (convs per block) and the exact figures REFERENCE.md gives.
VGG = {
    "vgg_a": ([1, 1, 2, 2, 2], 11, 132_863_336, 7_609_090_048),
    "vgg_b": ([2, 2, 2, 2, 2], 13, 133_047_848, 11_308_466_176),
    "vgg_c": ([2, 2, 3, 3, 3], 16, 133_638_952, 11_770_888_192),
    "vgg_d": ([2, 2, 3, 3, 3], 16, 138_357_544, 15_470_264_320),
    "vgg_e": ([2, 2, 4, 4, 4], 19, 143_667_240, 19_632_062_464),
}
TABLE_2_MILLIONS = {"vgg_a": 133, "vgg_a_lrn": 133, "vgg_b": 133, "vgg_c": 134, "vgg_d": 138,
                    "vgg_e": 144}


@pytest.mark.parametrize("name", sorted(VGG))
def test_vgg_exact_params_and_macs(name):
    _, depth, params, macs = VGG[name]
    net = analyze(name)
    t = archc.totals(net)
    assert (t.params, t.macs, t.weight_layers) == (params, macs, depth)


def _vgg_by_formula(blocks: list[int], one_by_one: bool) -> tuple[int, int]:
    """Params and MACs of a VGG column, computed directly from Table 1."""
    params = macs = 0
    channels, size = 3, 224
    for block, width in zip(blocks, [64, 128, 256, 512, 512]):
        for i in range(block):
            k = 1 if (one_by_one and i == block - 1 and width >= 256) else 3
            params += k * k * channels * width + width
            macs += k * k * channels * width * size * size
            channels = width
        size //= 2
    for n_in, n_out in ((512 * 7 * 7, 4096), (4096, 4096), (4096, 1000)):
        params += n_in * n_out + n_out
        macs += n_in * n_out
    return params, macs


@pytest.mark.parametrize("name", sorted(VGG))
def test_vgg_matches_an_independent_count(name):
    blocks = VGG[name][0]
    t = archc.totals(analyze(name))
    assert (t.params, t.macs) == _vgg_by_formula(blocks, one_by_one=name == "vgg_c")


def test_vgg_table_2():
    for name, millions in TABLE_2_MILLIONS.items():
        assert round(archc.totals(analyze(name)).params / 1e6) == millions, name


def test_vgg_a_lrn_is_a_with_lrn_after_the_first_layer():
    a, lrn = analyze("vgg_a"), analyze("vgg_a_lrn")
    assert archc.totals(a).params == archc.totals(lrn).params
    ops = [n.op for n in lrn.nodes][:5]
    assert ops == ["input", "conv", "relu", "lrn", "maxpool"]


def test_vgg_d_receptive_field_at_the_last_maxpool():
    net = analyze("vgg_d")
    last_pool = [n for n in net.nodes if n.op == "maxpool"][-1]
    assert rf(net, last_pool.name) == (212, 32, 90)
    assert shape(net, last_pool.name) == (512, 7, 7)


# -- AlexNet -----------------------------------------------------------------------------------


def test_alexnet_two_gpu_params_and_shapes():
    net = analyze("alexnet")
    assert archc.totals(net).params == 60_965_224
    assert shape(net, "conv1") == (96, 55, 55)
    assert info(net, "conv2").weights == 256 * 48 * 5 * 5  # each group sees 48 maps
    assert info(net, "conv3").weights == 384 * 256 * 3 * 3  # across both groups
    assert shape(net, "pool5") == (256, 6, 6)
    assert rf(net, "pool5") == (195, 32, 64)


def test_alexnet_neurons_are_the_papers_650_thousand():
    neurons = archc.totals(analyze("alexnet")).neurons
    assert abs(neurons - 650_000) / 650_000 < 0.02


def test_alexnet_at_224_warns_that_the_stride_does_not_divide():
    net = analyze("alexnet", input="3x224x224")
    assert shape(net, "conv1") == (96, 54, 54)
    conv1 = [w for w in net.warnings if "`conv1`" in w.message]
    assert conv1 and "never read" in conv1[0].message
    assert "227" in conv1[0].hint
    assert not analyze("alexnet").warnings


def test_alexnet_lrn_is_the_papers_convention():
    lrn = analyze("alexnet").node("lrn1").layer
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k, lrn.convention) == (5, 1e-4, 0.75, 2, "paper")
    # REFERENCE.md: the paper's layer in PyTorch terms is LocalResponseNorm(5, alpha=5e-4, ...)
    assert math.isclose(lrn.torch_alpha, 5e-4)


# -- ZFNet -------------------------------------------------------------------------------------


def test_zfnet_figure_3_sizes():
    net = analyze("zfnet")
    assert shape(net, "conv1") == (96, 110, 110)
    assert shape(net, "pool1") == (96, 55, 55)
    assert shape(net, "conv2") == (256, 26, 26)
    assert shape(net, "pool2") == (256, 13, 13)
    assert shape(net, "pool5") == (256, 6, 6)
    assert info(net, "fc6").macs == 6 * 6 * 256 * 4096


def test_zfnet_needs_ceil_mode():
    text = (SPECS / "zfnet.arch").read_text().replace("default maxpool ceil=true", "")
    net = archc.analyze(text)
    assert shape(net, "pool1")[1] == 54
    assert shape(net, "pool2")[1] == 12


# -- Network in Network --------------------------------------------------------------------------


def test_nin_seed_table():
    net = analyze("nin")
    convs = [n for n in net.nodes if n.op == "conv"]
    assert [n.info.params for n in convs] == [448, 272, 9_280, 4_160, 57_700, 10_100]
    assert [n.info.shape.height for n in convs] == [30, 30, 28, 28, 26, 26]
    assert archc.totals(net).params == 81_960
    assert shape(net, "gap") == (100, 1, 1)


# -- LeNet-5 -----------------------------------------------------------------------------------


def test_lenet5_per_layer():
    net = analyze("lenet5")
    expected = {"C1": (156, (6, 28, 28)), "S2": (12, (6, 14, 14)), "C3": (1_516, (16, 10, 10)),
                "S4": (32, (16, 5, 5)), "C5": (48_120, (120, 1, 1)), "F6": (10_164, (84, 1, 1)),
                "output": (850, (10, 1, 1))}
    for name, (params, dims) in expected.items():
        assert (info(net, name).params, shape(net, name)) == (params, dims), name


def test_lenet5_c3_connection_table():
    c3 = analyze("lenet5").node("C3").layer
    reads = [len(maps) for maps in c3.connections]
    assert reads == [3] * 6 + [4] * 9 + [6]
    assert c3.connections[:6] == tuple(tuple(sorted((j + i) % 6 for i in range(3))) for j in range(6))
    assert c3.connections[12:15] == ((0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5))
    assert 6 * (25 * 3 + 1) + 6 * (25 * 4 + 1) + 3 * (25 * 4 + 1) + (25 * 6 + 1) == 1_516


def test_lenet5_uses_the_scaled_tanh():
    net = analyze("lenet5")
    after = {net.nodes[n.inputs[0]].name: n.op for n in net.nodes if n.op == "scaled_tanh"}
    assert set(after) == {"C1", "S2", "C3", "S4", "C5", "F6"}  # not the output layer


# -- GoogLeNet ---------------------------------------------------------------------------------

# Table 1: (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj) and output depth.
INCEPTION = {
    "3a": ((64, 96, 128, 16, 32, 32), 256), "3b": ((128, 128, 192, 32, 96, 64), 480),
    "4a": ((192, 96, 208, 16, 48, 64), 512), "4b": ((160, 112, 224, 24, 64, 64), 512),
    "4c": ((128, 128, 256, 24, 64, 64), 512), "4d": ((112, 144, 288, 32, 64, 64), 528),
    "4e": ((256, 160, 320, 32, 128, 128), 832), "5a": ((256, 160, 320, 32, 128, 128), 832),
    "5b": ((384, 192, 384, 48, 128, 128), 1024),
}


def test_googlenet_module_depths_and_sizes():
    net = analyze("googlenet")
    for module, (_, depth) in INCEPTION.items():
        size = {"3": 28, "4": 14, "5": 7}[module[0]]
        assert shape(net, f"inception_{module}") == (depth, size, size), module
    assert shape(net, "pool1") == (64, 56, 56)  # 112 → 56 needs ceil mode
    assert shape(net, "pool5") == (1024, 1, 1)


def test_googlenet_module_weights_follow_from_the_widths():
    net = analyze("googlenet")
    channels = 192
    for module, ((n1, n3r, n3, n5r, n5, pp), depth) in INCEPTION.items():
        expected = channels * (n1 + n3r + n5r + pp) + 9 * n3r * n3 + 25 * n5r * n5
        ids = set(net.scope(f"inception_{module}").node_ids())
        assert archc.totals(net, ids).weights == expected, module
        channels = depth
    # Table 1's params column is in K = 1024: 3a's 163,328 weights are "159K".
    ids = set(net.scope("inception_3a").node_ids())
    assert int(archc.totals(net, ids).weights / 1024) == 159
    assert round(archc.totals(net, ids).macs / 1e6) == 128  # ops column: "128M"


def test_googlenet_auxiliary_classifiers_are_training_only_side_outputs():
    net = analyze("googlenet")
    assert [(s.name, s.weight) for s in net.sides] == [("aux1", 0.3), ("aux2", 0.3)]
    assert shape(net, "aux1.0") == (512, 4, 4)  # REFERENCE.md: 4×4×512 after 4a
    assert shape(net, "aux2.0") == (528, 4, 4)
    whole, inference = archc.totals(net), archc.totals(net, inference=True)
    aux = sum(n.info.params for n in net.nodes if n.side)
    assert whole.params - inference.params == aux > 0
    assert net.nodes[net.output].name == "softmax"
