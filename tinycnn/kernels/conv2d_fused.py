"""Convolution + bias, then optionally ReLU and max-pool, in one pass per image.

This is a speed variant of ``conv2d.py`` composed with ``relu.py`` and
``maxpool2d.py``; read those first. It computes

    out = max_pool2d(relu(conv2d(x, weight, bias)))     (relu and pool each optional)

without ever storing the full-size convolution output for the batch: each
thread convolves one image into a small buffer that stays in cache, then
applies ReLU and pooling to it straight away. For the study's models the
full-size output is 4 to 9 times larger than the pooled one, so this saves
most of the memory traffic of a training step. With pooling it also
convolves only the rows and columns the pool reads (the pool's floored
output size drops the rest; see ``_conv_rows_read_by_pool``).

ReLU and max-pool commute (ReLU is monotonic, so the largest of the ReLU'd
values is the ReLU of the largest value, at the same position), so this one
kernel serves both orders the study uses: conv -> ReLU -> pool and
conv -> pool -> ReLU. Ties go to the first maximum in row-major window
order, as in ``maxpool2d.py``; a pooled value of exactly 0 after ReLU passes
no gradient, as in ``relu.py``.

``conv2d_fused_forward_naive`` is the definition: the three naive kernels
one after the other.
"""

import numpy as np
from numba import njit, prange

from tinycnn.kernels.blas import gemm
from tinycnn.kernels.conv2d import col2im_add, conv2d_forward_naive, im2col
from tinycnn.kernels.maxpool2d import maxpool2d_forward_naive
from tinycnn.kernels.relu import relu_forward_naive


@njit(cache=True)
def conv2d_fused_forward_naive(x, weight, bias, stride, padding, relu, pool_kernel, pool_stride):
    """The definition, for tests: conv2d, then ReLU if ``relu``, then max-pool if ``pool_kernel`` > 0.

    x: (N, C, H, W), weight: (F, C, KH, KW), bias: (F,) -> out (N, F, PH, PW)
    """
    out = conv2d_forward_naive(x, weight, bias, stride, padding)
    if relu:
        out = relu_forward_naive(out.ravel()).reshape(out.shape)
    if pool_kernel > 0:
        out, _ = maxpool2d_forward_naive(out, pool_kernel, pool_kernel, pool_stride, pool_stride)
    return out


@njit(cache=True, inline="always")
def _pool_plane_codes(plane, bias, kernel, stride, relu, out, code):
    """Add ``bias``, max-pool one (OH, OW) plane into out (PH, PW), then ReLU if ``relu``.

    code (PH, PW) gets the winner's place in its window, kh*kernel + kw.
    Same rule as ``maxpool2d._pool_plane`` (first maximum in row-major window
    order wins; NaN wins), but it records the winner as a small number that
    fits in a byte instead of a flat index. The bias is added to each value
    as it is read, exactly as a separate pass would have added it, without
    that pass. The loop body has no branches (a select, not an if), so the
    compiler can run it over several windows at once; inlined with a
    constant kernel this is about 3x faster than ``_pool_plane`` on the
    study's 2x2 pools.
    """
    PH, PW = out.shape
    for ph in range(PH):
        for pw in range(PW):
            best = plane[ph * stride, pw * stride] + bias
            best_code = 0
            for kh in range(kernel):
                for kw in range(kernel):
                    value = plane[ph * stride + kh, pw * stride + kw] + bias
                    take = (value > best) | (value != value)
                    best = value if take else best
                    best_code = kh * kernel + kw if take else best_code
            if relu:
                best = 0.0 if best <= 0 else best  # written so that NaN passes through, as in relu.py
            out[ph, pw] = best
            code[ph, pw] = best_code


@njit(cache=True)
def _conv_rows_read_by_pool(OH, PH, pool_kernel, pool_stride):
    """How many of the conv output's OH rows (or columns) the pool reads: all of them without pooling.

    The pool's output size is floored, so rows past the last whole window
    are never read: (PH - 1) * stride + kernel of them are. The study's
    3x3 pool on an 11x11 conv output reads 9x9 of it, so a third of that
    convolution need never be computed, forward or backward.
    """
    return (PH - 1) * pool_stride + pool_kernel if pool_kernel > 0 else OH


