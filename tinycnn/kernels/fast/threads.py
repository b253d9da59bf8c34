"""Running a kernel on Numba's threads, one part of the batch each; one BLAS thread meanwhile; which BLAS.

``run_in_parts(kernel, count, n_parts, *args)`` calls ``kernel(*args, part,
n_parts)`` for part = 0 .. n_parts - 1 at once on Numba's threads (a
``prange`` loop): the conv kernels and the augmentation are written as the
work of one part of the batch (a run of consecutive images) and run this way.

Why not a ``prange`` loop inside each of those kernels, as the smaller
kernels (ReLU, pools, BatchNorm) have? Numba then links the machine code of
everything the loop's body calls (im2col, the pools, gemm) into three
functions (the body, a wrapper that runs it on the threads, the kernel that
calls that) and optimises it again in each, which made the conv kernels
several times slower to compile. Here the parallel loop, ``_run_parts``,
receives the part's kernel as a plain function pointer (a first-class
function, in Numba's words), so its compile never includes the kernel: it
is compiled once per kind of kernel and arguments, and not again when a
kernel's file changes.

A first-class function is one compiled version of a kernel, for fixed
argument types. So ``run_in_parts`` first compiles (or loads) the kernel for
the types of its arguments, keeps that version's pointer per kind of
arguments (``_type_key``), and hands Numba its type ready-made (working it
out anew on every call is slow). This leans on Numba's first-class
functions and on one class of its internals (``CompileResultWAP``), so a
Numba release may move it: the tests run every conv kernel through it.

A function pointer carries no exception back: an error inside a kernel run
this way (an allocation that fails on a large input, a ``raise``) is
printed by Numba's wrapper and the call returns, with that part's outputs
unwritten. So a part kernel ends with ``return True``, the wrapper returns
False when it stopped on an exception, and ``_run_parts`` keeps what each
part returned: ``run_in_parts`` then raises ``KernelError`` (or
``KernelMemoryError``, a ``MemoryError``) naming the kernel and the part,
with the part's own exception as the cause. The wrapper hands that
exception to ``sys.unraisablehook`` (which would print it), so while the
parts run, the hook keeps it instead; failing that, the part runs once
more from Python, where exceptions do come back. Never garbage.

Each thread calls BLAS on its own small matrices. BLAS threads of its own
would compete with those:

- inside the conv kernels, two cores would run four or more busy threads
  that spend their time switching;
- after a linear layer's product (on the main thread), OpenBLAS's threads
  keep spinning for a while, waiting for more work, just as the next
  kernel's Numba threads start.

So while a conv or linear kernel runs (their Python wrappers enter
``one_blas_thread``), every BLAS library loaded in the process is held at
one thread; outside them it is as the user left it. docs/performance.md
has what each of these measured.
"""

import contextlib
import sys

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS that Numba's np.dot calls before we look)
from numba import prange
from numba.core.types.function_type import CompileResultWAP
from numba.extending import typeof_impl
from threadpoolctl import ThreadpoolController

from tinycnn.kernels.jit import njit, prange_only

class KernelError(RuntimeError):
    """A kernel run on Numba's threads stopped before its end: its outputs are not valid."""


class KernelMemoryError(KernelError, MemoryError):
    """A kernel run on Numba's threads could not allocate its memory."""


@njit(parallel=prange_only())
def _run_parts(kernel, finished, *args):
    """kernel(*args, part, n_parts) for every part, on Numba's threads; finished[part] = what it returned.

    finished: (n_parts,) bool: True where the part kernel reached its ``return True``, False where it stopped on
    an exception (the wrapper of a function pointer hands it to sys.unraisablehook and returns False)
    """
    n_parts = finished.size
    for part in prange(n_parts):
        finished[part] = kernel(*args, np.int64(part), n_parts)  # prange counts in unsigned integers


def run_in_parts(kernel, count, n_parts, *args):
    """Call ``kernel(*args, part, n_parts)`` for part = 0 .. n_parts - 1 at once on Numba's threads (one part
    each when n_parts is at most the thread count, as the engine passes it; Numba shares out more).

    ``count`` items (images) are split: n_parts is cut to count if larger,
    so that no part is empty (with no items at all, one empty part runs).
    The kernel finds its own items, e.g. images part * N // n_parts up to
    (part + 1) * N // n_parts: the same runs for the same N and n_parts, so
    results repeat bit for bit. It ends with ``return True``; if any part
    does not get there, this raises ``KernelError`` (see the module's
    docstring).
    """
    finished = np.zeros(parts_for(count, n_parts), dtype=np.bool_)
    pointer = _as_function_pointer(kernel, args)
    errors = []
    reporting = sys.unraisablehook  # where the pointer's wrapper hands a part's exception: kept, not printed
    sys.unraisablehook = errors.append
    try:
        _run_parts(pointer, finished, *args)
    finally:
        sys.unraisablehook = reporting
    if not finished.all():
        _raise_for_unfinished_part(kernel, finished, args, errors)


