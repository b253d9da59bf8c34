"""``np.empty``, ``np.zeros`` and ``np.ones`` for the conv kernels, compiled once and then loaded from Numba's cache.

Inside a kernel, ``np.zeros(shape, dtype=...)`` is not one function to
Numba but a small one it compiles for that kind of call: a shape of 2, 3 or
4 sizes, each dtype. It keeps those in memory only, so every process
compiles them again, for every kernel it compiles: the conv backward's nine
allocations were about 0.8 s of its 3.9 s compile, paid after every edit to
``conv2d.py`` (and by both processes of a cold start). Wrapped in these
cached functions they are compiled once per kind of call, like any kernel,
and later kernels load them from the disk cache.

They return exactly what the NumPy call returns, for any shape (an int or a
tuple of ints) and any dtype (``x.dtype`` or ``np.int8``, say).
"""

import numpy as np
from numba import njit


@njit(cache=True)
def empty(shape, dtype):
    """np.empty(shape, dtype): contents undefined, to be written before they are read."""
    return np.empty(shape, dtype=dtype)


@njit(cache=True)
def zeros(shape, dtype):
    """np.zeros(shape, dtype)."""
    return np.zeros(shape, dtype=dtype)


@njit(cache=True)
def ones(shape, dtype):
    """np.ones(shape, dtype)."""
    return np.ones(shape, dtype=dtype)
