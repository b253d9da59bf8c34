"""kernels/fast/buffers.py's output_array: the same array from NumPy below 4 MB and from Numba above it."""

import numpy as np
import pytest

from tinycnn.kernels.fast.buffers import NUMPY_HUGE_PAGES_FROM, output_array


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8])
@pytest.mark.parametrize("side", ["below", "above"])
def test_output_array_gives_the_shape_dtype_and_zeros_asked(dtype, side):
    itemsize = np.dtype(dtype).itemsize
    count = NUMPY_HUGE_PAGES_FROM // itemsize + (1 if side == "above" else -1)
    shape = (count, 1, 1, 1)
    empty = output_array(shape, dtype)
    zeroed = output_array(shape, dtype, zeroed=True)
    for array in (empty, zeroed):
        assert array.shape == shape and array.dtype == np.dtype(dtype) and array.flags.c_contiguous
        assert array.flags.writeable
    assert not zeroed.any()
    empty[:] = 1  # writable all through
    assert empty.sum() == count
