"""Fully connected layer, PyTorch's layout: weight is (M, D), out = x @ weight.T + bias.

``F.linear`` runs ``linear_forward`` / ``linear_backward`` here.

- ``linear_forward_naive`` / ``linear_backward_naive``: triple loops.
- ``linear_forward`` / ``linear_backward``: the same products through BLAS
  (``gemm``, as the conv kernels call it: one compiled function for every
  product, where np.dot compiles a variant for each transposed operand),
  with BLAS held at one thread while they run (``fast/threads.py`` says why).
"""

import numpy as np

from tinycnn.kernels.fast.blas import AS_IS, TRANSPOSED, gemm
from tinycnn.kernels.fast.threads import one_blas_thread
from tinycnn.kernels.jit import njit


@njit
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


@njit
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


def linear_forward(x, weight, bias):
    """x: (N, D), weight: (M, D), bias: (M,) -> out: (N, M)."""
    x, weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
    with one_blas_thread():
        return linear_forward_blas(x, weight, bias)


def linear_backward(dout, x, weight):
    """dout: (N, M); x: (N, D), weight: (M, D) cached -> dx (N, D), dweight (M, D), dbias (M,)."""
    dout, x, weight = np.ascontiguousarray(dout), np.ascontiguousarray(x), np.ascontiguousarray(weight)
    with one_blas_thread():
        return linear_backward_blas(dout, x, weight)


@njit
def linear_forward_blas(x, weight, bias):
    """``linear_forward``'s kernel: x (N, D), weight (M, D), bias (M,), C-contiguous -> out (N, M)."""
    out = np.empty((x.shape[0], weight.shape[0]), dtype=x.dtype)
    gemm(x, AS_IS, weight, TRANSPOSED, 0.0, out)  # out = x @ weight.T
    for n in range(out.shape[0]):
        for m in range(out.shape[1]):  # a loop, not out[n] += bias: same sums, and Numba compiles it in a
            out[n, m] += bias[m]       # fraction of the time (no shape checks with their error messages)
    return out


@njit
def linear_backward_blas(dout, x, weight):
    """``linear_backward``'s kernel: dout (N, M); x (N, D), weight (M, D), C-contiguous -> dx, dweight, dbias.

    forward: out = x @ weight.T + bias
      => dx = dout @ weight,  dweight = dout.T @ x,  dbias = dout summed over the batch
    """
    dx = np.empty_like(x)
    gemm(dout, AS_IS, weight, AS_IS, 0.0, dx)  # dx = dout @ weight
    dweight = np.empty_like(weight)
    gemm(dout, TRANSPOSED, x, AS_IS, 0.0, dweight)  # dweight = dout.T @ x
    dbias = np.zeros(weight.shape[0], dtype=x.dtype)
    for n in range(dout.shape[0]):
        for m in range(dout.shape[1]):
            dbias[m] += dout[n, m]
    return dx, dweight, dbias
