"""One BLAS thread while the engine's BLAS kernels run, and which BLAS that is.

The engine's parallelism is Numba's: the conv kernels spread images over
Numba threads, and each thread calls BLAS on its own small matrices. BLAS
threads of its own would compete with those:

- inside the conv kernels, two cores would run four or more busy threads
  that spend their time switching;
- after a linear layer's product (on the main thread), OpenBLAS's threads
  keep spinning for a while, waiting for more work, just as the next
  kernel's Numba threads start.

Measured on this project's 2-core machine: with BLAS held at one thread
only around the conv kernels, a training step of the study's minimal model
took 153 ms; held around the linear kernels too, 48 ms. So while a conv or
linear kernel runs (``functional.py`` enters ``one_blas_thread`` around
them), every BLAS library loaded in the process is held at one thread;
outside them it is as the user left it.
"""

import contextlib

import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS that Numba's np.dot calls before we look)
from threadpoolctl import ThreadpoolController

# The parallel options of every tinycnn kernel that has a prange loop: parallelise that loop and nothing
# else. With plain parallel=True, Numba also turns every array expression of the kernel (np.zeros, a += b
# on arrays) into a parallel loop of its own, each compiled apart: the conv backward took 8.6 s to compile
# that way here and 5.2 s with this (python -m tinycnn.compile --report shows each kernel's time).
def prange_only():
    """The dict to give ``@njit(parallel=...)``: a fresh one each time, because Numba empties the dict it is given
    (a shared one leaves every kernel after the first with Numba's defaults: all of the above, parallel)."""
    return {"prange": True, "numpy": False, "setitem": False, "reduction": False, "comprehension": False,
            "inplace_binop": False, "stencil": False, "fusion": False}

_libraries = None  # threadpoolctl's controller of each BLAS library loaded, found on first use


@contextlib.contextmanager
def one_blas_thread():
    """Within this block every BLAS library runs on one thread; afterwards each has its own count back.

    The libraries' own set-threads functions are called directly (about 4
    microseconds for both OpenBLAS copies here; threadpoolctl's general
    ``limit`` took 15, on every conv and linear call).
    """
    global _libraries
    if _libraries is None:
        _libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    previous = [library.get_num_threads() for library in _libraries]
    for library, count in zip(_libraries, previous):
        if count != 1:
            library.set_num_threads(1)
    try:
        yield
    finally:
        for library, count in zip(_libraries, previous):
            if count != 1:
                library.set_num_threads(count)


def blas_in_use():
    """The BLAS libraries loaded in this process, with their version, CPU kernel and threads.

    float32 results move with the kernel BLAS picks for the CPU (its sums run
    in another order), so a record of a run names it. OpenBLAS chooses by
    itself unless ``OPENBLAS_CORETYPE`` says otherwise. Sorted by file, so
    that two records of the same machine compare equal (the libraries are
    found in whatever order they were loaded).
    """
    from threadpoolctl import threadpool_info

    libraries = [{key: info.get(key) for key in ("internal_api", "version", "architecture", "num_threads", "filepath")}
                 for info in threadpool_info() if info.get("user_api") == "blas"]
    return sorted(libraries, key=lambda library: str(library["filepath"]))
