"""``torch.flatten``, ``argmax``, ``max``, ``min``, ``equal``, ``allclose``, ``is_tensor``, ``arange``,
``set_num_threads``: the functions of the package PyTorch scripts call (``torch.flatten(x, 1)`` in a forward,
``torch.max(outputs, 1)`` in an evaluation loop), most of them Tensor methods in another form. Their own file,
because ``max`` and ``min`` would hide Python's builtins in tensor.py.
"""

import numpy as np

from tinycnn.tensor import Tensor


def _as_tensor(op, value):
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: expected a tinycnn.Tensor, got {type(value).__name__} (a NumPy array? wrap it: "
                        "tinycnn.from_numpy(array); note that Tensor.data is the array, not a Tensor as in PyTorch)")
    return value


def flatten(input, start_dim=0, end_dim=-1):
    """``input.flatten(start_dim, end_dim)``, as ``torch.flatten``: from dimension 0 by default (F.flatten and
    nn.Flatten start at 1)."""
    return _as_tensor("flatten", input).flatten(start_dim, end_dim)


def argmax(input, dim=None, keepdim=False):
    """``input.argmax(dim, keepdim)``, as ``torch.argmax``."""
    return _as_tensor("argmax", input).argmax(dim, keepdim)


def max(input, dim=None, keepdim=False):
    """``input.max(dim, keepdim)``, as ``torch.max``: the largest value, or with ``dim`` the pair (values, indices)."""
    return _as_tensor("max", input).max(dim, keepdim)


def min(input, dim=None, keepdim=False):
    """``input.min(dim, keepdim)``, as ``torch.min``."""
    return _as_tensor("min", input).min(dim, keepdim)


def equal(input, other):
    """True if the two tensors have the same shape and the same values, as ``torch.equal``."""
    a, b = _as_tensor("equal", input), _as_tensor("equal", other)
    return a.shape == b.shape and bool(np.array_equal(a.data, b.data))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other| everywhere, as ``torch.allclose``."""
    a, b = _as_tensor("allclose", input), _as_tensor("allclose", other)
    return bool(np.allclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def is_tensor(obj):
    """Whether ``obj`` is a tinycnn Tensor, as ``torch.is_tensor``."""
    return isinstance(obj, Tensor)


def arange(start, end=None, step=1, *, dtype=None, requires_grad=False):
    """``start, start + step, ...`` below ``end`` (``arange(n)``: 0 to n - 1), as ``torch.arange``: int64 for
    integer arguments, float32 if any is a float, unless ``dtype`` says otherwise."""
    start, end = (0, start) if end is None else (start, end)
    if dtype is None:
        dtype = np.float32 if any(isinstance(v, float) for v in (start, end, step)) else np.int64
    return Tensor(np.arange(start, end, step, dtype=dtype), requires_grad=requires_grad)


def set_num_threads(count):
    """The threads tinycnn's kernels use (Numba's parallel loops and BLAS), as ``torch.set_num_threads``."""
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(int(count))
    threadpool_limits(limits=int(count), user_api="blas")  # set now and kept: the object is not used to restore


def get_num_threads():
    """The threads tinycnn's parallel kernels use, as ``torch.get_num_threads``."""
    import numba

    return numba.get_num_threads()


def exp(input):
    """``input.exp()``, as ``torch.exp``."""
    return _as_tensor("exp", input).exp()


def log(input):
    """``input.log()``, as ``torch.log``."""
    return _as_tensor("log", input).log()


def logsumexp(input, dim, keepdim=False):
    """``input.logsumexp(dim, keepdim)``, as ``torch.logsumexp``."""
    return _as_tensor("logsumexp", input).logsumexp(dim, keepdim)
