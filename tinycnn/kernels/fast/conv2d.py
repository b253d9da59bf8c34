"""The engine's conv pair: conv + bias, then ReLU and max-pool when fusion joins them, in one pass.

An optimisation of the plain pair in ``conv2d_im2col.py`` (read that
first): the same im2col and one matrix product per image, with these
changes (``fast/__init__.py`` says why each pays):

- the images of the batch are split into one run per thread:
  ``conv2d_forward_part`` / ``conv2d_backward_part`` are one run's work, and
  ``threads.run_in_parts`` runs every part at once;
- each part reuses its buffers for every image, and BLAS writes its
  products into them, or adds into the part's sums (``blas.gemm``);
- with fusion (tinycnn/fusion.py), an ``F.relu`` and an ``F.max_pool2d``
  that follow the conv join this call (``relu=True``, ``pool_kernel`` > 0):
  the bias, ReLU and pool are applied while each image's product is read
  (``conv2d_pool.py``), so the full-size conv output is never stored, and
  only the rows and columns the pool reads are convolved;
- a first layer with a 2x2 pool runs its forward in the pool's window
  order (``conv2d_windows.py``).

ReLU and max-pool commute (ReLU is monotonic: the largest of the ReLU'd
values is the ReLU of the largest value, at the same place), so one kernel
serves both orders, conv -> ReLU -> pool and conv -> pool -> ReLU. Ties go
to the first maximum in row-major window order, as in ``maxpool2d.py``; a
pooled value of exactly 0 after ReLU passes no gradient, as in ``relu.py``.
The reference is ``conv2d.py``'s pair followed by ``relu.py``'s and
``maxpool2d.py``'s; tests/test_kernels.py holds this pair to it.
"""

import numpy as np

import numba

from tinycnn.kernels.conv2d import conv2d_output_size
from tinycnn.kernels.fast.blas import AS_IS, TRANSPOSED, gemm
from tinycnn.kernels.fast.buffers import empty, ones, output_array
from tinycnn.kernels.fast.conv2d_pool import bias_pool_relu_2x2, bias_pool_relu_across_filters, bias_pool_relu_any
from tinycnn.kernels.fast.conv2d_windows import conv2d_forward_windows, pools_in_window_order
from tinycnn.kernels.fast.threads import one_blas_thread, parts_for, run_in_parts
from tinycnn.kernels.im2col import col2im_add, im2col
from tinycnn.kernels.jit import njit


@njit
def _extent_read_by_pool(size, pooled_size, pool_kernel, pool_stride):
    """How many of the conv output's rows (or columns) the pool reads: RH of OH (or RW of OW).

    The pool's output size is floored, so rows past the last whole window
    are never read: (PH - 1) * stride + kernel of them are. The study's
    3x3 pool on an 11x11 conv output reads 9x9 of it, so a third of that
    convolution need never be computed, forward or backward. Without a pool
    every row is read.
    """
    return (pooled_size - 1) * pool_stride + pool_kernel if pool_kernel > 0 else size


@njit
def _image_is_its_own_cols(KH, KW, stride, padding, RH, RW, H, W):
    """A 1x1 kernel, stride 1, no padding, every position computed: im2col would copy the image as it is,
    (C, H, W) seen as (C, H*W), so the kernels use the image itself (and, backward, write dx straight)."""
    return KH == 1 and KW == 1 and stride == 1 and padding == 0 and RH == H and RW == W


def conv2d_forward(x, weight, bias, stride, padding, relu=False, pool_kernel=0, pool_stride=0, n_parts=None):
    """Convolution + bias, then ReLU if ``relu``, then max-pool if ``pool_kernel`` > 0.

    x:      (N, C, H, W)
    weight: (F, C, KH, KW)
    bias:   (F,)
    n_parts: how many runs of images to split the batch into (default: one per Numba thread)
    returns out (N, F, PH, PW) (PH, PW = OH, OW without a pool)
            winner_place (N, F, PH, PW) int8, each pool window's winning place kh*pool_kernel + kw in the
            window; shape (0, F, PH, PW) without a pool

    Images are independent: ``conv2d_forward_part`` computes a run of them,
    and ``threads.run_in_parts`` runs one run on each thread, each writing
    only its own images' out and winner_place. A layer with a 2x2 pool and at
    least as many filters as C*KH*KW (the study's first) runs
    ``conv2d_windows.py``'s forward instead: the same numbers and winners.
    """
    x, weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
    n_parts = numba.get_num_threads() if n_parts is None else n_parts
    F, C, KH, KW = weight.shape
    with one_blas_thread():  # each thread calls BLAS on its own small matrices (threads.py says why)
        if pools_in_window_order(F, C * KH * KW, pool_kernel, pool_stride):
            return conv2d_forward_windows(x, weight, bias, stride, padding, relu, n_parts)
        return conv2d_forward_planes(x, weight, bias, stride, padding, relu, pool_kernel, pool_stride, n_parts)


