"""Every jitted kernel against its plain-loop ``_naive`` reference, in float32 and float64.

Tolerances: float64 to 1e-10 (the two differ only in summation order);
float32 to 2e-5 relative + 2e-5 absolute on values of order 1 to 10 (BLAS
sums in a different order and with fused multiply-adds, each rounding at
about 6e-8 relative).
"""

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tinycnn.gradcheck import distinct_values
from tinycnn.kernels.conv2d import conv2d_backward_naive, conv2d_forward_naive
from tinycnn.kernels.conv2d_im2col import conv2d_backward_im2col, conv2d_forward_im2col
from tinycnn.kernels.fast.conv2d import conv2d_backward, conv2d_forward
from tinycnn.kernels.fast.conv2d_windows import conv2d_forward_windows
from tinycnn.kernels.fast.im2col_windows import im2col_windows
from tinycnn.kernels.im2col import col2im_add, im2col
from tinycnn.kernels.linear import linear_backward, linear_backward_naive, linear_forward, linear_forward_naive
from tinycnn.kernels.log_softmax import (log_softmax_backward, log_softmax_backward_naive, log_softmax_forward,
                                         log_softmax_forward_naive)
from tinycnn.kernels.maxpool2d import (maxpool2d_backward, maxpool2d_backward_naive, maxpool2d_forward,
                                       maxpool2d_forward_naive)
from tinycnn.kernels.nll import nll_backward, nll_forward
from tinycnn.kernels.relu import relu_backward, relu_backward_naive, relu_forward, relu_forward_naive

DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}
seeds = st.integers(0, 2**32 - 1)


def assert_same(fast, naive, dtype):
    assert fast.dtype == naive.dtype == dtype
    assert fast.shape == naive.shape
    np.testing.assert_allclose(fast, naive, **TOLERANCE[dtype])


# ----- conv2d, with its optional ReLU and max-pool ---------------------------------------------


def reference_forward(x, w, b, stride, padding, relu, pool_kernel, pool_stride):
    """What the fast conv computes, by the reference kernels: the conv, then ReLU, then max-pool, each its own."""
    out = conv2d_forward_naive(x, w, b, stride, padding)
    if relu:
        out = relu_forward_naive(out.ravel()).reshape(out.shape)
    if pool_kernel:
        out, _ = maxpool2d_forward_naive(out, pool_kernel, pool_kernel, pool_stride, pool_stride)
    return out


def reference_backward(dout, x, w, b, stride, padding, relu, pool_kernel, pool_stride):
    """The chain rule through those reference kernels, in reverse: pool, ReLU, conv."""
    conv = conv2d_forward_naive(x, w, b, stride, padding)
    activated = relu_forward_naive(conv.ravel()).reshape(conv.shape) if relu else conv
    if pool_kernel:
        _, winner_index = maxpool2d_forward_naive(activated, pool_kernel, pool_kernel, pool_stride, pool_stride)
        dout = maxpool2d_backward_naive(dout, winner_index, conv.shape[2], conv.shape[3])
    if relu:
        dout = relu_backward_naive(dout.ravel(), activated.ravel()).reshape(conv.shape)
    return conv2d_backward_naive(dout, x, w, stride, padding)


@st.composite
def conv_cases(draw):
    """A valid convolution, maybe followed by ReLU and a max-pool, and how many runs to split the batch into."""
    padding, stride = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    KH = draw(st.integers(1, min(5, H + 2 * padding)))
    KW = draw(st.integers(1, min(5, W + 2 * padding)))
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    pool_kernel = draw(st.integers(0, min(3, OH, OW)))  # 0: no pool
    pool_stride = draw(st.integers(1, 3)) if pool_kernel else 0
    N, C, Fo = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 10))  # from 8: across filters
    options = dict(stride=stride, padding=padding, relu=draw(st.booleans()), pool_kernel=pool_kernel,
                   pool_stride=pool_stride)
    # integers: small whole values, whose sums both kernels compute exactly, so that ties in the pool
    # and exact zeros at the ReLU happen and must be broken the same way
    return (N, C, H, W), (Fo, C, KH, KW), options, draw(st.integers(1, 3)), draw(st.booleans()), draw(seeds)


