"""README.md's Python examples run as printed, so the README stays true."""

from __future__ import annotations

import re

import torch

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_block(after: str) -> str:
    """The first ```python block after the line ``after``."""
    start = README.index(after)
    match = re.compile(r"```python\n(.*?)```", re.S).search(README, start)
    return match.group(1)


def test_the_python_api_example(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # bundled names, not paths relative to the repository
    names: dict = {}
    exec(python_block("## Python API"), names)
    assert names["archc"].totals(names["net"]).params == 138_357_544  # VGG-16, the paper's
    assert names["node"].info.shape.as_list() == [64, 224, 224]
    assert names["small"].node("conv1").info.shape.as_list() == [96, 54, 54]  # (224 − 11)//4 + 1
    assert names["small"].expects == ()
    assert names["model"].classifier[-1].out_features == 10
    assert "error: unknown layer `cnov3-64`" in capsys.readouterr().out


def test_the_fused_kernel_example():
    """AlexNet's conv1 block through kernels.conv2d_fused, against PyTorch's own layers."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    x = torch.randn(1, 3, 227, 227, device=device)
    weight = torch.randn(96, 3, 11, 11, device=device) / 20
    bias = torch.randn(96, device=device)
    names = {"x": x, "weight": weight, "bias": bias}
    exec(python_block("**The GPU backend.**"), names)
    reference = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.LocalResponseNorm(5, 5e-4, 0.75, 2.0),
                                    torch.nn.MaxPool2d(3, 2))
    expected = reference(torch.nn.functional.conv2d(x, weight, bias, stride=4))
    assert names["y"].shape == expected.shape == (1, 96, 27, 27)
    torch.testing.assert_close(names["y"], expected, rtol=1e-4, atol=1e-4)

