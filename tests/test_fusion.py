"""Fusion: conv2d with the ReLU and max-pool that follow it, as one op, equals the ops run one by one."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tinycnn
import tinycnn.functional as F
from tinycnn.gradcheck import check_gradients
from tinycnn import Tensor, fusion

seeds = st.integers(0, 2**32 - 1)


@st.composite
def layer_cases(draw):
    padding, stride = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    K = draw(st.integers(1, min(5, H + 2 * padding, W + 2 * padding)))
    OH, OW = (H + 2 * padding - K) // stride + 1, (W + 2 * padding - K) // stride + 1
    pool_kernel = draw(st.integers(0, min(3, OH, OW)))  # 0: no pooling
    pool_stride = draw(st.integers(1, 3)) if pool_kernel else 0
    N, C, Fo = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    return (N, C, H, W), (Fo, C, K, K), stride, padding, draw(st.booleans()), pool_kernel, pool_stride, draw(seeds)


UNREAD_BY_2X2_POOL = ((2, 2, 9, 9), (3, 2, 3, 3), 1, 0, True, 2, 2, 7)  # 7x7 conv output, the pool reads 6x6
UNREAD_BY_3X3_POOL = ((1, 2, 12, 12), (3, 2, 3, 3), 1, 0, True, 3, 3, 3)  # 10x10, reads 9x9
STUDY_LAST_POOL = ((2, 4, 13, 13), (5, 4, 3, 3), 1, 0, True, 3, 3, 11)  # 11x11, reads 9x9
# a 2x2 pool after as many filters as im2col rows (1*2*2): the forward runs in window order (conv2d_windows.py)
WINDOW_ORDER = ((2, 1, 8, 7), (4, 1, 2, 2), 1, 1, True, 2, 2, 5)
# a 3x3 pool after 8 filters, on a small product: the forward pools across filters (conv2d.py)
ACROSS_FILTERS = ((2, 2, 11, 11), (8, 2, 3, 3), 1, 0, True, 3, 3, 13)


def layer(x, w, b, stride, padding, relu, pool_kernel, pool_stride, relu_first=True):
    """conv2d, then ReLU and max-pool in either of the study's two orders, through the public ops."""
    out = F.conv2d(x, w, b, stride, padding)
    if relu and relu_first:
        out = F.relu(out)
    if pool_kernel:
        out = F.max_pool2d(out, pool_kernel, pool_stride)
    if relu and not relu_first:
        out = F.relu(out)
    return out


@example(UNREAD_BY_2X2_POOL, True)
@example(UNREAD_BY_3X3_POOL, False)
@example(STUDY_LAST_POOL, True)
@example(WINDOW_ORDER, False)
@example(ACROSS_FILTERS, False)
@given(layer_cases(), st.booleans())
def test_fused_values_and_gradients_equal_the_unfused_ones(case, relu_first):
    """Both orders the study uses (ReLU then pool, pool then ReLU) give one op with the ops' values and gradients."""
    x_shape, w_shape, stride, padding, relu, pool_kernel, pool_stride, seed = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])]
    dout = rng.standard_normal(layer(*[Tensor(a) for a in arrays], stride, padding, relu, pool_kernel,
                                     pool_stride).shape)
    results = []
    for fused in (True, False):
        x, w, b = (Tensor(a.copy(), requires_grad=True) for a in arrays)
        with fusion.set_enabled(fused):
            out = layer(x, w, b, stride, padding, relu, pool_kernel, pool_stride, relu_first)
        assert isinstance(out, fusion.Pending) == fused  # fused: still one op, not run yet
        (out * Tensor(dout)).sum().backward()
        results.append((out.data, x.grad, w.grad, b.grad))
    for fused_value, unfused_value in zip(*results):
        np.testing.assert_allclose(fused_value, unfused_value, rtol=1e-10, atol=1e-10)


