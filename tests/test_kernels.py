"""Every jitted kernel against its plain-loop ``_naive`` reference, in float32 and float64.

Tolerances: float64 to 1e-10 (the two differ only in summation order);
float32 to 2e-5 relative + 2e-5 absolute on values of order 1 to 10 (BLAS
sums in a different order and with fused multiply-adds, each rounding at
about 6e-8 relative).
"""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from helpers import distinct_values
from tinycnn.kernels.conv2d import (conv2d_backward, conv2d_backward_naive, conv2d_forward,
                                    conv2d_forward_naive, col2im_add, im2col)
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


@st.composite
def conv_cases(draw):
    padding, stride = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    KH = draw(st.integers(1, min(5, H + 2 * padding)))
    KW = draw(st.integers(1, min(5, W + 2 * padding)))
    N, C, Fo = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    return (N, C, H, W), (Fo, C, KH, KW), stride, padding, draw(st.integers(1, 3)), draw(seeds)


# stride 1 without padding: im2col's and col2im's contiguous path, pinned in case the strategy skips it
STRIDE_1_NO_PADDING = ((2, 3, 7, 9), (4, 3, 3, 2), 1, 0, 2, 5)

@pytest.mark.parametrize("dtype", DTYPES)
@example(case=STRIDE_1_NO_PADDING)
@given(case=conv_cases())
def test_conv2d_matches_naive(dtype, case):
    x_shape, w_shape, stride, padding, threads, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out = conv2d_forward(x, w, b, stride, padding)
    assert_same(out, conv2d_forward_naive(x, w, b, stride, padding), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    fast = conv2d_backward(dout, x, w, stride, padding, True, threads)
    naive = conv2d_backward_naive(dout, x, w, stride, padding)
    for got, expected in zip(fast, naive):
        assert_same(got, expected, dtype)
    dx_skipped, dweight, _ = conv2d_backward(dout, x, w, stride, padding, False, threads)
    assert dx_skipped.shape[0] == 0
    assert_same(dweight, naive[1], dtype)


@example(STRIDE_1_NO_PADDING)
@given(conv_cases())
def test_col2im_is_the_adjoint_of_im2col(case):
    """<im2col(x), c> == <x, col2im(c)> for all x, c: the defining property of an adjoint."""
    (_, C, H, W), (_, _, KH, KW), stride, padding, _, seed = case
    rng = np.random.default_rng(seed)
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    image = rng.standard_normal((C, H, W))
    columns = rng.standard_normal((C * KH * KW, OH * OW))
    cols = np.empty_like(columns)
    im2col(image, KH, KW, stride, padding, OH, OW, cols)
    back = np.zeros_like(image)
    col2im_add(columns, KH, KW, stride, padding, OH, OW, back)
    assert np.isclose((cols * columns).sum(), (image * back).sum(), rtol=1e-10, atol=1e-10)


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
    out, argmax = maxpool2d_forward(x, KH, KW, SH, SW)
    naive_out, naive_argmax = maxpool2d_forward_naive(x, KH, KW, SH, SW)
    assert_same(out, naive_out, dtype)
    np.testing.assert_array_equal(argmax, naive_argmax)
    dout = rng.standard_normal(out.shape).astype(dtype)
    assert_same(maxpool2d_backward(dout, argmax, shape[2], shape[3]),
                maxpool2d_backward_naive(dout, argmax, shape[2], shape[3]), dtype)


def test_maxpool2d_first_maximum_wins_a_tie():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    out, argmax = maxpool2d_forward(x, 2, 2, 2, 2)
    assert out[0, 0, 0, 0] == 3.0 and argmax[0, 0, 0, 0] == 1  # (0, 1) before (1, 0) in row-major order


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


@pytest.mark.parametrize("threads", [1, 2])
def test_parallel_conv_backward_repeats_bit_for_bit(threads):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 8, 13, 13)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    dout = rng.standard_normal((64, 16, 11, 11)).astype(np.float32)
    first = conv2d_backward(dout, x, w, 1, 0, True, threads)
    for _ in range(3):
        again = conv2d_backward(dout, x, w, 1, 0, True, threads)
        for a, b in zip(first, again):
            assert np.array_equal(a, b)
