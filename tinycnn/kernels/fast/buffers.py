"""``np.empty``, ``np.zeros`` and ``np.ones`` for the conv kernels, compiled once and then loaded from Numba's cache.

Inside a kernel, ``np.zeros(shape, dtype=...)`` is not one function to
Numba but a small one it compiles for that kind of call: a shape of 2, 3 or
4 sizes, each dtype. It keeps those in memory only, so every process
compiles them again, for every kernel it compiles: a fifth of the conv
backward's compile, paid after every edit to ``conv2d.py`` (and by both
processes of a cold start). Wrapped in these
cached functions they are compiled once per kind of call, like any kernel,
and later kernels load them from the disk cache.

They return exactly what the NumPy call returns, for any shape (an int or a
tuple of ints) and any dtype (``x.dtype`` or ``np.int8``, say).

``output_array`` is for the conv kernels' Python functions, which allocate
the outputs that their kernels fill.
"""

import math

import numpy as np

from tinycnn.kernels.jit import njit

NUMPY_HUGE_PAGES_FROM = 4 * 1024 * 1024  # bytes: NumPy asks the system for huge pages for arrays this large


@njit
def empty(shape, dtype):
    """np.empty(shape, dtype): contents undefined, to be written before they are read."""
    return np.empty(shape, dtype=dtype)


@njit
def zeros(shape, dtype):
    """np.zeros(shape, dtype)."""
    return np.zeros(shape, dtype=dtype)


@njit
def ones(shape, dtype):
    """np.ones(shape, dtype)."""
    return np.ones(shape, dtype=dtype)


def output_array(shape, dtype, zeroed=False):
    """A new array for a conv kernel to fill, allocated from Python: NumPy's below 4 MB, Numba's from 4 MB on.

    For arrays of 4 MB or more NumPy asks the system for huge pages
    (``madvise``), and where memory first has to be compacted to find them,
    a large output costs more to allocate than to compute. Numba's allocator
    does not ask. Below 4 MB NumPy's call is the quicker from Python.
    """
    if math.prod(shape) * np.dtype(dtype).itemsize < NUMPY_HUGE_PAGES_FROM:
        return np.zeros(shape, dtype) if zeroed else np.empty(shape, dtype)
    return zeros(shape, dtype) if zeroed else empty(shape, dtype)