@example(UNREAD_BY_2X2_POOL)
@example(UNREAD_BY_3X3_POOL)
@example(WINDOW_ORDER)
@example(ACROSS_FILTERS)
@given(layer_cases())
def test_fused_gradients_against_finite_differences(case):
    x_shape, w_shape, stride, padding, relu, pool_kernel, pool_stride, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    # conv outputs are sums of products of normals: ties and exact zeros have probability 0
    check_gradients(lambda x, w, b: layer(x, w, b, stride, padding, relu, pool_kernel, pool_stride), [x, w, b], seed)


def test_a_model_takes_the_same_training_step_with_fusion_off():
    from models import MinimalNet
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 1, 28, 28)), rng.integers(0, 10, 8)
    results = []
    for enabled in (False, True):
        with fusion.set_enabled(enabled):
            model = MinimalNet(generator=np.random.default_rng(1)).to(np.float64)
            loss = F.cross_entropy(model(Tensor(x)), y)
            loss.backward()
        results.append([loss.item()] + [p.grad for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_the_switch_as_a_call_and_as_a_block():
    assert fusion.is_enabled()  # the default (this suite does not set TINYCNN_FUSION)
    x, w = Tensor(np.ones((1, 1, 3, 3))), Tensor(np.ones((1, 1, 2, 2)))
    with fusion.set_enabled(False):
        assert not fusion.is_enabled() and not isinstance(F.conv2d(x, w), fusion.Pending)
        with fusion.set_enabled(True):
            assert isinstance(F.conv2d(x, w), fusion.Pending)
        assert not fusion.is_enabled()
    assert fusion.is_enabled()
    try:
        fusion.set_enabled(False)  # called, not entered: for the rest of the program
        assert not fusion.is_enabled()
    finally:
        fusion.set_enabled(True)


def test_the_environment_switch():
    code = "import tinycnn; print(tinycnn.fusion.is_enabled())"
    for value, expected in (("0", "False"), ("1", "True")):
        run = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, TINYCNN_FUSION=value),
                             capture_output=True, text=True, timeout=120)
        assert run.stdout.strip() == expected, run.stderr


def test_weights_are_taken_when_the_op_is_called_not_when_it_is_read():
    x = Tensor(np.ones((1, 1, 3, 3)))
    w = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    out = F.relu(F.conv2d(x, w))
    w.data = w.data * 0  # as an optimizer step would
    assert out.item() == 9.0
    out.backward()
    np.testing.assert_array_equal(w.grad, np.ones((1, 1, 3, 3)))  # the gradient still reaches w


def test_an_intermediate_used_twice_is_computed_on_its_own():
    rng = np.random.default_rng(0)
    x_array, w_array = rng.standard_normal((1, 1, 6, 6)), rng.standard_normal((2, 1, 3, 3))
    grads = []
    for fused in (True, False):
        with fusion.set_enabled(fused):
            x, w = Tensor(x_array), Tensor(w_array, requires_grad=True)
            conv = F.conv2d(x, w)
            pooled = F.max_pool2d(F.relu(conv), 2)
            (pooled.sum() + conv.sum()).backward()
        grads.append(w.grad)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def test_a_conv_made_under_no_grad_records_nothing():
    x = Tensor(np.ones((1, 1, 4, 4)))
    w = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    with tinycnn.no_grad():
        out = F.max_pool2d(F.relu(F.conv2d(x, w)), 2)
    assert not out.requires_grad
    assert out.shape == (1, 1, 1, 1) and out.item() == 9.0 and out._ctx is None


def test_a_pending_root_can_backward():
    x = Tensor(np.ones((1, 1, 3, 3)))
    w = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    out = F.conv2d(x, w)
    assert out.pending
    out.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_allclose(w.grad, np.full((1, 1, 2, 2), 4.0))


@pytest.mark.parametrize("fused", [True, False])
def test_shape_and_dtype_are_known_before_the_value(fused):
    x = Tensor(np.zeros((2, 3, 11, 11), dtype=np.float32))
    w = Tensor(np.zeros((4, 3, 3, 3), dtype=np.float32))
    with fusion.set_enabled(fused):
        out = F.max_pool2d(F.relu(F.conv2d(x, w)), 3)
        assert out.shape == (2, 4, 3, 3) and out.dtype == np.float32
        assert out.data.shape == (2, 4, 3, 3) and out.data.dtype == np.float32


