"""`archc import` and `archc export --caffe`: networks as their authors released them.

The released definitions in ../shared/caffe import to specs whose parameter counts are
the published ones, and whose modules compute what the definitions say: the check is a
small Caffe of its own, written here — a reader of the text format and an interpreter of
its layers in torch.nn.functional — run with the same weights, copied by name.  The
round trip export → import gives back the network of every bundled spec Caffe can say.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import archc
from archc.caffe import exporter, importer
from archc.errors import Source
from conftest import SPECS

CAFFE = Path(__file__).resolve().parent / "data" / "caffe"  # copies; provenance in README.md

RELEASED = [  # file, --input, published parameters (with any auxiliary heads), without
    ("bvlc_alexnet.deploy.v1.prototxt", None, 60_965_224, 60_965_224),
    ("bvlc_alexnet.deploy.prototxt", None, 60_965_224, 60_965_224),
    ("bvlc_alexnet.train_val.prototxt", "3x227x227", 60_965_224, 60_965_224),
    ("bvlc_googlenet.deploy.prototxt", None, 6_998_552, 6_998_552),
    ("bvlc_googlenet.train_val.prototxt", "3x224x224", 13_378_280, 6_998_552),
    ("vgg_ilsvrc_16_layers.deploy.prototxt", None, 138_357_544, 138_357_544),
    ("vgg_ilsvrc_19_layers.deploy.prototxt", None, 143_667_240, 143_667_240),
]


# -- an independent Caffe: the text format, and the layers in torch.nn.functional ----------------


def read(text: str) -> list:
    """The text format as nested lists of (field, value) pairs: a recursive reader of
    words, strings, `:` and braces."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[{}:]|[^\s{}:"#]+|#[^\n]*', text)
    tokens = [t for t in tokens if not t.startswith("#")]

    def message(i: int) -> tuple[list, int]:
        fields = []
        while i < len(tokens) and tokens[i] != "}":
            name = tokens[i]
            if tokens[i + 1] == ":" and tokens[i + 2] != "{":
                value = tokens[i + 2]
                fields.append((name, value[1:-1] if value.startswith('"') else value))
                i += 3
            else:
                i += 2 if tokens[i + 1] == "{" else 3
                inner, i = message(i)
                fields.append((name, inner))
                i += 1
        return fields, i
    return message(0)[0]


def get(fields: list, name: str, default=None):
    return next((v for k, v in fields if k == name), default)


def every(fields: list, name: str) -> list:
    return [v for k, v in fields if k == name]


