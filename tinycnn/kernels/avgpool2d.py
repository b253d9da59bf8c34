"""2-D average pooling: over fixed windows (``avg_pool2d``) or over an adaptive grid of bins.

``F.avg_pool2d`` / ``nn.AvgPool2d`` run ``avgpool2d_forward`` / ``avgpool2d_backward``;
``F.adaptive_avg_pool2d`` / ``nn.AdaptiveAvgPool2d`` (global average pooling
with output size 1) run ``adaptive_avgpool2d_forward`` / ``_backward``.

Fixed windows, as PyTorch's with no padding and floor sizes:

    out[n, c, oh, ow] = mean over kh < KH, kw < KW of x[n, c, oh*SH + kh, ow*SW + kw]
    OH = (H - KH) // SH + 1   (likewise OW)

Adaptive bins: the output is OH x OW whatever H x W is; bin oh covers rows
floor(oh * H / OH) to ceil((oh + 1) * H / OH) - 1 (likewise columns), so
bins may differ in size by a row and may overlap. Output size (1, 1) is the
mean of the whole plane.

Backward: each output is the mean of its window's ``size`` values, so each
of them receives dout / size (a value in several windows, the sum).

- ``*_naive``: the definitions as loops.
- the others: the same with the (n, c) planes over threads (disjoint writes).
"""

import numpy as np
from numba import prange

from tinycnn.kernels.jit import njit
from tinycnn.kernels.jit import prange_only


@njit
def _bin(index, size, bins):
    """The [start, end) of adaptive bin ``index`` of ``bins`` over ``size``: floor(i*size/bins), ceil((i+1)*size/bins)."""
    return (index * size) // bins, -((-(index + 1) * size) // bins)


# --------------------------------------------------------------------------------------
# naive reference


@njit
def avgpool2d_forward_naive(x, KH, KW, SH, SW):
    """x: (N, C, H, W) -> out (N, C, OH, OW)."""
    N, C, H, W = x.shape
    OH, OW = (H - KH) // SH + 1, (W - KW) // SW + 1
    out = np.zeros((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    total = 0.0
                    for kh in range(KH):
                        for kw in range(KW):
                            total += x[n, c, oh * SH + kh, ow * SW + kw]
                    out[n, c, oh, ow] = total / (KH * KW)
    return out


@njit
def avgpool2d_backward_naive(dout, KH, KW, SH, SW, H, W):
    """dout: (N, C, OH, OW) -> dx (N, C, H, W): forward out = sum / (KH*KW) => each value in the window gets dout / (KH*KW)."""
    N, C, OH, OW = dout.shape
    dx = np.zeros((N, C, H, W), dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    for kh in range(KH):
                        for kw in range(KW):
                            dx[n, c, oh * SH + kh, ow * SW + kw] += dout[n, c, oh, ow] / (KH * KW)
    return dx


@njit
def adaptive_avgpool2d_forward_naive(x, OH, OW):
    """x: (N, C, H, W) -> out (N, C, OH, OW), each the mean of its bin."""
    N, C, H, W = x.shape
    out = np.zeros((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                top, bottom = (oh * H) // OH, -((-(oh + 1) * H) // OH)
                for ow in range(OW):
                    left, right = (ow * W) // OW, -((-(ow + 1) * W) // OW)
                    total = 0.0
                    for h in range(top, bottom):
                        for w in range(left, right):
                            total += x[n, c, h, w]
                    out[n, c, oh, ow] = total / ((bottom - top) * (right - left))
    return out


@njit
def adaptive_avgpool2d_backward_naive(dout, H, W):
    """dout: (N, C, OH, OW) -> dx (N, C, H, W): each value of a bin gets the bin's dout / its size."""
    N, C, OH, OW = dout.shape
    dx = np.zeros((N, C, H, W), dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                top, bottom = (oh * H) // OH, -((-(oh + 1) * H) // OH)
                for ow in range(OW):
                    left, right = (ow * W) // OW, -((-(ow + 1) * W) // OW)
                    for h in range(top, bottom):
                        for w in range(left, right):
                            dx[n, c, h, w] += dout[n, c, oh, ow] / ((bottom - top) * (right - left))
    return dx


# --------------------------------------------------------------------------------------
# the kernels the engine runs


@njit(parallel=prange_only())
def avgpool2d_forward(x, KH, KW, SH, SW):
    """x: (N, C, H, W) -> out (N, C, OH, OW). Planes over threads."""
    N, C, H, W = x.shape
    OH, OW = (H - KH) // SH + 1, (W - KW) // SW + 1
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    scale = 1.0 / (KH * KW)
    for plane in prange(N * C):
        source, target = x[plane // C, plane % C], out[plane // C, plane % C]
        for oh in range(OH):
            for ow in range(OW):
                total = 0.0
                for kh in range(KH):
                    for kw in range(KW):
                        total += source[oh * SH + kh, ow * SW + kw]
                target[oh, ow] = total * scale
    return out


@njit(parallel=prange_only())
def avgpool2d_backward(dout, KH, KW, SH, SW, H, W):
    """dout: (N, C, OH, OW) -> dx (N, C, H, W). Planes over threads; each thread writes only its planes."""
    N, C, OH, OW = dout.shape
    dx = np.zeros((N, C, H, W), dtype=dout.dtype)
    scale = 1.0 / (KH * KW)
    for plane in prange(N * C):
        source, target = dout[plane // C, plane % C], dx[plane // C, plane % C]
        for oh in range(OH):
            for ow in range(OW):
                share = source[oh, ow] * scale
                for kh in range(KH):
                    for kw in range(KW):
                        target[oh * SH + kh, ow * SW + kw] += share
    return dx


@njit(parallel=prange_only())
def adaptive_avgpool2d_forward(x, OH, OW):
    """x: (N, C, H, W) -> out (N, C, OH, OW). Planes over threads."""
    N, C, H, W = x.shape
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for plane in prange(N * C):
        source, target = x[plane // C, plane % C], out[plane // C, plane % C]
        for oh in range(OH):
            top, bottom = _bin(oh, H, OH)
            for ow in range(OW):
                left, right = _bin(ow, W, OW)
                total = 0.0
                for h in range(top, bottom):
                    for w in range(left, right):
                        total += source[h, w]
                target[oh, ow] = total * (1.0 / ((bottom - top) * (right - left)))
    return out


@njit(parallel=prange_only())
def adaptive_avgpool2d_backward(dout, H, W):
    """dout: (N, C, OH, OW) -> dx (N, C, H, W). Planes over threads."""
    N, C, OH, OW = dout.shape
    dx = np.zeros((N, C, H, W), dtype=dout.dtype)
    for plane in prange(N * C):
        source, target = dout[plane // C, plane % C], dx[plane // C, plane % C]
        for oh in range(OH):
            top, bottom = _bin(oh, H, OH)
            for ow in range(OW):
                left, right = _bin(ow, W, OW)
                share = source[oh, ow] * (1.0 / ((bottom - top) * (right - left)))
                for h in range(top, bottom):
                    for w in range(left, right):
                        target[h, w] += share
    return dx
