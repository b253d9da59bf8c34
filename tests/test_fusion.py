"""The fused conv + bias + ReLU + max-pool path equals the unfused ops, values and gradients."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tinycnn
import tinycnn.functional as F
from helpers import check_gradients
from tinycnn import Tensor, fusion
from tinycnn.kernels.conv2d_fused import (conv2d_fused_backward, conv2d_fused_forward,
                                          conv2d_fused_forward_naive)

seeds = st.integers(0, 2**32 - 1)
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


# Cases the strategy may or may not draw, pinned because the kernel has a path for each: stride 1 without
# padding (im2col's contiguous copy) and a pool whose floored size leaves conv rows and columns unread
# (the fused kernel then convolves only the part the pool reads), the study's 3x3 pool on 11x11 among them.
UNREAD_BY_2X2_POOL = ((2, 2, 9, 9), (3, 2, 3, 3), 1, 0, True, 2, 2, 7)  # 7x7 conv output, pool reads 6x6
UNREAD_BY_3X3_POOL = ((1, 2, 12, 12), (3, 2, 3, 3), 1, 0, True, 3, 3, 3)  # 10x10, reads 9x9
STUDY_LAST_POOL = ((2, 4, 13, 13), (5, 4, 3, 3), 1, 0, True, 3, 3, 11)  # 11x11, reads 9x9


@pytest.fixture
def unfused(monkeypatch):
    """Run with fusion off, as TINYCNN_FUSION=0 does."""
    monkeypatch.setattr(fusion, "enabled", False)


@st.composite
def fused_cases(draw):
    padding, stride = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    K = draw(st.integers(1, min(5, H + 2 * padding, W + 2 * padding)))
    OH, OW = (H + 2 * padding - K) // stride + 1, (W + 2 * padding - K) // stride + 1
    pool_kernel = draw(st.integers(0, min(3, OH, OW)))  # 0: no pooling
    pool_stride = draw(st.integers(1, 3)) if pool_kernel else 0
    N, C, Fo = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    return (N, C, H, W), (Fo, C, K, K), stride, padding, draw(st.booleans()), pool_kernel, pool_stride, draw(seeds)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@example(case=UNREAD_BY_2X2_POOL)
@example(case=UNREAD_BY_3X3_POOL)
@example(case=STUDY_LAST_POOL)
@given(case=fused_cases())
def test_fused_kernel_matches_the_naive_composition(dtype, case):
    x_shape, w_shape, stride, padding, relu, pool_kernel, pool_stride, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out, argmax = conv2d_fused_forward(x, w, b, stride, padding, relu, pool_kernel, pool_stride, 2)
    expected = conv2d_fused_forward_naive(x, w, b, stride, padding, relu, pool_kernel, pool_stride)
    assert out.dtype == dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **TOLERANCE[dtype])
    assert argmax.shape[0] == (x_shape[0] if pool_kernel else 0)


def unfused_composition(x, w, b, stride, padding, relu, pool_kernel, pool_stride, relu_first=True):
    out = tinycnn.functional.Conv2dFunction.apply(x, w, b, stride, padding)
    if relu and relu_first:
        out = F.ReLUFunction.apply(out)
    if pool_kernel:
        out = F.MaxPool2dFunction.apply(out, pool_kernel, pool_stride)
    if relu and not relu_first:
        out = F.ReLUFunction.apply(out)
    return out


@example(UNREAD_BY_2X2_POOL, True)
@example(UNREAD_BY_3X3_POOL, False)
@example(STUDY_LAST_POOL, True)
@given(fused_cases(), st.booleans())
def test_fused_gradients_equal_the_unfused_ones(case, relu_first):
    """Both orders the study uses (ReLU then pool, pool then ReLU) give one fused op with the same gradients."""
    x_shape, w_shape, stride, padding, relu, pool_kernel, pool_stride, seed = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])]
    grads = []
    for fused in (True, False):
        x, w, b = (Tensor(a.copy(), requires_grad=True) for a in arrays)
        if fused:
            out = F.conv2d(x, w, b, stride, padding)
            if relu and relu_first:
                out = F.relu(out)
            if pool_kernel:
                out = F.max_pool2d(out, pool_kernel, pool_stride)
            if relu and not relu_first:
                out = F.relu(out)
            assert isinstance(out._plan, fusion.ConvPlan)  # still one deferred op
        else:
            out = unfused_composition(x, w, b, stride, padding, relu, pool_kernel, pool_stride, relu_first)
        dout = np.random.default_rng(seed + 1).standard_normal(out.shape)
        (out * Tensor(dout)).sum().backward()
        grads.append((out.data, x.grad, w.grad, b.grad))
    for fused_value, unfused_value in zip(*grads):
        np.testing.assert_allclose(fused_value, unfused_value, rtol=1e-10, atol=1e-10)


@example(UNREAD_BY_2X2_POOL)
@example(UNREAD_BY_3X3_POOL)
@given(fused_cases())
def test_fused_gradients_against_finite_differences(case):
    x_shape, w_shape, stride, padding, relu, pool_kernel, pool_stride, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    w, b = rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])

    def layer(x, w, b):
        out = F.conv2d(x, w, b, stride, padding)
        out = F.relu(out) if relu else out
        return F.max_pool2d(out, pool_kernel, pool_stride) if pool_kernel else out

    # conv outputs are sums of products of normals: ties and exact zeros have probability 0
    check_gradients(layer, [x, w, b], seed)


def test_fusion_off_gives_the_same_training_step(unfused):
    from models import MinimalNet
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 1, 28, 28)), rng.integers(0, 10, 8)
    results = []
    for enabled in (False, True):
        fusion.enabled = enabled
        model = MinimalNet(generator=np.random.default_rng(1)).to(np.float64)
        loss = F.cross_entropy(model(Tensor(x)), y)
        loss.backward()
        results.append([loss.item()] + [p.grad for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_weights_are_taken_when_the_op_is_called_not_when_it_is_read():
    x = Tensor(np.ones((1, 1, 3, 3)))
    w = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    out = F.relu(F.conv2d(x, w))
    w.data = w.data * 0  # as an optimizer step would
    assert out.item() == 9.0


def test_an_intermediate_used_twice_is_computed_on_its_own():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((1, 1, 6, 6)))
    w = Tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    conv = F.conv2d(x, w)
    pooled = F.max_pool2d(F.relu(conv), 2)
    (pooled.sum() + conv.sum()).backward()
    expected_w = w.grad.copy()
    w.grad = None
    conv_plain = tinycnn.functional.Conv2dFunction.apply(x, w, None, 1, 0)
    pooled_plain = F.MaxPool2dFunction.apply(F.ReLUFunction.apply(conv_plain), 2, 2)
    (pooled_plain.sum() + conv_plain.sum()).backward()
    np.testing.assert_allclose(expected_w, w.grad, rtol=1e-12)


def test_a_conv_made_under_no_grad_records_nothing():
    x = Tensor(np.ones((1, 1, 4, 4)))
    w = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    with tinycnn.no_grad():
        out = F.max_pool2d(F.relu(F.conv2d(x, w)), 2)
    assert not out.requires_grad
    assert out.shape == (1, 1, 1, 1) and out.item() == 9.0 and out._ctx is None


def test_a_deferred_root_can_backward():
    x = Tensor(np.ones((1, 1, 3, 3)))
    w = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.conv2d(x, w).backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_allclose(w.grad, np.full((1, 1, 2, 2), 4.0))


def test_fused_backward_repeats_bit_for_bit():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 4, 13, 13)).astype(np.float32)
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    out, argmax = conv2d_fused_forward(x, w, np.zeros(8, np.float32), 1, 0, True, 3, 3, 2)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    first = conv2d_fused_backward(dout, x, w, out, argmax, 1, 0, True, 3, 3, True, 2)
    for _ in range(3):
        for a, b in zip(first, conv2d_fused_backward(dout, x, w, out, argmax, 1, 0, True, 3, 3, True, 2)):
            assert np.array_equal(a, b)


@given(fused_cases(), st.integers(1, 5))
def test_fused_forward_is_the_same_for_any_split_over_threads(case, n_parts):
    """Each image is computed alone, so how the batch is split into runs cannot change a bit."""
    x_shape, w_shape, stride, padding, relu, pool_kernel, pool_stride, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    one_run = conv2d_fused_forward(x, w, b, stride, padding, relu, pool_kernel, pool_stride, 1)
    split = conv2d_fused_forward(x, w, b, stride, padding, relu, pool_kernel, pool_stride, n_parts)
    for a, c in zip(one_run, split):
        assert np.array_equal(a, c)


@given(fused_cases(), st.integers(2, 5))
def test_fused_backward_is_the_same_for_any_split_over_threads(case, n_parts):
    """One run of images or several, each with its own partial sums: the same gradients (float64, up to rounding)."""
    x_shape, w_shape, stride, padding, relu, pool_kernel, pool_stride, seed = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out, argmax = conv2d_fused_forward(x, w, rng.standard_normal(w_shape[0]), stride, padding, relu, pool_kernel,
                                       pool_stride, 2)
    dout = rng.standard_normal(out.shape)
    one_run = conv2d_fused_backward(dout, x, w, out, argmax, stride, padding, relu, pool_kernel, pool_stride,
                                    True, 1)
    split = conv2d_fused_backward(dout, x, w, out, argmax, stride, padding, relu, pool_kernel, pool_stride,
                                  True, n_parts)
    for a, b in zip(one_run, split):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