def conv2d_forward_planes(x, weight, bias, stride, padding, relu, pool_kernel, pool_stride, n_parts):
    """``conv2d_forward`` in the product's own order, plane by plane: any conv, any pool or none.

    x, weight: C-contiguous; the arguments and results are ``conv2d_forward``'s
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    OH, OW = conv2d_output_size(H, KH, stride, padding), conv2d_output_size(W, KW, stride, padding)
    pooled = pool_kernel > 0
    PH = (OH - pool_kernel) // pool_stride + 1 if pooled else OH
    PW = (OW - pool_kernel) // pool_stride + 1 if pooled else OW
    out = output_array((N, F, PH, PW), x.dtype)  # buffers.py says why not np.empty
    winner_place = output_array((N if pooled else 0, F, PH, PW), np.int8)
    run_in_parts(conv2d_forward_part, N, n_parts, x, weight, bias, stride, padding, relu, pool_kernel, pool_stride,
                 out, winner_place)
    return out, winner_place


@njit
def conv2d_forward_part(x, weight, bias, stride, padding, relu, pool_kernel, pool_stride, out, winner_place, part,
                        n_parts):
    """``conv2d_forward`` of part ``part`` of ``n_parts`` of the batch: images part * N // n_parts up to
    (part + 1) * N // n_parts, written into their place in ``out`` and ``winner_place``.

    x:      (N, C, H, W); weight: (F, C, KH, KW); bias: (F,)
    out:    (N, F, PH, PW), winner_place: (N, F, PH, PW) int8 (shape (0, F, PH, PW) without a pool), allocated by the
            caller; this part's images are written

    Buffers reused for every image of the run, small enough to stay in the
    core's cache: cols (C*KH*KW, RH*RW) for im2col (empty for a 1x1 conv,
    which uses the image itself), conv (F, RH*RW) for the product, and for
    the pool across filters conv_t (RH*RW, F), best (F,) and best_place (F,)
    int8. RH, RW is the part of the conv output that the pool reads (OH, OW
    without a pool).
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    _, _, PH, PW = out.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    pooled = pool_kernel > 0
    RH = _extent_read_by_pool(OH, PH, pool_kernel, pool_stride)
    RW = _extent_read_by_pool(OW, PW, pool_kernel, pool_stride)
    rows = C * KH * KW
    positions = RH * RW
    weight_matrix = weight.reshape(F, rows)
    image_is_cols = _image_is_its_own_cols(KH, KW, stride, padding, RH, RW, H, W)
    adds_bias = False
    for f in range(F):
        adds_bias = adds_bias or bias[f] != 0  # a conv without bias gets zeros: then nothing to add
    # Pools other than 2x2 go across filters (measured: faster from 8 filters on, while the product, up to 8,192
    # values, stays in the core's first cache as it is transposed), else plane by plane.
    across_filters = pooled and not (pool_kernel == 2 and pool_stride == 2) and F >= 8 and F * positions <= 8192
    cols = empty((0 if image_is_cols else rows, positions), x.dtype)  # buffers.py: from the cache, not compiled here
    conv = empty((F, positions), x.dtype)
    conv_t = empty((positions if across_filters else 0, F), x.dtype)
    best, best_place = empty(F, x.dtype), empty(F, np.int8)
    for n in range(part * N // n_parts, (part + 1) * N // n_parts):
        if image_is_cols:
            image_cols = x[n].reshape(rows, positions)
        else:
            im2col(x[n], KH=KH, KW=KW, stride=stride, padding=padding, OH=RH, OW=RW, cols=cols)
            image_cols = cols
        if pooled:
            gemm(weight_matrix, AS_IS, image_cols, AS_IS, 0.0, conv)  # conv = weight_matrix @ cols
            if pool_kernel == 2 and pool_stride == 2:
                for f in range(F):
                    bias_pool_relu_2x2(conv[f].reshape(RH, RW), bias[f], relu, out[n, f], winner_place[n, f])
            elif across_filters:
                bias_pool_relu_across_filters(conv, bias, pool_kernel, pool_stride, RW, relu, out[n], winner_place[n],
                                               conv_t, best, best_place)
            else:
                for f in range(F):
                    bias_pool_relu_any(conv[f].reshape(RH, RW), bias[f], pool_kernel, pool_stride, relu, out[n, f],
                                       winner_place[n, f])
        else:  # the product goes straight into the output; bias and ReLU, if any, in place
            out_n = out[n].reshape(F, positions)
            gemm(weight_matrix, AS_IS, image_cols, AS_IS, 0.0, out_n)
            if adds_bias or relu:
                for f in range(F):
                    for p in range(positions):
                        value = out_n[f, p] + bias[f]
                        if relu:
                            value = 0.0 if value <= 0 else value  # NaN passes through, as in relu.py
                        out_n[f, p] = value
    return True  # this part finished (threads.run_in_parts checks)


def conv2d_backward(dout, x, weight, out, winner_place, stride, padding, relu=False, pool_kernel=0, pool_stride=0,
                    need_dx=True, need_dbias=True, n_parts=None):
    """Gradients of ``conv2d_forward``.

    dout:   (N, F, PH, PW), C-contiguous
    x:      (N, C, H, W)       (cached)
    weight: (F, C, KH, KW)     (cached)
    out:    (N, F, PH, PW)     (cached: where it is 0 after ReLU, no gradient passes; read only if relu,
                               so without ReLU it may be any array, e.g. an empty one)
    winner_place: (N, F, PH, PW) int8 (cached window places; shape (0, ...) when the forward did not pool)
    need_dx: False skips dx (the first layer needs no gradient for the images)
    need_dbias: False skips dbias (a conv without bias, such as one before a BatchNorm)
    n_parts: how many runs of images, each with its own partial sums of dweight and dbias (one per thread)
    returns dx (N, C, H, W) (shape (0, C, H, W) if not needed), dweight (F, C, KH, KW), dbias (F,) (zeros if not
    needed)

    Per image, first the gradient of the (cropped) conv output, dconv (F, RH*RW):
      pool:  forward out[f, i, j] = conv[f, i*pool_stride + a // pool_kernel, j*pool_stride + a % pool_kernel]
             with a = winner_place[f, i, j]  =>  dconv there += dout[f, i, j]; zero elsewhere
      ReLU:  forward out = max(., 0)  =>  only where out > 0
    then the convolution's, from the forward's product conv = weight_matrix @ cols + bias:
      dweight_matrix += dconv @ cols.T     dbias += dconv summed over positions
      dcols = weight_matrix.T @ dconv, then col2im adds dcols onto dx[n]
    The first product is asked of BLAS transposed, dweight_matrix.T += cols @ dconv.T,
    into (rows, F) partial sums: the same sums, and OpenBLAS runs this
    orientation faster on these shapes (a small result whose long side,
    C*KH*KW, comes first).
    dx[n] depends on image n alone, so runs of images go to threads as in
    the forward (``conv2d_backward_part``). dweight and dbias sum over all
    images: each thread adds into its own partial sums (a shared ``+=`` from
    several threads would lose updates), with BLAS adding each image's
    product in place (``gemm`` with beta = 1), and the partial sums are
    added in a fixed order, so results repeat bit for bit for a given
    thread count.
    """
    dout, x, weight = np.ascontiguousarray(dout), np.ascontiguousarray(x), np.ascontiguousarray(weight)
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    n_parts = parts_for(N, numba.get_num_threads() if n_parts is None else n_parts)  # one partial sum per part
    dweight_parts = np.zeros((n_parts, C * KH * KW, F), x.dtype)  # transposed: see above
    dbias_parts = np.zeros((n_parts, F, 1), x.dtype)
    dx = output_array((N if need_dx else 0, C, H, W), x.dtype, zeroed=True)
    with one_blas_thread():
        run_in_parts(conv2d_backward_part, N, n_parts, dout, x, weight, out, winner_place, stride, padding, relu,
                     pool_kernel, pool_stride, need_dx, need_dbias, dx, dweight_parts, dbias_parts)
    dweight_t, dbias = np.zeros((C * KH * KW, F), x.dtype), np.zeros(F, x.dtype)
    for part in range(n_parts):  # a fixed order: the same sums bit for bit on every run
        dweight_t += dweight_parts[part]
        dbias += dbias_parts[part, :, 0]
    return dx, np.ascontiguousarray(dweight_t.T).reshape(F, C, KH, KW), dbias


@njit
def conv2d_backward_part(dout, x, weight, out, winner_place, stride, padding, relu, pool_kernel, pool_stride, need_dx,
                         need_dbias, dx, dweight_parts, dbias_parts, part, n_parts):
    """``conv2d_backward`` of part ``part`` of ``n_parts`` of the batch (images part * N // n_parts up to
    (part + 1) * N // n_parts): their dx written into ``dx``, their dweight and dbias added to this part's
    partial sums.

    dout:   (N, F, PH, PW); x: (N, C, H, W); weight: (F, C, KH, KW)
    out:    (N, F, PH, PW), read only if relu; winner_place: (N, F, PH, PW) int8 (shape (0, ...) without a pool)
    dx:            (N, C, H, W), zeros (shape (0, C, H, W) if not need_dx); this part's images are written
    dweight_parts: (n_parts, C*KH*KW, F), zeros: each part's sum of dweight over its images, transposed
    dbias_parts:   (n_parts, F, 1), zeros: each part's sum of dbias (if need_dbias)

    Buffers reused for every image of the run: dconv (F, RH*RW), the
    gradient of the cropped conv output; cols and dcols (C*KH*KW, RH*RW)
    (empty for a 1x1 conv); ones_column (RH*RW, 1); place_offsets
    (pool_kernel**2,). The steps are those of ``conv2d_backward``'s
    docstring.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    _, _, PH, PW = dout.shape
    RH = _extent_read_by_pool(OH, PH, pool_kernel, pool_stride)  # the part of the conv output the forward computed
    RW = _extent_read_by_pool(OW, PW, pool_kernel, pool_stride)
    pooled = pool_kernel > 0
    rows = C * KH * KW
    positions = RH * RW
    weight_matrix = weight.reshape(F, rows)
    ones_column = ones((positions, 1), x.dtype)  # dbias = dconv @ ones: a sum over positions, by BLAS
    # where window place a = kh*pool_kernel + kw lies in the flattened (RH, RW) plane, from the window's corner:
    # kh*RW + kw (a table, so that the loop below does no integer division)
    place_offsets = empty(pool_kernel * pool_kernel, np.int64)
    for a in range(pool_kernel * pool_kernel):
        place_offsets[a] = (a // pool_kernel) * RW + a % pool_kernel
    image_is_cols = _image_is_its_own_cols(KH, KW, stride, padding, RH, RW, H, W)
    cols = empty((0 if image_is_cols else rows, positions), x.dtype)  # buffers.py: from the cache, not compiled here
    dcols = empty((0 if image_is_cols else rows, positions), x.dtype)
    dconv = empty((F, positions), x.dtype)
    dweight_sum, dbias_sum = dweight_parts[part], dbias_parts[part]
    for n in range(part * N // n_parts, (part + 1) * N // n_parts):
        image_dconv = dconv
        if pooled:
            dconv[:] = 0.0  # only each window's winner_place gets a gradient
            for f in range(F):
                for i in range(PH):
                    for j in range(PW):
                        # a select, not an if: whether a unit is active is a coin flip on real data
                        g = dout[n, f, i, j] if (not relu or out[n, f, i, j] > 0) else 0.0
                        corner = (i * RW + j) * pool_stride
                        dconv[f, corner + place_offsets[winner_place[n, f, i, j]]] += g
        elif relu:
            dout_n, out_n = dout[n].reshape(F, positions), out[n].reshape(F, positions)
            for f in range(F):
                for p in range(positions):
                    dconv[f, p] = dout_n[f, p] if out_n[f, p] > 0 else 0.0
        else:  # the gradient of the conv output is dout itself
            image_dconv = dout[n].reshape(F, positions)
        if image_is_cols:
            image_cols = x[n].reshape(rows, positions)
        else:
            im2col(x[n], KH=KH, KW=KW, stride=stride, padding=padding, OH=RH, OW=RW, cols=cols)
            image_cols = cols
        gemm(image_cols, AS_IS, image_dconv, TRANSPOSED, 1.0, dweight_sum)  # += cols @ dconv.T
        if need_dbias:
            gemm(image_dconv, AS_IS, ones_column, AS_IS, 1.0, dbias_sum)  # += dconv's row sums
        if need_dx and image_is_cols:  # col2im would copy dcols as it is: write them straight into dx[n]
            gemm(weight_matrix, TRANSPOSED, image_dconv, AS_IS, 0.0, dx[n].reshape(rows, positions))
        elif need_dx:
            gemm(weight_matrix, TRANSPOSED, image_dconv, AS_IS, 0.0, dcols)  # dcols = weight_matrix.T @ dconv
            col2im_add(dcols, KH=KH, KW=KW, stride=stride, padding=padding, OH=RH, OW=RW, dimage=dx[n])
    return True  # this part finished (threads.run_in_parts checks)
