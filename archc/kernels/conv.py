"""The fused convolution kernel: implicit GEMM with bias, activation, LRN and max-pool in
the epilogue.

The convolution is a matrix product computed without building the im2col matrix: rows
are output pixels, columns output channels, and the reduction runs over (group, kernel
row, kernel column, input channel) — input channels innermost, so that in channels_last
memory a reduction block reads contiguous bytes.  The packed weight is one dense matrix,
zero where a channel's group does not read an input; a tile reduces over only the groups
its channels belong to, so grouped layers do no extra work (unless a tile straddles two
groups).

Each program owns a BLOCK_M × BLOCK_N tile.  Its epilogue adds the bias, applies the
activation and, for cross-channel LRN, takes each channel's window sum of squares as a
product with a banded 0/1 matrix.  The window reaches size//2 channels either side, so
with LRN the channel tiles overlap: each computes LRN_SIZE − 1 halo channels beyond the
ones it stores.  A fused max-pool makes the tile's rows pooled pixels: the program
computes the convolution once per position of the pooling window and keeps the running
maximum, so any window works (2×2/2, overlapping 3×3/2, padding, ceil mode), at the
price of recomputing the outputs that overlapping windows share.

For training, the kernel can also store the convolution's output (bias added, before the
activation): the backward pass then differentiates the cheap epilogue from it and hands
the convolution's own gradients to PyTorch, instead of running the convolution again.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..analysis import window_out
from ..ir import FUSED_LRN_MAX
from . import DTYPES, interpreting
from .reference import ACTIVATIONS, Epilogue

_ACTIVATION_CODES = {None: 0, **{name: i + 1 for i, name in enumerate(ACTIVATIONS)}}


@triton.jit
def _activate(x, ACTIVATION: tl.constexpr):
    if ACTIVATION == 1:  # relu
        x = tl.maximum(x, 0.0)
    elif ACTIVATION == 2:  # tanh, as 2·sigmoid(2x) − 1
        x = 2.0 * tl.sigmoid(2.0 * x) - 1.0
    elif ACTIVATION == 3:  # sigmoid
        x = tl.sigmoid(x)
    elif ACTIVATION == 4:  # scaled tanh, LeNet-5's 1.7159·tanh(2x/3)
        x = 1.7159 * (2.0 * tl.sigmoid(x * (4.0 / 3.0)) - 1.0)
    return x


@triton.jit
def _conv2d_kernel(
    # Pointers: input, packed weight [groups · K_G, C_OUT], bias, output, and (if
    # SAVE_CONV) the convolution's output before the epilogue
    x_ptr, w_ptr, bias_ptr, y_ptr, z_ptr,
    # Sizes: input H×W, convolution output P×Q, kernel output OH×OW (pooled, if pooling)
    M, H, W, P, Q, OH, OW, C_OUT, C_IN_G, C_OUT_G, K_G,
    # Strides, in elements, of the input, the output and the saved convolution (N, C, H, W)
    stride_xn, stride_xc, stride_xh, stride_xw,
    stride_yn, stride_yc, stride_yh, stride_yw,
    stride_zn, stride_zc, stride_zh, stride_zw,
    # Convolution and pooling geometry
    conv_sh, conv_sw, conv_ph, conv_pw,
    pool_sh, pool_sw, pool_ph, pool_pw,
    # Local response normalisation: b = a / (lrn_k + lrn_alpha · Σ a²)^lrn_beta
    lrn_alpha, lrn_beta, lrn_k,
    # Meta-parameters
    KH: tl.constexpr, KW: tl.constexpr, CHANNEL_BLOCKS: tl.constexpr,
    POOL_KH: tl.constexpr, POOL_KW: tl.constexpr,
    ACTIVATION: tl.constexpr, HAS_BIAS: tl.constexpr, LRN_SIZE: tl.constexpr,
    SAVE_CONV: tl.constexpr,
    DOT_PRECISION: tl.constexpr, LRN_PRECISION: tl.constexpr, INDEX_64: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)

    # Rows: output pixels (n, oh, ow).
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = offs_m < M
    ow = offs_m % OW
    oh = (offs_m // OW) % OH
    n = offs_m // (OW * OH)

    # Columns: output channels; with LRN, a halo either side that is computed, not stored.
    HALO_LO: tl.constexpr = LRN_SIZE // 2 if LRN_SIZE > 0 else 0
    HALO: tl.constexpr = LRN_SIZE - 1 if LRN_SIZE > 0 else 0
    first = pid_n * (BLOCK_N - HALO)
    channel = first - HALO_LO + tl.arange(0, BLOCK_N)
    n_mask = (channel >= 0) & (channel < C_OUT)
    own = n_mask & (channel >= first) & (channel < first + BLOCK_N - HALO)
    # The groups this tile's channels belong to: the reduction runs over theirs only.
    g_lo = tl.maximum(first - HALO_LO, 0) // C_OUT_G
    g_hi = tl.minimum(first - HALO_LO + BLOCK_N - 1, C_OUT - 1) // C_OUT_G
    if INDEX_64:
        n = n.to(tl.int64)
        channel = channel.to(tl.int64)
    x_rows = x_ptr + n * stride_xn
    if HAS_BIAS:
        bias = tl.load(bias_ptr + channel, mask=n_mask, other=0.0).to(tl.float32)

    result = tl.full([BLOCK_M, BLOCK_N], float("-inf"), tl.float32)
    for window in range(POOL_KH * POOL_KW):  # a runtime loop: unrolling it bloats compiles
        # The convolution output this window position reads (itself, without pooling).
        p = oh * pool_sh - pool_ph + window // POOL_KW
        q = ow * pool_sw - pool_pw + window % POOL_KW
        pixel_ok = m_mask & (p >= 0) & (p < P) & (q >= 0) & (q < Q)
        h0 = p * conv_sh - conv_ph
        w0 = q * conv_sw - conv_pw

        acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
        if CHANNEL_BLOCKS:
            # One step per (group, kernel row, kernel column, block of input channels):
            # scalar index arithmetic, and each row of A a contiguous run of channels.
            c_blocks = tl.cdiv(C_IN_G, BLOCK_K)
            taps = KH * KW
            for step in range((g_hi - g_lo + 1) * taps * c_blocks):
                c0 = (step % c_blocks) * BLOCK_K
                tap = (step // c_blocks) % taps
                g = g_lo + step // (c_blocks * taps)
                h = h0 + tap // KW
                w = w0 + tap % KW
                row_ok = pixel_ok & (h >= 0) & (h < H) & (w >= 0) & (w < W)
                if INDEX_64:
                    h = h.to(tl.int64)
                    w = w.to(tl.int64)
                offs_c = c0 + tl.arange(0, BLOCK_K)
                c_mask = offs_c < C_IN_G
                a = tl.load(x_rows[:, None] + (h * stride_xh + w * stride_xw)[:, None]
                            + ((g * C_IN_G + offs_c) * stride_xc)[None, :],
                            mask=row_ok[:, None] & c_mask[None, :], other=0.0)
                b = tl.load(w_ptr + (g * K_G + tap * C_IN_G + offs_c)[:, None] * C_OUT
                            + channel[None, :], mask=c_mask[:, None] & n_mask[None, :], other=0.0)
                acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)
        else:
            # Few input channels (a first layer): reduce over flat (kernel row, column,
            # channel) blocks, decomposing each index.
            for k0 in range(g_lo * K_G, (g_hi + 1) * K_G, BLOCK_K):
                offs_k = k0 + tl.arange(0, BLOCK_K)
                k_mask = offs_k < (g_hi + 1) * K_G
                k_in_group = offs_k % K_G
                c = (offs_k // K_G) * C_IN_G + k_in_group % C_IN_G
                s = (k_in_group // C_IN_G) % KW
                r = k_in_group // (C_IN_G * KW)
                h = h0[:, None] + r[None, :]
                w = w0[:, None] + s[None, :]
                a_mask = pixel_ok[:, None] & k_mask[None, :] & (h >= 0) & (h < H) & (w >= 0) & (w < W)
                if INDEX_64:
                    h = h.to(tl.int64)
                    w = w.to(tl.int64)
                a = tl.load(x_rows[:, None] + c[None, :] * stride_xc + h * stride_xh + w * stride_xw,
                            mask=a_mask, other=0.0)
                b = tl.load(w_ptr + offs_k[:, None] * C_OUT + channel[None, :],
                            mask=k_mask[:, None] & n_mask[None, :], other=0.0)
                acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)

        if HAS_BIAS:
            acc += bias[None, :]
        if SAVE_CONV:
            # Overlapping pooling windows compute a shared pixel more than once, and each
            # stores it: the same number, written again.
            pz, qz = p, q
            if INDEX_64:
                pz = pz.to(tl.int64)
                qz = qz.to(tl.int64)
            z_ptrs = (z_ptr + n[:, None] * stride_zn + channel[None, :] * stride_zc
                      + pz[:, None] * stride_zh + qz[:, None] * stride_zw)
            tl.store(z_ptrs, acc.to(z_ptr.dtype.element_ty),
                     mask=pixel_ok[:, None] & own[None, :])
        acc = _activate(acc, ACTIVATION)
        if LRN_SIZE > 0:
            # Σ over the window of each channel, as a product with a banded 0/1 matrix:
            # channel j counts towards channel c when c − size//2 ≤ j ≤ c + (size−1)//2.
            squares = tl.where(n_mask[None, :], acc * acc, 0.0)
            j = tl.arange(0, BLOCK_N)
            offset = j[:, None] - j[None, :]
            band = ((offset >= -(LRN_SIZE // 2)) & (offset <= (LRN_SIZE - 1) // 2)).to(tl.float32)
            window_sum = tl.dot(squares, band, input_precision=LRN_PRECISION)
            scale = tl.exp2(lrn_beta * tl.log2(lrn_k + lrn_alpha * window_sum))
            acc = (acc / scale).to(tl.float32)  # scalars may arrive as float64 (Inductor)
        if POOL_KH * POOL_KW == 1:
            result = acc
        else:
            acc = tl.where(pixel_ok[:, None], acc, float("-inf"))
            result = tl.maximum(result, acc, propagate_nan=tl.PropagateNan.ALL)

    if INDEX_64:
        oh = oh.to(tl.int64)
        ow = ow.to(tl.int64)
    y_ptrs = (y_ptr + n[:, None] * stride_yn + channel[None, :] * stride_yc
              + oh[:, None] * stride_yh + ow[:, None] * stride_yw)
    tl.store(y_ptrs, result.to(y_ptr.dtype.element_ty), mask=m_mask[:, None] & own[None, :])


# -- tile shapes -----------------------------------------------------------------------------

KEY = ["C_OUT", "C_OUT_G", "K_G", "OH", "OW", "POOL_KH", "LRN_SIZE", "SAVE_CONV", "stride_xc"]


def configs() -> list[triton.Config]:
    """The tile shapes the autotuner chooses from.  Each is checked against the reference
    on the GPU (tests/test_kernels.py::test_every_config_on_the_gpu)."""
    shapes = [(128, 128, 64, 8, 3), (128, 64, 64, 4, 4), (64, 128, 64, 4, 4), (64, 64, 32, 4, 3)]
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k}, num_warps=w, num_stages=s)
            for m, n, k, w, s in shapes]


_tuned = triton.autotune(configs=configs(), key=KEY)(_conv2d_kernel)


# -- the host side ---------------------------------------------------------------------------


def output_shape(x_shape, weight_shape, stride, padding, epilogue: Epilogue) -> tuple[int, ...]:
    n, _, h, w = x_shape
    c_out, _, kh, kw = weight_shape
    p = window_out(h, kh, stride[0], padding[0], False)
    q = window_out(w, kw, stride[1], padding[1], False)
    if epilogue.pool is not None:
        (pkh, pkw), (psh, psw), (pph, ppw), ceil = epilogue.pool
        p, q = window_out(p, pkh, psh, pph, ceil), window_out(q, pkw, psw, ppw, ceil)
    return (n, c_out, p, q)


def check(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
          stride, padding, groups: int, epilogue: Epilogue) -> None:
    """Raise a ValueError that says what is wrong with the arguments, if anything is."""
    if x.dim() != 4 or weight.dim() != 4:
        raise ValueError(f"expected a 4-D input and weight, got {x.dim()}-D and {weight.dim()}-D")
    if x.dtype not in DTYPES:
        raise ValueError(f"the fused kernel takes float32, float16 or bfloat16, not {x.dtype}")
    if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
        raise ValueError(f"input, weight and bias must share a dtype: {x.dtype}, {weight.dtype}"
                         + (f", {bias.dtype}" if bias is not None else ""))
    if weight.device != x.device or (bias is not None and bias.device != x.device):
        raise ValueError("input, weight and bias must be on the same device")
    c_out, c_in_g = weight.shape[:2]
    if groups < 1 or x.shape[1] != c_in_g * groups or c_out % groups:
        raise ValueError(f"{x.shape[1]} input channels and a weight of shape "
                         f"{tuple(weight.shape)} do not fit groups={groups}")
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},), not {tuple(bias.shape)}")
    if min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"stride {stride} and padding {padding} must be positive and non-negative")
    if epilogue.pool is not None:
        kernel, pool_stride, pad, _ = epilogue.pool
        if any(2 * p > k for p, k in zip(pad, kernel)):
            raise ValueError(f"pooling padding {pad} must be at most half of the window {kernel}")
    if epilogue.lrn is not None and not 1 <= epilogue.lrn[0] <= FUSED_LRN_MAX:
        raise ValueError(f"the fused kernel takes LRN windows of 1 to {FUSED_LRN_MAX} channels, "
                         f"not {epilogue.lrn[0]}")
    if min(output_shape(x.shape, weight.shape, stride, padding, epilogue)[2:]) < 1:
        raise ValueError(f"a {tuple(x.shape[2:])} input is too small for this convolution")


def pack_weight(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """[C_out, C_in/g, KH, KW] → [g · KH·KW·C_in/g, C_out]: rows (group, kernel row,
    kernel column, input channel), input channels innermost; zero where an output channel's
    group does not read that input."""
    c_out, c_in_g, kh, kw = weight.shape
    c_out_g, k_g = c_out // groups, kh * kw * c_in_g
    per_group = weight.reshape(groups, c_out_g, c_in_g, kh, kw).permute(0, 3, 4, 2, 1)
    per_group = per_group.reshape(groups, k_g, c_out_g)
    if groups == 1:
        return per_group.reshape(k_g, c_out).contiguous()
    dense = weight.new_zeros(groups, k_g, groups, c_out_g)
    index = torch.arange(groups, device=weight.device)
    dense[index, :, index, :] = per_group
    return dense.reshape(groups * k_g, c_out)


def conv_output(x: torch.Tensor, weight: torch.Tensor, stride, padding,
                epilogue: Epilogue) -> torch.Tensor:
    """Room for the convolution's output, before the epilogue, for the kernel to save.

    Zeros where pooling inside the kernel would leave pixels that no window reads (floor
    mode's last rows, say): the kernel never computes those, and the backward pass must
    find finite numbers there.
    """
    shape = output_shape(x.shape, weight.shape, stride, padding, Epilogue())
    p, q = shape[2:]
    covered = True
    if epilogue.pool is not None:
        _, _, oh, ow = output_shape(x.shape, weight.shape, stride, padding, epilogue)
        (kh, kw), (sh, sw), (ph, pw), _ = epilogue.pool
        covered = (sh <= kh and sw <= kw  # no gaps between windows, none past the last
                   and (oh - 1) * sh - ph + kh >= p and (ow - 1) * sw - pw + kw >= q)
    saved = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    return saved if covered else saved.zero_()


def conv2d_fused(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 stride: tuple[int, int], padding: tuple[int, int], groups: int,
                 epilogue: Epilogue, launch=None, config: triton.Config | None = None,
                 save_conv: torch.Tensor | None = None) -> torch.Tensor:
    """Run the fused kernel; the output is in channels_last memory.

    ``launch`` wraps the kernel for torch.library (wrap_triton); ``config`` pins one tile
    shape instead of autotuning (the tests use it to check each configuration);
    ``save_conv``, a tensor from :func:`conv_output`, receives the convolution's output
    before the epilogue (for the backward pass).
    """
    check(x, weight, bias, stride, padding, groups, epilogue)
    n, c_in, h, w = x.shape
    c_out, c_in_g, kh, kw = weight.shape
    if c_in_g >= 16 and x.stride(1) != 1:
        x = x.contiguous(memory_format=torch.channels_last)  # contiguous channel runs
    p = window_out(h, kh, stride[0], padding[0], False)
    q = window_out(w, kw, stride[1], padding[1], False)
    _, _, oh, ow = output_shape(x.shape, weight.shape, stride, padding, epilogue)
    y = torch.empty((n, c_out, oh, ow), dtype=x.dtype, device=x.device,
                    memory_format=torch.channels_last)
    packed = pack_weight(weight, groups)
    if epilogue.pool is not None:
        (pool_kh, pool_kw), (pool_sh, pool_sw), (pool_ph, pool_pw), _ = epilogue.pool
    else:
        pool_kh = pool_kw = pool_sh = pool_sw = 1
        pool_ph = pool_pw = 0
    lrn_size, lrn_alpha, lrn_beta, lrn_k = epilogue.lrn or (0, 0.0, 1.0, 1.0)
    if x.dtype != torch.float32:
        dot_precision = "tf32"  # not used: 16-bit operands multiply exactly
    elif interpreting() or torch.get_float32_matmul_precision() == "highest":
        dot_precision = "ieee"
    else:  # the user allowed TF32: torch.set_float32_matmul_precision("high")
        dot_precision = "tf32"
    z = save_conv if save_conv is not None else y  # not written unless saving
    index_64 = max(x.numel(), y.numel(), z.numel(), packed.numel()) >= 2 ** 31
    args = (x, packed, bias if bias is not None else packed, y, z,
            n * oh * ow, h, w, p, q, oh, ow, c_out, c_in_g, c_out // groups, kh * kw * c_in_g,
            *x.stride(), *y.stride(), *z.stride(),
            stride[0], stride[1], padding[0], padding[1],
            pool_sh, pool_sw, pool_ph, pool_pw,
            lrn_alpha / max(lrn_size, 1), lrn_beta, lrn_k)
    meta = dict(KH=kh, KW=kw, CHANNEL_BLOCKS=c_in_g >= 16, POOL_KH=pool_kh, POOL_KW=pool_kw,
                ACTIVATION=_ACTIVATION_CODES[epilogue.activation], HAS_BIAS=bias is not None,
                LRN_SIZE=lrn_size, SAVE_CONV=save_conv is not None, DOT_PRECISION=dot_precision,
                LRN_PRECISION="ieee" if x.dtype == torch.float32 or interpreting() else "tf32",
                INDEX_64=index_64)
    kernel = _conv2d_kernel
    if config is not None:
        meta.update(config.kwargs, num_warps=config.num_warps, num_stages=config.num_stages)
    elif interpreting():
        # The CPU interpreter pays per program and per loop step, not per element: the
        # largest tiles the problem fills make it tolerably fast.
        def fit(extent: int) -> int:
            return min(64, max(16, triton.next_power_of_2(extent)))

        meta.update(BLOCK_M=fit(n * oh * ow), BLOCK_K=fit(kh * kw * c_in_g),
                    BLOCK_N=fit(c_out + max(lrn_size - 1, 0)))
    else:
        kernel = _tuned
    halo = max(lrn_size - 1, 0)

    def grid(meta_):
        return (triton.cdiv(n * oh * ow, meta_["BLOCK_M"]),
                triton.cdiv(c_out, meta_["BLOCK_N"] - halo))

    (launch or (lambda k: k))(kernel)[grid](*args, **meta)
    return y
