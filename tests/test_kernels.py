"""The fused Triton kernel against the PyTorch reference, forward and backward.

Without a GPU the kernels run in Triton's CPU interpreter (conftest.py sets
TRITON_INTERPRET=1), on small shapes; with one they run on CUDA.  Tests marked `gpu`
need real hardware: bfloat16 (the interpreter cannot load it), every autotuning
configuration, large shapes, Inductor.  Errors are ‖out − ref‖ / ‖ref‖ against a float64
reference, with a tolerance per dtype.
"""

from __future__ import annotations

import itertools
import types

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archc
from archc import kernels, passes
from archc.kernels import conv as conv_kernel
from archc.kernels import op as fused_op
from archc.kernels.reference import Epilogue, conv2d_chain
from conftest import SPECS
from test_fuzz import valid_network

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# On the GPU the many small cases below use one tile shape rather than autotuning each
# (hundreds of compilations); every shape the autotuner may pick is tested on its own.
PINNED = conv_kernel.configs()[3] if DEVICE == "cuda" else None
TOLERANCE = {torch.float32: 1e-5, torch.float16: 5e-3, torch.bfloat16: 2e-2}

LRNS = {"none": None, "paper": (5, 1e-4 * 5, 0.75, 2.0),  # AlexNet's, converted to α/n form
        "caffe": (5, 1e-4, 0.75, 1.0), "even": (4, 1e-3, 0.75, 1.0)}
POOLS = {"none": None, "2x2/2": ((2, 2), (2, 2), (0, 0), False),
         "3x3/2": ((3, 3), (2, 2), (0, 0), False), "3x3/2 ceil": ((3, 3), (2, 2), (0, 0), True),
         "3x3/1 pad": ((3, 3), (1, 1), (1, 1), False)}
ACTIVATIONS = [None, "relu", "tanh", "sigmoid", "scaled_tanh"]


def error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """‖out − ref‖ / ‖ref‖; where the reference is all zeros, the absolute ‖out − ref‖."""
    difference, scale = (out.double() - ref).norm(), ref.norm()
    return (difference / scale if scale > 0 else difference).item()


def run(x, w, b, stride, padding, groups, epilogue: Epilogue, pool_in_kernel=True):
    return kernels.conv2d_fused(x, w, b, stride=stride, padding=padding, groups=groups,
                                activation=epilogue.activation, lrn=epilogue.lrn,
                                pool=epilogue.pool, pool_in_kernel=pool_in_kernel)


