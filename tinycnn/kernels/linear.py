"""Fully connected layer, PyTorch's layout: weight is (M, D), out = x @ weight.T + bias.

``F.linear`` runs ``linear_forward`` / ``linear_backward`` here.

- ``linear_forward_naive`` / ``linear_backward_naive``: triple loops.
- ``linear_forward`` / ``linear_backward``: the same products through BLAS (np.dot).
"""

import numpy as np
from numba import njit


@njit(cache=True)
def linear_forward_naive(x, weight, bias):
    """x: (N, D), weight: (M, D), bias: (M,) -> out: (N, M)."""
    N, D = x.shape
    M = weight.shape[0]
    out = np.empty((N, M), dtype=x.dtype)
    for n in range(N):
        for m in range(M):
            total = bias[m]
            for d in range(D):
                total += x[n, d] * weight[m, d]
            out[n, m] = total
    return out


@njit(cache=True)
def linear_backward_naive(dout, x, weight):
    """dout: (N, M); x: (N, D), weight: (M, D) cached -> dx (N, D), dweight (M, D), dbias (M,)."""
    N, D = x.shape
    M = weight.shape[0]
    dx = np.zeros((N, D), dtype=x.dtype)
    dweight = np.zeros((M, D), dtype=x.dtype)
    dbias = np.zeros(M, dtype=x.dtype)
    for n in range(N):
        for m in range(M):
            # forward: out[n, m] = bias[m] + sum_d x[n, d] * weight[m, d]
            g = dout[n, m]
            dbias[m] += g
            for d in range(D):
                dx[n, d] += g * weight[m, d]
                dweight[m, d] += g * x[n, d]
    return dx, dweight, dbias


@njit(cache=True)
def linear_forward(x, weight, bias):
    """x: (N, D), weight: (M, D), bias: (M,) -> out: (N, M)."""
    out = np.dot(x, weight.T)
    for n in range(out.shape[0]):
        out[n] += bias
    return out


@njit(cache=True)
def linear_backward(dout, x, weight):
    """dout: (N, M); x: (N, D), weight: (M, D) cached -> dx (N, D), dweight (M, D), dbias (M,).

    forward: out = x @ weight.T + bias
      => dx = dout @ weight,  dweight = dout.T @ x,  dbias = dout summed over the batch
    """
    dx = np.dot(dout, weight)
    dweight = np.dot(dout.T, x)
    dbias = np.zeros(weight.shape[0], dtype=x.dtype)
    for n in range(dout.shape[0]):
        dbias += dout[n]
    return dx, dweight, dbias
