"""The conv + bias + 2x2 max-pool (+ ReLU) forward of a first layer, with im2col's columns in the pool's order.

``conv2d.py``'s forward pools each filter's conv output plane by plane,
along its pooled rows. On a first layer such as the study's (1 channel,
16 filters, 13 windows a row) those rows are too short for the compiler's
vector loop, and pooling cost more than the convolution. Here
``im2col_windows`` lays the columns out window place by window place, so
that each filter's product is four contiguous runs of PH*PW values, one
per place of the 2x2 window, and the pool compares whole runs.

That copy is slower (its reads are two apart) and its cost grows with the
rows of im2col, C*KH*KW, where the pool's grows with the filters F; so
``conv2d.py``'s ``conv2d_forward`` runs this one only for a 2x2 pool of
stride 2 with F >= C*KH*KW (``pools_in_window_order``).

Each conv value is the same dot product in both kernels, and the pool's
comparisons come out the same in the same order, so both give the same
numbers and winners (BLAS may round a column differently when the columns
come in another order: on the study's first layer the bits are the same, a
test checks it), and ``conv2d.py``'s backward serves both. A file of its
own because compiled into ``conv2d_forward_part`` it made every edit to
that file slower to recompile. Its reference is ``kernels/conv2d.py``'s
``conv2d_forward_naive``, then the naive ReLU and max-pool.
"""

import numpy as np

from tinycnn.kernels.fast.blas import AS_IS, gemm
from tinycnn.kernels.fast.buffers import empty, output_array
from tinycnn.kernels.conv2d import conv2d_output_size
from tinycnn.kernels.fast.im2col_windows import im2col_windows
from tinycnn.kernels.jit import njit
from tinycnn.kernels.fast.threads import run_in_parts


def pools_in_window_order(filters, rows, pool_kernel, pool_stride):
    """Whether a conv with ``filters`` filters and C*KH*KW = ``rows``, followed by a max-pool, runs here: a 2x2
    pool of stride 2 (the study's first layer's, the one a kernel of its own pays for) and filters >= rows."""
    return pool_kernel == 2 and pool_stride == 2 and filters >= rows


@njit
def _bias_pool_relu_windows(product_row, bias, window_size, relu, out, winner_place):
    """The pool of ``conv2d_pool.bias_pool_relu``, for a conv output in ``im2col_windows``'s order: one filter.

    product_row:  (window_size * n_windows,), one filter's row of the product, n_windows = PH*PW: the value of
                  window q at its place a = i*pool_kernel + j (row i, column j of the window) is
                  product_row[a*n_windows + q]; window_size = pool_kernel**2 places
    out:          (n_windows,) pooled values (then ReLU'd if relu)
    winner_place: (n_windows,) int8, the place that won each window

    Place by place, each a contiguous run compared with the best so far:
    each comparison comes out as in ``bias_pool_relu``, in the same order
    (so the same winners, ties and NaN included), and the inner loop runs
    over all the plane's windows, which the compiler does several at a time.
    """
    n_windows = out.size
    for q in range(n_windows):
        out[q] = product_row[q] + bias
        winner_place[q] = 0
    for a in range(1, window_size):
        run = product_row[a * n_windows:(a + 1) * n_windows]
        for q in range(n_windows):
            value = run[q] + bias
            take = (value > out[q]) | (value != value)
            out[q] = value if take else out[q]
            winner_place[q] = a if take else winner_place[q]
    if relu:
        for q in range(n_windows):
            out[q] = 0.0 if out[q] <= 0 else out[q]  # written so that NaN passes through, as in relu.py


def conv2d_forward_windows(x, weight, bias, stride, padding, relu, n_parts):
    """``conv2d.conv2d_forward`` with pool_kernel = pool_stride = 2: conv + bias, 2x2 max-pool of stride 2, then
    ReLU if ``relu`` (ReLU and max-pool commute), lowered in the pool's window order.

    x:      (N, C, H, W), C-contiguous; weight: (F, C, KH, KW), C-contiguous; bias: (F,)
    n_parts: how many runs of images to split the batch into, one per thread
    returns out (N, F, PH, PW), winner_place (N, F, PH, PW) int8: as ``conv2d_forward`` returns them with
            pool_kernel = pool_stride = 2

    Each thread runs ``conv2d_forward_windows_part`` on its run of images,
    as in ``conv2d.conv2d_forward``.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    PH = (conv2d_output_size(H, KH, stride, padding) - 2) // 2 + 1  # the 2x2 pool's output, floored
    PW = (conv2d_output_size(W, KW, stride, padding) - 2) // 2 + 1
    out = output_array((N, F, PH, PW), x.dtype)  # buffers.py says why not np.empty
    winner_place = output_array((N, F, PH, PW), np.int8)
    run_in_parts(conv2d_forward_windows_part, N, n_parts, x, weight, bias, stride, padding, relu, out, winner_place)
    return out, winner_place


@njit
def conv2d_forward_windows_part(x, weight, bias, stride, padding, relu, out, winner_place, part, n_parts):
    """``conv2d_forward_windows`` of part ``part`` of ``n_parts`` of the batch (images part * N // n_parts up to
    (part + 1) * N // n_parts), written into their place in ``out`` and ``winner_place``.

    x:      (N, C, H, W); weight: (F, C, KH, KW); bias: (F,)
    out:    (N, F, PH, PW), winner_place: (N, F, PH, PW) int8, allocated by the caller; this part's images are written

    Two buffers are reused for every image of the run: cols (C*KH*KW,
    4*PH*PW) for im2col_windows and conv (F, 4*PH*PW) for the product. The
    pool's size is a constant here, so that Numba compiles
    ``im2col_windows`` for it, and its copy, whose reads are two apart, runs
    faster than with the size a variable.
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
        pooled, winners = out[n].reshape(F, PH * PW), winner_place[n].reshape(F, PH * PW)
        for f in range(F):
            _bias_pool_relu_windows(conv[f], bias[f], 4, relu, pooled[f], winners[f])
    return True  # this part finished (threads.run_in_parts checks)
