"""2-D convolution (cross-correlation, as in PyTorch) with stride and zero padding.

    out[n, f, oh, ow] = bias[f] + sum over c, kh, kw of
        weight[f, c, kh, kw] * x_padded[n, c, oh*stride + kh, ow*stride + kw]

where ``x_padded`` is ``x`` with ``padding`` zeros on every side, and
``OH = (H + 2*padding - KH) // stride + 1`` (likewise OW).

Two implementations:

- ``conv2d_forward_naive`` / ``conv2d_backward_naive``: the definition above
  as seven nested loops. Read these first.
- ``conv2d_forward`` / ``conv2d_backward``: the same via im2col. For one image,
  every receptive field is copied into a column of a (C*KH*KW, OH*OW) matrix,
  and the convolution becomes one matrix product with the weight seen as a
  (F, C*KH*KW) matrix, which BLAS does fast. Images are spread over threads
  with ``prange``; each thread keeps its im2col buffer small (one image), so
  it stays in cache.
"""

import numpy as np
from numba import njit, prange


def conv2d_output_size(size, kernel, stride, padding):
    """Output length along one axis: floor((size + 2*padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


# --------------------------------------------------------------------------------------
# naive reference


@njit(cache=True)
def conv2d_forward_naive(x, weight, bias, stride, padding):
    """Convolution straight from the definition.

    x:      (N, C, H, W)
    weight: (F, C, KH, KW)
    bias:   (F,)
    returns out: (N, F, OH, OW)
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    out = np.empty((N, F, OH, OW), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for oh in range(OH):
                for ow in range(OW):
                    total = bias[f]
                    for c in range(C):
                        for kh in range(KH):
                            for kw in range(KW):
                                ih = oh * stride + kh - padding
                                iw = ow * stride + kw - padding
                                if 0 <= ih < H and 0 <= iw < W:  # outside is zero padding
                                    total += weight[f, c, kh, kw] * x[n, c, ih, iw]
                    out[n, f, oh, ow] = total
    return out


@njit(cache=True)
def conv2d_backward_naive(dout, x, weight, stride, padding):
    """Gradients of the convolution, derived term by term from the forward.

    dout:   (N, F, OH, OW)
    x:      (N, C, H, W)     (cached from the forward)
    weight: (F, C, KH, KW)   (cached from the forward)
    returns dx (N, C, H, W), dweight (F, C, KH, KW), dbias (F,)
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    _, _, OH, OW = dout.shape
    dx = np.zeros_like(x)
    dweight = np.zeros_like(weight)
    dbias = np.zeros(F, dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for oh in range(OH):
                for ow in range(OW):
                    g = dout[n, f, oh, ow]
                    # forward: out[n, f, oh, ow] = bias[f] + sum weight[f, c, kh, kw] * x[n, c, ih, iw]
                    dbias[f] += g
                    for c in range(C):
                        for kh in range(KH):
                            for kw in range(KW):
                                ih = oh * stride + kh - padding
                                iw = ow * stride + kw - padding
                                if 0 <= ih < H and 0 <= iw < W:
                                    dweight[f, c, kh, kw] += g * x[n, c, ih, iw]
                                    dx[n, c, ih, iw] += g * weight[f, c, kh, kw]
    return dx, dweight, dbias


# --------------------------------------------------------------------------------------
# im2col / col2im for one image


@njit(cache=True)
def im2col(image, KH, KW, stride, padding, OH, OW, cols):
    """Copy every receptive field of one image into a column of ``cols``.

    image: (C, H, W)
    cols:  (C*KH*KW, OH*OW), written in place; row (c*KH + kh)*KW + kw holds
           the pixel at offset (kh, kw) of channel c for every output position,
           zero where that falls in the padding.
    """
    C, H, W = image.shape
    if stride == 1 and padding == 0:  # the common case: every field row is a contiguous run of pixels
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    row = (c * KH + kh) * KW + kw
                    for oh in range(OH):
                        pixels = image[c, oh + kh]
                        for ow in range(OW):  # a plain copy, which the compiler turns into vector loads
                            cols[row, oh * OW + ow] = pixels[kw + ow]
        return
    for c in range(C):
        for kh in range(KH):
            for kw in range(KW):
                row = (c * KH + kh) * KW + kw
                for oh in range(OH):
                    ih = oh * stride + kh - padding
                    for ow in range(OW):
                        iw = ow * stride + kw - padding
                        if 0 <= ih < H and 0 <= iw < W:
                            cols[row, oh * OW + ow] = image[c, ih, iw]
                        else:
                            cols[row, oh * OW + ow] = 0.0


@njit(cache=True)
def col2im_add(dcols, KH, KW, stride, padding, OH, OW, dimage):
    """The adjoint of ``im2col``: add each column entry back onto its pixel.

    dcols:  (C*KH*KW, OH*OW)
    dimage: (C, H, W), added to in place (a pixel in several receptive fields
            receives the sum of their gradients); padding entries are dropped.
    """
    C, H, W = dimage.shape
    if stride == 1 and padding == 0:  # the common case: contiguous runs, as in im2col
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    row = (c * KH + kh) * KW + kw
                    for oh in range(OH):
                        pixels = dimage[c, oh + kh]
                        for ow in range(OW):
                            pixels[kw + ow] += dcols[row, oh * OW + ow]
        return
    for c in range(C):
        for kh in range(KH):
            for kw in range(KW):
                row = (c * KH + kh) * KW + kw
                for oh in range(OH):
                    ih = oh * stride + kh - padding
                    if ih < 0 or ih >= H:
                        continue
                    for ow in range(OW):
                        iw = ow * stride + kw - padding
                        if 0 <= iw < W:
                            dimage[c, ih, iw] += dcols[row, oh * OW + ow]


# --------------------------------------------------------------------------------------
# the kernels the engine runs


@njit(parallel=True, cache=True)
def conv2d_forward(x, weight, bias, stride, padding):
    """Convolution as one matrix product per image, images in parallel.

    x:      (N, C, H, W), C-contiguous
    weight: (F, C, KH, KW), C-contiguous
    bias:   (F,)
    returns out: (N, F, OH, OW)
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    weight_matrix = weight.reshape(F, C * KH * KW)
    out = np.empty((N, F, OH, OW), dtype=x.dtype)
    for n in prange(N):  # images are independent: each thread writes only its out[n]
        cols = np.empty((C * KH * KW, OH * OW), dtype=x.dtype)
        im2col(x[n], KH, KW, stride, padding, OH, OW, cols)
        product = np.dot(weight_matrix, cols)  # (F, OH*OW)
        out_n = out[n].reshape(F, OH * OW)
        for f in range(F):
            for j in range(OH * OW):
                out_n[f, j] = product[f, j] + bias[f]
    return out


@njit(parallel=True, cache=True)
def conv2d_backward(dout, x, weight, stride, padding, need_dx, n_parts):
    """Gradients of ``conv2d_forward``.

    dout:   (N, F, OH, OW), C-contiguous
    x:      (N, C, H, W)     (cached from the forward)
    weight: (F, C, KH, KW)   (cached from the forward)
    need_dx: False skips dx (the first layer needs no gradient for the images)
    n_parts: how many partial sums of dweight to keep, one per thread; the
             caller passes ``numba.get_num_threads()`` (reading it in here
             would stop Numba from caching the compiled kernel)
    returns dx (N, C, H, W) (zeros if not needed), dweight (F, C, KH, KW), dbias (F,)

    forward, per image:  out_n = weight_matrix @ cols_n + bias
      => dweight_matrix = sum_n dout_n @ cols_n.T
         dbias          = sum_n of dout_n over positions
         dcols_n        = weight_matrix.T @ dout_n, then col2im onto dx[n]
    dx[n] depends on image n alone, so images run in parallel. dweight and
    dbias sum over all images: each thread adds into its own partial sum (a
    shared ``+=`` from several threads would lose updates), and the partial
    sums are added in a fixed order, so results repeat bit for bit for a
    given thread count.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    _, _, OH, OW = dout.shape
    rows = C * KH * KW
    weight_matrix = weight.reshape(F, rows)
    n_parts = max(1, min(N, n_parts))
    dweight_parts = np.zeros((n_parts, F, rows), dtype=x.dtype)
    dbias_parts = np.zeros((n_parts, F), dtype=x.dtype)
    dx = np.zeros((N, C, H, W), dtype=x.dtype) if need_dx else np.zeros((0, C, H, W), dtype=x.dtype)
    for part in prange(n_parts):
        cols = np.empty((rows, OH * OW), dtype=x.dtype)
        for n in range(part * N // n_parts, (part + 1) * N // n_parts):
            dout_n = dout[n].reshape(F, OH * OW)
            im2col(x[n], KH, KW, stride, padding, OH, OW, cols)
            dweight_parts[part] += np.dot(dout_n, cols.T)
            for f in range(F):
                dbias_parts[part, f] += dout_n[f].sum()
            if need_dx:
                dcols = np.dot(weight_matrix.T, dout_n)  # (rows, OH*OW)
                col2im_add(dcols, KH, KW, stride, padding, OH, OW, dx[n])
    dweight = np.zeros((F, rows), dtype=x.dtype)
    dbias = np.zeros(F, dtype=x.dtype)
    for part in range(n_parts):
        dweight += dweight_parts[part]
        dbias += dbias_parts[part]
    return dx, dweight.reshape(F, C, KH, KW), dbias
