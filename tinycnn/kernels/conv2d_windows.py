"""The conv + bias + max-pool (+ ReLU) forward for a first layer: lowered in the pool's window order.

``conv2d.py``'s forward pools each filter's conv output plane by plane,
along its pooled rows. On the study's first layer that loop is short (13
windows a row), too short for the compiler's vector loop, and pooling took
8.3 of the 11 microseconds each image cost. Here im2col lays its columns
out window place by window place (``im2col.py``'s ``im2col_windows``), so
that each filter's product is pool_kernel**2 contiguous runs of PH*PW
values, and the pool compares whole runs: 0.9 microseconds.

The copy in that order is slower (its reads are pool_stride apart), and its
cost grows with the rows of im2col (C*KH*KW) where the pool's grows with
the filters F. So ``Conv2dFunction`` runs this kernel for a 2x2 pool of
stride 2 when F >= C*KH*KW (a first layer on grayscale images, as in the
study: 16 filters, 9 rows), and ``conv2d.py``'s otherwise. On the minimal model's conv1 (1 -> 16 channels,
2x2 pool, batch 1024) the forward took 3.4 ms here against 6.2 there; on
its conv2 (144 rows, 32 filters) the copy would make it three times slower.

Each conv value is the same dot product in both kernels, and the pool's
comparisons come out the same in the same order, so both compute the same
numbers and the same winners, and ``conv2d.py``'s backward serves both.
One caveat: the product's columns come in another order, which BLAS may
round differently; on the study's first layer the results are the same
bits (a test checks it), elsewhere they may differ by float rounding, and
winners then only at near-ties. A
kernel of its own, in a file of its own, because written into
``conv2d_forward`` it made that kernel take 2 s longer to compile, which
every edit to conv2d.py would pay. Its naive twin is
``conv2d.conv2d_forward_naive``.
"""

import numpy as np

from tinycnn.kernels.blas import AS_IS, gemm
from tinycnn.kernels.buffers import empty, output_array
from tinycnn.kernels.conv2d import conv2d_output_size
from tinycnn.kernels.im2col import im2col_windows
from tinycnn.kernels.jit import njit
from tinycnn.kernels.threads import run_in_parts


def pools_in_window_order(filters, rows, pool_kernel, pool_stride):
    """Whether a conv with ``filters`` filters and C*KH*KW = ``rows``, followed by a max-pool, runs here: a 2x2
    pool of stride 2 (the study's first layer's, the one a kernel of its own pays for) and filters >= rows."""
    return pool_kernel == 2 and pool_stride == 2 and filters >= rows


@njit
def _bias_pool_relu_windows(windows, bias, places, relu, out, winner):
    """The pool of ``conv2d_pool.bias_pool_relu``, for a conv output in ``im2col_windows``'s order: filter by filter.

    Q = PH*PW, the windows of one filter's plane.
    windows: (places * Q,), one filter's row of the product: the value of
             window q at its place a = i*pool_kernel + j (row i, column j of
             the window) is windows[a*Q + q]
    out:     (Q,) pooled values (then ReLU'd if relu); winner: (Q,) int8 places
    Place by place, each a contiguous run compared with the best so far:
    each comparison comes out as in that one, in the same order (so the
    same winners, ties and NaN included), and the inner loop runs over all
    Q windows of the plane, which the compiler does 8 at a time.
    """
    Q = out.size
    for q in range(Q):
        out[q] = windows[q] + bias
        winner[q] = 0
    for a in range(1, places):
        run = windows[a * Q:(a + 1) * Q]
        for q in range(Q):
            value = run[q] + bias
            take = (value > out[q]) | (value != value)
            out[q] = value if take else out[q]
            winner[q] = a if take else winner[q]
    if relu:
        for q in range(Q):
            out[q] = 0.0 if out[q] <= 0 else out[q]  # written so that NaN passes through, as in relu.py


def conv2d_forward_windows(x, weight, bias, stride, padding, relu, n_parts):
    """``conv2d.conv2d_forward`` with pool_kernel = pool_stride = 2: conv + bias, 2x2 max-pool of stride 2, then
    ReLU if ``relu`` (ReLU and max-pool commute), lowered in the pool's window order.

    x:      (N, C, H, W), C-contiguous; weight: (F, C, KH, KW), C-contiguous; bias: (F,)
    n_parts: how many runs of images to split the batch into, one per thread
    returns out (N, F, PH, PW), winner (N, F, PH, PW) int8: as ``conv2d_forward`` returns them with
            pool_kernel = pool_stride = 2

    Each thread runs ``conv2d_forward_windows_part`` on its run of images,
    as in ``conv2d.conv2d_forward``.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    PH = (conv2d_output_size(H, KH, stride, padding) - 2) // 2 + 1  # the 2x2 pool's output, floored
    PW = (conv2d_output_size(W, KW, stride, padding) - 2) // 2 + 1
    out = output_array((N, F, PH, PW), x.dtype)  # buffers.py says why not np.empty
    winner = output_array((N, F, PH, PW), np.int8)
    run_in_parts(conv2d_forward_windows_part, N, n_parts, x, weight, bias, stride, padding, relu, out, winner)
    return out, winner


@njit
def conv2d_forward_windows_part(x, weight, bias, stride, padding, relu, out, winner, part, n_parts):
    """``conv2d_forward_windows`` of part ``part`` of ``n_parts`` of the batch (images part * N // n_parts up to
    (part + 1) * N // n_parts), written into their place in ``out`` and ``winner``.

    x:      (N, C, H, W); weight: (F, C, KH, KW); bias: (F,)
    out:    (N, F, PH, PW), winner: (N, F, PH, PW) int8, allocated by the caller; this part's images are written

    Two buffers are reused for every image of the run: cols (C*KH*KW,
    4*PH*PW) for im2col_windows and conv (F, 4*PH*PW) for the product. The
    pool's size is a constant here, so that Numba compiles
    ``im2col_windows`` for it: its copy, whose reads are two apart, then ran
    in 2.4 microseconds instead of 5.4 on the minimal model's first layer.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    _, _, PH, PW = out.shape
    rows = C * KH * KW
    weight_matrix = weight.reshape(F, rows)
    cols = empty((rows, 4 * PH * PW), x.dtype)  # buffers.py: from the cache, not compiled here
    conv = empty((F, 4 * PH * PW), x.dtype)
    for n in range(part * N // n_parts, (part + 1) * N // n_parts):
        im2col_windows(x[n], KH=KH, KW=KW, stride=stride, padding=padding, pool_kernel=2, pool_stride=2, PH=PH,
                       PW=PW, cols=cols)
        gemm(weight_matrix, AS_IS, cols, AS_IS, 0.0, conv)  # conv = weight_matrix @ cols
        pooled, winners = out[n].reshape(F, PH * PW), winner[n].reshape(F, PH * PW)
        for f in range(F):
            _bias_pool_relu_windows(conv[f], bias[f], 4, relu, pooled[f], winners[f])
    return True  # this part finished (threads.run_in_parts checks)
