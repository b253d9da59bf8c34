"""The parts of Numba that are not its public API and that tinycnn leans on, each named.

pyproject.toml declares the Numba releases the suite has run on. A later
release may move one of these; then this test fails with the name of the
internal and the tinycnn file that uses it, instead of a kernel failing in
an obscure way (or, worse, a cache that silently stops noticing edits).
"""

import numba
import numpy as np
import pytest


def internal(where, check):
    try:
        assert check()
    except Exception as error:  # noqa: BLE001  (any way the check fails is the same finding)
        pytest.fail(f"Numba {numba.__version__} moved an internal that {where}: {type(error).__name__}: {error}")


def test_the_cache_classes_jit_py_subclasses():
    from numba.core.caching import FunctionCache, IndexDataCacheFile

    internal("tinycnn/kernels/jit.py subclasses (numba.core.caching.FunctionCache)",
             lambda: callable(FunctionCache.load_overload) and callable(FunctionCache.save_overload))
    internal("tinycnn/kernels/jit.py stamps (IndexDataCacheFile._source_stamp, _load_index)",
             lambda: "_source_stamp" in IndexDataCacheFile.__init__.__code__.co_names
             and callable(IndexDataCacheFile._load_index))

    @numba.njit(cache=True)
    def cached(x):
        return x + 1

    internal("tinycnn/kernels/jit.py replaces (the dispatcher's _cache, a FunctionCache with a _cache_file)",
             lambda: isinstance(cached._cache, FunctionCache) and hasattr(cached._cache, "_cache_file"))


def test_the_function_pointer_threads_py_passes():
    from numba.core.types.function_type import CompileResultWAP

    @numba.njit
    def part(out, index, count):
        out[index] = count
        return True

    signature = (numba.float64[::1], numba.int64, numba.int64)
    part.compile(signature)
    internal("tinycnn/kernels/fast/threads.py subclasses (numba.core.types.function_type.CompileResultWAP)",
             lambda: CompileResultWAP(part.overloads[signature]).signature() is not None)


def test_the_gemm_blas_py_calls():
    import llvmlite.binding

    import tinycnn.kernels.fast.blas  # noqa: F401  (loads SciPy's BLAS, which numba_xxgemm calls)

    internal("tinycnn/kernels/fast/blas.py calls by name (numba_xxgemm, Numba's helper for np.dot)",
             lambda: llvmlite.binding.address_of_symbol("numba_xxgemm") is not None)
    a = np.arange(6.0).reshape(2, 3)
    c = np.zeros((2, 2))
    tinycnn.kernels.fast.blas.gemm(a, False, a, True, 0.0, c)
    np.testing.assert_allclose(c, a @ a.T)


def test_the_compile_events_compile_py_listens_to():
    from numba.core import event

    internal("tinycnn/compile.py listens to (numba.core.event, 'numba:compile')",
             lambda: callable(event.install_listener) and issubclass(event.Listener, object))
