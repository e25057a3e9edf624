"""archc.memory: what a network needs to run and to train.

The training figure's hard part — the activations autograd keeps for the backward pass —
is checked against PyTorch itself: a forward pass of the generated module under
torch.autograd.graph.saved_tensors_hooks, counting the bytes of every storage it saves
that is not a parameter or a buffer, once each.  Every bundled spec must agree exactly.
The rest is arithmetic, checked against counts written out here.
"""

from __future__ import annotations

import json

import pytest
import torch

import archc
from archc import memory
from conftest import SPECS

BUNDLED = sorted(p.stem for p in SPECS.glob("*.arch"))


def saved_bytes(spec, batch: int, input=None) -> int:
    """Bytes of the unique storages autograd saves in a training-mode forward pass."""
    net = archc.analyze(spec, input=input)
    torch.manual_seed(0)
    model = archc.build(spec, input=input, init="torch").train()
    owned = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    storages: dict[int, int] = {}

    alive = []  # what is saved stays allocated, so no later tensor takes its address

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in owned:
            storages[storage.data_ptr()] = storage.nbytes()
        alive.append(storage)
        # Not the tensor itself: a saved output that the graph held would hold its own
        # grad_fn, a cycle Python's collector cannot see, and every network measured
        # would stay in memory (24 GiB after the zoo).  No backward runs here.
        return None
    x = torch.randn(batch, *net.input.as_list())
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda packed: packed):
        model(x)
    alive.clear()
    return sum(storages.values())


@pytest.mark.parametrize("name", BUNDLED)
def test_saved_activations_match_what_autograd_saves(name):
    batch = 1 if name.startswith(("vgg", "resnet", "resnext", "wide", "regnet", "efficientnet")) else 2
    net = archc.analyze(name)
    counted = memory.estimate(net, batch=batch, dtype="fp32", device="cpu").saved
    assert counted == saved_bytes(name, batch)


LATER_ACTIVATIONS = """network later input 3x16x16
activation relu6
conv3-8; conv3-8 act=hardswish; conv3-8 act=silu; maxpool
add { { conv3-8 act=gelu; conv3-8 act=hardsigmoid }; identity }
conv1-8 act=none; bn; relu6
gap
FC-4
"""


def test_a_product_saves_its_factors():
    """x · gate saves both: x for the gate's gradient, the gate for x's."""
    for product in ("mul {\n    identity\n    { gap; conv1-2; conv1-8 act=sigmoid }\n}",
                    "mul { { gap; conv1-8 act=sigmoid }; identity; conv1-8 act=tanh }",
                    "mul { identity; conv1-8 act=tanh; { gap; conv1-8 act=sigmoid } }"):
        spec = archc.Source("se.arch", f"network se input 8x6x6\nconv3-8 act=none\n{product}\n"
                            "conv3-4\ngap\nFC-2\n")
        net = archc.analyze(spec)
        for batch in (1, 3):
            assert memory.estimate(net, batch=batch, dtype="fp32", device="cpu").saved == \
                saved_bytes(spec, batch), product


def test_the_later_activations_save_what_autograd_saves():
    """ReLU6, hardswish, hardsigmoid, SiLU and GELU save their input (not their output,
    as ReLU does), and none runs in place."""
    spec = archc.Source("later.arch", LATER_ACTIVATIONS)
    net = archc.analyze(spec)
    for batch in (1, 3):
        counted = memory.estimate(net, batch=batch, dtype="fp32", device="cpu").saved
        assert counted == saved_bytes(spec, batch)


def test_stochastic_depth_saves_its_factor_per_example():
    """In training, `x * noise` keeps only the N×1×1×1 noise (x's gradient is the noise's
    multiple; the noise needs none); at p = 0 it is the identity and keeps nothing."""
    for p in (0.2, 0.0):
        spec = archc.Source("sd.arch", "network sd input 8x6x6\nconv3-8 act=none\n"
                            f"add act=none {{ {{ conv3-8 bn=true; stochastic-depth({p}) }}; "
                            "identity }\nconv3-4\ngap\nFC-2\n")
        net = archc.analyze(spec)
        for batch in (1, 3):
            assert memory.estimate(net, batch=batch, dtype="fp32", device="cpu").saved == \
                saved_bytes(spec, batch), p


def test_every_bundled_spec_is_measured():
    assert {"resnet50", "googlenet", "lenet5", "alexnet", "vgg_e"} <= set(BUNDLED)


