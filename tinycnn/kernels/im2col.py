"""im2col and its adjoint col2im: a convolution of one image as one matrix product.

Runs inside ``conv2d_im2col.py``'s plain pair and the engine's fast one (``fast/conv2d.py``), once per
image, forward and backward.

A convolution multiplies the same (C, KH, KW) weights with every receptive
field of the image. ``im2col`` copies each receptive field into a column of
a matrix ``cols``, so that for one image

    conv[f, p] = sum over r of weight_matrix[f, r] * cols[r, p]

with ``weight_matrix`` the weight seen as (F, C*KH*KW), row r = (c*KH + kh)*KW + kw
and column p = oh*OW + ow: one matrix product, which BLAS does fast.

``col2im_add`` runs the copy backwards: each entry of a (C*KH*KW, OH*OW)
matrix is added onto the pixel it was copied from. It is the adjoint
(transpose) of im2col as a linear map, which is what the backward needs:
im2col is cols = A @ image for a 0/1 matrix A, so the gradient of the image
is A.T @ dcols. A pixel that lies in several receptive fields receives the sum
of their gradients.
"""

import numpy as np

from tinycnn.kernels.jit import njit


@njit
def im2col(image, KH, KW, stride, padding, OH, OW, cols):
    """Copy every receptive field of one image into a column of ``cols``.

    image: (C, H, W)
    cols:  (C*KH*KW, OH*OW), written in place; row (c*KH + kh)*KW + kw holds
           the pixel at offset (kh, kw) of channel c for every output position,
           zero where that falls in the padding.
    OH, OW: how many output rows and columns to lower: the whole conv output,
           or (in a kernel that pools) only the part the pool reads.

    With padding, the image is first copied into a zero-padded one, (C, H +
    2*padding, W + 2*padding): then every receptive field lies inside it, and
    the copy below needs no test for the padding on any pixel.
    """
    if padding > 0:
        _fields_to_columns(_zero_padded(image, padding), KH, KW, stride, OH, OW, cols)
    else:
        _fields_to_columns(image, KH, KW, stride, OH, OW, cols)


@njit
def _fields_to_columns(image, KH, KW, stride, OH, OW, cols):
    """``im2col`` of an image whose receptive fields all lie inside it (no padding left to add)."""
    C = image.shape[0]
    for c in range(C):
        for kh in range(KH):
            for kw in range(KW):
                row = (c * KH + kh) * KW + kw
                for oh in range(OH):
                    pixels = image[c, oh * stride + kh]
                    if stride == 1:  # a contiguous run of pixels: a plain copy, which the compiler vectorises
                        for ow in range(OW):
                            cols[row, oh * OW + ow] = pixels[kw + ow]
                    else:
                        for ow in range(OW):
                            cols[row, oh * OW + ow] = pixels[ow * stride + kw]


@njit
def _zero_padded(image, padding):
    """image: (C, H, W) -> (C, H + 2*padding, W + 2*padding): the image in the middle, zeros around it."""
    C, H, W = image.shape
    padded = np.zeros((C, H + 2 * padding, W + 2 * padding), dtype=image.dtype)
    for c in range(C):
        for h in range(H):
            for w in range(W):
                padded[c, h + padding, w + padding] = image[c, h, w]
    return padded


@njit
def col2im_add(dcols, KH, KW, stride, padding, OH, OW, dimage):
    """The adjoint of ``im2col``: add each column entry back onto its pixel.

    dcols:  (C*KH*KW, OH*OW)
    dimage: (C, H, W), added to in place (a pixel in several receptive fields
            receives the sum of their gradients); padding entries are dropped.

    With padding, the entries are added onto a zero-padded image first, whose
    middle is then added onto ``dimage``: the adjoint of copying the image into
    the middle of a padded one is adding the middle back.
    """
    if padding == 0:
        _columns_to_fields_add(dcols, KH, KW, stride, OH, OW, dimage)
        return
    C, H, W = dimage.shape
    dpadded = np.zeros((C, H + 2 * padding, W + 2 * padding), dtype=dimage.dtype)
    _columns_to_fields_add(dcols, KH, KW, stride, OH, OW, dpadded)
    for c in range(C):
        for h in range(H):
            for w in range(W):
                dimage[c, h, w] += dpadded[c, h + padding, w + padding]


@njit
def _columns_to_fields_add(dcols, KH, KW, stride, OH, OW, dimage):
    """``col2im_add`` onto an image that every receptive field lies inside (no padding to drop)."""
    C = dimage.shape[0]
    for c in range(C):
        for kh in range(KH):
            for kw in range(KW):
                row = (c * KH + kh) * KW + kw
                for oh in range(OH):
                    pixels = dimage[c, oh * stride + kh]
                    if stride == 1:  # contiguous runs, as in im2col
                        for ow in range(OW):
                            pixels[kw + ow] += dcols[row, oh * OW + ow]
                    else:
                        for ow in range(OW):
                            pixels[ow * stride + kw] += dcols[row, oh * OW + ow]