@njit(parallel=True, cache=True)
def conv2d_fused_forward(x, weight, bias, stride, padding, relu, pool_kernel, pool_stride, n_parts):
    """Convolution + bias, then ReLU if ``relu``, then max-pool if ``pool_kernel`` > 0.

    x:      (N, C, H, W), C-contiguous
    weight: (F, C, KH, KW), C-contiguous
    bias:   (F,)
    n_parts: how many runs of images to split the batch into, one per thread
    returns out (N, F, PH, PW) (cached for the backward; PH, PW = OH, OW without pooling)
            argmax (N, F, PH, PW) int8, the winner's place kh*pool_kernel + kw in its
            window (cached); shape (0, F, PH, PW) without pooling

    Each thread takes a run of images and two buffers it reuses for every
    one of them: cols (C*KH*KW, OH*OW) for im2col and conv (F, OH*OW) for
    the product, both small enough to stay in its cache.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    pooled = pool_kernel > 0
    PH = (OH - pool_kernel) // pool_stride + 1 if pooled else OH
    PW = (OW - pool_kernel) // pool_stride + 1 if pooled else OW
    OH = _conv_rows_read_by_pool(OH, PH, pool_kernel, pool_stride)  # from here on, only the part the pool reads
    OW = _conv_rows_read_by_pool(OW, PW, pool_kernel, pool_stride)
    rows = C * KH * KW
    positions = OH * OW
    weight_matrix = weight.reshape(F, rows)
    out = np.empty((N, F, PH, PW), dtype=x.dtype)
    argmax = np.empty((N if pooled else 0, F, PH, PW), dtype=np.int8)
    n_parts = max(1, min(N, n_parts))
    for part in prange(n_parts):  # images are independent: each thread writes only its images' out, argmax
        cols = np.empty((rows, positions), dtype=x.dtype)
        conv = np.empty((F, positions), dtype=x.dtype)
        for n in range(part * N // n_parts, (part + 1) * N // n_parts):
            im2col(x[n], KH, KW, stride, padding, OH, OW, cols)
            gemm(weight_matrix, False, cols, False, 0.0, conv)  # conv = weight_matrix @ cols
            if pooled:
                for f in range(F):
                    plane = conv[f].reshape(OH, OW)
                    if pool_kernel == 2 and pool_stride == 2:  # the study's pools, as constants the compiler unrolls
                        _pool_plane_codes(plane, bias[f], 2, 2, relu, out[n, f], argmax[n, f])
                    elif pool_kernel == 3 and pool_stride == 3:
                        _pool_plane_codes(plane, bias[f], 3, 3, relu, out[n, f], argmax[n, f])
                    else:
                        _pool_plane_codes(plane, bias[f], pool_kernel, pool_stride, relu, out[n, f], argmax[n, f])
            else:
                out_n = out[n].reshape(F, positions)
                for f in range(F):
                    for p in range(positions):
                        value = conv[f, p] + bias[f]
                        if relu:
                            value = 0.0 if value <= 0 else value  # NaN passes through, as in relu.py
                        out_n[f, p] = value
    return out, argmax


@njit(parallel=True, cache=True)
def conv2d_fused_backward(dout, x, weight, out, argmax, stride, padding, relu, pool_kernel, pool_stride, need_dx,
                          n_parts):
    """Gradients of ``conv2d_fused_forward``.

    dout:   (N, F, PH, PW), C-contiguous
    x:      (N, C, H, W)       (cached)
    weight: (F, C, KH, KW)     (cached)
    out:    (N, F, PH, PW)     (cached: where it is 0 after ReLU, no gradient passes)
    argmax: (N, F, PH, PW)     (cached window places; shape (0, ...) when the forward did not pool)
    need_dx: False skips dx
    n_parts: how many runs of images, each with its own partial sums of dweight and dbias (one per thread)
    returns dx (N, C, H, W) (shape (0, C, H, W) if not needed), dweight (F, C, KH, KW), dbias (F,)

    Per image, first the gradient of the conv output, dconv (F, OH*OW):
      pool:  forward out[f, i, j] = conv[f, i*S + a // K, j*S + a % K] with a = argmax[f, i, j]
             =>  dconv at that place += dout[f, i, j], zero elsewhere
      ReLU:  forward out = max(., 0)                    =>  only where out > 0
    then the convolution's backward exactly as in ``conv2d_backward``, except
    that BLAS adds each image's product straight into the thread's partial
    sums (``gemm`` with beta = 1) instead of through a temporary. (Putting
    several images side by side in one product paid while each product went
    through a temporary; with in-place accumulation one image at a time is
    faster on every layer of the study's models.)
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    _, _, PH, PW = dout.shape
    OH = _conv_rows_read_by_pool(OH, PH, pool_kernel, pool_stride)  # the part of the conv output the forward computed
    OW = _conv_rows_read_by_pool(OW, PW, pool_kernel, pool_stride)
    pooled = pool_kernel > 0
    rows = C * KH * KW
    positions = OH * OW
    weight_matrix = weight.reshape(F, rows)
    n_parts = max(1, min(N, n_parts))
    dweight_parts = np.zeros((n_parts, F, rows), dtype=x.dtype)
    dbias_parts = np.zeros((n_parts, F, 1), dtype=x.dtype)
    dx = np.zeros((N, C, H, W), dtype=x.dtype) if need_dx else np.zeros((0, C, H, W), dtype=x.dtype)
    ones = np.ones((positions, 1), dtype=x.dtype)  # dbias = dconv @ ones: a sum over positions, by BLAS
    # where a window's place a = kh*K + kw lies in the flattened plane, from the window's corner: kh*OW + kw
    # (a table, so that the loop below does no integer division)
    place_offsets = np.array([(a // max(1, pool_kernel)) * OW + a % max(1, pool_kernel)
                              for a in range(pool_kernel * pool_kernel)], dtype=np.int64)
    for part in prange(n_parts):  # each thread: its own run of images, its own buffers and partial sums
        cols = np.empty((rows, positions), dtype=x.dtype)
        dcols = np.empty((rows, positions), dtype=x.dtype)
        dconv = np.empty((F, positions), dtype=x.dtype)
        for n in range(part * N // n_parts, (part + 1) * N // n_parts):
            if pooled:
                dconv[:] = 0.0  # only each window's winner gets a gradient
                for f in range(F):
                    for i in range(PH):
                        for j in range(PW):
                            # a select, not an if: whether a unit is active is a coin flip on real data
                            g = dout[n, f, i, j] if (out[n, f, i, j] > 0 or not relu) else 0.0
                            corner = (i * OW + j) * pool_stride
                            dconv[f, corner + place_offsets[argmax[n, f, i, j]]] += g
            else:
                dout_n = dout[n].reshape(F, positions)
                out_n = out[n].reshape(F, positions)
                for f in range(F):
                    for p in range(positions):
                        dconv[f, p] = dout_n[f, p] if (out_n[f, p] > 0 or not relu) else 0.0
            im2col(x[n], KH, KW, stride, padding, OH, OW, cols)
            gemm(dconv, False, cols, True, 1.0, dweight_parts[part])  # += dconv @ cols.T
            gemm(dconv, False, ones, False, 1.0, dbias_parts[part])  # += dconv's row sums
            if need_dx:
                gemm(weight_matrix, True, dconv, False, 0.0, dcols)  # dcols = weight_matrix.T @ dconv
                col2im_add(dcols, KH, KW, stride, padding, OH, OW, dx[n])
    dweight = np.zeros((F, rows), dtype=x.dtype)
    dbias = np.zeros(F, dtype=x.dtype)
    for part in range(n_parts):  # a fixed order: the same sums bit for bit on every run
        dweight += dweight_parts[part]
        dbias += dbias_parts[part, :, 0]
    return dx, dweight.reshape(F, C, KH, KW), dbias