def conv_arrays(case, dtype):
    x_shape, w_shape, _, _, integers, seed = case
    rng = np.random.default_rng(seed)
    draw = (lambda shape: rng.integers(-2, 3, shape)) if integers else rng.standard_normal
    return tuple(draw(shape).astype(dtype) for shape in (x_shape, w_shape, (w_shape[0],))) + (rng,)


def conv_case(x_shape, w_shape, stride=1, padding=0, relu=False, pool_kernel=0, pool_stride=0, n_parts=2,
              integers=False, seed=5):
    options = dict(stride=stride, padding=padding, relu=relu, pool_kernel=pool_kernel, pool_stride=pool_stride)
    return x_shape, w_shape, options, n_parts, integers, seed


# Cases the strategy may or may not draw, pinned because the kernel has a path for each: stride 1 without
# padding (im2col's contiguous copy), a plain conv, and pools whose floored size leaves conv rows and columns
# unread (the kernel then convolves only the part the pool reads), the study's 3x3 pool on 11x11 among them.
STRIDE_1_NO_PADDING = conv_case((2, 3, 7, 9), (4, 3, 3, 2))
UNREAD_BY_2X2_POOL = conv_case((2, 2, 9, 9), (3, 2, 3, 3), relu=True, pool_kernel=2, pool_stride=2)  # 7x7: 6x6 read
UNREAD_BY_3X3_POOL = conv_case((1, 2, 12, 12), (3, 2, 3, 3), relu=True, pool_kernel=3, pool_stride=3)  # 10x10: 9x9
STUDY_LAST_POOL = conv_case((2, 4, 13, 13), (5, 4, 3, 3), relu=True, pool_kernel=3, pool_stride=3, n_parts=3)
TIES_AND_ZEROS = conv_case((3, 2, 8, 8), (4, 2, 3, 3), relu=True, pool_kernel=2, pool_stride=2, integers=True)
# Pools other than 2x2 after 8 filters or more, on a small product, go across filters (the product transposed):
# the study's 3x3 pool with ties and zeros, an overlapping pool, and one too large for that path (plane by plane).
TIES_ACROSS_FILTERS = conv_case((2, 3, 11, 11), (9, 3, 3, 3), relu=True, pool_kernel=3, pool_stride=3, integers=True)
OVERLAPPING_ACROSS_FILTERS = conv_case((3, 2, 8, 9), (8, 2, 3, 3), pool_kernel=2, pool_stride=1, n_parts=3)
TOO_LARGE_ACROSS_FILTERS = conv_case((1, 1, 38, 38), (8, 1, 3, 3), relu=True, pool_kernel=3, pool_stride=3)  # 8 x 36*36
# A 1x1 kernel with stride 1 and no padding: the image is its own im2col columns (and the backward writes dx
# straight from the product), without a ReLU dout itself is the conv output's gradient, and with one it is masked.
ONE_BY_ONE = conv_case((2, 3, 5, 4), (4, 3, 1, 1))
ONE_BY_ONE_RELU = conv_case((3, 2, 4, 4), (3, 2, 1, 1), relu=True, n_parts=3)
# A 2x2 pool after at least as many filters as im2col rows (C*KH*KW), as on the study's first layer:
# Conv2dFunction runs conv2d_windows.py's forward for these; with ties, and with padding and stride.
# (And pools whose windows overlap, for im2col_windows.)
WINDOW_ORDER = conv_case((2, 1, 11, 11), (9, 1, 3, 3), relu=True, pool_kernel=2, pool_stride=2, integers=True)
WINDOW_ORDER_PADDED = conv_case((3, 1, 9, 9), (4, 1, 2, 2), stride=2, padding=1, relu=True, pool_kernel=2,
                                pool_stride=2, n_parts=3)
WINDOW_ORDER_OVERLAPPING = conv_case((2, 1, 9, 8), (5, 1, 2, 2), pool_kernel=3, pool_stride=2)


