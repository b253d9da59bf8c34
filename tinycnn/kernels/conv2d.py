"""2-D convolution: the reference pair, straight from the definition and from its derivation.

The definition (cross-correlation, as in PyTorch), with ``x_pad`` the input
with ``padding`` zeros on every side:

    out[n, f, oh, ow] = bias[f] + sum over c, kh, kw of
        weight[f, c, kh, kw] * x_pad[n, c, oh*stride + kh, ow*stride + kw]

    OH = (H + 2*padding - KH) // stride + 1   (likewise OW)

``conv2d_forward_naive`` is that sum as loops, and ``conv2d_backward_naive``
computes the three gradients exactly as docs/kernels.md section 4 derives
them: dbias sums dout, dweight correlates the padded input with dout, and
dx is the full correlation of dout (spread out by the stride, padded with
KH - 1 and KW - 1 zeros) with the kernel turned by 180 degrees.

These are the pair ``TINYCNN_KERNELS=reference`` trains with (tinycnn/backend.py):
the conv alone, with ReLU and max-pool their own ops. Read next
``im2col.py`` and ``conv2d_im2col.py``: the same convolution as one matrix
product per image. The engine's fast pair (``fast/conv2d.py``) is an
optimisation of that one; the tests hold both to this pair.
"""

import numpy as np

from tinycnn.kernels.jit import njit


def conv2d_output_size(size, kernel, stride, padding):
    """Output length along one axis: floor((size + 2*padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


@njit
def _zero_padded(x, padding):
    """x: (N, C, H, W) -> (N, C, H + 2*padding, W + 2*padding): x in the middle, zeros around it."""
    N, C, H, W = x.shape
    padded = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    padded[n, c, h + padding, w + padding] = x[n, c, h, w]
    return padded


@njit
def conv2d_forward_naive(x, weight, bias, stride, padding):
    """The definition as loops.

    x:      (N, C, H, W)
    weight: (F, C, KH, KW)
    bias:   (F,)
    returns out: (N, F, OH, OW)
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    x_pad = _zero_padded(x, padding)
    out = np.empty((N, F, OH, OW), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for oh in range(OH):
                for ow in range(OW):
                    total = bias[f]
                    for c in range(C):
                        for kh in range(KH):
                            for kw in range(KW):
                                total += weight[f, c, kh, kw] * x_pad[n, c, oh * stride + kh, ow * stride + kw]
                    out[n, f, oh, ow] = total
    return out


@njit
def conv2d_backward_naive(dout, x, weight, stride, padding):
    """The gradients of ``conv2d_forward_naive``, each computed as docs/kernels.md section 4 derives it.

    dout:   (N, F, OH, OW)
    x:      (N, C, H, W), weight: (F, C, KH, KW): as given to the forward
    returns dx (N, C, H, W), dweight (F, C, KH, KW), dbias (F,)
    """
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    _, _, OH, OW = dout.shape
    x_pad = _zero_padded(x, padding)

    # dbias[f] = sum over n, oh, ow of dout[n, f, oh, ow]: the bias is used at every position of every image
    dbias = np.zeros(F, dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for oh in range(OH):
                for ow in range(OW):
                    dbias[f] += dout[n, f, oh, ow]

    # dweight[f, c, kh, kw] = sum over n, oh, ow of dout[n, f, oh, ow] * x_pad[n, c, oh*stride + kh, ow*stride + kw]
    dweight = np.zeros_like(weight)
    for f in range(F):
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    total = 0.0
                    for n in range(N):
                        for oh in range(OH):
                            for ow in range(OW):
                                total += dout[n, f, oh, ow] * x_pad[n, c, oh * stride + kh, ow * stride + kw]
                    dweight[f, c, kh, kw] = total

    # dx: dout spread out by the stride (stride - 1 zeros between entries) and padded with KH - 1 rows and KW - 1
    # columns of zeros on every side ("dout_full"), correlated with the kernel turned by 180 degrees
    spread_h, spread_w = (OH - 1) * stride + 1, (OW - 1) * stride + 1
    dout_full = np.zeros((N, F, spread_h + 2 * (KH - 1), spread_w + 2 * (KW - 1)), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for oh in range(OH):
                for ow in range(OW):
                    dout_full[n, f, KH - 1 + oh * stride, KW - 1 + ow * stride] = dout[n, f, oh, ow]
    # rows and columns of x_pad under no window (when stride does not divide H + 2*padding - KH) keep gradient 0
    dx_pad = np.zeros_like(x_pad)
    for n in range(N):
        for c in range(C):
            for i in range(spread_h + KH - 1):
                for j in range(spread_w + KW - 1):
                    total = 0.0
                    for f in range(F):
                        for kh in range(KH):  # kh is the flipped kernel's row: weight row KH - 1 - kh
                            for kw in range(KW):
                                total += dout_full[n, f, i + kh, j + kw] * weight[f, c, KH - 1 - kh, KW - 1 - kw]
                    dx_pad[n, c, i, j] = total
    # x_pad is x with constant zeros around it: each real pixel's gradient is its entry; the padding's are dropped
    dx = np.empty_like(x)
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    dx[n, c, h, w] = dx_pad[n, c, h + padding, w + padding]
    return dx, dweight, dbias