@given(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)), st.booleans(), seeds)
def test_batch_norm_with_its_relu_joined_equals_the_two_ops(shape, training, seed):
    if training and shape[0] * shape[2] * shape[3] < 2:
        shape = (2,) + shape[1:]
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) * 2, rng.standard_normal(shape[1]), rng.standard_normal(shape[1])]
    statistics = (rng.standard_normal(shape[1]), rng.uniform(0.5, 2, shape[1]))
    dout = rng.standard_normal(shape)
    results = []
    for fused in (True, False):
        x, w, b = (Tensor(a.copy(), requires_grad=True) for a in arrays)
        running = tuple(s.copy() for s in statistics)
        with fusion.set_enabled(fused):
            out = F.relu(F.batch_norm(x, *running, w, b, training=training))
        assert isinstance(out, fusion.Pending) == fused
        (out * Tensor(dout)).sum().backward()
        results.append((out.data, x.grad, w.grad, b.grad) + running)
    for fused_value, unfused_value in zip(*results):
        np.testing.assert_allclose(fused_value, unfused_value, rtol=1e-10, atol=1e-12)


@given(st.tuples(st.integers(2, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)), seeds)
def test_batch_norm_with_its_relu_joined_against_finite_differences(shape, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) * 2, rng.standard_normal(shape[1]), rng.standard_normal(shape[1])]
    check_gradients(lambda x, w, b: F.relu(F.batch_norm(x, None, None, w, b, training=True)), arrays, seed,
                    rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 1e-5)])
@given(case=layer_cases(), conv_bias=st.booleans(), affine=st.booleans())
def test_inference_folds_a_batch_norm_into_the_conv_before_it(dtype, tolerance, case, conv_bias, affine):
    """In evaluation mode with no gradient recorded, conv -> BatchNorm -> ReLU -> max-pool is one conv call with
    the batch norm folded into its weights: the unfused ops' values, to float rounding."""
    x_shape, w_shape, stride, padding, relu, pool_kernel, pool_stride, seed = case
    rng = np.random.default_rng(seed)
    conv = tinycnn.nn.Conv2d(w_shape[1], w_shape[0], w_shape[2], stride=stride, padding=padding, bias=conv_bias,
                             generator=rng).to(dtype)
    norm = tinycnn.nn.BatchNorm2d(w_shape[0], affine=affine).to(dtype)
    norm.running_mean[:] = rng.standard_normal(w_shape[0])
    norm.running_var[:] = rng.uniform(0.5, 2.0, w_shape[0])
    if affine:
        norm.weight.data[:] = rng.standard_normal(w_shape[0])
        norm.bias.data[:] = rng.standard_normal(w_shape[0])
    norm.eval()
    x = Tensor(rng.standard_normal(x_shape).astype(dtype))

    def layer():
        out = norm(conv(x))
        out = F.relu(out) if relu else out
        return F.max_pool2d(out, pool_kernel, pool_stride) if pool_kernel else out

    with tinycnn.no_grad():
        folded = layer()
        assert isinstance(folded, fusion.Pending) and folded.function is F.Conv2dFunction  # no batch norm node
        with fusion.set_enabled(False):
            expected = layer().data
    np.testing.assert_allclose(folded.data, expected, rtol=tolerance, atol=tolerance)


def test_a_batch_norm_is_not_folded_where_a_gradient_is_recorded():
    """Evaluation mode with gradients on (fine-tuning with frozen statistics): the batch norm's own weights need
    their gradient, so it stays an op of its own."""
    rng = np.random.default_rng(0)
    conv, norm = tinycnn.nn.Conv2d(1, 2, 3, generator=rng), tinycnn.nn.BatchNorm2d(2)
    norm.eval()
    out = norm(conv(Tensor(rng.standard_normal((2, 1, 5, 5)).astype(np.float32))))
    assert out.function is F.BatchNormFunction
    out.sum().backward()
    assert norm.weight.grad is not None and conv.weight.grad is not None
