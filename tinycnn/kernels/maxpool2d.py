"""2-D max pooling with floor output sizes, as PyTorch's ``max_pool2d`` (no padding).

``F.max_pool2d`` runs ``maxpool2d_forward`` / ``maxpool2d_backward`` here
when its input is not a convolution it can join (with fusion on, a pool
right after ``F.conv2d`` runs inside the fast conv kernel, ``fast/conv2d.py``
or ``fast/conv2d_windows.py``, instead). With the reference kernels
(tinycnn/backend.py) every max-pool runs the naive pair here.

    out[n, c, oh, ow] = max over kh < KH, kw < KW of x[n, c, oh*SH + kh, ow*SW + kw]
    OH = (H - KH) // SH + 1,  OW = (W - KW) // SW + 1   (floor: a partial window is dropped)

Ties: the first maximum in row-major window order wins, and only it receives
the gradient; the max is not differentiable at a tie, this picks one
subgradient. The forward caches, for each output, the flat index ih*W + iw of
the input pixel that won, so the backward only routes ``dout`` back there.

- ``maxpool2d_forward_naive`` / ``maxpool2d_backward_naive``: the definition
  as plain loops, written out in full.
- ``maxpool2d_forward`` / ``maxpool2d_backward``: the (n, c) planes spread
  over threads, one plane at a time (``_pool_plane``); every plane is written
  by one thread only.
"""

import numpy as np
from numba import prange

from tinycnn.kernels.jit import njit
from tinycnn.kernels.jit import prange_only


def maxpool2d_output_size(size, kernel, stride):
    """Output length along one axis, rounded down: floor((size - kernel) / stride) + 1."""
    return (size - kernel) // stride + 1


# --------------------------------------------------------------------------------------
# naive reference


@njit
def maxpool2d_forward_naive(x, KH, KW, SH, SW):
    """x: (N, C, H, W) -> out (N, C, OH, OW), winner_index (N, C, OH, OW) int64 (cached).

    winner_index holds the flat index ih*W + iw, within its (H, W) plane, of the
    pixel that won each window.
    """
    N, C, H, W = x.shape
    OH = (H - KH) // SH + 1
    OW = (W - KW) // SW + 1
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    winner_index = np.empty((N, C, OH, OW), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    top, left = oh * SH, ow * SW
                    best, best_index = x[n, c, top, left], top * W + left
                    for ih in range(top, top + KH):
                        for iw in range(left, left + KW):
                            # strictly greater: the first maximum wins a tie; NaN wins, as in PyTorch
                            if x[n, c, ih, iw] > best or np.isnan(x[n, c, ih, iw]):
                                best, best_index = x[n, c, ih, iw], ih * W + iw
                    out[n, c, oh, ow] = best
                    winner_index[n, c, oh, ow] = best_index
    return out, winner_index


@njit
def maxpool2d_backward_naive(dout, winner_index, H, W):
    """Route each output gradient to the input pixel that won its window.

    dout:   (N, C, OH, OW)
    winner_index: (N, C, OH, OW) flat index ih*W + iw within the plane (from the forward)
    returns dx: (N, C, H, W); windows that overlap (stride < kernel) add up
    """
    N, C, OH, OW = dout.shape
    dx = np.zeros((N, C, H * W), dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    # forward: out[n, c, oh, ow] = x[n, c].flat[winner_index[n, c, oh, ow]]
                    dx[n, c, winner_index[n, c, oh, ow]] += dout[n, c, oh, ow]
    return dx.reshape(N, C, H, W)


# --------------------------------------------------------------------------------------
# the kernels the engine runs


@njit(inline="always")
def _pool_plane(plane, KH, KW, SH, SW, out, winner_index):
    """Max-pool one (H, W) plane into out (OH, OW), recording winners in winner_index (OH, OW).

    The naive kernel's comparisons in the same order, written as selects
    rather than ifs (whether a value wins is a coin flip on real data, and a
    mispredicted branch costs more than the comparison), and inlined into its
    caller, so that a 2x2 window, passed as constants, is unrolled.
    """
    H, W = plane.shape
    OH, OW = out.shape
    for oh in range(OH):
        for ow in range(OW):
            best_index = (oh * SH) * W + ow * SW
            best = plane[oh * SH, ow * SW]
            for kh in range(KH):
                for kw in range(KW):
                    ih = oh * SH + kh
                    iw = ow * SW + kw
                    value = plane[ih, iw]
                    # strictly greater: the first maximum wins a tie; NaN wins (value != value), as in PyTorch
                    take = (value > best) | (value != value)
                    best = value if take else best
                    best_index = ih * W + iw if take else best_index
            out[oh, ow] = best
            winner_index[oh, ow] = best_index


@njit(parallel=prange_only())
def maxpool2d_forward(x, KH, KW, SH, SW):
    """x: (N, C, H, W) -> out (N, C, OH, OW), winner_index (N, C, OH, OW) int64 (cached)."""
    N, C, H, W = x.shape
    OH = (H - KH) // SH + 1
    OW = (W - KW) // SW + 1
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    winner_index = np.empty((N, C, OH, OW), dtype=np.int64)
    square_2x2 = KH == 2 and KW == 2 and SH == 2 and SW == 2  # the common pool: its window as constants
    for plane in prange(N * C):  # each thread owns whole planes
        n, c = plane // C, plane % C
        if square_2x2:
            _pool_plane(x[n, c], 2, 2, 2, 2, out[n, c], winner_index[n, c])
        else:
            _pool_plane(x[n, c], KH, KW, SH, SW, out[n, c], winner_index[n, c])
    return out, winner_index


@njit(parallel=prange_only())
def maxpool2d_backward(dout, winner_index, H, W):
    """dout, winner_index: (N, C, OH, OW) -> dx: (N, C, H, W). Parallel over planes (disjoint writes)."""
    N, C, OH, OW = dout.shape
    dx = np.zeros((N, C, H * W), dtype=dout.dtype)
    for plane in prange(N * C):
        n, c = plane // C, plane % C
        for oh in range(OH):
            for ow in range(OW):
                dx[n, c, winner_index[n, c, oh, ow]] += dout[n, c, oh, ow]
    return dx.reshape(N, C, H, W)