def _raise_for_unfinished_part(kernel, finished, args, errors):
    """Raise KernelError for the first part that did not finish, with the part's own exception as the cause: the
    one its wrapper handed over (``errors``), or else the one running that part again from Python raises."""
    part, n_parts = int(np.flatnonzero(~finished)[0]), finished.size
    what = (f"{getattr(kernel, '__name__', kernel)}: part {part} of the {n_parts} it was split into stopped before "
            f"its end, so its outputs are not valid")
    cause = next((report.exc_value or report.exc_type() for report in errors if report.exc_type is not None), None)
    if cause is None:
        try:
            kernel(*args, part, n_parts)
        except Exception as error:  # noqa: BLE001  (whatever it is, it is the cause)
            cause = error
    if isinstance(cause, MemoryError):
        raise KernelMemoryError(f"{what}: out of memory ({cause}). Use a smaller batch or input, or free memory") \
            from cause
    if cause is not None:
        raise KernelError(f"{what}: {type(cause).__name__}: {cause}") from cause
    raise KernelError(f"{what}; run again it did finish, so the error depended on the moment (memory, most likely)")


def parts_for(count, n_parts):
    """How many parts ``run_in_parts`` makes of ``count`` items asked for ``n_parts``: no more than the items, and
    at least one (a caller that keeps something per part sizes it with this)."""
    return max(1, min(count, n_parts))


def compile_loop_for(*args):
    """Compile (or load from the cache) the parallel loop for kernels taking ``args`` (then part, n_parts),
    without compiling any kernel or running anything (``tinycnn.compile``'s helper process does this for every
    call of a cold start, so that only one process writes the loop's cache)."""
    kernel_type = numba.types.FunctionType(numba.types.literal(True)(*_part_signature(args)))  # 'return True'
    finished_type = numba.types.Array(numba.types.boolean, 1, "C")
    _run_parts.compile((kernel_type, finished_type, numba.typeof(args)))  # *args: typed as one tuple


def _part_signature(args):
    """The argument types of a part kernel called with ``args``, then part and n_parts."""
    return tuple(numba.typeof(value) for value in args) + (numba.types.int64, numba.types.int64)


class _KernelPointer(CompileResultWAP):
    """A compiled kernel as Numba's first-class function: what ``_run_parts`` receives as ``kernel``."""

    def __init__(self, compiled):
        super().__init__(compiled)
        self.numba_type = numba.types.FunctionType(compiled.signature)


@typeof_impl.register(_KernelPointer)
def _type_of_kernel_pointer(pointer, context):
    return pointer.numba_type  # made once: Numba's own typeof would build it anew on every call


_pointers = {}  # (kernel, kinds of its arguments) -> that kernel's compiled version as a function pointer


def _type_key(value):
    """What Numba's type of an argument depends on, found quickly for arrays and plain numbers (numba.typeof
    is slow on arrays); anything else is asked of numba.typeof."""
    if isinstance(value, np.ndarray):
        flags = value.flags
        return value.dtype, value.ndim, flags.c_contiguous, flags.f_contiguous, flags.writeable, flags.aligned
    if isinstance(value, (bool, float, np.generic)) or (isinstance(value, int) and -2**63 <= value < 2**63):
        return type(value)
    return numba.typeof(value)


def _as_function_pointer(kernel, args):
    """``kernel`` compiled for ``args`` plus (part, n_parts), as a value that Numba passes to a kernel as a
    function pointer (a first-class function) rather than compiling it into the caller."""
    if not hasattr(kernel, "overloads"):
        if numba.config.DISABLE_JIT:  # every kernel is a plain Python function, called by a plain loop
            return kernel
        raise TypeError(f"run_in_parts runs a Numba kernel (made with @njit); {kernel!r} is not one")
    key = (kernel, tuple(map(_type_key, args)))
    pointer = _pointers.get(key)
    if pointer is None:
        signature = _part_signature(args)
        kernel.compile(signature)
        compiled = kernel.overloads[signature]
        if numba.types.unliteral(compiled.signature.return_type) != numba.types.boolean:
            raise TypeError(f"{kernel.__name__}: a kernel run by run_in_parts ends with 'return True' (so that a part "
                            f"stopped by an exception can be told apart); it returns {compiled.signature.return_type}"
                            " (if it has that line: can it reach it, or does every path raise?)")
        pointer = _pointers[key] = _KernelPointer(compiled)
    return pointer


_libraries = None  # threadpoolctl's controller of each BLAS library loaded, found on first use


@contextlib.contextmanager
def one_blas_thread():
    """Within this block every BLAS library runs on one thread; afterwards each has its own count back.

    The libraries' own set-threads functions are called directly: quicker
    than threadpoolctl's general ``limit``, and this runs on every conv and
    linear call.
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

