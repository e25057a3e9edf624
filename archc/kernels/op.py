"""The fused kernel as a PyTorch operator: `torch.ops.archc.conv2d_fused`.

Registered with torch.library.triton_op, so torch.compile traces through it (Inductor sees
the Triton kernel), with a shape-only fake implementation for tracing, and a backward
that recomputes the chain in PyTorch and differentiates that — correct, if not as fast as
a fused backward kernel would be.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch.library import triton_op, wrap_triton

from . import conv
from .reference import Epilogue, conv2d_chain


def _epilogue(activation: str, lrn: list[float], pool: list[int]) -> Epilogue:
    return Epilogue(
        activation=activation or None,
        lrn=(int(lrn[0]), lrn[1], lrn[2], lrn[3]) if lrn else None,
        pool=((pool[0], pool[1]), (pool[2], pool[3]), (pool[4], pool[5]), bool(pool[6]))
        if pool else None)


@triton_op("archc::conv2d_fused", mutates_args=())
def conv2d_fused(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                 stride: list[int], padding: list[int], groups: int, activation: str,
                 lrn: list[float], pool: list[int]) -> torch.Tensor:
    """conv → activation → LRN → max-pool in one kernel.

    ``activation`` is "" or one of relu, tanh, sigmoid, scaled_tanh; ``lrn`` is [] or
    [size, alpha, beta, k] (PyTorch's convention); ``pool`` is [] or
    [kh, kw, sh, sw, ph, pw, ceil].
    """
    epilogue = _epilogue(activation, lrn, pool)
    return conv.conv2d_fused(x, weight, bias, tuple(stride), tuple(padding), groups, epilogue,
                             launch=wrap_triton)


@conv2d_fused.register_fake
def _(x, weight, bias, stride, padding, groups, activation, lrn, pool):
    shape = conv.output_shape(x.shape, weight.shape, stride, padding,
                              _epilogue(activation, lrn, pool))
    return x.new_empty(shape).contiguous(memory_format=torch.channels_last)


def _setup_context(ctx, inputs, output):
    x, weight, bias, stride, padding, groups, activation, lrn, pool = inputs
    ctx.save_for_backward(x, weight, bias)
    ctx.geometry = (tuple(stride), tuple(padding), groups, _epilogue(activation, lrn, pool))


def _backward(ctx, grad):
    x, weight, bias = ctx.saved_tensors
    stride, padding, groups, epilogue = ctx.geometry
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_(needs)
                  for t, needs in zip((x, weight, bias), ctx.needs_input_grad[:3]) if t is not None]
        x_, weight_ = leaves[0], leaves[1]
        bias_ = leaves[2] if bias is not None else None
        out = conv2d_chain(x_, weight_, bias_, stride, padding, groups, epilogue)
        wanted = [t for t in (x_, weight_, bias_) if t is not None and t.requires_grad]
        grads = iter(torch.autograd.grad(out, wanted, grad))
    result = [next(grads) if t is not None and t.requires_grad else None
              for t in (x_, weight_, bias_)]
    return (*result, None, None, None, None, None, None)


conv2d_fused.register_autograd(_backward, setup_context=_setup_context)