def test_training_arithmetic():
    """Parameters, gradients and the optimiser's state from the parameter count."""
    net = archc.analyze("network t input 3x8x8\nconv3-4 bn=true\nFC-10\n")
    params = 3 * 9 * 4 + 4 + 4 + 4 + 4 * 64 * 10 + 10  # conv, bn weight+bias, FC
    for optimizer, states in (("sgd", 0), ("momentum", 1), ("adam", 2)):
        m = memory.estimate(net, batch=8, dtype="bf16", optimizer=optimizer)
        assert m.parameters == m.gradients == params * 2
        tensors = 2 + 2 + 2  # conv weight and bias, bn weight and bias, FC weight and bias
        steps = 4 * tensors if optimizer == "adam" else 0
        assert m.optimizer_state == states * params * 2 + steps
        assert m.buffers == 2 * 4 * 2 + 8  # running mean and variance, and the batch count
        assert m.training == m.parameters + m.gradients + m.optimizer_state + m.buffers + m.saved
    assert memory.estimate(net, batch=8).outputs[1] == 4 * 8 * 8 * 8 * 4  # conv: N·C·H·W·4


def test_dropout_masks_differ_by_device():
    net = archc.analyze("network t input 3x8x8\nconv1-4 act=none; dropout\nFC-2\n")
    gpu = memory.estimate(net, batch=2, device="cuda").saved
    cpu = memory.estimate(net, batch=2, device="cpu").saved
    assert cpu - gpu == 2 * 4 * 8 * 8 * (4 - 1)  # a float32 mask on the CPU, a bool on a GPU


def test_inference_peak_of_a_chain():
    """input 3×8×8 → conv 16 → relu (in place) → conv 4: the first conv's output lives
    while the second is computed, the input is gone by then."""
    net = archc.analyze("network t input 3x8x8\nconv3-16\nconv3-4 act=none\n")
    m = memory.estimate(net, batch=1, dtype="fp32")
    image, hidden, out = 3 * 64 * 4, 16 * 64 * 4, 4 * 64 * 4
    assert m.inference_peak == max(image + hidden, hidden + out)


def test_inference_peak_holds_a_branch_point_until_the_join():
    """x feeds two branches of an add: x, the first branch's output and the second's are
    all alive when the sum is made (and the sum itself)."""
    net = archc.analyze("network t input 8x8x8\nconv1-8\nadd act=none { conv1-8 act=none; "
                        "conv3-8 act=none }\n")
    m = memory.estimate(net, batch=1, dtype="fp32")
    map_ = 8 * 64 * 4
    assert m.inference_peak == 4 * map_  # x, branch 1, branch 2, their sum


def test_stats_prints_memory_when_asked(run_cli):
    code, out, _ = run_cli("stats", "resnet50", "--batch", "256", "--dtype", "bf16", "-q")
    assert code == 0
    m = memory.estimate(archc.analyze("resnet50"), batch=256, dtype="bf16")
    assert "memory (batch 256, bf16, SGD with momentum, on a GPU):" in out
    gib = f"{m.training / 2 ** 30:,.1f} GiB"
    assert f"to train: {gib}" in out and "output ×256" in out
    code, out, _ = run_cli("stats", "resnet50", "-q")
    assert "memory" not in out  # only when asked


def test_json_has_the_memory_fields(run_cli):
    code, out, _ = run_cli("stats", "vgg_d", "-f", "json", "--batch", "2", "--optimizer", "adam")
    data = json.loads(out)
    assert data["memory"]["batch"] == 2 and data["memory"]["optimizer"] == "adam"
    m = memory.estimate(archc.analyze("vgg_d"), batch=2, optimizer="adam")
    assert data["memory"]["training"] == m.training
    assert data["memory"]["saved_for_backward"] == m.saved
    assert data["layers"][1]["output_bytes"] == 2 * 64 * 224 * 224 * 4


def test_vgg16_at_batch_256_in_bf16_fits_an_80_gb_gpu():
    """The README's example, with the transient gradients of the largest activation
    (features.0's output, at most two of them at once) added to the figure."""
    net = archc.analyze("vgg_d")
    m = memory.estimate(net, batch=256, dtype="bf16")
    largest = max(m.outputs.values())
    assert largest == 256 * 64 * 224 * 224 * 2
    assert m.training + 2 * largest < 80e9