class Caffe:
    """Runs a definition's TRAIN-phase architecture on a batch: each layer reads its bottom
    blobs and writes its tops, with weights drawn here and kept by layer name."""

    def __init__(self, text: str):
        self.top = read(text)
        old = every(self.top, "layers")
        self.layers = old or every(self.top, "layer")
        self.weights: dict[str, list[torch.Tensor]] = {}
        self.generator = torch.Generator().manual_seed(0)

    def _param(self, name: str, *shape: int, scale: float = 0.05) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator) * scale

    def run(self, x: torch.Tensor, stop: str) -> dict[str, torch.Tensor]:
        blobs = {}
        data = get(self.top, "input") or "data"
        blobs[data] = x
        for layer in self.layers:
            kind = get(layer, "type").lower().replace("_", "")
            name = get(layer, "name")
            phases = [get(r, "phase") for r in every(layer, "include")]
            if phases and "TRAIN" not in phases:
                continue
            if kind in ("data", "input", "accuracy", "softmaxwithloss", "softmaxloss"):
                continue
            bottoms = [blobs[b] for b in every(layer, "bottom")]
            out = getattr(self, kind)(name, layer, bottoms)
            for top in every(layer, "top"):
                blobs[top] = out
            if name == stop:
                break
        return blobs

    @staticmethod
    def _geometry(p: list) -> tuple[int, int, int]:
        kernel = int(get(p, "kernel_size", 1))
        return kernel, int(get(p, "stride", 1)), int(get(p, "pad", 0))

    def convolution(self, name, layer, inputs):
        (x,) = inputs
        p = get(layer, "convolution_param")
        k, s, pad = self._geometry(p)
        n, groups = int(get(p, "num_output")), int(get(p, "group", 1))
        if name not in self.weights:
            self.weights[name] = [self._param(name, n, x.shape[1] // groups, k, k),
                                  self._param(name, n)]
        w, b = self.weights[name]
        return F.conv2d(x, w, b, s, pad, 1, groups)

    def innerproduct(self, name, layer, inputs):
        (x,) = inputs
        n = int(get(get(layer, "inner_product_param"), "num_output"))
        x = x.flatten(1)
        if name not in self.weights:
            self.weights[name] = [self._param(name, n, x.shape[1], scale=1 / math.sqrt(x.shape[1])),
                                  self._param(name, n)]
        w, b = self.weights[name]
        return F.linear(x, w, b)

    def pooling(self, name, layer, inputs):
        (x,) = inputs
        p = get(layer, "pooling_param")
        k, s, pad = self._geometry(p)
        if get(p, "pool") == "AVE":
            return F.avg_pool2d(x, k, s, pad, ceil_mode=True, count_include_pad=True)
        return F.max_pool2d(x, k, s, pad, ceil_mode=True)

    def relu(self, name, layer, inputs):
        (x,) = inputs
        return F.relu(x)

    def lrn(self, name, layer, inputs):
        (x,) = inputs
        p = get(layer, "lrn_param")  # Caffe's α/n: PyTorch's convention
        return F.local_response_norm(x, int(get(p, "local_size", 5)), float(get(p, "alpha", 1)),
                                     float(get(p, "beta", 0.75)), float(get(p, "k", 1)))

    def dropout(self, name, layer, inputs):
        (x,) = inputs
        return x  # evaluation

    def softmax(self, name, layer, inputs):
        (x,) = inputs
        return x.softmax(1)

    def concat(self, name, layer, xs):
        return torch.cat(xs, 1)


def compare(file: str, input: str | None, tmp_path: Path):
    text = (CAFFE / file).read_text()
    imported = importer.import_text(Source(file, text), input=input)
    net = archc.analyze(archc.Source(f"{imported.network}.arch", imported.text))
    caffe = Caffe(text)
    c, h, w = net.input.channels, net.input.height, net.input.width
    x = torch.randn(2, c, h, w, generator=torch.Generator().manual_seed(1))
    main = net.nodes[net.output]
    last = main if main.op != "softmax" else net.nodes[main.inputs[0]]
    caffe_name = next(k for k, v in imported.labels.items() if v == last.name.rsplit(".", 1)[-1])
    with torch.no_grad():
        blobs = caffe.run(x, caffe_name)
    return imported, net, caffe, blobs, x


# -- the released definitions --------------------------------------------------------------------


@pytest.mark.parametrize("file, input, params, inference", RELEASED, ids=[r[0] for r in RELEASED])
def test_released_definitions_import_to_their_published_counts(file, input, params, inference):
    imported = importer.import_text(Source(file, (CAFFE / file).read_text()), input=input)
    net = archc.analyze(imported.text)
    assert archc.totals(net).params == params
    assert archc.totals(net, inference=True).params == inference
    if "train_val" in file and "googlenet" in file:
        assert [(s.name, s.weight) for s in net.sides] == [("loss1", 0.3), ("loss2", 0.3)]


@pytest.mark.parametrize("file, input", [(r[0], r[1]) for r in RELEASED],
                         ids=[r[0] for r in RELEASED])
def test_imported_modules_compute_what_the_definitions_say(file, input, tmp_path):
    """Every layer's shape and the network's output, against the independent Caffe
    above, with its weights copied into archc's module by name."""
    imported, net, caffe, blobs, x = compare(file, input, tmp_path)
    model = archc.build(net, init="torch").eval()
    by_label = {node.name.rsplit(".", 1)[-1]: node for node in net.nodes}
    with torch.no_grad():
        for caffe_name, (w, b) in caffe.weights.items():
            node = by_label[imported.labels[caffe_name]]
            module = model.get_submodule(node.name)
            module.weight.copy_(w.view_as(module.weight))
            module.bias.copy_(b)
        ours = model(x)
    for caffe_name, label in imported.labels.items():
        node = by_label.get(label)
        tops = [t for k, t in blobs.items() if k == caffe_name]
        if node is not None and tops and node.side is None and node.op not in ("softmax",):
            shape = node.info.shape
            expected = tuple(tops[0].shape[1:])
            assert (shape.channels,) + ((shape.height, shape.width) if not shape.flat else ()) \
                == expected[:1] + (expected[1:] if len(expected) > 1 else ()), caffe_name
    logits = next(blobs[k] for k in reversed(list(blobs)) if blobs[k].shape == ours.shape
                  and blobs[k].dim() == 2 and not torch.allclose(blobs[k].sum(1),
                                                                  torch.ones(len(x))))
    torch.testing.assert_close(ours, logits, rtol=1e-4, atol=1e-5)


def test_imported_specs_read_as_the_papers_write_them():
    text = importer.import_text(Source("a.prototxt", (CAFFE / "bvlc_alexnet.deploy.prototxt")
                                       .read_text())).text
    assert "conv1: conv11-96/4 pad=0\n" in text and "conv2: conv5-256 groups=2\n" in text
    assert "norm1: LRN size=5 alpha=0.0001 beta=0.75 k=1 convention=caffe\n" in text
    assert "pool1: maxpool3/2\n" in text and "prob: soft-max\n" in text
    google = importer.import_text(Source("g.prototxt", (CAFFE / "bvlc_googlenet.train_val.prototxt")
                                         .read_text()), input="3x224x224").text
    assert "inception_3a_output: concat {\n    { inception_3a_1x1: conv1-64 }\n" in google
    assert "loss1: side weight=0.3 { loss1_ave_pool: avgpool5/3;" in google
    comment = " ".join(line[2:] for line in google.splitlines() if line.startswith("# "))
    assert "inception_3a/1x1 → inception_3a_1x1," in comment  # the renamings, listed
    assert "loss3/top-1 (Accuracy, TEST only)" in comment  # what was left out, said


def test_the_input_of_a_database_must_be_given(run_cli, tmp_path):
    code, _, err = run_cli("import", CAFFE / "bvlc_googlenet.train_val.prototxt", "-o",
                           tmp_path / "g.arch")
    assert code == 2 and "reads a database" in err and "--input 3x224x224" in err
    code, _, err = run_cli("import", CAFFE / "bvlc_googlenet.train_val.prototxt", "--input",
                           "3x224x224", "-o", tmp_path / "g.arch", "--expect")
    assert code == 0, err
    assert "expect params 13,378,280" in (tmp_path / "g.arch").read_text()
    assert run_cli("check", tmp_path / "g.arch")[0] == 0
    code, _, err = run_cli("import", CAFFE / "vgg_ilsvrc_16_layers.deploy.prototxt", "-o",
                           tmp_path / "g.arch")
    assert code == 0, err  # a spec archc imported: replaced
    mine = tmp_path / "mine.arch"
    mine.write_text("network mine input 3x8x8\nconv3-8\n")
    code, _, err = run_cli("import", CAFFE / "vgg_ilsvrc_16_layers.deploy.prototxt", "-o", mine)
    assert code == 2 and "archc did not write it" in err
    assert mine.read_text() == "network mine input 3x8x8\nconv3-8\n"


def test_a_huge_file_is_refused_without_reading_it(run_cli, tmp_path):
    huge = tmp_path / "huge.prototxt"
    with open(huge, "wb") as handle:
        handle.write(b'name: "x"\n')
        handle.seek(1 << 30)  # a sparse 1 GiB file
        handle.write(b"\n")
    code, _, err = run_cli("import", huge, "-o", "-")
    assert code == 2 and "longer than 1 MiB" in err and err.startswith(f"{huge}:1:1: error:")


# -- export, and the round trip ---------------------------------------------------------------


CAFFE_CAN_SAY = ["alexnet", "alexnet_tv", "googlenet", "nin", "vgg_a", "vgg_a_lrn", "vgg_b",
                 "vgg_c", "vgg_d", "vgg_e", "vgg11_bn", "vgg16_bn", "zfnet"]


def _signature(net) -> list:
    """The inference network as a sequence of (op, shape, params), names aside; adaptive
    pooling with even windows is the average pooling Caffe writes for it."""
    return [(n.op.replace("adaptive_avgpool", "avgpool"), n.info.shape, n.info.params)
            for n in net.nodes if n.side is None and n.op not in ("identity",)]


@pytest.mark.parametrize("name", CAFFE_CAN_SAY)
def test_import_of_export_is_the_identity(name):
    net = archc.analyze(name)
    text = exporter.export(net)
    back = archc.analyze(importer.import_text(Source(f"{name}.prototxt", text)).text)
    assert _signature(back) == _signature(net)
    assert archc.totals(back).params == archc.totals(net, inference=True).params


def test_what_caffe_cannot_say_is_refused():
    with pytest.raises(archc.SpecError, match="Caffe cannot express .*: Caffe's layers have no scaled tanh"):
        exporter.export(archc.analyze("lenet5"))
    # torchvision's ResNets pool 112 → 56 with a padded 3×3/2 window; Caffe would give 57.
    with pytest.raises(archc.SpecError, match="rounds down to 56 where Caffe rounds up to 57"):
        exporter.export(archc.analyze("resnet18"))


def test_every_bundled_spec_either_exports_or_says_why():
    for path in sorted(SPECS.glob("*.arch")):
        try:
            exporter.export(archc.analyze(path))
        except archc.SpecError as exc:
            assert "Caffe cannot express" in exc.message, path.name
            assert path.stem not in CAFFE_CAN_SAY


def test_batch_norm_and_a_residual_sum():
    """BatchNorm + Scale become `bn`, an Eltwise SUM an `add` whose identity branch is the
    blob it forks from, the ReLU after the sum its activation."""
    imported = importer.import_text(Source("r.prototxt",
                                           (CAFFE / "tiny_residual.prototxt").read_text()))
    assert "sum: add {\n    identity\n    { c1: conv3-8 bias=false act=none; bn1: bn; relu;" \
        in imported.text
    net = archc.analyze(imported.text)
    convs, bns, fc = 2 * 8 * 8 * 3 * 3, 2 * 2 * 8, 8 * 10 + 10
    assert archc.totals(net).params == convs + bns + fc
    add = next(n for n in net.nodes if n.op == "add")
    assert net.nodes[add.id + 1].op == "relu"  # the ReLU after the sum


def test_export_refuses_stochastic_depth_and_passes_it_at_zero():
    from archc.caffe import exporter

    def spec(p):
        return archc.analyze("network sd input 4x8x8\nadd act=none { { conv3-4 act=none; "
                             f"stochastic-depth({p}) }}; identity }}\nFC-2\n")
    with pytest.raises(archc.SpecError, match="Caffe has no stochastic depth"):
        exporter.export(spec(0.2))
    assert "Eltwise" in exporter.export(spec(0.0))
