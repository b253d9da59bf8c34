"""The Tensor's PyTorch habits: reductions along a dim, views, indexing, **, @, dtypes, and the module-level makers.

Every differentiable one is checked against central finite differences in
float64, and, where torch is installed, forward and backward against
PyTorch: each case below is one lambda ``fn(lib, x)`` that runs unchanged on
``lib = tinycnn`` and ``lib = torch``, because the names are the same.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinycnn
import tinycnn.functional as F
from tinycnn import Tensor
from tinycnn.gradcheck import check_gradients, distinct_values

REPO = Path(__file__).resolve().parents[1]
seeds = st.integers(0, 2**32 - 1)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)

# Each case: fn(lib, x) with x a (3, 4) tensor of distinct values, none near 0 (so no max, mask or pow sits on a kink).
CASES = {
    "sum(1)": lambda lib, x: x.sum(1),
    "sum((0, 1), keepdim)": lambda lib, x: x.sum((0, 1), keepdim=True),
    "sum(-1, keepdim)": lambda lib, x: x.sum(-1, keepdim=True),
    "mean(0)": lambda lib, x: x.mean(0),
    "mean(dim=1, keepdim)": lambda lib, x: x.mean(dim=1, keepdim=True),
    "max()": lambda lib, x: x.max(),
    "max(1).values": lambda lib, x: x.max(1).values,
    "max(0, keepdim)[0]": lambda lib, x: x.max(0, keepdim=True)[0],
    "min()": lambda lib, x: x.min(),
    "min(dim=-1).values": lambda lib, x: x.min(dim=-1).values,
    "view(4, 3)": lambda lib, x: x.view(4, 3),
    "reshape(-1)": lambda lib, x: x.reshape(-1),
    "flatten()": lambda lib, x: x.flatten(),
    "unsqueeze(1)": lambda lib, x: x.unsqueeze(1),
    "unsqueeze(-1).squeeze()": lambda lib, x: x.unsqueeze(-1).squeeze(),
    "unsqueeze(0).squeeze(0)": lambda lib, x: x.unsqueeze(0).squeeze(0),
    "T": lambda lib, x: x.T,
    "permute(1, 0)": lambda lib, x: x.permute(1, 0),
    "transpose(0, 1) then reshape": lambda lib, x: x.transpose(0, 1).reshape(2, 6),
    "[0]": lambda lib, x: x[0],
    "[1:]": lambda lib, x: x[1:],
    "[:, 1]": lambda lib, x: x[:, 1],
    "[::2, 1:3]": lambda lib, x: x[::2, 1:3],
    "[..., None]": lambda lib, x: x[..., None],
    "[[0, 0, 2]] (a row twice)": lambda lib, x: x[[0, 0, 2]],
    "[x > 0] (a mask)": lambda lib, x: x[x > 0],
    "[tensor([2, 0]), 1]": lambda lib, x: x[lib.tensor([2, 0]), 1],
    "** 2": lambda lib, x: x ** 2,
    "** 3": lambda lib, x: x ** 3,
    "** 0": lambda lib, x: x ** 0,
    "(x * x + 1) ** 0.5": lambda lib, x: (x * x + 1) ** 0.5,
    "(x * x + 1) ** -1.5": lambda lib, x: (x * x + 1) ** -1.5,
    "x @ x.T": lambda lib, x: x @ x.T,
    "x.T @ x": lambda lib, x: x.T @ x,
    "clone()": lambda lib, x: x.clone() * x,
    "double()": lambda lib, x: x.double(),
    "exp()": lambda lib, x: x.exp(),
    "log()": lambda lib, x: (x * x).log(),
    "softmax(1)": lambda lib, x: x.softmax(1),
    "softmax(dim=0)": lambda lib, x: x.softmax(dim=0),
    "log_softmax(0)": lambda lib, x: x.log_softmax(0),
    "cat(dim 0)": lambda lib, x: lib.cat([x, x[1:] * 2], 0),
    "cat(dim -1)": lambda lib, x: lib.cat((x, x), dim=-1),
    "stack(dim 1)": lambda lib, x: lib.stack([x, x * 2, x[::-1] if lib is tinycnn else x.flip(0)], 1),
    "stack(dim -1)": lambda lib, x: lib.stack([x, x], dim=-1),
    "iterate": lambda lib, x: lib.stack([row * i for i, row in enumerate(x)]),
}


def case_input(seed=0):
    return distinct_values(np.random.default_rng(seed), (3, 4), gap=0.3)


@pytest.mark.parametrize("name", CASES)
def test_gradients_against_finite_differences(name):
    check_gradients(lambda x: CASES[name](tinycnn, x), [case_input()])


@pytest.mark.parametrize("name", CASES)
def test_forward_and_backward_match_torch(name):
    torch = pytest.importorskip("torch")
    x = case_input()
    ours, theirs = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, t_out = CASES[name](tinycnn, ours), CASES[name](torch, theirs)
    assert out.shape == tuple(t_out.shape) and str(out.dtype) == str(t_out.dtype).removeprefix("torch.")
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    (out * Tensor(dout)).sum().backward()
    (t_out * torch.tensor(dout)).sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


# ----- the same ops over shapes hypothesis draws --------------------------------------------------------------


@st.composite
def shapes_and_dims(draw):
    """A shape, a non-empty set of its dimensions (as an int, or as a tuple with some negative), and keepdim."""
    shape = draw(shapes)
    dims = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True))
    dims = [d - len(shape) if draw(st.booleans()) else d for d in dims]
    return shape, dims[0] if len(dims) == 1 else tuple(dims), draw(st.booleans()), draw(seeds)


@given(shapes_and_dims())
def test_sum_and_mean_along_dims_gradients(case):
    shape, dim, keepdim, seed = case
    x = np.random.default_rng(seed).standard_normal(shape)
    out = Tensor(x).sum(dim, keepdim=keepdim)
    np.testing.assert_allclose(out.data, x.sum(axis=dim, keepdims=keepdim))
    check_gradients(lambda x: x.sum(dim, keepdim=keepdim), [x], seed)
    check_gradients(lambda x: x.mean(dim=dim, keepdim=keepdim), [x], seed)


@given(shapes, st.data(), st.booleans(), seeds)
def test_max_and_min_along_a_dim_gradients_and_indices(shape, data, keepdim, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = distinct_values(np.random.default_rng(seed), shape)
    for name, arg in (("max", np.argmax), ("min", np.argmin)):
        values, indices = getattr(Tensor(x), name)(dim, keepdim)
        np.testing.assert_array_equal(indices.data, arg(x, axis=dim, keepdims=keepdim))
        np.testing.assert_array_equal(values.data, getattr(x, name)(axis=dim, keepdims=keepdim))
        assert indices.dtype == np.int64
        check_gradients(lambda x: getattr(x, name)(dim, keepdim=keepdim).values, [x], seed)
        check_gradients(lambda x: getattr(x, name)(), [x], seed)


@given(shapes, st.data(), seeds)
def test_view_ops_gradients(shape, data, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    ndim = len(shape)
    new = data.draw(st.integers(-ndim - 1, ndim))
    start = data.draw(st.integers(0, ndim - 1))
    end = data.draw(st.integers(start, ndim - 1))
    order = data.draw(st.permutations(range(ndim)))
    assert Tensor(x).unsqueeze(new).shape == np.expand_dims(x, new).shape
    merged = int(np.prod(shape[start:end + 1]))
    assert Tensor(x).flatten(start, end).shape == shape[:start] + (merged,) + shape[end + 1:]
    check_gradients(lambda x: x.unsqueeze(new).squeeze(new) * x, [x], seed)
    check_gradients(lambda x: x.flatten(start, end), [x], seed)
    check_gradients(lambda x: x.view(-1).view(shape).permute(*order), [x], seed)
    check_gradients(lambda x: x.squeeze(), [x], seed)


@given(shapes.flatmap(lambda shape: st.tuples(st.just(shape), hnp.basic_indices(shape, allow_newaxis=True))), seeds)
def test_basic_indexing_gradients(case, seed):
    """Any int / slice / Ellipsis / None key NumPy takes: the forward is NumPy's, the backward scatters into zeros."""
    (shape, key), x = case, np.random.default_rng(seed).standard_normal(case[0])
    np.testing.assert_array_equal(Tensor(x)[key].data, x[key])
    check_gradients(lambda x: x[key], [x], seed)


