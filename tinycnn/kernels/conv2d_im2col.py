"""2-D convolution as one matrix product per image: im2col, then GEMM. The plain form of the engine's conv.

``conv2d.py``'s reference pair computes every output as its own sum. Here
``im2col`` (``im2col.py``) copies one image's receptive fields into the
columns of ``cols``, so that the whole convolution of the image is one
product, which BLAS computes near the processor's peak:

    out[n] = weight_matrix @ cols + bias        (F, OH*OW) = (F, C*KH*KW) @ (C*KH*KW, OH*OW)

with ``weight_matrix`` the weight seen as (F, C*KH*KW). The backward is the
matrix-product rule of docs/kernels.md section 1, once per image:

    dweight_matrix += dout[n] @ cols.T     dbias += the row sums of dout[n]
    dcols = weight_matrix.T @ dout[n],     then col2im adds dcols back onto dx[n]

The same numbers as the reference pair, up to the order of the sums (the
tests hold them together). The engine's fast pair, ``fast/conv2d.py``, is
this pair made faster: read it after this one; ``fast/__init__.py`` lists
what it changes.
"""

import numpy as np

from tinycnn.kernels.im2col import col2im_add, im2col
from tinycnn.kernels.jit import njit


@njit
def conv2d_forward_im2col(x, weight, bias, stride, padding):
    """x: (N, C, H, W), weight: (F, C, KH, KW), bias: (F,) -> out: (N, F, OH, OW).

    One buffer, cols (C*KH*KW, OH*OW), is filled anew for every image.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    weight_matrix = np.ascontiguousarray(weight).reshape(F, C * KH * KW)
    cols = np.empty((C * KH * KW, OH * OW), dtype=x.dtype)
    out = np.empty((N, F, OH, OW), dtype=x.dtype)
    for n in range(N):
        im2col(x[n], KH, KW, stride, padding, OH, OW, cols)
        product = weight_matrix @ cols  # (F, OH*OW)
        for f in range(F):
            for p in range(OH * OW):
                out[n, f, p // OW, p % OW] = product[f, p] + bias[f]
    return out


@njit
def conv2d_backward_im2col(dout, x, weight, stride, padding):
    """dout: (N, F, OH, OW); x: (N, C, H, W), weight: (F, C, KH, KW) as given to the forward
    -> dx (N, C, H, W), dweight (F, C, KH, KW), dbias (F,)."""
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    _, _, OH, OW = dout.shape
    weight_matrix = np.ascontiguousarray(weight).reshape(F, C * KH * KW)
    cols = np.empty((C * KH * KW, OH * OW), dtype=x.dtype)
    dweight_matrix = np.zeros((F, C * KH * KW), dtype=x.dtype)
    dbias = np.zeros(F, dtype=x.dtype)
    dx = np.zeros_like(x)
    for n in range(N):
        dout_matrix = np.ascontiguousarray(dout[n]).reshape(F, OH * OW)
        im2col(x[n], KH, KW, stride, padding, OH, OW, cols)
        dweight_matrix += dout_matrix @ cols.T
        for f in range(F):
            dbias[f] += dout_matrix[f].sum()
        dcols = weight_matrix.T @ dout_matrix  # (C*KH*KW, OH*OW): the gradient of every copied pixel
        col2im_add(dcols, KH, KW, stride, padding, OH, OW, dx[n])
    return dx, dweight_matrix.reshape(F, C, KH, KW), dbias
