"""Adam's one-pass kernel (kernels/adam.py) gives the NumPy lines' bits: the same operations in the same order."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycnn import Tensor, backend, optim
from tinycnn.nn import Parameter


def run_adam(kernel_set, values, grads, dtype, **options):
    parameter = Parameter(Tensor(values.astype(dtype)))
    optimizer = optim.Adam([parameter], **options)
    with backend.use(kernel_set):
        for grad in grads:
            parameter.grad = grad.astype(dtype)
            optimizer.step()
    state = optimizer.state_dict()["state"][0]
    return parameter.data, state["exp_avg"], state["exp_avg_sq"]


@settings(max_examples=40, deadline=None)
@given(shape=st.sampled_from([(1,), (7,), (3, 5), (2, 3, 2, 2)]), dtype=st.sampled_from([np.float32, np.float64]),
       lr=st.floats(1e-4, 0.5), weight_decay=st.sampled_from([0.0, 1e-4, 0.1]), steps=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_the_one_pass_adam_gives_the_numpy_lines_bits(shape, dtype, lr, weight_decay, steps, seed):
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 3) for _ in range(steps)]
    options = dict(lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)
    fast = run_adam("fast", values, grads, dtype, **options)
    reference = run_adam("reference", values, grads, dtype, **options)
    for a, b in zip(fast, reference):
        assert a.dtype == dtype and np.array_equal(a, b)


def test_amsgrad_and_a_non_contiguous_gradient_take_the_numpy_lines():
    values = np.arange(6.0).reshape(2, 3)
    grads = [np.asfortranarray(np.linspace(-1, 1, 6).reshape(2, 3))]
    for options in (dict(amsgrad=True), dict()):
        fast = run_adam("fast", values, grads, np.float32, lr=0.1, **options)
        reference = run_adam("reference", values, grads, np.float32, lr=0.1, **options)
        assert all(np.array_equal(a, b) for a, b in zip(fast, reference))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_kernel_alone_matches_its_docstring(dtype):
    from tinycnn.kernels.adam import adam_update

    rng = np.random.default_rng(0)
    grad, m, v = rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype), rng.random(5).astype(dtype)
    expected_m = m * dtype(0.9) + dtype(0.1) * grad
    expected_v = v * dtype(0.999) + dtype(0.001) * grad * grad
    update = adam_update(grad, m, v, dtype(0.9), dtype(0.1), dtype(0.999), dtype(0.001), dtype(0.01), dtype(0.5),
                         dtype(1e-8))
    assert np.array_equal(m, expected_m) and np.array_equal(v, expected_v)
    assert np.array_equal(update, dtype(0.01) * expected_m / (np.sqrt(expected_v) / dtype(0.5) + dtype(1e-8)))
