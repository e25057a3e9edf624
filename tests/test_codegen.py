"""The generated PyTorch modules: structure, faithfulness to the IR, and the file itself."""

from __future__ import annotations

import ast
import math
import os
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

import archc
from archc import codegen, ir
from conftest import DATA, SPECS, assert_golden

ALL_SPECS = sorted(p.stem for p in SPECS.glob("*.arch"))


def build(name: str, **kwargs) -> nn.Module:
    return archc.build(SPECS / f"{name}.arch", **kwargs)


# -- faithful to the IR -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_SPECS)
def test_every_node_is_the_submodule_of_its_name_with_its_shape(name):
    """Params equal the IR's; every layer's output, caught by a hook on the submodule the
    IR names, has the IR's shape.  Runs on PyTorch's meta device: shapes, no arithmetic."""
    net = archc.analyze(SPECS / f"{name}.arch")
    with torch.device("meta"):
        model = build(name, init="torch").train()  # side outputs run too
    agrees_with_the_ir(net, model, torch.empty(2, *net.input.as_list(), device="meta"))


def agrees_with_the_ir(net: ir.Network, model: nn.Module, x: torch.Tensor) -> None:
    """``model`` has ``net``'s parameters, every layer is the submodule of its IR name and
    gives the IR's shape, and the output is the IR's (N×C logits for a 1×1 map)."""
    assert sum(p.numel() for p in model.parameters()) == archc.totals(net).params
    modules = dict(model.named_modules())
    seen = {}
    for node in net.nodes:
        if node.name in modules and node.op not in ("concat", "add"):  # joins: their scope's
            modules[node.name].register_forward_hook(
                lambda m, i, o, name=node.name: seen.__setitem__(name, tuple(o.shape[1:])))
    y = model(x)
    y = y[0] if isinstance(y, tuple) else y
    for node in net.nodes:
        if node.name in seen:
            info = node.info.shape
            expected = (info.channels,) if info.flat else tuple(info.as_list())
            assert seen[node.name] == expected, node.name
    emitted = [n for n in net.nodes if ir.emits_module(n.layer)]
    assert len(seen) >= len(emitted)  # every layer is a submodule, under its IR name
    out = net.nodes[net.output].info.shape  # N×C logits, where the net ends in a 1×1 map too
    vector = out.flat or (out.height, out.width) == (1, 1)
    assert tuple(y.shape[1:]) == ((out.channels,) if vector else tuple(out.as_list()))


# Every way of joining branches the README shows, and the corners between them: each
# builds, runs on a real tensor, and agrees with the IR layer by layer.
JOINS = {
    "concat, labelled branches": "concat { a: conv1-4; b { conv1-2; conv3-4 }; c: maxpool3/1 pad=1 }",
    "concat, an identity branch (DenseNet)": "concat { identity; conv3-4 }",
    "concat, a labelled identity": "concat { skip: identity; grow { bn; relu; conv3-4 } }",
    "concat, FC layers over the map": "concat { FC-4 act=none; b: FC-6; c { FC-2; dropout } }",
    "concat, branches of one layer": "concat { conv1-2; conv3-2; maxpool3/1 pad=1 }",
    "concat, nested in a concat": "concat { identity; concat { conv1-2; identity } }",
    "concat, a braced branch of one labelled layer (Caffe import)":
        "concat { { a: conv1-4 act=none }; identity }",
    "add, an identity shortcut": "add { { conv3-8; bn; relu; conv3-8; bn }; identity }",
    "add, a projection shortcut": "add { { conv3-8/2; bn }; downsample { conv1-8/2; bn } }",
    "add act=none": "add act=none { conv3-8; identity }",
    "add act=tanh, three branches": "add act=tanh { conv3-8; conv1-8; identity }",
    "add, a labelled identity": "add { body: conv3-8 act=none; shortcut: identity }",
    "add of FC layers over the map": "add { FC-6; FC-6 }",
    "add, nested in a concat": "concat { add { conv3-8; identity }; conv1-2 }",
    "concat, nested in an add": "add { { concat { conv1-4; conv3-4 } }; identity }",
    "joins repeated with ×N": "add { conv3-8; identity } ×3\nconcat { identity; conv1-2 } ×2",
    "joins in a block": "use_block(8)\nuse_block(8) ×2",
    "a join in a labelled group": "stage { add { conv3-8; identity }; concat { identity; conv1-2 } }",
    "mul, squeeze-and-excitation": "se: mul { identity; { gap; fc1: conv1-2; fc2: conv1-8 act=sigmoid } }",
    "mul of maps of one shape, act=relu": "mul act=relu { conv3-8 act=none; conv1-8 act=tanh }",
    "mul in a residual unit (SE-ResNet)":
        "add { { conv3-8; bn; mul { identity; { gap; conv1-2; conv1-8 act=sigmoid } } }; identity }",
}
_BLOCK = "block use_block(c) { add { { conv1: conv3-c; bn1: bn }; identity } }\n"