def check(shape, c_out, k, stride=1, padding=0, groups=1, epilogue=Epilogue("relu"),
          dtype=torch.float32, bias=True, seed=0):
    torch.manual_seed(seed)
    x = torch.randn(shape, device=DEVICE, dtype=dtype)
    w = (torch.randn(c_out, shape[1] // groups, k, k, device=DEVICE) / (k * (shape[1] // groups) ** 0.5)).to(dtype)
    b = torch.randn(c_out, device=DEVICE, dtype=dtype) if bias else None
    if PINNED is not None:
        out = conv_kernel.conv2d_fused(x, w, b, (stride, stride), (padding, padding), groups,
                                       epilogue, config=PINNED)
    else:
        out = run(x, w, b, (stride, stride), (padding, padding), groups, epilogue)
    ref = conv2d_chain(x.double(), w.double(), b.double() if bias else None,
                       (stride, stride), (padding, padding), groups, epilogue)
    assert out.shape == ref.shape
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.isfinite(out).all()
    assert error(out, ref) < TOLERANCE[dtype], (epilogue, error(out, ref))
    return out


# -- forward, every combination ------------------------------------------------------------------


@pytest.mark.parametrize("activation, lrn, pool", list(itertools.product(ACTIVATIONS, LRNS, POOLS)))
def test_every_epilogue(activation, lrn, pool):
    """Each activation × LRN convention × pooling, on one small convolution."""
    check((2, 4, 9, 9), 8, 3, padding=1, epilogue=Epilogue(activation, LRNS[lrn], POOLS[pool]))


@pytest.mark.parametrize("k, stride, padding, groups",
                         [(k, s, p, g) for k, s, p, g in itertools.product(
                             [1, 3, 5, 7, 11], [1, 2, 4], ["none", "same"], [1, 2])])
def test_every_geometry(k, stride, padding, groups):
    """Each kernel size × stride × padding × groups, with ReLU."""
    check((2, 4, 15, 15), 8, k, stride=stride, padding=k // 2 if padding == "same" else 0,
          groups=groups)


@pytest.mark.parametrize("groups, lrn, pool", [(2, "paper", "3x3/2"), (2, "caffe", "none"),
                                               (4, "paper", "2x2/2")])
def test_grouped_convolution_with_lrn_across_the_groups(groups, lrn, pool):
    """AlexNet's conv2: LRN's window crosses the boundary between the two GPUs' groups."""
    check((2, 8, 11, 11), 16, 5, padding=2, groups=groups, epilogue=Epilogue("relu", LRNS[lrn], POOLS[pool]))


def test_an_output_of_zeros():
    """A ReLU of negative values everywhere: the kernel must write exact zeros."""
    x = torch.randn(1, 2, 3, 3, device=DEVICE)
    w = torch.zeros(4, 2, 1, 1, device=DEVICE)
    b = torch.full((4,), -1.0, device=DEVICE)
    out = run(x, w, b, (1, 1), (0, 0), 1, Epilogue("relu"))
    assert out.shape == (1, 4, 3, 3) and torch.equal(out, torch.zeros_like(out))
    assert error(out, torch.zeros(1, 4, 3, 3, dtype=torch.float64)) == 0


def test_no_bias_and_wide_channels():
    check((1, 40, 7, 7), 72, 3, padding=1, bias=False, epilogue=Epilogue("relu", LRNS["paper"]))


def test_float16():
    check((2, 8, 11, 11), 16, 3, padding=1, dtype=torch.float16,
          epilogue=Epilogue("relu", LRNS["paper"], POOLS["3x3/2"]))


def test_channels_last_and_nchw_inputs_agree():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 10, 10, device=DEVICE)
    w = torch.randn(8, 6, 3, 3, device=DEVICE) * 0.2
    e = Epilogue("relu", LRNS["paper"], POOLS["3x3/2 ceil"])
    a = run(x, w, None, (1, 1), (1, 1), 1, e)
    b = run(x.contiguous(memory_format=torch.channels_last), w, None, (1, 1), (1, 1), 1, e)
    c = run(x[:, :, ::1, :].transpose(2, 3).contiguous().transpose(2, 3), w, None, (1, 1), (1, 1), 1, e)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_shapes(data):
    groups = data.draw(st.sampled_from([1, 2, 3]))
    c_in = groups * data.draw(st.integers(1, 5))
    c_out = groups * data.draw(st.integers(1, 6))
    k = data.draw(st.integers(1, 5))
    stride = data.draw(st.integers(1, 3))
    padding = data.draw(st.integers(0, k // 2))
    size = data.draw(st.integers(k, 17))
    pool = data.draw(st.sampled_from(list(POOLS.values())))
    conv_out = (size + 2 * padding - k) // stride + 1
    if pool is not None and conv_out + 2 * pool[2][0] < pool[0][0]:
        pool = None
    lrn = data.draw(st.sampled_from(list(LRNS.values())))
    activation = data.draw(st.sampled_from(ACTIVATIONS))
    check((data.draw(st.integers(1, 3)), c_in, size, size), c_out, k, stride, padding, groups,
          Epilogue(activation, lrn, pool), seed=data.draw(st.integers(0, 1000)))



# Small problems that each shipped tile shape overhangs: tiles wider than the output
# channels, reduction blocks wider than a group's input channels, several channel tiles
# overlapping by LRN's halo, several channel blocks per tap, and both reduction paths.
TILE_CASES = {
    "channel blocks, groups, LRN, 2x2/2": ((2, 32, 8, 8), 24, 3, 1, 1, 2,
                                           Epilogue("relu", LRNS["paper"], POOLS["2x2/2"])),
    "three input channels, 3x3/2 ceil": ((2, 3, 13, 13), 8, 5, 2, 0, 1,
                                         Epilogue("tanh", LRNS["caffe"], POOLS["3x3/2 ceil"])),
    "channel tiles overlapping by the halo": ((1, 80, 5, 5), 150, 3, 1, 1, 1,
                                              Epilogue("relu", LRNS["even"])),
}


@pytest.mark.parametrize("config", conv_kernel.configs(), ids=str)
@pytest.mark.parametrize("case", sorted(TILE_CASES))
def test_every_shipped_tile_shape(config, case):
    """The autotuner's tile shapes are otherwise chosen only on a GPU: here each runs (in
    the interpreter, without one) on problems it does not fit, output and saved
    convolution against the reference.  test_every_config_on_the_gpu adds real sizes."""
    shape, c_out, k, s, p, g, e = TILE_CASES[case]
    torch.manual_seed(0)
    x = torch.randn(shape, device=DEVICE)
    w = torch.randn(c_out, shape[1] // g, k, k, device=DEVICE) / (k * (shape[1] // g) ** 0.5)
    b = torch.randn(c_out, device=DEVICE)
    saved = conv_kernel.conv_output(x, w, (s, s), (p, p), e)
    out = conv_kernel.conv2d_fused(x, w, b, (s, s), (p, p), g, e, config=config, save_conv=saved)
    ref = conv2d_chain(x.double(), w.double(), b.double(), (s, s), (p, p), g, e)
    assert error(out, ref) < TOLERANCE[torch.float32]
    conv = torch.nn.functional.conv2d(x.double(), w.double(), b.double(), (s, s), (p, p), 1, g)
    assert error(saved, conv) < TOLERANCE[torch.float32]


# -- backward --------------------------------------------------------------------------------------


def reference_gradients(x, w, b, stride, padding, groups, epilogue, grad):
    leaves = [t.detach().double().requires_grad_() for t in (x, w, b) if t is not None]
    ref = conv2d_chain(leaves[0], leaves[1], leaves[2] if b is not None else None,
                       stride, padding, groups, epilogue)
    return torch.autograd.grad(ref, leaves, grad.double())


@pytest.fixture
def one_tile_shape(monkeypatch):
    """On the GPU, the many small backward cases autotune over PINNED alone."""
    if PINNED is not None:
        monkeypatch.setattr(conv_kernel._tuned, "configs", [PINNED])


def check_backward(shape, c_out, k, stride=1, padding=0, groups=1, epilogue=Epilogue("relu"),
                   pool_in_kernel=True, seed=0, tolerance=1e-5, dtype=torch.float32):
    """Gradients of input, weight and bias against the float64 reference."""
    torch.manual_seed(seed)
    x = torch.randn(shape, device=DEVICE).to(dtype).requires_grad_()
    w = (torch.randn(c_out, shape[1] // groups, k, k, device=DEVICE)
         / (k * (shape[1] // groups) ** 0.5)).to(dtype).requires_grad_()
    b = torch.randn(c_out, device=DEVICE).to(dtype).requires_grad_()
    geometry = ((stride, stride), (padding, padding), groups)
    out = run(x, w, b, *geometry, epilogue, pool_in_kernel=pool_in_kernel)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, (x, w, b), grad)
    for g, expected in zip(got, reference_gradients(x, w, b, *geometry, epilogue, grad)):
        assert torch.isfinite(g).all() and error(g, expected) < tolerance, epilogue


@pytest.mark.usefixtures("one_tile_shape")
@pytest.mark.parametrize("activation, lrn, pool", list(itertools.product(ACTIVATIONS, LRNS, POOLS)))
def test_backward_every_epilogue(activation, lrn, pool):
    """Each activation × LRN convention × pooling, the groups alternating between 1 and 2."""
    groups = 1 + (ACTIVATIONS.index(activation) + list(POOLS).index(pool)) % 2
    check_backward((2, 4, 9, 9), 8, 3, padding=1, groups=groups,
                   epilogue=Epilogue(activation, LRNS[lrn], POOLS[pool]))


@pytest.mark.usefixtures("one_tile_shape")
@pytest.mark.parametrize("k, stride, padding, groups",
                         [(k, s, p, g) for k, s, p, g in itertools.product(
                             [1, 3, 5, 7, 11], [1, 2, 4], ["none", "same"], [1, 2])])
def test_backward_every_geometry(k, stride, padding, groups):
    check_backward((2, 4, 15, 15), 8, k, stride, k // 2 if padding == "same" else 0, groups,
                   Epilogue("relu", LRNS["paper"]))


@pytest.mark.usefixtures("one_tile_shape")
def test_float16_backward():
    """The saved convolution output is float16 too.  (PyTorch's LRN has no float16 kernel
    on the CPU, so there the chain leaves it out.)"""
    lrn = LRNS["paper"] if DEVICE == "cuda" else None
    check_backward((2, 8, 11, 11), 16, 3, padding=1, groups=2, dtype=torch.float16,
                   epilogue=Epilogue("tanh", lrn, POOLS["2x2/2"]), tolerance=TOLERANCE[torch.float16])


@pytest.mark.parametrize("pool_in_kernel", [None, False, True])
def test_where_the_pool_runs_does_not_change_the_result(pool_in_kernel):
    torch.manual_seed(0)
    x = torch.randn(2, 16, 11, 11, device=DEVICE)
    w = torch.randn(16, 16, 3, 3, device=DEVICE) * 0.1
    e = Epilogue("relu", LRNS["paper"], POOLS["3x3/2 ceil"])
    out = run(x, w, None, (1, 1), (1, 1), 1, e, pool_in_kernel=pool_in_kernel)
    ref = conv2d_chain(x.double(), w.double(), None, (1, 1), (1, 1), 1, e)
    assert error(out, ref) < 1e-5
    assert kernels.overlaps(POOLS["3x3/2"]) and not kernels.overlaps(POOLS["2x2/2"])


def test_gradient_only_where_asked():
    x = torch.randn(1, 2, 6, 6, device=DEVICE)
    w = torch.randn(4, 2, 3, 3, device=DEVICE, requires_grad=True)
    out = kernels.conv2d_fused(x, w, None, padding=(1, 1), activation="relu")
    (gw,) = torch.autograd.grad(out.sum(), (w,))
    assert gw.shape == w.shape


# Pools that leave convolution outputs no window reads: floor mode's last row and column,
# and the rows between windows when the stride is longer than the window.
UNREAD = {"2x2/2 floor, odd size": ((2, 2), (2, 2), (0, 0), False),
          "2x2/3 gaps": ((2, 2), (3, 3), (0, 0), False)}


@pytest.mark.parametrize("pool", [*UNREAD, "3x3/2 ceil", "3x3/1 pad"])
def test_the_saved_convolution_output(pool):
    """What the kernel saves for the backward pass is the convolution's output, bias added;
    pixels no pooling window reads are zeros (finite, for the backward pass)."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 9, device=DEVICE)
    w = torch.randn(8, 4, 3, 3, device=DEVICE) * 0.3
    b = torch.randn(8, device=DEVICE)
    e = Epilogue("relu", LRNS["paper"], UNREAD.get(pool) or POOLS[pool])
    out, saved = fused_op.conv2d_fused(x, w, b, [1, 1], [0, 0], 1, "relu", list(e.lrn),
                                              [*sum(e.pool[:3], ()), int(e.pool[3])], True)
    conv = torch.nn.functional.conv2d(x.double(), w.double(), b.double())
    (kh, kw), (sh, sw), _, _ = e.pool
    read = torch.zeros(7, 7, dtype=torch.bool)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            read[max(i * sh - e.pool[2][0], 0):i * sh - e.pool[2][0] + kh,
                 max(j * sw - e.pool[2][1], 0):j * sw - e.pool[2][1] + kw] = True
    assert error(saved[..., read], conv[..., read]) < 1e-5
    assert torch.equal(saved[..., ~read], torch.zeros_like(saved[..., ~read]))
    assert (~read).any() == (pool in UNREAD)
    assert error(out, conv2d_chain(x.double(), w.double(), b.double(), (1, 1), (0, 0), 1, e)) < 1e-5


@pytest.mark.usefixtures("one_tile_shape")
@pytest.mark.parametrize("pool", [*UNREAD, "3x3/2"])
def test_backward_through_pixels_no_window_reads(pool):
    e = Epilogue("tanh", LRNS["caffe"], UNREAD.get(pool) or POOLS[pool])
    check_backward((2, 4, 9, 9), 8, 3, epilogue=e)


def test_the_backward_pass_does_not_run_the_convolution_again(monkeypatch):
    """Training saves the convolution's output; inference does not."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8, device=DEVICE)
    w = torch.randn(8, 4, 3, 3, device=DEVICE, requires_grad=True)
    e = Epilogue("relu", LRNS["paper"], POOLS["2x2/2"])
    saves = []
    monkeypatch.setattr(conv_kernel, "conv_output",
                        lambda *a, original=conv_kernel.conv_output: saves.append(1) or original(*a))
    with torch.no_grad():
        run(x, w, None, (1, 1), (1, 1), 1, e)
    assert saves == []
    out = run(x, w, None, (1, 1), (1, 1), 1, e)
    assert saves == [1]

    def forbidden(*args, **kwargs):
        raise AssertionError("the backward pass ran the convolution forward again")

    monkeypatch.setattr(torch.nn.functional, "conv2d", forbidden)
    grad = torch.randn_like(out)
    (got,) = torch.autograd.grad(out, (w,), grad)
    monkeypatch.undo()
    (expected,) = reference_gradients(x, w, None, (1, 1), (1, 1), 1, e, grad)[1:]
    assert error(got, expected) < 1e-5


def test_backward_without_a_saved_output_recomputes_it():
    """The operator called directly, without saving, on tensors that need gradients."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8, device=DEVICE, requires_grad=True)
    w = (torch.randn(6, 2, 3, 3, device=DEVICE) * 0.3).requires_grad_()
    b = torch.randn(6, device=DEVICE, requires_grad=True)
    e = Epilogue("sigmoid", LRNS["even"], None)
    out, saved = fused_op.conv2d_fused(x, w, b, [1, 1], [1, 1], 2, "sigmoid",
                                              list(e.lrn), [], False)
    assert saved.numel() == 0
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, (x, w, b), grad)
    for g, expected in zip(got, reference_gradients(x, w, b, (1, 1), (1, 1), 2, e, grad)):
        assert error(g, expected) < 1e-5


@pytest.mark.usefixtures("one_tile_shape")
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_shapes_backward(data):
    groups = data.draw(st.sampled_from([1, 2]))
    c_in, c_out = groups * data.draw(st.integers(1, 4)), groups * data.draw(st.integers(1, 4))
    k = data.draw(st.integers(1, 4))
    stride, padding = data.draw(st.integers(1, 2)), data.draw(st.integers(0, k // 2))
    size = data.draw(st.integers(k + 1, 12))
    conv_out = (size + 2 * padding - k) // stride + 1
    pool = data.draw(st.sampled_from([*POOLS.values(), *UNREAD.values()]))
    if pool is not None and conv_out + 2 * pool[2][0] < pool[0][0]:
        pool = None
    e = Epilogue(data.draw(st.sampled_from(ACTIVATIONS)),
                 data.draw(st.sampled_from(list(LRNS.values()))), pool)
    check_backward((data.draw(st.integers(1, 2)), c_in, size, size), c_out, k, stride, padding,
                   groups, e, pool_in_kernel=data.draw(st.sampled_from([None, True])),
                   seed=data.draw(st.integers(0, 1000)), tolerance=1e-4)


# -- the operator and its arguments ----------------------------------------------------------------


@pytest.mark.parametrize("bad, message", [
    (lambda x, w, b: (x.double(), w.double(), None), "float32, float16 or bfloat16"),
    (lambda x, w, b: (x, w.half(), b), "share a dtype"),
    (lambda x, w, b: (x[:, :3], w, b), "do not fit groups"),
    (lambda x, w, b: (x, w, b[:3]), "bias must have shape"),
    (lambda x, w, b: (x[..., :1, :1], w, b), "too small"),
    (lambda x, w, b: (x[0], w, b), "4-D"),
])
def test_clear_errors_for_bad_arguments(bad, message):
    x, w, b = torch.randn(1, 4, 8, 8), torch.randn(8, 4, 3, 3), torch.randn(8)
    x, w, b = bad(x, w, b)
    with pytest.raises(ValueError, match=message):
        conv_kernel.check(x, w, b, (1, 1), (0, 0), 1, Epilogue("relu"))
    with pytest.raises(ValueError, match="activation must be one of"):
        Epilogue("gelu")


def test_traces_under_torch_compile():
    """The operator is one node of the graph, without a break.  (Off the GPU, Dynamo alone:
    Triton's interpreter cannot run under the later stages' fake tensors; the GPU test
    below compiles with Inductor.)"""
    x = torch.randn(2, 4, 9, 9, device=DEVICE)
    w = torch.randn(8, 4, 3, 3, device=DEVICE)

    def f(x):
        return kernels.conv2d_fused(x, w, None, padding=(1, 1), activation="relu",
                                    pool=((3, 3), (2, 2), (0, 0), False)) * 2

    compiled = torch.compile(f, fullgraph=True, backend="eager" if DEVICE == "cpu" else "inductor")
    torch.testing.assert_close(compiled(x), f(x))


def test_a_training_step_traces_under_torch_compile():
    """Forward and backward compiled, the kernel saving the convolution's output."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 9, device=DEVICE, requires_grad=True)
    w = torch.randn(8, 4, 3, 3, device=DEVICE, requires_grad=True)
    b = torch.randn(8, device=DEVICE, requires_grad=True)

    def loss(x, w, b):
        return kernels.conv2d_fused(x, w, b, padding=(1, 1), activation="relu", lrn=LRNS["paper"],
                                    pool=POOLS["2x2/2"]).square().sum()

    compiled = torch.compile(loss, fullgraph=True, backend="eager" if DEVICE == "cpu" else "inductor")
    got = torch.autograd.grad(compiled(x, w, b), (x, w, b))
    expected = torch.autograd.grad(loss(x, w, b), (x, w, b))
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


def test_autocast_runs_the_kernel_in_its_dtype():
    """Inside torch.autocast the fused convolution computes in autocast's dtype, as
    F.conv2d does, and float32 parameters get float32 gradients that match PyTorch's own
    autocast.  (float16 here: the interpreter cannot load bfloat16; and PyTorch's LRN has
    no float16 backward on the CPU, so the backward leaves it out.)"""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 10, 10, device=DEVICE)
    w = (torch.randn(8, 4, 3, 3, device=DEVICE) / 6).requires_grad_()
    b = torch.randn(8, device=DEVICE, requires_grad=True)
    e = Epilogue("relu", LRNS["paper"], POOLS["3x3/2"])
    with torch.autocast(DEVICE, dtype=torch.float16):
        out = run(x, w, b, (1, 1), (1, 1), 1, e)
    assert out.dtype == torch.float16
    half = [t.detach().half().double() for t in (x, w, b)]
    assert error(out, conv2d_chain(*half, (1, 1), (1, 1), 1, e)) < TOLERANCE[torch.float16]

    e = Epilogue("tanh", None, POOLS["2x2/2"])
    grads = []
    for chain in (run, conv2d_chain):  # the kernel, then PyTorch's autocast
        with torch.autocast(DEVICE, dtype=torch.float16):
            loss = chain(x, w, b, (1, 1), (1, 1), 1, e).float().square().sum()
        grads.append(torch.autograd.grad(loss, (w, b)))
    for got, expected in zip(*grads):
        assert got.dtype == torch.float32
        assert error(got, expected.double()) < TOLERANCE[torch.float16]

    model = archc.build("network t input 3x12x12\nconv3-8; LRN; maxpool\nFC-10\n",
                        backend="triton").to(DEVICE)
    with torch.autocast(DEVICE, dtype=torch.float16):
        assert model.conv(torch.randn(2, 3, 12, 12, device=DEVICE)).dtype == torch.float16


# -- backends and generated modules ----------------------------------------------------------------


def test_auto_backend_is_pytorch_off_the_gpu(monkeypatch):
    model = archc.build("network t input 3x16x16\nconv3-8; LRN; maxpool3/2\n", backend="auto")
    assert isinstance(model.conv, kernels.FusedConv2d)
    calls = []
    monkeypatch.setattr(kernels, "conv2d_fused", lambda *a, **k: calls.append(1))
    x = torch.randn(1, 3, 16, 16)
    if DEVICE == "cpu":
        assert model(x).shape == (1, 8, 7, 7) and not calls


def test_triton_backend_off_the_gpu_says_what_to_do(monkeypatch):
    model = archc.build("network t input 3x16x16\nconv3-8\n", backend="triton")
    monkeypatch.setattr(kernels, "interpreting", lambda: False)
    with pytest.raises(RuntimeError, match="runs on a CUDA GPU.*backend='auto'.*TRITON_INTERPRET=1"):
        model(torch.randn(1, 3, 16, 16))


def test_auto_backend_leaves_float64_to_pytorch():
    """float64 is not a dtype the kernel computes in: "auto" runs PyTorch, "triton" says so."""
    cuda64 = types.SimpleNamespace(is_cuda=True, dtype=torch.float64)
    assert not kernels.uses_triton("auto", cuda64)
    cuda32 = types.SimpleNamespace(is_cuda=True, dtype=torch.float32)
    assert kernels.uses_triton("auto", cuda32) == kernels.triton_available()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, device=DEVICE)
    w = torch.randn(4, 2, 3, 3, dtype=torch.float64, device=DEVICE)
    with pytest.raises(ValueError, match="float32, float16 or bfloat16, not torch.float64"):
        run(x, w, None, (1, 1), (0, 0), 1, Epilogue("relu"))


def _triton_computes_the_spec(spec: str) -> bool:
    """The module with backend="triton" computes what the PyTorch one does (3×12×12)."""
    torch.manual_seed(0)
    reference = archc.build(spec).to(DEVICE).eval()
    fused = archc.build(spec, backend="triton").to(DEVICE).eval()
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 12, 12, device=DEVICE)
    return error(fused(x), reference(x).double()) < 1e-5


def test_an_lrn_wider_than_the_kernel_takes_runs_after_it():
    """An LRN window over 16 channels ends the chain; the module still computes the spec."""
    spec = "network t input 3x12x12\nconv3-24; LRN size=21; maxpool\nFC-10\n"
    net = passes.fuse(archc.analyze(spec))
    assert [n.layer.members for n in net.nodes if n.op == "fused"] == [("conv", "relu", None, None)]
    assert [n.op for n in net.nodes][2:4] == ["lrn", "maxpool"]
    assert _triton_computes_the_spec(spec)
    chain = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.LocalResponseNorm(17))
    with pytest.raises(ValueError, match="2: the fused kernel takes LRN windows of 1 to 16 channels, not 17"):
        kernels.fuse(chain, [("0", "1", "2", None)])


@pytest.mark.parametrize("activation", ["relu6", "hardswish", "hardsigmoid", "silu", "gelu"])
def test_a_later_activation_runs_after_the_kernel(activation):
    """The kernel's epilogue computes the four activations of the classic papers; a later
    one (MobileNet's, EfficientNet's, ConvNeXt's) ends the chain and runs as PyTorch's."""
    spec = f"network t input 3x12x12\nactivation {activation}\nconv3-8; maxpool\nFC-10\n"
    net = passes.fuse(archc.analyze(spec))
    assert [n.layer.members for n in net.nodes if n.op == "fused"] == [("conv", None, None, None)]
    assert [n.op for n in net.nodes][2:4] == [activation, "maxpool"]
    assert _triton_computes_the_spec(spec)


def test_the_kernel_called_off_the_gpu_says_what_to_do(monkeypatch):
    monkeypatch.setattr(kernels, "interpreting", lambda: False)
    with pytest.raises(RuntimeError, match="runs on a CUDA GPU.*kernels.conv2d_chain.*TRITON_INTERPRET=1"):
        kernels.conv2d_fused(torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3))


def test_state_dicts_are_interchangeable():
    torch_model = archc.build(SPECS / "alexnet.arch")
    fused = archc.build(SPECS / "alexnet.arch", backend="triton")
    assert list(torch_model.state_dict()) == list(fused.state_dict())
    fused.load_state_dict(torch_model.state_dict(), strict=True)
    torch_model.load_state_dict(fused.state_dict(), strict=True)
    assert isinstance(fused.conv2, kernels.FusedConv2d) and isinstance(fused.lrn2, torch.nn.Identity)
    assert fused.conv2.weight is fused.state_dict(keep_vars=True)["conv2.weight"]


def test_whole_alexnet_feature_stack_in_both_backends():
    """The paper's AlexNet at a reduced 67×67 input: all five fused chains, forward and
    backward, against the PyTorch backend with the same weights."""
    torch.manual_seed(0)
    reference = archc.build(SPECS / "alexnet.arch", input="3x67x67").to(DEVICE).eval()
    fused = archc.build(SPECS / "alexnet.arch", input="3x67x67", backend="triton").to(DEVICE).eval()
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 67, 67, device=DEVICE)
    expected = reference(x)
    got = fused(x)
    assert error(got, expected.double()) < 1e-5
    expected.square().sum().backward()
    got.square().sum().backward()
    for name in ("conv1", "conv2", "conv5"):
        assert error(getattr(fused, name).weight.grad, getattr(reference, name).weight.grad.double()) < 1e-4


def test_inception_modules_with_a_side_output_in_both_backends():
    """GoogLeNet's shape, small: chains inside the branches of two Inception modules (from
    the bundled specs/lib/inception.arch), a side output, training mode's outputs, against
    the PyTorch backend with the same weights, forward and backward."""
    spec = archc.Source(str(SPECS / "mini_googlenet.arch"),
                        "network mini input 3x20x20\n"
                        'use "lib/inception.arch"\n'
                        "stem: conv5-8/2; maxpool3/2 ceil; LRN\n"
                        "a: inception(4, 4, 8, 2, 4, 4)\n"
                        "aux: side weight=0.3 { avgpool3/2; conv1-8; FC-10 }\n"
                        "b: inception(8, 4, 8, 2, 4, 4)\n"
                        "gap; FC-10\n")
    torch.manual_seed(0)
    reference = archc.build(spec).to(DEVICE).train()
    fused = archc.build(spec, backend="triton").to(DEVICE).train()
    fused.load_state_dict(reference.state_dict())
    assert sum(isinstance(m, kernels.FusedConv2d) for m in fused.modules()) == 14
    assert isinstance(fused.get_submodule("b.branch3.2"), kernels.FusedConv2d)
    x = torch.randn(2, 3, 20, 20, device=DEVICE)
    expected, got = reference(x), fused(x)  # (logits, aux): training mode, no dropout
    assert len(got) == len(expected) == 2
    for g, e in zip(got, expected):
        assert error(g, e.double()) < 1e-5
    sum(o.square().sum() for o in expected).backward()
    sum(o.square().sum() for o in got).backward()
    for name in ("stem", "a.branch2.2", "b.branch4.1", "aux.1"):
        mine, theirs = fused.get_submodule(name).weight.grad, reference.get_submodule(name).weight.grad
        assert error(mine, theirs.double()) < 1e-4, name


def test_residual_units_in_both_backends():
    """ResNet's shape, small: units with identity and projection shortcuts; chains inside
    an `add` fuse (conv → relu), none crosses the sum; forward and backward agree."""
    spec = archc.Source(str(SPECS / "mini_resnet.arch"),
                        "network mini input 3x16x16\n"
                        "conv3-8\n"
                        "add { { conv3-8; conv3-8 }; identity }\n"
                        "add { { conv3-16/2; conv3-16 }; down: conv1-16/2 act=none }\n"
                        "gap; FC-10\n")
    torch.manual_seed(0)
    reference = archc.build(spec).to(DEVICE).train()
    fused = archc.build(spec, backend="triton").to(DEVICE).train()
    fused.load_state_dict(reference.state_dict())
    assert isinstance(fused.get_submodule("add1.conv1"), kernels.FusedConv2d)
    assert isinstance(fused.get_submodule("add1.relu1"), torch.nn.Identity)  # fused into conv1
    assert isinstance(fused.get_submodule("add1.relu2"), torch.nn.ReLU)  # after the sum: PyTorch
    x = torch.randn(2, 3, 16, 16, device=DEVICE)
    expected, got = reference(x), fused(x)
    assert error(got, expected.double()) < 1e-5
    expected.square().sum().backward()
    got.square().sum().backward()
    for name in ("conv", "add1.conv2", "add2.conv1", "add2.down"):
        mine, theirs = fused.get_submodule(name).weight.grad, reference.get_submodule(name).weight.grad
        assert error(mine, theirs.double()) < 1e-4, name


def test_kernels_fuse_on_a_hand_written_model():
    """kernels.fuse as a library call: chains it can run become FusedConv2d (fusing again
    only switches the backend); convolutions the kernel does not compute (dilated,
    reflect-padded) are left to PyTorch with their stages."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Tanh(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, dilation=2), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect"), torch.nn.ReLU()).to(DEVICE)
    x = torch.randn(2, 3, 16, 16, device=DEVICE)
    expected = model(x)
    chains = [("0", "1", None, "2"), ("3", "4", None, None), ("5", "6", None, None)]
    kernels.fuse(model, chains, "triton")
    assert [type(m).__name__ for m in model] == ["FusedConv2d", "Identity", "Identity", "Conv2d",
                                                 "ReLU", "Conv2d", "ReLU"]
    assert model[0].epilogue == Epilogue("tanh", None, ((2, 2), (2, 2), (0, 0), False))
    assert "activation='tanh'" in repr(model[0]) and "backend='triton'" in repr(model[0])
    assert error(model(x), expected.double()) < 1e-5
    kernels.fuse(model, chains, "torch")
    assert model[0].backend == "torch" and error(model(x), expected.double()) < 1e-6
    with pytest.raises(ValueError, match="GELU is not an activation the fused kernel has"):
        kernels.fuse(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.GELU()), [("0", "1", None, None)])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=valid_network())
def test_random_networks_in_both_backends(text):
    """Random valid networks (test_fuzz's writer: groups, LRN, ceil pools, branches,
    blocks, batch norm, connection tables, side outputs) give the same output on the
    Triton backend as on PyTorch's, with the same weights."""
    spec = archc.Source("random.arch", text)
    torch.manual_seed(0)
    # PyTorch's initialisation, not the spec's: `init normal std=0.01` shrinks the output
    # to ~1e-8, where float32 rounding alone is a relative error of 1e-2.
    fused = archc.build(spec, init="torch", backend="triton").to(DEVICE).eval()
    reference = archc.build(spec).to(DEVICE, torch.float64).eval()
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(2, *fused.INPUT_SHAPE, device=DEVICE)
    with torch.no_grad():
        assert error(fused(x), reference(x.double())) < 1e-5, text


def test_fusion_pass_finds_the_chains():
    net = passes.fuse(archc.analyze(SPECS / "alexnet.arch"))
    chains = [n.layer.members for n in net.nodes if n.op == "fused"]
    assert chains == [("conv1", "relu1", "lrn1", "pool1"), ("conv2", "relu2", "lrn2", "pool2"),
                      ("conv3", "relu3", None, None), ("conv4", "relu4", None, None),
                      ("conv5", "relu5", None, "pool5")]
    original = archc.analyze(SPECS / "alexnet.arch")
    assert archc.totals(net).params == archc.totals(original).params
    assert net.node("conv1").info.shape.as_list() == [96, 27, 27]


def test_fusion_stops_at_branches_scopes_and_other_layers():
    net = passes.fuse(archc.analyze(
        "network t input 3x32x32\n"
        "a: conv3-8; maxpool\n"                      # conv+relu+pool
        "aux: side { gap; FC-2 }\n"                  # the pool's output has two readers
        "b: conv3-8 bn=true; maxpool\n"              # batch norm breaks the chain
        "g { conv3-8 }\n"                            # relu inside g, pool outside: two scopes
        "maxpool; avgpool\n"))
    chains = {n.layer.members for n in net.nodes if n.op == "fused"}
    assert chains == {("a", "relu1", None, "maxpool1"), ("b", None, None, None),
                      ("g.0", "g.1", None, None)}


# -- on a GPU --------------------------------------------------------------------------------------

LAYERS = {  # AlexNet's first two blocks and VGG's 3×3 layers, at a small batch
    "alexnet conv1 block": ((4, 3, 227, 227), 96, 11, 4, 0, 1, Epilogue("relu", LRNS["paper"], POOLS["3x3/2"])),
    "alexnet conv2 block": ((4, 96, 27, 27), 256, 5, 1, 2, 2, Epilogue("relu", LRNS["paper"], POOLS["3x3/2"])),
    "vgg early": ((4, 64, 224, 224), 64, 3, 1, 1, 1, Epilogue("relu", None, POOLS["2x2/2"])),
    "vgg late": ((4, 512, 14, 14), 512, 3, 1, 1, 1, Epilogue("relu")),
}


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_real_layers(layer, dtype):
    shape, c_out, k, s, p, g, e = LAYERS[layer]
    check(shape, c_out, k, s, p, g, e, dtype=dtype)


@pytest.mark.gpu
def test_autotuned_through_the_operator():
    shape, c_out, k, s, p, g, e = LAYERS["alexnet conv2 block"]
    torch.manual_seed(0)
    x = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
    w = (torch.randn(c_out, shape[1] // g, k, k, device="cuda") / 50).to(torch.bfloat16)
    out = run(x, w, None, (s, s), (p, p), g, e)
    ref = conv2d_chain(x.double(), w.double(), None, (s, s), (p, p), g, e)
    assert error(out, ref) < TOLERANCE[torch.bfloat16]


@pytest.mark.gpu
@pytest.mark.parametrize("config", conv_kernel.configs(), ids=str)
def test_every_config_on_the_gpu(config):
    """Each tile shape the autotuner may pick, checked on its own (a bad configuration —
    such as Inductor's num_warps=8 miscompile of non-1×1 convolutions — must not ship)."""
    cases = [LAYERS["vgg late"], LAYERS["alexnet conv2 block"],
             ((2, 32, 30, 30), 64, 5, 2, 2, 2, Epilogue("tanh", None, POOLS["3x3/2 ceil"]))]
    for dtype in (torch.bfloat16,):
        for shape, c_out, k, s, p, g, e in cases:
            torch.manual_seed(0)
            x = torch.randn(shape, device="cuda", dtype=dtype)
            w = (torch.randn(c_out, shape[1] // g, k, k, device="cuda") / (k * (shape[1] // g) ** 0.5)).to(dtype)
            b = torch.randn(c_out, device="cuda", dtype=dtype)
            saved = conv_kernel.conv_output(x, w, (s, s), (p, p), e)
            out = conv_kernel.conv2d_fused(x, w, b, (s, s), (p, p), g, e, config=config,
                                           save_conv=saved)
            ref = conv2d_chain(x.double(), w.double(), b.double(), (s, s), (p, p), g, e)
            assert error(out, ref) < TOLERANCE[dtype], (config, e)
            conv = torch.nn.functional.conv2d(x.double(), w.double(), b.double(), (s, s), (p, p), 1, g)
            assert error(saved, conv) < TOLERANCE[dtype], (config, e, "saved")


@pytest.mark.gpu
def test_inductor_compiles_a_generated_network():
    torch.manual_seed(0)
    spec = "network t input 3x32x32\nconv5-32; LRN; maxpool3/2\nconv3-64 groups=2\nFC-10\n"
    model = archc.build(spec, backend="triton").cuda().eval().to(torch.bfloat16)
    x = torch.randn(8, 3, 32, 32, device="cuda", dtype=torch.bfloat16)
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        assert error(compiled(x), model(x).double()) < 2e-2


@pytest.mark.gpu
def test_more_than_two_billion_elements():
    """int64 indexing: an input of 2^31 + elements (4.3 GB in bfloat16)."""
    x = torch.randn(1, 16, 16384, 8200, device="cuda", dtype=torch.bfloat16)
    assert x.numel() > 2 ** 31
    w = torch.randn(16, 16, 1, 1, device="cuda", dtype=torch.bfloat16) / 4
    out = conv_kernel.conv2d_fused(x, w, None, (1, 1), (0, 0), 1, Epilogue("relu"), config=PINNED)
    tail = x[..., -64:, -64:]
    ref = conv2d_chain(tail.double(), w.double(), None, (1, 1), (0, 0), 1, Epilogue("relu"))
    assert error(out[..., -64:, -64:], ref) < TOLERANCE[torch.bfloat16]


@pytest.mark.gpu
def test_tf32_only_when_allowed():
    torch.manual_seed(0)
    x = torch.randn(8, 256, 28, 28, device="cuda")
    w = torch.randn(256, 256, 3, 3, device="cuda") / 48
    ref = conv2d_chain(x.double(), w.double(), None, (1, 1), (1, 1), 1, Epilogue())
    exact = conv_kernel.conv2d_fused(x, w, None, (1, 1), (1, 1), 1, Epilogue(), config=PINNED)
    assert error(exact, ref) < 1e-5  # "highest": IEEE float32
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        fast = conv_kernel.conv2d_fused(x, w, None, (1, 1), (1, 1), 1, Epilogue(), config=PINNED)
    finally:
        torch.set_float32_matmul_precision(previous)
    assert 1e-5 < error(fast, ref) < 5e-3  # TF32, as the user allowed
