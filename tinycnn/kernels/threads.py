"""One BLAS thread while the engine's kernels run.

The conv kernels spread images over Numba threads and each thread calls BLAS
(np.dot) on its own small matrices. If BLAS also started threads of its own,
two cores would run four or more busy threads that spend their time
switching: on this project's 2-core machine that made a training step about
1.7x slower. So while an engine op runs, every BLAS library loaded in the
process is held at one thread; outside the engine's ops it is as the user
left it.
"""

import contextlib

import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS that Numba's np.dot calls before we look)
from threadpoolctl import ThreadpoolController

_blas = None


@contextlib.contextmanager
def one_blas_thread():
    global _blas
    if _blas is None:
        _blas = ThreadpoolController().select(user_api="blas")
    with _blas.limit(limits=1):
        yield
