"""Dropout: zero each value (or each whole channel) with probability p, scale the rest by 1 / (1 - p).

``F.dropout`` and ``F.dropout2d`` (``nn.Dropout``, ``nn.Dropout2d``) run the
kernels here in training; in evaluation they are the identity and run
nothing.

    out[i] = x[i] / (1 - p)  if unit i is kept,  else 0
    dx[i]  = dout[i] / (1 - p)  if kept,  else 0

The scaling keeps each value's expectation: E[out] = (1 - p) * x / (1 - p) = x.

Which units are kept comes from a random number per unit, ``uniform(key, unit)``:
a hash (splitmix64) of a 64-bit ``key`` and the unit's index, turned into a
float in [0, 1); the unit is kept when it is >= p. The key is one draw from
tinycnn's seeded generator per call, so the same seed gives the same masks,
the threads can draw their units in any order, and the backward recomputes
the mask from the key instead of storing it. For ``dropout2d`` a unit is a
whole (n, c) plane of ``group`` = H*W values, which share one number.

- ``dropout_forward_naive`` / ``dropout_backward_naive``: the mask first, as
  an array, then the products.
- ``dropout_forward`` / ``dropout_backward``: mask and product in one pass,
  values over threads (the backward is the forward applied to dout).
"""

import numpy as np
from numba import config, prange

from tinycnn.kernels.jit import njit
from tinycnn.kernels.jit import prange_only

_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


@njit
def uniform(key, unit):
    """A number in [0, 1) for (key, unit): splitmix64 of key + (unit + 1) * golden ratio, top 53 bits.

    key: a uint64-valued int; unit: an int >= 0. The arithmetic wraps modulo 2**64.
    """
    z = np.uint64(key) + (np.uint64(unit) + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)  # / 2**53


if config.DISABLE_JIT:  # plain Python: NumPy's uint64 scalars warn when they wrap, Python's ints are masked instead
    def uniform(key, unit):  # noqa: F811  (the same hash, for NUMBA_DISABLE_JIT=1)
        wrap = (1 << 64) - 1
        z = (int(key) + (int(unit) + 1) * int(_GOLDEN)) & wrap
        z = ((z ^ (z >> 30)) * int(_MIX1)) & wrap
        z = ((z ^ (z >> 27)) * int(_MIX2)) & wrap
        z = z ^ (z >> 31)
        return (z >> 11) / 9007199254740992.0


# --------------------------------------------------------------------------------------
# naive reference


@njit
def dropout_mask_naive(size, key, p, group):
    """(size,) bool: value i is kept when uniform(key, i // group) >= p."""
    keep = np.empty(size, dtype=np.bool_)
    for i in range(size):
        keep[i] = uniform(key, i // group) >= p
    return keep


@njit
def dropout_forward_naive(x, key, p, group):
    """x: (L,) -> out (L,): x / (1 - p) where kept, 0 elsewhere (0 everywhere when p == 1)."""
    keep = dropout_mask_naive(x.size, key, p, group)
    out = np.zeros_like(x)
    for i in range(x.size):
        if keep[i] and p < 1:
            out[i] = x[i] / (1 - p)
    return out


@njit
def dropout_backward_naive(dout, key, p, group):
    """dout: (L,) -> dx (L,): forward out = x / (1 - p) where kept => dx = dout / (1 - p) there, 0 elsewhere."""
    return dropout_forward_naive(dout, key, p, group)  # the same linear map, applied to dout


# --------------------------------------------------------------------------------------
# the kernels the engine runs


@njit(parallel=prange_only())
def dropout_forward(x, key, p, group):
    """x: (L,) -> out (L,). Each value's unit draws its own number: values over threads, in any order."""
    out = np.empty_like(x)
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    for i in prange(x.size):
        out[i] = x[i] * scale if uniform(key, i // group) >= p else 0.0
    return out


@njit
def dropout_backward(dout, key, p, group):
    """dout: (L,) -> dx (L,). The forward is linear in x, out = x * mask / (1 - p), so dx is the same map
    applied to dout, with the mask recomputed from the key (the forward stores none)."""
    return dropout_forward(dout, key, p, group)