@pytest.mark.parametrize("dtype", DTYPES)
@example(case=STRIDE_1_NO_PADDING)
@example(case=UNREAD_BY_2X2_POOL)
@example(case=UNREAD_BY_3X3_POOL)
@example(case=STUDY_LAST_POOL)
@example(case=TIES_AND_ZEROS)
@example(case=TIES_ACROSS_FILTERS)
@example(case=OVERLAPPING_ACROSS_FILTERS)
@example(case=TOO_LARGE_ACROSS_FILTERS)
@example(case=ONE_BY_ONE)
@example(case=ONE_BY_ONE_RELU)
@example(case=WINDOW_ORDER_OVERLAPPING)
@given(case=conv_cases())
def test_conv2d_matches_naive(dtype, case):
    """The fast pair against the reference conv, ReLU and pool, forward and backward, in both dtypes."""
    _, w_shape, options, n_parts, _, _ = case
    x, w, b, rng = conv_arrays(case, dtype)
    out, winner = conv2d_forward(x, w, b, n_parts=n_parts, **options)
    assert_same(out, reference_forward(x, w, b, **options), dtype)
    assert winner.dtype == np.int8 and winner.shape[0] == (x.shape[0] if options["pool_kernel"] else 0)
    dout = rng.standard_normal(out.shape).astype(dtype)
    saved_out = out if options["relu"] else out[:0]  # as Conv2dFunction keeps it: only a ReLU needs the output
    fast = conv2d_backward(dout, x, w, saved_out, winner, need_dx=True, need_dbias=True, n_parts=n_parts, **options)
    naive = reference_backward(dout, x, w, b, **options)
    for got, expected in zip(fast, naive):
        assert_same(got, expected, dtype)
    dx_skipped, dweight, _ = conv2d_backward(dout, x, w, saved_out, winner, need_dx=False, need_dbias=True,
                                             n_parts=n_parts, **options)
    assert dx_skipped.shape[0] == 0
    assert_same(dweight, naive[1], dtype)
    # a conv without bias (one before a BatchNorm): zeros as its bias, and no bias gradient asked for
    zeros = np.zeros_like(b)
    out, winner = conv2d_forward(x, w, zeros, n_parts=n_parts, **options)
    assert_same(out, reference_forward(x, w, zeros, **options), dtype)
    saved_out = out if options["relu"] else out[:0]
    dx, dweight, dbias = conv2d_backward(dout, x, w, saved_out, winner, need_dx=True, need_dbias=False,
                                         n_parts=n_parts, **options)
    naive = reference_backward(dout, x, w, zeros, **options)
    assert_same(dx, naive[0], dtype)
    assert_same(dweight, naive[1], dtype)
    assert not dbias.any()


