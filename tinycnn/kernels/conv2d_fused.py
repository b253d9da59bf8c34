"""Convolution + bias, then optionally ReLU and max-pool, in one pass per image.

This is a speed variant of ``conv2d.py`` composed with ``relu.py`` and
``maxpool2d.py``; read those first. It computes

    out = max_pool2d(relu(conv2d(x, weight, bias)))     (relu and pool each optional)

without ever storing the full-size convolution output for the batch: each
thread convolves one image into a small buffer that stays in cache, then
applies ReLU and pooling to it straight away. For the study's models the
full-size output is 4 to 9 times larger than the pooled one, so this saves
most of the memory traffic of a training step.

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


def images_per_block(OH, OW):
    """Images whose weight gradients one matrix product computes at once, in the backward.

    dweight is a sum over images of dconv_n @ cols_n.T. With few output
    positions per image (8x8 in the baseline's last layer) each product is
    thin, and adding each into the (F, C*KH*KW) accumulator costs a pass over
    it per image; putting a few images side by side makes one wider product
    (about 256 columns) and one pass. Measured on that layer: about 290 -> 250 ms.
    """
    return max(1, 256 // (OH * OW))


@njit(cache=True, inline="always")
def _pool_plane_codes(plane, kernel, stride, out, code):
    """Max-pool one (OH, OW) plane into out (PH, PW); code (PH, PW) gets the winner's place in its window.

    Same rule as ``maxpool2d._pool_plane`` (first maximum in row-major window
    order wins; NaN wins), but it records the winner as kh*kernel + kw, a
    small number that fits in a byte, instead of a flat index. The loop body
    has no branches (a select, not an if), so the compiler can run it over
    several windows at once; inlined with a constant kernel this is about 3x
    faster than ``_pool_plane`` on the study's 2x2 pools.
    """
    PH, PW = out.shape
    for ph in range(PH):
        for pw in range(PW):
            best = plane[ph * stride, pw * stride]
            best_code = 0
            for kh in range(kernel):
                for kw in range(kernel):
                    value = plane[ph * stride + kh, pw * stride + kw]
                    take = (value > best) | (value != value)
                    best = value if take else best
                    best_code = kh * kernel + kw if take else best_code
            out[ph, pw] = best
            code[ph, pw] = best_code


@njit(parallel=True, cache=True)
def conv2d_fused_forward(x, weight, bias, stride, padding, relu, pool_kernel, pool_stride):
    """Convolution + bias, then ReLU if ``relu``, then max-pool if ``pool_kernel`` > 0.

    x:      (N, C, H, W), C-contiguous
    weight: (F, C, KH, KW), C-contiguous
    bias:   (F,)
    returns out (N, F, PH, PW) (cached for the backward; PH, PW = OH, OW without pooling)
            argmax (N, F, PH, PW) int8, the winner's place kh*pool_kernel + kw in its
            window (cached); shape (0, F, PH, PW) without pooling
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    pooled = pool_kernel > 0
    PH = (OH - pool_kernel) // pool_stride + 1 if pooled else OH
    PW = (OW - pool_kernel) // pool_stride + 1 if pooled else OW
    weight_matrix = weight.reshape(F, C * KH * KW)
    out = np.empty((N, F, PH, PW), dtype=x.dtype)
    argmax = np.empty((N if pooled else 0, F, PH, PW), dtype=np.int8)
    for n in prange(N):  # images are independent: each thread writes only out[n], argmax[n]
        cols = np.empty((C * KH * KW, OH * OW), dtype=x.dtype)
        im2col(x[n], KH, KW, stride, padding, OH, OW, cols)
        conv = np.dot(weight_matrix, cols)  # (F, OH*OW), stays in this thread's cache
        for f in range(F):
            conv[f] += bias[f]
            plane = conv[f].reshape(OH, OW)
            if pool_kernel == 2 and pool_stride == 2:  # the study's pools, as constants the compiler unrolls
                _pool_plane_codes(plane, 2, 2, out[n, f], argmax[n, f])
            elif pool_kernel == 3 and pool_stride == 3:
                _pool_plane_codes(plane, 3, 3, out[n, f], argmax[n, f])
            elif pooled:
                _pool_plane_codes(plane, pool_kernel, pool_stride, out[n, f], argmax[n, f])
            else:
                out[n, f] = plane
            if relu:
                plane = out[n, f]
                for i in range(PH):
                    for j in range(PW):
                        if plane[i, j] <= 0:  # written so that NaN passes through, as in relu.py
                            plane[i, j] = 0.0
    return out, argmax


@njit(parallel=True, cache=True)
def conv2d_fused_backward(dout, x, weight, out, argmax, stride, padding, relu, pool_kernel, pool_stride, need_dx,
                          n_parts, block):
    """Gradients of ``conv2d_fused_forward``.

    dout:   (N, F, PH, PW), C-contiguous
    x:      (N, C, H, W)       (cached)
    weight: (F, C, KH, KW)     (cached)
    out:    (N, F, PH, PW)     (cached: where it is 0 after ReLU, no gradient passes)
    argmax: (N, F, PH, PW)     (cached window places; shape (0, ...) when the forward did not pool)
    need_dx: False skips dx; n_parts: partial sums for dweight, one per thread
    block:  images per weight-gradient product (``images_per_block``)
    returns dx (N, C, H, W) (zeros if not needed), dweight (F, C, KH, KW), dbias (F,)

    Per block of images, first the gradient of the conv output, dconv (F, block*OH*OW):
      pool:  forward out[f, i, j] = conv[f, i*S + a // K, j*S + a % K] with a = argmax[f, i, j]
             =>  dconv at that place += dout[f, i, j]
      ReLU:  forward out = max(., 0)                    =>  only where out > 0
    then the convolution's backward exactly as in ``conv2d_backward``.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    _, _, PH, PW = dout.shape
    pooled = pool_kernel > 0
    rows = C * KH * KW
    weight_matrix = weight.reshape(F, rows)
    n_parts = max(1, min(-(-N // block), n_parts))
    dweight_parts = np.zeros((n_parts, F, rows), dtype=x.dtype)
    dbias_parts = np.zeros((n_parts, F), dtype=x.dtype)
    dx = np.zeros((N, C, H, W), dtype=x.dtype) if need_dx else np.zeros((0, C, H, W), dtype=x.dtype)
    positions = OH * OW
    n_blocks = -(-N // block)
    for part in prange(n_parts):  # each thread: its own blocks of images, its own partial sums
        cols = np.empty((rows, positions), dtype=x.dtype)  # one image's, written by im2col
        image_dcols = np.empty((rows, positions), dtype=x.dtype)
        for blk in range(part * n_blocks // n_parts, (part + 1) * n_blocks // n_parts):
            first = blk * block
            count = min(block, N - first)
            # the block's images side by side, so one product covers them all
            block_cols = cols if count == 1 else np.empty((rows, count * positions), dtype=x.dtype)
            dconv = np.zeros((F, count * positions), dtype=x.dtype)
            for b in range(count):
                n = first + b
                offset = b * positions
                for f in range(F):
                    for i in range(PH):
                        for j in range(PW):
                            # a select, not an if: whether a unit is active is a coin flip on real data
                            g = dout[n, f, i, j] if (out[n, f, i, j] > 0 or not relu) else 0.0
                            if pooled:
                                place = np.int64(argmax[n, f, i, j])  # widen the byte before arithmetic
                                oh = i * pool_stride + place // pool_kernel
                                ow = j * pool_stride + place % pool_kernel
                            else:
                                oh, ow = i, j
                            dconv[f, offset + oh * OW + ow] += g
                im2col(x[n], KH, KW, stride, padding, OH, OW, cols)
                if count > 1:
                    block_cols[:, offset:offset + positions] = cols
            dweight_parts[part] += np.dot(dconv, block_cols.T)
            for f in range(F):
                dbias_parts[part, f] += dconv[f].sum()
            if need_dx:
                dcols = np.dot(weight_matrix.T, dconv)  # (rows, count*OH*OW)
                for b in range(count):
                    image_dcols[:] = dcols[:, b * positions:(b + 1) * positions]  # contiguous: col2im runs faster
                    col2im_add(image_dcols, KH, KW, stride, padding, OH, OW, dx[first + b])
    dweight = np.zeros((F, rows), dtype=x.dtype)
    dbias = np.zeros(F, dtype=x.dtype)
    for part in range(n_parts):  # a fixed order: the same sums bit for bit on every run
        dweight += dweight_parts[part]
        dbias += dbias_parts[part]
    return dx, dweight.reshape(F, C, KH, KW), dbias