@pytest.mark.parametrize("form", sorted(JOINS))
def test_every_join_form_builds_and_runs(form):
    tail = "FC-3" if "FC-" in JOINS[form] else "gap\nFC-3"  # vectors need no pooling
    text = f"network joins input 8x8x8\n{_BLOCK}{JOINS[form]}\n{tail}\n"
    net = archc.analyze(archc.Source("joins.arch", text))
    model = archc.build(net, init="torch").eval()
    agrees_with_the_ir(net, model, torch.randn(2, 8, 8, 8))


def test_the_same_spec_gives_the_same_bytes(tmp_path):
    first = archc.generate(SPECS / "googlenet.arch")
    again = archc.generate(SPECS / "googlenet.arch")
    copy = tmp_path / "googlenet.arch"
    copy.write_text((SPECS / "googlenet.arch").read_text())
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "inception.arch").write_text((SPECS / "lib" / "inception.arch").read_text())
    elsewhere = archc.generate(copy)
    assert first == again == elsewhere


@pytest.mark.parametrize("name", ["lenet5", "nin", "alexnet"])
def test_generated_code_golden(name):
    assert_golden(archc.generate(SPECS / f"{name}.arch"), DATA / "codegen" / f"{name}.py")


@pytest.mark.parametrize("name", ALL_SPECS)
def test_imports_only_torch(name):
    """At module level only torch and the standard library; archc only for the Triton
    backend, inside `if backend != "torch":` — so the file imports without archc."""
    tree = ast.parse(archc.generate(SPECS / f"{name}.arch"))
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            top.add(node.module)
    assert top <= {"__future__", "torch", "torch.nn.functional", "collections", "typing"}
    for branch in ast.walk(tree):
        nested = [n for n in ast.walk(branch) if isinstance(n, (ast.Import, ast.ImportFrom))
                  and n not in tree.body]
        if not isinstance(branch, ast.If) or not nested:
            continue
        assert ast.unparse(branch.test) == "backend != 'torch'"
        assert [ast.unparse(n) for n in nested] == ["from archc import kernels"]


@pytest.mark.parametrize("name", ["googlenet", "lenet5", "vgg_d"])
def test_every_layer_says_where_it_came_from(name):
    source = archc.generate(SPECS / f"{name}.arch")
    constructors = re.findall(r"def __init__\(self, num_classes.*?self\.reset_parameters", source, re.S)
    assert constructors
    for body in constructors:
        lines = body.splitlines()
        for i, line in enumerate(lines):
            if re.match(r"\s+(self\.\w+ = )?(\"?\w+\"?[=:] |\(\"\w+\", )?(nn\.[A-Z]|Concat\(|Subsample2d|"
                        r"SparseConv2d|ScaledTanh)", line) and "nn.Flatten()" not in line:
                said = line + lines[i - 1]
                assert re.search(r"\(([\w/]+\.arch):\d+\)", said), line


@pytest.mark.parametrize("name", ["googlenet", "lenet5", "vgg_d"])
def test_every_forward_statement_has_a_shape_comment(name):
    tree = ast.parse(source := archc.generate(SPECS / f"{name}.arch"))
    lines = source.splitlines()
    forward = next(f for c in tree.body if isinstance(c, ast.ClassDef) and c.name == archc.analyze(
        SPECS / f"{name}.arch").class_name for f in c.body if isinstance(f, ast.FunctionDef)
        and f.name == "forward")
    for statement in forward.body:
        if isinstance(statement, ast.Assign):
            assert re.search(r"# N x \d+", lines[statement.lineno - 1]), lines[statement.lineno - 1]


def test_class_docstring_has_the_spec_and_its_totals():
    module = archc.load(SPECS / "vgg_d.arch")
    doc = module.VggD.__doc__
    assert "138,357,544 parameters" in doc and "15,470,264,320 multiply-accumulates" in doc
    assert "conv3-512 ×3; maxpool" in doc
    assert "returns logits" in doc


