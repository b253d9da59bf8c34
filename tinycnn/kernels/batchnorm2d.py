"""Batch normalisation over the channels of an (N, C, H, W) batch, as PyTorch's ``batch_norm``.

``F.batch_norm`` (and ``nn.BatchNorm2d``) runs the kernels here; with fusion
on, a ReLU that follows it runs inside the same pass (``relu=True``).

Each channel c is normalised with a mean and a variance, then scaled and
shifted by learned weights:

    out[n, c, h, w] = weight[c] * (x[n, c, h, w] - mean[c]) * inv_std[c] + bias[c]
    inv_std[c] = 1 / sqrt(var[c] + eps)

In training, mean and var are the batch's own, over the count = N*H*W
values of the channel (var divided by the count, not count - 1); in
evaluation they are the running estimates the layer kept. The backward
differs between the two, because in training mean and var depend on x too:

    evaluation:  dx = dout * weight * inv_std
    training:    xhat = (x - mean) * inv_std
                 dx = weight * inv_std / count * (count * dout - sum(dout) - xhat * sum(dout * xhat))
    both:        dweight = sum(dout * xhat),  dbias = sum(dout)     (sums over n, h, w of the channel)

docs/kernels.md derives the training formula step by step. With ``relu``,
the forward takes out = max(., 0) after the shift, in the same pass, and
the backward lets dout through only where out > 0, inside its two passes.

Each channel's sums run over N*H*W values. Added into one running total,
every addition waits for the one before it (a few clock cycles each), and
the processor's vector units, which add 4 or 8 float64 numbers at once, stand
idle. So the fast kernels keep one total per position (H*W of them), add
each image's plane into them position by position, which the compiler
turns into vector additions, and sum the H*W totals at the end. The sums
come out in another order than with one total, so float32 results differ
from the naive kernels' in the last bits.

- ``batchnorm2d_*_naive``: the formulas as loops, one channel at a time,
  with the statistics in two passes over the data.
- ``batchnorm2d_statistics``, ``batchnorm2d_forward``, ``batchnorm2d_backward``:
  channels spread over threads (a channel's sums and outputs are its own,
  so writes are disjoint).
"""

import numpy as np
from numba import prange

from tinycnn.kernels.jit import njit
from tinycnn.kernels.relu import relu_backward_naive, relu_forward_naive
from tinycnn.kernels.jit import prange_only

# --------------------------------------------------------------------------------------
# naive reference


@njit
def batchnorm2d_statistics_naive(x):
    """x: (N, C, H, W) -> mean (C,), var (C,): each channel's over its N*H*W values, var divided by N*H*W.

    Two passes, as the definition reads: the mean, then the squared distances from it.
    """
    N, C, H, W = x.shape
    count = N * H * W
    mean = np.empty(C, dtype=x.dtype)
    var = np.empty(C, dtype=x.dtype)
    for c in range(C):
        total = 0.0
        for n in range(N):
            for h in range(H):
                for w in range(W):
                    total += x[n, c, h, w]
        mean[c] = total / count
        squares = 0.0
        for n in range(N):
            for h in range(H):
                for w in range(W):
                    squares += (x[n, c, h, w] - mean[c]) ** 2
        var[c] = squares / count
    return mean, var


@njit
def batchnorm2d_forward_naive(x, weight, bias, mean, var, eps, relu):
    """x: (N, C, H, W); weight, bias, mean, var: (C,) -> out (N, C, H, W), ReLU'd if relu.

    mean, var: the batch's (``batchnorm2d_statistics_naive``) in training, the running estimates in evaluation
    """
    N, C, H, W = x.shape
    out = np.empty_like(x)
    for c in range(C):
        for n in range(N):
            for h in range(H):
                for w in range(W):
                    out[n, c, h, w] = weight[c] * (x[n, c, h, w] - mean[c]) / np.sqrt(var[c] + eps) + bias[c]
    if relu:
        out = relu_forward_naive(out.ravel()).reshape(out.shape)
    return out


@njit
def batchnorm2d_backward_naive(dout, x, out, weight, mean, var, training, eps, relu):
    """dout, x: (N, C, H, W); out: (N, C, H, W), the forward's (read only if relu); weight, mean, var: (C,), the
    statistics the forward used -> dx (N, C, H, W), dweight (C,), dbias (C,).

    training: mean and var were the batch's own, so they depend on x too (the formula above).
    """
    if relu:  # the ReLU's backward first: only where the output is positive
        dout = relu_backward_naive(dout.ravel(), out.ravel()).reshape(dout.shape)
    N, C, H, W = x.shape
    count = N * H * W
    dx = np.empty_like(x)
    dweight = np.zeros(C, dtype=x.dtype)
    dbias = np.zeros(C, dtype=x.dtype)
    for c in range(C):
        inv_std = 1.0 / np.sqrt(var[c] + eps)
        for n in range(N):
            for h in range(H):
                for w in range(W):
                    dbias[c] += dout[n, c, h, w]
                    dweight[c] += dout[n, c, h, w] * (x[n, c, h, w] - mean[c]) * inv_std
        for n in range(N):
            for h in range(H):
                for w in range(W):
                    if training:
                        xhat = (x[n, c, h, w] - mean[c]) * inv_std
                        dx[n, c, h, w] = weight[c] * inv_std / count * (
                            count * dout[n, c, h, w] - dbias[c] - xhat * dweight[c])
                    else:
                        dx[n, c, h, w] = dout[n, c, h, w] * weight[c] * inv_std
    return dx, dweight, dbias


