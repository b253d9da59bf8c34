"""Every differentiable op against central finite differences, in float64, on hypothesis-drawn inputs."""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinycnn.functional as F
from tinycnn.gradcheck import check_gradients, distinct_values

seeds = st.integers(0, 2**32 - 1)


@st.composite
def conv_cases(draw):
    """Shapes, stride and padding of a valid convolution; sometimes a kernel as large as the padded input."""
    padding = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    if draw(st.booleans()) and H + 2 * padding <= 5 and W + 2 * padding <= 5:
        KH, KW = H + 2 * padding, W + 2 * padding  # the kernel covers the whole padded input
    else:
        KH = draw(st.integers(1, min(5, H + 2 * padding)))
        KW = draw(st.integers(1, min(5, W + 2 * padding)))
    N, C, Fo = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (N, C, H, W), (Fo, C, KH, KW), stride, padding, draw(st.booleans()), draw(seeds)


@example(((2, 3, 4, 5), (2, 3, 1, 1), 1, 0, False, 0))  # 1x1, stride 1, no padding, no bias: the image is its
@example(((1, 2, 3, 3), (3, 2, 1, 1), 1, 0, True, 1))   # own im2col columns; dx straight from the product
@given(conv_cases())
def test_conv2d_gradients(case):
    x_shape, w_shape, stride, padding, with_bias, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    if with_bias:
        check_gradients(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), [x, w, b], seed)
    else:
        check_gradients(lambda x, w: F.conv2d(x, w, stride=stride, padding=padding), [x, w], seed)


@st.composite
def pool_cases(draw):
    kernel = draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    H, W = draw(st.integers(kernel, 8)), draw(st.integers(kernel, 8))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3)), H, W), kernel, stride, draw(seeds)


@given(pool_cases())
def test_max_pool2d_gradients(case):
    shape, kernel, stride, seed = case
    x = distinct_values(np.random.default_rng(seed), shape)
    check_gradients(lambda x: F.max_pool2d(x, kernel, stride), [x], seed)


@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 5), st.booleans(), seeds)
def test_linear_gradients(N, D, M, with_bias, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((N, D)), rng.standard_normal((M, D)), rng.standard_normal(M)
    if with_bias:
        check_gradients(F.linear, [x, w, b], seed)
    else:
        check_gradients(lambda x, w: F.linear(x, w), [x, w], seed)


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), seeds)
def test_relu_gradients(shape, seed):
    x = distinct_values(np.random.default_rng(seed), tuple(shape))
    check_gradients(F.relu, [x], seed)


@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data(), seeds)
def test_log_softmax_gradients(shape, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).standard_normal(tuple(shape)) * 3
    check_gradients(lambda x: F.log_softmax(x, dim=dim), [x], seed)


@given(st.integers(1, 5), st.integers(1, 6), seeds)
def test_nll_loss_and_cross_entropy_gradients(N, K, seed):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((N, K))
    target = rng.integers(0, K, size=N)
    check_gradients(lambda s: F.nll_loss(s, target), [scores], seed)
    check_gradients(lambda s: F.cross_entropy(s, target), [scores], seed)


@st.composite
def broadcast_pairs(draw):
    """Two shapes that broadcast: b drops leading axes of a and/or has 1 where a does not."""
    a = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    b = [1 if draw(st.booleans()) else size for size in a][draw(st.integers(0, len(a) - 1)):]
    if draw(st.booleans()):
        a, b = b, a
    return tuple(a), tuple(b), draw(seeds)


@given(broadcast_pairs())
def test_elementwise_gradients_with_broadcasting(case):
    a_shape, b_shape, seed = case
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(a_shape)
    b = rng.uniform(0.5, 2.0, b_shape) * rng.choice([-1, 1], b_shape)  # away from 0 for the division
    for op in (lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b):
        check_gradients(op, [a, b], seed)


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), seeds)
def test_sum_mean_reshape_flatten_gradients(shape, seed):
    x = np.random.default_rng(seed).standard_normal(tuple(shape))
    check_gradients(lambda x: x.sum(), [x], seed)
    check_gradients(lambda x: x.mean(), [x], seed)
    check_gradients(lambda x: x.reshape(-1) * 2.0, [x], seed)
    check_gradients(lambda x: F.flatten(x, start_dim=0), [x], seed)


@settings(max_examples=3)
@given(seeds)
def test_whole_minimal_model_gradients(seed):
    """The study's 24,245-parameter model end to end (input gradient), a composition of every op."""
    from models import MinimalNet
    rng = np.random.default_rng(seed)
    model = MinimalNet(generator=rng).to(np.float64)
    x = rng.standard_normal((2, 1, 28, 28))
    target = rng.integers(0, 10, size=2)
    check_gradients(lambda x: F.nll_loss(model(x), target), [x], seed, rtol=1e-4, atol=1e-6)


@given(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)), st.booleans(), seeds)
def test_batch_norm_gradients(shape, training, seed):
    """Training (batch statistics, which depend on x) and evaluation (running statistics, constants)."""
    if training and shape[0] * shape[2] * shape[3] < 2:
        shape = (2,) + shape[1:]
    rng = np.random.default_rng(seed)
    C = shape[1]
    x, weight, bias = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(C), rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.uniform(0.5, 2.0, C)

    def bn(x, weight, bias):  # fresh copies of the running statistics, so every call sees the same ones
        return F.batch_norm(x, running_mean.copy(), running_var.copy(), weight, bias, training=training)

    check_gradients(bn, [x, weight, bias], seed, rtol=1e-4, atol=1e-6)


@given(st.lists(st.integers(1, 4), min_size=4, max_size=4), st.sampled_from([0.2, 0.5]), st.booleans(), seeds)
def test_dropout_gradients(shape, p, channels, seed):
    """The same seed gives the same mask in every call, so the function is a fixed linear map."""
    x = np.random.default_rng(seed).standard_normal(tuple(shape))
    drop = F.dropout2d if channels else F.dropout
    check_gradients(lambda x: drop(x, p, generator=np.random.default_rng(seed)), [x], seed)


@given(avgpool_settings := st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)), seeds)
def test_avg_pool2d_gradients(settings, seed):
    kernel, stride, extra_h, extra_w = settings
    x = np.random.default_rng(seed).standard_normal((2, 2, kernel + extra_h, kernel + extra_w))
    check_gradients(lambda x: F.avg_pool2d(x, kernel, stride), [x], seed)


@given(st.tuples(st.integers(1, 7), st.integers(1, 7)), st.tuples(st.integers(1, 4), st.integers(1, 4)), seeds)
def test_adaptive_avg_pool2d_gradients(size, output, seed):
    x = np.random.default_rng(seed).standard_normal((2, 2) + size)
    check_gradients(lambda x: F.adaptive_avg_pool2d(x, output), [x], seed)