@pytest.mark.parametrize("dtype", DTYPES)
@example(case=STRIDE_1_NO_PADDING)
@example(case=WINDOW_ORDER_PADDED)
@given(case=conv_cases())
def test_conv2d_im2col_pair_matches_naive(dtype, case):
    """The plain im2col + GEMM pair against the reference pair (the conv alone), in both dtypes."""
    x, w, b, rng = conv_arrays(case, dtype)
    stride, padding = case[2]["stride"], case[2]["padding"]
    out = conv2d_forward_im2col(x, w, b, stride, padding)
    assert_same(out, conv2d_forward_naive(x, w, b, stride, padding), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    for got, expected in zip(conv2d_backward_im2col(dout, x, w, stride, padding),
                             conv2d_backward_naive(dout, x, w, stride, padding)):
        assert_same(got, expected, dtype)


@example(case=WINDOW_ORDER_PADDED)
@given(case=conv_cases())
def test_conv2d_naive_pair_is_its_index_sums(case):
    """The reference pair against the index sums of the definition, in NumPy (einsum over every window): the
    forward, and the backward's dweight and dx as sums over the output positions (no flip, no full correlation:
    the naive backward's route to them is the derivation, this is the sum it must equal)."""
    x, w, b, rng = conv_arrays(case, np.float64)
    stride, padding = case[2]["stride"], case[2]["padding"]
    KH, KW = w.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(x_pad, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]
    out = conv2d_forward_naive(x, w, b, stride, padding)
    np.testing.assert_allclose(out, np.einsum("ncijhw,fchw->nfij", windows, w) + b[None, :, None, None],
                               rtol=1e-10, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    dx, dweight, dbias = conv2d_backward_naive(dout, x, w, stride, padding)
    np.testing.assert_allclose(dbias, dout.sum(axis=(0, 2, 3)), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dweight, np.einsum("nfij,ncijhw->fchw", dout, windows), rtol=1e-10, atol=1e-10)
    dx_pad = np.zeros_like(x_pad)
    OH, OW = out.shape[2:]
    for oh in range(OH):  # each output position adds dout * w onto the pixels under its window
        for ow in range(OW):
            dx_pad[:, :, oh * stride:oh * stride + KH, ow * stride:ow * stride + KW] += np.einsum(
                "nf,fchw->nchw", dout[:, :, oh, ow], w)
    np.testing.assert_allclose(dx, dx_pad[:, :, padding:padding + x.shape[2], padding:padding + x.shape[3]],
                               rtol=1e-10, atol=1e-10)


@given(conv_cases(), st.integers(1, 5))
def test_conv2d_forward_is_the_same_for_any_split_over_threads(case, n_parts):
    """Each image is computed alone, by the same calls on the same shapes whatever the split, so how the batch
    is split into runs cannot change a bit: the same operations in the same order, by construction."""
    _, _, options, _, _, _ = case
    x, w, b, _ = conv_arrays(case, np.float64)
    one_run = conv2d_forward(x, w, b, n_parts=1, **options)
    split = conv2d_forward(x, w, b, n_parts=n_parts, **options)
    for a, c in zip(one_run, split):
        assert np.array_equal(a, c)


@given(conv_cases(), st.integers(2, 5))
def test_conv2d_backward_is_the_same_for_any_split_over_threads(case, n_parts):
    """One run of images or several, each with its own partial sums: the same gradients (float64, up to rounding)."""
    _, _, options, _, _, _ = case
    x, w, b, rng = conv_arrays(case, np.float64)
    out, winner = conv2d_forward(x, w, b, n_parts=2, **options)
    dout = rng.standard_normal(out.shape)
    one_run = conv2d_backward(dout, x, w, out, winner, need_dx=True, need_dbias=True, n_parts=1, **options)
    split = conv2d_backward(dout, x, w, out, winner, need_dx=True, need_dbias=True, n_parts=n_parts, **options)
    for a, c in zip(one_run, split):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_parts", [1, 2])
def test_conv2d_backward_repeats_bit_for_bit(n_parts):
    """The same call twice: the same operations in the same order, by construction (the parts' sums are added in
    a fixed order)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 4, 13, 13)).astype(np.float32)
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    options = dict(stride=1, padding=0, relu=True, pool_kernel=3, pool_stride=3)
    out, winner = conv2d_forward(x, w, np.zeros(8, np.float32), n_parts=n_parts, **options)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    first = conv2d_backward(dout, x, w, out, winner, need_dx=True, need_dbias=True, n_parts=n_parts, **options)
    for _ in range(3):
        again = conv2d_backward(dout, x, w, out, winner, need_dx=True, need_dbias=True, n_parts=n_parts, **options)
        for a, c in zip(first, again):
            assert np.array_equal(a, c)


@example(STRIDE_1_NO_PADDING)
@example(WINDOW_ORDER_PADDED)
@given(conv_cases())
def test_im2col_copies_each_pixel_of_the_padded_image(case):
    """Every entry of cols is its pixel of the zero-padded image, exactly (a copy: the same bits), for any stride
    and padding, the padding's runs at either end of a row included."""
    (_, C, H, W), (_, _, KH, KW), options, _, _, seed = case
    stride, padding = options["stride"], options["padding"]
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    image = np.random.default_rng(seed).standard_normal((C, H, W))
    cols = np.full((C * KH * KW, OH * OW), np.nan)
    im2col(image, KH=KH, KW=KW, stride=stride, padding=padding, OH=OH, OW=OW, cols=cols)
    padded = np.pad(image, ((0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (KH, KW), axis=(1, 2))[:, ::stride, ::stride]
    expected = windows[:, :OH, :OW].transpose(0, 3, 4, 1, 2).reshape(C * KH * KW, OH * OW)
    assert np.array_equal(cols, expected)


@example(STRIDE_1_NO_PADDING)
@given(conv_cases())
def test_col2im_is_the_adjoint_of_im2col(case):
    """<im2col(x), c> == <x, col2im(c)> for all x, c: the defining property of an adjoint."""
    (_, C, H, W), (_, _, KH, KW), options, _, _, seed = case
    stride, padding = options["stride"], options["padding"]
    rng = np.random.default_rng(seed)
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    image = rng.standard_normal((C, H, W))
    columns = rng.standard_normal((C * KH * KW, OH * OW))
    cols = np.empty_like(columns)
    im2col(image, KH=KH, KW=KW, stride=stride, padding=padding, OH=OH, OW=OW, cols=cols)
    back = np.zeros_like(image)
    col2im_add(columns, KH=KH, KW=KW, stride=stride, padding=padding, OH=OH, OW=OW, dimage=back)
    assert np.isclose((cols * columns).sum(), (image * back).sum(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
@example(case=WINDOW_ORDER)
@example(case=WINDOW_ORDER_PADDED)
@example(case=TIES_AND_ZEROS)
@given(case=conv_cases())
def test_conv2d_forward_windows_matches_naive(dtype, case):
    """The 2x2 pool's forward in window order against the definition, and its winners: those of conv2d_forward
    where sums are exact (small integers), so that ties are broken alike."""
    _, _, options, n_parts, integers, _ = case
    x, w, b, _ = conv_arrays(case, dtype)
    options = dict(options, pool_kernel=2, pool_stride=2)
    assume(min(x.shape[2] + 2 * options["padding"] - w.shape[2], x.shape[3] + 2 * options["padding"] - w.shape[3])
           // options["stride"] + 1 >= 2)  # room for one window
    out, winner = conv2d_forward_windows(x, w, b, stride=options["stride"], padding=options["padding"],
                                         relu=options["relu"], n_parts=n_parts)
    assert_same(out, reference_forward(x, w, b, **options), dtype)
    if integers:
        assert np.array_equal(winner, conv2d_forward(x, w, b, n_parts=n_parts, **options)[1])


def test_conv2d_forward_windows_agrees_with_the_plane_forward_to_float32_rounding_on_the_study_first_layer():
    """On the minimal model's conv1 (1 -> 16 channels, 3x3, ReLU, 2x2 pool): the same values to float32 rounding,
    and the same winners wherever a window's best two values are further apart than that rounding.

    Not bit for bit: the two hand BLAS products of different shapes (columns in window order or in row order),
    and a BLAS kernel may sum them in another order (OpenBLAS's Haswell kernel does; its SkylakeX kernel
    happened not to on this layer)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    w, b = rng.standard_normal((16, 1, 3, 3)).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    out, winner = conv2d_forward_windows(x, w, b, stride=1, padding=0, relu=True, n_parts=2)
    plane_out, plane_winner = conv2d_forward(x, w, b, stride=1, padding=0, relu=True, pool_kernel=2, pool_stride=2,
                                             n_parts=2)
    scale = np.abs(x).max() * np.abs(w).sum(axis=(1, 2, 3)).max() + np.abs(b).max()  # bounds every sum's terms
    tolerance = 4 * np.finfo(np.float32).eps * scale  # a 10-term float32 sum, in either order
    np.testing.assert_allclose(out, plane_out, rtol=0, atol=tolerance)
    conv = conv2d_forward_naive(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), stride=1,
                                padding=0)
    windows = conv[:, :, :26, :26].reshape(8, 16, 13, 2, 13, 2).transpose(0, 1, 2, 4, 3, 5).reshape(8, 16, 13, 13, 4)
    best_two = np.sort(windows, axis=-1)[..., -2:]
    clear = best_two[..., 1] - best_two[..., 0] > 2 * tolerance
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(winner[clear], plane_winner[clear])


@example(WINDOW_ORDER_OVERLAPPING)
@example(WINDOW_ORDER_PADDED)
@given(conv_cases())
def test_im2col_windows_holds_the_columns_of_im2col_in_window_order(case):
    """Column a*PH*PW + q of im2col_windows is im2col's column for the conv position that window q reads at
    place a: (ph*pool_stride + i, pw*pool_stride + j), a = i*pool_kernel + j."""
    (_, C, H, W), (_, _, KH, KW), options, _, _, seed = case
    stride, padding, pool_kernel, pool_stride = (options[key] for key in ("stride", "padding", "pool_kernel",
                                                                          "pool_stride"))
    pool_kernel, pool_stride = (pool_kernel, pool_stride) if pool_kernel else (1, 1)
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    PH, PW = (OH - pool_kernel) // pool_stride + 1, (OW - pool_kernel) // pool_stride + 1
    image = np.random.default_rng(seed).standard_normal((C, H, W))
    plain = np.empty((C * KH * KW, OH * OW))
    im2col(image, KH=KH, KW=KW, stride=stride, padding=padding, OH=OH, OW=OW, cols=plain)
    windowed = np.empty((C * KH * KW, pool_kernel * pool_kernel * PH * PW))
    im2col_windows(image, KH=KH, KW=KW, stride=stride, padding=padding, pool_kernel=pool_kernel,
                   pool_stride=pool_stride, PH=PH, PW=PW, cols=windowed)
    for i in range(pool_kernel):
        for j in range(pool_kernel):
            for ph in range(PH):
                for pw in range(PW):
                    column = ((i * pool_kernel + j) * PH + ph) * PW + pw
                    position = (ph * pool_stride + i) * OW + pw * pool_stride + j
                    assert np.array_equal(windowed[:, column], plain[:, position])


# ----- the other kernels ---------------------------------------------------------------------------


@st.composite
def pool_cases(draw):
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    SH, SW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H, W = draw(st.integers(KH, 10)), draw(st.integers(KW, 10))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 4)), H, W), KH, KW, SH, SW, draw(st.booleans()), draw(seeds)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases())
def test_maxpool2d_matches_naive(dtype, case):
    shape, KH, KW, SH, SW, with_ties, seed = case
    rng = np.random.default_rng(seed)
    # with ties (few distinct values) both must pick the same first maximum
    x = (rng.integers(0, 3, shape) if with_ties else distinct_values(rng, shape)).astype(dtype)
    out, winner_index = maxpool2d_forward(x, KH, KW, SH, SW)
    naive_out, naive_winner_index = maxpool2d_forward_naive(x, KH, KW, SH, SW)
    assert_same(out, naive_out, dtype)
    np.testing.assert_array_equal(winner_index, naive_winner_index)
    dout = rng.standard_normal(out.shape).astype(dtype)
    assert_same(maxpool2d_backward(dout, winner_index, shape[2], shape[3]),
                maxpool2d_backward_naive(dout, winner_index, shape[2], shape[3]), dtype)


def test_maxpool2d_first_maximum_wins_a_tie():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    out, winner_index = maxpool2d_forward(x, 2, 2, 2, 2)
    assert out[0, 0, 0, 0] == 3.0 and winner_index[0, 0, 0, 0] == 1  # (0, 1) before (1, 0) in row-major order


def test_maxpool2d_floor_drops_partial_windows():
    out, _ = maxpool2d_forward(np.zeros((1, 1, 11, 7)), 3, 3, 3, 3)
    assert out.shape == (1, 1, 3, 2)


@pytest.mark.parametrize("dtype", DTYPES)
@given(st.integers(1, 6), st.integers(1, 20), st.integers(1, 12), seeds)
def test_linear_matches_naive(dtype, N, D, M, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((N, D)).astype(dtype), rng.standard_normal((M, D)).astype(dtype)
    b = rng.standard_normal(M).astype(dtype)
    assert_same(linear_forward(x, w, b), linear_forward_naive(x, w, b), dtype)
    dout = rng.standard_normal((N, M)).astype(dtype)
    for got, expected in zip(linear_backward(dout, x, w), linear_backward_naive(dout, x, w)):
        assert_same(got, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(st.integers(1, 300), seeds)
def test_relu_matches_naive(dtype, size, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size).astype(dtype)
    out = relu_forward(x)
    assert_same(out, relu_forward_naive(x), dtype)
    dout = rng.standard_normal(size).astype(dtype)
    assert_same(relu_backward(dout, out), relu_backward_naive(dout, out), dtype)


def test_relu_passes_nan_and_has_zero_gradient_at_zero():
    out = relu_forward(np.array([np.nan, 0.0, -1.0, 2.0]))
    assert np.isnan(out[0]) and list(out[1:]) == [0.0, 0.0, 2.0]
    assert list(relu_backward(np.ones(3), np.array([0.0, -0.0, 1.0]))) == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("dtype", DTYPES)
@given(st.integers(1, 8), st.integers(1, 12), seeds)
def test_log_softmax_matches_naive(dtype, N, K, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((N, K)) * 5).astype(dtype)
    out = log_softmax_forward(x)
    assert_same(out, log_softmax_forward_naive(x), dtype)
    dout = rng.standard_normal((N, K)).astype(dtype)
    assert_same(log_softmax_backward(dout, out), log_softmax_backward_naive(dout, out), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_is_stable_for_huge_scores(dtype):
    x = np.array([[1000.0, 0.0, -1000.0]], dtype=dtype)
    out = log_softmax_forward(x)
    assert np.all(np.isfinite(out[0, :2])) and out[0, 0] == 0.0 and out[0, 1] == -1000.0


@pytest.mark.parametrize("dtype", DTYPES)
@given(st.integers(1, 8), st.integers(1, 12), seeds)
def test_nll_matches_its_definition(dtype, N, K, seed):
    """NLL is a single plain loop already, so its oracle is the formula in NumPy."""
    rng = np.random.default_rng(seed)
    logp = rng.standard_normal((N, K)).astype(dtype)
    target = rng.integers(0, K, size=N)
    expected = -np.take_along_axis(logp, target[:, None], axis=1).mean()
    np.testing.assert_allclose(nll_forward(logp, target), expected, **TOLERANCE[dtype])
    dlogp = nll_backward(2.0, logp, target)
    expected_grad = np.zeros_like(logp)
    expected_grad[np.arange(N), target] = -2.0 / N
    assert_same(dlogp, expected_grad, dtype)


# ----- batch norm, dropout, average pooling -----------------------------------------------------

from tinycnn.kernels.avgpool2d import (adaptive_avgpool2d_backward, adaptive_avgpool2d_backward_naive,  # noqa: E402
                                       adaptive_avgpool2d_forward, adaptive_avgpool2d_forward_naive,
                                       avgpool2d_backward, avgpool2d_backward_naive, avgpool2d_forward,
                                       avgpool2d_forward_naive)
from tinycnn.kernels.batchnorm2d import (batchnorm2d_backward, batchnorm2d_backward_naive,  # noqa: E402
                                         batchnorm2d_forward, batchnorm2d_forward_naive, batchnorm2d_statistics,
                                         batchnorm2d_statistics_naive)
from tinycnn.kernels.dropout import (dropout_backward, dropout_backward_naive, dropout_forward,  # noqa: E402
                                     dropout_forward_naive)

planes = st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 7), st.integers(1, 7))


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=planes, training=st.booleans(), relu=st.booleans(), seed=seeds)
def test_batchnorm2d_matches_naive(dtype, shape, training, relu, seed):
    """The fast statistics (one pass) and normalisation against the naive ones; the backward, with its joined ReLU
    when relu, against the naive chain (the naive ReLU backward, then the naive BatchNorm backward)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    weight, bias = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
    running_mean, running_var = rng.standard_normal(shape[1]).astype(dtype), rng.uniform(0.5, 2, shape[1]).astype(dtype)
    mean, var = batchnorm2d_statistics_naive(x) if training else (running_mean, running_var)
    naive_out = batchnorm2d_forward_naive(x, weight, bias, mean, var, 1e-5, relu)
    if training:
        fast_mean, fast_var = batchnorm2d_statistics(x)
        assert_same(fast_mean, mean, dtype)
        np.testing.assert_allclose(fast_var, var, **({"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32
                                                     else TOLERANCE[dtype]))
    out = batchnorm2d_forward(x, weight, bias, mean, var, 1e-5, relu)
    assert_same(out, naive_out, dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    fast = batchnorm2d_backward(dout, x, out, weight, mean, var, training, 1e-5, relu)
    naive = batchnorm2d_backward_naive(dout, x, naive_out, weight, mean, var, training, 1e-5, relu)
    for got, expected in zip(fast, naive):
        np.testing.assert_allclose(got, expected, **({"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32
                                                     else TOLERANCE[dtype]))


@pytest.mark.parametrize("dtype", DTYPES)
@given(size=st.integers(1, 400), p=st.sampled_from([0.0, 0.05, 0.5, 0.9, 1.0]), group=st.integers(1, 9),
       key=st.integers(0, 2**63 - 1), seed=seeds)
def test_dropout_matches_naive(dtype, size, p, group, key, seed):
    rng = np.random.default_rng(seed)
    x, dout = rng.standard_normal(size).astype(dtype), rng.standard_normal(size).astype(dtype)
    assert_same(dropout_forward(x, key, p, group), dropout_forward_naive(x, key, p, group), dtype)
    assert_same(dropout_backward(dout, key, p, group), dropout_backward_naive(dout, key, p, group), dtype)


@st.composite
def avgpool_cases(draw):
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    SH, SW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H, W = draw(st.integers(KH, 10)), draw(st.integers(KW, 10))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 4)), H, W), KH, KW, SH, SW, draw(seeds)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=avgpool_cases())
def test_avgpool2d_matches_naive(dtype, case):
    shape, KH, KW, SH, SW, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    out = avgpool2d_forward(x, KH, KW, SH, SW)
    assert_same(out, avgpool2d_forward_naive(x, KH, KW, SH, SW), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    assert_same(avgpool2d_backward(dout, KH, KW, SH, SW, *shape[2:]),
                avgpool2d_backward_naive(dout, KH, KW, SH, SW, *shape[2:]), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=planes, output=st.tuples(st.integers(1, 8), st.integers(1, 8)), seed=seeds)
def test_adaptive_avgpool2d_matches_naive(dtype, shape, output, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    out = adaptive_avgpool2d_forward(x, *output)
    assert_same(out, adaptive_avgpool2d_forward_naive(x, *output), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    assert_same(adaptive_avgpool2d_backward(dout, *shape[2:]), adaptive_avgpool2d_backward_naive(dout, *shape[2:]),
                dtype)


def test_global_average_pooling_is_the_plane_mean():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7))
    np.testing.assert_allclose(adaptive_avgpool2d_forward(x, 1, 1)[:, :, 0, 0], x.mean(axis=(2, 3)), rtol=1e-12)


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 2), (2, 1)])
def test_maxpool2d_lets_nan_win_and_first_maxima_win_ties_as_the_naive_kernel(kernel, stride):
    """The fast pool's selects (not ifs) make the naive kernel's choices: NaN wins its window, a tie goes to the
    first maximum; the 2x2 pool, whose window the kernel takes as constants, among them."""
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7))
    x[0, 0, 1, 1] = x[1, 2, 4, 5] = np.nan
    x[0, 1, :3, :3] = 1.0  # ties
    out, winner_index = maxpool2d_forward(x, kernel, kernel, stride, stride)
    naive_out, naive_winner_index = maxpool2d_forward_naive(x, kernel, kernel, stride, stride)
    assert np.array_equal(out, naive_out, equal_nan=True) and np.isnan(out).any()
    assert np.array_equal(winner_index, naive_winner_index)
