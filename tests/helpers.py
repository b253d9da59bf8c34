"""Shared test helpers: arrays with distinct values, and a finite-difference gradient check."""

import numpy as np

import tinycnn
from tinycnn import Tensor


def distinct_values(rng, shape, gap=0.05, dtype=np.float64):
    """Random values, all different by at least ``gap`` and at least gap/2 away from 0.

    Max-pool and ReLU are not differentiable at ties and at 0; with these
    values a finite-difference step of 1e-6 never crosses such a point, so
    the check is fair.
    """
    size = int(np.prod(shape))
    ranks = rng.permutation(size) - size // 2  # distinct integers around 0
    values = (ranks + 0.5) * gap  # the odd multiples of gap/2: none is 0
    return values.reshape(shape).astype(dtype)


def numerical_gradient(scalar_fn, array, eps=1e-6):
    """Central differences of scalar_fn() with respect to each entry of ``array`` (modified in place, restored)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        plus = scalar_fn()
        array[index] = original - eps
        minus = scalar_fn()
        array[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def check_gradients(fn, arrays, seed=0, rtol=1e-5, atol=1e-7, wrt=None):
    """Compare autograd's gradients of fn(*tensors) with central finite differences, in float64.

    The output is reduced to a scalar with fixed random weights, so every
    output element's gradient matters. ``wrt`` lists the indices of the
    arrays to check (default: all).
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    wrt = range(len(arrays)) if wrt is None else wrt
    tensors = [Tensor(a, requires_grad=i in wrt) for i, a in enumerate(arrays)]
    out = fn(*tensors)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    (out * Tensor(weights)).sum().backward()

    def scalar():
        with tinycnn.no_grad():
            return float((fn(*[Tensor(a) for a in arrays]).data * weights).sum())

    for i in wrt:
        numeric = numerical_gradient(scalar, arrays[i])
        assert tensors[i].grad is not None, f"input {i} received no gradient"
        assert tensors[i].grad.shape == arrays[i].shape
        np.testing.assert_allclose(tensors[i].grad, numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i} differs from finite differences")
