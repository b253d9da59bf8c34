"""The conv kernels' threads; one BLAS thread while the engine's BLAS kernels run, and which BLAS that is.

The conv kernels spread a batch's images over threads: ``image_runs``
splits the batch into one run of images per thread, and ``run_in_parallel``
calls a compiled kernel on each run, the first on the calling thread, the
others on tinycnn's worker threads, and returns when all are done. The
kernels are compiled with ``nogil=True``, so the threads run at once.

Why not Numba's ``prange``, which the smaller kernels (ReLU, pools,
BatchNorm) use? It compiles a parallel kernel three times over: the loop's
body, a wrapper that runs it on Numba's threads, and the kernel that calls
that, each linking and optimising again every helper the body calls
(im2col, the pools, gemm). For the conv kernels that was 2.3 to 3 s of
compile each, paid on every first run and after every edit, against 1.2
to 1.4 s for the same loop compiled once, here. Handing a run to a waiting
worker thread costs about 8 microseconds on this project's 2-core machine
(``prange``'s: about 5), small beside a conv call's hundreds.

Each thread calls BLAS on its own small matrices. BLAS threads of its own
would compete with those:

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
import os
import threading

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


# ----- the conv kernels' threads ---------------------------------------------------------------


def image_runs(count, n_parts):
    """Split images 0..count-1 into ``n_parts`` runs of consecutive images (fewer if there are fewer images), as
    (first, stop) pairs: the same runs for the same count and n_parts, so results repeat bit for bit."""
    n_parts = max(1, min(count, n_parts))
    return [(part * count // n_parts, (part + 1) * count // n_parts) for part in range(n_parts)]


class _Worker:
    """A thread that runs one call at a time, handed over with two locks.

    ``begin`` releases the start lock the thread waits on; ``finish`` waits
    on the done lock the thread releases. (Through ``concurrent.futures`` a
    call took about 100 microseconds to hand over and come back; this, 8.)
    """

    def __init__(self):
        self._start, self._done = threading.Lock(), threading.Lock()
        self._start.acquire()
        self._done.acquire()
        self._call, self._error = None, None
        threading.Thread(target=self._serve, name="tinycnn worker", daemon=True).start()

    def _serve(self):
        while True:
            self._start.acquire()
            kernel, args = self._call
            try:
                kernel(*args)
            except BaseException as error:  # noqa: BLE001  (handed to the caller, raised there)
                self._error = error
            self._call = None
            self._done.release()

    def begin(self, kernel, args):
        self._call = (kernel, args)
        self._start.release()

    def finish(self):
        """Wait for the call to end; raise what it raised."""
        self._done.acquire()
        error, self._error = self._error, None
        if error is not None:
            raise error


_workers = []  # started when first needed, then kept: one fewer than the most runs asked for at once
_workers_in_use = threading.Lock()  # one parallel call at a time (two Python threads training take turns)


def _forget_workers():
    """In a forked child: the parent's worker threads do not exist there."""
    global _workers, _workers_in_use
    _workers, _workers_in_use = [], threading.Lock()


os.register_at_fork(after_in_child=_forget_workers)


def run_in_parallel(calls):
    """Run ``kernel(*args)`` for each ``(kernel, args)`` of ``calls`` at once, one thread each, and return when all
    have ended. The first runs on this thread. The kernels must be compiled with ``nogil=True`` (else they run one
    after another) and must not write where another writes."""
    (kernel, args), others = calls[0], calls[1:]
    if not others:
        kernel(*args)
        return
    global _workers
    with _workers_in_use:
        while len(_workers) < len(others):
            _workers.append(_Worker())
        busy = _workers[:len(others)]
        for worker, (other_kernel, other_args) in zip(busy, others):
            worker.begin(other_kernel, other_args)
        try:
            kernel(*args)
        finally:
            errors = []
            try:
                for worker in busy:
                    try:
                        worker.finish()
                    except Exception as error:  # noqa: BLE001  (raised below, once every worker is done)
                        errors.append(error)
            except BaseException:  # interrupted while waiting: those workers may still be running; start anew
                _workers = []
                raise
        if errors:
            raise errors[0]
