"""im2col and its adjoint col2im: a convolution of one image as one matrix product.

Runs inside ``conv2d.py``'s kernels (and ``conv2d_windows.py``'s), once per image, forward and backward.

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

``im2col_windows`` makes the same copy with its columns in another order,
window place by window place, for a convolution whose max-pool reads the
product as it comes (``conv2d_windows.py``). The backward always uses ``im2col``.
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


# --------------------------------------------------------------------------------------
# the same copy, with the columns in the order a max-pool that follows reads them


@njit
def im2col_windows(image, KH, KW, stride, padding, pool_kernel, pool_stride, PH, PW, cols):
    """im2col for a convolution whose output a max-pool reads: one column per (window place, window).

    image: (C, H, W)
    cols:  (C*KH*KW, pool_kernel**2 * PH*PW), written in place. Rows as in
           ``im2col``. Column a*PH*PW + q holds the receptive field of the
           conv output that window q = ph*PW + pw of the pool reads at its
           place a = i*pool_kernel + j, the conv position
           (oh, ow) = (ph*pool_stride + i, pw*pool_stride + j).
    PH, PW: the pool's output size.

    So the product weight_matrix @ cols holds, for each filter, the pool's
    window places one after the other, each a contiguous run of PH*PW
    values, and the pool compares whole runs (``conv2d_windows.py``): a loop the
    compiler runs on several windows at once. Conv positions that no window
    reads are never computed; a position that two windows read (a pool
    whose stride is below its size) is computed for each.
    """
    C, H, W = image.shape
    windows = PH * PW
    if stride == 1 and padding == 0:  # the common case: no padding to test for
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    row = cols[(c * KH + kh) * KW + kw]
                    for i in range(pool_kernel):
                        for ph in range(PH):
                            pixels = image[c, ph * pool_stride + i + kh]
                            for j in range(pool_kernel):
                                start = (i * pool_kernel + j) * windows + ph * PW
                                for pw in range(PW):
                                    row[start + pw] = pixels[pw * pool_stride + j + kw]
        return
    for c in range(C):
        for kh in range(KH):
            for kw in range(KW):
                row = (c * KH + kh) * KW + kw
                for i in range(pool_kernel):
                    for j in range(pool_kernel):
                        first = (i * pool_kernel + j) * windows  # where place a = (i, j) starts
                        for ph in range(PH):
                            ih = (ph * pool_stride + i) * stride + kh - padding
                            for pw in range(PW):
                                iw = (pw * pool_stride + j) * stride + kw - padding
                                inside = 0 <= ih < H and 0 <= iw < W
                                cols[row, first + ph * PW + pw] = image[c, ih, iw] if inside else 0.0