def test_spec_text_cannot_break_out_of_the_docstring():
    text = '# a """quoted""" \\ title\nnetwork t input 3x8x8\nconv3-4  # """\nFC-2\n'
    module = archc.load(text)
    assert '"""quoted"""' in module.T.__doc__


def test_a_compiled_file_imports_without_archc(tmp_path):
    path = tmp_path / "googlenet.py"
    path.write_text(archc.generate(SPECS / "googlenet.arch"))
    probe = ("import sys; sys.modules['archc'] = None\n"
             "import torch, googlenet\n"
             "m = googlenet.Googlenet(num_classes=7).eval()\n"
             "print(tuple(m(torch.zeros(1, 3, 224, 224)).shape))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, 7)"


# -- layer kinds ---------------------------------------------------------------------------------


def test_lrn_paper_convention_is_converted_exactly():
    """b = a / (k + α·Σ_window a²)^β, computed here from the paper's formula."""
    model = archc.build("network t input 8x5x5\nn: LRN size=5 alpha=1e-4 beta=0.75 k=2\n")
    x = torch.randn(2, 8, 5, 5, dtype=torch.float64) * 30
    expected = torch.empty_like(x)
    for c in range(8):
        window = x[:, max(0, c - 2): min(8, c + 3)]
        expected[:, c] = x[:, c] / (2 + 1e-4 * (window ** 2).sum(1)) ** 0.75
    torch.testing.assert_close(model.double()(x), expected)
    caffe = archc.build("network t input 8x5x5\nn: LRN size=5 alpha=5e-4 beta=0.75 k=2 convention=caffe\n")
    torch.testing.assert_close(caffe.double()(x), expected)


def test_lenet5_c3_is_a_sparse_conv_with_1516_parameters():
    model = build("lenet5")
    c3 = model.C3
    assert sum(p.numel() for p in c3.parameters()) == 1516
    table = archc.analyze(SPECS / "lenet5.arch").node("C3").layer.connections
    dense = nn.Conv2d(6, 16, 5).double()
    mask = torch.zeros(16, 6, 1, 1, dtype=torch.float64)
    with torch.no_grad():
        k = 0
        for j, reads in enumerate(table):
            for i in reads:
                dense.weight[j, i] = c3.weight[k]
                mask[j, i] = 1
                k += 1
        dense.weight.mul_(mask)
        dense.bias.copy_(c3.bias)
    x = torch.randn(3, 6, 14, 14, dtype=torch.float64)
    torch.testing.assert_close(c3.double()(x), dense(x))
    (c3.double()(x).sum()).backward()
    assert c3.weight.grad.shape == (60, 5, 5)


def test_lenet5_subsampling_and_squashing():
    model = build("lenet5").double()
    s2 = model.S2
    with torch.no_grad():
        s2.weight.copy_(torch.arange(6, dtype=torch.float64))
        s2.bias.fill_(0.5)
    x = torch.randn(1, 6, 28, 28, dtype=torch.float64)
    sums = x.reshape(1, 6, 14, 2, 14, 2).sum((3, 5))
    torch.testing.assert_close(s2(x), sums * torch.arange(6.0)[:, None, None] + 0.5)
    squash = model.scaled_tanh1
    assert squash(torch.tensor(1.0)).item() == pytest.approx(1.0, abs=1e-4)  # f(1) = 1
    assert squash(torch.tensor(3.0)).item() == pytest.approx(1.7159 * math.tanh(2.0), rel=1e-6)


def test_grouped_convolutions_and_ceil_mode():
    model = build("alexnet")
    assert model.conv2.groups == 2 and model.conv4.groups == 2 and model.conv3.groups == 1
    zf = build("zfnet")
    assert zf.pool1.ceil_mode and zf.pool2.ceil_mode


def test_forward_returns_logits_not_probabilities():
    model = build("lenet5").eval()
    y = model(torch.randn(4, 1, 32, 32))
    assert not torch.allclose(y.sum(1), torch.ones(4))


def test_side_outputs_in_training_and_eval():
    model = build("googlenet")
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        out = model.train()(x)
        assert type(out).__name__ == "GooglenetOutputs"
        assert out._fields == ("logits", "aux1", "aux2")
        assert [tuple(t.shape) for t in out] == [(2, 1000)] * 3
        assert isinstance(model.eval()(x), torch.Tensor)
    assert model.SIDE_WEIGHTS == {"aux1": 0.3, "aux2": 0.3}


# -- the constructor -----------------------------------------------------------------------------


def test_num_classes_and_dropout():
    model = build("googlenet", num_classes=10, dropout=0.25)
    assert model.fc.out_features == 10
    assert model.aux1.get_submodule("6").out_features == 10  # the side outputs follow
    assert model.dropout.p == 0.25
    assert model.aux1.get_submodule("5").p == 0.7  # a side output keeps its own
    nin = build("nin", num_classes=10)
    assert nin.mlpconv3.get_submodule("2").out_channels == 10  # classes from the last conv
    vgg = build("vgg_d", dropout=0.1)
    assert [m.p for m in vgg.modules() if isinstance(m, nn.Dropout)] == [0.1, 0.1]
    for bad in (0, -5, 10.5, "10", True, 2 ** 63, 2 ** 24 + 1):
        with pytest.raises(ValueError, match=re.escape(
                f"num_classes must be a whole number from 1 to 16,777,216: {bad!r}")):
            build("lenet5", num_classes=bad)
    # dropout: a probability; None only where it means "the spec's" (several dropouts).
    for spec, bad in (("vgg_d", None), ("vgg_d", "0.5"), ("vgg_d", float("nan")), ("vgg_d", 1.0),
                      ("vgg_d", -0.1), ("vgg_d", True), ("nin", float("inf"))):
        with pytest.raises(ValueError, match=re.escape(
                f"dropout must be a probability, at least 0 and below 1: {bad!r}")):
            archc.load(spec).Model(dropout=bad)
    assert archc.load("nin").Model(dropout=None).hparams["dropout"] is None


def test_paper_initialisation_alexnet():
    torch.manual_seed(0)
    model = build("alexnet")  # init="spec": N(0, 0.01); biases 1 for conv2, conv4, conv5, fc6, fc7
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        layer = getattr(model, name)
        assert layer.weight.std().item() == pytest.approx(0.01, rel=0.05), name
        assert layer.weight.mean().abs().item() < 2e-3
        expected = 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
        assert torch.all(layer.bias == expected), name


def test_paper_initialisation_vgg_and_the_alternatives():
    torch.manual_seed(0)
    vgg = build("vgg_a")
    conv = vgg.features.get_submodule("0")
    assert conv.weight.std().item() == pytest.approx(0.01, rel=0.1) and torch.all(conv.bias == 0)
    kaiming = build("vgg_a", init="kaiming").features.get_submodule("0")
    assert kaiming.weight.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.1)
    default = build("vgg_a", init="torch").features.get_submodule("0")
    assert default.weight.abs().max().item() <= 1 / math.sqrt(27) + 1e-6  # PyTorch's uniform bound
    with pytest.raises(ValueError, match="init must be"):
        build("vgg_a", init="xavier")


