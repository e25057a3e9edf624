"""Fused Triton kernels: the GPU backend of the modules archc generates.

PyTorch runs AlexNet's conv → bias → ReLU → LRN → max-pool as about a dozen kernels with
full-size intermediates in memory (its LRN is a composite of pad, avg_pool3d and pow);
here each such chain — or any prefix of it — is one kernel (archc/kernels/conv.py).

    from archc import kernels
    y = kernels.conv2d_fused(x, weight, bias, stride=(4, 4), padding=(0, 0), groups=1,
                             activation="relu", lrn=(5, 5e-4, 0.75, 2.0),
                             pool=((3, 3), (2, 2), (0, 0), False))

Generated modules built with ``backend="triton"`` or ``"auto"`` call :func:`fuse`, which
swaps each chain's modules for one :class:`FusedConv2d` holding the same parameters — the
state_dict is the same whichever backend runs it.  ``"auto"`` runs Triton on CUDA tensors
in the kernel's dtypes and PyTorch elsewhere; ``"triton"`` on the CPU works only in
Triton's interpreter (TRITON_INTERPRET=1, set before triton is first imported; slow, for
tests).

Importing this package does not import triton; the first Triton call does.
"""

from __future__ import annotations

import torch
from torch import nn

from ..ir import FUSED_LRN_MAX
from .reference import Epilogue, conv2d_chain

__all__ = ["conv2d_fused", "FusedConv2d", "fuse", "Epilogue", "conv2d_chain", "BACKENDS"]

BACKENDS = ("torch", "triton", "auto")
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
"""What the fused kernel computes in (accumulating in float32)."""


def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def interpreting() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1)."""
    import os

    return os.environ.get("TRITON_INTERPRET") == "1"


def uses_triton(backend: str, x: torch.Tensor) -> bool:
    """Whether ``backend`` runs this tensor through Triton; raises if it cannot."""
    if backend == "torch":
        return False
    if backend == "auto":  # and PyTorch for what the kernel does not take (float64)
        return x.is_cuda and x.dtype in DTYPES and triton_available()
    if backend != "triton":
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    _runnable(x, "backend='triton'", "use backend='auto' (PyTorch off the GPU)")
    return True


def _runnable(x: torch.Tensor, who: str, instead: str) -> None:
    """Raise, saying what to do, where Triton cannot run on ``x``."""
    if not triton_available():
        from ..extras import install

        raise RuntimeError(f"{who} needs the triton package: {install('triton')}")
    if not x.is_cuda and not interpreting():
        raise RuntimeError(
            f"{who} runs on a CUDA GPU, and this tensor is on the {x.device.type}; {instead}, "
            "or set TRITON_INTERPRET=1 before triton is imported to run Triton's slow CPU "
            "interpreter")


def overlaps(pool) -> bool:
    """Whether a max-pool's windows overlap (AlexNet's 3×3 at stride 2)."""
    kernel, stride, _, _ = pool
    return kernel[0] > stride[0] or kernel[1] > stride[1]


def conv2d_fused(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
                 stride=(1, 1), padding=(0, 0), groups: int = 1, activation: str | None = None,
                 lrn: tuple[int, float, float, float] | None = None,
                 pool: tuple | None = None, pool_in_kernel: bool | None = None) -> torch.Tensor:
    """conv → activation → LRN → max-pool as one Triton kernel (see the module docstring).

    ``lrn`` is (size, alpha, beta, k) in PyTorch's convention; ``pool`` is a max-pool's
    ((kh, kw), (sh, sw), (ph, pw), ceil_mode).  The kernel can pool any window, but where
    windows overlap it recomputes the convolution outputs they share (2.25× for 3×3 at
    stride 2), so by default (``pool_in_kernel=None``) an overlapping pool runs as PyTorch's
    max-pool after the kernel and a non-overlapping one inside it; BENCHMARKS.md has the
    measurements behind that choice.  Differentiable; traceable by torch.compile; inside
    ``torch.autocast`` it computes in autocast's dtype, as F.conv2d does.
    """
    from .op import conv2d_fused as op

    _runnable(x, "the fused kernel", "off the GPU, kernels.conv2d_chain computes the same "
                                      "in PyTorch")
    Epilogue(activation, lrn, pool)  # raises on an unknown activation
    x, weight, bias = _autocast(x, weight, bias)
    after = None
    if pool is not None and (pool_in_kernel is False
                             or pool_in_kernel is None and overlaps(pool)):
        pool, after = None, pool
    flat_pool = []
    if pool is not None:
        kernel, pool_stride, pad, ceil = pool
        flat_pool = [*kernel, *pool_stride, *pad, int(bool(ceil))]
    # Training: the kernel also stores the convolution's output for the backward pass.
    save_conv = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight, bias))
    y, _ = op(x, weight, bias, list(stride), list(padding), groups, activation or "",
              list(lrn) if lrn is not None else [], flat_pool, save_conv)
    if after is not None:
        kernel, pool_stride, pad, ceil = after
        y = torch.nn.functional.max_pool2d(y, kernel, pool_stride, pad, ceil_mode=ceil)
    return y


def _autocast(*tensors: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """Inside ``torch.autocast`` the kernel runs in autocast's dtype, as F.conv2d would:
    float32 inputs and parameters are cast (differentiably; float64 is left alone)."""
    device = tensors[0].device.type
    if not torch.is_autocast_enabled(device):
        return tensors
    dtype = torch.get_autocast_dtype(device)
    return tuple(t.to(dtype) if t is not None and t.dtype in DTYPES else t for t in tensors)


_ACTIVATION_MODULES = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}


class FusedConv2d(nn.Conv2d):
    """An nn.Conv2d followed by its chain's activation, LRN and max-pool, run as one Triton
    kernel — or, where the backend resolves to PyTorch, as the same four PyTorch steps.
    It holds the convolution's own parameters, so the state_dict does not change."""

    def __init__(self, conv: nn.Conv2d, epilogue: Epilogue, backend: str = "auto"):
        super().__init__(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                         conv.padding, conv.dilation, conv.groups, conv.bias is not None,
                         conv.padding_mode, device="meta")
        self.weight = conv.weight
        self.bias = conv.bias
        self.epilogue = epilogue
        self.backend = backend
        self.pool_in_kernel: bool | None = None  # see conv2d_fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.epilogue
        if uses_triton(self.backend, x):
            return conv2d_fused(x, self.weight, self.bias, stride=self.stride,
                                padding=self.padding, groups=self.groups,
                                activation=e.activation, lrn=e.lrn, pool=e.pool,
                                pool_in_kernel=self.pool_in_kernel)
        return conv2d_chain(x, self.weight, self.bias, self.stride, self.padding, self.groups, e)

    def extra_repr(self) -> str:
        e = self.epilogue
        parts = [super().extra_repr(), f"backend={self.backend!r}"]
        if e.activation:
            parts.append(f"activation={e.activation!r}")
        if e.lrn:
            parts.append(f"lrn={e.lrn}")
        if e.pool:
            parts.append(f"pool={e.pool}")
        return ", ".join(parts)


