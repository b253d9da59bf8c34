"""ReLU, element-wise on a flattened array: out = max(x, 0).

``F.relu`` runs ``relu_forward`` / ``relu_backward`` here when its input is
not a convolution it can join (with fusion on, a ReLU right after
``F.conv2d`` runs inside the fast conv kernel, ``fast/conv2d.py``, instead;
in the study's models, the ReLU after the first linear layer runs here).
With the reference kernels (tinycnn/backend.py) every ReLU runs the naive
pair here.

At x = 0 the derivative is taken as 0 (PyTorch's choice of subgradient).
NaN passes through the forward, as in PyTorch, so a diverged network shows.
The backward reads the cached output: out > 0 exactly where x > 0.

- ``relu_forward_naive`` / ``relu_backward_naive``: one loop each.
- ``relu_forward`` / ``relu_backward``: the same loop over threads.
"""

import numpy as np
from numba import prange

from tinycnn.kernels.jit import njit
from tinycnn.kernels.jit import prange_only


@njit
def relu_forward_naive(x):
    """x: (L,) -> out: (L,)."""
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = 0.0 if x[i] <= 0 else x[i]  # written so that NaN passes through, as in PyTorch
    return out


@njit
def relu_backward_naive(dout, out):
    """dout: (L,), out: (L,) cached -> dx: (L,). dx = dout where out > 0, else 0."""
    dx = np.empty_like(dout)
    for i in range(dout.size):
        dx[i] = dout[i] if out[i] > 0 else 0.0
    return dx


@njit(parallel=prange_only())
def relu_forward(x):
    """x: (L,) -> out: (L,)."""
    out = np.empty_like(x)
    for i in prange(x.size):
        out[i] = 0.0 if x[i] <= 0 else x[i]  # written so that NaN passes through, as in PyTorch
    return out


@njit(parallel=prange_only())
def relu_backward(dout, out):
    """dout: (L,), out: (L,) cached -> dx: (L,)."""
    dx = np.empty_like(dout)
    for i in prange(dout.size):
        dx[i] = dout[i] if out[i] > 0 else 0.0
    return dx
