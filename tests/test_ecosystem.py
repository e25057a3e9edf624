"""Generated modules among the tools people already use: torchvision's weights,
torch.compile, torch.export, ONNX, channels_last, pickling and deepcopy."""

from __future__ import annotations

import copy
import pickle
import warnings

import pytest
import torch
import torchvision.models as tvm

import archc
from archc.commands.specs import bundled
from conftest import SPECS

# The spec that describes each torchvision model exactly, as each says (`# torchvision:`).
TORCHVISION = [(s["name"], s["torchvision"]) for s in bundled() if s["torchvision"]]


def test_the_specs_that_say_they_are_torchvisions():
    """The list above comes from the specs; that it cannot shrink unnoticed, these say."""
    assert {("vgg_a", "vgg11"), ("vgg_b", "vgg13"), ("vgg_d", "vgg16"), ("vgg_e", "vgg19"),
            ("vgg11_bn", "vgg11_bn"), ("vgg13_bn", "vgg13_bn"), ("vgg16_bn", "vgg16_bn"),
            ("vgg19_bn", "vgg19_bn"), ("alexnet_tv", "alexnet"), ("googlenet_tv", "googlenet"),
            ("resnet18", "resnet18"), ("resnet34", "resnet34"), ("resnet50", "resnet50"),
            ("resnet101", "resnet101"), ("resnet152", "resnet152"),
            ("resnext50_32x4d", "resnext50_32x4d"), ("resnext101_32x8d", "resnext101_32x8d"),
            ("resnext101_64x4d", "resnext101_64x4d"), ("wide_resnet50_2", "wide_resnet50_2"),
            ("wide_resnet101_2", "wide_resnet101_2"), ("densenet121", "densenet121"),
            ("densenet161", "densenet161"), ("densenet169", "densenet169"),
            ("densenet201", "densenet201"), ("mobilenet_v3_large", "mobilenet_v3_large"),
            ("mobilenet_v3_small", "mobilenet_v3_small"), ("mnasnet0_5", "mnasnet0_5"),
            ("mnasnet0_75", "mnasnet0_75"), ("mnasnet1_0", "mnasnet1_0"),
            ("mnasnet1_3", "mnasnet1_3")} <= set(TORCHVISION)
    for family, count in (("regnet", 15), ("efficientnet", 11), ("shufflenet", 4),
                          ("squeezenet", 2), ("densenet", 4), ("mnasnet", 4)):
        members = {name for name in tvm.list_models(module=tvm) if name.startswith(family)}
        assert members <= {theirs for _, theirs in TORCHVISION} and len(members) == count
    assert all(name in tvm.list_models(module=tvm) for _, name in TORCHVISION)


def torchvision_model(name: str) -> torch.nn.Module:
    if name == "googlenet":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return tvm.googlenet(aux_logits=True, init_weights=True)
    return getattr(tvm, name)()


def build(name: str, **kwargs) -> torch.nn.Module:
    return archc.build(SPECS / f"{name}.arch", **kwargs)


@pytest.mark.parametrize("ours, theirs", TORCHVISION, ids=[t for _, t in TORCHVISION])
def test_torchvision_weights_load_strictly_and_outputs_match(ours, theirs):
    torch.manual_seed(0)
    reference = torchvision_model(theirs).eval()
    for module in reference.modules():  # running statistics that are not the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model = build(ours).eval()
    assert set(model.state_dict()) == set(reference.state_dict())
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ours, theirs", TORCHVISION, ids=[t for _, t in TORCHVISION])
def test_counts_are_torchvisions(ours, theirs):
    """Parameters as torchvision's model has them, and inference MACs as torch's own
    FlopCounterMode counts them (FLOPs ÷ 2) for one image at the spec's input."""
    from torch.utils.flop_counter import FlopCounterMode

    net = archc.analyze(SPECS / f"{ours}.arch")
    if theirs.startswith("regnet"):  # its constructor computes widths with tensors
        reference = torchvision_model(theirs).eval().to("meta")
    else:
        with torch.device("meta"):
            reference = torchvision_model(theirs).eval()
    assert archc.totals(net).params == sum(p.numel() for p in reference.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        reference(torch.empty(1, *net.input.as_list(), device="meta"))
    assert archc.totals(net, inference=True).macs == counter.get_total_flops() // 2


def test_googlenet_training_outputs_match_torchvision():
    """In training mode both return (logits, aux outputs); with the same seed, dropout draws
    the same masks because the layers run in the same order."""
    reference = torchvision_model("googlenet").train()
    model = build("googlenet_tv").train()
    model.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 224, 224)
    torch.manual_seed(1)
    theirs = reference(x)
    torch.manual_seed(1)
    ours = model(x)
    torch.testing.assert_close(ours.logits, theirs.logits)
    torch.testing.assert_close(ours.aux1, theirs.aux_logits1)
    torch.testing.assert_close(ours.aux2, theirs.aux_logits2)


# -- torch.compile, torch.export, ONNX -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name, shape", [("lenet5", (1, 32, 32)), ("resnet18", (3, 64, 64))])
def test_torch_compile(name, shape):
    torch.manual_seed(0)
    model = build(name).eval()
    x = torch.randn(4, *shape)
    compiled = torch.compile(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)


def test_torchvision_parameter_counts_of_the_resnets():
    """The counts torchvision's documentation gives (and its models have)."""
    published = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                 "resnet101": 44_549_160, "resnet152": 60_192_808,
                 "resnext50_32x4d": 25_028_904}
    for name, count in published.items():
        with torch.device("meta"):
            reference = getattr(tvm, name)()
        assert sum(p.numel() for p in reference.parameters()) == count
        assert archc.totals(archc.analyze(name)).params == count


@pytest.mark.parametrize("name, shape", [("lenet5", (1, 32, 32)), ("googlenet_tv", (3, 224, 224)),
                                         ("resnet18", (3, 64, 64))])
def test_torch_export(name, shape):
    torch.manual_seed(0)
    model = build(name).eval()
    x = torch.randn(2, *shape)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name, shape", [("lenet5", (1, 32, 32)), ("alexnet", (3, 227, 227)),
                                         ("resnet18", (3, 64, 64))])
def test_onnx_export_runs_in_onnxruntime(name, shape, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = build(name).eval()
    x = torch.randn(1, *shape)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=True)
    session = onnxruntime.InferenceSession(str(path))
    (result,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(result), model(x), rtol=1e-3, atol=1e-4)


# -- memory format, copies -----------------------------------------------------------------------


@pytest.mark.parametrize("name, shape", [("alexnet", (3, 227, 227)), ("googlenet_tv", (3, 224, 224)),
                                         ("lenet5", (1, 32, 32))])
def test_channels_last(name, shape):
    torch.manual_seed(0)
    model = build(name).eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        got = model(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["googlenet", "lenet5"])
def test_pickle_and_deepcopy(name):
    torch.manual_seed(0)
    model = build(name).eval()
    x = torch.randn(1, *model.INPUT_SHAPE)
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert twin is not model and type(twin) is type(model)
        with torch.no_grad():
            torch.testing.assert_close(twin(x), model(x))


def test_a_compiled_file_pickles_like_any_module(tmp_path, monkeypatch):
    (tmp_path / "nin_model.py").write_text(archc.generate(SPECS / "nin.arch"))
    monkeypatch.syspath_prepend(str(tmp_path))
    import nin_model

    model = nin_model.Nin()
    blob = pickle.dumps(model)
    assert b"nin_model" in blob
    assert type(pickle.loads(blob)).__module__ == "nin_model"
