"""im2col with its columns in the order a 2x2 max-pool reads them: window place by window place.

The same copy as ``im2col.py``'s ``im2col`` (the same columns, in another
order), for the forward of ``conv2d_windows.py``. The backward always uses
``im2col``.
"""

from tinycnn.kernels.jit import njit


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

