"""Batch normalisation over the channels of an (N, C, H, W) batch, as PyTorch's ``batch_norm``.

``F.batch_norm`` (and ``nn.BatchNorm2d``) runs the kernels here.

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

docs/kernels.md derives the training formula step by step.

- ``batchnorm2d_*_naive``: the formulas as loops, one channel at a time,
  with the statistics in two passes over the data.
- ``batchnorm2d_statistics``, ``batchnorm2d_forward``, ``batchnorm2d_backward``:
  channels spread over threads (a channel's sums and outputs are its own,
  so writes are disjoint).
"""

import numpy as np
from numba import njit, prange

# --------------------------------------------------------------------------------------
# naive reference


@njit(cache=True)
def batchnorm2d_forward_naive(x, weight, bias, mean, var, training, eps):
    """x: (N, C, H, W); weight, bias: (C,); mean, var: (C,) the running estimates (read only in evaluation).

    returns out (N, C, H, W), batch_mean (C,), batch_var (C,) (the batch's; equal to mean, var in evaluation)
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
    return out, batch_mean, batch_var


@njit(cache=True)
def batchnorm2d_backward_naive(dout, x, weight, mean, var, training, eps):
    """dout, x: (N, C, H, W); weight, mean, var: (C,) (the statistics the forward used) -> dx, dweight, dbias."""
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


@njit(parallel=True, cache=True)
def batchnorm2d_statistics(x):
    """x: (N, C, H, W) -> mean (C,), var (C,): the batch's, var divided by N*H*W. Channels over threads.

    Two passes (the mean, then the squares of the differences from it),
    which keeps the variance accurate where sum(x**2)/count - mean**2 would
    cancel; sums in float64 whatever x's dtype.
    """
    N, C, H, W = x.shape
    count = N * H * W
    mean = np.empty(C, dtype=x.dtype)
    var = np.empty(C, dtype=x.dtype)
    for c in prange(C):
        total = 0.0
        for n in range(N):
            plane = x[n, c]
            for h in range(H):
                for w in range(W):
                    total += plane[h, w]
        m = total / count
        squares = 0.0
        for n in range(N):
            plane = x[n, c]
            for h in range(H):
                for w in range(W):
                    difference = plane[h, w] - m
                    squares += difference * difference
        mean[c] = m
        var[c] = squares / count
    return mean, var


@njit(parallel=True, cache=True)
def batchnorm2d_forward(x, weight, bias, mean, var, eps):
    """out = weight * (x - mean) / sqrt(var + eps) + bias, per channel, with the statistics given.

    x: (N, C, H, W); weight, bias, mean, var: (C,) -> out (N, C, H, W). Channels over threads.
    The scale and shift are folded first, out = x * scale + shift: one
    multiply-add per value.
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
                    target[h, w] = source[h, w] * scale + shift
    return out


@njit(parallel=True, cache=True)
def batchnorm2d_backward(dout, x, weight, mean, var, training, eps):
    """Gradients of the forward with the statistics given: dx (N, C, H, W), dweight (C,), dbias (C,).

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