@given(shapes.flatmap(lambda shape: st.tuples(st.just(shape), hnp.integer_array_indices(shape))), seeds)
def test_integer_array_indexing_gradients_add_up_repeated_entries(case, seed):
    (shape, key), x = case, np.random.default_rng(seed).standard_normal(case[0])
    np.testing.assert_array_equal(Tensor(x)[key].data, x[key])
    check_gradients(lambda x: x[key], [x], seed)


@given(shapes, st.sampled_from([0, 1, 2, 3, -1, 0.5, -1.5, 2.5]), seeds)
def test_pow_gradients(shape, exponent, seed):
    x = np.random.default_rng(seed).uniform(0.5, 2.0, shape)  # positive: fractional powers of negatives are NaN
    check_gradients(lambda x: x ** exponent, [x], seed)


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), seeds)
def test_matmul_gradients(n, k, m, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, k)), rng.standard_normal((k, m))
    np.testing.assert_allclose((Tensor(a) @ Tensor(b)).data, a @ b)
    check_gradients(lambda a, b: a @ b, [a, b], seed)


@given(shapes, st.integers(1, 3), st.data(), seeds)
def test_cat_and_stack_gradients(shape, count, data, seed):
    rng = np.random.default_rng(seed)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=count, max_size=count))
    parts = [rng.standard_normal(shape[:dim % len(shape)] + (size,) + shape[dim % len(shape) + 1:]) for size in sizes]
    np.testing.assert_array_equal(tinycnn.cat([Tensor(p) for p in parts], dim).data, np.concatenate(parts, dim))
    check_gradients(lambda *parts: tinycnn.cat(parts, dim), parts, seed)
    same = [rng.standard_normal(shape) for _ in range(count)]
    new = data.draw(st.integers(-len(shape) - 1, len(shape)))
    np.testing.assert_array_equal(tinycnn.stack([Tensor(p) for p in same], new).data, np.stack(same, new))
    check_gradients(lambda *parts: tinycnn.stack(parts, dim=new), same, seed)


