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


@njit
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
