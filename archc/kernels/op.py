"""The fused kernel as a PyTorch operator: `torch.ops.archc.conv2d_fused`.

Registered with torch.library.triton_op, so torch.compile traces through it (Inductor sees
the Triton kernel), with a shape-only fake implementation for tracing, and a backward pass.

When gradients are wanted the kernel also stores the convolution's output before the
epilogue (``save_conv``), as eager PyTorch keeps it between a convolution and its ReLU.
The backward pass differentiates the epilogue — activation, LRN, pool, in PyTorch — from
that saved tensor, and passes the result to PyTorch's own convolution backward (cuDNN on a
GPU): the convolution never runs twice.  Without a saved output (the operator called
directly with ``save_conv=False`` on tensors that need gradients), it recomputes it.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch.library import triton_op, wrap_triton

from . import conv
from .reference import Epilogue, epilogue_chain


def _epilogue(activation: str, lrn: list[float], pool: list[int]) -> Epilogue:
    return Epilogue(
        activation=activation or None,
        lrn=(int(lrn[0]), lrn[1], lrn[2], lrn[3]) if lrn else None,
        pool=((pool[0], pool[1]), (pool[2], pool[3]), (pool[4], pool[5]), bool(pool[6]))
        if pool else None)


@triton_op("archc::conv2d_fused", mutates_args=())
def conv2d_fused(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                 stride: list[int], padding: list[int], groups: int, activation: str,
                 lrn: list[float], pool: list[int],
                 save_conv: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """conv → activation → LRN → max-pool in one kernel.

    ``activation`` is "" or one of relu, tanh, sigmoid, scaled_tanh; ``lrn`` is [] or
    [size, alpha, beta, k] (PyTorch's convention); ``pool`` is [] or
    [kh, kw, sh, sw, ph, pw, ceil].  Returns the output and, if ``save_conv``, the
    convolution's output before the epilogue (otherwise an empty tensor).
    """
    epilogue = _epilogue(activation, lrn, pool)
    saved = (conv.conv_output(x, weight, stride, padding, epilogue) if save_conv
             else x.new_empty(0))
    y = conv.conv2d_fused(x, weight, bias, tuple(stride), tuple(padding), groups, epilogue,
                          launch=wrap_triton, save_conv=saved if save_conv else None)
    return y, saved


@conv2d_fused.register_fake
def _(x, weight, bias, stride, padding, groups, activation, lrn, pool, save_conv):
    def empty(epilogue):
        shape = conv.output_shape(x.shape, weight.shape, stride, padding, epilogue)
        return x.new_empty(shape).contiguous(memory_format=torch.channels_last)

    y = empty(_epilogue(activation, lrn, pool))
    return y, empty(Epilogue()) if save_conv else x.new_empty(0)


def _setup_context(ctx, inputs, output):
    x, weight, bias, stride, padding, groups, activation, lrn, pool, save_conv = inputs
    ctx.save_for_backward(x, weight, bias, output[1])
    ctx.mark_non_differentiable(output[1])
    ctx.geometry = (list(stride), list(padding), groups, _epilogue(activation, lrn, pool))
    ctx.saved_conv = save_conv


def _backward(ctx, grad, _):
    x, weight, bias, saved = ctx.saved_tensors
    stride, padding, groups, epilogue = ctx.geometry
    if not ctx.saved_conv:
        saved = F.conv2d(x, weight, bias, stride, padding, 1, groups)
    with torch.enable_grad():
        z = saved.detach().requires_grad_()
        (grad,) = torch.autograd.grad(epilogue_chain(z, epilogue), z, grad)
    needs_x, needs_weight, needs_bias = ctx.needs_input_grad[:3]
    grad_x, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
        grad, x, weight, [weight.shape[0]] if bias is not None else None, stride, padding,
        [1, 1], False, [0, 0], groups, [needs_x, needs_weight, needs_bias and bias is not None])
    return grad_x, grad_weight, grad_bias, None, None, None, None, None, None, None


conv2d_fused.register_autograd(_backward, setup_context=_setup_context)
