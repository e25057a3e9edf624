"""The fused chain in plain PyTorch: what the Triton kernel must equal.

It serves three purposes: the computation a FusedConv2d runs when the backend resolves to
"torch", the ground truth of the tests, and the backward pass (the epilogue's part of it,
differentiated from the convolution output the kernel saved).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import ir

ACTIVATIONS = ir.FUSED_ACTIVATIONS


@dataclass(frozen=True)
class Epilogue:
    """What follows the convolution inside one fused kernel.

    ``lrn`` is (size, alpha, beta, k) in PyTorch's convention (alpha is divided by size, as
    in nn.LocalResponseNorm); ``pool`` is a max-pool's ((kh, kw), (sh, sw), (ph, pw), ceil).
    """

    activation: str | None = None
    lrn: tuple[int, float, float, float] | None = None
    pool: tuple[tuple[int, int], tuple[int, int], tuple[int, int], bool] | None = None

    def __post_init__(self):
        if self.activation is not None and self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS} or None, "
                             f"not {self.activation!r}")


def activate(x: torch.Tensor, activation: str | None) -> torch.Tensor:
    if activation is None:
        return x
    if activation == "relu":
        return F.relu(x)
    if activation == "tanh":
        return torch.tanh(x)
    if activation == "sigmoid":
        return torch.sigmoid(x)
    return 1.7159 * torch.tanh(x * (2.0 / 3.0))  # scaled_tanh


def conv2d_chain(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 stride: tuple[int, int], padding: tuple[int, int], groups: int,
                 epilogue: Epilogue) -> torch.Tensor:
    """conv → activation → LRN → max-pool, each stage as PyTorch does it."""
    return epilogue_chain(F.conv2d(x, weight, bias, stride, padding, 1, groups), epilogue)


def epilogue_chain(y: torch.Tensor, epilogue: Epilogue) -> torch.Tensor:
    """activation → LRN → max-pool of a convolution's output ``y``."""
    y = activate(y, epilogue.activation)
    if epilogue.lrn is not None:
        size, alpha, beta, k = epilogue.lrn
        y = F.local_response_norm(y, size, alpha, beta, k)
    if epilogue.pool is not None:
        kernel, stride_, pad, ceil = epilogue.pool
        y = F.max_pool2d(y, kernel, stride_, pad, ceil_mode=ceil)
    return y