@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data(), seeds)
def test_softmax_gradients_and_rows_sum_to_one(shape, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).standard_normal(tuple(shape)) * 3
    np.testing.assert_allclose(F.softmax(Tensor(x), dim).sum(dim).data, 1.0)
    check_gradients(lambda x: F.softmax(x, dim=dim), [x], seed)
    check_gradients(lambda x: x.softmax(dim), [x], seed)


# ----- what has no finite-difference check ------------------------------------------------------------------


def test_max_without_dim_shares_the_gradient_among_ties_as_pytorch():
    x = Tensor(np.array([[1.0, 3.0], [3.0, 0.0]]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5], [0.5, 0.0]])
    y = Tensor(np.array([[1.0, 3.0, 3.0]]), requires_grad=True)
    values, indices = y.max(1)
    values.sum().backward()
    np.testing.assert_array_equal(y.grad, [[0.0, 1.0, 0.0]])  # along a dim: the first maximum, the one indexed
    assert indices.data.tolist() == [1]


def test_float_and_double_cast_and_the_gradient_comes_back_in_the_inputs_dtype():
    """A cast is the identity on values; a finite difference through float32 would measure its rounding instead."""
    x = Tensor(np.array([1.5, -2.0], dtype=np.float32), requires_grad=True)
    assert x.float() is x and x.to(tinycnn.float32) is x and x.to("cpu") is x
    y = x.double()
    assert y.dtype == np.float64 and y.requires_grad
    (y * Tensor(np.array([3.0, 4.0]))).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 4.0]
    labels = x.long()
    assert labels.dtype == np.int64 and not labels.requires_grad and labels.data.tolist() == [1, -2]
    assert Tensor(np.array([1, 2])).float().dtype == np.float32
    with pytest.raises(RuntimeError, match="CPU only"):
        x.to("cuda")


def test_argmax_argmin_size_numel_float_int():
    x = Tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]]))
    assert x.argmax().item() == 3 and x.argmax(dim=1).data.tolist() == [1, 0]
    assert x.argmax(1, keepdim=True).shape == (2, 1) and x.argmin(0).data.tolist() == [0, 1, 0]
    assert x.argmax(1).dtype == np.int64
    assert (x.argmax(dim=1) == Tensor(np.array([1, 0]))).sum().item() == 2  # counting correct predictions
    assert x.size() == (2, 3) and x.size(-1) == 3 and x.shape == (2, 3) and x.numel() == 6
    assert float(x[1, 0]) == 7.0 and int(x[0, 1]) == 5 and float(x.sum()) == 22.0
    with pytest.raises(ValueError, match=r"float\(\): needs a tensor of one value, got shape \(2, 3\)"):
        float(x)


def test_numpy_sees_a_tensor_as_its_array_and_a_list_of_tensors_as_values():
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert np.asarray(x) is x.data or np.shares_memory(np.asarray(x), x.data)
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    assert tinycnn.tensor([x.sum(), x.max()]).data.tolist() == [10.0, 4.0]


def test_clone_copies_and_detach_shares_the_values():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    copy, detached = x.clone(), x.detach()
    assert copy.requires_grad and not detached.requires_grad
    x.data[0] = 9.0
    assert copy.data[0] == 1.0 and detached.data[0] == 9.0


def test_indexing_with_torch_keys():
    torch = pytest.importorskip("torch")
    x = np.arange(24.0).reshape(2, 3, 4)
    for key in (1, -1, (0, 2), (slice(None), 1), (Ellipsis, 0), (1, None), [1, 0, 1], np.array([True, False]),
                (0, [2, 0], [1, 3])):
        np.testing.assert_array_equal(Tensor(x)[key].data, torch.tensor(x)[key].numpy())


