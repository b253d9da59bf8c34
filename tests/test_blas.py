"""``gemm``: c = op(a) @ op(b) + beta * c in place, against NumPy's matmul."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinycnn.kernels.fast.blas import gemm

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(M=st.integers(0, 9), K=st.integers(0, 9), P=st.integers(0, 9), transpose_a=st.booleans(),
       transpose_b=st.booleans(), beta=st.sampled_from([0.0, 1.0, -0.5]), seed=st.integers(0, 2**32 - 1))
def test_gemm_matches_numpy(dtype, M, K, P, transpose_a, transpose_b, beta, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((K, M) if transpose_a else (M, K)).astype(dtype)
    b = rng.standard_normal((P, K) if transpose_b else (K, P)).astype(dtype)
    c = rng.standard_normal((M, P)).astype(dtype)
    expected = (a.T if transpose_a else a) @ (b.T if transpose_b else b) + beta * c
    gemm(a, transpose_a, b, transpose_b, beta, c)
    np.testing.assert_allclose(c, expected, **TOLERANCE[dtype])


def test_gemm_with_beta_zero_ignores_what_c_held():
    c = np.full((2, 2), np.nan)
    gemm(np.ones((2, 3)), False, np.ones((3, 2)), False, 0.0, c)
    np.testing.assert_array_equal(c, np.full((2, 2), 3.0))


def test_gemm_reads_and_writes_slices_of_columns_in_place():
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((4, 10)), rng.standard_normal((3, 10)), np.zeros((4, 12))
    gemm(a[:, 2:5], False, b[:, 4:8], False, 0.0, c[:, 6:10])  # (4, 3) @ (3, 4) into columns 6..9
    expected = np.zeros((4, 12))
    expected[:, 6:10] = a[:, 2:5] @ b[:, 4:8]
    np.testing.assert_allclose(c, expected, rtol=1e-12)


def test_gemm_refuses_shapes_that_do_not_fit_and_rows_that_are_not_contiguous():
    with pytest.raises(ValueError, match="shapes"):
        gemm(np.ones((2, 3)), False, np.ones((2, 2)), False, 0.0, np.ones((2, 2)))
    with pytest.raises(ValueError, match="rows"):
        gemm(np.ones((2, 6))[:, ::2], False, np.ones((3, 2)), False, 0.0, np.ones((2, 2)))
    with pytest.raises(ValueError, match="rows"):
        gemm(np.ones((3, 2)).T, False, np.ones((3, 2)), False, 0.0, np.ones((2, 2)))