def _activation_of(module: nn.Module) -> str:
    for cls, name in _ACTIVATION_MODULES.items():
        if isinstance(module, cls):
            return name
    if type(module).__name__ == "ScaledTanh":  # the class generated modules define
        return "scaled_tanh"
    raise ValueError(f"{type(module).__name__} is not an activation the fused kernel has")


def _set(model: nn.Module, path: str, module: nn.Module):
    parent, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, name, module)


def fuse(model: nn.Module, chains, backend: str = "auto") -> nn.Module:
    """Swap each chain (conv, activation, LRN, max-pool submodule paths; None where a stage
    is absent) for one FusedConv2d and identities; the parameters stay where they were."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    for conv_path, act_path, lrn_path, pool_path in chains:
        conv = model.get_submodule(conv_path)
        if isinstance(conv, FusedConv2d):
            conv.backend = backend
            continue
        if conv.dilation != (1, 1) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            continue  # not a layer the kernel computes: leave it to PyTorch
        activation = _activation_of(model.get_submodule(act_path)) if act_path else None
        lrn = None
        if lrn_path:
            m = model.get_submodule(lrn_path)
            if not 1 <= m.size <= FUSED_LRN_MAX:
                raise ValueError(f"{lrn_path}: the fused kernel takes LRN windows of 1 to "
                                 f"{FUSED_LRN_MAX} channels, not {m.size}; end the chain before it")
            lrn = (m.size, m.alpha, m.beta, m.k)
        pool = None
        if pool_path:
            m = model.get_submodule(pool_path)
            pair = nn.modules.utils._pair
            if pair(m.dilation) != (1, 1):
                raise ValueError(f"{pool_path}: dilated max-pooling is not fused")
            pool = (pair(m.kernel_size), pair(m.stride or m.kernel_size), pair(m.padding),
                    bool(m.ceil_mode))
        _set(model, conv_path, FusedConv2d(conv, Epilogue(activation, lrn, pool), backend))
        for path in (act_path, lrn_path, pool_path):
            if path:
                _set(model, path, nn.Identity())
    return model