def test_backend_is_checked():
    with pytest.raises(ValueError, match="backend must be one of"):
        build("lenet5", backend="cuda-magic")
    assert build("lenet5", backend="auto").backend == "auto"


# -- dense evaluation (VGG §3.2) -------------------------------------------------------------------


@pytest.mark.parametrize("name, bigger, cells", [("vgg_a", 288, (3, 3)), ("lenet5", 40, (3, 3)),
                                                ("alexnet", 259, (2, 2))])
def test_dense_form_matches_and_slides(name, bigger, cells):
    torch.manual_seed(0)
    model = build(name).eval()
    dense = model.dense().eval()
    assert sum(p.numel() for p in dense.parameters()) == sum(p.numel() for p in model.parameters())
    c, h, w = model.INPUT_SHAPE
    x = torch.randn(2, c, h, w)
    with torch.no_grad():
        torch.testing.assert_close(dense(x).flatten(1), model(x), rtol=1e-4, atol=1e-4)
        scores = dense(torch.randn(1, c, bigger, bigger))
    assert scores.shape[2:] == cells


def test_dense_form_is_not_offered_without_fc_layers():
    assert not hasattr(build("nin"), "dense")


# -- archc.load ----------------------------------------------------------------------------------


def test_load_caches_by_content():
    assert archc.load(SPECS / "nin.arch") is archc.load("nin")
    assert archc.load("nin") is not archc.load("nin", input="3x64x64")
    assert archc.load("nin").Model is archc.load("nin").Nin


# -- archc compile -------------------------------------------------------------------------------


