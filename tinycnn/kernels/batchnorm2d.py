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
the forward takes out = max(., 0) after the shift, in the same pass; the
backward of that ReLU is ``relu.py``'s kernel, run first by the Function
(masking inside this kernel's two per-channel passes measured slower than
the flat ReLU pass: 0.72 ms against 0.37 + 0.14 on the tiny model's
largest BatchNorm).

- ``batchnorm2d_*_naive``: the formulas as loops, one channel at a time,
  with the statistics in two passes over the data.
- ``batchnorm2d_statistics``, ``batchnorm2d_forward``, ``batchnorm2d_backward``:
  channels spread over threads (a channel's sums and outputs are its own,
  so writes are disjoint).
"""

import numpy as np
from numba import njit, prange

from tinycnn.kernels.relu import relu_backward_naive, relu_forward_naive
from tinycnn.kernels.threads import prange_only

# --------------------------------------------------------------------------------------
# naive reference


@njit(cache=True)
def batchnorm2d_forward_naive(x, weight, bias, mean, var, training, eps, relu):
    """x: (N, C, H, W); weight, bias: (C,); mean, var: (C,) the running estimates (read only in evaluation).

    returns out (N, C, H, W) (ReLU'd if relu), batch_mean (C,), batch_var (C,) (the batch's; mean, var in evaluation)
    """
    N, C, H, W = x.shape
    count = N * H * W
    out = np.empty_like(x)
    batch_mean = np.empty(C, dtype=x.dtype)
    batch_var = np.empty(C, dtype=x.dtype)
    for c in range(C):
        if training:
            total = 0.0
            for n in range(N):
                for h in range(H):
                    for w in range(W):
                        total += x[n, c, h, w]
            m = total / count
            squares = 0.0
            for n in range(N):
                for h in range(H):
                    for w in range(W):
                        squares += (x[n, c, h, w] - m) ** 2
            v = squares / count
        else:
            m, v = mean[c], var[c]
        batch_mean[c], batch_var[c] = m, v
        for n in range(N):
            for h in range(H):
                for w in range(W):
                    out[n, c, h, w] = weight[c] * (x[n, c, h, w] - m) / np.sqrt(v + eps) + bias[c]
    if relu:
        out = relu_forward_naive(out.ravel()).reshape(out.shape)
    return out, batch_mean, batch_var


@njit(cache=True)
def batchnorm2d_backward_naive(dout, x, weight, bias, mean, var, training, eps, relu):
    """dout, x: (N, C, H, W); weight, bias, mean, var: (C,) (the statistics the forward used) -> dx, dweight, dbias.

    With relu, the forward's output is computed again to find where the ReLU passed gradients.
    """
    if relu:
        out, _, _ = batchnorm2d_forward_naive(x, weight, bias, mean, var, False, eps, True)
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


@njit(parallel=prange_only(), cache=True)
def batchnorm2d_statistics(x):
    """x: (N, C, H, W) -> mean (C,), var (C,): the batch's, var divided by N*H*W. Channels over threads.

    One pass: the sum and the sum of squares, in float64 whatever x's
    dtype, then var = sum of squares / count - mean**2. In float64 the
    subtraction loses about mean**2 / var * 1e-16 of the variance: nothing
    for a network's activations (the naive twin uses two passes, and the
    tests hold the two together).
    """
    N, C, H, W = x.shape
    count = N * H * W
    mean = np.empty(C, dtype=x.dtype)
    var = np.empty(C, dtype=x.dtype)
    for c in prange(C):
        total, squares = 0.0, 0.0
        for n in range(N):
            plane = x[n, c]
            for h in range(H):
                for w in range(W):
                    value = np.float64(plane[h, w])
                    total += value
                    squares += value * value
        m = total / count
        mean[c] = m
        var[c] = max(squares / count - m * m, 0.0)
    return mean, var


@njit(parallel=prange_only(), cache=True)
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


@njit(parallel=prange_only(), cache=True)
def batchnorm2d_backward(dout, x, weight, mean, var, training, eps):
    """Gradients of the forward (before any ReLU) with the statistics given: dx (N, C, H, W), dweight (C,), dbias (C,).

    dout, x: (N, C, H, W); weight, mean, var: (C,) as the forward used them.
    training: the statistics were the batch's (so they depend on x); else
    they were constants. Channels over threads: one pass for the two sums,
    one for dx.
    """
    N, C, H, W = x.shape
    count = N * H * W
    dx = np.empty_like(x)
    dweight = np.empty(C, dtype=x.dtype)
    dbias = np.empty(C, dtype=x.dtype)
    for c in prange(C):
        inv_std = 1.0 / np.sqrt(var[c] + eps)
        m = mean[c]
        sum_dout, sum_dout_xhat = 0.0, 0.0
        for n in range(N):
            g, v = dout[n, c], x[n, c]
            for h in range(H):
                for w in range(W):
                    sum_dout += g[h, w]
                    sum_dout_xhat += g[h, w] * (v[h, w] - m)
        sum_dout_xhat *= inv_std
        dweight[c], dbias[c] = sum_dout_xhat, sum_dout
        scale = weight[c] * inv_std
        # training: dx = scale * (dout - sum_dout / count - xhat * sum_dout_xhat / count), xhat = (x - m) * inv_std
        mean_dout = sum_dout / count if training else 0.0
        slope = sum_dout_xhat * inv_std / count if training else 0.0  # times (x - m) gives xhat * sum_dout_xhat / count
        for n in range(N):
            g, v, target = dout[n, c], x[n, c], dx[n, c]
            for h in range(H):
                for w in range(W):
                    target[h, w] = scale * (g[h, w] - mean_dout - (v[h, w] - m) * slope)
    return dx, dweight, dbias