# --------------------------------------------------------------------------------------
# the kernels the engine runs


@njit(parallel=prange_only())
def batchnorm2d_statistics(x):
    """x: (N, C, H, W) -> mean (C,), var (C,): the batch's, var divided by N*H*W. Channels over threads.

    One pass: the sum and the sum of squares, in float64 whatever x's
    dtype, then var = sum of squares / count - mean**2. In float64 the
    subtraction loses about mean**2 / var * 1e-16 of the variance: nothing
    for a network's activations (the naive twin uses two passes, and the
    tests hold the two together); rounding can make that slightly negative,
    so it is clamped at 0.

    The sums are kept per position (H*W of them) while the images are added
    in, and only then summed: see the module's docstring for why. They are
    allocated before the parallel loop, a row per channel: an allocation
    that fails inside that loop is lost (``threads.py``), outside it raises
    MemoryError.
    """
    N, C, H, W = x.shape
    count = N * H * W
    positions = H * W
    planes = x.reshape(N, C, positions)
    mean = np.empty(C, dtype=x.dtype)
    var = np.empty(C, dtype=x.dtype)
    sums = np.zeros((C, 2, positions))  # float64, each channel's: allocated here, outside the parallel loop (above)
    for c in prange(C):
        totals, squares = sums[c, 0], sums[c, 1]
        for n in range(N):
            for p in range(positions):
                value = np.float64(planes[n, c, p])
                totals[p] += value
                squares[p] += value * value
        total, square = 0.0, 0.0
        for p in range(positions):
            total += totals[p]
            square += squares[p]
        m = total / count
        mean[c] = m
        var[c] = max(square / count - m * m, 0.0)
    return mean, var


@njit(parallel=prange_only())
def batchnorm2d_forward(x, weight, bias, mean, var, eps, relu):
    """out = weight * (x - mean) / sqrt(var + eps) + bias, per channel, with the statistics given; then ReLU if relu.

    x: (N, C, H, W); weight, bias, mean, var: (C,) -> out (N, C, H, W) (cached for the backward when relu).
    Channels over threads. The scale and shift are folded first,
    out = x * scale + shift: one multiply-add per value.
    """
    N, C, H, W = x.shape
    out = np.empty_like(x)
    for c in prange(C):
        scale = weight[c] / np.sqrt(var[c] + eps)
        shift = bias[c] - mean[c] * scale
        for n in range(N):
            source, target = x[n, c], out[n, c]
            for h in range(H):
                for w in range(W):
                    value = source[h, w] * scale + shift
                    if relu:
                        value = 0.0 if value <= 0 else value  # written so that NaN passes through, as in relu.py
                    target[h, w] = value
    return out


@njit(parallel=prange_only())
def batchnorm2d_backward(dout, x, out, weight, mean, var, training, eps, relu):
    """Gradients of the forward with the statistics given: dx (N, C, H, W), dweight (C,), dbias (C,).

    dout, x: (N, C, H, W); weight, mean, var: (C,) as the forward used them.
    out: (N, C, H, W), the forward's output, read only if relu (then dout
    passes only where out > 0, the joined ReLU's backward); without relu it
    may be any array, e.g. an empty one.
    training: the statistics were the batch's (so they depend on x); else
    they were constants. Channels over threads: one pass for the two sums
    (kept per position and allocated as in ``batchnorm2d_statistics``), one for dx.
    """
    N, C, H, W = x.shape
    count = N * H * W
    positions = H * W
    douts, xs, dx = dout.reshape(N, C, positions), x.reshape(N, C, positions), np.empty_like(x)
    outs = out.reshape(N, C, positions) if relu else douts  # without relu, never read
    dxs = dx.reshape(N, C, positions)
    dweight = np.empty(C, dtype=x.dtype)
    dbias = np.empty(C, dtype=x.dtype)
    sums = np.zeros((C, 2, positions))  # float64, per position; allocated outside the parallel loop, as above
    for c in prange(C):
        inv_std = 1.0 / np.sqrt(var[c] + eps)
        m = mean[c]
        dout_totals, dout_x_totals = sums[c, 0], sums[c, 1]  # summed after the last image
        for n in range(N):
            for p in range(positions):
                # a select, not a branch: whether the ReLU passed is a coin flip on real data
                g = np.float64(douts[n, c, p]) if (not relu or outs[n, c, p] > 0) else 0.0
                dout_totals[p] += g
                dout_x_totals[p] += g * (xs[n, c, p] - m)
        sum_dout, sum_dout_xhat = 0.0, 0.0
        for p in range(positions):
            sum_dout += dout_totals[p]
            sum_dout_xhat += dout_x_totals[p]
        sum_dout_xhat *= inv_std
        dweight[c], dbias[c] = sum_dout_xhat, sum_dout
        scale = weight[c] * inv_std
        # training: dx = scale * (dout - sum_dout / count - xhat * sum_dout_xhat / count), xhat = (x - m) * inv_std
        mean_dout = sum_dout / count if training else 0.0
        slope = sum_dout_xhat * inv_std / count if training else 0.0  # times (x - m) gives xhat * sum_dout_xhat / count
        for n in range(N):
            for p in range(positions):
                g = douts[n, c, p] if (not relu or outs[n, c, p] > 0) else 0.0
                dxs[n, c, p] = scale * (g - mean_dout - (xs[n, c, p] - m) * slope)
    return dx, dweight, dbias