def test_compile_writes_an_importable_module(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("compile", "vgg_e")
    assert code == 0 and out == "wrote vgg_e.py: class VggE, 143,667,240 parameters\n"
    monkeypatch.syspath_prepend(str(tmp_path))
    from vgg_e import VggE  # what the README shows

    assert VggE.INPUT_SHAPE == (3, 224, 224)
    assert [p.name for p in tmp_path.iterdir()] == ["vgg_e.py"]  # no temporary files left


def test_compile_never_clobbers_a_file_archc_did_not_write(run_cli, tmp_path):
    mine = tmp_path / "mine.py"
    mine.write_text("precious = True\n")
    code, _, err = run_cli("compile", "lenet5", "-o", mine)
    assert code == 2 and "refusing to overwrite" in err and "--force" in err
    assert mine.read_text() == "precious = True\n"
    code, _, _ = run_cli("compile", "lenet5", "-o", mine, "--force")
    assert code == 0 and mine.read_text().startswith(codegen.MARKER)
    code, _, _ = run_cli("compile", "nin", "-o", mine)  # archc's own file: replaced freely
    assert code == 0 and "class Nin(" in mine.read_text()


def test_compile_to_stdout_and_to_a_folder(run_cli, tmp_path):
    code, out, _ = run_cli("compile", "lenet5", "-o", "-")
    assert code == 0 and out == archc.generate(SPECS / "lenet5.arch")
    code, out, _ = run_cli("compile", "lenet5", "-o", tmp_path)
    assert code == 0 and (tmp_path / "lenet5.py").is_file()


def test_compile_reports_a_bad_spec(run_cli, tmp_path):
    bad = tmp_path / "bad.arch"
    bad.write_text("network b input 3x8x8\nconv3-8 groups=3\n")
    code, _, err = run_cli("compile", bad, "-o", tmp_path)
    assert code == 2 and "groups" in err and not (tmp_path / "b.py").exists()


# -- what forward returns, residual units ----------------------------------------------------------


@pytest.mark.parametrize("name", ["nin", "resnet18", "googlenet"])
def test_forward_returns_n_by_c_logits_that_cross_entropy_takes(name):
    """A network ending in global average pooling (NiN, any CIFAR-style net) returned
    N×C×1×1, which F.cross_entropy refuses; every network returns N×C."""
    net = archc.analyze(name)
    model = archc.build(name, init="torch").eval()
    x = torch.randn(2, *net.input.as_list())
    with torch.no_grad():
        logits = model(x)
    classes = net.nodes[net.output].info.shape.channels
    assert logits.shape == (2, classes)
    assert torch.isfinite(torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])))
    if name == "googlenet":  # side outputs too, in training mode
        outputs = model.train()(x)
        assert all(o.shape == (2, 1000) for o in outputs)


def test_a_residual_unit_reads_as_its_branches():
    """layer2's first bottleneck: 256 maps in, 128 wide, 512 out, a projection shortcut."""
    source = archc.generate("resnet50")
    unit = source[source.index("        self.layer2 = nn.Sequential("):]
    assert unit.split("\n")[1:7] == [
        "            Add(  # bottleneck_down(128, 512, s=2, g=1)  (resnet50.arch:27)",
        "                branches=(",
        '                    ("conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3"),',
        '                    ("downsample",),',
        "                ),",
        '                after=("relu3",),']
    assert "                conv1=nn.Conv2d(256, 128, kernel_size=1, bias=False)," in unit
    assert "conv2=nn.Conv2d(128, 128, kernel_size=3, stride=2, padding=1, bias=False)," in unit
    assert "                    nn.Conv2d(256, 512, kernel_size=1, stride=2, bias=False)" in unit


def test_stochastic_depth_drops_whole_examples_in_training_only():
    import torch

    spec = ("network sd input 4x4x4\n"
            "add act=none { { conv1-4 act=none; stochastic-depth(0.5) }; identity }\n")
    model = archc.build(spec)
    branch = model.add.stochastic_depth
    x = torch.randn(256, 4, 4, 4)
    branch.eval()
    assert torch.equal(branch(x), x)
    branch.train()
    torch.manual_seed(0)
    y = branch(x)
    kept = (y != 0).flatten(1).all(1)
    dropped = (y == 0).flatten(1).all(1)
    assert bool((kept | dropped).all())  # each example whole: kept or dropped
    assert 64 < int(kept.sum()) < 192  # about half of them
    torch.testing.assert_close(y[kept], 2 * x[kept])  # the survivors scaled by 1 / (1 − p)
    net = archc.analyze(spec)
    node = net.node("add.stochastic_depth")
    assert (node.info.params, node.info.macs, node.info.flops) == (0, 0, 0)
