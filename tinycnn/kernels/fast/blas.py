"""``c = op(a) @ op(b) + beta * c`` for Numba kernels, written into ``c`` in place.

``np.dot`` inside a Numba kernel calls BLAS too, but it always returns a new
array. Two things a convolution's backward wants cannot be said with it:

- accumulate: a weight gradient is a sum of one product per image.
  ``dweight += np.dot(dconv, cols.T)`` writes the product to a temporary
  and then passes over the (F, C*KH*KW) accumulator a second time to add
  it; with ``beta = 1`` BLAS adds into the accumulator as it goes.
- reuse: a thread that runs one product per image can write every product
  into the same buffer instead of allocating a fresh one each time.

This calls ``numba_xxgemm``, the small C function Numba itself uses for
``np.dot`` (it calls SciPy's BLAS, ``scipy.linalg.cython_blas``). It is found
by name when the kernel is linked, so kernels using it can still be cached
on disk.

BLAS is column-major and NumPy C-order is row-major. A C-contiguous (r, s)
array is, read column-major, its own transpose: an (s, r) matrix with leading
dimension s. So the row-major product ``C = op(A) @ op(B)`` is computed as the
column-major product ``C.T = op(B).T @ op(A).T``: swap the operands, keep the
transpose flags, and pass the distance between an array's rows in memory as
its leading dimension.
"""

import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba_xxgemm calls; fail here, not inside a kernel)
from numba import config, types

from tinycnn.kernels.jit import njit

_gemm_signature = types.intc(
    types.char,  # kind: 's' float32, 'd' float64
    types.char, types.char,  # transa, transb: 'n' or 't'
    types.intp, types.intp, types.intp,  # m, n, k (column-major)
    types.voidptr,  # alpha (pointer to one scalar)
    types.voidptr, types.intp,  # a, lda
    types.voidptr, types.intp,  # b, ldb
    types.voidptr,  # beta (pointer to one scalar)
    types.voidptr, types.intp,  # c, ldc
)
_numba_xxgemm = types.ExternalFunction("numba_xxgemm", _gemm_signature)

# What the kernels pass as gemm's transpose flags. NumPy booleans, not Python's True and False: Numba types a
# literal True or False as a type of its own, so each combination of flags used to compile gemm again (three
# times in the conv kernels); these are plain booleans to it.
AS_IS, TRANSPOSED = np.bool_(False), np.bool_(True)

_NO_TRANSPOSE, _TRANSPOSE = ord("n"), ord("t")
_FLOAT32, _FLOAT64 = ord("s"), ord("d")


@njit
def _row_length_in_memory(matrix):
    """BLAS's leading dimension: elements from one row's start to the next's; -1 if BLAS cannot take it.

    BLAS takes a matrix whose rows are each contiguous and evenly spaced, at
    least a row's length apart: a C-contiguous array, or a slice of its
    columns such as ``m[:, 10:20]``.
    """
    row_step, column_step = matrix.strides
    if column_step != matrix.itemsize or row_step % matrix.itemsize != 0:
        return -1
    length = row_step // matrix.itemsize
    return length if length >= max(1, matrix.shape[1]) else -1


@njit
def gemm(a, transpose_a, b, transpose_b, beta, c):
    """c = op(a) @ op(b) + beta * c, in place; op(m) is m.T if its flag is True, else m.

    a: (M, K), or (K, M) if transpose_a     (M, K, P are gemm's own letters,
    b: (K, P), or (P, K) if transpose_b      not the shape legend's)
    c: (M, P), read only if beta != 0
    All three of one dtype, float32 or float64, each C-contiguous or a slice
    of a C-contiguous array's columns (``m[:, i:j]``): BLAS reads such a slice
    in place, given the distance between its rows.
    beta = 0 overwrites c (whatever it held, NaN included); beta = 1 adds to it.
    """
    M, P = c.shape
    K = a.shape[0] if transpose_a else a.shape[1]
    if (a.shape[1] if transpose_a else a.shape[0]) != M or (b.shape[1] if transpose_b else b.shape[0]) != K \
            or (b.shape[0] if transpose_b else b.shape[1]) != P:
        raise ValueError("gemm: shapes of a, b and c do not fit c = op(a) @ op(b)")
    if M == 0 or P == 0:
        return
    if K == 0:  # an empty sum: BLAS would not look at a and b
        if beta == 0:
            c[:] = 0.0
        else:
            c *= beta
        return
    lda, ldb, ldc = _row_length_in_memory(a), _row_length_in_memory(b), _row_length_in_memory(c)
    if lda < 0 or ldb < 0 or ldc < 0:
        raise ValueError("gemm: the rows of a, b and c must each be contiguous (C order, or a slice of columns)")
    scalars = np.empty(2, dtype=c.dtype)  # [alpha, beta] in c's dtype: BLAS takes them by address
    scalars[0] = 1.0
    scalars[1] = beta
    status = _numba_xxgemm(
        _FLOAT32 if c.itemsize == 4 else _FLOAT64,
        _TRANSPOSE if transpose_b else _NO_TRANSPOSE,  # column-major: b's transpose comes first
        _TRANSPOSE if transpose_a else _NO_TRANSPOSE,
        P, M, K,
        scalars[0:].ctypes.data,
        b.ctypes.data, ldb,
        a.ctypes.data, lda,
        scalars[1:].ctypes.data,
        c.ctypes.data, ldc,
    )
    if status != 0:
        raise RuntimeError("gemm: SciPy's BLAS could not be called (is scipy installed?)")


def _gemm_in_numpy(a, transpose_a, b, transpose_b, beta, c):
    """What ``gemm`` computes, in NumPy, for NUMBA_DISABLE_JIT=1: BLAS's C function is callable only from compiled code."""
    product = (a.T if transpose_a else a) @ (b.T if transpose_b else b)
    c[...] = product if beta == 0 else product + beta * c


if config.DISABLE_JIT:
    gemm = _gemm_in_numpy  # noqa: F811