def test_errors_say_what_is_wrong():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(IndexError, match=r"sum: dim 2 is out of range for 2 dimensions; use one in \[-2, 1\]"):
        x.sum(2)
    with pytest.raises(ValueError, match="names a dimension twice"):
        x.sum((1, -1))
    with pytest.raises(IndexError, match=r"index 5 into a tensor of shape \(2, 3\)"):
        x[5]
    with pytest.raises(ValueError, match=r"matmul: tinycnn multiplies 2-D tensors, got shapes \(2, 3\) and \(3,\)"):
        x @ Tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(2, 3\) cannot be multiplied \(3 columns against 2"):
        x @ x
    with pytest.raises(TypeError, match="matmul: mixed dtypes"):
        x @ Tensor(np.ones((3, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="pow: the exponent must be a Python number"):
        x ** x
    with pytest.raises(TypeError, match="pow: a int64 tensor takes only a non-negative int exponent"):
        Tensor(np.array([2, 3])) ** 0.5
    with pytest.raises(TypeError, match="max\\(other\\): the element-wise maximum of two tensors is not in tinycnn"):
        x.max(x)
    with pytest.raises(ValueError, match=r"cat: shapes \[\(2, 3\), \(2, 2\)\] differ in a dimension other than dim 0"):
        tinycnn.cat([x, Tensor(np.ones((2, 2)))])
    with pytest.raises(TypeError, match="cat: mixed dtypes"):
        tinycnn.cat([x, x.float()])
    with pytest.raises(ValueError, match="stack: needs tensors of one shape"):
        tinycnn.stack([x, x[:1]])
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(x.sum())
    with pytest.raises(ValueError, match="permute: .* is not an order of the 2 dimensions"):
        x.permute(0, 0)
    with pytest.raises(TypeError, match="exp: needs a float tensor"):
        Tensor(np.array([1, 2])).exp()


# ----- making tensors ----------------------------------------------------------------------------------------


@pytest.fixture
def default_generator_restored():
    """manual_seed replaces tinycnn's default generator: put the one before the test back, where it stood."""
    state = tinycnn.random.default_generator().bit_generator.state
    yield
    tinycnn.manual_seed(0).bit_generator.state = state


def test_tensor_copies_its_data_with_pytorchs_default_dtypes():
    assert tinycnn.tensor([1.0, 2.0]).dtype == tinycnn.float32 and tinycnn.tensor([1, 2]).dtype == tinycnn.int64
    assert tinycnn.tensor(3.5).shape == () and tinycnn.tensor([True]).dtype == np.bool_
    array = np.zeros(3)
    t = tinycnn.tensor(array, dtype=tinycnn.float64, requires_grad=True)
    array[0] = 1.0
    assert t.data[0] == 0.0 and t.requires_grad and t.dtype == np.float64
    assert tinycnn.tensor([1, 2], dtype=tinycnn.float32).dtype == np.float32
    shared = tinycnn.from_numpy(array)
    array[1] = 5.0
    assert shared.data[1] == 5.0 and shared.dtype == np.float64
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        tinycnn.from_numpy([1.0])


def test_zeros_ones_take_a_size_both_ways():
    assert tinycnn.zeros(2, 3).shape == (2, 3) and tinycnn.zeros((2, 3)).dtype == np.float32
    ones = tinycnn.ones([4], dtype=tinycnn.float64, requires_grad=True)
    assert ones.data.tolist() == [1.0] * 4 and ones.dtype == np.float64 and ones.requires_grad
    with pytest.raises(TypeError, match="zeros: the size must be non-negative ints"):
        tinycnn.zeros(2.5)


def test_randn_draws_from_tinycnns_seeded_generator(default_generator_restored):
    tinycnn.manual_seed(7)
    first = tinycnn.randn(2, 3)
    tinycnn.manual_seed(7)
    again = tinycnn.randn((2, 3))
    assert first.dtype == np.float32 and first.shape == (2, 3)
    np.testing.assert_array_equal(first.data, again.data)
    own = tinycnn.randn(1000, dtype=tinycnn.float64, generator=np.random.default_rng(1))
    assert own.dtype == np.float64 and abs(own.data.mean()) < 0.1 and abs(own.data.std() - 1) < 0.1
    with pytest.raises(TypeError, match="randn: draws float32 or float64"):
        tinycnn.randn(2, dtype=tinycnn.int64)


def test_version_is_pyprojects_and_the_tensor_module_stays_importable():
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert tinycnn.__version__ == version
    from tinycnn.tensor import Tensor as ByModule
    assert ByModule is Tensor and callable(tinycnn.tensor)
