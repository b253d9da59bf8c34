"""Log-softmax over the last axis of a (N, K) array, computed stably.

``F.log_softmax`` (and so ``F.cross_entropy``) runs ``log_softmax_forward`` /
``log_softmax_backward`` here, on the input moved so that ``dim`` is last.

    out[n, k] = x[n, k] - max_j x[n, j] - log(sum_j exp(x[n, j] - max_j x[n, j]))

Subtracting the row maximum first keeps exp() from overflowing; it cancels
mathematically. A row holding NaN gives NaN, as in PyTorch.

Backward: out_k = x_k - log sum_j exp(x_j), so d out_k / d x_i = [k == i] - softmax_i
with softmax_i = exp(out_i), and by the chain rule

    dx_i = sum_k dout_k * ([k == i] - softmax_i) = dout_i - exp(out_i) * sum_k dout_k

- ``log_softmax_forward_naive`` / ``log_softmax_backward_naive``: the formulas
  as plain loops, written out in full.
- ``log_softmax_forward`` / ``log_softmax_backward``: one row at a time
  (``_log_softmax_row``, ``_log_softmax_backward_row``), on one thread: a
  batch is N rows of 10 classes, too little work for threads to pay, and a
  parallel kernel costs Numba more to compile.
"""

import numpy as np

from tinycnn.kernels.jit import njit

# --------------------------------------------------------------------------------------
# naive reference


@njit
def log_softmax_forward_naive(x):
    """x: (N, K) -> out: (N, K) (cached for the backward)."""
    N, K = x.shape
    out = np.empty_like(x)
    for n in range(N):
        largest = x[n, 0]
        for k in range(K):
            largest = max(largest, x[n, k])
        total = 0.0
        for k in range(K):
            total += np.exp(x[n, k] - largest)
        for k in range(K):
            out[n, k] = x[n, k] - largest - np.log(total)
    return out


@njit
def log_softmax_backward_naive(dout, out):
    """dout: (N, K), out: (N, K) cached -> dx: (N, K); dx_i = dout_i - exp(out_i) * sum_k dout_k."""
    N, K = dout.shape
    dx = np.empty_like(dout)
    for n in range(N):
        for i in range(K):
            # d out_k / d x_i = [k == i] - softmax_i, summed against dout_k
            total = 0.0
            for k in range(K):
                total += dout[n, k] * ((1.0 if k == i else 0.0) - np.exp(out[n, i]))
            dx[n, i] = total
    return dx


# --------------------------------------------------------------------------------------
# the kernels the engine runs


@njit
def _log_softmax_row(row, out_row):
    largest = row[0]
    for k in range(row.size):
        if row[k] > largest:
            largest = row[k]
    total = 0.0
    for k in range(row.size):
        total += np.exp(row[k] - largest)
    log_total = np.log(total)
    for k in range(row.size):
        out_row[k] = row[k] - largest - log_total


@njit
def _log_softmax_backward_row(dout_row, out_row, dx_row):
    total = 0.0  # sum_k dout_k, once per row
    for k in range(dout_row.size):
        total += dout_row[k]
    for i in range(dout_row.size):
        dx_row[i] = dout_row[i] - np.exp(out_row[i]) * total


@njit
def log_softmax_forward(x):
    """x: (N, K) -> out: (N, K) (cached for the backward)."""
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        _log_softmax_row(x[n], out[n])
    return out


@njit
def log_softmax_backward(dout, out):
    """dout: (N, K), out: (N, K) cached -> dx: (N, K)."""
    dx = np.empty_like(dout)
    for n in range(dout.shape[0]):
        _log_softmax_backward_row(dout[n], out[n], dx[n])
    return dx
